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
//!
//! The event is parsed into a `tree::J`, which borrows its strings from the raw
//! text, and the document is written straight into the caller's buffer ([`write_ecs`]): no
//! `serde_json::Value` tree, no per-field key allocation.

use super::tree::{Obj, J};
use crate::sinks::util::render::iso_millis;
use serde_json::Value;
use std::borrow::Cow;
use time::format_description::well_known::Rfc3339;

pub const ECS_VERSION: &str = "8.11.0";
pub const MODULE: &str = "cisco_secure_endpoint";
pub const DATASET: &str = "cisco_secure_endpoint.event";

/// The ECS document of one event. `None` when `raw` is not a JSON object.
pub fn to_ecs(raw: &str, tenant: &str, data_stream: &str) -> Option<Value> {
    serde_json::to_value(map(raw, tenant, data_stream)?).ok()
}

/// Appends the ECS document of one event to `out`, as compact JSON (what
/// `to_ecs(..).to_string()` gives). False, with `out` unchanged, when `raw` is not a JSON
/// object.
pub fn write_ecs(raw: &str, tenant: &str, data_stream: &str, out: &mut Vec<u8>) -> bool {
    let Some(doc) = map(raw, tenant, data_stream) else {
        return false;
    };
    let len = out.len();
    // Writing into a Vec cannot fail and every key is a string; keep `out` whole regardless.
    if serde_json::to_writer(&mut *out, &doc).is_err() {
        out.truncate(len);
        return false;
    }
    true
}

