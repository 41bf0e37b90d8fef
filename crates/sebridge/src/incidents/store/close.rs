//! Closing an incident: the close notice (from ServiceNow or the CLI) queues the undo steps;
//! a containment still wanted by another open incident on the same host is handed over.

use super::{CloseInfo, CloseResult, IncidentStore};
use crate::store::{now_millis, on_db, on_tx, StoreError};

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
        let mut tx = self.begin().await?;
        let row: Option<(String, String, i64, Option<String>)> = on_tx!(&mut tx, |c| {
            sqlx::query_as(
                "SELECT status, tenant, isolate, triage_group FROM incidents WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(c)
            .await?
        });
        let Some((status, tenant, isolate, triage)) = row else {
            return Ok(CloseResult::NotFound);
        };
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
        let now = now_millis();
        on_tx!(&mut tx, |c| {
            sqlx::query(
            "UPDATE incidents SET status = 'closing', close_source = $1, close_code = $2, close_notes = $3,
             closed_at = $4, updated_at = $5 WHERE id = $6",
        )
        .bind(actor)
        .bind(&info.close_code)
        .bind(&info.close_notes)
        .bind(info.closed_at)
        .bind(now)
        .bind(id)
        .execute(c)
        .await?.rows_affected()
        });
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
        let v: Option<i64> = on_db!(reader & self.db, |p| {
            sqlx::query_scalar(safe_sql!(
                "SELECT id FROM incidents WHERE tenant = $1 AND connector_guid = $2 AND id != $3
             AND status = 'open' AND {cond} ORDER BY id LIMIT 1"
            ))
            .bind(tenant)
            .bind(connector_guid)
            .bind(exclude)
            .fetch_optional(p)
            .await?
        });
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
        let mut tx = self.begin().await?;
        if what == "isolate" {
            on_tx!(&mut tx, |c| {
                sqlx::query("UPDATE incidents SET isolated_by_us = 1 WHERE id = $1")
                    .bind(to)
                    .execute(c)
                    .await?
                    .rows_affected()
            });
            on_tx!(&mut tx, |c| {
                sqlx::query("UPDATE incidents SET isolated_by_us = 0 WHERE id = $1")
                    .bind(from)
                    .execute(c)
                    .await?
                    .rows_affected()
            });
        } else {
            on_tx!(&mut tx, |c| {
                sqlx::query("UPDATE incidents SET moved_by_us = 1, original_group = COALESCE($1, original_group) WHERE id = $2")
                .bind(original_group)
                .bind(to)
                .execute(c)
                .await?.rows_affected()
            });
            on_tx!(&mut tx, |c| {
                sqlx::query("UPDATE incidents SET moved_by_us = 0 WHERE id = $1")
                    .bind(from)
                    .execute(c)
                    .await?
                    .rows_affected()
            });
        }
        tx.commit().await?;
        Ok(())
    }
}
