//! The journal on PostgreSQL: append (events and the source's cursor in one transaction,
//! serialised across replicas), read after a position, the head, retention (counts:
//! `store/reads.rs`).

use super::{partitions, PgStore, JOURNAL_LOCK};
use crate::store::{
    id_from_db, id_to_db, now_millis, severity_from_db, severity_to_db, AppendOutcome, Cursor,
    Fence, JournalEntry, StoreError,
};
use secure_endpoint::Event;
use sqlx::postgres::PgRow;
use sqlx::Row;

/// One statement per batch: the events as arrays (the first of each id), their keys claimed
/// (an index probe each: known ids are skipped and use up no sequence number), the new ones
/// numbered in their order (volatile functions of a select list run after its ORDER BY) and
/// written. `received_at` is the database's clock, read under the append lock, so it grows
/// with `seq` whichever replica appends.
const APPEND_SQL: &str = "
WITH input AS (
    SELECT DISTINCT ON (event_id) *
    FROM unnest($3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::smallint[], $8::text[])
         WITH ORDINALITY AS t(event_id, event_type_id, event_time, raw, severity, connector_guid, ord)
    ORDER BY event_id, ord
),
fresh AS (
    INSERT INTO journal_keys (tenant, event_id)
    SELECT $1, event_id FROM input
    ON CONFLICT DO NOTHING
    RETURNING event_id
)
INSERT INTO journal (seq, tenant, event_id, event_type_id, event_time, received_at, source, raw,
                     severity, connector_guid)
SELECT nextval('journal_seq'), $1, i.event_id, i.event_type_id, i.event_time,
       (extract(epoch FROM clock_timestamp()) * 1000)::bigint, $2, i.raw, i.severity,
       i.connector_guid
FROM input i JOIN fresh USING (event_id)
ORDER BY i.ord
RETURNING seq";

const CURSOR_SQL: &str = "
INSERT INTO cursors (tenant, source, cursor_time, seen_ids, updated_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (tenant, source) DO UPDATE SET cursor_time = excluded.cursor_time,
    seen_ids = excluded.seen_ids, updated_at = excluded.updated_at";

const READ_AFTER_SQL: &str = "SELECT seq, tenant, event_id, event_type_id, event_time, \
     received_at, source, raw, severity, connector_guid FROM journal WHERE seq > $1 \
     ORDER BY seq LIMIT $2";

fn entry(r: &PgRow) -> Result<JournalEntry, sqlx::Error> {
    Ok(JournalEntry {
        seq: r.try_get(0)?,
        tenant: r.try_get(1)?,
        event_id: id_from_db(r.try_get(2)?),
        event_type_id: id_from_db(r.try_get(3)?),
        event_time: r.try_get(4)?,
        received_at: r.try_get(5)?,
        source: r.try_get(6)?,
        raw: r.try_get::<&str, _>(7)?.into(),
        severity: severity_from_db(r.try_get(8)?),
        connector_guid: r.try_get(9)?,
    })
}

impl PgStore {
    pub async fn head(&self) -> Result<i64, StoreError> {
        let head: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM journal")
            .fetch_one(&self.pool)
            .await?;
        Ok(head.unwrap_or(0))
    }

    /// Appends `events` (each once per tenant, across replicas) and the cursor, atomically.
    /// Known ids are always skipped before numbering, so a re-read uses up no numbers.
    pub async fn append(
        &self,
        tenant: &str,
        source: &str,
        events: &[Event],
        cursor: Option<&Cursor>,
        fence: Option<&Fence>,
    ) -> Result<AppendOutcome, StoreError> {
        let seen_ids = cursor
            .map(|c| serde_json::to_string(&c.seen_ids))
            .transpose()
            .map_err(|e| StoreError::Corrupt {
                what: "cursor",
                detail: e.to_string(),
            })?;
        let ids: Vec<i64> = events.iter().map(|e| id_to_db(e.id)).collect();
        let types: Vec<i64> = events.iter().map(|e| id_to_db(e.event_type_id)).collect();
        let times: Vec<i64> = events.iter().map(|e| e.timestamp).collect();
        let raws: Vec<&str> = events.iter().map(|e| e.raw()).collect();
        let sevs: Vec<Option<i16>> = events.iter().map(|e| severity_to_db(e.severity)).collect();
        let guids: Vec<Option<&str>> = events.iter().map(|e| e.connector_guid.as_deref()).collect();
        let mut tx = self.pool.begin().await?;
        sqlx::query(JOURNAL_LOCK).execute(&mut *tx).await?;
        if let Some(f) = fence {
            super::check_fence(&mut tx, f).await?;
        }
        let seqs: Vec<i64> = if events.is_empty() {
            Vec::new()
        } else {
            sqlx::query_scalar(APPEND_SQL)
                .bind(tenant)
                .bind(source)
                .bind(&ids)
                .bind(&types)
                .bind(&times)
                .bind(&raws)
                .bind(&sevs)
                .bind(&guids)
                .fetch_all(&mut *tx)
                .await?
        };
        if let (Some(c), Some(seen)) = (cursor, seen_ids) {
            sqlx::query(CURSOR_SQL)
                .bind(tenant)
                .bind(source)
                .bind(c.time)
                .bind(seen)
                .bind(now_millis())
                .execute(&mut *tx)
                .await?;
        }
        let head = match seqs.iter().max() {
            Some(h) => *h,
            None => sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(seq) FROM journal")
                .fetch_one(&mut *tx)
                .await?
                .unwrap_or(0),
        };
        tx.commit().await?;
        let inserted = seqs.len() as u64;
        Ok(AppendOutcome {
            inserted,
            duplicates: events.len() as u64 - inserted,
            head,
        })
    }

    pub async fn read_after(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<JournalEntry>, StoreError> {
        let rows = sqlx::query(READ_AFTER_SQL)
            .bind(after_seq)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(entry).collect::<Result<_, _>>()?)
    }

    pub async fn last_seq_received_before(
        &self,
        cutoff_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        // received_at grows with seq (both taken under the append lock).
        Ok(
            sqlx::query_scalar("SELECT MAX(seq) FROM journal WHERE received_at < $1")
                .bind(cutoff_ms)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Retention: whole day partitions (see `partitions::drop_through`).
    pub async fn delete_through(&self, up_to: i64, limit: u64) -> Result<u64, StoreError> {
        partitions::drop_through(&self.pool, up_to, limit, now_millis()).await
    }
}
