//! Journal retention: deletes rows that are past the configured limits (`[journal] max_age`,
//! `max_rows`) *and* that every consumer has passed.
//!
//! A consumer that lags (a sink down for days) holds rows back. Before a limit is reached
//! (at `warn_at_percent` of it) the lag is a warning; past it the journal is "blocked": with
//! `on_lagging_consumer = "keep"` (the default) nothing the consumer still needs is deleted
//! and the journal grows beyond the limit, loudly (error log, `/status`, metrics); with
//! `"drop"` the operator chose to enforce the limit, so the oldest rows go anyway and every
//! row deleted before a consumer read it is counted and logged at error.

use crate::config::{JournalConfig, LaggingPolicy};
use crate::status::{JournalStatus, StatusBoard};
use crate::store::{now_millis, Store, StoreError};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// Rows deleted per transaction, so ingestion never waits long for the writer.
const DELETE_CHUNK: u64 = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Ok,
    Warning,
    Blocked,
    Dropping,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Warning => "warning",
            State::Blocked => "blocked",
            State::Dropping => "dropping",
        }
    }
}

pub struct Retention {
    pub config: JournalConfig,
    pub store: Store,
    pub status: StatusBoard,
    /// Consumers that count even before they committed a first position (the configured
    /// sinks: a new sink starts from the beginning of the journal).
    pub consumers: Vec<String>,
    deleted: u64,
    dropped: u64,
    last_state: State,
    last_alarm: Option<Instant>,
}

/// What one check found and did.
#[derive(Clone, Debug)]
pub struct CheckReport {
    pub state: State,
    pub deleted: u64,
    pub dropped_unconsumed: u64,
    pub lagging_consumer: Option<String>,
    pub message: Option<String>,
}

impl Retention {
    pub fn new(
        config: JournalConfig,
        store: Store,
        status: StatusBoard,
        consumers: Vec<String>,
    ) -> Self {
        Retention {
            config,
            store,
            status,
            consumers,
            deleted: 0,
            dropped: 0,
            last_state: State::Ok,
            last_alarm: None,
        }
    }

    /// The newest seq beyond the limits scaled to `percent` (None: nothing beyond).
    async fn boundary(&self, percent: u64) -> Result<Option<i64>, StoreError> {
        let mut b: Option<i64> = None;
        if let Some(age) = self.config.max_age {
            let age_ms = i64::try_from(age.as_millis()).unwrap_or(i64::MAX) / 100
                * i64::try_from(percent).unwrap_or(100);
            if let Some(s) = self
                .store
                .last_seq_received_before(now_millis() - age_ms)
                .await?
            {
                b = Some(b.map_or(s, |x| x.max(s)));
            }
        }
        if let Some(rows) = self.config.max_rows {
            let keep = rows.saturating_mul(percent) / 100;
            if let Some(s) = self.store.seq_keeping_newest(keep.max(1)).await? {
                b = Some(b.map_or(s, |x| x.max(s)));
            }
        }
        Ok(b)
    }

    /// One retention pass.
    pub async fn check(&mut self) -> Result<CheckReport, StoreError> {
        let mut positions: BTreeMap<String, i64> = self
            .store
            .positions()
            .await?
            .into_iter()
            .map(|(n, p)| (n, p.seq))
            .collect();
        for c in &self.consumers {
            positions.entry(c.clone()).or_insert(0);
        }
        let slowest = positions
            .iter()
            .min_by_key(|(_, s)| **s)
            .map(|(n, s)| (n.clone(), *s));
        let min_pos = slowest.as_ref().map_or(i64::MAX, |(_, s)| *s);
        let limit = self.boundary(100).await?;
        let warn_at = self
            .boundary(u64::from(self.config.warn_at_percent))
            .await?;
        let mut report = CheckReport {
            state: State::Ok,
            deleted: 0,
            dropped_unconsumed: 0,
            lagging_consumer: None,
            message: None,
        };
        let Some(limit) = limit else {
            if let (Some(w), Some((name, pos))) = (warn_at, &slowest) {
                if w > *pos {
                    report.state = State::Warning;
                    report.lagging_consumer = Some(name.clone());
                    report.message = Some(self.describe(name, *pos, "nears"));
                }
            }
            return Ok(report);
        };
        let safe = limit.min(min_pos);
        let lagging = limit > min_pos;
        let through = if lagging && self.config.on_lagging_consumer == LaggingPolicy::Drop {
            // Count, per consumer, what it loses before it goes.
            for (name, pos) in positions.iter().filter(|(_, p)| **p < limit) {
                let lost =
                    self.store.count_after(*pos).await? - self.store.count_after(limit).await?;
                if lost > 0 {
                    error!(consumer = %name, rows = lost, "journal retention is deleting rows this consumer has not read (on_lagging_consumer = \"drop\")");
                    metrics::counter!("sebridge_journal_dropped_unconsumed_total", "consumer" => name.clone())
                        .increment(u64::try_from(lost).unwrap_or(0));
                    report.dropped_unconsumed += u64::try_from(lost).unwrap_or(0);
                }
            }
            limit
        } else {
            safe
        };
        loop {
            let n = self.store.delete_through(through, DELETE_CHUNK).await?;
            report.deleted += n;
            if n < DELETE_CHUNK {
                break;
            }
            tokio::task::yield_now().await;
        }
        if lagging {
            let (name, pos) = slowest.clone().unwrap_or_default();
            report.lagging_consumer = Some(name.clone());
            report.state = match self.config.on_lagging_consumer {
                LaggingPolicy::Keep => State::Blocked,
                LaggingPolicy::Drop => State::Dropping,
            };
            report.message = Some(self.describe(&name, pos, "is past"));
        } else if let (Some(w), Some((name, pos))) = (warn_at, &slowest) {
            if w > *pos {
                report.state = State::Warning;
                report.lagging_consumer = Some(name.clone());
                report.message = Some(self.describe(name, *pos, "nears"));
            }
        }
        Ok(report)
    }

