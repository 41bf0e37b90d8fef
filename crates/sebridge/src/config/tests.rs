//! One test (or a few) per validation rule. Messages are checked as `line:col: message`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::ExposeSecret;

use super::*;

const FILE: &str = "/nonexistent-sebridge-test/sebridge.toml";

/// A minimal valid config; tests add to it or replace parts of it.
const MIN: &str = r#"
[tenants.acme]
region = "us"
client_id = "id-acme"
api_key = "key-acme"

[sources.poll]
type = "poll"

[sinks.out]
type = "stdout"
"#;

fn test_env(name: &str) -> Option<String> {
    match name {
        "ACME_CLIENT_ID" => Some("acme-client".into()),
        "ACME_API_KEY" => Some("acme-s3cr3t".into()),
        "GLOBEX_API_KEY" => Some("globex-s3cr3t".into()),
        "SNOW_PASSWORD" | "XDR_CLIENT_PASSWORD" | "SNOW_WEBHOOK_SECRET" => {
            Some(format!("{name}-0123456789abcdef"))
        }
        "SPLUNK_HEC_TOKEN" => Some("hec-token".into()),
        "ELASTIC_API_KEY" => Some("es-key".into()),
        "EVENTS_DATABASE_URL" => Some("postgres://u:p@127.0.0.1/db".into()),
        "SEBRIDGE_DATABASE_URL" => Some("postgres://sebridge:pw@db.example.com/sebridge".into()),
        "WEBHOOK_SECRET" => Some("0123456789abcdef0123".into()),
        "SENTINEL_CLIENT_SECRET" => Some("sentinel~secret".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

/// The file read, then its tenant references checked against an empty registry (as
/// every command does once the store is open).
fn load(text: &str) -> Result<Config, ConfigErrors> {
    let c = Config::from_str_with_env(text, Path::new(FILE), &test_env)?;
    c.check_tenants(&[], false)?;
    Ok(c)
}

fn ok(text: &str) -> Config {
    match load(text) {
        Ok(c) => c,
        Err(e) => panic!("expected a valid config, got:\n{e}"),
    }
}

/// The problems as `line:col: message` (or `-: message` when placeless).
fn errors(text: &str) -> Vec<String> {
    match load(text) {
        Ok(_) => panic!("expected problems in:\n{text}"),
        Err(e) => e
            .iter()
            .map(|e| {
                assert_eq!(e.file, Path::new(FILE));
                match (e.line, e.column) {
                    (Some(l), Some(c)) => format!("{l}:{c}: {}", e.message),
                    _ => format!("-: {}", e.message),
                }
            })
            .collect(),
    }
}

fn one_error(text: &str) -> String {
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "expected exactly one problem, got {errs:#?}");
    errs.into_iter().next().unwrap_or_default()
}

fn assert_contains(haystack: &str, needles: &[&str]) {
    for n in needles {
        assert!(haystack.contains(n), "`{n}` not in `{haystack}`");
    }
}

fn with(extra: &str) -> String {
    format!("{MIN}{extra}")
}

fn poll(text: &str) -> PollSourceConfig {
    match ok(text).sources.get("poll") {
        Some(SourceConfig::Poll(p)) => p.clone(),
        other => panic!("no poll source: {other:?}"),
    }
}

// ---- the documented example ---------------------------------------------------------------

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/example.toml")
}

/// The README's example for several replicas is valid and says what it promises.
#[test]
fn cluster_toml_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/cluster.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let c = match Config::from_str_with_env(&text, &path, &test_env) {
        Ok(c) => c,
        Err(e) => panic!("config/cluster.toml is invalid:\n{e}"),
    };
    assert!(matches!(
        &c.store,
        StoreConfig::Postgres { schema: Some(s), .. } if s == "sebridge"
    ));
    assert_eq!(c.cluster.lease, Duration::from_secs(15));
    assert!(
        !c.sinks.values().any(|s| s.kind() == "file"),
        "no local files in a cluster example"
    );
}

#[test]
fn example_toml_loads() {
    let path = example_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let c = match Config::from_str_with_env(&text, &path, &test_env) {
        Ok(c) => c,
        Err(e) => panic!("config/example.toml is invalid:\n{e}"),
    };
    let dir = std::path::absolute(path.parent().unwrap()).unwrap();
    assert_eq!(c.path, path);
    assert!(matches!(&c.store, StoreConfig::Sqlite { path } if *path == dir.join("sebridge.db")));
    assert_eq!(c.secrets.key_file, dir.join("sebridge.key"));
    assert_eq!(c.server.unwrap().listen, "127.0.0.1:8686".parse().unwrap());

    assert_eq!(c.tenants.len(), 2);
    let acme = &c.tenants["acme"];
    assert_eq!(acme.endpoint, Endpoint::Region(Region::Us));
    assert_eq!(acme.client_id, "acme-client");
    assert_eq!(acme.api_key.expose_secret(), "acme-s3cr3t");
    assert!(acme.enabled);
    let globex = &c.tenants["globex"];
    assert_eq!(globex.endpoint, Endpoint::Region(Region::Eu));
    assert_eq!(globex.client_id, "0123456789abcdef0123");

    let SourceConfig::Poll(p) = &c.sources["poll"] else {
        panic!("a poll source")
    };
    assert_eq!(p.interval, Duration::from_secs(60));
    assert_eq!(p.lookback, Duration::from_secs(24 * 3600));
    assert_eq!(p.since, None);
    assert_eq!((p.page_size, p.concurrency), (500, 32));
    assert_eq!(p.request_timeout, Duration::from_secs(30));
    assert!(p.event_types.is_empty() && p.groups.is_empty() && p.tenants.is_none());

    assert_eq!(
        c.sinks["archive"],
        SinkConfig::File(FileSinkConfig {
            path: dir.join("events.jsonl"),
            wrap: false,
            format: Default::default(),
            common: default_common()
        })
    );
    assert_eq!(
        c.sinks["console"],
        SinkConfig::Stdout(StdoutSinkConfig {
            wrap: true,
            common: default_common()
        })
    );
}

