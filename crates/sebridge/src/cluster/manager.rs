//! The lease loop of one replica, every heartbeat: announce itself, renew what it holds,
//! take free or expired leases up to its fair share (units ÷ live replicas, rounded up),
//! give back what is beyond it (its work stopped first). All times are the database's
//! clock, so replicas whose clocks disagree still agree on who holds what.

use super::{Cluster, Grant, Shared};
use crate::store::{Db, Fence, Store};
use sqlx::PgPool;
use std::collections::HashSet;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("several replicas need the PostgreSQL store ([store] kind = \"postgres\")")]
    NotShared,
    #[error("cluster query failed: {0}")]
    Query(#[from] sqlx::Error),
}

/// The database's clock, epoch ms.
const NOW: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

pub(super) fn replica_id() -> String {
    let host = hostname();
    let nonce: u32 = rand::random();
    format!("{host}:{}:{nonce:08x}", std::process::id())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

fn pool(store: &Store) -> Result<PgPool, ClusterError> {
    match store.db() {
        Db::Postgres(p) => Ok(p.clone()),
        Db::Sqlite { .. } => Err(ClusterError::NotShared),
    }
}

/// Registers the replica and the units, then runs the loop in the background.
pub(super) async fn start(
    cluster: Cluster,
    store: Store,
    units: Vec<String>,
) -> Result<(), ClusterError> {
    let Some(s) = cluster.shared() else {
        return Ok(());
    };
    // Connections of its own: renewals must not queue behind appends waiting for the
    // journal's lock, or a busy replica would lose its leases.
    let options = (*pool(&store)?.connect_options()).clone();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(s.timing.heartbeat())
        .connect_lazy_with(options);
    sqlx::query("INSERT INTO leases (name) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING")
        .bind(&units)
        .execute(&pool)
        .await?;
    announce(&pool, s).await?;
    let handle = cluster.clone();
    let task = tokio::spawn(async move {
        let Some(s) = cluster.shared() else { return };
        loop {
            // A leave does not wait for a tick in flight (a store slow to answer): whatever
            // it took is given back by `release_all` all the same (by owner).
            let ticked = tokio::select! {
                r = tick(s, &pool, &units) => r,
                _ = s.stop.cancelled() => return,
            };
            let wait = match ticked {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot renew or take leases; retrying");
                    s.timing.heartbeat()
                }
            };
            expire_locally(s);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                // The work of a lease being handed over ended: free it now.
                _ = s.work_ended.notified() => {}
                _ = s.stop.cancelled() => return,
            }
        }
    });
    if let Some(s) = handle.shared() {
        *s.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
    }
    Ok(())
}

async fn announce(pool: &PgPool, s: &Shared) -> Result<(), sqlx::Error> {
    let host = hostname();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO replicas (id, host, pid, started_at, heartbeat_at) VALUES ($1, $2, $3, {NOW}, {NOW})
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at"
    )))
    .bind(&s.me)
    .bind(host)
    .bind(i64::from(std::process::id()))
    .execute(pool)
    .await?;
    Ok(())
}

fn set(s: &Shared, unit: &str, grant: Grant) {
    let mut slots = s.slots();
    if let Some(slot) = slots.get_mut(unit) {
        slot.handing_since = matches!(grant, Grant::Handing(_)).then(Instant::now);
        slot.grant.send_if_modified(|cur| {
            if *cur == grant {
                false
            } else {
                *cur = grant;
                true
            }
        });
    }
}

/// Begins giving `unit` back: its work is told to stop; the lease is freed once it has.
fn hand_over(s: &Shared, unit: &str) {
    let held = s
        .slots()
        .get(unit)
        .and_then(|slot| match &*slot.grant.borrow() {
            Grant::Held(f) => Some(f.clone()),
            _ => None,
        });
    if let Some(fence) = held {
        set(s, unit, Grant::Handing(fence));
    }
}

