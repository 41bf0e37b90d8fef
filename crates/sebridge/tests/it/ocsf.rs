//! `format = "ocsf"`: the OCSF encoder's events are valid against the copy of the published
//! OCSF schema in `tests/ocsf-schema/` (see `ocsf_schema.rs`, the validator, and its README),
//! one golden file per event type pins the mapping, and the file, webhook and Splunk HEC sinks
//! deliver schema-valid events from a simulator run.
//!
//! After an intended change of the mapping, `SEBRIDGE_BLESS=1 cargo test -p sebridge --test it
//! ocsf` rewrites `tests/golden/ocsf/` (and adds a case for an event type the simulator has
//! gained); review the change with `git diff`. Refused when `CI` is set.

use super::ocsf_schema::{copied, Schema};
use sebridge::config::Config;
use sebridge::sinks::util::ocsf::{class_of, finding, to_ocsf, OCSF_VERSION};
use sebridge::store::JournalEntry;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/ocsf")
}

fn bless() -> bool {
    let on = std::env::var_os("SEBRIDGE_BLESS").is_some_and(|v| v == "1");
    assert!(
        !(on && std::env::var_os("CI").is_some()),
        "SEBRIDGE_BLESS is refused in CI: the golden files are checked there, never written"
    );
    on
}

/// A journal entry of `raw` as the journal would hold it (tenant `acme`).
fn entry(raw: &str) -> JournalEntry {
    let v: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
    JournalEntry {
        seq: 1,
        tenant: "acme".into(),
        event_id: v["id"].as_u64().unwrap_or(0),
        event_type_id: v["event_type_id"].as_u64().unwrap_or(0),
        event_time: v["timestamp"].as_i64().unwrap_or(0),
        received_at: 1_610_629_600_000,
        source: "poll".into(),
        raw: raw.trim_end().into(),
        ..Default::default()
    }
}

fn assert_valid(schema: &mut Schema, what: &str, event: &Value) {
    let errs = schema.validate(event);
    assert!(
        errs.is_empty(),
        "{what} is not a valid OCSF event:\n  {}\n{event:#}",
        errs.join("\n  ")
    );
}

#[test]
fn the_schema_copy_loads_with_its_classes_and_pinned_gaps() {
    let s = copied();
    assert_eq!(
        s.version, "1.6.0-dev",
        "version.json as copied (see the README)"
    );
    let classes = s.class_names();
    assert_eq!(
        classes,
        BTreeMap::from([
            (0, "base_event".into()),
            (2002, "vulnerability_finding".into()),
            (2004, "detection_finding".into()),
            (6002, "application_lifecycle".into()),
            (6007, "scan_activity".into()),
            (7001, "remediation_activity".into()),
        ])
    );
    let missing: Vec<&str> = s.missing_profiles.iter().map(String::as_str).collect();
    assert_eq!(
        missing,
        [
            "profiles/cloud.json",
            "profiles/datetime.json",
            "profiles/incident.json",
            "profiles/osint.json"
        ],
        "profiles the classes include but the copy leaves out (their attributes are refused)"
    );
    assert!(
        s.undefined.is_empty(),
        "before any object is loaded: {:?}",
        s.undefined
    );
}

