//! The durable store: journal (append-only, deduplicated on tenant + event id), poll
//! cursors, consumer positions, dead letters and the tenant registry.
//!
//! SQLite (embedded, WAL) is the default backend. Components with tables of their own keep
//! them beside their code, on the store's pools: `incidents::store` (incidents, outbox,
//! audit log) and `sources::stream` (stored event streams).

mod recent;
mod sqlite;

pub use sqlite::SqliteStore;

use secure_endpoint::{Event, Severity};
use std::path::PathBuf;
use tokio::sync::watch;

/// Store errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {source}")]
    Open {
        path: PathBuf,
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
    #[error("journal task failed: {0}")]
    JournalTask(#[from] tokio::task::JoinError),
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

/// The journal store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    inner: SqliteStore,
    head: watch::Sender<i64>,
}

impl Store {
    /// Opens (creating if needed) and migrates the SQLite store at `path`.
    pub async fn open_sqlite(path: &std::path::Path) -> Result<Store, StoreError> {
        let inner = SqliteStore::open(path).await?;
        let head = inner.head().await?;
        let (tx, _) = watch::channel(head);
        Ok(Store { inner, head: tx })
    }

    /// Appends events (deduplicated on tenant + id) and, in the same transaction, the
    /// source's cursor. Either both are durable or neither.
    pub async fn append(
        &self,
        tenant: &str,
        source: &str,
        events: &[Event],
        cursor: Option<&Cursor>,
    ) -> Result<AppendOutcome, StoreError> {
        let outcome = self
            .inner
            .append(tenant, source, events, cursor, false)
            .await?;
        self.note_head(outcome.head);
        Ok(outcome)
    }

    /// Like [`Store::append`], for events that are mostly journaled already (a re-read):
    /// known ids are skipped before inserting, so they cost a lookup, not a write.
    pub async fn append_new(
        &self,
        tenant: &str,
        source: &str,
        events: &[Event],
        cursor: Option<&Cursor>,
    ) -> Result<AppendOutcome, StoreError> {
        let outcome = self
            .inner
            .append(tenant, source, events, cursor, true)
            .await?;
        self.note_head(outcome.head);
        Ok(outcome)
    }

    fn note_head(&self, head: i64) {
        self.head.send_if_modified(|h| {
            if head > *h {
                *h = head;
                true
            } else {
                false
            }
        });
    }

    /// Journal rows after `after_seq`, oldest first, at most `limit`.
    pub async fn read_after(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<JournalEntry>, StoreError> {
        self.inner.read_after(after_seq, limit).await
    }

    /// The newest sequence number (0 when empty), as last committed by this process.
    pub fn head(&self) -> i64 {
        *self.head.borrow()
    }

    /// The newest sequence number in the database (other processes may have appended).
    pub async fn head_from_db(&self) -> Result<i64, StoreError> {
        self.inner.head().await
    }

    /// Wakes when the head moves.
    pub fn subscribe_head(&self) -> watch::Receiver<i64> {
        self.head.subscribe()
    }

    pub async fn cursor(&self, tenant: &str, source: &str) -> Result<Option<Cursor>, StoreError> {
        self.inner.cursor(tenant, source).await
    }

    pub async fn delete_cursor(&self, tenant: &str, source: &str) -> Result<(), StoreError> {
        self.inner.delete_cursor(tenant, source).await
    }

    /// The first sequence number received at or after `millis` (epoch ms), if any.
    pub async fn first_seq_received_since(&self, millis: i64) -> Result<Option<i64>, StoreError> {
        self.inner.first_seq_received_since(millis).await
    }

    pub async fn position(&self, consumer: &str) -> Result<Option<Position>, StoreError> {
        self.inner.position(consumer).await
    }

    pub async fn commit_position(
        &self,
        consumer: &str,
        position: &Position,
    ) -> Result<(), StoreError> {
        self.inner.commit_position(consumer, position).await
    }

    pub async fn positions(&self) -> Result<Vec<(String, Position)>, StoreError> {
        self.inner.positions().await
    }

    pub async fn dead_letter(
        &self,
        tenant: &str,
        source: &str,
        reason: &str,
        raw: &str,
    ) -> Result<(), StoreError> {
        self.inner.dead_letter(tenant, source, reason, raw).await
    }

    pub async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        self.inner.dead_letters(limit).await
    }

    /// Journal rows with `seq > after_seq` (a consumer's exact backlog).
    pub async fn count_after(&self, after_seq: i64) -> Result<i64, StoreError> {
        self.inner.count_after(after_seq).await
    }

    /// The oldest row still in the journal: (seq, received_at), `None` when empty.
    pub async fn oldest(&self) -> Result<Option<(i64, i64)>, StoreError> {
        self.inner.oldest().await
    }

    /// The newest seq whose row was received before `cutoff_ms` (rows older than a max age).
    pub async fn last_seq_received_before(
        &self,
        cutoff_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        self.inner.last_seq_received_before(cutoff_ms).await
    }

    /// The seq below which rows exceed `max_rows` (keeping the newest `max_rows`).
    pub async fn seq_keeping_newest(&self, max_rows: u64) -> Result<Option<i64>, StoreError> {
        self.inner.seq_keeping_newest(max_rows).await
    }

    /// Deletes journal rows with `seq <= up_to`, at most `limit` of them (oldest first), in
    /// one short transaction. Returns how many were deleted.
    pub async fn delete_through(&self, up_to: i64, limit: u64) -> Result<u64, StoreError> {
        self.inner.delete_through(up_to, limit).await
    }

    /// Removes a consumer's position (a sink taken out of the configuration for good).
    pub async fn forget_position(&self, consumer: &str) -> Result<bool, StoreError> {
        self.inner.forget_position(consumer).await
    }

    /// Events in the journal.
    pub async fn count(&self) -> Result<i64, StoreError> {
        self.inner.count().await
    }

    /// Events per tenant in the journal.
    pub async fn counts_by_tenant(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.inner.counts_by_tenant().await
    }

    pub async fn register_tenant(&self, t: &RegisteredTenant) -> Result<bool, StoreError> {
        self.inner.register_tenant(t).await
    }

    pub async fn registered_tenants(&self) -> Result<Vec<RegisteredTenant>, StoreError> {
        self.inner.registered_tenants().await
    }

    pub async fn remove_tenant(&self, name: &str) -> Result<bool, StoreError> {
        self.inner.remove_tenant(name).await
    }

    /// The single writer pool (one writer keeps commit order), for components that keep
    /// their own tables in the store.
    pub(crate) fn writer_pool(&self) -> &sqlx::SqlitePool {
        self.inner.writer()
    }

    /// The read-only pool, for components that keep their own tables in the store.
    pub(crate) fn reader_pool(&self) -> &sqlx::SqlitePool {
        self.inner.reader()
    }

    /// Closes the connections, checkpointing the WAL.
    pub async fn close(&self) {
        self.inner.close().await
    }
}

/// Hex SHA-256 of a dead letter's text: the same item read again is recorded once.
pub(crate) fn fingerprint(raw: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(raw.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn now_millis() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}
