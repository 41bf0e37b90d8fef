//! The journal on SQLite: append (events and the source's cursor in one transaction), read
//! after a position, the head, and retention's bound and deletes (counts: `store/reads.rs`).

use super::plain::{AppendBatch, CursorRow, JournalRow};
use super::SqliteStore;
use crate::store::{AppendOutcome, Cursor, JournalEntry, StoreError};
use secure_endpoint::Event;

impl SqliteStore {
    pub async fn head(&self) -> Result<i64, StoreError> {
        let head: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM journal")
            .fetch_one(&self.writer)
            .await?;
        Ok(head.unwrap_or(0))
    }

    pub async fn append(
        &self,
        tenant: &str,
        source: &str,
        events: &[Event],
        cursor: Option<&Cursor>,
        skip_known: bool,
    ) -> Result<AppendOutcome, StoreError> {
        let batch = AppendBatch {
            tenant: tenant.to_owned(),
            source: source.to_owned(),
            rows: events.iter().map(JournalRow::from).collect(),
            cursor: cursor.map(CursorRow::try_from).transpose()?,
            skip_known,
        };
        // Holding the pool's only writer connection keeps every other write out while this
        // one runs (SQLite has one writer anyway): no lock waits, and no deferred transaction
        // of the pool can find its snapshot outdated halfway. Moved into the blocking job so
        // it is released only when the job ends, even if this future is dropped.
        let exclusive = self.writer.acquire().await?;
        let writer = self.journal_writer.clone();
        tokio::task::spawn_blocking(move || {
            let outcome = writer.append(batch);
            drop(exclusive);
            outcome
        })
        .await?
    }

    pub async fn read_after(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<JournalEntry>, StoreError> {
        if let Some(rows) = self.journal_writer.recent().read_after(after_seq, limit) {
            return Ok(rows);
        }
        let journal = self.journal.clone();
        tokio::task::spawn_blocking(move || journal.read_after(after_seq, limit)).await?
    }

    pub async fn last_seq_received_before(
        &self,
        cutoff_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        // Rows arrive in seq order, so the first row received at or after the cutoff bounds
        // the old ones; the scan touches only the rows that are old (about to be deleted).
        let first_new: Option<i64> = sqlx::query_scalar(
            "SELECT seq FROM journal WHERE received_at >= ? ORDER BY seq LIMIT 1",
        )
        .bind(cutoff_ms)
        .fetch_optional(&self.reader)
        .await?;
        let bound: Option<i64> = match first_new {
            Some(s) => {
                sqlx::query_scalar("SELECT MAX(seq) FROM journal WHERE seq < ?")
                    .bind(s)
                    .fetch_one(&self.reader)
                    .await?
            }
            None => {
                sqlx::query_scalar("SELECT MAX(seq) FROM journal")
                    .fetch_one(&self.reader)
                    .await?
            }
        };
        Ok(bound)
    }

    pub async fn delete_through(&self, up_to: i64, limit: u64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM journal WHERE seq IN (SELECT seq FROM journal WHERE seq <= ? ORDER BY seq LIMIT ?)",
        )
        .bind(up_to)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .execute(&self.writer)
        .await?;
        self.journal_writer.recent().deleted_through(up_to);
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::super::plain::JournalReader;
    use super::super::test_event as ev;
    use crate::store::JournalEntry;

    /// Reads answered from memory (`Recent`) are exactly what SQLite holds, also when
    /// another writer (a second process) appends in between.
    #[tokio::test]
    async fn reads_of_just_appended_rows_match_the_journal_with_two_writers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.db");
        let a = crate::store::Store::open_sqlite(&path).await.unwrap();
        let b = crate::store::Store::open_sqlite(&path).await.unwrap();
        let key = |rows: Vec<JournalEntry>| -> Vec<(i64, String, u64, std::sync::Arc<str>)> {
            rows.into_iter()
                .map(|r| (r.seq, r.tenant, r.event_id, r.raw))
                .collect()
        };
        let from_sqlite = |after| {
            let reader = JournalReader::new(&path);
            key(reader.read_after(after, 100).unwrap())
        };
        a.append("t", "poll", &[ev(1, 1), ev(2, 2)], None)
            .await
            .unwrap();
        b.append("t", "poll", &[ev(3, 3)], None).await.unwrap();
        // A duplicate burns no row; a new one lands after b's.
        a.append("t", "poll", &[ev(2, 2), ev(4, 4)], None)
            .await
            .unwrap();
        a.append("u", "stream", &[ev(4, 4)], None).await.unwrap();
        for after in 0..6 {
            assert_eq!(
                key(a.read_after(after, 100).await.unwrap()),
                from_sqlite(after),
                "after {after}"
            );
            assert_eq!(key(a.read_after(after, 1).await.unwrap()), {
                let mut v = from_sqlite(after);
                v.truncate(1);
                v
            });
        }
        assert_eq!(from_sqlite(0).len(), 5);
        let rows = a.read_after(0, 100).await.unwrap();
        assert_eq!(
            (
                rows[4].source.as_str(),
                rows[4].event_type_id,
                rows[4].event_time
            ),
            ("stream", 1090519054, 4)
        );
    }
}
