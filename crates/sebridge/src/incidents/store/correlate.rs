//! The engine's writes, in its batch transaction: find the open incident an event joins,
//! open a new one, add an event (a work-note line), and commit the engine's journal position.

use super::Tx;
use super::{IncidentStore, NewIncidentRow, OpenIncident};
use crate::store::{id_to_db, now_millis, on_tx, StoreError};

impl IncidentStore {
    pub async fn tx_find_open(
        tx: &mut Tx,
        key: &str,
        min_last_event_time: i64,
    ) -> Result<Option<OpenIncident>, StoreError> {
        type Row = (i64, String, i64, i64, Option<i64>);
        let row: Option<Row> = on_tx!(tx, |c| {
            sqlx::query_as(
                "SELECT id, severity, last_event_time, event_count, last_note_at FROM incidents
                 WHERE correlation_key = $1 AND status = 'open' AND last_event_time >= $2
                 ORDER BY id DESC LIMIT 1",
            )
            .bind(key)
            .bind(min_last_event_time)
            .fetch_optional(c)
            .await?
        });
        Ok(row.map(
            |(id, severity, last_event_time, event_count, last_note_at)| OpenIncident {
                id,
                severity,
                last_event_time,
                event_count,
                last_note_at,
            },
        ))
    }

    /// Inserts an incident; `None` when its correlation id exists already (a batch processed
    /// again after a crash between the engine's commit and nothing else: cannot happen with a
    /// single transaction, but the unique key keeps it true regardless).
    pub async fn tx_insert(tx: &mut Tx, n: &NewIncidentRow) -> Result<Option<i64>, StoreError> {
        let now = now_millis();
        let id: Option<i64> = on_tx!(tx, |c| {
            sqlx::query_scalar(
            "INSERT INTO incidents (tenant, correlation_key, correlation_id, rule, status,
             severity, title, connector_guid, hostname, sha256, detection, event_type,
             first_event_id, first_seq, first_event_time, last_event_time, event_count,
             snow_short, snow_description, xdr_title, xdr_description, links, isolate,
             triage_group, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 1, $16, $17, $18, $19, $20, $21, $22, $23, $24)
             ON CONFLICT DO NOTHING RETURNING id",
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
        .fetch_optional(c)
        .await?
        });
        Ok(id)
    }

    /// Adds an event to an incident (its line goes into the next work note unless `noted`).
    #[allow(clippy::too_many_arguments)]
    pub async fn tx_add_event(
        tx: &mut Tx,
        incident_id: i64,
        seq: i64,
        event_id: u64,
        event_time: i64,
        severity: Option<&str>,
        line: &str,
        noted: bool,
    ) -> Result<(), StoreError> {
        on_tx!(tx, |c| {
            sqlx::query(
            "INSERT INTO incident_events (incident_id, seq, event_id, event_time, severity, line, noted)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(incident_id)
        .bind(seq)
        .bind(id_to_db(event_id))
        .bind(event_time)
        .bind(severity)
        .bind(line)
        .bind(i64::from(noted))
        .execute(c)
        .await?.rows_affected()
        });
        Ok(())
    }

    /// Records a later event on an open incident.
    pub async fn tx_touch(
        tx: &mut Tx,
        id: i64,
        last_event_time: i64,
        severity: &str,
    ) -> Result<(), StoreError> {
        on_tx!(tx, |c| {
            sqlx::query(
            "UPDATE incidents SET last_event_time = CASE WHEN last_event_time > $1 THEN last_event_time ELSE $1 END, severity = $2,
             event_count = event_count + 1, updated_at = $3 WHERE id = $4",
        )
        .bind(last_event_time)
        .bind(severity)
        .bind(now_millis())
        .bind(id)
        .execute(c)
        .await?.rows_affected()
        });
        Ok(())
    }

    /// The consumer's position, in the caller's transaction (same table as sinks use).
    pub async fn tx_commit_position(
        tx: &mut Tx,
        consumer: &str,
        seq: i64,
    ) -> Result<(), StoreError> {
        on_tx!(tx, |c| {
            sqlx::query(
            "INSERT INTO positions (consumer, seq, state, updated_at) VALUES ($1, $2, NULL, $3)
             ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at",
        )
        .bind(consumer)
        .bind(seq)
        .bind(now_millis())
        .execute(c)
        .await?.rows_affected()
        });
        Ok(())
    }
}
