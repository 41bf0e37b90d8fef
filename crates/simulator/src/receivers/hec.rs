//! A Splunk HTTP Event Collector on loopback.
//!
//! `POST /services/collector/event` (also `/services/collector` and `…/event/1.0`): one or
//! more concatenated event objects, optionally gzipped, `Authorization: Splunk <token>`.
//! Answers with HEC's codes: 0 success (with `ackId` when acknowledgement is on), 2 token
//! required, 3 invalid authorization, 4 invalid token, 5 no data, 6 invalid data format
//! (with `invalid-event-number`; nothing of that request is kept), 7 incorrect index,
//! 9 server busy (503), 10 data channel missing, 12 event field required, 13 event field
//! blank. `POST /services/collector/ack` answers `{"acks":{"<id>":true|false}}`;
//! `GET /services/collector/health` answers code 17.

// Field and accessor names mirror the protocol's (documented above); one-line docs each
// would only repeat them.
#![allow(missing_docs)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::{with_body, Server, Text};
use crate::SimError;

/// How to start a HEC receiver.
#[derive(Debug, Clone)]
pub struct HecConfig {
    /// Listen address (port 0 picks one).
    pub listen: SocketAddr,
    /// The accepted token.
    pub token: String,
    /// Indexer acknowledgement on (requests then need `X-Splunk-Request-Channel`).
    pub ack: bool,
    /// Indexes the token may write to (empty: any).
    pub allowed_indexes: Vec<String>,
    /// Keep every event for inspection (off for benchmarks: only counts are kept).
    pub keep_events: bool,
}

impl Default for HecConfig {
    fn default() -> Self {
        HecConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: "00000000-0000-4000-8000-000000000000".into(),
            ack: false,
            allowed_indexes: Vec::new(),
            keep_events: true,
        }
    }
}

/// One event as received.
#[derive(Debug, Clone, Serialize)]
pub struct HecEvent {
    pub time: Option<Value>,
    pub host: Option<String>,
    pub source: Option<String>,
    pub sourcetype: Option<String>,
    pub index: Option<String>,
    pub fields: Option<Value>,
    pub event: Value,
    /// The channel of the request (ack mode).
    pub channel: Option<String>,
}

/// Counters, as served by `GET /_receiver/stats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HecStats {
    pub requests: u64,
    pub gzip_requests: u64,
    pub events: u64,
    pub rejected_requests: u64,
    pub injected_failures: u64,
}

#[derive(Default)]
struct Faults {
    /// Statuses for the next requests (503 → code 9 "Server is busy").
    next: VecDeque<u16>,
    /// Events whose JSON contains this are refused as malformed (code 6).
    reject_containing: Option<String>,
    /// Ack ids are reported false for this many polls.
    ack_delay_polls: u32,
}

#[derive(Default)]
struct Inner {
    stats: HecStats,
    events: Vec<HecEvent>,
    faults: Faults,
    next_ack: u64,
    /// Per channel: ack id → polls seen.
    acks: HashMap<String, HashMap<u64, u32>>,
    channels: HashSet<String>,
}

struct Shared {
    config: HecConfig,
    inner: Mutex<Inner>,
}

/// A running HEC receiver.
pub struct HecReceiver {
    shared: Arc<Shared>,
    server: Server,
}

/// Starts a receiver.
pub async fn start(config: HecConfig) -> Result<HecReceiver, SimError> {
    let shared = Arc::new(Shared {
        config: config.clone(),
        inner: Mutex::new(Inner::default()),
    });
    let router = Router::new()
        .route("/services/collector/event", post(collect))
        .route("/services/collector", post(collect))
        .route("/services/collector/event/1.0", post(collect))
        .route("/services/collector/ack", post(ack))
        .route("/services/collector/health", get(health))
        .route("/_receiver/stats", get(stats))
        .with_state(shared.clone());
    let server = Server::start(config.listen, router).await?;
    Ok(HecReceiver { shared, server })
}

