//! SQLite backend: WAL, one writer connection (SQLite serialises writers anyway, and a single
//! connection keeps sequence numbers in commit order), a small pool of readers.

use super::recent::Recent;
use super::{
    now_millis, AppendOutcome, Cursor, DeadLetter, JournalEntry, Position, RegisteredTenant,
    StoreError,
};
use secure_endpoint::{Event, Severity};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlSafeStr;
use sqlx::{Row, SqlitePool};
use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

fn severity_to_db(s: Option<Severity>) -> Option<i64> {
    s.map(|s| match s {
        Severity::Low => 1,
        Severity::Medium => 2,
        Severity::High => 3,
        Severity::Critical => 4,
    })
}

fn severity_from_db(v: Option<i64>) -> Option<Severity> {
    match v? {
        1 => Some(Severity::Low),
        2 => Some(Severity::Medium),
        3 => Some(Severity::High),
        4 => Some(Severity::Critical),
        _ => None,
    }
}

#[derive(Clone, Debug)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    journal: JournalReader,
    journal_writer: JournalWriter,
    checkpointer: Checkpointer,
}

/// The journal's read hot path (every sink reads every event through it): plain SQLite
/// connections used on blocking threads. sqlx's driver hands each row from its worker thread
/// to the async side through a channel — a wake-up, an allocation and a copy per row — which
/// made reading the journal the sinks' bottleneck. Same SQLite library as sqlx's.
#[derive(Clone)]
struct JournalReader {
    path: std::path::PathBuf,
    idle: std::sync::Arc<std::sync::Mutex<Vec<rusqlite::Connection>>>,
}

impl std::fmt::Debug for JournalReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalReader")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

const READ_AFTER_SQL: &str = "SELECT seq, tenant, event_id, event_type_id, event_time, \
     received_at, source, raw, severity, connector_guid FROM journal WHERE seq > ?1 \
     ORDER BY seq LIMIT ?2";

impl JournalReader {
    /// Connections kept for reuse (more may be open at a time, briefly).
    const IDLE: usize = 4;

    fn new(path: &Path) -> JournalReader {
        JournalReader {
            path: path.to_path_buf(),
            idle: Default::default(),
        }
    }

    fn connect(&self) -> rusqlite::Result<rusqlite::Connection> {
        open_plain(&self.path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    }

    /// Blocking: call from a blocking thread.
    fn read_after(&self, after_seq: i64, limit: usize) -> Result<Vec<JournalEntry>, StoreError> {
        let pooled = self.idle.lock().ok().and_then(|mut v| v.pop());
        let conn = match pooled {
            Some(c) => c,
            None => self.connect()?,
        };
        let rows = Self::query(&conn, after_seq, limit)?;
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < Self::IDLE {
                idle.push(conn);
            }
        }
        Ok(rows)
    }

    /// Drops the idle connections.
    fn close(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }

    fn query(
        conn: &rusqlite::Connection,
        after_seq: i64,
        limit: usize,
    ) -> rusqlite::Result<Vec<JournalEntry>> {
        let mut stmt = conn.prepare_cached(READ_AFTER_SQL)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(rusqlite::params![after_seq, limit], |r| {
            Ok(JournalEntry {
                seq: r.get(0)?,
                tenant: r.get(1)?,
                event_id: id_from_db(r.get(2)?),
                event_type_id: id_from_db(r.get(3)?),
                event_time: r.get(4)?,
                received_at: r.get(5)?,
                source: r.get(6)?,
                raw: r.get_ref(7)?.as_str()?.into(),
                severity: severity_from_db(r.get(8)?),
                connector_guid: r.get(9)?,
            })
        })?;
        rows.collect()
    }
}

/// A plain SQLite connection to the (existing, migrated) store, used by one thread at a time.
fn open_plain(path: &Path, mode: rusqlite::OpenFlags) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        mode | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(30))?;
    Ok(conn)
}

/// One event as the journal stores it, owned so the write can run on a blocking thread.
struct JournalRow {
    id: u64,
    type_id: u64,
    time: i64,
    raw: std::sync::Arc<str>,
    severity: Option<Severity>,
    connector_guid: Option<String>,
}