#[test]
fn example_toml_documents_every_sink_type_and_the_journal() {
    let path = example_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let c = Config::from_str_with_env(&text, &path, &test_env).unwrap();
    let kinds: Vec<&str> = c.sinks.values().map(SinkConfig::kind).collect();
    for k in [
        "file",
        "stdout",
        "syslog",
        "splunk_hec",
        "elasticsearch",
        "sentinel",
        "postgres",
        "webhook",
    ] {
        assert!(kinds.contains(&k), "{k} missing from the example");
    }
    let SinkConfig::Syslog(q) = &c.sinks["qradar"] else {
        panic!()
    };
    assert_eq!(q.transport, super::SyslogTransport::Tls);
    assert_eq!(q.format, super::MessageFormat::Leef);
    assert_eq!(q.facility, 16);
    assert_eq!(q.leef_delimiter, '^');
    assert_eq!(
        q.common.filter.min_severity,
        Some(secure_endpoint::Severity::Medium)
    );
    let SinkConfig::SplunkHec(h) = &c.sinks["splunk"] else {
        panic!()
    };
    assert_eq!(h.token.expose(), "hec-token");
    assert_eq!(h.sourcetype, "cisco:amp:event");
    assert!(h.gzip && !h.ack);
    assert_eq!(h.common.batch_size, 500);
    assert!(
        !format!("{h:?}").contains("hec-token"),
        "Debug redacts the token"
    );
    let SinkConfig::Elasticsearch(e) = &c.sinks["elastic"] else {
        panic!()
    };
    assert_eq!(e.data_stream, "logs-cisco_secure_endpoint.event-default");
    assert_eq!(e.pipeline.as_deref(), Some("_none"));
    let SinkConfig::Sentinel(m) = &c.sinks["sentinel"] else {
        panic!()
    };
    assert_eq!(m.stream, "Custom-CiscoSecureEndpointEvents");
    assert_eq!(m.client_secret.expose(), "sentinel~secret");
    assert!(
        !format!("{m:?}").contains("sentinel~secret"),
        "Debug redacts the secret"
    );
    let SinkConfig::Postgres(p) = &c.sinks["warehouse"] else {
        panic!()
    };
    assert_eq!(p.table, "sebridge_events");
    assert!(!format!("{p:?}").contains("u:p@"), "Debug redacts the URL");
    let SinkConfig::Webhook(w) = &c.sinks["soar"] else {
        panic!()
    };
    assert_eq!(
        w.common.filter.tenants.as_deref(),
        Some(&["acme".to_string()][..])
    );
    assert_eq!(w.common.filter.event_types, vec![1090519054, 553648143]);
    assert_eq!(c.journal.max_age, Some(Duration::from_secs(7 * 24 * 3600)));
    assert_eq!(c.journal.on_lagging_consumer, super::LaggingPolicy::Keep);
}

#[test]
fn sink_keys_are_validated_with_places() {
    let errs = errors(&with(
        "[sinks.s]\ntype = \"syslog\"\ntransport = \"tls\"\nframing = \"newline\"\nformat = \"xml\"\nfacility = 99\nleef_delimiter = \"=\"\n\
         [sinks.h]\ntype = \"splunk_hec\"\nurl = \"ftp://x\"\n\
         [sinks.e]\ntype = \"elasticsearch\"\nurl = \"http://e:9200\"\napi_key = \"k\"\nusername = \"u\"\npassword = \"p\"\n\
         [sinks.p]\ntype = \"postgres\"\nurl = \"mysql://x\"\ntable = \"Bad;Name\"\n\
         [sinks.w]\ntype = \"webhook\"\nurl = \"https://h\"\nsecret = \"short\"\nmin_severity = \"urgent\"\nevent_types = [\"Threat\"]\nretry_initial = \"10s\"\nretry_max = \"1s\"\n\
         [journal]\nmax_rows = 5\non_lagging_consumer = \"delete\"\n",
    ));
    let joined = errs.join("\n");
    for needle in [
        "missing `address` in sink `s`",
        "syslog over TLS is always octet-counted",
        "`format` in sink `s` must be one of json, cef, leef",
        "`facility` in sink `s` must be 0..23",
        "`leef_delimiter` in sink `s`",
        "`url` in sink `h` has scheme `ftp`",
        "missing `token` in sink `h`",
        "sets `api_key` and `username`/`password`",
        "`url` in sink `p` must start with postgres://",
        "`table` in sink `p` must be",
        "`secret` in sink `w` is shorter than 16 characters",
        "`min_severity` in sink `w` must be one of low, medium, high, critical",
        "elements of `event_types` in sink `w` must be event type ids",
        "`retry_max` in sink `w` is shorter than `retry_initial`",
        "`max_rows` in [journal] must be at least 1000",
        "`on_lagging_consumer` in [journal] must be one of keep, drop",
    ] {
        assert!(
            joined.contains(needle),
            "`{needle}` not reported in:\n{joined}"
        );
    }
    // Every problem has a place in the file.
    assert!(
        errs.iter()
            .all(|e| e.split(':').take(2).all(|n| n.parse::<usize>().is_ok())),
        "{joined}"
    );
}

#[test]
fn example_toml_without_its_env_vars_names_each_one() {
    let path = example_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let err = Config::from_str_with_env(&text, &path, &|_| None).unwrap_err();
    let shown: Vec<String> = err.iter().map(|e| e.message.clone()).collect();
    let vars = [
        "ACME_CLIENT_ID",
        "ACME_API_KEY",
        "GLOBEX_API_KEY",
        "SPLUNK_HEC_TOKEN",
        "ELASTIC_API_KEY",
        "SENTINEL_CLIENT_SECRET",
        "EVENTS_DATABASE_URL",
        "WEBHOOK_SECRET",
        "SNOW_PASSWORD",
        "XDR_CLIENT_PASSWORD",
        "SNOW_WEBHOOK_SECRET",
    ];
    assert_eq!(err.len(), vars.len(), "{shown:#?}");
    for (e, var) in err.iter().zip(vars) {
        assert!(e.message.contains(var), "{}", e.message);
        let line = e.line.unwrap();
        assert!(text.lines().nth(line - 1).unwrap().contains(var));
        // The column points at the `${` of the reference.
        let col = e.column.unwrap();
        assert!(text.lines().nth(line - 1).unwrap()[col - 1..].starts_with("${"));
    }
}

// ---- defaults and paths -------------------------------------------------------------------

