//! `[incidents]`: rules, correlation, ServiceNow, Cisco XDR, response actions and the close
//! webhook. Read with the same [`Reader`] as every other section, so each problem is
//! reported with file:line:col and unknown keys are caught.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use secrecy::SecretString;
use secure_endpoint::Severity;
use url::Url;

use super::parse::{event_types as read_event_types, is_guid, present_or};
use super::reader::{closest, key_span, Reader, Section};
use super::EventTypeRef;

/// The public SecureX MSSP sample's "high priority" event types ("all events which require
/// human investigation"): the default rule.
pub const SAMPLE_HIGH_PRIORITY_TYPES: [u64; 36] = [
    1090519054, 2164260880, 2164260893, 1090524040, 1090524041, 1090519084, 1107296257, 1107296258,
    1107296261, 1107296262, 1107296263, 1107296264, 1107296266, 1107296267, 1107296268, 1107296269,
    1107296270, 1107296271, 1107296272, 1107296273, 1107296274, 1107296275, 1107296276, 1091567670,
    1107296277, 1107296278, 1107296280, 1107296281, 1107296282, 1107296284, 1107296283, 2164260931,
    1090519081, 1090519105, 1090519102, 553648215,
];

/// Defaults, as documented in `config/example.toml`.
pub mod defaults {
    use std::time::Duration;
    pub const WINDOW: Duration = Duration::from_secs(3600);
    pub const NOTE_INTERVAL: Duration = Duration::from_secs(60);
    pub const MAX_EVENT_AGE: Duration = Duration::from_secs(24 * 3600);
    pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(60);
    pub const BATCH_SIZE: usize = 500;
    pub const CONCURRENCY: usize = 16;
    pub const PREFIX: &str = "sebridge";
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
    pub const TABLE: &str = "incident";
    pub const MAX_SKEW: Duration = Duration::from_secs(300);
    pub const RULE_NAME: &str = "high-priority";
}

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

/// `[incidents.servicenow]`.
#[derive(Debug, Clone)]
pub struct ServiceNowConfig {
    pub instance_url: Url,
    /// `incident` (default) or `sn_si_incident` (Security Incident Response).
    pub table: String,
    pub auth: ServiceNowAuth,
    pub caller_id: Option<String>,
    pub assignment_group: Option<String>,
    pub category: Option<String>,
    pub request_timeout: Duration,
    /// `state` values meaning the analyst is done; the first is what `sebridge incidents
    /// close` sets. Default: `6, 7, 8` (Resolved, Closed, Canceled) for `incident`, `3, 7`
    /// (Closed, Cancelled) for `sn_si_incident`.
    pub closed_states: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum ServiceNowAuth {
    Basic {
        username: String,
        password: SecretString,
    },
    OAuth {
        client_id: String,
        client_secret: SecretString,
        username: String,
        password: SecretString,
    },
}

/// `[incidents.xdr]`.
#[derive(Debug, Clone)]
pub struct XdrConfig {
    pub endpoint: XdrEndpoint,
    pub client_id: String,
    pub client_password: SecretString,
    pub request_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XdrEndpoint {
    Region(xdr::Region),
    /// One base for both the token endpoint and CTIA (a proxy, the simulator).
    BaseUrl(Url),
}

/// `[incidents.webhook]`: how `POST /hooks/servicenow` is authenticated.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// HMAC-SHA256 key of `X-Sebridge-Signature`.
    pub secret: Option<SecretString>,
    /// `Authorization: Bearer` token.
    pub bearer_token: Option<SecretString>,
    /// Largest accepted age of a signed notice's timestamp.
    pub max_skew: Duration,
}

/// `[incidents.rules.<name>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleConfig {
    pub name: String,
    /// Ids or names; empty = the sample's high-priority list.
    pub event_types: Vec<EventTypeRef>,
    /// Events with a lower severity do not match; events without one are judged by type.
    pub min_severity: Option<Severity>,
    /// Group GUIDs the computer must be in (any); empty = any group.
    pub groups: Vec<String>,
    /// Tenants the rule applies to; `None` = all.
    pub tenants: Option<Vec<String>>,
    pub isolate: bool,
    /// Group GUID or name to move the computer to.
    pub triage_group: Option<String>,
}