/// Units being handed over whose work has stopped, or that waited longer than `patience`
/// for it (a sink stuck in a write): their leases can be freed.
fn handed_over(s: &Shared, patience: Duration) -> Vec<String> {
    let slots = s.slots();
    let mut done = Vec::new();
    for (unit, slot) in slots.iter() {
        let Some(since) = slot.handing_since else {
            continue;
        };
        if slot.running == 0 {
            done.push(unit.clone());
        } else if since.elapsed() >= patience {
            tracing::warn!(
                unit = %unit,
                waited = ?since.elapsed(),
                "the work of a lease given back has not stopped; freeing the lease anyway (its later writes are refused)"
            );
            done.push(unit.clone());
        }
    }
    done.sort();
    done
}

/// Without a renewal for most of a lease, another replica may hold our leases already:
/// stop their work even though the database could not be asked.
fn expire_locally(s: &Shared) {
    let renewed = *s.renewed_at.lock().unwrap_or_else(|p| p.into_inner());
    let stale = renewed.is_none_or(|t| t.elapsed() >= s.timing.lease.mul_f64(0.8));
    if stale {
        for unit in s.leased() {
            tracing::warn!(
                unit,
                "lease not renewed in time (store unreachable?): stopping its work"
            );
            set(s, &unit, Grant::Lost);
        }
    }
    metrics::gauge!("sebridge_leases_held").set(s.held().len() as f64);
}

/// One heartbeat: renew, take or give back for a fair share. Returns when to come again.
async fn tick(s: &Shared, pool: &PgPool, units: &[String]) -> Result<Duration, sqlx::Error> {
    let sent = Instant::now();
    let lease_ms = i64::try_from(s.timing.lease.as_millis()).unwrap_or(i64::MAX);
    announce(pool, s).await?;
    // Renew: what comes back is still ours (including leases being handed over: their work
    // is still finishing under them).
    let mine: Vec<String> = s.leased();
    let renewed: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE leases SET expires_at = {NOW} + $2 WHERE owner = $1 AND name = ANY($3)
         RETURNING name, epoch"
    )))
    .bind(&s.me)
    .bind(lease_ms)
    .bind(&mine)
    .fetch_all(pool)
    .await?;
    *s.renewed_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(sent);
    let kept: HashSet<&str> = renewed.iter().map(|(n, _)| n.as_str()).collect();
    for unit in &mine {
        if !kept.contains(unit.as_str()) {
            tracing::warn!(unit, "lease taken over by another replica");
            set(s, unit, Grant::Lost);
        }
    }
    let live: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM replicas WHERE heartbeat_at > {NOW} - $1"
    )))
    .bind(lease_ms)
    .fetch_one(pool)
    .await?;
    let live = usize::try_from(live.max(1)).unwrap_or(1);
    let fair = units.len().div_ceil(live);
    let mut held = s.held();
    let holding = held.len();
    if holding < fair && !s.stop.is_cancelled() {
        take(s, pool, units, fair - holding, lease_ms).await?;
    } else if holding > fair {
        // Give back the surplus. Freeing the row at once would refuse the last writes of
        // work still finishing (a sink committing its batch), so the work stops first; the
        // row, still ours and renewed meanwhile, is freed once it has: below if it already
        // has, else at the tick that the end of its last run wakes.
        held.truncate(holding - fair);
        for unit in &held {
            hand_over(s, unit);
        }
        tracing::info!(
            count = held.len(),
            fair,
            "giving leases back for balance: stopping their work first"
        );
    }
    let done = handed_over(s, s.timing.lease);
    if !done.is_empty() {
        sqlx::query(
            "UPDATE leases SET owner = NULL, expires_at = 0 WHERE owner = $1 AND name = ANY($2)",
        )
        .bind(&s.me)
        .bind(&done)
        .execute(pool)
        .await?;
        for unit in &done {
            set(s, unit, Grant::Free);
        }
        tracing::info!(released = done.len(), fair, "leases given back for balance");
    }
    // Replicas gone for long are forgotten.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM replicas WHERE heartbeat_at < {NOW} - 20 * $1"
    )))
    .bind(lease_ms)
    .execute(pool)
    .await?;
    next_tick(s, pool, units).await
}

