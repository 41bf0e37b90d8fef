//! The audit log: one line per step of every incident, written with the change it records.

use super::{AuditEntry, IncidentStore};
use crate::store::{now_millis, StoreError};
use sqlx::{Row, SqliteConnection};

impl IncidentStore {
    pub async fn tx_audit(
        tx: &mut SqliteConnection,
        incident_id: Option<i64>,
        tenant: Option<&str>,
        actor: &str,
        action: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (at, incident_id, tenant, actor, action, detail) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(now_millis())
        .bind(incident_id)
        .bind(tenant)
        .bind(actor)
        .bind(action)
        .bind(detail)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// Audit lines, newest first.
    pub async fn audit(
        &self,
        incident_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, incident_id, tenant, actor, action, detail FROM audit_log
             WHERE (?1 IS NULL OR incident_id = ?1) ORDER BY id DESC LIMIT ?2",
        )
        .bind(incident_id)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get(0)?,
                    at: r.try_get(1)?,
                    incident_id: r.try_get(2)?,
                    tenant: r.try_get(3)?,
                    actor: r.try_get(4)?,
                    action: r.try_get(5)?,
                    detail: r.try_get(6)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::Query)
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
        let mut conn = self.writer.acquire().await?;
        Self::tx_audit(&mut conn, incident_id, tenant, actor, action, detail).await
    }
}
