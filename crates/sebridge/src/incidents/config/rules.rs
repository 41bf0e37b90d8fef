//! `[incidents.rules.<name>]`, `[incidents.tenants.<tenant>]` and `[incidents.templates]`:
//! which events open incidents, per-customer overrides, and the ticket texts.

use std::collections::{BTreeMap, BTreeSet};

use secure_endpoint::Severity;
use serde::{Deserialize, Deserializer};
use toml::de::{DeTable, DeValue};

use super::defaults::{self, SAMPLE_HIGH_PRIORITY_TYPES};
use crate::config::de;
use crate::config::reader::{fields, Ctx, Sec};
use crate::config::sources::poll::{self, EventTypeRef};

/// `[incidents.rules.<name>]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RuleConfig {
    /// The table's name.
    #[serde(skip)]
    pub name: String,
    /// Ids or names; empty = the sample's high-priority list.
    #[serde(default, deserialize_with = "poll::event_types")]
    pub event_types: Vec<EventTypeRef>,
    /// Events with a lower severity do not match; events without one are judged by type.
    #[serde(default, deserialize_with = "de::severity")]
    pub min_severity: Option<Severity>,
    /// Group GUIDs the computer must be in (any); empty = any group.
    #[serde(default, deserialize_with = "poll::groups")]
    pub groups: Vec<String>,
    /// Tenants the rule applies to; `None` = all.
    #[serde(default, deserialize_with = "poll::tenants")]
    pub tenants: Option<Vec<String>>,
    #[serde(default, deserialize_with = "de::boolean")]
    pub isolate: bool,
    /// Group GUID or name to move the computer to.
    #[serde(default, deserialize_with = "de::opt_text")]
    pub triage_group: Option<String>,
}

/// `[incidents.tenants.<tenant>]`: overrides for one customer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct TenantOverride {
    /// false: no incidents for this tenant.
    #[serde(default = "yes", deserialize_with = "de::boolean")]
    pub enabled: bool,
    #[serde(default, deserialize_with = "de::severity")]
    pub min_severity: Option<Severity>,
    #[serde(default, deserialize_with = "opt_bool")]
    pub isolate: Option<bool>,
    #[serde(default, deserialize_with = "de::opt_text")]
    pub triage_group: Option<String>,
    /// ServiceNow routing for this customer.
    #[serde(default, deserialize_with = "de::opt_text")]
    pub assignment_group: Option<String>,
    #[serde(default, deserialize_with = "de::opt_text")]
    pub company: Option<String>,
    #[serde(default, deserialize_with = "de::opt_text")]
    pub caller_id: Option<String>,
}

/// Ticket texts (minijinja). See `config/example.toml` for the variables.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Templates {
    #[serde(deserialize_with = "template::<0, _>")]
    pub short_description: String,
    #[serde(deserialize_with = "template::<1, _>")]
    pub description: String,
    #[serde(deserialize_with = "template::<2, _>")]
    pub xdr_title: String,
    #[serde(deserialize_with = "template::<3, _>")]
    pub xdr_description: String,
    #[serde(deserialize_with = "template::<4, _>")]
    pub note_line: String,
}

de::defaults! {
    yes: bool = true;
}
fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    de::boolean(d).map(Some)
}

/// A ticket text, compiled now so a broken template is a config error, not a failure at
/// 3 a.m. `N`: its key in [`Templates`].
fn template<'de, const N: usize, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    use serde::de::Error;
    let key = fields::<Templates>().get(N).copied().unwrap_or("template");
    let text = String::deserialize(d)?;
    if text.trim().is_empty() {
        return Err(D::Error::custom("is empty"));
    }
    let mut env = minijinja::Environment::new();
    match env.add_template_owned(key.to_string(), text.clone()) {
        Ok(()) => Ok(text),
        Err(e) => Err(D::Error::custom(format!(
            "template `{key}` in {{what}} does not compile: {e}"
        ))),
    }
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
{% if process %}Process: {{ process }}\n{% endif %}\
{% if command_line %}Command line: {{ command_line }}\n{% endif %}\
{% if remote_ip %}Connection to: {{ remote_ip }}{% if remote_port %}:{{ remote_port }}{% endif %}{% if protocol %} ({{ protocol }}){% endif %}\n{% endif %}\
{% if url %}URL: {{ url }}\n{% endif %}\
{% if ioc %}Indicator: {{ ioc }}\n{% endif %}\
{% if cves %}Vulnerabilities: {{ cves }}\n{% endif %}\
Computer in the Secure Endpoint console: {{ computer_url }}\n\
{% if file_url %}File trajectory: {{ file_url }}\n{% endif %}\
Investigate in Cisco XDR: {{ investigate_url }}\n\
Rule: {{ rule }}; correlation id: {{ correlation_id }}\n\
Later events on this host with the same threat are added as work notes.".into(),
            xdr_title: "[{{ tenant }}] {{ event_type }} on {{ hostname }}{% if detection %}: {{ detection }}{% endif %}".into(),
            xdr_description: "**Customer:** {{ tenant }}\n\n**Event type:** {{ event_type }} ({{ event_type_id }})\n\n**Severity:** {{ severity }}\n\n**Host:** {{ hostname }}{% if ips %} ({{ ips }}){% endif %}\n\n{% if detection %}**Detection:** {{ detection }}\n\n{% endif %}{% if file_name %}**File:** {{ file_name }}{% if sha256 %} (sha256 {{ sha256 }}){% endif %}\n\n{% endif %}{% if command_line %}**Command line:** `{{ command_line }}`\n\n{% endif %}{% if remote_ip %}**Connection to:** {{ remote_ip }}{% if remote_port %}:{{ remote_port }}{% endif %}{% if protocol %} ({{ protocol }}){% endif %}\n\n{% endif %}{% if url %}**URL:** {{ url }}\n\n{% endif %}{% if ioc %}**Indicator:** {{ ioc }}\n\n{% endif %}{% if cves %}**Vulnerabilities:** {{ cves }}\n\n{% endif %}**Time:** {{ date }}\n\n**Device trajectory:** {{ computer_url }}\n\n{% if file_url %}**File trajectory:** {{ file_url }}\n\n{% endif %}**Investigate:** {{ investigate_url }}".into(),
            note_line: "{{ date }} {{ event_type }}{% if detection %}: {{ detection }}{% endif %}{% if file_name %} [{{ file_name }}]{% endif %} ({{ severity }})".into(),
        }
    }
}

