//! Property tests of the config reader (issue 13): [`Config::from_str_with_env`] on arbitrary
//! text, on arbitrary TOML, and on the project's valid files (`config/*.toml`, the test
//! fixtures) with keys and values deleted, renamed, retyped, added, or lines edited. It never
//! panics; a refusal lists at least one problem, each with a message, and a line and column
//! that lie inside the text when it has them; no message and no accepted config's `Debug`
//! shows the value of a secret key (an API key, token, password, secret, PostgreSQL URL),
//! written in the file or taken from the environment.
//!
//! `cargo test -p sebridge --lib config::props`.

use super::{Config, ConfigErrors};
use crate::props::{config, tricky_string};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use toml_edit::{DocumentMut, Item, Value};

/// Values taken from the environment (the secret ones long enough to be searched for).
fn env(name: &str) -> Option<String> {
    const SECRET: &str = "SEKRIT-0123456789";
    match name {
        "ACME_CLIENT_ID" => Some("acme-client".into()),
        "ACME_API_KEY" | "GLOBEX_API_KEY" | "SPLUNK_HEC_TOKEN" | "ELASTIC_API_KEY" => {
            Some(format!("{SECRET}-{name}"))
        }
        "SNOW_PASSWORD"
        | "XDR_CLIENT_PASSWORD"
        | "SNOW_WEBHOOK_SECRET"
        | "WEBHOOK_SECRET"
        | "SENTINEL_CLIENT_SECRET" => Some(format!("{SECRET}-{name}-long-enough")),
        "EVENTS_DATABASE_URL" | "SEBRIDGE_DATABASE_URL" => {
            Some(format!("postgres://u:{SECRET}@127.0.0.1:5432/db"))
        }
        "EMPTY" => Some(String::new()),
        "LOOP" => Some("${LOOP}".into()),
        _ => None,
    }
}

/// Keys whose values are secrets (`url` only when a PostgreSQL URL, which has a password).
const SECRET_KEYS: &[&str] = &[
    "api_key",
    "token",
    "secret",
    "password",
    "client_password",
    "client_secret",
    "bearer_token",
    "url",
];

/// The values of the secret keys of `text` (expanded when a whole `${NAME}`), those that no
/// other key, table name or value also holds (there they may rightly be shown), 12 characters
/// or longer (shorter ones, `postgres` say, occur in messages by chance).
fn secrets(text: &str) -> Vec<String> {
    fn walk(item: &Item, table: &[String], out: &mut Vec<(bool, String)>) {
        let expand = |s: &str| {
            s.strip_prefix("${")
                .and_then(|r| r.strip_suffix('}'))
                .and_then(env)
                .unwrap_or_else(|| s.to_string())
        };
        match item {
            Item::Value(Value::String(v)) => {
                let key = table.last().map(String::as_str).unwrap_or("");
                let value = expand(v.value());
                let secret =
                    SECRET_KEYS.contains(&key) && (key != "url" || value.starts_with("postgres"));
                out.push((secret, value));
            }
            Item::Value(Value::Array(a)) => {
                for v in a.iter() {
                    walk(&Item::Value(v.clone()), &[], out);
                }
            }
            _ => {
                if let Some(t) = item.as_table_like() {
                    for (k, child) in t.iter() {
                        out.push((false, k.to_string()));
                        let mut path = table.to_vec();
                        path.push(k.to_string());
                        walk(child, &path, out);
                    }
                }
            }
        }
    }
    let Ok(doc) = text.parse::<DocumentMut>() else {
        return Vec::new();
    };
    let mut all = Vec::new();
    walk(doc.as_item(), &[], &mut all);
    let shown: Vec<&String> = all.iter().filter(|(s, _)| !s).map(|(_, v)| v).collect();
    all.iter()
        // A value that is also text of the reader's own messages (a sink type, an example
        // URL such as "https://acme.service-now.com") is found in a message without any
        // secret being shown: only values found nowhere in the source count.
        .filter(|(s, v)| {
            *s && v.len() >= 12
                && !shown.iter().any(|o| o.contains(v.as_str()))
                && !VOCABULARY.with(|src| src.contains(v.as_str()))
        })
        .map(|(_, v)| v.clone())
        .collect()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The files the mutations start from: the documented examples and the reader's fixtures.
fn seeds() -> Vec<(PathBuf, String)> {
    let mut files = vec![
        repo().join("config/example.toml"),
        repo().join("config/cluster.toml"),
    ];
    let fixtures = repo().join("crates/sebridge/tests/fixtures/config");
    let mut more: Vec<PathBuf> = std::fs::read_dir(&fixtures)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    more.sort();
    files.extend(more);
    let seeds: Vec<(PathBuf, String)> = files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("seed readable");
            (p, text)
        })
        .collect();
    // The examples must be valid, or the mutations would start from an error.
    for (p, text) in &seeds[..2] {
        if let Err(e) = Config::from_str_with_env(text, p, &env) {
            panic!("{} is invalid:\n{e}", p.display());
        }
    }
    seeds
}

