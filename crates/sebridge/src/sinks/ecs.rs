//! Secure Endpoint event → ECS document, with the field names and rules of Elastic's own
//! `cisco_secure_endpoint` integration (2.33.0 ingest pipeline, ECS 8.11.0), so its
//! dashboards and detection rules work on what this sink writes.
//!
//! The vendor event becomes `cisco.secure_endpoint.*` minus the fields the pipeline moves to
//! ECS (`event.*`, `host.*`, `user.*`, `file.*`, `process.*`, `source.*`, `destination.*`,
//! `network.*`, `url.*`, `threat.*`, `group.id`, `error.code`, `related.*`) or removes.
//!
//! Deliberate differences from Elastic's pipeline (each checked by the fixture test):
//! - `@timestamp` keeps the sub-second part (`timestamp_nanoseconds`): Elastic's is whole
//!   seconds;
//! - `event.original` is the vendor event itself; Elastic's is the whole API page with `data`
//!   replaced by the one event (an artefact of its httpjson input);
//! - added: `organization.name` (the tenant: MSSPs need it on every document),
//!   `data_stream.*`, `event.module` and `event.dataset` (constant fields Fleet's templates
//!   set when the integration writes), and the `_id` is `<tenant>:<event id>` rather than a
//!   SHA-1 fingerprint;
//! - no GeoIP/ASN enrichment (`source.geo`, `source.as`...): that needs Elastic's databases;
//! - techniques map to `threat.technique.*` even without tactics (Elastic's script only runs
//!   when `tactics` is present, which looks like a bug);
//! - `severity` compares case-insensitively.

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;

pub const ECS_VERSION: &str = "8.11.0";
pub const MODULE: &str = "cisco_secure_endpoint";
pub const DATASET: &str = "cisco_secure_endpoint.event";

