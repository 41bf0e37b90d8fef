//! Where everyone stands: poll cursors (per tenant and source) and consumer positions (per
//! sink and the incident engine).

use super::SqliteStore;
use crate::store::{now_millis, Cursor, Position, StoreError};
use sqlx::Row;

impl SqliteStore {
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

    pub async fn forget_position(&self, consumer: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM positions WHERE consumer = ?")
            .bind(consumer)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_event as ev;
    use crate::store::Position;

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
