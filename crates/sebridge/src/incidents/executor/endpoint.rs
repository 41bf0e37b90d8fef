//! The endpoint lane (Secure Endpoint): isolation and the move to a triage group, and
//! their undoing on close, only of what we did, handing a containment still needed by
//! another open incident on the same host over to it.

use super::outcome::{done, text, Done, OpError};
use crate::incidents::store::{IncidentRow, Val};
use crate::incidents::Ctx;

fn endpoint<'a>(
    ctx: &'a Ctx,
    i: &IncidentRow,
) -> Result<(&'a secure_endpoint::Client, String), OpError> {
    let client = ctx
        .endpoints
        .get(&i.tenant)
        .ok_or_else(|| OpError::permanent(format!("tenant {} is not configured", i.tenant)))?;
    let guid = i
        .connector_guid
        .clone()
        .ok_or_else(|| OpError::permanent("the events carry no computer"))?;
    Ok((client, guid))
}

/// Whether an isolation comment names this correlation id (as a whole word: the id of
/// event 12 must not match the id of event 123).
fn comment_is_ours(comment: Option<&str>, cid: &str) -> bool {
    comment.is_some_and(|c| c.split_whitespace().any(|w| w.trim_end_matches(':') == cid))
}

/// Our isolations carry the correlation id in their comment.
fn isolation_comment(ctx: &Ctx, i: &IncidentRow) -> String {
    let ticket = i.snow_number.as_deref().unwrap_or("");
    let mut c = format!("{} {} {ticket}", ctx.config.prefix, i.correlation_id);
    c.truncate(200);
    c.trim().to_string()
}

