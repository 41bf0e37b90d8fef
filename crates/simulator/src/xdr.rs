//! A simulated Cisco XDR organisation: the IROH OAuth2 token endpoint and the CTIA incident
//! API on private intel.
//!
//! Written from `shared/reference/xdr-and-servicenow-api.md` §2–3:
//! `POST /iroh/oauth2/token` (HTTP Basic client id/password, form
//! `grant_type=client_credentials`) → `{"access_token","token_type":"bearer","expires_in":600,
//! "scope"}`; every `/ctia/...` call needs `Authorization: Bearer`. Incidents: required
//! `confidence`, `status`, `incident_time.opened`; enumerations of confidence, status,
//! severity and tlp; `title` ≤ 1024, `short_description` ≤ 2048, `description` ≤ 5000
//! characters; stored ids are full URLs `…/ctia/incident/incident-<uuid>`; PATCH deep-merges
//! maps and *replaces* lists; a transition to a `Closed…` status stamps
//! `incident_time.closed` with the server's time (current CTIA overrides a client value);
//! `POST /{id}/status` takes `{"status"}` only; lookup by external id; search with
//! `X-Total-Hits`.
//!
//! Rate limit (§2, "Rate limit (XDR)"): a budget of requests per rolling window for the
//! organisation, shared by every API client (documented: 8000 per 60 minutes). Every `/ctia`
//! answer carries `X-Ratelimit-Org-Limit`; over the budget the answer is 429 with
//! `Retry-After` = whole seconds until the oldest counted request leaves the window (so a
//! request sent then is accepted). Only accepted requests count. The token endpoint (IROH, a
//! different host on the real service) is not counted. The 429 body is not documented; a
//! JSON `{"error","message"}` like CTIA's other errors is an **inference**.

// Handlers answer early with a ready `Response`; boxing it would only add noise.
#![allow(clippy::result_large_err)]
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use base64::Engine as _;
use parking_lot::{Mutex, RwLock};
use rand::rngs::SmallRng;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::api::envelope_json_response as json_response;
use crate::sim::{now_ns, SimInner};
use crate::util::{parse_query, zulu_date};
use crate::world::{random_hex, random_uuid};

const CONFIDENCE: &[&str] = &["High", "Medium", "Low", "Info", "None", "Unknown"];
const SEVERITY: &[&str] = &[
    "Critical", "High", "Medium", "Low", "Info", "None", "Unknown",
];
const TLP: &[&str] = &["white", "green", "amber", "red"];
const STATUS: &[&str] = &[
    "New",
    "New: Presented",
    "New: Processing",
    "Open",
    "Open: Contained",
    "Open: Investigating",
    "Open: Recovered",
    "Open: Reported",
    "Hold",
    "Hold: External",
    "Hold: Internal",
    "Hold: Legal",
    "Closed",
    "Closed: Confirmed Threat",
    "Closed: False Positive",
    "Closed: Merged",
    "Closed: Near-Miss",
    "Closed: Other",
    "Closed: Suspected",
    "Closed: Under Review",
    "Containment Achieved",
    "Restoration Achieved",
    "Incident Reported",
    "Rejected",
    "Stalled",
];
const LIMITS: &[(&str, usize)] = &[
    ("title", 1024),
    ("short_description", 2048),
    ("description", 5000),
    ("source", 2048),
];

/// Credentials of the simulated XDR API client, and where to send them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct XdrInfo {
    /// Base URL for both IROH (`/iroh/oauth2/token`) and CTIA (`/ctia/...`).
    pub base_url: String,
    /// API client id (`client-<uuid>`).
    pub client_id: String,
    /// API client password.
    pub client_password: String,
}

/// One `/ctia` request as the organisation's rate limiter saw it (see
/// [`SimHandle::xdr_requests`](crate::SimHandle::xdr_requests)).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct XdrRequest {
    /// When it arrived: milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// `GET`, `POST`, `PATCH`.
    pub method: String,
    /// The path, e.g. `/ctia/incident`.
    pub path: String,
    /// The status answered.
    pub status: u16,
    /// `Retry-After` (seconds) of a 429.
    pub retry_after: Option<u64>,
}

