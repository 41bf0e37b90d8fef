//! Secure Endpoint event → OCSF event (`format = "ocsf"` of the file, webhook and Splunk HEC
//! sinks), one journal event at a time. Checked against the copy of the OCSF schema in
//! `tests/ocsf-schema/` by `tests/it/ocsf.rs`, with a golden file per event type.
//!
//! Which class (the table is [`finding`]; the README has the same):
//!
//! | Secure Endpoint events | OCSF class | activity |
//! |---|---|---|
//! | detections and alerts: Threat Detected, Rootkit, DFC, APK, Exploit Prevention, System Process Protection, Malicious Activity, Execution Blocked, Threat Quarantined, Retrospective, IOC scans with detections, every indication of compromise (1107296257-1107296285), Vulnerable Application, SecureX Threat Hunting | Detection Finding 2004 with the Security Control profile | Create (1) |
//! | what later happens to a detection: quarantine restored / deleted / cloud recall, and their failures | Detection Finding 2004, same `finding_info.uid` (the `detection_id`) | Update (2) |
//! | everything else (product updates, policy, scans without detections, faults, isolation, console and API-client events) and event types this table does not know | Base Event 0 | Other (99), `activity_name` = the event type |
//!
//! Every event: `metadata` (schema version, product Cisco Secure Endpoint, `uid` = the event id,
//! `tenant_uid` = the sebridge tenant, `event_code` = the event type id, `original_time`,
//! `logged_time` = when the journal received it), `time` in epoch milliseconds with the vendor's
//! sub-second part, `severity_id` from `severity`, `device` from `computer` (Host profile) and,
//! in `unmapped`, every vendor field not mapped (so nothing is lost). Failures (event type ids
//! with the high bit set, e.g. 2164260880) carry `status_id` Failure and the vendor error as
//! `status_code` / `status_detail`.
//!
//! Deliberately not mapped (kept in `unmapped`): `computer.user` and `group_guids` (the
//! schema copy has no `user`/`group` objects), files without a name (OCSF requires
//! `file.name`; quarantine events often carry only the SHA-256), processes without a pid.

use crate::store::JournalEntry;
use serde_json::{json, Map, Value};

mod objects;
use objects::{
    attacks, description, device, evidence, prune, scalar_text, take, take_str, vulnerabilities,
};

/// The OCSF release the events declare (`metadata.version`); see tests/ocsf-schema/README.md.
pub const OCSF_VERSION: &str = "1.5.0";
pub const PRODUCT_NAME: &str = "Secure Endpoint";
pub const VENDOR_NAME: &str = "Cisco";

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

/// The Detection Finding shape of an event type, `None` for a Base Event.
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
        1090519054 | 1090519081 | 1090519084 | 1090519089 | 1090519102 | 1090519105
        | 1090524040 | 1090524041 | 1091567628 | 1091567670 | 553648147 | 553648222
        | 1107296279 => k(CREATE, DETECTED, A_OBSERVED),
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

/// Appends the OCSF event of `entry` to `out` as one line of compact JSON (no newline).
pub fn write_ocsf(entry: &JournalEntry, out: &mut String) {
    // Serialising a `Value` fails only for non-string map keys, which a `Value` cannot hold.
    if let Ok(text) = serde_json::to_string(&to_ocsf(entry)) {
        out.push_str(&text);
    }
}

