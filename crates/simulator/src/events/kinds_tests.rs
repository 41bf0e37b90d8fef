//! Every event type of the reference table is generated, each with the field shapes the
//! reference (§4.4) and the captures give it; the live mix reaches every type, including the
//! 36 high-priority types of the public MSSP sample's default list.
//!
//! The expectations below are written from the reference, independently of the generator's
//! own table (`mix.rs`), so a type given the wrong shape there fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::SeedableRng;
use serde_json::Value;

use super::store::EventText;
use super::{sample_events, Generator, StoredEvent};
use crate::event_types::EVENT_TYPES;
use crate::world::World;

const AT: i64 = 1_610_629_577; // 2021-01-14T13:06:17Z

/// Types with a detection name (`detection`) and `detection_id`.
const DETECTION: &[u32] = &[
    553648145, 553648147, 553648199, 1090519054, 1090519081, 1090519084, 1090519105, 1090524040,
    1090524041,
];
/// Quarantine operations: `detection_id` and `file{disposition, identity{sha256}}`, like the
/// Threat Quarantined capture.
const QUARANTINE: &[u32] = &[
    553648143, 553648146, 553648149, 553648150, 553648151, 553648152, 553648154, 553648155,
    570425394, 2164260880, 2164260884, 2164260889, 2164260892, 2164260893, 2181038130,
];
/// Types whose `file` has name, path and identity.
const FULL_FILE: &[u32] = &[
    553648145, 553648147, 553648168, 553648173, 553648199, 1090519054, 1090519081, 1090519103,
    1090519105, 1090519112, 1090524040, 1090524041, 1107296257, 1107296258, 1107296260, 1107296261,
    1107296262, 1107296263, 1107296264, 1107296265, 1107296266, 1107296267, 1107296268, 1107296269,
    1107296270, 1107296271, 1107296272, 1107296275, 1107296276, 1107296278, 1107296279, 1107296280,
    1107296281, 1107296282, 1107296283, 1107296284, 2164260910,
];
/// Network connections: `network_info` with the whole flow.
const NETWORK: &[u32] = &[1090519084, 1090519102, 1107296273, 1107296277];
/// Applications that launched a shell (or a script host): `command_line.arguments`.
const COMMAND_LINE: &[u32] = &[
    1107296265, 1107296266, 1107296267, 1107296268, 1107296269, 1107296271, 1107296282, 1107296283,
];
const ISOLATION: &[u32] = &[
    553648202, 553648204, 553648206, 553648215, 2164260939, 2164260941, 2164260943,
];
const ORBITAL: &[u32] = &[553648208, 553648210, 2164260945, 2164260947];
const BP_DATA: &[u32] = &[553648135, 553648136, 553648137];
const SCAN: &[u32] = &[
    554696714, 554696715, 554696756, 554696757, 1090519089, 1091567628, 1091567670, 2165309453,
    2165309495,
];

/// The top-level keys an event may have: the envelope and the reference's fields (§4.4).
const ENVELOPE: &[&str] = &[
    "id",
    "timestamp",
    "timestamp_nanoseconds",
    "date",
    "event_type",
    "event_type_id",
    "connector_guid",
    "group_guids",
    "severity",
    "computer",
];
const FIELDS: &[&str] = &[
    "detection",
    "detection_id",
    "start_timestamp",
    "start_date",
    "file",
    "error",
    "cloud_ioc",
    "network_info",
    "vulnerabilities",
    "scan",
    "command_line",
    "isolation",
    "bp_data",
    "tactics",
    "techniques",
    "threat_hunting",
    "orbital",
];

fn world() -> World {
    let mut rng = SmallRng::seed_from_u64(11);
    World::generate(&mut rng, "t", "http://127.0.0.1:1", AT)
}

fn at<'v>(v: &'v Value, path: &str) -> &'v Value {
    v.pointer(path).unwrap_or(&Value::Null)
}

