//! Property tests of the event parser (issue 13): whatever comes in — arbitrary bytes,
//! arbitrary text, arbitrary JSON trees, or real events with a field removed or retyped —
//! [`Event::from_json`] and [`EventsPage::from_body`] give a typed view or a reason (the
//! caller's dead letter), never a panic; and what they accept keeps its promises (the raw
//! text byte for byte, the vendor's ids, the derived id independent of layout).
//!
//! Run: `cargo test -p secure-endpoint event_props`. `PROPTEST_CASES=N` runs N cases per
//! property instead of the numbers below. Failures are not persisted to files: a failing
//! input that shows a real bug becomes a unit test beside the code.

use crate::{Event, EventError, EventsPage, DERIVED_ID_BIT};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::{Map, Value};
use std::path::PathBuf;

fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The keys the typed view reads (at any depth), so random trees hit them often.
const KEYS: &[&str] = &[
    "id",
    "event_type_id",
    "event_type",
    "timestamp",
    "timestamp_nanoseconds",
    "date",
    "severity",
    "connector_guid",
    "group_guids",
    "detection",
    "detection_id",
    "computer",
    "hostname",
    "file",
    "identity",
    "sha256",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9 _\\-:.+]{0,12}",
        Just("2021-01-15T11:20:38+00:00".to_string()),
        Just("Critical".to_string()),
        Just("18446744073709551616".to_string()),
        Just(" 42 ".to_string()),
        Just(String::new()),
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (0u64..2_000_000_000).prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        Just(Value::from(i64::MIN)),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(KEYS).prop_map(str::to_string),
        1 => any::<String>(),
    ]
}

/// An arbitrary JSON tree (depth ≤ 4), its object keys mostly the view's own.
fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map(key(), inner, 0..7)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object shaped like an event: each field of the view present or not, of the right type
/// or of any other.
fn event_like() -> impl Strategy<Value = Value> {
    let field = |good: BoxedStrategy<Value>| {
        prop_oneof![
            2 => Just(None),
            5 => good.prop_map(Some),
            2 => json_value().prop_map(Some),
        ]
    };
    (
        field(any::<u64>().prop_map(Value::from).boxed()),
        field((0u64..4_000_000_000).prop_map(Value::from).boxed()),
        field((0i64..4_000_000_000).prop_map(Value::from).boxed()),
        field((0u64..2_000_000_000).prop_map(Value::from).boxed()),
        field(text().prop_map(Value::String).boxed()),
        field(text().prop_map(Value::String).boxed()),
        field(json_value().boxed()),
        json_value(),
    )
        .prop_map(
            |(id, type_id, ts, nanos, date, severity, computer, extra)| {
                let mut m = Map::new();
                for (k, v) in [
                    ("id", id),
                    ("event_type_id", type_id),
                    ("timestamp", ts),
                    ("timestamp_nanoseconds", nanos),
                    ("date", date),
                    ("severity", severity),
                    ("computer", computer),
                ] {
                    if let Some(v) = v {
                        m.insert(k.to_string(), v);
                    }
                }
                m.insert("extra".to_string(), extra);
                Value::Object(m)
            },
        )
}

/// Real events: every object of `fixtures/secure-endpoint/*.json` that reads as one.
fn fixture_events() -> Vec<Value> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/secure-endpoint");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("fixtures dir") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(&std::fs::read_to_string(&path).unwrap()) else {
            continue;
        };
        let candidates = match v.get("data") {
            Some(Value::Array(items)) => items.clone(),
            Some(obj @ Value::Object(_)) => vec![obj.clone()],
            _ => vec![v],
        };
        out.extend(
            candidates
                .into_iter()
                .filter(|c| Event::from_json(&c.to_string()).is_ok()),
        );
    }
    assert!(out.len() >= 10, "only {} fixture events", out.len());
    out
}

