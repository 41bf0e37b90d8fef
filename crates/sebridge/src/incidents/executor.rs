//! The outbox executor: claims due operations (first of their incident's lane), performs
//! them with bounded concurrency, and records each outcome. Every operation is idempotent:
//!
//! - `snow_create` looks the ticket up by `correlation_id` before creating it;
//! - `xdr_create` looks the incident up by external id before creating it;
//! - `isolate` reads the isolation first, tags ours with the correlation id in the comment,
//!   and takes 409 as "already isolated" (then the comment says whose it is);
//! - `move_group` records the original group *before* moving, so a retry after a crash
//!   knows the move was ours;
//! - closing steps only undo what we did, and hand a containment still needed by another
//!   open incident on the same host over to it.

use super::engine::snow_impact_urgency;
use super::render::Links;
use super::store::IncidentRow;
use super::store::{OpOutcome, OutboxOp, Val};
use super::{Ctx, IncidentService};
use crate::store::now_millis;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// Lines in one work note; the rest are counted.
const NOTE_MAX_LINES: usize = 50;
/// Non-retryable errors are tried this often before the operation is marked failed.
const MAX_PERMANENT_ATTEMPTS: i64 = 3;
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Why an operation did not complete.
#[derive(Debug)]
pub struct OpError {
    pub message: String,
    pub retryable: bool,
    pub retry_after: Option<Duration>,
}

impl OpError {
    fn permanent(msg: impl Into<String>) -> OpError {
        OpError {
            message: msg.into(),
            retryable: false,
            retry_after: None,
        }
    }
}

impl From<servicenow::Error> for OpError {
    fn from(e: servicenow::Error) -> Self {
        OpError {
            retryable: e.is_retryable() || matches!(e, servicenow::Error::Unauthorized { .. }),
            retry_after: e.retry_after(),
            message: format!("ServiceNow: {e}"),
        }
    }
}

impl From<xdr::Error> for OpError {
    fn from(e: xdr::Error) -> Self {
        OpError {
            retryable: e.is_retryable() || matches!(e, xdr::Error::Unauthorized { .. }),
            retry_after: e.retry_after(),
            message: format!("XDR: {e}"),
        }
    }
}

impl From<secure_endpoint::Error> for OpError {
    fn from(e: secure_endpoint::Error) -> Self {
        OpError {
            retryable: e.is_retryable(),
            retry_after: e.retry_after(),
            message: format!("Secure Endpoint: {e}"),
        }
    }
}

impl From<crate::store::StoreError> for OpError {
    fn from(e: crate::store::StoreError) -> Self {
        OpError {
            retryable: true,
            retry_after: None,
            message: format!("store: {e}"),
        }
    }
}

/// A successful operation: facts to record and the audit line.
pub struct Done {
    updates: Vec<(&'static str, Val)>,
    action: String,
    detail: String,
    noted_up_to: Option<i64>,
}

fn done(action: &str, detail: impl Into<String>) -> Done {
    Done {
        updates: Vec::new(),
        action: action.into(),
        detail: detail.into(),
        noted_up_to: None,
    }
}

impl Done {
    fn set(mut self, col: &'static str, v: Val) -> Done {
        self.updates.push((col, v));
        self
    }
}

fn text(s: &str) -> Val {
    Val::Text(Some(s.to_string()))
}

impl IncidentService {
    /// Works the outbox until `shutdown`; operations in flight are finished and recorded.
    pub async fn run_executor(self, shutdown: CancellationToken) {
        let ctx = self.ctx.clone();
        let concurrency = ctx.config.concurrency.max(1);
        // A claimed operation is retried by another executor only after its lease: longer
        // than any request can take.
        let lease_ms = 60_000;
        let mut inflight: JoinSet<Option<Finished>> = JoinSet::new();
        let mut finished: Vec<Finished> = Vec::new();
        info!(concurrency, "incident executor started");
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let free = concurrency.saturating_sub(inflight.len());
            let claimed = match ctx
                .store
                .claim_due(now_millis(), lease_ms, free, None)
                .await
            {
                Ok(ops) => ops,
                Err(e) => {
                    warn!(error = %e, "incident executor cannot read the outbox; retrying");
                    Vec::new()
                }
            };
            let got = claimed.len();
            for op in claimed {
                let ctx = ctx.clone();
                inflight.spawn(async move { perform(&ctx, op).await });
            }
            if got > 0 && inflight.len() < concurrency {
                // More may be due right away (other lanes, other incidents).
                continue;
            }
            // Nothing claimable now: sleep until the next due operation, but at least 50 ms
            // (an operation waiting behind one in flight in its lane is "due" but blocked; the
            // finishing one wakes us through `notify`).
            let pause = match ctx.store.next_due().await {
                Ok(Some(t)) => {
                    Duration::from_millis(u64::try_from((t - now_millis()).max(50)).unwrap_or(50))
                }
                _ => Duration::from_secs(1),
            }
            .min(Duration::from_secs(1));
            tokio::select! {
                Some(r) = inflight.join_next(), if !inflight.is_empty() => {
                    if let Ok(Some(f)) = r { finished.push(f); }
                }
                _ = ctx.notify.notified() => {}
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.cancelled() => break,
            }
            // Everything else that finished meanwhile: recorded in one transaction.
            while let Some(r) = inflight.try_join_next() {
                if let Ok(Some(f)) = r {
                    finished.push(f);
                }
            }
            record(&ctx, &mut finished).await;
        }
        while let Some(r) = inflight.join_next().await {
            if let Ok(Some(f)) = r {
                finished.push(f);
            }
        }
        record(&ctx, &mut finished).await;
        info!("incident executor stopped");
    }
}

