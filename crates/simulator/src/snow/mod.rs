//! A simulated ServiceNow instance: the Table API for `incident` and `sn_si_incident`,
//! HTTP Basic and OAuth (`/oauth_token.do`, password and refresh grants), and an
//! "after update" business rule that calls an outbound webhook when a ticket's state
//! *changes to* Resolved, Closed or Canceled.
//!
//! Written from `shared/reference/xdr-and-servicenow-api.md` §5: records are JSON objects of
//! strings; `sys_id` is 32 hex characters; numbers are `INC0010001`, `SIR0010001`, …; the
//! default state model (1 New, 2 In Progress, 3 On Hold, 6 Resolved, 7 Closed, 8 Canceled);
//! `work_notes`/`comments` are journal fields (a write appends an entry, a read gives "");
//! errors use `{"error":{"message","detail"},"status":"failure"}`; 429 carries
//! `Retry-After`; lists carry `X-Total-Count` and a `Link` header. The encoded-query subset
//! served: `f=v`, `f!=v`, `fIN a,b`, `fNOT IN a,b`, `fSTARTSWITHv`, `fENDSWITHv`, `fLIKEv`,
//! `f>v`, `f>=v`, `f<v`, `f<=v`, `fISEMPTY`, `fISNOTEMPTY`, `^OR`, `ORDERBYf`,
//! `ORDERBYDESCf`. As on a real instance (default of `glide.invalid_query.returns_no_rows`),
//! a condition on an unknown field is ignored rather than refused.

// Handlers answer early with a ready `Response`; boxing it would only add noise.
#![allow(clippy::result_large_err)]

mod admin;
mod auth;
mod business_rule;
mod query;
mod table;
#[cfg(test)]
mod tests;

pub(crate) use admin::{analyst_close, CloseBody};
pub use business_rule::sign;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use parking_lot::{Mutex, RwLock};
use rand::rngs::SmallRng;
use rand::RngExt as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::api::envelope_json_response as json_response;
use crate::sim::{now_ns, SimInner};
use crate::world::random_hex;

use admin::{admin_close, admin_deliveries, admin_faults, admin_records, admin_webhook};
use auth::oauth_token;
use table::{create, create_v, get_one, get_one_v, list, list_v, update, update_v};

/// Header names of the signed close notice (see [`SnowWebhook`]).
pub const SIGNATURE_HEADER: &str = "x-sebridge-signature";
/// Unix seconds the signature covers.
pub const TIMESTAMP_HEADER: &str = "x-sebridge-timestamp";

/// Fields every incident record has (what the table schema knows; others are ignored).
const INCIDENT_FIELDS: &[&str] = &[
    "sys_id",
    "number",
    "state",
    "impact",
    "urgency",
    "priority",
    "short_description",
    "description",
    "caller_id",
    "category",
    "subcategory",
    "assignment_group",
    "assigned_to",
    "company",
    "correlation_id",
    "correlation_display",
    "contact_type",
    "cmdb_ci",
    "close_code",
    "close_notes",
    "opened_at",
    "resolved_at",
    "closed_at",
    "active",
    "work_notes",
    "comments",
    "sys_created_on",
    "sys_created_by",
    "sys_updated_on",
    "sys_updated_by",
    "sys_mod_count",
    "risk_score",
    "business_criticality",
];

/// Journal fields: written values become journal entries; reads give "".
const JOURNAL_FIELDS: &[&str] = &["work_notes", "comments"];
/// Written by the system only.
const READ_ONLY: &[&str] = &[
    "sys_id",
    "number",
    "sys_created_on",
    "sys_created_by",
    "sys_updated_on",
    "sys_updated_by",
    "sys_mod_count",
    "priority",
];

/// States meaning "done": the incident state model (6 Resolved, 7 Closed, 8 Canceled) and
/// Security Incident Response's (3 Closed, 7 Cancelled).
fn done_states(table: &str) -> &'static [&'static str] {
    match table {
        "sn_si_incident" => &["3", "7"],
        _ => &["6", "7", "8"],
    }
}

fn table_prefix(table: &str) -> Option<&'static str> {
    match table {
        "incident" => Some("INC"),
        "sn_si_incident" => Some("SIR"),
        _ => None,
    }
}

/// One journal entry (work note or comment).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JournalEntry {
    /// `work_notes` or `comments`.
    pub element: String,
    /// The text.
    pub value: String,
    /// `YYYY-MM-DD HH:MM:SS` (UTC).
    pub created_on: String,
    /// User who wrote it.
    pub created_by: String,
}

/// A record as the simulator holds it, with its journal.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SnowRecord {
    /// `incident` or `sn_si_incident`.
    pub table: String,
    /// Field values (strings).
    pub fields: Map<String, Value>,
    /// Work notes and comments, oldest first.
    pub journal: Vec<JournalEntry>,
    /// When the record was stored, epoch milliseconds (the API's dates have whole
    /// seconds; benchmarks need better).
    #[serde(default)]
    pub created_ms: i64,
}

impl SnowRecord {
    /// A field as text.
    pub fn get(&self, field: &str) -> &str {
        self.fields.get(field).and_then(Value::as_str).unwrap_or("")
    }

    /// Work notes, oldest first.
    pub fn work_notes(&self) -> Vec<&str> {
        self.journal
            .iter()
            .filter(|j| j.element == "work_notes")
            .map(|j| j.value.as_str())
            .collect()
    }
}

