//! The Findings classes: Detection Finding (2004) for detections and what later happens to
//! them, Vulnerability Finding (2002) for vulnerable applications.

use super::objects::{attacks, evidence, file, scalar_text, take, take_str, vulnerabilities};
use super::{classify, Common};
use serde_json::{json, Map, Value};

/// How a detection-like event type becomes a Detection Finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FindingKind {
    /// 1 Create (a new detection), 2 Update (a later state of one).
    pub activity_id: u64,
    /// Security Control `disposition_id`.
    pub disposition_id: u64,
    /// Security Control `action_id`.
    pub action_id: u64,
}

const CREATE: u64 = 1;
const UPDATE: u64 = 2;
// Dispositions (dictionary `disposition_id`).
const ALLOWED: u64 = 1;
const BLOCKED: u64 = 2;
const QUARANTINED: u64 = 3;
const DELETED: u64 = 5;
const RESTORED: u64 = 9;
const DETECTED: u64 = 15;
const NO_ACTION: u64 = 16;
const ALERT: u64 = 19;
const ERROR: u64 = 27;
const OTHER: u64 = 99;
// Actions (Security Control `action_id`).
const A_UNKNOWN: u64 = 0;
const A_ALLOWED: u64 = 1;
const A_DENIED: u64 = 2;
const A_OBSERVED: u64 = 3;
const A_MODIFIED: u64 = 4;

/// The Detection Finding shape of an event type, `None` for the other classes.
/// [`super::class_of`] decides first: Vulnerable Application Detected (1107296279) is a
/// Detection Finding of this shape only when it names no CVE.
pub fn finding(event_type_id: u64) -> Option<FindingKind> {
    let k = |activity_id, disposition_id, action_id| {
        Some(FindingKind {
            activity_id,
            disposition_id,
            action_id,
        })
    };
    match event_type_id {
        // Threats the connector detected (no action of its own reported).
        1090519054 | 1090519081 | 1090519084 | 1090519102 | 1090519105 | 1090524040
        | 1090524041 | 553648147 | 553648222 | 1107296279 => k(CREATE, DETECTED, A_OBSERVED),
        // Blocked by the connector.
        1090519103 | 1090519112 | 553648168 | 553648199 => k(CREATE, BLOCKED, A_DENIED),
        553648143 => k(CREATE, QUARANTINED, A_DENIED),
        // Detected in an excluded path: let through on purpose.
        553648145 => k(CREATE, NO_ACTION, A_ALLOWED),
        // Indications of compromise and threat hunting incidents: alerts, nothing blocked.
        1107296257..=1107296285 | 1107296344 => k(CREATE, ALERT, A_OBSERVED),
        // Later states of a detection.
        553648146 | 553648149 | 553648154 => k(UPDATE, RESTORED, A_MODIFIED),
        553648152 => k(UPDATE, DELETED, A_DENIED),
        553648155 => k(UPDATE, QUARANTINED, A_DENIED),
        553648150 | 553648151 | 570425394 => k(UPDATE, OTHER, A_UNKNOWN),
        2164260880 | 2164260884 | 2164260889 | 2164260892 | 2164260893 | 2181038130 => {
            k(UPDATE, ERROR, A_UNKNOWN)
        }
        _ => None,
    }
}

fn disposition_caption(id: u64) -> &'static str {
    match id {
        ALLOWED => "Allowed",
        BLOCKED => "Blocked",
        QUARANTINED => "Quarantined",
        DELETED => "Deleted",
        RESTORED => "Restored",
        DETECTED => "Detected",
        NO_ACTION => "No Action",
        ALERT => "Alert",
        ERROR => "Error",
        OTHER => "Other",
        _ => "Unknown",
    }
}

fn action_caption(id: u64) -> &'static str {
    match id {
        A_ALLOWED => "Allowed",
        A_DENIED => "Denied",
        A_OBSERVED => "Observed",
        A_MODIFIED => "Modified",
        _ => "Unknown",
    }
}

/// `finding_info` of a finding: `uid` (the `detection_id`, which ties a detection to its
/// later states, else the event id), `title`, `types`, `desc`, `created_time` for a Create.
fn finding_info(
    ev: &mut Map<String, Value>,
    c: &Common,
    activity_id: u64,
    title: Option<String>,
) -> Value {
    let uid = take(ev, &["detection_id"])
        .map(scalar_text)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| c.entry.event_id.to_string());
    let mut info = json!({"uid": uid});
    if let Some(t) = title.or_else(|| c.event_type.clone()) {
        info["title"] = Value::String(t);
    }
    if let Some(t) = &c.event_type {
        info["types"] = json!([t]);
    }
    if let Some(d) = &c.description {
        info["desc"] = Value::String(d.clone());
    }
    if activity_id == CREATE {
        info["created_time"] = json!(c.time);
    }
    info
}