/// Every Rust source file of the crate, concatenated: the text messages can be made of.
fn vocabulary() -> String {
    fn walk(dir: &Path, out: &mut String) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    let mut out = String::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
    out
}

thread_local! {
    static VOCABULARY: String = vocabulary();
    static SEEDS: Vec<(PathBuf, String)> = seeds();
}

/// Every problem has a message and, when placed, a place inside `text`; no secret shows.
fn check(text: &str, path: &Path) -> Result<(), TestCaseError> {
    let lines: Vec<&str> = text.split('\n').collect();
    let secrets = secrets(text);
    let shows_secret = |shown: &str| secrets.iter().find(|s| shown.contains(s.as_str())).cloned();
    match Config::from_str_with_env(text, path, &env) {
        Ok(c) => {
            let debug = format!("{c:?}");
            prop_assert_eq!(shows_secret(&debug), None, "a secret in Debug: {}", debug);
        }
        Err(ConfigErrors(errors)) => {
            prop_assert!(!errors.is_empty(), "an error without problems");
            for e in &errors {
                prop_assert!(!e.message.trim().is_empty(), "{e:?}");
                prop_assert_eq!(shows_secret(&e.message), None, "a secret in {}", e);
                prop_assert_eq!(&e.file, path);
                prop_assert!(e.column.is_none() || e.line.is_some(), "{e:?}");
                if let Some(line) = e.line {
                    prop_assert!(
                        line >= 1 && line <= lines.len(),
                        "line {line} of {}: {e}",
                        lines.len()
                    );
                    if let Some(col) = e.column {
                        let width = lines[line - 1].chars().count();
                        prop_assert!(col >= 1 && col <= width + 1, "column {col} of {width}: {e}");
                    }
                }
                let shown = e.to_string();
                prop_assert!(shown.starts_with(&path.display().to_string()), "{shown}");
            }
        }
    }
    Ok(())
}

// ---- mutations ------------------------------------------------------------------------------

/// Strings the config reader has opinions about, and tricky ones.
fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(vec![
            "", " ", "0s", "5s", "-1s", "1y", "99999999999999999999h", "10 MiB", "0", "x09",
            "\\", "^", "sqlite", "postgres", "poll", "stream", "stdout", "syslog", "file",
            "splunk_hec", "elasticsearch", "sentinel", "webhook", "cef", "leef", "json", "tcp", "udp", "tls",
            "us", "eu", "apjc", "127.0.0.1:0", "[::1]:514", "http://[::1", "http://127.0.0.1:1",
            "${ACME_API_KEY}", "${NOPE}", "${EMPTY}", "${LOOP}", "$${x}", "${", "${}",
            "2024-01-01T00:00:00Z", "not a date", "local0", "critical", "a/../b", "/",
        ])
        .prop_map(str::to_string),
        1 => tricky_string(),
    ]
}

