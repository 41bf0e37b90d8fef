//! The poll source: `GET /v1/events` per tenant, with a durable cursor.
//!
//! The API pages newest-first by offset with an inclusive `start_date`, so naive paging
//! loses or repeats events when new ones arrive mid-paging, and advancing the cursor to the
//! newest event before reading the older pages loses them on a crash. This source instead
//! reads the *tail* of the list (the oldest events not yet committed) first, one page at a
//! time, and commits each page together with the cursor (newest second of the page plus the
//! ids already seen in that second). A page may only move the cursor if it is *anchored*:
//! it reaches the end of the list, or its oldest event is not newer than the cursor, so no
//! unread event can lie between the cursor and the page. The response's `total` tells when
//! the list moved; the page is then fetched again at the right offset. In steady state (fewer
//! new events than a page) a poll is a single request.
//!
//! This file is the task loop (one poller per tenant, backoff between polls) and a poll's
//! outline; `cursor.rs` plans pages against the cursor (the tail-first walk, anchoring) and
//! `pacing.rs` spaces requests by the API's rate-limit headers and retries them.

pub mod config;
mod cursor;
#[cfg(test)]
mod cursor_props;
mod pacing;

use self::cursor::plan_page;
use self::pacing::{jitter, sleep_or_cancel, Pacer, MAX_BACKOFF};
use super::Tenant;
use crate::config::{EventTypeRef, PollSourceConfig};
use crate::status::{StatusBoard, TenantState};
use crate::store::{Cursor, Store, StoreError};
use secure_endpoint::{Error as ApiError, Event, EventsPage, EventsQuery};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the event list kept moving; gave up after {0} tries (will retry)")]
    Unstable(u32),
    #[error("unknown event type {0:?} in the source's event_types (the API lists: {1})")]
    UnknownEventType(String, String),
    #[error("the API response has no metadata.results.total, so pages cannot be read safely")]
    NoTotal,
    #[error("shutting down")]
    Shutdown,
}

impl PollError {
    /// Errors that need a human (credentials, configuration) rather than time.
    pub fn is_permanent(&self) -> bool {
        match self {
            PollError::Api(e) => matches!(
                e,
                ApiError::Unauthorized { .. }
                    | ApiError::Forbidden { .. }
                    | ApiError::BadRequest { .. }
                    | ApiError::NotFound { .. }
                    | ApiError::InvalidRequest(_)
            ),
            PollError::UnknownEventType(..) => true,
            _ => false,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            PollError::Api(e) => e.kind(),
            PollError::Store(_) => "store",
            PollError::Unstable(_) => "unstable",
            PollError::UnknownEventType(..) => "config",
            PollError::NoTotal => "malformed",
            PollError::Shutdown => "shutdown",
        }
    }
}

/// What one successful poll did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollOutcome {
    pub requests: u64,
    pub inserted: u64,
    pub duplicates: u64,
}

/// The poll source for a set of tenants.
pub struct PollSource {
    pub name: String,
    pub config: PollSourceConfig,
    pub tenants: Vec<Tenant>,
    pub store: Store,
    pub status: StatusBoard,
    /// Polls a tenant only while this replica holds its lease.
    pub cluster: crate::cluster::Cluster,
}

impl PollSource {
    /// Spawns one task per tenant; at most `concurrency` tenants poll at once. Returns when
    /// every tenant task has stopped (after `shutdown` is cancelled).
    pub async fn run(self, shutdown: CancellationToken) {
        let permits = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for tenant in self.tenants {
            self.status.register_tenant(&tenant.name, &self.name);
            let (source, config, status) =
                (self.name.clone(), self.config.clone(), self.status.clone());
            let (cluster, store, permits, shutdown) = (
                self.cluster.clone(),
                self.store.clone(),
                permits.clone(),
                shutdown.clone(),
            );
            tasks.spawn(async move {
                let unit = crate::cluster::tenant_lease(&tenant.name);
                cluster
                    .gated(&unit, &store, shutdown, |store, stop| {
                        let poller = TenantPoller {
                            source: source.clone(),
                            config: config.clone(),
                            tenant: tenant.clone(),
                            store,
                            status: status.clone(),
                            pacer: Pacer::default(),
                            event_type_ids: None,
                        };
                        poller.run(permits.clone(), stop)
                    })
                    .await
            });
        }
        while let Some(res) = tasks.join_next().await {
            if let Err(e) = res {
                warn!(source = %self.name, error = %e, "a tenant poll task ended abnormally");
            }
        }
    }
}

