//! Secure Endpoint event → a row of Microsoft Sentinel's Cisco Secure Endpoint table.
//!
//! Microsoft's own Cisco Secure Endpoint solution (repository Azure/Azure-Sentinel, folder
//! `Solutions/Cisco Secure Endpoint/`, version 3.0.1 and later) has a codeless connector
//! (`Data Connectors/CiscoSecureEndpointLogs_ccp/`) that polls `GET /v1/events` and posts
//! each item of `data` as it is to the stream `Custom-CiscoSecureEndpointEvents` of its DCR
//! (`CiscoSecureEndpointLogs_PollingConfig.json`). That stream declares the vendor's own
//! field names (`CiscoSecureEndpointLogs_DCR.json`, `streamDeclarations`), and the DCR's
//! `transformKql` turns them into the columns of the table `CiscoSecureEndpointEventsV2_CL`
//! (`CiscoSecureEndpointEventsLogs_Table.json`): top-level fields renamed (`Id = id`,
//! `EventType = event_type`, `TimeGenerated = date`, ...) and nested ones flattened in
//! PascalCase (`ComputerHostname = tostring(computer.hostname)`, `FileIdentitySha256`,
//! `NetworkInfoRemotePort = todouble(network_info.remote_port)`, ...). The solution's parser
//! `CiscoSecureEndpoint` (`Parsers/CiscoSecureEndpoint.yaml`), through which its workbook
//! (`Workbooks/Cisco Secure Endpoint Overview.json`), analytics rules and hunting queries
//! read the data, takes `ComputerHostname`, `ComputerUser`, `Detection`, `EventType`,
//! `Date`, `FileFileName`, `FileIdentitySha256`, ... from that table. (The older
//! `CiscoSecureEndpoint_CL` of the deprecated Function App connector is only read by the
//! parser for old data.)
//!
//! So there are two row formats, and both end in those columns:
//! - [`connector_row`] (`row_format = "connector"`, the default): the vendor event byte for
//!   byte, for the connector's DCR and stream; Microsoft's transform makes the columns, so
//!   the rows are exactly what the connector itself would have written.
//! - [`table_row`] (`row_format = "table"`): the table's columns computed here as that
//!   transform does, for a DCR of one's own whose stream (`Custom-CiscoSecureEndpointEventsV2_CL`)
//!   declares the table's columns and whose transform is `source`. KQL's conversions are
//!   followed: `tostring` of an object or array is its JSON text (so `GroupGuids`, `Tactics`,
//!   `ComputerNetworkAddresses` hold JSON arrays as text), `todouble`/`tobool` of something
//!   else give nothing. Absent values are left out (Log Analytics stores an empty string
//!   or null for them, as the transform does).
//!
//! Deliberate differences from the transform, in table rows only: its threat hunting
//! columns read `threat_hunting.title`, `.report_guid`, `.start_time`, ... while the API
//! names them `incident_title`, `incident_report_guid`, `incident_start_time` (see the
//! fixture of a SecureX Threat Hunting Incident), so the transform leaves them empty; here
//! the API's names fill them (the transform's names first, should they ever appear). And
//! `TimeGenerated` falls back to the event's `timestamp` when `date` is absent (the
//! transform would leave it to the ingestion time).
//!
//! Neither the table nor the stream has a column for the raw event or for the tenant; the
//! vendor event is whole in connector rows, and the table's columns carry every field the
//! solution reads. (One sink per tenant, with `tenants = [...]`, keeps tenants apart.)

use serde_json::{Map, Number, Value};

/// How a column is converted from the vendor field, as the transform's KQL does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `string`: text as is; numbers and booleans as text; objects and arrays as JSON.
    Str,
    /// `real`: numbers, and text that parses as one.
    Real,
    /// `boolean`: booleans, `"true"`/`"false"` and numbers (non-zero is true).
    Bool,
    /// `datetime`: the ISO 8601 text the API sends.
    Time,
}

use Kind::{Bool, Real, Str, Time};

/// A column: its name, conversion and the vendor field(s) it is read from, first found.
pub type Column = (&'static str, Kind, &'static [&'static [&'static str]]);

