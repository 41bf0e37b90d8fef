//! The Microsoft Sentinel row of the sinks bench (included by `sinks.rs`): the real sink
//! through the runner against the simulator's Logs Ingestion receiver (in its own process,
//! `keep_rows: false`), and a baseline that POSTs the same calls in a plain loop: the same
//! connector rows (the default `row_format`), cut into calls of at most the default
//! `max_request_bytes` of JSON as the sink cuts them, the same gzip (`gzip_off_thread`), the
//! same HTTP client (`util::http::client`), the same headers, one token for the whole run.

use super::{common, ctx, next_batch, rt, run, spawn_child, Receiver, BATCH};
use sebridge::config::{Secret, SentinelRows, SentinelSinkConfig};
use sebridge::sinks::sentinel::config::{
    SENTINEL_MAX_REQUEST_BYTES, SENTINEL_SCOPE, SENTINEL_STREAM,
};
use sebridge::sinks::sentinel::encoder::connector_row;
use sebridge::sinks::sentinel::sink::API_VERSION;
use sebridge::sinks::sentinel::SentinelSink;
use sebridge::sinks::util::http::{client, gzip_off_thread};
use sebridge::store::Store;
use serde_json::Value;
use simulator::receivers::sentinel::{start, SentinelConfig};
use std::io::Write;
use std::time::Duration;

/// The receiver process: prints its URL, runs until its stdin is closed.
pub fn receiver() {
    rt().block_on(async {
        let r = start(SentinelConfig {
            keep_rows: false,
            ..Default::default()
        })
        .await
        .expect("sentinel receiver");
        println!("URL {}", r.url());
        let _ = std::io::stdout().flush();
        let _ = tokio::task::spawn_blocking(|| {
            let mut s = String::new();
            while std::io::stdin()
                .read_line(&mut s)
                .map(|n| n > 0)
                .unwrap_or(false)
            {}
        })
        .await;
        drop(r);
    });
}

/// The sink's config for the receiver at `url` (its default tenant, app and DCR).
fn config(url: &str) -> SentinelSinkConfig {
    let r = SentinelConfig::default();
    let token_url = format!("{url}/{}/oauth2/v2.0/token", r.tenant_id);
    SentinelSinkConfig {
        common: common(BATCH),
        endpoint: url.parse().expect("url"),
        dcr_immutable_id: r.dcr_immutable_id,
        stream: SENTINEL_STREAM.into(),
        row_format: SentinelRows::Connector,
        tenant_id: r.tenant_id,
        client_id: r.client_id,
        client_secret: Secret(r.client_secret.into()),
        token_url: Some(token_url.parse().expect("token url")),
        scope: SENTINEL_SCOPE.into(),
        max_request_bytes: SENTINEL_MAX_REQUEST_BYTES,
        gzip: true,
        request_timeout: Duration::from_secs(30),
        ca_file: None,
    }
}

/// One case in the child process: `sentinel` or `sentinel-baseline`.
pub async fn case(case: &str, target: &str, store: &Store) -> String {
    let cfg = config(target);
    if case == "sentinel" {
        let sink = SentinelSink::new(cfg, ctx(case, store)).expect("sink");
        run(case, sink, BATCH, store).await;
        return String::new();
    }
    let http = client(cfg.request_timeout, None).expect("client");
    let token = token(&http, &cfg).await;
    let url = format!(
        "{}/dataCollectionRules/{}/streams/{}?api-version={API_VERSION}",
        cfg.endpoint.as_str().trim_end_matches('/'),
        cfg.dcr_immutable_id,
        cfg.stream
    );
    let mut pos = 0;
    while let Some(batch) = next_batch(store, &mut pos).await {
        let rows: Vec<Vec<u8>> = batch
            .iter()
            .map(|e| {
                let mut row = Vec::with_capacity(e.raw.len() + 64);
                assert!(connector_row(&e.raw, &mut row), "row");
                row
            })
            .collect();
        for body in calls(&rows, cfg.max_request_bytes) {
            let (_, z) = gzip_off_thread(body).await.expect("gzip");
            let r = http
                .post(&url)
                .bearer_auth(&token)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("x-ms-client-request-id", uuid::Uuid::new_v4().to_string())
                .header(reqwest::header::CONTENT_ENCODING, "gzip")
                .body(z)
                .send()
                .await
                .expect("post");
            assert_eq!(r.status().as_u16(), 204, "ingestion call");
        }
    }
    String::new()
}

/// The client-credentials grant, once.
async fn token(http: &reqwest::Client, cfg: &SentinelSinkConfig) -> String {
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", &cfg.client_id)
        .append_pair("client_secret", cfg.client_secret.expose())
        .append_pair("scope", &cfg.scope)
        .finish();
    let r = http
        .post(cfg.token_endpoint())
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(form)
        .send()
        .await
        .expect("token request");
    assert!(r.status().is_success(), "token: {}", r.status());
    let v: Value = r.json().await.expect("token JSON");
    v["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// The JSON arrays of `rows`, in order, each at most `limit` bytes: the sink's cut.
fn calls(rows: &[Vec<u8>], limit: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut body = vec![b'['];
    for row in rows {
        // `,` before the row and `]` after it.
        if body.len() > 1 && body.len() + row.len() + 2 > limit {
            body.push(b']');
            out.push(std::mem::replace(&mut body, vec![b'[']));
        }
        if body.len() > 1 {
            body.push(b',');
        }
        body.extend_from_slice(row);
    }
    if body.len() > 1 {
        body.push(b']');
        out.push(body);
    }
    out
}

/// The baseline, then the sink, against one receiver; the row of the table.
pub fn row(db: &str, out: &str) -> (String, Value, Value, String) {
    let r = Receiver::start("sentinel");
    let base = spawn_child(&["sentinel-baseline", db, &r.url, out]);
    let after_base = r.stats();
    let sink = spawn_child(&["sentinel", db, &r.url, out]);
    let after = r.stats();
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0);
    let d = |k: &str| n(&after, k) - n(&after_base, k);
    let refused = ["rejected_requests", "too_large", "bad_requests"]
        .iter()
        .map(|k| n(&after, k))
        .sum::<u64>();
    let check = format!(
        "receiver stored {} rows in {} calls (baseline {} in {}), largest call {} bytes, {refused} refused",
        d("rows"),
        d("accepted_requests"),
        n(&after_base, "rows"),
        n(&after_base, "accepted_requests"),
        n(&after, "max_call_bytes"),
    );
    (
        "Microsoft Sentinel (Logs Ingestion, gzip) to the receiver".into(),
        sink,
        base,
        check,
    )
}
