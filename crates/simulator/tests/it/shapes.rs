//! Generated events have the shapes of the captured real payloads
//! (`fixtures/secure-endpoint`) and of the reference's field table.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::common::*;
use serde_json::{Map, Value};

/// Top-level event fields listed in the reference (§4.4).
const REFERENCE_FIELDS: &[&str] = &[
    "id",
    "timestamp",
    "timestamp_nanoseconds",
    "date",
    "event_type",
    "event_type_id",
    "detection",
    "detection_id",
    "connector_guid",
    "group_guids",
    "severity",
    "start_timestamp",
    "start_date",
    "computer",
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
    "user_name",
];

const FILE_FIELDS: &[&str] = &[
    "disposition",
    "file_name",
    "file_path",
    "file_type",
    "identity",
    "parent",
    "archived_file",
    "attack_details",
];

/// Every event object found in the fixtures, grouped by `event_type_id`.
fn fixture_events() -> BTreeMap<u64, Vec<Map<String, Value>>> {
    let mut out: BTreeMap<u64, Vec<Map<String, Value>>> = BTreeMap::new();
    let dir = fixtures_dir();
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("fixtures at {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let candidates: Vec<Value> = match &v {
            Value::Array(a) => a.clone(),
            Value::Object(o) => match o.get("data") {
                Some(Value::Array(a)) => a.clone(),
                Some(d @ Value::Object(_)) => vec![d.clone()],
                _ => vec![],
            },
            _ => vec![],
        };
        for c in candidates {
            if let (Some(id), Value::Object(m)) =
                (c.get("event_type_id").and_then(Value::as_u64), c)
            {
                out.entry(id).or_default().push(m);
            }
        }
    }
    out
}

