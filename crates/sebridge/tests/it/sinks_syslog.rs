//! The syslog sink against the REAL rsyslog: each test starts its own `rsyslogd` (never the
//! system one) in the foreground with a generated config on free loopback ports, writing
//! every received message to a file in a temp dir, and checks that every event arrived
//! exactly once and parses back — CEF and LEEF field by field, with parsers written here
//! from the format specifications (not the sink's code).

use crate::support;

use sebridge::config::{
    sink_defaults, MessageFormat, SinkCommon, SyslogFraming, SyslogProtocol, SyslogSinkConfig,
    SyslogTransport,
};
use sebridge::sinks::syslog::SyslogSink;
use sebridge::sinks::{SinkCtx, SinkOptions};
use sebridge::status::StatusBoard;
use sebridge::store::Store;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const RSYSLOGD: &str = "/usr/sbin/rsyslogd";

struct Rsyslog {
    child: Child,
    dir: tempfile::TempDir,
    tcp_port: u16,
    udp_port: u16,
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free UDP port")
}

impl Rsyslog {
    /// Starts rsyslogd with TCP (or TLS, with `tls`) and UDP inputs writing `%rawmsg%` lines.
    fn start(tls: bool) -> Rsyslog {
        Self::start_on(tls, 0)
    }

    /// `tcp_port` 0: a free port chosen by rsyslog (imtcp's listenPortFileName).
    fn start_on(tls: bool, tcp_port: u16) -> Rsyslog {
        assert!(
            Path::new(RSYSLOGD).exists(),
            "rsyslogd is required for this test and is not installed at {RSYSLOGD}: \
             run scripts/test (it installs rsyslog and rsyslog-gnutls) or apt-get install rsyslog rsyslog-gnutls"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().display().to_string();
        let udp_port = free_udp_port();
        let tls_global = if tls {
            gen_certs(dir.path());
            format!(
                " DefaultNetstreamDriverCAFile=\"{d}/ca.pem\" DefaultNetstreamDriverCertFile=\"{d}/server.pem\" DefaultNetstreamDriverKeyFile=\"{d}/server.key\""
            )
        } else {
            String::new()
        };
        let imtcp = if tls {
            "module(load=\"imtcp\" StreamDriver.Name=\"gtls\" StreamDriver.Mode=\"1\" StreamDriver.AuthMode=\"anon\")"
        } else {
            "module(load=\"imtcp\")"
        };
        // Pitfalls (reference §5.6): global() before the inputs; TAB kept raw (LEEF); 64k
        // messages; imudp on 8.2302 has no listenPortFileName, so the UDP port is chosen here.
        let conf = format!(
            r#"global(maxMessageSize="64k" parser.escapeControlCharacterTab="off" workDirectory="{d}"{tls_global})
{imtcp}
module(load="imudp")
input(type="imtcp" address="127.0.0.1" port="{tcp_port}" listenPortFileName="{d}/tcp.port" ruleset="capture")
input(type="imudp" address="127.0.0.1" port="{udp_port}" ruleset="capture")
template(name="raw" type="string" string="%rawmsg%\n")
ruleset(name="capture") {{
  action(type="omfile" file="{d}/raw.log" template="raw")
}}
"#
        );
        let conf_path = dir.path().join("rsyslog.conf");
        std::fs::write(&conf_path, conf).expect("config written");
        let child = Command::new(RSYSLOGD)
            .arg("-n")
            .arg("-C")
            .arg("-f")
            .arg(&conf_path)
            .arg("-i")
            .arg(dir.path().join("rsyslog.pid"))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("rsyslogd.err")).expect("stderr file"))
            .spawn()
            .expect("rsyslogd starts");
        let port_file = dir.path().join("tcp.port");
        let start = Instant::now();
        let tcp_port = loop {
            if let Some(p) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.trim().parse::<u16>().ok())
            {
                break p;
            }
            // A fixed port: rsyslog writes no port file then; wait until it accepts.
            if tcp_port != 0 && std::net::TcpStream::connect(("127.0.0.1", tcp_port)).is_ok() {
                break tcp_port;
            }
            if start.elapsed() > Duration::from_secs(15) {
                // Never leave our rsyslogd behind.
                let mut child = child;
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "rsyslogd did not open its TCP port: {}",
                    std::fs::read_to_string(dir.path().join("rsyslogd.err")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Rsyslog {
            child,
            dir,
            tcp_port,
            udp_port,
        }
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("raw.log")
    }

    /// Waits until `n` lines were written (and a little more, to catch extras).
    async fn lines(&self, n: usize) -> Vec<String> {
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(self.log()).unwrap_or_default();
            let lines: Vec<String> = text.lines().map(str::to_string).collect();
            if lines.len() >= n {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let text = std::fs::read_to_string(self.log()).unwrap_or_default();
                return text.lines().map(str::to_string).collect();
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "rsyslog wrote {} of {n} lines; rsyslogd stderr: {}",
                lines.len(),
                std::fs::read_to_string(self.dir.path().join("rsyslogd.err")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn gen_certs(dir: &Path) {
    crate::pki::ca_and_server(
        dir,
        "sebridge test CA",
        "DNS:localhost,IP:127.0.0.1",
        crate::pki::Key::Rsa,
    );
}

fn config(
    address: String,
    transport: SyslogTransport,
    framing: SyslogFraming,
    protocol: SyslogProtocol,
    format: MessageFormat,
) -> SyslogSinkConfig {
    SyslogSinkConfig {
        common: SinkCommon {
            batch_size: 200,
            batch_timeout: Duration::ZERO,
            retry_initial: Duration::from_millis(100),
            retry_max: Duration::from_secs(1),
            filter: Default::default(),
        },
        address,
        transport,
        framing,
        protocol,
        format,
        facility: 16,
        app_name: "sebridge".into(),
        hostname: Some("bridge-host".into()),
        ca_file: None,
        tls_server_name: None,
        leef_delimiter: '^',
        wrap: false,
        connect_timeout: sink_defaults::CONNECT_TIMEOUT,
    }
}

/// Events with every fixture shape plus one with hostile values.
fn hostile_and_fixtures(n: usize) -> Vec<secure_endpoint::Event> {
    let mut evs = support::events(n - 1, 7_000_000_000_000_000_000);
    let mut v = support::fixture_events()
        .into_iter()
        .find(|e| e["event_type_id"] == 1090519054)
        .expect("a threat detected fixture");
    v["id"] = Value::from(42u64);
    v["detection"] = Value::from("W32.Evil=1|pipe\\back^caret\nline two\r\tend");
    v["computer"]["hostname"] = Value::from("host with spaces|and=equals");
    v["file"]["file_path"] = Value::from("C:\\Users\\a=b\\x|y.exe");
    v["event_type"] = Value::from("Threat | Detected \\ x");
    evs.push(secure_endpoint::Event::from_json(&v.to_string()).expect("event"));
    evs
}

async fn run_syslog(store: &Store, cfg: SyslogSinkConfig, name: &str) {
    let status = StatusBoard::default();
    let ctx = SinkCtx {
        name: name.into(),
        store: store.clone(),
        status: status.clone(),
    };
    let sink = SyslogSink::new(cfg.clone(), ctx).expect("sink builds");
    let r = support::spawn(name, sink, SinkOptions::from(&cfg.common), store, &status);
    r.until(store.head(), Duration::from_secs(30)).await;
    r.stop().await;
}

/// Splits an RFC 5424 line into (pri, timestamp, hostname, app, msgid, msg).
fn parse_5424(line: &str) -> (u16, String, String, String, String, String) {
    let rest = line.strip_prefix('<').expect("PRI");
    let (pri, rest) = rest.split_once('>').expect("PRI end");
    let rest = rest.strip_prefix("1 ").expect("VERSION 1");
    let mut it = rest.splitn(7, ' ');
    let ts = it.next().unwrap().to_string();
    let host = it.next().unwrap().to_string();
    let app = it.next().unwrap().to_string();
    let procid = it.next().unwrap();
    let msgid = it.next().unwrap().to_string();
    let sd = it.next().unwrap();
    assert_eq!((procid, sd), ("-", "-"), "{line}");
    (
        pri.parse().unwrap(),
        ts,
        host,
        app,
        msgid,
        it.next().unwrap_or("").to_string(),
    )
}

// ---- format parsers, from the specifications ----------------------------------------------

/// CEF: 7 header fields split on unescaped `|` (unescaping `\|` and `\\`), then the
/// extension: `key=value` pairs, a value running to the next unescaped ` key=`; values
/// unescape `\\`, `\=`, `\n`, `\r`.
fn parse_cef(text: &str) -> (Vec<String>, BTreeMap<String, String>) {
    let text = text.strip_prefix("CEF:").expect("CEF prefix");
    let mut header = Vec::new();
    let mut cur = String::new();
    let mut chars = text.char_indices();
    let mut ext_start = text.len();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, n)) = chars.next() {
                    cur.push(n);
                }
            }
            '|' => {
                header.push(std::mem::take(&mut cur));
                if header.len() == 7 {
                    ext_start = i + 1;
                    break;
                }
            }
            c => cur.push(c),
        }
    }
    assert_eq!(header.len(), 7, "CEF header: {text}");
    let ext = &text[ext_start..];
    // Positions of unescaped '=' that end a key: the key starts after the previous space.
    let bytes: Vec<char> = ext.chars().collect();
    let mut pairs: Vec<(usize, usize)> = Vec::new(); // (key start, '=' index)
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == '\\' {
            i += 2;
            continue;
        }
        if bytes[i] == '=' {
            let mut k = i;
            while k > 0 && bytes[k - 1].is_ascii_alphanumeric() {
                k -= 1;
            }
            if k < i && (k == 0 || bytes[k - 1] == ' ') {
                pairs.push((k, i));
            }
        }
        i += 1;
    }
    let mut map = BTreeMap::new();
    for (n, &(k, eq)) in pairs.iter().enumerate() {
        let end = pairs
            .get(n + 1)
            .map_or(bytes.len(), |&(next_k, _)| next_k - 1);
        let key: String = bytes[k..eq].iter().collect();
        let raw: String = bytes[eq + 1..end].iter().collect();
        let mut val = String::new();
        let mut it = raw.chars();
        while let Some(c) = it.next() {
            if c == '\\' {
                match it.next() {
                    Some('n') => val.push('\n'),
                    Some('r') => val.push('\r'),
                    Some(o) => val.push(o),
                    None => {}
                }
            } else {
                val.push(c);
            }
        }
        assert!(
            map.insert(key.clone(), val).is_none(),
            "duplicate key {key}"
        );
    }
    (header, map)
}