/// Reads one tenant's events from `since` to now into the journal, once, under its own
/// cursor (`source`), leaving the poll source's cursor alone. Duplicates of events the poll
/// source already has fold in the journal. Resumable: a second call continues where an
/// interrupted one stopped, unless `restart` is set.
pub async fn backfill(
    tenant: Tenant,
    config: PollSourceConfig,
    source: &str,
    store: Store,
    status: StatusBoard,
    restart: bool,
    shutdown: &CancellationToken,
) -> Result<PollOutcome, PollError> {
    if restart {
        store.delete_cursor(&tenant.name, source).await?;
    }
    status.register_tenant(&tenant.name, source);
    let mut poller = TenantPoller {
        source: source.to_string(),
        config,
        tenant,
        store,
        status,
        pacer: Pacer::default(),
        event_type_ids: None,
    };
    let mut failures = 0u32;
    loop {
        match poller.poll_once(shutdown).await {
            Ok(outcome) => return Ok(outcome),
            Err(e) if e.is_permanent() || matches!(e, PollError::Shutdown) => return Err(e),
            Err(e) => {
                // Transient: keep going (the cursor holds what is done), but not forever.
                failures += 1;
                if failures > 8 {
                    return Err(e);
                }
                let wait = match &e {
                    PollError::Api(api) => api.retry_after(),
                    _ => None,
                }
                .unwrap_or_else(|| jitter(Duration::from_secs(1) * (1 << failures.min(6))));
                warn!(tenant = %poller.tenant.name, error = %e, retry_in = ?wait, "backfill interrupted; resuming");
                sleep_or_cancel(wait, shutdown).await?;
            }
        }
    }
}

struct TenantPoller {
    source: String,
    config: PollSourceConfig,
    tenant: Tenant,
    store: Store,
    status: StatusBoard,
    pacer: Pacer,
    event_type_ids: Option<Vec<u64>>,
}