fn keys(m: &Map<String, Value>) -> BTreeSet<String> {
    m.keys().cloned().collect()
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[tokio::test]
async fn generated_events_have_the_fixture_shapes() {
    let fixtures = fixture_events();
    for id in [
        1090519054u64,
        553648143,
        2164260880,
        1107296274,
        553648147,
        553648130,
        553648173,
        1107296344,
    ] {
        assert!(fixtures.contains_key(&id), "fixture for {id}");
    }
    let fixture_computer_keys: BTreeSet<String> = fixtures
        .values()
        .flatten()
        .filter_map(|e| e.get("computer").and_then(Value::as_object))
        .flat_map(keys)
        .collect();

    let sim = start(quiet(1)).await;
    let t = &sim.tenants()[0];
    let events = sim.generate_events(&t.name, 30_000, None).unwrap();
    let mut by_type: HashMap<u64, Vec<&Map<String, Value>>> = HashMap::new();
    for e in &events {
        let m = e.as_object().expect("event is an object");
        by_type
            .entry(m["event_type_id"].as_u64().unwrap())
            .or_default()
            .push(m);
    }
    // A realistic mix: mostly benign, a fair share of detections, rare hunting incidents.
    let count = |id: u64| by_type.get(&id).map(Vec::len).unwrap_or(0);
    assert!(count(553648130) > count(1090519054) / 2);
    assert!(count(1090519054) > 1000);
    assert!(count(1107296344) > 0 && count(1107296344) < 300);
    for id in [
        553648143, 2164260880, 1107296274, 1107296272, 1107296284, 1090519105, 1090519103,
        553648147, 554696714, 554696715, 553648173,
    ] {
        assert!(count(id) > 0, "type {id} generated");
    }

    let reference: BTreeSet<String> = REFERENCE_FIELDS.iter().map(|s| s.to_string()).collect();
    let mut detections: HashMap<String, (i64, u64, String)> = HashMap::new();
    for (type_id, list) in &by_type {
        let fx = fixtures.get(type_id);
        let fixture_union: BTreeSet<String> = fx.into_iter().flatten().flat_map(keys).collect();
        let fixture_common: Option<BTreeSet<String>> = fx.map(|l| {
            l.iter()
                .map(keys)
                .reduce(|a, b| a.intersection(&b).cloned().collect())
                .unwrap_or_default()
        });
        for e in list {
            let k = keys(e);
            let allowed = if fx.is_some() {
                &fixture_union
            } else {
                &reference
            };
            assert!(
                k.is_subset(allowed),
                "type {type_id}: unexpected keys {:?}",
                k.difference(allowed).collect::<Vec<_>>()
            );
            if let Some(common) = &fixture_common {
                assert!(
                    common.is_subset(&k),
                    "type {type_id}: missing keys {:?}",
                    common.difference(&k).collect::<Vec<_>>()
                );
            }
            if let Some(fl) = fx {
                // severity, id and group_guids present exactly when the fixtures have them.
                for key in ["severity", "id", "group_guids"] {
                    assert_eq!(
                        e.contains_key(key),
                        fl.iter().any(|f| f.contains_key(key)),
                        "presence of {key} for {type_id}"
                    );
                }
            }

            // Value formats.
            let ts = e["timestamp"].as_i64().unwrap();
            let date = time::OffsetDateTime::from_unix_timestamp(ts).unwrap();
            let expected = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00",
                date.year(),
                date.month() as u8,
                date.day(),
                date.hour(),
                date.minute(),
                date.second()
            );
            assert_eq!(e["date"], expected.as_str());
            assert!(e["timestamp_nanoseconds"].as_u64().unwrap() < 1_000_000_000);
            assert_eq!(
                e["event_type"].as_str().unwrap(),
                simulator::event_type(*type_id as u32).unwrap().name
            );
            if let Some(id) = e.get("id") {
                assert!(id.as_u64().unwrap() > 1 << 62);
            }
            if let Some(d) = e.get("detection_id") {
                let d = d.as_str().expect("detection_id is a string");
                assert!(!d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
            }
            if let Some(s) = e.get("severity") {
                assert!(["Low", "Medium", "High", "Critical"].contains(&s.as_str().unwrap()));
            }
            let c = e["computer"].as_object().expect("computer object");
            assert!(keys(c).is_subset(&fixture_computer_keys), "{c:?}");
            assert_eq!(c["connector_guid"], e["connector_guid"]);
            let links: BTreeSet<String> = keys(c["links"].as_object().unwrap());
            assert_eq!(
                links,
                ["computer", "group", "trajectory"].map(String::from).into()
            );
            if let Some(f) = e.get("file").and_then(Value::as_object) {
                for key in f.keys() {
                    assert!(FILE_FIELDS.contains(&key.as_str()), "file.{key}");
                }
                let id = f["identity"].as_object().unwrap();
                assert!(is_hex(id["sha256"].as_str().unwrap(), 64));
                if let Some(s) = id.get("sha1") {
                    assert!(is_hex(s.as_str().unwrap(), 40));
                }
                if let Some(s) = id.get("md5") {
                    assert!(is_hex(s.as_str().unwrap(), 32));
                }
            }

            match type_id {
                1090519054 => {
                    let f = &e["file"];
                    assert!(f["file_path"].as_str().unwrap().starts_with(r"\\?\C:\"));
                    assert!(f["parent"]["identity"]["sha256"].is_string());
                    assert!(c.contains_key("user"));
                    detections.insert(
                        e["detection_id"].as_str().unwrap().to_string(),
                        (
                            ts,
                            e["timestamp_nanoseconds"].as_u64().unwrap(),
                            f["identity"]["sha256"].as_str().unwrap().to_string(),
                        ),
                    );
                }
                2164260880 => {
                    assert!(e["error"]["error_code"].as_u64().unwrap() > 3_000_000_000);
                    assert!(e["error"]["description"].is_string());
                }
                1107296274 => {
                    assert!(e["cloud_ioc"]["short_description"]
                        .as_str()
                        .unwrap()
                        .ends_with(".ioc"));
                    assert!(e["cloud_ioc"]["description"].is_string());
                    let st = e["start_timestamp"].as_i64().unwrap();
                    assert!(st <= ts && e["start_date"].is_string());
                }
                1107296344 => {
                    assert!(e["threat_hunting"]["incident_title"].is_string());
                    assert_eq!(e["severity"], "Critical");
                }
                _ => {}
            }
        }
    }
    // Threat Quarantined / Quarantine Failure share detection_id, time and file with a
    // preceding Threat Detected.
    for follow in [553648143u64, 2164260880] {
        for e in &by_type[&follow] {
            let d = e["detection_id"].as_str().unwrap();
            let (ts, ns, sha) = detections.get(d).expect("matching Threat Detected");
            assert_eq!(e["timestamp"].as_i64(), Some(*ts));
            assert_eq!(e["timestamp_nanoseconds"].as_u64(), Some(*ns));
            assert_eq!(e["file"]["identity"]["sha256"].as_str(), Some(sha.as_str()));
        }
    }
}

#[tokio::test]
async fn detection_pairs_are_served_quarantine_first() {
    let sim = start(quiet(1)).await;
    let t = &sim.tenants()[0];
    sim.generate_events(&t.name, 400, None).unwrap();
    let v = get(
        &sim,
        t,
        "/v1/events?event_type[]=1090519054&event_type[]=553648143&limit=500",
    )
    .await
    .json();
    let data = v["data"].as_array().unwrap();
    // Like the captured pair: same instant, Threat Quarantined listed before Threat Detected.
    let mut pairs = 0;
    for w in data.windows(2) {
        if w[0]["event_type_id"] == 553648143 && w[0]["detection_id"] == w[1]["detection_id"] {
            assert_eq!(w[1]["event_type_id"], 1090519054);
            assert_eq!(
                w[0]["id"].as_u64().unwrap(),
                w[1]["id"].as_u64().unwrap() + 1
            );
            pairs += 1;
        }
    }
    assert!(pairs > 0);
}