/// LEEF 2.0: header fields split on `|` (unescaping `\|`, `\\`), the 6th is the delimiter (a
/// character or xHH), attributes split on the unescaped delimiter, key up to the first `=`.
fn parse_leef(text: &str) -> (Vec<String>, BTreeMap<String, String>) {
    let mut header = Vec::new();
    let mut cur = String::new();
    let mut rest_at = text.len();
    let mut it = text.char_indices();
    while let Some((i, c)) = it.next() {
        match c {
            '\\' => {
                if let Some((_, n)) = it.next() {
                    cur.push(n);
                }
            }
            '|' => {
                header.push(std::mem::take(&mut cur));
                if header.len() == 6 {
                    rest_at = i + 1;
                    break;
                }
            }
            c => cur.push(c),
        }
    }
    assert_eq!(header[0], "LEEF:2.0");
    let d = &header[5];
    let delim = if let Some(h) = d
        .strip_prefix("0x")
        .or_else(|| d.strip_prefix('x'))
        .filter(|h| h.len() == 2)
    {
        char::from(u8::from_str_radix(h, 16).expect("hex delimiter"))
    } else {
        d.chars().next().expect("delimiter")
    };
    let mut map = BTreeMap::new();
    let mut attr = String::new();
    let mut attrs = Vec::new();
    let mut it = text[rest_at..].chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => attr.push('\n'),
                Some('r') => attr.push('\r'),
                Some('t') => attr.push('\t'),
                Some(o) => attr.push(o),
                None => {}
            }
        } else if c == delim {
            attrs.push(std::mem::take(&mut attr));
        } else {
            attr.push(c);
        }
    }
    attrs.push(attr);
    for a in attrs {
        let (k, v) = a.split_once('=').expect("key=value");
        assert!(
            map.insert(k.to_string(), v.to_string()).is_none(),
            "duplicate key {k}"
        );
    }
    (header, map)
}

