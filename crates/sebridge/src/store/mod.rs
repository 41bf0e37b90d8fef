//! The durable store: journal (append-only, deduplicated on tenant + event id), poll
//! cursors, consumer positions, dead letters and the tenant registry.
//!
//! Two backends behind one interface: SQLite (embedded, WAL; the default) and PostgreSQL
//! (several replicas on one database). The journal's appends, reads and deletes are each
//! backend's own (`sqlite/`, `postgres/`); its counts (`reads.rs`) and the other tables'
//! queries (`db.rs`, `positions.rs`, `registry.rs`) are shared. Components with tables of
//! their own keep them beside their code, on [`Store::db`]: `incidents::store` (incidents, outbox, audit log) and `sources::stream`
//! (stored event streams).

mod db;
pub mod migrate;
mod positions;
mod postgres;
mod reads;
mod recent;
mod registry;
mod sqlite;
#[cfg(test)]
mod tests;
mod types;

pub(crate) use db::{on_db, on_tx};
pub use db::{Db, Tx};
pub(crate) use postgres::check_fence;
pub use postgres::{redact_url, PgStore};
pub use sqlite::SqliteStore;
pub(crate) use types::{fingerprint, id_from_db, id_to_db, severity_from_db, severity_to_db};
pub use types::{
    now_millis, AppendOutcome, Cursor, DeadLetter, Fence, JournalEntry, Position, RegisteredTenant,
    StoreError,
};

use secure_endpoint::Event;
use tokio::sync::watch;

/// The journal store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    db: Db,
    head: watch::Sender<i64>,
    /// Writes of this handle that depend on a lease check it (PostgreSQL).
    fence: Option<Fence>,
}

#[derive(Clone, Debug)]
enum Backend {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// `on!(self, |b| b.method(args))`: the call on whichever backend is open.
macro_rules! on {
    ($s:expr, |$b:ident| $body:expr) => {
        match &$s.backend {
            Backend::Sqlite($b) => $body,
            Backend::Postgres($b) => $body,
        }
    };
}

impl Store {
    /// Opens (creating if needed) and migrates the SQLite store at `path`.
    pub async fn open_sqlite(path: &std::path::Path) -> Result<Store, StoreError> {
        let inner = SqliteStore::open(path).await?;
        let db = Db::Sqlite {
            writer: inner.writer().clone(),
            reader: inner.reader().clone(),
        };
        Store::with(Backend::Sqlite(inner), db).await
    }

    /// Connects to PostgreSQL at `url` (in `schema`, created if needed; else the server's
    /// search path) and migrates it.
    pub async fn open_postgres(url: &str, schema: Option<&str>) -> Result<Store, StoreError> {
        Self::open_postgres_with(url, schema, crate::cluster::Timing::default().lease).await
    }

    /// [`Store::open_postgres`], ending transactions idle longer than `idle_tx_timeout` (the
    /// cluster's lease: see `PgStore::open`).
    pub async fn open_postgres_with(
        url: &str,
        schema: Option<&str>,
        idle_tx_timeout: std::time::Duration,
    ) -> Result<Store, StoreError> {
        let inner = PgStore::open(url, schema, idle_tx_timeout).await?;
        let db = Db::Postgres(inner.pool().clone());
        Store::with(Backend::Postgres(inner), db).await
    }

    async fn with(backend: Backend, db: Db) -> Result<Store, StoreError> {
        let s = Store {
            backend,
            db,
            head: watch::channel(0).0,
            fence: None,
        };
        let head = on!(s, |b| b.head().await)?;
        s.note_head(head);
        Ok(s)
    }

    /// A handle whose appends (and their cursors), position commits and incident
    /// transactions are refused once `fence`'s lease has moved to another replica.
    pub fn fenced(&self, fence: Fence) -> Store {
        Store {
            fence: Some(fence),
            ..self.clone()
        }
    }

    pub fn fence(&self) -> Option<&Fence> {
        self.fence.as_ref()
    }

    /// The pools, for components that keep their own tables in the store.
    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn is_postgres(&self) -> bool {
        self.db.is_postgres()
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
        let outcome = match &self.backend {
            Backend::Sqlite(b) => b.append(tenant, source, events, cursor, false).await?,
            Backend::Postgres(b) => {
                b.append(tenant, source, events, cursor, self.fence.as_ref())
                    .await?
            }
        };
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
        let outcome = match &self.backend {
            Backend::Sqlite(b) => b.append(tenant, source, events, cursor, true).await?,
            Backend::Postgres(b) => {
                b.append(tenant, source, events, cursor, self.fence.as_ref())
                    .await?
            }
        };
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
        on!(self, |b| b.read_after(after_seq, limit).await)
    }

    /// The newest sequence number (0 when empty), as last committed by this process.
    pub fn head(&self) -> i64 {
        *self.head.borrow()
    }

