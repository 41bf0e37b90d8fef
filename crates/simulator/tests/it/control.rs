//! Rate limiting, fault injection, events files, the library controls, the `/_sim` routes
//! and the written config.

use std::time::{Duration, Instant};

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};
use simulator::{Faults, SimConfig, SimError, SimStats, TenantInfo};

fn is_zulu(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
        && time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
}

#[tokio::test]
async fn rate_limit_headers_429_and_reset() {
    let sim = start(SimConfig {
        rate_limit: 3,
        rate_limit_window: Duration::from_secs(2),
        ..quiet(2)
    })
    .await;
    let ts = sim.tenants();
    let (t, other) = (&ts[0], &ts[1]);
    // 401s count against nobody.
    for _ in 0..5 {
        let r = call(&sim, None, Method::GET, "/v1/version", None).await;
        assert_eq!(r.status, 401);
    }
    for expected in [2u32, 1, 0] {
        let r = get(&sim, t, "/v1/events").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-ratelimit-limit").as_deref(), Some("3"));
        assert_eq!(
            r.header("x-ratelimit-remaining"),
            Some(expected.to_string())
        );
        let reset: u64 = r.header("x-ratelimit-reset").unwrap().parse().unwrap();
        assert!((1..=2).contains(&reset), "{reset}");
        assert!(is_zulu(&r.header("x-ratelimit-resetdate").unwrap()));
        assert!(r.header("x-rate-limit-limit").is_none());
    }
    let r = get(&sim, t, "/v1/events").await;
    let details = assert_error_envelope(&r, 429, "Too Many Requests");
    assert!(details[0].starts_with("Rate limit exceeded"), "{details:?}");
    assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("0"));
    let reset: u64 = r.header("x-ratelimit-reset").unwrap().parse().unwrap();
    // Each credential has its own budget.
    assert_eq!(get(&sim, other, "/v1/version").await.status, 200);
    tokio::time::sleep(Duration::from_millis(reset * 1000 + 100)).await;
    let r = get(&sim, t, "/v1/events").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("2"));
    let s = sim.stats();
    assert_eq!(s.tenant(&t.name).unwrap().rate_limited, 1);
    assert_eq!(s.tenant(&t.name).unwrap().requests, 5);

    // Changing the limit at runtime starts a fresh window.
    sim.set_rate_limit(Some(&t.name), 1, Duration::from_secs(60))
        .unwrap();
    assert_eq!(get(&sim, t, "/v1/version").await.status, 200);
    assert_eq!(get(&sim, t, "/v1/version").await.status, 429);
    sim.set_rate_limit(None, 100, Duration::from_secs(60))
        .unwrap();
    let r = get(&sim, t, "/v1/version").await;
    assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("99"));
}

#[tokio::test]
async fn documented_rate_headers_on_request() {
    let sim = start(SimConfig {
        documented_rate_headers: true,
        ..quiet(1)
    })
    .await;
    let t = &sim.tenants()[0];
    let r = get(&sim, t, "/v1/version").await;
    assert_eq!(r.header("x-ratelimit-limit").as_deref(), Some("3000"));
    assert_eq!(r.header("X-Rate-Limit-Limit").as_deref(), Some("3000"));
    assert_eq!(r.header("X-Rate-Limit-Remaining").as_deref(), Some("2999"));
    assert!(r.header("X-Rate-Limit-Reset").is_some());
}

