//! Read-only API keys (a common onboarding mistake): `tenants test` says what will fail, a
//! rule asking for containment on such a tenant is reported at start (log, `/status`), and
//! an incident there records the refused isolation and move in the audit, not a success.

use crate::incidents_env::{now, threat, until};
use sebridge::config::{Config, SourceConfig};
use sebridge::incidents::store::IncidentRow;
use sebridge::topology::Topology;
use serde_json::Value;
use simulator::{SimConfig, SimHandle};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const CONTAIN: &str = r#"
[incidents.rules.contain]
event_types = [1090519054]
isolate = true
triage_group = "Triage"
"#;

/// The simulator (with these tenants' keys read-only) and a config for it, with
/// `[incidents]` (ServiceNow, XDR and `rules`) when `rules` is given.
async fn sim_and_config(
    tenants: usize,
    read_only: &[&str],
    rules: Option<&str>,
    dir: &Path,
) -> (SimHandle, PathBuf) {
    let sim = simulator::start(SimConfig {
        tenants,
        rate: 0.0,
        history: 0,
        read_only_tenants: read_only.iter().map(|s| s.to_string()).collect(),
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts");
    let path = dir.join("sebridge.toml");
    sim.write_config(&path).expect("config written");
    if let Some(rules) = rules {
        let i = sim.integrations();
        let extra = format!(
            r#"
[server]
listen = "127.0.0.1:0"

[incidents]
note_interval = "1s"
reconcile_interval = "1h"

[incidents.servicenow]
instance_url = "{base}"
username = "{user}"
password = "{pw}"

[incidents.xdr]
base_url = "{base}"
client_id = "{xid}"
client_password = "{xpw}"
{rules}
"#,
            base = i.servicenow.instance_url,
            user = i.servicenow.username,
            pw = i.servicenow.password,
            xid = i.xdr.client_id,
            xpw = i.xdr.client_password,
        );
        let mut text = std::fs::read_to_string(&path).expect("config");
        text.push_str(&extra);
        std::fs::write(&path, text).expect("config written");
    }
    (sim, path)
}

fn load(path: &Path) -> Config {
    let mut config = Config::load(path).unwrap_or_else(|e| panic!("config invalid: {e}"));
    for source in config.sources.values_mut() {
        if let SourceConfig::Poll(p) = source {
            p.interval = Duration::from_millis(100);
            p.request_timeout = Duration::from_secs(5);
        }
    }
    config
}

fn tenants_test(cfg: &Path) -> Output {
    cli(cfg, &["tenants", "test"])
}

fn cli(cfg: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sebridge"))
        .env_remove("SEBRIDGE_MASTER_KEY")
        .env("SEBRIDGE_LOG", "warn")
        .arg("-c")
        .arg(cfg)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("sebridge runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn line<'a>(out: &'a str, tenant: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(tenant))
        .unwrap_or_else(|| panic!("no line for {tenant}: {out}"))
}

async fn status(t: &Topology) -> Value {
    let addr = t.http_addr.expect("server listening");
    reqwest::get(format!("http://{addr}/status"))
        .await
        .expect("status reachable")
        .json()
        .await
        .expect("status JSON")
}

fn containment(s: &Value, tenant: &str) -> Option<Value> {
    s["containment"]
        .as_array()?
        .iter()
        .find(|c| c["tenant"] == tenant)
        .cloned()
}

/// Where every computer of a tenant is, and whether it is isolated.
fn placement(sim: &SimHandle, tenant: &str) -> Vec<(String, String, bool)> {
    sim.tenant(tenant)
        .expect("tenant")
        .computers
        .into_iter()
        .map(|c| (c.guid, c.group_guid, c.isolated))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_test_says_isolation_and_moves_will_fail_on_a_read_only_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (sim, cfg) = sim_and_config(2, &["tenant-1"], None, dir.path()).await;
    let before = (placement(&sim, "tenant-1"), placement(&sim, "tenant-2"));

    // Without containment rules a read-only key is not a failure, but it is said plainly.
    let out = tenants_test(&cfg);
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    let ro = line(&all, "tenant-1");
    assert!(ro.contains(" ok ("), "the key reads: {ro}");
    assert!(
        ro.contains("READ-ONLY")
            && ro.contains("isolation, group moves and event stream management will fail")
            && ro.contains("403"),
        "{ro}"
    );
    let rw = line(&all, "tenant-2");
    assert!(rw.contains(" ok (") && rw.ends_with("read & write"), "{rw}");

    // The probe changed nothing: one refused write for the read-only key, one write of a
    // computer that does not exist for the other.
    assert_eq!(
        (placement(&sim, "tenant-1"), placement(&sim, "tenant-2")),
        before
    );
    let stats = sim.stats();
    assert_eq!(stats.tenant("tenant-1").expect("t1").forbidden, 1);
    assert_eq!(stats.tenant("tenant-2").expect("t2").forbidden, 0);

    // With a rule asking for containment on that tenant, `tenants test` fails and names it.
    let i = sim.integrations();
    let mut t = std::fs::read_to_string(&cfg).expect("config");
    t.push_str(&format!(
        "\n[incidents]\n[incidents.xdr]\nbase_url = \"{}\"\nclient_id = \"{}\"\nclient_password = \"{}\"\n{CONTAIN}",
        i.xdr.base_url, i.xdr.client_id, i.xdr.client_password
    ));
    std::fs::write(&cfg, t).expect("config written");
    let out = tenants_test(&cfg);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("FAILED: rule(s) contain ask for containment on this tenant"),
        "{all}"
    );
    assert_eq!(
        all.matches("FAILED").count(),
        1,
        "only the read-only tenant: {all}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_containment_rule_on_a_read_only_tenant_is_reported_at_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (sim, cfg) = sim_and_config(2, &["tenant-1"], Some(CONTAIN), dir.path()).await;
    let topology = Topology::start(&load(&cfg), None)
        .await
        .expect("topology starts: a read-only key does not stop it");
    until(
        Duration::from_secs(20),
        "both tenants' scope checked",
        || async {
            let s = status(&topology).await;
            ["tenant-1", "tenant-2"]
                .iter()
                .all(|t| containment(&s, t).is_some_and(|c| c["write_scope"] != "checking"))
        },
    )
    .await;
    let s = status(&topology).await;
    let ro = containment(&s, "tenant-1").expect("tenant-1");
    assert_eq!(ro["write_scope"], "read_only", "{ro}");
    assert_eq!(ro["rules"], serde_json::json!(["contain"]));
    let warning = ro["warning"].as_str().expect("a warning");
    assert!(
        warning.contains("tenant-1")
            && warning.contains("contain")
            && warning.contains("read-only")
            && warning.contains("isolation and group moves will fail"),
        "{warning}"
    );
    let rw = containment(&s, "tenant-2").expect("tenant-2");
    assert_eq!(rw["write_scope"], "read_write", "{rw}");
    assert!(rw["warning"].is_null());
    // Reported before any incident, and events still flow.
    assert!(topology
        .store
        .incidents()
        .list(None, None, 10)
        .await
        .expect("list")
        .is_empty());
    sim.generate_events("tenant-1", 5, None).expect("events");
    until(
        Duration::from_secs(20),
        "the read-only tenant's events",
        || async { topology.store.head() >= 5 },
    )
    .await;
    topology.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scope_is_unknown_when_the_api_does_not_answer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (sim, cfg) = sim_and_config(1, &[], Some(CONTAIN), dir.path()).await;
    // The tenant's API on a port nothing listens on; ServiceNow and XDR stay reachable.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let dead_url = format!("http://{}", dead.local_addr().expect("addr"));
    drop(dead);
    let text = std::fs::read_to_string(&cfg).expect("config");
    let (tenants, rest) = text.split_at(text.find("[incidents]").expect("incidents"));
    std::fs::write(
        &cfg,
        format!("{}{rest}", tenants.replace(&sim.base_url(), &dead_url)),
    )
    .expect("config written");
    let topology = Topology::start(&load(&cfg), None)
        .await
        .expect("topology starts");
    until(
        Duration::from_secs(20),
        "the scope check gave up for now",
        || async {
            containment(&status(&topology).await, "tenant-1")
                .is_some_and(|c| c["write_scope"] == "unknown")
        },
    )
    .await;
    let c = containment(&status(&topology).await, "tenant-1").expect("tenant-1");
    let warning = c["warning"].as_str().expect("why");
    assert!(
        warning.contains("cannot tell") && warning.contains("checking again"),
        "{warning}"
    );
    topology.stop().await;
    sim.shutdown().await;
}

async fn only_incident(topology: &Topology) -> IncidentRow {
    let all = topology
        .store
        .incidents()
        .list(None, None, 10)
        .await
        .expect("list");
    assert_eq!(all.len(), 1, "{all:?}");
    all.into_iter().next().expect("one")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_on_a_read_only_tenant_records_the_refused_containment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (sim, cfg) = sim_and_config(1, &["tenant-1"], Some(CONTAIN), dir.path()).await;
    let topology = Topology::start(&load(&cfg), None)
        .await
        .expect("topology starts");
    let t = sim.tenant("tenant-1").expect("tenant");
    let triage = t
        .groups
        .iter()
        .find(|g| g.name == "Triage")
        .expect("Triage")
        .guid
        .clone();
    let computer = t
        .computers
        .iter()
        .find(|c| c.group_guid != triage && !c.isolated)
        .expect("a computer outside Triage")
        .clone();
    sim.insert_events(
        "tenant-1",
        vec![threat(&computer, 9101, now(), &"b".repeat(64), "High")],
    )
    .expect("event");
    let store = topology.store.incidents();
    // Isolation and the move are refused for good (after the executor's tries for errors
    // that need a human), while the ticket and the XDR incident are made.
    until(
        Duration::from_secs(40),
        "containment given up, tickets made",
        || async {
            let Some(i) = store.list(None, None, 10).await.expect("list").pop() else {
                return false;
            };
            let ops = store.ops(i.id).await.expect("ops");
            let failed = |k: &str| ops.iter().any(|o| o.kind == k && o.status == "failed");
            failed("isolate")
                && failed("move_group")
                && i.snow_number.is_some()
                && i.xdr_id.is_some()
        },
    )
    .await;
    let inc = only_incident(&topology).await;
    assert!(!inc.isolated_by_us && !inc.moved_by_us, "{inc:?}");
    let audit = store.audit(Some(inc.id), 100).await.expect("audit");
    for kind in ["isolate", "move_group"] {
        let line = audit
            .iter()
            .find(|a| a.action == format!("{kind}_failed"))
            .unwrap_or_else(|| panic!("no {kind}_failed in {audit:?}"));
        assert!(
            line.detail.contains("403")
                && line.detail.contains("Read-only")
                && line.detail.contains("Read & Write scope"),
            "{kind}: {}",
            line.detail
        );
    }
    let successes = ["isolated", "isolation_pending", "moved"];
    assert!(
        !audit.iter().any(|a| successes.contains(&a.action.as_str())),
        "no containment recorded as done: {audit:?}"
    );
    // The host is untouched in the console.
    let now = sim.tenant("tenant-1").expect("tenant");
    let host = now
        .computers
        .iter()
        .find(|c| c.guid == computer.guid)
        .expect("host");
    assert!(!host.isolated);
    assert_eq!(host.group_guid, computer.group_guid);
    topology.stop().await;
    // The commands say it failed, and why; never "-" (no containment).
    let list = cli(&cfg, &["incidents", "list"]);
    let listed = text(&list);
    assert!(list.status.success(), "{listed}");
    assert!(
        listed.contains("ISOLATION FAILED, TRIAGE MOVE FAILED"),
        "{listed}"
    );
    let id = inc.id.to_string();
    let show = cli(&cfg, &["incidents", "show", &id]);
    let shown = text(&show);
    assert!(show.status.success(), "{shown}");
    assert!(
        shown.contains("containment:  ISOLATION FAILED, TRIAGE MOVE FAILED")
            && shown.contains("isolation FAILED: ")
            && shown.contains("triage move FAILED: ")
            && shown.contains("403"),
        "{shown}"
    );
    sim.shutdown().await;
}