pub(crate) fn default_rule() -> RuleConfig {
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

/// The rules in file order; the default rule when there is no `[incidents.rules]`.
pub(crate) fn rules(
    cx: &mut Ctx<'_>,
    incidents: &DeTable<'_>,
    declared: &BTreeSet<String>,
) -> Option<Vec<RuleConfig>> {
    let Some((key, value)) = incidents.get_key_value("rules") else {
        return Some(vec![default_rule()]);
    };
    let table = cx.as_table(value, "rules", "[incidents]")?;
    if table.is_empty() {
        cx.error_at(
            &key.span(),
            "[incidents.rules] is empty: remove it to use the default rule, or add [incidents.rules.<name>]",
        );
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (name, value) in table.iter() {
        let name = name.get_ref();
        let DeValue::Table(t) = value.get_ref() else {
            let message = format!("rule `{name}` must be a table ([incidents.rules.{name}])");
            cx.error_at(&value.span(), message);
            ok = false;
            continue;
        };
        let what = format!("rule `{name}`");
        let s = Sec::new(what, Some(key_span(table, name)), t);
        cx.check_keys(&s, fields::<RuleConfig>());
        match rule(cx, name, &s, value, declared) {
            Some(rule) => out.push(rule),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn key_span(table: &DeTable<'_>, name: &str) -> std::ops::Range<usize> {
    table.get_key_value(name).map_or(0..0, |(k, _)| k.span())
}

fn rule(
    cx: &mut Ctx<'_>,
    name: &str,
    s: &Sec,
    value: &toml::Spanned<DeValue<'_>>,
    declared: &BTreeSet<String>,
) -> Option<RuleConfig> {
    let (r, bad) = cx.de_partial::<RuleConfig>(s, value, &[]);
    let empty = "so the rule would match no event; remove the key for every tenant";
    let ok = bad.iter().any(|b| b == "tenants")
        || cx.declared_tenants(s, value, "tenants", declared, empty);
    let mut r = r.filter(|_| ok && bad.is_empty())?;
    r.name = name.to_string();
    if r.event_types.is_empty() {
        r.event_types = default_rule().event_types;
    }
    Some(r)
}

/// `[incidents.tenants.<tenant>]`, each naming a tenant of the file or of the registry.
pub(crate) fn overrides(
    cx: &mut Ctx<'_>,
    incidents: &DeTable<'_>,
    declared: &BTreeSet<String>,
) -> Option<BTreeMap<String, TenantOverride>> {
    let Some(value) = incidents.get("tenants") else {
        return Some(BTreeMap::new());
    };
    let table = cx.as_table(value, "tenants", "[incidents]")?;
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (name, value) in table.iter() {
        let (span, name) = (name.span(), name.get_ref());
        if !declared.contains(name.as_ref()) {
            // Possibly a tenant of the store's registry: checked once the store is open.
            cx.defer_tenant(name, &span, &format!("[incidents.tenants.{name}]"));
        }
        let DeValue::Table(t) = value.get_ref() else {
            let message = format!("`{name}` in [incidents.tenants] must be a table");
            cx.error_at(&value.span(), message);
            ok = false;
            continue;
        };
        let what = format!("[incidents.tenants.{name}]");
        let s = Sec::new(what, Some(span), t);
        cx.check_keys(&s, fields::<TenantOverride>());
        match cx.de::<TenantOverride>(&s, value, &[]) {
            Some(o) => {
                out.insert(name.to_string(), o);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// The ticket texts; the defaults for those not given.
pub(crate) fn templates(cx: &mut Ctx<'_>, incidents: &DeTable<'_>) -> Option<Templates> {
    let (key, what) = ("templates", "[incidents.templates]");
    let keys = fields::<Templates>();
    match cx.sub_table(incidents, key, "[incidents]", what, keys)? {
        Some((s, value)) => cx.de(&s, value, &[]),
        None => Some(Templates::default()),
    }
}
