//! Invalid configuration files in `tests/fixtures/config/`: each must fail with every one of
//! its problems, at the exact line (and column), with a message naming the problem.

use std::path::{Path, PathBuf};

use sebridge::config::{validate_to, Config, ConfigErrors};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

fn load_err(name: &str) -> ConfigErrors {
    match Config::load(&fixture(name)) {
        Ok(c) => panic!("{name} should be invalid, loaded {c:?}"),
        Err(e) => e,
    }
}

/// Asserts the problems of fixture `name`, in order: (line, column, parts of the message).
/// Also checks that each problem displays as `<file>:<line>:<col>: <message>`.
fn assert_problems(name: &str, expected: &[(usize, usize, &[&str])]) {
    let errors = load_err(name);
    let shown = errors.to_string();
    assert_eq!(
        errors.len(),
        expected.len(),
        "{name}: wrong number of problems:\n{shown}"
    );
    for (e, (line, column, parts)) in errors.iter().zip(expected) {
        assert_eq!(
            (e.line, e.column),
            (Some(*line), Some(*column)),
            "{name}: wrong place for: {e}"
        );
        for part in *parts {
            assert!(e.message.contains(part), "{name}: `{part}` not in: {e}");
        }
        let prefix = format!("{}:{line}:{column}: ", fixture(name).display());
        assert!(e.to_string().starts_with(&prefix), "{e}");
    }
}

#[test]
fn valid_fixture_loads() {
    let config = match Config::load(&fixture("valid.toml")) {
        Ok(c) => c,
        Err(e) => panic!("valid.toml:\n{e}"),
    };
    assert_eq!(config.tenants.len(), 2);
    assert_eq!(config.tenants_for(&None).len(), 1, "globex is disabled");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(validate_to(&fixture("valid.toml"), &mut out, &mut err), 0);
    assert_eq!(
        String::from_utf8_lossy(&out),
        format!(
            "{}: OK (2 tenants (1 disabled), 1 source, 1 sink)\n",
            fixture("valid.toml").display()
        )
    );
    assert!(err.is_empty());
}

#[test]
fn syntax_error_is_reported_alone() {
    assert_problems(
        "syntax_error.toml",
        &[(3, 17, &["TOML syntax error", "invalid basic string"])],
    );
}

#[test]
fn unknown_keys_everywhere() {
    assert_problems(
        "unknown_keys.toml",
        &[
            (
                2,
                1,
                &[
                    "unknown key `regoin` in tenant `acme`",
                    "expected one of region, base_url, client_id, api_key, enabled",
                    "did you mean `region`?",
                ],
            ),
            (
                8,
                1,
                &[
                    "unknown key `page_sise` in source `poll`",
                    "did you mean `page_size`?",
                ],
            ),
            (
                13,
                2,
                &[
                    "unknown key `sinkz` in the top level",
                    "did you mean `sinks`?",
                ],
            ),
        ],
    );
}

#[test]
fn wrong_types() {
    assert_problems(
        "wrong_types.toml",
        &[
            (
                3,
                13,
                &["`client_id` in tenant `acme` must be a string, found integer"],
            ),
            (
                5,
                11,
                &["`enabled` in tenant `acme` must be a boolean (true or false), found string"],
            ),
            (
                9,
                13,
                &["`page_size` in source `poll` must be an integer, found string"],
            ),
            (
                10,
                12,
                &[
                    "`interval` in source `poll` must be a duration string",
                    "found integer",
                ],
            ),
            (
                14,
                8,
                &["`wrap` in sink `out` must be a boolean", "found string"],
            ),
        ],
    );
}

