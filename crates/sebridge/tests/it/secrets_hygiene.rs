//! No secret leaves the process except to the service it is for. The real `sebridge` binary
//! runs with `--log trace` (every crate's debug and trace lines, lapin's AMQP frames and
//! hyper's connection pool included: more than `--log debug` shows) against the simulator:
//! poll and Event Streams on the local RabbitMQ, incidents to its ServiceNow over OAuth and
//! its XDR, the signed close webhook, every HTTP sink (Splunk HEC, Elasticsearch, Sentinel with
//! its Entra ID token, webhook), a
//! PostgreSQL sink whose URL has a password, a file and a stdout sink; a tenant with a wrong
//! key and a webhook call with a wrong bearer token add error paths. Then everything an
//! operator (or anyone with read access) could see is searched for every secret involved:
//! stdout and stderr of `run` and of every CLI command (at trace level too), `/status`,
//! `/metrics`, `/incidents.json`, the dashboard, what the sinks delivered, and the SQLite
//! store's bytes (with its -wal and -shm files, when there are any): credentials are sealed at
//! rest, so none may be there in clear either.
//!
//! Secrets are searched as written and in the form they travel in (HTTP Basic's base64 of
//! `user:password`). The config file and the master key file hold secrets by design and are
//! not searched (the key file's content is searched for everywhere else).

use crate::stream_common::{amqp_url, require_broker};
use axum::http::HeaderMap;
use base64::Engine as _;
use secure_endpoint::ExposeSecret as _;
use serde_json::Value;
use simulator::receivers::{elastic, hec, sentinel};
use simulator::{AmqpConfig, SimConfig, SimHandle, SnowWebhook};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DS: &str = "logs-cisco_secure_endpoint.event-default";

