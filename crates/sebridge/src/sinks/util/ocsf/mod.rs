//! Secure Endpoint event → OCSF event (`format = "ocsf"` of the file, webhook and Splunk HEC
//! sinks), one journal event at a time. Checked against the copy of the OCSF schema in
//! `tests/ocsf-schema/` by `tests/it/ocsf.rs`, with a golden file per event type.
//!
//! Which class (the table is [`class_of`], the detections' shapes [`finding`]; the README has
//! the same):
//!
//! | Secure Endpoint events | OCSF class | activity |
//! |---|---|---|
//! | detections and alerts: Threat Detected, Rootkit, DFC, APK, iOS network, Exploit Prevention, System Process Protection, Malicious Activity, Execution Blocked, Threat Quarantined, Retrospective, Threat Detection, every indication of compromise (1107296257-1107296285), SecureX Threat Hunting | Detection Finding 2004 with the Security Control profile | Create (1) |
//! | what later happens to a detection: quarantine restored / deleted / cloud recall, and their failures | Detection Finding 2004, same `finding_info.uid` (the `detection_id`) | Update (2) |
//! | Vulnerable Application Detected (`vulnerabilities[]` with CVEs; without a CVE it stays a Detection Finding) | Vulnerability Finding 2002 | Create (1) |
//! | scans: Scan / Endpoint IOC Scan Started, Completed (with or without detections), Detection Summary, Failed | Scan Activity 6007 | Started (1), Completed (2), Error (6) |
//! | the connector's own lifecycle: install, uninstall, product / policy / definition / Endpoint IOC updates, reboots, Orbital install and update, initial registration, and their failures | Application Lifecycle 6002 (`app` = the connector or Orbital) | Install (1), Remove (2), Restart (5), Update (8) |
//! | endpoint isolation: start, update, stop, their failures, unlock limit reached | Remediation Activity 7001, D3FEND `countermeasures` | Isolate (1), Restore (3), Other (99) |
//! | faults, file fetch, console account events (1003-1005), application (de)registration and (de)authorization, event types this table does not know | Base Event 0 | Other (99), `activity_name` = the event type |
//!
//! Every event: `metadata` (schema version, product Cisco Secure Endpoint, `uid` = the event id,
//! `tenant_uid` = the sebridge tenant, `event_code` = the event type id, `original_time`,
//! `logged_time` = when the journal received it), `time` in epoch milliseconds with the vendor's
//! sub-second part, `severity_id` from `severity`, `device` from `computer` (Host profile) and,
//! in `unmapped`, every vendor field not mapped (so nothing is lost). Outside the findings,
//! `status_id` is the outcome: Success, Failure (event type ids with the high bit set, e.g.
//! 2164260880, and events with an error; the vendor error is `status_code` / `status_detail`)
//! or Other with the vendor's word ("Started", "Pending", "Reboot Required") for a step still
//! under way.
//!
//! Deliberately not mapped (kept in `unmapped`): `computer.user` and `group_guids` (the
//! schema copy has no `user`/`group` objects), files without a name (OCSF requires
//! `file.name`; quarantine events often carry only the SHA-256), processes without a pid,
//! `isolation.user` / `isolation.duration` (Remediation Activity has no actor, and the unit is
//! not documented), `scan.scanned_paths` and `scan.clean`, `bp_data`, `orbital.old_version`
//! (and `orbital.version` after a failure: only the version that was tried), the vendor
//! `vulnerabilities` array (its CVSS scores: OCSF's `cvss` needs the CVSS version).
//! Account Change would need the `user` whose account changed, which 1003-1005 do not name,
//! and Application Registered & co. do not say which application: both stay Base Events.

use crate::store::JournalEntry;
use serde_json::{json, Map, Value};

mod activity;
mod findings;
mod objects;
pub use findings::{finding, FindingKind};
use objects::{description, device, prune, scalar_text, take, take_str, vulnerabilities};

