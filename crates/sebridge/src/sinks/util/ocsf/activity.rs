//! The activity classes: Scan Activity (6007), Application Lifecycle (6002) and Remediation
//! Activity (7001).

use super::objects::{get, scalar_text, take, take_str};
use super::{classify, status, Activity, App, Common, Outcome, PRODUCT_NAME, VENDOR_NAME};
use serde_json::{json, Map, Value};

/// The caption of an activity id of `captions`, or the vendor's label for Other (99).
fn activity_name(captions: &[(u64, &'static str)], a: Activity, c: &Common) -> String {
    captions
        .iter()
        .find(|(id, _)| *id == a.activity_id)
        .map(|(_, name)| name.to_string())
        .unwrap_or_else(|| c.event_type.clone().unwrap_or_else(|| "Other".into()))
}

/// Event types of the Endpoint IOC scanner (the others are the antivirus engine's scans).
fn ioc_scan(event_type_id: u64) -> bool {
    matches!(
        event_type_id,
        554696756 | 554696757 | 1090519089 | 1091567670 | 2165309495
    )
}

/// A scan: `scan.name` from `scan.description` ("Full Scan", "Flash Scan"...), the counts.
/// AMP does not say what started the scan, so `scan.type_id` is Unknown.
pub(super) fn scan(
    out: &mut Map<String, Value>,
    ev: &mut Map<String, Value>,
    c: &Common,
    a: Activity,
) {
    const CAPTIONS: &[(u64, &str)] = &[(1, "Started"), (2, "Completed"), (6, "Error")];
    let name = activity_name(CAPTIONS, a, c);
    classify(
        out,
        6007,
        6,
        a.activity_id,
        &name,
        "Scan Activity",
        "Application Activity",
    );
    status(out, a.outcome, c.failed);
    let fallback = if ioc_scan(c.entry.event_type_id) {
        "Endpoint IOC Scan"
    } else {
        "Scan"
    };
    let scan_name = take_str(ev, &["scan", "description"])
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| fallback.to_string());
    out.insert(
        "scan".into(),
        json!({"name": scan_name, "type_id": 0, "type": "Unknown"}),
    );
    for (from, to) in [
        ("scanned_files", "num_files"),
        ("scanned_processes", "num_processes"),
        ("malicious_detections", "num_detections"),
    ] {
        let n = get(ev, &["scan", from])
            .and_then(Value::as_u64)
            .and_then(|n| i32::try_from(n).ok());
        if let Some(n) = n {
            out.insert(to.into(), json!(n));
            take(ev, &["scan", from]);
        }
    }
}

/// The connector's (or Orbital's) install, removal, restart or update.
pub(super) fn lifecycle(
    out: &mut Map<String, Value>,
    ev: &mut Map<String, Value>,
    c: &Common,
    a: Activity,
    app: App,
) {
    const CAPTIONS: &[(u64, &str)] =
        &[(1, "Install"), (2, "Remove"), (5, "Restart"), (8, "Update")];
    let name = activity_name(CAPTIONS, a, c);
    classify(
        out,
        6002,
        6,
        a.activity_id,
        &name,
        "Application Lifecycle",
        "Application Activity",
    );
    status(out, a.outcome, c.failed);
    let app = match app {
        App::Connector => json!({"name": PRODUCT_NAME, "vendor_name": VENDOR_NAME}),
        App::Orbital => {
            let mut o = json!({"name": "Orbital", "vendor_name": VENDOR_NAME});
            // The version it now runs; after a failure `orbital.version` is only the one that
            // was tried, so it stays in `unmapped`.
            let done = a.outcome == Outcome::Success && !c.failed;
            if let Some(v) = get(ev, &["orbital", "version"]).and_then(Value::as_str) {
                if done && !v.is_empty() {
                    o["version"] = json!(v);
                    take(ev, &["orbital", "version"]);
                }
            }
            o
        }
    };
    out.insert("app".into(), app);
}

/// An endpoint isolation (the D3FEND Network Isolation countermeasure) or its end.
/// `command_uid` is required and AMP gives isolation requests no id, so it is the event id.
pub(super) fn remediation(
    out: &mut Map<String, Value>,
    ev: &mut Map<String, Value>,
    c: &Common,
    a: Activity,
) {
    const CAPTIONS: &[(u64, &str)] = &[(1, "Isolate"), (3, "Restore")];
    let name = activity_name(CAPTIONS, a, c);
    classify(
        out,
        7001,
        7,
        a.activity_id,
        &name,
        "Remediation Activity",
        "Remediation",
    );
    // The isolation request's error (an `error.error_code` already there wins; this one
    // then stays in `unmapped`).
    let code = if out.contains_key("status_code") {
        None
    } else {
        take(ev, &["isolation", "error_code"]).map(scalar_text)
    };
    status(out, a.outcome, c.failed || code.is_some());
    if let Some(code) = code {
        out.insert("status_code".into(), Value::String(code));
    }
    out.insert("command_uid".into(), json!(c.entry.event_id.to_string()));
    let tactic = |name: &str| json!({"name": name, "src_url": format!("https://d3fend.mitre.org/tactic/d3f:{name}/")});
    let countermeasure = match a.activity_id {
        1 => Some(json!({
            "d3f_tactic": tactic("Isolate"),
            "d3f_technique": {
                "uid": "D3-NI",
                "name": "Network Isolation",
                "src_url": "https://d3fend.mitre.org/technique/d3f:NetworkIsolation/",
            },
        })),
        3 => Some(json!({ "d3f_tactic": tactic("Restore") })),
        _ => None,
    };
    if let Some(cm) = countermeasure {
        out.insert("countermeasures".into(), json!([cm]));
    }
}