#[tokio::test]
async fn every_fault_kind_is_observable() {
    let sim = start(quiet(2)).await;
    let ts = sim.tenants();
    let (t, other) = (&ts[0], &ts[1]);
    sim.generate_events(&t.name, 50, None).unwrap();

    // 5xx, per tenant: the other tenant is unaffected.
    sim.set_faults(
        Some(&t.name),
        Faults {
            error_rate: 1.0,
            ..Faults::NONE
        },
    )
    .unwrap();
    for _ in 0..6 {
        let r = get(&sim, t, "/v1/events").await;
        let code = r.status.as_u16();
        assert!([500, 502, 503].contains(&code), "{code}");
        let desc = r.status.canonical_reason().unwrap();
        assert_error_envelope(&r, code, desc);
        assert!(r.header("x-ratelimit-remaining").is_some());
    }
    assert_eq!(get(&sim, other, "/v1/events").await.status, 200);

    // A burst limit: 429 with the error envelope and headers saying nothing is left,
    // although the window's budget is not spent.
    sim.set_faults(
        Some(&t.name),
        Faults {
            rate_limited_rate: 1.0,
            ..Faults::NONE
        },
    )
    .unwrap();
    let r = get(&sim, t, "/v1/events").await;
    assert_eq!(r.status.as_u16(), 429);
    assert_error_envelope(&r, 429, "Too Many Requests");
    assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("0"));
    assert_eq!(r.header("x-ratelimit-reset").as_deref(), Some("1"));
    assert_eq!(get(&sim, other, "/v1/events").await.status, 200);

    // Dropped connection: headers may arrive, the body never completes.
    sim.set_faults(
        Some(&t.name),
        Faults {
            drop_rate: 1.0,
            ..Faults::NONE
        },
    )
    .unwrap();
    for _ in 0..3 {
        let res = http()
            .get(format!("{}/v1/events", sim.base_url()))
            .basic_auth(&t.client_id, Some(&t.api_key))
            .send()
            .await;
        match res {
            Err(_) => {}
            Ok(resp) => assert!(resp.text().await.is_err(), "body must not complete"),
        }
    }

    // Malformed: 200 with a body that is not JSON.
    sim.set_faults(
        Some(&t.name),
        Faults {
            malformed_rate: 1.0,
            rate_limited_rate: 0.0,
            ..Faults::NONE
        },
    )
    .unwrap();
    for _ in 0..6 {
        let r = get(&sim, t, "/v1/events").await;
        assert_eq!(r.status, 200);
        assert!(
            serde_json::from_str::<Value>(&r.text).is_err(),
            "{}",
            r.text
        );
    }

    // Latency, set globally (the tenant override is cleared first).
    sim.clear_faults();
    sim.set_faults(
        None,
        Faults {
            latency: Duration::from_millis(300),
            ..Faults::NONE
        },
    )
    .unwrap();
    let t0 = Instant::now();
    assert_eq!(get(&sim, other, "/v1/version").await.status, 200);
    assert!(t0.elapsed() >= Duration::from_millis(300));

    let s = sim.stats();
    let st = s.tenant(&t.name).unwrap();
    assert_eq!((st.server_errors, st.drops, st.malformed), (6, 3, 6));
    assert!(sim
        .set_faults(
            None,
            Faults {
                error_rate: 1.5,
                ..Faults::NONE
            }
        )
        .is_err());
}

async fn status_sequence(seed: u64) -> Vec<u16> {
    let sim = start(SimConfig {
        seed,
        faults: Faults {
            error_rate: 0.5,
            ..Faults::NONE
        },
        ..quiet(1)
    })
    .await;
    let t = &sim.tenants()[0];
    let mut out = Vec::new();
    for _ in 0..120 {
        out.push(get(&sim, t, "/v1/version").await.status.as_u16());
    }
    sim.shutdown().await;
    out
}

#[tokio::test]
async fn fault_draws_are_deterministic_with_the_seed() {
    let a = status_sequence(7).await;
    let b = status_sequence(7).await;
    assert_eq!(a, b);
    let errors = a.iter().filter(|&&c| c >= 500).count();
    assert!((30..=90).contains(&errors), "{errors} of 120");
}

#[tokio::test]
async fn events_file_is_served_byte_for_byte_to_every_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let detected = fixture_data_text(
        "elastic_integrations__cisco_secure_endpoint__test-cisco-amp1_log__line03_threat_detected_1090519054_with_parent.json",
    );
    let hunting = fixture_data_text(
        "elastic_integrations__cisco_secure_endpoint__test-cisco-amp2_log__line01_securex_threat_hunting_incident_1107296344_no_id.json",
    );
    let failure = fixture_data_text(
        "elastic_integrations__cisco_secure_endpoint__test-cisco-amp1_log__line05_quarantine_failure_2164260880_error.json",
    );
    // Unusual spacing must survive too.
    let spaced = r#"{ "timestamp" : 1610000000,   "id": 18446744073709551615 }"#;
    let path = dir.path().join("events.jsonl");
    std::fs::write(
        &path,
        format!("{detected}\n\n{hunting}\r\n{failure}\n{spaced}\n"),
    )
    .unwrap();
    let sim = start(SimConfig {
        events_file: Some(path.clone()),
        history: 1000, // ignored with an events file
        ..quiet(2)
    })
    .await;
    for t in sim.tenants() {
        let r = get(&sim, &t, "/v1/events").await;
        assert_eq!(r.status, 200);
        // Newest first: hunting (1610711992), detected (1610618799), failure, spaced.
        let items = page_item_texts(&r.text);
        assert_eq!(
            items,
            vec![
                hunting.clone(),
                detected.clone(),
                failure.clone(),
                spaced.to_string()
            ]
        );
        assert!(r.text.contains(&detected));
        let v = r.json();
        assert_eq!(v["data"][1]["id"].as_u64(), Some(6533241347137077000));
        assert_eq!(v["data"][3]["id"].as_u64(), Some(u64::MAX));
        assert_eq!(
            sim.all_event_ids(&t.name).unwrap(),
            vec![
                None,
                Some(6533241347137077000),
                Some(6533241145273614000),
                Some(u64::MAX)
            ]
        );
    }
    // Config starts at the oldest event's second.
    let cfg = dir.path().join("sebridge.toml");
    sim.write_config(&cfg).unwrap();
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("since = \"2021-01-07T06:13:20Z\""), "{text}");
}

