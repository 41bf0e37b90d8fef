//! `[incidents.rules.<name>]`, `[incidents.tenants.<tenant>]` and `[incidents.templates]`:
//! which events open incidents, per-customer overrides, and the ticket texts.

use std::collections::{BTreeMap, BTreeSet};

use secure_endpoint::Severity;
use serde::Deserialize;
use toml::de::{DeTable, DeValue};

use super::defaults::{self, SAMPLE_HIGH_PRIORITY_TYPES};
use crate::config::reader::{closest, Ctx, Sec};
use crate::config::sources::poll::{event_type_refs, EventTypeRef};
use crate::config::values::{Bool, List, Str};

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

#[derive(Deserialize)]
struct RuleRaw {
    event_types: List<toml::Value>,
    min_severity: Str,
    groups: List<String>,
    tenants: List<String>,
    isolate: Bool,
    triage_group: Str,
}

#[derive(Deserialize)]
struct OverrideRaw {
    enabled: Bool,
    min_severity: Str,
    isolate: Bool,
    triage_group: Str,
    assignment_group: Str,
    company: Str,
    caller_id: Str,
}

#[derive(Deserialize)]
struct TemplatesRaw {
    short_description: Str,
    description: Str,
    xdr_title: Str,
    xdr_description: Str,
    note_line: Str,
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
        let (raw, s, _) = cx.section::<RuleRaw>(what, Some(key_span(table, name)), t, value, &[]);
        match raw.and_then(|raw| rule(cx, name, &s, raw, declared)) {
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
    raw: RuleRaw,
    declared: &BTreeSet<String>,
) -> Option<RuleConfig> {
    let event_types = event_type_refs(cx, s, "event_types", raw.event_types);
    let min_severity = cx.severity(s, "min_severity", raw.min_severity);
    let groups = cx.groups(s, "groups", raw.groups);
    let empty = "so the rule would match no event; remove the key for every tenant";
    let tenants = cx.tenant_refs(s, "tenants", raw.tenants, declared, empty);
    let isolate = cx.bool_or(s, "isolate", raw.isolate, false);
    let triage_group = cx.opt_string(s, "triage_group", raw.triage_group);
    let mut event_types = event_types?;
    if event_types.is_empty() {
        event_types = default_rule().event_types;
    }
    Some(RuleConfig {
        name: name.to_string(),
        event_types,
        min_severity: min_severity?,
        groups: groups?,
        tenants: tenants?,
        isolate: isolate?,
        triage_group: triage_group?,
    })
}

/// `[incidents.tenants.<tenant>]`, each naming a declared tenant.
pub(crate) fn overrides(
    cx: &mut Ctx<'_>,
    incidents: &DeTable<'_>,
    declared: &BTreeSet<String>,
) -> Option<BTreeMap<String, TenantOverride>> {
    let Some(value) = incidents.get("tenants") else {
        return Some(BTreeMap::new());
    };
    let table = cx.as_table(value, "tenants", "[incidents]")?;
    let known: Vec<&str> = declared.iter().map(String::as_str).collect();
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (name, value) in table.iter() {
        let (span, name) = (name.span(), name.get_ref());
        if !declared.contains(name.as_ref()) {
            let mut m = format!("[incidents.tenants.{name}] names an unknown tenant");
            if let Some(c) = closest(name, &known) {
                m.push_str(&format!(" (did you mean `{c}`?)"));
            }
            cx.error_at(&span, m);
            ok = false;
            continue;
        }
        let DeValue::Table(t) = value.get_ref() else {
            let message = format!("`{name}` in [incidents.tenants] must be a table");
            cx.error_at(&value.span(), message);
            ok = false;
            continue;
        };
        let what = format!("[incidents.tenants.{name}]");
        let (raw, s, _) = cx.section::<OverrideRaw>(what, Some(span), t, value, &[]);
        match raw.and_then(|raw| tenant_override(cx, &s, raw)) {
            Some(o) => {
                out.insert(name.to_string(), o);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn tenant_override(cx: &mut Ctx<'_>, s: &Sec, raw: OverrideRaw) -> Option<TenantOverride> {
    let enabled = cx.bool_or(s, "enabled", raw.enabled, true);
    let min_severity = cx.severity(s, "min_severity", raw.min_severity);
    let isolate = cx
        .take(s, "isolate", raw.isolate, "a boolean (true or false)")
        .map(|b| b.map(|(b, _)| b));
    let triage_group = cx.opt_string(s, "triage_group", raw.triage_group);
    let assignment_group = cx.opt_string(s, "assignment_group", raw.assignment_group);
    let company = cx.opt_string(s, "company", raw.company);
    let caller_id = cx.opt_string(s, "caller_id", raw.caller_id);
    Some(TenantOverride {
        enabled: enabled?,
        min_severity: min_severity?,
        isolate: isolate?,
        triage_group: triage_group?,
        assignment_group: assignment_group?,
        company: company?,
        caller_id: caller_id?,
    })
}

/// The ticket texts, each compiled now so a broken template is a config error, not a
/// failure at 3 a.m.
pub(crate) fn templates(cx: &mut Ctx<'_>, incidents: &DeTable<'_>) -> Option<Templates> {
    let mut t = Templates::default();
    let Some((raw, s)) = cx.sub::<TemplatesRaw>(
        incidents,
        "templates",
        "[incidents]",
        "[incidents.templates]",
    )?
    else {
        return Some(t);
    };
    let mut ok = true;
    for (key, f, slot) in [
        (
            "short_description",
            raw.short_description,
            &mut t.short_description,
        ),
        ("description", raw.description, &mut t.description),
        ("xdr_title", raw.xdr_title, &mut t.xdr_title),
        (
            "xdr_description",
            raw.xdr_description,
            &mut t.xdr_description,
        ),
        ("note_line", raw.note_line, &mut t.note_line),
    ] {
        let Some(read) = cx.non_empty(&s, key, f) else {
            ok = false;
            continue;
        };
        let Some((text, span)) = read else { continue };
        let mut env = minijinja::Environment::new();
        if let Err(e) = env.add_template_owned(key.to_string(), text.clone()) {
            cx.error_at(
                &span,
                format!("template `{key}` in [incidents.templates] does not compile: {e}"),
            );
            ok = false;
            continue;
        }
        *slot = text;
    }
    ok.then_some(t)
}
