//! The poll source against the simulator over real HTTP on loopback: nothing lost, nothing
//! repeated, whatever the API does between and during requests.

use crate::common::*;
use sebridge::topology::Topology;
use simulator::{Faults, SimConfig};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

fn sim(tenants: usize, history: usize) -> SimConfig {
    SimConfig {
        tenants,
        rate: 0.0,
        history,
        history_span: Duration::from_secs(600),
        seed: 7,
        ..SimConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_inserted_between_page_fetches_are_neither_lost_nor_repeated() {
    let mut e = env(sim(1, 1500), 100).await;
    // One poll only, so the request count below is the cost of that poll.
    for s in e.config.sources.values_mut() {
        let sebridge::config::SourceConfig::Poll(p) = s else {
            continue;
        };
        p.interval = Duration::from_secs(600);
    }
    // New events land on top of the list while the poller pages through it: every page
    // after them shifts down. Insert after the 2nd, 5th and 9th request.
    let now = now();
    let mut id = 7_000_000_000_000_000_000u64;
    for (after, n) in [(2u64, 37usize), (5, 120), (9, 3)] {
        let batch = (0..n)
            .map(|i| {
                id += 1;
                event_at(id, now + i as i64 / 10, (i as u32 % 10) * 1000)
            })
            .collect();
        e.sim
            .insert_after_requests("tenant-1", after, batch)
            .unwrap();
    }
    let report = run_until_idle(&e.config, Duration::from_millis(700), LIMIT).await;
    assert!(
        report.failed_tenants.is_empty(),
        "{:?}",
        report.failed_tenants
    );
    assert_eq!(e.sim.event_count("tenant-1").unwrap(), 1500 + 160);
    assert_exactly_once(&e.sim, &sink_path(&e.config), &["tenant-1"]);
    let requests = e.sim.stats().tenant("tenant-1").unwrap().events_requests;
    // 17 pages, the first request (which learns the list length), and one re-read per
    // insertion; a little slack for an insertion landing while a re-read is in flight.
    assert!(requests <= 17 + 1 + 3 + 2, "{requests} requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equal_timestamps_across_page_boundaries() {
    let e = env(sim(1, 0), 100).await;
    let t = now() - 120;
    let mut id = 6_000_000_000_000_000_000u64;
    let mut next = |ts: i64, n: usize| -> Vec<serde_json::Value> {
        (0..n)
            .map(|i| {
                id += 1;
                event_at(id, ts, (i as u32 * 7919) % 1_000_000_000)
            })
            .collect()
    };
    // 250 events in one second straddle three pages of 100, with neighbours on both sides.
    e.sim.insert_events("tenant-1", next(t - 1, 30)).unwrap();
    e.sim.insert_events("tenant-1", next(t, 250)).unwrap();
    e.sim.insert_events("tenant-1", next(t + 1, 30)).unwrap();
    run_until_idle(&e.config, Duration::from_millis(500), LIMIT).await;
    assert_exactly_once(&e.sim, &sink_path(&e.config), &["tenant-1"]);
    // Late arrivals in the cursor's own second (t + 1), and more in the next one: a second
    // run resumes from the durable cursor and takes exactly the new ones.
    e.sim.insert_events("tenant-1", next(t + 1, 40)).unwrap();
    e.sim.insert_events("tenant-1", next(t + 2, 5)).unwrap();
    run_until_idle(&e.config, Duration::from_millis(500), LIMIT).await;
    assert_exactly_once(&e.sim, &sink_path(&e.config), &["tenant-1"]);
    assert_eq!(wrapped_lines(&sink_path(&e.config)).len(), 355);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paces_itself_by_the_rate_limit_headers() {
    let mut e = env(sim(1, 600), 25).await;
    // 24+ pages against a budget of 10 requests per 2 s window: the poller must wait for
    // resets instead of running into 429s. (No overlap re-read: at 25 events a page it
    // would cost more requests per poll than this budget allows every 200 ms.)
    for s in e.config.sources.values_mut() {
        let sebridge::config::SourceConfig::Poll(p) = s else {
            continue;
        };
        p.overlap = Duration::ZERO;
    }
    e.sim
        .set_rate_limit(Some("tenant-1"), 10, Duration::from_secs(2))
        .unwrap();
    run_until_idle(&e.config, Duration::from_millis(500), LIMIT).await;
    assert_exactly_once(&e.sim, &sink_path(&e.config), &["tenant-1"]);
    let stats = e.sim.stats();
    let t = stats.tenant("tenant-1").unwrap();
    assert!(t.events_requests >= 24, "{t:?}");
    assert_eq!(t.rate_limited, 0, "paced requests never hit 429: {t:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_waited_out_until_the_announced_reset() {
    let e = env(sim(2, 200), 500).await;
    e.sim
        .set_rate_limit(Some("tenant-1"), 3, Duration::from_secs(3))
        .unwrap();
    // Someone else spent tenant-1's budget (another integration with the same key).
    let info = e.sim.tenant("tenant-1").unwrap();
    let http = reqwest::Client::new();
    for _ in 0..4 {
        let _ = http
            .get(format!("{}/v1/version", e.sim.base_url()))
            .basic_auth(&info.client_id, Some(&info.api_key))
            .send()
            .await
            .unwrap();
    }
    let burnt = e.sim.stats().tenant("tenant-1").unwrap().rate_limited;
    assert_eq!(burnt, 1);
    let started = std::time::Instant::now();
    let report = run_until_idle(&e.config, Duration::from_millis(500), LIMIT).await;
    assert!(report.failed_tenants.is_empty());
    assert_exactly_once(&e.sim, &sink_path(&e.config), &["tenant-1", "tenant-2"]);
    let t1 = e.sim.stats().tenant("tenant-1").unwrap().clone();
    // One 429 at most, then a wait for the reset (about 3 s) rather than hammering.
    assert!(t1.rate_limited - burnt <= 1, "{t1:?}");
    assert!(started.elapsed() >= Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_storm_on_one_tenant_stalls_nobody_and_loses_nothing() {
    let e = env(sim(3, 300), 50).await;
    e.sim
        .set_faults(
            Some("tenant-2"),
            Faults {
                error_rate: 1.0,
                ..Faults::NONE
            },
        )
        .unwrap();
    let topology = Topology::start(&e.config, None).await.unwrap();
    let path = sink_path(&e.config);
    eventually(
        LIMIT,
        "tenants 1 and 3 delivered while tenant 2 fails",
        || {
            let lines = wrapped_lines(&path);
            lines.iter().filter(|(t, _)| t == "tenant-1").count() == 300
                && lines.iter().filter(|(t, _)| t == "tenant-3").count() == 300
        },
    )
    .await;
    let snap = topology.status.snapshot(topology.store.head());
    let t2 = snap
        .tenants
        .iter()
        .find(|t| t.tenant == "tenant-2")
        .unwrap();
    assert_eq!(t2.events_ingested, 0);
    assert!(
        t2.last_error
            .as_deref()
            .unwrap_or("")
            .contains("server error"),
        "{t2:?}"
    );
    // The storm ends: tenant 2 catches up.
    e.sim.clear_faults();
    tokio::time::timeout(LIMIT, topology.wait_idle(Duration::from_millis(500)))
        .await
        .unwrap();
    topology.stop().await;
    assert_exactly_once(&e.sim, &path, &["tenant-1", "tenant-2", "tenant-3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_for_one_tenant_of_three() {
    let mut e = env(sim(3, 150), 100).await;
    let t2 = e.config.tenants.get_mut("tenant-2").unwrap();
    t2.api_key = "00000000-0000-0000-0000-000000000000".to_string().into();
    let report = run_until_idle(&e.config, Duration::from_millis(500), LIMIT).await;
    assert_eq!(
        report.failed_tenants.len(),
        1,
        "{:?}",
        report.failed_tenants
    );
    let (name, error) = &report.failed_tenants[0];
    assert_eq!(name, "tenant-2");
    assert!(
        error.contains("401") && error.contains("Unknown API key or Client ID"),
        "{error}"
    );
    assert_exactly_once(&e.sim, &sink_path(&e.config), &["tenant-1", "tenant-3"]);
    assert!(wrapped_lines(&sink_path(&e.config))
        .iter()
        .all(|(t, _)| t != "tenant-2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_give_a_clear_error_and_the_tenant_recovers() {
    let e = env(sim(2, 120), 50).await;
    e.sim
        .set_faults(
            Some("tenant-1"),
            Faults {
                malformed_rate: 1.0,
                rate_limited_rate: 0.0,
                ..Faults::NONE
            },
        )
        .unwrap();
    let topology = Topology::start(&e.config, None).await.unwrap();
    eventually(
        LIMIT,
        "a malformed-response error is reported for tenant-1",
        || {
            let snap = topology.status.snapshot(0);
            snap.tenants.iter().any(|t| {
                t.tenant == "tenant-1"
                    && t.last_error
                        .as_deref()
                        .is_some_and(|e| e.contains("malformed response"))
            })
        },
    )
    .await;
    e.sim.clear_faults();
    tokio::time::timeout(LIMIT, topology.wait_idle(Duration::from_millis(500)))
        .await
        .unwrap();
    topology.stop().await;
    assert_exactly_once(&e.sim, &sink_path(&e.config), &["tenant-1", "tenant-2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_drops_5xx_malformed_and_latency_still_exactly_once() {
    let e = env(sim(3, 400), 40).await;
    e.sim
        .set_faults(
            None,
            Faults {
                error_rate: 0.15,
                drop_rate: 0.15,
                malformed_rate: 0.15,
                rate_limited_rate: 0.0,
                latency: Duration::from_millis(5),
            },
        )
        .unwrap();
    // Live events keep arriving while the faults are on.
    e.sim.set_rate(20.0).unwrap();
    let topology = Topology::start(&e.config, None).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    e.sim.set_rate(0.0).unwrap();
    e.sim.clear_faults();
    tokio::time::timeout(LIMIT, topology.wait_idle(Duration::from_millis(800)))
        .await
        .unwrap();
    topology.stop().await;
    let stats = e.sim.stats();
    assert!(
        stats
            .tenants
            .iter()
            .map(|t| t.drops + t.malformed + t.server_errors)
            .sum::<u64>()
            > 0
    );
    assert_exactly_once(
        &e.sim,
        &sink_path(&e.config),
        &["tenant-1", "tenant-2", "tenant-3"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_without_ids_and_huge_ids_are_journaled_once() {
    let e = env(sim(1, 0), 10).await;
    let dir = fixtures().join("secure-endpoint");
    // The real threat-hunting event has no id; the Elastic event a 1.8e19-range id.
    let th = std::fs::read_to_string(dir.join("elastic_integrations__cisco_secure_endpoint__test-cisco-amp2_log__line01_securex_threat_hunting_incident_1107296344_no_id.json")).unwrap();
    let mut th: serde_json::Value = serde_json::from_str(&th).unwrap();
    let mut th = th["data"].take();
    th["timestamp"] = serde_json::Value::from(now() - 30);
    let huge = event_at(u64::MAX >> 1, now() - 20, 5);
    e.sim.insert_events("tenant-1", vec![th, huge]).unwrap();
    run_until_idle(&e.config, Duration::from_millis(500), LIMIT).await;
    // A second run re-reads the cursor's second: still once.
    run_until_idle(&e.config, Duration::from_millis(500), LIMIT).await;
    assert_exactly_once(&e.sim, &sink_path(&e.config), &["tenant-1"]);
}

/// Seeded random schedules of arrivals between page requests (new seconds and the newest
/// existing second), page sizes, and restarts: every run ends with each event exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn randomized_arrivals_and_restarts_never_lose_or_repeat() {
    for seed in 1..=4u64 {
        let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n.max(1)
        };
        let page = 20 + next(60) as u32;
        let e = env(sim(1, 300 + next(700) as usize), page).await;
        let mut id = 5_000_000_000_000_000_000u64 + seed * 1_000_000;
        for round in 0..3i64 {
            // Arrivals scheduled after random request counts, at the newest existing second or
            // later, a few per second so ties are common.
            // Arrival times never go backwards (late arrivals are the overlap test's subject).
            let base = e.sim.stats().tenant("tenant-1").unwrap().events_requests;
            let mut ts = now() + 2 * round;
            let mut after = base;
            for _ in 0..(2 + next(4)) {
                let n = 1 + next(80) as usize;
                after += 1 + next(4);
                ts += next(2) as i64;
                let batch = (0..n)
                    .map(|i| {
                        id += 1;
                        event_at(id, ts, (i as u32 * 104_729) % 1_000_000_000)
                    })
                    .collect();
                e.sim
                    .insert_after_requests("tenant-1", after, batch)
                    .unwrap();
            }
            run_until_idle(&e.config, Duration::from_millis(600), LIMIT).await;
            // Batches scheduled past the requests this run made would land during the next
            // round, behind its cursor (a late arrival, the overlap test's subject): make the
            // remaining requests now, then read what they inserted.
            let info = e.sim.tenant("tenant-1").unwrap();
            let http = reqwest::Client::new();
            while e.sim.stats().tenant("tenant-1").unwrap().events_requests < after {
                http.get(format!("{}/v1/events?limit=1", e.sim.base_url()))
                    .basic_auth(&info.client_id, Some(&info.api_key))
                    .send()
                    .await
                    .unwrap();
            }
            run_until_idle(&e.config, Duration::from_millis(600), LIMIT).await;
            assert_exactly_once(&e.sim, &sink_path(&e.config), &["tenant-1"]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoints_report_metrics_status_and_health() {
    let e = env(sim(2, 50), 100).await;
    let topology = Topology::start(&e.config, Some("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    tokio::time::timeout(LIMIT, topology.wait_idle(Duration::from_millis(300)))
        .await
        .unwrap();
    let base = format!("http://{}", topology.http_addr.unwrap());
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{base}{path}")).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);
    let status: serde_json::Value = get("/status").await.unwrap().json().await.unwrap();
    assert_eq!(status["tenants"].as_array().unwrap().len(), 2);
    // A routine poll may be in flight (catching_up); nothing failed.
    assert!(
        status["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .all(
                |t| ["idle", "catching_up"].contains(&t["state"].as_str().unwrap())
                    && t["events_ingested"] == 50
            ),
        "{status}"
    );
    assert_eq!(status["sinks"][0]["sink"], "file");
    assert_eq!(status["sinks"][0]["position"], status["journal_head"]);
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    for name in [
        "sebridge_events_ingested_total",
        "sebridge_api_requests_total",
        "sebridge_sink_events_total",
        "sebridge_journal_head",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    assert!(metrics.contains(r#"tenant="tenant-1""#));
    let page = get("/").await.unwrap().text().await.unwrap();
    assert!(page.contains("<title>sebridge</title>") && page.contains("/status"));
    topology.stop().await;
}

/// An event that reaches the API after the cursor passed its second (an endpoint that was
/// offline uploads old events) is invisible to a `start_date` poll; the `overlap` re-read
/// finds it, and the journal folds everything else it re-reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_arrivals_need_the_overlap_re_read() {
    let mut e = env(sim(1, 100), 50).await;
    let set_overlap = |e: &mut Env, secs: u64| {
        for s in e.config.sources.values_mut() {
            let sebridge::config::SourceConfig::Poll(p) = s else {
                continue;
            };
            p.overlap = Duration::from_secs(secs);
        }
    };
    set_overlap(&mut e, 0);
    run_until_idle(&e.config, Duration::from_millis(400), LIMIT).await;
    let late: Vec<_> = (0..7)
        .map(|i| event_at(8_100_000_000_000_000_000 + i, now() - 300, i as u32))
        .collect();
    let fresh: Vec<_> = (0..5)
        .map(|i| event_at(8_200_000_000_000_000_000 + i, now() + 1, i as u32))
        .collect();
    e.sim.insert_events("tenant-1", late).unwrap();
    e.sim.insert_events("tenant-1", fresh).unwrap();
    run_until_idle(&e.config, Duration::from_millis(400), LIMIT).await;
    assert_eq!(
        wrapped_lines(&sink_path(&e.config)).len(),
        105,
        "without overlap only the fresh ones arrive"
    );
    set_overlap(&mut e, 600);
    run_until_idle(&e.config, Duration::from_millis(400), LIMIT).await;
    assert_exactly_once(&e.sim, &sink_path(&e.config), &["tenant-1"]);
}
