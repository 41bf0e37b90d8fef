//! Splunk HEC, Elasticsearch and webhook sinks against the simulator's receivers (and a
//! signature-checking webhook endpoint), with injected failures; and the ECS mapping
//! compared field by field with Elastic's own expected output.

use crate::support;

use sebridge::config::{
    ElasticAuth, ElasticsearchSinkConfig, HecSinkConfig, Secret, SinkCommon, WebhookSinkConfig,
};
use sebridge::sinks::elasticsearch::ElasticsearchSink;
use sebridge::sinks::splunk_hec::HecSink;
use sebridge::sinks::webhook::{signature, WebhookSink, SIGNATURE_HEADER};
use sebridge::sinks::{SinkCtx, SinkOptions};
use sebridge::status::StatusBoard;
use sebridge::store::Store;
use serde_json::Value;
use simulator::receivers::{elastic, hec};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Options of an HTTP sink under test: no batch timeout, fast retries (shared with the
/// Sentinel tests).
pub(crate) fn common(batch: usize) -> SinkCommon {
    SinkCommon {
        batch_size: batch,
        batch_timeout: Duration::ZERO,
        retry_initial: Duration::from_millis(50),
        retry_max: Duration::from_millis(400),
        filter: Default::default(),
    }
}

pub(crate) fn ctx(name: &str, store: &Store, status: &StatusBoard) -> SinkCtx {
    SinkCtx {
        name: name.into(),
        store: store.clone(),
        status: status.clone(),
    }
}

fn hec_config(r: &hec::HecReceiver, ack: bool) -> HecSinkConfig {
    HecSinkConfig {
        common: common(100),
        url: r.url().parse().unwrap(),
        token: Secret(r.token().to_string().into()),
        index: Some("secops".into()),
        source: Some("sebridge".into()),
        sourcetype: "cisco:amp:event".into(),
        host: None,
        gzip: true,
        ack,
        ack_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        ca_file: None,
        format: Default::default(),
    }
}

const DS: &str = "logs-cisco_secure_endpoint.event-default";

fn es_config(r: &elastic::ElasticReceiver) -> ElasticsearchSinkConfig {
    ElasticsearchSinkConfig {
        common: common(100),
        url: r.url().parse().unwrap(),
        auth: ElasticAuth::ApiKey(Secret("c2VicmlkZ2U6dGVzdA==".to_string().into())),
        data_stream: DS.into(),
        pipeline: Some("_none".into()),
        gzip: true,
        request_timeout: Duration::from_secs(5),
        ca_file: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hec_delivers_every_event_once_through_503_bursts_with_the_add_on_shape() {
    let r = hec::start(hec::HecConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = support::journal(dir.path(), &support::events(450, 1), &["acme", "globex"]).await;
    r.fail_next(3, 503);
    let status = StatusBoard::default();
    let cfg = hec_config(&r, false);
    let sink = HecSink::new(cfg.clone(), ctx("hec", &store, &status)).unwrap();
    let run = support::spawn("hec", sink, SinkOptions::from(&cfg.common), &store, &status);
    run.until(store.head(), Duration::from_secs(30)).await;
    let st = run.sink_status();
    run.stop().await;
    assert!(st.retries >= 3, "the 503 burst was retried: {st:?}");
    let stats = r.stats();
    assert_eq!(stats.injected_failures, 3);
    assert_eq!(stats.gzip_requests, stats.requests - 3);
    let events = r.events();
    let rows = store.read_after(0, 10_000).await.unwrap();
    assert_eq!(events.len(), rows.len(), "once each");
    let by_id: BTreeMap<String, &sebridge::store::JournalEntry> =
        rows.iter().map(|e| (e.event_id.to_string(), e)).collect();
    let mut seen = BTreeSet::new();
    for e in &events {
        // The Events Input app's shape: sourcetype cisco:amp:event, vendor event under `event`.
        assert_eq!(e.sourcetype.as_deref(), Some("cisco:amp:event"));
        assert_eq!(e.index.as_deref(), Some("secops"));
        assert_eq!(e.source.as_deref(), Some("sebridge"));
        let inner = &e.event["event"];
        let id = inner["id"].to_string();
        let row = by_id[&id];
        let raw: Value = serde_json::from_str(&row.raw).unwrap();
        assert_eq!(inner, &raw, "vendor JSON unchanged");
        assert_eq!(e.fields.as_ref().unwrap()["tenant"], row.tenant.as_str());
        let t = e.time.as_ref().unwrap().as_f64().unwrap();
        let want = raw["timestamp"].as_f64().unwrap()
            + (raw["timestamp_nanoseconds"].as_u64().unwrap_or(0) / 1_000_000) as f64 / 1000.0;
        assert!((t - want).abs() < 0.0005, "time {t} vs {want}");
        assert!(seen.insert(id));
    }
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hec_with_indexer_ack_waits_for_acknowledgement_and_dead_letters_malformed_events() {
    let r = hec::start(hec::HecConfig {
        ack: true,
        ..Default::default()
    })
    .await
    .unwrap();
    r.delay_acks(2);
    let dir = tempfile::tempdir().unwrap();
    let mut evs = support::events(120, 1);
    let mut poison: Value = serde_json::from_str(evs[57].raw()).unwrap();
    poison["detection"] = Value::from("POISON-PILL");
    evs[57] = secure_endpoint::Event::from_json(&poison.to_string()).unwrap();
    let store = support::journal(dir.path(), &evs, &["acme"]).await;
    r.reject_events_containing(Some("POISON-PILL"));
    let status = StatusBoard::default();
    let cfg = hec_config(&r, true);
    let sink = HecSink::new(cfg.clone(), ctx("hec-ack", &store, &status)).unwrap();
    let run = support::spawn(
        "hec-ack",
        sink,
        SinkOptions::from(&cfg.common),
        &store,
        &status,
    );
    run.until(store.head(), Duration::from_secs(30)).await;
    let st = run.sink_status();
    run.stop().await;
    assert_eq!(st.events_dead_lettered, 1, "{st:?}");
    let dead = store.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].raw.contains("POISON-PILL") && dead[0].reason.contains("code 6"));
    assert_eq!(dead[0].source, "sink:hec-ack");
    let events = r.events();
    assert_eq!(events.len(), 119);
    assert!(
        events.iter().all(|e| e.channel.is_some()),
        "every request named its channel"
    );
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hec_bad_token_is_reported_and_nothing_is_skipped() {
    let r = hec::start(hec::HecConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = support::journal(dir.path(), &support::events(50, 1), &["acme"]).await;
    let status = StatusBoard::default();
    let mut cfg = hec_config(&r, false);
    cfg.token = Secret("wrong-token".to_string().into());
    let sink = HecSink::new(cfg.clone(), ctx("hec-bad", &store, &status)).unwrap();
    let run = support::spawn(
        "hec-bad",
        sink,
        SinkOptions::from(&cfg.common),
        &store,
        &status,
    );
    support::eventually(Duration::from_secs(10), "two failed attempts", || {
        run.sink_status().consecutive_failures >= 2
    })
    .await;
    let st = run.sink_status();
    run.stop().await;
    assert_eq!(st.position, 0, "no batch skipped");
    let err = st.last_error.unwrap();
    assert!(
        err.contains("403") && err.contains("Invalid token"),
        "{err}"
    );
    assert!(!err.contains("wrong-token"), "the token is never shown");
    assert_eq!(r.stats().events, 0);
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elasticsearch_retries_only_failed_items_honours_429_and_never_duplicates() {
    let r = elastic::start(elastic::ElasticConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut evs = support::events(400, 1);
    let mut bad: Value = serde_json::from_str(evs[10].raw()).unwrap();
    bad["detection"] = Value::from("MAPPING-BOMB");
    evs[10] = secure_endpoint::Event::from_json(&bad.to_string()).unwrap();
    let store = support::journal(dir.path(), &evs, &["acme", "globex"]).await;
    r.fail_next_requests(2, 429);
    r.fail_next_items(30, 429);
    r.reject_docs_containing(Some("MAPPING-BOMB"));
    let status = StatusBoard::default();
    let cfg = es_config(&r);
    let sink = ElasticsearchSink::new(cfg.clone(), ctx("es", &store, &status)).unwrap();
    let run = support::spawn("es", sink, SinkOptions::from(&cfg.common), &store, &status);
    run.until(store.head(), Duration::from_secs(60)).await;
    let st = run.sink_status();
    run.stop().await;
    let stats = r.stats();
    assert_eq!(stats.injected_request_failures, 2);
    assert_eq!(stats.created, 399, "{stats:?}");
    // Only the 30 failed items were sent again: no 409s from resending good ones.
    assert_eq!(stats.conflicts, 0, "{stats:?}");
    assert_eq!(stats.last_pipeline.as_deref(), Some("_none"));
    assert_eq!(st.events_dead_lettered, 1);
    let dead = store.dead_letters(10).await.unwrap();
    assert!(
        dead[0].reason.contains("mapper_parsing_exception"),
        "{}",
        dead[0].reason
    );
    let docs = r.docs(DS);
    let ids: BTreeSet<&str> = docs.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), 399);
    for (id, doc) in &docs {
        let (tenant, event_id) = id.split_once(':').unwrap();
        assert_eq!(doc["organization"]["name"], tenant);
        assert_eq!(doc["event"]["id"], event_id);
        assert_eq!(doc["ecs"]["version"], "8.11.0");
        let original: Value =
            serde_json::from_str(doc["event"]["original"].as_str().unwrap()).unwrap();
        assert_eq!(original["id"].to_string(), event_id, "raw event kept");
    }
    // Re-delivering everything (position rewound) adds nothing: the _id makes it exactly once.
    store
        .commit_position("es", &Default::default())
        .await
        .unwrap();
    let status = StatusBoard::default();
    let sink = ElasticsearchSink::new(cfg.clone(), ctx("es", &store, &status)).unwrap();
    let run = support::spawn("es", sink, SinkOptions::from(&cfg.common), &store, &status);
    run.until(store.head(), Duration::from_secs(60)).await;
    run.stop().await;
    assert_eq!(r.count(DS), 399);
    assert_eq!(r.stats().conflicts, 399);
    r.shutdown().await;
}

/// A batch goes out as several concurrent bulk requests; when one of them fails as a whole,
/// the retry sends only the items that did not get in (no 409 for the others).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elasticsearch_part_failure_resends_only_that_part() {
    let r = elastic::start(elastic::ElasticConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = support::journal(dir.path(), &support::events(1000, 1), &["acme"]).await;
    r.fail_next_requests(1, 503);
    let status = StatusBoard::default();
    let mut cfg = es_config(&r);
    cfg.common.batch_size = 1000;
    let sink = ElasticsearchSink::new(cfg.clone(), ctx("es-p", &store, &status)).unwrap();
    let run = support::spawn(
        "es-p",
        sink,
        SinkOptions::from(&cfg.common),
        &store,
        &status,
    );
    run.until(store.head(), Duration::from_secs(60)).await;
    let st = run.sink_status();
    run.stop().await;
    let stats = r.stats();
    // One batch: its parts (one per core), the 503 among them, then the failed part again.
    if std::thread::available_parallelism().map_or(1, |n| n.get()) > 1 {
        assert!(stats.requests >= 3, "the batch was split: {stats:?}");
    }
    assert_eq!(stats.injected_request_failures, 1, "{stats:?}");
    assert_eq!(stats.created, 1000, "{stats:?}");
    assert_eq!(
        stats.conflicts, 0,
        "only the failed part was resent: {stats:?}"
    );
    assert_eq!(r.count(DS), 1000);
    assert_eq!(st.events_written, 1000);
    assert!(st.retries >= 1, "{st:?}");
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elasticsearch_keeps_sub_second_time() {
    let r = elastic::start(elastic::ElasticConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = support::journal(dir.path(), &support::events(30, 1), &["acme"]).await;
    let cfg = es_config(&r);
    let status = StatusBoard::default();
    let sink = ElasticsearchSink::new(cfg.clone(), ctx("es-t", &store, &status)).unwrap();
    support::spawn(
        "es-t",
        sink,
        SinkOptions::from(&cfg.common),
        &store,
        &status,
    )
    .until(store.head(), Duration::from_secs(20))
    .await;
    let mut with_fraction = 0;
    for (_, doc) in r.docs(DS) {
        let raw: Value = serde_json::from_str(doc["event"]["original"].as_str().unwrap()).unwrap();
        let t = time::OffsetDateTime::parse(
            doc["@timestamp"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let ns = raw["timestamp_nanoseconds"].as_u64().unwrap_or(0);
        assert_eq!(t.unix_timestamp(), raw["timestamp"].as_i64().unwrap());
        assert_eq!(u64::from(t.millisecond()), ns / 1_000_000);
        if ns > 0 {
            with_fraction += 1;
        }
    }
    assert!(with_fraction > 0, "fixtures carry sub-second times");
    r.shutdown().await;
}

/// Elastic's expected document for test-cisco-amp9.log, against ours for the same input
/// event (the `data` of its `event.original`), field by field.
#[test]
fn ecs_mapping_matches_elastics_expected_document_field_by_field() {
    let text = std::fs::read_to_string(
        support::fixtures().join("elastic/test-cisco-amp9.log-expected.json"),
    )
    .unwrap();
    let expected_doc: Value = serde_json::from_str::<Value>(&text).unwrap()["expected"][0].clone();
    let page: Value =
        serde_json::from_str(expected_doc["event"]["original"].as_str().unwrap()).unwrap();
    let raw = page["data"].to_string();
    let ours = sebridge::sinks::elasticsearch::ecs::to_ecs(&raw, "acme", DS).unwrap();
    let mut want = BTreeMap::new();
    let mut got = BTreeMap::new();
    flatten("", &expected_doc, &mut want);
    flatten("", &ours, &mut got);
    assert!(
        want.len() >= 25,
        "the expected document has its fields: {want:?}"
    );
    // Documented, deliberate differences (see sinks/ecs.rs).
    let differ = ["@timestamp", "event.original"];
    let added = [
        "organization.name",
        "data_stream.type",
        "data_stream.dataset",
        "data_stream.namespace",
        "event.module",
        "event.dataset",
    ];
    for (k, v) in &want {
        if differ.contains(&k.as_str()) {
            continue;
        }
        assert_eq!(got.get(k), Some(v), "field {k}");
    }
    for k in got.keys() {
        assert!(
            want.contains_key(k) || added.contains(&k.as_str()),
            "unexpected field {k}"
        );
    }
    // @timestamp: same second, and ours keeps the .443 s Elastic drops.
    assert_eq!(want["@timestamp"], "\"2021-01-14T13:06:17.000Z\"");
    assert_eq!(got["@timestamp"], "\"2021-01-14T13:06:17.443Z\"");
    // event.original: ours is the vendor event itself (theirs wraps it in the API page).
    assert_eq!(ours["event"]["original"].as_str().unwrap(), raw);
    assert_eq!(got["organization.name"], "\"acme\"");
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, x, out);
            }
        }
        // Arrays compare whole (order and contents).
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

#[test]
fn ecs_mapping_handles_every_fixture() {
    for v in support::fixture_events() {
        let doc =
            sebridge::sinks::elasticsearch::ecs::to_ecs(&v.to_string(), "t", DS).expect("maps");
        assert_eq!(doc["event"]["kind"], "alert");
        assert_eq!(doc["event"]["code"], v["event_type_id"].to_string());
        if let Some(name) = v["file"]["file_name"].as_str() {
            assert_eq!(doc["file"]["name"], name);
            assert!(doc["event"]["category"]
                .as_array()
                .unwrap()
                .contains(&Value::from("file")));
        }
        if let Some(h) = v["computer"]["hostname"].as_str() {
            assert_eq!(doc["host"]["name"], h.to_lowercase());
        }
        if let Some(args) = v["command_line"]["arguments"].as_str() {
            assert_eq!(doc["process"]["command_line"], args);
        }
        if v["tactics"].is_array() {
            assert!(doc["threat"]["tactic"]["id"].is_array(), "{doc}");
        }
        // Nothing moved to ECS stays duplicated under the vendor namespace.
        let cse = &doc["cisco"]["secure_endpoint"];
        for gone in [
            "id",
            "timestamp",
            "date",
            "severity",
            "event_type",
            "group_guids",
        ] {
            assert!(
                cse.get(gone).is_none(),
                "{gone} left in cisco.secure_endpoint"
            );
        }
    }
}

// ---- webhook ------------------------------------------------------------------------------

#[derive(Default)]
struct Hook {
    bodies: Vec<(String, String, String)>, // (idempotency key, signature, body)
    fail_first: u32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_batches_are_signed_and_keep_their_idempotency_key_on_retry() {
    use axum::http::{HeaderMap, StatusCode};
    use std::sync::{Arc, Mutex};
    let hook = Arc::new(Mutex::new(Hook {
        fail_first: 2,
        ..Default::default()
    }));
    let h2 = hook.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let hook = h2.clone();
            async move {
                let mut h = hook.lock().unwrap();
                let key = headers["idempotency-key"].to_str().unwrap().to_string();
                let sig = headers[SIGNATURE_HEADER].to_str().unwrap().to_string();
                h.bodies.push((key, sig, body));
                if h.fail_first > 0 {
                    h.fail_first -= 1;
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let store = support::journal(dir.path(), &support::events(250, 1), &["acme"]).await;
    let secret = "0123456789abcdef-webhook-secret";
    let cfg = WebhookSinkConfig {
        common: common(100),
        url: format!("http://{addr}/hook").parse().unwrap(),
        secret: Secret(secret.to_string().into()),
        request_timeout: Duration::from_secs(5),
        ca_file: None,
        format: Default::default(),
    };
    let status = StatusBoard::default();
    let sink = WebhookSink::new(cfg.clone(), ctx("hook", &store, &status)).unwrap();
    support::deliver_all("hook", sink, SinkOptions::from(&cfg.common), &store).await;
    let h = hook.lock().unwrap();
    assert_eq!(h.bodies.len(), 5, "3 batches, the first tried 3 times");
    assert_eq!(h.bodies[0].0, h.bodies[1].0);
    assert_eq!(h.bodies[1].0, h.bodies[2].0);
    let mut delivered = Vec::new();
    for (key, sig, body) in &h.bodies {
        // Verify as a receiver would: recompute HMAC-SHA256 over "<t>.<body>".
        let t: i64 = sig
            .strip_prefix("t=")
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(sig, &signature(secret.as_bytes(), t, body.as_bytes()));
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(key, &format!("hook:{}-{}", v["first_seq"], v["last_seq"]));
        delivered.push((key.clone(), v));
    }
    delivered.dedup_by(|a, b| a.0 == b.0);
    let ids: Vec<String> = delivered
        .iter()
        .flat_map(|(_, v)| v["events"].as_array().unwrap().clone())
        .map(|e| e["event_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 250);
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 250);
}
