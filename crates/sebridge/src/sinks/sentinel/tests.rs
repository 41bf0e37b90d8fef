//! The Sentinel encoder on the real vendor fixtures, column by column; the call packing;
//! the token renewal point; and the config's defaults and checks.

use super::config::SentinelRows;
use super::encoder::{connector_row, table_row, to_table_row, Kind, COLUMNS};
use super::sink::{pack, renew_at};
use crate::config::{Config, SinkConfig};
use serde_json::{Map, Value};
use simulator::receivers::sentinel::{CONNECTOR_STREAM_COLUMNS, TABLE_COLUMNS};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/secure-endpoint")
        .join(name);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture"))
        .expect("fixture JSON");
    match v.get("data") {
        Some(Value::Array(items)) => items[0].clone(),
        Some(d @ Value::Object(_)) => d.clone(),
        _ => v,
    }
}

/// Every vendor event among the fixtures.
fn all_fixtures() -> Vec<Value> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/secure-endpoint");
    let mut out = Vec::new();
    for f in std::fs::read_dir(dir).expect("fixtures") {
        let path = f.expect("entry").path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(&std::fs::read_to_string(&path).unwrap()) else {
            continue;
        };
        let items = match v.get("data") {
            Some(Value::Array(items)) => items.clone(),
            Some(d @ Value::Object(_)) => vec![d.clone()],
            _ => vec![v],
        };
        out.extend(
            items
                .into_iter()
                .filter(|i| i.get("event_type_id").is_some()),
        );
    }
    assert!(out.len() >= 15, "the vendor fixtures: {}", out.len());
    out
}

fn row(v: &Value) -> Map<String, Value> {
    to_table_row(&v.to_string(), 0).expect("an object maps")
}

fn text<'a>(r: &'a Map<String, Value>, col: &str) -> &'a str {
    r.get(col)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{col} missing or not text in {r:?}"))
}

fn json_text(r: &Map<String, Value>, col: &str) -> Value {
    serde_json::from_str(text(r, col)).unwrap_or_else(|e| panic!("{col} is not JSON text: {e}"))
}

