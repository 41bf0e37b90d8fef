//! One stream's consumer: a connection at a time (reopened with backoff), deliveries
//! committed to the journal in groups, then acknowledged with one multiple-ack.

use super::amqp::{self, AmqpError, ConnectOptions, Target, TlsPolicy};
use super::credentials::ResolvedStream;
use super::gone::{lost_by, Checked, TenantLink, Throttle};
use crate::config::StreamSourceConfig;
use crate::status::{StatusBoard, TenantState};
use crate::store::{Store, StoreError};
use base64::Engine as _;
use futures::{FutureExt as _, StreamExt as _};
use lapin::message::Delivery;
use lapin::options::BasicAckOptions;
use lapin::Connection;
use rand::RngExt as _;
use secure_endpoint::Event;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

/// Test hook: with `SEBRIDGE_FAILPOINT=stream-kill-after-commit`, the process SIGKILLs
/// itself right after the first journal commit of a batch, before its ack (crash tests).
pub const FAILPOINT_ENV: &str = "SEBRIDGE_FAILPOINT";
const FAILPOINT_KILL_AFTER_COMMIT: &str = "stream-kill-after-commit";
/// Whether the failpoint is set, read once: the check sits on every commit.
static KILL_AFTER_COMMIT: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| {
    std::env::var(FAILPOINT_ENV).as_deref() == Ok(FAILPOINT_KILL_AFTER_COMMIT)
});

/// A connection that lived this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(30);
/// A commit that finds this many deliveries waiting (or a full batch) marks the stream as
/// catching up.
const BEHIND_AT: usize = 100;
/// First reconnection delay (doubled per failure, up to `max_backoff`).
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// What an observer of a stream source is told.
#[derive(Debug)]
pub enum Observed {
    /// Connected; the detail line, and how many other consumers share the queue.
    Connected {
        detail: String,
        other_consumers: u32,
    },
    /// The connection is gone and will be retried.
    Disconnected { reason: String },
    /// Events just committed to the journal (before their ack).
    Events(Vec<Event>),
}

/// How a session (one connection) ended.
enum SessionEnd {
    Shutdown,
    /// The connection or channel went away, or a commit failed: reconnect.
    Lost {
        reason: String,
        had_deliveries: bool,
        /// Set when the broker did what it does to a deleted stream's consumer.
        deletion_hint: Option<&'static str>,
    },
}

/// Why the consumer is about to reconnect.
enum Failure {
    Lost {
        reason: String,
        deletion_hint: Option<&'static str>,
    },
    Refused(AmqpError),
}

impl Failure {
    fn deletion_hint(&self) -> Option<&'static str> {
        match self {
            Failure::Lost { deletion_hint, .. } => *deletion_hint,
            Failure::Refused(e) => e.deletion_hint(),
        }
    }
}

#[derive(Clone)]
pub(super) struct StreamConsumer {
    pub(super) source: String,
    pub(super) label: String,
    pub(super) config: StreamSourceConfig,
    pub(super) policy: TlsPolicy,
    pub(super) stream: ResolvedStream,
    pub(super) store: Store,
    pub(super) status: StatusBoard,
    pub(super) observer: Option<tokio::sync::mpsc::Sender<Observed>>,
    /// The tenant's API, asked whether the stream still exists when it fails the way a
    /// deleted stream does; `None`: never asked, such failures are retried forever.
    pub(super) link: Option<TenantLink>,
}

impl StreamConsumer {
    pub(super) async fn observe(&self, o: Observed) {
        if let Some(tx) = &self.observer {
            let _ = tx.send(o).await;
        }
    }

    pub(super) fn tenant(&self) -> &str {
        &self.stream.tenant
    }

    pub(super) fn set_failed(&self, e: &AmqpError) {
        error!(tenant = %self.tenant(), stream = %self.stream.name, error = %e, "event stream unusable");
        let msg = e.to_string();
        self.status.update_tenant(self.tenant(), &self.label, |s| {
            s.state = TenantState::Failed;
            s.errors += 1;
            s.last_error = Some(msg);
            s.connection = Some("disconnected".into());
        });
    }

    pub(super) fn set_connected(&self, connected: bool, detail: String) {
        metrics::gauge!("sebridge_stream_connected", "tenant" => self.tenant().to_string(), "stream" => self.stream.name.clone())
            .set(if connected { 1.0 } else { 0.0 });
        self.status
            .update_tenant(self.tenant(), &self.label, |s| s.connection = Some(detail));
    }

