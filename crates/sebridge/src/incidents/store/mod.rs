//! Incident state in the store: incidents, their events, the outbox of side effects and the
//! audit log (migration `0004_incidents.sql`), on the store's own connection pools.
//!
//! The engine changes incidents, enqueues operations and commits its journal position in one
//! transaction ([`IncidentStore::begin`] and the `tx_*` helpers), so a crash either keeps all
//! of a batch's decisions or none. The executor claims due operations with a lease, performs
//! them, and records the outcome, the incident's new facts and an audit line in one
//! transaction ([`IncidentStore::complete`]).
//!
//! By role: `correlate.rs` the engine's writes (find an open incident, open one, add an
//! event); `outbox.rs` queued operations, their claims and outcomes; `close.rs` starting a
//! close and handing a containment over; `audit.rs` the audit log; `queries.rs` lookups,
//! note lines and counts; `containment.rs` where a containment stands, for people.

/// Dynamic SQL built only from constants of this module (column lists, whitelisted column
/// names): never from input.
macro_rules! safe_sql {
    ($($t:tt)*) => { sqlx::AssertSqlSafe(format!($($t)*)) };
}

mod audit;
mod close;
mod containment;
mod correlate;
mod outbox;
mod queries;

use crate::store::{id_from_db, Db, Store, StoreError};
use sqlx::Row;

pub use self::containment::Containment;
pub use crate::store::Tx;

/// One incident row.
#[derive(Clone, Debug, serde::Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub struct IncidentRow {
    pub id: i64,
    pub tenant: String,
    pub correlation_key: String,
    pub correlation_id: String,
    pub rule: String,
    pub status: String,
    pub severity: String,
    pub title: String,
    pub connector_guid: Option<String>,
    pub hostname: Option<String>,
    pub sha256: Option<String>,
    pub detection: Option<String>,
    pub event_type: Option<String>,
    pub first_event_id: u64,
    pub first_seq: i64,
    pub first_event_time: i64,
    pub last_event_time: i64,
    pub event_count: i64,
    pub snow_short: String,
    pub snow_description: String,
    pub xdr_title: String,
    pub xdr_description: String,
    pub links: String,
    pub isolate: bool,
    pub triage_group: Option<String>,
    pub snow_sys_id: Option<String>,
    pub snow_number: Option<String>,
    pub xdr_id: Option<String>,
    pub isolated_by_us: bool,
    pub isolation_released: bool,
    pub original_group: Option<String>,
    pub moved_by_us: bool,
    pub group_restored: bool,
    /// The host's isolation status as last read (`pending_start`, `isolated`, ...).
    pub isolation_state: Option<String>,
    /// Since when (epoch ms) the host has been in `isolation_state`.
    pub isolation_state_since: Option<i64>,
    pub last_note_at: Option<i64>,
    pub close_source: Option<String>,
    pub close_code: Option<String>,
    pub close_notes: Option<String>,
    pub closed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "id, tenant, correlation_key, correlation_id, rule, status, severity, title, \
    connector_guid, hostname, sha256, detection, event_type, first_event_id, first_seq, \
    first_event_time, last_event_time, event_count, snow_short, snow_description, xdr_title, \
    xdr_description, links, isolate, triage_group, snow_sys_id, snow_number, xdr_id, \
    isolated_by_us, isolation_released, original_group, moved_by_us, group_restored, \
    last_note_at, close_source, close_code, close_notes, closed_at, created_at, updated_at, \
    isolation_state, isolation_state_since";

/// The incident of an optional row (the single-row lookups share this).
fn incident_from<R: Row>(row: Option<R>) -> Result<Option<IncidentRow>, StoreError>
where
    usize: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(row.as_ref().map(row_to_incident).transpose()?)
}

fn row_to_incident<R: Row>(r: &R) -> Result<IncidentRow, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(IncidentRow {
        id: r.try_get(0)?,
        tenant: r.try_get(1)?,
        correlation_key: r.try_get(2)?,
        correlation_id: r.try_get(3)?,
        rule: r.try_get(4)?,
        status: r.try_get(5)?,
        severity: r.try_get(6)?,
        title: r.try_get(7)?,
        connector_guid: r.try_get(8)?,
        hostname: r.try_get(9)?,
        sha256: r.try_get(10)?,
        detection: r.try_get(11)?,
        event_type: r.try_get(12)?,
        first_event_id: id_from_db(r.try_get(13)?),
        first_seq: r.try_get(14)?,
        first_event_time: r.try_get(15)?,
        last_event_time: r.try_get(16)?,
        event_count: r.try_get(17)?,
        snow_short: r.try_get(18)?,
        snow_description: r.try_get(19)?,
        xdr_title: r.try_get(20)?,
        xdr_description: r.try_get(21)?,
        links: r.try_get(22)?,
        isolate: r.try_get::<i64, _>(23)? != 0,
        triage_group: r.try_get(24)?,
        snow_sys_id: r.try_get(25)?,
        snow_number: r.try_get(26)?,
        xdr_id: r.try_get(27)?,
        isolated_by_us: r.try_get::<i64, _>(28)? != 0,
        isolation_released: r.try_get::<i64, _>(29)? != 0,
        original_group: r.try_get(30)?,
        moved_by_us: r.try_get::<i64, _>(31)? != 0,
        group_restored: r.try_get::<i64, _>(32)? != 0,
        last_note_at: r.try_get(33)?,
        close_source: r.try_get(34)?,
        close_code: r.try_get(35)?,
        close_notes: r.try_get(36)?,
        closed_at: r.try_get(37)?,
        created_at: r.try_get(38)?,
        updated_at: r.try_get(39)?,
        isolation_state: r.try_get(40)?,
        isolation_state_since: r.try_get(41)?,
    })
}

