//! What the replicas of a PostgreSQL store are doing: `sebridge cluster status`, `/status`.

use super::manager::ClusterError;
use crate::store::{Db, Store};
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct ReplicaRow {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub started_at: i64,
    pub heartbeat_at: i64,
    /// Heartbeat within the last lease period (by the database's clock).
    pub alive: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct LeaseRow {
    pub name: String,
    pub owner: Option<String>,
    pub epoch: i64,
    /// Milliseconds until it expires (negative: expired), by the database's clock.
    pub expires_in_ms: i64,
    pub takeovers: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClusterStatus {
    pub replicas: Vec<ReplicaRow>,
    pub leases: Vec<LeaseRow>,
}

/// Replicas seen within `lease_ms` count as alive.
pub async fn read(store: &Store, lease_ms: i64) -> Result<ClusterStatus, ClusterError> {
    let Db::Postgres(pool) = store.db() else {
        return Err(ClusterError::NotShared);
    };
    type R = (String, String, i64, i64, i64, bool);
    let replicas: Vec<R> = sqlx::query_as(
        "SELECT id, host, pid, started_at, heartbeat_at,
                heartbeat_at > (extract(epoch FROM clock_timestamp()) * 1000)::bigint - $1
         FROM replicas ORDER BY started_at, id",
    )
    .bind(lease_ms)
    .fetch_all(pool)
    .await?;
    type L = (String, Option<String>, i64, i64, i64);
    let leases: Vec<L> = sqlx::query_as(
        "SELECT name, owner, epoch,
                expires_at - (extract(epoch FROM clock_timestamp()) * 1000)::bigint, takeovers
         FROM leases ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    Ok(ClusterStatus {
        replicas: replicas
            .into_iter()
            .map(
                |(id, host, pid, started_at, heartbeat_at, alive)| ReplicaRow {
                    id,
                    host,
                    pid,
                    started_at,
                    heartbeat_at,
                    alive,
                },
            )
            .collect(),
        leases: leases
            .into_iter()
            .map(|(name, owner, epoch, expires_in_ms, takeovers)| LeaseRow {
                name,
                owner,
                epoch,
                expires_in_ms,
                takeovers,
            })
            .collect(),
    })
}

/// The replica holding `unit`'s lease now (by the database's clock), if any.
pub async fn holder(store: &Store, unit: &str) -> Result<Option<String>, ClusterError> {
    let Db::Postgres(pool) = store.db() else {
        return Err(ClusterError::NotShared);
    };
    Ok(sqlx::query_scalar(
        "SELECT owner FROM leases WHERE name = $1 AND owner IS NOT NULL
         AND expires_at > (extract(epoch FROM clock_timestamp()) * 1000)::bigint",
    )
    .bind(unit)
    .fetch_optional(pool)
    .await?)
}
