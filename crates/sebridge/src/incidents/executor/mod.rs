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
//!
//! One file per lane: `servicenow.rs` (ticket, work notes, resolve), `xdr.rs` (incident,
//! severity, close) and `endpoint.rs` (isolation and group moves on Secure Endpoint).

mod endpoint;
mod outcome;
mod servicenow;
mod xdr;

pub use self::outcome::{Done, OpError};

use super::store::{OpOutcome, OutboxOp};
use super::{Ctx, IncidentService};
use crate::store::now_millis;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// Non-retryable errors are tried this often before the operation is marked failed.
const MAX_PERMANENT_ATTEMPTS: i64 = 3;
const MAX_BACKOFF: Duration = Duration::from_secs(300);

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
        match ctx.store.release_dead_claims().await {
            Ok(0) => {}
            Ok(n) => info!(operations = n, "released the claims of a process that died"),
            Err(e) => {
                warn!(error = %e, "cannot release the claims of a process that died; they run out in a minute")
            }
        }
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            // Leases not renewed lately: another replica may be taking over; claim nothing.
            let free = if ctx.cluster.is_fresh() {
                concurrency.saturating_sub(inflight.len())
            } else {
                0
            };
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
    if !ctx.cluster.is_fresh() {
        // Claimed, but this replica may have been paused since: leave it to the lease's
        // holder (the claim expires).
        warn!(
            op = op.id,
            "leases not fresh: outbox operation left for the lease holder"
        );
        return None;
    }
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
        "snow_create" => servicenow::snow_create(ctx, &incident).await,
        "xdr_create" => xdr::xdr_create(ctx, &incident).await,
        "isolate" => endpoint::isolate(ctx, &incident).await,
        "move_group" => endpoint::move_group(ctx, &incident).await,
        "note" => servicenow::note(ctx, &incident, &op).await,
        "snow_update" => servicenow::snow_update(ctx, &incident, &op).await,
        "xdr_update" => xdr::xdr_update(ctx, &incident).await,
        "xdr_close" => xdr::xdr_close(ctx, &incident).await,
        "unisolate" => endpoint::unisolate(ctx, &incident).await,
        "restore_group" => endpoint::restore_group(ctx, &incident).await,
        "snow_resolve" => servicenow::snow_resolve(ctx, &incident).await,
        other => Err(OpError::permanent(format!("unknown operation {other}"))),
    };
    let backoff = Duration::from_secs(1)
        .saturating_mul(1 << op.attempts.clamp(0, 9))
        .min(MAX_BACKOFF);
    let outcome = match result {
        Ok(d) if d.wait => OpOutcome::Wait {
            updates: d.updates,
            action: d.action,
            detail: d.detail,
            at: now_millis() + i64::try_from(backoff.as_millis()).unwrap_or(i64::MAX / 2),
        },
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
        OpOutcome::Wait { .. } => "waiting",
    };
    debug!(op = op.id, kind = %op.kind, incident = op.incident_id, outcome = label, took = ?started.elapsed(), "outbox operation");
    metrics::counter!("sebridge_incident_ops_total", "kind" => op.kind.clone(), "outcome" => label)
        .increment(1);
    Some((op, incident.tenant, outcome))
}