/// Requests kept in the log (the oldest are dropped).
const REQUEST_LOG: usize = 100_000;

/// The organisation's budget over a rolling window.
struct OrgLimit {
    limit: u32,
    window: Duration,
    /// Arrival of every accepted request still inside the window, oldest first.
    accepted: VecDeque<Instant>,
}

impl OrgLimit {
    /// Counts the request, or says how long until a slot frees.
    fn check(&mut self, now: Instant) -> Result<(), Duration> {
        while let Some(&t) = self.accepted.front() {
            if now.saturating_duration_since(t) >= self.window {
                self.accepted.pop_front();
            } else {
                break;
            }
        }
        if self.accepted.len() < self.limit as usize {
            self.accepted.push_back(now);
            return Ok(());
        }
        Err(match self.accepted.front() {
            Some(&oldest) => (oldest + self.window).saturating_duration_since(now),
            None => self.window,
        })
    }
}

/// short id → (creation order, incident).
type Stored = BTreeMap<String, (u64, Map<String, Value>)>;

pub(crate) struct XdrState {
    client_id: String,
    client_password: String,
    org: String,
    tokens: Mutex<HashMap<String, Instant>>,
    token_ttl: RwLock<Duration>,
    /// short id → stored incident, plus creation order.
    incidents: Mutex<Stored>,
    next_order: AtomicU64,
    rng: Mutex<SmallRng>,
    token_requests: AtomicU64,
    unauthorized: AtomicU64,
    limit: Mutex<OrgLimit>,
    requests: Mutex<VecDeque<XdrRequest>>,
}

impl XdrState {
    pub fn new(rng: &mut SmallRng, limit: u32, window: Duration) -> XdrState {
        let seed: u64 = rng.random();
        let mut own = <SmallRng as rand::SeedableRng>::seed_from_u64(seed);
        XdrState {
            client_id: format!("client-{}", random_uuid(&mut own)),
            client_password: random_hex(&mut own, 40),
            org: random_uuid(&mut own),
            tokens: Mutex::new(HashMap::new()),
            token_ttl: RwLock::new(Duration::from_secs(600)),
            incidents: Mutex::new(BTreeMap::new()),
            next_order: AtomicU64::new(0),
            rng: Mutex::new(own),
            token_requests: AtomicU64::new(0),
            unauthorized: AtomicU64::new(0),
            limit: Mutex::new(OrgLimit {
                limit,
                window,
                accepted: VecDeque::new(),
            }),
            requests: Mutex::new(VecDeque::new()),
        }
    }

    /// A new budget per rolling window; the window starts empty.
    pub fn set_rate_limit(&self, limit: u32, window: Duration) {
        let mut l = self.limit.lock();
        l.limit = limit;
        l.window = window;
        l.accepted.clear();
    }

    /// Every `/ctia` request received (the last 100,000), oldest first.
    pub fn requests(&self) -> Vec<XdrRequest> {
        self.requests.lock().iter().cloned().collect()
    }

    pub fn info(&self, base_url: &str) -> XdrInfo {
        XdrInfo {
            base_url: base_url.to_string(),
            client_id: self.client_id.clone(),
            client_password: self.client_password.clone(),
        }
    }

    /// Every stored incident, oldest first.
    pub fn incidents(&self) -> Vec<Value> {
        let map = self.incidents.lock();
        let mut v: Vec<&(u64, Map<String, Value>)> = map.values().collect();
        v.sort_by_key(|(o, _)| *o);
        v.into_iter()
            .map(|(_, m)| Value::Object(m.clone()))
            .collect()
    }

    /// Lifetime of tokens issued from now on.
    pub fn set_token_ttl(&self, ttl: Duration) {
        *self.token_ttl.write() = ttl;
    }

    /// Every token issued and not yet invalidated by [`Self::expire_tokens`].
    pub fn issued_tokens(&self) -> Vec<String> {
        self.tokens.lock().keys().cloned().collect()
    }

    /// Invalidates every token issued so far (as if they had all expired).
    pub fn expire_tokens(&self) {
        self.tokens.lock().clear();
    }