// ---- expectations from the raw event (serde_json, independent of the sink) ----------------

fn s(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn millis(v: &Value) -> String {
    let ts = v["timestamp"].as_i64().expect("timestamp");
    let ns = v["timestamp_nanoseconds"].as_i64().unwrap_or(0);
    (ts * 1000 + ns / 1_000_000).to_string()
}

fn sev_10(v: &Value) -> Option<&'static str> {
    match v["severity"]
        .as_str()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("low") => Some("3"),
        Some("medium") => Some("5"),
        Some("high") => Some("8"),
        Some("critical") => Some("10"),
        _ => None,
    }
}

fn user(v: &Value) -> Option<String> {
    s(&v["computer"]["user"]).filter(|u| u != "Not Available")
}

fn parent(v: &Value) -> &Value {
    if v["file"]["parent"].is_object() {
        &v["file"]["parent"]
    } else {
        &v["network_info"]["parent"]
    }
}

fn expected_cef(v: &Value, tenant: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut put = |k: &str, val: Option<String>| {
        if let Some(x) = val.filter(|x| !x.is_empty()) {
            m.insert(k.to_string(), x);
        }
    };
    put("rt", Some(millis(v)));
    put("externalId", s(&v["id"]));
    put("cat", s(&v["event_type"]));
    put(
        "deviceExternalId",
        s(&v["connector_guid"]).or_else(|| s(&v["computer"]["connector_guid"])),
    );
    put("dhost", s(&v["computer"]["hostname"]));
    put("duser", user(v));
    put("fname", s(&v["file"]["file_name"]));
    put("filePath", s(&v["file"]["file_path"]));
    put("fileHash", s(&v["file"]["identity"]["sha256"]));
    put("sproc", s(&parent(v)["file_name"]));
    put("spid", s(&parent(v)["process_id"]));
    put("src", s(&v["network_info"]["local_ip"]));
    put("spt", s(&v["network_info"]["local_port"]));
    put("dst", s(&v["network_info"]["remote_ip"]));
    put("dpt", s(&v["network_info"]["remote_port"]));
    put("proto", s(&v["network_info"]["nfm"]["protocol"]));
    let direction = match v["network_info"]["nfm"]["direction"].as_str() {
        Some("Outgoing connection from") => Some("1".to_string()),
        Some("Incoming connection from") => Some("0".to_string()),
        _ => None,
    };
    put("deviceDirection", direction);
    put("request", s(&v["network_info"]["dirty_url"]));
    // The CVEs of a vulnerable application, when it has any (strings only).
    let cves = v["vulnerabilities"].as_array().and_then(|a| {
        let c: Vec<&str> = a
            .iter()
            .filter_map(|x| x["cve"].as_str())
            .filter(|c| !c.is_empty())
            .collect();
        (!c.is_empty()).then(|| c.join(", "))
    });
    put(
        "msg",
        s(&v["cloud_ioc"]["description"])
            .or_else(|| s(&v["cloud_ioc"]["short_description"]))
            .or_else(|| s(&v["error"]["description"]))
            .or_else(|| {
                v["threat_hunting"]["incident_title"]
                    .as_str()
                    .map(str::to_string)
            })
            .filter(|d| !d.is_empty())
            .or(cves),
    );
    let id = v["event_type_id"].as_u64().unwrap_or(0);
    let act = match id {
        570425394 | 553648149 | 553648154 | 553648146 => Some("allowed"),
        2181038130 | 553648155 | 2164260892 | 2164260893 | 553648147 | 553648168 | 553648143 => {
            Some("blocked")
        }
        _ => None,
    };
    put("act", act.map(str::to_string));
    let groups = v["group_guids"].as_array().map(|g| {
        g.iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(",")
    });
    for (n, label, val) in [
        (1, "detection", s(&v["detection"])),
        (2, "detectionId", s(&v["detection_id"])),
        (3, "disposition", s(&v["file"]["disposition"])),
        (4, "tenant", Some(tenant.to_string())),
        (5, "groupGuids", groups),
        (6, "commandLine", s(&v["command_line"]["arguments"])),
    ] {
        if val.as_deref().is_some_and(|x| !x.is_empty()) {
            put(&format!("cs{n}"), val);
            put(&format!("cs{n}Label"), Some(label.to_string()));
        }
    }
    m
}

