//! The durable store: journal (append-only, deduplicated on tenant + event id), poll
//! cursors, consumer positions, dead letters and the tenant registry.
//!
//! SQLite (embedded, WAL) is the default backend. Components with tables of their own keep
//! them beside their code, on the store's pools: `incidents::store` (incidents, outbox,
//! audit log) and `sources::stream` (stored event streams).

mod recent;
mod sqlite;
mod types;

pub use sqlite::SqliteStore;
pub(crate) use types::fingerprint;
pub use types::{
    now_millis, AppendOutcome, Cursor, DeadLetter, JournalEntry, Position, RegisteredTenant,
    StoreError,
};

use secure_endpoint::Event;
use tokio::sync::watch;

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
