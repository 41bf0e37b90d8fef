//! Sinks: journal consumers that deliver events somewhere. Each owns a committed position
//! (and optional state) in the store: read after the position, deliver, then commit. A sink
//! that fails retries the same batch with backoff; ingestion and other sinks carry on, the
//! journal holds the backlog.

pub mod file;
pub mod stdout;

use crate::status::StatusBoard;
use crate::store::{JournalEntry, Position, Store, StoreError};
use std::future::Future;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

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
    fn open(&mut self, state: Option<&str>) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// Delivers a batch durably. Returns the state to commit with the new position.
    fn write(
        &mut self,
        batch: &[JournalEntry],
    ) -> impl Future<Output = Result<Option<String>, SinkError>> + Send;
}

/// Renders one JSON line: the raw vendor event, or wrapped with tenant and receive time.
pub fn render_line(entry: &JournalEntry, wrap: bool, out: &mut String) {
    // A JSON-lines record must not contain a newline. The API sends compact JSON; should a
    // raw event carry formatting newlines (only possible between tokens, since JSON strings
    // escape control characters), they become spaces: same JSON, one line.
    let raw = entry.raw.as_str();
    let needs_fix = raw.contains(['\n', '\r']);
    let fixed;
    let raw = if needs_fix {
        fixed = raw.replace(['\n', '\r'], " ");
        fixed.as_str()
    } else {
        raw
    };
    if wrap {
        let received = time::OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(entry.received_at) * 1_000_000,
        )
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default();
        out.push_str("{\"tenant\":");
        out.push_str(&serde_json::Value::String(entry.tenant.clone()).to_string());
        out.push_str(",\"received_at\":\"");
        out.push_str(&received);
        out.push_str("\",\"event\":");
        out.push_str(raw);
        out.push('}');
    } else {
        out.push_str(raw);
    }
    out.push('\n');
}

/// Runs a sink until `shutdown`: the batch in hand is finished and committed first.
pub async fn run_sink<S: Sink>(
    name: String,
    mut sink: S,
    batch_size: usize,
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
    sink.open(committed.state.as_deref()).await?;
    status.register_sink(&name, kind, committed.seq);
    let mut position = committed;
    let mut head_rx = store.subscribe_head();
    let mut failures: u32 = 0;
    info!(sink = %name, kind, position = position.seq, "sink started");
    while !shutdown.is_cancelled() {
        let batch = match store.read_after(position.seq, batch_size.max(1)).await {
            Ok(b) => b,
            Err(e) => {
                warn!(sink = %name, error = %e, "cannot read the journal; retrying");
                if wait(&shutdown, Duration::from_secs(1)).await {
                    break;
                }
                continue;
            }
        };
        if batch.is_empty() {
            // Wake on a new head in this process, or poll for other processes' appends.
            tokio::select! {
                _ = head_rx.changed() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.cancelled() => break,
            }
            continue;
        }
        let last = batch.last().map(|e| e.seq).unwrap_or(position.seq);
        match sink.write(&batch).await {
            Ok(state) => {
                let next = Position { seq: last, state };
                if let Err(e) = commit_with_retry(&store, &name, &next, &shutdown).await {
                    // Not committed: the batch will be delivered again after a restart; the
                    // sink's own state (e.g. the file length) keeps that from duplicating.
                    return Err(SinkError::Other(format!(
                        "sink {name}: cannot commit its position: {e}"
                    )));
                }
                failures = 0;
                position = next;
                metrics::counter!("sebridge_sink_events_total", "sink" => name.clone())
                    .increment(batch.len() as u64);
                metrics::gauge!("sebridge_sink_position", "sink" => name.clone())
                    .set(position.seq as f64);
                status.update_sink(&name, |s| {
                    s.position = last;
                    s.events_written += batch.len() as u64;
                    s.healthy = true;
                    s.last_error = None;
                });
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let delay = Duration::from_millis(500)
                    .saturating_mul(1 << failures.min(7))
                    .min(Duration::from_secs(60));
                warn!(sink = %name, error = %e, retry_in = ?delay, "sink failed to deliver; will retry the same batch");
                metrics::counter!("sebridge_sink_errors_total", "sink" => name.clone())
                    .increment(1);
                let msg = e.to_string();
                status.update_sink(&name, |s| {
                    s.healthy = false;
                    s.last_error = Some(msg);
                });
                if wait(&shutdown, delay).await {
                    break;
                }
            }
        }
    }
    info!(sink = %name, position = position.seq, "sink stopped");
    Ok(())
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
