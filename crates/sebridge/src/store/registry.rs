//! The tenant registry (`sebridge tenants add`, API keys sealed) and dead letters (items
//! a source read that are not events, kept with the reason).

use super::db::{on_db, Db};
use crate::store::{now_millis, DeadLetter, RegisteredTenant, StoreError};

impl Db {
    pub async fn dead_letter(
        &self,
        tenant: &str,
        source: &str,
        reason: &str,
        raw: &str,
    ) -> Result<bool, StoreError> {
        let fingerprint = crate::store::fingerprint(raw);
        let inserted = on_db!(writer self, |p| {
            sqlx::query(
                "INSERT INTO dead_letters (tenant, source, reason, raw, received_at, fingerprint)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(tenant)
            .bind(source)
            .bind(reason)
            .bind(raw)
            .bind(now_millis())
            .bind(fingerprint)
            .execute(p)
            .await?.rows_affected()
        });
        Ok(inserted == 1)
    }

    pub async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        type Row = (i64, String, String, String, String, i64);
        let rows: Vec<Row> = on_db!(reader self, |p| {
            sqlx::query_as(
                "SELECT id, tenant, source, reason, raw, received_at FROM dead_letters
                 ORDER BY id DESC LIMIT $1",
            )
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(id, tenant, source, reason, raw, received_at)| DeadLetter {
                    id,
                    tenant,
                    source,
                    reason,
                    raw,
                    received_at,
                },
            )
            .collect())
    }

    pub async fn register_tenant(&self, t: &RegisteredTenant) -> Result<bool, StoreError> {
        let done = on_db!(writer self, |p| {
            sqlx::query(
                "INSERT INTO tenant_registry (name, region, base_url, client_id, api_key, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(&t.name)
            .bind(t.region.as_deref())
            .bind(t.base_url.as_deref())
            .bind(&t.client_id)
            .bind(&t.sealed_api_key)
            .bind(t.created_at)
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    pub async fn registered_tenants(&self) -> Result<Vec<RegisteredTenant>, StoreError> {
        type Row = (String, Option<String>, Option<String>, String, Vec<u8>, i64);
        let rows: Vec<Row> = on_db!(writer self, |p| {
            sqlx::query_as(
                "SELECT name, region, base_url, client_id, api_key, created_at
                 FROM tenant_registry ORDER BY name",
            )
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(name, region, base_url, client_id, sealed_api_key, created_at)| {
                    RegisteredTenant {
                        name,
                        region,
                        base_url,
                        client_id,
                        sealed_api_key,
                        created_at,
                    }
                },
            )
            .collect())
    }

    pub async fn remove_tenant(&self, name: &str) -> Result<bool, StoreError> {
        let done = on_db!(writer self, |p| {
            sqlx::query("DELETE FROM tenant_registry WHERE name = $1")
                .bind(name)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }
}