pub(super) async fn isolate(ctx: &Ctx, i: &IncidentRow) -> Result<Done, OpError> {
    let (client, guid) = endpoint(ctx, i)?;
    let current = client.isolation(&guid).await?.data;
    let ours = |comment: &Option<String>| comment_is_ours(comment.as_deref(), &i.correlation_id);
    if current.status.is_isolating() {
        return Ok(if ours(&current.comment) {
            done(
                "isolated",
                format!("{guid} was isolated by an earlier attempt of ours"),
            )
            .set("isolated_by_us", Val::Int(1))
        } else {
            done(
                "isolation_skipped",
                format!("{guid} was already isolated by someone else; it will be left as it is on close"),
            )
            .set("isolated_by_us", Val::Int(0))
        });
    }
    if current.available == Some(false) {
        return Ok(done(
            "isolation_unavailable",
            format!("isolation is not available on {guid} (policy or OS)"),
        ));
    }
    match client
        .start_isolation(&guid, &isolation_comment(ctx, i), None)
        .await
    {
        Ok(_) => Ok(done(
            "isolated",
            format!(
                "{} ({guid}) isolated",
                i.hostname.as_deref().unwrap_or("host")
            ),
        )
        .set("isolated_by_us", Val::Int(1))),
        // 409: isolated meanwhile (our lost answer, or someone else): the comment says whose.
        Err(secure_endpoint::Error::Conflict { .. }) => {
            let now = client.isolation(&guid).await?.data;
            Ok(if ours(&now.comment) {
                done("isolated", format!("{guid} isolated (409 on retry: ours)"))
                    .set("isolated_by_us", Val::Int(1))
            } else {
                done(
                    "isolation_skipped",
                    format!("{guid} was isolated by someone else meanwhile (409)"),
                )
                .set("isolated_by_us", Val::Int(0))
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// The GUID of the triage group (given as a GUID, or a name looked up in the tenant).
async fn triage_guid(ctx: &Ctx, i: &IncidentRow) -> Result<String, OpError> {
    let wanted = i
        .triage_group
        .clone()
        .ok_or_else(|| OpError::permanent("no triage group"))?;
    let looks_like_guid = wanted.len() == 36 && wanted.chars().filter(|c| *c == '-').count() == 4;
    if looks_like_guid {
        return Ok(wanted.to_ascii_lowercase());
    }
    let key = (i.tenant.clone(), wanted.clone());
    if let Some(g) = ctx
        .group_cache
        .lock()
        .ok()
        .and_then(|c| c.get(&key).cloned())
    {
        return Ok(g);
    }
    let (client, _) = endpoint(ctx, i)?;
    let groups = client.groups(Some(&wanted)).await?.data;
    let g = groups
        .iter()
        .find(|g| g.name.eq_ignore_ascii_case(&wanted))
        .ok_or_else(|| {
            OpError::permanent(format!("tenant {} has no group named {wanted:?}", i.tenant))
        })?
        .guid
        .clone();
    if let Ok(mut c) = ctx.group_cache.lock() {
        c.insert(key, g.clone());
    }
    Ok(g)
}

pub(super) async fn move_group(ctx: &Ctx, i: &IncidentRow) -> Result<Done, OpError> {
    let (client, guid) = endpoint(ctx, i)?;
    let triage = triage_guid(ctx, i).await?;
    let computer = client.computer(&guid).await?.data;
    let current = computer.group_guid.unwrap_or_default();
    let original = match &i.original_group {
        Some(o) => o.clone(),
        None => {
            if current.eq_ignore_ascii_case(&triage) {
                return Ok(done(
                    "move_skipped",
                    format!("{guid} is already in the triage group (moved by someone else); it will stay there on close"),
                ));
            }
            // Recorded before the move: after a crash the retry knows the move was ours.
            ctx.store
                .set_if_null(i.id, "original_group", &current)
                .await?;
            current.clone()
        }
    };
    if !current.eq_ignore_ascii_case(&triage) {
        client.move_computer(&guid, &triage).await?;
    }
    Ok(done(
        "moved",
        format!("{guid} moved from group {original} to triage group {triage}"),
    )
    .set("original_group", text(&original))
    .set("moved_by_us", Val::Int(1)))
}

pub(super) async fn unisolate(ctx: &Ctx, i: &IncidentRow) -> Result<Done, OpError> {
    if !i.isolated_by_us || i.isolation_released {
        return Ok(done(
            "unisolate_skipped",
            "sebridge did not start an isolation for this incident: nothing to stop",
        ));
    }
    let (client, guid) = endpoint(ctx, i)?;
    if let Some(other) = ctx
        .store
        .other_open_on_host(&i.tenant, &guid, i.id, "isolate")
        .await?
    {
        ctx.store.hand_over(i.id, other, "isolate", None).await?;
        return Ok(done(
            "isolation_kept",
            format!("incident #{other} is still open on {guid}: it now owns the isolation"),
        ));
    }
    let current = client.isolation(&guid).await?.data;
    if !current.status.is_isolating() {
        return Ok(done("unisolated", format!("{guid} was no longer isolated"))
            .set("isolation_released", Val::Int(1)));
    }
    if !comment_is_ours(current.comment.as_deref(), &i.correlation_id) {
        return Ok(done(
            "unisolate_skipped",
            format!("{guid} is isolated by someone else now; left as it is"),
        )
        .set("isolation_released", Val::Int(1)));
    }
    let comment = format!(
        "{} {}: ServiceNow {} closed",
        ctx.config.prefix,
        i.correlation_id,
        i.snow_number.as_deref().unwrap_or("ticket")
    );
    match client.stop_isolation(&guid, &comment).await {
        Ok(_) | Err(secure_endpoint::Error::Conflict { .. }) => Ok(done(
            "unisolated",
            format!(
                "isolation of {} ({guid}) stopped",
                i.hostname.as_deref().unwrap_or("host")
            ),
        )
        .set("isolation_released", Val::Int(1))),
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn restore_group(ctx: &Ctx, i: &IncidentRow) -> Result<Done, OpError> {
    if !i.moved_by_us || i.group_restored {
        return Ok(done(
            "restore_skipped",
            "sebridge did not move this host: nothing to restore",
        ));
    }
    let Some(original) = i.original_group.clone() else {
        return Ok(done("restore_skipped", "original group unknown"));
    };
    let (client, guid) = endpoint(ctx, i)?;
    if let Some(other) = ctx
        .store
        .other_open_on_host(&i.tenant, &guid, i.id, "move")
        .await?
    {
        ctx.store
            .hand_over(i.id, other, "move", Some(&original))
            .await?;
        return Ok(done(
            "group_kept",
            format!("incident #{other} is still open on {guid}: it will restore group {original}"),
        ));
    }
    let triage = triage_guid(ctx, i).await?;
    let computer = client.computer(&guid).await?.data;
    let current = computer.group_guid.unwrap_or_default();
    if current.eq_ignore_ascii_case(&original) {
        return Ok(
            done("group_restored", format!("{guid} is back in {original}"))
                .set("group_restored", Val::Int(1)),
        );
    }
    if !current.eq_ignore_ascii_case(&triage) {
        return Ok(done(
            "restore_skipped",
            format!("{guid} was moved to {current} by someone else; left there"),
        )
        .set("group_restored", Val::Int(1)));
    }
    client.move_computer(&guid, &original).await?;
    Ok(done(
        "group_restored",
        format!("{guid} moved back from triage to its original group {original}"),
    )
    .set("group_restored", Val::Int(1)))
}
