//! What `SqliteStore::open` checks, read-only, before it touches a file that already exists:
//! that it is a SQLite database at all, that it is whole, and that it is a sebridge store
//! this version can run (or an empty database). Opening runs `PRAGMA journal_mode=WAL` and
//! the schema migrations, which would rewrite another application's database, so anything
//! else is refused with what was found and what to do, and the file is left as it was.

use super::migrator;
use crate::store::StoreError;
use std::io::Read;
use std::path::Path;

/// The first 16 bytes of every SQLite 3 database.
const MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// What to do about a file that is not a sebridge store.
const NOT_OURS: &str = "Point `[store] path` at the sebridge journal, or move this file away \
     and sebridge creates a new, empty journal there.";
/// What to do about a damaged store.
const DAMAGED: &str = "Restore the file from a backup, or move it away and sebridge starts a \
     new, empty journal there (sources then read again from their `since`/`lookback`, and \
     sinks receive those events again).";

/// Refuses an existing file that `open` must not touch. A missing or empty file is a new
/// store.
pub(super) fn existing(path: &Path) -> Result<(), StoreError> {
    let unusable = |problem: String, advice: &str| StoreError::Unusable {
        path: path.to_path_buf(),
        problem,
        advice: advice.to_string(),
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(unusable(
                format!("it cannot be read ({e})"),
                "Check the path and its permissions.",
            ))
        }
    };
    if meta.is_dir() {
        return Err(unusable(
            "it is a directory".into(),
            "Set `[store] path` to a file (e.g. `<dir>/sebridge.db`).",
        ));
    }
    if meta.len() == 0 {
        return Ok(());
    }
    let mut header = Vec::with_capacity(100);
    std::fs::File::open(path)
        .and_then(|f| f.take(100).read_to_end(&mut header))
        .map_err(|e| unusable(format!("it cannot be read ({e})"), "Check its permissions."))?;
    let start = &header[..header.len().min(MAGIC.len())];
    if start != &MAGIC[..start.len()] {
        return Err(unusable(
            "it is not a SQLite database (it does not start with the SQLite header)".into(),
            NOT_OURS,
        ));
    }
    if header.len() < 100 {
        return Err(unusable(
            format!(
                "it is truncated: {} bytes, shorter than a SQLite header",
                meta.len()
            ),
            DAMAGED,
        ));
    }
    if let Some(expected) = size_from_header(&header) {
        // With a write-ahead log the newest pages may still be there, and SQLite recovers.
        let wal_len = std::fs::metadata(sidecar(path, "-wal")).map_or(0, |m| m.len());
        if meta.len() < expected && wal_len == 0 {
            return Err(unusable(
                format!(
                    "it is truncated: its header says {expected} bytes, the file holds {}",
                    meta.len()
                ),
                DAMAGED,
            ));
        }
    }
    schema(path).map_err(|(problem, advice)| unusable(problem, advice))
}

/// The database size the header announces, when the header says it is valid (SQLite
/// 3.7.0 and later keep it; the change counter at 24 equals the version-valid-for at 92).
fn size_from_header(h: &[u8]) -> Option<u64> {
    let be32 = |at: usize| u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
    let page_size = match u16::from_be_bytes([h[16], h[17]]) {
        1 => 65536,
        n => u64::from(n),
    };
    let pages = u64::from(be32(28));
    (pages > 0 && page_size >= 512 && be32(24) == be32(92)).then_some(pages * page_size)
}

fn sidecar(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    s.into()
}