fn string(v: &Value, path: &str, ctx: &str) -> String {
    match at(v, path).as_str() {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => panic!("{ctx}: {path} is not a non-empty string: {v}"),
    }
}

fn uint(v: &Value, path: &str, ctx: &str) -> u64 {
    at(v, path)
        .as_u64()
        .unwrap_or_else(|| panic!("{ctx}: {path} is not an unsigned integer: {v}"))
}

fn hex(v: &Value, path: &str, len: usize, ctx: &str) {
    let s = string(v, path, ctx);
    assert!(
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{ctx}: {path} is not {len} lowercase hex digits: {s}"
    );
}

fn check_envelope(v: &Value, type_id: u32, ctx: &str) {
    let obj = v.as_object().expect("an object");
    for k in obj.keys() {
        assert!(
            ENVELOPE.contains(&k.as_str()) || FIELDS.contains(&k.as_str()),
            "{ctx}: `{k}` is not a field of the reference"
        );
    }
    let t = EVENT_TYPES.iter().find(|t| t.id == type_id).expect("known");
    assert_eq!(uint(v, "/event_type_id", ctx), u64::from(type_id), "{ctx}");
    assert_eq!(string(v, "/event_type", ctx), t.name, "{ctx}");
    assert_eq!(at(v, "/timestamp").as_i64(), Some(AT), "{ctx}");
    assert!(
        uint(v, "/timestamp_nanoseconds", ctx) < 1_000_000_000,
        "{ctx}"
    );
    assert_eq!(
        string(v, "/date", ctx),
        "2021-01-14T13:06:17+00:00",
        "{ctx}"
    );
    let guid = string(v, "/connector_guid", ctx);
    assert_eq!(string(v, "/computer/connector_guid", ctx), guid, "{ctx}");
    string(v, "/computer/hostname", ctx);
    string(v, "/computer/external_ip", ctx);
    assert!(at(v, "/computer/active").is_boolean(), "{ctx}");
    string(v, "/computer/network_addresses/0/ip", ctx);
    string(v, "/computer/network_addresses/0/mac", ctx);
    for l in ["computer", "trajectory", "group"] {
        assert!(string(v, &format!("/computer/links/{l}"), ctx).starts_with("http"));
    }
    if type_id == 1107296344 {
        // Real events of this type have no id and no group_guids.
        assert!(
            obj.get("id").is_none() && obj.get("group_guids").is_none(),
            "{ctx}"
        );
    } else {
        assert!(uint(v, "/id", ctx) > 1 << 53, "{ctx}: ids above 2^53");
        string(v, "/group_guids/0", ctx);
        assert_eq!(at(v, "/group_guids").as_array().map(Vec::len), Some(1));
    }
    if let Some(s) = obj.get("severity") {
        assert!(
            ["Low", "Medium", "High", "Critical"].contains(&s.as_str().unwrap_or("")),
            "{ctx}: severity {s}"
        );
    }
    if obj.contains_key("detection_id") {
        let d = string(v, "/detection_id", ctx);
        assert!(
            d.bytes().all(|b| b.is_ascii_digit()),
            "{ctx}: detection_id {d}"
        );
    }
}

fn check_file(v: &Value, type_id: u32, ctx: &str) {
    let f = at(v, "/file");
    if f.is_null() {
        return;
    }
    let disposition = string(v, "/file/disposition", ctx);
    assert!(
        ["Malicious", "Clean", "Unknown"].contains(&disposition.as_str()),
        "{ctx}: disposition {disposition}"
    );
    hex(v, "/file/identity/sha256", 64, ctx);
    if !at(v, "/file/identity/sha1").is_null() {
        hex(v, "/file/identity/sha1", 40, ctx);
    }
    if !at(v, "/file/identity/md5").is_null() {
        hex(v, "/file/identity/md5", 32, ctx);
    }
    if FULL_FILE.contains(&type_id) {
        string(v, "/file/file_name", ctx);
        string(v, "/file/file_path", ctx);
    }
    if !at(v, "/file/parent").is_null() {
        string(v, "/file/parent/disposition", ctx);
        hex(v, "/file/parent/identity/sha256", 64, ctx);
    }
}

