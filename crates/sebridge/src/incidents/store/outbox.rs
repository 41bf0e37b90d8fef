//! The outbox: operations queued by the engine and by closes, claimed with a lease by the
//! executor (first of their incident's lane), and their outcomes recorded with the facts they
//! established and an audit line, in one transaction.

use super::Tx;
use super::{IncidentStore, OpOutcome, OutboxOp, Val, UPDATABLE};
use crate::store::{now_millis, on_db, on_tx, StoreError};
use sqlx::Row;

fn row_to_op<R: Row>(r: &R) -> Result<OutboxOp, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(OutboxOp {
        id: r.try_get(0)?,
        incident_id: r.try_get(1)?,
        lane: r.try_get(2)?,
        kind: r.try_get(3)?,
        status: r.try_get(4)?,
        attempts: r.try_get(5)?,
        not_before: r.try_get(6)?,
        last_error: r.try_get(7)?,
        created_at: r.try_get(8)?,
        done_at: r.try_get(9)?,
        interrupted: r.try_get::<i64, _>(10)? != 0,
    })
}

/// The last column: whether the operation was claimed before and never finished (its claim
/// ran out, or its process died).
const OP_COLUMNS: &str =
    "id, incident_id, lane, kind, status, attempts, not_before, last_error, created_at, done_at,
     CAST(CASE WHEN lease_until IS NULL THEN 0 ELSE 1 END AS BIGINT)";

