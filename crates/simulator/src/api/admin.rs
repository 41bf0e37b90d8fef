//! `/_sim/...`: control routes for scripts and other processes (no auth, loopback only).
//! Answers are plain JSON (no API envelope); errors are `{"error": "..."}`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::envelope::json_response;
use crate::faults::Faults;
use crate::sim::SimInner;
use crate::util::parse_start_date;
use crate::SimError;

pub(crate) fn router() -> Router<Arc<SimInner>> {
    Router::new()
        .route("/stats", get(stats))
        .route("/tenants", get(tenants))
        .route("/tenants/{name}/event_ids", get(event_ids))
        .route("/tenants/{name}/events", post(post_events))
        .route("/tenants/{name}/insert_after", post(insert_after))
        .route("/tenants/{name}/computers/{guid}", put(console))
        .route("/faults", put(put_faults))
        .route("/rate_limit", put(put_rate_limit))
        .route("/read_only", put(put_read_only))
        .route("/rate", put(put_rate))
        .route("/write_config", post(write_config))
}

pub(crate) fn admin_error(status: StatusCode, msg: &str) -> Response {
    let body = serde_json::json!({ "error": msg }).to_string();
    json_response(status, body)
}

fn sim_error(e: SimError) -> Response {
    let status = match e {
        SimError::UnknownTenant(_) => StatusCode::NOT_FOUND,
        SimError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    admin_error(status, &e.to_string())
}

fn json<T: Serialize>(v: &T) -> Response {
    match serde_json::to_string(v) {
        Ok(s) => json_response(StatusCode::OK, s),
        Err(e) => admin_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("bad request body: {e}"))
}

async fn stats(State(sim): State<Arc<SimInner>>) -> Response {
    json(&sim.stats())
}

async fn tenants(State(sim): State<Arc<SimInner>>) -> Response {
    let list: Vec<_> = sim.tenants.iter().map(|t| t.info()).collect();
    json(&list)
}

async fn event_ids(State(sim): State<Arc<SimInner>>, Path(name): Path<String>) -> Response {
    match sim.tenant(&name) {
        Ok(t) => json(&t.store.read().ids_newest_first()),
        Err(e) => sim_error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GenerateBody {
    generate: usize,
    #[serde(default)]
    at: Option<String>,
}

/// Body: a JSON array of events (each stored verbatim), or `{"generate": n, "at"?: date}`.
async fn post_events(
    State(sim): State<Arc<SimInner>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let inserted = if first == Some(b'[') {
        let raw: Vec<Box<RawValue>> = match parse_body(&body) {
            Ok(v) => v,
            Err(e) => return admin_error(StatusCode::BAD_REQUEST, &e),
        };
        let texts = raw.into_iter().map(|r| r.get().to_string()).collect();
        sim.insert_raw(&name, texts)
    } else {
        let g: GenerateBody = match parse_body(&body) {
            Ok(v) => v,
            Err(e) => return admin_error(StatusCode::BAD_REQUEST, &e),
        };
        let at = match g.at.as_deref() {
            None => None,
            Some(s) => match parse_start_date(s)
                .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
            {
                Some(t) => Some(t),
                None => {
                    return admin_error(StatusCode::BAD_REQUEST, &format!("bad `at` date {s:?}"))
                }
            },
        };
        sim.generate(&name, g.generate, at).map(|v| v.len())
    };
    match inserted {
        Ok(n) => json(&serde_json::json!({ "inserted": n })),
        Err(e) => sim_error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InsertAfterBody {
    after: u64,
    events: Vec<Box<RawValue>>,
}

async fn insert_after(
    State(sim): State<Arc<SimInner>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let b: InsertAfterBody = match parse_body(&body) {
        Ok(v) => v,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, &e),
    };
    let texts = b.events.into_iter().map(|r| r.get().to_string()).collect();
    match sim.insert_after(&name, b.after, texts) {
        Ok(()) => json(&serde_json::json!({ "scheduled": true })),
        Err(e) => sim_error(e),
    }
}

/// Body: a [`crate::ConsoleAction`] (`online`, `isolation_available`, `isolate`, `unisolate`,
/// `user`).
async fn console(
    State(sim): State<Arc<SimInner>>,
    Path((name, guid)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let action: crate::ConsoleAction = match parse_body(&body) {
        Ok(v) => v,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, &e),
    };
    match sim.console(&name, &guid, &action) {
        Ok(()) => json(&serde_json::json!({ "ok": true })),
        Err(e) => sim_error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultsBody {
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    error_rate: f64,
    #[serde(default)]
    latency_ms: u64,
    #[serde(default)]
    drop_rate: f64,
    #[serde(default)]
    malformed_rate: f64,
    #[serde(default)]
    rate_limited_rate: f64,
}

async fn put_faults(State(sim): State<Arc<SimInner>>, body: Bytes) -> Response {
    let b: FaultsBody = match parse_body(&body) {
        Ok(v) => v,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, &e),
    };
    let faults = Faults {
        error_rate: b.error_rate,
        latency: Duration::from_millis(b.latency_ms),
        drop_rate: b.drop_rate,
        malformed_rate: b.malformed_rate,
        rate_limited_rate: b.rate_limited_rate,
    };
    match sim.set_faults(b.tenant.as_deref(), faults) {
        Ok(()) => json(&serde_json::json!({ "ok": true })),
        Err(e) => sim_error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitBody {
    #[serde(default)]
    tenant: Option<String>,
    limit: u32,
    #[serde(default = "default_window")]
    window_secs: f64,
}

fn default_window() -> f64 {
    3600.0
}

async fn put_rate_limit(State(sim): State<Arc<SimInner>>, body: Bytes) -> Response {
    let b: RateLimitBody = match parse_body(&body) {
        Ok(v) => v,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, &e),
    };
    let window = match Duration::try_from_secs_f64(b.window_secs) {
        Ok(w) => w,
        Err(_) => return admin_error(StatusCode::BAD_REQUEST, "window_secs must be >= 0"),
    };
    match sim.set_rate_limit(b.tenant.as_deref(), b.limit, window) {
        Ok(()) => json(&serde_json::json!({ "ok": true })),
        Err(e) => sim_error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadOnlyBody {
    tenant: String,
    read_only: bool,
}

async fn put_read_only(State(sim): State<Arc<SimInner>>, body: Bytes) -> Response {
    let b: ReadOnlyBody = match parse_body(&body) {
        Ok(v) => v,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, &e),
    };
    match sim.tenant(&b.tenant) {
        Ok(t) => {
            t.read_only
                .store(b.read_only, std::sync::atomic::Ordering::Relaxed);
            json(&serde_json::json!({ "ok": true }))
        }
        Err(e) => sim_error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateBody {
    rate: f64,
}

async fn put_rate(State(sim): State<Arc<SimInner>>, body: Bytes) -> Response {
    let b: RateBody = match parse_body(&body) {
        Ok(v) => v,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, &e),
    };
    match sim.set_rate(b.rate) {
        Ok(()) => json(&serde_json::json!({ "ok": true })),
        Err(e) => sim_error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteConfigBody {
    path: PathBuf,
}

async fn write_config(State(sim): State<Arc<SimInner>>, body: Bytes) -> Response {
    let b: WriteConfigBody = match parse_body(&body) {
        Ok(v) => v,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, &e),
    };
    let sim2 = sim.clone();
    let path = b.path.clone();
    match tokio::task::spawn_blocking(move || sim2.write_config(&path)).await {
        Ok(Ok(())) => json(&serde_json::json!({ "path": b.path })),
        Ok(Err(e)) => sim_error(e),
        Err(e) => admin_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
