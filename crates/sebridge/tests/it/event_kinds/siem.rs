//! CEF, LEEF and ECS of one event of every type, parsed back and compared with the event.

use super::records::{field, millis, parse_cef, parse_leef};
use super::{
    cim_action, cves, description, direction, entry, events, hostname, name, parent, text, DS,
};
use sebridge::sinks::elasticsearch::ecs::to_ecs;
use sebridge::sinks::syslog::{cef, leef};
use sebridge::sinks::util::view::EventView;
use secure_endpoint::Severity;
use serde_json::{json, Value};

#[test]
fn cef_records_carry_every_event_types_fields() {
    for (v, e) in events() {
        let ctx = &format!("{} {}", e.event_type_id, hostname(&v));
        let mut out = String::new();
        cef::render(&entry(&e), &EventView::parse(e.raw()), &mut out);
        assert!(
            !out.contains('\n') && !out.contains('\r'),
            "{ctx}: one line"
        );
        let (h, x) = parse_cef(&out);
        let sev = match e.severity {
            Some(Severity::Low) => "3",
            Some(Severity::Medium) => "5",
            Some(Severity::High) => "8",
            Some(Severity::Critical) => "10",
            None => "Unknown",
        };
        let header = ["CEF:0", "Cisco", "Secure Endpoint", "1.0"];
        assert_eq!(h[..4], header, "{ctx}");
        assert_eq!(h[4], e.event_type_id.to_string(), "{ctx}");
        assert_eq!(h[5], name(&v), "{ctx}");
        assert_eq!(h[6], sev, "{ctx}");
        field(&x, "rt", Some(millis(&v).to_string()), ctx);
        field(&x, "externalId", Some(e.id.to_string()), ctx);
        field(&x, "cat", Some(name(&v)), ctx);
        field(&x, "act", cim_action(e.event_type_id), ctx);
        field(&x, "deviceExternalId", text(&v, "/connector_guid"), ctx);
        field(&x, "dhost", Some(hostname(&v)), ctx);
        field(&x, "duser", text(&v, "/computer/user"), ctx);
        field(&x, "fname", text(&v, "/file/file_name"), ctx);
        field(&x, "filePath", text(&v, "/file/file_path"), ctx);
        field(&x, "fileHash", text(&v, "/file/identity/sha256"), ctx);
        field(&x, "sproc", parent(&v, "file_name"), ctx);
        field(&x, "spid", parent(&v, "process_id"), ctx);
        field(&x, "src", text(&v, "/network_info/local_ip"), ctx);
        field(&x, "spt", text(&v, "/network_info/local_port"), ctx);
        field(&x, "dst", text(&v, "/network_info/remote_ip"), ctx);
        field(&x, "dpt", text(&v, "/network_info/remote_port"), ctx);
        field(&x, "proto", text(&v, "/network_info/nfm/protocol"), ctx);
        field(&x, "deviceDirection", direction(&v), ctx);
        field(&x, "request", text(&v, "/network_info/dirty_url"), ctx);
        field(&x, "msg", description(&v), ctx);
        field(&x, "cs1", text(&v, "/detection"), ctx);
        field(&x, "cs2", text(&v, "/detection_id"), ctx);
        field(&x, "cs3", text(&v, "/file/disposition"), ctx);
        field(&x, "cs4", Some("acme".into()), ctx);
        let groups = v["group_guids"].as_array().map(|g| {
            let g: Vec<&str> = g.iter().filter_map(Value::as_str).collect();
            g.join(",")
        });
        field(&x, "cs5", groups, ctx);
        field(&x, "cs6", text(&v, "/command_line/arguments"), ctx);
        for (n, label) in [(1, "detection"), (2, "detectionId"), (3, "disposition")] {
            let want = x.contains_key(&format!("cs{n}")).then(|| label.to_string());
            field(&x, &format!("cs{n}Label"), want, ctx);
        }
    }
}

