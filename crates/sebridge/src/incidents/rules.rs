//! Which events become incidents, and what response each rule asks for.

use crate::config::{EventTypeRef, IncidentsConfig, RuleConfig, TenantOverride};
use secure_endpoint::{Event, Severity};

/// What the matching rule (with the tenant's overrides) decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub rule: String,
    pub isolate: bool,
    pub triage_group: Option<String>,
}

fn type_matches(refs: &[EventTypeRef], e: &Event) -> bool {
    refs.iter().any(|r| match r {
        EventTypeRef::Id(id) => *id == e.event_type_id,
        // Names change over time (reference §3); ids are the stable key, names a convenience.
        EventTypeRef::Name(n) => e
            .event_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(n)),
    })
}

/// The rules that apply to `tenant`, in file order, with the tenant's overrides; `None`
/// when incidents are off for the tenant.
fn tenant_rules<'a>(
    cfg: &'a IncidentsConfig,
    tenant: &'a str,
) -> Option<(
    Option<&'a TenantOverride>,
    impl Iterator<Item = &'a RuleConfig>,
)> {
    let o = cfg.tenants.get(tenant);
    if o.is_some_and(|o| !o.enabled) {
        return None;
    }
    let rules = cfg.rules.iter().filter(move |r| {
        r.tenants
            .as_ref()
            .is_none_or(|t| t.iter().any(|x| x == tenant))
    });
    Some((o, rules))
}

/// What `rule` asks for on a tenant with override `o`.
fn decision(rule: &RuleConfig, o: Option<&TenantOverride>) -> Decision {
    Decision {
        rule: rule.name.clone(),
        isolate: o.and_then(|o| o.isolate).unwrap_or(rule.isolate),
        triage_group: o
            .and_then(|o| o.triage_group.clone())
            .or_else(|| rule.triage_group.clone()),
    }
}

/// The first rule (in file order) the event matches, with the tenant's overrides applied;
/// `None` when no rule matches or incidents are off for the tenant.
pub fn decide(cfg: &IncidentsConfig, tenant: &str, e: &Event) -> Option<Decision> {
    let (o, rules) = tenant_rules(cfg, tenant)?;
    for rule in rules {
        if !type_matches(&rule.event_types, e) {
            continue;
        }
        if !rule.groups.is_empty()
            && !e
                .group_guids
                .iter()
                .any(|g| rule.groups.iter().any(|r| r.eq_ignore_ascii_case(g)))
        {
            continue;
        }
        let min = o.and_then(|o| o.min_severity).or(rule.min_severity);
        // An event without a severity is judged by its type alone.
        if let (Some(min), Some(sev)) = (min, e.severity) {
            if sev < min {
                continue;
            }
        }
        return Some(decision(rule, o));
    }
    None
}

/// The rules that ask for containment (isolation or a triage group, after the tenant's
/// overrides) on `tenant`, in file order: those whose incidents will need a key with
/// Read & Write scope. Empty when incidents are off for the tenant.
pub fn containment_rules(cfg: &IncidentsConfig, tenant: &str) -> Vec<String> {
    let Some((o, rules)) = tenant_rules(cfg, tenant) else {
        return Vec::new();
    };
    rules
        .map(|r| decision(r, o))
        .filter(|d| d.isolate || d.triage_group.is_some())
        .map(|d| d.rule)
        .collect()
}

/// Events with the same key belong to one incident (within the window): the tenant, the
/// computer, and the threat (file hash, else detection name, else event type).
pub fn correlation_key(tenant: &str, e: &Event) -> String {
    let host = e
        .connector_guid
        .as_deref()
        .or(e.hostname.as_deref())
        .unwrap_or("-");
    let threat = match (&e.sha256, &e.detection) {
        (Some(sha), _) => format!("sha256:{sha}"),
        (None, Some(d)) => format!("detection:{d}"),
        (None, None) => format!("type:{}", e.event_type_id),
    };
    format!("{tenant}|{host}|{threat}")
}