    /// (token requests, requests refused for want of a valid token).
    pub fn counters(&self) -> (u64, u64) {
        (
            self.token_requests.load(Ordering::Relaxed),
            self.unauthorized.load(Ordering::Relaxed),
        )
    }
}

fn ctia_error(status: StatusCode, body: Value) -> Response {
    json_response(status, body.to_string())
}

fn now_iso() -> String {
    let ns = now_ns();
    let secs = (ns / 1_000_000_000) as i64;
    let ms = ((ns / 1_000_000) % 1000) as i64;
    let z = zulu_date(secs);
    format!("{}.{:03}Z", z.trim_end_matches('Z'), ms)
}

pub(crate) fn router(sim: Arc<SimInner>) -> Router<Arc<SimInner>> {
    let ctia = Router::new()
        .route("/ctia/incident", post(create))
        .route("/ctia/incident/search", get(search))
        .route("/ctia/incident/external_id/{eid}", get(by_external_id))
        .route("/ctia/incident/{id}", get(get_one).patch(patch))
        .route("/ctia/incident/{id}/status", post(status))
        .route_layer(from_fn_with_state(sim, org_rate_limit));
    Router::new()
        .route("/iroh/oauth2/token", post(token))
        .merge(ctia)
}

const ORG_LIMIT_HEADER: HeaderName = HeaderName::from_static("x-ratelimit-org-limit");

fn epoch_ms() -> u64 {
    u64::try_from(now_ns() / 1_000_000).unwrap_or(0)
}

/// The organisation's request budget: counts the request or answers 429 with `Retry-After`;
/// every answer says the limit. Every request is logged.
async fn org_rate_limit(State(sim): State<Arc<SimInner>>, req: Request, next: Next) -> Response {
    let at_ms = epoch_ms();
    let (method, path) = (req.method().to_string(), req.uri().path().to_string());
    let (checked, limit, window) = {
        let mut l = sim.xdr.limit.lock();
        (l.check(Instant::now()), l.limit, l.window)
    };
    let (mut resp, retry_after) = match checked {
        Ok(()) => (next.run(req).await, None),
        Err(wait) => {
            let secs = (wait.as_secs_f64().ceil() as u64).max(1);
            let mut r = ctia_error(
                StatusCode::TOO_MANY_REQUESTS,
                serde_json::json!({
                    "error": "too_many_requests",
                    "message": format!(
                        "Rate limit exceeded: {limit} requests per {} s for this organisation; retry in {secs} s",
                        window.as_secs()
                    ),
                }),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            (r, Some(secs))
        }
    };
    resp.headers_mut()
        .insert(ORG_LIMIT_HEADER, HeaderValue::from(limit));
    let mut log = sim.xdr.requests.lock();
    if log.len() >= REQUEST_LOG {
        log.pop_front();
    }
    log.push_back(XdrRequest {
        at_ms,
        method,
        path,
        status: resp.status().as_u16(),
        retry_after,
    });
    resp
}

/// `/_sim/xdr/...` control routes.
pub(crate) fn admin_router() -> Router<Arc<SimInner>> {
    Router::new()
        .route("/incidents", get(admin_incidents))
        .route("/token_ttl", put(admin_token_ttl))
        .route("/expire_tokens", post(admin_expire))
        .route("/rate_limit", put(admin_rate_limit))
        .route("/requests", get(admin_requests))
}

async fn token(State(sim): State<Arc<SimInner>>, headers: HeaderMap, body: Bytes) -> Response {
    let x = &sim.xdr;
    x.token_requests.fetch_add(1, Ordering::Relaxed);
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(s, _)| s.eq_ignore_ascii_case("basic"))
        .and_then(|(_, b)| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    let ok = basic
        .as_deref()
        .and_then(|t| t.split_once(':'))
        .is_some_and(|(id, pw)| id == x.client_id && pw == x.client_password);
    if !ok {
        return ctia_error(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"error": "invalid_client", "error_description": "Invalid client credentials"}),
        );
    }
    let form = String::from_utf8_lossy(&body);
    let grant = parse_query(Some(&form))
        .into_iter()
        .find(|p| p.key == "grant_type")
        .map(|p| p.value);
    if grant.as_deref() != Some("client_credentials") {
        return ctia_error(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"error": "unsupported_grant_type", "error_description": "grant_type must be client_credentials"}),
        );
    }
    let ttl = *x.token_ttl.read();
    // Tokens are JWTs on the real service; an opaque string is enough here.
    let tok = format!("eyJ{}", random_hex(&mut x.rng.lock(), 60));
    x.tokens.lock().insert(tok.clone(), Instant::now() + ttl);
    json_response(
        StatusCode::OK,
        serde_json::json!({
            "access_token": tok,
            "token_type": "bearer",
            "expires_in": ttl.as_secs(),
            "scope": "private-intel inspect enrich response",
        })
        .to_string(),
    )
}