/// `[incidents.tenants.<tenant>]`: overrides for one customer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantOverride {
    /// false: no incidents for this tenant.
    pub enabled: bool,
    pub min_severity: Option<Severity>,
    pub isolate: Option<bool>,
    pub triage_group: Option<String>,
    /// ServiceNow routing for this customer.
    pub assignment_group: Option<String>,
    pub company: Option<String>,
    pub caller_id: Option<String>,
}

/// Ticket texts (minijinja). See `config/example.toml` for the variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Templates {
    pub short_description: String,
    pub description: String,
    pub xdr_title: String,
    pub xdr_description: String,
    pub note_line: String,
}

impl Default for Templates {
    fn default() -> Self {
        Templates {
            short_description: "[{{ tenant }}] {{ event_type }} on {{ hostname }}{% if detection %}: {{ detection }}{% endif %}".into(),
            description: "Secure Endpoint detected {{ event_type }} ({{ event_type_id }}) on {{ hostname }} for customer {{ tenant }}.\n\
Severity: {{ severity }}\n\
Time: {{ date }}\n\
{% if detection %}Detection: {{ detection }}\n{% endif %}\
{% if file_name %}File: {{ file_name }}{% if file_path %} ({{ file_path }}){% endif %}\n{% endif %}\
{% if sha256 %}SHA-256: {{ sha256 }}\n{% endif %}\
{% if user %}User: {{ user }}\n{% endif %}\
{% if ips %}Addresses: {{ ips }}\n{% endif %}\
Computer in the Secure Endpoint console: {{ computer_url }}\n\
{% if file_url %}File trajectory: {{ file_url }}\n{% endif %}\
Investigate in Cisco XDR: {{ investigate_url }}\n\
Rule: {{ rule }}; correlation id: {{ correlation_id }}\n\
Later events on this host with the same threat are added as work notes.".into(),
            xdr_title: "[{{ tenant }}] {{ event_type }} on {{ hostname }}{% if detection %}: {{ detection }}{% endif %}".into(),
            xdr_description: "**Customer:** {{ tenant }}\n\n**Event type:** {{ event_type }} ({{ event_type_id }})\n\n**Severity:** {{ severity }}\n\n**Host:** {{ hostname }}{% if ips %} ({{ ips }}){% endif %}\n\n{% if detection %}**Detection:** {{ detection }}\n\n{% endif %}{% if file_name %}**File:** {{ file_name }}{% if sha256 %} (sha256 {{ sha256 }}){% endif %}\n\n{% endif %}**Time:** {{ date }}\n\n**Device trajectory:** {{ computer_url }}\n\n{% if file_url %}**File trajectory:** {{ file_url }}\n\n{% endif %}**Investigate:** {{ investigate_url }}".into(),
            note_line: "{{ date }} {{ event_type }}{% if detection %}: {{ detection }}{% endif %}{% if file_name %} [{{ file_name }}]{% endif %} ({{ severity }})".into(),
        }
    }
}

const INCIDENTS_KEYS: &[&str] = &[
    "window",
    "note_interval",
    "max_event_age",
    "reconcile_interval",
    "batch_size",
    "concurrency",
    "prefix",
    "console_url",
    "servicenow",
    "xdr",
    "webhook",
    "rules",
    "tenants",
    "templates",
];
const SNOW_KEYS: &[&str] = &[
    "instance_url",
    "table",
    "username",
    "password",
    "client_id",
    "client_secret",
    "caller_id",
    "assignment_group",
    "category",
    "request_timeout",
    "closed_states",
];
const XDR_KEYS: &[&str] = &[
    "region",
    "base_url",
    "client_id",
    "client_password",
    "request_timeout",
];
const WEBHOOK_KEYS: &[&str] = &["secret", "bearer_token", "max_skew"];
const RULE_KEYS: &[&str] = &[
    "event_types",
    "min_severity",
    "groups",
    "tenants",
    "isolate",
    "triage_group",
];
const OVERRIDE_KEYS: &[&str] = &[
    "enabled",
    "min_severity",
    "isolate",
    "triage_group",
    "assignment_group",
    "company",
    "caller_id",
];
const TEMPLATE_KEYS: &[&str] = &[
    "short_description",
    "description",
    "xdr_title",
    "xdr_description",
    "note_line",
];

