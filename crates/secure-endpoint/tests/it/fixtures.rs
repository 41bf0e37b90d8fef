//! Every real payload in fixtures/secure-endpoint parses, and every event's raw
//! JSON is the exact text of the file (byte for byte).

use secure_endpoint::{ApiResponse, Computer, Event, EventType, EventsPage, Group};
use serde_json::Value;
use std::path::PathBuf;

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/secure-endpoint")
}

fn read(name_part: &str) -> (String, String) {
    let dir = fixtures_dir();
    let mut found = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("fixtures at {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(name_part))
        .collect::<Vec<_>>();
    assert_eq!(found.len(), 1, "exactly one fixture matches {name_part}");
    let path = found.remove(0).path();
    let text = std::fs::read_to_string(&path).unwrap();
    (
        path.file_name().unwrap().to_string_lossy().into_owned(),
        text,
    )
}

/// The raw text is a substring of the file and means the same JSON as the file's object.
fn assert_round_trip(file_text: &str, event: &Event, expected: &Value) {
    assert!(
        file_text.contains(event.raw()),
        "raw event is not byte-identical to the file's text"
    );
    let reparsed: Value = serde_json::from_str(event.raw()).unwrap();
    assert_eq!(&reparsed, expected);
}

fn data_events(v: &Value) -> Vec<Value> {
    match &v["data"] {
        Value::Array(a) => a.clone(),
        o @ Value::Object(_) => vec![o.clone()],
        _ => vec![],
    }
}

#[test]
fn every_fixture_file_parses() {
    let mut seen = 0;
    for entry in std::fs::read_dir(fixtures_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        seen += 1;
        if name.contains("event_types") {
            let r = ApiResponse::<Vec<EventType>>::from_body(text.as_bytes()).unwrap();
            assert!(
                r.data
                    .iter()
                    .any(|t| t.id == 1090519054 && t.name == "Threat Detected"),
                "{name}"
            );
        } else if name.contains("GET_v1_groups") {
            let r = ApiResponse::<Vec<Group>>::from_body(text.as_bytes()).unwrap();
            assert_eq!(r.data[0].name, "Audit", "{name}");
        } else if name.contains("trajectory") {
            #[derive(serde::Deserialize)]
            struct Trajectory {
                computer: Computer,
                events: Vec<Value>,
            }
            let r = ApiResponse::<Trajectory>::from_body(text.as_bytes()).unwrap();
            assert!(
                !r.data.computer.connector_guid.is_empty() && !r.data.events.is_empty(),
                "{name}"
            );
        } else if name.contains("computers_activity") {
            let r = ApiResponse::<Vec<Computer>>::from_body(text.as_bytes()).unwrap();
            assert_eq!(r.data.len(), 2, "{name}");
        } else if name.contains("GET_v1_computers_guid") || name.contains("move_group") {
            let r = ApiResponse::<Computer>::from_body(text.as_bytes()).unwrap();
            assert!(r.data.hostname.is_some(), "{name}");
            // Unknown fields are kept, not dropped.
            assert!(r.data.extra.contains_key("links"), "{name}");
        } else if name.contains("event_streams") {
            let r = ApiResponse::<Value>::from_body(text.as_bytes()).unwrap();
            assert!(
                r.data["amqp_credentials"]["queue_name"].is_string(),
                "{name}"
            );
        } else if value.get("data").is_some() {
            // /v1/events envelopes: a real page (array) or Elastic's one-event capture (object).
            let page = EventsPage::from_body(text.as_bytes()).unwrap();
            assert!(page.rejected.is_empty(), "{name}: {:?}", page.rejected);
            let expected = data_events(&value);
            assert_eq!(page.events.len(), expected.len(), "{name}");
            for (e, v) in page.events.iter().zip(&expected) {
                assert_round_trip(&text, e, v);
                assert_eq!(Some(e.event_type_id), v["event_type_id"].as_u64(), "{name}");
            }
        } else if value.is_array() {
            // The correlation pair from Cisco's integration guide: two bare events.
            for v in value.as_array().unwrap() {
                let raw = serde_json::to_string(v).unwrap();
                let e = Event::from_json(&raw).unwrap();
                assert_eq!(Some(e.id), v["id"].as_u64(), "{name}");
            }
        } else {
            // A bare event: the AMQP message body of an Event Stream.
            let e = Event::from_json(&text).unwrap();
            assert_round_trip(&text, &e, &value);
        }
    }
    assert!(seen >= 20, "only {seen} fixture files found");
}

#[test]
fn ids_above_2_pow_53_are_exact() {
    let (_, text) = read("detection_id_correlation_pair");
    let v: Vec<Value> = serde_json::from_str(&text).unwrap();
    for item in &v {
        let raw = serde_json::to_string(item).unwrap();
        let e = Event::from_json(&raw).unwrap();
        // Compare digits from the file text, not through f64.
        assert!(text.contains(&e.id.to_string()));
        assert!(e.id > (1u64 << 53));
    }
    // The two events share a detection_id: the correlation key of Cisco's guide.
    let a = Event::from_json(&serde_json::to_string(&v[0]).unwrap()).unwrap();
    let b = Event::from_json(&serde_json::to_string(&v[1]).unwrap()).unwrap();
    assert_eq!(a.detection_id, b.detection_id);
    assert!(a.detection_id.is_some());
}

#[test]
fn event_without_id_gets_a_stable_derived_id() {
    let (_, text) = read("securex_threat_hunting_incident");
    let p1 = EventsPage::from_body(text.as_bytes()).unwrap();
    let p2 = EventsPage::from_body(text.as_bytes()).unwrap();
    let e = &p1.events[0];
    assert!(e.id_is_derived());
    assert_eq!(e.id, p2.events[0].id);
    assert_eq!(e.event_type_id, 1107296344);
    assert!(e.group_guids.is_empty());
}

#[test]
fn envelope_paging_metadata() {
    let (_, text) = read("line02_threat_detected_first_page_envelope_next_link");
    let page = EventsPage::from_body(text.as_bytes()).unwrap();
    assert_eq!(page.total, Some(972));
    assert_eq!(
        page.next.as_deref(),
        Some("https://api.eu.amp.cisco.com/v1/events?limit=500&offset=500")
    );
    let (_, last) = read("line01_retrospective_detection");
    let page = EventsPage::from_body(last.as_bytes()).unwrap();
    assert_eq!(page.next, None, "the last page has no next key");
    assert_eq!(page.index, Some(500));
}

#[test]
fn typed_view_reads_routing_fields() {
    let (_, text) = read("line03_threat_detected_1090519054_with_parent");
    let e = EventsPage::from_body(text.as_bytes())
        .unwrap()
        .events
        .remove(0);
    assert_eq!(e.event_type_id, 1090519054);
    assert!(e.severity.is_some());
    assert!(e.connector_guid.is_some());
    assert!(e.sha256.as_deref().is_some_and(|s| s.len() == 64));
    assert!(e.detection_id.is_some());
    let (_, amqp) = read("AMQP_message_body_threat_detected_2017");
    let e = Event::from_json(&amqp).unwrap();
    // The 2017 stream sample has an uppercase hash and no top-level connector_guid.
    assert_eq!(
        e.sha256
            .as_deref()
            .map(|s| s.chars().all(|c| !c.is_ascii_uppercase())),
        Some(true)
    );
    assert!(
        e.connector_guid.is_some(),
        "taken from computer.connector_guid"
    );
}

#[test]
fn event_stream_creation_answer_reads_with_its_password_redacted_in_debug() {
    use secure_endpoint::EventStream;
    let (_, text) = read("POST_v1_event_streams_response");
    let r = ApiResponse::<EventStream>::from_body(text.as_bytes()).unwrap();
    let s = r.data;
    assert_eq!((s.id, s.name.as_str()), (6, "DQrbpudi"));
    let c = &s.amqp_credentials;
    assert_eq!(c.queue_name, "event_stream_6");
    assert_eq!(c.host, "export-streaming.amp.cisco.com");
    // The API sends the port as a string and "https" for AMQP over TLS.
    assert_eq!(c.port, "443");
    assert_eq!(c.port_number(), Ok(443));
    assert!(c.uses_tls());
    assert_eq!(c.password(), Some("password"));
    assert!(!format!("{s:?}").contains("\"password\""));
    assert!(s.event_types.is_empty() && s.group_guids.is_empty());
}

#[test]
fn event_stream_list_without_passwords_reads() {
    use secure_endpoint::EventStream;
    // The GET shape (reference §7.1): plural filter names, no password.
    let body = r#"{"version":"v1.2.0","metadata":{"links":{"self":"https://api.amp.cisco.com/v1/event_streams"}},
      "data":[{"id":1474,"name":"siem","amqp_credentials":{"user_name":"1474-92a4c0b1d2e3f4a5b6c7",
      "queue_name":"event_stream_1474","host":"export-streaming.amp.cisco.com","port":"443","proto":"https"},
      "event_types":[1090519054,553648143],"group_guids":["b077d6bc-bbdf-42f7-8838-a06053fbd98a"]}]}"#;
    let r = ApiResponse::<Vec<EventStream>>::from_body(body.as_bytes()).unwrap();
    assert_eq!(r.data[0].event_types, vec![1090519054, 553648143]);
    assert_eq!(r.data[0].amqp_credentials.password(), None);
}

#[test]
fn amqp_delivery_body_is_a_bare_event() {
    // The real AMQP message body (2017 dump) is one /v1/events item, no envelope.
    let (_, text) = read("AMQP_message_body_threat_detected_2017");
    let e = Event::from_json(&text).unwrap();
    assert_eq!(e.id, 1503580638684881251);
    assert_eq!(e.event_type_id, 1090519054);
    assert_eq!(e.raw(), text.trim());
    // The routing key of the dump is <org>.<connector_guid>.<event_type_id>.
    let (_, props) = read("AMQP_delivery_method_and_properties");
    let rk = props
        .split("routing_key=")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .unwrap();
    let parts: Vec<&str> = rk.split('.').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(Some(parts[1]), e.connector_guid.as_deref());
    assert_eq!(parts[2], e.event_type_id.to_string());
}
