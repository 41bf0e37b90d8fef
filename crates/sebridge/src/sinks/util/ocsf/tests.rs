use super::*;

fn entry(raw: &str, type_id: u64) -> JournalEntry {
    JournalEntry {
        tenant: "acme".into(),
        event_id: 7,
        event_type_id: type_id,
        event_time: 1_610_629_577,
        received_at: 1_610_629_578_000,
        raw: raw.into(),
        ..Default::default()
    }
}

#[test]
fn a_detection_is_a_detection_finding_and_the_rest_stays_unmapped() {
    let raw = r#"{"id":7,"timestamp":1610629577,"timestamp_nanoseconds":45000000,"event_type":"Threat Detected","event_type_id":1090519054,"detection":"W32.Trojan.X","detection_id":"6","severity":"High","computer":{"hostname":"H","connector_guid":"g","user":"u@x","network_addresses":[{"ip":"10.0.0.1","mac":"aa:bb:cc:dd:ee:ff"}]},"file":{"file_name":"a.exe","identity":{"sha256":"ab"},"parent":{"process_id":"12","file_name":"p.exe"}},"tactics":["TA0002"]}"#;
    let o = to_ocsf(&entry(raw, 1090519054));
    assert_eq!(o["type_uid"], 200401);
    assert_eq!(o["time"], 1_610_629_577_045_i64);
    assert_eq!(o["severity_id"], 4);
    assert_eq!(o["finding_info"]["uid"], "6");
    assert_eq!(o["malware"][0]["classification_ids"][0], 18);
    assert_eq!(o["evidences"][0]["process"]["pid"], 12);
    assert_eq!(o["evidences"][0]["file"]["hashes"][0]["algorithm_id"], 3);
    assert_eq!(o["attacks"][0]["tactic"]["uid"], "TA0002");
    assert_eq!(o["device"]["mac"], "aa:bb:cc:dd:ee:ff");
    assert_eq!(o["unmapped"], json!({"computer": {"user": "u@x"}}));
    assert_eq!(o["metadata"]["tenant_uid"], "acme");
}

#[test]
fn odd_input_and_unknown_types_become_base_events() {
    let o = to_ocsf(&entry("[1,2]", 42));
    assert_eq!(o["class_uid"], 0);
    assert_eq!(o["raw_data"], "[1,2]");
    let f = to_ocsf(&entry(
        r#"{"event_type":"Critical Fault Raised","error":{"error_code":5,"description":"x"}}"#,
        2164260931,
    ));
    assert_eq!(
        (f["class_uid"].clone(), f["status_id"].clone()),
        (json!(0), json!(2))
    );
    assert_eq!(f["status_code"], "5");
    assert!(f.get("unmapped").is_none(), "{f}");
}

#[test]
fn every_class_of_the_table_has_its_uid() {
    let uid = |id| class_of(id).class_uid();
    assert_eq!(uid(1090519054), 2004);
    assert_eq!(uid(1107296279), 2002);
    assert_eq!(uid(554696714), 6007);
    assert_eq!(
        uid(1091567628),
        6007,
        "a scan with detections is still a scan"
    );
    assert_eq!(uid(553648136), 6002);
    assert_eq!(uid(553648202), 7001);
    assert_eq!(uid(553648195), 0);
    assert_eq!(uid(4_000_000_000), 0);
}

#[test]
fn a_failed_install_is_a_failed_application_lifecycle_install() {
    let f = to_ocsf(&entry(
        r#"{"event_type":"Install Failure","error":{"error_code":5,"description":"x"}}"#,
        2164260895,
    ));
    assert_eq!(f["type_uid"], 600201);
    assert_eq!(f["activity_name"], "Install");
    assert_eq!(
        (f["status_id"].clone(), f["status"].clone()),
        (json!(2), json!("Failure"))
    );
    assert_eq!(f["status_code"], "5");
    assert_eq!(f["status_detail"], "x");
    assert_eq!(f["app"]["name"], PRODUCT_NAME);
    let started = to_ocsf(&entry(
        r#"{"event_type":"Product Update Started"}"#,
        553648135,
    ));
    assert_eq!(started["type_uid"], 600208);
    assert_eq!(started["status_id"], 99);
    assert_eq!(started["status"], "Started");
    let orbital = to_ocsf(&entry(
        r#"{"event_type":"Orbital Update Success","orbital":{"version":"1.21","old_version":"1.20"}}"#,
        553648210,
    ));
    assert_eq!(
        orbital["app"],
        json!({"name": "Orbital", "vendor_name": "Cisco", "version": "1.21"})
    );
    assert_eq!(orbital["status_id"], 1);
    assert_eq!(
        orbital["unmapped"],
        json!({"orbital": {"old_version": "1.20"}})
    );
    let failed = to_ocsf(&entry(
        r#"{"event_type":"Orbital Install Failure","orbital":{"version":"1.21"}}"#,
        2164260945,
    ));
    assert_eq!(
        failed["app"],
        json!({"name": "Orbital", "vendor_name": "Cisco"})
    );
    assert_eq!(
        failed["unmapped"],
        json!({"orbital": {"version": "1.21"}}),
        "only tried"
    );
}