/// The validator is not vacuous: each way of breaking a good event is refused, with a reason
/// naming the attribute.
#[test]
fn the_validator_refuses_broken_events_with_a_reason() {
    let mut s = copied();
    let raw = std::fs::read_to_string(
        golden_dir().join("sim-1107296273-suspected-botnet-connection.input.json"),
    )
    .expect("golden input");
    let mut good = to_ocsf(&entry(&raw));
    // The botnet event names no tactic; give it one so the attack cases have one to break.
    good["attacks"] = json!([{"tactic": {"uid": "TA0011", "name": "Command and Control"}}]);
    assert_valid(&mut s, "the botnet golden", &good);
    type Break = fn(&mut Value);
    let cases: Vec<(&str, Break, &str)> = vec![
        (
            "no finding uid",
            |v| {
                v["finding_info"].as_object_mut().unwrap().remove("uid");
            },
            "finding_info.uid: required attribute missing",
        ),
        (
            "invented field",
            |v| v["threat_score"] = json!(3),
            "threat_score: not an attribute",
        ),
        (
            "type_uid",
            |v| v["type_uid"] = json!(200402),
            "type_uid: expected class_uid * 100 + activity_id = 200401",
        ),
        (
            "category",
            |v| v["category_uid"] = json!(1),
            "category_uid: detection_finding is in category 2",
        ),
        (
            "severity enum",
            |v| v["severity_id"] = json!(7),
            "severity_id: 7 is not one of its enum values",
        ),
        (
            "time type",
            |v| v["time"] = json!("2021-01-14"),
            "time: must be timestamp_t (long_t)",
        ),
        (
            "device type_id",
            |v| {
                v["device"].as_object_mut().unwrap().remove("type_id");
            },
            "device.type_id: required attribute missing",
        ),
        (
            "profile not listed",
            |v| v["metadata"]["profiles"] = json!(["host"]),
            "attacks: belongs to profile security_control",
        ),
        (
            "hash algorithm",
            |v| v["evidences"][0]["process"]["file"]["hashes"][0]["algorithm_id"] = json!(42),
            "algorithm_id: 42 is not one of",
        ),
        (
            "port range",
            |v| v["evidences"][0]["dst_endpoint"]["port"] = json!(70000),
            "port: 70000 is outside port_t's range",
        ),
        (
            "not an array",
            |v| v["evidences"] = v["evidences"][0].clone(),
            "evidences: must be an array of evidences",
        ),
        (
            "object attribute",
            |v| v["device"]["owner_name"] = json!("x"),
            "device.owner_name: not an attribute",
        ),
        (
            "unknown class",
            |v| v["class_uid"] = json!(1001),
            "1001 is not a class of the copied schema",
        ),
        ("null", |v| v["message"] = Value::Null, "message: null"),
        (
            "at_least_one",
            |v| v["attacks"][0]["tactic"] = json!({"src_url": "https://attack.mitre.org"}),
            "attacks[0].tactic: needs at least one of",
        ),
    ];
    for (name, break_it, want) in cases {
        let mut bad = good.clone();
        break_it(&mut bad);
        let errs = s.validate(&bad);
        assert!(
            errs.iter().any(|e| e.contains(want)),
            "{name}: expected an error containing {want:?}, got {errs:?}"
        );
    }
}

/// The new classes' own requirements are checked too: each break of a good golden event is
/// refused with the reason.
#[test]
fn the_validator_checks_the_activity_and_vulnerability_classes() {
    let mut s = copied();
    let golden = |name: &str| {
        let raw = std::fs::read_to_string(golden_dir().join(format!("{name}.input.json")))
            .expect("golden input");
        to_ocsf(&entry(&raw))
    };
    type Break = fn(&mut Value);
    let cases: Vec<(&str, Break, &str)> = vec![
        (
            "sim-554696715-scan-completed-no-detections",
            |v| {
                v.as_object_mut().unwrap().remove("scan");
            },
            "scan: required attribute missing",
        ),
        (
            "sim-554696715-scan-completed-no-detections",
            |v| v["scan"]["type_id"] = json!(8),
            "scan.type_id: 8 is not one of",
        ),
        (
            "sim-553648136-product-update-completed",
            |v| {
                v.as_object_mut().unwrap().remove("app");
            },
            "app: required attribute missing",
        ),
        (
            "sim-553648136-product-update-completed",
            |v| {
                v["activity_id"] = json!(9);
                v["type_uid"] = json!(600209);
            },
            "activity_id: 9 is not one of",
        ),
        (
            "sim-553648202-endpoint-isolation-start-success",
            |v| {
                v.as_object_mut().unwrap().remove("command_uid");
            },
            "command_uid: required attribute missing",
        ),
        (
            "sim-553648202-endpoint-isolation-start-success",
            |v| v["countermeasures"][0] = json!({"version": "1.0"}),
            "countermeasures[0]: needs at least one of",
        ),
        (
            "sim-1107296279-vulnerable-application-detected",
            |v| {
                v.as_object_mut().unwrap().remove("vulnerabilities");
            },
            "vulnerabilities: required attribute missing",
        ),
        (
            "sim-1107296279-vulnerable-application-detected",
            |v| {
                v["vulnerabilities"][0]["affected_packages"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("version");
            },
            "affected_packages[0].version: required attribute missing",
        ),
        (
            "sim-1107296279-vulnerable-application-detected",
            |v| v["is_alert"] = json!(true),
            "is_alert: belongs to profile security_control",
        ),
    ];
    for (name, break_it, want) in cases {
        let good = golden(name);
        assert_valid(&mut s, name, &good);
        let mut bad = good.clone();
        break_it(&mut bad);
        let errs = s.validate(&bad);
        assert!(
            errs.iter().any(|e| e.contains(want)),
            "{name}: expected an error containing {want:?}, got {errs:?}"
        );
    }
}

/// (name, input text) of every golden case, sorted.
fn cases() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(golden_dir())
        .map(|rd| rd.flatten().map(|e| e.path()).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| {
            let name = p
                .file_name()?
                .to_str()?
                .strip_suffix(".input.json")?
                .to_string();
            Some((name, std::fs::read_to_string(&p).ok()?))
        })
        .collect();
    out.sort();
    out
}

