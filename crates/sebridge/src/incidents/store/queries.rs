//! Lookups of incidents (by id, ticket, correlation id; lists and reconciler pages), the
//! lines waiting for the next work note, and the counts for status pages.

use super::{incident_from, row_to_incident, IncidentRow, IncidentStore, IncidentSummary, COLUMNS};
use crate::store::StoreError;
use sqlx::Row;

impl IncidentStore {
    pub async fn get(&self, id: i64) -> Result<Option<IncidentRow>, StoreError> {
        let row = sqlx::query(safe_sql!("SELECT {COLUMNS} FROM incidents WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        incident_from(row)
    }

    pub async fn by_snow_sys_id(&self, sys_id: &str) -> Result<Option<IncidentRow>, StoreError> {
        let row = sqlx::query(safe_sql!(
            "SELECT {COLUMNS} FROM incidents WHERE snow_sys_id = ? ORDER BY id DESC LIMIT 1"
        ))
        .bind(sys_id)
        .fetch_optional(&self.reader)
        .await?;
        incident_from(row)
    }

    pub async fn by_correlation_id(&self, cid: &str) -> Result<Option<IncidentRow>, StoreError> {
        let row = sqlx::query(safe_sql!(
            "SELECT {COLUMNS} FROM incidents WHERE correlation_id = ?"
        ))
        .bind(cid)
        .fetch_optional(&self.reader)
        .await?;
        incident_from(row)
    }

    /// Incidents, newest first, optionally by status and tenant.
    pub async fn list(
        &self,
        status: Option<&str>,
        tenant: Option<&str>,
        limit: usize,
    ) -> Result<Vec<IncidentRow>, StoreError> {
        let rows = sqlx::query(safe_sql!(
            "SELECT {COLUMNS} FROM incidents WHERE (?1 IS NULL OR status = ?1)
             AND (?2 IS NULL OR tenant = ?2) ORDER BY id DESC LIMIT ?3"
        ))
        .bind(status)
        .bind(tenant)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(row_to_incident)
            .collect::<Result<_, _>>()
            .map_err(StoreError::Query)
    }

    /// Open incidents that have a ServiceNow ticket, by id after `after_id` (reconciler pages).
    pub async fn open_with_ticket(
        &self,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, snow_sys_id FROM incidents WHERE status = 'open' AND snow_sys_id IS NOT NULL
             AND id > ? ORDER BY id LIMIT ?",
        )
        .bind(after_id)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.writer)
        .await?;
        rows.into_iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::Query)
    }

    /// The lines waiting for the next work note (at most `max`), how many wait in all, and
    /// the highest journal seq among them.
    pub async fn pending_note(
        &self,
        incident_id: i64,
        max: usize,
    ) -> Result<(Vec<String>, i64, Option<i64>), StoreError> {
        let (count, up_to): (i64, Option<i64>) = {
            let r = sqlx::query(
                "SELECT COUNT(*), MAX(seq) FROM incident_events WHERE incident_id = ? AND noted = 0",
            )
            .bind(incident_id)
            .fetch_one(&self.reader)
            .await?;
            (r.try_get(0)?, r.try_get(1)?)
        };
        let rows = sqlx::query(
            "SELECT line FROM incident_events WHERE incident_id = ? AND noted = 0 AND seq <= ?
             ORDER BY seq LIMIT ?",
        )
        .bind(incident_id)
        .bind(up_to.unwrap_or(0))
        .bind(i64::try_from(max).unwrap_or(i64::MAX))
        .fetch_all(&self.reader)
        .await?;
        let lines = rows
            .into_iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        Ok((lines, count, up_to))
    }

    pub async fn summary(&self) -> Result<IncidentSummary, StoreError> {
        let r = sqlx::query(
            "SELECT
               COALESCE(SUM(status = 'open'), 0), COALESCE(SUM(status = 'closing'), 0),
               COALESCE(SUM(status = 'closed'), 0), COALESCE(SUM(snow_sys_id IS NOT NULL), 0),
               COALESCE(SUM(xdr_id IS NOT NULL), 0),
               COALESCE(SUM(isolated_by_us = 1 AND isolation_released = 0), 0),
               COALESCE(SUM(moved_by_us = 1 AND group_restored = 0), 0),
               COALESCE(SUM(event_count), 0)
             FROM incidents",
        )
        .fetch_one(&self.reader)
        .await?;
        let ops = sqlx::query(
            "SELECT COALESCE(SUM(status = 'pending'), 0), COALESCE(SUM(status = 'failed'), 0) FROM incident_outbox",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok(IncidentSummary {
            open: r.try_get(0)?,
            closing: r.try_get(1)?,
            closed: r.try_get(2)?,
            snow_tickets: r.try_get(3)?,
            xdr_incidents: r.try_get(4)?,
            isolated_now: r.try_get(5)?,
            moved_now: r.try_get(6)?,
            events: r.try_get(7)?,
            ops_pending: ops.try_get(0)?,
            ops_failed: ops.try_get(1)?,
        })
    }
}