    fn describe(&self, consumer: &str, pos: i64, verb: &str) -> String {
        let configured = self.consumers.iter().any(|c| c == consumer);
        let limits = [
            self.config
                .max_age
                .map(|a| format!("max_age {}", humantime::format_duration(a))),
            self.config.max_rows.map(|r| format!("max_rows {r}")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
        let consequence = match self.config.on_lagging_consumer {
            LaggingPolicy::Keep => "rows it has not read are kept (the journal grows past the limit) until it catches up",
            LaggingPolicy::Drop => "rows it has not read are DELETED at the limit (on_lagging_consumer = \"drop\")",
        };
        let hint = if configured {
            "fix the sink (see its last_error)".to_string()
        } else {
            format!("it is not configured in this process: if it was removed for good, run `sebridge sinks forget {consumer}`")
        };
        format!("consumer `{consumer}` (at seq {pos}) {verb} the journal retention limit ({limits}); {consequence}; {hint}")
    }

    /// Runs checks every `check_interval` until `shutdown`.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut first = true;
        loop {
            let delay = if first {
                Duration::from_secs(2)
            } else {
                self.config.check_interval
            };
            first = false;
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.cancelled() => return,
            }
            match self.check().await {
                Ok(r) => self.publish(r).await,
                Err(e) => warn!(error = %e, "journal retention check failed; will try again"),
            }
        }
    }

    async fn publish(&mut self, r: CheckReport) {
        self.deleted += r.deleted;
        self.dropped += r.dropped_unconsumed;
        if r.deleted > 0 {
            info!(
                rows = r.deleted,
                "journal retention deleted rows every consumer had passed"
            );
            metrics::counter!("sebridge_journal_deleted_total").increment(r.deleted);
        }
        let changed = r.state != self.last_state;
        let due = self
            .last_alarm
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(600));
        if let Some(msg) = &r.message {
            if changed || due {
                match r.state {
                    State::Blocked | State::Dropping => error!(state = r.state.as_str(), "{msg}"),
                    _ => warn!(state = r.state.as_str(), "{msg}"),
                }
                self.last_alarm = Some(Instant::now());
            }
        } else if changed {
            info!("journal retention back to normal: no consumer holds rows past the limits");
        }
        self.last_state = r.state;
        let level = match r.state {
            State::Ok => 0.0,
            State::Warning => 1.0,
            State::Blocked => 2.0,
            State::Dropping => 3.0,
        };
        metrics::gauge!("sebridge_journal_retention_state").set(level);
        let rows = self.store.count().await.unwrap_or(-1);
        let oldest_age = self
            .store
            .oldest()
            .await
            .ok()
            .flatten()
            .map(|(_, at)| (now_millis() - at) / 1000);
        metrics::gauge!("sebridge_journal_rows").set(rows as f64);
        if let Some(a) = oldest_age {
            metrics::gauge!("sebridge_journal_oldest_age_seconds").set(a as f64);
        }
        self.status.set_journal(JournalStatus {
            retention: r.state.as_str().to_string(),
            rows,
            oldest_age_secs: oldest_age,
            lagging_consumer: r.lagging_consumer,
            message: r.message,
            rows_deleted: self.deleted,
            rows_dropped_unconsumed: self.dropped,
        });
    }
}
