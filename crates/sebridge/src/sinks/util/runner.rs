//! The sink runner: one task per sink that reads the journal after the sink's committed
//! position, delivers batches, and commits the new position (with the sink's state).
//!
//! Every sink gets the same behaviour from it: batches bounded by size and by time,
//! per-sink filters, retries of the *same* batch with exponential backoff and jitter (a
//! batch is never skipped), and health/backlog in the status board and metrics.

use super::batch::{passes, read_ahead, SinkOptions};
use super::retry::{backoff, commit_with_retry, wait};
use super::{Sink, SinkError};
use crate::status::StatusBoard;
use crate::store::{JournalEntry, Position, Store, StoreError};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Runs a sink until `shutdown`: the batch in hand is finished and committed first.
pub async fn run_sink<S: Sink>(
    name: String,
    mut sink: S,
    opts: SinkOptions,
    store: Store,
    status: StatusBoard,
    shutdown: CancellationToken,
) -> Result<(), SinkError> {
    let kind = sink.kind();
    let committed = store
        .position(&name)
        .await
        .map_err(|e| SinkError::Other(format!("sink {name}: cannot read its position: {e}")))?
        .unwrap_or_default();
    status.register_sink(&name, kind, committed.seq);
    let labels = [("sink", name.clone())];
    // Opening may need the target (e.g. creating a table): retry like a delivery, so a
    // target that is down at start-up is a failing sink, not a dead one.
    let mut failures = 0u32;
    loop {
        match sink.open(committed.state.as_deref()).await {
            Ok(()) => break,
            Err(e) => {
                failures += 1;
                let delay = backoff(opts.retry_initial, opts.retry_max, failures);
                // Nothing is lost meanwhile: the position stays, the journal keeps the events.
                note_failure(&name, &status, &e, failures, delay, &labels, OPEN_FAILED);
                if wait(&shutdown, delay).await {
                    return Ok(());
                }
            }
        }
    }
    let mut position = committed;
    // A read-ahead task keeps up to two batches ready, so reading the journal overlaps with
    // delivering (memory stays bounded: the channel holds at most two batches).
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<JournalEntry>>(2);
    let reader_stop = shutdown.child_token();
    let reader = tokio::spawn(read_ahead(
        store.clone(),
        name.clone(),
        position.seq,
        opts.batch_size,
        tx,
        reader_stop.clone(),
    ));
    let mut pending: std::collections::VecDeque<JournalEntry> = std::collections::VecDeque::new();
    let mut read_to = position.seq;
    let mut deadline: Option<Instant> = None;
    let mut filtered_since_commit = 0u64;
    let mut batch: Vec<JournalEntry> = Vec::with_capacity(opts.batch_size.min(100_000));
    // The position commit of the last delivered batch runs while the next batch is delivered
    // (an fsync per batch otherwise leaves the target idle); commits still land in order,
    // each awaited before the next starts, and the last before the runner returns.
    let mut committing: Option<tokio::task::JoinHandle<Result<(), StoreError>>> = None;
    update_backlog(&store, &status, &name, &position, &labels);
    info!(sink = %name, kind, position = position.seq, "sink started");
    'run: while !shutdown.is_cancelled() {
        // Take what is ready; wait only when nothing is (or a partial batch may still grow).
        let rows = if pending.len() >= opts.batch_size {
            None
        } else {
            match rx.try_recv() {
                Ok(rows) => Some(rows),
                Err(_) if pending.is_empty() => tokio::select! {
                    r = rx.recv() => match r { Some(rows) => Some(rows), None => break },
                    _ = shutdown.cancelled() => break,
                },
                Err(_) => match deadline.filter(|d| *d > Instant::now()) {
                    Some(d) => tokio::select! {
                        r = rx.recv() => match r { Some(rows) => Some(rows), None => break },
                        _ = tokio::time::sleep_until(d.into()) => None,
                        // On shutdown the partial batch in hand is still delivered below.
                        _ = shutdown.cancelled() => None,
                    },
                    None => None,
                },
            }
        };
        if let Some(rows) = rows {
            for row in rows {
                read_to = row.seq;
                if passes(&opts.filter, &row) {
                    if pending.is_empty() {
                        deadline = Some(Instant::now() + opts.batch_timeout);
                    }
                    pending.push_back(row);
                } else {
                    filtered_since_commit += 1;
                }
            }
            if pending.is_empty() {
                if read_to > position.seq && rx.is_empty() {
                    // Everything read was filtered out: move the position past it (same state).
                    let next = Position {
                        seq: read_to,
                        state: position.state.clone(),
                    };
                    let committed = match settle(&mut committing).await {
                        Ok(()) => commit_with_retry(&store, &name, &next, &shutdown).await,
                        Err(e) => Err(e),
                    };
                    if let Err(e) = committed {
                        reader_stop.cancel();
                        return Err(commit_failed(&name, &e));
                    }
                    position = next;
                    note_filtered(&status, &name, &mut filtered_since_commit, &labels);
                    update_backlog(&store, &status, &name, &position, &labels);
                }
                continue;
            }
            if pending.len() < opts.batch_size
                && deadline.is_some_and(|d| d > Instant::now())
                && !shutdown.is_cancelled()
            {
                continue;
            }
        }
        if pending.is_empty() {
            continue;
        }
        // Deliver up to batch_size; the same batch until it succeeds (never skipped).
        batch.clear();
        let take = pending.len().min(opts.batch_size);
        batch.extend(pending.drain(..take));
        // Rows after the batch that were filtered out are covered only when nothing passing
        // is left behind it.
        let commit_seq = if pending.is_empty() {
            read_to
        } else {
            batch.last().map_or(position.seq, |e| e.seq)
        };
        let mut failures = 0u32;
        loop {
            let started = Instant::now();
            match sink.write(&batch).await {
                Ok(state) => {
                    let next = Position {
                        seq: commit_seq,
                        state,
                    };
                    if let Err(e) = settle(&mut committing).await {
                        // Not committed: the batch will be delivered again after a restart; the
                        // sink's own state (e.g. the file length) or the target's idempotency
                        // keeps that from duplicating where the target allows it.
                        reader_stop.cancel();
                        return Err(commit_failed(&name, &e));
                    }
                    committing = Some(tokio::spawn({
                        let (store, name, next, shutdown) =
                            (store.clone(), name.clone(), next.clone(), shutdown.clone());
                        async move { commit_with_retry(&store, &name, &next, &shutdown).await }
                    }));
                    position = next;
                    let n = batch.len() as u64;
                    metrics::counter!("sebridge_sink_events_total", &labels).increment(n);
                    metrics::histogram!("sebridge_sink_batch_seconds", &labels)
                        .record(started.elapsed().as_secs_f64());
                    metrics::gauge!("sebridge_sink_position", &labels).set(position.seq as f64);
                    metrics::gauge!("sebridge_sink_healthy", &labels).set(1.0);
                    if failures > 0 {
                        info!(sink = %name, failures, "sink recovered; delivered the batch it was retrying");
                    }
                    status.update_sink(&name, |s| {
                        s.position = position.seq;
                        s.events_written += n;
                        s.healthy = true;
                        s.last_error = None;
                        s.consecutive_failures = 0;
                        s.last_success = Some(time::OffsetDateTime::now_utc());
                    });
                    note_filtered(&status, &name, &mut filtered_since_commit, &labels);
                    update_backlog(&store, &status, &name, &position, &labels);
                    break;
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let delay = backoff(opts.retry_initial, opts.retry_max, failures);
                    note_failure(&name, &status, &e, failures, delay, &labels, WRITE_FAILED);
                    update_backlog(&store, &status, &name, &position, &labels);
                    if wait(&shutdown, delay).await {
                        // Stopping: the batch stays uncommitted and is delivered next run.
                        break 'run;
                    }
                }
            }
        }
        deadline = pending.front().map(|_| Instant::now() + opts.batch_timeout);
    }
    reader_stop.cancel();
    let _ = reader.await;
    let committed = settle(&mut committing).await;
    sink.close().await;
    if let Err(e) = committed {
        return Err(commit_failed(&name, &e));
    }
    info!(sink = %name, position = position.seq, "sink stopped");
    Ok(())
}

