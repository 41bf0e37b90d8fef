//! The store's connections by backend, for the tables whose queries are the same on both
//! (positions, cursors, the registry, dead letters, and the components' own tables).
//!
//! Queries are written once, with `$N` placeholders (sqlx's SQLite driver reads them as
//! `?N`), BIGINT/INTEGER columns read as `i64` and flags as 0/1. [`on_db!`] and [`on_tx!`]
//! compile the same body once per backend, so each arm is plain typed sqlx.

use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

/// The pools of the open store. Cheap to clone.
#[derive(Clone, Debug)]
pub enum Db {
    /// One writer (SQLite serialises writers anyway; one connection keeps commit order) and
    /// a few read-only connections.
    Sqlite {
        writer: SqlitePool,
        reader: SqlitePool,
    },
    Postgres(PgPool),
}

/// A write transaction on either backend.
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// `on_db!(writer db, |pool| body)` / `on_db!(reader db, |pool| body)`: `body` with `pool`
/// bound to the backend's writer (or reader) pool.
macro_rules! on_db {
    (writer $db:expr, |$p:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite { writer: $p, .. } => $body,
            $crate::store::Db::Postgres($p) => $body,
        }
    };
    (reader $db:expr, |$p:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite { reader: $p, .. } => $body,
            $crate::store::Db::Postgres($p) => $body,
        }
    };
}
pub(crate) use on_db;

/// `on_tx!(tx, |conn| body)`: `body` with `conn` the transaction's connection.
macro_rules! on_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match $tx {
            $crate::store::Tx::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::store::Tx::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}
pub(crate) use on_tx;

impl Db {
    /// A write transaction.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Db::Sqlite { writer, .. } => Tx::Sqlite(writer.begin().await?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Db::Postgres(_))
    }
}

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
    }
}

/// A migrator over migrations embedded as `(version, description, sql)`. Listed by hand
/// instead of `sqlx::migrate!`, so the build needs no sqlx proc-macro; version, description
/// and checksum are what the macro produces, so existing databases see the same migrations.
pub(crate) fn migrator(list: &[(i64, &'static str, &'static str)]) -> sqlx::migrate::Migrator {
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    use sqlx::SqlSafeStr;
    Migrator::with_migrations(
        list.iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    std::borrow::Cow::Borrowed(description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    sql.starts_with("-- no-transaction"),
                )
            })
            .collect(),
    )
}

/// A consumer's position upsert (`$1` consumer, `$2` seq, `$3` state, `$4` time).
pub(crate) const POSITION_SQL: &str =
    "INSERT INTO positions (consumer, seq, state, updated_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq, state = excluded.state,
     updated_at = excluded.updated_at";
