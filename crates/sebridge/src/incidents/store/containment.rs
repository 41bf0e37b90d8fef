//! Where an incident's containment stands, for people: what sebridge did to the host, and
//! what it did not do and why (a failed or queued operation, an isolation held back because
//! someone else had isolated the host...). Read from the incident's facts, its containment
//! operations in the outbox and their audit lines, so a failure never reads as "none".

use super::{IncidentRow, IncidentStore};
use crate::store::{on_db, StoreError};
use std::collections::HashMap;

/// The audit actions that record a containment step not taken, with its reason.
const HELD: &[&str] = &[
    "isolation_skipped",
    "isolation_unavailable",
    "isolation_kept",
    "move_skipped",
    "group_kept",
];

/// An incident's containment: a short form for tables, and one line per part with its reason.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Containment {
    /// "ISOLATED, IN TRIAGE", "ISOLATION FAILED", "-" when none was asked for.
    pub short: String,
    /// The isolation's and the triage move's state, each with why when not done.
    pub lines: Vec<String>,
}

/// A containment operation of an incident (`isolate` or `move_group`).
#[derive(Clone, Debug)]
struct Op {
    kind: String,
    status: String,
    attempts: i64,
    last_error: Option<String>,
}

impl IncidentStore {
    /// The containment of each of `rows`.
    pub async fn containment(
        &self,
        rows: &[IncidentRow],
    ) -> Result<HashMap<i64, Containment>, StoreError> {
        let (Some(lo), Some(hi)) = (
            rows.iter().map(|r| r.id).min(),
            rows.iter().map(|r| r.id).max(),
        ) else {
            return Ok(HashMap::new());
        };
        type OpRow = (i64, String, String, i64, Option<String>);
        type HeldRow = (i64, String, String);
        let (ops, held): (Vec<OpRow>, Vec<HeldRow>) = on_db!(reader & self.db, |p| {
            let ops = sqlx::query_as(
                "SELECT incident_id, kind, status, attempts, last_error FROM incident_outbox
                 WHERE incident_id BETWEEN $1 AND $2 AND kind IN ('isolate', 'move_group')
                 ORDER BY id",
            )
            .bind(lo)
            .bind(hi)
            .fetch_all(p)
            .await?;
            let held = sqlx::query_as(
                "SELECT incident_id, action, detail FROM audit_log
                 WHERE incident_id BETWEEN $1 AND $2 AND action IN ($3, $4, $5, $6, $7)
                 ORDER BY id",
            )
            .bind(lo)
            .bind(hi)
            .bind(HELD[0])
            .bind(HELD[1])
            .bind(HELD[2])
            .bind(HELD[3])
            .bind(HELD[4])
            .fetch_all(p)
            .await?;
            (ops, held)
        });
        let mut ops_of: HashMap<i64, Vec<Op>> = HashMap::new();
        for (id, kind, status, attempts, last_error) in ops {
            ops_of.entry(id).or_default().push(Op {
                kind,
                status,
                attempts,
                last_error,
            });
        }
        let mut held_of: HashMap<i64, Vec<(String, String)>> = HashMap::new();
        for (id, action, detail) in held {
            held_of.entry(id).or_default().push((action, detail));
        }
        Ok(rows
            .iter()
            .map(|r| {
                let ops = ops_of.remove(&r.id).unwrap_or_default();
                let held = held_of.remove(&r.id).unwrap_or_default();
                (r.id, describe(r, &ops, &held))
            })
            .collect())
    }
}

/// The latest operation of `kind`.
fn last<'a>(ops: &'a [Op], kind: &str) -> Option<&'a Op> {
    ops.iter().rev().find(|o| o.kind == kind)
}

/// The latest "not done because" audit line among `actions`.
fn why<'a>(held: &'a [(String, String)], actions: &[&str]) -> Option<&'a str> {
    held.iter()
        .rev()
        .find(|(a, _)| actions.contains(&a.as_str()))
        .map(|(_, d)| d.as_str())
}

/// The state of one part (isolation or triage move) whose operation has not made it happen.
fn not_done(
    op: Option<&Op>,
    what: &str,
    held: Option<&str>,
    short: &mut Vec<String>,
    lines: &mut Vec<String>,
) {
    let upper = what.to_uppercase();
    match op {
        Some(o) if o.status == "failed" => {
            short.push(format!("{upper} FAILED"));
            lines.push(format!(
                "{what} FAILED: {}",
                o.last_error.as_deref().unwrap_or("no error recorded")
            ));
        }
        Some(o) if o.status == "pending" => match o.last_error.as_deref() {
            Some(e) if o.attempts > 0 && !e.starts_with("waiting: ") => {
                short.push(format!("{what} retrying"));
                lines.push(format!(
                    "{what} not done yet, retrying ({} attempts): {e}",
                    o.attempts
                ));
            }
            _ => {
                short.push(format!("{what} queued"));
                lines.push(format!("{what} queued, not sent yet"));
            }
        },
        Some(_) => {
            short.push(format!("{what} held back"));
            lines.push(format!(
                "{what} held back: {}",
                held.unwrap_or("sebridge decided not to (see the audit trail)")
            ));
        }
        None => {}
    }
}