/// The next heartbeat, or sooner: just after the first of the other replicas' leases
/// expires, if that comes first. Live replicas renew a third of a lease ahead, so only a
/// replica that stopped (killed, paused, cut off) lets a lease run out, and its work is taken
/// over one lease after its last renewal, not up to a heartbeat later.
async fn next_tick(s: &Shared, pool: &PgPool, units: &[String]) -> Result<Duration, sqlx::Error> {
    let soonest: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT MIN(expires_at) - {NOW} FROM leases
         WHERE name = ANY($1) AND owner <> $2 AND expires_at > {NOW}"
    )))
    .bind(units)
    .bind(&s.me)
    .fetch_one(pool)
    .await?;
    let heartbeat = s.timing.heartbeat();
    Ok(match soonest.and_then(|ms| u64::try_from(ms).ok()) {
        // A little after the expiry, so that the lease has run out when we come.
        Some(ms) => Duration::from_millis(ms + 25).min(heartbeat),
        None => heartbeat,
    })
}

async fn take(
    s: &Shared,
    pool: &PgPool,
    units: &[String],
    want: usize,
    lease_ms: i64,
) -> Result<(), sqlx::Error> {
    let taken: Vec<(String, i64, Option<String>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH free AS (
             SELECT name, owner FROM leases
             WHERE name = ANY($2) AND (owner IS NULL OR expires_at < {NOW})
             ORDER BY name LIMIT $3 FOR UPDATE SKIP LOCKED)
         UPDATE leases l SET owner = $1, epoch = l.epoch + 1, expires_at = {NOW} + $4,
             acquired_at = {NOW},
             takeovers = l.takeovers + CASE WHEN free.owner IS NOT NULL AND free.owner <> $1
                                            THEN 1 ELSE 0 END
         FROM free WHERE l.name = free.name
         RETURNING l.name, l.epoch, free.owner"
    )))
    .bind(&s.me)
    .bind(units)
    .bind(i64::try_from(want).unwrap_or(i64::MAX))
    .bind(lease_ms)
    .fetch_all(pool)
    .await?;
    for (unit, epoch, previous) in taken {
        if previous.as_deref().is_some_and(|p| p != s.me) {
            tracing::warn!(unit = %unit, from = previous.as_deref().unwrap_or(""), "lease taken over from a replica that stopped renewing it");
            metrics::counter!("sebridge_lease_takeovers_total").increment(1);
        }
        set(
            s,
            &unit,
            Grant::Held(Fence {
                lease: unit.clone(),
                owner: s.me.clone(),
                epoch,
            }),
        );
    }
    Ok(())
}

/// Gives every held lease back (a clean stop), and leaves the replica list.
pub(super) async fn release_all(cluster: &Cluster, store: &Store) {
    let (Some(s), Ok(pool)) = (cluster.shared(), pool(store)) else {
        return;
    };
    for unit in s.leased() {
        set(s, &unit, Grant::Free);
    }
    // Bounded: a store that does not answer (the pool waits up to 30 s for a connection)
    // must not hold up the stop; the leases then expire on their own.
    let give_back = async {
        sqlx::query("UPDATE leases SET owner = NULL, expires_at = 0 WHERE owner = $1")
            .bind(&s.me)
            .execute(&pool)
            .await?;
        sqlx::query("DELETE FROM replicas WHERE id = $1")
            .bind(&s.me)
            .execute(&pool)
            .await
    };
    match tokio::time::timeout(s.timing.heartbeat(), give_back).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot give the leases back; they expire on their own")
        }
        Err(_) => tracing::warn!(
            "the store did not answer in time to give the leases back; they expire on their own"
        ),
    }
}