/// The higher of two severities by name (unknown names rank lowest).
pub fn max_severity(a: &str, b: Option<Severity>) -> String {
    let current = Severity::parse(a);
    match (current, b) {
        (Some(c), Some(n)) if n > c => n.as_str().to_string(),
        (None, Some(n)) => n.as_str().to_string(),
        _ => a.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{RuleConfig, TenantOverride};

    fn cfg(rules: Vec<RuleConfig>) -> IncidentsConfig {
        let text = r#"
[tenants.acme]
region = "us"
client_id = "a"
api_key = "b"
[sources.poll]
type = "poll"
[sinks.out]
type = "stdout"
[incidents.xdr]
region = "us"
client_id = "c"
client_password = "d"
"#;
        let mut c = crate::config::Config::from_str_with_env(
            text,
            std::path::Path::new("/x/s.toml"),
            &|_| None,
        )
        .unwrap()
        .incidents
        .unwrap();
        if !rules.is_empty() {
            c.rules = rules;
        }
        c
    }

    fn ev(type_id: u64, sev: &str, sha: Option<&str>) -> Event {
        let file = sha
            .map(|s| format!(r#","file":{{"identity":{{"sha256":"{s}"}}}}"#))
            .unwrap_or_default();
        Event::from_json(&format!(
            r#"{{"id":1,"event_type_id":{type_id},"event_type":"Threat Detected","timestamp":1,"severity":"{sev}","connector_guid":"c1","group_guids":["g1"],"detection":"W32.X"{file}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn default_rule_is_the_samples_list() {
        let c = cfg(vec![]);
        assert_eq!(c.rules.len(), 1);
        assert!(decide(&c, "acme", &ev(1090519054, "Low", None)).is_some());
        assert!(
            decide(&c, "acme", &ev(553648130, "High", None)).is_none(),
            "policy update"
        );
    }

    #[test]
    fn severity_groups_order_and_overrides() {
        let rule = |name: &str, min: Option<Severity>, isolate: bool| RuleConfig {
            name: name.into(),
            event_types: vec![EventTypeRef::Name("threat detected".into())],
            min_severity: min,
            groups: vec![],
            tenants: None,
            isolate,
            triage_group: None,
        };
        let mut c = cfg(vec![
            rule("critical", Some(Severity::Critical), true),
            rule("rest", Some(Severity::Medium), false),
        ]);
        let d = decide(&c, "acme", &ev(1, "Critical", None)).unwrap();
        assert_eq!((d.rule.as_str(), d.isolate), ("critical", true));
        let d = decide(&c, "acme", &ev(1, "High", None)).unwrap();
        assert_eq!((d.rule.as_str(), d.isolate), ("rest", false));
        assert!(decide(&c, "acme", &ev(1, "Low", None)).is_none());
        c.rules[1].groups = vec!["other".into()];
        assert!(decide(&c, "acme", &ev(1, "High", None)).is_none());
        c.tenants.insert(
            "acme".into(),
            TenantOverride {
                enabled: true,
                min_severity: Some(Severity::Low),
                isolate: Some(false),
                triage_group: Some("Triage".into()),
                ..Default::default()
            },
        );
        let d = decide(&c, "acme", &ev(1, "Low", None)).unwrap();
        assert_eq!(d.rule, "critical");
        assert!(!d.isolate);
        assert_eq!(d.triage_group.as_deref(), Some("Triage"));
        c.tenants.get_mut("acme").unwrap().enabled = false;
        assert!(decide(&c, "acme", &ev(1, "Critical", None)).is_none());
    }

    #[test]
    fn rules_asking_for_containment_per_tenant() {
        let rule =
            |name: &str, tenants: Option<Vec<&str>>, isolate, triage: Option<&str>| RuleConfig {
                name: name.into(),
                event_types: vec![],
                min_severity: None,
                groups: vec![],
                tenants: tenants.map(|t| t.into_iter().map(String::from).collect()),
                isolate,
                triage_group: triage.map(String::from),
            };
        let mut c = cfg(vec![
            rule("isolate-acme", Some(vec!["acme"]), true, None),
            rule("triage-all", None, false, Some("Triage")),
            rule("tickets-only", None, false, None),
        ]);
        assert_eq!(
            containment_rules(&c, "acme"),
            vec!["isolate-acme", "triage-all"]
        );
        assert_eq!(containment_rules(&c, "other"), vec!["triage-all"]);
        // Overrides: no isolation, no triage group for acme... but a triage group for
        // "other" turns every rule into a containment rule.
        c.tenants.insert(
            "acme".into(),
            TenantOverride {
                enabled: true,
                isolate: Some(false),
                ..Default::default()
            },
        );
        assert_eq!(containment_rules(&c, "acme"), vec!["triage-all"]);
        c.tenants.insert(
            "other".into(),
            TenantOverride {
                enabled: true,
                triage_group: Some("Quarantine".into()),
                ..Default::default()
            },
        );
        assert_eq!(
            containment_rules(&c, "other"),
            vec!["triage-all", "tickets-only"]
        );
        c.tenants.get_mut("other").unwrap().enabled = false;
        assert!(containment_rules(&c, "other").is_empty());
    }

    #[test]
    fn keys_and_severity() {
        assert_eq!(
            correlation_key("acme", &ev(1, "Low", Some("abc"))),
            "acme|c1|sha256:abc"
        );
        assert_eq!(
            correlation_key("acme", &ev(1, "Low", None)),
            "acme|c1|detection:W32.X"
        );
        assert_eq!(max_severity("Medium", Some(Severity::High)), "High");
        assert_eq!(max_severity("High", Some(Severity::Low)), "High");
        assert_eq!(max_severity("High", None), "High");
    }
}