pub(super) fn incidents(
    r: &mut Reader<'_>,
    root: Section<'_>,
    declared_tenants: &BTreeSet<String>,
) -> Option<Option<IncidentsConfig>> {
    if root.table.get("incidents").is_none() {
        return Some(None);
    }
    let (table, span) = r.table(root, "incidents")?;
    let s = Section {
        table,
        what: "[incidents]",
        span: &span,
    };
    r.check_keys(s, INCIDENTS_KEYS);
    let window = present_or(
        r.duration(s, "window", false),
        s,
        "window",
        defaults::WINDOW,
    );
    let note_interval = present_or(
        r.duration(s, "note_interval", false),
        s,
        "note_interval",
        defaults::NOTE_INTERVAL,
    );
    let max_event_age = present_or(
        r.duration(s, "max_event_age", true),
        s,
        "max_event_age",
        defaults::MAX_EVENT_AGE,
    );
    let reconcile_interval = present_or(
        r.duration(s, "reconcile_interval", false),
        s,
        "reconcile_interval",
        defaults::RECONCILE_INTERVAL,
    );
    let batch_size = present_or(
        r.integer_in::<usize>(s, "batch_size", 1..=10_000),
        s,
        "batch_size",
        defaults::BATCH_SIZE,
    );
    let concurrency = present_or(
        r.integer_in::<usize>(s, "concurrency", 1..=256),
        s,
        "concurrency",
        defaults::CONCURRENCY,
    );
    let prefix = match r.non_empty_string(s, "prefix") {
        Some(p)
            if p.value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            Some(p.value)
        }
        Some(p) => {
            r.error(
                &p.span,
                "`prefix` in [incidents] must be letters, digits, `-` and `_` (it starts every correlation id)",
            );
            None
        }
        None if table.contains_key("prefix") => None,
        None => Some(defaults::PREFIX.to_string()),
    };
    let console_url = match r.non_empty_string(s, "console_url") {
        Some(u) => match Url::parse(u.value.trim()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Some(Some(url)),
            _ => {
                r.error(
                    &u.span,
                    "`console_url` in [incidents] must be an http(s) URL such as \"https://console.amp.cisco.com\"",
                );
                None
            }
        },
        None if table.contains_key("console_url") => None,
        None => Some(None),
    };
    let servicenow = sub(r, s, "servicenow", "[incidents.servicenow]", servicenow);
    let xdr = sub(r, s, "xdr", "[incidents.xdr]", xdr_config);
    let webhook = sub(r, s, "webhook", "[incidents.webhook]", webhook);
    let rules = rules(r, s, declared_tenants);
    let tenants = overrides(r, s, declared_tenants);
    let templates = templates(r, s);
    if matches!((&servicenow, &xdr), (Some(None), Some(None))) {
        r.error(
            s.span,
            "[incidents] needs [incidents.servicenow] or [incidents.xdr] (or both): \
             incidents must go somewhere",
        );
    }
    if matches!(&webhook, Some(Some(_))) && matches!(&servicenow, Some(None)) {
        r.error(
            &key_span(table, "webhook"),
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
        servicenow: servicenow?,
        xdr: xdr?,
        webhook: webhook?,
        rules: rules?,
        tenants: tenants?,
        templates: templates?,
    }))
}

/// An optional sub-table: `Some(None)` when absent, `None` when invalid (reported).
fn sub<T>(
    r: &mut Reader<'_>,
    s: Section<'_>,
    key: &str,
    what: &str,
    f: impl FnOnce(&mut Reader<'_>, Section<'_>) -> Option<T>,
) -> Option<Option<T>> {
    if s.table.get(key).is_none() {
        return Some(None);
    }
    let (table, span) = r.table(s, key)?;
    let section = Section {
        table,
        what,
        span: &span,
    };
    f(r, section).map(Some)
}

fn http_url(r: &mut Reader<'_>, s: Section<'_>, key: &str, example: &str) -> Option<Url> {
    let Some(v) = r.non_empty_string(s, key) else {
        if !s.table.contains_key(key) {
            r.missing(s, key, &format!("an http(s) URL such as \"{example}\""));
        }
        return None;
    };
    match Url::parse(v.value.trim()) {
        Ok(u)
            if matches!(u.scheme(), "http" | "https")
                && u.host().is_some()
                && u.username().is_empty()
                && u.password().is_none() =>
        {
            Some(u)
        }
        _ => {
            r.error(
                &v.span,
                format!(
                    "`{key}` in {} must be an http(s) URL without credentials, such as \"{example}\"",
                    s.what
                ),
            );
            None
        }
    }
}