#[tokio::test]
async fn events_file_errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    std::fs::write(
        &path,
        format!("{}\n\n[1,2]\n", raw_event(1, 1_600_000_000, 0, 1)),
    )
    .unwrap();
    let err = simulator::start(SimConfig {
        events_file: Some(path.clone()),
        ..quiet(1)
    })
    .await
    .unwrap_err();
    match &err {
        SimError::EventsFile { line, .. } => assert_eq!(*line, 3),
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains(":3:"), "{err}");
    std::fs::write(&path, "{\"id\":1, oops\n").unwrap();
    let err = simulator::start(SimConfig {
        events_file: Some(path),
        ..quiet(1)
    })
    .await
    .unwrap_err();
    assert!(matches!(err, SimError::EventsFile { line: 1, .. }), "{err}");
}

#[tokio::test]
async fn library_controls() {
    let sim = start(quiet(2)).await;
    let name = sim.tenants()[0].name.clone();
    assert_eq!(name, "tenant-1");
    let at = time::OffsetDateTime::from_unix_timestamp(1_650_000_000).unwrap();
    let evs = sim.generate_events(&name, 25, Some(at)).unwrap();
    assert_eq!(evs.len(), 25);
    assert!(evs.iter().all(|e| e["timestamp"] == 1_650_000_000));
    assert_eq!(sim.event_count(&name).unwrap(), 25);
    assert_eq!(sim.event_count("tenant-2").unwrap(), 0);
    sim.insert_events(
        &name,
        vec![json!({"id": 42u64, "timestamp": 1_650_000_001, "event_type_id": 1})],
    )
    .unwrap();
    let ids = sim.all_event_ids(&name).unwrap();
    assert_eq!(ids.len(), 26);
    assert_eq!(ids[0], Some(42));
    assert_eq!(sim.all_event_texts(&name).unwrap().len(), 26);

    assert!(matches!(
        sim.insert_events(&name, vec![json!({"id": 1})]),
        Err(SimError::InvalidEvent { index: 0, .. })
    ));
    assert!(matches!(
        sim.insert_events(&name, vec![json!([1])]),
        Err(SimError::InvalidEvent { .. })
    ));
    assert!(matches!(
        sim.event_count("nope"),
        Err(SimError::UnknownTenant(_))
    ));
    assert!(sim.generate_events("nope", 1, None).is_err());
    assert!(sim.set_faults(Some("nope"), Faults::NONE).is_err());

    // Live generation can be switched on and off.
    sim.set_rate(50.0).unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    sim.set_rate(0.0).unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let n = sim.event_count("tenant-2").unwrap();
    assert!(n > 5, "live events: {n}");
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(sim.event_count("tenant-2").unwrap(), n);
    sim.shutdown().await;
}