fn check_network(v: &Value, type_id: u32, ctx: &str) {
    let local = string(v, "/network_info/local_ip", ctx);
    assert_eq!(
        local,
        string(v, "/computer/network_addresses/0/ip", ctx),
        "{ctx}"
    );
    for p in ["/network_info/local_ip", "/network_info/remote_ip"] {
        let ip = string(v, p, ctx);
        assert!(ip.parse::<std::net::IpAddr>().is_ok(), "{ctx}: {p} {ip}");
    }
    for p in ["/network_info/local_port", "/network_info/remote_port"] {
        assert!((1..=65_535).contains(&uint(v, p, ctx)), "{ctx}: {p}");
    }
    let dir = string(v, "/network_info/nfm/direction", ctx);
    assert!(
        dir == "Outgoing connection from" || dir == "Incoming connection from",
        "{ctx}: {dir}"
    );
    let proto = string(v, "/network_info/nfm/protocol", ctx);
    assert!(proto == "TCP" || proto == "UDP", "{ctx}: {proto}");
    if type_id != 1090519102 {
        // iOS detections have no process behind the flow.
        string(v, "/network_info/parent/disposition", ctx);
        hex(v, "/network_info/parent/identity/sha256", 64, ctx);
        string(v, "/network_info/parent/file_name", ctx);
    }
}