/// Where the business rule sends close notices. Signed with HMAC-SHA256 over
/// `"<timestamp>.<body>"` (hex, `sha256=` prefix) when `secret` is set, and/or with
/// `Authorization: Bearer <bearer>`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SnowWebhook {
    /// Target URL (`None`: no webhook configured).
    pub url: Option<String>,
    /// HMAC secret.
    #[serde(default)]
    pub secret: Option<String>,
    /// Bearer token.
    #[serde(default)]
    pub bearer: Option<String>,
    /// The rule is active (switch off to simulate lost webhooks).
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// Fault knobs of the simulated instance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnowFaults {
    /// A create is stored, then the answer waits this long (a client with a shorter
    /// timeout loses the answer although the ticket exists).
    pub create_delay: Duration,
    /// An update (PATCH) is stored, then the answer waits this long.
    pub update_delay: Duration,
    /// The next N Table API requests are answered 429 with `Retry-After: 1`.
    pub rate_limited_requests: u32,
    /// The next N Table API requests are answered 503.
    pub unavailable_requests: u32,
}

/// One webhook call made by the business rule.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// Ticket number.
    pub number: String,
    /// HTTP status answered (None: no answer).
    pub status: Option<u16>,
    /// Transport error, if any.
    pub error: Option<String>,
}

/// Credentials and URL of the simulated instance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SnowInfo {
    /// Instance base URL (the simulator's base URL).
    pub instance_url: String,
    /// Integration user (HTTP Basic and OAuth password grant).
    pub username: String,
    /// Its password.
    pub password: String,
    /// OAuth application client id.
    pub oauth_client_id: String,
    /// OAuth application client secret.
    pub oauth_client_secret: String,
}

#[derive(Default)]
struct Tables {
    records: Vec<SnowRecord>,
    counters: HashMap<String, u64>,
}

pub(crate) struct SnowState {
    username: String,
    password: String,
    client_id: String,
    client_secret: String,
    tokens: Mutex<HashMap<String, Instant>>,
    refresh_tokens: Mutex<HashMap<String, Instant>>,
    tables: Mutex<Tables>,
    rng: Mutex<SmallRng>,
    webhook: RwLock<SnowWebhook>,
    faults: Mutex<SnowFaults>,
    deliveries: Mutex<Vec<WebhookDelivery>>,
    requests: AtomicU64,
    http: reqwest::Client,
}

impl SnowState {
    pub fn new(rng: &mut SmallRng) -> SnowState {
        let seed: u64 = rng.random();
        let mut own = <SmallRng as rand::SeedableRng>::seed_from_u64(seed);
        SnowState {
            username: "sebridge.integration".into(),
            password: random_hex(&mut own, 24),
            client_id: random_hex(&mut own, 32),
            client_secret: random_hex(&mut own, 24),
            tokens: Mutex::new(HashMap::new()),
            refresh_tokens: Mutex::new(HashMap::new()),
            tables: Mutex::new(Tables::default()),
            rng: Mutex::new(own),
            webhook: RwLock::new(SnowWebhook {
                enabled: true,
                ..Default::default()
            }),
            faults: Mutex::new(SnowFaults::default()),
            deliveries: Mutex::new(Vec::new()),
            requests: AtomicU64::new(0),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }

    pub fn info(&self, base_url: &str) -> SnowInfo {
        SnowInfo {
            instance_url: base_url.to_string(),
            username: self.username.clone(),
            password: self.password.clone(),
            oauth_client_id: self.client_id.clone(),
            oauth_client_secret: self.client_secret.clone(),
        }
    }

    pub fn records(&self) -> Vec<SnowRecord> {
        self.tables.lock().records.clone()
    }

    pub fn set_webhook(&self, w: SnowWebhook) {
        *self.webhook.write() = w;
    }

    pub fn set_webhook_enabled(&self, enabled: bool) {
        self.webhook.write().enabled = enabled;
    }

    pub fn set_faults(&self, f: SnowFaults) {
        *self.faults.lock() = f;
    }

    pub fn deliveries(&self) -> Vec<WebhookDelivery> {
        self.deliveries.lock().clone()
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Every OAuth access and refresh token issued so far.
    pub fn issued_tokens(&self) -> Vec<String> {
        let mut all: Vec<String> = self.tokens.lock().keys().cloned().collect();
        all.extend(self.refresh_tokens.lock().keys().cloned());
        all
    }
}

/// `YYYY-MM-DD HH:MM:SS`, the Table API's date-time format (UTC here).
fn glide_now() -> String {
    let secs = (now_ns() / 1_000_000_000) as i64;
    let z = crate::util::zulu_date(secs);
    z.trim_end_matches('Z').replace('T', " ")
}

fn snow_error(status: StatusCode, message: &str, detail: Option<&str>) -> Response {
    let body = serde_json::json!({
        "error": { "message": message, "detail": detail },
        "status": "failure",
    });
    json_response(status, body.to_string())
}

fn ok_result(status: StatusCode, result: Value) -> Response {
    json_response(status, serde_json::json!({ "result": result }).to_string())
}

pub(crate) fn router() -> Router<Arc<SimInner>> {
    Router::new()
        .route("/oauth_token.do", post(oauth_token))
        .route("/api/now/table/{table}", get(list).post(create))
        .route(
            "/api/now/{version}/table/{table}",
            get(list_v).post(create_v),
        )
        .route(
            "/api/now/table/{table}/{sys_id}",
            get(get_one).patch(update).put(update),
        )
        .route(
            "/api/now/{version}/table/{table}/{sys_id}",
            get(get_one_v).patch(update_v).put(update_v),
        )
}

/// `/_sim/snow/...` control routes.
pub(crate) fn admin_router() -> Router<Arc<SimInner>> {
    Router::new()
        .route("/records", get(admin_records))
        .route("/webhook", put(admin_webhook))
        .route("/close", post(admin_close))
        .route("/faults", put(admin_faults))
        .route("/deliveries", get(admin_deliveries))
}