/// An operation performed, with its tenant and outcome, waiting to be recorded.
pub type Finished = (OutboxOp, String, OpOutcome);

/// Records finished operations (one transaction), retrying a few times; a result that
/// cannot be recorded is redone after its lease (operations are idempotent).
async fn record(ctx: &Ctx, finished: &mut Vec<Finished>) {
    if finished.is_empty() {
        return;
    }
    let interval_ms = i64::try_from(ctx.config.note_interval.as_millis()).unwrap_or(i64::MAX / 2);
    let mut tries = 0;
    loop {
        match ctx.store.complete_many(finished, interval_ms).await {
            Ok(()) => break,
            Err(e) if tries < 5 => {
                tries += 1;
                warn!(error = %e, "cannot record outbox outcomes; retrying");
                tokio::time::sleep(Duration::from_millis(200 * tries)).await;
            }
            Err(e) => {
                warn!(error = %e, count = finished.len(), "outbox outcomes not recorded; the operations will be redone");
                break;
            }
        }
    }
    if finished
        .iter()
        .any(|(_, _, o)| matches!(o, OpOutcome::Done { .. }))
    {
        // A finished step may unblock the next one in its lane.
        ctx.notify.notify_one();
    }
    finished.clear();
}

/// Performs one operation and records its outcome (the CLI's way; the executor batches).
pub async fn execute(ctx: Arc<Ctx>, op: OutboxOp) {
    if let Some(f) = perform(&ctx, op).await {
        record(&ctx, &mut vec![f]).await;
    }
}

/// Performs one operation; `None` if its incident cannot be read (retried after the lease).
pub async fn perform(ctx: &Ctx, op: OutboxOp) -> Option<Finished> {
    let incident = match ctx.store.get(op.incident_id).await {
        Ok(Some(i)) => i,
        Ok(None) => {
            warn!(op = op.id, "outbox operation for a missing incident");
            return None;
        }
        Err(e) => {
            warn!(error = %e, "cannot read the incident of an outbox operation");
            return None;
        }
    };
    let started = std::time::Instant::now();
    let result = match op.kind.as_str() {
        "snow_create" => snow_create(ctx, &incident).await,
        "xdr_create" => xdr_create(ctx, &incident).await,
        "isolate" => isolate(ctx, &incident).await,
        "move_group" => move_group(ctx, &incident).await,
        "note" => note(ctx, &incident).await,
        "snow_update" => snow_update(ctx, &incident).await,
        "xdr_update" => xdr_update(ctx, &incident).await,
        "xdr_close" => xdr_close(ctx, &incident).await,
        "unisolate" => unisolate(ctx, &incident).await,
        "restore_group" => restore_group(ctx, &incident).await,
        "snow_resolve" => snow_resolve(ctx, &incident).await,
        other => Err(OpError::permanent(format!("unknown operation {other}"))),
    };
    let outcome = match result {
        Ok(d) => OpOutcome::Done {
            updates: d.updates,
            action: d.action,
            detail: d.detail,
            noted_up_to: d.noted_up_to,
        },
        Err(e) if !e.retryable && op.attempts + 1 >= MAX_PERMANENT_ATTEMPTS => {
            OpOutcome::Failed { error: e.message }
        }
        Err(e) => {
            let backoff = Duration::from_secs(1)
                .saturating_mul(1 << op.attempts.clamp(0, 9))
                .min(MAX_BACKOFF);
            let wait = e
                .retry_after
                .unwrap_or(backoff)
                .max(Duration::from_millis(200));
            OpOutcome::Retry {
                error: e.message,
                at: now_millis() + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2),
            }
        }
    };
    let label = match &outcome {
        OpOutcome::Done { .. } => "done",
        OpOutcome::Retry { .. } => "retry",
        OpOutcome::Failed { .. } => "failed",
    };
    debug!(op = op.id, kind = %op.kind, incident = op.incident_id, outcome = label, took = ?started.elapsed(), "outbox operation");
    metrics::counter!("sebridge_incident_ops_total", "kind" => op.kind.clone(), "outcome" => label)
        .increment(1);
    Some((op, incident.tenant, outcome))
}

