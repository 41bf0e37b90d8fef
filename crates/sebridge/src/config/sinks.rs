//! `[sinks.<name>]` types beyond file/stdout (syslog, splunk_hec, elasticsearch, postgres,
//! webhook), the keys every sink shares (batching, retries, filters), and `[journal]`
//! (retention). Parsed with the same [`Reader`] as the rest, so every problem comes with
//! file:line:col.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use secure_endpoint::Severity;
use url::Url;

use super::reader::{Reader, Section};

// ---- types --------------------------------------------------------------------------------

/// A secret config value (token, password, HMAC key, URL with a password): never shown by
/// `Debug`, compared by value so configs stay comparable in tests.
#[derive(Clone)]
pub struct Secret(pub SecretString);

impl Secret {
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}
impl Eq for Secret {}

/// Keys every sink takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkCommon {
    /// Events per delivery (≥ 1).
    pub batch_size: usize,
    /// How long a partial batch may wait for more events before it is sent (0 = never wait).
    pub batch_timeout: Duration,
    /// First retry delay; doubles per failure (with jitter) up to `retry_max`.
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub filter: SinkFilter,
}

/// Which events a sink delivers; the others are skipped (its position still moves past them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkFilter {
    /// `None`: every tenant.
    pub tenants: Option<Vec<String>>,
    /// Empty: every event type.
    pub event_types: Vec<u64>,
    /// Events without a severity do not pass a minimum.
    pub min_severity: Option<Severity>,
}