#[test]
fn defaults_apply() {
    let c = ok(MIN);
    let dir = Path::new("/nonexistent-sebridge-test");
    assert!(matches!(&c.store, StoreConfig::Sqlite { path } if path == &dir.join("sebridge.db")));
    assert_eq!(c.secrets.key_file, dir.join("sebridge.key"));
    assert!(c.server.is_none());
    let p = poll(MIN);
    assert_eq!(p.interval, defaults::POLL_INTERVAL);
    assert_eq!(p.lookback, defaults::POLL_LOOKBACK);
    assert_eq!(p.page_size, 500);
    assert_eq!(p.concurrency, 32);
    assert_eq!(p.request_timeout, Duration::from_secs(30));
    assert_eq!(
        c.sinks["out"],
        SinkConfig::Stdout(StdoutSinkConfig {
            wrap: false,
            common: default_common()
        })
    );
    assert!(c.tenants["acme"].enabled);
}

#[test]
fn relative_paths_resolve_against_the_config_dir() {
    let c = ok(&with(
        "[store]\npath = \"data/x.db\"\n[secrets]\nkey_file = \"/abs/k.key\"\n\
         [sinks.f]\ntype = \"file\"\npath = \"out/e.jsonl\"\n",
    ));
    let dir = Path::new("/nonexistent-sebridge-test");
    assert!(matches!(&c.store, StoreConfig::Sqlite { path } if path == &dir.join("data/x.db")));
    assert_eq!(c.secrets.key_file, Path::new("/abs/k.key"));
    assert!(matches!(&c.sinks["f"], SinkConfig::File(f) if f.path == dir.join("out/e.jsonl")));
}

#[test]
fn relative_config_path_gives_absolute_resolved_paths() {
    let c = Config::from_str_with_env(MIN, Path::new("sebridge.toml"), &test_env).unwrap();
    let StoreConfig::Sqlite { path } = &c.store else {
        panic!("the default store is SQLite")
    };
    assert!(path.is_absolute(), "{}", path.display());
    assert_eq!(c.path, Path::new("sebridge.toml"));
}