fn required_string(r: &mut Reader<'_>, s: Section<'_>, key: &str, hint: &str) -> Option<String> {
    if !s.table.contains_key(key) {
        r.missing(s, key, hint);
        return None;
    }
    r.non_empty_string(s, key)
        .map(|v| v.value.trim().to_string())
}

fn required_secret(
    r: &mut Reader<'_>,
    s: Section<'_>,
    key: &str,
    hint: &str,
) -> Option<SecretString> {
    if !s.table.contains_key(key) {
        r.missing(s, key, hint);
        return None;
    }
    r.secret(s, key).map(|v| v.value)
}

fn optional_string(r: &mut Reader<'_>, s: Section<'_>, key: &str) -> Option<Option<String>> {
    match r.non_empty_string(s, key) {
        Some(v) => Some(Some(v.value.trim().to_string())),
        None if s.table.contains_key(key) => None,
        None => Some(None),
    }
}

fn servicenow(r: &mut Reader<'_>, s: Section<'_>) -> Option<ServiceNowConfig> {
    r.check_keys(s, SNOW_KEYS);
    let instance_url = http_url(r, s, "instance_url", "https://acme.service-now.com");
    let table = match r.non_empty_string(s, "table") {
        Some(t)
            if t.value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            Some(t.value)
        }
        Some(t) => {
            r.error(
                &t.span,
                "`table` in [incidents.servicenow] must be a table name such as \"incident\" or \"sn_si_incident\"",
            );
            None
        }
        None if s.table.contains_key("table") => None,
        None => Some(defaults::TABLE.to_string()),
    };
    let username = required_string(
        r,
        s,
        "username",
        "the integration user (role itil, or sn_si.analyst for sn_si_incident)",
    );
    let password = required_secret(r, s, "password", "its password, e.g. \"${SNOW_PASSWORD}\"");
    let oauth = s.table.contains_key("client_id") || s.table.contains_key("client_secret");
    let auth = if oauth {
        let id = required_string(r, s, "client_id", "the OAuth application's client id");
        let secret = required_secret(
            r,
            s,
            "client_secret",
            "the OAuth application's client secret",
        );
        match (id, secret, username, password) {
            (Some(client_id), Some(client_secret), Some(username), Some(password)) => {
                Some(ServiceNowAuth::OAuth {
                    client_id,
                    client_secret,
                    username,
                    password,
                })
            }
            _ => None,
        }
    } else {
        match (username, password) {
            (Some(username), Some(password)) => Some(ServiceNowAuth::Basic { username, password }),
            _ => None,
        }
    };
    let caller_id = optional_string(r, s, "caller_id");
    let assignment_group = optional_string(r, s, "assignment_group");
    let category = optional_string(r, s, "category");
    let request_timeout = present_or(
        r.duration(s, "request_timeout", false),
        s,
        "request_timeout",
        defaults::REQUEST_TIMEOUT,
    );
    let closed_states = if s.table.contains_key("closed_states") {
        r.array(s, "closed_states").and_then(|a| {
            let mut out = Vec::new();
            let mut ok = true;
            for v in a.value.iter() {
                match v.as_integer() {
                    Some(n) if n >= 0 => out.push(n.to_string()),
                    _ => match r.element_string(s, "closed_states", v) {
                        Some(t) if t.value.trim().chars().all(|c| c.is_ascii_digit()) && !t.value.trim().is_empty() => {
                            out.push(t.value.trim().to_string())
                        }
                        Some(t) => {
                            r.error(&t.span, "`closed_states` in [incidents.servicenow] holds state numbers such as 6 or \"7\"");
                            ok = false;
                        }
                        None => ok = false,
                    },
                }
            }
            if ok && out.is_empty() {
                r.error(&a.span, "`closed_states` in [incidents.servicenow] is empty: no ticket could ever close an incident");
                ok = false;
            }
            ok.then_some(out)
        })
    } else {
        // The default state models (KB0564465; SIR's own model for sn_si_incident).
        match table.as_deref() {
            Some("sn_si_incident") => Some(vec!["3".into(), "7".into()]),
            _ => Some(vec!["6".into(), "7".into(), "8".into()]),
        }
    };
    Some(ServiceNowConfig {
        instance_url: instance_url?,
        table: table?,
        auth: auth?,
        caller_id: caller_id?,
        assignment_group: assignment_group?,
        category: category?,
        request_timeout: request_timeout?,
        closed_states: closed_states?,
    })
}

