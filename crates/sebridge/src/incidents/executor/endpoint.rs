//! The endpoint lane (Secure Endpoint): isolation and the move to a triage group, and
//! their undoing on close, only of what we did, handing a containment still needed by
//! another open incident on the same host over to it.

use super::outcome::{done, text, waiting, Done, OpError};
use crate::incidents::store::{IncidentRow, Val};
use crate::incidents::Ctx;
use crate::store::now_millis;
use secure_endpoint::{Isolation, IsolationStatus};

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

/// Records the status read now on the incident; "since" moves only when it changes.
fn with_state(d: Done, i: &IncidentRow, s: &IsolationStatus) -> Done {
    let name = s.as_str();
    if i.isolation_state.as_deref() == Some(name) {
        return d;
    }
    d.set("isolation_state", text(name))
        .set("isolation_state_since", Val::Int(now_millis()))
}

fn host(i: &IncidentRow, guid: &str) -> String {
    match &i.hostname {
        Some(h) => format!("{h} ({guid})"),
        None => guid.to_string(),
    }
}

/// What an isolation status means for our isolation request; `None` when we can ask
/// for one now.
fn judge_isolation(i: &IncidentRow, guid: &str, iso: &Isolation) -> Option<Done> {
    let ours = comment_is_ours(iso.comment.as_deref(), &i.correlation_id);
    let h = host(i, guid);
    let d = match &iso.status {
        IsolationStatus::Isolated if ours => {
            done("isolated", format!("{h} isolated")).set("isolated_by_us", Val::Int(1))
        }
        IsolationStatus::PendingStart if ours => waiting(
            "isolation_pending",
            format!(
                "isolation of {h} requested; it stays pending_start until its connector checks in"
            ),
        )
        .set("isolated_by_us", Val::Int(1)),
        IsolationStatus::Isolated | IsolationStatus::PendingStart => done(
            "isolation_skipped",
            format!("{h} was already isolated by someone else; it will be left as it is on close"),
        )
        .set("isolated_by_us", Val::Int(0)),
        IsolationStatus::PendingStop => waiting(
            "isolation_waiting",
            format!("{h} is leaving an isolation (pending_stop): it is isolated once that is done"),
        ),
        IsolationStatus::NotIsolated if iso.available == Some(false) => done(
            "isolation_unavailable",
            format!("isolation is not available on {h} (policy or OS)"),
        ),
        IsolationStatus::NotIsolated => return None,
        IsolationStatus::Other(s) => waiting(
            "isolation_waiting",
            format!(
                "{h} has an isolation status sebridge does not know ({s:?}); looking again later"
            ),
        ),
    };
    Some(with_state(d, i, &iso.status))
}

pub(super) async fn isolate(ctx: &Ctx, i: &IncidentRow) -> Result<Done, OpError> {
    let (client, guid) = endpoint(ctx, i)?;
    if i.status != "open" && !i.isolated_by_us {
        return Ok(done(
            "isolation_skipped",
            format!(
                "the incident was closed before {} could be isolated",
                host(i, &guid)
            ),
        ));
    }
    let current = client.isolation(&guid).await?.data;
    if let Some(d) = judge_isolation(i, &guid, &current) {
        return Ok(d);
    }
    match client
        .start_isolation(&guid, &isolation_comment(ctx, i), None)
        .await
    {
        // The answer says where the request stands: usually pending_start.
        Ok(r) => Ok(judge_isolation(i, &guid, &r.data).unwrap_or_else(|| {
            waiting(
                "isolation_pending",
                format!("isolation of {} requested", host(i, &guid)),
            )
            .set("isolated_by_us", Val::Int(1))
        })),
        // 409: isolated or pending meanwhile (our lost answer, or someone else), or not
        // available: the status read again says which.
        Err(secure_endpoint::Error::Conflict { .. }) => {
            let now = client.isolation(&guid).await?.data;
            judge_isolation(i, &guid, &now).ok_or_else(|| OpError {
                message: format!("{guid} refused the isolation (409) but reads not_isolated"),
                retryable: true,
                retry_after: None,
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
    if i.status != "open" && i.original_group.is_none() {
        return Ok(done(
            "move_skipped",
            format!(
                "the incident was closed before {} could be moved",
                host(i, &guid)
            ),
        ));
    }
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
    if let Some(d) = judge_release(i, &guid, &current) {
        return Ok(d);
    }
    let comment = format!(
        "{} {}: ServiceNow {} closed",
        ctx.config.prefix,
        i.correlation_id,
        i.snow_number.as_deref().unwrap_or("ticket")
    );
    let after = match client.stop_isolation(&guid, &comment).await {
        Ok(r) => r.data,
        // 409: the status moved meanwhile; read it again rather than assume.
        Err(secure_endpoint::Error::Conflict { .. }) => client.isolation(&guid).await?.data,
        Err(e) => return Err(e.into()),
    };
    Ok(judge_release(i, &guid, &after).unwrap_or_else(|| {
        with_state(
            waiting(
                "unisolate_waiting",
                format!(
                    "{} still reads isolated after the stop request",
                    host(i, &guid)
                ),
            ),
            i,
            &after.status,
        )
    }))
}

/// What an isolation status means for releasing our isolation; `None` when we can ask
/// for the stop now. Released is recorded only once the host reads `not_isolated`.
fn judge_release(i: &IncidentRow, guid: &str, iso: &Isolation) -> Option<Done> {
    let ours = comment_is_ours(iso.comment.as_deref(), &i.correlation_id);
    let h = host(i, guid);
    let d = match &iso.status {
        IsolationStatus::NotIsolated => done("unisolated", format!("isolation of {h} stopped"))
            .set("isolation_released", Val::Int(1)),
        IsolationStatus::PendingStop => waiting(
            "unisolate_pending",
            format!("stop of the isolation of {h} requested; it stays pending_stop until its connector checks in"),
        ),
        IsolationStatus::PendingStart if ours => waiting(
            "unisolate_waiting",
            format!("{h} is still pending_start (its connector has not checked in): the isolation is stopped once it has"),
        ),
        IsolationStatus::Isolated if ours => return None,
        IsolationStatus::Isolated | IsolationStatus::PendingStart => done(
            "unisolate_skipped",
            format!("{h} is isolated by someone else now; left as it is"),
        )
        .set("isolation_released", Val::Int(1)),
        IsolationStatus::Other(s) => waiting(
            "unisolate_waiting",
            format!("{h} has an isolation status sebridge does not know ({s:?}); looking again later"),
        ),
    };
    Some(with_state(d, i, &iso.status))
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
