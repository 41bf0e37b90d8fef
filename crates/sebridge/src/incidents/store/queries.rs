//! Lookups of incidents (by id, ticket, correlation id; lists and reconciler pages), the
//! lines waiting for the next work note, and the counts for status pages.

use super::{incident_from, row_to_incident, IncidentRow, IncidentStore, IncidentSummary, COLUMNS};
use crate::store::{on_db, StoreError};

impl IncidentStore {
    pub async fn get(&self, id: i64) -> Result<Option<IncidentRow>, StoreError> {
        on_db!(reader & self.db, |p| {
            let row = sqlx::query(safe_sql!("SELECT {COLUMNS} FROM incidents WHERE id = $1"))
                .bind(id)
                .fetch_optional(p)
                .await?;
            incident_from(row)
        })
    }

    pub async fn by_snow_sys_id(&self, sys_id: &str) -> Result<Option<IncidentRow>, StoreError> {
        on_db!(reader & self.db, |p| {
            let row = sqlx::query(safe_sql!(
                "SELECT {COLUMNS} FROM incidents WHERE snow_sys_id = $1 ORDER BY id DESC LIMIT 1"
            ))
            .bind(sys_id)
            .fetch_optional(p)
            .await?;
            incident_from(row)
        })
    }

    pub async fn by_correlation_id(&self, cid: &str) -> Result<Option<IncidentRow>, StoreError> {
        on_db!(reader & self.db, |p| {
            let row = sqlx::query(safe_sql!(
                "SELECT {COLUMNS} FROM incidents WHERE correlation_id = $1"
            ))
            .bind(cid)
            .fetch_optional(p)
            .await?;
            incident_from(row)
        })
    }

    /// The incident a person names: sebridge's id ("42"), the ServiceNow ticket number
    /// ("INC0010376", any case) or the XDR incident's id (whole URL or its last part).
    pub async fn find(&self, reference: &str) -> Result<Option<IncidentRow>, StoreError> {
        let r = reference.trim().trim_start_matches('#');
        if let Ok(id) = r.parse::<i64>() {
            return self.get(id).await;
        }
        let suffix = format!("%/{r}");
        on_db!(reader & self.db, |p| {
            let row = sqlx::query(safe_sql!(
                "SELECT {COLUMNS} FROM incidents
                 WHERE UPPER(snow_number) = UPPER($1) OR xdr_id = $1 OR xdr_id LIKE $2
                 ORDER BY id DESC LIMIT 1"
            ))
            .bind(r)
            .bind(&suffix)
            .fetch_optional(p)
            .await?;
            incident_from(row)
        })
    }

    /// Incidents, newest first, optionally by status and tenant.
    pub async fn list(
        &self,
        status: Option<&str>,
        tenant: Option<&str>,
        limit: usize,
    ) -> Result<Vec<IncidentRow>, StoreError> {
        on_db!(reader & self.db, |p| {
            let rows = sqlx::query(safe_sql!(
                "SELECT {COLUMNS} FROM incidents WHERE ($1 IS NULL OR status = $1)
             AND ($2 IS NULL OR tenant = $2) ORDER BY id DESC LIMIT $3"
            ))
            .bind(status)
            .bind(tenant)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(p)
            .await?;
            rows.iter()
                .map(row_to_incident)
                .collect::<Result<_, _>>()
                .map_err(StoreError::Query)
        })
    }

    /// Open incidents that have a ServiceNow ticket, by id after `after_id` (reconciler pages).
    pub async fn open_with_ticket(
        &self,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        Ok(on_db!(writer & self.db, |p| {
            sqlx::query_as(
                "SELECT id, snow_sys_id FROM incidents WHERE status = 'open' AND snow_sys_id IS NOT NULL
                 AND id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after_id)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(p)
            .await?
        }))
    }

    /// The lines waiting for the next work note (at most `max`), how many wait in all, and
    /// the highest journal seq among them.
    pub async fn pending_note(
        &self,
        incident_id: i64,
        max: usize,
    ) -> Result<(Vec<String>, i64, Option<i64>), StoreError> {
        on_db!(reader & self.db, |p| {
            let (count, up_to): (i64, Option<i64>) = sqlx::query_as(
                "SELECT COUNT(*), MAX(seq) FROM incident_events WHERE incident_id = $1 AND noted = 0",
            )
            .bind(incident_id)
            .fetch_one(p)
            .await?;
            let lines: Vec<String> = sqlx::query_scalar(
                "SELECT line FROM incident_events WHERE incident_id = $1 AND noted = 0 AND seq <= $2
                 ORDER BY seq LIMIT $3",
            )
            .bind(incident_id)
            .bind(up_to.unwrap_or(0))
            .bind(i64::try_from(max).unwrap_or(i64::MAX))
            .fetch_all(p)
            .await?;
            Ok((lines, count, up_to))
        })
    }

    pub async fn summary(&self) -> Result<IncidentSummary, StoreError> {
        // COUNT(*) FILTER and a BIGINT cast read the same on both backends (PostgreSQL sums
        // BIGINT as NUMERIC).
        type Counts = (i64, i64, i64, i64, i64, i64, i64, i64, i64);
        let (c, (ops_pending, ops_failed)): (Counts, (i64, i64)) = on_db!(reader & self.db, |p| {
            let c = sqlx::query_as(
                "SELECT
                   COUNT(*) FILTER (WHERE status = 'open'), COUNT(*) FILTER (WHERE status = 'closing'),
                   COUNT(*) FILTER (WHERE status = 'closed'), COUNT(snow_sys_id), COUNT(xdr_id),
                   COUNT(*) FILTER (WHERE isolated_by_us = 1 AND isolation_released = 0),
                   COUNT(*) FILTER (WHERE moved_by_us = 1 AND group_restored = 0),
                   CAST(COALESCE(SUM(event_count), 0) AS BIGINT),
                   COUNT(*) FILTER (WHERE isolated_by_us = 1 AND isolation_released = 0
                                    AND isolation_state IN ('pending_start', 'pending_stop'))
                 FROM incidents",
            )
            .fetch_one(p)
            .await?;
            let ops = sqlx::query_as(
                "SELECT COUNT(*) FILTER (WHERE status = 'pending'),
                        COUNT(*) FILTER (WHERE status = 'failed') FROM incident_outbox",
            )
            .fetch_one(p)
            .await?;
            (c, ops)
        });
        let (
            open,
            closing,
            closed,
            snow_tickets,
            xdr_incidents,
            isolated_now,
            moved_now,
            events,
            isolation_pending,
        ) = c;
        Ok(IncidentSummary {
            open,
            closing,
            closed,
            snow_tickets,
            xdr_incidents,
            isolated_now,
            moved_now,
            isolation_pending,
            events,
            ops_pending,
            ops_failed,
        })
    }
}
