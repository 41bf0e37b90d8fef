//! A faithful local simulator of the Cisco Secure Endpoint (AMP for Endpoints) v1 REST API,
//! for N tenants (organisations) on loopback.
//!
//! It is written from the API facts in `shared/reference/secure-endpoint-api.md` and the
//! captured payloads in `fixtures/secure-endpoint/`, not from any client code.
//!
//! What it serves (HTTP Basic auth, one credential pair per tenant):
//! `GET /v1/version`, `GET /v1/event_types`, `GET /v1/events` (newest first, offset paging,
//! inclusive `start_date`, `event_type[]`/`connector_guid[]`/`group_guid[]`/sha256 filters),
//! `GET /v1/computers[/{guid}]`, `PATCH /v1/computers/{guid}` (move group),
//! `GET /v1/computers/{guid}/trajectory` (the computer and its latest events),
//! `/v1/computers/{guid}/isolation` (OPTIONS/GET/PUT/DELETE), `GET /v1/groups[/{guid}]`,
//! with the real envelope, error objects and `x-ratelimit-*` headers. A per-credential
//! fixed-window rate limit answers 429 when the budget is spent, a tenant's credential can be
//! made read-only (writes answered 403), and faults (5xx, latency, dropped connections,
//! malformed bodies) can be injected globally or per tenant.
//!
//! Control from tests goes through [`SimHandle`]; other processes use the unauthenticated,
//! loopback-only `/_sim/...` routes (listed in the [`SimHandle`] docs).
//!
//! ```no_run
//! # async fn demo() -> Result<(), simulator::SimError> {
//! let sim = simulator::start(simulator::SimConfig { tenants: 2, history: 1000, ..Default::default() }).await?;
//! let t = &sim.tenants()[0];
//! println!("{} {} {}", sim.base_url(), t.client_id, t.api_key);
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod api;
mod config_writer;
mod console;
mod event_types;
mod events;
mod faults;
mod integrations;
mod isolation;
mod ratelimit;
pub mod receivers;
mod sim;
mod snow;
mod stats;
mod streams;
mod util;
mod world;
mod xdr;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use console::ConsoleAction;
pub use event_types::{event_type, EventType, EVENT_TYPES};
pub use events::sample_events;
pub use faults::Faults;
pub use integrations::IntegrationInfo;
pub use sim::{start, SimHandle};
pub use snow::{
    sign as snow_sign, JournalEntry, SnowFaults, SnowInfo, SnowRecord, SnowWebhook,
    WebhookDelivery, SIGNATURE_HEADER as SNOW_SIGNATURE_HEADER,
    TIMESTAMP_HEADER as SNOW_TIMESTAMP_HEADER,
};
pub use stats::{SimStats, TenantStats};
pub use streams::{AmqpConfig, StreamUsers, EXCHANGE as STREAM_EXCHANGE, MAX_STREAMS_PER_ORG};
pub use util::parse_duration;
pub use xdr::{XdrInfo, XdrRequest};

/// The API version string carried by every envelope.
pub const API_VERSION: &str = "v1.2.0";

/// Default request budget per window (observed `x-ratelimit-limit: 3000`).
pub const DEFAULT_RATE_LIMIT: u32 = 3000;

/// Default rate-limit window (one hour).
pub const DEFAULT_RATE_LIMIT_WINDOW: Duration = Duration::from_secs(3600);

/// XDR's documented budget: 8000 requests per rolling 60 minutes per organisation.
pub const XDR_DEFAULT_RATE_LIMIT: u32 = 8000;

/// XDR's documented rate-limit window (rolling, one hour).
pub const XDR_DEFAULT_RATE_LIMIT_WINDOW: Duration = Duration::from_secs(3600);

