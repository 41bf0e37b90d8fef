//! Broker outages and TLS, against a RabbitMQ node this test starts for itself (own node
//! name, ports, data directory, Erlang cookie, certificates from a CA made here), so that
//! `close_all_connections` and `stop_app` never touch the shared broker other tests use.
//! Scenarios run one after another (this binary has its own harness, `harness = false`); the
//! node is stopped and its directory removed at the end, pass or fail.
//!
//! Needs the RabbitMQ server package (`scripts/test` installs it) and `openssl`, and root
//! (or the right to run `rabbitmq-server`).

mod pki;
mod stream_common;

use sebridge::status::TenantState;
use sebridge::topology::Topology;
use simulator::{AmqpConfig, SimHandle, StreamUsers};
use std::future::Future;
use std::net::TcpListener;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};
use stream_common::*;

const LIMIT: Duration = Duration::from_secs(90);

/// A RabbitMQ node of our own with a plain and a TLS listener.
struct Node {
    dir: tempfile::TempDir,
    name: String,
    tcp: u16,
    tls: u16,
    server: Child,
}

fn tool(name: &str) -> PathBuf {
    // The Debian wrappers in /usr/sbin switch to the rabbitmq user (and its HOME, hence its
    // cookie); the scripts behind them run as we are.
    let lib = Path::new("/usr/lib/rabbitmq/bin").join(name);
    if lib.exists() {
        lib
    } else {
        PathBuf::from(name)
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A CA and a server certificate for DNS:localhost only (so 127.0.0.1 is a wrong name), and
/// an unrelated CA.
fn make_certs(dir: &Path) {
    pki::ca_and_server(dir, "sebridge test CA", "DNS:localhost", pki::Key::Rsa);
    pki::ca(dir, "other-ca", "some other CA", pki::Key::Rsa);
}

impl Node {
    fn start() -> Result<Node, String> {
        let mut last = String::new();
        // A port picked free can be taken before the node binds it: try a few times.
        for _ in 0..3 {
            match Self::try_start() {
                Ok(n) => return Ok(n),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn try_start() -> Result<Node, String> {
        let dir = tempfile::Builder::new()
            .prefix("sebridge-rabbit-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let d = dir.path();
        make_certs(d);
        for sub in ["home", "mnesia", "log"] {
            std::fs::create_dir_all(d.join(sub)).map_err(|e| e.to_string())?;
        }
        let (tcp, tls, dist) = (free_port(), free_port(), free_port());
        let conf = format!(
            "listeners.tcp.default = 127.0.0.1:{tcp}\nlisteners.ssl.default = 127.0.0.1:{tls}\n\
             ssl_options.cacertfile = {ca}\nssl_options.certfile = {cert}\nssl_options.keyfile = {key}\n\
             ssl_options.verify = verify_none\nssl_options.fail_if_no_peer_cert = false\n\
             heartbeat = 5\n",
            ca = d.join("ca.pem").display(),
            cert = d.join("server.pem").display(),
            key = d.join("server.key").display(),
        );
        std::fs::write(d.join("rabbitmq.conf"), conf).map_err(|e| e.to_string())?;
        std::fs::write(d.join("enabled_plugins"), "[].\n").map_err(|e| e.to_string())?;
        let name = format!("sebridge-test-{}-{tcp}@localhost", std::process::id());
        let log = std::fs::File::create(d.join("server.out")).map_err(|e| e.to_string())?;
        let server = Command::new(tool("rabbitmq-server"))
            .env("HOME", d.join("home"))
            .env("RABBITMQ_NODENAME", &name)
            .env("RABBITMQ_DIST_PORT", dist.to_string())
            .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq.conf"))
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("enabled_plugins"))
            .env("RABBITMQ_PID_FILE", d.join("pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start rabbitmq-server (is RabbitMQ installed?): {e}"))?;
        let node = Node {
            dir,
            name,
            tcp,
            tls,
            server,
        };
        let pid = node.dir.path().join("pid");
        let waited = node.ctl(&["wait", pid.to_str().unwrap_or_default(), "--timeout", "60"]);
        if let Err(e) = waited {
            let out =
                std::fs::read_to_string(node.dir.path().join("server.out")).unwrap_or_default();
            let tail: String = out.lines().rev().take(15).collect::<Vec<_>>().join("\n");
            return Err(format!("the test RabbitMQ node did not start: {e}\n{tail}"));
        }
        Ok(node)
    }

    fn ctl(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(tool("rabbitmqctl"))
            .env("HOME", self.dir.path().join("home"))
            .args(["-n", &self.name])
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "rabbitmqctl {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.tcp)
    }

    fn users(&self) -> StreamUsers {
        StreamUsers::Rabbitmqctl {
            program: tool("rabbitmqctl"),
            node: Some(self.name.clone()),
            home: Some(self.dir.path().join("home")),
        }
    }

    /// Streams handed out as plain AMQP on the node's TCP port.
    fn plain(&self) -> AmqpConfig {
        AmqpConfig {
            users: self.users(),
            ..AmqpConfig::local(self.url())
        }
    }

    /// Streams handed out as the real service does: `proto = "https"` on the TLS port.
    fn tls(&self, host: &str) -> AmqpConfig {
        AmqpConfig {
            host: Some(host.into()),
            port: Some(self.tls.to_string()),
            proto: "https".into(),
            users: self.users(),
            ..AmqpConfig::local(self.url())
        }
    }

    fn ca(&self, which: &str) -> PathBuf {
        self.dir.path().join(which)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.ctl(&["stop"]);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.server.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// Publishes `n` events for tenant-1 in rounds while `during` runs in between.
async fn generate(sim: &SimHandle, rounds: usize, per_round: usize) {
    for _ in 0..rounds {
        sim.generate_events("tenant-1", per_round, None).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_state(
    topology: &Topology,
    what: &str,
    f: impl Fn(&sebridge::status::TenantStatus) -> bool,
) -> sebridge::status::TenantStatus {
    stream_common::wait_state(topology, what, LIMIT, f).await
}

/// An outage is no deletion: the stream is not reported deleted, and the API was asked about
/// it a few times at most (a failure that looks like a deletion, such as a login refused while
/// the broker starts, is checked at most once per backoff period).
fn assert_not_taken_for_deleted(sim: &SimHandle, topology: &Topology) {
    let snap = topology.status.snapshot(0);
    for t in &snap.tenants {
        let err = t.last_error.as_deref().unwrap_or_default();
        assert!(!err.contains("was deleted"), "{t:?}");
    }
    let stats = sim.stats();
    let asked = stats
        .tenant("tenant-1")
        .map_or(0, |t| t.by_path["event_streams"]);
    // The creation, and a few questions.
    assert!(asked <= 4, "{asked} event stream calls");
}

async fn connections_closed_mid_stream_resume_without_loss(node: &Node) {
    let sim = sim(1, node.plain()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(&sim, dir.path(), STREAM_SOURCE);
    create_stream(&config, "tenant-1", "siem").await;
    let topology = Topology::start(&config, None).await.unwrap();
    wait_state(&topology, "connected", |t| {
        t.connection
            .as_deref()
            .is_some_and(|c| c.starts_with("connected"))
    })
    .await;
    let gen = generate(&sim, 40, 50);
    let disrupt = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        node.ctl(&[
            "close_all_connections",
            "sebridge test: connections closed mid-stream",
        ])
        .expect("close_all_connections");
    };
    tokio::join!(gen, disrupt);
    assert!(
        sim.flush_streams(LIMIT).await,
        "the simulator republished after the drop"
    );
    wait_lines(&sink_path(&config), 2000, LIMIT).await;
    let t = wait_state(&topology, "reconnected", |t| {
        t.connection
            .as_deref()
            .is_some_and(|c| c.starts_with("connected"))
    })
    .await;
    assert!(t.errors >= 1, "the drop was seen and survived: {t:?}");
    assert_not_taken_for_deleted(&sim, &topology);
    topology.stop().await;
    assert_exactly_once(&sim, &sink_path(&config), &["tenant-1"]);
    sim.shutdown().await;
}

async fn broker_stopped_and_started_resume_without_loss(node: &Node) {
    let sim = sim(1, node.plain()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(&sim, dir.path(), STREAM_SOURCE);
    create_stream(&config, "tenant-1", "siem").await;
    let topology = Topology::start(&config, None).await.unwrap();
    wait_state(&topology, "connected", |t| {
        t.connection
            .as_deref()
            .is_some_and(|c| c.starts_with("connected"))
    })
    .await;
    generate(&sim, 10, 50).await;
    node.ctl(&["stop_app"]).expect("stop_app");
    // Events keep happening while the broker is down: the simulator holds them.
    let down = wait_state(&topology, "disconnected", |t| {
        t.state == TenantState::Backoff
    })
    .await;
    assert!(down.last_error.is_some());
    generate(&sim, 10, 50).await;
    node.ctl(&["start_app"]).expect("start_app");
    generate(&sim, 10, 50).await;
    assert!(
        sim.flush_streams(LIMIT).await,
        "the simulator published after the restart"
    );
    wait_lines(&sink_path(&config), 1500, LIMIT).await;
    assert_not_taken_for_deleted(&sim, &topology);
    topology.stop().await;
    assert_exactly_once(&sim, &sink_path(&config), &["tenant-1"]);
    sim.shutdown().await;
}

fn tls_source(ca: &Path) -> String {
    format!("{STREAM_SOURCE}ca_file = {:?}\n", ca)
}

async fn tls_with_the_matching_ca_connects_and_delivers(node: &Node) {
    let sim = sim(1, node.tls("localhost")).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(&sim, dir.path(), &tls_source(&node.ca("ca.pem")));
    let s = create_stream(&config, "tenant-1", "siem").await;
    assert_eq!(s.credentials.proto, "https");
    let topology = Topology::start(&config, None).await.unwrap();
    let t = wait_state(&topology, "connected over TLS", |t| {
        t.connection
            .as_deref()
            .is_some_and(|c| c.starts_with("connected"))
    })
    .await;
    let expected = format!("connected to amqps://localhost:{}", node.tls);
    assert!(
        t.connection
            .as_deref()
            .unwrap_or_default()
            .starts_with(&expected),
        "{t:?}"
    );
    sim.generate_events("tenant-1", 200, None).unwrap();
    assert!(sim.flush_streams(LIMIT).await);
    wait_lines(&sink_path(&config), 200, LIMIT).await;
    topology.stop().await;
    assert_exactly_once(&sim, &sink_path(&config), &["tenant-1"]);
    sim.shutdown().await;
}

async fn refused_tls(node: &Node, host: &str, ca: &str) -> String {
    let sim = sim(1, node.tls(host)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(&sim, dir.path(), &tls_source(&node.ca(ca)));
    create_stream(&config, "tenant-1", "siem").await;
    let topology = Topology::start(&config, None).await.unwrap();
    let t = wait_state(&topology, "failed", |t| t.state == TenantState::Failed).await;
    topology.stop().await;
    sim.shutdown().await;
    t.last_error.unwrap_or_default()
}

async fn tls_with_a_wrong_ca_is_refused_with_a_clear_error(node: &Node) {
    let err = refused_tls(node, "localhost", "other-ca.pem").await;
    assert!(
        err.contains(&format!("TLS with amqps://localhost:{} failed", node.tls)),
        "{err}"
    );
    assert!(err.contains("not signed by a trusted CA"), "{err}");
}

async fn tls_with_a_wrong_hostname_is_refused_with_a_clear_error(node: &Node) {
    // The certificate names only "localhost".
    let err = refused_tls(node, "127.0.0.1", "ca.pem").await;
    assert!(
        err.contains(&format!("TLS with amqps://127.0.0.1:{} failed", node.tls)),
        "{err}"
    );
    assert!(err.contains("not valid for this host name"), "{err}");
}

type Scenario = for<'a> fn(&'a Node) -> Pin<Box<dyn Future<Output = ()> + 'a>>;

macro_rules! scenario {
    ($f:ident) => {
        (stringify!($f), (|n| Box::pin($f(n))) as Scenario)
    };
}

fn main() -> ExitCode {
    let scenarios: Vec<(&str, Scenario)> = vec![
        scenario!(tls_with_the_matching_ca_connects_and_delivers),
        scenario!(tls_with_a_wrong_ca_is_refused_with_a_clear_error),
        scenario!(tls_with_a_wrong_hostname_is_refused_with_a_clear_error),
        scenario!(connections_closed_mid_stream_resume_without_loss),
        scenario!(broker_stopped_and_started_resume_without_loss),
    ];
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in &scenarios {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    let filter: Option<&String> = args.iter().find(|a| !a.starts_with('-'));
    let selected: Vec<_> = scenarios
        .into_iter()
        .filter(|(n, _)| filter.is_none_or(|f| n.contains(f.as_str())))
        .collect();
    println!("\nrunning {} tests", selected.len());
    if selected.is_empty() {
        println!("\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n");
        return ExitCode::SUCCESS;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let started = Instant::now();
    let node = match Node::start() {
        Ok(n) => n,
        Err(e) => {
            println!("test broker_node ... FAILED\n\n{e}\n");
            println!(
                "test result: FAILED. 0 passed; {} failed; 0 ignored; 0 measured; 0 filtered out\n",
                selected.len()
            );
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(require_broker(&node.url()));
    let (mut passed, mut failed) = (0, Vec::new());
    for (name, f) in selected {
        let t0 = Instant::now();
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| runtime.block_on(f(&node))));
        match result {
            Ok(()) => {
                passed += 1;
                println!("test {name} ... ok ({:.1}s)", t0.elapsed().as_secs_f64());
            }
            Err(_) => {
                failed.push(name);
                println!("test {name} ... FAILED");
            }
        }
    }
    drop(runtime);
    drop(node);
    if failed.is_empty() {
        println!("\ntest result: ok. {passed} passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in {:.2}s\n", started.elapsed().as_secs_f64());
        ExitCode::SUCCESS
    } else {
        println!("\nfailures:\n    {}", failed.join("\n    "));
        println!("\ntest result: FAILED. {passed} passed; {} failed; 0 ignored; 0 measured; 0 filtered out; finished in {:.2}s\n", failed.len(), started.elapsed().as_secs_f64());
        ExitCode::FAILURE
    }
}