fn commit_failed(name: &str, e: &StoreError) -> SinkError {
    SinkError::Other(format!("sink {name}: cannot commit its position: {e}"))
}

/// Waits for the position commit in flight, if any.
async fn settle(
    committing: &mut Option<tokio::task::JoinHandle<Result<(), StoreError>>>,
) -> Result<(), StoreError> {
    match committing.take() {
        Some(task) => task.await.map_err(StoreError::JournalTask)?,
        None => Ok(()),
    }
}

const OPEN_FAILED: &str =
    "sink cannot open its output; will retry (its events wait in the journal: nothing is lost)";
const WRITE_FAILED: &str = "sink failed to deliver; will retry the same batch";

fn note_failure(
    name: &str,
    status: &StatusBoard,
    e: &SinkError,
    failures: u32,
    delay: Duration,
    labels: &[(&'static str, String); 1],
    what: &str,
) {
    // Loud on the first failures and then once in a while, not on every retry of a long outage.
    if failures <= 3 || failures.is_power_of_two() {
        warn!(sink = %name, error = %e, failures, retry_in = ?delay, "{what}");
    }
    metrics::counter!("sebridge_sink_errors_total", labels).increment(1);
    metrics::gauge!("sebridge_sink_healthy", labels).set(0.0);
    let msg = e.to_string();
    status.update_sink(name, |s| {
        s.healthy = false;
        s.last_error = Some(msg);
        s.consecutive_failures = failures;
        s.retries += 1;
    });
}

fn note_filtered(
    status: &StatusBoard,
    name: &str,
    n: &mut u64,
    labels: &[(&'static str, String); 1],
) {
    if *n > 0 {
        let k = *n;
        metrics::counter!("sebridge_sink_filtered_total", labels).increment(k);
        status.update_sink(name, |s| s.events_filtered += k);
        *n = 0;
    }
}

fn update_backlog(
    store: &Store,
    status: &StatusBoard,
    name: &str,
    position: &Position,
    labels: &[(&'static str, String); 1],
) {
    let backlog = (store.head() - position.seq).max(0);
    metrics::gauge!("sebridge_sink_backlog", labels).set(backlog as f64);
    let seq = position.seq;
    status.update_sink(name, |s| {
        s.backlog = backlog;
        s.position = seq;
    });
}