/// Every path (object keys and array indices) of a tree, the root excluded.
fn paths(v: &Value, prefix: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                prefix.push(PathStep::Key(k.clone()));
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                prefix.push(PathStep::Index(i));
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum PathStep {
    Key(String),
    Index(usize),
}

/// What is done to one field of a real event.
#[derive(Clone, Debug)]
enum Mutation {
    Remove,
    Replace(Value),
}

fn apply(v: &mut Value, path: &[PathStep], m: &Mutation) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut at = v;
    for step in parents {
        at = match (step, at) {
            (PathStep::Key(k), Value::Object(o)) => o.get_mut(k).expect("path exists"),
            (PathStep::Index(i), Value::Array(a)) => &mut a[*i],
            _ => unreachable!("paths come from the tree"),
        };
    }
    match (last, at, m) {
        (PathStep::Key(k), Value::Object(o), Mutation::Remove) => {
            o.remove(k);
        }
        (PathStep::Key(k), Value::Object(o), Mutation::Replace(new)) => {
            o.insert(k.clone(), new.clone());
        }
        (PathStep::Index(i), Value::Array(a), Mutation::Remove) => {
            a.remove(*i);
        }
        (PathStep::Index(i), Value::Array(a), Mutation::Replace(new)) => a[*i] = new.clone(),
        _ => unreachable!("paths come from the tree"),
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => Just(Mutation::Remove),
        3 => json_value().prop_map(Mutation::Replace),
    ]
}

/// The parser's promises about one input: an event or a reason, and an accepted event is
/// what the text says.
fn check(text: &str) -> Result<(), TestCaseError> {
    match Event::from_json(text) {
        Ok(e) => {
            prop_assert_eq!(e.raw(), text.trim(), "the raw text is kept as given");
            prop_assert!(e.timestamp_nanoseconds < 1_000_000_000);
            let _ = e.time();
            let v: Value = serde_json::from_str(text.trim()).expect("accepted text is JSON");
            let obj = v.as_object().expect("accepted text is an object");
            prop_assert_eq!(
                obj.get("event_type_id").and_then(Value::as_u64),
                Some(e.event_type_id)
            );
            match obj.get("id") {
                Some(Value::Number(n)) => prop_assert_eq!(n.as_u64(), Some(e.id)),
                None | Some(Value::Null) => {
                    prop_assert!(e.id_is_derived(), "no id: derived");
                    prop_assert_ne!(e.id & DERIVED_ID_BIT, 0);
                }
                Some(Value::String(s)) => prop_assert_eq!(s.trim().parse::<u64>().ok(), Some(e.id)),
                Some(other) => prop_assert!(false, "id {other} accepted"),
            }
            if let Some(sha) = &e.sha256 {
                prop_assert_eq!(sha, &sha.to_ascii_lowercase());
            }
        }
        Err(err) => {
            prop_assert!(!err.to_string().is_empty(), "every refusal has a reason");
            match serde_json::from_str::<Value>(text.trim()) {
                Err(_) => prop_assert!(matches!(err, EventError::Json(_)), "{err:?}"),
                Ok(v) if !v.is_object() => prop_assert!(
                    matches!(err, EventError::NotAnObject | EventError::Json(_)),
                    "{err:?}"
                ),
                Ok(_) => {}
            }
        }
    }
    Ok(())
}