fn xdr_config(r: &mut Reader<'_>, s: Section<'_>) -> Option<XdrConfig> {
    r.check_keys(s, XDR_KEYS);
    let endpoint = match (
        s.table.contains_key("region"),
        s.table.contains_key("base_url"),
    ) {
        (true, true) | (false, false) => {
            r.error(
                s.span,
                "[incidents.xdr] needs exactly one of `region` (us, eu, apjc) and `base_url`",
            );
            None
        }
        (true, false) => {
            let v = r.string(s, "region")?;
            match v.value.as_str() {
                "us" => Some(XdrEndpoint::Region(xdr::Region::Us)),
                "eu" => Some(XdrEndpoint::Region(xdr::Region::Eu)),
                "apjc" => Some(XdrEndpoint::Region(xdr::Region::Apjc)),
                other => {
                    r.error(
                        &v.span,
                        format!("unknown region `{other}` in [incidents.xdr]; expected one of us, eu, apjc"),
                    );
                    None
                }
            }
        }
        (false, true) => http_url(r, s, "base_url", "https://private.intel.amp.cisco.com")
            .map(XdrEndpoint::BaseUrl),
    };
    let client_id = required_string(r, s, "client_id", "the XDR API client id (client-…)");
    let client_password = required_secret(
        r,
        s,
        "client_password",
        "the XDR API client password, e.g. \"${XDR_CLIENT_PASSWORD}\"",
    );
    let request_timeout = present_or(
        r.duration(s, "request_timeout", false),
        s,
        "request_timeout",
        defaults::REQUEST_TIMEOUT,
    );
    Some(XdrConfig {
        endpoint: endpoint?,
        client_id: client_id?,
        client_password: client_password?,
        request_timeout: request_timeout?,
    })
}

fn webhook(r: &mut Reader<'_>, s: Section<'_>) -> Option<WebhookConfig> {
    r.check_keys(s, WEBHOOK_KEYS);
    let secret = if s.table.contains_key("secret") {
        let v = r.secret(s, "secret");
        if let Some(v) = &v {
            if secrecy::ExposeSecret::expose_secret(&v.value).len() < 16 {
                r.error(
                    &v.span,
                    "`secret` in [incidents.webhook] is too short: use at least 16 characters",
                );
                return None;
            }
        }
        Some(v.map(|v| v.value))
    } else {
        Some(None)
    };
    let bearer = if s.table.contains_key("bearer_token") {
        let v = r.secret(s, "bearer_token");
        if let Some(v) = &v {
            if secrecy::ExposeSecret::expose_secret(&v.value).len() < 16 {
                r.error(
                    &v.span,
                    "`bearer_token` in [incidents.webhook] is too short: use at least 16 characters",
                );
                return None;
            }
        }
        Some(v.map(|v| v.value))
    } else {
        Some(None)
    };
    let max_skew = present_or(
        r.duration(s, "max_skew", false),
        s,
        "max_skew",
        defaults::MAX_SKEW,
    );
    let (secret, bearer) = (secret?, bearer?);
    if !s.table.contains_key("secret") && !s.table.contains_key("bearer_token") {
        r.error(
            s.span,
            "[incidents.webhook] needs `secret` (HMAC-SHA256 signature) or `bearer_token`: \
             an unauthenticated webhook could close any incident",
        );
        return None;
    }
    Some(WebhookConfig {
        secret,
        bearer_token: bearer,
        max_skew: max_skew?,
    })
}

fn severity(r: &mut Reader<'_>, s: Section<'_>, key: &str) -> Option<Option<Severity>> {
    let Some(v) = r.string(s, key) else {
        return (!s.table.contains_key(key)).then_some(None);
    };
    match Severity::parse(&v.value) {
        Some(sev) => Some(Some(sev)),
        None => {
            r.error(
                &v.span,
                format!(
                    "`{key}` in {} must be one of low, medium, high, critical; found \"{}\"",
                    s.what, v.value
                ),
            );
            None
        }
    }
}