fn describe(i: &IncidentRow, ops: &[Op], held: &[(String, String)]) -> Containment {
    let (mut short, mut lines) = (Vec::new(), Vec::new());
    match i.isolation_pending() {
        Some(("pending_start", _)) => {
            short.push("ISOLATION PENDING".to_string());
            lines.push("isolation requested, pending_start until the host checks in".into());
        }
        Some(_) => {
            short.push("RELEASE PENDING".to_string());
            lines.push("release requested, pending_stop until the host checks in".into());
        }
        None if i.isolated_by_us && i.isolation_released => {
            short.push("isolation released".to_string());
            lines.push("isolated by sebridge, released".into());
        }
        None if i.isolated_by_us => {
            short.push("ISOLATED".to_string());
            lines.push("isolated by sebridge".into());
        }
        None => {
            let held = why(
                held,
                &[
                    "isolation_skipped",
                    "isolation_unavailable",
                    "isolation_kept",
                ],
            );
            not_done(
                last(ops, "isolate"),
                "isolation",
                held,
                &mut short,
                &mut lines,
            );
        }
    }
    if i.moved_by_us {
        short.push(
            if i.group_restored {
                "group restored"
            } else {
                "IN TRIAGE"
            }
            .to_string(),
        );
        lines.push(if i.group_restored {
            "moved to the triage group by sebridge, moved back".into()
        } else {
            "in the triage group (moved by sebridge)".into()
        });
    } else {
        let held = why(held, &["move_skipped", "group_kept"]);
        not_done(
            last(ops, "move_group"),
            "triage move",
            held,
            &mut short,
            &mut lines,
        );
    }
    Containment {
        short: if short.is_empty() {
            "-".into()
        } else {
            short.join(", ")
        },
        lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(kind: &str, status: &str, attempts: i64, err: Option<&str>) -> Op {
        Op {
            kind: kind.into(),
            status: status.into(),
            attempts,
            last_error: err.map(str::to_string),
        }
    }

    fn row() -> IncidentRow {
        serde_json::from_str(
            r#"{
            "id": 1, "tenant": "t", "correlation_key": "k", "correlation_id": "c", "rule": "r",
            "status": "open", "severity": "high", "title": "x", "connector_guid": null,
            "hostname": null, "sha256": null, "detection": null, "event_type": null,
            "first_event_id": 1, "first_seq": 1, "first_event_time": 0, "last_event_time": 0,
            "event_count": 1, "snow_short": "", "snow_description": "", "xdr_title": "",
            "xdr_description": "", "links": "", "isolate": true, "triage_group": "Triage",
            "snow_sys_id": null, "snow_number": null, "xdr_id": null, "isolated_by_us": false,
            "isolation_released": false, "original_group": null, "moved_by_us": false,
            "group_restored": false, "isolation_state": null, "isolation_state_since": null,
            "last_note_at": null, "close_source": null, "close_code": null, "close_notes": null,
            "closed_at": null, "created_at": 0, "updated_at": 0
        }"#,
        )
        .unwrap()
    }

    #[test]
    fn failed_queued_and_held_back_containment_never_reads_as_none() {
        let i = row();
        assert_eq!(describe(&i, &[], &[]).short, "-");
        let failed = [
            op("isolate", "failed", 3, Some("403 Forbidden: read-only key")),
            op("move_group", "failed", 3, Some("403 Forbidden")),
        ];
        let c = describe(&i, &failed, &[]);
        assert_eq!(c.short, "ISOLATION FAILED, TRIAGE MOVE FAILED");
        assert_eq!(c.lines[0], "isolation FAILED: 403 Forbidden: read-only key");
        let c = describe(&i, &[op("isolate", "pending", 0, None)], &[]);
        assert_eq!(c.short, "isolation queued");
        let c = describe(&i, &[op("isolate", "pending", 2, Some("HTTP 503"))], &[]);
        assert_eq!(c.short, "isolation retrying");
        let held = [(
            "isolation_skipped".to_string(),
            "WS-1 was already isolated by someone else".to_string(),
        )];
        let c = describe(&i, &[op("isolate", "done", 1, None)], &held);
        assert_eq!(c.short, "isolation held back");
        assert_eq!(
            c.lines[0],
            "isolation held back: WS-1 was already isolated by someone else"
        );
        let mut done = row();
        done.isolated_by_us = true;
        done.moved_by_us = true;
        assert_eq!(describe(&done, &[], &[]).short, "ISOLATED, IN TRIAGE");
    }
}