fn bearer_ok(x: &XdrState, headers: &HeaderMap) -> Result<(), Response> {
    let tok = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    let valid = tok
        .and_then(|t| x.tokens.lock().get(&t).copied())
        .is_some_and(|exp| exp > Instant::now());
    if valid {
        Ok(())
    } else {
        x.unauthorized.fetch_add(1, Ordering::Relaxed);
        Err(ctia_error(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"error": "invalid_token", "message": "Authorization token is missing, invalid or expired"}),
        ))
    }
}

/// Schema check of a whole incident (after a create or a patch). Problems by field.
fn validate(m: &Map<String, Value>) -> Map<String, Value> {
    let mut errors = Map::new();
    let mut err = |k: &str, msg: String| {
        errors.insert(k.to_string(), Value::String(msg));
    };
    for req in ["confidence", "status"] {
        if !m.contains_key(req) {
            err(req, "missing-required-key".into());
        }
    }
    match m.get("incident_time") {
        Some(Value::Object(t)) => {
            if !t.contains_key("opened") {
                err("incident_time", "{:opened missing-required-key}".into());
            }
            for (k, v) in t {
                if !v.is_string() {
                    err("incident_time", format!("{{:{k} (not (inst? a-date))}}"));
                }
            }
        }
        Some(_) => err("incident_time", "(not (map? a-map))".into()),
        None => err("incident_time", "missing-required-key".into()),
    }
    for (key, allowed) in [
        ("confidence", CONFIDENCE),
        ("severity", SEVERITY),
        ("tlp", TLP),
        ("status", STATUS),
    ] {
        if let Some(v) = m.get(key) {
            if !v.as_str().is_some_and(|s| allowed.contains(&s)) {
                err(key, format!("(not (#{{{}}} {v}))", allowed.join(" ")));
            }
        }
    }
    for (key, max) in LIMITS {
        if let Some(v) = m.get(*key) {
            match v.as_str() {
                Some(s) if s.chars().count() <= *max => {}
                Some(_) => err(key, format!("(not (< (count %) {}))", max + 1)),
                None => err(key, "(not (instance? java.lang.String a-string))".into()),
            }
        }
    }
    for key in [
        "external_ids",
        "categories",
        "assignees",
        "tactics",
        "techniques",
    ] {
        if let Some(v) = m.get(key) {
            if !v
                .as_array()
                .is_some_and(|a| a.iter().all(|x| x.is_string()))
            {
                err(key, "(not (sequential? of strings))".into());
            }
        }
    }
    if let Some(v) = m.get("external_references") {
        let ok = v.as_array().is_some_and(|a| {
            a.iter()
                .all(|r| r.get("source_name").and_then(Value::as_str).is_some())
        });
        if !ok {
            err(
                "external_references",
                "[{:source_name missing-required-key}]".into(),
            );
        }
    }
    errors
}

fn schema_error(errors: Map<String, Value>) -> Response {
    ctia_error(
        StatusCode::BAD_REQUEST,
        serde_json::json!({ "errors": errors }),
    )
}

fn parse_object(body: &Bytes) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(ctia_error(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"message": "Malformed JSON in request body"}),
        )),
    }
}

fn is_closed(s: Option<&Value>) -> bool {
    s.and_then(Value::as_str)
        .is_some_and(|s| s.starts_with("Closed"))
}

