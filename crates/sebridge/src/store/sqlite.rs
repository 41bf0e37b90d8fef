//! SQLite backend: WAL, one writer connection (SQLite serialises writers anyway, and a single
//! connection keeps sequence numbers in commit order), a small pool of readers.

use super::{
    now_millis, AppendOutcome, Cursor, DeadLetter, JournalEntry, Position, RegisteredTenant,
    StoreError,
};
use secure_endpoint::{Event, Severity};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlSafeStr;
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

/// Rows per INSERT statement: 7 parameters a row stays far below SQLite's variable limit,
/// and one statement per chunk avoids a round trip to the database thread per event.
const INSERT_CHUNK: usize = 200;

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
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(30))?;
        Ok(conn)
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
                raw: r.get(7)?,
                severity: severity_from_db(r.get(8)?),
                connector_guid: r.get(9)?,
            })
        })?;
        rows.collect()
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
            checkpointer: Checkpointer::start(checkpoint_pool),
        })
    }

    /// The incident tables share the pools (one writer keeps commit order).
    pub fn incidents(&self) -> super::incidents::IncidentStore {
        super::incidents::IncidentStore {
            writer: self.writer.clone(),
            reader: self.reader.clone(),
        }
    }

    /// The single writer connection (also used by other store modules).
    pub(super) fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    pub async fn close(&self) {
        self.checkpointer.stop.cancel();
        self.checkpointer.pool.close().await;
        self.reader.close().await;
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
        let received_at = now_millis();
        let mut tx = self.writer.begin().await?;
        let mut inserted = 0u64;
        let given = events.len() as u64;
        let kept: Vec<Event>;
        let events = if skip_known && !events.is_empty() {
            // Events read again on purpose (overlap re-read): an ignored INSERT would still
            // use up an AUTOINCREMENT number, so known ids are filtered out first.
            let mut known = std::collections::HashSet::new();
            for chunk in events.chunks(INSERT_CHUNK) {
                let mut qb: QueryBuilder<Sqlite> =
                    QueryBuilder::new("SELECT event_id FROM journal WHERE tenant = ");
                qb.push_bind(tenant).push(" AND event_id IN (");
                let mut ids = qb.separated(", ");
                for e in chunk {
                    ids.push_bind(id_to_db(e.id));
                }
                qb.push(")");
                let rows: Vec<i64> = qb.build_query_scalar().fetch_all(&mut *tx).await?;
                known.extend(rows.into_iter().map(id_from_db));
            }
            kept = events
                .iter()
                .filter(|e| !known.contains(&e.id))
                .cloned()
                .collect();
            kept.as_slice()
        } else {
            events
        };
        for chunk in events.chunks(INSERT_CHUNK) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT OR IGNORE INTO journal (tenant, event_id, event_type_id, event_time, received_at, source, raw, severity, connector_guid) ",
            );
            qb.push_values(chunk, |mut b, e| {
                b.push_bind(tenant)
                    .push_bind(id_to_db(e.id))
                    .push_bind(id_to_db(e.event_type_id))
                    .push_bind(e.timestamp)
                    .push_bind(received_at)
                    .push_bind(source)
                    .push_bind(e.raw())
                    .push_bind(severity_to_db(e.severity))
                    .push_bind(e.connector_guid.as_deref());
            });
            inserted += qb.build().execute(&mut *tx).await?.rows_affected();
        }
        if let Some(c) = cursor {
            let seen = serde_json::to_string(&c.seen_ids).map_err(|e| StoreError::Corrupt {
                what: "cursor",
                detail: e.to_string(),
            })?;
            sqlx::query(
                "INSERT INTO cursors (tenant, source, cursor_time, seen_ids, updated_at) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (tenant, source) DO UPDATE SET cursor_time = excluded.cursor_time,
                 seen_ids = excluded.seen_ids, updated_at = excluded.updated_at",
            )
            .bind(tenant)
            .bind(source)
            .bind(c.time)
            .bind(seen)
            .bind(received_at)
            .execute(&mut *tx)
            .await?;
        }
        let head: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM journal")
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(AppendOutcome {
            inserted,
            duplicates: given - inserted,
            head: head.unwrap_or(0),
        })
    }

    pub async fn read_after(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<JournalEntry>, StoreError> {
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
        let p = store.position("file").await.unwrap().unwrap();
        assert_eq!(p.seq, 2);
        assert_eq!(p.state.as_deref(), Some("{\"len\":10}"));
    }
}