impl From<&Event> for JournalRow {
    fn from(e: &Event) -> JournalRow {
        JournalRow {
            id: e.id,
            type_id: e.event_type_id,
            time: e.timestamp,
            raw: e.shared_raw(),
            severity: e.severity,
            connector_guid: e.connector_guid.clone(),
        }
    }
}

/// A poll cursor as stored (`seen_ids` as a JSON array).
struct CursorRow {
    time: i64,
    seen_ids: String,
}

impl TryFrom<&Cursor> for CursorRow {
    type Error = StoreError;
    fn try_from(c: &Cursor) -> Result<CursorRow, StoreError> {
        let seen_ids = serde_json::to_string(&c.seen_ids).map_err(|e| StoreError::Corrupt {
            what: "cursor",
            detail: e.to_string(),
        })?;
        Ok(CursorRow {
            time: c.time,
            seen_ids,
        })
    }
}

struct AppendBatch {
    tenant: String,
    source: String,
    rows: Vec<JournalRow>,
    cursor: Option<CursorRow>,
    /// Events read again on purpose (overlap re-read): known ids are looked up first,
    /// because an ignored INSERT would still use up an AUTOINCREMENT number.
    skip_known: bool,
}

const INSERT_SQL: &str = "INSERT OR IGNORE INTO journal (tenant, event_id, event_type_id, \
     event_time, received_at, source, raw, severity, connector_guid) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
const KNOWN_SQL: &str = "SELECT 1 FROM journal WHERE tenant = ?1 AND event_id = ?2";
const CURSOR_SQL: &str = "INSERT INTO cursors (tenant, source, cursor_time, seen_ids, updated_at) \
     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (tenant, source) DO UPDATE SET \
     cursor_time = excluded.cursor_time, seen_ids = excluded.seen_ids, \
     updated_at = excluded.updated_at";

/// The journal's write hot path (every ingested event goes through it): one plain SQLite
/// connection, used on a blocking thread with prepared statements bound row by row. Through
/// sqlx each batch became multi-row INSERTs built as text, every raw event copied into the
/// arguments and handed to sqlx's worker thread. Writes are serialised by the caller holding
/// sqlx's single writer connection (see `SqliteStore::append`).
#[derive(Clone)]
struct JournalWriter {
    path: std::path::PathBuf,
    conn: std::sync::Arc<std::sync::Mutex<Option<rusqlite::Connection>>>,
    /// What this writer committed last, for consumers that keep up (see `Recent`).
    recent: std::sync::Arc<std::sync::Mutex<Recent>>,
}

