//! Property tests of the sink side of "any JSON in" (issue 13): whatever a journal row holds
//! (the vendor's text, any time, any tenant), the typed view falls back instead of failing
//! and every encoder renders it without a panic and without a line break inside a record;
//! a JSON line is the same JSON as the raw event; the ECS encoder maps exactly the JSON
//! objects (anything else is the sink's dead letter) into a JSON document.
//!
//! `cargo test -p sebridge --lib view_props`.

use super::render::{render_json, render_line};
use super::view::EventView;
use crate::config::{MessageFormat, SyslogProtocol};
use crate::props::{config, json_value, tricky_string};
use crate::sinks::elasticsearch::ecs::{to_ecs, write_ecs};
use crate::sinks::syslog::{cef, leef, Formatter};
use crate::store::JournalEntry;
use proptest::prelude::*;
use secure_endpoint::Severity;
use serde_json::Value;

/// Keys the view and the ECS encoder read, so random trees reach their code.
const KEYS: &[&str] = &[
    "id",
    "event_type",
    "event_type_id",
    "timestamp",
    "timestamp_nanoseconds",
    "date",
    "severity",
    "detection",
    "detection_id",
    "group_guids",
    "connector_guid",
    "computer",
    "hostname",
    "user",
    "external_ip",
    "network_addresses",
    "ip",
    "mac",
    "links",
    "file",
    "file_name",
    "file_path",
    "disposition",
    "identity",
    "sha256",
    "parent",
    "process_id",
    "network_info",
    "local_ip",
    "local_port",
    "remote_ip",
    "remote_port",
    "dirty_url",
    "nfm",
    "protocol",
    "direction",
    "command_line",
    "arguments",
    "cloud_ioc",
    "description",
    "short_description",
    "error",
    "error_code",
    "vulnerabilities",
    "cve",
    "name",
    "tactics",
    "techniques",
    "mitre_url",
    "external_id",
    "start_timestamp",
];

/// The raw text of a journal row: JSON compact or pretty, or any text at all.
fn raw() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => json_value(KEYS).prop_map(|v| v.to_string()),
        2 => json_value(KEYS).prop_map(|v| serde_json::to_string_pretty(&v).unwrap()),
        1 => any::<String>(),
    ]
}

fn entry() -> impl Strategy<Value = JournalEntry> {
    (
        raw(),
        tricky_string(),
        any::<u64>(),
        any::<u64>(),
        prop_oneof![any::<i64>(), -400_000_000_000i64..400_000_000_000],
        any::<i64>(),
        proptest::option::of(proptest::sample::select(vec![
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ])),
        proptest::option::of(tricky_string()),
    )
        .prop_map(
            |(raw, tenant, event_id, event_type_id, event_time, received_at, severity, guid)| {
                JournalEntry {
                    tenant,
                    event_id,
                    event_type_id,
                    event_time,
                    received_at,
                    severity,
                    connector_guid: guid,
                    raw: raw.into(),
                    ..Default::default()
                }
            },
        )
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn every_encoder_renders_any_row(
        e in entry(),
        delim in proptest::sample::select(vec!['^', '|', '\t', '~', '\u{1}']),
        wrap in any::<bool>(),
    ) {
        let view = EventView::parse(&e.raw);
        let _ = (view.hostname(), view.user(), view.sha256(), view.parent(), view.description());
        let mut out = String::new();
        cef::render(&e, &view, &mut out);
        prop_assert!(!out.contains(['\n', '\r']), "CEF {out:?}");
        out.clear();
        leef::render(&e, &view, delim, &mut out);
        prop_assert!(!out.contains(['\n', '\r']), "LEEF {out:?}");
        for protocol in [SyslogProtocol::Rfc5424, SyslogProtocol::Rfc3164] {
            for format in [MessageFormat::Json, MessageFormat::Cef, MessageFormat::Leef] {
                let f = Formatter {
                    protocol,
                    format,
                    facility: 23,
                    hostname: "h".into(),
                    app_name: "sebridge".into(),
                    leef_delimiter: delim,
                    wrap,
                };
                out.clear();
                f.message(&e, &mut out);
                prop_assert!(!out.contains(['\n', '\r']), "{protocol:?} {format:?} {out:?}");
            }
        }
    }

    #[test]
    fn a_json_line_is_the_raw_event_on_one_line(e in entry(), wrap in any::<bool>()) {
        let mut line = String::new();
        render_line(&e, wrap, &mut line);
        prop_assert!(line.ends_with('\n'));
        let body = &line[..line.len() - 1];
        prop_assert!(!body.contains(['\n', '\r']), "{body:?}");
        // The vendor's JSON stays the same JSON (line breaks only ever sit between tokens).
        if let Ok(original) = serde_json::from_str::<Value>(&e.raw) {
            let got: Value = serde_json::from_str(body)
                .map_err(|err| TestCaseError::fail(format!("{err}: {body:?}")))?;
            let event = if wrap {
                prop_assert_eq!(got["tenant"].as_str(), Some(e.tenant.as_str()));
                got["event"].clone()
            } else {
                got
            };
            prop_assert_eq!(event, original);
        }
        let mut bare = String::new();
        render_json(&e, wrap, &mut bare);
        prop_assert_eq!(bare.as_str(), body);
    }

    #[test]
    fn ecs_maps_exactly_the_objects(
        raw in raw(),
        tenant in tricky_string(),
        ds in "[a-z0-9._-]{1,20}",
    ) {
        let mut out = b"prefix".to_vec();
        let mapped = write_ecs(&raw, &tenant, &ds, &mut out);
        let is_object = serde_json::from_str::<Value>(&raw).is_ok_and(|v| v.is_object());
        prop_assert_eq!(mapped, is_object, "{:?}", raw);
        if mapped {
            let doc: Value = serde_json::from_slice(&out[6..])
                .map_err(|err| TestCaseError::fail(format!("not JSON: {err}")))?;
            prop_assert!(doc.is_object());
            // The same document as `to_ecs`, compared as re-read text: serde_json's default
            // float parsing may move a float's last digit, the same way on both sides.
            let tree = to_ecs(&raw, &tenant, &ds).map(|v| v.to_string());
            let tree: Option<Value> = tree.and_then(|t| serde_json::from_str(&t).ok());
            prop_assert_eq!(Some(doc), tree);
        } else {
            prop_assert_eq!(&out[..], b"prefix", "unchanged when refused");
            prop_assert_eq!(to_ecs(&raw, &tenant, &ds), None);
        }
    }
}
