//! The incident engine: a journal consumer with its own committed position (the same
//! read-after-position / commit pattern as the sinks). A batch's incident decisions, queued
//! operations, audit lines and the new position commit in one transaction: a crash replays
//! the batch from the last position and decides the same things again, and nothing has
//! been sent for the rolled-back part (the executor only sees committed operations).

use super::render::TemplateContext;
use super::rules::{correlation_key, decide, max_severity};
use super::store::{IncidentStore, NewIncidentRow};
use super::{Ctx, IncidentService, CONSUMER};
use crate::status::StatusBoard;
use crate::store::{now_millis, JournalEntry, Store, StoreError};
use secure_endpoint::{Event, Severity};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// What one batch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub matched: u64,
    pub opened: u64,
    pub correlated: u64,
    pub too_old: u64,
}

fn impact_urgency(severity: &str) -> (&'static str, &'static str) {
    match Severity::parse(severity) {
        Some(Severity::Critical) => ("1", "1"),
        Some(Severity::High) => ("2", "1"),
        Some(Severity::Medium) => ("2", "2"),
        _ => ("3", "3"),
    }
}

/// ServiceNow impact and urgency for a severity (priority 1, 2, 3, 5).
pub fn snow_impact_urgency(severity: &str) -> (&'static str, &'static str) {
    impact_urgency(severity)
}

impl IncidentService {
    /// Processes one batch of journal entries and commits the position after the last.
    pub async fn process_batch(&self, batch: &[JournalEntry]) -> Result<BatchOutcome, StoreError> {
        let Some(last) = batch.last() else {
            return Ok(BatchOutcome::default());
        };
        let ctx = &self.ctx;
        let cfg = &ctx.config;
        let now_ms = now_millis();
        let now_s = now_ms / 1000;
        let window = i64::try_from(cfg.window.as_secs()).unwrap_or(i64::MAX);
        let interval_ms = i64::try_from(cfg.note_interval.as_millis()).unwrap_or(i64::MAX);
        let max_age = i64::try_from(cfg.max_event_age.as_secs()).unwrap_or(i64::MAX);
        let mut out = BatchOutcome::default();
        let mut tx = ctx.store.begin().await?;
        for entry in batch {
            // The journal only holds events that parsed when they were journaled.
            let Ok(e) = Event::from_json(&entry.raw) else {
                continue;
            };
            let Some(d) = decide(cfg, &entry.tenant, &e) else {
                continue;
            };
            out.matched += 1;
            if max_age > 0 && e.timestamp < now_s.saturating_sub(max_age) {
                out.too_old += 1;
                continue;
            }
            let key = correlation_key(&entry.tenant, &e);
            let existing =
                IncidentStore::tx_find_open(&mut tx, &key, e.timestamp.saturating_sub(window))
                    .await?;
            let console = ctx
                .consoles
                .get(&entry.tenant)
                .map(String::as_str)
                .unwrap_or("https://console.amp.cisco.com");
            match existing {
                Some(open) => {
                    out.correlated += 1;
                    let tctx = TemplateContext::new(
                        &entry.tenant,
                        &e,
                        console,
                        &ctx.visibility,
                        &d.rule,
                        "",
                    );
                    let line = ctx.renderer.note_line(&tctx);
                    let severity = max_severity(&open.severity, e.severity);
                    IncidentStore::tx_add_event(
                        &mut tx,
                        open.id,
                        entry.seq,
                        e.id,
                        e.timestamp,
                        e.severity.map(|s| s.as_str()),
                        &line,
                        false,
                    )
                    .await?;
                    IncidentStore::tx_touch(&mut tx, open.id, e.timestamp, &severity).await?;
                    if ctx.snow.is_some() {
                        // At most one note per interval: the pending note absorbs later events.
                        let not_before = match open.last_note_at {
                            Some(t) => (t + interval_ms).max(now_ms),
                            None => now_ms + interval_ms,
                        };
                        IncidentStore::tx_enqueue(
                            &mut tx,
                            open.id,
                            "servicenow",
                            "note",
                            not_before,
                        )
                        .await?;
                    }
                    if severity != open.severity {
                        if ctx.snow.is_some() {
                            IncidentStore::tx_enqueue(
                                &mut tx,
                                open.id,
                                "servicenow",
                                "snow_update",
                                now_ms,
                            )
                            .await?;
                        }
                        if ctx.xdr.is_some() {
                            IncidentStore::tx_enqueue(
                                &mut tx,
                                open.id,
                                "xdr",
                                "xdr_update",
                                now_ms,
                            )
                            .await?;
                        }
                        IncidentStore::tx_audit(
                            &mut tx,
                            Some(open.id),
                            Some(&entry.tenant),
                            "engine",
                            "severity_raised",
                            &format!("{} -> {severity} by event {}", open.severity, e.id),
                        )
                        .await?;
                    }
                }
                None => {
                    let cid = format!("{}:{}:amp-event:{}", cfg.prefix, entry.tenant, e.id);
                    let tctx = TemplateContext::new(
                        &entry.tenant,
                        &e,
                        console,
                        &ctx.visibility,
                        &d.rule,
                        &cid,
                    );
                    let texts = ctx.renderer.all(&tctx);
                    let severity = e
                        .severity
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_else(|| "Medium".into());
                    let row = NewIncidentRow {
                        tenant: entry.tenant.clone(),
                        correlation_key: key.clone(),
                        correlation_id: cid.clone(),
                        rule: d.rule.clone(),
                        severity,
                        title: texts.short_description.clone(),
                        connector_guid: e.connector_guid.clone(),
                        hostname: e.hostname.clone(),
                        sha256: e.sha256.clone(),
                        detection: e.detection.clone(),
                        event_type: e.event_type.clone(),
                        first_event_id: e.id,
                        first_seq: entry.seq,
                        first_event_time: e.timestamp,
                        snow_short: texts.short_description,
                        snow_description: texts.description,
                        xdr_title: texts.xdr_title,
                        xdr_description: texts.xdr_description,
                        links: serde_json::to_string(&tctx.links()).unwrap_or_default(),
                        isolate: d.isolate && e.connector_guid.is_some(),
                        triage_group: d
                            .triage_group
                            .clone()
                            .filter(|_| e.connector_guid.is_some()),
                    };
                    let Some(id) = IncidentStore::tx_insert(&mut tx, &row).await? else {
                        continue;
                    };
                    out.opened += 1;
                    IncidentStore::tx_add_event(
                        &mut tx,
                        id,
                        entry.seq,
                        e.id,
                        e.timestamp,
                        e.severity.map(|s| s.as_str()),
                        &texts.note_line,
                        true,
                    )
                    .await?;
                    let mut queued = Vec::new();
                    if ctx.snow.is_some() {
                        IncidentStore::tx_enqueue(&mut tx, id, "servicenow", "snow_create", now_ms)
                            .await?;
                        queued.push("ServiceNow ticket");
                    }
                    if ctx.xdr.is_some() {
                        IncidentStore::tx_enqueue(&mut tx, id, "xdr", "xdr_create", now_ms).await?;
                        queued.push("XDR incident");
                    }
                    if row.isolate {
                        IncidentStore::tx_enqueue(&mut tx, id, "endpoint", "isolate", now_ms)
                            .await?;
                        queued.push("isolation");
                    }
                    if row.triage_group.is_some() {
                        IncidentStore::tx_enqueue(&mut tx, id, "endpoint", "move_group", now_ms)
                            .await?;
                        queued.push("move to triage group");
                    }
                    IncidentStore::tx_audit(
                        &mut tx,
                        Some(id),
                        Some(&entry.tenant),
                        "engine",
                        "opened",
                        &format!(
                            "rule {} matched event {} ({}); key {key}; queued {}",
                            d.rule,
                            e.id,
                            e.event_type.as_deref().unwrap_or("?"),
                            queued.join(", ")
                        ),
                    )
                    .await?;
                }
            }
        }
        IncidentStore::tx_commit_position(&mut tx, CONSUMER, last.seq).await?;
        tx.commit().await?;
        if out.opened + out.correlated > 0 {
            ctx.notify.notify_one();
        }
        metrics::counter!("sebridge_incident_events_total", "outcome" => "opened")
            .increment(out.opened);
        metrics::counter!("sebridge_incident_events_total", "outcome" => "correlated")
            .increment(out.correlated);
        metrics::counter!("sebridge_incident_events_total", "outcome" => "too_old")
            .increment(out.too_old);
        Ok(out)
    }

