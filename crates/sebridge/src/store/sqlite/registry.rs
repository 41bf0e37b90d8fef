//! The tenant registry (`sebridge tenants add`, API keys sealed) and dead letters (items
//! a source read that are not events, kept with the reason).

use super::SqliteStore;
use crate::store::{now_millis, DeadLetter, RegisteredTenant, StoreError};
use sqlx::Row;

impl SqliteStore {
    pub async fn dead_letter(
        &self,
        tenant: &str,
        source: &str,
        reason: &str,
        raw: &str,
    ) -> Result<(), StoreError> {
        let fingerprint = crate::store::fingerprint(raw);
        sqlx::query(
            "INSERT OR IGNORE INTO dead_letters (tenant, source, reason, raw, received_at, fingerprint)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(tenant)
        .bind(source)
        .bind(reason)
        .bind(raw)
        .bind(now_millis())
        .bind(fingerprint)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant, source, reason, raw, received_at FROM dead_letters ORDER BY id DESC LIMIT ?",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(DeadLetter {
                    id: r.try_get(0)?,
                    tenant: r.try_get(1)?,
                    source: r.try_get(2)?,
                    reason: r.try_get(3)?,
                    raw: r.try_get(4)?,
                    received_at: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// Inserts a tenant; false when the name is taken.
    pub async fn register_tenant(&self, t: &RegisteredTenant) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT OR IGNORE INTO tenant_registry (name, region, base_url, client_id, api_key, created_at)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&t.name)
        .bind(t.region.as_deref())
        .bind(t.base_url.as_deref())
        .bind(&t.client_id)
        .bind(&t.sealed_api_key)
        .bind(t.created_at)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn registered_tenants(&self) -> Result<Vec<RegisteredTenant>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, region, base_url, client_id, api_key, created_at FROM tenant_registry ORDER BY name",
        )
        .fetch_all(&self.writer)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(RegisteredTenant {
                    name: r.try_get(0)?,
                    region: r.try_get(1)?,
                    base_url: r.try_get(2)?,
                    client_id: r.try_get(3)?,
                    sealed_api_key: r.try_get(4)?,
                    created_at: r.try_get(5)?,
                })
            })
            .collect()
    }

    pub async fn remove_tenant(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM tenant_registry WHERE name = ?")
            .bind(name)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
