//! The ServiceNow lane: the ticket (looked up by correlation id before it is created),
//! work notes of later events, the severity update, and the resolve of a close started here.

use super::outcome::{done, text, Done, OpError};
use crate::incidents::engine::snow_impact_urgency;
use crate::incidents::store::{IncidentRow, OutboxOp, Val};
use crate::incidents::Ctx;
use crate::store::now_millis;
use serde_json::{Map, Value};

/// Lines in one work note; the rest are counted.
const NOTE_MAX_LINES: usize = 50;

fn snow(ctx: &Ctx) -> Result<&servicenow::Client, OpError> {
    ctx.snow
        .as_ref()
        .ok_or_else(|| OpError::permanent("ServiceNow is not configured"))
}

fn ticket_fields(ctx: &Ctx, i: &IncidentRow) -> Map<String, Value> {
    let mut f = Map::new();
    let put = |f: &mut Map<String, Value>, k: &str, v: &str| {
        f.insert(k.to_string(), Value::String(v.to_string()));
    };
    put(&mut f, "short_description", &i.snow_short);
    put(&mut f, "description", &i.snow_description);
    put(&mut f, "correlation_id", &i.correlation_id);
    put(&mut f, "correlation_display", &ctx.config.prefix);
    let (impact, urgency) = snow_impact_urgency(&i.severity);
    put(&mut f, "impact", impact);
    put(&mut f, "urgency", urgency);
    let o = ctx.config.tenants.get(&i.tenant);
    if let Some(s) = &ctx.config.servicenow {
        let caller = o
            .and_then(|o| o.caller_id.as_ref())
            .or(s.caller_id.as_ref());
        if let Some(c) = caller {
            put(&mut f, "caller_id", c);
        }
        let group = o
            .and_then(|o| o.assignment_group.as_ref())
            .or(s.assignment_group.as_ref());
        if let Some(g) = group {
            put(&mut f, "assignment_group", g);
        }
        if let Some(c) = &s.category {
            put(&mut f, "category", c);
        }
    }
    if let Some(c) = o.and_then(|o| o.company.as_ref()) {
        put(&mut f, "company", c);
    }
    f
}

pub(super) async fn snow_create(ctx: &Ctx, i: &IncidentRow) -> Result<Done, OpError> {
    if let Some(n) = &i.snow_number {
        return Ok(done(
            "snow_create_skipped",
            format!("ticket {n} exists already"),
        ));
    }
    let client = snow(ctx)?;
    // A previous attempt may have created the ticket and lost the answer (timeout, crash):
    // look it up by correlation id first.
    let found = client
        .find_by(
            "correlation_id",
            &i.correlation_id,
            &["sys_id", "number", "correlation_id"],
        )
        .await?;
    if let Some(r) = found.first() {
        let (sys_id, number) = (r.sys_id().unwrap_or(""), r.number().unwrap_or(""));
        if !sys_id.is_empty() {
            return Ok(done(
                "snow_adopted",
                format!(
                    "found {number} by correlation_id {}: an earlier attempt created it and its answer was lost; no second ticket",
                    i.correlation_id
                ),
            )
            .set("snow_sys_id", text(sys_id))
            .set("snow_number", text(number)));
        }
    }
    let created = client.create(&ticket_fields(ctx, i)).await?;
    let sys_id = created
        .sys_id()
        .ok_or_else(|| OpError {
            message: "ServiceNow answered without a sys_id".into(),
            retryable: true,
            retry_after: None,
        })?
        .to_string();
    let number = created.number().unwrap_or("").to_string();
    metrics::counter!("sebridge_incident_tickets_total", "system" => "servicenow").increment(1);
    Ok(done(
        "snow_created",
        format!(
            "ServiceNow {} {number} ({})",
            client.table(),
            client.record_link(&sys_id)
        ),
    )
    .set("snow_sys_id", text(&sys_id))
    .set("snow_number", text(&number)))
}

/// The tag that ends every work note of operation `op_id`: it lets a retry find a note whose
/// answer was lost (`up_to`: the last event it lists).
fn note_tag(op_id: i64, up_to: Option<i64>) -> String {
    match up_to {
        Some(seq) => format!("[sebridge note {op_id}, events to #{seq}]"),
        None => format!("[sebridge note {op_id}]"),
    }
}