/// The OCSF release the events declare (`metadata.version`); see tests/ocsf-schema/README.md.
pub const OCSF_VERSION: &str = "1.5.0";
pub const PRODUCT_NAME: &str = "Secure Endpoint";
pub const VENDOR_NAME: &str = "Cisco";

/// How an activity ended, as the base `status_id` says it (a failure event type overrides it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No `status_id` (the activity itself says it, e.g. a scan that started).
    Unknown,
    Success,
    Failure,
    /// `status_id` Other (99) with this `status`: a step still under way.
    Other(&'static str),
}

/// The activity of an event in an activity class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activity {
    pub activity_id: u64,
    pub outcome: Outcome,
}

/// The application of an Application Lifecycle event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum App {
    /// The Secure Endpoint connector itself (its install, updates, policy, definitions).
    Connector,
    /// Cisco Orbital, which the connector installs and updates (`orbital.version`).
    Orbital,
}

/// The OCSF class of an event type, with what the class needs to know about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcsfClass {
    BaseEvent,
    DetectionFinding(FindingKind),
    VulnerabilityFinding,
    ScanActivity(Activity),
    ApplicationLifecycle(Activity, App),
    RemediationActivity(Activity),
}

impl OcsfClass {
    pub fn class_uid(&self) -> u64 {
        match self {
            OcsfClass::BaseEvent => 0,
            OcsfClass::DetectionFinding(_) => 2004,
            OcsfClass::VulnerabilityFinding => 2002,
            OcsfClass::ScanActivity(_) => 6007,
            OcsfClass::ApplicationLifecycle(..) => 6002,
            OcsfClass::RemediationActivity(_) => 7001,
        }
    }
}

// Activities (the class files' `activity_id` enums).
const SCAN_STARTED: u64 = 1;
const SCAN_COMPLETED: u64 = 2;
const SCAN_ERROR: u64 = 6;
const INSTALL: u64 = 1;
const REMOVE: u64 = 2;
const RESTART: u64 = 5;
const UPDATE: u64 = 8;
const ISOLATE: u64 = 1;
const RESTORE: u64 = 3;
const OTHER_ACTIVITY: u64 = 99;

/// The class of an event type (the table of the module documentation). Ids the simulator does
/// not serve but the reference's CIM table names are included where their name is clear:
/// initial agent registration (50331649) and the definition updates (553648131, 553648133,
/// 2164260868).
pub fn class_of(event_type_id: u64) -> OcsfClass {
    use OcsfClass::{
        ApplicationLifecycle as Life, RemediationActivity as Rem, ScanActivity as Scan,
    };
    use Outcome::{Failure, Other, Success, Unknown};
    let a = |activity_id, outcome| Activity {
        activity_id,
        outcome,
    };
    match event_type_id {
        1107296279 => OcsfClass::VulnerabilityFinding,
        554696714 | 554696756 => Scan(a(SCAN_STARTED, Unknown)),
        554696715 | 554696757 | 1090519089 | 1091567628 | 1091567670 => {
            Scan(a(SCAN_COMPLETED, Success))
        }
        2165309453 | 2165309495 => Scan(a(SCAN_ERROR, Failure)),
        50331649 => Life(a(INSTALL, Success), App::Connector),
        553648158 => Life(a(INSTALL, Other("Started")), App::Connector),
        2164260895 => Life(a(INSTALL, Failure), App::Connector),
        553648166 => Life(a(REMOVE, Success), App::Connector),
        2164260903 => Life(a(REMOVE, Failure), App::Connector),
        553648170 => Life(a(RESTART, Other("Pending")), App::Connector),
        553648171 => Life(a(RESTART, Success), App::Connector),
        // Product, policy, definition and Endpoint IOC updates of the connector.
        553648130 | 553648133 | 553648136 | 553648176 | 553648179 => {
            Life(a(UPDATE, Success), App::Connector)
        }
        553648131 | 553648135 => Life(a(UPDATE, Other("Started")), App::Connector),
        553648137 | 2164260866 | 2164260868 | 2164260911 | 2164260914 | 2164260922 => {
            Life(a(UPDATE, Failure), App::Connector)
        }
        1090519096 => Life(a(UPDATE, Other("Reboot Required")), App::Connector),
        1090519097 => Life(a(UPDATE, Other("Reboot Advised")), App::Connector),
        553648208 => Life(a(INSTALL, Success), App::Orbital),
        2164260945 => Life(a(INSTALL, Failure), App::Orbital),
        553648210 => Life(a(UPDATE, Success), App::Orbital),
        2164260947 => Life(a(UPDATE, Failure), App::Orbital),
        // Isolation: start and update isolate the computer, stop restores its network.
        553648202 | 553648206 => Rem(a(ISOLATE, Success)),
        2164260939 | 2164260943 => Rem(a(ISOLATE, Failure)),
        553648204 => Rem(a(RESTORE, Success)),
        2164260941 => Rem(a(RESTORE, Failure)),
        553648215 => Rem(a(OTHER_ACTIVITY, Unknown)),
        id => finding(id).map_or(OcsfClass::BaseEvent, OcsfClass::DetectionFinding),
    }
}