fn tenant_list(
    r: &mut Reader<'_>,
    s: Section<'_>,
    declared: &BTreeSet<String>,
) -> Option<Option<Vec<String>>> {
    if !s.table.contains_key("tenants") {
        return Some(None);
    }
    let array = r.array(s, "tenants")?;
    let known: Vec<&str> = declared.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    let mut ok = true;
    for value in array.value.iter() {
        let Some(name) = r.element_string(s, "tenants", value) else {
            ok = false;
            continue;
        };
        if !declared.contains(&name.value) {
            let mut m = format!("{} lists unknown tenant `{}`", s.what, name.value);
            if let Some(c) = closest(&name.value, &known) {
                m.push_str(&format!(" (did you mean `{c}`?)"));
            }
            r.error(&name.span, m);
            ok = false;
        } else {
            out.push(name.value);
        }
    }
    ok.then_some(Some(out))
}

fn rule(
    r: &mut Reader<'_>,
    name: &str,
    s: Section<'_>,
    declared: &BTreeSet<String>,
) -> Option<RuleConfig> {
    r.check_keys(s, RULE_KEYS);
    let event_types = read_event_types(r, s);
    let min_severity = severity(r, s, "min_severity");
    let groups = if s.table.contains_key("groups") {
        r.array(s, "groups").and_then(|a| {
            let mut out = Vec::new();
            let mut ok = true;
            for v in a.value.iter() {
                match r.element_string(s, "groups", v) {
                    Some(g) if is_guid(g.value.trim()) => {
                        out.push(g.value.trim().to_ascii_lowercase())
                    }
                    Some(g) => {
                        r.error(
                            &g.span,
                            format!(
                                "`{}` in `groups` of {} is not a group GUID",
                                g.value, s.what
                            ),
                        );
                        ok = false;
                    }
                    None => ok = false,
                }
            }
            ok.then_some(out)
        })
    } else {
        Some(Vec::new())
    };
    let tenants = tenant_list(r, s, declared);
    let isolate = present_or(r.boolean(s, "isolate"), s, "isolate", false);
    let triage_group = optional_string(r, s, "triage_group");
    Some(RuleConfig {
        name: name.to_string(),
        event_types: event_types?,
        min_severity: min_severity?,
        groups: groups?,
        tenants: tenants?,
        isolate: isolate?,
        triage_group: triage_group?,
    })
}

fn default_rule() -> RuleConfig {
    RuleConfig {
        name: defaults::RULE_NAME.into(),
        event_types: SAMPLE_HIGH_PRIORITY_TYPES
            .iter()
            .map(|id| EventTypeRef::Id(*id))
            .collect(),
        min_severity: None,
        groups: Vec::new(),
        tenants: None,
        isolate: false,
        triage_group: None,
    }
}