fn map<'a>(raw: &'a str, tenant: &'a str, data_stream: &'a str) -> Option<Obj<'a>> {
    let J::Obj(mut ev) = serde_json::from_str::<J<'a>>(raw).ok()? else {
        return None;
    };
    let mut doc = Obj::new();
    let mut related = Related::default();

    // Time: the second plus the sub-second part.
    let ts = ev.get("timestamp").and_then(J::as_i64);
    let nanos = ev
        .get("timestamp_nanoseconds")
        .and_then(J::as_u64)
        .unwrap_or(0)
        .min(999_999_999);
    let when = match ts {
        Some(ts) => time::OffsetDateTime::from_unix_timestamp(ts)
            .ok()
            .and_then(|t| t.replace_nanosecond(u32::try_from(nanos).unwrap_or(0)).ok()),
        None => ev
            .get("date")
            .and_then(J::as_str)
            .and_then(|d| time::OffsetDateTime::parse(d, &Rfc3339).ok()),
    };
    if let Some(t) = when {
        doc.insert("@timestamp", J::str(iso_millis(t)));
    }

    let mut event = Obj::new();
    event.insert("original", J::str(raw));
    event.insert("kind", J::str("alert"));
    event.insert("module", J::str(MODULE));
    event.insert("dataset", J::str(DATASET));
    if let Some(id) = ev.remove("id").filter(|v| !v.is_null()) {
        event.insert("id", J::Str(scalar_text(id)));
    }
    if let Some(code) = ev.get("event_type_id") {
        event.insert("code", J::Str(scalar_text(code.clone())));
    }
    if let Some(action) = ev.remove("event_type") {
        event.insert("action", action);
    }
    let severity = match ev.remove("severity") {
        None | Some(J::Null) => Some(0u64),
        Some(J::Str(s)) => ["low", "medium", "high", "critical"]
            .iter()
            .position(|l| s.eq_ignore_ascii_case(l))
            .map(|i| i as u64 + 1),
        Some(_) => None,
    };
    if let Some(s) = severity {
        event.insert("severity", J::from(s));
    }
    if let Some(start) = ev.remove("start_timestamp").and_then(|v| v.as_i64()) {
        if let Ok(t) = time::OffsetDateTime::from_unix_timestamp(start) {
            event.insert("start", J::str(iso_millis(t)));
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
        category.push(J::str("file"));
    }
    if ev
        .get("file")
        .and_then(|f| f.get("disposition"))
        .and_then(J::as_str)
        == Some("Malicious")
    {
        category.push(J::str("malware"));
    }
    if !category.is_empty() {
        event.insert("category", J::Arr(category));
    }

    // error.error_code → error.code (string); the description stays with the vendor fields.
    if let Some(J::Obj(err)) = ev.get_mut("error") {
        if let Some(code) = err.remove("error_code").filter(|v| !v.is_null()) {
            doc.put(&["error", "code"], J::Str(scalar_text(code)));
        }
    }

    if let Some(groups) = ev.remove("group_guids") {
        doc.put(&["group", "id"], groups);
    }

    // Host.
    let top_hostname = ev.remove("hostname");
    let mut hostname: Option<Cow<'a, str>> = None;
    if let Some(J::Obj(c)) = ev.get_mut("computer") {
        hostname = c.remove("hostname").and_then(J::into_str);
        c.remove("links");
        if let Some(guid) = c.remove("connector_guid") {
            doc.put(&["host", "id"], guid);
        }
        if let Some(user) = c.remove("user").and_then(J::into_str) {
            map_user(&mut doc, &mut related, user);
        }
        if let Some(ip) = c.get("external_ip").and_then(J::as_cow) {
            related.ip(ip);
        }
        if let Some(J::Arr(addrs)) = c.get("network_addresses") {
            let mut ips = Vec::new();
            let mut macs = Vec::new();
            for a in addrs {
                if let Some(ip) = a.get("ip").and_then(J::as_cow).filter(|s| !s.is_empty()) {
                    related.ip(ip.clone());
                    push_unique(&mut ips, ip);
                }
                if let Some(mac) = a.get("mac").and_then(J::as_str).filter(|s| !s.is_empty()) {
                    push_unique(
                        &mut macs,
                        Cow::Owned(mac.to_ascii_uppercase().replace(':', "-")),
                    );
                }
            }
            if !ips.is_empty() {
                doc.put(&["host", "ip"], strings(ips));
            }
            if !macs.is_empty() {
                doc.put(&["host", "mac"], strings(macs.clone()));
                ev.put(&["related", "mac"], strings(macs));
            }
        }
    }
    let hostname = hostname.or_else(|| top_hostname.and_then(J::into_str));
    if let Some(h) = hostname.filter(|h| !h.is_empty()) {
        let lower = lowercase(&h);
        doc.put(&["host", "name"], J::Str(lower.clone()));
        match split_once(&h, '.') {
            Some((short, domain)) => {
                doc.put(&["host", "hostname"], J::Str(short));
                doc.put(&["host", "domain"], J::Str(domain));
            }
            None => doc.put(&["host", "hostname"], J::Str(h)),
        }
        related.host(lower);
    }

    // File.
    if let Some(J::Obj(f)) = ev.get_mut("file") {
        if let Some(name) = f.remove("file_name") {
            doc.put(&["file", "name"], name);
        }
        if let Some(path) = f.remove("file_path") {
            if path.as_str().is_some_and(|p| p.contains('\\')) {
                doc.put(&["host", "os", "family"], J::str("windows"));
                doc.put(&["host", "os", "platform"], J::str("windows"));
            }
            doc.put(&["file", "path"], path);
        }
        if let Some(J::Obj(identity)) = f.remove("identity") {
            for (k, v) in identity.into_entries() {
                if let Some(h) = v.as_cow().filter(|s| !s.is_empty()) {
                    related.hash(h);
                    doc.child("file").child("hash").insert(k, v);
                }
            }
        }
        if let Some(J::Obj(parent)) = f.get_mut("parent") {
            map_process(&mut doc, parent, None);
        }
    }

    // Network flow.
    if let Some(J::Obj(n)) = ev.get_mut("network_info") {
        for (from, to) in [("local_ip", "source"), ("remote_ip", "destination")] {
            if let Some(ip) = n.remove(from) {
                if let Some(s) = ip.as_cow() {
                    related.ip(s);
                }
                doc.put(&[to, "ip"], ip);
            }
        }
        for (from, to) in [("local_port", "source"), ("remote_port", "destination")] {
            if let Some(port) = n.remove(from) {
                doc.put(&[to, "port"], number_from_text(port));
            }
        }
        if let Some(J::Obj(nfm)) = n.get_mut("nfm") {
            if let Some(p) = nfm.remove("protocol") {
                doc.put(&["network", "transport"], p);
            }
            if let Some(d) = nfm.get("direction").and_then(J::as_str) {
                let dir = if d == "Outgoing connection from" {
                    "egress"
                } else {
                    "ingress"
                };
                doc.put(&["network", "direction"], J::str(dir));
            }
        }
        if let Some(u) = n.remove("dirty_url") {
            if let Some(s) = u.into_str() {
                map_url(&mut doc, s);
            }
        }
        if let Some(J::Obj(parent)) = n.get_mut("parent") {
            map_process(&mut doc, parent, Some(&mut related));
        }
    }

    // Command line.
    if let Some(args) = ev
        .get("command_line")
        .and_then(|c| c.get("arguments"))
        .and_then(J::as_cow)
        .filter(|s| !s.is_empty())
    {
        let parts = words(&args);
        doc.put(&["process", "command_line"], J::Str(args));
        if let Some(first) = parts.first() {
            doc.put(&["process", "executable"], J::Str(first.clone()));
        }
        doc.put(&["process", "args_count"], J::from(parts.len() as u64));
        doc.put(&["process", "args"], strings(parts));
    }

    // MITRE ATT&CK.
    for (key, target) in [("tactics", "tactic"), ("techniques", "technique")] {
        if let Some(J::Arr(items)) = ev.get(key) {
            let (mut names, mut ids, mut refs) = (Vec::new(), Vec::new(), Vec::new());
            for it in items {
                match it {
                    J::Str(s) => ids.push(J::Str(s.clone())),
                    J::Obj(o) => {
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
                    doc.put(&["threat", target, field], J::Arr(vals));
                }
            }
        }
    }

    // Threat hunting: epoch seconds → dates; its own tactics/techniques are dropped.
    if let Some(J::Obj(th)) = ev.get_mut("threat_hunting") {
        th.remove("tactics");
        th.remove("techniques");
        for k in ["incident_start_time", "incident_end_time"] {
            if let Some(t) = th
                .get(k)
                .and_then(J::as_i64)
                .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
            {
                th.insert(k, J::str(iso_millis(t)));
            }
        }
    }

    // CVEs.
    if let Some(J::Arr(vulns)) = ev.get("vulnerabilities") {
        let cves: Vec<Cow<'a, str>> = vulns
            .iter()
            .filter_map(|v| v.get("cve").and_then(J::as_cow))
            .collect();
        if !cves.is_empty() {
            ev.put(&["related", "cve"], strings(cves));
        }
    }

    related.write(&mut doc);
    doc.insert("event", J::Obj(event));
    doc.put(&["ecs", "version"], J::str(ECS_VERSION));
    doc.put(&["organization", "name"], J::str(tenant));
    let mut parts = data_stream.splitn(3, '-');
    if let (Some(t), Some(d), Some(n)) = (parts.next(), parts.next(), parts.next()) {
        doc.put(&["data_stream", "type"], J::str(t));
        doc.put(&["data_stream", "dataset"], J::str(d));
        doc.put(&["data_stream", "namespace"], J::str(n));
    }
    doc.insert("tags", J::Arr(vec![J::str("preserve_original_event")]));
    let mut vendor = J::Obj(ev);
    vendor.prune();
    if !vendor.as_obj().is_some_and(Obj::is_empty) {
        doc.put(&["cisco", "secure_endpoint"], vendor);
    }
    let mut doc = J::Obj(doc);
    doc.prune();
    match doc {
        J::Obj(o) => Some(o),
        _ => None,
    }
}

/// A string as itself, anything else as its JSON text.
fn scalar_text(v: J<'_>) -> Cow<'_, str> {
    match v {
        J::Str(s) => s,
        other => Cow::Owned(serde_json::to_string(&other).unwrap_or_default()),
    }
}

/// A string holding a whole non-negative integer becomes that number (ports, pids).
fn number_from_text(v: J<'_>) -> J<'_> {
    match &v {
        J::Str(s) => s.parse::<u64>().map(J::from).unwrap_or(v),
        _ => v,
    }
}

fn strings<'a>(v: Vec<Cow<'a, str>>) -> J<'a> {
    J::Arr(v.into_iter().map(J::Str).collect())
}

fn push_unique<'a>(v: &mut Vec<Cow<'a, str>>, s: Cow<'a, str>) {
    if !v.contains(&s) {
        v.push(s);
    }
}