/// The paths where `got` differs from `want`, with both values.
fn diff(at: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            let keys: BTreeSet<&String> = w.keys().chain(g.keys()).collect();
            for k in keys {
                let p = format!("{at}/{k}");
                match (w.get(k), g.get(k)) {
                    (Some(a), Some(b)) => diff(&p, a, b, out),
                    (a, b) => out.push(format!("{p}: {a:?} -> {b:?}")),
                }
            }
        }
        (a, b) if a != b => out.push(format!("{at}: {a} -> {b}")),
        _ => {}
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// The class and activity of every event type of the golden cases: the table of the README
/// and of the encoder's module documentation, written out here on its own so that a change of
/// the encoder's table shows as a failure. (class_uid, activity_id, event type ids).
#[rustfmt::skip]
const CLASSES: &[(u64, u64, &[u64])] = &[
    // Faults, file fetch, console accounts, application (de)registration.
    (0, 99, &[1003, 1004, 1005, 553648173, 553648195, 553648196, 553648197, 570425396,
        570425397, 570425398, 570425399, 1090519107, 2164260910, 2164260931]),
    (2002, 1, &[1107296279]),
    // Detections and alerts.
    (2004, 1, &[553648143, 553648145, 553648147, 553648168, 553648199, 553648222, 1090519054,
        1090519081, 1090519084, 1090519102, 1090519103, 1090519105, 1090519112, 1090524040,
        1090524041, 1107296257, 1107296258, 1107296260, 1107296261, 1107296262, 1107296263,
        1107296264, 1107296265, 1107296266, 1107296267, 1107296268, 1107296269, 1107296270,
        1107296271, 1107296272, 1107296273, 1107296274, 1107296275, 1107296276, 1107296277,
        1107296278, 1107296280, 1107296281, 1107296282, 1107296283, 1107296284, 1107296285,
        1107296344]),
    // Later states of a detection.
    (2004, 2, &[553648146, 553648149, 553648150, 553648151, 553648152, 553648154, 553648155,
        570425394, 2164260880, 2164260884, 2164260889, 2164260892, 2164260893, 2181038130]),
    // Application Lifecycle: Install, Remove, Restart, Update.
    (6002, 1, &[50331649, 553648158, 553648208, 2164260895, 2164260945]),
    (6002, 2, &[553648166, 2164260903]),
    (6002, 5, &[553648170, 553648171]),
    (6002, 8, &[553648130, 553648135, 553648136, 553648137, 553648176, 553648179, 553648210,
        1090519096, 1090519097, 2164260866, 2164260911, 2164260914, 2164260922, 2164260947]),
    // Scan Activity: Started, Completed, Error.
    (6007, 1, &[554696714, 554696756]),
    (6007, 2, &[554696715, 554696757, 1090519089, 1091567628, 1091567670]),
    (6007, 6, &[2165309453, 2165309495]),
    // Remediation Activity: Isolate, Restore, Other.
    (7001, 1, &[553648202, 553648206, 2164260939, 2164260943]),
    (7001, 3, &[553648204, 2164260941]),
    (7001, 99, &[553648215]),
];

/// (class_uid, activity_id) of an event type in [`CLASSES`].
fn expected_class(type_id: u64) -> Option<(u64, u64)> {
    CLASSES
        .iter()
        .find(|(_, _, ids)| ids.contains(&type_id))
        .map(|(c, a, _)| (*c, *a))
}