/// The OCSF event of one journal entry. Never fails: an entry whose text is not a JSON
/// object becomes a Base Event with the text in `raw_data`.
pub fn to_ocsf(entry: &JournalEntry) -> Value {
    let (mut ev, raw_data) = match serde_json::from_str::<Value>(&entry.raw) {
        Ok(Value::Object(m)) => (m, None),
        _ => (Map::new(), Some(entry.raw.to_string())),
    };
    let mut out = Map::new();
    let nanos = take(&mut ev, &["timestamp_nanoseconds"])
        .and_then(|v| v.as_u64())
        .unwrap_or(0)
        .min(999_999_999);
    let time = entry
        .event_time
        .saturating_mul(1000)
        .saturating_add(i64::try_from(nanos / 1_000_000).unwrap_or(0));
    take(&mut ev, &["timestamp"]);
    take(&mut ev, &["id"]);
    take(&mut ev, &["event_type_id"]);
    let event_type = take_str(&mut ev, &["event_type"]);
    let kind = finding(entry.event_type_id);
    let device = device(&mut ev, entry);

    let mut profiles = Vec::new();
    if device.is_some() {
        profiles.push("host");
    }
    if kind.is_some() {
        profiles.push("security_control");
    }
    let mut metadata = json!({
        "version": OCSF_VERSION,
        "product": {"name": PRODUCT_NAME, "vendor_name": VENDOR_NAME},
        "uid": entry.event_id.to_string(),
        "tenant_uid": entry.tenant,
        "event_code": entry.event_type_id.to_string(),
        "logged_time": entry.received_at,
        "profiles": profiles,
    });
    if let Some(date) = take_str(&mut ev, &["date"]) {
        metadata["original_time"] = Value::String(date);
    }
    out.insert("metadata".into(), metadata);
    out.insert("time".into(), json!(time));
    let (severity_id, severity) = severity(take(&mut ev, &["severity"]), entry);
    out.insert("severity_id".into(), json!(severity_id));
    if let Some(s) = severity {
        out.insert("severity".into(), Value::String(s));
    }
    if let Some(start) = ev.get("start_timestamp").and_then(Value::as_i64) {
        out.insert("start_time".into(), json!(start.saturating_mul(1000)));
        take(&mut ev, &["start_timestamp"]);
        take(&mut ev, &["start_date"]);
    }
    let description = description(&ev);
    if let Some(d) = description.clone().or_else(|| event_type.clone()) {
        out.insert("message".into(), Value::String(d));
    }
    let error_code = take(&mut ev, &["error", "error_code"]).map(scalar_text);
    let failed = entry.event_type_id >= 0x8000_0000 || error_code.is_some();
    if let Some(code) = error_code {
        out.insert("status_code".into(), Value::String(code));
    }
    if let Some(d) = take_str(&mut ev, &["error", "description"]) {
        out.insert("status_detail".into(), Value::String(d));
    }
    if let Some(d) = device {
        out.insert("device".into(), d);
    }

    match kind {
        Some(k) => detection_finding(&mut out, &mut ev, entry, k, time, event_type, description),
        None => {
            let name = event_type.unwrap_or_else(|| "Other".to_string());
            classify(&mut out, 0, 0, 99, &name, "Base Event", "Uncategorized");
            if failed {
                out.insert("status_id".into(), json!(2));
                out.insert("status".into(), json!("Failure"));
            }
        }
    }
    if let Some(raw) = raw_data {
        out.insert("raw_data".into(), Value::String(raw));
    }
    let mut rest = Value::Object(ev);
    prune(&mut rest);
    if rest.as_object().is_some_and(|m| !m.is_empty()) {
        out.insert("unmapped".into(), rest);
    }
    Value::Object(out)
}

/// The classification attributes; `type_uid` is `class_uid * 100 + activity_id`.
fn classify(
    out: &mut Map<String, Value>,
    class_uid: u64,
    category_uid: u64,
    activity_id: u64,
    activity: &str,
    class: &str,
    category: &str,
) {
    out.insert("class_uid".into(), json!(class_uid));
    out.insert("class_name".into(), json!(class));
    out.insert("category_uid".into(), json!(category_uid));
    out.insert("category_name".into(), json!(category));
    out.insert("activity_id".into(), json!(activity_id));
    out.insert("activity_name".into(), json!(activity));
    out.insert("type_uid".into(), json!(class_uid * 100 + activity_id));
    // For Other (99) the activity name is the vendor's label; the type name stays generic.
    let caption = if activity_id == 99 { "Other" } else { activity };
    out.insert("type_name".into(), json!(format!("{class}: {caption}")));
}

