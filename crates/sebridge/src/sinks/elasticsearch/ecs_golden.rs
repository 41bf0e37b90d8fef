//! Golden-file tests of the ECS mapper ([`super::ecs`]). Each `<name>.input.json` in
//! `tests/golden/ecs/` is an event as the sink gets it (byte for byte), and
//! `<name>.ecs.json` beside it is the document the mapper must write for it; the
//! `every-field` event's variants (each field removed or given an odd value) are pinned by a
//! digest per variant in `every-field.variants`. See the README in that folder.
//!
//! After an intended change of a mapping rule, `SEBRIDGE_BLESS=1 cargo test -p sebridge
//! --lib ecs_golden` rewrites the expected files (and adds an input for an event type the
//! simulator has gained); review them with `git diff` before committing. Never in CI.

use super::ecs::{to_ecs, write_ecs};
use serde_json::{json, Value};
use sha2::Digest as _;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const DS: &str = "logs-cisco_secure_endpoint.event-default";

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/ecs")
}

/// Whether to rewrite the expected files instead of checking them.
fn bless() -> bool {
    let on = std::env::var_os("SEBRIDGE_BLESS").is_some_and(|v| v == "1");
    assert!(
        !(on && std::env::var_os("CI").is_some()),
        "SEBRIDGE_BLESS is refused in CI: the golden files are checked there, never written"
    );
    on
}

/// The tenant a case is mapped for: the `odd-` cases use one that JSON must escape.
fn tenant(name: &str) -> &'static str {
    if name.starts_with("odd-") {
        "t\"enant"
    } else {
        "acme"
    }
}

/// The text of an input file: the file minus one trailing newline (editors add one).
fn input_text(path: &Path) -> String {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    match text.strip_suffix('\n') {
        Some(t) => t.to_string(),
        None => text,
    }
}

/// Every case, sorted by name: (name, input text).
fn cases() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir())
        .expect("tests/golden/ecs")
        .map(|e| e.expect("entry").path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.strip_suffix(".input.json")?;
            Some((name.to_string(), input_text(&p)))
        })
        .collect();
    out.sort();
    out
}

/// What the mapper writes for `raw` (`None`: refused, not a JSON object), checking on the
/// way that a refusal leaves the buffer as it was and that `to_ecs` says the same.
fn map(raw: &str, tenant: &str) -> Option<String> {
    let mut out = b"prefix".to_vec();
    let ok = write_ecs(raw, tenant, DS, &mut out);
    if !ok {
        assert_eq!(out, b"prefix", "a refusal leaves the buffer alone: {raw}");
    }
    let got = ok.then(|| String::from_utf8(out[6..].to_vec()).expect("utf-8"));
    let value = to_ecs(raw, tenant, DS).map(|d| d.to_string());
    assert_eq!(value, got, "to_ecs and write_ecs agree on {raw}");
    got
}

/// The expected file's text for a mapping result: the document pretty-printed (`null`
/// for a refusal).
fn expected_text(got: Option<&str>) -> String {
    let v: Value = got.map_or(Value::Null, |s| serde_json::from_str(s).expect("json"));
    serde_json::to_string_pretty(&v).expect("json") + "\n"
}