    /// The newest sequence number in the database (other processes may have appended).
    pub async fn head_from_db(&self) -> Result<i64, StoreError> {
        on!(self, |b| b.head().await)
    }

    /// Wakes when the head moves.
    pub fn subscribe_head(&self) -> watch::Receiver<i64> {
        self.head.subscribe()
    }

    pub async fn cursor(&self, tenant: &str, source: &str) -> Result<Option<Cursor>, StoreError> {
        self.db.cursor(tenant, source).await
    }

    pub async fn delete_cursor(&self, tenant: &str, source: &str) -> Result<(), StoreError> {
        self.db.delete_cursor(tenant, source).await
    }

    /// The range a tenant's backfill covers: `(since, finished_at)` (epoch s, epoch ms;
    /// `None` while unfinished).
    pub async fn backfill_range(
        &self,
        tenant: &str,
    ) -> Result<Option<(i64, Option<i64>)>, StoreError> {
        self.db.backfill_range(tenant).await
    }

    pub async fn set_backfill_range(
        &self,
        tenant: &str,
        since: i64,
        finished_at: Option<i64>,
    ) -> Result<(), StoreError> {
        self.db.set_backfill_range(tenant, since, finished_at).await
    }

    /// The first sequence number received at or after `millis` (epoch ms), if any.
    pub async fn first_seq_received_since(&self, millis: i64) -> Result<Option<i64>, StoreError> {
        self.db.first_seq_received_since(millis).await
    }

    pub async fn position(&self, consumer: &str) -> Result<Option<Position>, StoreError> {
        self.db.position(consumer).await
    }

    pub async fn commit_position(
        &self,
        consumer: &str,
        position: &Position,
    ) -> Result<(), StoreError> {
        match (&self.backend, &self.fence) {
            (Backend::Postgres(b), Some(f)) => b.commit_position(consumer, position, f).await,
            _ => self.db.commit_position(consumer, position).await,
        }
    }

    pub async fn positions(&self) -> Result<Vec<(String, Position)>, StoreError> {
        self.db.positions().await
    }

    /// Keeps an item that is not an event, with the reason; true if it was not kept
    /// already (the same item from the same source and tenant is kept once).
    pub async fn dead_letter(
        &self,
        tenant: &str,
        source: &str,
        reason: &str,
        raw: &str,
    ) -> Result<bool, StoreError> {
        self.db.dead_letter(tenant, source, reason, raw).await
    }

    pub async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        self.db.dead_letters(limit).await
    }

    /// Journal rows with `seq > after_seq` (a consumer's exact backlog).
    pub async fn count_after(&self, after_seq: i64) -> Result<i64, StoreError> {
        self.db.count_after(after_seq).await
    }

    /// The oldest row still in the journal: (seq, received_at), `None` when empty.
    pub async fn oldest(&self) -> Result<Option<(i64, i64)>, StoreError> {
        self.db.oldest().await
    }

    /// The newest seq whose row was received before `cutoff_ms` (rows older than a max age).
    pub async fn last_seq_received_before(
        &self,
        cutoff_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        on!(self, |b| b.last_seq_received_before(cutoff_ms).await)
    }

    /// The seq below which rows exceed `max_rows` (keeping the newest `max_rows`).
    pub async fn seq_keeping_newest(&self, max_rows: u64) -> Result<Option<i64>, StoreError> {
        self.db.seq_keeping_newest(max_rows).await
    }

    /// Deletes journal rows with `seq <= up_to`, at most `limit` of them (oldest first), in
    /// one short transaction. Returns how many were deleted.
    pub async fn delete_through(&self, up_to: i64, limit: u64) -> Result<u64, StoreError> {
        on!(self, |b| b.delete_through(up_to, limit).await)
    }

    /// Removes a consumer's position (a sink taken out of the configuration for good).
    pub async fn forget_position(&self, consumer: &str) -> Result<bool, StoreError> {
        self.db.forget_position(consumer).await
    }

    /// Events in the journal.
    pub async fn count(&self) -> Result<i64, StoreError> {
        self.db.count().await
    }

    /// Events per tenant in the journal.
    pub async fn counts_by_tenant(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.db.counts_by_tenant().await
    }

    pub async fn register_tenant(&self, t: &RegisteredTenant) -> Result<bool, StoreError> {
        self.db.register_tenant(t).await
    }

    pub async fn registered_tenants(&self) -> Result<Vec<RegisteredTenant>, StoreError> {
        self.db.registered_tenants().await
    }

    pub async fn remove_tenant(&self, name: &str) -> Result<bool, StoreError> {
        self.db.remove_tenant(name).await
    }

    /// Closes the connections (SQLite: checkpointing the WAL).
    pub async fn close(&self) {
        on!(self, |b| b.close().await)
    }
}