/// Server-side time stamps on status transitions (CTIA's `apply-status-update-logic`).
fn stamp_status(m: &mut Map<String, Value>, before: Option<&Value>) {
    let after = m.get("status").cloned();
    if before == after.as_ref() {
        return;
    }
    let now = Value::String(now_iso());
    let status = after.as_ref().and_then(Value::as_str).unwrap_or("");
    let key = if status.starts_with("Closed") && !is_closed(before) {
        Some("closed")
    } else if status == "Open: Contained" {
        Some("contained")
    } else if status == "Rejected" {
        Some("rejected")
    } else {
        None
    };
    if let Some(k) = key {
        if let Some(Value::Object(t)) = m.get_mut("incident_time") {
            t.insert(k.to_string(), now);
        }
    }
}

async fn create(State(sim): State<Arc<SimInner>>, headers: HeaderMap, body: Bytes) -> Response {
    let x = &sim.xdr;
    if let Err(r) = bearer_ok(x, &headers) {
        return r;
    }
    let mut m = match parse_object(&body) {
        Ok(m) => m,
        Err(r) => return r,
    };
    if let Some(t) = m.get("type") {
        if t.as_str() != Some("incident") {
            let mut e = Map::new();
            e.insert(
                "type".into(),
                Value::String("(not (= \"incident\"))".into()),
            );
            return schema_error(e);
        }
    }
    let errors = validate(&m);
    if !errors.is_empty() {
        return schema_error(errors);
    }
    let short = format!("incident-{}", random_uuid(&mut x.rng.lock()));
    let host = sim.base_url.clone();
    let now = now_iso();
    m.insert(
        "id".into(),
        Value::String(format!("{host}/ctia/incident/{short}")),
    );
    m.insert("type".into(), Value::String("incident".into()));
    m.entry("schema_version")
        .or_insert_with(|| Value::String("1.3.29".into()));
    m.insert("owner".into(), Value::String(x.client_id.clone()));
    m.insert("client_id".into(), Value::String(x.client_id.clone()));
    m.insert(
        "groups".into(),
        Value::Array(vec![Value::String(x.org.clone())]),
    );
    for k in ["created", "modified", "timestamp"] {
        m.insert(k.into(), Value::String(now.clone()));
    }
    let order = x.next_order.fetch_add(1, Ordering::Relaxed);
    x.incidents.lock().insert(short, (order, m.clone()));
    let mut resp = json_response(StatusCode::CREATED, Value::Object(m.clone()).to_string());
    if let Some(id) = m.get("id").and_then(Value::as_str) {
        if let Ok(v) = HeaderValue::from_str(id) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
    }
    resp
}

fn short_of(id: &str) -> String {
    let last = id.trim_end_matches('/').rsplit('/').next().unwrap_or(id);
    // XDR accepts the bare GUID as well as `incident-<guid>`.
    if last.starts_with("incident-") {
        last.to_string()
    } else {
        format!("incident-{last}")
    }
}

fn not_found(id: &str) -> Response {
    ctia_error(
        StatusCode::NOT_FOUND,
        serde_json::json!({"message": format!("{id} not found")}),
    )
}

async fn get_one(
    State(sim): State<Arc<SimInner>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = bearer_ok(&sim.xdr, &headers) {
        return r;
    }
    match sim.xdr.incidents.lock().get(&short_of(&id)) {
        Some((_, m)) => json_response(StatusCode::OK, Value::Object(m.clone()).to_string()),
        None => not_found(&id),
    }
}

/// Maps merge (recursively), everything else — lists included — is replaced.
fn deep_merge(target: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (k, v) in patch {
        match (target.get_mut(&k), v) {
            (Some(Value::Object(t)), Value::Object(p)) => deep_merge(t, p),
            (_, v) => {
                target.insert(k, v);
            }
        }
    }
}

async fn patch(
    State(sim): State<Arc<SimInner>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = bearer_ok(&sim.xdr, &headers) {
        return r;
    }
    let p = match parse_object(&body) {
        Ok(m) => m,
        Err(r) => return r,
    };
    apply_update(&sim, &id, p)
}