/// Appends the OCSF event of `entry` to `out` as one line of compact JSON (no newline).
pub fn write_ocsf(entry: &JournalEntry, out: &mut String) {
    // Serialising a `Value` fails only for non-string map keys, which a `Value` cannot hold.
    if let Ok(text) = serde_json::to_string(&to_ocsf(entry)) {
        out.push_str(&text);
    }
}

/// What the class builders share: the vendor event's type name and one-line description,
/// the event time in milliseconds, and whether it reports a failure.
struct Common<'a> {
    entry: &'a JournalEntry,
    event_type: Option<String>,
    description: Option<String>,
    time: i64,
    failed: bool,
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
    let mut class = class_of(entry.event_type_id);
    if class == OcsfClass::VulnerabilityFinding && vulnerabilities(&ev).is_none() {
        // Vulnerability Finding requires a vulnerability, and OCSF's needs a CVE id.
        class =
            finding(entry.event_type_id).map_or(OcsfClass::BaseEvent, OcsfClass::DetectionFinding);
    }
    let device = device(&mut ev, entry);

    let mut profiles = Vec::new();
    if device.is_some() {
        profiles.push("host");
    }
    if matches!(class, OcsfClass::DetectionFinding(_)) {
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

    let common = Common {
        entry,
        event_type,
        description,
        time,
        failed,
    };
    let label = || common.event_type.clone().unwrap_or_else(|| "Other".into());
    match class {
        OcsfClass::DetectionFinding(k) => findings::detection(&mut out, &mut ev, &common, k),
        OcsfClass::VulnerabilityFinding => findings::vulnerability(&mut out, &mut ev, &common),
        OcsfClass::ScanActivity(a) => activity::scan(&mut out, &mut ev, &common, a),
        OcsfClass::ApplicationLifecycle(a, app) => {
            activity::lifecycle(&mut out, &mut ev, &common, a, app)
        }
        OcsfClass::RemediationActivity(a) => activity::remediation(&mut out, &mut ev, &common, a),
        OcsfClass::BaseEvent => {
            classify(&mut out, 0, 0, 99, &label(), "Base Event", "Uncategorized");
            status(&mut out, Outcome::Unknown, failed);
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

/// The base `status_id` / `status` of an activity: Failure when `failed`, else `outcome`.
fn status(out: &mut Map<String, Value>, outcome: Outcome, failed: bool) {
    let (id, caption) = match (failed, outcome) {
        (true, _) | (false, Outcome::Failure) => (2, "Failure"),
        (false, Outcome::Success) => (1, "Success"),
        (false, Outcome::Other(word)) => (99, word),
        (false, Outcome::Unknown) => return,
    };
    out.insert("status_id".into(), json!(id));
    out.insert("status".into(), json!(caption));
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
mod tests;
