//! Helpers for the sink tests: a journal filled with the real vendor fixtures, a runner that
//! drives one sink until it has delivered everything, and a switchable TCP proxy to take a
//! real service "down" and back.
#![allow(dead_code)]

use sebridge::sinks::{run_sink, Sink, SinkOptions};
use sebridge::status::StatusBoard;
use sebridge::store::Store;
use secure_endpoint::Event;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// Every vendor event in shared/fixtures/secure-endpoint (objects with an event_type_id and
/// a time), as JSON values.
pub fn fixture_events() -> Vec<Value> {
    let dir = fixtures().join("secure-endpoint");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("fixture");
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let candidates: Vec<Value> = match v.get("data") {
            Some(Value::Object(_)) => vec![v["data"].clone()],
            Some(Value::Array(items)) => items.clone(),
            _ => vec![v.clone()],
        };
        for c in candidates {
            if c.get("event_type_id").is_some() && Event::from_json(&c.to_string()).is_ok() {
                out.push(c);
            }
        }
    }
    assert!(
        out.len() >= 15,
        "expected the vendor fixtures, found {}",
        out.len()
    );
    out
}

/// `n` events cycling through the fixtures, each with a unique id.
pub fn events(n: usize, id_base: u64) -> Vec<Event> {
    let base = fixture_events();
    (0..n)
        .map(|i| {
            let mut v = base[i % base.len()].clone();
            v["id"] = Value::from(id_base + i as u64);
            Event::from_json(&v.to_string()).expect("fixture event")
        })
        .collect()
}

/// A journal in `dir` holding `events`, split over the given tenants round-robin.
pub async fn journal(dir: &std::path::Path, events: &[Event], tenants: &[&str]) -> Store {
    let store = Store::open_sqlite(&dir.join("journal.db"))
        .await
        .expect("store opens");
    for (i, chunk) in events.chunks(100).enumerate() {
        let tenant = tenants[i % tenants.len()];
        store
            .append(tenant, "poll", chunk, None)
            .await
            .expect("append");
    }
    store
}

/// A sink running in the background.
pub struct Running {
    pub name: String,
    pub status: StatusBoard,
    pub token: CancellationToken,
    pub task: JoinHandle<()>,
}

pub fn spawn<S: Sink>(
    name: &str,
    sink: S,
    opts: SinkOptions,
    store: &Store,
    status: &StatusBoard,
) -> Running {
    let token = CancellationToken::new();
    let (n, st, tk, store) = (
        name.to_string(),
        status.clone(),
        token.clone(),
        store.clone(),
    );
    let task = tokio::spawn(async move {
        run_sink(n, sink, opts, store, st, tk)
            .await
            .expect("sink runs");
    });
    Running {
        name: name.to_string(),
        status: status.clone(),
        token,
        task,
    }
}

impl Running {
    pub fn position(&self) -> i64 {
        self.status
            .snapshot(0)
            .sinks
            .iter()
            .find(|s| s.sink == self.name)
            .map_or(-1, |s| s.position)
    }

    pub fn sink_status(&self) -> sebridge::status::SinkStatus {
        self.status
            .snapshot(0)
            .sinks
            .into_iter()
            .find(|s| s.sink == self.name)
            .unwrap_or_else(|| {
                // Not registered yet (the task is starting): nothing happened so far.
                let board = StatusBoard::default();
                board.register_sink(&self.name, "starting", -1);
                board.snapshot(0).sinks.remove(0)
            })
    }

    /// Waits until the sink's committed position reaches `head`.
    pub async fn until(&self, head: i64, limit: Duration) {
        let start = Instant::now();
        while self.position() < head {
            assert!(
                start.elapsed() < limit,
                "sink {} at {} of {head} after {limit:?}: {:?}",
                self.name,
                self.position(),
                self.sink_status()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn stop(self) {
        self.token.cancel();
        let _ = self.task.await;
    }
}

/// Runs a sink until it has committed everything in the journal, then stops it.
pub async fn deliver_all<S: Sink>(
    name: &str,
    sink: S,
    opts: SinkOptions,
    store: &Store,
) -> StatusBoard {
    let status = StatusBoard::default();
    let r = spawn(name, sink, opts, store, &status);
    r.until(store.head(), Duration::from_secs(60)).await;
    r.stop().await;
    status
}

/// Polls `f` until true or `limit`.
pub async fn eventually(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A TCP forwarder on loopback that can be switched off (connections refused and cut) and
/// on again: a real service going down and coming back, as the sink sees it.
pub struct Proxy {
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    cut: tokio::sync::watch::Sender<u64>,
    task: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("proxy binds");
        let addr = listener.local_addr().expect("addr");
        let up = Arc::new(AtomicBool::new(true));
        let (cut, _) = tokio::sync::watch::channel(0u64);
        let (up2, cut2) = (up.clone(), cut.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let mut cut_rx = cut2.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut_rx.changed() => {}
                    }
                });
            }
        });
        Proxy {
            addr,
            up,
            cut,
            task,
        }
    }

    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
        if !up {
            self.cut.send_modify(|n| *n += 1);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn pg_url() -> String {
    std::env::var("SEBRIDGE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A connection to the test database, or a clear failure.
pub async fn pg() -> sqlx::PgPool {
    let url = pg_url();
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&url)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is required for this test and is not reachable at {url} ({e}); \
                 run scripts/test, which starts it, or set SEBRIDGE_TEST_POSTGRES_URL"
            )
        })
}

/// A unique lowercase name for tables/schemas of one test.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}_{}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{nanos:x}")
}

/// A schema name no other test (or test run) uses.
pub fn pg_schema(what: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "it_{what}_{}_{nanos}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Drops a test's schema and everything in it.
pub async fn pg_drop_schema(schema: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&pg_url())
        .await
        .expect("PostgreSQL is up");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
    )))
    .execute(&mut conn)
    .await
    .expect("schema dropped");
    let _ = conn.close().await;
}
