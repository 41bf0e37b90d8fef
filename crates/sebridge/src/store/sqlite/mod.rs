//! SQLite backend: WAL, one writer connection (SQLite serialises writers anyway, and a single
//! connection keeps sequence numbers in commit order), a small pool of readers.
//!
//! By role: `journal.rs` (append, read, retention deletes) over `plain.rs` (the
//! journal's hot paths on plain SQLite connections). The other tables' queries (cursors,
//! positions and the registry are shared with PostgreSQL: `store/{positions,registry}.rs`).

mod check;
mod journal;
mod plain;

use self::plain::{JournalReader, JournalWriter};
use super::types::StoreError;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use std::path::Path;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    journal: JournalReader,
    journal_writer: JournalWriter,
    checkpointer: Checkpointer,
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
        include_str!("../../../migrations/sqlite/0001_journal.sql"),
    ),
    (
        2,
        "streams",
        include_str!("../../../migrations/sqlite/0002_streams.sql"),
    ),
    (
        3,
        "sinks",
        include_str!("../../../migrations/sqlite/0003_sinks.sql"),
    ),
    (
        4,
        "incidents",
        include_str!("../../../migrations/sqlite/0004_incidents.sql"),
    ),
    (
        5,
        "dead letter fingerprint",
        include_str!("../../../migrations/sqlite/0005_dead_letter_fingerprint.sql"),
    ),
    (
        6,
        "isolation state",
        include_str!("../../../migrations/sqlite/0006_isolation_state.sql"),
    ),
    (
        7,
        "backfills",
        include_str!("../../../migrations/sqlite/0007_backfills.sql"),
    ),
];

fn migrator() -> Migrator {
    super::db::migrator(MIGRATIONS)
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

impl SqliteStore {
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        // Read-only, before anything below writes to the file (WAL mode, migrations).
        let checked = path.to_path_buf();
        tokio::task::spawn_blocking(move || check::existing(&checked)).await??;
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
}

/// A journal event for the tests of this module's parts.
#[cfg(test)]
pub(crate) fn test_event(id: u64, ts: i64) -> secure_endpoint::Event {
    secure_endpoint::Event::from_json(&format!(
        r#"{{"id":{id},"event_type_id":1090519054,"timestamp":{ts},"timestamp_nanoseconds":0}}"#
    ))
    .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::migrate::Migration;

    /// New journals get 16 KiB pages (see `SqliteStore::open`).
    #[tokio::test]
    async fn new_journals_use_16_kib_pages() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("j.db")).await.unwrap();
        let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(store.writer())
            .await
            .unwrap();
        assert_eq!(page_size, 16384);
        store.close().await;
    }

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
}
