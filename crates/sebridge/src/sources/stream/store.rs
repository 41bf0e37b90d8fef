//! Stored event streams (`sebridge streams create`), table `event_streams`: the sealed AMQP
//! credentials and the non-secret parts for listing. The methods extend [`Store`] so that
//! the stream component keeps its rows beside its code.

use crate::store::{id_from_db, id_to_db, on_db, Store, StoreError};

/// An event stream as stored; `sealed_credentials` opens with the master key.
#[derive(Clone, Debug)]
pub struct StoredStream {
    pub tenant: String,
    pub stream_id: u64,
    pub name: String,
    pub queue_name: String,
    pub host: String,
    pub port: String,
    pub proto: String,
    pub event_types: Vec<u64>,
    pub group_guids: Vec<String>,
    pub sealed_credentials: Vec<u8>,
    pub created_at: i64,
}

impl Store {
    /// Stores a stream; false when the tenant already has a stream with this id or name.
    pub async fn save_stream(&self, s: &StoredStream) -> Result<bool, StoreError> {
        let types = serde_json::to_string(&s.event_types).map_err(|e| StoreError::Corrupt {
            what: "event stream",
            detail: e.to_string(),
        })?;
        let groups = serde_json::to_string(&s.group_guids).map_err(|e| StoreError::Corrupt {
            what: "event stream",
            detail: e.to_string(),
        })?;
        let done = on_db!(writer self.db(), |p| {
            sqlx::query(
            "INSERT INTO event_streams (tenant, stream_id, name, queue_name, host, port,
             proto, event_types, group_guids, credentials, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
        )
        .bind(&s.tenant)
        .bind(id_to_db(s.stream_id))
        .bind(&s.name)
        .bind(&s.queue_name)
        .bind(&s.host)
        .bind(&s.port)
        .bind(&s.proto)
        .bind(types)
        .bind(groups)
        .bind(&s.sealed_credentials)
        .bind(s.created_at)
        .execute(p)
        .await?
        .rows_affected()
        });
        Ok(done == 1)
    }

    /// Streams of one tenant (or of every tenant), by tenant then name.
    pub async fn streams(&self, tenant: Option<&str>) -> Result<Vec<StoredStream>, StoreError> {
        type Row = (
            String,
            i64,
            String,
            String,
            String,
            String,
            String,
            String,
            String,
            Vec<u8>,
            i64,
        );
        let rows: Vec<Row> = on_db!(writer self.db(), |p| {
            sqlx::query_as(
                "SELECT tenant, stream_id, name, queue_name, host, port, proto, event_types,
                 group_guids, credentials, created_at FROM event_streams
                 WHERE $1 IS NULL OR tenant = $1 ORDER BY tenant, name",
            )
            .bind(tenant)
            .fetch_all(p)
            .await?
        });
        let corrupt = |e: serde_json::Error| StoreError::Corrupt {
            what: "event stream",
            detail: e.to_string(),
        };
        rows.into_iter()
            .map(|r| {
                Ok(StoredStream {
                    tenant: r.0,
                    stream_id: id_from_db(r.1),
                    name: r.2,
                    queue_name: r.3,
                    host: r.4,
                    port: r.5,
                    proto: r.6,
                    event_types: serde_json::from_str(&r.7).map_err(corrupt)?,
                    group_guids: serde_json::from_str(&r.8).map_err(corrupt)?,
                    sealed_credentials: r.9,
                    created_at: r.10,
                })
            })
            .collect()
    }

    /// Removes a stream; false when there was none.
    pub async fn remove_stream(&self, tenant: &str, stream_id: u64) -> Result<bool, StoreError> {
        let done = on_db!(writer self.db(), |p| {
            sqlx::query("DELETE FROM event_streams WHERE tenant = $1 AND stream_id = $2")
                .bind(tenant)
                .bind(id_to_db(stream_id))
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }
}
