//! Closing an incident: the close notice (from ServiceNow or the CLI) queues the undo steps;
//! a containment still wanted by another open incident on the same host is handed over.

use super::{CloseInfo, CloseResult, IncidentStore};
use crate::store::{now_millis, StoreError};
use sqlx::Row;

impl IncidentStore {
    /// Starts closing an incident: queues closing XDR, releasing the isolation we started
    /// and restoring the group we changed (and resolving the ticket when the close comes
    /// from here). A second notice changes nothing.
    pub async fn close(
        &self,
        id: i64,
        actor: &str,
        info: &CloseInfo,
    ) -> Result<CloseResult, StoreError> {
        let mut tx = self.writer.begin().await?;
        let row = sqlx::query(
            "SELECT status, tenant, isolate, triage_group, snow_number, xdr_id FROM incidents WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(CloseResult::NotFound);
        };
        let status: String = row.try_get(0)?;
        let tenant: String = row.try_get(1)?;
        if status != "open" {
            Self::tx_audit(
                &mut tx,
                Some(id),
                Some(&tenant),
                actor,
                "close_ignored",
                &format!("close notice for an incident already {status}: nothing to do"),
            )
            .await?;
            tx.commit().await?;
            return Ok(CloseResult::AlreadyClosed);
        }
        let isolate: i64 = row.try_get(2)?;
        let triage: Option<String> = row.try_get(3)?;
        let now = now_millis();
        sqlx::query(
            "UPDATE incidents SET status = 'closing', close_source = ?, close_code = ?, close_notes = ?,
             closed_at = ?, updated_at = ? WHERE id = ?",
        )
        .bind(actor)
        .bind(&info.close_code)
        .bind(&info.close_notes)
        .bind(info.closed_at)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let mut queued = vec!["xdr_close"];
        Self::tx_enqueue(&mut tx, id, "xdr", "xdr_close", now).await?;
        if isolate != 0 {
            Self::tx_enqueue(&mut tx, id, "endpoint", "unisolate", now).await?;
            queued.push("unisolate");
        }
        if triage.is_some() {
            Self::tx_enqueue(&mut tx, id, "endpoint", "restore_group", now).await?;
            queued.push("restore_group");
        }
        if info.resolve_ticket {
            Self::tx_enqueue(&mut tx, id, "servicenow", "snow_resolve", now).await?;
            queued.push("snow_resolve");
        }
        Self::tx_audit(
            &mut tx,
            Some(id),
            Some(&tenant),
            actor,
            "close_requested",
            &format!(
                "close code {:?}; queued {}",
                info.close_code.as_deref().unwrap_or(""),
                queued.join(", ")
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(CloseResult::Closing)
    }

    /// Another open incident on the same host that also wants `what` (`isolate` or `move`),
    /// to hand a shared containment over instead of lifting it under its feet.
    pub async fn other_open_on_host(
        &self,
        tenant: &str,
        connector_guid: &str,
        exclude: i64,
        what: &str,
    ) -> Result<Option<i64>, StoreError> {
        let cond = if what == "isolate" {
            "isolate = 1"
        } else {
            "triage_group IS NOT NULL"
        };
        let v: Option<i64> = sqlx::query_scalar(safe_sql!(
            "SELECT id FROM incidents WHERE tenant = ? AND connector_guid = ? AND id != ?
             AND status = 'open' AND {cond} ORDER BY id LIMIT 1"
        ))
        .bind(tenant)
        .bind(connector_guid)
        .bind(exclude)
        .fetch_optional(&self.reader)
        .await?;
        Ok(v)
    }

    /// Hands our containment of a host to another incident (it will lift it when it closes).
    pub async fn hand_over(
        &self,
        from: i64,
        to: i64,
        what: &str,
        original_group: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        if what == "isolate" {
            sqlx::query("UPDATE incidents SET isolated_by_us = 1 WHERE id = ?")
                .bind(to)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE incidents SET isolated_by_us = 0 WHERE id = ?")
                .bind(from)
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query("UPDATE incidents SET moved_by_us = 1, original_group = COALESCE(?, original_group) WHERE id = ?")
                .bind(original_group)
                .bind(to)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE incidents SET moved_by_us = 0 WHERE id = ?")
                .bind(from)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
