//! The Microsoft Sentinel sink against the simulator's Entra ID token endpoint and Logs
//! Ingestion API (`simulator::receivers::sentinel`), with injected throttling, failures,
//! refused credentials and a stricter size limit.

use crate::support;

use sebridge::config::{Secret, SentinelRows, SentinelSinkConfig};
use sebridge::sinks::sentinel::SentinelSink;
use sebridge::sinks::SinkOptions;
use sebridge::status::StatusBoard;
use sebridge::store::{JournalEntry, Store};
use serde_json::{Map, Value};
use simulator::receivers::sentinel::{
    self as receiver, SentinelReceiver, CONNECTOR_STREAM, CONNECTOR_STREAM_COLUMNS, TABLE_STREAM,
};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::sinks_http::{common, ctx};

fn config(r: &SentinelReceiver, rows: SentinelRows, batch: usize) -> SentinelSinkConfig {
    let c = r.config();
    SentinelSinkConfig {
        common: common(batch),
        endpoint: r.url().parse().unwrap(),
        dcr_immutable_id: c.dcr_immutable_id.clone(),
        stream: match rows {
            SentinelRows::Connector => CONNECTOR_STREAM.into(),
            SentinelRows::Table => TABLE_STREAM.into(),
        },
        row_format: rows,
        tenant_id: c.tenant_id.clone(),
        client_id: c.client_id.clone(),
        client_secret: Secret(c.client_secret.clone().into()),
        token_url: Some(r.token_url().parse().unwrap()),
        scope: "https://monitor.azure.com//.default".into(),
        max_request_bytes: 1_000_000,
        gzip: true,
        request_timeout: Duration::from_secs(5),
        ca_file: None,
    }
}

fn start_sink(name: &str, cfg: &SentinelSinkConfig, store: &Store) -> support::Running {
    let status = StatusBoard::default();
    let sink = SentinelSink::new(cfg.clone(), ctx(name, store, &status)).unwrap();
    support::spawn(name, sink, SinkOptions::from(&cfg.common), store, &status)
}

async fn rows_of(store: &Store) -> Vec<JournalEntry> {
    store.read_after(0, 100_000).await.unwrap()
}

/// The ids of the rows a stream holds, checked to be there once each.
fn ids_once(rows: &[Map<String, Value>], id_column: &str) -> BTreeSet<String> {
    let ids: Vec<String> = rows.iter().map(|r| r[id_column].to_string()).collect();
    let set: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(set.len(), ids.len(), "no row twice");
    set
}