fn rules(
    r: &mut Reader<'_>,
    s: Section<'_>,
    declared: &BTreeSet<String>,
) -> Option<Vec<RuleConfig>> {
    if s.table.get("rules").is_none() {
        return Some(vec![default_rule()]);
    }
    let (table, span) = r.table(s, "rules")?;
    if table.is_empty() {
        r.error(
            &span,
            "[incidents.rules] is empty: remove it to use the default rule, or add [incidents.rules.<name>]",
        );
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (name, item) in table.iter() {
        let what = format!("rule `{name}`");
        let Some(t) = item.as_table_like() else {
            r.error(
                &item.span(),
                format!("rule `{name}` must be a table ([incidents.rules.{name}])"),
            );
            ok = false;
            continue;
        };
        let kspan = key_span(table, name);
        let sec = Section {
            table: t,
            what: &what,
            span: &kspan,
        };
        match rule(r, name, sec, declared) {
            Some(mut rule) => {
                if rule.event_types.is_empty() {
                    rule.event_types = default_rule().event_types;
                }
                out.push(rule)
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn overrides(
    r: &mut Reader<'_>,
    s: Section<'_>,
    declared: &BTreeSet<String>,
) -> Option<BTreeMap<String, TenantOverride>> {
    if s.table.get("tenants").is_none() {
        return Some(BTreeMap::new());
    }
    let (table, _) = r.table(s, "tenants")?;
    let known: Vec<&str> = declared.iter().map(String::as_str).collect();
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (name, item) in table.iter() {
        let kspan = key_span(table, name);
        if !declared.contains(name) {
            let mut m = format!("[incidents.tenants.{name}] names an unknown tenant");
            if let Some(c) = closest(name, &known) {
                m.push_str(&format!(" (did you mean `{c}`?)"));
            }
            r.error(&kspan, m);
            ok = false;
            continue;
        }
        let Some(t) = item.as_table_like() else {
            r.error(
                &item.span(),
                format!("`{name}` in [incidents.tenants] must be a table"),
            );
            ok = false;
            continue;
        };
        let what = format!("[incidents.tenants.{name}]");
        let sec = Section {
            table: t,
            what: &what,
            span: &kspan,
        };
        r.check_keys(sec, OVERRIDE_KEYS);
        let enabled = present_or(r.boolean(sec, "enabled"), sec, "enabled", true);
        let min_severity = severity(r, sec, "min_severity");
        let isolate = match r.boolean(sec, "isolate") {
            Some(b) => Some(Some(b)),
            None if t.contains_key("isolate") => None,
            None => Some(None),
        };
        let triage_group = optional_string(r, sec, "triage_group");
        let assignment_group = optional_string(r, sec, "assignment_group");
        let company = optional_string(r, sec, "company");
        let caller_id = optional_string(r, sec, "caller_id");
        match (
            enabled,
            min_severity,
            isolate,
            triage_group,
            assignment_group,
            company,
            caller_id,
        ) {
            (
                Some(enabled),
                Some(min_severity),
                Some(isolate),
                Some(triage_group),
                Some(assignment_group),
                Some(company),
                Some(caller_id),
            ) => {
                out.insert(
                    name.to_string(),
                    TenantOverride {
                        enabled,
                        min_severity,
                        isolate,
                        triage_group,
                        assignment_group,
                        company,
                        caller_id,
                    },
                );
            }
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

fn templates(r: &mut Reader<'_>, s: Section<'_>) -> Option<Templates> {
    let mut t = Templates::default();
    if s.table.get("templates").is_none() {
        return Some(t);
    }
    let (table, span) = r.table(s, "templates")?;
    let sec = Section {
        table,
        what: "[incidents.templates]",
        span: &span,
    };
    r.check_keys(sec, TEMPLATE_KEYS);
    let mut ok = true;
    for key in TEMPLATE_KEYS {
        let Some(v) = r.non_empty_string(sec, key) else {
            ok &= !table.contains_key(key);
            continue;
        };
        // Compile now, so a broken template is a config error, not a failure at 3 a.m.
        let mut env = minijinja::Environment::new();
        if let Err(e) = env.add_template_owned(key.to_string(), v.value.clone()) {
            r.error(
                &v.span,
                format!("template `{key}` in [incidents.templates] does not compile: {e}"),
            );
            ok = false;
            continue;
        }
        match *key {
            "short_description" => t.short_description = v.value,
            "description" => t.description = v.value,
            "xdr_title" => t.xdr_title = v.value,
            "xdr_description" => t.xdr_description = v.value,
            _ => t.note_line = v.value,
        }
    }
    ok.then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use secrecy::ExposeSecret;
    use std::path::Path;

    const BASE: &str = r#"
[tenants.acme]
region = "us"
client_id = "a"
api_key = "b"

[sources.poll]
type = "poll"

[sinks.out]
type = "stdout"
"#;

    fn env(name: &str) -> Option<String> {
        match name {
            // The example's PostgreSQL sink validates its URL's scheme.
            "EVENTS_DATABASE_URL" => Some("postgres://u:p@127.0.0.1/db".into()),
            _ => Some(format!("{name}-value-0123456789")),
        }
    }

    fn load(extra: &str) -> Result<Config, Vec<String>> {
        let text = format!("{BASE}{extra}");
        Config::from_str_with_env(&text, Path::new("/x/sebridge.toml"), &env).map_err(|e| {
            e.iter()
                .map(|e| {
                    format!(
                        "{}:{}: {}",
                        e.line.unwrap_or(0),
                        e.column.unwrap_or(0),
                        e.message
                    )
                })
                .collect()
        })
    }

    #[test]
    fn example_toml_incidents_section() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/example.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let c = Config::from_str_with_env(&text, &path, &env).unwrap();
        let i = c.incidents.expect("[incidents]");
        assert_eq!(i.window, Duration::from_secs(3600));
        assert_eq!(i.note_interval, Duration::from_secs(60));
        assert_eq!(i.rules.len(), 2);
        assert_eq!(i.rules[0].name, "contain", "file order kept");
        assert!(i.rules[0].isolate);
        assert_eq!(i.rules[0].triage_group.as_deref(), Some("Triage"));
        assert_eq!(i.rules[0].min_severity, Some(Severity::High));
        assert_eq!(
            i.rules[0].event_types,
            vec![
                EventTypeRef::Id(1107296284),
                EventTypeRef::Name("Executed malware".into())
            ]
        );
        assert_eq!(
            i.rules[1].event_types.len(),
            SAMPLE_HIGH_PRIORITY_TYPES.len()
        );
        let s = i.servicenow.expect("servicenow");
        assert_eq!(s.table, "incident");
        assert_eq!(s.closed_states, ["6", "7", "8"]);
        assert!(matches!(&s.auth, ServiceNowAuth::Basic { password, .. }
            if password.expose_secret() == "SNOW_PASSWORD-value-0123456789"));
        assert_eq!(
            i.xdr.expect("xdr").endpoint,
            XdrEndpoint::Region(xdr::Region::Us)
        );
        let w = i.webhook.expect("webhook");
        assert!(w.secret.is_some() && w.bearer_token.is_none());
        let g = &i.tenants["globex"];
        assert_eq!(g.isolate, Some(false));
        assert_eq!(g.company.as_deref(), Some("Globex Corporation"));
        assert!(g.enabled);
    }

    #[test]
    fn minimal_section_uses_defaults() {
        let c = load("[incidents.xdr]\nbase_url = \"http://127.0.0.1:9\"\nclient_id = \"c\"\nclient_password = \"p\"\n")
            .unwrap();
        let i = c.incidents.unwrap();
        assert_eq!(i.rules.len(), 1);
        assert_eq!(i.rules[0].name, "high-priority");
        assert!(i.servicenow.is_none() && i.webhook.is_none());
        assert_eq!(i.prefix, "sebridge");
        assert_eq!(i.templates, Templates::default());
    }

    #[test]
    fn every_problem_is_reported_with_its_place() {
        let errors = load(
            r#"
[incidents]
windw = "1h"
note_interval = "soon"

[incidents.servicenow]
instance_url = "acme.service-now.com"
username = "u"

[incidents.webhook]
max_skew = "1m"

[incidents.rules.x]
min_severity = "urgent"
tenants = ["acmee"]
isolate = "yes"

[incidents.tenants.nobody]
isolate = true

[incidents.templates]
description = "{% if %}"
"#,
        )
        .unwrap_err();
        let all = errors.join("\n");
        for needle in [
            "14:1: unknown key `windw` in [incidents]",
            "(did you mean `window`?)",
            "15:17: `note_interval` in [incidents] is not a valid duration",
            "`instance_url` in [incidents.servicenow] must be an http(s) URL",
            "missing `password` in [incidents.servicenow]",
            "[incidents.webhook] needs `secret` (HMAC-SHA256 signature) or `bearer_token`",
            "`min_severity` in rule `x` must be one of low, medium, high, critical",
            "rule `x` lists unknown tenant `acmee` (did you mean `acme`?)",
            "`isolate` in rule `x` must be a boolean",
            "[incidents.tenants.nobody] names an unknown tenant",
            "template `description` in [incidents.templates] does not compile",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
    }

    #[test]
    fn incidents_need_a_destination_and_short_secrets_are_refused() {
        let e = load("[incidents]\nwindow = \"1h\"\n")
            .unwrap_err()
            .join("\n");
        assert!(
            e.contains("needs [incidents.servicenow] or [incidents.xdr]"),
            "{e}"
        );
        let e = load(
            "[incidents.xdr]\nregion = \"us\"\nbase_url = \"http://x\"\nclient_id = \"c\"\nclient_password = \"p\"\n",
        )
        .unwrap_err()
        .join("\n");
        assert!(e.contains("exactly one of `region`"), "{e}");
        let e = load(
            "[incidents.servicenow]\ninstance_url = \"https://a.service-now.com\"\nusername = \"u\"\npassword = \"p\"\n[incidents.webhook]\nsecret = \"short\"\n",
        )
        .unwrap_err()
        .join("\n");
        assert!(e.contains("too short"), "{e}");
        assert!(!e.contains("short\""), "the secret is never echoed: {e}");
    }
}
