//! Shared test helpers: a simulator on loopback, a config pointing at it, and checks that a
//! sink holds every simulator event exactly once, byte for byte.
#![allow(dead_code)]

use sebridge::config::{Config, SinkConfig, SourceConfig};
use sebridge::topology::{RunReport, Topology};
use serde_json::value::RawValue;
use serde_json::Value;
use simulator::{SimConfig, SimHandle};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tempfile::TempDir;

pub struct Env {
    pub sim: SimHandle,
    pub config: Config,
    pub dir: TempDir,
}

/// A simulator, and a config for it with the given page size, a fast poll interval and a
/// wrapped file sink (so lines say which tenant they belong to).
pub async fn env(sim: SimConfig, page_size: u32) -> Env {
    let sim = simulator::start(sim).await.expect("simulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sebridge.toml");
    sim.write_config(&path).expect("config written");
    let mut config =
        Config::load(&path).unwrap_or_else(|e| panic!("simulator config invalid: {e}"));
    for source in config.sources.values_mut() {
        let SourceConfig::Poll(p) = source else {
            continue;
        };
        p.page_size = page_size;
        p.interval = Duration::from_millis(200);
        p.request_timeout = Duration::from_secs(5);
    }
    for sink in config.sinks.values_mut() {
        if let SinkConfig::File(f) = sink {
            f.wrap = true;
        }
    }
    Env { sim, config, dir }
}

/// The file sink's path.
pub fn sink_path(config: &Config) -> PathBuf {
    config
        .sinks
        .values()
        .find_map(|s| match s {
            SinkConfig::File(f) => Some(f.path.clone()),
            _ => None,
        })
        .expect("a file sink")
}

/// Runs the pipeline until idle (bounded by `limit`).
pub async fn run_until_idle(config: &Config, idle: Duration, limit: Duration) -> RunReport {
    let topology = Topology::start(config, None)
        .await
        .expect("topology starts");
    let waited = tokio::time::timeout(limit, topology.wait_idle(idle)).await;
    let report = topology.stop().await;
    assert!(waited.is_ok(), "pipeline not idle within {limit:?}");
    report
}

/// (tenant, raw event text) of every line of a wrapped file sink, in order.
pub fn wrapped_lines(path: &Path) -> Vec<(String, String)> {
    #[derive(serde::Deserialize)]
    struct Line<'a> {
        tenant: String,
        #[serde(borrow)]
        event: &'a RawValue,
    }
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // Read while the sink runs, the file may end in the middle of a batch being appended:
    // only complete (newline-terminated) lines count.
    let complete = text.rfind('\n').map_or("", |i| &text[..=i]);
    complete
        .lines()
        .map(|l| {
            let line: Line<'_> =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}"));
            (line.tenant, line.event.get().to_string())
        })
        .collect()
}

/// Every event the simulator holds for `tenants` is in the sink exactly once, byte for byte,
/// and nothing else is.
pub fn assert_exactly_once(sim: &SimHandle, path: &Path, tenants: &[&str]) {
    let lines = wrapped_lines(path);
    for tenant in tenants {
        let mut expected: BTreeMap<String, usize> = BTreeMap::new();
        for t in sim.all_event_texts(tenant).expect("tenant exists") {
            *expected.entry(t).or_default() += 1;
        }
        let mut got: BTreeMap<String, usize> = BTreeMap::new();
        for (_, raw) in lines.iter().filter(|(t, _)| t == tenant) {
            *got.entry(raw.clone()).or_default() += 1;
        }
        let missing_events: Vec<String> = expected
            .keys()
            .filter(|k| !got.contains_key(*k))
            .take(5)
            .map(|k| {
                let v: Value = serde_json::from_str(k).unwrap_or_default();
                format!(
                    "(id {}, ts {}.{:09})",
                    v["id"],
                    v["timestamp"],
                    v["timestamp_nanoseconds"].as_u64().unwrap_or(0)
                )
            })
            .collect();
        let missing = expected.keys().filter(|k| !got.contains_key(*k)).count();
        let dupes = got.values().filter(|&&n| n > 1).count();
        let extra = got.keys().filter(|k| !expected.contains_key(*k)).count();
        assert!(
            missing == 0 && dupes == 0 && extra == 0,
            "tenant {tenant}: {} expected, {} lines; {missing} missing, {dupes} duplicated, {extra} unexpected; e.g. {missing_events:?}",
            expected.len(),
            got.values().sum::<usize>()
        );
    }
}

/// A real Threat Detected event (Elastic's capture) with a new id and time.
pub fn event_at(id: u64, ts: i64, nanos: u32) -> Value {
    let text = std::fs::read_to_string(fixtures().join(
        "secure-endpoint/elastic_integrations__cisco_secure_endpoint__test-cisco-amp1_log__line03_threat_detected_1090519054_with_parent.json",
    ))
    .expect("fixture");
    let mut v: Value = serde_json::from_str(&text).expect("fixture JSON");
    let mut e = v["data"].take();
    let date = time::OffsetDateTime::from_unix_timestamp(ts).expect("ts");
    e["id"] = Value::from(id);
    e["timestamp"] = Value::from(ts);
    e["timestamp_nanoseconds"] = Value::from(nanos);
    e["date"] = Value::from(secure_endpoint::format_api_date(date));
    e
}

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Polls `f` until true or the limit passes.
pub async fn eventually(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
