//! `sebridge incidents list|show|close`, `sebridge audit` and `sebridge-sim snow close`, as
//! an operator runs them.

use sebridge::config::{Config, SourceConfig};
use sebridge::topology::Topology;
use serde_json::Value;
use simulator::{SimConfig, SimHandle, SnowWebhook};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const SECRET: &str = "cli-test-webhook-secret-0123456789";

fn sebridge() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sebridge"));
    c.env_remove("SEBRIDGE_MASTER_KEY")
        .env("SEBRIDGE_LOG", "warn");
    c
}

fn sim_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_sebridge")).with_file_name("sebridge-sim");
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "simulator", "--bin", "sebridge-sim"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building sebridge-sim failed");
    }
    path
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A simulator, a config with [incidents] for it (containment rule), written to disk.
async fn setup() -> (SimHandle, tempfile::TempDir, PathBuf) {
    let sim = simulator::start(SimConfig {
        tenants: 1,
        rate: 0.0,
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("sebridge.toml");
    sim.write_config(&path).expect("config");
    let i = sim.integrations();
    let mut t = std::fs::read_to_string(&path).expect("config");
    t.push_str(&format!(
        r#"
[incidents]
note_interval = "1s"

[incidents.servicenow]
instance_url = "{base}"
username = "{u}"
password = "{p}"

[incidents.xdr]
base_url = "{base}"
client_id = "{xid}"
client_password = "{xpw}"

[incidents.webhook]
secret = "{SECRET}"

[incidents.rules.contain]
event_types = [1090519054]
isolate = true
triage_group = "Triage"
"#,
        base = i.servicenow.instance_url,
        u = i.servicenow.username,
        p = i.servicenow.password,
        xid = i.xdr.client_id,
        xpw = i.xdr.client_password,
    ));
    std::fs::write(&path, t).expect("config");
    (sim, dir, path)
}

fn threat(sim: &SimHandle, id: u64, skip: usize) -> (Value, simulator::ComputerInfo) {
    let t = sim.tenant("tenant-1").expect("tenant");
    let triage = t
        .groups
        .iter()
        .find(|g| g.name == "Triage")
        .expect("Triage")
        .guid
        .clone();
    let c = t
        .computers
        .iter()
        .filter(|c| c.group_guid != triage)
        .nth(skip)
        .expect("computer")
        .clone();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let e = serde_json::json!({
        "id": id, "timestamp": now, "timestamp_nanoseconds": 0,
        "date": secure_endpoint::format_api_date(time::OffsetDateTime::now_utc()),
        "event_type": "Threat Detected", "event_type_id": 1090519054, "severity": "High",
        "detection": "W32.Test", "connector_guid": c.guid, "group_guids": [c.group_guid],
        "computer": {"connector_guid": c.guid, "hostname": c.hostname, "active": true},
        "file": {"file_name": "evil.exe", "identity": {"sha256": format!("{id:064}")}}
    });
    (e, c)
}

/// Runs the pipeline until `done` holds (bounded), then stops it.
async fn run_until(
    config: &Config,
    limit: Duration,
    done: impl Fn(&[sebridge::incidents::store::IncidentRow]) -> bool,
) -> Topology {
    let topology = Topology::start(config, Some("127.0.0.1:0".parse().expect("addr")))
        .await
        .expect("topology");
    let start = Instant::now();
    loop {
        let rows = topology
            .store
            .incidents()
            .list(None, None, 100)
            .await
            .expect("list");
        if done(&rows) {
            break;
        }
        assert!(start.elapsed() < limit, "timed out; incidents: {rows:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    topology
}

fn load(path: &Path) -> Config {
    let mut c = Config::load(path).expect("valid config");
    for s in c.sources.values_mut() {
        let SourceConfig::Poll(p) = s else { continue };
        p.interval = Duration::from_millis(100);
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_list_show_close_and_audit_commands() {
    let (sim, _dir, path) = setup().await;
    let (event, computer) = threat(&sim, 9001, 0);
    sim.insert_events("tenant-1", vec![event]).expect("insert");
    let config = load(&path);
    let topology = run_until(&config, Duration::from_secs(20), |rows| {
        rows.first().is_some_and(|i| {
            i.snow_number.is_some() && i.xdr_id.is_some() && i.isolated_by_us && i.moved_by_us
        })
    })
    .await;
    topology.stop().await;

    // The incident engine is a journal consumer like the sinks: shown as such, and its
    // position cannot be forgotten while [incidents] is configured.
    let out = sebridge()
        .args(["sinks", "status", "-c"])
        .arg(&path)
        .output()
        .expect("runs");
    let status = text(&out);
    assert!(out.status.success(), "{status}");
    let engine = status
        .lines()
        .find(|l| l.starts_with("incidents "))
        .unwrap_or_else(|| panic!("no incident engine line: {status}"));
    assert!(engine.contains("incident engine"), "{status}");
    assert!(!status.contains("(not configured)"), "{status}");
    assert!(
        status.contains("journal: ") && status.contains(" events (newest sequence number"),
        "{status}"
    );
    let out = sebridge()
        .args(["sinks", "forget", "incidents", "-c"])
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("incident engine's position is in use"),
        "{}",
        text(&out)
    );

    let out = sebridge()
        .args(["incidents", "list", "-c"])
        .arg(&path)
        .output()
        .expect("runs");
    let listed = text(&out);
    assert!(out.status.success(), "{listed}");
    assert!(listed.contains("INC00"), "{listed}");
    assert!(listed.contains("ISOLATED, IN TRIAGE"), "{listed}");
    assert!(
        listed.contains(&computer.hostname[..computer.hostname.len().min(18)]),
        "{listed}"
    );

    let out = sebridge()
        .args(["incidents", "show", "1", "--json", "-c"])
        .arg(&path)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        v["incident"]["correlation_id"],
        "sebridge:tenant-1:amp-event:9001"
    );
    assert!(v["operations"]
        .as_array()
        .expect("ops")
        .iter()
        .all(|o| o["status"] == "done"));

    // Closing from here: ServiceNow resolved, XDR closed, host released and restored.
    let out = sebridge()
        .args(["incidents", "close", "1", "--code", "False Positive", "-c"])
        .arg(&path)
        .output()
        .expect("runs");
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("incident #1 closed"), "{shown}");
    let number = v["incident"]["snow_number"]
        .as_str()
        .expect("number")
        .to_string();
    let ticket = sim.snow_record(&number).expect("ticket");
    assert_eq!(ticket.get("state"), "6");
    assert_eq!(ticket.get("close_code"), "False Positive");
    assert_eq!(sim.xdr_incidents()[0]["status"], "Closed: False Positive");
    let host = sim
        .tenant("tenant-1")
        .expect("tenant")
        .computers
        .into_iter()
        .find(|c| c.guid == computer.guid)
        .expect("host");
    assert!(!host.isolated);
    assert_eq!(host.group_guid, computer.group_guid);

    let out = sebridge()
        .args(["incidents", "close", "1", "-c"])
        .arg(&path)
        .output()
        .expect("runs");
    assert!(out.status.success());
    assert!(
        text(&out).contains("already closing or closed"),
        "{}",
        text(&out)
    );

    let out = sebridge()
        .args(["audit", "--incident", "1", "-c"])
        .arg(&path)
        .output()
        .expect("runs");
    let audit = text(&out);
    assert!(out.status.success(), "{audit}");
    for step in [
        "opened",
        "snow_created",
        "isolated",
        "moved",
        "close_requested",
        "snow_resolved",
        "xdr_closed",
        "unisolated",
        "group_restored",
        "close_ignored",
    ] {
        assert!(audit.contains(step), "audit lacks {step}:\n{audit}");
    }
    // The ServiceNow number and the XDR id name the incident as well as sebridge's id.
    let xdr = v["incident"]["xdr_id"]
        .as_str()
        .expect("xdr id")
        .to_string();
    let short = xdr.rsplit('/').next().unwrap_or(&xdr).to_string();
    for reference in [number.as_str(), &number.to_lowercase(), &xdr, &short] {
        let out = sebridge()
            .args(["incidents", "show", reference, "-c"])
            .arg(&path)
            .output()
            .expect("runs");
        assert!(out.status.success(), "{reference}: {}", text(&out));
        assert!(
            text(&out).contains("incident #1 ("),
            "{reference}: {}",
            text(&out)
        );
    }
    let out = sebridge()
        .args(["audit", "--incident", &number, "-c"])
        .arg(&path)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", text(&out));
    // Times have one width, so the columns line up.
    let widths: std::collections::BTreeSet<usize> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.find("  #").expect("a time, then the incident"))
        .collect();
    assert_eq!(widths.len(), 1, "{}", text(&out));
    let out = sebridge()
        .args(["incidents", "close", &number, "-c"])
        .arg(&path)
        .output()
        .expect("runs");
    assert!(
        text(&out).contains("incident #1 is already closing or closed"),
        "{}",
        text(&out)
    );
    let out = sebridge()
        .args(["incidents", "list", "--status", "bogus", "-c"])
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("possible values: open, closing, closed"),
        "{}",
        text(&out)
    );
    let out = sebridge()
        .args(["incidents", "show", "99", "-c"])
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no incident \"99\""), "{}", text(&out));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sebridge_sim_snow_close_runs_the_business_rule_and_closes_the_loop() {
    let (sim, _dir, path) = setup().await;
    let (event, computer) = threat(&sim, 9101, 0);
    sim.insert_events("tenant-1", vec![event]).expect("insert");
    let config = load(&path);
    let topology = run_until(&config, Duration::from_secs(20), |rows| {
        rows.first()
            .is_some_and(|i| i.snow_number.is_some() && i.isolated_by_us && i.moved_by_us)
    })
    .await;
    let addr = topology.http_addr.expect("server");
    sim.set_snow_webhook(SnowWebhook {
        url: Some(format!("http://{addr}/hooks/servicenow")),
        secret: Some(SECRET.into()),
        bearer: None,
        enabled: true,
    });
    let number = topology
        .store
        .incidents()
        .get(1)
        .await
        .expect("get")
        .expect("incident")
        .snow_number
        .expect("number");
    let sim_bin = sim_binary();
    let url = sim.base_url();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(sim_bin)
            .args([
                "snow",
                "close",
                &number,
                "--url",
                &url,
                "--close-code",
                "Solution provided",
            ])
            .output()
            .expect("sebridge-sim runs")
    })
    .await
    .expect("joined");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("closed (state 7"), "{}", text(&out));
    let start = Instant::now();
    loop {
        let i = topology
            .store
            .incidents()
            .get(1)
            .await
            .expect("get")
            .expect("incident");
        if i.status == "closed" {
            assert_eq!(i.close_source.as_deref(), Some("webhook"));
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "not closed: {i:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    topology.stop().await;
    let host = sim
        .tenant("tenant-1")
        .expect("tenant")
        .computers
        .into_iter()
        .find(|c| c.guid == computer.guid)
        .expect("host");
    assert!(!host.isolated && host.group_guid == computer.group_guid);
    let (bin, url) = (sim_binary(), sim.base_url());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(bin)
            .args(["snow", "close", "INC9999999", "--url", &url])
            .output()
            .expect("runs")
    })
    .await
    .expect("joined");
    assert!(!out.status.success());
    assert!(
        text(&out).contains("no ticket numbered INC9999999"),
        "{}",
        text(&out)
    );
    sim.shutdown().await;
}