fn apply_update(sim: &SimInner, id: &str, mut p: Map<String, Value>) -> Response {
    for k in [
        "id",
        "type",
        "owner",
        "groups",
        "created",
        "modified",
        "client_id",
    ] {
        p.remove(k);
    }
    let mut map = sim.xdr.incidents.lock();
    let Some((_, m)) = map.get_mut(&short_of(id)) else {
        return not_found(id);
    };
    let mut next = m.clone();
    let before = next.get("status").cloned();
    deep_merge(&mut next, p);
    let errors = validate(&next);
    if !errors.is_empty() {
        return schema_error(errors);
    }
    stamp_status(&mut next, before.as_ref());
    next.insert("modified".into(), Value::String(now_iso()));
    *m = next.clone();
    json_response(StatusCode::OK, Value::Object(next).to_string())
}

async fn status(
    State(sim): State<Arc<SimInner>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = bearer_ok(&sim.xdr, &headers) {
        return r;
    }
    let p = match parse_object(&body) {
        Ok(m) => m,
        Err(r) => return r,
    };
    if p.len() != 1 || !p.contains_key("status") {
        let mut e = Map::new();
        for k in p.keys().filter(|k| *k != "status") {
            e.insert(k.clone(), Value::String("disallowed-key".into()));
        }
        if !p.contains_key("status") {
            e.insert(
                "status".into(),
                Value::String("missing-required-key".into()),
            );
        }
        return schema_error(e);
    }
    apply_update(&sim, &id, p)
}

async fn by_external_id(
    State(sim): State<Arc<SimInner>>,
    Path(eid): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = bearer_ok(&sim.xdr, &headers) {
        return r;
    }
    let found: Vec<Value> = {
        let map = sim.xdr.incidents.lock();
        let mut hits: Vec<&(u64, Map<String, Value>)> = map
            .values()
            .filter(|(_, i)| {
                i.get("external_ids")
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.iter().any(|e| e.as_str() == Some(eid.as_str())))
            })
            .collect();
        hits.sort_by_key(|(o, _)| *o);
        hits.into_iter()
            .map(|(_, m)| Value::Object(m.clone()))
            .collect()
    };
    json_response(StatusCode::OK, Value::Array(found).to_string())
}

/// `query`: `field:value` / `field:"value"` terms joined by `AND` (a subset of Lucene).
fn query_terms(q: &str) -> Vec<(String, String)> {
    q.split(" AND ")
        .filter_map(|t| {
            let (f, v) = t.trim().split_once(':')?;
            Some((f.trim().to_string(), v.trim().trim_matches('"').to_string()))
        })
        .collect()
}

fn field_has(i: &Value, field: &str, value: &str) -> bool {
    match i.get(field) {
        Some(Value::String(s)) => s == value,
        Some(Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(value)),
        _ => false,
    }
}