#[test]
fn bad_values() {
    assert_problems(
        "bad_values.toml",
        &[
            (
                2,
                8,
                &["unknown store kind `mysql` in [store]; expected one of sqlite, postgres"],
            ),
            (
                5,
                10,
                &[
                    "`listen` in [server] is not a socket address",
                    "localhost:8686",
                ],
            ),
            (
                8,
                10,
                &["unknown region `mars` in tenant `acme`; expected one of us, eu, apjc"],
            ),
            (9, 13, &["`client_id` in tenant `acme` is empty"]),
            (12, 10, &["invalid tenant name `Globex`", "a-z, 0-9"]),
            (
                14,
                1,
                &["tenant `Globex` sets both `region` and `base_url`; set exactly one"],
            ),
            (
                19,
                12,
                &["`base_url` in tenant `initech` has scheme `ftp`; expected http or https"],
            ),
            (
                25,
                12,
                &["`interval` in source `poll` must be greater than zero"],
            ),
            (
                26,
                12,
                &["`lookback` in source `poll` is not a valid duration"],
            ),
            (
                27,
                9,
                &["`since` in source `poll` is not an RFC 3339 timestamp"],
            ),
            (
                28,
                13,
                &["`page_size` in source `poll` must be between 2 and 500, found 1000"],
            ),
            (
                29,
                15,
                &["`concurrency` in source `poll` must be at least 1, found 0"],
            ),
            // Line 30's `umbrella` may be a tenant of the store: it is checked against the
            // store's registry once the file is valid (`Config::check_tenants`, below).
            (
                34,
                12,
                &["`prefetch` in source `stream` must be between 1 and 65535, found 0"],
            ),
            (38, 8, &["`path` in sink `archive` is a directory"]),
            (
                41,
                8,
                &["unknown sink type `kafka` in sink `siem`; expected one of file, stdout, syslog, splunk_hec"],
            ),
        ],
    );
}

#[test]
fn missing_env_vars_point_at_the_reference() {
    assert_problems(
        "missing_env.toml",
        &[
            (
                3,
                14,
                &["environment variable `SEBRIDGE_FIXTURE_UNSET_CLIENT_ID` is not set"],
            ),
            (
                4,
                12,
                &[
                    "environment variable `SEBRIDGE_FIXTURE_UNSET_API_KEY` is not set",
                    "`api_key` in tenant `acme`",
                ],
            ),
        ],
    );
}

#[test]
fn a_source_naming_a_tenant_neither_in_the_file_nor_in_the_store_is_refused_at_its_place() {
    let text = "[tenants.acme]\nregion = \"us\"\nclient_id = \"a\"\napi_key = \"k\"\n\n\
                [sources.poll]\ntype = \"poll\"\ntenants = [\"acme\", \"umbrella\"]\n\n\
                [sinks.out]\ntype = \"stdout\"\n";
    let path = Path::new("/etc/sebridge/sebridge.toml");
    let c = Config::from_str_with_env(text, path, &|_| None).expect("the file is valid");
    let e = c.check_tenants(&[], true).unwrap_err();
    assert_eq!(e.len(), 1, "{e}");
    assert_eq!(
        e.to_string(),
        "/etc/sebridge/sebridge.toml:8:20: source `poll` names unknown tenant `umbrella`; \
         known tenants: acme (this file)"
    );
    assert!(c.check_tenants(&["umbrella".into()], true).is_ok());
}

#[test]
fn a_config_that_does_nothing_is_refused() {
    let errors = load_err("does_nothing.toml");
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    // Tenants may be in the store: a file without any is checked once the store is open.
    assert_eq!(messages.len(), 2, "{errors}");
    assert!(messages[0].starts_with("no sources configured"));
    assert!(messages[1].starts_with("no sinks configured"));
    assert!(errors.iter().all(|e| e.line.is_none()));
    assert!(errors.iter().all(|e| e.message.contains("does nothing")));
}

#[test]
fn three_distinct_problems_are_all_reported() {
    assert_problems(
        "three_problems.toml",
        &[
            (
                5,
                1,
                &[
                    "unknown key `enabeld` in tenant `acme`",
                    "did you mean `enabled`?",
                ],
            ),
            (
                9,
                13,
                &["`page_size` in source `poll` must be between 2 and 500, found 0"],
            ),
            (
                13,
                14,
                &["`batch_size` in sink `out` must be an integer, found string"],
            ),
        ],
    );

    // The command prints the same, one problem per line, and exits 2.
    let path = fixture("three_problems.toml");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(validate_to(&path, &mut out, &mut err), 2);
    assert!(out.is_empty());
    let err = String::from_utf8_lossy(&err).into_owned();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    for (line, at) in lines.iter().zip(["5:1", "9:13", "13:14"]) {
        assert!(
            line.starts_with(&format!("{}:{at}: ", path.display())),
            "{line}"
        );
    }
}

#[test]
fn unreadable_file_has_no_line() {
    let errors = load_err("no-such-file.toml");
    assert_eq!(errors.len(), 1);
    assert_eq!((errors.0[0].line, errors.0[0].column), (None, None));
    assert!(errors
        .to_string()
        .contains("no-such-file.toml: cannot read configuration file"));
}