/// `str::to_lowercase`, borrowing when that would change nothing.
fn lowercase<'a>(s: &Cow<'a, str>) -> Cow<'a, str> {
    if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        s.clone()
    } else {
        Cow::Owned(s.to_lowercase())
    }
}

/// `str::split_once`, keeping borrowed parts borrowed.
fn split_once<'a>(s: &Cow<'a, str>, c: char) -> Option<(Cow<'a, str>, Cow<'a, str>)> {
    match s {
        Cow::Borrowed(b) => b
            .split_once(c)
            .map(|(x, y)| (Cow::Borrowed(x), Cow::Borrowed(y))),
        Cow::Owned(o) => o
            .split_once(c)
            .map(|(x, y)| (Cow::Owned(x.to_string()), Cow::Owned(y.to_string()))),
    }
}

/// The non-empty space-separated words, keeping borrowed parts borrowed.
fn words<'a>(s: &Cow<'a, str>) -> Vec<Cow<'a, str>> {
    match s {
        Cow::Borrowed(b) => b
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(Cow::Borrowed)
            .collect(),
        Cow::Owned(o) => o
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(|w| Cow::Owned(w.to_string()))
            .collect(),
    }
}

#[derive(Default)]
struct Related<'a> {
    ip: Vec<Cow<'a, str>>,
    hash: Vec<Cow<'a, str>>,
    hosts: Vec<Cow<'a, str>>,
    user: Vec<Cow<'a, str>>,
}