fn snow(ctx: &Ctx) -> Result<&servicenow::Client, OpError> {
    ctx.snow
        .as_ref()
        .ok_or_else(|| OpError::permanent("ServiceNow is not configured"))
}

fn xdr_client(ctx: &Ctx) -> Result<&xdr::Client, OpError> {
    ctx.xdr
        .as_ref()
        .ok_or_else(|| OpError::permanent("XDR is not configured"))
}

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

async fn snow_create(ctx: &Ctx, i: &IncidentRow) -> Result<Done, OpError> {
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

fn links(i: &IncidentRow) -> Links {
    serde_json::from_str(&i.links).unwrap_or_default()
}

fn iso_time(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

async fn xdr_create(ctx: &Ctx, i: &IncidentRow) -> Result<Done, OpError> {
    if let Some(id) = &i.xdr_id {
        return Ok(done(
            "xdr_create_skipped",
            format!("XDR incident {id} exists already"),
        ));
    }
    let client = xdr_client(ctx)?;
    let found = client.find_by_external_id(&i.correlation_id).await?;
    if let Some(f) = found.first() {
        return Ok(done(
            "xdr_adopted",
            format!(
                "found {} by external id {}; no second incident",
                f.short_id(),
                i.correlation_id
            ),
        )
        .set("xdr_id", text(&f.id)));
    }
    let l = links(i);
    let opened = iso_time(i.first_event_time);
    let mut n = xdr::NewIncident::new("High", "New", &opened);
    n.incident_time
        .insert("discovered".into(), Value::String(opened.clone()));
    n.title = Some(i.xdr_title.clone());
    n.short_description = Some(i.snow_short.clone());
    n.description = Some(i.xdr_description.clone());
    n.severity = Some(i.severity.clone());
    n.tlp = Some("amber".into());
    n.source = Some(ctx.config.prefix.clone());
    n.source_uri = Some(l.computer_url.clone());
    n.external_ids = vec![i.correlation_id.clone()];
    let mut refs = vec![xdr::ExternalReference {
        source_name: "Cisco Secure Endpoint".into(),
        description: Some("Device trajectory".into()),
        url: Some(l.computer_url.clone()),
        external_id: i.connector_guid.clone(),
        ..Default::default()
    }];
    if let Some(sha) = &i.sha256 {
        refs.push(xdr::ExternalReference {
            source_name: "Cisco Secure Endpoint".into(),
            description: Some("File trajectory".into()),
            url: Some(l.file_url.clone()),
            external_id: Some(sha.clone()),
            ..Default::default()
        });
    }
    n.external_references = refs;
    n.extra
        .insert("promotion_method".into(), Value::String("Automated".into()));
    n.extra.insert(
        "detection_sources".into(),
        serde_json::json!(["Cisco Secure Endpoint"]),
    );
    n.extra
        .insert("categories".into(), serde_json::json!(["Malicious Code"]));
    let created = client.create(&n.truncated()).await?;
    metrics::counter!("sebridge_incident_tickets_total", "system" => "xdr").increment(1);
    Ok(done(
        "xdr_created",
        format!("XDR incident {}", created.short_id()),
    )
    .set("xdr_id", text(&created.id)))
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

async fn isolate(ctx: &Ctx, i: &IncidentRow) -> Result<Done, OpError> {
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

async fn move_group(ctx: &Ctx, i: &IncidentRow) -> Result<Done, OpError> {
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

async fn note(ctx: &Ctx, i: &IncidentRow) -> Result<Done, OpError> {
    let client = snow(ctx)?;
    let Some(sys_id) = &i.snow_sys_id else {
        return Err(OpError::permanent("no ServiceNow ticket to add a note to"));
    };
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
    client.add_work_note(sys_id, body.trim_end()).await?;
    let mut d = done("work_note", format!("{count} event(s) in one work note"))
        .set("last_note_at", Val::Int(now_millis()));
    d.noted_up_to = up_to;
    Ok(d)
}

async fn snow_update(ctx: &Ctx, i: &IncidentRow) -> Result<Done, OpError> {
    let client = snow(ctx)?;
    let Some(sys_id) = &i.snow_sys_id else {
        return Err(OpError::permanent("no ServiceNow ticket to update"));
    };
    let (impact, urgency) = snow_impact_urgency(&i.severity);
    let mut f = Map::new();
    f.insert("impact".into(), Value::String(impact.into()));
    f.insert("urgency".into(), Value::String(urgency.into()));
    f.insert(
        "work_notes".into(),
        Value::String(format!(
            "Severity raised to {} by a later event.",
            i.severity
        )),
    );
    client.patch(sys_id, &f).await?;
    Ok(done(
        "snow_updated",
        format!(
            "impact {impact}, urgency {urgency} (severity {})",
            i.severity
        ),
    ))
}

async fn xdr_update(ctx: &Ctx, i: &IncidentRow) -> Result<Done, OpError> {
    let client = xdr_client(ctx)?;
    let Some(id) = &i.xdr_id else {
        return Err(OpError::permanent("no XDR incident to update"));
    };
    client
        .patch(id, &serde_json::json!({ "severity": i.severity }))
        .await?;
    Ok(done("xdr_updated", format!("severity {}", i.severity)))
}

/// The CTIM closed status for a ServiceNow close code.
fn closed_status(code: Option<&str>) -> &'static str {
    let c = code.unwrap_or("").to_ascii_lowercase();
    if c.contains("false positive") || c.contains("not an incident") {
        "Closed: False Positive"
    } else if c.contains("duplicate") {
        "Closed: Merged"
    } else if c.contains("confirmed") || c.contains("threat") {
        "Closed: Confirmed Threat"
    } else {
        "Closed"
    }
}

async fn xdr_close(ctx: &Ctx, i: &IncidentRow) -> Result<Done, OpError> {
    let Some(id) = &i.xdr_id else {
        return Ok(done(
            "xdr_close_skipped",
            "no XDR incident for this incident",
        ));
    };
    let client = xdr_client(ctx)?;
    let closed_ms = i.closed_at.unwrap_or_else(now_millis);
    let closed = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(closed_ms) * 1_000_000)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    let reference = match (&ctx.snow, &i.snow_sys_id) {
        (Some(s), Some(sys_id)) => Some(xdr::ExternalReference {
            source_name: "ServiceNow".into(),
            description: Some(format!(
                "ServiceNow {} {} ({})",
                s.table(),
                i.snow_number.as_deref().unwrap_or(""),
                i.close_code.as_deref().unwrap_or("closed")
            )),
            url: Some(s.record_link(sys_id)),
            external_id: i.snow_number.clone(),
            ..Default::default()
        }),
        _ => None,
    };
    let status = closed_status(i.close_code.as_deref());
    match client.close(id, status, closed, reference).await {
        Ok(inc) => Ok(done(
            "xdr_closed",
            format!(
                "{} set {status} (closed {}), ServiceNow reference added, existing references kept",
                inc.short_id(),
                inc.time("closed").unwrap_or("?")
            ),
        )),
        Err(xdr::Error::NotFound { .. }) => {
            Ok(done("xdr_close_skipped", format!("{id} no longer exists")))
        }
        Err(e) => Err(e.into()),
    }
}

async fn unisolate(ctx: &Ctx, i: &IncidentRow) -> Result<Done, OpError> {
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

async fn restore_group(ctx: &Ctx, i: &IncidentRow) -> Result<Done, OpError> {
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

async fn snow_resolve(ctx: &Ctx, i: &IncidentRow) -> Result<Done, OpError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_map_to_ctim_statuses() {
        assert_eq!(
            closed_status(Some("False Positive")),
            "Closed: False Positive"
        );
        assert_eq!(closed_status(Some("Duplicate")), "Closed: Merged");
        assert_eq!(closed_status(Some("Solution provided")), "Closed");
        assert_eq!(closed_status(None), "Closed");
    }
}
