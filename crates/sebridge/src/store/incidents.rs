//! Incident state in the store: incidents, their events, the outbox of side effects and the
//! audit log (migration `0004_incidents.sql`).
//!
//! The engine changes incidents, enqueues operations and commits its journal position in one
//! transaction ([`IncidentStore::begin`] and the `tx_*` helpers), so a crash either keeps all
//! of a batch's decisions or none. The executor claims due operations with a lease, performs
//! them, and records the outcome, the incident's new facts and an audit line in one
//! transaction ([`IncidentStore::complete`]).

use super::{now_millis, StoreError};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, SqliteConnection, SqlitePool, Transaction};

/// One incident row.
#[derive(Clone, Debug, serde::Serialize)]
pub struct IncidentRow {
    pub id: i64,
    pub tenant: String,
    pub correlation_key: String,
    pub correlation_id: String,
    pub rule: String,
    pub status: String,
    pub severity: String,
    pub title: String,
    pub connector_guid: Option<String>,
    pub hostname: Option<String>,
    pub sha256: Option<String>,
    pub detection: Option<String>,
    pub event_type: Option<String>,
    pub first_event_id: u64,
    pub first_seq: i64,
    pub first_event_time: i64,
    pub last_event_time: i64,
    pub event_count: i64,
    pub snow_short: String,
    pub snow_description: String,
    pub xdr_title: String,
    pub xdr_description: String,
    pub links: String,
    pub isolate: bool,
    pub triage_group: Option<String>,
    pub snow_sys_id: Option<String>,
    pub snow_number: Option<String>,
    pub xdr_id: Option<String>,
    pub isolated_by_us: bool,
    pub isolation_released: bool,
    pub original_group: Option<String>,
    pub moved_by_us: bool,
    pub group_restored: bool,
    pub last_note_at: Option<i64>,
    pub close_source: Option<String>,
    pub close_code: Option<String>,
    pub close_notes: Option<String>,
    pub closed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Dynamic SQL built only from constants of this module (column lists, whitelisted column
/// names): never from input.
macro_rules! safe_sql {
    ($($t:tt)*) => { sqlx::AssertSqlSafe(format!($($t)*)) };
}

const COLUMNS: &str =
    "id, tenant, correlation_key, correlation_id, rule, status, severity, title, \
    connector_guid, hostname, sha256, detection, event_type, first_event_id, first_seq, \
    first_event_time, last_event_time, event_count, snow_short, snow_description, xdr_title, \
    xdr_description, links, isolate, triage_group, snow_sys_id, snow_number, xdr_id, \
    isolated_by_us, isolation_released, original_group, moved_by_us, group_restored, \
    last_note_at, close_source, close_code, close_notes, closed_at, created_at, updated_at";

fn id_to_db(id: u64) -> i64 {
    i64::from_ne_bytes(id.to_ne_bytes())
}

fn id_from_db(id: i64) -> u64 {
    u64::from_ne_bytes(id.to_ne_bytes())
}

/// The incident of an optional row (the single-row lookups share this).
fn incident_from(row: Option<SqliteRow>) -> Result<Option<IncidentRow>, StoreError> {
    Ok(row.as_ref().map(row_to_incident).transpose()?)
}

fn row_to_incident(r: &SqliteRow) -> Result<IncidentRow, sqlx::Error> {
    Ok(IncidentRow {
        id: r.try_get(0)?,
        tenant: r.try_get(1)?,
        correlation_key: r.try_get(2)?,
        correlation_id: r.try_get(3)?,
        rule: r.try_get(4)?,
        status: r.try_get(5)?,
        severity: r.try_get(6)?,
        title: r.try_get(7)?,
        connector_guid: r.try_get(8)?,
        hostname: r.try_get(9)?,
        sha256: r.try_get(10)?,
        detection: r.try_get(11)?,
        event_type: r.try_get(12)?,
        first_event_id: id_from_db(r.try_get(13)?),
        first_seq: r.try_get(14)?,
        first_event_time: r.try_get(15)?,
        last_event_time: r.try_get(16)?,
        event_count: r.try_get(17)?,
        snow_short: r.try_get(18)?,
        snow_description: r.try_get(19)?,
        xdr_title: r.try_get(20)?,
        xdr_description: r.try_get(21)?,
        links: r.try_get(22)?,
        isolate: r.try_get::<i64, _>(23)? != 0,
        triage_group: r.try_get(24)?,
        snow_sys_id: r.try_get(25)?,
        snow_number: r.try_get(26)?,
        xdr_id: r.try_get(27)?,
        isolated_by_us: r.try_get::<i64, _>(28)? != 0,
        isolation_released: r.try_get::<i64, _>(29)? != 0,
        original_group: r.try_get(30)?,
        moved_by_us: r.try_get::<i64, _>(31)? != 0,
        group_restored: r.try_get::<i64, _>(32)? != 0,
        last_note_at: r.try_get(33)?,
        close_source: r.try_get(34)?,
        close_code: r.try_get(35)?,
        close_notes: r.try_get(36)?,
        closed_at: r.try_get(37)?,
        created_at: r.try_get(38)?,
        updated_at: r.try_get(39)?,
    })
}

/// What the engine knows when it opens an incident.
#[derive(Clone, Debug)]
pub struct NewIncidentRow {
    pub tenant: String,
    pub correlation_key: String,
    pub correlation_id: String,
    pub rule: String,
    pub severity: String,
    pub title: String,
    pub connector_guid: Option<String>,
    pub hostname: Option<String>,
    pub sha256: Option<String>,
    pub detection: Option<String>,
    pub event_type: Option<String>,
    pub first_event_id: u64,
    pub first_seq: i64,
    pub first_event_time: i64,
    pub snow_short: String,
    pub snow_description: String,
    pub xdr_title: String,
    pub xdr_description: String,
    pub links: String,
    pub isolate: bool,
    pub triage_group: Option<String>,
}

/// An open incident a new event may join.
#[derive(Clone, Debug)]
pub struct OpenIncident {
    pub id: i64,
    pub severity: String,
    pub last_event_time: i64,
    pub event_count: i64,
    pub last_note_at: Option<i64>,
}

/// One outbox operation.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OutboxOp {
    pub id: i64,
    pub incident_id: i64,
    pub lane: String,
    pub kind: String,
    pub status: String,
    pub attempts: i64,
    pub not_before: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub done_at: Option<i64>,
}

fn row_to_op(r: &SqliteRow) -> Result<OutboxOp, sqlx::Error> {
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
    })
}