fn toml_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        string().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-3i64..70_000).prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just("1979-05-27T07:32:00Z".parse::<Value>().unwrap()),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|vs| Value::Array(vs.into_iter().collect())),
            proptest::collection::vec((key(), inner), 0..3).prop_map(|kvs| {
                let mut t = toml_edit::InlineTable::new();
                for (k, v) in kvs {
                    t.insert(&k, v);
                }
                Value::InlineTable(t)
            }),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(vec![
            "type", "kind", "path", "url", "region", "base_url", "client_id", "api_key",
            "enabled", "interval", "page_size", "overlap", "since", "lookback", "tenants",
            "address", "transport", "format", "protocol", "leef_delimiter", "app_name",
            "hostname", "min_severity", "batch_size", "secret", "max_skew", "listen", "lease",
        ])
        .prop_map(str::to_string),
        1 => "[a-z_]{1,10}",
        1 => tricky_string().prop_filter("a key", |k| !k.is_empty()),
    ]
}

#[derive(Debug, Clone)]
enum Edit {
    Remove,
    Replace(Value),
    Rename(String),
    /// A new key (or a whole table) beside the chosen one.
    Add(String, Value),
    AddTable(String),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => Just(Edit::Remove),
        4 => toml_value().prop_map(Edit::Replace),
        1 => key().prop_map(Edit::Rename),
        1 => (key(), toml_value()).prop_map(|(k, v)| Edit::Add(k, v)),
        1 => key().prop_map(Edit::AddTable),
    ]
}

/// Paths of every key of the document (through tables and inline tables).
fn keys_of(item: &Item, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Some(t) = item.as_table_like() {
        for (k, child) in t.iter() {
            prefix.push(k.to_string());
            out.push(prefix.clone());
            keys_of(child, prefix, out);
            prefix.pop();
        }
    }
}

fn apply(doc: &mut DocumentMut, path: &[String], edit: &Edit) {
    let (last, parents) = path.split_last().expect("a key");
    let mut at: &mut Item = doc.as_item_mut();
    for p in parents {
        at = match at.as_table_like_mut().and_then(|t| t.get_mut(p)) {
            Some(i) => i,
            None => return,
        };
    }
    let Some(table) = at.as_table_like_mut() else {
        return;
    };
    match edit {
        Edit::Remove => {
            table.remove(last);
        }
        Edit::Replace(v) => {
            table.insert(last, Item::Value(v.clone()));
        }
        Edit::Rename(new) => {
            if let Some(item) = table.remove(last) {
                table.insert(new, item);
            }
        }
        Edit::Add(k, v) => {
            table.insert(k, Item::Value(v.clone()));
        }
        Edit::AddTable(k) => {
            table.insert(k, Item::Table(toml_edit::Table::new()));
        }
    }
}

#[derive(Debug, Clone)]
enum LineEdit {
    Delete,
    Duplicate,
    Swap,
    Insert(String),
    Truncate,
}

fn line_edit() -> impl Strategy<Value = LineEdit> {
    prop_oneof![
        Just(LineEdit::Delete),
        Just(LineEdit::Duplicate),
        Just(LineEdit::Swap),
        Just(LineEdit::Truncate),
        prop_oneof![
            tricky_string(),
            Just("[".to_string()),
            Just("\"".to_string()),
            Just("= 1".to_string()),
            Just("[sinks.x]".to_string()),
            Just("[[tenants]]".to_string()),
            Just("\u{feff}".to_string()),
            Just("\r".to_string()),
        ]
        .prop_map(LineEdit::Insert),
    ]
}

