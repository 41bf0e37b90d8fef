//! The `serde_json::Value` mapper that [`super::map`] replaced, unchanged, kept as the oracle
//! of the differential tests below: the new mapper must write exactly what this one did, for
//! every fixture and for variants of them. (When a mapping rule changes on purpose, change it
//! here too, or drop this module with that change.)

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;

use super::{DATASET, ECS_VERSION, MODULE};
use crate::sinks::iso_millis;

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
    use super::super::write_ecs;
    use serde_json::{json, Value};
    use std::path::PathBuf;

    const DS: &str = "logs-cisco_secure_endpoint.event-default";

    fn fixture_events() -> Vec<Value> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/secure-endpoint");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("fixtures dir")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        let mut out = Vec::new();
        for f in files {
            let Ok(v) =
                serde_json::from_str::<Value>(&std::fs::read_to_string(&f).unwrap_or_default())
            else {
                continue;
            };
            match v.get("data") {
                Some(Value::Array(a)) => out.extend(a.iter().cloned()),
                Some(d) => out.push(d.clone()),
                None => out.push(v),
            }
        }
        let elastic = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/elastic/test-cisco-amp9.log-expected.json");
        let text = std::fs::read_to_string(elastic).expect("elastic fixture");
        let doc: Value = serde_json::from_str(&text).expect("json");
        let page: Value = serde_json::from_str(
            doc["expected"][0]["event"]["original"]
                .as_str()
                .expect("original"),
        )
        .expect("page");
        out.push(page["data"].clone());
        out.push(every_field());
        out
    }

    /// An event with every field the mapper reads (no fixture has them all).
    fn every_field() -> Value {
        json!({
            "id": 7, "event_type_id": 1090519054, "event_type": "Threat Detected",
            "severity": "Medium", "timestamp": 1610629577, "timestamp_nanoseconds": 443000000,
            "date": "2021-01-14T13:06:17+00:00", "start_timestamp": 1610629500,
            "start_date": "2021-01-14T13:05:00+00:00", "hostname": "Top.Example",
            "group_guids": ["g1", "g2"],
            "error": {"error_code": 2164260880u64, "description": "d"},
            "computer": {
                "hostname": "WS1.Corp.Example", "links": {"web": "w"}, "connector_guid": "c",
                "user": "JDoe@corp.example", "external_ip": "203.0.113.9",
                "network_addresses": [{"ip": "10.0.0.1", "mac": "aa:bb:cc:dd:ee:ff"},
                    {"ip": "10.0.0.2", "mac": "11:22"},
                    {"ip": "10.0.0.1", "mac": "AA-BB-CC-DD-EE-FF"}, {"ip": "", "mac": ""}]
            },
            "file": {
                "file_name": "a.exe", "file_path": "C:\\x\\a.exe", "disposition": "Malicious",
                "identity": {"sha256": "s2", "sha1": "s1", "md5": ""},
                "parent": {"process_id": "4242", "file_name": "p.exe",
                    "identity": {"sha256": "ps2", "md5": "pm"}}
            },
            "network_info": {
                "local_ip": "10.0.0.1", "remote_ip": "198.51.100.7", "local_port": "51234",
                "remote_port": 443, "dirty_url": "https://u:p@h.example:8443/d/f.tar.gz?q=1#x",
                "nfm": {"protocol": "TCP", "direction": "Outgoing connection from"},
                "parent": {"process_id": 99, "file_name": "q.exe",
                    "identity": {"sha256": "qs2"}}
            },
            "command_line": {"arguments": "  a.exe  -x   y "},
            "tactics": [{"name": "TA", "external_id": "TA0001", "mitre_url": "u1"}, "TA0002", 5],
            "techniques": [{"name": "T", "external_id": "T1059"}],
            "threat_hunting": {"tactics": [1], "techniques": [2], "incident_start_time": 1,
                "incident_end_time": 2, "incident_title": "t"},
            "vulnerabilities": [{"cve": "CVE-2021-1"}, {"cve": "CVE-2021-1"}, {"x": 1}],
            "related": {"x": 1}
        })
    }

    /// Every way a field the mapper reads can look different: removed, null, empty, another
    /// type, upper case, with escapes.
    fn variants(ev: &Value) -> Vec<Value> {
        let mut out = vec![ev.clone()];
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
            let mut v = ev.clone();
            remove_path(&mut v, p);
            out.push(v);
            for o in &odd {
                let mut v = ev.clone();
                set_path(&mut v, p, o.clone());
                out.push(v);
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

    fn check(raw: &str, tenant: &str) {
        let want = super::to_ecs(raw, tenant, DS).map(|d| d.to_string());
        let mut out = b"prefix".to_vec();
        let ok = write_ecs(raw, tenant, DS, &mut out);
        let got = ok.then(|| String::from_utf8(out[6..].to_vec()).expect("utf-8"));
        assert_eq!(got, want, "input: {raw}");
        if !ok {
            assert_eq!(out, b"prefix");
        }
    }

    #[test]
    fn writes_exactly_what_the_value_mapper_wrote() {
        let events = fixture_events();
        assert!(events.len() >= 16, "fixtures found");
        let mut n = 0;
        for ev in &events {
            for v in variants(ev) {
                check(&v.to_string(), "acme");
                n += 1;
            }
        }
        assert!(n > 1000, "{n} variants");
    }

    #[test]
    fn odd_inputs_map_alike() {
        for raw in [
            "",
            "null",
            "[]",
            "1",
            "\"x\"",
            "{}",
            "{} x",
            "{\"id\":1,\"id\":2,\"computer\":{\"hostname\":\"A\",\"hostname\":\"B.c\"}}",
            "{\"id\":{\"b\":1,\"a\":[2]},\"event_type_id\":null,\"severity\":\"Critical\"}",
            "{\"computer\":{\"hostname\":\"\\u0130X.example\",\"user\":\"a@\"}}",
            "{\"computer\":{\"network_addresses\":[{\"ip\":\"1.2.3.4\",\"mac\":\"aa:bb\"},{\"ip\":\"1.2.3.4\",\"mac\":\"AA-BB\"},7]},\"related\":5}",
            "{\"file\":{\"identity\":{\"sha256\":\"a\",\"s\\u0068a1\":\"b\",\"md5\":\"\"},\"parent\":{\"process_id\":\"0012\",\"identity\":{\"sha256\":\"a\"}}}}",
            "{\"network_info\":{\"dirty_url\":\"not a url\",\"local_port\":\"-1\",\"remote_port\":\"18446744073709551616\"}}",
            "{\"timestamp\":-99999999999999,\"timestamp_nanoseconds\":5000000000}",
            "{\"date\":\"2021-01-14T13:06:17+01:00\",\"start_timestamp\":1.5}",
            "{\"threat_hunting\":{\"incident_start_time\":1,\"incident_end_time\":\"x\",\"tactics\":[1]}}",
            "{\"vulnerabilities\":[{\"cve\":\"CVE-1\"},{\"cve\":2},{}]}",
        ] {
            check(raw, "t\"enant");
        }
    }
}