#[test]
fn inline_tables_are_accepted() {
    let c = ok(r#"
tenants = { acme = { region = "eu", client_id = "c", api_key = "k" } }
sources.poll = { type = "poll", page_size = 100 }
sinks.out.type = "stdout"
"#);
    assert_eq!(c.tenants["acme"].endpoint, Endpoint::Region(Region::Eu));
    assert!(matches!(&c.sources["poll"], SourceConfig::Poll(p) if p.page_size == 100));
}

// ---- syntax -------------------------------------------------------------------------------

#[test]
fn syntax_error_is_the_only_problem_reported() {
    let e = one_error("[tenants.acme]\nregion = us\nregoin = 5\n");
    assert!(e.starts_with("2:10: TOML syntax error: "), "{e}");
}

#[test]
fn duplicate_key_is_named() {
    let e = one_error("[sinks.a]\ntype = \"stdout\"\ntype = \"file\"\n");
    assert_contains(&e, &["3:1: TOML syntax error: duplicate key `type`"]);
}

// ---- unknown keys -------------------------------------------------------------------------

#[test]
fn unknown_tenant_key() {
    let text = MIN.replace("region = \"us\"", "regoin = \"us\"");
    // Only the typo: a "missing `region`" report would say the same thing again.
    assert_eq!(
        one_error(&text),
        "3:1: unknown key `regoin` in tenant `acme`; expected one of region, base_url, \
         client_id, api_key, enabled (did you mean `region`?)"
    );
    let text = MIN.replace("api_key", "apikey");
    assert_contains(
        &one_error(&text),
        &["5:1: unknown key `apikey`", "(did you mean `api_key`?)"],
    );
    // An unrelated unknown key does not hide a missing one.
    let text = MIN.replace("region = \"us\"", "colour = \"blue\"");
    let errs = errors(&text);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_contains(
        &errs[0],
        &["2:10: tenant `acme` has neither `region` nor `base_url`"],
    );
    assert_contains(&errs[1], &["3:1: unknown key `colour`"]);
}

#[test]
fn misspelt_type_is_reported_as_such() {
    let e = one_error(&MIN.replace("type = \"poll\"", "tpye = \"poll\""));
    assert_eq!(
        e,
        "8:1: unknown key `tpye` in source `poll` (did you mean `type`?); `type` must be one \
         of poll, stream"
    );
}

#[test]
fn unknown_top_level_key() {
    let e = one_error(&with("[sever]\nlisten = \"127.0.0.1:1\"\n"));
    assert_eq!(
        e,
        "12:2: unknown key `sever` in the top level; expected one of store, secrets, server, cluster, \
         tenants, sources, sinks, incidents, journal (did you mean `server`?)"
    );
    // A misspelt collection is reported once, not also as "no sinks configured".
    let e = one_error(&MIN.replace("[sinks.out]", "[sink.out]"));
    assert_contains(&e, &["10:2: unknown key `sink`", "(did you mean `sinks`?)"]);
}

#[test]
fn unknown_keys_in_every_section() {
    let text = with(
        "[store]\nkynd = \"sqlite\"\n[secrets]\nkeyfile = \"k\"\n[server]\nlisten = \"\"\nport = 1\n",
    )
    .replace("type = \"poll\"", "type = \"poll\"\nintervall = \"5s\"")
    .replace("type = \"stdout\"", "type = \"stdout\"\nbatchsize = 5");
    let errs = errors(&text);
    let joined = errs.join("\n");
    assert_eq!(errs.len(), 5, "{joined}");
    assert_contains(
        &joined,
        &[
            "unknown key `intervall` in source `poll`",
            "(did you mean `interval`?)",
            "unknown key `batchsize` in sink `out`; expected one of type, batch_size, batch_timeout, retry_initial, retry_max, tenants, event_types, min_severity, wrap",
            "unknown key `kynd` in [store]",
            "unknown key `keyfile` in [secrets]; expected one of key_file",
            "unknown key `port` in [server]; expected one of listen",
        ],
    );
}

#[test]
fn file_sink_keys_differ_from_stdout_keys() {
    let e = one_error(&MIN.replace("type = \"stdout\"", "type = \"stdout\"\npath = \"x\""));
    assert_contains(&e, &["unknown key `path` in sink `out`"]);
}

// ---- types --------------------------------------------------------------------------------

#[test]
fn wrong_types() {
    let text = MIN
        .replace(
            "type = \"poll\"",
            "type = \"poll\"\npage_size = \"500\"\ninterval = 60",
        )
        .replace(
            "api_key = \"key-acme\"",
            "api_key = \"key-acme\"\nenabled = \"yes\"",
        )
        .replace("type = \"stdout\"", "type = \"stdout\"\nwrap = 1");
    let errs = errors(&text);
    assert_eq!(
        errs,
        [
            "6:11: `enabled` in tenant `acme` must be a boolean (true or false), found string",
            "10:13: `page_size` in source `poll` must be an integer, found string",
            "11:12: `interval` in source `poll` must be a duration string like \"30s\", \"5m\" \
             or \"24h\", found integer",
            "15:8: `wrap` in sink `out` must be a boolean (true or false), found integer",
        ]
    );
}

#[test]
fn sections_must_be_tables() {
    let e = one_error(&format!("store = \"sqlite\"\n{MIN}"));
    assert_eq!(
        e,
        "1:9: `store` in the top level must be a table, found string"
    );
    let errs = errors("[[tenants]]\nregion = \"us\"\n[sources.poll]\ntype = \"poll\"\n[sinks.o]\ntype = \"stdout\"\n");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_contains(
        &errs[0],
        &[
            "`tenants` in the top level must be a table, found an array of tables",
            "[tenants.<name>]",
        ],
    );
    let e = one_error(&MIN.replace(
        "[sinks.out]\ntype = \"stdout\"",
        "[sinks]\nout = \"stdout\"",
    ));
    assert_contains(
        &e,
        &["sink `out` must be a table ([sinks.out]), found string"],
    );
}

// ---- tenants ------------------------------------------------------------------------------

#[test]
fn region_must_be_us_eu_or_apjc() {
    let e = one_error(&MIN.replace("\"us\"", "\"mars\""));
    assert_eq!(
        e,
        "3:10: unknown region `mars` in tenant `acme`; expected one of us, eu, apjc"
    );
    let e = one_error(&MIN.replace("\"us\"", "\"europe\""));
    assert_contains(&e, &["unknown region `europe`", "(did you mean `eu`?)"]);
    for (name, region) in [
        ("us", Region::Us),
        ("eu", Region::Eu),
        ("apjc", Region::Apjc),
    ] {
        let c = ok(&MIN.replace("\"us\"", &format!("\"{name}\"")));
        assert_eq!(c.tenants["acme"].endpoint, Endpoint::Region(region));
    }
}

#[test]
fn region_and_base_url_are_exclusive() {
    let e = one_error(&MIN.replace(
        "region = \"us\"",
        "region = \"us\"\nbase_url = \"http://x\"",
    ));
    assert_contains(
        &e,
        &["4:1: tenant `acme` sets both `region` and `base_url`; set exactly one"],
    );
    let e = one_error(&MIN.replace("region = \"us\"\n", ""));
    assert_contains(
        &e,
        &["2:10: tenant `acme` has neither `region` nor `base_url`"],
    );
}

#[test]
fn base_url_must_be_http_url() {
    let cases = [
        (
            "ftp://x.example",
            "has scheme `ftp`; expected http or https",
        ),
        ("not a url", "is not a valid URL"),
        ("http://x.example/?a=1", "must not have a query or fragment"),
        ("https://u:p@x.example", "must not contain credentials"),
        ("", "is empty"),
    ];
    for (url, problem) in cases {
        let e = one_error(&MIN.replace("region = \"us\"", &format!("base_url = \"{url}\"")));
        assert_contains(&e, &["3:12: `base_url` in tenant `acme`", problem]);
    }
    let c = ok(&MIN.replace("region = \"us\"", "base_url = \"http://127.0.0.1:9000\""));
    assert_eq!(
        c.tenants["acme"].base_url().as_str(),
        "http://127.0.0.1:9000/"
    );
}

#[test]
fn credentials_must_be_non_empty() {
    let text = MIN
        .replace("\"id-acme\"", "\"\"")
        .replace("\"key-acme\"", "\"  \"");
    assert_eq!(
        errors(&text),
        [
            "4:13: `client_id` in tenant `acme` is empty",
            "5:11: `api_key` in tenant `acme` is empty",
        ]
    );
    let e = one_error(&MIN.replace("\"key-acme\"", "\"key-acme \""));
    assert_eq!(
        e,
        "5:11: `api_key` in tenant `acme` has leading or trailing whitespace"
    );
    // A variable set to "" is as empty as a literal "".
    let e = one_error(&MIN.replace("\"key-acme\"", "\"${EMPTY}\""));
    assert_eq!(e, "5:11: `api_key` in tenant `acme` is empty");
}

#[test]
fn credentials_are_required() {
    let text = MIN.replace("client_id = \"id-acme\"\napi_key = \"key-acme\"\n", "");
    let errs = errors(&text);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_contains(&errs[0], &["2:10: missing `client_id` in tenant `acme`"]);
    assert_contains(&errs[1], &["2:10: missing `api_key` in tenant `acme`"]);
}

#[test]
fn tenant_names_follow_the_rule() {
    let long = "a".repeat(65);
    for bad in ["Acme", "ac me", "acme.corp", long.as_str()] {
        let header = if bad.contains(' ') || bad.contains('.') {
            format!("[tenants.\"{bad}\"]")
        } else {
            format!("[tenants.{bad}]")
        };
        let e = one_error(&MIN.replace("[tenants.acme]", &header));
        assert_contains(
            &e,
            &[
                &format!("2:10: invalid tenant name `{bad}`"),
                "a-z, 0-9, `_` and `-`",
            ],
        );
    }
    let ok64 = "a".repeat(64);
    for good in ["acme-2_b", "0", ok64.as_str()] {
        let c = ok(&MIN.replace("[tenants.acme]", &format!("[tenants.{good}]")));
        assert!(c.tenants.contains_key(good));
    }
}

#[test]
fn source_and_sink_names_follow_the_rule() {
    let text = MIN
        .replace("[sources.poll]", "[sources.Poll]")
        .replace("[sinks.out]", "[sinks.\"my sink\"]");
    let errs = errors(&text);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_contains(&errs[0], &["invalid source name `Poll`"]);
    assert_contains(&errs[1], &["invalid sink name `my sink`"]);
}

// ---- durations, since, numbers ------------------------------------------------------------

#[test]
fn durations_parse_with_humantime() {
    let p = poll(&MIN.replace(
        "type = \"poll\"",
        "type = \"poll\"\ninterval = \"1m 30s\"\nlookback = \"7days\"\nrequest_timeout = \"500ms\"",
    ));
    assert_eq!(p.interval, Duration::from_secs(90));
    assert_eq!(p.lookback, Duration::from_secs(7 * 86400));
    assert_eq!(p.request_timeout, Duration::from_millis(500));

    let e = one_error(&MIN.replace(
        "type = \"poll\"",
        "type = \"poll\"\ninterval = \"60 parsecs\"",
    ));
    assert_contains(
        &e,
        &[
            "9:12: `interval` in source `poll` is not a valid duration",
            "expected a duration with a unit",
        ],
    );
    // A bare number is refused with the fix, as on every flag.
    let e = one_error(&MIN.replace("type = \"poll\"", "type = \"poll\"\ninterval = \"60\""));
    assert_contains(
        &e,
        &["`interval` in source `poll` needs a unit: write \"60s\""],
    );
}

#[test]
fn zero_durations_only_where_meaningful() {
    let text = MIN.replace(
        "type = \"poll\"",
        "type = \"poll\"\ninterval = \"0s\"\nrequest_timeout = \"0s\"\nlookback = \"0s\"",
    );
    assert_eq!(
        errors(&text),
        [
            "9:12: `interval` in source `poll` must be greater than zero",
            "10:19: `request_timeout` in source `poll` must be greater than zero",
        ]
    );
    // lookback = 0: start from now.
    let p = poll(&MIN.replace("type = \"poll\"", "type = \"poll\"\nlookback = \"0s\""));
    assert_eq!(p.lookback, Duration::ZERO);
}

#[test]
fn since_is_rfc3339() {
    let p = poll(&MIN.replace(
        "type = \"poll\"",
        "type = \"poll\"\nsince = \"2024-01-01T00:00:00Z\"",
    ));
    assert_eq!(p.since, Some(time::macros::datetime!(2024-01-01 0:00 UTC)));
    // A TOML date-time with an offset is the same thing.
    let p = poll(&MIN.replace(
        "type = \"poll\"",
        "type = \"poll\"\nsince = 2024-01-01T02:00:00+02:00",
    ));
    assert_eq!(p.since, Some(time::macros::datetime!(2024-01-01 0:00 UTC)));

    for (value, problem) in [
        ("\"2024-01-01\"", "is not an RFC 3339 timestamp"),
        ("\"yesterday\"", "is not an RFC 3339 timestamp"),
        (
            "2024-01-01T00:00:00",
            "needs a date, a time and a UTC offset",
        ),
        ("2024-01-01", "needs a date, a time and a UTC offset"),
        (
            "5",
            "must be an RFC 3339 timestamp such as \"2024-01-01T00:00:00Z\", found integer",
        ),
    ] {
        let e = one_error(&MIN.replace(
            "type = \"poll\"",
            &format!("type = \"poll\"\nsince = {value}"),
        ));
        assert_contains(&e, &["9:9: `since` in source `poll`", problem]);
    }
}

#[test]
fn page_size_and_concurrency_bounds() {
    let text = MIN.replace(
        "type = \"poll\"",
        "type = \"poll\"\npage_size = 501\nconcurrency = 0",
    );
    assert_eq!(
        errors(&text),
        [
            "9:13: `page_size` in source `poll` must be between 2 and 500, found 501",
            "10:15: `concurrency` in source `poll` must be at least 1, found 0",
        ]
    );
    let e = one_error(&MIN.replace("type = \"poll\"", "type = \"poll\"\npage_size = 0"));
    assert_contains(&e, &["must be between 2 and 500, found 0"]);
    let e = one_error(&MIN.replace("type = \"poll\"", "type = \"poll\"\npage_size = 1"));
    assert_contains(&e, &["must be between 2 and 500, found 1"]);
    let e = one_error(&MIN.replace("type = \"poll\"", "type = \"poll\"\nconcurrency = -4"));
    assert_contains(&e, &["must be at least 1, found -4"]);
    let p = poll(&MIN.replace(
        "type = \"poll\"",
        "type = \"poll\"\npage_size = 2\nconcurrency = 1",
    ));
    assert_eq!((p.page_size, p.concurrency), (2, 1));
}

#[test]
fn batch_size_bounds() {
    let e = one_error(&MIN.replace("type = \"stdout\"", "type = \"stdout\"\nbatch_size = 0"));
    assert_eq!(
        e,
        "12:14: `batch_size` in sink `out` must be between 1 and 1000000, found 0"
    );
}

// ---- event types, groups, source tenants --------------------------------------------------

#[test]
fn event_types_are_ids_or_names() {
    let p = poll(&MIN.replace(
        "type = \"poll\"",
        "type = \"poll\"\nevent_types = [1090519054, \"Threat Quarantined\"]",
    ));
    assert_eq!(
        p.event_types,
        [
            EventTypeRef::Id(1090519054),
            EventTypeRef::Name("Threat Quarantined".into())
        ]
    );
    let text = MIN.replace(
        "type = \"poll\"",
        "type = \"poll\"\nevent_types = [true, -1, \"\", 2.5]",
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 4, "{errs:#?}");
    assert_contains(&errs[0], &["9:16: elements of `event_types` in source `poll` must be event type ids (integers) or names (strings), found boolean"]);
    assert_contains(
        &errs[1],
        &["9:22: event type id -1", "must be a positive integer"],
    );
    assert_contains(&errs[2], &["9:26: empty event type name"]);
    assert_contains(&errs[3], &["9:30:", "found float"]);
    let e = one_error(&MIN.replace("type = \"poll\"", "type = \"poll\"\nevent_types = 5"));
    assert_contains(
        &e,
        &["`event_types` in source `poll` must be an array, found integer"],
    );
}

#[test]
fn groups_are_guids() {
    let p = poll(&MIN.replace(
        "type = \"poll\"",
        "type = \"poll\"\ngroups = [\"B077D6BC-bbdf-42f7-8838-a06053fbd98a\"]",
    ));
    assert_eq!(p.groups, ["b077d6bc-bbdf-42f7-8838-a06053fbd98a"]);
    let e = one_error(&MIN.replace("type = \"poll\"", "type = \"poll\"\ngroups = [\"Servers\"]"));
    assert_contains(
        &e,
        &["9:11: `Servers` in `groups` of source `poll` is not a group GUID"],
    );
}

#[test]
fn source_tenants_must_exist() {
    let two = MIN.replace(
        "[sources.poll]",
        "[tenants.globex]\nregion = \"eu\"\nclient_id = \"g\"\napi_key = \"${GLOBEX_API_KEY}\"\n\n[sources.poll]",
    );
    let c = ok(&two.replace("type = \"poll\"", "type = \"poll\"\ntenants = [\"globex\"]"));
    let SourceConfig::Poll(p) = &c.sources["poll"] else {
        panic!("a poll source")
    };
    assert_eq!(p.tenants.as_deref(), Some(&["globex".to_string()][..]));

    let e = one_error(&two.replace(
        "type = \"poll\"",
        "type = \"poll\"\ntenants = [\"acme\", \"acm\"]",
    ));
    assert_eq!(
        e,
        "14:20: source `poll` names unknown tenant `acm` (did you mean `acme`?); known \
         tenants: acme, globex (this file)"
    );
    // A tenant of the store's registry is known too.
    let c = Config::from_str_with_env(
        &two.replace(
            "type = \"poll\"",
            "type = \"poll\"\ntenants = [\"acme\", \"beta\"]",
        ),
        Path::new(FILE),
        &test_env,
    )
    .unwrap();
    assert_eq!(c.check_tenants(&["beta".into()], true), Ok(()));
    let e = c
        .check_tenants(&["gamma".into()], true)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "{FILE}:14:20: source `poll` names unknown tenant `beta`; known tenants: acme, \
             globex (this file); gamma (the store)"
        )
    );
    let e = one_error(&MIN.replace("type = \"poll\"", "type = \"poll\"\ntenants = []"));
    assert_contains(&e, &["9:11: `tenants` in source `poll` is empty"]);
    let e = one_error(&MIN.replace(
        "type = \"poll\"",
        "type = \"poll\"\ntenants = [\"acme\", \"acme\"]",
    ));
    assert_contains(&e, &["9:20: source `poll` lists tenant `acme` twice"]);
}