/// Tenant of each journal row, by event id.
async fn tenants_by_id(store: &Store) -> BTreeMap<String, String> {
    store
        .read_after(0, 1_000_000)
        .await
        .expect("read")
        .into_iter()
        .map(|e| (e.event_id.to_string(), e.tenant))
        .collect()
}

async fn raw_by_id(store: &Store) -> BTreeMap<String, Value> {
    store
        .read_after(0, 1_000_000)
        .await
        .expect("read")
        .into_iter()
        .map(|e| {
            (
                e.event_id.to_string(),
                serde_json::from_str(&e.raw).expect("raw JSON"),
            )
        })
        .collect()
}

fn assert_once(ids: &[String], expected: &BTreeMap<String, Value>) {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for id in ids {
        *counts.entry(id).or_default() += 1;
    }
    let dupes: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dupes.is_empty(), "duplicated: {dupes:?}");
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !counts.contains_key(k.as_str()))
        .collect();
    assert!(missing.is_empty(), "missing: {missing:?}");
    assert_eq!(ids.len(), expected.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cef_over_tcp_octet_counting_arrives_once_and_parses_field_by_field() {
    let rs = Rsyslog::start(false);
    let dir = tempfile::tempdir().unwrap();
    let store = support::journal(dir.path(), &hostile_and_fixtures(300), &["acme", "globex"]).await;
    let cfg = config(
        format!("127.0.0.1:{}", rs.tcp_port),
        SyslogTransport::Tcp,
        SyslogFraming::OctetCounting,
        SyslogProtocol::Rfc5424,
        MessageFormat::Cef,
    );
    run_syslog(&store, cfg, "syslog-cef").await;
    let lines = rs.lines(300).await;
    let raws = raw_by_id(&store).await;
    let tenants = tenants_by_id(&store).await;
    let mut ids = Vec::new();
    for line in &lines {
        let (pri, ts, host, app, msgid, msg) = parse_5424(line);
        let (header, ext) = parse_cef(&msg);
        let id = ext.get("externalId").expect("externalId").clone();
        let v = &raws[&id];
        // Header, field by field.
        assert_eq!(header[0], "0");
        assert_eq!(&header[1..4], ["Cisco", "Secure Endpoint", "1.0"]);
        assert_eq!(header[4], v["event_type_id"].to_string());
        assert_eq!(
            header[5],
            v["event_type"].as_str().unwrap_or("Secure Endpoint event")
        );
        assert_eq!(header[6], sev_10(v).unwrap_or("Unknown"));
        // Extension, field by field: exactly the expected keys and values.
        assert_eq!(ext, expected_cef(v, &tenants[&id]), "event {id}: {msg}");
        // Syslog header.
        let sev = match v["severity"].as_str() {
            Some("Critical") => 2,
            Some("High") => 3,
            Some("Medium") => 4,
            Some("Low") => 5,
            _ => 6,
        };
        assert_eq!(pri, 16 * 8 + sev);
        assert_eq!((host.as_str(), app.as_str()), ("bridge-host", "sebridge"));
        assert_eq!(msgid, v["event_type_id"].to_string());
        assert!(
            ts.starts_with(
                &time::OffsetDateTime::from_unix_timestamp(v["timestamp"].as_i64().unwrap())
                    .unwrap()
                    .date()
                    .to_string()
            ),
            "{ts}"
        );
        ids.push(id);
    }
    assert_once(&ids, &raws);
    // The hostile event survived every escape.
    let hostile = lines
        .iter()
        .find(|l| l.contains("externalId=42 "))
        .expect("hostile event");
    let (_, ext) = parse_cef(&parse_5424(hostile).5);
    assert_eq!(ext["cs1"], "W32.Evil=1|pipe\\back^caret\nline two\r\tend");
    assert_eq!(ext["filePath"], "C:\\Users\\a=b\\x|y.exe");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leef_over_tcp_newline_framing_arrives_once_and_parses_field_by_field() {
    let rs = Rsyslog::start(false);
    let dir = tempfile::tempdir().unwrap();
    let store = support::journal(dir.path(), &hostile_and_fixtures(250), &["acme"]).await;
    let mut cfg = config(
        format!("127.0.0.1:{}", rs.tcp_port),
        SyslogTransport::Tcp,
        SyslogFraming::Newline,
        SyslogProtocol::Rfc3164,
        MessageFormat::Leef,
    );
    cfg.leef_delimiter = '\t';
    run_syslog(&store, cfg, "syslog-leef").await;
    let lines = rs.lines(250).await;
    let raws = raw_by_id(&store).await;
    let mut ids = Vec::new();
    for line in &lines {
        // RFC 3164: <PRI>Mmm dd hh:mm:ss HOST TAG: MSG
        let (_, rest) = line.split_once('>').expect("PRI");
        let (hdr, msg) = rest.split_once(": ").expect("TAG");
        assert!(hdr.ends_with(" bridge-host sebridge"), "{hdr}");
        let (header, attrs) = parse_leef(msg);
        assert_eq!(&header[1..4], ["Cisco", "Secure Endpoint", "1.0"]);
        assert_eq!(header[5], "x09");
        let id = attrs["eventId"].clone();
        let v = &raws[&id];
        assert_eq!(header[4], v["event_type_id"].to_string());
        assert_eq!(attrs["tenant"], "acme");
        assert_eq!(attrs["sev"], sev_10(v).unwrap_or("1"));
        assert_eq!(attrs.get("cat").cloned(), s(&v["event_type"]));
        assert_eq!(
            attrs.get("identHostName").cloned(),
            s(&v["computer"]["hostname"])
        );
        assert_eq!(attrs.get("usrName").cloned(), user(v));
        assert_eq!(attrs.get("detection").cloned(), s(&v["detection"]));
        assert_eq!(attrs.get("detectionId").cloned(), s(&v["detection_id"]));
        assert_eq!(attrs.get("fileName").cloned(), s(&v["file"]["file_name"]));
        assert_eq!(attrs.get("filePath").cloned(), s(&v["file"]["file_path"]));
        assert_eq!(
            attrs.get("fileHash").cloned(),
            s(&v["file"]["identity"]["sha256"])
        );
        assert_eq!(
            attrs.get("disposition").cloned(),
            s(&v["file"]["disposition"])
        );
        assert_eq!(attrs.get("src").cloned(), s(&v["network_info"]["local_ip"]));
        assert_eq!(
            attrs.get("dstPort").cloned(),
            s(&v["network_info"]["remote_port"])
        );
        assert_eq!(
            attrs.get("url").cloned(),
            s(&v["network_info"]["dirty_url"])
        );
        assert_eq!(
            attrs.get("commandLine").cloned(),
            s(&v["command_line"]["arguments"])
        );
        assert_eq!(attrs["devTimeFormat"], "yyyy-MM-dd'T'HH:mm:ss.SSSX");
        let t = time::OffsetDateTime::parse(
            &attrs["devTime"],
            &time::format_description::well_known::Rfc3339,
        )
        .expect("devTime");
        assert_eq!(
            (t.unix_timestamp_nanos() / 1_000_000).to_string(),
            millis(v)
        );
        ids.push(id);
    }
    assert_once(&ids, &raws);
    let hostile = lines
        .iter()
        .find(|l| l.contains("eventId=42\t"))
        .expect("hostile event");
    let (header, attrs) = parse_leef(hostile.split_once(": ").unwrap().1);
    assert_eq!(
        attrs["detection"],
        "W32.Evil=1|pipe\\back^caret\nline two\r\tend"
    );
    assert_eq!(attrs["identHostName"], "host with spaces|and=equals");
    assert_eq!(header[4], "1090519054");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_over_udp_arrives_byte_for_byte() {
    let rs = Rsyslog::start(false);
    let dir = tempfile::tempdir().unwrap();
    let store = support::journal(dir.path(), &support::events(120, 9_000), &["acme"]).await;
    let mut cfg = config(
        format!("127.0.0.1:{}", rs.udp_port),
        SyslogTransport::Udp,
        SyslogFraming::OctetCounting,
        SyslogProtocol::Rfc5424,
        MessageFormat::Json,
    );
    // Small batches: loopback UDP has no flow control; a burst could overflow rsyslog's
    // socket buffer (UDP is at-most-once by nature, documented).
    cfg.common.batch_size = 20;
    run_syslog(&store, cfg, "syslog-udp").await;
    let lines = rs.lines(120).await;
    let rows = store.read_after(0, 1000).await.unwrap();
    let mut got: Vec<String> = lines.iter().map(|l| parse_5424(l).5).collect();
    let mut want: Vec<String> = rows.iter().map(|r| r.raw.to_string()).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "every event's JSON arrived once, byte for byte");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cef_over_tls_verified_against_a_private_ca() {
    let rs = Rsyslog::start(true);
    let dir = tempfile::tempdir().unwrap();
    let store = support::journal(dir.path(), &support::events(150, 5_000), &["acme"]).await;
    let mut cfg = config(
        format!("127.0.0.1:{}", rs.tcp_port),
        SyslogTransport::Tls,
        SyslogFraming::OctetCounting,
        SyslogProtocol::Rfc5424,
        MessageFormat::Cef,
    );
    cfg.ca_file = Some(rs.dir.path().join("ca.pem"));
    cfg.tls_server_name = Some("localhost".into());
    run_syslog(&store, cfg.clone(), "syslog-tls").await;
    let lines = rs.lines(150).await;
    let raws = raw_by_id(&store).await;
    let tenants = tenants_by_id(&store).await;
    let ids: Vec<String> = lines
        .iter()
        .map(|l| {
            let (_, ext) = parse_cef(&parse_5424(l).5);
            let id = ext["externalId"].clone();
            assert_eq!(ext, expected_cef(&raws[&id], &tenants[&id]));
            id
        })
        .collect();
    assert_once(&ids, &raws);

    // Without the private CA the server is not trusted: nothing is delivered, the sink
    // reports the verification failure and keeps its position.
    let status = StatusBoard::default();
    cfg.ca_file = None;
    let ctx = SinkCtx {
        name: "untrusted".into(),
        store: store.clone(),
        status: status.clone(),
    };
    let r = support::spawn(
        "untrusted",
        SyslogSink::new(cfg.clone(), ctx).unwrap(),
        SinkOptions::from(&cfg.common),
        &store,
        &status,
    );
    support::eventually(Duration::from_secs(10), "a TLS failure", || {
        r.sink_status().last_error.is_some()
    })
    .await;
    let st = r.sink_status();
    assert!(!st.healthy && st.position == 0, "{st:?}");
    assert!(st
        .last_error
        .unwrap()
        .to_lowercase()
        .contains("certificate"));
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_restart_loses_nothing() {
    // rsyslog goes away mid-stream and comes back on the same port: the sink notices the
    // dead connection, retries the batch and every event arrives (at least once).
    let rs = Rsyslog::start(false);
    let port = rs.tcp_port;
    let dir = tempfile::tempdir().unwrap();
    let store = support::journal(dir.path(), &support::events(200, 1_000), &["acme"]).await;
    let cfg = config(
        format!("127.0.0.1:{port}"),
        SyslogTransport::Tcp,
        SyslogFraming::OctetCounting,
        SyslogProtocol::Rfc5424,
        MessageFormat::Json,
    );
    run_syslog(&store, cfg.clone(), "restart").await;
    let first = rs.lines(200).await.len();
    assert_eq!(first, 200);
    drop(rs);
    // More events while it is down.
    store
        .append("acme", "poll", &support::events(100, 50_000), None)
        .await
        .unwrap();
    let status = StatusBoard::default();
    let ctx = SinkCtx {
        name: "restart".into(),
        store: store.clone(),
        status: status.clone(),
    };
    let r = support::spawn(
        "restart",
        SyslogSink::new(cfg.clone(), ctx).unwrap(),
        SinkOptions::from(&cfg.common),
        &store,
        &status,
    );
    support::eventually(
        Duration::from_secs(10),
        "the sink to see the receiver down",
        || r.sink_status().consecutive_failures > 0,
    )
    .await;
    assert!(r.position() < store.head());
    // A new rsyslog on the same port.
    let rs2 = restart_on(port);
    r.until(store.head(), Duration::from_secs(30)).await;
    r.stop().await;
    let lines = rs2.lines(100).await;
    let ids: std::collections::BTreeSet<u64> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(&parse_5424(l).5).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(
        (50_000..50_100).all(|i| ids.contains(&i)),
        "all events written while it was down arrived"
    );
}

/// An rsyslogd listening on a given TCP port.
fn restart_on(port: u16) -> Rsyslog {
    Rsyslog::start_on(false, port)
}
