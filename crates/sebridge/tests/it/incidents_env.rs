//! The world of the incident tests: the simulator (Secure Endpoint, ServiceNow whose
//! business rule calls our webhook, XDR), sebridge's topology on it, and helpers to feed
//! events and wait for outcomes.

use sebridge::config::{Config, SourceConfig};
use sebridge::incidents::store::IncidentRow;
use sebridge::topology::Topology;
use serde_json::Value;
use simulator::{SimConfig, SimHandle, SnowWebhook};
use std::future::Future;
use std::time::{Duration, Instant};

pub(crate) const SECRET: &str = "test-webhook-secret-0123456789";
pub(crate) const BEARER: &str = "test-bearer-token-0123456789abcdef";

pub(crate) struct Env {
    pub(crate) sim: SimHandle,
    pub(crate) topology: Option<Topology>,
    pub(crate) config: Config,
    pub(crate) _dir: tempfile::TempDir,
}

pub(crate) struct Knobs {
    pub(crate) snow_timeout: &'static str,
    pub(crate) reconcile: &'static str,
    pub(crate) note_interval: &'static str,
    pub(crate) rules: &'static str,
    pub(crate) table: &'static str,
    /// Run on this schema of the machine's PostgreSQL instead of SQLite.
    pub(crate) postgres: Option<String>,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            snow_timeout: "5s",
            reconcile: "1h",
            note_interval: "1s",
            table: "incident",
            postgres: None,
            rules: r#"
[incidents.rules.contain]
event_types = [1090519054]
isolate = true
triage_group = "Triage"
"#,
        }
    }
}

