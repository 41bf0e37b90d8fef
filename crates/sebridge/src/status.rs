//! Live status of every component, for `/status`, the demo summary, `--until-idle` and logs.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use time::OffsetDateTime;

/// What a source is doing for one tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantState {
    Starting,
    CatchingUp,
    /// Caught up; waiting for the next poll.
    Idle,
    /// A transient error; retrying after a delay.
    Backoff,
    /// An error a retry cannot fix (bad credentials, bad request); retried slowly.
    Failed,
}

#[derive(Clone, Debug, Serialize)]
pub struct TenantStatus {
    pub tenant: String,
    pub source: String,
    pub state: TenantState,
    pub events_ingested: u64,
    pub duplicates: u64,
    pub requests: u64,
    pub errors: u64,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_success: Option<OffsetDateTime>,
    pub rate_limit_remaining: Option<u64>,
    /// Epoch seconds of the newest committed event second.
    pub cursor_time: Option<i64>,
    /// While a poll catches up: the events the API lists after the last page committed (its
    /// `total` says how many), so progress can be told in events; 0 once caught up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_left: Option<u64>,
    /// Stream sources: the AMQP connection ("connected to amqps://... queue ...", or why not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SinkStatus {
    pub sink: String,
    pub kind: String,
    pub position: i64,
    pub events_written: u64,
    pub healthy: bool,
    pub last_error: Option<String>,
    /// Journal rows after the position (head minus position: an upper bound, since
    /// sequence numbers are not dense).
    pub backlog: i64,
    /// Failed attempts in a row at the batch in hand (0 when healthy).
    pub consecutive_failures: u32,
    pub retries: u64,
    /// Events skipped by the sink's filters.
    pub events_filtered: u64,
    /// Events the target refused for good (kept in `dead_letters`).
    pub events_dead_lettered: u64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_success: Option<OffsetDateTime>,
}

/// Journal size and retention health.
#[derive(Clone, Debug, Default, Serialize)]
pub struct JournalStatus {
    /// "ok", "warning" (a lagging consumer nears a retention limit) or "blocked" (past it:
    /// rows kept beyond the limit), or "dropping" (past it with on_lagging_consumer = "drop").
    pub retention: String,
    pub rows: i64,
    /// Age of the oldest row, seconds.
    pub oldest_age_secs: Option<i64>,
    /// The consumer holding retention back, if any.
    pub lagging_consumer: Option<String>,
    pub message: Option<String>,
    pub rows_deleted: u64,
    /// Rows deleted before a consumer read them (only with on_lagging_consumer = "drop").
    pub rows_dropped_unconsumed: u64,
}

/// A tenant that rules ask to contain (isolate, move to a triage group), and whether its
/// API key may do it: checked once at start (`tenants::probe_write_scope`).
#[derive(Clone, Debug, Serialize)]
pub struct ContainmentStatus {
    pub tenant: String,
    /// The rules asking for containment on this tenant.
    pub rules: Vec<String>,
    /// "checking", "read_write", "read_only" or "unknown" (the API did not tell; retried).
    pub write_scope: String,
    /// Set unless the key is known to be read & write: what will fail, or why it is not
    /// known.
    pub warning: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub checked_at: Option<OffsetDateTime>,
}

#[derive(Default)]
struct Inner {
    tenants: BTreeMap<(String, String), TenantStatus>,
    sinks: BTreeMap<String, SinkStatus>,
    journal: Option<JournalStatus>,
    containment: BTreeMap<String, ContainmentStatus>,
}

/// Shared status board. Cheap to clone.
#[derive(Clone, Default)]
pub struct StatusBoard {
    inner: Arc<RwLock<Inner>>,
}

/// A JSON-friendly snapshot.
#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    pub journal_head: i64,
    pub tenants: Vec<TenantStatus>,
    pub sinks: Vec<SinkStatus>,
    /// Retention state (absent until the first retention check).
    pub journal: Option<JournalStatus>,
    /// Tenants that rules ask to contain, with their key's write scope (empty without
    /// containment rules).
    pub containment: Vec<ContainmentStatus>,
}

impl StatusBoard {
    fn write<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        // A poisoned lock only means a panic elsewhere mid-update of counters: keep going.
        let mut guard = self.inner.write().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    fn read<R>(&self, f: impl FnOnce(&Inner) -> R) -> R {
        let guard = self.inner.read().unwrap_or_else(|p| p.into_inner());
        f(&guard)
    }

    pub fn register_tenant(&self, tenant: &str, source: &str) {
        self.write(|i| {
            i.tenants
                .entry((tenant.to_string(), source.to_string()))
                .or_insert_with(|| TenantStatus {
                    tenant: tenant.to_string(),
                    source: source.to_string(),
                    state: TenantState::Starting,
                    events_ingested: 0,
                    duplicates: 0,
                    requests: 0,
                    errors: 0,
                    last_error: None,
                    last_success: None,
                    rate_limit_remaining: None,
                    cursor_time: None,
                    events_left: None,
                    connection: None,
                });
        })
    }

    /// Applies `f` to one tenant's status (no-op if unknown).
    pub fn update_tenant(&self, tenant: &str, source: &str, f: impl FnOnce(&mut TenantStatus)) {
        self.write(|i| {
            if let Some(t) = i.tenants.get_mut(&(tenant.to_string(), source.to_string())) {
                f(t)
            }
        })
    }

    pub fn register_sink(&self, sink: &str, kind: &str, position: i64) {
        self.write(|i| {
            i.sinks.insert(
                sink.to_string(),
                SinkStatus {
                    sink: sink.to_string(),
                    kind: kind.to_string(),
                    position,
                    events_written: 0,
                    healthy: true,
                    last_error: None,
                    backlog: 0,
                    consecutive_failures: 0,
                    retries: 0,
                    events_filtered: 0,
                    events_dead_lettered: 0,
                    last_success: None,
                },
            );
        })
    }

    pub fn update_sink(&self, sink: &str, f: impl FnOnce(&mut SinkStatus)) {
        self.write(|i| {
            if let Some(s) = i.sinks.get_mut(sink) {
                f(s)
            }
        })
    }

    pub fn set_journal(&self, status: JournalStatus) {
        self.write(|i| i.journal = Some(status))
    }

    /// Sets (or replaces) one tenant's containment status.
    pub fn set_containment(&self, status: ContainmentStatus) {
        self.write(|i| {
            i.containment.insert(status.tenant.clone(), status);
        })
    }

    pub fn snapshot(&self, journal_head: i64) -> Snapshot {
        self.read(|i| Snapshot {
            journal_head,
            tenants: i.tenants.values().cloned().collect(),
            sinks: i.sinks.values().cloned().collect(),
            journal: i.journal.clone(),
            containment: i.containment.values().cloned().collect(),
        })
    }
}