/// A field-by-field account of how `got` differs from `want` (compact JSON or refusal).
fn diff(want: Option<&str>, got: Option<&str>) -> String {
    let flat = |s: Option<&str>| {
        let mut m = BTreeMap::new();
        if let Some(s) = s {
            flatten("", &serde_json::from_str(s).expect("json"), &mut m);
        }
        m
    };
    let (w, g) = (flat(want), flat(got));
    let mut out = String::new();
    match (want, got) {
        (None, Some(_)) => out.push_str("  expected a refusal, got a document\n"),
        (Some(_), None) => out.push_str("  expected a document, got a refusal\n"),
        _ => {}
    }
    for k in w.keys().chain(g.keys()).collect::<BTreeSet<_>>() {
        match (w.get(k), g.get(k)) {
            (Some(a), Some(b)) if a == b => {}
            (a, b) => {
                if let Some(a) = a {
                    out.push_str(&format!("  - {k}: {a}\n"));
                }
                if let Some(b) = b {
                    out.push_str(&format!("  + {k}: {b}\n"));
                }
            }
        }
    }
    if out.is_empty() {
        // Same fields and values: the difference is in order or number formatting.
        out = format!("  want: {want:?}\n  got:  {got:?}\n");
    }
    out
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, x, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

#[test]
fn every_input_maps_to_its_golden_document() {
    let bless = bless();
    let cases = cases();
    assert!(
        cases.len() >= 60,
        "the golden cases are there: {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for (name, raw) in &cases {
        let got = map(raw, tenant(name));
        let path = dir().join(format!("{name}.ecs.json"));
        if bless {
            write(&path, &expected_text(got.as_deref()));
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (SEBRIDGE_BLESS=1 writes it)", path.display()));
        let want: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        let want = (!want.is_null()).then(|| want.to_string());
        if got != want {
            failures.push(format!(
                "{name}:\n{}",
                diff(want.as_deref(), got.as_deref())
            ));
        }
    }
    // Every expected document has its input (a renamed case leaves no stale file behind).
    let names: BTreeSet<&str> = cases.iter().map(|(n, _)| n.as_str()).collect();
    for e in std::fs::read_dir(dir()).expect("tests/golden/ecs") {
        let file = e.expect("entry").file_name();
        if let Some(name) = file.to_str().and_then(|f| f.strip_suffix(".ecs.json")) {
            assert!(names.contains(name), "{name}.ecs.json has no input");
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden ECS documents differ (after an intended change: SEBRIDGE_BLESS=1 cargo \
         test -p sebridge --lib ecs_golden, then review the git diff):\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The `every-field` event in every shape a field the mapper reads can take: each field
/// removed, or set to each of a set of odd values (null, empty, another type, upper case,
/// escapes). One line per variant: a digest of its document, then the variant.
#[test]
fn every_field_variants_map_as_pinned() {
    let bless = bless();
    let base: Value =
        serde_json::from_str(&input_text(&dir().join("every-field.input.json"))).expect("json");
    let mut lines = Vec::new();
    let mut docs = BTreeMap::new();
    for (label, v) in variants(&base) {
        let got = map(&v.to_string(), "acme");
        let digest = sha2::Sha256::digest(got.as_deref().unwrap_or("null").as_bytes());
        let line = format!("{} {label}", &hex::encode(digest)[..16]);
        docs.insert(line.clone(), got);
        lines.push(line);
    }
    assert!(lines.len() > 1000, "{} variants", lines.len());
    let path = dir().join("every-field.variants");
    if bless {
        write(&path, &(lines.join("\n") + "\n"));
        return;
    }
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (SEBRIDGE_BLESS=1 writes it)", path.display()));
    let want: BTreeSet<&str> = text.lines().collect();
    let got: BTreeSet<&str> = lines.iter().map(String::as_str).collect();
    let changed: Vec<String> = got
        .difference(&want)
        .map(|l| format!("{l}\n  now: {}", docs[*l].as_deref().unwrap_or("refused")))
        .collect();
    let gone: Vec<&&str> = want.difference(&got).collect();
    assert!(
        changed.is_empty() && gone.is_empty(),
        "every-field variants map differently (after an intended change: SEBRIDGE_BLESS=1 \
         cargo test -p sebridge --lib ecs_golden, then review the git diff):\n{}\n\nno longer \
         produced:\n{gone:?}",
        changed.join("\n")
    );
}

/// (label, event) for the event itself and each of its variants.
fn variants(ev: &Value) -> Vec<(String, Value)> {
    let mut out = vec![("as is".to_string(), ev.clone())];
    let mut paths = Vec::new();
    collect_paths(ev, &mut Vec::new(), &mut paths);
    let odd = [
        Value::Null,
        json!(""),
        json!(0),
        json!(-7),
        json!(1.5),
        json!("12"),
        json!("+80"),
        json!("4294967296"),
        json!("\u{c4}rger.example"),
        json!("Some.Host.Example"),
        json!("x\"y\\z\u{e9}\u{2028}"),
        json!("HIGH"),
        json!("user@domain.example"),
        json!("Outgoing connection from"),
        json!("http://u@h.example:81/p/a.b.exe?q=1#f"),
        json!("C:\\x\\y"),
        json!({}),
        json!([]),
        json!([null, "", "a", {"name": "n", "external_id": "T1", "mitre_url": "u"}]),
        json!({"a": null, "b": "", "c": {"d": []}}),
        json!(true),
    ];
    for p in &paths {
        let at = p.join(".");
        let mut v = ev.clone();
        remove_path(&mut v, p);
        out.push((format!("{at} removed"), v));
        for o in &odd {
            let mut v = ev.clone();
            set_path(&mut v, p, o.clone());
            out.push((format!("{at} = {o}"), v));
        }
    }
    out
}

fn collect_paths(v: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Value::Object(m) = v {
        for (k, x) in m {
            prefix.push(k.clone());
            out.push(prefix.clone());
            collect_paths(x, prefix, out);
            prefix.pop();
        }
    }
}

fn remove_path(v: &mut Value, p: &[String]) {
    let (last, parents) = p.split_last().expect("path");
    let mut cur = v;
    for k in parents {
        cur = &mut cur[k.as_str()];
    }
    if let Value::Object(m) = cur {
        m.remove(last);
    }
}

fn set_path(v: &mut Value, p: &[String], x: Value) {
    let mut cur = v;
    for k in p {
        cur = &mut cur[k.as_str()];
    }
    *cur = x;
}

/// One example of every event type of the simulator's table is a golden case
/// (`sim-<type id>-<name>`, from `simulator::sample_events`); blessing adds one for a type it
/// has gained.
#[test]
fn every_simulator_event_type_has_a_golden() {
    let bless = bless();
    let at = time::macros::datetime!(2021-01-14 13:06:17 UTC).unix_timestamp();
    let sample = simulator::sample_events(1, at);
    assert_eq!(sample.len(), simulator::EVENT_TYPES.len());
    let covered: BTreeSet<u64> = cases()
        .iter()
        .filter_map(|(n, _)| n.strip_prefix("sim-")?.split('-').next()?.parse().ok())
        .collect();
    let mut missing = Vec::new();
    for (t, raw) in simulator::EVENT_TYPES.iter().zip(&sample) {
        let v: Value = serde_json::from_str(raw).expect("json");
        assert_eq!(v["event_type_id"].as_u64(), Some(u64::from(t.id)));
        if covered.contains(&u64::from(t.id)) {
            continue;
        }
        missing.push(t.id);
        if bless {
            let lower = t.name.to_lowercase();
            let words: Vec<&str> = lower
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| !w.is_empty())
                .collect();
            let case = format!("sim-{}-{}", t.id, words.join("-"));
            write(
                &dir().join(format!("{case}.input.json")),
                &format!("{raw}\n"),
            );
            let got = map(raw, tenant(&case));
            write(
                &dir().join(format!("{case}.ecs.json")),
                &expected_text(got.as_deref()),
            );
        }
    }
    assert!(
        bless || missing.is_empty(),
        "event types without a golden ECS case: {missing:?} (SEBRIDGE_BLESS=1 cargo test -p \
         sebridge --lib ecs_golden adds them)"
    );
}