fn detection_finding(
    out: &mut Map<String, Value>,
    ev: &mut Map<String, Value>,
    entry: &JournalEntry,
    k: FindingKind,
    time: i64,
    event_type: Option<String>,
    description: Option<String>,
) {
    let activity = if k.activity_id == CREATE {
        "Create"
    } else {
        "Update"
    };
    let label = event_type.clone().unwrap_or_else(|| "Other".to_string());
    classify(
        out,
        2004,
        2,
        k.activity_id,
        activity,
        "Detection Finding",
        "Findings",
    );
    // The detection id ties a detection to its later states (quarantine, restore...).
    let uid = take(ev, &["detection_id"])
        .map(scalar_text)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| entry.event_id.to_string());
    let detection = take_str(ev, &["detection"]);
    let hunt_title = ev
        .get("threat_hunting")
        .and_then(|t| t.get("incident_title"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut info = json!({"uid": uid});
    if let Some(t) = detection.clone().or(hunt_title).or(event_type.clone()) {
        info["title"] = Value::String(t);
    }
    if let Some(t) = event_type {
        info["types"] = json!([t]);
    }
    if let Some(d) = description {
        info["desc"] = Value::String(d);
    }
    if k.activity_id == CREATE {
        info["created_time"] = json!(time);
    }
    let attacks = attacks(ev);
    if !attacks.is_empty() {
        info["attacks"] = Value::Array(attacks.clone());
        // The Security Control profile's copy, as the Detection Finding class asks.
        out.insert("attacks".into(), Value::Array(attacks));
    }
    out.insert("finding_info".into(), info);
    // The finding's triage state: AMP has none, so a new detection is New and a later state
    // of it In Progress.
    let status = if k.activity_id == CREATE { 1 } else { 2 };
    out.insert("status_id".into(), json!(status));
    out.insert(
        "status".into(),
        json!(if status == 1 { "New" } else { "In Progress" }),
    );
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

fn severity(v: Option<Value>, entry: &JournalEntry) -> (u64, Option<String>) {
    let text = match v {
        Some(Value::String(s)) => s,
        Some(other) if !other.is_null() => return (99, Some(scalar_text(other))),
        _ => match entry.severity {
            Some(s) => format!("{s:?}"),
            None => return (0, None),
        },
    };
    let known = [
        ("low", 2, "Low"),
        ("medium", 3, "Medium"),
        ("high", 4, "High"),
    ];
    let known = known.iter().chain(&[("critical", 5, "Critical")]);
    match known
        .clone()
        .find(|(l, _, _)| text.trim().eq_ignore_ascii_case(l))
    {
        Some((_, id, caption)) => (*id, Some(caption.to_string())),
        None if text.trim().is_empty() => (0, None),
        None => (99, Some(text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(raw: &str, type_id: u64) -> JournalEntry {
        JournalEntry {
            tenant: "acme".into(),
            event_id: 7,
            event_type_id: type_id,
            event_time: 1_610_629_577,
            received_at: 1_610_629_578_000,
            raw: raw.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_detection_is_a_detection_finding_and_the_rest_stays_unmapped() {
        let raw = r#"{"id":7,"timestamp":1610629577,"timestamp_nanoseconds":45000000,"event_type":"Threat Detected","event_type_id":1090519054,"detection":"W32.Trojan.X","detection_id":"6","severity":"High","computer":{"hostname":"H","connector_guid":"g","user":"u@x","network_addresses":[{"ip":"10.0.0.1","mac":"aa:bb:cc:dd:ee:ff"}]},"file":{"file_name":"a.exe","identity":{"sha256":"ab"},"parent":{"process_id":"12","file_name":"p.exe"}},"tactics":["TA0002"]}"#;
        let o = to_ocsf(&entry(raw, 1090519054));
        assert_eq!(o["type_uid"], 200401);
        assert_eq!(o["time"], 1_610_629_577_045_i64);
        assert_eq!(o["severity_id"], 4);
        assert_eq!(o["finding_info"]["uid"], "6");
        assert_eq!(o["malware"][0]["classification_ids"][0], 18);
        assert_eq!(o["evidences"][0]["process"]["pid"], 12);
        assert_eq!(o["evidences"][0]["file"]["hashes"][0]["algorithm_id"], 3);
        assert_eq!(o["attacks"][0]["tactic"]["uid"], "TA0002");
        assert_eq!(o["device"]["mac"], "aa:bb:cc:dd:ee:ff");
        assert_eq!(o["unmapped"], json!({"computer": {"user": "u@x"}}));
        assert_eq!(o["metadata"]["tenant_uid"], "acme");
    }

    #[test]
    fn odd_input_and_failures_become_base_events() {
        let o = to_ocsf(&entry("[1,2]", 42));
        assert_eq!(o["class_uid"], 0);
        assert_eq!(o["raw_data"], "[1,2]");
        let f = to_ocsf(&entry(
            r#"{"event_type":"Install Failure","error":{"error_code":5,"description":"x"}}"#,
            2164260895,
        ));
        assert_eq!(f["status_id"], 2);
        assert_eq!(f["status_code"], "5");
        assert!(f.get("unmapped").is_none(), "{f}");
    }
}