impl std::fmt::Debug for JournalWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalWriter")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl JournalWriter {
    fn new(path: &Path) -> JournalWriter {
        JournalWriter {
            path: path.to_path_buf(),
            conn: Default::default(),
            recent: std::sync::Arc::new(std::sync::Mutex::new(Recent::new(
                super::recent::DEFAULT_BUDGET,
            ))),
        }
    }

    fn connect(&self) -> rusqlite::Result<rusqlite::Connection> {
        let conn = open_plain(&self.path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        // The same settings as the sqlx connections (see `SqliteStore::open`); these are
        // per connection. FULL: an append survives power loss before a source acks.
        conn.execute_batch(
            "PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 0; PRAGMA temp_store = memory;",
        )?;
        Ok(conn)
    }

    /// Blocking: call from a blocking thread, holding the sqlx writer connection.
    fn append(&self, b: AppendBatch) -> Result<AppendOutcome, StoreError> {
        // A panic while holding the lock leaves no half transaction behind (it rolls back
        // on drop), so a poisoned lock is still usable.
        let mut slot = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let conn = match slot.as_mut() {
            Some(c) => c,
            None => slot.insert(self.connect()?),
        };
        let received_at = now_millis();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let before: Option<i64> = tx.query_row("SELECT MAX(seq) FROM journal", [], |r| r.get(0))?;
        let mut new_rows = Vec::with_capacity(b.rows.len());
        let given = b.rows.len() as u64;
        {
            let mut known = tx.prepare_cached(KNOWN_SQL)?;
            let mut insert = tx.prepare_cached(INSERT_SQL)?;
            for r in b.rows {
                let id = id_to_db(r.id);
                if b.skip_known && known.exists(rusqlite::params![b.tenant, id])? {
                    continue;
                }
                let n = insert.execute(rusqlite::params![
                    b.tenant,
                    id,
                    id_to_db(r.type_id),
                    r.time,
                    received_at,
                    b.source,
                    &*r.raw,
                    severity_to_db(r.severity),
                    r.connector_guid,
                ])?;
                if n == 1 {
                    new_rows.push(JournalEntry {
                        seq: tx.last_insert_rowid(),
                        tenant: b.tenant.clone(),
                        event_id: r.id,
                        event_type_id: r.type_id,
                        event_time: r.time,
                        received_at,
                        source: b.source.clone(),
                        raw: r.raw,
                        severity: r.severity,
                        connector_guid: r.connector_guid,
                    });
                }
            }
            if let Some(c) = &b.cursor {
                tx.prepare_cached(CURSOR_SQL)?.execute(rusqlite::params![
                    b.tenant,
                    b.source,
                    c.time,
                    c.seen_ids,
                    received_at,
                ])?;
            }
        }
        tx.commit()?;
        let inserted = new_rows.len() as u64;
        // Under the write lock the numbers only grow: the head is the last row inserted here,
        // or what it was before.
        let before = before.unwrap_or(0);
        let head = new_rows.last().map_or(before, |r| r.seq);
        self.recent().committed(before, new_rows, head);
        Ok(AppendOutcome {
            inserted,
            duplicates: given - inserted,
            head,
        })
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, Recent> {
        // Only plain field updates happen under this lock; a poisoned one is consistent.
        self.recent.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Closes the connection (the next append opens a new one).
    fn close(&self) {
        let mut slot = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        slot.take();
        self.recent().clear();
    }
}

/// Copies the WAL into the database file from a connection of its own, in the background.
/// SQLite's auto-checkpoint would run inside whichever COMMIT crosses the threshold —
/// usually a source's append, which then waits for megabytes of copying and an fsync.
#[derive(Clone, Debug)]
struct Checkpointer {
    pool: SqlitePool,
    stop: tokio_util::sync::CancellationToken,
    // Stops the task when the last clone of the store is dropped without `close`.
    _guard: std::sync::Arc<tokio_util::sync::DropGuard>,
}

/// How often the background checkpoint runs (a no-op when the WAL is already copied).
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// The schema migrations (`migrations/sqlite/NNNN_description.sql`), embedded in the binary.
/// Listed by hand instead of `sqlx::migrate!` so the build needs no sqlx proc-macro, which
/// compiled sqlx and SQLite a second time for the host. Version, description and checksum are
/// what the macro produced, so existing databases see the same applied migrations.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "journal",
        include_str!("../../migrations/sqlite/0001_journal.sql"),
    ),
    (
        2,
        "streams",
        include_str!("../../migrations/sqlite/0002_streams.sql"),
    ),
    (
        3,
        "sinks",
        include_str!("../../migrations/sqlite/0003_sinks.sql"),
    ),
    (
        4,
        "incidents",
        include_str!("../../migrations/sqlite/0004_incidents.sql"),
    ),
    (
        5,
        "dead letter fingerprint",
        include_str!("../../migrations/sqlite/0005_dead_letter_fingerprint.sql"),
    ),
];

fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    sql.starts_with("-- no-transaction"),
                )
            })
            .collect(),
    )
}

impl Checkpointer {
    fn start(pool: SqlitePool) -> Checkpointer {
        let stop = tokio_util::sync::CancellationToken::new();
        let (p, s) = (pool.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(CHECKPOINT_EVERY) => {}
                    _ = s.cancelled() => return,
                }
                // PASSIVE: copies what it can without blocking writers or readers.
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&p)
                    .await
                {
                    tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
                }
            }
        });
        Checkpointer {
            pool,
            _guard: std::sync::Arc::new(stop.clone().drop_guard()),
            stop,
        }
    }
}