#[test]
fn the_class_table_lists_every_event_type_once_and_the_encoder_agrees() {
    let mut seen = BTreeSet::new();
    for (class, _, ids) in CLASSES {
        for id in *ids {
            assert!(seen.insert(*id), "{id} is listed twice");
            assert_eq!(class_of(*id).class_uid(), *class, "class_of({id})");
        }
    }
    for t in simulator::EVENT_TYPES {
        assert!(
            seen.contains(&u64::from(t.id)),
            "event type {} ({}) is not in CLASSES",
            t.id,
            t.name
        );
    }
}

/// One case per event type of the simulator's table (`sim-<id>-<name>`, from
/// `simulator::sample_events`), plus hand-made ones (`amp-<id>-<name>`); each maps to its
/// golden document, which is a valid OCSF event of the class and activity [`CLASSES`] names.
#[test]
fn every_event_type_maps_to_its_golden_ocsf_event_and_it_is_schema_valid() {
    let bless = bless();
    let dir = golden_dir();
    if bless {
        let at = time::macros::datetime!(2021-01-14 13:06:17 UTC).unix_timestamp();
        let have: BTreeSet<String> = cases().into_iter().map(|(n, _)| n).collect();
        for (t, raw) in simulator::EVENT_TYPES
            .iter()
            .zip(simulator::sample_events(1, at))
        {
            let lower = t.name.to_lowercase();
            let words: Vec<&str> = lower
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| !w.is_empty())
                .collect();
            let name = format!("sim-{}-{}", t.id, words.join("-"));
            if !have.contains(&name) {
                write(&dir.join(format!("{name}.input.json")), &format!("{raw}\n"));
            }
        }
    }
    let mut schema = copied();
    let cases = cases();
    let mut failures = Vec::new();
    let mut classes = BTreeMap::new();
    for (name, raw) in &cases {
        let got = to_ocsf(&entry(raw));
        assert_valid(&mut schema, name, &got);
        assert_eq!(got["metadata"]["version"], OCSF_VERSION);
        let type_id = got["metadata"]["event_code"]
            .as_str()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let (want_class, want_activity) =
            expected_class(type_id).unwrap_or_else(|| panic!("{name}: {type_id} not in CLASSES"));
        assert_eq!(
            (got["class_uid"].clone(), got["activity_id"].clone()),
            (json!(want_class), json!(want_activity)),
            "{name}: class and activity"
        );
        if want_class == 2004 {
            assert!(finding(type_id).is_some(), "{name}: a detection shape");
        }
        classes.insert(type_id, want_class);
        let path = dir.join(format!("{name}.ocsf.json"));
        let text = serde_json::to_string_pretty(&got).unwrap_or_default() + "\n";
        if bless {
            write(&path, &text);
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(want) if serde_json::from_str::<Value>(&want).ok().as_ref() == Some(&got) => {}
            Ok(want) => {
                let want: Value = serde_json::from_str(&want).unwrap_or(Value::Null);
                let mut d = Vec::new();
                diff("", &want, &got, &mut d);
                failures.push(format!(
                    "{name} ({}):\n  {}",
                    path.display(),
                    d.join("\n  ")
                ));
            }
            Err(e) => failures.push(format!("{name}: {e} (SEBRIDGE_BLESS=1 writes it)")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden OCSF events differ (after an intended change: SEBRIDGE_BLESS=1 cargo test -p sebridge --test it ocsf, then review the git diff):\n{}",
        failures.len(),
        failures.join("\n")
    );
    for t in simulator::EVENT_TYPES {
        assert!(
            classes.contains_key(&u64::from(t.id)),
            "event type {} has no golden case",
            t.id
        );
    }
    // Every class of the table has golden cases.
    let used: BTreeSet<u64> = classes.values().copied().collect();
    let listed: BTreeSet<u64> = CLASSES.iter().map(|(c, _, _)| *c).collect();
    assert_eq!(used, listed, "{classes:?}");
}

/// Every input of the ECS golden files (the fixtures, every field, odd shapes that are not
/// even objects) becomes a valid OCSF event: the encoder never writes an invalid one.
#[test]
fn odd_and_fixture_inputs_map_to_valid_ocsf_events() {
    let mut schema = copied();
    let ecs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/ecs");
    let mut n = 0;
    for e in std::fs::read_dir(&ecs).expect("tests/golden/ecs").flatten() {
        let p = e.path();
        if !p.to_string_lossy().ends_with(".input.json") {
            continue;
        }
        let raw = std::fs::read_to_string(&p).expect("input");
        let mut en = entry(&raw);
        // Odd inputs get odd routing values too: a type the table does not know, a huge time.
        if p.to_string_lossy().contains("odd-") {
            en.event_type_id = 4_000_000_000;
            en.event_time = i64::MAX / 1000;
        }
        let got = to_ocsf(&en);
        assert_valid(&mut schema, &p.display().to_string(), &got);
        n += 1;
    }
    assert!(n >= 60, "{n} inputs");
}

#[derive(Default)]
struct Hook {
    bodies: Vec<Value>,
}

/// A simulator run into a file, a webhook and a Splunk HEC sink, all with `format = "ocsf"`:
/// every event arrives once at each, as a schema-valid OCSF event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_webhook_and_hec_sinks_deliver_schema_valid_ocsf_from_a_simulator_run() {
    let sim = simulator::start(simulator::SimConfig {
        tenants: 2,
        history: 150,
        rate: 0.0,
        ..Default::default()
    })
    .await
    .expect("simulator");
    let hec_r = simulator::receivers::hec::start(Default::default())
        .await
        .expect("hec");
    let hook = Arc::new(Mutex::new(Hook::default()));
    let h2 = hook.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let hook = h2.clone();
            async move {
                if let Ok(v) = serde_json::from_str(&body) {
                    hook.lock().expect("hook").bodies.push(v);
                }
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sebridge.toml");
    sim.write_config(&path).expect("config");
    let out = dir.path().join("ocsf.jsonl");
    let extra = format!(
        r#"
[sinks.ocsf_file]
type = "file"
path = "{out}"
format = "ocsf"

[sinks.ocsf_hook]
type = "webhook"
url = "http://{addr}/hook"
secret = "0123456789abcdef-ocsf"
format = "ocsf"

[sinks.ocsf_hec]
type = "splunk_hec"
url = "{hec}"
token = "{token}"
format = "ocsf"
"#,
        out = out.display(),
        hec = hec_r.url(),
        token = hec_r.token(),
    );
    let text = std::fs::read_to_string(&path).expect("config") + &extra;
    std::fs::write(&path, &text).expect("config");
    let mut config = Config::from_str_with_env(&text, &path, &|_| None)
        .unwrap_or_else(|e| panic!("config: {e}"));
    for s in config.sinks.values_mut() {
        s.common_mut().batch_timeout = Duration::from_millis(50);
    }
    let topology = sebridge::topology::Topology::start(&config, None)
        .await
        .expect("start");
    tokio::time::timeout(
        Duration::from_secs(60),
        topology.wait_idle(Duration::from_millis(500)),
    )
    .await
    .expect("idle");
    let report = topology.stop().await;
    let n = report.journal_events as usize;
    assert_eq!(n, 300);

    let mut schema = copied();
    let mut check = |what: &str, events: Vec<Value>| {
        let ids: BTreeSet<String> = events
            .iter()
            .map(|e| format!("{}:{}", e["metadata"]["tenant_uid"], e["metadata"]["uid"]))
            .collect();
        assert_eq!(ids.len(), n, "{what}: every event once");
        for e in &events {
            assert_valid(&mut schema, what, e);
        }
    };
    let lines = std::fs::read_to_string(&out).expect("file sink output");
    check(
        "file line",
        lines
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect(),
    );
    let bodies = hook.lock().expect("hook").bodies.clone();
    assert!(
        bodies.iter().all(|b| b["format"] == "ocsf"),
        "webhook bodies say so"
    );
    check(
        "webhook event",
        bodies
            .iter()
            .flat_map(|b| b["events"].as_array().cloned().unwrap_or_default())
            .map(|e| e["event"].clone())
            .collect(),
    );
    let hec = hec_r.events();
    assert!(hec
        .iter()
        .all(|e| e.sourcetype.as_deref() == Some("cisco:amp:ocsf")));
    check("HEC event", hec.into_iter().map(|e| e.event).collect());
    hec_r.shutdown().await;
    sim.shutdown().await;
}

/// The copy is what `MANIFEST` says it is: every file listed with the commit it was read at,
/// and unchanged since (a hand edit of a schema file would make the validator lie).
#[test]
fn the_schema_copy_matches_its_manifest() {
    use sha2::Digest as _;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ocsf-schema");
    let manifest = std::fs::read_to_string(dir.join("MANIFEST")).expect("MANIFEST");
    let mut listed = BTreeSet::new();
    for line in manifest
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let parts: Vec<&str> = line.split(' ').collect();
        let [path, commit, sha] = parts[..] else {
            panic!("MANIFEST line {line:?}: expected path, commit, sha256");
        };
        assert_eq!(commit.len(), 40, "{path}: a full commit id");
        let bytes = std::fs::read(dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(
            hex::encode(sha2::Sha256::digest(&bytes)),
            sha,
            "{path} changed"
        );
        listed.insert(path.to_string());
    }
    let mut files = Vec::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                let rel = p
                    .strip_prefix(&dir)
                    .expect("inside")
                    .to_string_lossy()
                    .to_string();
                files.push(rel);
            }
        }
    }
    files.sort();
    assert_eq!(
        files,
        listed.into_iter().collect::<Vec<_>>(),
        "every JSON file is listed"
    );
}