#[test]
fn source_tenants_naming_an_invalid_tenant_do_not_cascade() {
    // `acme` is declared but broken: report the broken tenant, not also the source.
    let text = MIN
        .replace("region = \"us\"", "region = \"mars\"")
        .replace("type = \"poll\"", "type = \"poll\"\ntenants = [\"acme\"]");
    let e = one_error(&text);
    assert_contains(&e, &["unknown region `mars`"]);
}

// ---- types of sources and sinks -----------------------------------------------------------

#[test]
fn unknown_source_and_sink_types() {
    let text = MIN
        .replace("type = \"poll\"", "type = \"push\"\nwhatever = 1")
        .replace("type = \"stdout\"", "type = \"files\"");
    assert_eq!(
        errors(&text),
        [
            "8:8: unknown source type `push` in source `poll`; expected one of poll, stream",
            "12:8: unknown sink type `files` in sink `out`; expected one of file, stdout, syslog, splunk_hec, elasticsearch, sentinel, postgres, webhook (did \
             you mean `file`?)",
        ]
    );
    let e = one_error(&MIN.replace("type = \"stdout\"\n", "wrap = true\n"));
    assert_eq!(
        e,
        "10:8: missing `type` in sink `out`: expected one of file, stdout, syslog, splunk_hec, elasticsearch, sentinel, postgres, webhook"
    );
}