fn edit_lines(
    text: &str,
    at: proptest::sample::Index,
    other: proptest::sample::Index,
    e: &LineEdit,
) -> String {
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    let i = at.index(lines.len());
    match e {
        LineEdit::Delete => {
            lines.remove(i);
        }
        LineEdit::Duplicate => {
            let l = lines[i].clone();
            lines.insert(other.index(lines.len() + 1), l);
        }
        LineEdit::Swap => {
            let j = other.index(lines.len());
            lines.swap(i, j);
        }
        LineEdit::Insert(s) => {
            let line = &mut lines[i];
            let chars: Vec<char> = line.chars().collect();
            let c = other.index(chars.len() + 1);
            let mut new: String = chars[..c].iter().collect();
            new.push_str(s);
            new.extend(&chars[c..]);
            *line = new;
        }
        LineEdit::Truncate => {
            let all = lines.join("\n");
            let chars: Vec<char> = all.chars().collect();
            return chars[..other.index(chars.len() + 1)].iter().collect();
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn any_text_is_a_config_or_placed_problems(text in any::<String>()) {
        check(&text, Path::new("conf/sebridge.toml"))?;
    }

    #[test]
    fn any_toml_is_a_config_or_placed_problems(
        tables in proptest::collection::vec(
            (
                proptest::sample::select(vec!["store", "server", "secrets", "cluster", "journal",
                    "tenants.acme", "sources.poll", "sinks.out", "incidents", "incidents.webhook",
                    "incidents.rules.r", "nope"]),
                proptest::collection::vec((key(), toml_value()), 0..6),
            ),
            0..6,
        ),
    ) {
        // Written as text: a table twice or a key twice is a syntax error, which is fine.
        let mut text = String::new();
        for (name, kvs) in tables {
            text.push_str(&format!("[{name}]\n"));
            for (k, v) in kvs {
                let key = toml_edit::Key::new(k);
                text.push_str(&format!("{} = {}\n", key.display_repr(), v.decorated("", "")));
            }
        }
        check(&text, Path::new("/etc/sebridge/sebridge.toml"))?;
    }

    #[test]
    fn valid_files_with_keys_and_values_mutated_never_panic(
        seed in any::<proptest::sample::Index>(),
        edits in proptest::collection::vec((any::<proptest::sample::Index>(), edit()), 1..4),
    ) {
        let (path, text) = SEEDS.with(|s| seed.get(s.as_slice()).clone());
        let Ok(mut doc) = text.parse::<DocumentMut>() else {
            // A seed that is not TOML (the syntax-error fixture) is edited as lines below.
            return Ok(());
        };
        for (at, e) in &edits {
            let mut keys = Vec::new();
            keys_of(doc.as_item(), &mut Vec::new(), &mut keys);
            if keys.is_empty() {
                break;
            }
            let path: &Vec<String> = at.get(&keys);
            apply(&mut doc, path, e);
        }
        check(&doc.to_string(), &path)?;
    }

    #[test]
    fn valid_files_with_lines_edited_never_panic(
        seed in any::<proptest::sample::Index>(),
        edits in proptest::collection::vec(
            (any::<proptest::sample::Index>(), any::<proptest::sample::Index>(), line_edit()),
            1..4,
        ),
    ) {
        let (path, mut text) = SEEDS.with(|s| seed.get(s.as_slice()).clone());
        for (at, other, e) in &edits {
            text = edit_lines(&text, *at, *other, e);
        }
        check(&text, &path)?;
    }
}

#[test]
fn the_secret_finder_finds_the_examples_secrets() {
    // Guards the check above: it would pass vacuously if it found nothing.
    let text = std::fs::read_to_string(repo().join("config/example.toml")).unwrap();
    let found = secrets(&text);
    for name in [
        "ACME_API_KEY",
        "SPLUNK_HEC_TOKEN",
        "SNOW_PASSWORD",
        "WEBHOOK_SECRET",
    ] {
        assert!(
            found.iter().any(|s| s.contains(name)),
            "{name} not in {found:?}"
        );
    }
    assert!(
        found.iter().any(|s| s.starts_with("postgres://")),
        "{found:?}"
    );
}