const OP_COLUMNS: &str =
    "id, incident_id, lane, kind, status, attempts, not_before, last_error, created_at, done_at";

/// One audit line.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub incident_id: Option<i64>,
    pub tenant: Option<String>,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

/// A value written to an incident column by an operation's outcome.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Text(Option<String>),
    Int(i64),
}

/// Columns an operation outcome may set (anything else is refused, never interpolated).
const UPDATABLE: &[&str] = &[
    "snow_sys_id",
    "snow_number",
    "xdr_id",
    "isolated_by_us",
    "isolation_released",
    "original_group",
    "moved_by_us",
    "group_restored",
    "last_note_at",
];

/// How an operation ended.
#[derive(Clone, Debug)]
pub enum OpOutcome {
    Done {
        updates: Vec<(&'static str, Val)>,
        action: String,
        detail: String,
        /// Events up to this journal seq went into a work note.
        noted_up_to: Option<i64>,
    },
    Retry {
        error: String,
        at: i64,
    },
    Failed {
        error: String,
    },
}

/// What a close notice did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseResult {
    /// The incident is now closing (operations queued).
    Closing,
    /// It was already closing or closed: nothing changed.
    AlreadyClosed,
    NotFound,
}

/// Close details (from ServiceNow or the CLI).
#[derive(Clone, Debug, Default)]
pub struct CloseInfo {
    pub close_code: Option<String>,
    pub close_notes: Option<String>,
    /// epoch ms
    pub closed_at: i64,
    /// Also resolve the ServiceNow ticket (a close started here, not in ServiceNow).
    pub resolve_ticket: bool,
}

