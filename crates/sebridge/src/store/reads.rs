//! Journal lookups whose query is the same on both backends (counts, bounds for retention,
//! `replay --since`), on the read pool. Appends, reads after a position and deletes are each
//! backend's own (`sqlite/`, `postgres/`).

use super::db::{on_db, Db};
use super::StoreError;

impl Db {
    /// The first seq received at or after `millis`: `received_at` grows with `seq` (one
    /// writer on SQLite; taken under the append lock on PostgreSQL).
    pub async fn first_seq_received_since(&self, millis: i64) -> Result<Option<i64>, StoreError> {
        Ok(on_db!(reader self, |p| {
            sqlx::query_scalar("SELECT MIN(seq) FROM journal WHERE received_at >= $1")
                .bind(millis)
                .fetch_one(p)
                .await?
        }))
    }

    pub async fn count_after(&self, after_seq: i64) -> Result<i64, StoreError> {
        Ok(on_db!(reader self, |p| {
            sqlx::query_scalar("SELECT COUNT(*) FROM journal WHERE seq > $1")
                .bind(after_seq)
                .fetch_one(p)
                .await?
        }))
    }

    pub async fn oldest(&self) -> Result<Option<(i64, i64)>, StoreError> {
        Ok(on_db!(reader self, |p| {
            sqlx::query_as("SELECT seq, received_at FROM journal ORDER BY seq LIMIT 1")
                .fetch_optional(p)
                .await?
        }))
    }

    pub async fn seq_keeping_newest(&self, max_rows: u64) -> Result<Option<i64>, StoreError> {
        let offset = i64::try_from(max_rows).unwrap_or(i64::MAX);
        Ok(on_db!(reader self, |p| {
            sqlx::query_scalar("SELECT seq FROM journal ORDER BY seq DESC LIMIT 1 OFFSET $1")
                .bind(offset)
                .fetch_optional(p)
                .await?
        }))
    }

    pub async fn count(&self) -> Result<i64, StoreError> {
        Ok(on_db!(reader self, |p| {
            sqlx::query_scalar("SELECT COUNT(*) FROM journal")
                .fetch_one(p)
                .await?
        }))
    }

    pub async fn counts_by_tenant(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(on_db!(reader self, |p| {
            sqlx::query_as("SELECT tenant, COUNT(*) FROM journal GROUP BY tenant ORDER BY tenant")
                .fetch_all(p)
                .await?
        }))
    }
}
