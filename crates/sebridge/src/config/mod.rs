//! Configuration: a TOML file (documented key by key in `config/example.toml`) read into
//! typed, validated structures.
//!
//! Loading reports every problem of a file in one pass, each with file, line and column
//! ([`ConfigErrors`]), so an operator can fix a config in one round instead of one error
//! per run.
//!
//! Rules that apply across sections:
//! - relative paths are resolved against the directory of the config file;
//! - `${NAME}` in any string value is replaced by the environment variable `NAME` (a missing
//!   variable is an error); write `$${` for a literal `${`. Values taken from the
//!   environment are not expanded again;
//! - names of tenants, sources and sinks are 1 to 64 characters of `a-z`, `0-9`, `_`, `-`
//!   (they end up in database keys, metric labels and file names);
//! - a config without any tenant, source or sink is refused, since it would do nothing.

mod error;
mod incidents;
mod parse;
mod reader;
mod sinks;
#[cfg(test)]
mod tests;
mod validate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use url::Url;

pub use error::{ConfigError, ConfigErrors};
pub use incidents::{
    defaults as incidents_defaults, IncidentsConfig, RuleConfig, ServiceNowAuth, ServiceNowConfig,
    Templates, TenantOverride, WebhookConfig, XdrConfig, XdrEndpoint, SAMPLE_HIGH_PRIORITY_TYPES,
};
pub use secure_endpoint::Region;
pub use sinks::{
    defaults as sink_defaults, ElasticAuth, ElasticsearchSinkConfig, HecSinkConfig, JournalConfig,
    LaggingPolicy, MessageFormat, PostgresSinkConfig, Secret, SinkCommon, SinkFilter,
    SyslogFraming, SyslogProtocol, SyslogSinkConfig, SyslogTransport, WebhookSinkConfig,
};
pub use validate::{validate_command, validate_to};

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from (as given, not canonicalised).
    pub path: PathBuf,
    pub store: StoreConfig,
    pub secrets: SecretsConfig,
    /// `None` when `[server]` is absent or `listen` is absent or empty.
    pub server: Option<ServerConfig>,
    pub tenants: BTreeMap<String, TenantConfig>,
    pub sources: BTreeMap<String, SourceConfig>,
    pub sinks: BTreeMap<String, SinkConfig>,
    /// `[incidents]`: ServiceNow / XDR incidents, response actions and the closed loop.
    pub incidents: Option<IncidentsConfig>,
    /// `[journal]`: retention (defaults when absent).
    pub journal: JournalConfig,
}

/// `[store]`: where the journal and state live.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// `kind = "sqlite"` (default); `path` defaults to `sebridge.db` next to the config.
    Sqlite { path: PathBuf },
    /// `kind = "postgres"`; the URL may hold a password, hence secret.
    Postgres { url: SecretString },
}

/// `[secrets]`: the master key file for credentials kept in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretsConfig {
    /// Defaults to `sebridge.key` next to the config.
    pub key_file: PathBuf,
}

/// `[server]`: the HTTP endpoint for metrics and health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerConfig {
    pub listen: SocketAddr,
}

/// `[tenants.<name>]`: one customer organisation.
#[derive(Debug, Clone)]
pub struct TenantConfig {
    pub name: String,
    pub endpoint: Endpoint,
    pub client_id: String,
    pub api_key: SecretString,
    /// Defaults to true; disabled tenants are kept in the config but never polled.
    pub enabled: bool,
}

/// Where a tenant's API is: a Cisco region, or an explicit base URL (simulator, proxy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Region(Region),
    BaseUrl(Url),
}

impl TenantConfig {
    /// The REST API base URL of the tenant.
    pub fn base_url(&self) -> Url {
        match &self.endpoint {
            Endpoint::BaseUrl(url) => url.clone(),
            Endpoint::Region(region) => match Url::parse(region.api_base()) {
                Ok(url) => url,
                // The region table is a compile-time constant of our own client crate.
                Err(e) => panic!("API base of region {region} is not a URL: {e}"),
            },
        }
    }

    /// The tenant's API credentials.
    pub fn credentials(&self) -> secure_endpoint::Credentials {
        secure_endpoint::Credentials::new(
            self.client_id.clone(),
            self.api_key.expose_secret().to_string(),
        )
    }
}

