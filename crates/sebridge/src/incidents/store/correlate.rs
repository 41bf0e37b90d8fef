//! The engine's writes, in its batch transaction: find the open incident an event joins,
//! open a new one, add an event (a work-note line), and commit the engine's journal position.

use super::{id_to_db, IncidentStore, NewIncidentRow, OpenIncident};
use crate::store::{now_millis, StoreError};
use sqlx::{Row, SqliteConnection};

impl IncidentStore {
    pub async fn tx_find_open(
        tx: &mut SqliteConnection,
        key: &str,
        min_last_event_time: i64,
    ) -> Result<Option<OpenIncident>, StoreError> {
        let row = sqlx::query(
            "SELECT id, severity, last_event_time, event_count, last_note_at FROM incidents
             WHERE correlation_key = ? AND status = 'open' AND last_event_time >= ?
             ORDER BY id DESC LIMIT 1",
        )
        .bind(key)
        .bind(min_last_event_time)
        .fetch_optional(&mut *tx)
        .await?;
        row.map(|r| {
            Ok(OpenIncident {
                id: r.try_get(0)?,
                severity: r.try_get(1)?,
                last_event_time: r.try_get(2)?,
                event_count: r.try_get(3)?,
                last_note_at: r.try_get(4)?,
            })
        })
        .transpose()
        .map_err(StoreError::Query)
    }

    /// Inserts an incident; `None` when its correlation id exists already (a batch processed
    /// again after a crash between the engine's commit and nothing else: cannot happen with a
    /// single transaction, but the unique key keeps it true regardless).
    pub async fn tx_insert(
        tx: &mut SqliteConnection,
        n: &NewIncidentRow,
    ) -> Result<Option<i64>, StoreError> {
        let now = now_millis();
        let done = sqlx::query(
            "INSERT OR IGNORE INTO incidents (tenant, correlation_key, correlation_id, rule, status,
             severity, title, connector_guid, hostname, sha256, detection, event_type,
             first_event_id, first_seq, first_event_time, last_event_time, event_count,
             snow_short, snow_description, xdr_title, xdr_description, links, isolate,
             triage_group, created_at, updated_at)
             VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&n.tenant)
        .bind(&n.correlation_key)
        .bind(&n.correlation_id)
        .bind(&n.rule)
        .bind(&n.severity)
        .bind(&n.title)
        .bind(&n.connector_guid)
        .bind(&n.hostname)
        .bind(&n.sha256)
        .bind(&n.detection)
        .bind(&n.event_type)
        .bind(id_to_db(n.first_event_id))
        .bind(n.first_seq)
        .bind(n.first_event_time)
        .bind(n.first_event_time)
        .bind(&n.snow_short)
        .bind(&n.snow_description)
        .bind(&n.xdr_title)
        .bind(&n.xdr_description)
        .bind(&n.links)
        .bind(i64::from(n.isolate))
        .bind(&n.triage_group)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        Ok(Some(done.last_insert_rowid()))
    }

    /// Adds an event to an incident (its line goes into the next work note unless `noted`).
    #[allow(clippy::too_many_arguments)]
    pub async fn tx_add_event(
        tx: &mut SqliteConnection,
        incident_id: i64,
        seq: i64,
        event_id: u64,
        event_time: i64,
        severity: Option<&str>,
        line: &str,
        noted: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT OR IGNORE INTO incident_events (incident_id, seq, event_id, event_time, severity, line, noted)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(incident_id)
        .bind(seq)
        .bind(id_to_db(event_id))
        .bind(event_time)
        .bind(severity)
        .bind(line)
        .bind(i64::from(noted))
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// Records a later event on an open incident.
    pub async fn tx_touch(
        tx: &mut SqliteConnection,
        id: i64,
        last_event_time: i64,
        severity: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE incidents SET last_event_time = MAX(last_event_time, ?), severity = ?,
             event_count = event_count + 1, updated_at = ? WHERE id = ?",
        )
        .bind(last_event_time)
        .bind(severity)
        .bind(now_millis())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// The consumer's position, in the caller's transaction (same table as sinks use).
    pub async fn tx_commit_position(
        tx: &mut SqliteConnection,
        consumer: &str,
        seq: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO positions (consumer, seq, state, updated_at) VALUES (?, ?, NULL, ?)
             ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at",
        )
        .bind(consumer)
        .bind(seq)
        .bind(now_millis())
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}