impl TenantPoller {
    async fn run(mut self, permits: Arc<Semaphore>, shutdown: CancellationToken) {
        let mut failures: u32 = 0;
        loop {
            let permit = tokio::select! {
                p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
                _ = shutdown.cancelled() => return,
            };
            self.set_state(TenantState::CatchingUp);
            let result = self.poll_once(&shutdown).await;
            drop(permit);
            let wait = match result {
                Ok(outcome) => {
                    failures = 0;
                    let now = OffsetDateTime::now_utc();
                    self.status
                        .update_tenant(&self.tenant.name, &self.source, |s| {
                            s.state = TenantState::Idle;
                            s.last_success = Some(now);
                            s.last_error = None;
                        });
                    debug!(tenant = %self.tenant.name, source = %self.source, ?outcome, "caught up");
                    self.config.interval
                }
                Err(PollError::Shutdown) => return,
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let permanent = e.is_permanent();
                    let retry_after = match &e {
                        PollError::Api(api) => api.retry_after(),
                        _ => None,
                    };
                    let backoff = retry_after.unwrap_or_else(|| {
                        let base = if permanent {
                            Duration::from_secs(60)
                        } else {
                            Duration::from_secs(1)
                        };
                        jitter(base.saturating_mul(1 << failures.min(9)).min(MAX_BACKOFF))
                    });
                    metrics::counter!("sebridge_poll_errors_total", "tenant" => self.tenant.name.clone(), "kind" => e.kind()).increment(1);
                    let message = e.to_string();
                    self.status
                        .update_tenant(&self.tenant.name, &self.source, |s| {
                            s.state = if permanent {
                                TenantState::Failed
                            } else {
                                TenantState::Backoff
                            };
                            s.errors += 1;
                            s.last_error = Some(message.clone());
                        });
                    if permanent {
                        warn!(tenant = %self.tenant.name, source = %self.source, error = %message,
                            retry_in = ?backoff, "poll failed; this needs attention (credentials or configuration)");
                    } else {
                        warn!(tenant = %self.tenant.name, source = %self.source, error = %message,
                            retry_in = ?backoff, "poll failed; retrying");
                    }
                    backoff
                }
            };
            if sleep_or_cancel(wait, &shutdown).await.is_err() {
                return;
            }
        }
    }

    fn set_state(&self, state: TenantState) {
        self.status
            .update_tenant(&self.tenant.name, &self.source, |s| {
                // Keep a failure visible until a poll succeeds.
                if !matches!(s.state, TenantState::Failed | TenantState::Backoff) {
                    s.state = state;
                }
            });
    }

    /// What is left to read, as the API's `total` tells it (for progress).
    fn set_left(&self, left: u64) {
        self.status
            .update_tenant(&self.tenant.name, &self.source, |s| {
                s.events_left = Some(left)
            });
    }

    fn start_time(&self) -> i64 {
        match self.config.since {
            Some(since) => since.unix_timestamp(),
            None => {
                let lookback = i64::try_from(self.config.lookback.as_secs()).unwrap_or(i64::MAX);
                OffsetDateTime::now_utc()
                    .unix_timestamp()
                    .saturating_sub(lookback)
            }
        }
    }

    /// Event type names in the config are resolved once through `/v1/event_types`
    /// (names drift over time; ids are what the API filters on).
    async fn resolve_event_types(
        &mut self,
        shutdown: &CancellationToken,
    ) -> Result<Vec<u64>, PollError> {
        if let Some(ids) = &self.event_type_ids {
            return Ok(ids.clone());
        }
        let mut ids = Vec::new();
        let names: Vec<String> = self
            .config
            .event_types
            .iter()
            .filter_map(|t| match t {
                EventTypeRef::Name(n) => Some(n.clone()),
                EventTypeRef::Id(_) => None,
            })
            .collect();
        if !names.is_empty() {
            let client = self.tenant.client.clone();
            let types = self
                .with_retries(shutdown, || client.event_types())
                .await?
                .data;
            for name in &names {
                match types.iter().find(|t| t.name.eq_ignore_ascii_case(name)) {
                    Some(t) => ids.push(t.id),
                    None => {
                        let known: Vec<String> = types
                            .iter()
                            .map(|t| format!("{} ({})", t.name, t.id))
                            .collect();
                        return Err(PollError::UnknownEventType(name.clone(), known.join(", ")));
                    }
                }
            }
        }
        for t in &self.config.event_types {
            if let EventTypeRef::Id(id) = t {
                ids.push(*id);
            }
        }
        ids.sort_unstable();
        ids.dedup();
        self.event_type_ids = Some(ids.clone());
        Ok(ids)
    }

    async fn fetch(
        &mut self,
        start: i64,
        offset: u64,
        shutdown: &CancellationToken,
    ) -> Result<EventsPage, PollError> {
        let query = self.query(start, offset, shutdown).await?;
        let client = self.tenant.client.clone();
        Ok(self
            .with_retries(shutdown, || client.events(&query))
            .await?
            .data)
    }

    /// Re-reads the `overlap` window before the cursor, newest first following `next`
    /// links, and journals what is new (late arrivals). Used after a catch-up of more than a
    /// page; in steady state the window rides along in the poll's single request.
    async fn sweep(&mut self, shutdown: &CancellationToken) -> Result<PollOutcome, PollError> {
        let tenant = self.tenant.name.clone();
        let Some(cursor) = self.store.cursor(&tenant, &self.source).await? else {
            return Ok(PollOutcome::default());
        };
        let start = cursor.time.saturating_sub(self.overlap_secs());
        let query = self.query(start, 0, shutdown).await?;
        let client = self.tenant.client.clone();
        let mut page = self
            .with_retries(shutdown, || client.events(&query))
            .await?
            .data;
        let mut outcome = PollOutcome::default();
        loop {
            outcome.requests += 1;
            self.dead_letter(&page.rejected).await?;
            let events = std::mem::take(&mut page.events);
            self.commit(&events, None, true, &mut outcome).await?;
            let Some(next) = page.next.take() else {
                return Ok(outcome);
            };
            page = self
                .with_retries(shutdown, || client.events_next(&next))
                .await?
                .data;
        }
    }

    fn overlap_secs(&self) -> i64 {
        i64::try_from(self.config.overlap.as_secs()).unwrap_or(i64::MAX)
    }

    /// Keeps items that are not events, with the reason (idempotent: a re-read item is not
    /// recorded twice).
    async fn dead_letter(
        &self,
        rejected: &[secure_endpoint::RejectedEvent],
    ) -> Result<(), PollError> {
        for r in rejected {
            let new = self
                .store
                .dead_letter(&self.tenant.name, &self.source, &r.reason, &r.raw)
                .await?;
            // The overlap re-reads an item several times: it is reported once, when kept.
            if new {
                warn!(tenant = %self.tenant.name, source = %self.source, reason = %r.reason,
                    bytes = r.raw.len(), "an item of the events page is not a valid event; kept in dead_letters (`sebridge dead-letters`)");
                metrics::counter!("sebridge_poll_dead_letters_total", "tenant" => self.tenant.name.clone())
                    .increment(1);
            }
        }
        Ok(())
    }

    /// Journals `events` (oldest first) and, in the same transaction, the cursor.
    async fn commit(
        &self,
        events: &[Event],
        cursor: Option<&Cursor>,
        reread: bool,
        outcome: &mut PollOutcome,
    ) -> Result<(), PollError> {
        commit_to(&self.target(), events, cursor, reread, outcome).await
    }

    fn target(&self) -> CommitTarget {
        CommitTarget {
            store: self.store.clone(),
            status: self.status.clone(),
            tenant: self.tenant.name.clone(),
            source: self.source.clone(),
        }
    }

    /// Reads everything newer than the cursor, committing page by page; returns once caught
    /// up. With `overlap`, the first request starts that much before the cursor: in steady
    /// state it holds the re-read window and everything new in one page (late arrivals are
    /// journaled, the rest folds in the journal). Otherwise the new events are read tail
    /// first ([`Self::walk`]) and the window is swept afterwards.
    pub async fn poll_once(
        &mut self,
        shutdown: &CancellationToken,
    ) -> Result<PollOutcome, PollError> {
        let stored = self.store.cursor(&self.tenant.name, &self.source).await?;
        let overlap = self.overlap_secs();
        let cursor = match stored {
            Some(c) if overlap > 0 => c,
            Some(c) => return self.walk(c, shutdown).await,
            None => {
                let start = Cursor {
                    time: self.start_time(),
                    seen_ids: Vec::new(),
                };
                return self.walk(start, shutdown).await;
            }
        };
        let mut outcome = PollOutcome {
            requests: 1,
            ..PollOutcome::default()
        };
        let page = self
            .fetch(cursor.time.saturating_sub(overlap), 0, shutdown)
            .await?;
        let count = (page.events.len() + page.rejected.len()) as u64;
        if page.next.is_none() || page.total.is_some_and(|t| count >= t) {
            self.dead_letter(&page.rejected).await?;
            let plan = plan_page(&cursor, page.events);
            let next = (plan.next_cursor != cursor).then_some(&plan.next_cursor);
            self.commit(&plan.fresh, next, true, &mut outcome).await?;
            return Ok(outcome);
        }
        let walked = self.walk(cursor, shutdown).await?;
        let swept = self.sweep(shutdown).await?;
        outcome.requests += walked.requests + swept.requests;
        outcome.inserted += walked.inserted + swept.inserted;
        outcome.duplicates += walked.duplicates + swept.duplicates;
        Ok(outcome)
    }

    async fn query(
        &mut self,
        start: i64,
        offset: u64,
        shutdown: &CancellationToken,
    ) -> Result<EventsQuery, PollError> {
        Ok(EventsQuery {
            event_types: self.resolve_event_types(shutdown).await?,
            group_guids: self.config.groups.clone(),
            start_date: Some(
                OffsetDateTime::from_unix_timestamp(start).unwrap_or(OffsetDateTime::UNIX_EPOCH),
            ),
            offset: (offset > 0).then_some(offset),
            limit: Some(self.config.page_size),
            ..EventsQuery::default()
        })
    }
}