impl IncidentRow {
    /// The host's isolation is on its way in or out (`pending_start` / `pending_stop`,
    /// with since when) for an isolation of ours: its connector has not checked in.
    pub fn isolation_pending(&self) -> Option<(&str, i64)> {
        let state = self.isolation_state.as_deref()?;
        let ours = self.isolated_by_us && !self.isolation_released;
        (ours && matches!(state, "pending_start" | "pending_stop"))
            .then(|| (state, self.isolation_state_since.unwrap_or(self.updated_at)))
    }
}

/// What the engine knows when it opens an incident.
#[derive(Clone, Debug)]
pub struct NewIncidentRow {
    pub tenant: String,
    pub correlation_key: String,
    pub correlation_id: String,
    pub rule: String,
    pub severity: String,
    pub title: String,
    pub connector_guid: Option<String>,
    pub hostname: Option<String>,
    pub sha256: Option<String>,
    pub detection: Option<String>,
    pub event_type: Option<String>,
    pub first_event_id: u64,
    pub first_seq: i64,
    pub first_event_time: i64,
    pub snow_short: String,
    pub snow_description: String,
    pub xdr_title: String,
    pub xdr_description: String,
    pub links: String,
    pub isolate: bool,
    pub triage_group: Option<String>,
}

/// An open incident a new event may join.
#[derive(Clone, Debug)]
pub struct OpenIncident {
    pub id: i64,
    pub severity: String,
    pub last_event_time: i64,
    pub event_count: i64,
    pub last_note_at: Option<i64>,
}

/// A value written to an incident column by an operation's outcome.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Text(Option<String>),
    Int(i64),
}

/// Columns an operation outcome may set (anything else is refused, never interpolated).
const UPDATABLE: &[&str] = &[
    "snow_sys_id",
    "snow_number",
    "xdr_id",
    "isolated_by_us",
    "isolation_released",
    "original_group",
    "moved_by_us",
    "group_restored",
    "last_note_at",
    "isolation_state",
    "isolation_state_since",
];

/// One outbox operation.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OutboxOp {
    pub id: i64,
    pub incident_id: i64,
    pub lane: String,
    pub kind: String,
    pub status: String,
    pub attempts: i64,
    pub not_before: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub done_at: Option<i64>,
    /// Claimed before and never finished: its process died, or its claim ran out, perhaps
    /// after the request reached the other side. Operations that are not idempotent
    /// (work notes) check before they send again.
    pub interrupted: bool,
}

/// How an operation ended.
#[derive(Clone, Debug)]
pub enum OpOutcome {
    Done {
        updates: Vec<(&'static str, Val)>,
        action: String,
        detail: String,
        /// Events up to this journal seq went into a work note.
        noted_up_to: Option<i64>,
    },
    Retry {
        error: String,
        at: i64,
    },
    Failed {
        error: String,
    },
    /// Not done yet, and nothing failed: the world has to move first (a host that has
    /// not checked in). Records `updates`, audits `detail` when it differs from the last
    /// wait's, and looks again at `at`.
    Wait {
        updates: Vec<(&'static str, Val)>,
        action: String,
        detail: String,
        at: i64,
    },
}

/// One audit line.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub incident_id: Option<i64>,
    pub tenant: Option<String>,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

/// What a close notice did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseResult {
    /// The incident is now closing (operations queued).
    Closing,
    /// It was already closing or closed: nothing changed.
    AlreadyClosed,
    NotFound,
}

/// Close details (from ServiceNow or the CLI).
#[derive(Clone, Debug, Default)]
pub struct CloseInfo {
    pub close_code: Option<String>,
    pub close_notes: Option<String>,
    /// epoch ms
    pub closed_at: i64,
    /// Also resolve the ServiceNow ticket (a close started here, not in ServiceNow).
    pub resolve_ticket: bool,
}

/// Counts for status pages.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct IncidentSummary {
    pub open: i64,
    pub closing: i64,
    pub closed: i64,
    pub snow_tickets: i64,
    pub xdr_incidents: i64,
    pub isolated_now: i64,
    pub moved_now: i64,
    /// Isolations of ours whose host has not carried out a start or stop yet.
    pub isolation_pending: i64,
    pub ops_pending: i64,
    pub ops_failed: i64,
    pub events: i64,
}

/// Incident tables. Cheap to clone.
#[derive(Clone, Debug)]
pub struct IncidentStore {
    pub(crate) db: Db,
    /// The `incidents` lease every write transaction checks (PostgreSQL replicas).
    fence: Option<crate::store::Fence>,
}

impl IncidentStore {
    /// A write transaction (the engine's batch, an executor's claim or outcome), refused
    /// when the handle's lease has moved to another replica.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let mut tx = self.db.begin().await?;
        if let (Tx::Postgres(t), Some(f)) = (&mut tx, &self.fence) {
            crate::store::check_fence(t, f).await?;
        }
        Ok(tx)
    }
}

impl Store {
    /// The incident tables share the store's pools (SQLite: one writer keeps commit order).
    pub fn incidents(&self) -> IncidentStore {
        IncidentStore {
            db: self.db().clone(),
            fence: self.fence().cloned(),
        }
    }
}