/// `[sources.<name>]`, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceConfig {
    /// `type = "poll"`: REST polling of `GET /v1/events`.
    Poll(PollSourceConfig),
    /// `type = "stream"`: Event Streams (AMQP push) with the credentials stored by
    /// `sebridge streams create`.
    Stream(StreamSourceConfig),
}

impl SourceConfig {
    /// The `type` as written in the config.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::Poll(_) => "poll",
            SourceConfig::Stream(_) => "stream",
        }
    }

    /// The tenant subset of the source; `None` for every tenant.
    pub fn tenants(&self) -> &Option<Vec<String>> {
        match self {
            SourceConfig::Poll(p) => &p.tenants,
            SourceConfig::Stream(s) => &s.tenants,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollSourceConfig {
    /// Time between polls once caught up (default 60s, > 0).
    pub interval: Duration,
    /// First run: how far back to start (default 24h; 0 means "from now").
    pub lookback: Duration,
    /// First run: an absolute start; wins over `lookback`.
    pub since: Option<OffsetDateTime>,
    /// Events per page, 1..=500 (default 500).
    pub page_size: u32,
    /// Tenants polled at once, ≥ 1 (default 32).
    pub concurrency: usize,
    /// Per-request timeout (default 30s, > 0).
    pub request_timeout: Duration,
    /// Re-read window for late arrivals (default 60s; 0 = off): each poll reads again the
    /// events of the last `overlap` before the cursor, so an event that reached the API
    /// after the cursor passed its second is still journaled.
    pub overlap: Duration,
    /// Optional filter by event type; empty = all.
    pub event_types: Vec<EventTypeRef>,
    /// Optional filter by group GUID; empty = all.
    pub groups: Vec<String>,
    /// Optional subset of tenants; `None` = every enabled tenant.
    pub tenants: Option<Vec<String>>,
}

/// `[sources.<name>] type = "stream"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSourceConfig {
    /// Names of the tenants' stored streams to consume; empty = every stored stream.
    pub streams: Vec<String>,
    /// Optional subset of tenants; `None` = every enabled tenant that has a stored stream.
    pub tenants: Option<Vec<String>>,
    /// Unacknowledged deliveries the broker may send ahead (default 2000, ≥ `batch_size`).
    pub prefetch: u16,
    /// Deliveries per journal commit at most (default 1000).
    pub batch_size: usize,
    /// How long a partial batch waits for more deliveries before it is committed (default 0:
    /// a commit takes what arrived while the previous one ran, so batches grow with the load
    /// and every delivery is acked about one commit after it came).
    pub batch_wait: Duration,
    /// AMQP heartbeat (default 30s; "0s" disables).
    pub heartbeat: Duration,
    /// TCP + TLS + login timeout (default 15s).
    pub connect_timeout: Duration,
    /// Longest pause between reconnection attempts (default 60s).
    pub max_backoff: Duration,
    /// PEM file of the CA(s) that sign the broker's certificate, instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// Accept any broker certificate. Off by default; warned about on every connection.
    pub insecure: bool,
}

/// An event type, by id (TOML integer) or by name (TOML string), resolved against the
/// tenant's `/v1/event_types` at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventTypeRef {
    Id(u64),
    Name(String),
}

/// `[sinks.<name>]`, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkConfig {
    /// `type = "file"`: JSON lines appended to a file.
    File(FileSinkConfig),
    /// `type = "stdout"`: JSON lines on standard output.
    Stdout(StdoutSinkConfig),
    /// `type = "syslog"`: RFC 5424/3164 over UDP, TCP or TLS; JSON, CEF or LEEF.
    Syslog(SyslogSinkConfig),
    /// `type = "splunk_hec"`: Splunk HTTP Event Collector.
    SplunkHec(HecSinkConfig),
    /// `type = "elasticsearch"`: `_bulk` into a data stream, ECS documents.
    Elasticsearch(ElasticsearchSinkConfig),
    /// `type = "postgres"`: an events table in the user's PostgreSQL.
    Postgres(PostgresSinkConfig),
    /// `type = "webhook"`: signed JSON batches.
    Webhook(WebhookSinkConfig),
}