/// Where a poller commits; owned, so a commit can run while the poller fetches.
struct CommitTarget {
    store: Store,
    status: StatusBoard,
    tenant: String,
    source: String,
}

async fn commit_to(
    t: &CommitTarget,
    events: &[Event],
    cursor: Option<&Cursor>,
    reread: bool,
    outcome: &mut PollOutcome,
) -> Result<(), PollError> {
    if events.is_empty() && cursor.is_none() {
        return Ok(());
    }
    let appended = if reread {
        t.store
            .append_new(&t.tenant, &t.source, events, cursor)
            .await?
    } else {
        t.store.append(&t.tenant, &t.source, events, cursor).await?
    };
    outcome.inserted += appended.inserted;
    outcome.duplicates += appended.duplicates;
    metrics::counter!("sebridge_events_ingested_total", "tenant" => t.tenant.clone(), "source" => t.source.clone()).increment(appended.inserted);
    let cursor_time = cursor.map(|c| c.time);
    t.status.update_tenant(&t.tenant, &t.source, |s| {
        s.events_ingested += appended.inserted;
        s.duplicates += appended.duplicates;
        if cursor_time.is_some() {
            s.cursor_time = cursor_time;
        }
    });
    if appended.inserted > 0 {
        info!(tenant = %t.tenant, source = %t.source, inserted = appended.inserted,
            duplicates = appended.duplicates, "journaled events");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanent_errors_are_told_apart() {
        assert!(PollError::Api(ApiError::Unauthorized {
            details: String::new()
        })
        .is_permanent());
        assert!(!PollError::Api(ApiError::Server {
            status: 500,
            details: String::new()
        })
        .is_permanent());
        assert!(!PollError::Unstable(3).is_permanent());
    }
}