/// The finding's triage state: AMP has none, so a new finding is New and a later state of
/// it In Progress.
fn triage_status(out: &mut Map<String, Value>, activity_id: u64) {
    let (id, caption) = if activity_id == CREATE {
        (1, "New")
    } else {
        (2, "In Progress")
    };
    out.insert("status_id".into(), json!(id));
    out.insert("status".into(), json!(caption));
}

pub(super) fn detection(
    out: &mut Map<String, Value>,
    ev: &mut Map<String, Value>,
    c: &Common,
    k: FindingKind,
) {
    let activity = if k.activity_id == CREATE {
        "Create"
    } else {
        "Update"
    };
    let label = c.event_type.clone().unwrap_or_else(|| "Other".to_string());
    classify(
        out,
        2004,
        2,
        k.activity_id,
        activity,
        "Detection Finding",
        "Findings",
    );
    let detection = take_str(ev, &["detection"]);
    let hunt_title = ev
        .get("threat_hunting")
        .and_then(|t| t.get("incident_title"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut info = finding_info(ev, c, k.activity_id, detection.clone().or(hunt_title));
    let attacks = attacks(ev);
    if !attacks.is_empty() {
        info["attacks"] = Value::Array(attacks.clone());
        // The Security Control profile's copy, as the Detection Finding class asks.
        out.insert("attacks".into(), Value::Array(attacks));
    }
    out.insert("finding_info".into(), info);
    triage_status(out, k.activity_id);
    out.insert("disposition_id".into(), json!(k.disposition_id));
    out.insert(
        "disposition".into(),
        json!(match k.disposition_id {
            OTHER => label,
            d => disposition_caption(d).to_string(),
        }),
    );
    out.insert("action_id".into(), json!(k.action_id));
    out.insert("action".into(), json!(action_caption(k.action_id)));
    let alert = k.activity_id == CREATE && k.disposition_id != NO_ACTION;
    out.insert("is_alert".into(), json!(alert));
    if let Some(name) = detection {
        let class = malware_class(&name);
        out.insert(
            "malware".into(),
            json!([{"name": name, "classification_ids": [class]}]),
        );
    }
    let evidence = evidence(ev);
    if !evidence.is_empty() {
        out.insert("evidences".into(), json!([evidence]));
    }
    if let Some(v) = vulnerabilities(ev) {
        out.insert("vulnerabilities".into(), v);
    }
}

/// A vulnerable application: each CVE a vulnerability, the application (name, version) its
/// affected package and the application's file (with its hashes) its affected code. The
/// caller checked that there is at least one vulnerability.
pub(super) fn vulnerability(out: &mut Map<String, Value>, ev: &mut Map<String, Value>, c: &Common) {
    classify(
        out,
        2002,
        2,
        CREATE,
        "Create",
        "Vulnerability Finding",
        "Findings",
    );
    let info = finding_info(ev, c, CREATE, None);
    out.insert("finding_info".into(), info);
    triage_status(out, CREATE);
    let app_file = file(ev, &["file"]);
    let mut vulns = vulnerabilities(ev).unwrap_or_else(|| json!([]));
    for v in vulns.as_array_mut().into_iter().flatten() {
        if let Some(f) = &app_file {
            v["affected_code"] = json!([{ "file": f }]);
        }
    }
    out.insert("vulnerabilities".into(), vulns);
}

/// OCSF malware classification from the detection name's family words (0 Unknown otherwise).
fn malware_class(name: &str) -> u64 {
    let n = name.to_ascii_lowercase();
    #[rustfmt::skip]
    const WORDS: &[(&str, u64)] = &[
        ("ransom", 10), ("trojan", 18), ("worm", 22), ("virus", 19), ("backdoor", 2),
        ("adware", 1), ("dropper", 7), ("rootkit", 15), ("spyware", 17), ("keylog", 9),
        ("downloader", 6), ("webshell", 20), ("wiper", 21), ("exploit", 8),
    ];
    WORDS
        .iter()
        .find(|(w, _)| n.contains(w))
        .map_or(0, |(_, c)| *c)
}
