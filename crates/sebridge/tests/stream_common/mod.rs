//! Helpers for the Event Streams tests: a simulator publishing to a real RabbitMQ, a config
//! with a stream source, streams created through the API and stored encrypted.
#![allow(dead_code)]

use futures::StreamExt as _;
use lapin::options::{BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use sebridge::config::Config;
use sebridge::sources::stream::credentials::ResolvedStream;
use serde_json::value::RawValue;
use simulator::{AmqpConfig, SimConfig, SimHandle};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub fn amqp_url() -> String {
    std::env::var("SEBRIDGE_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// A quiet simulator (no live events) with Event Streams on `amqp`.
pub async fn sim(tenants: usize, amqp: AmqpConfig) -> SimHandle {
    let url = amqp.url.clone();
    simulator::start(SimConfig {
        tenants,
        rate: 0.0,
        history: 0,
        seed: rand::random(),
        amqp: Some(amqp),
        ..SimConfig::default()
    })
    .await
    .unwrap_or_else(|e| {
        panic!("these tests need RabbitMQ at {url} and rabbitmqctl (run as root; scripts/test readies it): {e}")
    })
}

/// Writes a config for `sim`'s tenants with the given sources (TOML tables) and a wrapped
/// file sink, and loads it.
pub fn config(sim: &SimHandle, dir: &Path, sources: &str) -> Config {
    let store = format!("[store]\npath = {:?}", dir.join("sebridge.db"));
    config_with_store(sim, dir, &store, sources)
}

/// The same, with `store` (TOML: the `[store]` table, and `[cluster]` if wanted).
pub fn config_with_store(sim: &SimHandle, dir: &Path, store: &str, sources: &str) -> Config {
    let mut text = format!(
        "{store}\n\n[secrets]\nkey_file = {:?}\n\n",
        dir.join("sebridge.key")
    );
    for t in sim.tenants() {
        text.push_str(&format!(
            "[tenants.{}]\nbase_url = {:?}\nclient_id = {:?}\napi_key = {:?}\n\n",
            t.name,
            sim.base_url(),
            t.client_id,
            t.api_key
        ));
    }
    text.push_str(sources);
    text.push_str(&format!(
        "\n[sinks.archive]\ntype = \"file\"\npath = {:?}\nwrap = true\nbatch_size = 500\n",
        dir.join("events.jsonl")
    ));
    let path = dir.join("sebridge.toml");
    std::fs::write(&path, text).expect("config written");
    Config::load(&path).unwrap_or_else(|e| panic!("test config invalid: {e}"))
}

pub const STREAM_SOURCE: &str =
    "[sources.push]\ntype = \"stream\"\nbatch_wait = \"10ms\"\nmax_backoff = \"2s\"\nconnect_timeout = \"5s\"\nheartbeat = \"5s\"\n";

/// The Secure Endpoint API client of `tenant` (as `sebridge` builds it).
pub async fn tenant_api(config: &Config, tenant: &str) -> secure_endpoint::Client {
    let store = sebridge::topology::open_store(config).await.unwrap();
    let tenants = sebridge::tenants::resolve_all(config, &store)
        .await
        .unwrap();
    store.close().await;
    let t = tenants.iter().find(|t| t.name == tenant).expect("tenant");
    let http = secure_endpoint::default_http_client(Duration::from_secs(30)).unwrap();
    sebridge::tenants::api_client(t, &http).unwrap()
}

/// Creates a stream for `tenant` through the API and stores its credentials (what
/// `sebridge streams create` does).
pub async fn create_stream(config: &Config, tenant: &str, name: &str) -> ResolvedStream {
    let client = tenant_api(config, tenant).await;
    let store = sebridge::topology::open_store(config).await.unwrap();
    let created = client
        .create_event_stream(&secure_endpoint::NewEventStream {
            name: name.into(),
            ..Default::default()
        })
        .await
        .expect("stream created")
        .data;
    sebridge::sources::stream::credentials::save_created(
        config,
        &store,
        tenant,
        &created,
        &[],
        &[],
    )
    .await
    .unwrap();
    let s = sebridge::sources::stream::credentials::resolve(config, &store, Some(tenant))
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap();
    store.close().await;
    s
}

pub fn config_store_path(config: &Config) -> PathBuf {
    match &config.store {
        sebridge::config::StoreConfig::Sqlite { path } => path.clone(),
        other => panic!("these tests run on SQLite, not {other:?}"),
    }
}

pub fn sink_path(config: &Config) -> PathBuf {
    config
        .sinks
        .values()
        .find_map(|s| match s {
            sebridge::config::SinkConfig::File(f) => Some(f.path.clone()),
            _ => None,
        })
        .expect("a file sink")
}

/// Messages waiting in a queue (as the broker admin login).
pub async fn queue_depth(url: &str, queue: &str) -> u32 {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("broker reachable");
    let ch = conn.create_channel().await.unwrap();
    let q = ch
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("queue exists");
    let _ = conn.close(200, "bye".into()).await;
    q.message_count()
}

/// Publishes raw bodies straight into a queue (default exchange), persistent.
pub async fn publish_raw(url: &str, queue: &str, bodies: &[Vec<u8>]) {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(Default::default()).await.unwrap();
    for b in bodies {
        ch.basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions::default(),
            b,
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }
    let _ = conn.close(200, "bye".into()).await;
}

/// (tenant, raw event) of every line of the wrapped file sink.
pub fn lines(path: &Path) -> Vec<(String, String)> {
    #[derive(serde::Deserialize)]
    struct Line<'a> {
        tenant: String,
        #[serde(borrow)]
        event: &'a RawValue,
    }
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| {
            let line: Line<'_> =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}"));
            (line.tenant, line.event.get().to_string())
        })
        .collect()
}

pub fn line_count(path: &Path) -> usize {
    std::fs::read(path)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0)
}

