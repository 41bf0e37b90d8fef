//! A stream deleted in Secure Endpoint while `run` consumes it is reported once (log line,
//! `/status`), not retried with its revoked credentials, and its tenant's events keep coming
//! from a poll source that reads the tenant. A broker closing the connection for any other
//! reason is no such verdict (the API is not even asked). Real RabbitMQ, simulator API.

use crate::stream_common::*;
use sebridge::status::TenantState;
use sebridge::topology::Topology;
use serde_json::Value;
use simulator::{AmqpConfig, SimHandle};
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);
const DELETED: &str = "was deleted in Secure Endpoint";

/// `sebridge run` with JSON logs collected as they come; SIGTERM on drop.
struct Run {
    child: Child,
    logs: Arc<Mutex<Vec<Value>>>,
    base: String,
}

impl Run {
    fn start(config: &sebridge::config::Config) -> Run {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut child = Command::new(env!("CARGO_BIN_EXE_sebridge"))
            .env_remove("SEBRIDGE_MASTER_KEY")
            .env_remove(sebridge::sources::stream::FAILPOINT_ENV)
            .env("SEBRIDGE_LOG", "info,lapin=off")
            .env("SEBRIDGE_LOG_FORMAT", "json")
            .args(["run", "--listen", &format!("127.0.0.1:{port}"), "-c"])
            .arg(&config.path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sebridge run starts");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // The run report after SIGTERM is plain text; only log lines are JSON.
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    sink.lock().unwrap().push(v);
                }
            }
        });
        Run {
            child,
            logs,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The `/status` entry of `tenant`'s stream, once `f` holds for it.
    async fn wait_stream(&self, tenant: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let status: Option<Value> = match reqwest::get(format!("{}/status", self.base)).await {
                Ok(r) => r.json().await.ok(),
                Err(_) => None,
            };
            let found = status.as_ref().and_then(|s| {
                s["tenants"]
                    .as_array()?
                    .iter()
                    .find(|t| t["tenant"] == tenant && t["source"] == "push:siem" && f(t))
            });
            if let Some(t) = found {
                return t.clone();
            }
            assert!(
                start.elapsed() < LIMIT,
                "{tenant}: no {what} after {LIMIT:?}: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Log lines of `tenant` whose message contains `text`.
    fn lines(&self, tenant: &str, text: &str) -> Vec<Value> {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l["fields"]["tenant"] == tenant)
            .filter(|l| l["fields"]["message"].as_str().unwrap_or("").contains(text))
            .cloned()
            .collect()
    }

    fn all_logs(&self) -> String {
        let logs = self.logs.lock().unwrap();
        logs.iter().map(|l| format!("{l}\n")).collect()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn connected(t: &Value) -> bool {
    t["connection"]
        .as_str()
        .is_some_and(|c| c.starts_with("connected"))
}

fn sink_count(config: &sebridge::config::Config, tenant: &str) -> usize {
    lines(&sink_path(config))
        .iter()
        .filter(|(t, _)| t == tenant)
        .count()
}

async fn wait_sink(config: &sebridge::config::Config, tenant: &str, n: usize) {
    let start = Instant::now();
    while sink_count(config, tenant) < n {
        assert!(
            start.elapsed() < LIMIT,
            "{tenant}: {} of {n} events in the sink",
            sink_count(config, tenant)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn generate(sim: &SimHandle, tenant: &str, n: usize) {
    sim.generate_events(tenant, n, None).unwrap();
    assert!(sim.flush_streams(LIMIT).await);
}

/// tenant-1 is read by poll too, tenant-2 only by its stream; both streams are deleted
/// through the API while `run` consumes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_deleted_while_consumed_is_reported_once_and_poll_keeps_its_tenant() {
    let sim = sim(2, AmqpConfig::local(amqp_url())).await;
    let dir = tempfile::tempdir().unwrap();
    let sources = format!(
        "{STREAM_SOURCE}\n[sources.poll]\ntype = \"poll\"\ntenants = [\"tenant-1\"]\n\
         interval = \"200ms\"\nlookback = \"1h\"\n"
    );
    let config = config(&sim, dir.path(), &sources);
    // One after the other: the first creates the master key file.
    let s1 = create_stream(&config, "tenant-1", "siem").await;
    let s2 = create_stream(&config, "tenant-2", "siem").await;
    let run = Run::start(&config);
    run.wait_stream("tenant-1", "connection", connected).await;
    run.wait_stream("tenant-2", "connection", connected).await;
    tokio::join!(
        generate(&sim, "tenant-1", 40),
        generate(&sim, "tenant-2", 40)
    );
    wait_sink(&config, "tenant-1", 40).await;
    wait_sink(&config, "tenant-2", 40).await;

    let (api1, api2) = tokio::join!(
        tenant_api(&config, "tenant-1"),
        tenant_api(&config, "tenant-2")
    );
    let (d1, d2) = tokio::join!(
        api1.delete_event_stream(s1.stream_id),
        api2.delete_event_stream(s2.stream_id)
    );
    d1.unwrap();
    d2.unwrap();
    let is_deleted = |t: &Value| {
        t["state"] == "failed"
            && t["last_error"]
                .as_str()
                .is_some_and(|e| e.contains(DELETED))
    };
    let t1 = run.wait_stream("tenant-1", "verdict", is_deleted).await;
    let t2 = run.wait_stream("tenant-2", "verdict", is_deleted).await;
    let verdict_at = Instant::now();
    let e1 = t1["last_error"].as_str().unwrap_or_default();
    assert!(
        e1.starts_with(&format!(
            "event stream siem (id {}) of tenant tenant-1 was deleted in Secure Endpoint; \
             its stored credentials no longer work",
            s1.stream_id
        )),
        "{e1}"
    );
    assert!(
        e1.contains("its events still come from poll source `poll`"),
        "{e1}"
    );
    assert!(
        e1.contains("`sebridge streams delete --tenant tenant-1 --name siem`")
            && e1.contains("`sebridge streams create --tenant tenant-1 --name siem`"),
        "{e1}"
    );
    let e2 = t2["last_error"].as_str().unwrap_or_default();
    assert!(
        e2.contains("no poll source reads tenant tenant-2: its new events are not read until a stream is created or a poll source added"),
        "{e2}"
    );
    assert!(
        t1["connection"]
            .as_str()
            .is_some_and(|c| c.contains("deleted")),
        "{t1}"
    );

    // New events of tenant-1 arrive by poll; tenant-2's wait for a stream.
    tokio::join!(
        generate(&sim, "tenant-1", 25),
        generate(&sim, "tenant-2", 25)
    );
    wait_sink(&config, "tenant-1", 65).await;
    // Longer than `max_backoff` (2s) after the verdict: a retry loop would show by now.
    let quiet = Duration::from_secs(3);
    tokio::time::sleep(quiet.saturating_sub(verdict_at.elapsed())).await;
    assert_eq!(sink_count(&config, "tenant-2"), 40);
    for (tenant, s) in [("tenant-1", &s1), ("tenant-2", &s2)] {
        let verdicts = run.lines(tenant, DELETED);
        assert_eq!(verdicts.len(), 1, "{tenant}: {}", run.all_logs());
        assert_eq!(verdicts[0]["level"], "ERROR");
        assert_eq!(verdicts[0]["fields"]["stream_id"], s.stream_id);
        // Nothing after the verdict: no reconnection, no refused login, no second verdict.
        let logs = run.logs.lock().unwrap().clone();
        let at = logs
            .iter()
            .position(|l| l == &verdicts[0])
            .unwrap_or_default();
        let after: Vec<&Value> = logs[at + 1..]
            .iter()
            .filter(|l| l["fields"]["tenant"] == tenant && l["fields"]["stream"] == "siem")
            .collect();
        assert!(after.is_empty(), "{tenant} after the verdict: {after:?}");
    }
    // The stored credentials are kept (for `sebridge streams delete`), and no password leaked.
    let store = sebridge::store::Store::open_sqlite(&config_store_path(&config))
        .await
        .unwrap();
    assert_eq!(store.streams(None).await.unwrap().len(), 2);
    store.close().await;
    let logs = run.all_logs();
    for s in [&s1, &s2] {
        use secure_endpoint::ExposeSecret as _;
        assert!(!logs.contains(s.credentials.password.expose_secret()));
    }
    drop(run);
    sim.shutdown().await;
}

/// The consumer's connection closed by the broker (not a deletion): it reconnects, and the
/// API is not asked about the stream (the one call is the creation).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_closed_by_the_broker_is_no_deletion_verdict() {
    let sim = sim(1, AmqpConfig::local(amqp_url())).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(&sim, dir.path(), STREAM_SOURCE);
    let s = create_stream(&config, "tenant-1", "siem").await;
    let topology = Topology::start(&config, None).await.unwrap();
    let connected = |t: &sebridge::status::TenantStatus| {
        t.connection
            .as_deref()
            .is_some_and(|c| c.starts_with("connected"))
    };
    wait_state(&topology, "connected", LIMIT, connected).await;
    // Only this consumer's connection (its own broker user): the broker is shared.
    let closed = close_connections_of(&s.credentials.user_name);
    assert!(closed >= 1, "no connection of the stream's user to close");
    let reconnected = |t: &sebridge::status::TenantStatus| t.errors >= 1 && connected(t);
    wait_state(&topology, "reconnected", LIMIT, reconnected).await;
    generate(&sim, "tenant-1", 20).await;
    wait_lines(&sink_path(&config), 20, LIMIT).await;
    let t = wait_state(&topology, "the stream's status", LIMIT, |_| true).await;
    assert_ne!(t.state, TenantState::Failed, "{t:?}");
    assert!(
        !t.last_error
            .as_deref()
            .unwrap_or_default()
            .contains(DELETED),
        "{t:?}"
    );
    let stats = sim.stats();
    let calls = stats.tenant("tenant-1").unwrap().by_path["event_streams"];
    assert_eq!(calls, 1, "only the creation: the API was not asked");
    topology.stop().await;
    sim.shutdown().await;
}

/// Closes every broker connection of `user` (`rabbitmqctl close_connection`); how many.
fn close_connections_of(user: &str) -> usize {
    let out = Command::new("rabbitmqctl")
        .args(["-q", "list_connections", "pid", "user"])
        .output()
        .expect("rabbitmqctl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let pids: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(_, u)| u.trim() == user)
        .map(|(pid, _)| pid.trim())
        .collect();
    for pid in &pids {
        let out = Command::new("rabbitmqctl")
            .args([
                "close_connection",
                pid,
                "sebridge test: closed by the broker",
            ])
            .output()
            .expect("rabbitmqctl runs");
        assert!(out.status.success(), "{out:?}");
    }
    pids.len()
}

/// `sebridge tail` on a stream deleted under it ends with the verdict (exit 1), instead of
/// reconnecting with revoked credentials until Ctrl-C.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_ends_with_the_verdict_when_its_stream_is_deleted() {
    let sim = sim(1, AmqpConfig::local(amqp_url())).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(&sim, dir.path(), STREAM_SOURCE);
    let s1 = create_stream(&config, "tenant-1", "siem").await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_sebridge"))
        .env_remove("SEBRIDGE_MASTER_KEY")
        .env("SEBRIDGE_LOG", "off")
        .args(["tail", "--tenant", "tenant-1", "-c"])
        .arg(&config.path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tail starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("connected to") {
                let _ = tx.send(None);
            }
            all.push_str(&line);
            all.push('\n');
        }
        let _ = tx.send(Some(all));
    });
    assert_eq!(rx.recv_timeout(LIMIT).expect("tail connects"), None);
    tenant_api(&config, "tenant-1")
        .await
        .delete_event_stream(s1.stream_id)
        .await
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("tail kept going after its stream was deleted");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let all = loop {
        if let Some(all) = rx.recv_timeout(LIMIT).expect("stderr ends") {
            break all;
        }
    };
    assert_eq!(status.code(), Some(1), "{all}");
    assert_eq!(
        all.matches(DELETED).count(),
        2,
        "the disconnect line and the final error: {all}"
    );
    sim.shutdown().await;
}
