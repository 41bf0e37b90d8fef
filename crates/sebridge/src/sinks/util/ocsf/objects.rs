//! The OCSF objects of an event: `device`, the evidence (file, process, endpoints, URL),
//! MITRE attacks and vulnerabilities, and the helpers that take mapped fields out of the
//! vendor event (what is left becomes `unmapped`).

use crate::store::JournalEntry;
use serde_json::{json, Map, Value};

/// `device` from `computer`: uid (connector GUID), hostname, the first address's IP and MAC.
pub(super) fn device(ev: &mut Map<String, Value>, entry: &JournalEntry) -> Option<Value> {
    let mut d = Map::new();
    if let Some(h) = take_str(ev, &["computer", "hostname"]).filter(|h| !h.is_empty()) {
        d.insert("hostname".into(), Value::String(h));
    }
    let guid = take_str(ev, &["computer", "connector_guid"])
        .or_else(|| entry.connector_guid.clone())
        .filter(|g| !g.is_empty());
    if let Some(g) = guid {
        if ev.get("connector_guid").and_then(Value::as_str) == Some(g.as_str()) {
            ev.remove("connector_guid");
        }
        d.insert("uid".into(), Value::String(g));
    }
    let addrs = ev
        .get("computer")
        .and_then(|c| c.get("network_addresses"))
        .and_then(Value::as_array);
    if let Some(first) = addrs.and_then(|a| a.first()) {
        let ip = first
            .get("ip")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let mac = first
            .get("mac")
            .and_then(Value::as_str)
            .filter(|s| is_mac(s));
        if let Some(ip) = ip {
            d.insert("ip".into(), json!(ip));
        }
        if let Some(mac) = mac {
            d.insert("mac".into(), json!(mac));
        }
        // One address, fully mapped: nothing left to keep. Several: all stay in `unmapped`.
        let only = addrs.is_some_and(|a| a.len() == 1);
        let whole = first.as_object().is_some_and(|o| {
            o.keys().all(|k| k == "ip" || k == "mac") && ip.is_some() && mac.is_some()
        });
        if only && whole {
            take(ev, &["computer", "network_addresses"]);
        }
    }
    if d.is_empty() {
        return None;
    }
    // AMP does not say what kind of machine it is.
    d.insert("type_id".into(), json!(0));
    d.insert("type".into(), json!("Unknown"));
    Some(Value::Object(d))
}

pub(super) fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// One-line description: the Cloud IOC's, the error's, or the CVEs of a vulnerable app.
pub(super) fn description(ev: &Map<String, Value>) -> Option<String> {
    let s = |p: &[&str]| {
        let mut v = ev.get(p[0])?;
        for k in &p[1..] {
            v = v.get(k)?;
        }
        v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
    };
    s(&["cloud_ioc", "description"])
        .or_else(|| s(&["cloud_ioc", "short_description"]))
        .or_else(|| s(&["error", "description"]))
        .or_else(|| s(&["threat_hunting", "incident_title"]))
}

/// MITRE tactics and techniques (ids as strings, or objects with external_id, name,
/// mitre_url). An array is removed from `unmapped` only when every item was mapped.
pub(super) fn attacks(ev: &mut Map<String, Value>) -> Vec<Value> {
    let mut out = Vec::new();
    for (key, target) in [("tactics", "tactic"), ("techniques", "technique")] {
        let Some(Value::Array(items)) = ev.get(key) else {
            continue;
        };
        let mut all = true;
        for it in items {
            let mut o = Map::new();
            match it {
                Value::String(s) if !s.is_empty() => {
                    o.insert("uid".into(), json!(s));
                }
                Value::Object(m) => {
                    for (from, to) in [
                        ("external_id", "uid"),
                        ("name", "name"),
                        ("mitre_url", "src_url"),
                    ] {
                        if let Some(s) = m
                            .get(from)
                            .and_then(Value::as_str)
                            .filter(|s| !s.is_empty())
                        {
                            o.insert(to.into(), json!(s));
                        }
                    }
                    all &= m
                        .keys()
                        .all(|k| ["external_id", "name", "mitre_url"].contains(&k.as_str()));
                }
                _ => {}
            }
            if o.contains_key("uid") || o.contains_key("name") {
                let mut a = Map::new();
                a.insert(target.to_string(), Value::Object(o));
                out.push(Value::Object(a));
            } else {
                all = false;
            }
        }
        if all {
            ev.remove(key);
        }
    }
    out
}

/// The evidence of a detection: the file, the process behind it, the network flow, the URL.
pub(super) fn evidence(ev: &mut Map<String, Value>) -> Map<String, Value> {
    let mut e = Map::new();
    if let Some(f) = file(ev, &["file"]) {
        e.insert("file".into(), f);
    }
    let parent = if ev.get("file").and_then(|f| f.get("parent")).is_some() {
        ["file", "parent"]
    } else {
        ["network_info", "parent"]
    };
    if let Some(mut p) = process(ev, &parent) {
        if let Some(args) = take_str(ev, &["command_line", "arguments"]) {
            p["cmd_line"] = Value::String(args);
        }
        e.insert("process".into(), p);
    }
    let outgoing = !matches!(
        ev.get("network_info")
            .and_then(|n| n.get("nfm"))
            .and_then(|n| n.get("direction"))
            .and_then(Value::as_str),
        Some("Incoming connection from")
    );
    let local = endpoint(ev, "local_ip", "local_port");
    let remote = endpoint(ev, "remote_ip", "remote_port");
    let (src, dst) = if outgoing {
        (local, remote)
    } else {
        (remote, local)
    };
    if src.is_some() || dst.is_some() {
        take(ev, &["network_info", "nfm", "direction"]);
    }
    if let Some(s) = src {
        e.insert("src_endpoint".into(), s);
    }
    if let Some(d) = dst {
        e.insert("dst_endpoint".into(), d);
    }
    if let Some(u) = take_str(ev, &["network_info", "dirty_url"]) {
        e.insert("url".into(), url(&u));
    }
    e
}