impl SinkConfig {
    /// The `type` as written in the config.
    pub fn kind(&self) -> &'static str {
        match self {
            SinkConfig::File(_) => "file",
            SinkConfig::Stdout(_) => "stdout",
            SinkConfig::Syslog(_) => "syslog",
            SinkConfig::SplunkHec(_) => "splunk_hec",
            SinkConfig::Elasticsearch(_) => "elasticsearch",
            SinkConfig::Postgres(_) => "postgres",
            SinkConfig::Webhook(_) => "webhook",
        }
    }

    /// Batching, retry and filter settings.
    pub fn common(&self) -> &SinkCommon {
        match self {
            SinkConfig::File(c) => &c.common,
            SinkConfig::Stdout(c) => &c.common,
            SinkConfig::Syslog(c) => &c.common,
            SinkConfig::SplunkHec(c) => &c.common,
            SinkConfig::Elasticsearch(c) => &c.common,
            SinkConfig::Postgres(c) => &c.common,
            SinkConfig::Webhook(c) => &c.common,
        }
    }

    pub fn common_mut(&mut self) -> &mut SinkCommon {
        match self {
            SinkConfig::File(c) => &mut c.common,
            SinkConfig::Stdout(c) => &mut c.common,
            SinkConfig::Syslog(c) => &mut c.common,
            SinkConfig::SplunkHec(c) => &mut c.common,
            SinkConfig::Elasticsearch(c) => &mut c.common,
            SinkConfig::Postgres(c) => &mut c.common,
            SinkConfig::Webhook(c) => &mut c.common,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSinkConfig {
    pub path: PathBuf,
    /// true: `{"tenant":..,"received_at":..,"event":<raw event>}`; false: the raw event.
    pub wrap: bool,
    /// Batching (default 1000 events per write and fsync), retries, filters.
    pub common: SinkCommon,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StdoutSinkConfig {
    pub wrap: bool,
    pub common: SinkCommon,
}

/// Defaults, as documented in `config/example.toml`.
pub mod defaults {
    use std::time::Duration;

    pub const SQLITE_PATH: &str = "sebridge.db";
    pub const KEY_FILE: &str = "sebridge.key";
    pub const POLL_INTERVAL: Duration = Duration::from_secs(60);
    pub const POLL_LOOKBACK: Duration = Duration::from_secs(24 * 3600);
    pub const POLL_PAGE_SIZE: u32 = 500;
    /// The API's maximum page size.
    pub const POLL_PAGE_SIZE_MAX: u32 = 500;
    pub const POLL_CONCURRENCY: usize = 32;
    pub const POLL_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    /// Late arrivals of up to a minute are caught; in steady state this costs no request.
    pub const POLL_OVERLAP: Duration = Duration::from_secs(60);
    pub const STREAM_PREFETCH: u16 = 2000;
    pub const STREAM_BATCH_SIZE: usize = 1000;
    /// The broker's delivery rate falls with the time acks take (BENCHMARKS.md, "Event
    /// Streams"), so deliveries do not wait for a batch to fill.
    pub const STREAM_BATCH_WAIT: Duration = Duration::ZERO;
    pub const STREAM_HEARTBEAT: Duration = Duration::from_secs(30);
    pub const STREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
    pub const STREAM_MAX_BACKOFF: Duration = Duration::from_secs(60);
    pub const SINK_WRAP: bool = false;
    pub const SINK_BATCH_SIZE: usize = super::sinks::defaults::BATCH_SIZE;
}

impl Config {
    /// Reads and validates `path`; `${NAME}` references come from the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: path.to_path_buf(),
                line: None,
                column: None,
                message: format!("cannot read configuration file: {e}"),
            }])
        })?;
        Self::from_str_with_env(&text, path, &|name| std::env::var(name).ok())
    }

    /// Validates `text` as if read from `path` (used for messages and to resolve relative
    /// paths), taking `${NAME}` references from `env`.
    pub fn from_str_with_env(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        parse::parse(text, path, env)
    }

    /// The enabled tenants, restricted to `selection` when given (a source's `tenants`),
    /// in name order.
    pub fn tenants_for(&self, selection: &Option<Vec<String>>) -> Vec<&TenantConfig> {
        self.tenants
            .values()
            .filter(|t| t.enabled)
            .filter(|t| {
                selection
                    .as_ref()
                    .is_none_or(|names| names.contains(&t.name))
            })
            .collect()
    }

    /// The enabled tenants of a source.
    pub fn tenants_of(&self, source: &SourceConfig) -> Vec<&TenantConfig> {
        self.tenants_for(source.tenants())
    }
}