#[tokio::test]
async fn live_generation_and_shared_seconds() {
    let sim = start(SimConfig {
        rate: 20.0,
        ..quiet(1)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let t = &sim.tenants()[0];
    let v = get(&sim, t, "/v1/events").await.json();
    let keys = page_keys(&v);
    assert!(keys.len() >= 10, "{}", keys.len());
    assert!(
        keys.windows(2).any(|w| w[0].0 == w[1].0),
        "several events share a second"
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(keys.iter().all(|k| k.0 <= now && k.0 >= now - 5));
}

#[tokio::test]
async fn same_seed_same_world_and_history() {
    let cfg = || SimConfig {
        seed: 99,
        history: 300,
        ..quiet(3)
    };
    let a = start(cfg()).await;
    let b = start(cfg()).await;
    assert_eq!(a.tenants(), b.tenants());
    for t in a.tenants() {
        assert_eq!(a.event_count(&t.name).unwrap(), 300);
        assert_eq!(
            a.all_event_ids(&t.name).unwrap(),
            b.all_event_ids(&t.name).unwrap()
        );
        assert_eq!(t.client_id.len(), 20);
        assert!(t
            .client_id
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert!(uuid::Uuid::parse_str(&t.api_key).is_ok());
    }
    let c = start(SimConfig { seed: 100, ..cfg() }).await;
    assert_ne!(a.tenants(), c.tenants());
    let names: Vec<String> = a.tenants().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["tenant-1", "tenant-2", "tenant-3"]);
}

#[tokio::test]
async fn history_is_spread_over_the_span() {
    let sim = start(SimConfig {
        history: 2000,
        history_span: Duration::from_secs(600),
        ..quiet(1)
    })
    .await;
    let t = &sim.tenants()[0];
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut keys = Vec::new();
    for off in (0..2000).step_by(500) {
        let v = get(&sim, t, &format!("/v1/events?offset={off}"))
            .await
            .json();
        keys.extend(page_keys(&v));
    }
    assert_eq!(keys.len(), 2000);
    assert!(keys.iter().all(|k| k.0 >= now - 602 && k.0 <= now));
    assert!(keys.windows(2).all(|w| w[0] >= w[1]));
    let oldest = keys.last().unwrap().0;
    assert!(oldest < now - 500, "spread over the span");
}

#[tokio::test]
async fn sim_routes_drive_a_running_simulator() {
    let sim = start(quiet(2)).await;
    let base = sim.base_url();
    let c = http();
    let tenants: Vec<TenantInfo> = c
        .get(format!("{base}/_sim/tenants"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tenants, sim.tenants());
    let t = &tenants[1];

    // Raw events are stored verbatim.
    let raw = r#"[ {"timestamp": 1700000000,  "id":7, "x" : [1, 2]} ]"#;
    let r = c
        .post(format!("{base}/_sim/tenants/{}/events", t.name))
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"inserted": 1}));
    let page = get(&sim, t, "/v1/events").await;
    assert_eq!(
        page_item_texts(&page.text),
        vec![r#"{"timestamp": 1700000000,  "id":7, "x" : [1, 2]}"#.to_string()]
    );
    let r = c
        .post(format!("{base}/_sim/tenants/{}/events", t.name))
        .body(r#"{"generate": 5, "at": "2024-01-01T00:00:00Z"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"inserted": 5}));
    assert_eq!(sim.event_count(&t.name).unwrap(), 6);
    let ids: Vec<Option<u64>> = c
        .get(format!("{base}/_sim/tenants/{}/event_ids", t.name))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ids, sim.all_event_ids(&t.name).unwrap());

    // insert_after: counts are absolute (one /v1/events request was answered above).
    let r = c
        .post(format!("{base}/_sim/tenants/{}/insert_after", t.name))
        .body(r#"{"after": 3, "events": [{"timestamp": 1800000000, "id": 8}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    get(&sim, t, "/v1/events").await;
    assert_eq!(sim.event_count(&t.name).unwrap(), 6);
    get(&sim, t, "/v1/events").await;
    assert_eq!(sim.event_count(&t.name).unwrap(), 7);

    // Faults and rate limit.
    let r = c
        .put(format!("{base}/_sim/faults"))
        .body(format!(r#"{{"tenant":"{}","error_rate":1.0}}"#, t.name))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(get(&sim, t, "/v1/version").await.status.is_server_error());
    c.put(format!("{base}/_sim/faults"))
        .body(format!(r#"{{"tenant":"{}"}}"#, t.name))
        .send()
        .await
        .unwrap();
    assert_eq!(get(&sim, t, "/v1/version").await.status, 200);
    let r = c
        .put(format!("{base}/_sim/rate_limit"))
        .body(r#"{"limit": 1, "window_secs": 60}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(get(&sim, t, "/v1/version").await.status, 200);
    assert_eq!(get(&sim, t, "/v1/version").await.status, 429);

    let stats: SimStats = c
        .get(format!("{base}/_sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let st = stats.tenant(&t.name).unwrap();
    assert_eq!(st.rate_limited, 1);
    assert_eq!(st.server_errors, 1);
    assert_eq!(st.events_stored, 7);
    assert_eq!(st.by_path["events"], 3);

    // Errors.
    let r = c
        .post(format!("{base}/_sim/tenants/nope/events"))
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c
        .put(format!("{base}/_sim/faults"))
        .body(r#"{"error_rate": 2}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .post(format!("{base}/_sim/tenants/{}/events", t.name))
        .body(r#"[{"no_timestamp": true}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // write_config
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/sebridge.toml");
    let r = c
        .post(format!("{base}/_sim/write_config"))
        .body(json!({"path": path}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(path.exists());
}

#[tokio::test]
async fn written_config_is_valid_toml_with_the_right_keys() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start(SimConfig {
        history: 100,
        ..quiet(2)
    })
    .await;
    let path = dir.path().join("sebridge.toml");
    sim.write_config(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let doc: toml_edit::DocumentMut = text.parse().expect("valid TOML");
    let s = |v: &toml_edit::Item| v.as_str().map(str::to_string).unwrap_or_default();
    let dir_s = dir.path().to_string_lossy().to_string();
    assert_eq!(s(&doc["store"]["path"]), format!("{dir_s}/sebridge.db"));
    for t in sim.tenants() {
        let tt = &doc["tenants"][t.name.as_str()];
        assert_eq!(s(&tt["base_url"]), sim.base_url());
        assert_eq!(s(&tt["client_id"]), t.client_id);
        assert_eq!(s(&tt["api_key"]), t.api_key);
    }
    assert_eq!(s(&doc["sources"]["poll"]["type"]), "poll");
    assert_eq!(s(&doc["sources"]["poll"]["interval"]), "2s");
    let since = s(&doc["sources"]["poll"]["since"]);
    let since_ts =
        time::OffsetDateTime::parse(&since, &time::format_description::well_known::Rfc3339)
            .unwrap()
            .unix_timestamp();
    let mut oldest = i64::MAX;
    for t in sim.tenants() {
        let v = get(&sim, &t, "/v1/events?offset=99&limit=1").await.json();
        oldest = oldest.min(v["data"][0]["timestamp"].as_i64().unwrap());
    }
    assert_eq!(since_ts, oldest, "since = the oldest event's second");
    assert_eq!(s(&doc["sinks"]["file"]["type"]), "file");
    assert_eq!(
        s(&doc["sinks"]["file"]["path"]),
        format!("{dir_s}/events.jsonl")
    );
    // Atomic write leaves no temporary file behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("sebridge.toml")]);

    // Without any event: lookback.
    let sim2 = start(quiet(1)).await;
    sim2.write_config(&path).unwrap();
    let doc: toml_edit::DocumentMut = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    assert_eq!(s(&doc["sources"]["poll"]["lookback"]), "1h");
    assert!(doc["sources"]["poll"].get("since").is_none());
}

#[tokio::test]
async fn custom_tenant_names_and_validation() {
    let sim = start(SimConfig {
        tenant_names: Some(vec!["acme".into(), "globex_2".into()]),
        ..quiet(5)
    })
    .await;
    let names: Vec<String> = sim.tenants().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["acme", "globex_2"]);
    for bad in [
        vec!["Acme".to_string()],
        vec!["a".into(), "a".into()],
        vec![],
    ] {
        let r = simulator::start(SimConfig {
            tenant_names: Some(bad),
            ..quiet(1)
        })
        .await;
        assert!(matches!(r, Err(SimError::Config(_))));
    }
}

#[tokio::test]
async fn large_store_pages_stay_fast() {
    let n = 200_000;
    let t0 = Instant::now();
    let sim = start(SimConfig {
        history: n,
        history_span: Duration::from_secs(7200),
        ..quiet(1)
    })
    .await;
    let gen_time = t0.elapsed();
    let t = &sim.tenants()[0];
    assert_eq!(sim.event_count(&t.name).unwrap(), n);
    // Warm up the connection, then time deep pages and start_date pages.
    get(&sim, t, "/v1/version").await;
    let start_date = time::OffsetDateTime::now_utc().unix_timestamp() - 3600;
    let mut worst = Duration::ZERO;
    for q in [
        format!("/v1/events?offset={}", n - 500),
        "/v1/events?offset=100000".to_string(),
        format!(
            "/v1/events?start_date={}&offset=20000",
            time::OffsetDateTime::from_unix_timestamp(start_date)
                .unwrap()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        ),
    ] {
        let t1 = Instant::now();
        let r = get(&sim, t, &q).await;
        worst = worst.max(t1.elapsed());
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["data"].as_array().map(Vec::len), Some(500));
    }
    eprintln!("generated {n} events in {gen_time:?}; slowest page {worst:?}");
    assert!(worst < Duration::from_secs(1), "{worst:?}");
    // A scanning filter still works on the big store.
    let v = get(&sim, t, "/v1/events?event_type[]=1107296344&limit=5")
        .await
        .json();
    assert!(v["metadata"]["results"]["total"].as_u64().unwrap() > 0);
}