/// Counts for status pages.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct IncidentSummary {
    pub open: i64,
    pub closing: i64,
    pub closed: i64,
    pub snow_tickets: i64,
    pub xdr_incidents: i64,
    pub isolated_now: i64,
    pub moved_now: i64,
    pub ops_pending: i64,
    pub ops_failed: i64,
    pub events: i64,
}

/// Incident tables. Cheap to clone.
#[derive(Clone, Debug)]
pub struct IncidentStore {
    pub(crate) writer: SqlitePool,
    pub(crate) reader: SqlitePool,
}

pub type Tx = Transaction<'static, Sqlite>;

impl IncidentStore {
    /// A write transaction (the engine's batch).
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(self.writer.begin().await?)
    }

    pub async fn tx_find_open(
        tx: &mut SqliteConnection,
        key: &str,
        min_last_event_time: i64,
    ) -> Result<Option<OpenIncident>, StoreError> {
        let row = sqlx::query(
            "SELECT id, severity, last_event_time, event_count, last_note_at FROM incidents
             WHERE correlation_key = ? AND status = 'open' AND last_event_time >= ?
             ORDER BY id DESC LIMIT 1",
        )
        .bind(key)
        .bind(min_last_event_time)
        .fetch_optional(&mut *tx)
        .await?;
        row.map(|r| {
            Ok(OpenIncident {
                id: r.try_get(0)?,
                severity: r.try_get(1)?,
                last_event_time: r.try_get(2)?,
                event_count: r.try_get(3)?,
                last_note_at: r.try_get(4)?,
            })
        })
        .transpose()
        .map_err(StoreError::Query)
    }

    /// Inserts an incident; `None` when its correlation id exists already (a batch processed
    /// again after a crash between the engine's commit and nothing else: cannot happen with a
    /// single transaction, but the unique key keeps it true regardless).
    pub async fn tx_insert(
        tx: &mut SqliteConnection,
        n: &NewIncidentRow,
    ) -> Result<Option<i64>, StoreError> {
        let now = now_millis();
        let done = sqlx::query(
            "INSERT OR IGNORE INTO incidents (tenant, correlation_key, correlation_id, rule, status,
             severity, title, connector_guid, hostname, sha256, detection, event_type,
             first_event_id, first_seq, first_event_time, last_event_time, event_count,
             snow_short, snow_description, xdr_title, xdr_description, links, isolate,
             triage_group, created_at, updated_at)
             VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&n.tenant)
        .bind(&n.correlation_key)
        .bind(&n.correlation_id)
        .bind(&n.rule)
        .bind(&n.severity)
        .bind(&n.title)
        .bind(&n.connector_guid)
        .bind(&n.hostname)
        .bind(&n.sha256)
        .bind(&n.detection)
        .bind(&n.event_type)
        .bind(id_to_db(n.first_event_id))
        .bind(n.first_seq)
        .bind(n.first_event_time)
        .bind(n.first_event_time)
        .bind(&n.snow_short)
        .bind(&n.snow_description)
        .bind(&n.xdr_title)
        .bind(&n.xdr_description)
        .bind(&n.links)
        .bind(i64::from(n.isolate))
        .bind(&n.triage_group)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        Ok(Some(done.last_insert_rowid()))
    }

    /// Adds an event to an incident (its line goes into the next work note unless `noted`).
    #[allow(clippy::too_many_arguments)]
    pub async fn tx_add_event(
        tx: &mut SqliteConnection,
        incident_id: i64,
        seq: i64,
        event_id: u64,
        event_time: i64,
        severity: Option<&str>,
        line: &str,
        noted: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT OR IGNORE INTO incident_events (incident_id, seq, event_id, event_time, severity, line, noted)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(incident_id)
        .bind(seq)
        .bind(id_to_db(event_id))
        .bind(event_time)
        .bind(severity)
        .bind(line)
        .bind(i64::from(noted))
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// Records a later event on an open incident.
    pub async fn tx_touch(
        tx: &mut SqliteConnection,
        id: i64,
        last_event_time: i64,
        severity: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE incidents SET last_event_time = MAX(last_event_time, ?), severity = ?,
             event_count = event_count + 1, updated_at = ? WHERE id = ?",
        )
        .bind(last_event_time)
        .bind(severity)
        .bind(now_millis())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// Queues an operation; false when one of that kind is already pending (coalesced).
    pub async fn tx_enqueue(
        tx: &mut SqliteConnection,
        incident_id: i64,
        lane: &str,
        kind: &str,
        not_before: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT OR IGNORE INTO incident_outbox (incident_id, lane, kind, status, not_before, created_at)
             VALUES (?, ?, ?, 'pending', ?, ?)",
        )
        .bind(incident_id)
        .bind(lane)
        .bind(kind)
        .bind(not_before)
        .bind(now_millis())
        .execute(&mut *tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

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

    /// The consumer's position, in the caller's transaction (same table as sinks use).
    pub async fn tx_commit_position(
        tx: &mut SqliteConnection,
        consumer: &str,
        seq: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO positions (consumer, seq, state, updated_at) VALUES (?, ?, NULL, ?)
             ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at",
        )
        .bind(consumer)
        .bind(seq)
        .bind(now_millis())
        .execute(&mut *tx)
        .await?;
        Ok(())
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
        sqlx::query(safe_sql!(
            "UPDATE incidents SET {column} = ?, updated_at = ? WHERE id = ? AND {column} IS NULL"
        ))
        .bind(value)
        .bind(now_millis())
        .bind(id)
        .execute(&self.writer)
        .await?;
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
        let mut tx = self.writer.begin().await?;
        let rows = sqlx::query(safe_sql!(
            "SELECT {OP_COLUMNS} FROM incident_outbox o
             WHERE o.status = 'pending' AND o.not_before <= ?1
               AND (o.lease_until IS NULL OR o.lease_until < ?1)
               AND (?3 IS NULL OR o.incident_id = ?3)
               AND NOT EXISTS (SELECT 1 FROM incident_outbox p
                    WHERE p.incident_id = o.incident_id AND p.lane = o.lane
                      AND p.status = 'pending' AND p.id < o.id)
             ORDER BY CASE o.kind
                 WHEN 'xdr_close' THEN 0 WHEN 'unisolate' THEN 0 WHEN 'restore_group' THEN 0
                 WHEN 'snow_resolve' THEN 0 WHEN 'isolate' THEN 1 WHEN 'move_group' THEN 1
                 WHEN 'snow_create' THEN 2 WHEN 'xdr_create' THEN 2 ELSE 3 END, o.id
             LIMIT ?2"
        ))
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(incident)
        .fetch_all(&mut *tx)
        .await?;
        let ops: Vec<OutboxOp> = rows.iter().map(row_to_op).collect::<Result<_, _>>()?;
        for op in &ops {
            sqlx::query("UPDATE incident_outbox SET lease_until = ? WHERE id = ?")
                .bind(now + lease_ms)
                .bind(op.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(ops)
    }

    /// When the next pending operation becomes due (epoch ms), if any.
    pub async fn next_due(&self) -> Result<Option<i64>, StoreError> {
        let v: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(MAX(not_before, COALESCE(lease_until, 0))) FROM incident_outbox WHERE status = 'pending'",
        )
        .fetch_one(&self.reader)
        .await?;
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
        let mut tx = self.writer.begin().await?;
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
        let mut tx = self.writer.begin().await?;
        for (op, tenant, outcome) in done {
            Self::tx_complete(&mut tx, op, tenant, outcome, note_interval_ms).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn tx_complete(
        tx: &mut SqliteConnection,
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
                sqlx::query(
                    "UPDATE incident_outbox SET status = 'done', done_at = ?, lease_until = NULL,
                     attempts = attempts + 1, last_error = NULL WHERE id = ?",
                )
                .bind(now)
                .bind(op.id)
                .execute(&mut *tx)
                .await?;
                for (col, val) in updates {
                    if !UPDATABLE.contains(col) {
                        return Err(StoreError::Corrupt {
                            what: "incident update",
                            detail: format!("column {col} is not updatable"),
                        });
                    }
                    let q = format!("UPDATE incidents SET {col} = ?, updated_at = ? WHERE id = ?");
                    let q = sqlx::query(sqlx::AssertSqlSafe(q));
                    let q = match val {
                        Val::Text(t) => q.bind(t.clone()),
                        Val::Int(i) => q.bind(*i),
                    };
                    q.bind(now).bind(op.incident_id).execute(&mut *tx).await?;
                }
                if let Some(up_to) = noted_up_to {
                    sqlx::query(
                        "UPDATE incident_events SET noted = 1 WHERE incident_id = ? AND seq <= ? AND noted = 0",
                    )
                    .bind(op.incident_id)
                    .bind(up_to)
                    .execute(&mut *tx)
                    .await?;
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
                    let waiting: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM incident_events WHERE incident_id = ? AND noted = 0",
                    )
                    .bind(op.incident_id)
                    .fetch_one(&mut *tx)
                    .await?;
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
                sqlx::query(
                    "UPDATE incident_outbox SET attempts = attempts + 1, not_before = ?, lease_until = NULL,
                     last_error = ? WHERE id = ?",
                )
                .bind(*at)
                .bind(error)
                .bind(op.id)
                .execute(&mut *tx)
                .await?;
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
            OpOutcome::Failed { error } => {
                sqlx::query(
                    "UPDATE incident_outbox SET status = 'failed', attempts = attempts + 1, done_at = ?,
                     lease_until = NULL, last_error = ? WHERE id = ?",
                )
                .bind(now)
                .bind(error)
                .bind(op.id)
                .execute(&mut *tx)
                .await?;
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

    /// A closing incident with nothing left to do becomes closed.
    async fn tx_finish_close(
        tx: &mut SqliteConnection,
        id: i64,
        tenant: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE incidents SET status = 'closed', updated_at = ? WHERE id = ? AND status = 'closing'
             AND NOT EXISTS (SELECT 1 FROM incident_outbox WHERE incident_id = ? AND status = 'pending')",
        )
        .bind(now_millis())
        .bind(id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            let failed: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM incident_outbox WHERE incident_id = ? AND status = 'failed'",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            let detail = if failed == 0 {
                "closed loop complete".to_string()
            } else {
                format!("closed; {failed} operation(s) failed, see `sebridge incidents show {id}`")
            };
            Self::tx_audit(tx, Some(id), Some(tenant), "executor", "closed", &detail).await?;
        }
        Ok(())
    }

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

    pub async fn get(&self, id: i64) -> Result<Option<IncidentRow>, StoreError> {
        let row = sqlx::query(safe_sql!("SELECT {COLUMNS} FROM incidents WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        incident_from(row)
    }

    pub async fn by_snow_sys_id(&self, sys_id: &str) -> Result<Option<IncidentRow>, StoreError> {
        let row = sqlx::query(safe_sql!(
            "SELECT {COLUMNS} FROM incidents WHERE snow_sys_id = ? ORDER BY id DESC LIMIT 1"
        ))
        .bind(sys_id)
        .fetch_optional(&self.reader)
        .await?;
        incident_from(row)
    }

    pub async fn by_correlation_id(&self, cid: &str) -> Result<Option<IncidentRow>, StoreError> {
        let row = sqlx::query(safe_sql!(
            "SELECT {COLUMNS} FROM incidents WHERE correlation_id = ?"
        ))
        .bind(cid)
        .fetch_optional(&self.reader)
        .await?;
        incident_from(row)
    }

    /// Incidents, newest first, optionally by status and tenant.
    pub async fn list(
        &self,
        status: Option<&str>,
        tenant: Option<&str>,
        limit: usize,
    ) -> Result<Vec<IncidentRow>, StoreError> {
        let rows = sqlx::query(safe_sql!(
            "SELECT {COLUMNS} FROM incidents WHERE (?1 IS NULL OR status = ?1)
             AND (?2 IS NULL OR tenant = ?2) ORDER BY id DESC LIMIT ?3"
        ))
        .bind(status)
        .bind(tenant)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(row_to_incident)
            .collect::<Result<_, _>>()
            .map_err(StoreError::Query)
    }

    /// Open incidents that have a ServiceNow ticket, by id after `after_id` (reconciler pages).
    pub async fn open_with_ticket(
        &self,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, snow_sys_id FROM incidents WHERE status = 'open' AND snow_sys_id IS NOT NULL
             AND id > ? ORDER BY id LIMIT ?",
        )
        .bind(after_id)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.writer)
        .await?;
        rows.into_iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::Query)
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

    /// The lines waiting for the next work note (at most `max`), how many wait in all, and
    /// the highest journal seq among them.
    pub async fn pending_note(
        &self,
        incident_id: i64,
        max: usize,
    ) -> Result<(Vec<String>, i64, Option<i64>), StoreError> {
        let (count, up_to): (i64, Option<i64>) = {
            let r = sqlx::query(
                "SELECT COUNT(*), MAX(seq) FROM incident_events WHERE incident_id = ? AND noted = 0",
            )
            .bind(incident_id)
            .fetch_one(&self.reader)
            .await?;
            (r.try_get(0)?, r.try_get(1)?)
        };
        let rows = sqlx::query(
            "SELECT line FROM incident_events WHERE incident_id = ? AND noted = 0 AND seq <= ?
             ORDER BY seq LIMIT ?",
        )
        .bind(incident_id)
        .bind(up_to.unwrap_or(0))
        .bind(i64::try_from(max).unwrap_or(i64::MAX))
        .fetch_all(&self.reader)
        .await?;
        let lines = rows
            .into_iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        Ok((lines, count, up_to))
    }

    pub async fn ops(&self, incident_id: i64) -> Result<Vec<OutboxOp>, StoreError> {
        let rows = sqlx::query(safe_sql!(
            "SELECT {OP_COLUMNS} FROM incident_outbox WHERE incident_id = ? ORDER BY id"
        ))
        .bind(incident_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(row_to_op)
            .collect::<Result<_, _>>()
            .map_err(StoreError::Query)
    }

    /// Outbox operations in one state (e.g. all `done` creates, for latency figures).
    pub async fn ops_by_kind(&self, kind: &str, status: &str) -> Result<Vec<OutboxOp>, StoreError> {
        let rows = sqlx::query(safe_sql!(
            "SELECT {OP_COLUMNS} FROM incident_outbox WHERE kind = ? AND status = ? ORDER BY id"
        ))
        .bind(kind)
        .bind(status)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(row_to_op)
            .collect::<Result<_, _>>()
            .map_err(StoreError::Query)
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

    pub async fn summary(&self) -> Result<IncidentSummary, StoreError> {
        let r = sqlx::query(
            "SELECT
               COALESCE(SUM(status = 'open'), 0), COALESCE(SUM(status = 'closing'), 0),
               COALESCE(SUM(status = 'closed'), 0), COALESCE(SUM(snow_sys_id IS NOT NULL), 0),
               COALESCE(SUM(xdr_id IS NOT NULL), 0),
               COALESCE(SUM(isolated_by_us = 1 AND isolation_released = 0), 0),
               COALESCE(SUM(moved_by_us = 1 AND group_restored = 0), 0),
               COALESCE(SUM(event_count), 0)
             FROM incidents",
        )
        .fetch_one(&self.reader)
        .await?;
        let ops = sqlx::query(
            "SELECT COALESCE(SUM(status = 'pending'), 0), COALESCE(SUM(status = 'failed'), 0) FROM incident_outbox",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok(IncidentSummary {
            open: r.try_get(0)?,
            closing: r.try_get(1)?,
            closed: r.try_get(2)?,
            snow_tickets: r.try_get(3)?,
            xdr_incidents: r.try_get(4)?,
            isolated_now: r.try_get(5)?,
            moved_now: r.try_get(6)?,
            events: r.try_get(7)?,
            ops_pending: ops.try_get(0)?,
            ops_failed: ops.try_get(1)?,
        })
    }
}
