//! PostgreSQL backend (>= 13, nothing beyond what a stock server offers), for several
//! replicas on one database.
//!
//! By role: `journal.rs` (append, read) and `partitions.rs` (the journal's daily
//! partitions: created ahead, dropped by retention). The other tables' queries are shared
//! with SQLite (`store::db`).

mod journal;
pub(super) mod partitions;

use super::types::StoreError;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::str::FromStr;
use std::time::Duration;

/// Serialises journal appends across every replica: sequence numbers are then committed in
/// order, so a consumer that has read up to `seq` can never later find a smaller one appear
/// (a gap it already moved past). Advisory locks are per database, so the key includes the
/// schema: stores in other schemas of the same database do not wait for each other.
pub(super) const JOURNAL_LOCK: &str =
    "SELECT pg_advisory_xact_lock(hashtext(current_schema()), 5001)";

/// Serialises partition DDL between replicas (per schema, as above).
pub(super) const PARTITION_LOCK: &str =
    "SELECT pg_advisory_xact_lock(hashtext(current_schema()), 5002)";

/// The schema migrations (`migrations/postgres/NNNN_description.sql`), embedded.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "store",
        include_str!("../../../migrations/postgres/0001_store.sql"),
    ),
    (
        2,
        "cluster",
        include_str!("../../../migrations/postgres/0002_cluster.sql"),
    ),
    (
        3,
        "isolation state",
        include_str!("../../../migrations/postgres/0003_isolation_state.sql"),
    ),
    (
        4,
        "backfills",
        include_str!("../../../migrations/postgres/0004_backfills.sql"),
    ),
];

fn migrator() -> Migrator {
    super::db::migrator(MIGRATIONS)
}

#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    maintenance: Maintenance,
}

/// Creates the coming days' partitions in the background (hourly).
#[derive(Clone, Debug)]
struct Maintenance {
    stop: tokio_util::sync::CancellationToken,
    _guard: std::sync::Arc<tokio_util::sync::DropGuard>,
}

const MAINTAIN_EVERY: Duration = Duration::from_secs(3600);

/// `url` with its password replaced, for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "(an unparsable URL)".to_string(),
    }
}

impl PgStore {
    /// Connects, creates `schema` if needed, migrates (sqlx takes an advisory lock, so
    /// replicas starting together migrate once) and creates the journal's partitions.
    /// A transaction left idle longer than `idle_tx_timeout` is ended by the server: a
    /// replica stopped (SIGSTOP, a VM pause) inside a fenced write would otherwise keep the
    /// lease row locked, and no other replica could take the lease over.
    pub async fn open(
        url: &str,
        schema: Option<&str>,
        idle_tx_timeout: Duration,
    ) -> Result<PgStore, StoreError> {
        let open_err = |source| StoreError::Connect {
            target: redact_url(url),
            source,
        };
        let mut options = PgConnectOptions::from_str(url).map_err(open_err)?;
        // One connection first, on its own: a server that refuses it says so at once, with
        // its reason, instead of the pool's timeout 30 s later.
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect_with(&options)
            .await
            .map_err(open_err)?;
        if let Some(schema) = schema {
            let quoted = format!("\"{}\"", schema.replace('"', "\"\""));
            let created = sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS {quoted}"
            )))
            .execute(&mut conn)
            .await;
            match created {
                // Another replica created it at the same moment (IF NOT EXISTS does not
                // cover a concurrent CREATE).
                Err(sqlx::Error::Database(e))
                    if matches!(e.code().as_deref(), Some("23505" | "42P06")) => {}
                other => {
                    other.map_err(open_err)?;
                }
            }
            options = options.options([("search_path", schema)]);
        }
        sqlx::Connection::close(conn).await.map_err(open_err)?;
        let ms = idle_tx_timeout.as_millis().max(1000).to_string();
        options = options.options([("idle_in_transaction_session_timeout", ms.as_str())]);
        // The store's queries are short; JIT compiling one (the append's CTE crosses the
        // default cost threshold) took longer than running it.
        options = options.options([("jit", "off")]);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .map_err(open_err)?;
        migrator().run(&pool).await?;
        partitions::ensure(&pool, super::now_millis()).await?;
        Ok(PgStore {
            maintenance: Maintenance::start(pool.clone()),
            pool,
        })
    }

    /// Whether sebridge has a store at `url` (in `schema`, else the server's search path):
    /// its migrations table exists. Creates nothing.
    pub async fn exists(url: &str, schema: Option<&str>) -> Result<bool, StoreError> {
        let open_err = |source| StoreError::Connect {
            target: redact_url(url),
            source,
        };
        let options = PgConnectOptions::from_str(url).map_err(open_err)?;
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect_with(&options)
            .await
            .map_err(open_err)?;
        let table = match schema {
            Some(s) => format!("\"{}\"._sqlx_migrations", s.replace('"', "\"\"")),
            None => "_sqlx_migrations".to_string(),
        };
        let found: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
            .bind(table)
            .fetch_one(&mut conn)
            .await
            .map_err(open_err)?;
        let _ = sqlx::Connection::close(conn).await;
        Ok(found.is_some())
    }

    pub(super) fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.maintenance.stop.cancel();
        self.pool.close().await;
    }
}

