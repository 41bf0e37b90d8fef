//! The durable store: journal (append-only, deduplicated on tenant + event id), poll
//! cursors, consumer positions, dead letters and the tenant registry.
//!
//! SQLite (embedded, WAL) is the default backend.

mod sqlite;
mod streams;

pub use sqlite::SqliteStore;
pub use streams::StoredStream;

use secure_endpoint::Event;
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
}

/// A row of the journal. `seq` increases with every append but is not dense: an ignored
/// duplicate may use up a number, so consumers compare positions, never count them.
#[derive(Clone, Debug)]
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
    /// The vendor's JSON, byte for byte.
    pub raw: String,
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
        let outcome = self.inner.append(tenant, source, events, cursor).await?;
        self.head.send_if_modified(|h| {
            if outcome.head > *h {
                *h = outcome.head;
                true
            } else {
                false
            }
        });
        Ok(outcome)
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

    fn sqlite(&self) -> &SqliteStore {
        &self.inner
    }

    /// Closes the connections, checkpointing the WAL.
    pub async fn close(&self) {
        self.inner.close().await
    }
}

pub fn now_millis() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}
