//! The keys every sink takes: batching, retries and which events it delivers.

use std::time::Duration;

use secure_endpoint::Severity;
use serde::de::Error;
use serde::{Deserialize, Deserializer};

use crate::config::de;
pub use crate::config::de::Secret;
use crate::config::reader::{Ctx, Sec};
use crate::config::values::{is_valid_name, NAME_RULE};

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

/// The common keys as written: batching defaults depend on the sink type, so they are
/// filled in by [`CommonDe::build`].
#[derive(Deserialize)]
pub(crate) struct CommonDe {
    #[serde(default, deserialize_with = "batch_size")]
    batch_size: Option<usize>,
    #[serde(default, deserialize_with = "batch_timeout")]
    batch_timeout: Option<Duration>,
    #[serde(default = "retry_initial", deserialize_with = "de::duration")]
    retry_initial: Duration,
    #[serde(default = "retry_max", deserialize_with = "de::duration")]
    retry_max: Duration,
    #[serde(default, deserialize_with = "tenants")]
    tenants: Option<Vec<String>>,
    #[serde(default, deserialize_with = "event_types")]
    event_types: Vec<u64>,
    #[serde(default, deserialize_with = "de::severity")]
    min_severity: Option<Severity>,
}

de::defaults! {
    retry_initial: Duration = defaults::RETRY_INITIAL;
    retry_max: Duration = defaults::RETRY_MAX;
}
fn batch_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    de::int::<1, 1_000_000, usize, D>(d).map(Some)
}
fn batch_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    de::duration0(d).map(Some)
}

/// Tenants may also live in the database registry, so names are checked for shape only.
fn tenants<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let list = de::list(d, |v| match v {
        toml::Value::String(n) if is_valid_name(&n) => Ok(n),
        toml::Value::String(n) => Err(format!(
            "`{n}` in `tenants` of {{what}} is not a tenant name ({NAME_RULE})"
        )),
        _ => Err("elements of `{key}` in {what} must be strings, found {found}".into()),
    })?;
    if list.is_empty() {
        return Err(D::Error::custom(
            "is empty, so the sink would get nothing; remove the key for every tenant",
        ));
    }
    Ok(Some(list))
}

fn event_types<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    const IDS: &str = "event type ids (positive integers, e.g. 1090519054)";
    de::list(d, |v| match v {
        toml::Value::Integer(id) if id > 0 => Ok(id as u64),
        toml::Value::Integer(_) => Err(format!("elements of `{{key}}` in {{what}} must be {IDS}")),
        _ => Err(format!(
            "elements of `{{key}}` in {{what}} must be {IDS}, found {{found}}"
        )),
    })
}

impl CommonDe {
    /// The common keys; `batch_size` and `batch_timeout` default to the sink type's own.
    pub(crate) fn build(
        self,
        cx: &mut Ctx<'_>,
        s: &Sec,
        (default_size, default_timeout): (usize, Duration),
        bad: &[String],
    ) -> SinkCommon {
        let read = |k: &str| !bad.iter().any(|b| b == k);
        if read("retry_initial") && read("retry_max") && self.retry_max < self.retry_initial {
            cx.error(
                &s.key("retry_max"),
                format!(
                    "`retry_max` in {} is shorter than `retry_initial`; expected at least {}",
                    s.what,
                    humantime::format_duration(self.retry_initial)
                ),
            );
        }
        SinkCommon {
            batch_size: self.batch_size.unwrap_or(default_size),
            batch_timeout: self.batch_timeout.unwrap_or(default_timeout),
            retry_initial: self.retry_initial,
            retry_max: self.retry_max.max(self.retry_initial),
            filter: SinkFilter {
                tenants: self.tenants,
                event_types: self.event_types,
                min_severity: self.min_severity,
            },
        }
    }
}

impl SinkCommon {
    /// A placeholder until the common keys are read (serde fills the type's own first).
    pub(crate) fn unset() -> Self {
        let (batch_size, batch_timeout) = defaults::BATCHES;
        SinkCommon {
            batch_size,
            batch_timeout,
            retry_initial: defaults::RETRY_INITIAL,
            retry_max: defaults::RETRY_MAX,
            filter: SinkFilter::default(),
        }
    }
}

/// What a file, webhook or Splunk HEC sink writes for each event: the vendor's JSON as
/// received (`json`, the default) or an OCSF event (`ocsf`, see [`super::ocsf`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EventFormat {
    #[default]
    Json,
    Ocsf,
}

/// `format = "json" | "ocsf"`; any other value is refused with the accepted ones listed.
pub(crate) fn event_format<'de, D: Deserializer<'de>>(d: D) -> Result<EventFormat, D::Error> {
    de::choice(
        d,
        &[("json", EventFormat::Json), ("ocsf", EventFormat::Ocsf)],
    )
}

/// Refuses `wrap = true` with `format = "ocsf"` (an OCSF event names its tenant in
/// `metadata.tenant_uid`; wrapping it would be a second envelope). Read from the values as
/// written, so the conflict is reported even when another key of the table is wrong.
pub(crate) fn wrap_with_ocsf(
    cx: &mut Ctx<'_>,
    s: &Sec,
    value: &toml::Spanned<toml::de::DeValue<'_>>,
) -> bool {
    use toml::de::DeValue;
    let toml::de::DeValue::Table(t) = value.get_ref() else {
        return false;
    };
    let ocsf = matches!(t.get("format").map(|v| v.get_ref()), Some(DeValue::String(f)) if f.trim() == "ocsf");
    let wrap = matches!(
        t.get("wrap").map(|v| v.get_ref()),
        Some(DeValue::Boolean(true))
    );
    if ocsf && wrap {
        let m = format!(
            "`wrap` in {} only applies to format = \"json\"; an OCSF event already carries its tenant (metadata.tenant_uid): remove `wrap` or the format",
            s.what
        );
        cx.error(&s.key("wrap"), m);
    }
    ocsf && wrap
}

/// Where credentials of an HTTP sink go instead of its URL.
pub(crate) const USE_INSTEAD: &str = "the sink's token/password keys";

pub(crate) fn yes() -> bool {
    true
}
pub(crate) fn request_timeout() -> Duration {
    defaults::REQUEST_TIMEOUT
}
