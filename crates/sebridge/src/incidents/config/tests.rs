//! `[incidents]` as a whole: the example, defaults, and every problem with its place.
use super::*;
use crate::config::sources::EventTypeRef;
use crate::config::Config;
use secrecy::ExposeSecret;
use secure_endpoint::Severity;
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
    Config::from_str_with_env(&text, Path::new("/x/sebridge.toml"), &env)
        .and_then(|c| c.check_tenants(&[], false).map(|()| c))
        .map_err(|e| {
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
        XdrEndpoint::Region(::xdr::Region::Us)
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
isolate = "yes"

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
        "`isolate` in rule `x` must be a boolean",
        "template `description` in [incidents.templates] does not compile",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
}

#[test]
fn tenants_named_by_rules_and_overrides_are_checked_against_the_registry() {
    let extra = r#"
[incidents.xdr]
region = "us"
client_id = "c"
client_password = "p"

[incidents.rules.x]
tenants = ["acmee"]

[incidents.tenants.nobody]
isolate = true
"#;
    let all = load(extra).unwrap_err().join("\n");
    for needle in [
        "rule `x` names unknown tenant `acmee` (did you mean `acme`?); known tenants: acme (this file)",
        "[incidents.tenants.nobody] names unknown tenant `nobody`",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
    let text = format!("{BASE}{extra}");
    let c = Config::from_str_with_env(&text, Path::new("/x/sebridge.toml"), &env).unwrap();
    assert!(c
        .check_tenants(&["acmee".into(), "nobody".into()], true)
        .is_ok());
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