    /// Runs the engine until `shutdown`; the batch in hand is committed first.
    pub async fn run_engine(self, store: Store, status: StatusBoard, shutdown: CancellationToken) {
        let ctx: &Ctx = &self.ctx;
        let batch_size = ctx.config.batch_size.max(1);
        let mut position = loop {
            match store.position(CONSUMER).await {
                Ok(p) => break p.map(|p| p.seq).unwrap_or(0),
                Err(e) => {
                    warn!(error = %e, "incident engine cannot read its position; retrying");
                    if wait(&shutdown, Duration::from_secs(1)).await {
                        return;
                    }
                }
            }
        };
        status.register_sink(CONSUMER, "incidents", position);
        info!(position, "incident engine started");
        let mut head_rx = store.subscribe_head();
        let mut failures: u32 = 0;
        while !shutdown.is_cancelled() {
            let batch = match store.read_after(position, batch_size).await {
                Ok(b) => b,
                Err(e) => {
                    warn!(error = %e, "incident engine cannot read the journal; retrying");
                    if wait(&shutdown, Duration::from_secs(1)).await {
                        break;
                    }
                    continue;
                }
            };
            if batch.is_empty() {
                tokio::select! {
                    _ = head_rx.changed() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.cancelled() => break,
                }
                continue;
            }
            let last = batch.last().map(|e| e.seq).unwrap_or(position);
            match self.process_batch(&batch).await {
                Ok(_) => {
                    failures = 0;
                    position = last;
                    metrics::gauge!("sebridge_sink_position", "sink" => CONSUMER)
                        .set(position as f64);
                    status.update_sink(CONSUMER, |s| {
                        s.position = last;
                        s.events_written += batch.len() as u64;
                        s.healthy = true;
                        s.last_error = None;
                    });
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let delay = Duration::from_millis(200)
                        .saturating_mul(1 << failures.min(8))
                        .min(Duration::from_secs(30));
                    warn!(error = %e, retry_in = ?delay, "incident engine failed on a batch; will retry it");
                    let msg = e.to_string();
                    status.update_sink(CONSUMER, |s| {
                        s.healthy = false;
                        s.last_error = Some(msg);
                    });
                    if wait(&shutdown, delay).await {
                        break;
                    }
                }
            }
        }
        info!(position, "incident engine stopped");
    }
}

async fn wait(shutdown: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = shutdown.cancelled() => true,
    }
}