impl<'a> Related<'a> {
    fn ip(&mut self, s: Cow<'a, str>) {
        if !s.is_empty() {
            push_unique(&mut self.ip, s);
        }
    }
    fn hash(&mut self, s: Cow<'a, str>) {
        push_unique(&mut self.hash, s);
    }
    fn host(&mut self, s: Cow<'a, str>) {
        push_unique(&mut self.hosts, s);
    }
    fn user(&mut self, s: Cow<'a, str>) {
        push_unique(&mut self.user, s);
    }
    fn write(self, doc: &mut Obj<'a>) {
        for (k, v) in [
            ("hash", self.hash),
            ("hosts", self.hosts),
            ("ip", self.ip),
            ("user", self.user),
        ] {
            if !v.is_empty() {
                doc.put(&["related", k], strings(v));
            }
        }
    }
}

/// `user@domain` → user.name + user.domain (+ user.email); "Not Available" is no user.
fn map_user<'a>(doc: &mut Obj<'a>, related: &mut Related<'a>, user: Cow<'a, str>) {
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
    let name = match split_once(&user, '@') {
        Some((n, d)) if is_username(&n) && is_hostname(&d) => {
            doc.put(&["user", "domain"], J::Str(d));
            n
        }
        _ => user.clone(),
    };
    doc.put(&["user", "name"], J::Str(name.clone()));
    related.user(name);
    if user.find('@').is_some_and(|i| i > 0) {
        doc.put(&["user", "email"], J::Str(user.clone()));
        related.user(user);
    }
}

/// A parent process (of a file or a flow) → process.pid/name/hash.*.
fn map_process<'a>(doc: &mut Obj<'a>, parent: &mut Obj<'a>, related: Option<&mut Related<'a>>) {
    if let Some(pid) = parent.remove("process_id") {
        doc.put(&["process", "pid"], number_from_text(pid));
    }
    if let Some(name) = parent.remove("file_name") {
        doc.put(&["process", "name"], name);
    }
    if let Some(J::Obj(identity)) = parent.remove("identity") {
        let mut hashes = Vec::new();
        for (k, v) in identity.into_entries() {
            if let Some(h) = v.as_cow().filter(|s| !s.is_empty()) {
                hashes.push(h);
                doc.child("process").child("hash").insert(k, v);
            }
        }
        // Elastic adds flow parents' hashes to related.hash, but not file parents'.
        if let Some(r) = related {
            for h in hashes {
                r.hash(h);
            }
        }
    }
}

fn map_url<'a>(doc: &mut Obj<'a>, s: Cow<'a, str>) {
    doc.put(&["url", "original"], J::Str(s.clone()));
    let Ok(u) = url::Url::parse(&s) else { return };
    let owned = |s: &str| J::Str(Cow::Owned(s.to_string()));
    doc.put(&["url", "scheme"], owned(u.scheme()));
    if let Some(d) = u.host_str() {
        doc.put(&["url", "domain"], owned(d));
    }
    if let Some(p) = u.port() {
        doc.put(&["url", "port"], J::from(u64::from(p)));
    }
    doc.put(&["url", "path"], owned(u.path()));
    if let Some(ext) = u
        .path()
        .rsplit('/')
        .next()
        .and_then(|last| last.rsplit_once('.'))
        .map(|(_, e)| e)
        .filter(|e| !e.is_empty())
    {
        doc.put(&["url", "extension"], owned(ext));
    }
    if let Some(q) = u.query() {
        doc.put(&["url", "query"], owned(q));
    }
    if let Some(f) = u.fragment() {
        doc.put(&["url", "fragment"], owned(f));
    }
    if !u.username().is_empty() {
        doc.put(&["url", "username"], owned(u.username()));
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
