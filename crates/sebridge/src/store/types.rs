//! The store's data: journal rows, cursors, positions, registry rows, dead letters, and its
//! errors. Shared by the `Store` facade and its backends.

use secure_endpoint::Severity;
use std::path::PathBuf;

/// Store errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    /// An existing file that is not a store this sebridge can open (another application's
    /// database, random bytes, a damaged or newer store); it was not modified.
    #[error("{} cannot be used as the sebridge store: {problem}. sebridge has not modified it. {advice}", path.display())]
    Unusable {
        path: PathBuf,
        problem: String,
        advice: String,
    },
    #[error("cannot connect to the store at {target}: {source}")]
    Connect {
        /// The URL, password redacted.
        target: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("store migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("store query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("corrupt {what} in the store: {detail}")]
    Corrupt { what: &'static str, detail: String },
    /// The journal's hot paths (append, read) run on plain SQLite connections.
    #[error("journal query failed: {0}")]
    Journal(#[from] rusqlite::Error),
    /// A write that depends on a lease, refused because the lease has moved on (another
    /// replica took over while this one was paused or cut off).
    #[error("lease `{lease}` is no longer held by this replica (epoch {epoch}); write refused")]
    Fenced { lease: String, epoch: i64 },
    #[error("journal task failed: {0}")]
    JournalTask(#[from] tokio::task::JoinError),
}

/// The lease a handle's writes depend on (see `cluster`): the store refuses them once the
/// lease's epoch has moved on. SQLite stores are never fenced (one process holds the file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    pub lease: String,
    pub owner: String,
    pub epoch: i64,
}

/// A row of the journal. `seq` increases with every append but is not dense: an ignored
/// duplicate may use up a number, so consumers compare positions, never count them.
#[derive(Clone, Debug, Default)]
pub struct JournalEntry {
    pub seq: i64,
    pub tenant: String,
    pub event_id: u64,
    pub event_type_id: u64,
    /// Vendor event time, epoch seconds.
    pub event_time: i64,
    /// When the journal received it, epoch milliseconds.
    pub received_at: i64,
    pub source: String,
    /// The vendor's JSON, byte for byte (shared: cloning an entry copies no event text).
    pub raw: std::sync::Arc<str>,
    /// From the typed view at append time (`None`: absent, or journaled before 0003_sinks).
    pub severity: Option<Severity>,
    pub connector_guid: Option<String>,
}

/// Where a poll source stands for one tenant: the newest event second committed and the ids
/// of that second already journaled (the API's `start_date` is inclusive, so that second
/// comes back on the next poll and those ids are skipped).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    pub time: i64,
    pub seen_ids: Vec<u64>,
}

/// A consumer's committed position.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Position {
    pub seq: i64,
    pub state: Option<String>,
}

/// What an append did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppendOutcome {
    pub inserted: u64,
    pub duplicates: u64,
    pub head: i64,
}

/// A tenant stored by `sebridge tenants add` (the key stays sealed).
#[derive(Clone, Debug)]
pub struct RegisteredTenant {
    pub name: String,
    pub region: Option<String>,
    pub base_url: Option<String>,
    pub client_id: String,
    pub sealed_api_key: Vec<u8>,
    pub created_at: i64,
}

/// A dead letter.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    pub id: i64,
    pub tenant: String,
    pub source: String,
    pub reason: String,
    pub raw: String,
    pub received_at: i64,
}

/// Hex SHA-256 of a dead letter's text: the same item read again is recorded once.
pub(crate) fn fingerprint(raw: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(raw.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// u64 ids (events, event types, streams) are stored bit-for-bit in signed 64-bit columns.
pub(crate) fn id_to_db(id: u64) -> i64 {
    i64::from_ne_bytes(id.to_ne_bytes())
}

pub(crate) fn id_from_db(id: i64) -> u64 {
    u64::from_ne_bytes(id.to_ne_bytes())
}

/// A journal row's severity as stored: 1 Low, 2 Medium, 3 High, 4 Critical.
pub(crate) fn severity_to_db(s: Option<Severity>) -> Option<i16> {
    s.map(|s| match s {
        Severity::Low => 1,
        Severity::Medium => 2,
        Severity::High => 3,
        Severity::Critical => 4,
    })
}

/// Any other stored value reads as unknown (`None`).
pub(crate) fn severity_from_db(v: Option<i16>) -> Option<Severity> {
    match v? {
        1 => Some(Severity::Low),
        2 => Some(Severity::Medium),
        3 => Some(Severity::High),
        4 => Some(Severity::Critical),
        _ => None,
    }
}

pub fn now_millis() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}
