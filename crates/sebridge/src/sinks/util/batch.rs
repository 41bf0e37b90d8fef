//! What goes into a sink's batches: the runner's settings (size, time, retries), the
//! per-sink filter, and the task that reads the journal ahead of the runner.

use super::retry::wait;
use crate::config::{SinkCommon, SinkFilter};
use crate::store::{JournalEntry, Store};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::warn;

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

/// Reads the journal ahead of the runner, in order, `batch_size` rows at a time.
pub(super) async fn read_ahead(
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
}

/// Which items of a batch a target has accepted already, kept by a sink when a `write` fails
/// so the runner's retry of the same batch sends only the rest (Elasticsearch items,
/// Sentinel rows).
pub struct Progress {
    first: i64,
    last: i64,
    pub done: Vec<bool>,
}

impl Progress {
    pub fn of(batch: &[JournalEntry], done: Vec<bool>) -> Progress {
        Progress {
            first: batch.first().map_or(0, |e| e.seq),
            last: batch.last().map_or(0, |e| e.seq),
            done,
        }
    }

    /// Whether this is the progress of `batch` (the runner retries the same batch).
    pub fn is_for(&self, batch: &[JournalEntry]) -> bool {
        self.done.len() == batch.len()
            && batch.first().map_or(0, |e| e.seq) == self.first
            && batch.last().map_or(0, |e| e.seq) == self.last
    }
}

#[cfg(test)]
mod progress_tests {
    use super::*;

    #[test]
    fn progress_belongs_to_its_batch_only() {
        let batch: Vec<JournalEntry> = (5..9)
            .map(|seq| JournalEntry {
                seq,
                ..Default::default()
            })
            .collect();
        let p = Progress::of(&batch, vec![true, false, true, false]);
        assert!(p.is_for(&batch));
        assert!(!p.is_for(&batch[1..]), "a shorter batch");
        assert!(!p.is_for(&batch[..3]), "another last entry");
        assert!(!p.is_for(&[]));
    }
}