/// The reference's shape of one event of `type_id` (envelope and kind-specific fields).
fn check_shape(v: &Value, type_id: u32) {
    let ctx = &format!("{type_id}");
    check_envelope(v, type_id, ctx);
    check_file(v, type_id, ctx);
    let has = |k: &str| v.get(k).is_some();
    let listed = |l: &[u32]| l.contains(&type_id);
    assert_eq!(has("detection"), listed(DETECTION), "{ctx}: detection");
    assert_eq!(
        has("detection_id"),
        listed(DETECTION) || listed(QUARANTINE),
        "{ctx}: detection_id"
    );
    if listed(QUARANTINE) {
        string(v, "/file/disposition", ctx);
        hex(v, "/file/identity/sha256", 64, ctx);
    }
    assert_eq!(has("error"), type_id == 2164260880, "{ctx}: error");
    if has("error") {
        uint(v, "/error/error_code", ctx);
        string(v, "/error/description", ctx);
    }
    assert_eq!(
        has("network_info") && type_id != 1107296274,
        listed(NETWORK),
        "{ctx}: network_info"
    );
    if listed(NETWORK) {
        check_network(v, type_id, ctx);
    }
    assert_eq!(
        has("command_line"),
        listed(COMMAND_LINE),
        "{ctx}: command_line"
    );
    if listed(COMMAND_LINE) {
        string(v, "/command_line/arguments", ctx);
    }
    assert_eq!(has("cloud_ioc"), type_id == 1107296274, "{ctx}: cloud_ioc");
    if has("cloud_ioc") {
        string(v, "/cloud_ioc/description", ctx);
        string(v, "/cloud_ioc/short_description", ctx);
        assert!(at(v, "/start_timestamp").as_i64().is_some_and(|s| s <= AT));
        string(v, "/start_date", ctx);
        assert!(has("file") || has("network_info"), "{ctx}");
    }
    assert_eq!(has("vulnerabilities"), type_id == 1107296279, "{ctx}");
    if let Some(vulns) = v.get("vulnerabilities") {
        let vulns = vulns.as_array().expect("vulnerabilities[]");
        assert!(!vulns.is_empty());
        for (i, x) in vulns.iter().enumerate() {
            for k in ["name", "version", "url"] {
                string(x, &format!("/{k}"), &format!("{ctx} vulnerability {i}"));
            }
            assert!(string(x, "/cve", ctx).starts_with("CVE-"));
            let score = x["score"].as_f64().expect("score is a number");
            assert!((0.0..=10.0).contains(&score));
        }
        string(v, "/file/file_name", ctx);
    }
    assert_eq!(has("isolation"), listed(ISOLATION), "{ctx}: isolation");
    if listed(ISOLATION) {
        string(v, "/isolation/user", ctx);
        assert_eq!(
            has_at(v, "/isolation/duration"),
            type_id == 553648204,
            "{ctx}"
        );
        if type_id == 553648204 {
            uint(v, "/isolation/duration", ctx);
        }
        let failure = type_id >= 2164260939;
        assert_eq!(has_at(v, "/isolation/error_code"), failure, "{ctx}");
        if failure {
            uint(v, "/isolation/error_code", ctx);
        }
    }
    assert_eq!(has("orbital"), listed(ORBITAL), "{ctx}: orbital");
    if listed(ORBITAL) {
        string(v, "/orbital/version", ctx);
        let update = type_id == 553648210 || type_id == 2164260947;
        assert_eq!(has_at(v, "/orbital/old_version"), update, "{ctx}");
    }
    assert_eq!(has("bp_data"), listed(BP_DATA), "{ctx}: bp_data");
    if listed(BP_DATA) {
        let bp = v["bp_data"].as_object().expect("bp_data{}");
        assert!(bp.keys().all(|k| [
            "package_manager_serial_number",
            "package_manager_current_version",
            "package_manager_pending_version",
            "sts"
        ]
        .contains(&k.as_str())));
        assert!(bp.values().all(Value::is_u64), "{ctx}: numbers");
        uint(v, "/bp_data/sts", ctx);
    }
    assert_eq!(has("scan"), listed(SCAN), "{ctx}: scan");
    if listed(SCAN) {
        string(v, "/scan/description", ctx);
        if let Some(clean) = at(v, "/scan/clean").as_bool() {
            for k in ["scanned_files", "scanned_processes", "scanned_paths"] {
                uint(v, &format!("/scan/{k}"), ctx);
            }
            let found = uint(v, "/scan/malicious_detections", ctx);
            assert_eq!(clean, found == 0, "{ctx}");
            let with_detections = [1090519089, 1091567628, 1091567670].contains(&type_id);
            assert_eq!(!clean, with_detections, "{ctx}");
        } else {
            assert!([554696714, 554696756, 2165309453, 2165309495].contains(&type_id));
        }
    }
    assert_eq!(has("threat_hunting"), type_id == 1107296344, "{ctx}");
    if has("threat_hunting") {
        for k in [
            "incident_report_guid",
            "incident_hunt_guid",
            "incident_title",
            "incident_summary",
            "incident_remediation",
        ] {
            string(v, &format!("/threat_hunting/{k}"), ctx);
        }
        assert_eq!(string(v, "/threat_hunting/severity", ctx), "critical");
        for k in ["incident_id", "incident_start_time", "incident_end_time"] {
            uint(v, &format!("/threat_hunting/{k}"), ctx);
        }
    }
    if type_id == 1090519103 {
        for k in ["application", "attacked_module", "base_address"] {
            string(v, &format!("/file/attack_details/{k}"), ctx);
        }
        assert!(at(v, "/file/attack_details/indicators/0/id").is_string());
    }
}

fn has_at(v: &Value, path: &str) -> bool {
    v.pointer(path).is_some()
}

