//! Sinks: journal consumers that deliver events somewhere. Each owns a committed position
//! (and optional state) in the store: read after the position, deliver, then commit.
//!
//! The runner ([`run_sink`]) gives every sink the same behaviour: batches bounded by size
//! and by time, per-sink filters, retries of the *same* batch with exponential backoff and
//! jitter (a batch is never skipped), and health/backlog in the status board and metrics.
//! Each sink is its own task reading the journal on its own, so a sink that is down holds
//! back nobody: ingestion and the other sinks carry on, and the journal holds its backlog
//! (within the retention limits of [`retention`]).

pub mod build;
pub mod cef;
pub mod ecs;
pub mod elasticsearch;
pub mod file;
pub mod hec;
pub mod http;
pub mod leef;
pub mod postgres;
pub mod retention;
pub mod stdout;
pub mod syslog;
pub mod view;
pub mod webhook;

use crate::config::{SinkCommon, SinkFilter};
use crate::status::StatusBoard;
use crate::store::{JournalEntry, Position, Store, StoreError};
use std::future::Future;
use std::time::{Duration, Instant};
use time::format_description::well_known::Rfc3339;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

/// A destination for journal entries.
pub trait Sink: Send + 'static {
    /// A short type name ("file", "stdout").
    fn kind(&self) -> &'static str;

    /// Prepares the output from the state committed with the sink's position (`None` on the
    /// first run), e.g. dropping output written after the last commit by a crashed process.
    /// Sinks without state or set-up need nothing here.
    fn open(&mut self, state: Option<&str>) -> impl Future<Output = Result<(), SinkError>> + Send {
        let _ = state;
        async { Ok(()) }
    }

    /// Delivers a batch durably (or, for events the target refuses for good, dead-letters
    /// them through [`SinkCtx`]). Returns the state to commit with the new position. An error
    /// means "try the same batch again later".
    fn write(
        &mut self,
        batch: &[JournalEntry],
    ) -> impl Future<Output = Result<Option<String>, SinkError>> + Send;

    /// Called once when the runner stops (e.g. to send TLS close_notify).
    fn close(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// What a sink may need from its surroundings: its name, the store (dead letters) and the
/// status board.
#[derive(Clone)]
pub struct SinkCtx {
    pub name: String,
    pub store: Store,
    pub status: StatusBoard,
}

impl SinkCtx {
    /// Keeps an event the target refused for good (e.g. a mapping error) in `dead_letters`
    /// with the reason, so it is not retried forever and not lost either.
    pub async fn dead_letter(&self, entry: &JournalEntry, reason: &str) -> Result<(), SinkError> {
        let source = format!("sink:{}", self.name);
        self.store
            .dead_letter(&entry.tenant, &source, reason, &entry.raw)
            .await
            .map_err(|e| SinkError::Other(format!("cannot store a dead letter: {e}")))?;
        error!(sink = %self.name, tenant = %entry.tenant, event_id = entry.event_id, seq = entry.seq, reason,
            "event refused by the target for good; kept in dead_letters");
        metrics::counter!("sebridge_sink_dead_letters_total", "sink" => self.name.clone())
            .increment(1);
        self.status
            .update_sink(&self.name, |s| s.events_dead_lettered += 1);
        Ok(())
    }
}

/// The runner's settings of one sink.
#[derive(Clone, Debug)]
pub struct SinkOptions {
    pub batch_size: usize,
    pub batch_timeout: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub filter: SinkFilter,
}

impl From<&SinkCommon> for SinkOptions {
    fn from(c: &SinkCommon) -> Self {
        SinkOptions {
            batch_size: c.batch_size.max(1),
            batch_timeout: c.batch_timeout,
            retry_initial: c.retry_initial,
            retry_max: c.retry_max.max(c.retry_initial),
            filter: c.filter.clone(),
        }
    }
}

impl SinkOptions {
    /// Defaults with the given batch size (tests, benchmarks).
    pub fn with_batch_size(batch_size: usize) -> SinkOptions {
        SinkOptions {
            batch_size: batch_size.max(1),
            batch_timeout: Duration::ZERO,
            retry_initial: Duration::from_millis(500),
            retry_max: Duration::from_secs(60),
            filter: SinkFilter::default(),
        }
    }
}

/// Whether an entry passes a sink's filter.
pub fn passes(filter: &SinkFilter, e: &JournalEntry) -> bool {
    if let Some(t) = &filter.tenants {
        if !t.contains(&e.tenant) {
            return false;
        }
    }
    if !filter.event_types.is_empty() && !filter.event_types.contains(&e.event_type_id) {
        return false;
    }
    match filter.min_severity {
        Some(min) => e.severity.is_some_and(|s| s >= min),
        None => true,
    }
}

/// The delay before retry number `failures` (1-based): exponential from `initial`, capped at
/// `max`, with "equal jitter" (half fixed, half random) so many failing sinks or replicas do
/// not retry in lockstep.
pub fn backoff(initial: Duration, max: Duration, failures: u32) -> Duration {
    let exp = initial.saturating_mul(1u32 << failures.saturating_sub(1).min(20));
    let d = exp.min(max);
    let half = d / 2;
    let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    half + Duration::from_millis(rand::random_range(0..=jitter_ms))
}

/// Renders one JSON line: the raw vendor event, or wrapped with tenant and receive time.
pub fn render_line(entry: &JournalEntry, wrap: bool, out: &mut String) {
    render_json(entry, wrap, out);
    out.push('\n');
}

/// `YYYY-MM-DDThh:mm:ss.mmmZ` (UTC, millisecond precision), as ECS and LEEF want it.
pub(crate) fn iso_millis(t: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// The JSON of [`render_line`] without the newline.
pub fn render_json(entry: &JournalEntry, wrap: bool, out: &mut String) {
    // A JSON-lines record must not contain a newline. The API sends compact JSON; should a
    // raw event carry formatting newlines (only possible between tokens, since JSON strings
    // escape control characters), they become spaces: same JSON, one line.
    let raw: &str = &entry.raw;
    // memchr2 scans with SIMD; a `char` pattern decodes every character (µs per event).
    let needs_fix = memchr::memchr2(b'\n', b'\r', raw.as_bytes()).is_some();
    let fixed;
    let raw = if needs_fix {
        fixed = raw.replace(['\n', '\r'], " ");
        fixed.as_str()
    } else {
        raw
    };
    if wrap {
        out.push_str("{\"tenant\":");
        push_json_str(out, &entry.tenant);
        out.push_str(",\"received_at\":\"");
        out.push_str(&rfc3339_millis(entry.received_at));
        out.push_str("\",\"event\":");
        out.push_str(raw);
        out.push('}');
    } else {
        out.push_str(raw);
    }
}

/// Epoch milliseconds as RFC 3339 (empty if out of range).
pub fn rfc3339_millis(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Appends `s` as a JSON string literal.
pub fn push_json_str(out: &mut String, s: &str) {
    // serde_json's escaping, without an intermediate Value.
    let mut buf = Vec::with_capacity(s.len() + 2);
    if serde_json::to_writer(&mut buf, s).is_ok() {
        out.push_str(&String::from_utf8_lossy(&buf));
    } else {
        out.push_str("\"\"");
    }
}

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
                note_failure(&name, &status, &e, failures, delay, &labels);
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
                    note_failure(&name, &status, &e, failures, delay, &labels);
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

/// Reads the journal ahead of the runner, in order, `batch_size` rows at a time.
async fn read_ahead(
    store: Store,
    name: String,
    from: i64,
    batch_size: usize,
    tx: tokio::sync::mpsc::Sender<Vec<JournalEntry>>,
    stop: CancellationToken,
) {
    let mut head_rx = store.subscribe_head();
    let mut cursor = from;
    loop {
        match store.read_after(cursor, batch_size).await {
            Ok(rows) if rows.is_empty() => {
                // Wake on a new head in this process, or poll for other processes' appends.
                tokio::select! {
                    _ = head_rx.changed() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.cancelled() => return,
                }
            }
            Ok(rows) => {
                cursor = rows.last().map_or(cursor, |e| e.seq);
                tokio::select! {
                    r = tx.send(rows) => if r.is_err() { return },
                    _ = stop.cancelled() => return,
                }
            }
            Err(e) => {
                warn!(sink = %name, error = %e, "cannot read the journal; retrying");
                if wait(&stop, Duration::from_secs(1)).await {
                    return;
                }
            }
        }
    }
}

fn note_failure(
    name: &str,
    status: &StatusBoard,
    e: &SinkError,
    failures: u32,
    delay: Duration,
    labels: &[(&'static str, String); 1],
) {
    // Loud on the first failures and then once in a while, not on every retry of a long outage.
    if failures <= 3 || failures.is_power_of_two() {
        warn!(sink = %name, error = %e, failures, retry_in = ?delay, "sink failed to deliver; will retry the same batch");
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

async fn commit_with_retry(
    store: &Store,
    name: &str,
    p: &Position,
    shutdown: &CancellationToken,
) -> Result<(), StoreError> {
    let mut attempt = 0;
    loop {
        match store.commit_position(name, p).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 5 && !shutdown.is_cancelled() => {
                attempt += 1;
                warn!(sink = %name, error = %e, "cannot commit position; retrying");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Sleeps; true if shutdown came first.
async fn wait(shutdown: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = shutdown.cancelled() => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secure_endpoint::Severity;

    fn entry(tenant: &str, type_id: u64, sev: Option<Severity>) -> JournalEntry {
        JournalEntry {
            tenant: tenant.into(),
            event_type_id: type_id,
            severity: sev,
            ..Default::default()
        }
    }

    #[test]
    fn filters_combine() {
        let f = SinkFilter {
            tenants: Some(vec!["acme".into()]),
            event_types: vec![1090519054],
            min_severity: Some(Severity::High),
        };
        assert!(passes(
            &f,
            &entry("acme", 1090519054, Some(Severity::Critical))
        ));
        assert!(!passes(
            &f,
            &entry("globex", 1090519054, Some(Severity::Critical))
        ));
        assert!(!passes(&f, &entry("acme", 553648130, Some(Severity::High))));
        assert!(!passes(
            &f,
            &entry("acme", 1090519054, Some(Severity::Medium))
        ));
        // No severity does not pass a minimum.
        assert!(!passes(&f, &entry("acme", 1090519054, None)));
        assert!(passes(&SinkFilter::default(), &entry("x", 1, None)));
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let i = Duration::from_millis(100);
        let m = Duration::from_secs(10);
        for failures in 1..40 {
            let d = backoff(i, m, failures);
            let exp = i.saturating_mul(1 << (failures - 1).min(20)).min(m);
            assert!(d >= exp / 2 && d <= exp, "{failures}: {d:?} vs {exp:?}");
        }
        let samples: std::collections::HashSet<_> =
            (0..50).map(|_| backoff(i, m, 10).as_millis()).collect();
        assert!(samples.len() > 1, "jitter varies the delay");
    }
}