/// The ECS document of one event. `None` when `raw` is not a JSON object.
pub fn to_ecs(raw: &str, tenant: &str, data_stream: &str) -> Option<Value> {
    let Value::Object(mut ev) = serde_json::from_str::<Value>(raw).ok()? else {
        return None;
    };
    let mut doc = Map::new();
    let mut related = Related::default();

    // Time: the second plus the sub-second part.
    let ts = ev.get("timestamp").and_then(Value::as_i64);
    let nanos = ev
        .get("timestamp_nanoseconds")
        .and_then(Value::as_u64)
        .unwrap_or(0)
        .min(999_999_999);
    let when = match ts {
        Some(ts) => time::OffsetDateTime::from_unix_timestamp(ts)
            .ok()
            .and_then(|t| t.replace_nanosecond(u32::try_from(nanos).unwrap_or(0)).ok()),
        None => ev
            .get("date")
            .and_then(Value::as_str)
            .and_then(|d| time::OffsetDateTime::parse(d, &Rfc3339).ok()),
    };
    if let Some(t) = when {
        doc.insert("@timestamp".into(), Value::String(iso_millis(t)));
    }

    let mut event = Map::new();
    event.insert("original".into(), Value::String(raw.to_string()));
    event.insert("kind".into(), "alert".into());
    event.insert("module".into(), MODULE.into());
    event.insert("dataset".into(), DATASET.into());
    if let Some(id) = ev.remove("id").filter(|v| !v.is_null()) {
        event.insert("id".into(), Value::String(scalar_text(&id)));
    }
    if let Some(code) = ev.get("event_type_id") {
        event.insert("code".into(), Value::String(scalar_text(code)));
    }
    if let Some(action) = ev.remove("event_type") {
        event.insert("action".into(), action);
    }
    let severity = match ev.remove("severity") {
        None | Some(Value::Null) => Some(0),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "low" => Some(1),
            "medium" => Some(2),
            "high" => Some(3),
            "critical" => Some(4),
            _ => None,
        },
        Some(_) => None,
    };
    if let Some(s) = severity {
        event.insert("severity".into(), Value::from(s));
    }
    if let Some(start) = ev.remove("start_timestamp").and_then(|v| v.as_i64()) {
        if let Ok(t) = time::OffsetDateTime::from_unix_timestamp(start) {
            event.insert("start".into(), Value::String(iso_millis(t)));
        }
    }
    for k in ["timestamp", "timestamp_nanoseconds", "date", "start_date"] {
        ev.remove(k);
    }
    let mut category = Vec::new();
    if ev
        .get("file")
        .and_then(|f| f.get("file_name"))
        .is_some_and(|v| !v.is_null())
    {
        category.push(Value::from("file"));
    }
    if ev
        .get("file")
        .and_then(|f| f.get("disposition"))
        .and_then(Value::as_str)
        == Some("Malicious")
    {
        category.push(Value::from("malware"));
    }
    if !category.is_empty() {
        event.insert("category".into(), Value::Array(category));
    }

    // error.error_code → error.code (string); the description stays with the vendor fields.
    if let Some(Value::Object(err)) = ev.get_mut("error") {
        if let Some(code) = err.remove("error_code").filter(|v| !v.is_null()) {
            put(
                &mut doc,
                &["error", "code"],
                Value::String(scalar_text(&code)),
            );
        }
    }

    if let Some(groups) = ev.remove("group_guids") {
        put(&mut doc, &["group", "id"], groups);
    }

    // Host.
    let top_hostname = ev.remove("hostname");
    let mut hostname: Option<String> = None;
    if let Some(Value::Object(c)) = ev.get_mut("computer") {
        hostname = c
            .remove("hostname")
            .and_then(|h| h.as_str().map(str::to_string));
        c.remove("links");
        if let Some(guid) = c.remove("connector_guid") {
            put(&mut doc, &["host", "id"], guid);
        }
        if let Some(user) = c
            .remove("user")
            .and_then(|u| u.as_str().map(str::to_string))
        {
            map_user(&mut doc, &mut related, &user);
        }
        if let Some(ip) = c.get("external_ip").and_then(Value::as_str) {
            related.ip(ip);
        }
        if let Some(Value::Array(addrs)) = c.get("network_addresses") {
            let mut ips = Vec::new();
            let mut macs = Vec::new();
            for a in addrs {
                if let Some(ip) = a
                    .get("ip")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                {
                    related.ip(ip);
                    push_unique(&mut ips, ip.to_string());
                }
                if let Some(mac) = a
                    .get("mac")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                {
                    push_unique(&mut macs, mac.to_ascii_uppercase().replace(':', "-"));
                }
            }
            if !ips.is_empty() {
                put(&mut doc, &["host", "ip"], strings(ips));
            }
            if !macs.is_empty() {
                put(&mut doc, &["host", "mac"], strings(macs.clone()));
                put(&mut ev, &["related", "mac"], strings(macs));
            }
        }
    }
    let hostname = hostname.or_else(|| top_hostname.and_then(|h| h.as_str().map(str::to_string)));
    if let Some(h) = hostname.filter(|h| !h.is_empty()) {
        let lower = h.to_lowercase();
        put(&mut doc, &["host", "name"], Value::String(lower.clone()));
        match h.split_once('.') {
            Some((short, domain)) => {
                put(&mut doc, &["host", "hostname"], short.into());
                put(&mut doc, &["host", "domain"], domain.into());
            }
            None => put(&mut doc, &["host", "hostname"], Value::String(h.clone())),
        }
        related.host(&lower);
    }

    // File.
    if let Some(Value::Object(f)) = ev.get_mut("file") {
        if let Some(name) = f.remove("file_name") {
            put(&mut doc, &["file", "name"], name);
        }
        if let Some(path) = f.remove("file_path") {
            if path.as_str().is_some_and(|p| p.contains('\\')) {
                put(&mut doc, &["host", "os", "family"], "windows".into());
                put(&mut doc, &["host", "os", "platform"], "windows".into());
            }
            put(&mut doc, &["file", "path"], path);
        }
        if let Some(Value::Object(identity)) = f.remove("identity") {
            for (k, v) in identity {
                if let Some(h) = v.as_str().filter(|s| !s.is_empty()) {
                    related.hash(h);
                    put(&mut doc, &["file", "hash", &k], v.clone());
                }
            }
        }
        if let Some(Value::Object(parent)) = f.get_mut("parent") {
            map_process(&mut doc, parent, None);
        }
    }

    // Network flow.
    if let Some(Value::Object(n)) = ev.get_mut("network_info") {
        for (from, to) in [("local_ip", "source"), ("remote_ip", "destination")] {
            if let Some(ip) = n.remove(from) {
                if let Some(s) = ip.as_str() {
                    related.ip(s);
                }
                put(&mut doc, &[to, "ip"], ip);
            }
        }
        for (from, to) in [("local_port", "source"), ("remote_port", "destination")] {
            if let Some(port) = n.remove(from) {
                let port = match &port {
                    Value::String(s) => s.parse::<u64>().map(Value::from).unwrap_or(port),
                    _ => port,
                };
                put(&mut doc, &[to, "port"], port);
            }
        }
        if let Some(Value::Object(nfm)) = n.get_mut("nfm") {
            if let Some(p) = nfm.remove("protocol") {
                put(&mut doc, &["network", "transport"], p);
            }
            if let Some(d) = nfm.get("direction").and_then(Value::as_str) {
                let dir = if d == "Outgoing connection from" {
                    "egress"
                } else {
                    "ingress"
                };
                put(&mut doc, &["network", "direction"], dir.into());
            }
        }
        if let Some(u) = n.remove("dirty_url") {
            if let Some(s) = u.as_str() {
                map_url(&mut doc, s);
            }
        }
        if let Some(Value::Object(parent)) = n.get_mut("parent") {
            map_process(&mut doc, parent, Some(&mut related));
        }
    }

    // Command line.
    if let Some(args) = ev
        .get("command_line")
        .and_then(|c| c.get("arguments"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        let parts: Vec<String> = args
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        put(&mut doc, &["process", "command_line"], args.into());
        if let Some(first) = parts.first() {
            put(&mut doc, &["process", "executable"], first.clone().into());
        }
        put(
            &mut doc,
            &["process", "args_count"],
            Value::from(parts.len()),
        );
        put(&mut doc, &["process", "args"], strings(parts));
    }

    // MITRE ATT&CK.
    for (key, target) in [("tactics", "tactic"), ("techniques", "technique")] {
        if let Some(Value::Array(items)) = ev.get(key) {
            let (mut names, mut ids, mut refs) = (Vec::new(), Vec::new(), Vec::new());
            for it in items {
                match it {
                    Value::String(s) => ids.push(Value::String(s.clone())),
                    Value::Object(o) => {
                        if let Some(v) = o.get("name") {
                            names.push(v.clone());
                        }
                        if let Some(v) = o.get("external_id") {
                            ids.push(v.clone());
                        }
                        if let Some(v) = o.get("mitre_url") {
                            refs.push(v.clone());
                        }
                    }
                    _ => {}
                }
            }
            for (field, vals) in [("name", names), ("id", ids), ("reference", refs)] {
                if !vals.is_empty() {
                    put(&mut doc, &["threat", target, field], Value::Array(vals));
                }
            }
        }
    }

    // Threat hunting: epoch seconds → dates; its own tactics/techniques are dropped.
    if let Some(Value::Object(th)) = ev.get_mut("threat_hunting") {
        th.remove("tactics");
        th.remove("techniques");
        for k in ["incident_start_time", "incident_end_time"] {
            if let Some(t) = th
                .get(k)
                .and_then(Value::as_i64)
                .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
            {
                th.insert(k.into(), Value::String(iso_millis(t)));
            }
        }
    }

    // CVEs.
    if let Some(Value::Array(vulns)) = ev.get("vulnerabilities") {
        let cves: Vec<String> = vulns
            .iter()
            .filter_map(|v| v.get("cve").and_then(Value::as_str))
            .map(str::to_string)
            .collect();
        if !cves.is_empty() {
            put(&mut ev, &["related", "cve"], strings(cves));
        }
    }

    related.write(&mut doc);
    doc.insert("event".into(), Value::Object(event));
    put(&mut doc, &["ecs", "version"], ECS_VERSION.into());
    put(&mut doc, &["organization", "name"], tenant.into());
    let mut parts = data_stream.splitn(3, '-');
    if let (Some(t), Some(d), Some(n)) = (parts.next(), parts.next(), parts.next()) {
        put(&mut doc, &["data_stream", "type"], t.into());
        put(&mut doc, &["data_stream", "dataset"], d.into());
        put(&mut doc, &["data_stream", "namespace"], n.into());
    }
    doc.insert(
        "tags".into(),
        Value::Array(vec!["preserve_original_event".into()]),
    );
    let mut vendor = Value::Object(ev);
    prune(&mut vendor);
    if !vendor.as_object().is_some_and(Map::is_empty) {
        put(&mut doc, &["cisco", "secure_endpoint"], vendor);
    }
    let mut doc = Value::Object(doc);
    prune(&mut doc);
    Some(doc)
}