/// `path` for a `file:` URI: every byte but letters, digits and `/._~-` percent-encoded.
fn uri_path(path: &Path) -> String {
    let mut out = String::new();
    for &b in path.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || b"/._~-".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reads the tables and the applied migrations on a read-only connection.
fn schema(path: &Path) -> Result<(), (String, &'static str)> {
    let sqlite = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => (
            format!("it is not a SQLite database (SQLite: {e})"),
            NOT_OURS,
        ),
        Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
            (format!("it is damaged (SQLite: {e})"), DAMAGED)
        }
        _ => (format!("SQLite cannot read it ({e})"), DAMAGED),
    };
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let wal_len = std::fs::metadata(sidecar(path, "-wal")).map_or(0, |m| m.len());
    let conn = if wal_len == 0 {
        // Nothing in a write-ahead log: the file alone is the database. `immutable` reads it
        // without creating the `-wal` and `-shm` files a read-only WAL connection would.
        rusqlite::Connection::open_with_flags(
            format!("file:{}?immutable=1", uri_path(path)),
            flags | rusqlite::OpenFlags::SQLITE_OPEN_URI,
        )
    } else {
        rusqlite::Connection::open_with_flags(path, flags)
    }
    .map_err(sqlite)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(sqlite)?;
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
             ORDER BY name",
        )
        .and_then(|mut s| {
            s.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()
        })
        .map_err(sqlite)?;
    if tables.is_empty() {
        return Ok(());
    }
    let has = |t: &str| tables.iter().any(|n| n == t);
    let foreign = || {
        let mut shown: Vec<&str> = tables.iter().take(8).map(String::as_str).collect();
        if tables.len() > shown.len() {
            shown.push("...");
        }
        (
            format!(
                "it is a SQLite database of another application (its tables: {})",
                shown.join(", ")
            ),
            NOT_OURS,
        )
    };
    if !has("_sqlx_migrations") || !has("journal") {
        return Err(foreign());
    }
    let applied: Vec<(i64, bool, Vec<u8>)> = conn
        .prepare("SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(sqlite)?;
    let migrator = migrator();
    let known: Vec<(i64, &[u8])> = migrator
        .iter()
        .map(|m| (m.version, m.checksum.as_ref()))
        .collect();
    let newest_known = known.iter().map(|k| k.0).max().unwrap_or(0);
    for (version, success, checksum) in &applied {
        match known.iter().find(|k| k.0 == *version) {
            Some((_, sum)) if *sum != checksum.as_slice() => return Err(foreign()),
            Some(_) if !success => {
                return Err((
                    format!("its schema migration {version} did not complete"),
                    DAMAGED,
                ))
            }
            Some(_) => {}
            None if *version > newest_known => {
                return Err((
                    format!(
                        "it was written by a newer sebridge (schema version {}; this sebridge \
                         knows versions up to {newest_known})",
                        applied.iter().map(|a| a.0).max().unwrap_or(*version)
                    ),
                    "Run the sebridge release that wrote it, or a newer one: a store is never \
                     downgraded.",
                ))
            }
            None => return Err(foreign()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    fn problem(path: &Path) -> String {
        match existing(path) {
            Err(StoreError::Unusable { problem, .. }) => problem,
            other => panic!("{}: expected a refusal, got {other:?}", path.display()),
        }
    }

    async fn store(path: &Path) {
        SqliteStore::open(path).await.expect("opens").close().await;
    }

    #[tokio::test]
    async fn missing_empty_and_blank_databases_are_new_stores() {
        let dir = tempfile::tempdir().unwrap();
        assert!(existing(&dir.path().join("missing.db")).is_ok());
        let empty = dir.path().join("empty.db");
        std::fs::write(&empty, b"").unwrap();
        store(&empty).await;
        // A SQLite database without tables (e.g. made by `sqlite3 x.db VACUUM`).
        let blank = dir.path().join("blank.db");
        rusqlite::Connection::open(&blank)
            .unwrap()
            .execute_batch("VACUUM")
            .unwrap();
        store(&blank).await;
        // And a store, once made, opens again.
        store(&blank).await;
        assert!(existing(&blank).is_ok());
    }

    #[tokio::test]
    async fn a_directory_another_sqlx_schema_and_a_failed_migration_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(problem(dir.path()), "it is a directory");
        let other = dir.path().join("other.db");
        store(&other).await;
        let c = rusqlite::Connection::open(&other).unwrap();
        c.execute(
            "UPDATE _sqlx_migrations SET checksum = x'0102' WHERE version = 1",
            [],
        )
        .unwrap();
        drop(c);
        assert!(
            problem(&other).starts_with("it is a SQLite database of another application"),
            "{}",
            problem(&other)
        );
        let dirty = dir.path().join("dirty.db");
        store(&dirty).await;
        let c = rusqlite::Connection::open(&dirty).unwrap();
        c.execute(
            "UPDATE _sqlx_migrations SET success = 0 WHERE version = 5",
            [],
        )
        .unwrap();
        drop(c);
        assert_eq!(problem(&dirty), "its schema migration 5 did not complete");
    }

    #[test]
    fn the_header_size_is_read_only_when_valid() {
        let mut h = vec![0u8; 100];
        h[..16].copy_from_slice(MAGIC);
        h[16..18].copy_from_slice(&16384u16.to_be_bytes());
        h[28..32].copy_from_slice(&10u32.to_be_bytes());
        h[24..28].copy_from_slice(&7u32.to_be_bytes());
        h[92..96].copy_from_slice(&7u32.to_be_bytes());
        assert_eq!(size_from_header(&h), Some(163_840));
        h[92..96].copy_from_slice(&6u32.to_be_bytes());
        assert_eq!(size_from_header(&h), None, "stale: SQLite ignores it too");
        h[16..18].copy_from_slice(&1u16.to_be_bytes());
        h[92..96].copy_from_slice(&7u32.to_be_bytes());
        assert_eq!(size_from_header(&h), Some(655_360), "1 means 65536");
    }

    #[test]
    fn uri_paths_escape_what_a_uri_cannot_hold() {
        assert_eq!(
            uri_path(Path::new("/a b/x?y#z%.db")),
            "/a%20b/x%3Fy%23z%25.db"
        );
    }
}
