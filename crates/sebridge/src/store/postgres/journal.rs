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

/// The page's dedup keys claimed (an index probe each: known ids are skipped and use up no
/// sequence number), and the new ones numbered in page order (volatile functions of a select
/// list run after its ORDER BY), with the database's clock read under the append lock, so
/// that `received_at` grows with `seq` whichever replica appends. The rows themselves follow
/// by `COPY`, which is the cheapest way into the table.
const CLAIM_SQL: &str = "
WITH fresh AS (
    INSERT INTO journal_keys (tenant, event_id)
    SELECT $1, unnest($2::bigint[])
    ON CONFLICT DO NOTHING
    RETURNING event_id
)
SELECT t.ord, nextval('journal_seq'), (extract(epoch FROM clock_timestamp()) * 1000)::bigint
FROM unnest($2::bigint[]) WITH ORDINALITY AS t(event_id, ord) JOIN fresh USING (event_id)
ORDER BY t.ord";

const COPY_SQL: &str = "COPY journal (seq, tenant, event_id, event_type_id, event_time, \
     received_at, source, raw, severity, connector_guid) FROM STDIN";

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
        // The first of each id in the page (a page may repeat one); the rest are duplicates.
        let mut seen = std::collections::HashSet::with_capacity(events.len());
        let unique: Vec<&Event> = events.iter().filter(|e| seen.insert(e.id)).collect();
        let ids: Vec<i64> = unique.iter().map(|e| id_to_db(e.id)).collect();
        let mut tx = self.pool.begin().await?;
        sqlx::query(JOURNAL_LOCK).execute(&mut *tx).await?;
        if let Some(f) = fence {
            super::check_fence(&mut tx, f).await?;
        }
        let claimed: Vec<(i64, i64, i64)> = if ids.is_empty() {
            Vec::new()
        } else {
            sqlx::query_as(CLAIM_SQL)
                .bind(tenant)
                .bind(&ids)
                .fetch_all(&mut *tx)
                .await?
        };
        if !claimed.is_empty() {
            let mut rows = String::with_capacity(claimed.len() * 2048);
            for &(ord, seq, received_at) in &claimed {
                let e = usize::try_from(ord - 1)
                    .ok()
                    .and_then(|i| unique.get(i))
                    .ok_or_else(|| StoreError::Corrupt {
                        what: "journal append",
                        detail: format!("the database numbered a row {ord} the page does not have"),
                    })?;
                copy_row(&mut rows, seq, tenant, e, received_at, source);
            }
            let mut copy = tx.copy_in_raw(COPY_SQL).await?;
            copy.send(rows.as_bytes()).await?;
            copy.finish().await?;
        }
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
        let head = match claimed.iter().map(|c| c.1).max() {
            Some(h) => h,
            None => sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(seq) FROM journal")
                .fetch_one(&mut *tx)
                .await?
                .unwrap_or(0),
        };
        tx.commit().await?;
        let inserted = claimed.len() as u64;
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

/// One journal row in `COPY`'s text format (public so that the benches' ceiling sends the
/// very bytes an append sends).
pub fn copy_row(
    out: &mut String,
    seq: i64,
    tenant: &str,
    e: &Event,
    received_at: i64,
    source: &str,
) {
    use std::fmt::Write;
    let _ = write!(out, "{seq}\t");
    push_copy_text(out, tenant);
    let _ = write!(
        out,
        "\t{}\t{}\t{}\t{received_at}\t",
        id_to_db(e.id),
        id_to_db(e.event_type_id),
        e.timestamp
    );
    push_copy_text(out, source);
    out.push('\t');
    push_copy_text(out, e.raw());
    match severity_to_db(e.severity) {
        Some(s) => {
            let _ = write!(out, "\t{s}\t");
        }
        None => out.push_str("\t\\N\t"),
    }
    match &e.connector_guid {
        Some(g) => push_copy_text(out, g),
        None => out.push_str("\\N"),
    }
    out.push('\n');
}

/// `text` as a field of `COPY … FROM STDIN`'s text format: backslash, tab, newline and
/// carriage return escaped, everything else as it is.
pub fn push_copy_text(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(i) = rest.find(['\\', '\t', '\n', '\r']) {
        out.push_str(&rest[..i]);
        out.push_str(match rest.as_bytes()[i] {
            b'\\' => "\\\\",
            b'\t' => "\\t",
            b'\n' => "\\n",
            _ => "\\r",
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}
