//! XDR's per-organisation rate limit (429 with `Retry-After`): several incidents opened at
//! once against a small budget; the executor waits as told (nothing reaches XDR while a 429
//! is in force) and every XDR incident exists exactly once.

use crate::incidents_env::{now, threat, until};
use sebridge::config::{Config, SourceConfig};
use sebridge::topology::Topology;
use serde_json::Value;
use simulator::SimConfig;
use std::collections::HashMap;
use std::time::Duration;

/// Requests the simulated organisation accepts per window.
const BUDGET: u32 = 4;
const WINDOW: Duration = Duration::from_secs(3);
/// Incidents opened at once: each costs a lookup and a create, three budgets' worth.
const INCIDENTS: usize = 6;
/// Requests already on their way when a 429 was answered may still arrive just after it.
const IN_FLIGHT_MS: u64 = 250;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_xdr_budget_the_executor_waits_as_told_and_creates_each_incident_once() {
    let sim = simulator::start(SimConfig {
        tenants: 1,
        rate: 0.0,
        history: 0,
        xdr_rate_limit: BUDGET,
        xdr_rate_limit_window: WINDOW,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sebridge.toml");
    sim.write_config(&path).expect("config written");
    let i = sim.integrations();
    // XDR only, tickets only (no containment): every request counted is an XDR one.
    let mut text = std::fs::read_to_string(&path).expect("config");
    text.push_str(&format!(
        r#"
[incidents]
concurrency = 8

[incidents.xdr]
base_url = "{base}"
client_id = "{xid}"
client_password = "{xpw}"

[incidents.rules.tickets]
event_types = [1090519054]
"#,
        base = i.xdr.base_url,
        xid = i.xdr.client_id,
        xpw = i.xdr.client_password,
    ));
    std::fs::write(&path, text).expect("config written");
    let mut config = Config::load(&path).unwrap_or_else(|e| panic!("config invalid: {e}"));
    for source in config.sources.values_mut() {
        if let SourceConfig::Poll(p) = source {
            p.interval = Duration::from_millis(100);
        }
    }
    let topology = Topology::start(&config, None)
        .await
        .expect("topology starts");

    // One incident per host (different computers never correlate).
    let t = sim.tenant("tenant-1").expect("tenant");
    assert!(t.computers.len() >= INCIDENTS);
    let events: Vec<Value> = t
        .computers
        .iter()
        .take(INCIDENTS)
        .enumerate()
        .map(|(n, c)| {
            threat(
                c,
                9200 + n as u64,
                now(),
                &format!("{n:x}").repeat(64)[..64],
                "High",
            )
        })
        .collect();
    sim.insert_events("tenant-1", events).expect("events");
    let store = topology.store.incidents();
    until(
        Duration::from_secs(60),
        "every incident has its XDR incident",
        || async {
            let all = store.list(None, None, 100).await.expect("list");
            all.len() == INCIDENTS && all.iter().all(|i| i.xdr_id.is_some())
        },
    )
    .await;

    // Exactly once: one XDR incident per sebridge incident, by external id.
    let ours = store.list(None, None, 100).await.expect("list");
    let xdr = sim.xdr_incidents();
    assert_eq!(xdr.len(), INCIDENTS, "{xdr:?}");
    let mut by_external_id: HashMap<String, usize> = HashMap::new();
    for x in &xdr {
        for e in x["external_ids"].as_array().expect("external ids") {
            *by_external_id
                .entry(e.as_str().expect("text").to_string())
                .or_default() += 1;
        }
    }
    for i in &ours {
        assert_eq!(
            by_external_id.get(&i.correlation_id),
            Some(&1),
            "{}",
            i.correlation_id
        );
        let id = i.xdr_id.as_deref().expect("xdr id");
        assert!(xdr.iter().any(|x| x["id"] == id), "{id} is the stored one");
    }

    // The budget was exceeded, and after every 429 nothing reached XDR until its
    // Retry-After had passed (bar requests already in flight when it was answered).
    let log = sim.xdr_requests();
    let refusals: Vec<_> = log.iter().filter(|r| r.status == 429).collect();
    assert!(
        !refusals.is_empty(),
        "the budget made the executor wait: {log:?}"
    );
    for r in &refusals {
        let secs = r.retry_after.expect("a 429 says when");
        assert!((1..=WINDOW.as_secs()).contains(&secs), "{r:?}");
        let quiet = (r.at_ms + IN_FLIGHT_MS)..(r.at_ms + secs * 1000 - 100);
        let early: Vec<_> = log.iter().filter(|x| quiet.contains(&x.at_ms)).collect();
        assert!(
            early.is_empty(),
            "requests within {secs} s of the 429 at {}: {early:?}",
            r.at_ms
        );
    }
    let creates = log
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/ctia/incident")
        .collect::<Vec<_>>();
    assert_eq!(
        creates.iter().filter(|r| r.status == 201).count(),
        INCIDENTS,
        "{creates:?}"
    );
    // Refusals come only in bursts of what was already in flight: after a 429 the client
    // holds every request, so each burst is at most the executor's concurrency (8), and the
    // bursts are a Retry-After apart (above). The API tells the limit, not what is left of
    // it, so a burst at the start of each window is the price of using the window fully.
    let mut bursts: Vec<Vec<u64>> = Vec::new();
    for r in &refusals {
        match bursts.last_mut() {
            Some(b) if r.at_ms <= b[0] + IN_FLIGHT_MS => b.push(r.at_ms),
            _ => bursts.push(vec![r.at_ms]),
        }
    }
    assert!(
        bursts.iter().all(|b| b.len() <= 8),
        "a burst of refusals larger than the requests in flight: {bursts:?}"
    );
    // The wait is in the audit trail, with the reason.
    let audit = store.audit(None, 1000).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|a| a.action == "xdr_create_retry" && a.detail.contains("429")),
        "{audit:?}"
    );
    topology.stop().await;
    sim.shutdown().await;
}