/// The vendor event as the connector's stream keeps it: its declared fields only.
fn declared(raw: &str) -> Map<String, Value> {
    let v: Map<String, Value> = serde_json::from_str(raw).unwrap();
    v.into_iter()
        .filter(|(k, _)| CONNECTOR_STREAM_COLUMNS.iter().any(|(c, _)| c == k))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_delivers_every_event_once_gzipped_in_calls_under_the_limit() {
    let r = receiver::start(Default::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = support::journal(dir.path(), &support::events(1500, 1), &["acme", "globex"]).await;
    let mut cfg = config(&r, SentinelRows::Connector, 1000);
    // Small calls, so a batch takes several.
    cfg.max_request_bytes = 200_000;
    let run = start_sink("sentinel", &cfg, &store);
    run.until(store.head(), Duration::from_secs(60)).await;
    let st = run.sink_status();
    run.stop().await;
    assert_eq!(st.events_written, 1500);
    let stats = r.stats();
    assert_eq!(stats.rows, 1500, "{stats:?}");
    assert_eq!(
        stats.tokens_issued, 1,
        "one token for the whole run: {stats:?}"
    );
    let calls = r.calls();
    assert!(
        calls.len() >= 8,
        "a batch is cut into calls: {}",
        calls.len()
    );
    for c in &calls {
        assert_eq!(c.status, 204);
        assert!(c.gzip, "every call is gzipped");
        assert!(c.wire_bytes < c.bytes, "and smaller for it");
        assert!(c.bytes <= 200_000, "{} bytes uncompressed", c.bytes);
    }
    // Every journaled event is there once, as the vendor sent it.
    let rows = r.rows(CONNECTOR_STREAM);
    let ids = ids_once(&rows, "id");
    let journal = rows_of(&store).await;
    assert_eq!(ids.len(), journal.len());
    let by_id: BTreeMap<String, &JournalEntry> = journal
        .iter()
        .map(|e| (e.event_id.to_string(), e))
        .collect();
    for row in &rows {
        let e = by_id[&row["id"].to_string()];
        assert_eq!(
            row,
            &declared(&e.raw),
            "the event as the connector posts it"
        );
    }
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_table_rows_carry_only_the_tables_columns() {
    let r = receiver::start(Default::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = support::journal(dir.path(), &support::events(300, 1), &["acme"]).await;
    let cfg = config(&r, SentinelRows::Table, 100);
    let run = start_sink("sentinel-t", &cfg, &store);
    run.until(store.head(), Duration::from_secs(30)).await;
    run.stop().await;
    let stats = r.stats();
    assert_eq!(stats.dropped_columns, 0, "{:?}", r.unknown_columns());
    let rows = r.rows(TABLE_STREAM);
    assert_eq!(ids_once(&rows, "Id").len(), 300);
    let journal = rows_of(&store).await;
    let by_id: BTreeMap<String, &JournalEntry> = journal
        .iter()
        .map(|e| (e.event_id.to_string(), e))
        .collect();
    for row in &rows {
        let raw: Value = serde_json::from_str(&by_id[&row["Id"].to_string()].raw).unwrap();
        assert_eq!(row["EventType"], raw["event_type"]);
        assert_eq!(row["EventTypeId"], raw["event_type_id"]);
        assert_eq!(row["TimeGenerated"], raw["date"]);
        if let Some(h) = raw["computer"]["hostname"].as_str() {
            assert_eq!(row["ComputerHostname"], h);
        }
        if let Some(sha) = raw["file"]["identity"]["sha256"].as_str() {
            assert_eq!(row["FileIdentitySha256"], sha);
        }
    }
    r.shutdown().await;
}

/// A 429 (and a 503) with Retry-After in the middle of a batch: nothing is sent during the
/// window, then only that call again; the calls accepted before it are not resent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_honours_retry_after_and_resends_only_the_throttled_call() {
    let r = receiver::start(Default::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = support::journal(dir.path(), &support::events(1000, 1), &["acme"]).await;
    let mut cfg = config(&r, SentinelRows::Connector, 1000);
    cfg.max_request_bytes = 100_000;
    r.fail_after(2, 1, 429, Some(2));
    r.fail_after(1, 1, 503, Some(1));
    let run = start_sink("sentinel-429", &cfg, &store);
    run.until(store.head(), Duration::from_secs(60)).await;
    let st = run.sink_status();
    run.stop().await;
    let calls = r.calls();
    let statuses: Vec<u16> = calls.iter().map(|c| c.status).collect();
    assert_eq!(
        &statuses[..6],
        &[204, 204, 429, 204, 503, 204],
        "{statuses:?}"
    );
    // Nothing during the Retry-After window.
    let gap = calls[3].at - calls[2].at;
    assert!(gap >= Duration::from_secs(2), "429 then {gap:?}");
    let gap = calls[5].at - calls[4].at;
    assert!(gap >= Duration::from_secs(1), "503 then {gap:?}");
    // The call after each refusal is that call again (the same gzipped body), and nothing
    // was sent twice.
    assert_eq!(calls[3].wire_bytes, calls[2].wire_bytes);
    assert_eq!(calls[5].wire_bytes, calls[4].wire_bytes);
    assert_eq!(ids_once(&r.rows(CONNECTOR_STREAM), "id").len(), 1000);
    assert_eq!(r.stats().rows, 1000);
    assert_eq!(st.events_written, 1000);
    r.shutdown().await;
}

/// A call that keeps failing fails the batch; the runner's retry of the batch sends only
/// the rows not yet accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_a_failed_batch_is_retried_without_resending_accepted_calls() {
    let r = receiver::start(Default::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = support::journal(dir.path(), &support::events(1000, 1), &["acme"]).await;
    let mut cfg = config(&r, SentinelRows::Connector, 1000);
    cfg.max_request_bytes = 150_000;
    // More failures than one `write` tries a call.
    r.fail_after(2, 8, 500, None);
    let run = start_sink("sentinel-500", &cfg, &store);
    run.until(store.head(), Duration::from_secs(90)).await;
    let st = run.sink_status();
    run.stop().await;
    assert!(st.retries >= 1, "the batch failed once: {st:?}");
    assert_eq!(st.position, store.head());
    let stats = r.stats();
    assert_eq!(stats.injected_failures, 8);
    assert_eq!(
        stats.rows, 1000,
        "accepted calls were not resent: {stats:?}"
    );
    assert_eq!(ids_once(&r.rows(CONNECTOR_STREAM), "id").len(), 1000);
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_renews_its_token_before_it_expires() {
    let r = receiver::start(receiver::SentinelConfig {
        token_lifetime: Duration::from_secs(1),
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = support::journal(dir.path(), &support::events(200, 1), &["acme"]).await;
    let cfg = config(&r, SentinelRows::Connector, 100);
    let run = start_sink("sentinel-exp", &cfg, &store);
    run.until(store.head(), Duration::from_secs(30)).await;
    // Past the token's lifetime: renewed before use, so no call is refused.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    store
        .append("acme", "poll", &support::events(100, 10_000), None)
        .await
        .unwrap();
    run.until(store.head(), Duration::from_secs(30)).await;
    run.stop().await;
    let stats = r.stats();
    assert!(stats.tokens_issued >= 2, "{stats:?}");
    assert_eq!(
        stats.rejected_requests, 0,
        "renewed before it expired: {stats:?}"
    );
    assert_eq!(ids_once(&r.rows(CONNECTOR_STREAM), "id").len(), 300);
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_fetches_a_new_token_after_a_401() {
    let r = receiver::start(Default::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = support::journal(dir.path(), &support::events(100, 1), &["acme"]).await;
    let cfg = config(&r, SentinelRows::Connector, 100);
    let run = start_sink("sentinel-401", &cfg, &store);
    run.until(store.head(), Duration::from_secs(30)).await;
    assert_eq!(r.stats().tokens_issued, 1);
    // Revoked behind the sink's back (its cache still holds it): the 401 makes it fetch a
    // new token and send the call again.
    r.revoke_tokens();
    store
        .append("acme", "poll", &support::events(100, 20_000), None)
        .await
        .unwrap();
    run.until(store.head(), Duration::from_secs(30)).await;
    let st = run.sink_status();
    run.stop().await;
    let stats = r.stats();
    assert_eq!(stats.rejected_requests, 1, "{stats:?}");
    assert_eq!(stats.tokens_issued, 2, "{stats:?}");
    assert_eq!(st.retries, 0, "the 401 was handled inside the call: {st:?}");
    assert_eq!(ids_once(&r.rows(CONNECTOR_STREAM), "id").len(), 200);
    r.shutdown().await;
}

/// Refused credentials: a clear error without the secret, nothing skipped, and delivery
/// resumes by itself once the app's secret matches again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_wrong_secret_is_reported_loses_nothing_and_recovers() {
    let r = receiver::start(Default::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = support::journal(dir.path(), &support::events(150, 1), &["acme"]).await;
    let mut cfg = config(&r, SentinelRows::Table, 100);
    let wrong = "wrong~secret-value-0123456789";
    cfg.client_secret = Secret(wrong.to_string().into());
    let run = start_sink("sentinel-cred", &cfg, &store);
    support::eventually(Duration::from_secs(10), "two failed attempts", || {
        run.sink_status().consecutive_failures >= 2
    })
    .await;
    let st = run.sink_status();
    assert_eq!(st.position, 0, "no batch skipped");
    let err = st.last_error.unwrap_or_default();
    for needle in ["401", "invalid_client", "AADSTS7000215", "client_secret"] {
        assert!(err.contains(needle), "`{needle}` not in: {err}");
    }
    assert!(
        !err.contains("Trace ID"),
        "the message is kept short: {err}"
    );
    assert!(!err.contains(wrong) && !err.contains(&r.config().client_secret));
    assert_eq!(r.stats().requests, 0, "no call without a token");
    assert!(r.stats().token_refusals >= 2);
    // The app's secret is rotated to the one the sink has: it delivers everything.
    r.set_client_secret(wrong);
    run.until(store.head(), Duration::from_secs(30)).await;
    let st = run.sink_status();
    run.stop().await;
    assert!(st.healthy && st.last_error.is_none(), "{st:?}");
    assert_eq!(ids_once(&r.rows(TABLE_STREAM), "Id").len(), 150);
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_missing_role_is_explained_and_delivery_resumes_once_granted() {
    let r = receiver::start(Default::default()).await.unwrap();
    r.set_forbidden(true);
    let dir = tempfile::tempdir().unwrap();
    let store = support::journal(dir.path(), &support::events(120, 1), &["acme"]).await;
    let cfg = config(&r, SentinelRows::Connector, 100);
    let run = start_sink("sentinel-403", &cfg, &store);
    support::eventually(Duration::from_secs(10), "a failed attempt", || {
        run.sink_status().consecutive_failures >= 1
    })
    .await;
    let err = run.sink_status().last_error.unwrap_or_default();
    for needle in [
        "403",
        "OperationFailed",
        "Monitoring Metrics Publisher",
        "request ",
    ] {
        assert!(err.contains(needle), "`{needle}` not in: {err}");
    }
    assert_eq!(run.sink_status().position, 0);
    r.set_forbidden(false);
    run.until(store.head(), Duration::from_secs(30)).await;
    run.stop().await;
    assert_eq!(ids_once(&r.rows(CONNECTOR_STREAM), "id").len(), 120);
    r.shutdown().await;
}

/// A service stricter than `max_request_bytes`: its 413s split the call until each half
/// fits; a row that can never fit a call is dead-lettered, the others are delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_splits_calls_refused_as_too_large_and_dead_letters_rows_that_never_fit() {
    let r = receiver::start(Default::default()).await.unwrap();
    r.set_call_limit(40_000);
    let dir = tempfile::tempdir().unwrap();
    let mut evs = support::events(400, 1);
    let mut huge: Value = serde_json::from_str(evs[17].raw()).unwrap();
    huge["detection"] = Value::from("H".repeat(250_000));
    evs[17] = secure_endpoint::Event::from_json(&huge.to_string()).unwrap();
    let store = support::journal(dir.path(), &evs, &["acme"]).await;
    let mut cfg = config(&r, SentinelRows::Connector, 400);
    cfg.max_request_bytes = 200_000;
    let run = start_sink("sentinel-413", &cfg, &store);
    run.until(store.head(), Duration::from_secs(60)).await;
    let st = run.sink_status();
    run.stop().await;
    let stats = r.stats();
    assert!(stats.too_large >= 1, "{stats:?}");
    assert_eq!(st.events_dead_lettered, 1);
    let dead = store.dead_letters(10).await.unwrap();
    assert!(dead[0].raw.contains("HHHH"), "the huge event");
    assert!(
        dead[0].reason.contains("max_request_bytes"),
        "{}",
        dead[0].reason
    );
    for c in r.calls().iter().filter(|c| c.status == 204) {
        assert!(c.bytes <= 40_000, "{}", c.bytes);
    }
    assert_eq!(ids_once(&r.rows(CONNECTOR_STREAM), "id").len(), 399);
    r.shutdown().await;
}

/// A stop during a long Retry-After ends the wait at once; the batch stays uncommitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_stops_promptly_while_throttled() {
    let r = receiver::start(Default::default()).await.unwrap();
    r.fail_next(1, 429, Some(120));
    let dir = tempfile::tempdir().unwrap();
    let store = support::journal(dir.path(), &support::events(50, 1), &["acme"]).await;
    let cfg = config(&r, SentinelRows::Connector, 100);
    let status = StatusBoard::default();
    let stop = tokio_util::sync::CancellationToken::new();
    let sink = SentinelSink::new(cfg.clone(), ctx("sentinel-stop", &store, &status))
        .unwrap()
        .stop_on(stop.clone());
    let task = tokio::spawn(sebridge::sinks::run_sink(
        "sentinel-stop".into(),
        sink,
        SinkOptions::from(&cfg.common),
        store.clone(),
        status.clone(),
        stop.clone(),
    ));
    support::eventually(Duration::from_secs(10), "the throttled call", || {
        r.calls().iter().any(|c| c.status == 429)
    })
    .await;
    let asked = std::time::Instant::now();
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stopped without waiting out Retry-After")
        .unwrap()
        .unwrap();
    assert!(asked.elapsed() < Duration::from_secs(5));
    assert_eq!(r.calls().len(), 1, "nothing sent during the window");
    assert_eq!(
        store
            .position("sentinel-stop")
            .await
            .unwrap()
            .map_or(0, |p| p.seq),
        0
    );
    r.shutdown().await;
}