impl IncidentStore {
    /// Queues an operation; false when one of that kind is already pending (coalesced).
    pub async fn tx_enqueue(
        tx: &mut Tx,
        incident_id: i64,
        lane: &str,
        kind: &str,
        not_before: i64,
    ) -> Result<bool, StoreError> {
        let done = on_tx!(tx, |c| {
            sqlx::query(
                "INSERT INTO incident_outbox (incident_id, lane, kind, status, not_before, created_at)
                 VALUES ($1, $2, $3, 'pending', $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(incident_id)
            .bind(lane)
            .bind(kind)
            .bind(not_before)
            .bind(now_millis())
            .execute(c)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Writes a value audit-free (the executor's two-phase steps, e.g. the original group
    /// recorded *before* the move). Only sets a column that is still NULL.
    pub async fn set_if_null(
        &self,
        id: i64,
        column: &'static str,
        value: &str,
    ) -> Result<(), StoreError> {
        if !UPDATABLE.contains(&column) {
            return Err(StoreError::Corrupt {
                what: "incident update",
                detail: format!("column {column} is not updatable"),
            });
        }
        on_db!(writer & self.db, |p| {
            sqlx::query(safe_sql!(
                "UPDATE incidents SET {column} = $1, updated_at = $2 WHERE id = $3 AND {column} IS NULL"
            ))
            .bind(value)
            .bind(now_millis())
            .bind(id)
            .execute(p)
            .await?.rows_affected()
        });
        Ok(())
    }

    /// Claims due operations: pending, `not_before` passed, not leased, and first of their
    /// incident's lane. Each is leased until `now + lease_ms`.
    pub async fn claim_due(
        &self,
        now: i64,
        lease_ms: i64,
        limit: usize,
        incident: Option<i64>,
    ) -> Result<Vec<OutboxOp>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // PostgreSQL: rows another replica is claiming are skipped, not claimed twice.
        let lock = if self.db.is_postgres() {
            " FOR UPDATE OF o SKIP LOCKED"
        } else {
            ""
        };
        let mut tx = self.begin().await?;
        let ops = on_tx!(&mut tx, |c| {
            let rows = sqlx::query(safe_sql!(
                "SELECT {OP_COLUMNS} FROM incident_outbox o
             WHERE o.status = 'pending' AND o.not_before <= $1
               AND (o.lease_until IS NULL OR o.lease_until < $1)
               AND ($3 IS NULL OR o.incident_id = $3)
               AND NOT EXISTS (SELECT 1 FROM incident_outbox p
                    WHERE p.incident_id = o.incident_id AND p.lane = o.lane
                      AND p.status = 'pending' AND p.id < o.id)
             ORDER BY CASE o.kind
                 WHEN 'xdr_close' THEN 0 WHEN 'unisolate' THEN 0 WHEN 'restore_group' THEN 0
                 WHEN 'snow_resolve' THEN 0 WHEN 'isolate' THEN 1 WHEN 'move_group' THEN 1
                 WHEN 'snow_create' THEN 2 WHEN 'xdr_create' THEN 2 ELSE 3 END, o.id
             LIMIT $2{lock}"
            ))
            .bind(now)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .bind(incident)
            .fetch_all(&mut *c)
            .await?;
            let ops: Vec<OutboxOp> = rows.iter().map(row_to_op).collect::<Result<_, _>>()?;
            for op in &ops {
                sqlx::query("UPDATE incident_outbox SET lease_until = $1 WHERE id = $2")
                    .bind(now + lease_ms)
                    .bind(op.id)
                    .execute(&mut *c)
                    .await?;
            }
            ops
        });
        tx.commit().await?;
        Ok(ops)
    }

    /// Frees the claims of a process that died (SQLite only; returns how many). A SQLite
    /// store is run by one process at a time (its file lock), so at start every claim in the
    /// outbox belongs to a dead process: waiting out its lease would only delay tickets by a
    /// minute after each crash. On PostgreSQL a claim may belong to a paused replica that
    /// still sends its request, so claims there run out on their own.
    pub async fn release_dead_claims(&self) -> Result<u64, StoreError> {
        if self.db.is_postgres() {
            return Ok(0);
        }
        let done = on_db!(writer & self.db, |p| {
            // Expired rather than cleared: the next claim still sees that the operation
            // was interrupted (and may have reached the other side).
            sqlx::query(
                "UPDATE incident_outbox SET lease_until = 0
                 WHERE status = 'pending' AND lease_until IS NOT NULL AND lease_until > 0",
            )
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(done)
    }

    /// When the next pending operation becomes due (epoch ms), if any.
    pub async fn next_due(&self) -> Result<Option<i64>, StoreError> {
        let v: Option<i64> = on_db!(reader & self.db, |p| {
            sqlx::query_scalar(
                "SELECT MIN(CASE WHEN COALESCE(lease_until, 0) > not_before THEN lease_until
                 ELSE not_before END) FROM incident_outbox WHERE status = 'pending'",
            )
            .fetch_one(p)
            .await?
        });
        Ok(v)
    }

    /// Records an operation's outcome, the facts it established and an audit line; queues a
    /// follow-up note when events are still waiting; finishes a close when nothing is left.
    pub async fn complete(
        &self,
        op: &OutboxOp,
        tenant: &str,
        outcome: &OpOutcome,
        note_interval_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        Self::tx_complete(&mut tx, op, tenant, outcome, note_interval_ms).await?;
        tx.commit().await?;
        Ok(())
    }

    /// [`Self::complete`] for many operations in one transaction (one fsync for a burst).
    pub async fn complete_many(
        &self,
        done: &[(OutboxOp, String, OpOutcome)],
        note_interval_ms: i64,
    ) -> Result<(), StoreError> {
        if done.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for (op, tenant, outcome) in done {
            Self::tx_complete(&mut tx, op, tenant, outcome, note_interval_ms).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn tx_complete(
        tx: &mut Tx,
        op: &OutboxOp,
        tenant: &str,
        outcome: &OpOutcome,
        note_interval_ms: i64,
    ) -> Result<(), StoreError> {
        let now = now_millis();
        match outcome {
            OpOutcome::Done {
                updates,
                action,
                detail,
                noted_up_to,
            } => {
                on_tx!(tx, |c| {
                    sqlx::query(
                    "UPDATE incident_outbox SET status = 'done', done_at = $1, lease_until = NULL,
                     attempts = attempts + 1, last_error = NULL WHERE id = $2",
                )
                .bind(now)
                .bind(op.id)
                .execute(c)
                .await?.rows_affected()
                });
                Self::tx_update(tx, op.incident_id, updates, now).await?;
                if let Some(up_to) = noted_up_to {
                    on_tx!(tx, |c| {
                        sqlx::query(
                        "UPDATE incident_events SET noted = 1 WHERE incident_id = $1 AND seq <= $2 AND noted = 0",
                    )
                    .bind(op.incident_id)
                    .bind(up_to)
                    .execute(c)
                    .await?.rows_affected()
                    });
                }
                Self::tx_audit(
                    tx,
                    Some(op.incident_id),
                    Some(tenant),
                    "executor",
                    action,
                    detail,
                )
                .await?;
                if op.kind == "note" {
                    // Events that arrived while the note was in flight: the next note, one
                    // interval later.
                    let waiting: i64 = on_tx!(tx, |c| {
                        sqlx::query_scalar(
                        "SELECT COUNT(*) FROM incident_events WHERE incident_id = $1 AND noted = 0",
                    )
                    .bind(op.incident_id)
                    .fetch_one(c)
                    .await?
                    });
                    if waiting > 0 {
                        Self::tx_enqueue(
                            tx,
                            op.incident_id,
                            "servicenow",
                            "note",
                            now + note_interval_ms,
                        )
                        .await?;
                    }
                }
            }
            OpOutcome::Retry { error, at } => {
                Self::tx_again(tx, op.id, *at, error).await?;
                let attempts = op.attempts + 1;
                // Every step is recorded, but a long outage should not write a line a second.
                if attempts == 1 || attempts % 10 == 0 {
                    Self::tx_audit(
                        tx,
                        Some(op.incident_id),
                        Some(tenant),
                        "executor",
                        &format!("{}_retry", op.kind),
                        &format!("attempt {attempts} failed: {error}; retrying"),
                    )
                    .await?;
                }
            }
            OpOutcome::Wait {
                updates,
                action,
                detail,
                at,
            } => {
                let waiting = format!("waiting: {detail}");
                Self::tx_again(tx, op.id, *at, &waiting).await?;
                Self::tx_update(tx, op.incident_id, updates, now).await?;
                // Once per state, not once per look.
                if op.last_error.as_deref() != Some(waiting.as_str()) {
                    Self::tx_audit(
                        tx,
                        Some(op.incident_id),
                        Some(tenant),
                        "executor",
                        action,
                        detail,
                    )
                    .await?;
                }
            }
            OpOutcome::Failed { error } => {
                on_tx!(tx, |c| {
                    sqlx::query(
                    "UPDATE incident_outbox SET status = 'failed', attempts = attempts + 1, done_at = $1,
                     lease_until = NULL, last_error = $2 WHERE id = $3",
                )
                .bind(now)
                .bind(error)
                .bind(op.id)
                .execute(c)
                .await?.rows_affected()
                });
                Self::tx_audit(
                    tx,
                    Some(op.incident_id),
                    Some(tenant),
                    "executor",
                    &format!("{}_failed", op.kind),
                    &format!("gave up: {error}"),
                )
                .await?;
            }
        }
        Self::tx_finish_close(tx, op.incident_id, tenant).await?;
        Ok(())
    }

    /// An operation stays pending: tried once more, claimed again from `at`, with `note`
    /// (its last error, or what it waits for).
    async fn tx_again(tx: &mut Tx, op_id: i64, at: i64, note: &str) -> Result<(), StoreError> {
        on_tx!(tx, |c| {
            sqlx::query(
                "UPDATE incident_outbox SET attempts = attempts + 1, not_before = $1, lease_until = NULL,
                 last_error = $2 WHERE id = $3",
            )
            .bind(at)
            .bind(note)
            .bind(op_id)
            .execute(c)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// Sets columns of an incident (only those in `UPDATABLE`).
    async fn tx_update(
        tx: &mut Tx,
        incident_id: i64,
        updates: &[(&'static str, Val)],
        now: i64,
    ) -> Result<(), StoreError> {
        for (col, val) in updates {
            if !UPDATABLE.contains(col) {
                return Err(StoreError::Corrupt {
                    what: "incident update",
                    detail: format!("column {col} is not updatable"),
                });
            }
            let q = format!("UPDATE incidents SET {col} = $1, updated_at = $2 WHERE id = $3");
            on_tx!(tx, |c| {
                let q = sqlx::query(sqlx::AssertSqlSafe(q.as_str()));
                let q = match val {
                    Val::Text(t) => q.bind(t.clone()),
                    Val::Int(i) => q.bind(*i),
                };
                q.bind(now)
                    .bind(incident_id)
                    .execute(c)
                    .await?
                    .rows_affected()
            });
        }
        Ok(())
    }

    /// A closing incident with nothing left to do becomes closed.
    async fn tx_finish_close(tx: &mut Tx, id: i64, tenant: &str) -> Result<(), StoreError> {
        let done = on_tx!(tx, |c| {
            sqlx::query(
                "UPDATE incidents SET status = 'closed', updated_at = $1 WHERE id = $2 AND status = 'closing'
                 AND NOT EXISTS (SELECT 1 FROM incident_outbox WHERE incident_id = $3 AND status = 'pending')",
            )
            .bind(now_millis())
            .bind(id)
            .bind(id)
            .execute(c)
            .await?
            .rows_affected()
        });
        if done == 1 {
            let failed: i64 = on_tx!(tx, |c| {
                sqlx::query_scalar(
                "SELECT COUNT(*) FROM incident_outbox WHERE incident_id = $1 AND status = 'failed'",
            )
            .bind(id)
            .fetch_one(c)
            .await?
            });
            let detail = if failed == 0 {
                "closed loop complete".to_string()
            } else {
                format!("closed; {failed} operation(s) failed, see `sebridge incidents show {id}`")
            };
            Self::tx_audit(tx, Some(id), Some(tenant), "executor", "closed", &detail).await?;
        }
        Ok(())
    }

    pub async fn ops(&self, incident_id: i64) -> Result<Vec<OutboxOp>, StoreError> {
        on_db!(reader & self.db, |p| {
            let rows = sqlx::query(safe_sql!(
                "SELECT {OP_COLUMNS} FROM incident_outbox WHERE incident_id = $1 ORDER BY id"
            ))
            .bind(incident_id)
            .fetch_all(p)
            .await?;
            rows.iter()
                .map(row_to_op)
                .collect::<Result<_, _>>()
                .map_err(StoreError::Query)
        })
    }

    /// Outbox operations in one state (e.g. all `done` creates, for latency figures).
    pub async fn ops_by_kind(&self, kind: &str, status: &str) -> Result<Vec<OutboxOp>, StoreError> {
        on_db!(reader & self.db, |p| {
            let rows = sqlx::query(safe_sql!(
                "SELECT {OP_COLUMNS} FROM incident_outbox WHERE kind = $1 AND status = $2 ORDER BY id"
            ))
            .bind(kind)
            .bind(status)
            .fetch_all(p)
            .await?;
            rows.iter()
                .map(row_to_op)
                .collect::<Result<_, _>>()
                .map_err(StoreError::Query)
        })
    }
}
