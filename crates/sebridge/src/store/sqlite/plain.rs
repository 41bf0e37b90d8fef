//! The journal's hot paths on plain SQLite connections (rusqlite, the same SQLite library
//! as sqlx's), used on blocking threads: the reader every sink reads through, and the writer
//! every ingested event goes through.

use crate::store::recent::{self, Recent};
use crate::store::{
    id_from_db, id_to_db, now_millis, severity_from_db, severity_to_db, AppendOutcome, Cursor,
    JournalEntry, StoreError,
};
use secure_endpoint::{Event, Severity};
use std::path::Path;
use std::time::Duration;

/// The journal's read hot path (every sink reads every event through it): plain SQLite
/// connections used on blocking threads. sqlx's driver hands each row from its worker thread
/// to the async side through a channel — a wake-up, an allocation and a copy per row — which
/// made reading the journal the sinks' bottleneck. Same SQLite library as sqlx's.
#[derive(Clone)]
pub(super) struct JournalReader {
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

    pub(super) fn new(path: &Path) -> JournalReader {
        JournalReader {
            path: path.to_path_buf(),
            idle: Default::default(),
        }
    }

    fn connect(&self) -> rusqlite::Result<rusqlite::Connection> {
        open_plain(&self.path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    }

    /// Blocking: call from a blocking thread.
    pub(super) fn read_after(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<JournalEntry>, StoreError> {
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
    pub(super) fn close(&self) {
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
                severity: severity_from_db(
                    r.get::<_, Option<i64>>(8)?
                        .and_then(|v| i16::try_from(v).ok()),
                ),
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
pub(super) struct JournalRow {
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
pub(super) struct CursorRow {
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

pub(super) struct AppendBatch {
    pub(super) tenant: String,
    pub(super) source: String,
    pub(super) rows: Vec<JournalRow>,
    pub(super) cursor: Option<CursorRow>,
    /// Events read again on purpose (overlap re-read): known ids are looked up first,
    /// because an ignored INSERT would still use up an AUTOINCREMENT number.
    pub(super) skip_known: bool,
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
pub(super) struct JournalWriter {
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
    pub(super) fn new(path: &Path) -> JournalWriter {
        JournalWriter {
            path: path.to_path_buf(),
            conn: Default::default(),
            recent: std::sync::Arc::new(std::sync::Mutex::new(Recent::new(recent::DEFAULT_BUDGET))),
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
    pub(super) fn append(&self, b: AppendBatch) -> Result<AppendOutcome, StoreError> {
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

    pub(super) fn recent(&self) -> std::sync::MutexGuard<'_, Recent> {
        // Only plain field updates happen under this lock; a poisoned one is consistent.
        self.recent.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Closes the connection (the next append opens a new one).
    pub(super) fn close(&self) {
        let mut slot = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        slot.take();
        self.recent().clear();
    }
}
