//! The keys every sink takes: batching, retries and which events it delivers.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use secure_endpoint::Severity;
use serde::Deserialize;

use crate::config::reader::{Ctx, Sec};
use crate::config::values::{is_valid_name, Int, List, Str, NAME_RULE};

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
    /// File and stdout sinks write the raw event unless told to wrap it.
    pub const SINK_WRAP: bool = false;
    pub const RETRY_INITIAL: Duration = Duration::from_millis(500);
    pub const RETRY_MAX: Duration = Duration::from_secs(60);
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
}

/// The common keys as written.
#[derive(Deserialize)]
pub(crate) struct CommonRaw {
    batch_size: Int,
    batch_timeout: Str,
    retry_initial: Str,
    retry_max: Str,
    tenants: List<String>,
    event_types: List<i64>,
    min_severity: Str,
}

/// The common keys; `batch_size` and `batch_timeout` default to the sink type's own.
pub(crate) fn common(
    cx: &mut Ctx<'_>,
    s: &Sec,
    raw: CommonRaw,
    (default_size, default_timeout): (usize, Duration),
) -> Option<SinkCommon> {
    let batch_size = cx.int_or(s, "batch_size", raw.batch_size, 1..=1_000_000, default_size);
    let batch_timeout =
        cx.duration_or(s, "batch_timeout", raw.batch_timeout, true, default_timeout);
    let retry_initial = cx.duration_or(
        s,
        "retry_initial",
        raw.retry_initial,
        false,
        defaults::RETRY_INITIAL,
    );
    let retry_max = cx.duration_or(s, "retry_max", raw.retry_max, false, defaults::RETRY_MAX);
    if let (Some(i), Some(m)) = (retry_initial, retry_max) {
        if m < i {
            cx.error(
                &s.key("retry_max"),
                format!(
                    "`retry_max` in {} is shorter than `retry_initial`; expected at least {}",
                    s.what,
                    humantime::format_duration(i)
                ),
            );
        }
    }
    let what = s.what.clone();
    // Tenants may also live in the database registry, so names are checked for shape only.
    let tenants = cx.list(
        s,
        "tenants",
        raw.tenants,
        |cx, name, span, out| {
            if is_valid_name(&name) {
                out.push(name);
                return true;
            }
            cx.error_at(
                &span,
                format!("`{name}` in `tenants` of {what} is not a tenant name ({NAME_RULE})"),
            );
            false
        },
        "strings",
    );
    let tenants = match tenants {
        Some(Some((list, span))) if list.is_empty() => {
            cx.error_at(
                &span,
                format!(
                    "`tenants` in {what} is empty, so the sink would get nothing; remove the key for every tenant"
                ),
            );
            None
        }
        other => other.map(|t| t.map(|(t, _)| t)),
    };
    let ids = "event type ids (positive integers, e.g. 1090519054)";
    let event_types = cx.list(
        s,
        "event_types",
        raw.event_types,
        |cx, id, span, out| match u64::try_from(id) {
            Ok(id) if id > 0 => {
                out.push(id);
                true
            }
            _ => {
                cx.error_at(
                    &span,
                    format!("elements of `event_types` in {what} must be {ids}"),
                );
                false
            }
        },
        ids,
    );
    let min_severity = cx.severity(s, "min_severity", raw.min_severity);
    Some(SinkCommon {
        batch_size: batch_size?,
        batch_timeout: batch_timeout?,
        retry_initial: retry_initial?,
        retry_max: retry_max?.max(retry_initial?),
        filter: SinkFilter {
            tenants: tenants?,
            event_types: event_types?.map(|(v, _)| v).unwrap_or_default(),
            min_severity: min_severity?,
        },
    })
}

/// `compression = "gzip" | "none"` of the HTTP sinks: whether bodies are gzipped.
pub(crate) fn compression(cx: &mut Ctx<'_>, s: &Sec, f: Str) -> Option<bool> {
    cx.choice(
        s,
        "compression",
        f,
        &[("gzip", true), ("none", false)],
        true,
    )
}

/// Where credentials of an HTTP sink go instead of its URL.
pub(crate) const USE_INSTEAD: &str = "the sink's token/password keys";