/// Every column of `CiscoSecureEndpointEventsV2_CL` the transform fills, in its order.
#[rustfmt::skip]
pub const COLUMNS: &[Column] = &[
    ("Id", Real, &[&["id"]]),
    ("Timestamp", Real, &[&["timestamp"]]),
    ("TimestampNanoseconds", Real, &[&["timestamp_nanoseconds"]]),
    ("TimeGenerated", Time, &[&["date"]]),
    ("Date", Time, &[&["date"]]),
    ("EventType", Str, &[&["event_type"]]),
    ("EventTypeId", Real, &[&["event_type_id"]]),
    ("Detection", Str, &[&["detection"]]),
    ("DetectionId", Str, &[&["detection_id"]]),
    ("ConnectorGuid", Str, &[&["connector_guid"]]),
    ("GroupGuids", Str, &[&["group_guids"]]),
    ("Severity", Str, &[&["severity"]]),
    ("Tactics", Str, &[&["tactics"]]),
    ("Techniques", Str, &[&["techniques"]]),
    ("Hostname", Str, &[&["hostname"]]),
    ("Vulnerabilities", Str, &[&["vulnerabilities"]]),
    ("StartTimestamp", Real, &[&["start_timestamp"]]),
    ("StartDate", Time, &[&["start_date"]]),
    ("ErrorErrorCode", Real, &[&["error", "error_code"]]),
    ("ErrorDescription", Str, &[&["error", "description"]]),
    ("ComputerConnectorGuid", Str, &[&["computer", "connector_guid"]]),
    ("ComputerHostname", Str, &[&["computer", "hostname"]]),
    ("ComputerExternalIp", Str, &[&["computer", "external_ip"]]),
    ("ComputerUser", Str, &[&["computer", "user"]]),
    ("ComputerActive", Bool, &[&["computer", "active"]]),
    ("ComputerNetworkAddresses", Str, &[&["computer", "network_addresses"]]),
    ("ComputerLinksComputer", Str, &[&["computer", "links", "computer"]]),
    ("ComputerLinksTrajectory", Str, &[&["computer", "links", "trajectory"]]),
    ("ComputerLinksGroup", Str, &[&["computer", "links", "group"]]),
    ("FileDisposition", Str, &[&["file", "disposition"]]),
    ("FileFileName", Str, &[&["file", "file_name"]]),
    ("FileFilePath", Str, &[&["file", "file_path"]]),
    ("FileIdentitySha256", Str, &[&["file", "identity", "sha256"]]),
    ("FileIdentitySha1", Str, &[&["file", "identity", "sha1"]]),
    ("FileIdentityMd5", Str, &[&["file", "identity", "md5"]]),
    ("FileParentProcessId", Real, &[&["file", "parent", "process_id"]]),
    ("FileParentDisposition", Str, &[&["file", "parent", "disposition"]]),
    ("FileParentFileName", Str, &[&["file", "parent", "file_name"]]),
    ("FileParentIdentitySha256", Str, &[&["file", "parent", "identity", "sha256"]]),
    ("FileParentIdentitySha1", Str, &[&["file", "parent", "identity", "sha1"]]),
    ("FileParentIdentityMd5", Str, &[&["file", "parent", "identity", "md5"]]),
    ("FileAttackDetailsApplication", Str, &[&["file", "attack_details", "application"]]),
    ("FileAttackDetailsAttackedModule", Str, &[&["file", "attack_details", "attacked_module"]]),
    ("FileAttackDetailsBaseAddress", Str, &[&["file", "attack_details", "base_address"]]),
    ("FileAttackDetailsSuspiciousFiles", Str, &[&["file", "attack_details", "suspicious_files"]]),
    ("FileAttackDetailsIndicators", Str, &[&["file", "attack_details", "indicators"]]),
    ("FileArchivedFileDisposition", Str, &[&["file", "archived_file", "disposition"]]),
    ("FileArchivedFileIdentitySha256", Str, &[&["file", "archived_file", "identity", "sha256"]]),
    ("ScanDescription", Str, &[&["scan", "description"]]),
    ("ScanClean", Bool, &[&["scan", "clean"]]),
    ("ScanScannedFiles", Real, &[&["scan", "scanned_files"]]),
    ("ScanScannedProcesses", Real, &[&["scan", "scanned_processes"]]),
    ("ScanScannedPaths", Real, &[&["scan", "scanned_paths"]]),
    ("ScanMaliciousDetections", Real, &[&["scan", "malicious_detections"]]),
    ("BpDataPackageManagerPendingVersion", Real, &[&["bp_data", "package_manager_pending_version"]]),
    ("BpDataPackageManagerSerialNumber", Real, &[&["bp_data", "package_manager_serial_number"]]),
    ("BpDataSts", Real, &[&["bp_data", "sts"]]),
    ("BpDataPackageName", Str, &[&["bp_data", "package_name"]]),
    ("BpDataPackageManagerCurrentVersion", Real, &[&["bp_data", "package_manager_current_version"]]),
    ("BpDataNormalizedSeverityId", Real, &[&["bp_data", "normalized", "severity_id"]]),
    ("BpDataAudit", Bool, &[&["bp_data", "audit"]]),
    ("BpDataDetection", Str, &[&["bp_data", "detection"]]),
    ("BpDataEndTs", Real, &[&["bp_data", "end_ts"]]),
    ("BpDataEngine", Str, &[&["bp_data", "engine"]]),
    ("BpDataId", Str, &[&["bp_data", "id"]]),
    ("BpDataName", Str, &[&["bp_data", "name"]]),
    ("BpDataRemediated", Bool, &[&["bp_data", "remediated"]]),
    ("BpDataSeverity", Str, &[&["bp_data", "severity"]]),
    ("BpDataSilent", Bool, &[&["bp_data", "silent"]]),
    ("BpDataStartTs", Real, &[&["bp_data", "start_ts"]]),
    ("BpDataTactics", Str, &[&["bp_data", "tactics"]]),
    ("BpDataTechniques", Str, &[&["bp_data", "techniques"]]),
    ("BpDataType", Str, &[&["bp_data", "type"]]),
    ("BpDataObservablesFile", Str, &[&["bp_data", "observables", "file"]]),
    ("BpDataDetailsActions", Str, &[&["bp_data", "details", "actions"]]),
    ("BpDataDetailsEngEpoch", Real, &[&["bp_data", "details", "eng_epoch"]]),
    ("BpDataDetailsEngVer", Str, &[&["bp_data", "details", "eng_ver"]]),
    ("BpDataDetailsSchema", Str, &[&["bp_data", "details", "schema"]]),
    ("BpDataDetailsSchemaEpoch", Real, &[&["bp_data", "details", "schema_epoch"]]),
    ("BpDataDetailsSigId", Real, &[&["bp_data", "details", "sig_id"]]),
    ("BpDataDetailsSigRev", Real, &[&["bp_data", "details", "sig_rev"]]),
    ("BpDataDetailsSigSetVersion", Real, &[&["bp_data", "details", "sig_set_version"]]),
    ("BpDataDetailsMatchedActivityEvents", Str, &[&["bp_data", "details", "matched_activity", "events"]]),
    ("BpDataDetailsMatchedActivityLimited", Bool, &[&["bp_data", "details", "matched_activity", "limited"]]),
    ("BpDataDetailsMatchedActivityMatched", Real, &[&["bp_data", "details", "matched_activity", "matched"]]),
    ("BpDataDeviceAgentList", Str, &[&["bp_data", "device", "agent_list"]]),
    ("BpDataDeviceHostname", Str, &[&["bp_data", "device", "hostname"]]),
    ("BpDataDeviceNetworkInterfaces", Str, &[&["bp_data", "device", "network_interfaces"]]),
    ("BpDataDeviceOsMachineUuid", Str, &[&["bp_data", "device", "os_machine_uuid"]]),
    ("BpDataDeviceTypeId", Real, &[&["bp_data", "device", "type_id"]]),
    ("BpDataDeviceHwInfoBiosManufacturer", Str, &[&["bp_data", "device", "hw_info", "bios_manufacturer"]]),
    ("BpDataDeviceHwInfoBiosVer", Str, &[&["bp_data", "device", "hw_info", "bios_ver"]]),
    ("BpDataDeviceHwInfoCpuBits", Real, &[&["bp_data", "device", "hw_info", "cpu_bits"]]),
    ("BpDataDeviceHwInfoCpuType", Str, &[&["bp_data", "device", "hw_info", "cpu_type"]]),
    ("BpDataDeviceHwInfoSerialNumber", Str, &[&["bp_data", "device", "hw_info", "serial_number"]]),
    ("BpDataDeviceHwInfoUuid", Str, &[&["bp_data", "device", "hw_info", "uuid"]]),
    ("BpDataDeviceHwInfoVendorName", Str, &[&["bp_data", "device", "hw_info", "vendor_name"]]),
    ("BpDataDeviceOsBuild", Str, &[&["bp_data", "device", "os", "build"]]),
    ("BpDataDeviceOsEdition", Str, &[&["bp_data", "device", "os", "edition"]]),
    ("BpDataDeviceOsName", Str, &[&["bp_data", "device", "os", "name"]]),
    ("BpDataDeviceOsTypeId", Real, &[&["bp_data", "device", "os", "type_id"]]),
    ("BpDataDeviceOsVersion", Str, &[&["bp_data", "device", "os", "version"]]),
    ("BpDataNormalizedName", Str, &[&["bp_data", "normalized", "name"]]),
    ("BpDataNormalizedObservablesAll", Str, &[&["bp_data", "normalized", "observables", "all"]]),
    ("BpDataNormalizedObservablesFileName", Str, &[&["bp_data", "normalized", "observables", "file", "name"]]),
    ("BpDataNormalizedObservablesFilePath", Str, &[&["bp_data", "normalized", "observables", "file", "path"]]),
    ("BpDataErrorCode", Real, &[&["bp_data", "error_code"]]),
    ("BpDataDemo", Bool, &[&["bp_data", "demo"]]),
    ("BpDataPackageUri", Str, &[&["bp_data", "package_uri"]]),
    ("BpDataErrorSource", Str, &[&["bp_data", "source"]]),
    ("BpDataEcx", Str, &[&["bp_data", "ecx"]]),
    ("PolicySerialNumber", Real, &[&["policy", "serial_number"]]),
    ("ProductUpdateCurrentVersion", Str, &[&["product_update", "current_version"]]),
    ("ProductUpdateUpdateVersion", Str, &[&["product_update", "update_version"]]),
    ("IsolationDuration", Real, &[&["isolation", "duration"]]),
    ("IsolationUser", Str, &[&["isolation", "user"]]),
    ("ForensicSnapshotUrl", Str, &[&["forensic_snapshot", "url"]]),
    ("DeviceControlDataPackageManagerSerialNumber", Str, &[&["device_control", "data", "package_manager_serial_number"]]),
    ("DeviceControlDataPackageName", Str, &[&["device_control", "data", "package_name"]]),
    ("DeviceControlDataSts", Real, &[&["device_control", "data", "sts"]]),
    ("DeviceControlDataNormalizedSeverityId", Real, &[&["device_control", "data", "normalized", "severity_id"]]),
    ("EndpointIocScanClean", Bool, &[&["endpoint_ioc_scan", "clean"]]),
    ("EndpointIocScanDescription", Str, &[&["endpoint_ioc_scan", "description"]]),
    ("EndpointIocScanScannedObjects", Real, &[&["endpoint_ioc_scan", "scanned_objects"]]),
    ("EndpointIocScanMatchedObjects", Real, &[&["endpoint_ioc_scan", "matched_objects"]]),
    ("EndpointIocScanMaliciousDetections", Real, &[&["endpoint_ioc_scan", "malicious_detections"]]),
    ("OrbitalVersion", Str, &[&["orbital", "version"]]),
    ("OrbitalOldVersion", Str, &[&["orbital", "old_version"]]),
    ("CommandLineArguments", Str, &[&["command_line", "arguments"]]),
    ("CloudIocDescription", Str, &[&["cloud_ioc", "description"]]),
    ("CloudIocShortDescription", Str, &[&["cloud_ioc", "short_description"]]),
    ("ThreatHuntingIncidentReportGuid", Str, &[&["threat_hunting", "report_guid"], &["threat_hunting", "incident_report_guid"]]),
    ("ThreatHuntingIncidentHuntGuid", Str, &[&["threat_hunting", "hunt_guid"], &["threat_hunting", "incident_hunt_guid"]]),
    ("ThreatHuntingIncidentTitle", Str, &[&["threat_hunting", "title"], &["threat_hunting", "incident_title"]]),
    ("ThreatHuntingIncidentSummary", Str, &[&["threat_hunting", "summary"], &["threat_hunting", "incident_summary"]]),
    ("ThreatHuntingIncidentRemediation", Str, &[&["threat_hunting", "remediation"], &["threat_hunting", "incident_remediation"]]),
    ("ThreatHuntingIncidentStartTime", Real, &[&["threat_hunting", "start_time"], &["threat_hunting", "incident_start_time"]]),
    ("ThreatHuntingIncidentEndTime", Real, &[&["threat_hunting", "end_time"], &["threat_hunting", "incident_end_time"]]),
    ("ThreatHuntingTactics", Str, &[&["threat_hunting", "tactics"]]),
    ("ThreatHuntingTechniques", Str, &[&["threat_hunting", "techniques"]]),
    ("ThreatHuntingSeverity", Str, &[&["threat_hunting", "severity"]]),
    ("NetworkInfoDirtyUrl", Str, &[&["network_info", "dirty_url"]]),
    ("NetworkInfoRemoteIp", Str, &[&["network_info", "remote_ip"]]),
    ("NetworkInfoRemotePort", Real, &[&["network_info", "remote_port"]]),
    ("NetworkInfoLocalIp", Str, &[&["network_info", "local_ip"]]),
    ("NetworkInfoLocalPort", Real, &[&["network_info", "local_port"]]),
    ("NetworkInfoNfmDirection", Str, &[&["network_info", "nfm", "direction"]]),
    ("NetworkInfoNfmProtocol", Str, &[&["network_info", "nfm", "protocol"]]),
    ("NetworkInfoParentProcessId", Real, &[&["network_info", "parent", "process_id"]]),
    ("NetworkInfoParentDisposition", Str, &[&["network_info", "parent", "disposition"]]),
    ("NetworkInfoParentFileName", Str, &[&["network_info", "parent", "file_name"]]),
    ("NetworkInfoParentIdentitySha256", Str, &[&["network_info", "parent", "identity", "sha256"]]),
    ("NetworkInfoParentIdentitySha1", Str, &[&["network_info", "parent", "identity", "sha1"]]),
    ("NetworkInfoParentIdentityMd5", Str, &[&["network_info", "parent", "identity", "md5"]]),
];