#[test]
fn file_sink_path_rules() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sebridge.toml");
    std::fs::create_dir(dir.path().join("out")).unwrap();
    let load_in_dir = |text: &str| Config::from_str_with_env(text, &config, &test_env);

    let text = with("[sinks.f]\ntype = \"file\"\npath = \"out\"\n");
    let e = load_in_dir(&text).unwrap_err();
    assert_eq!(e.len(), 1, "{e}");
    assert_eq!((e.0[0].line, e.0[0].column), (Some(14), Some(8)));
    assert_contains(
        &e.0[0].message,
        &["`path` in sink `f` is a directory", "expected a file"],
    );

    let text = with("[sinks.f]\ntype = \"file\"\n");
    assert_contains(&one_error(&text), &["12:8: missing `path` in sink `f`"]);

    let text = with(
        "[sinks.a]\ntype = \"file\"\npath = \"e.jsonl\"\n[sinks.b]\ntype = \"file\"\npath = \"./e.jsonl\"\n",
    );
    // "./e.jsonl" and "e.jsonl" are one file; `Path` comparison normalises the `.`.
    let e = one_error(&text);
    assert_contains(
        &e,
        &["17:8: `path` in sink `b` is also the path of sink `a`"],
    );
}

// ---- server and store ---------------------------------------------------------------------

#[test]
fn server_listen() {
    let c = ok(&with("[server]\nlisten = \"[::1]:9000\"\n"));
    assert_eq!(c.server.unwrap().listen, "[::1]:9000".parse().unwrap());
    assert!(ok(&with("[server]\nlisten = \"\"\n")).server.is_none());
    assert!(ok(&with("[server]\n")).server.is_none());
    let e = one_error(&with("[server]\nlisten = \"localhost:8686\"\n"));
    assert_contains(
        &e,
        &["13:10: `listen` in [server] is not a socket address: found \"localhost:8686\""],
    );
}

