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

use serde::{Deserialize, Deserializer};
use toml::de::{DeTable, DeValue};
use url::Url;

use crate::config::de;
use crate::config::reader::{fields, Ctx};
pub use defaults::SAMPLE_HIGH_PRIORITY_TYPES;
pub use rules::{RuleConfig, Templates, TenantOverride};
pub use servicenow::{ServiceNowAuth, ServiceNowConfig};
pub use webhook::WebhookConfig;
pub use xdr::{XdrConfig, XdrEndpoint};

/// The engine's consumer name (its row in `positions`); no sink may have it.
pub const CONSUMER: &str = "incidents";

/// `[incidents]`. The sub-tables are read on their own (named here so they are known keys).
#[derive(Debug, Clone, Deserialize)]
pub struct IncidentsConfig {
    /// Events with the same key within this time of the incident's last event join it.
    #[serde(default = "window", deserialize_with = "de::duration")]
    pub window: Duration,
    /// At most one work note per incident per interval.
    #[serde(default = "note_interval", deserialize_with = "de::duration")]
    pub note_interval: Duration,
    /// Events older than this when processed open no incident (0 = no limit): a first run
    /// with a long lookback does not flood the service desk with old tickets.
    #[serde(default = "max_event_age", deserialize_with = "de::duration0")]
    pub max_event_age: Duration,
    /// How often ServiceNow is polled for our tickets that were resolved or closed.
    #[serde(default = "reconcile_interval", deserialize_with = "de::duration")]
    pub reconcile_interval: Duration,
    #[serde(
        default = "batch_size",
        deserialize_with = "de::int::<1, 10_000, usize, _>"
    )]
    pub batch_size: usize,
    /// Outbox operations in flight at once.
    #[serde(
        default = "concurrency",
        deserialize_with = "de::int::<1, 256, usize, _>"
    )]
    pub concurrency: usize,
    /// Prefix of correlation ids and external ids (`<prefix>:<tenant>:amp-event:<id>`).
    #[serde(default = "prefix", deserialize_with = "prefix_of")]
    pub prefix: String,
    /// Secure Endpoint console for links; default per tenant region (console.amp.cisco.com).
    #[serde(default, deserialize_with = "console_url")]
    pub console_url: Option<Url>,
    #[serde(default, deserialize_with = "de::later")]
    pub servicenow: Option<ServiceNowConfig>,
    #[serde(default, deserialize_with = "de::later")]
    pub xdr: Option<XdrConfig>,
    #[serde(default, deserialize_with = "de::later")]
    pub webhook: Option<WebhookConfig>,
    /// In file order; the first rule an event matches decides.
    #[serde(default, deserialize_with = "de::later")]
    pub rules: Vec<RuleConfig>,
    #[serde(default, deserialize_with = "de::later")]
    pub tenants: BTreeMap<String, TenantOverride>,
    #[serde(default, deserialize_with = "de::later")]
    pub templates: Templates,
}

de::defaults! {
    window: Duration = defaults::WINDOW;
    note_interval: Duration = defaults::NOTE_INTERVAL;
    max_event_age: Duration = defaults::MAX_EVENT_AGE;
    reconcile_interval: Duration = defaults::RECONCILE_INTERVAL;
    batch_size: usize = defaults::BATCH_SIZE;
    concurrency: usize = defaults::CONCURRENCY;
    prefix: String = defaults::PREFIX.to_string();
}
fn prefix_of<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let p = de::text(d)?;
    match p
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        true => Ok(p),
        false => Err(serde::de::Error::custom(
            "must be letters, digits, `-` and `_` (it starts every correlation id)",
        )),
    }
}
fn console_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    let no_credentials = "a URL without them (links to the console end up in tickets)";
    de::http_url(d, "https://console.amp.cisco.com", no_credentials).map(Some)
}

/// `Some(None)` when there is no `[incidents]`; `None` when it is invalid (reported).
pub(crate) fn incidents(
    cx: &mut Ctx<'_>,
    root: &DeTable<'_>,
    declared: &BTreeSet<String>,
) -> Option<Option<IncidentsConfig>> {
    let keys = fields::<IncidentsConfig>();
    let Some((s, value)) = cx.sub_table(root, "incidents", "the top level", "[incidents]", keys)?
    else {
        return Some(None);
    };
    let DeValue::Table(table) = value.get_ref() else {
        return None;
    };
    let (c, bad) = cx.de_partial::<IncidentsConfig>(&s, value, &[]);
    let (key, what) = ("servicenow", "[incidents.servicenow]");
    let servicenow = cx
        .sub_table(table, key, "[incidents]", what, &servicenow::keys())
        .map(|t| t.and_then(|(s, v)| servicenow::servicenow(cx, &s, v)));
    let xdr = cx
        .sub_table(table, "xdr", "[incidents]", "[incidents.xdr]", &xdr::keys())
        .map(|t| t.and_then(|(s, v)| xdr::xdr(cx, &s, v)));
    let keys = fields::<WebhookConfig>();
    let webhook = cx
        .sub_table(table, "webhook", "[incidents]", "[incidents.webhook]", keys)
        .map(|t| t.and_then(|(s, v)| webhook::webhook(cx, &s, v)));
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
    let c = c.filter(|_| bad.is_empty());
    Some(Some(IncidentsConfig {
        servicenow: present(servicenow, has_servicenow)?,
        xdr: present(xdr, has_xdr)?,
        webhook: present(webhook, has_webhook)?,
        rules: rules?,
        tenants: tenants?,
        templates: templates?,
        ..c?
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