/// u64 ids are stored bit-for-bit in SQLite's signed 64-bit integers.
fn id_to_db(id: u64) -> i64 {
    i64::from_ne_bytes(id.to_ne_bytes())
}

fn id_from_db(id: i64) -> u64 {
    u64::from_ne_bytes(id.to_ne_bytes())
}

impl SqliteStore {
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                path: path.to_path_buf(),
                source: sqlx::Error::Io(e),
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit survives power loss, which is what lets a source ack/advance
            // right after it.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            // New journals only (SQLite fixes the page size at creation). 16 KiB instead of
            // 4 KiB: most 1-2 KiB events fit a page without overflow chains, and each
            // commit writes a quarter of the WAL frames (two write(2)s per frame); the 1M
            // backfill took ~25% less system time.
            .page_size(16384)
            .pragma("temp_store", "memory")
            // Checkpoints run in the background instead (see `Checkpointer`).
            .pragma("wal_autocheckpoint", "0");
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(open_err)?;
        migrator().run(&writer).await?;
        let checkpoint_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(open_err)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await
            .map_err(open_err)?;
        Ok(SqliteStore {
            writer,
            reader,
            journal: JournalReader::new(path),
            journal_writer: JournalWriter::new(path),
            checkpointer: Checkpointer::start(checkpoint_pool),
        })
    }

    /// The single writer connection (also used by other store modules).
    pub(super) fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// The read-only pool.
    pub(super) fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    pub async fn close(&self) {
        self.checkpointer.stop.cancel();
        self.checkpointer.pool.close().await;
        self.reader.close().await;
        self.journal.close();
        self.journal_writer.close();
        // The last connection to close checkpoints what is left and removes the WAL.
        self.writer.close().await;
    }

    pub async fn head(&self) -> Result<i64, StoreError> {
        let head: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM journal")
            .fetch_one(&self.writer)
            .await?;
        Ok(head.unwrap_or(0))
    }

    pub async fn append(
        &self,
        tenant: &str,
        source: &str,
        events: &[Event],
        cursor: Option<&Cursor>,
        skip_known: bool,
    ) -> Result<AppendOutcome, StoreError> {
        let batch = AppendBatch {
            tenant: tenant.to_owned(),
            source: source.to_owned(),
            rows: events.iter().map(JournalRow::from).collect(),
            cursor: cursor.map(CursorRow::try_from).transpose()?,
            skip_known,
        };
        // Holding the pool's only writer connection keeps every other write out while this
        // one runs (SQLite has one writer anyway): no lock waits, and no deferred transaction
        // of the pool can find its snapshot outdated halfway. Moved into the blocking job so
        // it is released only when the job ends, even if this future is dropped.
        let exclusive = self.writer.acquire().await?;
        let writer = self.journal_writer.clone();
        tokio::task::spawn_blocking(move || {
            let outcome = writer.append(batch);
            drop(exclusive);
            outcome
        })
        .await?
    }

    pub async fn read_after(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<JournalEntry>, StoreError> {
        if let Some(rows) = self.journal_writer.recent().read_after(after_seq, limit) {
            return Ok(rows);
        }
        let journal = self.journal.clone();
        tokio::task::spawn_blocking(move || journal.read_after(after_seq, limit)).await?
    }

    pub async fn cursor(&self, tenant: &str, source: &str) -> Result<Option<Cursor>, StoreError> {
        let row = sqlx::query(
            "SELECT cursor_time, seen_ids FROM cursors WHERE tenant = ? AND source = ?",
        )
        .bind(tenant)
        .bind(source)
        .fetch_optional(&self.writer)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let seen: String = row.try_get(1)?;
        let seen_ids = serde_json::from_str(&seen).map_err(|e| StoreError::Corrupt {
            what: "cursor",
            detail: format!("tenant {tenant}, source {source}: {e}"),
        })?;
        Ok(Some(Cursor {
            time: row.try_get(0)?,
            seen_ids,
        }))
    }

    pub async fn delete_cursor(&self, tenant: &str, source: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM cursors WHERE tenant = ? AND source = ?")
            .bind(tenant)
            .bind(source)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub async fn first_seq_received_since(&self, millis: i64) -> Result<Option<i64>, StoreError> {
        // received_at grows with seq (one writer), so the first match in seq order is the answer.
        Ok(
            sqlx::query_scalar("SELECT MIN(seq) FROM journal WHERE received_at >= ?")
                .bind(millis)
                .fetch_one(&self.reader)
                .await?,
        )
    }

    pub async fn position(&self, consumer: &str) -> Result<Option<Position>, StoreError> {
        let row = sqlx::query("SELECT seq, state FROM positions WHERE consumer = ?")
            .bind(consumer)
            .fetch_optional(&self.writer)
            .await?;
        row.map(|r| {
            Ok(Position {
                seq: r.try_get(0)?,
                state: r.try_get(1)?,
            })
        })
        .transpose()
    }

    pub async fn commit_position(&self, consumer: &str, p: &Position) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO positions (consumer, seq, state, updated_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq, state = excluded.state,
             updated_at = excluded.updated_at",
        )
        .bind(consumer)
        .bind(p.seq)
        .bind(p.state.as_deref())
        .bind(now_millis())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub async fn positions(&self) -> Result<Vec<(String, Position)>, StoreError> {
        let rows = sqlx::query("SELECT consumer, seq, state FROM positions ORDER BY consumer")
            .fetch_all(&self.reader)
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    Position {
                        seq: r.try_get(1)?,
                        state: r.try_get(2)?,
                    },
                ))
            })
            .collect()
    }

    pub async fn dead_letter(
        &self,
        tenant: &str,
        source: &str,
        reason: &str,
        raw: &str,
    ) -> Result<(), StoreError> {
        let fingerprint = super::fingerprint(raw);
        sqlx::query(
            "INSERT OR IGNORE INTO dead_letters (tenant, source, reason, raw, received_at, fingerprint)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(tenant)
        .bind(source)
        .bind(reason)
        .bind(raw)
        .bind(now_millis())
        .bind(fingerprint)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant, source, reason, raw, received_at FROM dead_letters ORDER BY id DESC LIMIT ?",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(DeadLetter {
                    id: r.try_get(0)?,
                    tenant: r.try_get(1)?,
                    source: r.try_get(2)?,
                    reason: r.try_get(3)?,
                    raw: r.try_get(4)?,
                    received_at: r.try_get(5)?,
                })
            })
            .collect()
    }

    pub async fn count_after(&self, after_seq: i64) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM journal WHERE seq > ?")
                .bind(after_seq)
                .fetch_one(&self.reader)
                .await?,
        )
    }

    pub async fn oldest(&self) -> Result<Option<(i64, i64)>, StoreError> {
        let row = sqlx::query("SELECT seq, received_at FROM journal ORDER BY seq LIMIT 1")
            .fetch_optional(&self.reader)
            .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    pub async fn last_seq_received_before(
        &self,
        cutoff_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        // Rows arrive in seq order, so the first row received at or after the cutoff bounds
        // the old ones; the scan touches only the rows that are old (about to be deleted).
        let first_new: Option<i64> = sqlx::query_scalar(
            "SELECT seq FROM journal WHERE received_at >= ? ORDER BY seq LIMIT 1",
        )
        .bind(cutoff_ms)
        .fetch_optional(&self.reader)
        .await?;
        let bound: Option<i64> = match first_new {
            Some(s) => {
                sqlx::query_scalar("SELECT MAX(seq) FROM journal WHERE seq < ?")
                    .bind(s)
                    .fetch_one(&self.reader)
                    .await?
            }
            None => {
                sqlx::query_scalar("SELECT MAX(seq) FROM journal")
                    .fetch_one(&self.reader)
                    .await?
            }
        };
        Ok(bound)
    }

    pub async fn seq_keeping_newest(&self, max_rows: u64) -> Result<Option<i64>, StoreError> {
        let offset = i64::try_from(max_rows).unwrap_or(i64::MAX);
        Ok(
            sqlx::query_scalar("SELECT seq FROM journal ORDER BY seq DESC LIMIT 1 OFFSET ?")
                .bind(offset)
                .fetch_optional(&self.reader)
                .await?,
        )
    }

    pub async fn delete_through(&self, up_to: i64, limit: u64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM journal WHERE seq IN (SELECT seq FROM journal WHERE seq <= ? ORDER BY seq LIMIT ?)",
        )
        .bind(up_to)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .execute(&self.writer)
        .await?;
        self.journal_writer.recent().deleted_through(up_to);
        Ok(done.rows_affected())
    }

    pub async fn forget_position(&self, consumer: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM positions WHERE consumer = ?")
            .bind(consumer)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM journal")
            .fetch_one(&self.reader)
            .await?)
    }

    pub async fn counts_by_tenant(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows =
            sqlx::query("SELECT tenant, COUNT(*) FROM journal GROUP BY tenant ORDER BY tenant")
                .fetch_all(&self.reader)
                .await?;
        rows.into_iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Inserts a tenant; false when the name is taken.
    pub async fn register_tenant(&self, t: &RegisteredTenant) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT OR IGNORE INTO tenant_registry (name, region, base_url, client_id, api_key, created_at)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&t.name)
        .bind(t.region.as_deref())
        .bind(t.base_url.as_deref())
        .bind(&t.client_id)
        .bind(&t.sealed_api_key)
        .bind(t.created_at)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn registered_tenants(&self) -> Result<Vec<RegisteredTenant>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, region, base_url, client_id, api_key, created_at FROM tenant_registry ORDER BY name",
        )
        .fetch_all(&self.writer)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(RegisteredTenant {
                    name: r.try_get(0)?,
                    region: r.try_get(1)?,
                    base_url: r.try_get(2)?,
                    client_id: r.try_get(3)?,
                    sealed_api_key: r.try_get(4)?,
                    created_at: r.try_get(5)?,
                })
            })
            .collect()
    }

    pub async fn remove_tenant(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM tenant_registry WHERE name = ?")
            .bind(name)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded list must be exactly the migration directory, with the version,
    /// description and checksum sqlx's own resolver derives from it.
    #[tokio::test]
    async fn embedded_migrations_match_the_directory() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        let from_dir = Migrator::new(dir.as_path()).await.unwrap();
        let embedded = migrator();
        let key = |m: &Migration| (m.version, m.description.to_string(), m.checksum.to_vec());
        assert_eq!(
            embedded.iter().map(key).collect::<Vec<_>>(),
            from_dir.iter().map(key).collect::<Vec<_>>()
        );
    }

    fn ev(id: u64, ts: i64) -> Event {
        Event::from_json(&format!(
            r#"{{"id":{id},"event_type_id":1090519054,"timestamp":{ts},"timestamp_nanoseconds":0}}"#
        ))
        .unwrap()
    }

    #[tokio::test]
    async fn append_dedups_and_commits_cursor_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open_sqlite(&dir.path().join("j.db"))
            .await
            .unwrap();
        let big = 6_533_241_145_273_614_339u64;
        let c1 = Cursor {
            time: 10,
            seen_ids: vec![big],
        };
        let out = store
            .append("acme", "poll", &[ev(1, 9), ev(big, 10)], Some(&c1))
            .await
            .unwrap();
        assert_eq!((out.inserted, out.duplicates, out.head), (2, 0, 2));
        // Same events again, one new, another tenant with the same id.
        let out = store
            .append("acme", "poll", &[ev(big, 10), ev(3, 11)], None)
            .await
            .unwrap();
        assert_eq!((out.inserted, out.duplicates), (1, 1));
        store
            .append("globex", "poll", &[ev(big, 10)], None)
            .await
            .unwrap();
        let rows = store.read_after(0, 10).await.unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[1].event_id, big);
        // Increasing, not dense: an ignored duplicate may burn a sequence number.
        assert!(rows.windows(2).all(|w| w[0].seq < w[1].seq));
        assert_eq!(store.cursor("acme", "poll").await.unwrap(), Some(c1));
        assert_eq!(store.head(), rows[3].seq);
        // Derived ids (bit 63 set) round-trip too.
        let derived = u64::MAX - 5;
        store
            .append("acme", "poll", &[ev(derived, 12)], None)
            .await
            .unwrap();
        assert_eq!(
            store.read_after(rows[3].seq, 10).await.unwrap()[0].event_id,
            derived
        );
        assert_eq!(store.count().await.unwrap(), 5);
    }

    #[tokio::test]
    async fn re_read_events_cost_no_sequence_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open_sqlite(&dir.path().join("j.db"))
            .await
            .unwrap();
        store
            .append("a", "poll", &[ev(1, 1), ev(2, 2), ev(3, 3)], None)
            .await
            .unwrap();
        let head = store.head();
        for _ in 0..5 {
            let out = store
                .append_new("a", "poll", &[ev(1, 1), ev(2, 2), ev(3, 3)], None)
                .await
                .unwrap();
            assert_eq!((out.inserted, out.duplicates), (0, 3));
        }
        let out = store
            .append_new("a", "poll", &[ev(2, 2), ev(4, 4)], None)
            .await
            .unwrap();
        assert_eq!((out.inserted, out.duplicates), (1, 1));
        assert_eq!(
            store.head(),
            head + 1,
            "no number was used up by the re-reads"
        );
    }

    /// Reads answered from memory (`Recent`) are exactly what SQLite holds, also when
    /// another writer (a second process) appends in between.
    #[tokio::test]
    async fn reads_of_just_appended_rows_match_the_journal_with_two_writers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.db");
        let a = crate::store::Store::open_sqlite(&path).await.unwrap();
        let b = crate::store::Store::open_sqlite(&path).await.unwrap();
        let key = |rows: Vec<JournalEntry>| -> Vec<(i64, String, u64, std::sync::Arc<str>)> {
            rows.into_iter()
                .map(|r| (r.seq, r.tenant, r.event_id, r.raw))
                .collect()
        };
        let from_sqlite = |after| {
            let reader = JournalReader::new(&path);
            key(reader.read_after(after, 100).unwrap())
        };
        a.append("t", "poll", &[ev(1, 1), ev(2, 2)], None)
            .await
            .unwrap();
        b.append("t", "poll", &[ev(3, 3)], None).await.unwrap();
        // A duplicate burns no row; a new one lands after b's.
        a.append("t", "poll", &[ev(2, 2), ev(4, 4)], None)
            .await
            .unwrap();
        a.append("u", "stream", &[ev(4, 4)], None).await.unwrap();
        for after in 0..6 {
            assert_eq!(
                key(a.read_after(after, 100).await.unwrap()),
                from_sqlite(after),
                "after {after}"
            );
            assert_eq!(key(a.read_after(after, 1).await.unwrap()), {
                let mut v = from_sqlite(after);
                v.truncate(1);
                v
            });
        }
        assert_eq!(from_sqlite(0).len(), 5);
        let rows = a.read_after(0, 100).await.unwrap();
        assert_eq!(
            (
                rows[4].source.as_str(),
                rows[4].event_type_id,
                rows[4].event_time
            ),
            ("stream", 1090519054, 4)
        );
    }

    #[tokio::test]
    async fn positions_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.db");
        {
            let store = crate::store::Store::open_sqlite(&path).await.unwrap();
            store
                .append("a", "poll", &[ev(1, 1), ev(2, 2)], None)
                .await
                .unwrap();
            store
                .commit_position(
                    "file",
                    &Position {
                        seq: 2,
                        state: Some("{\"len\":10}".into()),
                    },
                )
                .await
                .unwrap();
            store.close().await;
        }
        let store = crate::store::Store::open_sqlite(&path).await.unwrap();
        assert_eq!(store.head(), 2);
        let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(store.writer_pool())
            .await
            .unwrap();
        assert_eq!(page_size, 16384);
        let p = store.position("file").await.unwrap().unwrap();
        assert_eq!(p.seq, 2);
        assert_eq!(p.state.as_deref(), Some("{\"len\":10}"));
    }
}