fn iso_millis(t: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn strings(v: Vec<String>) -> Value {
    Value::Array(v.into_iter().map(Value::String).collect())
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

/// Sets `path` in `map`, creating objects on the way (an existing non-object is replaced).
fn put(map: &mut Map<String, Value>, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = map;
    for p in parents {
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(next) = entry else { return };
        cur = next;
    }
    cur.insert(last.to_string(), value);
}

/// Removes nulls, empty strings, empty objects and empty arrays (as the pipeline's last
/// script does).
fn prune(v: &mut Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => {
            a.retain_mut(prune);
            !a.is_empty()
        }
        Value::Object(o) => {
            o.retain(|_, v| prune(v));
            !o.is_empty()
        }
        _ => true,
    }
}

#[derive(Default)]
struct Related {
    ip: Vec<String>,
    hash: Vec<String>,
    hosts: Vec<String>,
    user: Vec<String>,
}

impl Related {
    fn ip(&mut self, s: &str) {
        if !s.is_empty() {
            push_unique(&mut self.ip, s.to_string());
        }
    }
    fn hash(&mut self, s: &str) {
        push_unique(&mut self.hash, s.to_string());
    }
    fn host(&mut self, s: &str) {
        push_unique(&mut self.hosts, s.to_string());
    }
    fn user(&mut self, s: &str) {
        push_unique(&mut self.user, s.to_string());
    }
    fn write(self, doc: &mut Map<String, Value>) {
        for (k, v) in [
            ("hash", self.hash),
            ("hosts", self.hosts),
            ("ip", self.ip),
            ("user", self.user),
        ] {
            if !v.is_empty() {
                put(doc, &["related", k], strings(v));
            }
        }
    }
}

/// `user@domain` → user.name + user.domain (+ user.email); "Not Available" is no user.
fn map_user(doc: &mut Map<String, Value>, related: &mut Related, user: &str) {
    if user.is_empty() || user == "Not Available" {
        return;
    }
    let is_username = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    let is_hostname = |s: &str| {
        !s.is_empty()
            && s.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    };
    let name = match user.split_once('@') {
        Some((n, d)) if is_username(n) && is_hostname(d) => {
            put(doc, &["user", "domain"], d.into());
            n.to_string()
        }
        _ => user.to_string(),
    };
    put(doc, &["user", "name"], Value::String(name.clone()));
    related.user(&name);
    if user.find('@').is_some_and(|i| i > 0) {
        put(doc, &["user", "email"], user.into());
        related.user(user);
    }
}

/// A parent process (of a file or a flow) → process.pid/name/hash.*.
fn map_process(
    doc: &mut Map<String, Value>,
    parent: &mut Map<String, Value>,
    related: Option<&mut Related>,
) {
    if let Some(pid) = parent.remove("process_id") {
        let pid = match &pid {
            Value::String(s) => s.parse::<u64>().map(Value::from).unwrap_or(pid),
            _ => pid,
        };
        put(doc, &["process", "pid"], pid);
    }
    if let Some(name) = parent.remove("file_name") {
        put(doc, &["process", "name"], name);
    }
    if let Some(Value::Object(identity)) = parent.remove("identity") {
        let mut hashes = Vec::new();
        for (k, v) in identity {
            if let Some(h) = v.as_str().filter(|s| !s.is_empty()) {
                hashes.push(h.to_string());
                put(doc, &["process", "hash", &k], v.clone());
            }
        }
        // Elastic adds flow parents' hashes to related.hash, but not file parents'.
        if let Some(r) = related {
            for h in hashes {
                r.hash(&h);
            }
        }
    }
}

fn map_url(doc: &mut Map<String, Value>, s: &str) {
    put(doc, &["url", "original"], s.into());
    let Ok(u) = url::Url::parse(s) else { return };
    put(doc, &["url", "scheme"], u.scheme().into());
    if let Some(d) = u.host_str() {
        put(doc, &["url", "domain"], d.into());
    }
    if let Some(p) = u.port() {
        put(doc, &["url", "port"], Value::from(p));
    }
    put(doc, &["url", "path"], u.path().into());
    if let Some(ext) = u
        .path()
        .rsplit('/')
        .next()
        .and_then(|last| last.rsplit_once('.'))
        .map(|(_, e)| e)
        .filter(|e| !e.is_empty())
    {
        put(doc, &["url", "extension"], ext.into());
    }
    if let Some(q) = u.query() {
        put(doc, &["url", "query"], q.into());
    }
    if let Some(f) = u.fragment() {
        put(doc, &["url", "fragment"], f.into());
    }
    if !u.username().is_empty() {
        put(doc, &["url", "username"], u.username().into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_urls() {
        let raw = r#"{"id":1,"event_type_id":5,"timestamp":1,"computer":{"user":"jdoe@corp.example.com","hostname":"WS1.corp.example.com"},
            "network_info":{"dirty_url":"http://evil.example:8080/a/b.exe?x=1","local_port":"51234","parent":{"identity":{"sha256":"ff"}}}}"#;
        let d = to_ecs(raw, "acme", "logs-a-b").unwrap();
        assert_eq!(d["user"]["name"], "jdoe");
        assert_eq!(d["user"]["domain"], "corp.example.com");
        assert_eq!(d["user"]["email"], "jdoe@corp.example.com");
        assert_eq!(d["host"]["name"], "ws1.corp.example.com");
        assert_eq!(d["host"]["hostname"], "WS1");
        assert_eq!(d["host"]["domain"], "corp.example.com");
        assert_eq!(d["url"]["domain"], "evil.example");
        assert_eq!(d["url"]["port"], 8080);
        assert_eq!(d["url"]["extension"], "exe");
        assert_eq!(d["source"]["port"], 51234);
        assert_eq!(d["related"]["hash"][0], "ff");
        assert_eq!(d["event"]["severity"], 0);
        assert_eq!(d["organization"]["name"], "acme");
        assert_eq!(d["cisco"]["secure_endpoint"]["event_type_id"], 5);
        assert!(
            d["cisco"]["secure_endpoint"].get("computer").is_none(),
            "{d}"
        );
    }
}