#[test]
fn leef_records_carry_every_event_types_fields() {
    for delim in ['^', '\t'] {
        for (v, e) in events() {
            let ctx = &format!("{} {} {delim:?}", e.event_type_id, hostname(&v));
            let mut out = String::new();
            leef::render(&entry(&e), &EventView::parse(e.raw()), delim, &mut out);
            assert!(
                !out.contains('\n') && !out.contains('\r'),
                "{ctx}: one line"
            );
            let (h, x) = parse_leef(&out, delim);
            let d = if delim == '\t' { "x09" } else { "^" };
            let id = e.event_type_id.to_string();
            assert_eq!(
                h,
                ["LEEF:2.0", "Cisco", "Secure Endpoint", "1.0", &id, d],
                "{ctx}"
            );
            let sev = match e.severity {
                Some(Severity::Low) => "3",
                Some(Severity::Medium) => "5",
                Some(Severity::High) => "8",
                Some(Severity::Critical) => "10",
                None => "1",
            };
            let ms = millis(&v) % 1000;
            field(
                &x,
                "devTime",
                Some(format!("2021-01-14T13:06:17.{ms:03}Z")),
                ctx,
            );
            field(&x, "devTimeFormat", Some(leef::DEV_TIME_FORMAT.into()), ctx);
            field(&x, "cat", Some(name(&v)), ctx);
            field(&x, "sev", Some(sev.into()), ctx);
            field(&x, "eventId", Some(e.id.to_string()), ctx);
            field(&x, "tenant", Some("acme".into()), ctx);
            field(&x, "identHostName", Some(hostname(&v)), ctx);
            field(&x, "usrName", text(&v, "/computer/user"), ctx);
            field(&x, "connectorGuid", text(&v, "/connector_guid"), ctx);
            field(&x, "detection", text(&v, "/detection"), ctx);
            field(&x, "detectionId", text(&v, "/detection_id"), ctx);
            field(&x, "action", cim_action(e.event_type_id), ctx);
            field(&x, "fileName", text(&v, "/file/file_name"), ctx);
            field(&x, "filePath", text(&v, "/file/file_path"), ctx);
            field(&x, "fileHash", text(&v, "/file/identity/sha256"), ctx);
            field(&x, "disposition", text(&v, "/file/disposition"), ctx);
            field(&x, "parentProcess", parent(&v, "file_name"), ctx);
            field(&x, "parentPid", parent(&v, "process_id"), ctx);
            field(&x, "src", text(&v, "/network_info/local_ip"), ctx);
            field(&x, "srcPort", text(&v, "/network_info/local_port"), ctx);
            field(&x, "dst", text(&v, "/network_info/remote_ip"), ctx);
            field(&x, "dstPort", text(&v, "/network_info/remote_port"), ctx);
            field(&x, "proto", text(&v, "/network_info/nfm/protocol"), ctx);
            field(&x, "url", text(&v, "/network_info/dirty_url"), ctx);
            field(&x, "commandLine", text(&v, "/command_line/arguments"), ctx);
            field(&x, "description", description(&v), ctx);
        }
    }
}