#[test]
fn store_kinds() {
    let e = one_error(&with("[store]\nkind = \"mysql\"\n"));
    assert_eq!(
        e,
        "13:8: unknown store kind `mysql` in [store]; expected one of sqlite, postgres"
    );

    // PostgreSQL: a URL is required and never echoed (it may hold a password); `path` and
    // `schema` belong to one kind each.
    let e = one_error(&with("[store]\nkind = \"postgres\"\n"));
    assert_eq!(
        e,
        "12:2: missing `url` in [store]: expected a postgres:// URL (e.g. url = \"${SEBRIDGE_DATABASE_URL}\")"
    );
    let e = one_error(&with(
        "[store]\nkind = \"postgres\"\nurl = \"mysql://u:pw@h/db\"\n",
    ));
    assert_contains(&e, &["14:7: `url` in [store] must start with postgres://"]);
    assert!(!e.contains("pw"), "{e}");
    let e = one_error(&with(
        "[store]\nkind = \"postgres\"\nurl = \"postgres://u:pw@h/db\"\npath = \"x.db\"\n",
    ));
    assert_contains(
        &e,
        &["15:1: `path` in [store] is only used with kind = \"sqlite\""],
    );
    assert!(!e.contains("pw"), "{e}");
    let e = one_error(&with(
        "[store]\nkind = \"postgres\"\nurl = \"postgres://h/db\"\nschema = \"Bad-Name\"\n",
    ));
    assert_contains(&e, &["15:1: `schema` in [store] must be a-z, 0-9 and `_`"]);
    let c = ok(&with(
        "[store]\nkind = \"postgres\"\nurl = \"postgres://u:pw@h/db\"\nschema = \"sebridge\"\n",
    ));
    assert!(matches!(
        &c.store,
        StoreConfig::Postgres { url, schema: Some(s) }
            if url.expose() == "postgres://u:pw@h/db" && s == "sebridge"
    ));
    assert!(!format!("{:?}", c.store).contains("pw"));
    let e = one_error(&with("[store]\nschema = \"s\"\n"));
    assert_contains(
        &e,
        &["13:1: `schema` in [store] is only used with kind = \"postgres\""],
    );

    let e = one_error(&with("[store]\nurl = \"postgres://h/db\"\n"));
    assert_contains(
        &e,
        &["13:1: `url` in [store] is only used with kind = \"postgres\""],
    );
}

// ---- empty configs ------------------------------------------------------------------------

#[test]
fn a_config_that_does_nothing_is_refused() {
    let errs = errors("");
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_contains(&errs[0], &["-: no sources configured", "does nothing"]);
    assert_contains(&errs[1], &["-: no sinks configured"]);
    let e = load("").unwrap_err();
    assert_eq!(e.0[0].to_string(), format!("{FILE}: {}", e.0[0].message));

    // An empty table is pointed at.
    let e = one_error(&MIN.replace("[sinks.out]\ntype = \"stdout\"\n", "[sinks]\n"));
    assert_contains(&e, &["10:2: no sinks configured"]);
}

// ---- environment --------------------------------------------------------------------------

#[test]
fn env_references_expand_everywhere() {
    let c = ok(&MIN
        .replace("\"id-acme\"", "\"${ACME_CLIENT_ID}\"")
        .replace("\"key-acme\"", "\"${ACME_API_KEY}\"")
        .replace(
            "type = \"stdout\"",
            "type = \"file\"\npath = \"/tmp/${ACME_CLIENT_ID}/$${HOME}.jsonl\"",
        ));
    let t = &c.tenants["acme"];
    assert_eq!(t.client_id, "acme-client");
    assert_eq!(t.api_key.expose_secret(), "acme-s3cr3t");
    assert!(
        matches!(&c.sinks["out"], SinkConfig::File(f) if f.path == Path::new("/tmp/acme-client/${HOME}.jsonl"))
    );
}

#[test]
fn missing_env_var_points_at_the_reference() {
    let text = MIN.replace("\"key-acme\"", "\"prefix-${NOPE}\"");
    assert_eq!(
        one_error(&text),
        "5:19: environment variable `NOPE` is not set (referenced by `api_key` in tenant `acme`)"
    );
}

#[test]
fn secrets_never_appear_in_debug_or_errors() {
    let c = ok(&MIN.replace("\"key-acme\"", "\"${ACME_API_KEY}\""));
    let shown = format!("{c:?}");
    assert!(!shown.contains("acme-s3cr3t"), "{shown}");
    assert!(!format!("{:?}", c.tenants["acme"].credentials()).contains("acme-s3cr3t"));
    // A bad value next to a secret: the secret stays out of the messages.
    let text = MIN
        .replace("\"key-acme\"", "\"${ACME_API_KEY} \"")
        .replace("\"us\"", "\"mars\"");
    let e = load(&text).unwrap_err();
    assert_eq!(e.len(), 2);
    assert!(!format!("{e:?}{e}").contains("acme-s3cr3t"));
}

// ---- all problems in one pass -------------------------------------------------------------

#[test]
fn every_problem_is_reported_in_order() {
    let text = r#"
[store]
kind = "sqlite"
bogus = 1

[tenants.acme]
region = "mars"
client_id = ""
api_key = "${NOPE}"

[sources.poll]
type = "poll"
page_size = 9000
tenants = ["nobody"]

[sinks.out]
type = "stdout"
batch_size = "big"
"#;
    let errs = errors(text);
    let lines: Vec<&str> = errs
        .iter()
        .map(|e| e.split(':').next().unwrap_or(""))
        .collect();
    // `tenants = ["nobody"]` (line 14) is checked against the store once the file is valid.
    assert_eq!(lines, ["4", "7", "8", "9", "13", "18"], "{errs:#?}");
}

#[test]
fn tenants_may_be_only_in_the_store() {
    // No [tenants.*]: valid (they may be in the store); `check_tenants` says whether any is.
    let text = "[sources.poll]\ntype = \"poll\"\n\n[sinks.out]\ntype = \"stdout\"\n";
    let c = Config::from_str_with_env(text, Path::new(FILE), &test_env).unwrap();
    assert!(c.tenants.is_empty());
    assert_eq!(c.check_tenants(&["acme".into()], true), Ok(()));
    assert_eq!(c.check_tenants(&[], false), Ok(()));
    let e = c.check_tenants(&[], true).unwrap_err().to_string();
    assert_contains(
        &e,
        &[
            &format!("{FILE}: no tenants"),
            "sebridge tenants add",
            "does nothing",
        ],
    );
    // An empty [tenants] table is no error either.
    let c = Config::from_str_with_env(&format!("[tenants]\n{text}"), Path::new(FILE), &test_env);
    assert!(c.is_ok(), "{c:?}");
}

// ---- tenants_for and helpers --------------------------------------------------------------