#[test]
fn threat_detected_fills_the_columns_the_solution_reads() {
    let v = fixture("elastic_integrations__cisco_secure_endpoint__test-cisco-amp1_log__line03_threat_detected_1090519054_with_parent.json");
    let r = row(&v);
    // Numbers stay numbers (the columns are `real`), ids as the API sent them.
    assert_eq!(r["Id"], v["id"]);
    assert_eq!(r["Timestamp"], 1610618799);
    assert_eq!(r["TimestampNanoseconds"], 657000000);
    assert_eq!(r["EventTypeId"], 1090519054);
    assert_eq!(text(&r, "TimeGenerated"), "2021-01-14T10:06:39+00:00");
    assert_eq!(text(&r, "Date"), "2021-01-14T10:06:39+00:00");
    assert_eq!(text(&r, "EventType"), "Threat Detected");
    assert_eq!(text(&r, "Detection"), "W32.Overdrive.RET");
    assert_eq!(text(&r, "DetectionId"), "6533241347137077251");
    assert_eq!(text(&r, "ConnectorGuid"), "test_connector_guid");
    assert_eq!(text(&r, "Severity"), "Medium");
    // `tostring` of an array: its JSON text.
    assert_eq!(text(&r, "GroupGuids"), r#"["test_group_guid"]"#);
    assert_eq!(text(&r, "ComputerConnectorGuid"), "test_connector_guid");
    assert_eq!(text(&r, "ComputerHostname"), "Demo_AMP_Threat_Quarantined");
    assert_eq!(text(&r, "ComputerExternalIp"), "81.2.69.144");
    assert_eq!(text(&r, "ComputerUser"), "user@testdomain.com");
    assert_eq!(r["ComputerActive"], true);
    assert_eq!(
        json_text(&r, "ComputerNetworkAddresses"),
        v["computer"]["network_addresses"]
    );
    assert_eq!(
        text(&r, "ComputerLinksTrajectory"),
        "https://api.eu.amp.cisco.com/v1/computers/test_computer/trajectory"
    );
    assert_eq!(text(&r, "FileDisposition"), "Malicious");
    assert_eq!(text(&r, "FileFileName"), "BIT657.tmp");
    assert_eq!(text(&r, "FileFilePath"), "\\\\?\\C:\\BIT657.tmp");
    assert_eq!(
        text(&r, "FileIdentitySha256"),
        "a78c29d1fa05c2b23d1dc9b75da8c053399143682fe3779bc466f10e1a997850"
    );
    assert_eq!(
        text(&r, "FileIdentitySha1"),
        "cf162622e29bca072d01b274fbbc3ceaacdd13c7"
    );
    assert_eq!(
        text(&r, "FileIdentityMd5"),
        "0fe5be3811a98ee6a9c997d3812d911a"
    );
    assert_eq!(r["FileParentProcessId"], 896);
    assert_eq!(text(&r, "FileParentDisposition"), "Clean");
    assert_eq!(text(&r, "FileParentFileName"), "svchost.exe");
    assert_eq!(
        text(&r, "FileParentIdentitySha256"),
        "121118a0f5e0e8c933efd28c9901e54e42792619a8a3a6d11e1f0025a7324bc2"
    );
    // Nothing the event does not have.
    for absent in [
        "ErrorErrorCode",
        "CloudIocDescription",
        "NetworkInfoRemoteIp",
        "Tactics",
    ] {
        assert!(!r.contains_key(absent), "{absent}");
    }
}

#[test]
fn cloud_ioc_fills_network_and_mitre_columns() {
    let v = fixture("amp_v1_events_sample_response.json");
    let r = row(&v);
    assert_eq!(text(&r, "EventType"), "Cloud IOC");
    assert_eq!(r["EventTypeId"], 1107296274);
    assert_eq!(
        text(&r, "CloudIocShortDescription"),
        "ConnectionToSuspiciousDomain.ioc"
    );
    assert!(text(&r, "CloudIocDescription").starts_with("An outbound connection was made"));
    assert_eq!(
        text(&r, "NetworkInfoDirtyUrl"),
        "http://dcb5684707f6c66492aaa9f7d9bfb5a6.biz/"
    );
    assert_eq!(text(&r, "NetworkInfoParentDisposition"), "Unknown");
    assert_eq!(
        text(&r, "NetworkInfoParentIdentitySha256"),
        "63a262f1a9392cfe94b81803ca0a4e886b9387d89327d0ba31913c082e56bd15"
    );
    assert_eq!(text(&r, "Tactics"), r#"["TA0005","TA0002"]"#);
    assert_eq!(text(&r, "Techniques"), r#"["T1220"]"#);
    assert_eq!(r["StartTimestamp"], 1597750332);
    assert_eq!(text(&r, "StartDate"), "2020-08-18T11:32:12+00:00");
    assert_eq!(text(&r, "ComputerHostname"), "CONTROLPOINT-47");
}

#[test]
fn threat_hunting_columns_come_from_the_apis_field_names() {
    let v = fixture("elastic_integrations__cisco_secure_endpoint__test-cisco-amp2_log__line01_securex_threat_hunting_incident_1107296344_no_id.json");
    let r = row(&v);
    let th = &v["threat_hunting"];
    assert_eq!(text(&r, "ThreatHuntingIncidentTitle"), "Valak Variant");
    assert_eq!(
        text(&r, "ThreatHuntingIncidentReportGuid"),
        "6e5292d5-248c-49dc-839d-201bcba64562"
    );
    assert_eq!(
        text(&r, "ThreatHuntingIncidentHuntGuid"),
        "4bdbaf20-020f-4bb5-9da9-585da0e07817"
    );
    assert_eq!(
        text(&r, "ThreatHuntingIncidentSummary"),
        th["incident_summary"].as_str().unwrap()
    );
    assert_eq!(
        text(&r, "ThreatHuntingIncidentRemediation"),
        th["incident_remediation"].as_str().unwrap()
    );
    assert_eq!(r["ThreatHuntingIncidentStartTime"], 1610707688);
    assert_eq!(r["ThreatHuntingIncidentEndTime"], 1592478770);
    assert_eq!(text(&r, "ThreatHuntingSeverity"), "critical");
    assert_eq!(json_text(&r, "ThreatHuntingTactics"), th["tactics"]);
    assert_eq!(json_text(&r, "Tactics"), v["tactics"]);
    // The fixture has no id: no Id column rather than a made-up one.
    assert!(!r.contains_key("Id"));
    assert_eq!(text(&r, "Severity"), "Critical");
}

#[test]
fn errors_fill_the_error_columns() {
    let v = fixture("elastic_integrations__cisco_secure_endpoint__test-cisco-amp1_log__line05_quarantine_failure_2164260880_error.json");
    let r = row(&v);
    assert_eq!(
        r["ErrorErrorCode"].as_f64(),
        v["error"]["error_code"].as_f64()
    );
    assert_eq!(
        text(&r, "ErrorDescription"),
        v["error"]["description"].as_str().unwrap()
    );
}

#[test]
fn kql_conversions() {
    let raw = r#"{"id":"17","event_type_id":5,"computer":{"active":"TRUE","hostname":42},
        "network_info":{"remote_port":"443","local_port":"n/a"},"scan":{"clean":0},
        "file":{"parent":{"process_id":true}},"detection":null}"#;
    let r = to_table_row(raw, 1_700_000_000).unwrap();
    assert_eq!(r["Id"].as_f64(), Some(17.0), "todouble of text");
    assert_eq!(r["ComputerActive"], true, "tobool of text");
    assert_eq!(r["ComputerHostname"], "42", "tostring of a number");
    assert_eq!(r["NetworkInfoRemotePort"].as_f64(), Some(443.0));
    assert!(
        !r.contains_key("NetworkInfoLocalPort"),
        "todouble of words is null"
    );
    assert_eq!(r["ScanClean"], false, "tobool of 0");
    assert_eq!(r["FileParentProcessId"], 1);
    assert!(!r.contains_key("Detection"), "null is absent");
    // No `date`: TimeGenerated from the journal's event time; Date stays absent.
    assert_eq!(r["TimeGenerated"], "2023-11-14T22:13:20Z");
    assert!(!r.contains_key("Date"));
}

#[test]
fn columns_are_exactly_the_tables_with_its_types() {
    let kind = |t: &str| match t {
        "string" => Kind::Str,
        "real" => Kind::Real,
        "boolean" => Kind::Bool,
        "datetime" => Kind::Time,
        other => panic!("type {other}"),
    };
    let ours: Vec<(&str, Kind)> = COLUMNS.iter().map(|(n, k, _)| (*n, *k)).collect();
    let table: Vec<(&str, Kind)> = TABLE_COLUMNS.iter().map(|(n, t)| (*n, kind(t))).collect();
    assert_eq!(ours, table, "same columns, order and types as the table");
}

#[test]
fn every_fixture_maps_to_declared_columns_and_connector_rows_are_the_event() {
    for v in all_fixtures() {
        let raw = v.to_string();
        let mut out = Vec::new();
        assert!(table_row(&raw, 1, &mut out));
        let r: Map<String, Value> = serde_json::from_slice(&out).unwrap();
        for k in r.keys() {
            assert!(TABLE_COLUMNS.iter().any(|(c, _)| c == k), "{k}");
        }
        assert!(r.contains_key("TimeGenerated") && r.contains_key("EventType"));
        if let Some(h) = v["computer"]["hostname"].as_str() {
            assert_eq!(r["ComputerHostname"], h);
        }
        let mut out = Vec::new();
        assert!(connector_row(&raw, &mut out));
        assert_eq!(out, raw.as_bytes(), "the vendor event byte for byte");
        // What the connector's transform reads is declared in its stream.
        for field in v.as_object().unwrap().keys() {
            let read = [
                "id",
                "date",
                "event_type",
                "event_type_id",
                "detection",
                "computer",
                "file",
                "severity",
                "group_guids",
                "network_info",
                "cloud_ioc",
                "threat_hunting",
                "error",
            ];
            if read.contains(&field.as_str()) {
                assert!(
                    CONNECTOR_STREAM_COLUMNS.iter().any(|(c, _)| c == field),
                    "{field}"
                );
            }
        }
    }
}

#[test]
fn rows_that_are_not_objects_are_refused() {
    let mut out = Vec::new();
    assert!(!connector_row("[1,2]", &mut out));
    assert!(!connector_row("  ", &mut out));
    assert!(!table_row("\"text\"", 0, &mut out));
    assert!(!table_row("{not json", 0, &mut out));
    assert!(out.is_empty());
    assert!(connector_row(" {\"a\":1}\n", &mut out));
    assert_eq!(out, b"{\"a\":1}");
}

#[test]
fn calls_stay_under_the_limit_in_order() {
    let rows: Vec<Option<Vec<u8>>> = (0..40)
        .map(|i| (i != 7).then(|| vec![b'x'; 10 + (i * 37) % 90]))
        .collect();
    let todo: Vec<usize> = (0..40).filter(|i| i % 5 != 0).collect();
    let limit = 300;
    let calls = pack(&todo, &rows, limit);
    let flat: Vec<usize> = calls.iter().flatten().copied().collect();
    let expected: Vec<usize> = todo.iter().copied().filter(|&i| i != 7).collect();
    assert_eq!(flat, expected, "every row once, in order");
    for c in &calls {
        let size = 2
            + c.iter()
                .map(|&i| rows[i].as_ref().unwrap().len())
                .sum::<usize>()
            + c.len()
            - 1;
        assert!(size <= limit, "{size}");
    }
    // A call is only cut when the next row would not fit.
    for w in calls.windows(2) {
        let size = 2 + w[0]
            .iter()
            .map(|&i| rows[i].as_ref().unwrap().len() + 1)
            .sum::<usize>()
            - 1;
        let next = rows[w[1][0]].as_ref().unwrap().len() + 1;
        assert!(size + next > limit);
    }
    // A row exactly at the limit goes alone.
    let big = vec![Some(vec![b'y'; 298]), Some(vec![b'z'; 1])];
    assert_eq!(pack(&[0, 1], &big, 300), vec![vec![0], vec![1]]);
    assert!(pack(&[], &big, 300).is_empty());
}

#[test]
fn tokens_are_renewed_before_they_expire() {
    use std::time::Duration;
    // Entra's usual hour: five minutes early; a short-lived token at 90% of its life.
    assert_eq!(
        renew_at(Duration::from_secs(3599)),
        Duration::from_secs(3299)
    );
    assert_eq!(
        renew_at(Duration::from_secs(2)),
        Duration::from_millis(1800)
    );
    assert_eq!(renew_at(Duration::ZERO), Duration::ZERO);
}

// ---- config -------------------------------------------------------------------------------

const BASE: &str = r#"
[tenants.acme]
region = "us"
client_id = "id-acme"
api_key = "key-acme"

[sources.poll]
type = "poll"
"#;

const FILE: &str = "/nonexistent-sebridge-test/sebridge.toml";

fn load(sink: &str) -> Result<Config, crate::config::ConfigErrors> {
    let env = |name: &str| (name == "SENTINEL_CLIENT_SECRET").then(|| "s3cr3t~value".to_string());
    Config::from_str_with_env(&format!("{BASE}{sink}"), Path::new(FILE), &env)
}

const VALID: &str = r#"
[sinks.sentinel]
type = "sentinel"
endpoint = "https://my-dce-a1b2.westeurope-1.ingest.monitor.azure.com"
dcr_immutable_id = "dcr-5e1f0c2a9b8d4e7fa1b2c3d4e5f60718"
tenant_id = "5f1c7a3e-2b4d-4e6f-8a9b-0c1d2e3f4a5b"
client_id = "0c2e4a6b-8d0f-4a1b-9c3d-5e7f9a1b3c5d"
client_secret = "${SENTINEL_CLIENT_SECRET}"
"#;

fn sentinel(c: &Config) -> super::config::SentinelSinkConfig {
    match &c.sinks["sentinel"] {
        SinkConfig::Sentinel(s) => s.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn config_defaults_follow_the_connector() {
    let c = load(VALID).unwrap_or_else(|e| panic!("{e}"));
    let s = sentinel(&c);
    assert_eq!(s.row_format, SentinelRows::Connector);
    assert_eq!(s.stream, "Custom-CiscoSecureEndpointEvents");
    assert_eq!(s.scope, "https://monitor.azure.com//.default");
    assert_eq!(s.max_request_bytes, 1_000_000);
    assert!(s.gzip);
    assert_eq!(s.common.batch_size, 1000);
    assert_eq!(
        s.token_endpoint(),
        "https://login.microsoftonline.com/5f1c7a3e-2b4d-4e6f-8a9b-0c1d2e3f4a5b/oauth2/v2.0/token"
    );
    assert_eq!(s.client_secret.expose(), "s3cr3t~value");
    assert!(
        !format!("{c:?}").contains("s3cr3t"),
        "Debug redacts the secret"
    );
    // Table rows go to a stream with the table's columns by default.
    let c = load(&format!(
        "{VALID}row_format = \"table\"\ntoken_url = \"http://127.0.0.1:9/t/oauth2/v2.0/token\"\n"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let s = sentinel(&c);
    assert_eq!(s.row_format, SentinelRows::Table);
    assert_eq!(s.stream, "Custom-CiscoSecureEndpointEventsV2_CL");
    assert_eq!(s.token_endpoint(), "http://127.0.0.1:9/t/oauth2/v2.0/token");
}

#[test]
fn config_problems_are_all_reported_with_places() {
    let text = r#"
[sinks.sentinel]
type = "sentinel"
endpoint = "https://u:p@dce.example.com"
dcr_immutable_id = "CiscoSecureEndpointDCR"
tenant_id = "not a tenant"
client_id = "my-app"
client_secret = " padded "
stream = "Custom-CiscoSecureEndpointEvents"
row_format = "table"
scope = "https://monitor.azure.com"
max_request_bytes = 2000000
compression = "brotli"
"#;
    let errs = match load(text) {
        Ok(_) => panic!("expected problems"),
        Err(e) => e.0,
    };
    let joined = errs
        .iter()
        .map(|e| format!("{:?}:{:?}: {}", e.line, e.column, e.message))
        .collect::<Vec<_>>()
        .join("\n");
    for needle in [
        "`endpoint` in sink `sentinel` must not contain credentials",
        "`dcr_immutable_id` in sink `sentinel` must be the DCR's immutableId",
        "`tenant_id` in sink `sentinel` must be the Microsoft Entra tenant",
        "`client_id` in sink `sentinel` must be the app registration's application (client) id",
        "`client_secret` in sink `sentinel` has leading or trailing whitespace",
        "the connector's DCR) takes the vendor's fields",
        "`scope` in sink `sentinel` must be the resource followed by /.default",
        "`max_request_bytes` in sink `sentinel` must be between 4096 and 1048576",
        "`compression` in sink `sentinel` must be one of gzip, none",
    ] {
        assert!(joined.contains(needle), "`{needle}` not in:\n{joined}");
    }
    assert!(
        errs.iter().all(|e| e.line.is_some()),
        "every problem has a place:\n{joined}"
    );
    assert!(!joined.contains("padded"), "a secret is never echoed");
    // Missing keys are named with what they are.
    let errs = match load("[sinks.sentinel]\ntype = \"sentinel\"\n") {
        Ok(_) => panic!("expected problems"),
        Err(e) => e.0,
    };
    let joined: Vec<&str> = errs.iter().map(|e| e.message.as_str()).collect();
    for key in [
        "endpoint",
        "dcr_immutable_id",
        "tenant_id",
        "client_id",
        "client_secret",
    ] {
        assert!(
            joined.iter().any(|m| m.contains(&format!("`{key}`"))),
            "{key}: {joined:?}"
        );
    }
}