#[test]
fn ecs_documents_follow_the_mapping_for_every_event_type() {
    for (v, e) in events() {
        let ctx = &format!("{} {}", e.event_type_id, hostname(&v));
        let raw = e.raw();
        let d = to_ecs(raw, "acme", DS).unwrap_or_else(|| panic!("{ctx}: mapped"));
        let vendor = &d["cisco"]["secure_endpoint"];
        let ev = &d["event"];
        assert_eq!(ev["original"], raw, "{ctx}");
        assert_eq!(ev["kind"], "alert", "{ctx}");
        assert_eq!(ev["code"], e.event_type_id.to_string(), "{ctx}");
        assert_eq!(ev["action"], name(&v), "{ctx}");
        assert_eq!(vendor["event_type_id"], v["event_type_id"], "{ctx}");
        match v.get("id") {
            Some(id) => assert_eq!(ev["id"], id.to_string(), "{ctx}"),
            None => assert!(ev.get("id").is_none(), "{ctx}: no id, no event.id"),
        }
        let sev = match text(&v, "/severity").as_deref() {
            None => 0,
            Some("Low") => 1,
            Some("Medium") => 2,
            Some("High") => 3,
            Some("Critical") => 4,
            Some(other) => panic!("{ctx}: severity {other}"),
        };
        assert_eq!(ev["severity"], sev, "{ctx}");
        // event.category: `file` when the file has a name, `malware` when it is malicious.
        let mut category = Vec::new();
        if text(&v, "/file/file_name").is_some() {
            category.push("file");
        }
        if text(&v, "/file/disposition").as_deref() == Some("Malicious") {
            category.push("malware");
        }
        match ev.get("category") {
            Some(c) => assert_eq!(c, &json!(category), "{ctx}"),
            None => assert!(category.is_empty(), "{ctx}: category {category:?}"),
        }
        let ms = millis(&v) % 1000;
        assert_eq!(
            d["@timestamp"],
            format!("2021-01-14T13:06:17.{ms:03}Z"),
            "{ctx}"
        );
        assert_eq!(d["organization"]["name"], "acme");
        assert_eq!(d["host"]["name"], hostname(&v).to_lowercase(), "{ctx}");
        assert_eq!(d["host"]["id"], v["computer"]["connector_guid"], "{ctx}");
        let same = |path: &str, want: Option<Value>| {
            assert_eq!(d.pointer(path), want.as_ref(), "{ctx}: {path}");
        };
        let raw_at = |path: &str| v.pointer(path).cloned();
        same("/file/name", raw_at("/file/file_name"));
        same("/file/path", raw_at("/file/file_path"));
        same("/file/hash/sha256", raw_at("/file/identity/sha256"));
        same("/cisco/secure_endpoint/detection", raw_at("/detection"));
        same(
            "/cisco/secure_endpoint/detection_id",
            raw_at("/detection_id"),
        );
        // Network flows: source = the endpoint, destination = the remote side.
        same("/source/ip", raw_at("/network_info/local_ip"));
        same("/source/port", raw_at("/network_info/local_port"));
        same("/destination/ip", raw_at("/network_info/remote_ip"));
        same("/destination/port", raw_at("/network_info/remote_port"));
        same("/network/transport", raw_at("/network_info/nfm/protocol"));
        let dir = text(&v, "/network_info/nfm/direction").map(|d| {
            json!(if d == "Outgoing connection from" {
                "egress"
            } else {
                "ingress"
            })
        });
        same("/network/direction", dir);
        same("/url/original", raw_at("/network_info/dirty_url"));
        same("/process/name", parent(&v, "file_name").map(Value::from));
        same(
            "/process/pid",
            raw_at("/file/parent/process_id").or_else(|| raw_at("/network_info/parent/process_id")),
        );
        same("/process/command_line", raw_at("/command_line/arguments"));
        if v.get("network_info").is_some() && v.get("cloud_ioc").is_none() {
            let ips = d["related"]["ip"].as_array().expect("related.ip");
            assert!(ips.contains(&v["network_info"]["remote_ip"]), "{ctx}");
        }
        // Vulnerabilities stay with the vendor fields, their CVEs in related.cve.
        let cve_list = cves(&v).map(|c| json!(c.split(", ").collect::<Vec<_>>()));
        same("/cisco/secure_endpoint/related/cve", cve_list);
        same(
            "/cisco/secure_endpoint/vulnerabilities",
            raw_at("/vulnerabilities"),
        );
        same(
            "/error/code",
            text(&v, "/error/error_code").map(Value::from),
        );
        same(
            "/cisco/secure_endpoint/error/description",
            raw_at("/error/description"),
        );
        // Fields with no ECS target are kept as the vendor sent them.
        for k in ["isolation", "bp_data", "orbital", "scan", "cloud_ioc"] {
            same(
                &format!("/cisco/secure_endpoint/{k}"),
                raw_at(&format!("/{k}")),
            );
        }
        if v.get("cloud_ioc").is_some() {
            assert!(
                ev["start"].as_str().is_some_and(|s| s.ends_with('Z')),
                "{ctx}"
            );
        }
        if let Some(th) = v.get("threat_hunting") {
            let kept = &vendor["threat_hunting"];
            assert_eq!(kept["incident_title"], th["incident_title"], "{ctx}");
            assert!(kept["incident_start_time"]
                .as_str()
                .is_some_and(|s| s.ends_with('Z')));
            assert!(
                d.pointer("/threat/tactic/id").is_some(),
                "{ctx}: MITRE tactics"
            );
        }
        if let Some(Value::Array(tactics)) = v.get("tactics") {
            let ids: Vec<Value> = tactics
                .iter()
                .filter_map(|t| {
                    t.as_str()
                        .map(Value::from)
                        .or_else(|| t.get("external_id").cloned())
                })
                .collect();
            same("/threat/tactic/id", Some(Value::Array(ids)));
        }
    }
}