/// Refuses the transaction's writes unless `f` is still the lease's owner and epoch. The
/// row is locked FOR SHARE until the transaction ends, so a takeover (which updates it) waits
/// for this write to commit and cannot slip in between the check and the commit.
pub(crate) async fn check_fence(
    conn: &mut sqlx::PgConnection,
    f: &super::Fence,
) -> Result<(), StoreError> {
    let held: Option<i64> = sqlx::query_scalar(
        "SELECT epoch FROM leases WHERE name = $1 AND owner = $2 AND epoch = $3 FOR SHARE",
    )
    .bind(&f.lease)
    .bind(&f.owner)
    .bind(f.epoch)
    .fetch_optional(&mut *conn)
    .await?;
    match held {
        Some(_) => Ok(()),
        None => {
            metrics::counter!("sebridge_fenced_writes_total", "lease" => f.lease.clone())
                .increment(1);
            Err(StoreError::Fenced {
                lease: f.lease.clone(),
                epoch: f.epoch,
            })
        }
    }
}

impl PgStore {
    /// A consumer's position, committed only while `fence` holds.
    pub async fn commit_position(
        &self,
        consumer: &str,
        pos: &super::Position,
        fence: &super::Fence,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        check_fence(&mut tx, fence).await?;
        sqlx::query(super::db::POSITION_SQL)
            .bind(consumer)
            .bind(pos.seq)
            .bind(pos.state.as_deref())
            .bind(super::now_millis())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

impl Maintenance {
    fn start(pool: PgPool) -> Maintenance {
        let stop = tokio_util::sync::CancellationToken::new();
        let s = stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(MAINTAIN_EVERY) => {}
                    _ = s.cancelled() => return,
                }
                if let Err(e) = partitions::ensure(&pool, super::now_millis()).await {
                    tracing::warn!(error = %e, "cannot create the journal's next partitions; will retry");
                }
            }
        });
        Maintenance {
            _guard: std::sync::Arc::new(stop.clone().drop_guard()),
            stop,
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A fresh schema of the machine's PostgreSQL per test (`SEBRIDGE_TEST_POSTGRES_URL`, default
    //! `postgres://postgres@127.0.0.1:5432/test`).

    pub fn url() -> String {
        std::env::var("SEBRIDGE_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
    }

    /// Drops a test's schema and everything in it.
    pub async fn drop_schema(schema: &str) {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&url()).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        let _ = conn.close().await;
    }

    /// A schema name no other test uses.
    pub fn schema() -> String {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        format!(
            "t_{}_{}_{}",
            std::process::id(),
            super::super::now_millis(),
            N.fetch_add(1, Ordering::Relaxed)
        )
    }
}