#[test]
fn tenants_for_filters_enabled_and_selected() {
    let text = MIN.replace(
        "[sources.poll]",
        "[tenants.globex]\nbase_url = \"http://127.0.0.1:9000/api\"\nclient_id = \"g\"\napi_key = \"k\"\n\
         [tenants.initech]\nregion = \"apjc\"\nclient_id = \"i\"\napi_key = \"k\"\nenabled = false\n\
         [sources.poll]",
    );
    let c = ok(&text);
    let names = |v: Vec<&TenantConfig>| v.into_iter().map(|t| t.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(c.tenants_for(&None)), ["acme", "globex"]);
    assert_eq!(
        names(c.tenants_for(&Some(vec!["globex".into(), "initech".into()]))),
        ["globex"]
    );
    assert_eq!(names(c.tenants_of(&c.sources["poll"])), ["acme", "globex"]);
    assert_eq!(
        c.tenants["acme"].base_url().as_str(),
        "https://api.amp.cisco.com/"
    );
    assert_eq!(
        c.tenants["globex"].base_url().as_str(),
        "http://127.0.0.1:9000/api"
    );
    assert_eq!(
        c.tenants["initech"].base_url().as_str(),
        "https://api.apjc.amp.cisco.com/"
    );
    assert_eq!(c.tenants["globex"].credentials().client_id(), "g");
}

// ---- validate command ---------------------------------------------------------------------

#[test]
fn validate_reports_ok_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sebridge.toml");
    std::fs::write(&path, MIN).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(validate_to(&path, &mut out, &mut err), 0);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!("{}: OK (1 tenant, 1 source, 1 sink)\n", path.display())
    );
    assert!(err.is_empty());
}

#[test]
fn validate_reports_every_problem_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sebridge.toml");
    std::fs::write(
        &path,
        MIN.replace("\"us\"", "\"mars\"")
            .replace("\"poll\"", "\"pull\""),
    )
    .unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(validate_to(&path, &mut out, &mut err), 2);
    assert!(out.is_empty());
    let err = String::from_utf8(err).unwrap();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].starts_with(&format!("{}:3:10: unknown region", path.display())));
    assert!(lines[1].starts_with(&format!(
        "{}:8:8: unknown source type `pull`",
        path.display()
    )));

    let missing = dir.path().join("nope.toml");
    let mut err = Vec::new();
    assert_eq!(validate_to(&missing, &mut Vec::new(), &mut err), 2);
    let err = String::from_utf8(err).unwrap();
    assert!(
        err.starts_with(&format!(
            "{}: cannot read configuration file",
            missing.display()
        )),
        "{err}"
    );
}

fn default_common() -> super::SinkCommon {
    super::SinkCommon {
        batch_size: 1000,
        // File and stdout: no wait for a partial batch.
        batch_timeout: Duration::ZERO,
        retry_initial: Duration::from_millis(500),
        retry_max: Duration::from_secs(60),
        filter: super::SinkFilter::default(),
    }
}
// ---- stream sources ---------------------------------------------------------------------------

fn stream_source(text: &str) -> super::StreamSourceConfig {
    match ok(text).sources.get("push") {
        Some(SourceConfig::Stream(s)) => s.clone(),
        other => panic!("expected a stream source, got {other:?}"),
    }
}

const STREAM: &str = "\n[sources.push]\ntype = \"stream\"\n";

#[test]
fn stream_source_defaults_and_keys() {
    let s = stream_source(&format!("{MIN}{STREAM}"));
    assert_eq!(s.prefetch, defaults::STREAM_PREFETCH);
    assert_eq!(s.batch_size, defaults::STREAM_BATCH_SIZE);
    assert_eq!(s.heartbeat, Duration::from_secs(30));
    assert!(!s.insecure && s.ca_file.is_none() && s.streams.is_empty() && s.tenants.is_none());
    let s = stream_source(&format!(
        "{MIN}{STREAM}streams = [\"siem\"]\ntenants = [\"acme\"]\nprefetch = 500\nbatch_size = 250\n\
         batch_wait = \"5ms\"\nheartbeat = \"0s\"\nconnect_timeout = \"3s\"\nmax_backoff = \"10s\"\n"
    ));
    assert_eq!((s.prefetch, s.batch_size), (500, 250));
    assert_eq!(s.streams, vec!["siem".to_string()]);
    assert_eq!(s.tenants, Some(vec!["acme".to_string()]));
    assert_eq!(s.heartbeat, Duration::ZERO);
    assert_eq!(s.max_backoff, Duration::from_secs(10));
}

#[test]
fn stream_source_problems_are_all_reported_with_positions() {
    let errs = errors(&format!(
        "{MIN}{STREAM}prefetch = 0\nca_file = \"/nonexistent/ca.pem\"\nheartbat = \"5s\"\n"
    ));
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert_contains(&errs[0], &["15:12:", "`prefetch`", "between 1 and 65535"]);
    assert_contains(&errs[1], &["16:11:", "`ca_file`", "not a readable file"]);
    assert_contains(
        &errs[2],
        &["17:1: unknown key `heartbat`", "did you mean `heartbeat`"],
    );
    let e = one_error(&format!("{MIN}{STREAM}prefetch = 100\nbatch_size = 200\n"));
    assert_contains(&e, &["16:14:", "larger than `prefetch`"]);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "x").unwrap();
    let e = one_error(&format!(
        "{MIN}{STREAM}ca_file = {:?}\ninsecure = true\n",
        ca.display().to_string()
    ));
    assert_contains(&e, &["16:12:", "both `ca_file` and `insecure = true`"]);
}

// ---- serde reading ------------------------------------------------------------------------

#[test]
fn every_unknown_key_of_one_table_is_reported() {
    let errs = errors(&MIN.replace("region = \"us\"", "region = \"us\"\ncolour = 1\nsize = 2"));
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_contains(&errs[0], &["4:1: unknown key `colour` in tenant `acme`"]);
    assert_contains(&errs[1], &["5:1: unknown key `size` in tenant `acme`"]);
}

#[test]
fn found_types_are_named_as_written() {
    for (value, found) in [
        ("2024-01-01", "datetime"),
        ("{ a = 1 }", "inline table"),
        ("[1]", "array"),
        ("1.5", "float"),
    ] {
        let e = one_error(&MIN.replace("\"id-acme\"", value));
        assert_eq!(
            e,
            format!("4:13: `client_id` in tenant `acme` must be a string, found {found}")
        );
    }
}
