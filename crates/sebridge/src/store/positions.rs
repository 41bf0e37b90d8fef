//! Where everyone stands: poll cursors (per tenant and source) and consumer positions (per
//! sink and the incident engine).

use super::db::{on_db, Db};
use crate::store::{now_millis, Cursor, Position, StoreError};

impl Db {
    pub async fn cursor(&self, tenant: &str, source: &str) -> Result<Option<Cursor>, StoreError> {
        let row: Option<(i64, String)> = on_db!(writer self, |p| {
            sqlx::query_as(
                "SELECT cursor_time, seen_ids FROM cursors WHERE tenant = $1 AND source = $2",
            )
            .bind(tenant)
            .bind(source)
            .fetch_optional(p)
            .await?
        });
        let Some((time, seen)) = row else {
            return Ok(None);
        };
        let seen_ids = serde_json::from_str(&seen).map_err(|e| StoreError::Corrupt {
            what: "cursor",
            detail: format!("tenant {tenant}, source {source}: {e}"),
        })?;
        Ok(Some(Cursor { time, seen_ids }))
    }

    pub async fn delete_cursor(&self, tenant: &str, source: &str) -> Result<(), StoreError> {
        on_db!(writer self, |p| {
            sqlx::query("DELETE FROM cursors WHERE tenant = $1 AND source = $2")
                .bind(tenant)
                .bind(source)
                .execute(p)
                .await?.rows_affected()
        });
        Ok(())
    }

    /// The range a tenant's backfill covers: `(since, finished_at)` (epoch s, epoch ms).
    pub async fn backfill_range(
        &self,
        tenant: &str,
    ) -> Result<Option<(i64, Option<i64>)>, StoreError> {
        Ok(on_db!(writer self, |p| {
            sqlx::query_as("SELECT since, finished_at FROM backfills WHERE tenant = $1")
                .bind(tenant)
                .fetch_optional(p)
                .await?
        }))
    }

    /// Records the range a tenant's backfill covers (replacing the one before).
    pub async fn set_backfill_range(
        &self,
        tenant: &str,
        since: i64,
        finished_at: Option<i64>,
    ) -> Result<(), StoreError> {
        on_db!(writer self, |p| {
            sqlx::query(
                "INSERT INTO backfills (tenant, since, finished_at) VALUES ($1, $2, $3)
                 ON CONFLICT (tenant) DO UPDATE SET since = excluded.since,
                     finished_at = excluded.finished_at",
            )
            .bind(tenant)
            .bind(since)
            .bind(finished_at)
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    pub async fn position(&self, consumer: &str) -> Result<Option<Position>, StoreError> {
        let row: Option<(i64, Option<String>)> = on_db!(writer self, |p| {
            sqlx::query_as("SELECT seq, state FROM positions WHERE consumer = $1")
                .bind(consumer)
                .fetch_optional(p)
                .await?
        });
        Ok(row.map(|(seq, state)| Position { seq, state }))
    }

    pub async fn commit_position(&self, consumer: &str, pos: &Position) -> Result<(), StoreError> {
        on_db!(writer self, |p| {
            sqlx::query(super::db::POSITION_SQL)
            .bind(consumer)
            .bind(pos.seq)
            .bind(pos.state.as_deref())
            .bind(now_millis())
            .execute(p)
            .await?.rows_affected()
        });
        Ok(())
    }

    pub async fn positions(&self) -> Result<Vec<(String, Position)>, StoreError> {
        let rows: Vec<(String, i64, Option<String>)> = on_db!(reader self, |p| {
            sqlx::query_as("SELECT consumer, seq, state FROM positions ORDER BY consumer")
                .fetch_all(p)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(c, seq, state)| (c, Position { seq, state }))
            .collect())
    }

    pub async fn forget_position(&self, consumer: &str) -> Result<bool, StoreError> {
        let done = on_db!(writer self, |p| {
            sqlx::query("DELETE FROM positions WHERE consumer = $1")
                .bind(consumer)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }
}