impl HecReceiver {
    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    pub fn token(&self) -> &str {
        &self.shared.config.token
    }

    pub fn stats(&self) -> HecStats {
        self.shared.inner.lock().stats.clone()
    }

    /// Every event kept so far, in arrival order.
    pub fn events(&self) -> Vec<HecEvent> {
        self.shared.inner.lock().events.clone()
    }

    /// Answers the next `n` requests with `status` (503: "Server is busy", code 9; any
    /// other status gets code 8, "Internal server error").
    pub fn fail_next(&self, n: usize, status: u16) {
        let mut i = self.shared.inner.lock();
        i.faults.next.extend(std::iter::repeat_n(status, n));
    }

    /// Refuses (code 6) any request holding an event whose JSON contains `needle`.
    pub fn reject_events_containing(&self, needle: Option<&str>) {
        self.shared.inner.lock().faults.reject_containing = needle.map(str::to_string);
    }

    /// Reports each ack id as pending for this many polls before confirming it.
    pub fn delay_acks(&self, polls: u32) {
        self.shared.inner.lock().faults.ack_delay_polls = polls;
    }

    pub async fn shutdown(mut self) {
        self.server.stop().await;
    }
}

fn reply(status: StatusCode, code: u32, text: &str) -> Response {
    (status, Json(json!({"text": text, "code": code}))).into_response()
}

#[derive(Deserialize)]
struct EventObj<'a> {
    #[serde(default, borrow)]
    time: Option<&'a RawValue>,
    #[serde(default, borrow)]
    host: Option<Text<'a>>,
    #[serde(default, borrow)]
    source: Option<Text<'a>>,
    #[serde(default, borrow)]
    sourcetype: Option<Text<'a>>,
    #[serde(default, borrow)]
    index: Option<Text<'a>>,
    #[serde(default, borrow)]
    fields: Option<&'a RawValue>,
    #[serde(default, borrow)]
    event: Option<&'a RawValue>,
}

fn check_auth(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Some(reply(StatusCode::UNAUTHORIZED, 2, "Token is required"));
    };
    let Some(token) = value.to_str().ok().and_then(|v| v.strip_prefix("Splunk ")) else {
        return Some(reply(StatusCode::UNAUTHORIZED, 3, "Invalid authorization"));
    };
    if token.trim() != shared.config.token {
        return Some(reply(StatusCode::FORBIDDEN, 4, "Invalid token"));
    }
    None
}

fn channel_of(headers: &HeaderMap, q: &HashMap<String, String>) -> Option<String> {
    headers
        .get("x-splunk-request-channel")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| q.get("channel").cloned())
}

async fn collect(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    {
        let mut i = shared.inner.lock();
        i.stats.requests += 1;
        if let Some(status) = i.faults.next.pop_front() {
            i.stats.injected_failures += 1;
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return if status == StatusCode::SERVICE_UNAVAILABLE {
                reply(status, 9, "Server is busy")
            } else {
                reply(status, 8, "Internal server error")
            };
        }
    }
    if let Some(r) = check_auth(&shared, &headers) {
        shared.inner.lock().stats.rejected_requests += 1;
        return r;
    }
    let channel = channel_of(&headers, &q);
    if shared.config.ack && channel.is_none() {
        shared.inner.lock().stats.rejected_requests += 1;
        return reply(StatusCode::BAD_REQUEST, 10, "Data channel is missing");
    }
    let gz = headers.contains_key(header::CONTENT_ENCODING);
    with_body(&headers, &body, |data| {
        collect_events(&shared, channel, gz, data)
    })
    .unwrap_or_else(|_| reply(StatusCode::BAD_REQUEST, 6, "Invalid data format"))
}