/// Simulator configuration. `Default` gives 3 tenants on `127.0.0.1:0`, seed 1, 1 event per
/// second per tenant, no history, 3000 requests per hour, no faults, read & write keys, and
/// XDR's 8000 requests per rolling hour.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address to listen on; port 0 picks a free port. Links use `127.0.0.1` when this is
    /// an unspecified address (`0.0.0.0`).
    pub listen: SocketAddr,
    /// Number of tenants (ignored when `tenant_names` is set).
    pub tenants: usize,
    /// Explicit tenant names (`[a-z0-9_-]`, 1..64 chars); default `tenant-1`..`tenant-N`.
    pub tenant_names: Option<Vec<String>>,
    /// Seed for everything random: credentials, groups, computers, events, fault draws.
    pub seed: u64,
    /// Live events per second per tenant (Poisson arrivals; 0 = none). Applies whether or
    /// not `events_file` is set (the CLI turns it off for `--events-file` unless `--rate`
    /// is given). Can be changed later with [`SimHandle::set_rate`].
    pub rate: f64,
    /// Events per tenant generated at start, spread over `history_span` before now.
    /// Ignored when `events_file` is set.
    pub history: usize,
    /// How far back `history` reaches.
    pub history_span: Duration,
    /// JSON-lines file of events served verbatim to every tenant instead of history.
    pub events_file: Option<PathBuf>,
    /// Requests allowed per window, per tenant credential.
    pub rate_limit: u32,
    /// Length of the fixed rate-limit window (starting at a tenant's first request).
    pub rate_limit_window: Duration,
    /// Also send the documented `X-Rate-Limit-Limit/-Remaining/-Reset` headers.
    pub documented_rate_headers: bool,
    /// Global fault injection (tenants can be overridden with [`SimHandle::set_faults`]).
    pub faults: Faults,
    /// How long an online connector takes to carry out an isolation start or stop: the
    /// computer is `pending_start` / `pending_stop` meanwhile (0: at once). Can be changed
    /// later with [`SimHandle::set_isolation_delay`].
    pub isolation_delay: Duration,
    /// Event Streams on a real RabbitMQ broker (`/v1/event_streams`); `None` answers those
    /// routes with 503.
    pub amqp: Option<AmqpConfig>,
    /// Tenants whose API credential has the "Read-only" scope: reads work, every write
    /// (`PUT`/`PATCH`/`POST`/`DELETE` under `/v1/`) is answered 403. Changed later with
    /// [`SimHandle::set_read_only`].
    pub read_only_tenants: Vec<String>,
    /// XDR requests (`/ctia/...`) allowed per rolling window for the organisation, shared by
    /// every API client; over it, 429 with `Retry-After`. Changed later with
    /// [`SimHandle::set_xdr_rate_limit`].
    pub xdr_rate_limit: u32,
    /// Length of the rolling XDR rate-limit window.
    pub xdr_rate_limit_window: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tenants: 3,
            tenant_names: None,
            seed: 1,
            rate: 1.0,
            history: 0,
            history_span: Duration::from_secs(3600),
            events_file: None,
            rate_limit: DEFAULT_RATE_LIMIT,
            rate_limit_window: DEFAULT_RATE_LIMIT_WINDOW,
            documented_rate_headers: false,
            faults: Faults::NONE,
            isolation_delay: Duration::ZERO,
            amqp: None,
            read_only_tenants: Vec::new(),
            xdr_rate_limit: XDR_DEFAULT_RATE_LIMIT,
            xdr_rate_limit_window: XDR_DEFAULT_RATE_LIMIT_WINDOW,
        }
    }
}

/// Errors of the simulator library.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The configuration is not usable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Binding the listening socket failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Requested address.
        addr: SocketAddr,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A line of the events file is not a usable event.
    #[error("{path}:{line}: {reason}")]
    EventsFile {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// An event given to `insert_*` is not usable (not an object, no timestamp...).
    #[error("event #{index}: {reason}")]
    InvalidEvent {
        /// 0-based position in the batch.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// No tenant has this name.
    #[error("unknown tenant {0:?}")]
    UnknownTenant(String),
    /// The AMQP broker for Event Streams is not usable.
    #[error("event streams: {0}")]
    Amqp(String),
}

/// A group of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupInfo {
    /// Group GUID.
    pub guid: String,
    /// Group name (`Protect`, `Triage`, `Servers`, `Audit`).
    pub name: String,
}

/// A computer (connector) of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputerInfo {
    /// Connector GUID.
    pub guid: String,
    /// Hostname.
    pub hostname: String,
    /// GUID of the group it currently belongs to.
    pub group_guid: String,
    /// Whether it is currently isolated.
    pub isolated: bool,
    /// Its isolation status as the API gives it (`not_isolated`, `pending_start`,
    /// `isolated`, `pending_stop`).
    pub isolation_status: String,
    /// Whether its connector is online (an offline one leaves isolation requests pending).
    pub online: bool,
}

/// Identity and world of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantInfo {
    /// Tenant name (`tenant-1`, ...).
    pub name: String,
    /// Organisation GUID.
    pub org_guid: String,
    /// API client id (20 lowercase hex chars): the Basic-auth user name.
    pub client_id: String,
    /// API key (a UUID): the Basic-auth password.
    pub api_key: String,
    /// Groups.
    pub groups: Vec<GroupInfo>,
    /// Computers.
    pub computers: Vec<ComputerInfo>,
}
