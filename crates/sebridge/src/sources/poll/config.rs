//! `[sources.<name>] type = "poll"`: REST polling of `GET /v1/events`.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::config::reader::{Ctx, Sec};
use crate::config::values::{Any, Int, List, Str};

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

/// The table as written.
#[derive(Deserialize)]
pub(crate) struct PollRaw {
    interval: Str,
    lookback: Str,
    since: Any,
    page_size: Int,
    concurrency: Int,
    request_timeout: Str,
    overlap: Str,
    event_types: List<toml::Value>,
    groups: List<String>,
    tenants: List<String>,
}

pub(crate) const NO_TENANT: &str =
    "so the source would poll nothing; remove the key to use every tenant";

pub(crate) fn poll(
    cx: &mut Ctx<'_>,
    s: &Sec,
    raw: PollRaw,
    declared: &BTreeSet<String>,
) -> Option<PollSourceConfig> {
    // Each field is read (and reported) before any `?`, so every problem shows up.
    let interval = cx.duration_or(s, "interval", raw.interval, false, POLL_INTERVAL);
    let lookback = cx.duration_or(s, "lookback", raw.lookback, true, POLL_LOOKBACK);
    let since = since(cx, s, raw.since);
    let max = i64::from(POLL_PAGE_SIZE_MAX);
    let page_size = cx.int_or(s, "page_size", raw.page_size, 1..=max, POLL_PAGE_SIZE);
    let concurrency = cx.int_or(
        s,
        "concurrency",
        raw.concurrency,
        1..=i64::MAX,
        POLL_CONCURRENCY,
    );
    let request_timeout = cx.duration_or(
        s,
        "request_timeout",
        raw.request_timeout,
        false,
        POLL_REQUEST_TIMEOUT,
    );
    let overlap = cx.duration_or(s, "overlap", raw.overlap, true, POLL_OVERLAP);
    let event_types = event_type_refs(cx, s, "event_types", raw.event_types);
    let groups = cx.groups(s, "groups", raw.groups);
    let tenants = cx.tenant_refs(s, "tenants", raw.tenants, declared, NO_TENANT);
    Some(PollSourceConfig {
        interval: interval?,
        lookback: lookback?,
        since: since?,
        page_size: page_size?,
        concurrency: concurrency?,
        request_timeout: request_timeout?,
        overlap: overlap?,
        event_types: event_types?,
        groups: groups?,
        tenants: tenants?,
    })
}

/// `since`: an RFC 3339 string, or a TOML offset date-time. Outer `None` = invalid.
fn since(cx: &mut Ctx<'_>, s: &Sec, f: Any) -> Option<Option<OffsetDateTime>> {
    const EXPECTED: &str = "an RFC 3339 timestamp such as \"2024-01-01T00:00:00Z\"";
    let Some((value, span)) = cx.take(s, "since", f, EXPECTED)? else {
        return Some(None);
    };
    let text = match value {
        toml::Value::Datetime(dt)
            if dt.date.is_some() && dt.time.is_some() && dt.offset.is_some() =>
        {
            dt.to_string()
        }
        toml::Value::Datetime(_) => {
            cx.error_at(
                &span,
                format!(
                    "`since` in {} needs a date, a time and a UTC offset: expected {EXPECTED}",
                    s.what
                ),
            );
            return None;
        }
        toml::Value::String(text) => text,
        _ => {
            let found = cx.found(&span);
            cx.error_at(
                &span,
                format!("`since` in {} must be {EXPECTED}, found {found}", s.what),
            );
            return None;
        }
    };
    match OffsetDateTime::parse(text.trim(), &Rfc3339) {
        Ok(t) => Some(Some(t)),
        Err(e) => {
            cx.error_at(
                &span,
                format!(
                    "`since` in {} is not an RFC 3339 timestamp ({e}): expected {EXPECTED}",
                    s.what
                ),
            );
            None
        }
    }
}

/// Event types by id (integer) or name (string), resolved against the tenant's
/// `/v1/event_types` at run time.
pub(crate) fn event_type_refs(
    cx: &mut Ctx<'_>,
    s: &Sec,
    key: &str,
    f: List<toml::Value>,
) -> Option<Vec<EventTypeRef>> {
    let what = s.what.clone();
    let read = cx.list(
        s,
        key,
        f,
        |cx, v, span, out| {
            let problem = match v {
                toml::Value::Integer(id) => match u64::try_from(id) {
                    Ok(id) if id > 0 => {
                        out.push(EventTypeRef::Id(id));
                        return true;
                    }
                    _ => format!(
                        "event type id {id} in `{key}` of {what} must be a positive integer"
                    ),
                },
                toml::Value::String(name) if !name.trim().is_empty() => {
                    out.push(EventTypeRef::Name(name.trim().to_string()));
                    return true;
                }
                toml::Value::String(_) => format!("empty event type name in `{key}` of {what}"),
                _ => format!(
                    "elements of `{key}` in {what} must be event type ids (integers) or \
                 names (strings), found {}",
                    cx.found(&span)
                ),
            };
            cx.error_at(&span, problem);
            false
        },
        "event type ids (integers) or names (strings)",
    );
    read.map(|v| v.map(|(v, _)| v).unwrap_or_default())
}