fn config_errors(sinks: &str) -> String {
    let text = format!(
        "[tenants.acme]\nregion = \"us\"\nclient_id = \"c\"\napi_key = \"k\"\n\n[sources.poll]\ntype = \"poll\"\n\n{sinks}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sebridge.toml");
    match Config::from_str_with_env(&text, &path, &|_| None) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn format_is_validated_and_reported_with_the_other_problems() {
    let e = config_errors(
        "[sinks.a]\ntype = \"file\"\npath = \"a.jsonl\"\nformat = \"ocfs\"\n\n\
         [sinks.b]\ntype = \"webhook\"\nurl = \"https://h.example/x\"\nsecret = \"0123456789abcdefg\"\nformat = 3\n\n\
         [sinks.c]\ntype = \"file\"\npath = \"c.jsonl\"\nwrap = true\nformat = \"ocsf\"\nbatch_size = 0\n",
    );
    assert!(
        e.contains("must be one of json, ocsf, found \"ocfs\""),
        "{e}"
    );
    assert!(e.contains("sink `b`") && e.contains("format"), "{e}");
    assert!(
        e.contains("`wrap` in sink `c` only applies to format = \"json\""),
        "{e}"
    );
    assert!(e.contains("batch_size"), "every problem at once: {e}");
    let ok = config_errors(
        "[sinks.a]\ntype = \"file\"\npath = \"a.jsonl\"\nformat = \"ocsf\"\n\n\
         [sinks.h]\ntype = \"splunk_hec\"\nurl = \"https://s.example:8088\"\ntoken = \"t\"\nformat = \"ocsf\"\n",
    );
    assert_eq!(ok, "");
    let dir = tempfile::tempdir().expect("tempdir");
    let text = "[tenants.acme]\nregion = \"us\"\nclient_id = \"c\"\napi_key = \"k\"\n[sources.poll]\ntype = \"poll\"\n\
        [sinks.h]\ntype = \"splunk_hec\"\nurl = \"https://s.example:8088\"\ntoken = \"t\"\nformat = \"ocsf\"\n\
        [sinks.k]\ntype = \"splunk_hec\"\nurl = \"https://s.example:8088\"\ntoken = \"t\"\nformat = \"ocsf\"\nsourcetype = \"mine\"\n\
        [sinks.j]\ntype = \"splunk_hec\"\nurl = \"https://s.example:8088\"\ntoken = \"t\"\n";
    let c = Config::from_str_with_env(text, &dir.path().join("s.toml"), &|_| None).expect("valid");
    let st = |n: &str| match &c.sinks[n] {
        sebridge::config::SinkConfig::SplunkHec(h) => h.sourcetype.clone(),
        _ => String::new(),
    };
    assert_eq!(
        (st("h"), st("k"), st("j")),
        (
            "cisco:amp:ocsf".into(),
            "mine".into(),
            "cisco:amp:event".into()
        )
    );
}