/// [`check`] on a tree written compact and pretty-printed, and the same verdict for both:
/// the derived id depends on the content, not on the layout. (Both texts are printed from
/// the same tree, so their number tokens are identical; a tree re-parsed from text may
/// differ in a float's last digit, since serde_json's default float parsing is not exact.)
fn check_layouts(v: &Value) -> Result<(), TestCaseError> {
    let compact = v.to_string();
    let pretty = serde_json::to_string_pretty(v).unwrap();
    check(&compact)?;
    check(&pretty)?;
    match (Event::from_json(&compact), Event::from_json(&pretty)) {
        (Ok(a), Ok(b)) => prop_assert_eq!(a.id, b.id),
        (Err(a), Err(b)) => prop_assert_eq!(a.to_string().is_empty(), b.to_string().is_empty()),
        (a, b) => prop_assert!(false, "layout changed the verdict: {a:?} vs {b:?}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn any_text_is_an_event_or_a_reason(text in any::<String>()) {
        check(&text)?;
    }

    #[test]
    fn any_json_tree_is_an_event_or_a_reason(v in json_value()) {
        check_layouts(&v)?;
    }

    #[test]
    fn any_event_like_object_is_an_event_or_a_reason(v in event_like()) {
        check_layouts(&v)?;
    }

    #[test]
    fn a_minimal_valid_event_is_accepted(
        id in any::<u64>(),
        type_id in any::<u64>(),
        ts in any::<i64>(),
        nanos in any::<u32>(),
    ) {
        let text = format!(
            r#"{{"id":{id},"event_type_id":{type_id},"timestamp":{ts},"timestamp_nanoseconds":{nanos}}}"#
        );
        let e = Event::from_json(&text).expect("a valid event");
        prop_assert_eq!((e.id, e.event_type_id, e.timestamp), (id, type_id, ts));
        prop_assert_eq!(e.timestamp_nanoseconds, nanos.min(999_999_999));
        check(&text)?;
    }

    #[test]
    fn any_bytes_make_a_page_or_a_reason(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Err(reason) = EventsPage::from_body(&body) {
            prop_assert!(!reason.is_empty());
        }
    }

    #[test]
    fn every_item_of_a_page_is_an_event_or_a_rejection(
        items in proptest::collection::vec(prop_oneof![json_value(), event_like()], 0..8),
        metadata in prop_oneof![
            Just(None),
            json_value().prop_map(Some),
            (any::<u64>(), any::<bool>()).prop_map(|(total, next)| Some(serde_json::json!({
                "results": {"total": total},
                "links": if next { serde_json::json!({"next": "https://x/v1/events?offset=5"}) } else { serde_json::json!({}) },
            }))),
        ],
    ) {
        let mut env = Map::new();
        if let Some(m) = &metadata {
            env.insert("metadata".into(), m.clone());
        }
        env.insert("data".into(), Value::Array(items.clone()));
        let body = Value::Object(env).to_string();
        match EventsPage::from_body(body.as_bytes()) {
            Ok(page) => {
                // In order, each item is in exactly one of the two lists, with its text.
                let texts: Vec<String> = items.iter().map(Value::to_string).collect();
                let (good, bad): (Vec<&String>, Vec<&String>) =
                    texts.iter().partition(|t| Event::from_json(t).is_ok());
                let got: Vec<&str> = page.events.iter().map(Event::raw).collect();
                prop_assert_eq!(got, good.iter().map(|s| s.as_str()).collect::<Vec<_>>());
                let rejected: Vec<&str> = page.rejected.iter().map(|r| r.raw.as_str()).collect();
                prop_assert_eq!(rejected, bad.iter().map(|s| s.as_str()).collect::<Vec<_>>());
                prop_assert!(page.rejected.iter().all(|r| !r.reason.is_empty()));
            }
            // Only a metadata of the wrong shape fails the page as a whole.
            Err(reason) => {
                prop_assert!(!reason.is_empty());
                prop_assert!(metadata.is_some(), "a page with no metadata failed: {reason}");
            }
        }
    }
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn real_events_with_a_field_removed_or_retyped_never_panic(
        pick in any::<proptest::sample::Index>(),
        at in any::<proptest::sample::Index>(),
        change in mutation(),
        second in proptest::option::of((any::<proptest::sample::Index>(), mutation())),
    ) {
        thread_local! {
            static EVENTS: Vec<Value> = fixture_events();
        }
        let mut v = EVENTS.with(|e| pick.get(e.as_slice()).clone());
        let mut all = Vec::new();
        paths(&v, &mut Vec::new(), &mut all);
        let path: &Vec<PathStep> = at.get(&all);
        apply(&mut v, path, &change);
        if let Some((at2, change2)) = second {
            let mut all = Vec::new();
            paths(&v, &mut Vec::new(), &mut all);
            if !all.is_empty() {
                let path: &Vec<PathStep> = at2.get(&all);
                apply(&mut v, path, &change2);
            }
        }
        check_layouts(&v)?;
        // The same event inside a page: an event or a rejection, never a failed page.
        let body = serde_json::json!({"metadata": {"results": {"total": 1}}, "data": [v]});
        let page = EventsPage::from_body(body.to_string().as_bytes())
            .map_err(|e| TestCaseError::fail(format!("page failed: {e}")))?;
        prop_assert_eq!(page.events.len() + page.rejected.len(), 1);
    }

    #[test]
    fn real_events_with_a_few_bytes_edited_never_panic(
        pick in any::<proptest::sample::Index>(),
        edits in proptest::collection::vec(
            (any::<proptest::sample::Index>(), 0u8..3, any::<u8>()),
            1..4,
        ),
    ) {
        thread_local! {
            static TEXTS: Vec<String> = fixture_events().iter().map(Value::to_string).collect();
        }
        let mut bytes = TEXTS.with(|t| pick.get(t.as_slice()).clone().into_bytes());
        for (at, op, b) in edits {
            let i = at.index(bytes.len().max(1)).min(bytes.len());
            match op {
                0 if i < bytes.len() => bytes[i] = b,
                1 => bytes.insert(i, b),
                _ if i < bytes.len() => {
                    bytes.remove(i);
                }
                _ => bytes.push(b),
            }
        }
        // Text as a stream delivery would give it (invalid UTF-8 replaced).
        check(&String::from_utf8_lossy(&bytes))?;
    }
}