/// The events of a (gunzipped) request body, checked and counted (and kept when asked).
fn collect_events(shared: &Shared, channel: Option<String>, gz: bool, data: &[u8]) -> Response {
    let reject = shared.inner.lock().faults.reject_containing.clone();
    let mut events = Vec::new();
    let mut n = 0usize;
    // One pass per event: the object's fields are read as it is parsed, the event itself is
    // checked as JSON and kept as a slice of the body.
    for item in serde_json::Deserializer::from_slice(data).into_iter::<EventObj<'_>>() {
        let invalid = || {
            (
                StatusCode::BAD_REQUEST,
                Json(json!({"text": "Invalid data format", "code": 6, "invalid-event-number": n})),
            )
                .into_response()
        };
        let Ok(obj) = item else { return invalid() };
        let Some(event) = obj.event else {
            return reply(StatusCode::BAD_REQUEST, 12, "Event field is required");
        };
        let text = event.get();
        if text == "\"\"" || text == "null" {
            return reply(StatusCode::BAD_REQUEST, 13, "Event field cannot be blank");
        }
        if reject
            .as_deref()
            .is_some_and(|needle| text.contains(needle))
        {
            return invalid();
        }
        if let Some(index) = &obj.index {
            let allowed = &shared.config.allowed_indexes;
            if !allowed.is_empty() && !allowed.iter().any(|a| *a == index.0) {
                return reply(StatusCode::BAD_REQUEST, 7, "Incorrect index");
            }
        }
        if shared.config.keep_events {
            events.push(HecEvent {
                time: obj.time.and_then(|t| serde_json::from_str(t.get()).ok()),
                host: obj.host.map(|t| t.0.into_owned()),
                source: obj.source.map(|t| t.0.into_owned()),
                sourcetype: obj.sourcetype.map(|t| t.0.into_owned()),
                index: obj.index.map(|t| t.0.into_owned()),
                fields: obj.fields.and_then(|t| serde_json::from_str(t.get()).ok()),
                event: serde_json::from_str(text).unwrap_or(Value::Null),
                channel: channel.clone(),
            });
        }
        n += 1;
    }
    if n == 0 {
        return reply(StatusCode::BAD_REQUEST, 5, "No data");
    }
    let mut i = shared.inner.lock();
    i.stats.events += n as u64;
    if gz {
        i.stats.gzip_requests += 1;
    }
    i.events.extend(events);
    if shared.config.ack {
        let id = i.next_ack;
        i.next_ack += 1;
        let ch = channel.unwrap_or_default();
        i.channels.insert(ch.clone());
        i.acks.entry(ch).or_default().insert(id, 0);
        return Json(json!({"text": "Success", "code": 0, "ackId": id})).into_response();
    }
    reply(StatusCode::OK, 0, "Success")
}

#[derive(Deserialize)]
struct AckQuery {
    acks: Vec<u64>,
}

async fn ack(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = check_auth(&shared, &headers) {
        return r;
    }
    if !shared.config.ack {
        return reply(StatusCode::BAD_REQUEST, 14, "ACK is disabled");
    }
    let Some(channel) = channel_of(&headers, &q) else {
        return reply(StatusCode::BAD_REQUEST, 10, "Data channel is missing");
    };
    let Ok(query) = serde_json::from_slice::<AckQuery>(&body) else {
        return reply(StatusCode::BAD_REQUEST, 6, "Invalid data format");
    };
    let mut i = shared.inner.lock();
    let delay = i.faults.ack_delay_polls;
    if !i.channels.contains(&channel) {
        return reply(StatusCode::BAD_REQUEST, 11, "Invalid data channel");
    }
    let pending = i.acks.entry(channel).or_default();
    let mut out = serde_json::Map::new();
    for id in query.acks {
        let done = match pending.get_mut(&id) {
            Some(polls) if *polls >= delay => {
                // An ack's status is deleted once it has been returned as true.
                pending.remove(&id);
                true
            }
            Some(polls) => {
                *polls += 1;
                false
            }
            None => false,
        };
        out.insert(id.to_string(), Value::Bool(done));
    }
    Json(json!({ "acks": out })).into_response()
}

async fn health() -> Response {
    reply(StatusCode::OK, 17, "HEC is healthy")
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.inner.lock().stats.clone()).into_response()
}