    pub(super) async fn run(self, tls: Arc<rustls::ClientConfig>, shutdown: CancellationToken) {
        let target = match Target::from_credentials(&self.stream.credentials) {
            Ok(t) => t,
            Err(e) => {
                self.set_failed(&e);
                return;
            }
        };
        info!(tenant = %self.tenant(), stream = %self.stream.name, endpoint = %target.endpoint(),
            queue = %self.stream.credentials.queue_name, "stream consumer starting");
        let mut failures: u32 = 0;
        let mut asked = Throttle::default();
        while !shutdown.is_cancelled() {
            let started = Instant::now();
            let failure = match self.session(&target, &tls, &shutdown).await {
                Ok(SessionEnd::Shutdown) => break,
                Ok(SessionEnd::Lost {
                    reason,
                    had_deliveries,
                    deletion_hint,
                }) => {
                    if had_deliveries || started.elapsed() >= STABLE_AFTER {
                        failures = 0;
                    }
                    Failure::Lost {
                        reason,
                        deletion_hint,
                    }
                }
                Err(e) => Failure::Refused(e),
            };
            failures = failures.saturating_add(1);
            let needs_human = matches!(&failure, Failure::Refused(e) if e.needs_human());
            let delay = if needs_human {
                self.config.max_backoff
            } else {
                backoff(failures, self.config.max_backoff)
            };
            let checked = tokio::select! {
                c = self.check_deleted(failure.deletion_hint(), delay, &mut asked) => c,
                _ = shutdown.cancelled() => break,
            };
            let note = match checked {
                Checked::Deleted => return,
                Checked::NotAsked => String::new(),
                Checked::Note(n) => n,
            };
            match failure {
                Failure::Lost { reason, .. } => {
                    let reason = format!("{reason}{note}");
                    warn!(tenant = %self.tenant(), stream = %self.stream.name, reason = %reason,
                        retry_in = ?delay, "event stream connection lost; reconnecting");
                    self.observe(Observed::Disconnected {
                        reason: format!("{reason}; reconnecting in {delay:?}"),
                    })
                    .await;
                    self.status.update_tenant(self.tenant(), &self.label, |s| {
                        s.state = TenantState::Backoff;
                        s.errors += 1;
                        s.last_error = Some(reason);
                    });
                }
                Failure::Refused(e) => {
                    metrics::counter!("sebridge_stream_connect_errors_total", "tenant" => self.tenant().to_string(), "kind" => e.kind())
                        .increment(1);
                    let msg = format!("{e}{note}");
                    if needs_human {
                        error!(tenant = %self.tenant(), stream = %self.stream.name, error = %msg,
                            retry_in = ?delay, "event stream refused; needs attention");
                    } else {
                        warn!(tenant = %self.tenant(), stream = %self.stream.name, error = %msg,
                            retry_in = ?delay, "cannot open the event stream; retrying");
                    }
                    self.observe(Observed::Disconnected {
                        reason: format!("{msg}; retrying in {delay:?}"),
                    })
                    .await;
                    let state = if needs_human {
                        TenantState::Failed
                    } else {
                        TenantState::Backoff
                    };
                    self.status.update_tenant(self.tenant(), &self.label, |s| {
                        s.state = state;
                        s.errors += 1;
                        s.last_error = Some(msg);
                    });
                }
            }
            self.set_connected(false, format!("disconnected; retrying in {delay:?}"));
            metrics::counter!("sebridge_stream_reconnects_total", "tenant" => self.tenant().to_string(), "stream" => self.stream.name.clone())
                .increment(1);
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        self.set_connected(false, "stopped".into());
        info!(tenant = %self.tenant(), stream = %self.stream.name, "stream consumer stopped");
    }

    /// One connection: open, consume in batches, commit, ack; until lost or shutdown.
    async fn session(
        &self,
        target: &Target,
        tls: &Arc<rustls::ClientConfig>,
        shutdown: &CancellationToken,
    ) -> Result<SessionEnd, AmqpError> {
        let opts = ConnectOptions {
            heartbeat: self.config.heartbeat,
            connect_timeout: self.config.connect_timeout,
            connection_name: format!("sebridge {} {}", self.source, self.tenant()),
        };
        let conn = tokio::select! {
            c = amqp::connect(target, tls, &self.policy, &opts) => c?,
            _ = shutdown.cancelled() => return Ok(SessionEnd::Shutdown),
        };
        let tag = format!("sebridge-{}-{}", self.source, std::process::id());
        let sub = match amqp::subscribe(
            &conn,
            &self.stream.credentials.queue_name,
            self.config.prefetch,
            &tag,
        )
        .await
        {
            Ok(s) => s,
            Err(e) => {
                let _ = conn.close(200, "bye".into()).await;
                return Err(e);
            }
        };
        let detail = format!(
            "connected to {} queue {} ({} waiting{})",
            target.endpoint(),
            self.stream.credentials.queue_name,
            sub.backlog,
            if sub.other_consumers > 0 {
                format!(", {} other consumer(s) share it", sub.other_consumers)
            } else {
                String::new()
            }
        );
        info!(tenant = %self.tenant(), stream = %self.stream.name, backlog = sub.backlog,
            other_consumers = sub.other_consumers, "{detail}");
        self.set_connected(true, detail.clone());
        self.observe(Observed::Connected {
            detail,
            other_consumers: sub.other_consumers,
        })
        .await;
        self.status.update_tenant(self.tenant(), &self.label, |s| {
            s.state = if sub.backlog > 0 {
                TenantState::CatchingUp
            } else {
                TenantState::Idle
            };
            s.last_error = None;
        });
        let channel = sub.channel;
        let mut consumer = sub.consumer;
        let end = self.consume(&channel, &mut consumer, shutdown).await;
        close(&conn, &channel).await;
        Ok(end)
    }

    /// Consumes until the connection is lost or `shutdown`: group commits, each acked once.
    ///
    /// A commit takes every delivery that is already here (up to `batch_size`), so while one
    /// commit runs (its fsync), the broker keeps sending and lapin buffers the next ones; they
    /// make the next commit. Under load commits grow by themselves, and a delivery is acked
    /// about one commit after it arrived: the broker's delivery rate falls with the time it
    /// waits for acks (measured: a raw consumer that acks 10 ms late drains ~20% slower), so
    /// no delivery waits for a batch to fill. `batch_wait` can add such a wait. The broker
    /// sends at most `prefetch` unacknowledged deliveries, which bounds what is buffered.
    async fn consume(
        &self,
        channel: &lapin::Channel,
        consumer: &mut lapin::Consumer,
        shutdown: &CancellationToken,
    ) -> SessionEnd {
        let mut had_deliveries = false;
        let idle_after = self.config.batch_wait.max(Duration::from_millis(200));
        let mut batch: Vec<Delivery> = Vec::with_capacity(self.config.batch_size);
        loop {
            batch.clear();
            let first = tokio::select! {
                d = consumer.next() => d,
                _ = shutdown.cancelled() => return SessionEnd::Shutdown,
                _ = tokio::time::sleep(idle_after) => {
                    self.status.update_tenant(self.tenant(), &self.label, |s| {
                        if s.state == TenantState::CatchingUp || s.state == TenantState::Starting {
                            s.state = TenantState::Idle;
                        }
                        s.last_success = Some(time::OffsetDateTime::now_utc());
                    });
                    continue;
                }
            };
            let mut lost = match first {
                Some(Ok(d)) => {
                    batch.push(d);
                    None
                }
                Some(Err(e)) => Some(lost_by(Some(&e))),
                None => Some(lost_by(None)),
            };
            if lost.is_none() {
                had_deliveries = true;
                let started = Instant::now();
                // What is already here, then (with `batch_wait`) what comes within it.
                while batch.len() < self.config.batch_size {
                    let next = match consumer.next().now_or_never() {
                        Some(d) => d,
                        None if self.config.batch_wait.is_zero() => break,
                        None => {
                            let left = self.config.batch_wait.saturating_sub(started.elapsed());
                            if left.is_zero() {
                                break;
                            }
                            match tokio::time::timeout(left, consumer.next()).await {
                                Ok(d) => d,
                                Err(_) => break,
                            }
                        }
                    };
                    match next {
                        Some(Ok(d)) => batch.push(d),
                        Some(Err(e)) => {
                            lost = Some(lost_by(Some(&e)));
                            break;
                        }
                        None => {
                            lost = Some(lost_by(None));
                            break;
                        }
                    }
                }
            }
            // The deliveries in hand are committed and acked even when the connection is
            // going: an ack that cannot be sent any more only means a redelivery.
            if !batch.is_empty() {
                if let Err(reason) = self.commit_and_ack(channel, &batch).await {
                    return SessionEnd::Lost {
                        reason,
                        had_deliveries,
                        deletion_hint: None,
                    };
                }
            }
            if let Some((reason, deletion_hint)) = lost {
                return SessionEnd::Lost {
                    reason,
                    had_deliveries,
                    deletion_hint,
                };
            }
        }
    }

    /// Journals a batch, then acks it with one multiple-ack; the reason when either fails.
    async fn commit_and_ack(
        &self,
        channel: &lapin::Channel,
        batch: &[Delivery],
    ) -> Result<(), String> {
        // Not committed, not acked: redelivered after the reconnection.
        self.commit(batch)
            .await
            .map_err(|e| format!("journal commit failed: {e}"))?;
        if *KILL_AFTER_COMMIT {
            kill_self();
        }
        let Some(last) = batch.last() else {
            return Ok(());
        };
        // Committed but not acked: redelivered later, folded by the journal.
        channel
            .basic_ack(last.delivery_tag, BasicAckOptions { multiple: true })
            .await
            .map_err(|e| format!("ack failed: {e}"))?;
        metrics::counter!("sebridge_stream_acked_total", "tenant" => self.tenant().to_string(), "stream" => self.stream.name.clone())
            .increment(batch.len() as u64);
        // Many deliveries waiting for one commit: the stream is behind.
        let behind = batch.len() >= self.config.batch_size.min(BEHIND_AT);
        self.status.update_tenant(self.tenant(), &self.label, |s| {
            s.state = if behind {
                TenantState::CatchingUp
            } else {
                TenantState::Idle
            };
            s.last_success = Some(time::OffsetDateTime::now_utc());
        });
        Ok(())
    }

    /// Journals a batch's events and dead-letters what is not an event.
    async fn commit(&self, batch: &[Delivery]) -> Result<(), StoreError> {
        let mut events = Vec::with_capacity(batch.len());
        let mut rejected: Vec<(String, String)> = Vec::new();
        for d in batch {
            match std::str::from_utf8(&d.data) {
                Ok(text) => match Event::from_json(text) {
                    Ok(e) => events.push(e),
                    Err(e) => rejected.push((e.to_string(), text.to_string())),
                },
                // Kept losslessly: the body in base64, which `base64 -d` turns back into
                // the bytes as delivered.
                Err(e) => rejected.push((
                    format!("message body is not UTF-8 ({e}); raw is the body in base64"),
                    base64::engine::general_purpose::STANDARD.encode(&d.data),
                )),
            }
        }
        let tenant = self.tenant();
        metrics::counter!("sebridge_stream_deliveries_total", "tenant" => tenant.to_string(), "stream" => self.stream.name.clone())
            .increment(batch.len() as u64);
        for (reason, raw) in &rejected {
            let new = self
                .store
                .dead_letter(tenant, &self.source, reason, raw)
                .await?;
            // A redelivery (after a lost connection) is kept once and reported once.
            if new {
                warn!(tenant = %tenant, stream = %self.stream.name, reason = %reason, bytes = raw.len(),
                    "a delivery is not an event; kept in dead_letters (`sebridge dead-letters`) and acked with its batch");
            }
        }
        if !rejected.is_empty() {
            metrics::counter!("sebridge_stream_dead_letters_total", "tenant" => tenant.to_string(), "stream" => self.stream.name.clone())
                .increment(rejected.len() as u64);
        }
        if events.is_empty() {
            return Ok(());
        }
        let appended = self
            .store
            .append(tenant, &self.source, &events, None)
            .await?;
        metrics::counter!("sebridge_events_ingested_total", "tenant" => tenant.to_string(), "source" => self.source.clone())
            .increment(appended.inserted);
        let newest = events.iter().map(|e| e.timestamp).max();
        self.status.update_tenant(tenant, &self.label, |s| {
            s.events_ingested += appended.inserted;
            s.duplicates += appended.duplicates;
            if newest > s.cursor_time {
                s.cursor_time = newest;
            }
        });
        debug!(tenant = %tenant, stream = %self.stream.name, inserted = appended.inserted,
            duplicates = appended.duplicates, "journaled a batch of deliveries");
        self.observe(Observed::Events(events)).await;
        Ok(())
    }
}

/// Closes the channel (unacked deliveries go back to the queue) and the connection.
async fn close(conn: &Connection, channel: &lapin::Channel) {
    let bye = async {
        let _ = channel.close(200, "bye".into()).await;
        let _ = conn.close(200, "bye".into()).await;
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), bye).await;
}

/// Exponential backoff with ±50% jitter, capped.
fn backoff(failures: u32, max: Duration) -> Duration {
    let base = FIRST_BACKOFF
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(max);
    let jitter: f64 = rand::rng().random_range(0.5..1.5);
    base.mul_f64(jitter).min(max)
}

fn kill_self() -> ! {
    error!(
        "failpoint {FAILPOINT_KILL_AFTER_COMMIT}: SIGKILL after the journal commit, before the ack"
    );
    let _ = std::process::Command::new("kill")
        .arg("-KILL")
        .arg(std::process::id().to_string())
        .status();
    // `kill` is missing: abort is the next best crash.
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_stays_capped() {
        let max = Duration::from_secs(60);
        for f in 1..40 {
            let d = backoff(f, max);
            assert!(d <= max, "{d:?}");
            assert!(d >= FIRST_BACKOFF / 2, "{d:?}");
        }
        assert!(backoff(1, max) <= Duration::from_millis(750));
        assert!(backoff(10, max) >= Duration::from_secs(30));
    }
}