/// When `op` may already have written its note (its process died or a try failed after
/// sending): whether the ticket holds it, and which events it listed. A note is appended by
/// every PATCH, so sending it again would write it twice.
async fn written_note(
    client: &servicenow::Client,
    sys_id: &str,
    op: &OutboxOp,
) -> Result<Option<Option<i64>>, OpError> {
    if !(op.interrupted || op.attempts > 0) {
        return Ok(None);
    }
    let notes = client.work_notes(sys_id).await?;
    let head = format!("[sebridge note {}", op.id);
    let Some(at) = notes.find(&head) else {
        return Ok(None);
    };
    let rest = &notes[at + head.len()..];
    let up_to = rest
        .strip_prefix(", events to #")
        .and_then(|r| r.split(']').next())
        .and_then(|n| n.parse().ok());
    Ok(Some(up_to))
}

pub(super) async fn note(ctx: &Ctx, i: &IncidentRow, op: &OutboxOp) -> Result<Done, OpError> {
    let client = snow(ctx)?;
    let Some(sys_id) = &i.snow_sys_id else {
        return Err(OpError::permanent("no ServiceNow ticket to add a note to"));
    };
    if let Some(up_to) = written_note(client, sys_id, op).await? {
        let mut d = done(
            "work_note_found",
            "the note was written before its answer was lost; not sent again",
        )
        .set("last_note_at", Val::Int(now_millis()));
        d.noted_up_to = up_to;
        return Ok(d);
    }
    let (lines, count, up_to) = ctx.store.pending_note(i.id, NOTE_MAX_LINES).await?;
    if count == 0 {
        return Ok(done("note_skipped", "no new events"));
    }
    let mut body = format!(
        "{} more event(s) on {} correlated to this incident (total {}):\n",
        count,
        i.hostname.as_deref().unwrap_or("this host"),
        i.event_count
    );
    for l in &lines {
        body.push_str(l);
        body.push('\n');
    }
    let rest = count - lines.len() as i64;
    if rest > 0 {
        body.push_str(&format!("… and {rest} more\n"));
    }
    body.push_str(&note_tag(op.id, up_to));
    client.add_work_note(sys_id, &body).await?;
    let mut d = done("work_note", format!("{count} event(s) in one work note"))
        .set("last_note_at", Val::Int(now_millis()));
    d.noted_up_to = up_to;
    Ok(d)
}

pub(super) async fn snow_update(
    ctx: &Ctx,
    i: &IncidentRow,
    op: &OutboxOp,
) -> Result<Done, OpError> {
    let client = snow(ctx)?;
    let Some(sys_id) = &i.snow_sys_id else {
        return Err(OpError::permanent("no ServiceNow ticket to update"));
    };
    let (impact, urgency) = snow_impact_urgency(&i.severity);
    // The fields are idempotent, the note is not: a retry that finds it sends no second one.
    let note_written = written_note(client, sys_id, op).await?.is_some();
    let mut f = Map::new();
    f.insert("impact".into(), Value::String(impact.into()));
    f.insert("urgency".into(), Value::String(urgency.into()));
    if !note_written {
        f.insert(
            "work_notes".into(),
            Value::String(format!(
                "Severity raised to {} by a later event. {}",
                i.severity,
                note_tag(op.id, None)
            )),
        );
    }
    client.patch(sys_id, &f).await?;
    Ok(done(
        "snow_updated",
        format!(
            "impact {impact}, urgency {urgency} (severity {})",
            i.severity
        ),
    ))
}

pub(super) async fn snow_resolve(ctx: &Ctx, i: &IncidentRow) -> Result<Done, OpError> {
    let client = snow(ctx)?;
    let Some(sys_id) = &i.snow_sys_id else {
        return Ok(done("snow_resolve_skipped", "no ServiceNow ticket"));
    };
    let current = client.get(sys_id, &["state"]).await?;
    if current.state().is_some_and(|s| ctx.is_closed_state(s)) {
        return Ok(done(
            "snow_resolve_skipped",
            "the ticket is already resolved or closed",
        ));
    }
    let mut f = Map::new();
    f.insert(
        "state".into(),
        // The first closed state: Resolved (6) for incidents, Closed (3) for SIR.
        Value::String(
            ctx.config
                .servicenow
                .as_ref()
                .and_then(|s| s.closed_states.first().cloned())
                .unwrap_or_else(|| servicenow::state::RESOLVED.into()),
        ),
    );
    f.insert(
        "close_code".into(),
        Value::String(
            i.close_code
                .clone()
                .unwrap_or_else(|| "Solution provided".into()),
        ),
    );
    f.insert(
        "close_notes".into(),
        Value::String(
            i.close_notes
                .clone()
                .unwrap_or_else(|| format!("Closed from {}", ctx.config.prefix)),
        ),
    );
    client.patch(sys_id, &f).await?;
    Ok(done(
        "snow_resolved",
        format!("{} resolved", i.snow_number.as_deref().unwrap_or("ticket")),
    ))
}