#[test]
fn scans_carry_their_counts_and_a_failed_scan_is_an_error() {
    let raw = r#"{"event_type":"Scan Completed With Detections","scan":{"description":"Full Scan","clean":false,"scanned_files":82478,"scanned_processes":105,"scanned_paths":587,"malicious_detections":2}}"#;
    let o = to_ocsf(&entry(raw, 1091567628));
    assert_eq!(o["type_uid"], 600702);
    assert_eq!(
        o["scan"],
        json!({"name": "Full Scan", "type_id": 0, "type": "Unknown"})
    );
    assert_eq!(
        (o["num_files"].clone(), o["num_detections"].clone()),
        (json!(82478), json!(2))
    );
    assert_eq!(
        o["unmapped"],
        json!({"scan": {"clean": false, "scanned_paths": 587}})
    );
    let failed = to_ocsf(&entry(
        r#"{"event_type":"Endpoint IOC Scan Failed"}"#,
        2165309495,
    ));
    assert_eq!(failed["type_uid"], 600706);
    assert_eq!(failed["status_id"], 2);
    assert_eq!(
        failed["scan"]["name"], "Endpoint IOC Scan",
        "a name even without a description"
    );
    let started = to_ocsf(&entry(
        r#"{"scan":{"description":"Flash Scan"}}"#,
        554696714,
    ));
    assert!(started.get("status_id").is_none(), "{started}");
}

#[test]
fn isolation_is_a_remediation_with_its_countermeasure_and_error() {
    let o = to_ocsf(&entry(
        r#"{"event_type":"Endpoint Isolation Start Failure","isolation":{"user":"u","error_code":503}}"#,
        2164260939,
    ));
    assert_eq!(o["type_uid"], 700101);
    assert_eq!(o["command_uid"], "7");
    assert_eq!(
        (o["status_id"].clone(), o["status_code"].clone()),
        (json!(2), json!("503"))
    );
    assert_eq!(o["countermeasures"][0]["d3f_technique"]["uid"], "D3-NI");
    assert_eq!(o["unmapped"], json!({"isolation": {"user": "u"}}));
    let stop = to_ocsf(&entry(
        r#"{"event_type":"Endpoint Isolation Stop Success"}"#,
        553648204,
    ));
    assert_eq!(
        (stop["activity_name"].clone(), stop["status_id"].clone()),
        (json!("Restore"), json!(1))
    );
    let limit = to_ocsf(&entry(
        r#"{"event_type":"Endpoint Isolation Unlock Limit Reached"}"#,
        553648215,
    ));
    assert_eq!(limit["type_uid"], 700199);
    assert_eq!(
        limit["activity_name"],
        "Endpoint Isolation Unlock Limit Reached"
    );
    assert!(limit.get("countermeasures").is_none());
}

#[test]
fn a_vulnerable_application_is_a_vulnerability_finding_unless_it_names_no_cve() {
    let raw = r#"{"event_type":"Vulnerable Application Detected","file":{"file_name":"chrome.exe","identity":{"sha256":"ab"}},"vulnerabilities":[{"name":"Google Chrome","version":"87.0","cve":"CVE-2021-21148","score":8.8}]}"#;
    let o = to_ocsf(&entry(raw, 1107296279));
    assert_eq!(o["type_uid"], 200201);
    assert_eq!(o["finding_info"]["uid"], "7");
    let v = &o["vulnerabilities"][0];
    assert_eq!(v["cve"]["uid"], "CVE-2021-21148");
    assert_eq!(v["affected_packages"][0]["version"], "87.0");
    assert_eq!(v["affected_code"][0]["file"]["name"], "chrome.exe");
    assert_eq!(o["metadata"]["profiles"], json!([]));
    let no_cve = to_ocsf(&entry(
        r#"{"event_type":"Vulnerable Application Detected","vulnerabilities":[{"name":"X"}]}"#,
        1107296279,
    ));
    assert_eq!(no_cve["type_uid"], 200401);
    assert_eq!(no_cve["metadata"]["profiles"], json!(["security_control"]));
}