/// A vendor file object (name, path, identity hashes) → OCSF `file`, when it has a name.
pub(super) fn file(ev: &mut Map<String, Value>, at: &[&str]) -> Option<Value> {
    let path = |k: &'static str| {
        let mut v = at.to_vec();
        v.push(k);
        v
    };
    let name = get(ev, &path("file_name"))?
        .as_str()
        .filter(|s| !s.is_empty())?
        .to_string();
    let mut f = json!({"name": name, "type_id": 1, "type": "Regular File"});
    take(ev, &path("file_name"));
    if let Some(p) = take_str(ev, &path("file_path")).filter(|p| !p.is_empty()) {
        f["path"] = Value::String(p);
    }
    let mut hashes = Vec::new();
    let mut all = true;
    if let Some(Value::Object(id)) = get(ev, &path("identity")) {
        for (k, v) in id {
            let alg = match k.as_str() {
                "md5" => 1,
                "sha1" => 2,
                "sha256" => 3,
                _ => 0,
            };
            match v.as_str() {
                Some(h) if alg > 0 && !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    hashes.push(json!({"algorithm_id": alg, "value": h}));
                }
                _ => all = false,
            }
        }
    }
    if all {
        take(ev, &path("identity"));
    }
    if !hashes.is_empty() {
        f["hashes"] = Value::Array(hashes);
    }
    Some(f)
}

/// A vendor parent (process_id, file_name, identity) → OCSF `process`, when it has a pid.
pub(super) fn process(ev: &mut Map<String, Value>, at: &[&str]) -> Option<Value> {
    let pid_at = [at, &["process_id"]].concat();
    let pid = match get(ev, &pid_at)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
    .filter(|p| i32::try_from(*p).is_ok())?;
    take(ev, &pid_at);
    let mut p = json!({"pid": pid});
    if let Some(name) = get(ev, &[at, &["file_name"]].concat()).and_then(Value::as_str) {
        p["name"] = json!(name);
    }
    if let Some(f) = file(ev, at) {
        p["file"] = f;
    }
    Some(p)
}

pub(super) fn endpoint(ev: &mut Map<String, Value>, ip: &str, port: &str) -> Option<Value> {
    let addr = take_str(ev, &["network_info", ip]).filter(|s| !s.is_empty())?;
    let mut e = json!({ "ip": addr });
    let n = match get(ev, &["network_info", port]) {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    if let Some(n) = n.filter(|n| *n <= 65535) {
        e["port"] = json!(n);
        take(ev, &["network_info", port]);
    }
    Some(e)
}

pub(super) fn url(s: &str) -> Value {
    let mut u = json!({ "url_string": s });
    if let Ok(p) = url::Url::parse(s) {
        u["scheme"] = json!(p.scheme());
        if let Some(h) = p.host_str() {
            u["hostname"] = json!(h);
        }
        if let Some(port) = p.port() {
            u["port"] = json!(port);
        }
        u["path"] = json!(p.path());
        if let Some(q) = p.query() {
            u["query_string"] = json!(q);
        }
    }
    u
}

/// Vendor `vulnerabilities` (name, version, cve, url) → OCSF ones, the application (name and
/// version) as the affected package; the vendor array stays in `unmapped` (its scores have no
/// place here: OCSF's CVSS needs the CVSS version, which AMP does not give).
pub(super) fn vulnerabilities(ev: &Map<String, Value>) -> Option<Value> {
    let items = ev.get("vulnerabilities")?.as_array()?;
    let out: Vec<Value> = items
        .iter()
        .filter_map(|v| {
            let cve = v.get("cve")?.as_str().filter(|c| !c.is_empty())?;
            let mut o = json!({"cve": {"uid": cve}});
            let words: Vec<&str> = ["name", "version"]
                .iter()
                .filter_map(|k| v.get(*k).and_then(Value::as_str))
                .filter(|w| !w.is_empty())
                .collect();
            if !words.is_empty() {
                o["title"] = json!(words.join(" "));
            }
            if let [name, version] = words[..] {
                o["affected_packages"] = json!([{
                    "name": name, "version": version, "type_id": 1, "type": "Application"
                }]);
            }
            if let Some(u) = v.get("url").and_then(Value::as_str) {
                o["references"] = json!([u]);
            }
            Some(o)
        })
        .collect();
    (!out.is_empty()).then_some(Value::Array(out))
}

pub(super) fn get<'a>(ev: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut v = ev.get(*first)?;
    for k in rest {
        v = v.get(*k)?;
    }
    Some(v)
}

/// Removes and returns the value at `path` (objects only).
pub(super) fn take(ev: &mut Map<String, Value>, path: &[&str]) -> Option<Value> {
    let (last, parents) = path.split_last()?;
    let mut cur = ev;
    for k in parents {
        cur = cur.get_mut(*k)?.as_object_mut()?;
    }
    cur.remove(*last)
}

/// Removes and returns the string at `path`; a value of another type stays where it is.
pub(super) fn take_str(ev: &mut Map<String, Value>, path: &[&str]) -> Option<String> {
    get(ev, path)?.as_str()?;
    take(ev, path).and_then(|v| v.as_str().map(str::to_string))
}

pub(super) fn scalar_text(v: Value) -> String {
    match v {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// Drops the empty objects left behind once their fields were mapped.
pub(super) fn prune(v: &mut Value) {
    if let Value::Object(m) = v {
        for x in m.values_mut() {
            prune(x);
        }
        m.retain(|_, x| !x.as_object().is_some_and(Map::is_empty));
    }
}