pub(crate) async fn start(knobs: Knobs) -> Env {
    let sim = simulator::start(SimConfig {
        tenants: 1,
        rate: 0.0,
        history: 0,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sebridge.toml");
    sim.write_config(&path).expect("config written");
    let i = sim.integrations();
    let extra = format!(
        r#"
[server]
listen = "127.0.0.1:0"

[incidents]
note_interval = "{note}"
reconcile_interval = "{reconcile}"
concurrency = 8

[incidents.servicenow]
instance_url = "{base}"
table = "{table}"
username = "{user}"
password = "{pw}"
request_timeout = "{timeout}"

[incidents.xdr]
base_url = "{base}"
client_id = "{xid}"
client_password = "{xpw}"

[incidents.webhook]
secret = "{SECRET}"
bearer_token = "{BEARER}"
{rules}
"#,
        note = knobs.note_interval,
        reconcile = knobs.reconcile,
        base = i.servicenow.instance_url,
        user = i.servicenow.username,
        pw = i.servicenow.password,
        timeout = knobs.snow_timeout,
        xid = i.xdr.client_id,
        xpw = i.xdr.client_password,
        rules = knobs.rules,
        table = knobs.table,
    );
    let mut text = std::fs::read_to_string(&path).expect("config");
    text.push_str(&extra);
    if let Some(schema) = &knobs.postgres {
        let sqlite = "[store]\nkind = \"sqlite\"\npath = ";
        assert!(
            text.contains(sqlite),
            "the simulator's config names the store"
        );
        let pg = format!(
            "[store]\nkind = \"postgres\"\nurl = \"{}\"\nschema = \"{schema}\"\n# path = ",
            crate::support::pg_url()
        );
        text = text.replace(sqlite, &pg);
    }
    std::fs::write(&path, text).expect("config written");
    let mut config = Config::load(&path).unwrap_or_else(|e| panic!("config invalid: {e}"));
    for source in config.sources.values_mut() {
        let SourceConfig::Poll(p) = source else {
            continue;
        };
        p.interval = Duration::from_millis(100);
        p.request_timeout = Duration::from_secs(5);
    }
    let mut env = Env {
        sim,
        topology: None,
        config,
        _dir: dir,
    };
    env.restart().await;
    env
}

impl Env {
    /// Starts sebridge (again) on the same config and store, and points the ServiceNow
    /// business rule at its webhook.
    pub(crate) async fn restart(&mut self) {
        if let Some(t) = self.topology.take() {
            t.stop().await;
        }
        let topology = Topology::start(&self.config, None)
            .await
            .expect("topology starts");
        let addr = topology.http_addr.expect("server listening");
        self.sim.set_snow_webhook(SnowWebhook {
            url: Some(format!("http://{addr}/hooks/servicenow")),
            secret: Some(SECRET.into()),
            bearer: None,
            enabled: true,
        });
        self.topology = Some(topology);
    }

    /// The config file sebridge runs on.
    pub(crate) fn config_path(&self) -> std::path::PathBuf {
        self._dir.path().join("sebridge.toml")
    }

    pub(crate) fn topo(&self) -> &Topology {
        self.topology.as_ref().expect("running")
    }

    pub(crate) fn store(&self) -> sebridge::incidents::store::IncidentStore {
        self.topo().store.incidents()
    }

    pub(crate) fn tenant(&self) -> simulator::TenantInfo {
        self.sim.tenant("tenant-1").expect("tenant")
    }

    /// A computer that is not in the Triage group, and the GUIDs of its group and Triage.
    pub(crate) fn computer(&self, skip: usize) -> (simulator::ComputerInfo, String) {
        let t = self.tenant();
        let triage = t
            .groups
            .iter()
            .find(|g| g.name == "Triage")
            .expect("every tenant has a Triage group")
            .guid
            .clone();
        let c = t
            .computers
            .iter()
            .filter(|c| c.group_guid != triage)
            .nth(skip)
            .expect("a computer outside Triage")
            .clone();
        (c, triage)
    }

    pub(crate) fn insert(&self, events: Vec<Value>) {
        self.sim
            .insert_events("tenant-1", events)
            .expect("events inserted");
    }

    pub(crate) async fn stop(mut self) {
        if let Some(t) = self.topology.take() {
            t.stop().await;
        }
        self.sim.shutdown().await;
    }
}

/// A real Threat Detected event (Elastic's capture) for one of the simulator's computers.
pub(crate) fn threat(
    c: &simulator::ComputerInfo,
    id: u64,
    ts: i64,
    sha256: &str,
    severity: &str,
) -> Value {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(
        "../../fixtures/secure-endpoint/elastic_integrations__cisco_secure_endpoint__test-cisco-amp1_log__line03_threat_detected_1090519054_with_parent.json",
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("fixture"))
        .expect("fixture JSON");
    let mut e = v["data"].clone();
    e["id"] = id.into();
    e["timestamp"] = ts.into();
    e["timestamp_nanoseconds"] = 0.into();
    e["date"] = secure_endpoint::format_api_date(
        time::OffsetDateTime::from_unix_timestamp(ts).expect("ts"),
    )
    .into();
    e["connector_guid"] = c.guid.clone().into();
    e["computer"]["connector_guid"] = c.guid.clone().into();
    e["computer"]["hostname"] = c.hostname.clone().into();
    e["group_guids"] = serde_json::json!([c.group_guid]);
    e["severity"] = severity.into();
    e["file"]["identity"]["sha256"] = sha256.into();
    e
}

pub(crate) fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

pub(crate) async fn until<F, Fut>(limit: Duration, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !f().await {
        assert!(start.elapsed() < limit, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) async fn incidents(env: &Env) -> Vec<IncidentRow> {
    env.store().list(None, None, 1000).await.expect("list")
}

pub(crate) async fn only_incident(env: &Env) -> IncidentRow {
    let all = incidents(env).await;
    assert_eq!(all.len(), 1, "exactly one incident: {all:?}");
    all.into_iter().next().expect("one")
}

pub(crate) async fn audit_actions(env: &Env, id: i64) -> Vec<String> {
    env.store()
        .audit(Some(id), 1000)
        .await
        .expect("audit")
        .into_iter()
        .rev()
        .map(|a| a.action)
        .collect()
}

/// Waits until the incident is open, ticketed in both systems and contained.
pub(crate) async fn wait_contained(env: &Env) -> IncidentRow {
    until(
        Duration::from_secs(20),
        "ticket, XDR incident, isolation and move",
        || async {
            incidents(env).await.first().is_some_and(|i| {
                i.snow_number.is_some() && i.xdr_id.is_some() && i.isolated_by_us && i.moved_by_us
            })
        },
    )
    .await;
    only_incident(env).await
}

pub(crate) fn sign(ts: &str, body: &str, secret: &str) -> String {
    simulator::snow_sign(secret, ts, body)
}

pub(crate) async fn post_hook(env: &Env, body: &str, headers: &[(&str, String)]) -> (u16, String) {
    let addr = env.topo().http_addr.expect("server");
    let mut req = reqwest::Client::new()
        .post(format!("http://{addr}/hooks/servicenow"))
        .header("content-type", "application/json")
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.expect("webhook reachable");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}