async fn search(State(sim): State<Arc<SimInner>>, headers: HeaderMap, uri: Uri) -> Response {
    if let Err(r) = bearer_ok(&sim.xdr, &headers) {
        return r;
    }
    let pairs = parse_query(uri.query());
    let param = |k: &str| pairs.iter().find(|p| p.key == k).map(|p| p.value.clone());
    let terms = param("query").map(|q| query_terms(&q)).unwrap_or_default();
    let mut filters: Vec<(String, String)> = Vec::new();
    for k in ["status", "severity", "confidence", "source"] {
        if let Some(v) = param(k) {
            filters.push((k.to_string(), v));
        }
    }
    let limit: usize = param("limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
        .min(10_000);
    let offset: usize = param("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
    let hits: Vec<Value> = sim
        .xdr
        .incidents()
        .into_iter()
        .filter(|i| {
            terms
                .iter()
                .chain(filters.iter())
                .all(|(f, v)| field_has(i, f, v))
        })
        .collect();
    let total = hits.len();
    let page: Vec<Value> = hits.into_iter().skip(offset).take(limit).collect();
    let mut resp = json_response(StatusCode::OK, Value::Array(page).to_string());
    resp.headers_mut()
        .insert("x-total-hits", HeaderValue::from(total as u64));
    resp
}

async fn admin_incidents(State(sim): State<Arc<SimInner>>) -> Response {
    json_response(
        StatusCode::OK,
        Value::Array(sim.xdr.incidents()).to_string(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TtlBody {
    secs: u64,
}

async fn admin_token_ttl(State(sim): State<Arc<SimInner>>, body: Bytes) -> Response {
    match serde_json::from_slice::<TtlBody>(&body) {
        Ok(b) => {
            sim.xdr.set_token_ttl(Duration::from_secs(b.secs));
            json_response(StatusCode::OK, "{\"ok\":true}".into())
        }
        Err(e) => crate::api::admin_error(StatusCode::BAD_REQUEST, &format!("bad body: {e}")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitBody {
    limit: u32,
    window_secs: f64,
}

async fn admin_rate_limit(State(sim): State<Arc<SimInner>>, body: Bytes) -> Response {
    let b = match serde_json::from_slice::<RateLimitBody>(&body) {
        Ok(b) => b,
        Err(e) => {
            return crate::api::admin_error(StatusCode::BAD_REQUEST, &format!("bad body: {e}"))
        }
    };
    match Duration::try_from_secs_f64(b.window_secs) {
        Ok(w) if !w.is_zero() => {
            sim.xdr.set_rate_limit(b.limit, w);
            json_response(StatusCode::OK, "{\"ok\":true}".into())
        }
        _ => crate::api::admin_error(StatusCode::BAD_REQUEST, "window_secs must be > 0"),
    }
}

async fn admin_requests(State(sim): State<Arc<SimInner>>) -> Response {
    json_response(
        StatusCode::OK,
        serde_json::to_string(&sim.xdr.requests()).unwrap_or_else(|_| "[]".into()),
    )
}

async fn admin_expire(State(sim): State<Arc<SimInner>>) -> Response {
    sim.xdr.expire_tokens();
    json_response(StatusCode::OK, "{\"ok\":true}".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_limit_is_a_rolling_window() {
        let mut l = OrgLimit {
            limit: 2,
            window: Duration::from_secs(10),
            accepted: VecDeque::new(),
        };
        let t0 = Instant::now();
        assert!(l.check(t0).is_ok());
        assert!(l.check(t0 + Duration::from_secs(4)).is_ok());
        // Full: the oldest leaves the window at t0 + 10 s.
        let wait = l.check(t0 + Duration::from_secs(6)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(4));
        assert!(l.check(t0 + Duration::from_secs(10)).is_ok());
        // Now t0 + 4 s and t0 + 10 s are in: the next slot frees at t0 + 14 s.
        let wait = l.check(t0 + Duration::from_secs(11)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(3));
    }

    #[test]
    fn schema_rules() {
        let ok: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "confidence": "High", "status": "New",
            "incident_time": {"opened": "2024-05-01T10:15:02.000Z"},
            "title": "t", "tlp": "amber", "severity": "High",
            "external_ids": ["a"], "external_references": [{"source_name": "x"}]
        }))
        .unwrap();
        assert!(validate(&ok).is_empty());
        let mut bad = ok.clone();
        bad.remove("confidence");
        bad.insert("title".into(), Value::String("x".repeat(1025)));
        bad.insert("status".into(), Value::String("Done".into()));
        let e = validate(&bad);
        assert!(
            e.contains_key("confidence") && e.contains_key("title") && e.contains_key("status")
        );
    }

    #[test]
    fn patch_merges_maps_and_replaces_lists() {
        let mut m: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "incident_time": {"opened": "a"}, "external_references": [{"source_name": "A"}]
        }))
        .unwrap();
        let p: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "incident_time": {"closed": "b"}, "external_references": [{"source_name": "B"}]
        }))
        .unwrap();
        deep_merge(&mut m, p);
        assert_eq!(m["incident_time"]["opened"], "a");
        assert_eq!(m["incident_time"]["closed"], "b");
        assert_eq!(m["external_references"].as_array().unwrap().len(), 1);
        assert_eq!(m["external_references"][0]["source_name"], "B");
    }
}
