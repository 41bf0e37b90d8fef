//! `[incidents]`: rules, correlation, ServiceNow, Cisco XDR, response actions and the close
//! webhook. Each sub-table has its own file; this one reads `[incidents]` itself and checks
//! what spans the sub-tables (a destination is required; the webhook needs ServiceNow).

pub mod defaults;
mod rules;
mod servicenow;
#[cfg(test)]
mod tests;
mod webhook;
mod xdr;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::de::IgnoredAny;
use serde::Deserialize;
use toml::de::DeTable;
use url::Url;

use crate::config::reader::Ctx;
use crate::config::values::{Int, Str};
pub use defaults::SAMPLE_HIGH_PRIORITY_TYPES;
pub use rules::{RuleConfig, Templates, TenantOverride};
pub use servicenow::{ServiceNowAuth, ServiceNowConfig};
pub use webhook::WebhookConfig;
pub use xdr::{XdrConfig, XdrEndpoint};

/// `[incidents]`.
#[derive(Debug, Clone)]
pub struct IncidentsConfig {
    /// Events with the same key within this time of the incident's last event join it.
    pub window: Duration,
    /// At most one work note per incident per interval.
    pub note_interval: Duration,
    /// Events older than this when processed open no incident (0 = no limit): a first run
    /// with a long lookback does not flood the service desk with old tickets.
    pub max_event_age: Duration,
    /// How often ServiceNow is polled for our tickets that were resolved or closed.
    pub reconcile_interval: Duration,
    pub batch_size: usize,
    /// Outbox operations in flight at once.
    pub concurrency: usize,
    /// Prefix of correlation ids and external ids (`<prefix>:<tenant>:amp-event:<id>`).
    pub prefix: String,
    /// Secure Endpoint console for links; default per tenant region (console.amp.cisco.com).
    pub console_url: Option<Url>,
    pub servicenow: Option<ServiceNowConfig>,
    pub xdr: Option<XdrConfig>,
    pub webhook: Option<WebhookConfig>,
    /// In file order; the first rule an event matches decides.
    pub rules: Vec<RuleConfig>,
    pub tenants: BTreeMap<String, TenantOverride>,
    pub templates: Templates,
}

/// `[incidents]` as written; the sub-tables are read on their own (listed here so that
/// they are known keys).
#[derive(Deserialize)]
struct IncidentsRaw {
    window: Str,
    note_interval: Str,
    max_event_age: Str,
    reconcile_interval: Str,
    batch_size: Int,
    concurrency: Int,
    prefix: Str,
    console_url: Str,
    #[allow(dead_code)]
    servicenow: Option<IgnoredAny>,
    #[allow(dead_code)]
    xdr: Option<IgnoredAny>,
    #[allow(dead_code)]
    webhook: Option<IgnoredAny>,
    #[allow(dead_code)]
    rules: Option<IgnoredAny>,
    #[allow(dead_code)]
    tenants: Option<IgnoredAny>,
    #[allow(dead_code)]
    templates: Option<IgnoredAny>,
}

/// `Some(None)` when there is no `[incidents]`; `None` when it is invalid (reported).
pub(crate) fn incidents(
    cx: &mut Ctx<'_>,
    root: &DeTable<'_>,
    declared: &BTreeSet<String>,
) -> Option<Option<IncidentsConfig>> {
    let Some((key, value)) = root.get_key_value("incidents") else {
        return Some(None);
    };
    let table = cx.as_table(value, "incidents", "the top level")?;
    let (raw, s, _) =
        cx.section::<IncidentsRaw>("[incidents]", Some(key.span()), table, value, &[]);
    let raw = raw?;
    let window = cx.duration_or(&s, "window", raw.window, false, defaults::WINDOW);
    let note_interval = cx.duration_or(
        &s,
        "note_interval",
        raw.note_interval,
        false,
        defaults::NOTE_INTERVAL,
    );
    let max_event_age = cx.duration_or(
        &s,
        "max_event_age",
        raw.max_event_age,
        true,
        defaults::MAX_EVENT_AGE,
    );
    let reconcile_interval = cx.duration_or(
        &s,
        "reconcile_interval",
        raw.reconcile_interval,
        false,
        defaults::RECONCILE_INTERVAL,
    );
    let batch_size = cx.int_or(
        &s,
        "batch_size",
        raw.batch_size,
        1..=10_000,
        defaults::BATCH_SIZE,
    );
    let concurrency = cx.int_or(
        &s,
        "concurrency",
        raw.concurrency,
        1..=256,
        defaults::CONCURRENCY,
    );
    let prefix = match cx.non_empty(&s, "prefix", raw.prefix)? {
        Some((p, _))
            if p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            Some(p)
        }
        Some((_, span)) => {
            cx.error_at(
                &span,
                "`prefix` in [incidents] must be letters, digits, `-` and `_` (it starts every correlation id)",
            );
            None
        }
        None => Some(defaults::PREFIX.to_string()),
    };
    let example = "https://console.amp.cisco.com";
    let no_credentials = "a URL without them (links to the console end up in tickets)";
    let console_url = cx.http_url(
        &s,
        "console_url",
        raw.console_url,
        example,
        no_credentials,
        true,
    );
    let servicenow = cx
        .sub(table, "servicenow", "[incidents]", "[incidents.servicenow]")
        .map(|t| t.and_then(|(raw, s)| servicenow::servicenow(cx, &s, raw)));
    let xdr = cx
        .sub(table, "xdr", "[incidents]", "[incidents.xdr]")
        .map(|t| t.and_then(|(raw, s)| xdr::xdr(cx, &s, raw)));
    let webhook = cx
        .sub(table, "webhook", "[incidents]", "[incidents.webhook]")
        .map(|t| t.and_then(|(raw, s)| webhook::webhook(cx, &s, raw)));
    let rules = rules::rules(cx, table, declared);
    let tenants = rules::overrides(cx, table, declared);
    let templates = rules::templates(cx, table);
    let (has_servicenow, has_xdr, has_webhook) = (
        table.contains_key("servicenow"),
        table.contains_key("xdr"),
        table.contains_key("webhook"),
    );
    if !has_servicenow && !has_xdr {
        cx.error(
            &s.span,
            "[incidents] needs [incidents.servicenow] or [incidents.xdr] (or both): \
             incidents must go somewhere",
        );
    }
    if has_webhook && !has_servicenow {
        cx.error(
            &s.key("webhook"),
            "[incidents.webhook] receives ServiceNow close notices; it needs [incidents.servicenow]",
        );
    }
    Some(Some(IncidentsConfig {
        window: window?,
        note_interval: note_interval?,
        max_event_age: max_event_age?,
        reconcile_interval: reconcile_interval?,
        batch_size: batch_size?,
        concurrency: concurrency?,
        prefix: prefix?,
        console_url: console_url?,
        servicenow: present(servicenow, has_servicenow)?,
        xdr: present(xdr, has_xdr)?,
        webhook: present(webhook, has_webhook)?,
        rules: rules?,
        tenants: tenants?,
        templates: templates?,
    }))
}

/// A sub-table's result: `Some(None)` when absent, `None` when present but invalid.
fn present<T>(read: Option<Option<T>>, given: bool) -> Option<Option<T>> {
    match read? {
        Some(t) => Some(Some(t)),
        None if given => None,
        None => Some(None),
    }
}