fn hex(n: usize) -> String {
    (0..n)
        .map(|_| char::from_digit(rand::random_range(0..16u32), 16).unwrap_or('0'))
        .collect()
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A `sebridge` child that is killed if the test fails before stopping it.
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Everything captured, by where it came from.
#[derive(Default)]
struct Captured(BTreeMap<String, Vec<u8>>);

impl Captured {
    fn add(&mut self, name: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        let name = name.into();
        let bytes = bytes.into();
        assert!(
            !self.0.contains_key(&name),
            "captured {name} twice (test bug)"
        );
        self.0.insert(name, bytes);
    }

    fn add_output(&mut self, name: &str, out: &Output) {
        self.add(format!("`sebridge {name}` stdout"), out.stdout.clone());
        self.add(format!("`sebridge {name}` stderr"), out.stderr.clone());
    }

    fn add_file(&mut self, path: &Path) {
        if let Ok(bytes) = std::fs::read(path) {
            self.add(path.display().to_string(), bytes);
        }
    }
}

struct Env {
    sim: SimHandle,
    dir: tempfile::TempDir,
    cfg: PathBuf,
    vars: Vec<(&'static str, String)>,
}

impl Env {
    fn sebridge(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sebridge"));
        c.env_remove("SEBRIDGE_MASTER_KEY")
            .env_remove("SEBRIDGE_LOG")
            .args(["--log", "trace", "-c"])
            .arg(&self.cfg)
            .args(args);
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c
    }

    /// Runs a CLI command to completion (bounded), stdin closed.
    fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = self
            .sebridge(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sebridge runs");
        let mut pipe = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            pipe.write_all(text.as_bytes()).expect("stdin written");
        }
        drop(pipe);
        let pid = child.id();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let watchdog = std::thread::spawn(move || {
            if done_rx.recv_timeout(Duration::from_secs(60)).is_err() {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        });
        let out = child.wait_with_output().expect("sebridge finishes");
        let _ = done_tx.send(());
        let _ = watchdog.join();
        out
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A Threat Detected event (a real capture) on one of the simulator's computers.
fn threat(c: &simulator::ComputerInfo, id: u64) -> Value {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut e = crate::common::event_at(id, now, 0);
    e["connector_guid"] = c.guid.clone().into();
    e["computer"]["connector_guid"] = c.guid.clone().into();
    e["computer"]["hostname"] = c.hostname.clone().into();
    e["group_guids"] = serde_json::json!([c.group_guid]);
    e["severity"] = "High".into();
    e["file"]["identity"]["sha256"] = "9".repeat(64).into();
    e
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, String) {
    let r = client.get(url).send().await.expect("server answers");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

async fn wait_for<F, Fut>(limit: Duration, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !f().await {
        assert!(start.elapsed() < limit, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_logs_endpoints_cli_output_sink_data_or_the_store() {
    require_broker(&amqp_url()).await;
    let sim = simulator::start(SimConfig {
        tenants: 3,
        rate: 0.0,
        history: 20,
        seed: rand::random(),
        amqp: Some(AmqpConfig::local(amqp_url())),
        ..SimConfig::default()
    })
    .await
    .unwrap_or_else(|e| panic!("needs RabbitMQ and rabbitmqctl (scripts/test readies them): {e}"));
    let hec = hec::start(hec::HecConfig {
        token: format!("{}-{}", hex(8), hex(12)),
        ..Default::default()
    })
    .await
    .expect("HEC receiver");
    let es_key = b64(&format!("{}:{}", hex(8), hex(24)));
    let es = elastic::start(elastic::ElasticConfig {
        api_key: Some(es_key.clone()),
        ..Default::default()
    })
    .await
    .expect("Elasticsearch receiver");
    let sentinel = sentinel::start(sentinel::SentinelConfig {
        client_secret: format!("{}~{}", hex(8), hex(24)),
        ..Default::default()
    })
    .await
    .expect("Sentinel receiver");
    // The webhook sink's receiver keeps what it got (searched like everything else).
    let hook_bodies: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = hook_bodies.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                let sig = headers
                    .get("x-sebridge-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                seen.lock().unwrap().push(format!("{sig}\n{body}"));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hook_addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let integrations = sim.integrations();
    let t1 = sim.tenant("tenant-1").expect("tenant-1");
    let t2 = sim.tenant("tenant-2").expect("tenant-2");
    let t3 = sim.tenant("tenant-3").expect("tenant-3");
    let wrong_key = format!("wrong-key-{}", hex(32));
    let hook_secret = hex(32);
    let hook_bearer = hex(40);
    let wrong_bearer = format!("wrong-bearer-{}", hex(32));
    let sink_secret = hex(32);
    let pg_password = hex(24);
    let pg_table = crate::support::unique("secrets_hygiene");
    // Some secrets through ${ENV}, some written in the file: both ways are in use.
    let vars = vec![
        ("T1_API_KEY", t1.api_key.clone()),
        ("T3_API_KEY", wrong_key.clone()),
        ("SNOW_PASSWORD", integrations.servicenow.password.clone()),
        (
            "SNOW_CLIENT_SECRET",
            integrations.servicenow.oauth_client_secret.clone(),
        ),
        ("XDR_PASSWORD", integrations.xdr.client_password.clone()),
        ("HEC_TOKEN", hec.token().to_string()),
        ("SENTINEL_SECRET", sentinel.config().client_secret.clone()),
    ];
    let d = dir.path();
    let config = format!(
        r#"
[store]
path = {db:?}

[secrets]
key_file = {key:?}

[server]
listen = "127.0.0.1:{port}"

[tenants.tenant-1]
base_url = {base:?}
client_id = {t1id:?}
api_key = "${{T1_API_KEY}}"

[tenants.tenant-3]
base_url = {base:?}
client_id = {t3id:?}
api_key = "${{T3_API_KEY}}"

[sources.poll]
type = "poll"
interval = "300ms"
lookback = "2h"
request_timeout = "5s"

[sources.push]
type = "stream"
batch_wait = "10ms"
max_backoff = "2s"
connect_timeout = "5s"

[sinks.archive]
type = "file"
path = {events:?}
wrap = true

[sinks.console]
type = "stdout"
wrap = true

[sinks.splunk]
type = "splunk_hec"
url = {hec_url:?}
token = "${{HEC_TOKEN}}"
batch_timeout = "100ms"

[sinks.elastic]
type = "elasticsearch"
url = {es_url:?}
api_key = {es_key:?}
batch_timeout = "100ms"

[sinks.sentinel]
type = "sentinel"
endpoint = {sentinel_url:?}
token_url = {sentinel_token_url:?}
dcr_immutable_id = {sentinel_dcr:?}
tenant_id = {sentinel_tenant:?}
client_id = {sentinel_client:?}
client_secret = "${{SENTINEL_SECRET}}"
batch_timeout = "100ms"

[sinks.soar]
type = "webhook"
url = "http://{hook_addr}/hook"
secret = {sink_secret:?}
batch_timeout = "100ms"

[sinks.warehouse]
type = "postgres"
url = "postgres://postgres:{pg_password}@127.0.0.1:5432/test"
table = {pg_table:?}
batch_timeout = "100ms"

[incidents]
note_interval = "1s"
reconcile_interval = "1h"

[incidents.servicenow]
instance_url = {base:?}
username = {snow_user:?}
password = "${{SNOW_PASSWORD}}"
client_id = {snow_client:?}
client_secret = "${{SNOW_CLIENT_SECRET}}"
request_timeout = "5s"

[incidents.xdr]
base_url = {base:?}
client_id = {xdr_id:?}
client_password = "${{XDR_PASSWORD}}"

[incidents.webhook]
secret = {hook_secret:?}
bearer_token = {hook_bearer:?}

[incidents.rules.contain]
event_types = [1090519054]
tenants = ["tenant-1"]
isolate = true
triage_group = "Triage"
"#,
        db = d.join("sebridge.db"),
        key = d.join("sebridge.key"),
        base = sim.base_url(),
        t1id = t1.client_id,
        t3id = t3.client_id,
        events = d.join("events.jsonl"),
        hec_url = hec.url(),
        es_url = es.url(),
        sentinel_url = sentinel.url(),
        sentinel_token_url = sentinel.token_url(),
        sentinel_dcr = sentinel.config().dcr_immutable_id,
        sentinel_tenant = sentinel.config().tenant_id,
        sentinel_client = sentinel.config().client_id,
        snow_user = integrations.servicenow.username,
        snow_client = integrations.servicenow.oauth_client_id,
        xdr_id = integrations.xdr.client_id,
    );
    let cfg = d.join("sebridge.toml");
    std::fs::write(&cfg, &config).expect("config written");
    let env = Env {
        sim,
        dir,
        cfg,
        vars,
    };
    let mut captured = Captured::default();

    // Setup through the CLI, as an operator would: a tenant in the encrypted registry, and an
    // Event Stream whose AMQP password is sealed in the store.
    let out = env.cli(&["validate"], None);
    assert!(out.status.success(), "{}", text(&out));
    captured.add_output("validate", &out);
    let out = env.cli(
        &[
            "tenants",
            "add",
            "--name",
            "tenant-2",
            "--base-url",
            &env.sim.base_url(),
            "--client-id",
            &t2.client_id,
        ],
        Some(&format!("{}\n", t2.api_key)),
    );
    assert!(out.status.success(), "{}", text(&out));
    captured.add_output("tenants add", &out);
    let out = env.cli(
        &[
            "streams", "create", "--tenant", "tenant-1", "--name", "siem",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    captured.add_output("streams create", &out);
    let amqp_password = stream_password(&env).await;

    // One threat for tenant-1 (published to its stream and served to the poll): a ticket,
    // an XDR incident and a contained host.
    let computer = t1
        .computers
        .iter()
        .find(|c| {
            t1.groups
                .iter()
                .any(|g| g.name != "Triage" && g.guid == c.group_guid)
        })
        .expect("a computer outside Triage")
        .clone();
    let event_id = 9_100_000_001u64;
    env.sim
        .insert_events("tenant-1", vec![threat(&computer, event_id)])
        .expect("event inserted");

    let stdout_path = env.dir.path().join("run.stdout");
    let stderr_path = env.dir.path().join("run.stderr");
    let child = env
        .sebridge(&["run"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("sebridge run starts");
    let mut running = Running(Some(child));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let base = format!("http://127.0.0.1:{port}");
    env.sim.set_snow_webhook(SnowWebhook {
        url: Some(format!("{base}/hooks/servicenow")),
        secret: Some(hook_secret.clone()),
        bearer: None,
        enabled: true,
    });

    // Everything flows: every sink caught up, the stream consumed, the incident contained.
    let status = |http: reqwest::Client, base: String| async move {
        match http.get(format!("{base}/status")).send().await {
            Ok(r) => r.json::<Value>().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    };
    let start = Instant::now();
    loop {
        let s = status(http.clone(), base.clone()).await;
        let sinks = s["sinks"].as_array().cloned().unwrap_or_default();
        // 20 events of history for tenant-1 and tenant-2, and the threat; seven sinks and the
        // incident engine.
        if s["journal_head"].as_i64() >= Some(41)
            && sinks.len() == 8
            && sinks.iter().all(|k| k["backlog"] == 0)
        {
            break;
        }
        if start.elapsed() > Duration::from_secs(40) {
            let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            let skip = log.chars().count().saturating_sub(3000);
            let tail: String = log.chars().skip(skip).collect();
            panic!("not every sink delivered the journal: {s:#}\n…{tail}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_for(Duration::from_secs(30), "the stream consumed", || {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let s = status(http, base).await;
            s["tenants"].as_array().is_some_and(|ts| {
                ts.iter().any(|t| {
                    // The poll may have journaled an event first: the stream's copy is then a
                    // duplicate, which still counts as consumed.
                    t["source"].as_str().is_some_and(|s| s.starts_with("push"))
                        && t["connection"]
                            .as_str()
                            .is_some_and(|c| c.starts_with("connected"))
                        && t["events_ingested"].as_u64().unwrap_or(0)
                            + t["duplicates"].as_u64().unwrap_or(0)
                            > 0
                })
            })
        }
    })
    .await;
    wait_for(
        Duration::from_secs(30),
        "ticket, XDR incident, isolation",
        || {
            let (http, base) = (http.clone(), base.clone());
            async move {
                let (_, body) = get(&http, &format!("{base}/incidents.json")).await;
                let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                v["incidents"].as_array().is_some_and(|is| {
                    is.iter().any(|i| {
                        i["servicenow"].is_string() && i["xdr"].is_string() && i["isolated"] == true
                    })
                })
            }
        },
    )
    .await;
    // The analyst closes the ticket: the signed webhook closes the loop.
    let number = env
        .sim
        .snow_records()
        .into_iter()
        .find(|r| {
            r.get("correlation_id")
                .ends_with(&format!(":amp-event:{event_id}"))
        })
        .map(|r| r.get("number").to_string())
        .expect("our ticket");
    env.sim
        .snow_close(&number, None, Some("False Positive"))
        .expect("ticket closed");
    wait_for(Duration::from_secs(30), "the incident closed", || {
        let (http, base, number) = (http.clone(), base.clone(), number.clone());
        async move {
            let (_, body) = get(&http, &format!("{base}/incidents.json")).await;
            let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            v["incidents"].as_array().is_some_and(|is| {
                is.iter()
                    .any(|i| i["servicenow"] == number.as_str() && i["status"] == "closed")
            })
        }
    })
    .await;
    assert_eq!(
        env.sim
            .snow_webhook_deliveries()
            .last()
            .and_then(|d| d.status),
        Some(200)
    );
    // Error paths: a webhook with a wrong bearer token; tenant-3's wrong key has failed.
    let r = http
        .post(format!("{base}/hooks/servicenow"))
        .header("authorization", format!("Bearer {wrong_bearer}"))
        .body("{}")
        .send()
        .await
        .expect("webhook answers");
    assert_eq!(r.status(), 401);
    let r = http
        .post(format!("{base}/hooks/servicenow"))
        .header("authorization", format!("Bearer {hook_bearer}"))
        .body(r#"{"sys_id":"00000000000000000000000000000000"}"#)
        .send()
        .await
        .expect("webhook answers");
    assert_eq!(r.status(), 202, "authentic, but not one of ours");
    let s = status(http.clone(), base.clone()).await;
    assert!(
        s["tenants"]
            .as_array()
            .expect("tenants")
            .iter()
            .any(|t| t["tenant"] == "tenant-3" && t["state"] == "failed"),
        "tenant-3's key is refused: {s}"
    );

    for path in [
        "/status",
        "/metrics",
        "/incidents.json",
        "/",
        "/healthz",
        "/readyz",
    ] {
        let (code, body) = get(&http, &format!("{base}{path}")).await;
        assert_eq!(code, 200, "GET {path}");
        captured.add(format!("GET {path}"), body);
    }

    // The store while it runs: the WAL holds the latest writes until a checkpoint.
    for suffix in ["", "-wal"] {
        let path = env.dir.path().join(format!("sebridge.db{suffix}"));
        if let Ok(bytes) = std::fs::read(&path) {
            captured.add(format!("{} (while running)", path.display()), bytes);
        }
    }

    // A clean stop, then the CLI's views of the same store.
    let mut child = running.0.take().expect("running");
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "SIGTERM sent");
    let start = Instant::now();
    let exit = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "sebridge did not stop"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    drop(running);
    // Exit code 1: tenant-3 failed for good (its key is wrong), as documented.
    assert!(exit.code().is_some(), "{exit:?}");
    captured.add_file(&stdout_path);
    captured.add_file(&stderr_path);
    let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(
        log.contains("DEBUG") && log.contains("TRACE") && log.contains("lapin"),
        "the run logged at trace level: {}",
        &log[..log.len().min(2000)]
    );

    let incident_id = {
        let out = env.cli(&["incidents", "list", "--json"], None);
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("incidents list --json: {e}: {}", text(&out)));
        let items = v.as_array().cloned().unwrap_or_default();
        let id = items
            .iter()
            .find(|i| i.to_string().contains(&number))
            .and_then(|i| i["id"].as_i64())
            .unwrap_or_else(|| panic!("our incident in {v}"));
        captured.add_output("incidents list --json", &out);
        id.to_string()
    };
    let commands: Vec<Vec<&str>> = vec![
        vec!["tenants", "list"],
        vec!["tenants", "test"],
        vec!["tenants", "test", "tenant-2"],
        vec!["streams", "list"],
        vec!["streams", "list", "--remote"],
        vec!["incidents", "list"],
        vec!["incidents", "show", &incident_id],
        vec!["incidents", "show", &incident_id, "--json"],
        vec!["audit"],
        vec!["audit", "--json"],
        vec!["sinks", "status"],
        vec!["dead-letters"],
        vec!["event-types", "--tenant", "tenant-2"],
        vec!["events", "--tenant", "tenant-2", "--limit", "3", "--json"],
        vec!["events", "--tenant", "tenant-3", "--limit", "3"],
    ];
    for args in &commands {
        let out = env.cli(args, None);
        captured.add_output(&args.join(" "), &out);
    }
    let out = env.cli(&["tenants", "list"], None);
    assert!(
        text(&out).contains("tenant-2"),
        "the CLI ran: {}",
        text(&out)
    );

    // What the sinks delivered.
    captured.add_file(&env.dir.path().join("events.jsonl"));
    captured.add(
        "HEC receiver",
        serde_json::to_vec(&hec.events()).expect("json"),
    );
    captured.add(
        "Elasticsearch receiver",
        serde_json::to_vec(&es.docs(DS)).expect("json"),
    );
    captured.add(
        "Sentinel receiver",
        serde_json::to_vec(&sentinel.rows(sentinel::CONNECTOR_STREAM)).expect("json"),
    );
    captured.add("webhook receiver", hook_bodies.lock().unwrap().join("\n"));
    {
        let pool = crate::support::pg().await;
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT t::text FROM \"{pg_table}\" t"
        )))
        .fetch_all(&pool)
        .await
        .expect("PostgreSQL sink table");
        assert!(!rows.is_empty(), "the PostgreSQL sink delivered");
        captured.add("PostgreSQL sink table", rows.join("\n"));
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP TABLE IF EXISTS \"{pg_table}\""
        )))
        .execute(&pool)
        .await
        .expect("table dropped");
        pool.close().await;
    }
    // The store, byte for byte.
    for suffix in ["", "-wal", "-shm"] {
        captured.add_file(&env.dir.path().join(format!("sebridge.db{suffix}")));
    }
    assert!(
        captured.0.keys().any(|k| k.ends_with("sebridge.db")),
        "the store was read"
    );

    // Every secret of the run, including those only issued during it.
    let master_key = std::fs::read_to_string(env.dir.path().join("sebridge.key"))
        .expect("key file")
        .trim()
        .to_string();
    let mut secrets: Vec<(String, String)> = vec![
        ("tenant-1 API key".into(), t1.api_key.clone()),
        ("tenant-2 API key (registry)".into(), t2.api_key.clone()),
        ("tenant-3 wrong API key".into(), wrong_key.clone()),
        (
            "tenant-1 Basic".into(),
            b64(&format!("{}:{}", t1.client_id, t1.api_key)),
        ),
        (
            "tenant-2 Basic".into(),
            b64(&format!("{}:{}", t2.client_id, t2.api_key)),
        ),
        (
            "tenant-3 Basic".into(),
            b64(&format!("{}:{wrong_key}", t3.client_id)),
        ),
        ("master key".into(), master_key),
        ("AMQP password".into(), amqp_password),
        (
            "ServiceNow password".into(),
            integrations.servicenow.password.clone(),
        ),
        (
            "ServiceNow client secret".into(),
            integrations.servicenow.oauth_client_secret.clone(),
        ),
        (
            "ServiceNow Basic".into(),
            b64(&format!(
                "{}:{}",
                integrations.servicenow.username, integrations.servicenow.password
            )),
        ),
        (
            "XDR client password".into(),
            integrations.xdr.client_password.clone(),
        ),
        (
            "XDR Basic".into(),
            b64(&format!(
                "{}:{}",
                integrations.xdr.client_id, integrations.xdr.client_password
            )),
        ),
        ("ServiceNow webhook HMAC secret".into(), hook_secret),
        ("ServiceNow webhook bearer token".into(), hook_bearer),
        ("a wrong webhook bearer token".into(), wrong_bearer),
        ("HEC token".into(), hec.token().to_string()),
        ("Elasticsearch API key".into(), es_key),
        (
            "Sentinel client secret".into(),
            sentinel.config().client_secret.clone(),
        ),
        ("webhook sink secret".into(), sink_secret),
        ("PostgreSQL sink password".into(), pg_password),
    ];
    let snow_tokens = env.sim.snow_issued_tokens();
    let xdr_tokens = env.sim.xdr_issued_tokens();
    assert!(!snow_tokens.is_empty(), "ServiceNow was used over OAuth");
    assert!(!xdr_tokens.is_empty(), "XDR issued a token");
    for t in snow_tokens {
        secrets.push(("a ServiceNow OAuth token".into(), t));
    }
    for t in xdr_tokens {
        secrets.push(("an XDR access token".into(), t));
    }
    let sentinel_tokens = sentinel.issued_tokens();
    assert!(!sentinel_tokens.is_empty(), "Entra ID issued a token");
    for t in sentinel_tokens {
        secrets.push(("a Sentinel (Entra ID) access token".into(), t));
    }
    for (what, s) in &secrets {
        assert!(s.len() >= 16, "{what} is too short to search for: {s:?}");
    }

    // The search itself works: the config file (not a capture) holds these in clear.
    let cfg_bytes = std::fs::read(&env.cfg).expect("config");
    for (what, secret) in &secrets {
        if what.contains("sink") || what.contains("webhook HMAC") || what.contains("Elastic") {
            assert!(
                memchr::memmem::find(&cfg_bytes, secret.as_bytes()).is_some(),
                "the search does not find {what} in the config file"
            );
        }
    }

    let mut leaks = Vec::new();
    for (source, bytes) in &captured.0 {
        for (what, secret) in &secrets {
            if let Some(at) = memchr::memmem::find(bytes, secret.as_bytes()) {
                let from = at.saturating_sub(120);
                let to = (at + secret.len() + 60).min(bytes.len());
                let context =
                    String::from_utf8_lossy(&bytes[from..to]).replace(secret.as_str(), "<SECRET>");
                leaks.push(format!("{what} in {source}: …{context}…"));
            }
        }
    }
    let total: usize = captured.0.values().map(Vec::len).sum();
    assert!(
        leaks.is_empty(),
        "{} secret(s) found in what sebridge shows or stores:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
    for (source, bytes) in &captured.0 {
        eprintln!("{:>9} bytes  {source}", bytes.len());
    }
    eprintln!(
        "searched {} secrets in {} captures ({total} bytes): none found",
        secrets.len(),
        captured.0.len()
    );
    hec.shutdown().await;
    es.shutdown().await;
    env.sim.shutdown().await;
}

/// The AMQP password the API gave `streams create` (shown once), read back from the store
/// with the master key, as the stream source does.
async fn stream_password(env: &Env) -> String {
    let text = std::fs::read_to_string(&env.cfg).expect("config");
    let vars = env.vars.clone();
    let config = sebridge::config::Config::from_str_with_env(&text, &env.cfg, &|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap_or_else(|e| panic!("config: {e}"));
    let store = sebridge::topology::open_store(&config)
        .await
        .expect("store");
    let streams =
        sebridge::sources::stream::credentials::resolve(&config, &store, Some("tenant-1"))
            .await
            .expect("stored streams");
    store.close().await;
    let s = streams
        .iter()
        .find(|s| s.name == "siem")
        .expect("the stream");
    let password = s.credentials.password.expose_secret().to_string();
    assert!(
        !s.credentials.user_name.contains(&password),
        "a password of its own"
    );
    password
}
