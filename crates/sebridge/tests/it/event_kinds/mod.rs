//! One event of every type of the reference table (`simulator::sample_events`: 110 types,
//! each with the field shapes of its kind) through everything that turns events into text
//! for people and SIEMs: the incident templates (ServiceNow short description and
//! description, XDR title and description, work-note line), the CEF and LEEF encoders and
//! the ECS mapping. Each output is parsed back and compared with the event's own fields,
//! for the events as generated and for variants with values every format must escape.

use sebridge::config::{Templates, SAMPLE_HIGH_PRIORITY_TYPES};
use sebridge::incidents::render::{Renderer, TemplateContext};
use sebridge::store::JournalEntry;
use secure_endpoint::Event;
use serde_json::{json, Value};

mod records;
mod siem;

const AT: i64 = 1_610_629_577; // 2021-01-14T13:06:17Z
const DS: &str = "logs-cisco_secure_endpoint.event-default";
const CONSOLE: &str = "https://console.amp.cisco.com";
const VISIBILITY: &str = "https://visibility.amp.cisco.com";

/// Values each format must carry through its escaping unchanged.
const HOSTILE_HOST: &str = "WS|01=a\\b^c d";
const HOSTILE_FILE: &str = "in=v|o^i\\ce\tx.exe";

/// Every sample event (two seeds), and for each a variant with hostile strings in the
/// hostname, the file name and the flow's URL.
fn events() -> Vec<(Value, Event)> {
    let mut out = Vec::new();
    for seed in [1, 2] {
        let texts = simulator::sample_events(seed, AT);
        assert_eq!(texts.len(), simulator::EVENT_TYPES.len());
        for text in texts {
            let v: Value = serde_json::from_str(&text).expect("json");
            let mut odd = v.clone();
            odd["computer"]["hostname"] = json!(HOSTILE_HOST);
            if odd["file"].get("file_name").is_some() {
                odd["file"]["file_name"] = json!(HOSTILE_FILE);
            }
            if odd["network_info"].get("dirty_url").is_some() {
                odd["network_info"]["dirty_url"] = json!("http://h.example/a?b=c|d^e\\f");
            }
            for v in [v, odd] {
                let raw = v.to_string();
                let e = Event::from_json(&raw).unwrap_or_else(|err| panic!("{err}: {raw}"));
                out.push((v, e));
            }
        }
    }
    out
}

fn entry(e: &Event) -> JournalEntry {
    JournalEntry {
        seq: 1,
        tenant: "acme".into(),
        event_id: e.id,
        event_type_id: e.event_type_id,
        event_time: e.timestamp,
        source: "poll".into(),
        raw: e.shared_raw(),
        severity: e.severity,
        connector_guid: e.connector_guid.clone(),
        ..Default::default()
    }
}

