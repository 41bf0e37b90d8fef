//! The journal's daily partitions (`journal_pYYYYMMDD`, by `received_at`): created a few days
//! ahead, and dropped whole by retention once every row in one is behind the given sequence
//! number. Rows outside them land in `journal_default`, which retention deletes row by row.

use super::PARTITION_LOCK;
use crate::store::StoreError;
use sqlx::{AssertSqlSafe, PgPool, Row};

const DAY_MS: i64 = 86_400_000;

/// Days created ahead of today (and kept behind it, for a clock that was set back).
const AHEAD: i64 = 3;

/// `journal_p20261203` for the UTC day holding `ms`.
fn name_of(day_start_ms: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(day_start_ms / 1000).ok()?;
    Some(format!(
        "journal_p{:04}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day()
    ))
}

/// Creates the partitions of yesterday, today and the next [`AHEAD`] days that do not exist.
pub(super) async fn ensure(pool: &PgPool, now_ms: i64) -> Result<(), StoreError> {
    ensure_days(pool, now_ms - DAY_MS, now_ms + AHEAD * DAY_MS).await
}

/// Creates the partition of every day from `from_ms` to `to_ms` (UTC) that does not exist.
pub(crate) async fn ensure_days(pool: &PgPool, from_ms: i64, to_ms: i64) -> Result<(), StoreError> {
    for day in from_ms.div_euclid(DAY_MS)..=to_ms.div_euclid(DAY_MS) {
        let start = day * DAY_MS;
        let Some(name) = name_of(start) else { continue };
        let mut tx = pool.begin().await?;
        sqlx::query(PARTITION_LOCK).execute(&mut *tx).await?;
        let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
            .bind(&name)
            .fetch_one(&mut *tx)
            .await?;
        if exists.is_some() {
            continue;
        }
        // The name and bounds are made here from numbers, never from input.
        let ddl = format!(
            "CREATE TABLE {name} PARTITION OF journal FOR VALUES FROM ({start}) TO ({})",
            start + DAY_MS
        );
        match sqlx::query(AssertSqlSafe(ddl)).execute(&mut *tx).await {
            Ok(_) => tx.commit().await?,
            // The default partition already holds rows of that day (the clock jumped): they
            // stay there, and retention deletes them row by row.
            Err(e) => {
                tracing::warn!(partition = %name, error = %e, "cannot create a journal partition")
            }
        }
    }
    Ok(())
}

/// The day partitions, oldest first.
async fn list(pool: &PgPool) -> Result<Vec<String>, StoreError> {
    let mut names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'journal'::regclass AND c.relname::text LIKE 'journal\\_p%'",
    )
    .fetch_all(pool)
    .await?;
    names.sort();
    Ok(names)
}

/// Drops the oldest day partitions whose rows all have `seq <= up_to` (and their dedup keys),
/// then deletes up to `limit` such rows of the default partition. Returns the rows removed.
pub(super) async fn drop_through(
    pool: &PgPool,
    up_to: i64,
    limit: u64,
    now_ms: i64,
) -> Result<u64, StoreError> {
    let today = now_ms.div_euclid(DAY_MS) * DAY_MS;
    let current = name_of(today).unwrap_or_default();
    let mut removed = 0u64;
    for name in list(pool).await? {
        // Today's and later partitions are still being written to.
        if name >= current {
            break;
        }
        let mut tx = pool.begin().await?;
        sqlx::query(PARTITION_LOCK).execute(&mut *tx).await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT MAX(seq), COUNT(*) FROM {name}"
        )))
        .fetch_one(&mut *tx)
        .await?;
        let (max, count): (Option<i64>, i64) = (row.try_get(0)?, row.try_get(1)?);
        if max.is_some_and(|m| m > up_to) {
            break;
        }
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM journal_keys k USING {name} j
             WHERE k.tenant = j.tenant AND k.event_id = j.event_id"
        )))
        .execute(&mut *tx)
        .await?;
        sqlx::query(AssertSqlSafe(format!("DROP TABLE {name}")))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(partition = %name, rows = count, "journal partition dropped by retention");
        removed += u64::try_from(count).unwrap_or(0);
    }
    let gone = sqlx::query(
        "WITH gone AS (
             DELETE FROM journal_default WHERE seq IN
                 (SELECT seq FROM journal_default WHERE seq <= $1 ORDER BY seq LIMIT $2)
             RETURNING tenant, event_id)
         DELETE FROM journal_keys k USING gone g
         WHERE k.tenant = g.tenant AND k.event_id = g.event_id",
    )
    .bind(up_to)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .execute(pool)
    .await?;
    Ok(removed + gone.rows_affected())
}