/// Appends the connector row of `raw` (the vendor event itself); false when it is not a
/// JSON object (the stream takes objects only).
pub fn connector_row(raw: &str, out: &mut Vec<u8>) -> bool {
    let raw = raw.trim();
    // The journal holds events parsed as objects; a cheap check keeps an odd row from
    // failing a whole call. JSON allows whitespace (even newlines) between tokens, so the
    // text goes in as it is.
    if !(raw.starts_with('{') && raw.ends_with('}')) {
        return false;
    }
    out.extend_from_slice(raw.as_bytes());
    true
}

/// Appends the table row of `raw`; `event_time` (epoch seconds, the journal's) stands in
/// for a missing `date`. False when `raw` is not a JSON object.
pub fn table_row(raw: &str, event_time: i64, out: &mut Vec<u8>) -> bool {
    match to_table_row(raw, event_time) {
        // Writing a map of JSON values into a Vec cannot fail.
        Some(row) => serde_json::to_writer(out, &row).is_ok(),
        None => false,
    }
}

/// The table row of `raw` as a JSON object (see the module docs).
pub fn to_table_row(raw: &str, event_time: i64) -> Option<Map<String, Value>> {
    let event: Value = serde_json::from_str(raw).ok()?;
    if !event.is_object() {
        return None;
    }
    let mut row = Map::new();
    for (name, kind, paths) in COLUMNS {
        let found = paths
            .iter()
            .find_map(|p| at(&event, p).filter(|v| !v.is_null()));
        if let Some(v) = found.and_then(|v| convert(*kind, v)) {
            row.insert((*name).to_string(), v);
        }
    }
    if !row.contains_key("TimeGenerated") {
        let t = crate::sinks::util::render::rfc3339_millis(event_time.saturating_mul(1000));
        if !t.is_empty() {
            row.insert("TimeGenerated".into(), Value::String(t));
        }
    }
    Some(row)
}

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

/// KQL's `tostring`, `todouble`, `tobool` (and a datetime column's parse) of a value.
fn convert(kind: Kind, v: &Value) -> Option<Value> {
    match (kind, v) {
        (Str, Value::String(_)) => Some(v.clone()),
        (Str, Value::Number(n)) => Some(Value::String(n.to_string())),
        (Str, Value::Bool(b)) => Some(Value::String(b.to_string())),
        (Str, Value::Array(_) | Value::Object(_)) => Some(Value::String(v.to_string())),
        (Real, Value::Number(_)) => Some(v.clone()),
        (Real, Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number),
        (Real, Value::Bool(b)) => Some(Value::from(u8::from(*b))),
        (Bool, Value::Bool(_)) => Some(v.clone()),
        (Bool, Value::String(s)) if s.eq_ignore_ascii_case("true") => Some(Value::Bool(true)),
        (Bool, Value::String(s)) if s.eq_ignore_ascii_case("false") => Some(Value::Bool(false)),
        (Bool, Value::Number(n)) => n.as_f64().map(|f| Value::Bool(f != 0.0)),
        (Time, Value::String(s)) if !s.trim().is_empty() => Some(v.clone()),
        _ => None,
    }
}