/// Waits until the sink has at least `n` lines.
pub async fn wait_lines(path: &Path, n: usize, limit: Duration) {
    let start = Instant::now();
    while line_count(path) < n {
        assert!(
            start.elapsed() < limit,
            "sink has {} of {n} lines after {limit:?}",
            line_count(path)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every simulator event of `tenants` is in the sink exactly once, byte for byte, and
/// nothing else is.
pub fn assert_exactly_once(sim: &SimHandle, path: &Path, tenants: &[&str]) {
    let lines = lines(path);
    for tenant in tenants {
        let mut expected: BTreeMap<String, usize> = BTreeMap::new();
        for t in sim.all_event_texts(tenant).expect("tenant exists") {
            *expected.entry(t).or_default() += 1;
        }
        let mut got: BTreeMap<String, usize> = BTreeMap::new();
        for (_, raw) in lines.iter().filter(|(t, _)| t == tenant) {
            *got.entry(raw.clone()).or_default() += 1;
        }
        let missing = expected.keys().filter(|k| !got.contains_key(*k)).count();
        let dupes = got.values().filter(|&&n| n > 1).count();
        let extra = got.keys().filter(|k| !expected.contains_key(*k)).count();
        assert!(
            missing == 0 && dupes == 0 && extra == 0,
            "tenant {tenant}: {} expected, {} lines; {missing} missing, {dupes} duplicated, {extra} unexpected",
            expected.len(),
            got.values().sum::<usize>()
        );
    }
}

/// The first status entry for which `f` holds, once one does (within `limit`).
pub async fn wait_state(
    topology: &sebridge::topology::Topology,
    what: &str,
    limit: Duration,
    f: impl Fn(&sebridge::status::TenantStatus) -> bool,
) -> sebridge::status::TenantStatus {
    let start = Instant::now();
    loop {
        let snap = topology.status.snapshot(0);
        if let Some(t) = snap.tenants.iter().find(|t| f(t)) {
            return t.clone();
        }
        assert!(
            start.elapsed() < limit,
            "timed out waiting for {what}: {snap:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Consumes nothing; just checks the broker answers (clear failure when it is missing).
pub async fn require_broker(url: &str) {
    if let Err(e) = Connection::connect(url, ConnectionProperties::default()).await {
        panic!("RabbitMQ is needed at {url} (scripts/test starts it): {e}");
    }
}

/// Drains a stream so a consumer-less test leaves nothing behind (unused helper guard).
pub async fn drain(consumer: &mut lapin::Consumer, n: usize) -> usize {
    let mut got = 0;
    while got < n {
        match tokio::time::timeout(Duration::from_secs(2), consumer.next()).await {
            Ok(Some(Ok(_))) => got += 1,
            _ => break,
        }
    }
    got
}