impl SinkFilter {
    pub fn is_empty(&self) -> bool {
        self.tenants.is_none() && self.event_types.is_empty() && self.min_severity.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogTransport {
    Udp,
    Tcp,
    Tls,
}

/// RFC 6587 framing on TCP (TLS is always octet-counted, RFC 5425).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogFraming {
    OctetCounting,
    Newline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogProtocol {
    Rfc5424,
    Rfc3164,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageFormat {
    Json,
    Cef,
    Leef,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogSinkConfig {
    pub common: SinkCommon,
    /// host:port
    pub address: String,
    pub transport: SyslogTransport,
    pub framing: SyslogFraming,
    pub protocol: SyslogProtocol,
    pub format: MessageFormat,
    /// 0..=23 (default 16, local0).
    pub facility: u8,
    pub app_name: String,
    /// HOSTNAME of the header; default: this machine's host name.
    pub hostname: Option<String>,
    /// Extra CA certificates (PEM) for TLS; the system roots are always trusted too.
    pub ca_file: Option<PathBuf>,
    /// Name checked against the server certificate; default: the host of `address`.
    pub tls_server_name: Option<String>,
    /// LEEF 2.0 attribute delimiter (a single character).
    pub leef_delimiter: char,
    /// JSON only: wrap as {"tenant":..,"received_at":..,"event":..}.
    pub wrap: bool,
    pub connect_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HecSinkConfig {
    pub common: SinkCommon,
    /// Base URL, e.g. https://splunk.example.com:8088
    pub url: Url,
    pub token: Secret,
    pub index: Option<String>,
    pub source: Option<String>,
    pub sourcetype: String,
    pub host: Option<String>,
    pub gzip: bool,
    /// Use indexer acknowledgement (the token must have useACK).
    pub ack: bool,
    pub ack_timeout: Duration,
    pub request_timeout: Duration,
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElasticAuth {
    None,
    ApiKey(Secret),
    Basic { username: String, password: Secret },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElasticsearchSinkConfig {
    pub common: SinkCommon,
    pub url: Url,
    pub auth: ElasticAuth,
    /// Target data stream (`create` ops).
    pub data_stream: String,
    /// Ingest pipeline; `_none` (default) skips the data stream's default pipeline, since
    /// documents arrive already mapped to ECS.
    pub pipeline: Option<String>,
    pub gzip: bool,
    pub request_timeout: Duration,
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresSinkConfig {
    pub common: SinkCommon,
    pub url: Secret,
    /// `table` or `schema.table`.
    pub table: String,
    /// Create the table and its indexes when missing.
    pub create_table: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSinkConfig {
    pub common: SinkCommon,
    pub url: Url,
    /// HMAC-SHA256 key for the signature header.
    pub secret: Secret,
    pub request_timeout: Duration,
    pub ca_file: Option<PathBuf>,
}

/// `[journal]`: retention of journal rows every consumer has passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalConfig {
    /// Delete rows older than this (once every consumer has passed them).
    pub max_age: Option<Duration>,
    /// Keep at most this many rows (same rule).
    pub max_rows: Option<u64>,
    /// What to do when a lagging consumer still needs rows past a limit.
    pub on_lagging_consumer: LaggingPolicy,
    /// Warn when a lagging consumer holds rows beyond this percentage of a limit.
    pub warn_at_percent: u8,
    pub check_interval: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaggingPolicy {
    /// Never delete a row a consumer still needs: alarm, and let the journal grow.
    Keep,
    /// Enforce the limit anyway; the lagging consumer loses those rows (alarmed first, and
    /// every dropped row is counted and logged).
    Drop,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            max_age: Some(defaults::JOURNAL_MAX_AGE),
            max_rows: None,
            on_lagging_consumer: LaggingPolicy::Keep,
            warn_at_percent: defaults::JOURNAL_WARN_AT_PERCENT,
            check_interval: defaults::JOURNAL_CHECK_INTERVAL,
        }
    }
}

pub mod defaults {
    use std::time::Duration;
    pub const BATCH_SIZE: usize = 1000;
    /// HTTP and database sinks: a partial batch waits up to a second, so a trickle of events
    /// does not become a request (or a transaction) per event.
    pub const BATCH_TIMEOUT: Duration = Duration::from_secs(1);
    /// File, stdout and syslog: no wait. A batch is what the journal holds when the previous
    /// one is written, so batches grow under load by themselves and a line is out about one
    /// write after its event was journaled.
    pub const STREAM_BATCH_TIMEOUT: Duration = Duration::ZERO;
    /// Batch size and timeout of HTTP and database sinks.
    pub const BATCHES: (usize, Duration) = (BATCH_SIZE, BATCH_TIMEOUT);
    /// ... of file, stdout and syslog sinks.
    pub const STREAM_BATCHES: (usize, Duration) = (BATCH_SIZE, STREAM_BATCH_TIMEOUT);
    /// ... of the Elasticsearch sink: 2000 ECS documents are ~9 MB of bulk body, within the
    /// 5-15 MB per bulk request Elastic advises (Vector's default is up to 10 MB); fewer,
    /// larger requests cost both sides less (BENCHMARKS.md, "Sinks").
    pub const ES_BATCHES: (usize, Duration) = (2000, BATCH_TIMEOUT);
    pub const RETRY_INITIAL: Duration = Duration::from_millis(500);
    pub const RETRY_MAX: Duration = Duration::from_secs(60);
    pub const SYSLOG_FACILITY: u8 = 16;
    pub const SYSLOG_APP_NAME: &str = "sebridge";
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    pub const HEC_SOURCETYPE: &str = "cisco:amp:event";
    pub const HEC_ACK_TIMEOUT: Duration = Duration::from_secs(60);
    pub const ES_DATA_STREAM: &str = "logs-cisco_secure_endpoint.event-default";
    pub const ES_PIPELINE: &str = "_none";
    pub const PG_TABLE: &str = "sebridge_events";
    pub const JOURNAL_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
    pub const JOURNAL_WARN_AT_PERCENT: u8 = 80;
    pub const JOURNAL_CHECK_INTERVAL: Duration = Duration::from_secs(60);
}

// ---- keys ---------------------------------------------------------------------------------

pub(super) const COMMON_KEYS: &[&str] = &[
    "type",
    "batch_size",
    "batch_timeout",
    "retry_initial",
    "retry_max",
    "tenants",
    "event_types",
    "min_severity",
];
const SYSLOG_KEYS: &[&str] = &[
    "address",
    "transport",
    "framing",
    "protocol",
    "format",
    "facility",
    "app_name",
    "hostname",
    "ca_file",
    "tls_server_name",
    "leef_delimiter",
    "wrap",
    "connect_timeout",
];
const HEC_KEYS: &[&str] = &[
    "url",
    "token",
    "index",
    "source",
    "sourcetype",
    "host",
    "compression",
    "ack",
    "ack_timeout",
    "request_timeout",
    "ca_file",
];
const ES_KEYS: &[&str] = &[
    "url",
    "api_key",
    "username",
    "password",
    "data_stream",
    "pipeline",
    "compression",
    "request_timeout",
    "ca_file",
];
const PG_KEYS: &[&str] = &["url", "table", "create_table"];
const WEBHOOK_KEYS: &[&str] = &["url", "secret", "request_timeout", "ca_file"];
const JOURNAL_KEYS: &[&str] = &[
    "max_age",
    "max_rows",
    "on_lagging_consumer",
    "warn_at_percent",
    "check_interval",
];

/// The allowed keys of a sink type: its own plus the common ones.
pub(super) fn keys(own: &[&'static str]) -> Vec<&'static str> {
    let mut k: Vec<&'static str> = COMMON_KEYS.to_vec();
    k.extend_from_slice(own);
    k
}

// ---- helpers ------------------------------------------------------------------------------

fn present_or<T>(read: Option<T>, s: Section<'_>, key: &str, default: T) -> Option<T> {
    match read {
        Some(v) => Some(v),
        None if s.table.contains_key(key) => None,
        None => Some(default),
    }
}

/// A string that must be one of `choices`; `default` when absent.
fn choice<T: Copy>(
    r: &mut Reader<'_>,
    s: Section<'_>,
    key: &str,
    choices: &[(&str, T)],
    default: T,
) -> Option<T> {
    if !s.table.contains_key(key) {
        return Some(default);
    }
    let v = r.string(s, key)?;
    match choices.iter().find(|(n, _)| *n == v.value.trim()) {
        Some((_, t)) => Some(*t),
        None => {
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            r.error(
                &v.span,
                format!(
                    "`{key}` in {} must be one of {}, found \"{}\"",
                    s.what,
                    names.join(", "),
                    v.value
                ),
            );
            None
        }
    }
}

fn required<T>(
    r: &mut Reader<'_>,
    s: Section<'_>,
    key: &str,
    expected: &str,
    read: impl FnOnce(&mut Reader<'_>) -> Option<T>,
) -> Option<T> {
    if s.table.contains_key(key) {
        read(r)
    } else {
        r.missing(s, key, expected);
        None
    }
}

fn optional_string(r: &mut Reader<'_>, s: Section<'_>, key: &str) -> Option<Option<String>> {
    if !s.table.contains_key(key) {
        return Some(None);
    }
    r.non_empty_string(s, key)
        .map(|v| Some(v.value.trim().to_string()))
}

fn optional_path(
    r: &mut Reader<'_>,
    s: Section<'_>,
    key: &str,
    base_dir: &Path,
) -> Option<Option<PathBuf>> {
    if !s.table.contains_key(key) {
        return Some(None);
    }
    let v = r.non_empty_string(s, key)?;
    let path = base_dir.join(v.value.trim());
    if !path.is_file() {
        r.error(
            &v.span,
            format!(
                "`{key}` in {} is not a readable file ({})",
                s.what,
                path.display()
            ),
        );
        return None;
    }
    Some(Some(path))
}

fn http_url(r: &mut Reader<'_>, s: Section<'_>, key: &str, example: &str) -> Option<Url> {
    let v = required(r, s, key, &format!("a URL such as \"{example}\""), |r| {
        r.non_empty_string(s, key)
    })?;
    let problem = match Url::parse(v.value.trim()) {
        Err(e) => format!("is not a valid URL ({e})"),
        Ok(u) if !matches!(u.scheme(), "http" | "https") => {
            format!("has scheme `{}`; expected http or https", u.scheme())
        }
        Ok(u) if u.host().is_none() => "has no host".to_string(),
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            "must not contain credentials; use the sink's token/password keys".to_string()
        }
        Ok(u) => return Some(u),
    };
    r.error(
        &v.span,
        format!("`{key}` in {} {problem} (e.g. \"{example}\")", s.what),
    );
    None
}

fn duration_or(
    r: &mut Reader<'_>,
    s: Section<'_>,
    key: &str,
    allow_zero: bool,
    default: Duration,
) -> Option<Duration> {
    present_or(r.duration(s, key, allow_zero), s, key, default)
}

// ---- common -------------------------------------------------------------------------------

/// The keys shared by all sink types; `batch_size` and `batch_timeout` default to the
/// sink type's own.
pub(super) fn common(
    r: &mut Reader<'_>,
    s: Section<'_>,
    (default_size, default_timeout): (usize, Duration),
) -> Option<SinkCommon> {
    let batch_size = present_or(
        r.integer_in::<usize>(s, "batch_size", 1..=1_000_000),
        s,
        "batch_size",
        default_size,
    );
    let batch_timeout = duration_or(r, s, "batch_timeout", true, default_timeout);
    let retry_initial = duration_or(r, s, "retry_initial", false, defaults::RETRY_INITIAL);
    let retry_max = duration_or(r, s, "retry_max", false, defaults::RETRY_MAX);
    if let (Some(i), Some(m)) = (retry_initial, retry_max) {
        if m < i {
            r.error(
                &super::reader::key_span(s.table, "retry_max"),
                format!(
                    "`retry_max` in {} is shorter than `retry_initial`; expected at least {}",
                    s.what,
                    humantime::format_duration(i)
                ),
            );
        }
    }
    let tenants = filter_tenants(r, s);
    let event_types = filter_event_types(r, s);
    let min_severity = choice(
        r,
        s,
        "min_severity",
        &[
            ("low", Some(Severity::Low)),
            ("medium", Some(Severity::Medium)),
            ("high", Some(Severity::High)),
            ("critical", Some(Severity::Critical)),
        ],
        None,
    );
    Some(SinkCommon {
        batch_size: batch_size?,
        batch_timeout: batch_timeout?,
        retry_initial: retry_initial?,
        retry_max: retry_max?.max(retry_initial?),
        filter: SinkFilter {
            tenants: tenants?,
            event_types: event_types?,
            min_severity: min_severity?,
        },
    })
}

fn filter_tenants(r: &mut Reader<'_>, s: Section<'_>) -> Option<Option<Vec<String>>> {
    if !s.table.contains_key("tenants") {
        return Some(None);
    }
    let array = r.array(s, "tenants")?;
    if array.value.is_empty() {
        r.error(
            &array.span,
            format!(
                "`tenants` in {} is empty, so the sink would get nothing; remove the key for every tenant",
                s.what
            ),
        );
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for v in array.value.iter() {
        match r.element_string(s, "tenants", v) {
            // Tenants may also live in the database registry, so names are checked for
            // shape only.
            Some(name) if super::parse::is_valid_name(&name.value) => out.push(name.value),
            Some(name) => {
                r.error(
                    &name.span,
                    format!(
                        "`{}` in `tenants` of {} is not a tenant name (1 to 64 characters of a-z, 0-9, `_` and `-`)",
                        name.value, s.what
                    ),
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    ok.then_some(Some(out))
}

fn filter_event_types(r: &mut Reader<'_>, s: Section<'_>) -> Option<Vec<u64>> {
    if !s.table.contains_key("event_types") {
        return Some(Vec::new());
    }
    let array = r.array(s, "event_types")?;
    let mut out = Vec::new();
    let mut ok = true;
    for v in array.value.iter() {
        match v.as_integer().and_then(|i| u64::try_from(i).ok()) {
            Some(id) if id > 0 => out.push(id),
            _ => {
                r.error(
                    &v.span(),
                    format!(
                        "elements of `event_types` in {} must be event type ids (positive integers, e.g. 1090519054)",
                        s.what
                    ),
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

// ---- syslog -------------------------------------------------------------------------------

pub(super) fn syslog(
    r: &mut Reader<'_>,
    s: Section<'_>,
    base_dir: &Path,
) -> Option<SyslogSinkConfig> {
    r.check_keys(s, &keys(SYSLOG_KEYS));
    let common = common(r, s, defaults::STREAM_BATCHES);
    let address = required(r, s, "address", "host:port (e.g. \"127.0.0.1:514\")", |r| {
        let v = r.non_empty_string(s, "address")?;
        let text = v.value.trim().to_string();
        match text.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {
                Some(text)
            }
            _ => {
                r.error(
                    &v.span,
                    format!(
                        "`address` in {} must be host:port (e.g. \"siem.example.com:6514\" or \"[::1]:514\"), found \"{text}\"",
                        s.what
                    ),
                );
                None
            }
        }
    });
    let transport = choice(
        r,
        s,
        "transport",
        &[
            ("udp", SyslogTransport::Udp),
            ("tcp", SyslogTransport::Tcp),
            ("tls", SyslogTransport::Tls),
        ],
        SyslogTransport::Tcp,
    );
    let framing = choice(
        r,
        s,
        "framing",
        &[
            ("octet_counting", SyslogFraming::OctetCounting),
            ("newline", SyslogFraming::Newline),
        ],
        SyslogFraming::OctetCounting,
    );
    if transport == Some(SyslogTransport::Tls)
        && s.table
            .get("framing")
            .and_then(|i| i.as_str())
            .is_some_and(|f| f == "newline")
    {
        r.error(
            &super::reader::key_span(s.table, "framing"),
            format!(
                "{}: syslog over TLS is always octet-counted (RFC 5425); remove `framing`",
                s.what
            ),
        );
    }
    let protocol = choice(
        r,
        s,
        "protocol",
        &[
            ("rfc5424", SyslogProtocol::Rfc5424),
            ("rfc3164", SyslogProtocol::Rfc3164),
        ],
        SyslogProtocol::Rfc5424,
    );
    let format = choice(
        r,
        s,
        "format",
        &[
            ("json", MessageFormat::Json),
            ("cef", MessageFormat::Cef),
            ("leef", MessageFormat::Leef),
        ],
        MessageFormat::Json,
    );
    let facility = facility(r, s);
    let app_name = match optional_string(r, s, "app_name") {
        Some(Some(a)) if a.len() > 48 || !a.bytes().all(|b| (33..=126).contains(&b)) => {
            r.error(
                &super::reader::key_span(s.table, "app_name"),
                format!(
                    "`app_name` in {} must be 1 to 48 printable ASCII characters without spaces (RFC 5424)",
                    s.what
                ),
            );
            None
        }
        Some(a) => Some(a.unwrap_or_else(|| defaults::SYSLOG_APP_NAME.to_string())),
        None => None,
    };
    let hostname = match optional_string(r, s, "hostname") {
        Some(Some(h)) if h.len() > 255 || !h.bytes().all(|b| (33..=126).contains(&b)) => {
            r.error(
                &super::reader::key_span(s.table, "hostname"),
                format!(
                    "`hostname` in {} must be 1 to 255 printable ASCII characters without spaces",
                    s.what
                ),
            );
            None
        }
        other => other,
    };
    let ca_file = optional_path(r, s, "ca_file", base_dir);
    let tls_server_name = optional_string(r, s, "tls_server_name");
    for key in ["ca_file", "tls_server_name"] {
        if s.table.contains_key(key) && transport.is_some_and(|t| t != SyslogTransport::Tls) {
            r.error(
                &super::reader::key_span(s.table, key),
                format!(
                    "`{key}` in {} is only used with transport = \"tls\"",
                    s.what
                ),
            );
        }
    }
    let leef_delimiter = if s.table.contains_key("leef_delimiter") {
        r.non_empty_string(s, "leef_delimiter")
            .and_then(|v| match parse_leef_delimiter(&v.value) {
                Some(c) => Some(c),
                None => {
                    r.error(
                        &v.span,
                        format!(
                            "`leef_delimiter` in {} must be one character (e.g. \"^\") or a hex code (\"x09\" for TAB); not `=`, a letter, a digit or a space",
                            s.what
                        ),
                    );
                    None
                }
            })
    } else {
        Some('^')
    };
    let wrap = present_or(r.boolean(s, "wrap"), s, "wrap", false);
    let connect_timeout = duration_or(r, s, "connect_timeout", false, defaults::CONNECT_TIMEOUT);
    Some(SyslogSinkConfig {
        common: common?,
        address: address?,
        transport: transport?,
        framing: framing?,
        protocol: protocol?,
        format: format?,
        facility: facility?,
        app_name: app_name?,
        hostname: hostname?,
        ca_file: ca_file?,
        tls_server_name: tls_server_name?,
        leef_delimiter: leef_delimiter?,
        wrap: wrap?,
        connect_timeout: connect_timeout?,
    })
}

/// `^`, `|`, `x09`, `0x5E`.
pub fn parse_leef_delimiter(text: &str) -> Option<char> {
    let hex = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix('x'))
        .filter(|h| !h.is_empty() && h.len() <= 2);
    let c = match hex {
        Some(h) => char::from(u8::from_str_radix(h, 16).ok()?),
        None => {
            let mut chars = text.chars();
            let c = chars.next()?;
            if chars.next().is_some() {
                return None;
            }
            c
        }
    };
    (c != '=' && c != ' ' && !c.is_alphanumeric() && c != '\n' && c != '\r').then_some(c)
}

const FACILITIES: &[&str] = &[
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

fn facility(r: &mut Reader<'_>, s: Section<'_>) -> Option<u8> {
    let Some((item, _, span)) = r.get(s, "facility") else {
        return Some(defaults::SYSLOG_FACILITY);
    };
    if let Some(i) = item.as_integer() {
        if (0..=23).contains(&i) {
            return u8::try_from(i).ok();
        }
    } else if item.is_str() {
        let v = r.string(s, "facility")?;
        if let Some(i) = FACILITIES.iter().position(|f| *f == v.value.trim()) {
            return u8::try_from(i).ok();
        }
    }
    r.error(
        &span,
        format!(
            "`facility` in {} must be 0..23 or a name ({})",
            s.what,
            FACILITIES.join(", ")
        ),
    );
    None
}

// ---- HTTP sinks ---------------------------------------------------------------------------

fn compression(r: &mut Reader<'_>, s: Section<'_>) -> Option<bool> {
    choice(
        r,
        s,
        "compression",
        &[("gzip", true), ("none", false)],
        true,
    )
}

pub(super) fn splunk_hec(
    r: &mut Reader<'_>,
    s: Section<'_>,
    base_dir: &Path,
) -> Option<HecSinkConfig> {
    r.check_keys(s, &keys(HEC_KEYS));
    let common = common(r, s, defaults::BATCHES);
    let url = http_url(r, s, "url", "https://splunk.example.com:8088");
    let token = required(
        r,
        s,
        "token",
        "the HEC token (e.g. token = \"${SPLUNK_HEC_TOKEN}\")",
        |r| r.secret(s, "token"),
    );
    let index = optional_string(r, s, "index");
    let source = optional_string(r, s, "source");
    let sourcetype = optional_string(r, s, "sourcetype")
        .map(|v| v.unwrap_or_else(|| defaults::HEC_SOURCETYPE.to_string()));
    let host = optional_string(r, s, "host");
    let gzip = compression(r, s);
    let ack = present_or(r.boolean(s, "ack"), s, "ack", false);
    let ack_timeout = duration_or(r, s, "ack_timeout", false, defaults::HEC_ACK_TIMEOUT);
    let request_timeout = duration_or(r, s, "request_timeout", false, defaults::REQUEST_TIMEOUT);
    let ca_file = optional_path(r, s, "ca_file", base_dir);
    Some(HecSinkConfig {
        common: common?,
        url: url?,
        token: Secret(token?.value),
        index: index?,
        source: source?,
        sourcetype: sourcetype?,
        host: host?,
        gzip: gzip?,
        ack: ack?,
        ack_timeout: ack_timeout?,
        request_timeout: request_timeout?,
        ca_file: ca_file?,
    })
}

pub(super) fn elasticsearch(
    r: &mut Reader<'_>,
    s: Section<'_>,
    base_dir: &Path,
) -> Option<ElasticsearchSinkConfig> {
    r.check_keys(s, &keys(ES_KEYS));
    let common = common(r, s, defaults::ES_BATCHES);
    let url = http_url(r, s, "url", "https://elastic.example.com:9200");
    let has = |k: &str| s.table.contains_key(k);
    let auth = match (has("api_key"), has("username"), has("password")) {
        (false, false, false) => Some(ElasticAuth::None),
        (true, false, false) => r
            .secret(s, "api_key")
            .map(|k| ElasticAuth::ApiKey(Secret(k.value))),
        (false, true, true) => {
            let user = r.non_empty_string(s, "username");
            let pass = r.secret(s, "password");
            match (user, pass) {
                (Some(u), Some(p)) => Some(ElasticAuth::Basic {
                    username: u.value,
                    password: Secret(p.value),
                }),
                _ => None,
            }
        }
        (false, true, false) | (false, false, true) => {
            r.error(
                s.span,
                format!(
                    "{} needs both `username` and `password` (or `api_key`)",
                    s.what
                ),
            );
            None
        }
        _ => {
            r.error(
                &super::reader::key_span(s.table, "api_key"),
                format!(
                    "{} sets `api_key` and `username`/`password`; use one",
                    s.what
                ),
            );
            None
        }
    };
    let data_stream = match optional_string(r, s, "data_stream") {
        Some(Some(ds)) if !is_data_stream_name(&ds) => {
            r.error(
                &super::reader::key_span(s.table, "data_stream"),
                format!(
                    "`data_stream` in {} must be <type>-<dataset>-<namespace> in lowercase (e.g. \"{}\")",
                    s.what,
                    defaults::ES_DATA_STREAM
                ),
            );
            None
        }
        Some(ds) => Some(ds.unwrap_or_else(|| defaults::ES_DATA_STREAM.to_string())),
        None => None,
    };
    let pipeline = optional_string(r, s, "pipeline")
        .map(|p| p.or_else(|| Some(defaults::ES_PIPELINE.to_string())));
    let gzip = compression(r, s);
    let request_timeout = duration_or(r, s, "request_timeout", false, defaults::REQUEST_TIMEOUT);
    let ca_file = optional_path(r, s, "ca_file", base_dir);
    Some(ElasticsearchSinkConfig {
        common: common?,
        url: url?,
        auth: auth?,
        data_stream: data_stream?,
        pipeline: pipeline?,
        gzip: gzip?,
        request_timeout: request_timeout?,
        ca_file: ca_file?,
    })
}

fn is_data_stream_name(ds: &str) -> bool {
    let parts: Vec<&str> = ds.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty())
        && ds.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
}

pub(super) fn postgres(r: &mut Reader<'_>, s: Section<'_>) -> Option<PostgresSinkConfig> {
    r.check_keys(s, &keys(PG_KEYS));
    let common = common(r, s, defaults::BATCHES);
    let url = required(
        r,
        s,
        "url",
        "a postgres:// URL (e.g. url = \"${EVENTS_DATABASE_URL}\")",
        |r| {
            let u = r.secret(s, "url")?;
            let t = u.value.expose_secret();
            if t.starts_with("postgres://") || t.starts_with("postgresql://") {
                Some(u.value)
            } else {
                r.error(
                    &u.span,
                    format!(
                        "`url` in {} must start with postgres:// or postgresql://",
                        s.what
                    ),
                );
                None
            }
        },
    );
    let table = match optional_string(r, s, "table") {
        Some(Some(t)) if !is_table_name(&t) => {
            r.error(
                &super::reader::key_span(s.table, "table"),
                format!(
                    "`table` in {} must be `name` or `schema.name` of a-z, 0-9 and `_` (not starting with a digit, ≤ 63 characters each)",
                    s.what
                ),
            );
            None
        }
        Some(t) => Some(t.unwrap_or_else(|| defaults::PG_TABLE.to_string())),
        None => None,
    };
    let create_table = present_or(r.boolean(s, "create_table"), s, "create_table", true);
    Some(PostgresSinkConfig {
        common: common?,
        url: Secret(url?),
        table: table?,
        create_table: create_table?,
    })
}

/// Lowercase identifiers only: they are interpolated into SQL (quoted), never user data.
pub fn is_table_name(t: &str) -> bool {
    let ident = |p: &str| {
        !p.is_empty()
            && p.len() <= 63
            && !p.as_bytes()[0].is_ascii_digit()
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    match t.split_once('.') {
        Some((schema, name)) => ident(schema) && ident(name),
        None => ident(t),
    }
}

pub(super) fn webhook(
    r: &mut Reader<'_>,
    s: Section<'_>,
    base_dir: &Path,
) -> Option<WebhookSinkConfig> {
    r.check_keys(s, &keys(WEBHOOK_KEYS));
    let common = common(r, s, defaults::BATCHES);
    let url = http_url(r, s, "url", "https://hooks.example.com/sebridge");
    let secret = required(
        r,
        s,
        "secret",
        "the HMAC-SHA256 signing key (e.g. secret = \"${WEBHOOK_SECRET}\")",
        |r| r.secret(s, "secret"),
    );
    if let Some(sec) = &secret {
        if sec.value.expose_secret().len() < 16 {
            r.error(
                &sec.span,
                format!(
                    "`secret` in {} is shorter than 16 characters; use a long random key",
                    s.what
                ),
            );
        }
    }
    let request_timeout = duration_or(r, s, "request_timeout", false, defaults::REQUEST_TIMEOUT);
    let ca_file = optional_path(r, s, "ca_file", base_dir);
    Some(WebhookSinkConfig {
        common: common?,
        url: url?,
        secret: Secret(secret?.value),
        request_timeout: request_timeout?,
        ca_file: ca_file?,
    })
}

// ---- [journal] ----------------------------------------------------------------------------

pub(super) fn journal(r: &mut Reader<'_>, root: Section<'_>) -> Option<JournalConfig> {
    if root.table.get("journal").is_none() {
        return Some(JournalConfig::default());
    }
    let (table, span) = r.table(root, "journal")?;
    let s = Section {
        table,
        what: "[journal]",
        span: &span,
    };
    r.check_keys(s, JOURNAL_KEYS);
    // `max_age = "0s"` or absent-with-max_rows: no age limit.
    let max_age = match r.duration(s, "max_age", true) {
        Some(d) if d.is_zero() => Some(None),
        Some(d) => Some(Some(d)),
        None if s.table.contains_key("max_age") => None,
        None => Some(Some(defaults::JOURNAL_MAX_AGE)),
    };
    let max_rows = if s.table.contains_key("max_rows") {
        r.integer_in::<u64>(s, "max_rows", 1000..=i64::MAX)
            .map(Some)
    } else {
        Some(None)
    };
    let on_lagging_consumer = choice(
        r,
        s,
        "on_lagging_consumer",
        &[("keep", LaggingPolicy::Keep), ("drop", LaggingPolicy::Drop)],
        LaggingPolicy::Keep,
    );
    let warn_at_percent = present_or(
        r.integer_in::<u8>(s, "warn_at_percent", 1..=100),
        s,
        "warn_at_percent",
        defaults::JOURNAL_WARN_AT_PERCENT,
    );
    let check_interval = duration_or(
        r,
        s,
        "check_interval",
        false,
        defaults::JOURNAL_CHECK_INTERVAL,
    );
    Some(JournalConfig {
        max_age: max_age?,
        max_rows: max_rows?,
        on_lagging_consumer: on_lagging_consumer?,
        warn_at_percent: warn_at_percent?,
        check_interval: check_interval?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leef_delimiters() {
        assert_eq!(parse_leef_delimiter("^"), Some('^'));
        assert_eq!(parse_leef_delimiter("x09"), Some('\t'));
        assert_eq!(parse_leef_delimiter("0x5E"), Some('^'));
        assert_eq!(parse_leef_delimiter("|"), Some('|'));
        assert_eq!(parse_leef_delimiter("="), None);
        assert_eq!(parse_leef_delimiter("ab"), None);
        assert_eq!(parse_leef_delimiter("a"), None);
    }

    #[test]
    fn table_names() {
        assert!(is_table_name("sebridge_events"));
        assert!(is_table_name("siem.events_2"));
        assert!(!is_table_name("Events"));
        assert!(!is_table_name("a;drop"));
        assert!(!is_table_name("1x"));
        assert!(!is_table_name("a.b.c"));
    }
}
