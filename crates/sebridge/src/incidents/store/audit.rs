//! The audit log: one line per step of every incident, written with the change it records.

use super::Tx;
use super::{AuditEntry, IncidentStore};
use crate::store::{now_millis, on_db, StoreError};

const AUDIT_SQL: &str =
    "INSERT INTO audit_log (at, incident_id, tenant, actor, action, detail) VALUES ($1, $2, $3, $4, $5, $6)";

impl IncidentStore {
    pub async fn tx_audit(
        tx: &mut Tx,
        incident_id: Option<i64>,
        tenant: Option<&str>,
        actor: &str,
        action: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        crate::store::on_tx!(tx, |c| {
            sqlx::query(AUDIT_SQL)
                .bind(now_millis())
                .bind(incident_id)
                .bind(tenant)
                .bind(actor)
                .bind(action)
                .bind(detail)
                .execute(c)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    /// Audit lines, newest first.
    pub async fn audit(
        &self,
        incident_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        type Row = (
            i64,
            i64,
            Option<i64>,
            Option<String>,
            String,
            String,
            String,
        );
        let rows: Vec<Row> = on_db!(reader & self.db, |p| {
            sqlx::query_as(
                "SELECT id, at, incident_id, tenant, actor, action, detail FROM audit_log
                 WHERE ($1 IS NULL OR incident_id = $1) ORDER BY id DESC LIMIT $2",
            )
            .bind(incident_id)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(id, at, incident_id, tenant, actor, action, detail)| AuditEntry {
                    id,
                    at,
                    incident_id,
                    tenant,
                    actor,
                    action,
                    detail,
                },
            )
            .collect())
    }

    /// Writes one audit line outside any other change (webhook refusals, reconciler runs).
    pub async fn audit_line(
        &self,
        incident_id: Option<i64>,
        tenant: Option<&str>,
        actor: &str,
        action: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        on_db!(writer & self.db, |p| {
            sqlx::query(AUDIT_SQL)
                .bind(now_millis())
                .bind(incident_id)
                .bind(tenant)
                .bind(actor)
                .bind(action)
                .bind(detail)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(())
    }
}
