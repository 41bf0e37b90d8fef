//! `[sources.<name>] type = "poll"`: REST polling of `GET /v1/events`.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::de::Error;
use serde::{Deserialize, Deserializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::config::de;
use crate::config::reader::{Ctx, Sec};
use crate::config::values::is_guid;

/// Defaults, as documented in `config/example.toml`.
pub mod defaults {
    use std::time::Duration;
    pub const POLL_INTERVAL: Duration = Duration::from_secs(60);
    pub const POLL_LOOKBACK: Duration = Duration::from_secs(24 * 3600);
    pub const POLL_PAGE_SIZE: u32 = 500;
    /// The API's maximum page size.
    pub const POLL_PAGE_SIZE_MAX: u32 = 500;
    pub const POLL_CONCURRENCY: usize = 32;
    pub const POLL_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    /// Late arrivals of up to a minute are caught; in steady state this costs no request.
    pub const POLL_OVERLAP: Duration = Duration::from_secs(60);
}
use defaults::*;

/// An event type, by id (TOML integer) or by name (TOML string), resolved against the
/// tenant's `/v1/event_types` at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventTypeRef {
    Id(u64),
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PollSourceConfig {
    /// Time between polls once caught up (default 60s, > 0).
    #[serde(default = "interval", deserialize_with = "de::duration")]
    pub interval: Duration,
    /// First run: how far back to start (default 24h; 0 means "from now").
    #[serde(default = "lookback", deserialize_with = "de::duration0")]
    pub lookback: Duration,
    /// First run: an absolute start; wins over `lookback`.
    #[serde(default, deserialize_with = "since")]
    pub since: Option<OffsetDateTime>,
    /// Events per page, 2..=500 (default 500). Not 1: each page of the walk overlaps the
    /// committed part by one event (that is what anchors it), so a page of one event never
    /// moves on, and a poll of more than one page gave up (`Unstable`) on every try, for good
    /// (cursor_props found it).
    #[serde(default = "page_size", deserialize_with = "de::int::<2, 500, u32, _>")]
    pub page_size: u32,
    /// Tenants polled at once, ≥ 1 (default 32).
    #[serde(default = "concurrency")]
    #[serde(deserialize_with = "de::int::<1, { i64::MAX }, usize, _>")]
    pub concurrency: usize,
    /// Per-request timeout (default 30s, > 0).
    #[serde(default = "request_timeout", deserialize_with = "de::duration")]
    pub request_timeout: Duration,
    /// Re-read window for late arrivals (default 60s; 0 = off): each poll reads again the
    /// events of the last `overlap` before the cursor, so an event that reached the API
    /// after the cursor passed its second is still journaled. With 0, even a late event of
    /// the cursor's own second is missed when the API lists it below the ones already read
    /// (an earlier sub-second): the walk anchors on those (cursor_props.rs shows both cases).
    #[serde(default = "overlap", deserialize_with = "de::duration0")]
    pub overlap: Duration,
    /// Optional filter by event type; empty = all.
    #[serde(default, deserialize_with = "event_types")]
    pub event_types: Vec<EventTypeRef>,
    /// Optional filter by group GUID; empty = all.
    #[serde(default, deserialize_with = "groups")]
    pub groups: Vec<String>,
    /// Optional subset of tenants; `None` = every enabled tenant.
    #[serde(default, deserialize_with = "tenants")]
    pub tenants: Option<Vec<String>>,
}

de::defaults! {
    interval: Duration = POLL_INTERVAL;
    lookback: Duration = POLL_LOOKBACK;
    page_size: u32 = POLL_PAGE_SIZE;
    concurrency: usize = POLL_CONCURRENCY;
    request_timeout: Duration = POLL_REQUEST_TIMEOUT;
    overlap: Duration = POLL_OVERLAP;
}

pub(crate) const NO_TENANT: &str =
    "so the source would poll nothing; remove the key to use every tenant";

/// Whether a source's `tenants` selection includes `tenant` (no selection: every tenant).
pub fn selects(selection: Option<&Vec<String>>, tenant: &str) -> bool {
    selection.is_none_or(|sel| sel.iter().any(|t| t == tenant))
}

impl PollSourceConfig {
    /// Whether this source reads `tenant` (an enabled one).
    pub fn reads(&self, tenant: &str) -> bool {
        selects(self.tenants.as_ref(), tenant)
    }
}

/// Tenant names, each once (checked against the declared ones afterwards).
pub(crate) fn tenants<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    de::names(d, "{what} lists tenant `{name}` twice", None).map(Some)
}

pub(crate) fn poll(
    cx: &mut Ctx<'_>,
    s: &Sec,
    value: &toml::Spanned<toml::de::DeValue<'_>>,
    declared: &BTreeSet<String>,
) -> Option<PollSourceConfig> {
    let (p, bad) = cx.de_partial::<PollSourceConfig>(s, value, &[]);
    let ok = bad.iter().any(|b| b == "tenants")
        || cx.declared_tenants(s, value, "tenants", declared, NO_TENANT);
    p.filter(|_| ok && bad.is_empty())
}

/// `since`: an RFC 3339 string, or a TOML offset date-time.
fn since<'de, D: Deserializer<'de>>(d: D) -> Result<Option<OffsetDateTime>, D::Error> {
    const EXPECTED: &str = "an RFC 3339 timestamp such as \"2024-01-01T00:00:00Z\"";
    let text = match toml::Value::deserialize(d)? {
        toml::Value::Datetime(dt)
            if dt.date.is_some() && dt.time.is_some() && dt.offset.is_some() =>
        {
            dt.to_string()
        }
        toml::Value::Datetime(_) => {
            let m = format!("needs a date, a time and a UTC offset: expected {EXPECTED}");
            return Err(D::Error::custom(m));
        }
        toml::Value::String(text) => text,
        _ => {
            return Err(D::Error::custom(format!(
                "must be {EXPECTED}, found {{found}}"
            )))
        }
    };
    OffsetDateTime::parse(text.trim(), &Rfc3339)
        .map(Some)
        .map_err(|e| {
            D::Error::custom(format!(
                "is not an RFC 3339 timestamp ({e}): expected {EXPECTED}"
            ))
        })
}

/// Group GUIDs, lowercased. The API filters by group GUID; a group *name* here would
/// silently match nothing.
pub(crate) fn groups<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    de::list(d, |v| match v {
        toml::Value::String(g) if is_guid(g.trim()) => Ok(g.trim().to_ascii_lowercase()),
        toml::Value::String(g) => Err(format!(
            "`{g}` in `{{key}}` of {{what}} is not a group GUID: expected e.g. \
             \"b077d6bc-bbdf-42f7-8838-a06053fbd98a\""
        )),
        _ => Err("elements of `{key}` in {what} must be strings, found {found}".into()),
    })
}

/// Event types by id (integer) or name (string), resolved against the tenant's
/// `/v1/event_types` at run time.
pub(crate) fn event_types<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<EventTypeRef>, D::Error> {
    de::list(d, |v| match v {
        toml::Value::Integer(id) if id > 0 => Ok(EventTypeRef::Id(id as u64)),
        toml::Value::Integer(id) => Err(format!(
            "event type id {id} in `{{key}}` of {{what}} must be a positive integer"
        )),
        toml::Value::String(n) if !n.trim().is_empty() => Ok(EventTypeRef::Name(n.trim().into())),
        toml::Value::String(_) => Err("empty event type name in `{key}` of {what}".into()),
        _ => Err(
            "elements of `{key}` in {what} must be event type ids (integers) or \
                 names (strings), found {found}"
                .into(),
        ),
    })
}