/// A field as text: a string as itself, a number as its digits; `None` when absent or empty.
fn text(v: &Value, path: &str) -> Option<String> {
    match v.pointer(path)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn name(v: &Value) -> String {
    text(v, "/event_type").expect("event_type")
}

fn hostname(v: &Value) -> String {
    text(v, "/computer/hostname").expect("hostname")
}

fn parent(v: &Value, key: &str) -> Option<String> {
    text(v, &format!("/file/parent/{key}"))
        .or_else(|| text(v, &format!("/network_info/parent/{key}")))
}

fn cves(v: &Value) -> Option<String> {
    let list: Vec<String> = v
        .get("vulnerabilities")?
        .as_array()?
        .iter()
        .filter_map(|x| text(x, "/cve"))
        .collect();
    (!list.is_empty()).then(|| list.join(", "))
}

/// What CEF's `msg` and LEEF's `description` say: the Cloud IOC's description, else the
/// error's, else the threat hunting incident's title, else the CVEs.
fn description(v: &Value) -> Option<String> {
    text(v, "/cloud_ioc/description")
        .or_else(|| text(v, "/cloud_ioc/short_description"))
        .or_else(|| text(v, "/error/description"))
        .or_else(|| text(v, "/threat_hunting/incident_title"))
        .or_else(|| cves(v))
}

fn direction(v: &Value) -> Option<String> {
    match text(v, "/network_info/nfm/direction")?.as_str() {
        "Outgoing connection from" => Some("1".into()),
        "Incoming connection from" => Some("0".into()),
        _ => None,
    }
}

/// The Splunk CIM add-on's action (fixtures/splunk/cim_amp_event_actions.csv).
fn cim_action(id: u64) -> Option<String> {
    let csv = include_str!("../../../../../fixtures/splunk/cim_amp_event_actions.csv");
    csv.lines().skip(1).find_map(|l| {
        let (i, a) = l.split_once(',')?;
        (i.parse::<u64>().ok()? == id).then(|| a.trim().to_string())
    })
}
#[test]
fn the_default_rule_is_the_mssp_samples_list_and_every_type_of_it_is_generated() {
    let request =
        include_str!("../../../../../fixtures/securex-sample-workflow/amp_get_events_request.txt");
    let listed: Vec<u64> = request
        .split("event_type[]=")
        .skip(1)
        .map(|s| {
            s.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .map(|d| d.parse().expect("id"))
        .collect();
    assert_eq!(listed, SAMPLE_HIGH_PRIORITY_TYPES.to_vec());
    let generated: Vec<u64> = simulator::sample_events(1, AT)
        .iter()
        .map(|t| serde_json::from_str::<Value>(t).expect("json")["event_type_id"].clone())
        .map(|id| id.as_u64().expect("id"))
        .collect();
    for id in listed {
        assert!(generated.contains(&id), "{id} is generated");
    }
}

#[test]
fn incident_templates_render_every_event_type() {
    let r = Renderer::new(&Templates::default()).expect("default templates compile");
    for (v, e) in events() {
        let ctx = &format!("{} {}", e.event_type_id, hostname(&v));
        let cid = format!("sebridge:acme:amp-event:{}", e.id);
        let tctx = TemplateContext::new("acme", &e, CONSOLE, VISIBILITY, "high-priority", &cid);
        let t = r.all(&tctx);
        let (name, host) = (name(&v), hostname(&v));
        let detection = text(&v, "/detection");
        let title = format!(
            "[acme] {name} on {host}{}",
            detection
                .as_ref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        );
        assert_eq!(t.short_description, title, "{ctx}");
        assert_eq!(t.xdr_title, title, "{ctx}");
        assert!(t.short_description.chars().count() <= 160, "{ctx}");
        let d = &t.description;
        assert!(!d.contains("(template"), "{ctx}: {d}");
        let severity = text(&v, "/severity").unwrap_or_else(|| "Unknown".into());
        let guid = text(&v, "/connector_guid").expect("connector_guid");
        let mut want = vec![
            format!(
                "Secure Endpoint detected {name} ({}) on {host} for customer acme.",
                e.event_type_id
            ),
            format!("Severity: {severity}\n"),
            "Time: 2021-01-14T13:06:17".to_string(),
            format!("{CONSOLE}/computers/{guid}/trajectory2"),
            format!("investigate?q=amp_computer_guid%3A{guid}"),
            format!("correlation id: {cid}"),
        ];
        let mut line = |label: &str, value: Option<String>| {
            if let Some(x) = value {
                want.push(format!("{label}{x}\n"));
            } else {
                assert!(
                    !d.contains(&format!("\n{label}")),
                    "{ctx}: no {label}in {d}"
                );
            }
        };
        line("Detection: ", detection.clone());
        line("SHA-256: ", text(&v, "/file/identity/sha256"));
        line("User: ", text(&v, "/computer/user"));
        line("Process: ", parent(&v, "file_name"));
        line("Command line: ", text(&v, "/command_line/arguments"));
        line("URL: ", text(&v, "/network_info/dirty_url"));
        line("Indicator: ", text(&v, "/cloud_ioc/short_description"));
        line("Vulnerabilities: ", cves(&v));
        let connection = text(&v, "/network_info/remote_ip").map(|ip| {
            let port = text(&v, "/network_info/remote_port").expect("a flow has its port");
            let proto = text(&v, "/network_info/nfm/protocol").expect("and protocol");
            format!("{ip}:{port} ({proto})")
        });
        line("Connection to: ", connection.clone());
        if let Some(f) = text(&v, "/file/file_name") {
            want.push(format!("File: {f}"));
        }
        if let Some(sha) = text(&v, "/file/identity/sha256") {
            want.push(format!("{CONSOLE}/file/trajectory/{sha}"));
        }
        for w in &want {
            assert!(d.contains(w.as_str()), "{ctx}: {w:?} missing from:\n{d}");
        }
        let x = &t.xdr_description;
        assert!(x.contains(&format!("**Host:** {host}")), "{ctx}: {x}");
        assert!(x.contains(&format!("**Event type:** {name} ({})", e.event_type_id)));
        assert!(x.contains(&format!("**Severity:** {severity}")), "{ctx}");
        if let Some(c) = connection {
            assert!(x.contains(&format!("**Connection to:** {c}")), "{ctx}: {x}");
        }
        if let Some(c) = cves(&v) {
            assert!(
                x.contains(&format!("**Vulnerabilities:** {c}")),
                "{ctx}: {x}"
            );
        }
        assert!(t.note_line.contains(&name) && t.note_line.ends_with(&format!("({severity})")));
    }
}

#[test]
fn templates_name_the_connector_when_the_event_has_no_hostname() {
    let r = Renderer::new(&Templates::default()).expect("templates");
    for text in simulator::sample_events(4, AT) {
        let mut v: Value = serde_json::from_str(&text).expect("json");
        v.as_object_mut().expect("object").remove("computer");
        let e = Event::from_json(&v.to_string()).expect("event");
        let guid = e.connector_guid.clone().expect("top-level connector_guid");
        let t = r.all(&TemplateContext::new(
            "acme", &e, CONSOLE, VISIBILITY, "r", "c",
        ));
        assert!(
            t.short_description.contains(&format!(" on {guid}")),
            "{}",
            t.short_description
        );
    }
}