#[test]
fn every_type_of_the_reference_table_is_generated_with_its_shape() {
    let w = world();
    for seed in 1..=4 {
        let mut g = Generator::new(SmallRng::seed_from_u64(seed));
        for (i, t) in EVENT_TYPES.iter().enumerate() {
            let mut out = Vec::new();
            assert!(g.generate_type(&w, t.id, None, AT, i as u32, &mut out));
            assert_eq!(out.len(), 1, "one event, no twin");
            let text = out[0].text.to_text();
            let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
            check_shape(&v, t.id);
            // What the store's filters see is what the text says.
            let back = StoredEvent::from_value(&v, EventText::Raw(Arc::from(""))).unwrap();
            let e = &out[0];
            assert_eq!((back.id, back.type_id), (e.id, e.type_id), "{}", t.id);
            assert_eq!((&back.connector, &back.groups), (&e.connector, &e.groups));
            assert_eq!(back.det_sha, e.det_sha, "{}: file sha256", t.id);
            assert_eq!(back.app_sha, e.app_sha, "{}: parent sha256", t.id);
        }
        assert!(!g.generate_type(&w, 42, None, AT, 0, &mut Vec::new()));
        assert!(!g.generate_type(&w, 1003, Some(10_000), AT, 0, &mut Vec::new()));
    }
    // The public sample is the same generator, one event per type in table order.
    let sample = sample_events(3, AT);
    assert_eq!(sample.len(), EVENT_TYPES.len());
    for (text, t) in sample.iter().zip(EVENT_TYPES) {
        let v: Value = serde_json::from_str(text).expect("json");
        check_shape(&v, t.id);
    }
}

/// The default `event_type[]` list of the MSSP sample's "high priority events" request.
fn mssp_high_priority() -> Vec<u32> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/securex-sample-workflow/amp_get_events_request.txt"
    );
    let text = std::fs::read_to_string(path).expect("fixture");
    text.split("event_type[]=")
        .skip(1)
        .map(|s| {
            let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().expect("an id")
        })
        .collect()
}

#[test]
fn the_mix_reaches_every_type_in_sensible_proportions() {
    let w = world();
    let mut g = Generator::new(SmallRng::seed_from_u64(5));
    let n = 200_000;
    let times = g.spread_times(n, 1_610_000_000_000_000_000, 1_610_086_400_000_000_000);
    let mut out = Vec::with_capacity(n);
    g.generate(&w, &times, &mut out);
    assert_eq!(out.len(), n);
    let mut count: BTreeMap<u32, usize> = BTreeMap::new();
    for e in &out {
        *count.entry(e.type_id.expect("type")).or_default() += 1;
    }
    let missing: Vec<u32> = EVENT_TYPES
        .iter()
        .map(|t| t.id)
        .filter(|id| !count.contains_key(id))
        .collect();
    assert!(missing.is_empty(), "never generated: {missing:?}");

    let high = mssp_high_priority();
    assert_eq!(high.len(), 36);
    assert_eq!(high.iter().collect::<BTreeSet<_>>().len(), 36, "no repeats");
    for id in &high {
        assert!(count.contains_key(id), "high-priority type {id} generated");
    }
    // The demo still looks like a real tenant: Policy Update is the commonest event, about a
    // third of the events call for a human, and every Threat Detected has its twin.
    let most = count.iter().max_by_key(|(_, c)| **c).map(|(id, _)| *id);
    assert_eq!(most, Some(553648130));
    let share = high.iter().map(|id| count[id]).sum::<usize>() as f64 / n as f64;
    assert!((0.3..0.45).contains(&share), "high-priority share {share}");
    let twins = count[&553648143] + count[&2164260880];
    assert!(twins.abs_diff(count[&1090519054]) <= 1, "{twins} twins");
}

#[test]
fn generation_is_deterministic_for_a_seed() {
    assert_eq!(sample_events(9, AT), sample_events(9, AT));
    assert_ne!(sample_events(9, AT), sample_events(10, AT));
    let w = world();
    let run = || {
        let mut g = Generator::new(SmallRng::seed_from_u64(21));
        let times = g.spread_times(3000, 0, 3_000_000_000_000);
        let mut out = Vec::new();
        g.generate(&w, &times, &mut out);
        out.iter().map(|e| e.text.to_text()).collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}
