//! Exit codes as the README's table gives them (0, 1, 2, 130), and error texts that say each
//! cause once.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sebridge(args: &[&str], config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sebridge"))
        .args(args)
        .arg("-c")
        .arg(config)
        .env_remove("SEBRIDGE_CONFIG")
        .env_remove("SEBRIDGE_MASTER_KEY")
        .env("SEBRIDGE_LOG", "off")
        .output()
        .expect("run sebridge")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn config(dir: &Path, store: &str) -> PathBuf {
    let path = dir.join("sebridge.toml");
    std::fs::write(
        &path,
        format!(
            "{store}\n[tenants.acme]\nbase_url = \"http://127.0.0.1:9\"\nclient_id = \"a\"\n\
             api_key = \"k\"\n\n[sources.poll]\ntype = \"poll\"\n\n[sinks.file]\ntype = \"file\"\n\
             path = \"out.jsonl\"\n"
        ),
    )
    .expect("write config");
    path
}

#[test]
fn usage_mistakes_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), "[store]\npath = \"sebridge.db\"\n");
    for args in [
        &["incidents", "list", "--status", "bogus"][..],
        &["replay", "--consumer", "file"],
        &["replay", "--consumer", "file", "--since", "soon"],
        &["run", "--until-idle", "30"],
        &["incidents", "close", "1", "--wait", "60"],
        &["backfill", "--tenant", "acme", "--since", "7"],
        &[
            "store",
            "migrate",
            "--from",
            "/path/sebridge.db",
            "--to",
            "postgres://h/db",
        ],
        &[
            "store",
            "migrate",
            "--from",
            "sqlite:x.db",
            "--to",
            "mysql://h/db",
        ],
    ] {
        let out = sebridge(args, &cfg);
        assert_eq!(
            out.status.code(),
            Some(2),
            "`sebridge {}`: {}",
            args.join(" "),
            text(&out)
        );
    }
    // The duration mistake says how to write it.
    let out = sebridge(&["run", "--until-idle", "30"], &cfg);
    assert!(
        text(&out).contains("needs a unit: write \"30s\""),
        "{}",
        text(&out)
    );
    // `replay --since` takes the same times as `backfill` and `events` ("2h"): a store with
    // nothing journaled then is nothing to replay, not a usage error.
    let out = sebridge(
        &[
            "tenants",
            "add",
            "--name",
            "b",
            "--region",
            "us",
            "--client-id",
            "b",
            "--api-key-env",
            "PATH",
        ],
        &cfg,
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = sebridge(&["replay", "--consumer", "file", "--since", "2h"], &cfg);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn a_cause_is_said_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A store whose directory cannot be made (its parent is a file).
    std::fs::write(dir.path().join("file"), b"x").expect("file");
    let cfg = config(dir.path(), "[store]\npath = \"file/sub/sebridge.db\"\n");
    let out = sebridge(&["run", "--until-idle", "1s"], &cfg);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert_eq!(all.matches("Not a directory").count(), 1, "{all}");

    // PostgreSQL that refuses the connection.
    let cfg = config(
        dir.path(),
        "[store]\nkind = \"postgres\"\nurl = \"postgres://postgres@127.0.0.1:1/test\"\n",
    );
    let out = sebridge(&["run", "--until-idle", "1s"], &cfg);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert_eq!(all.matches("Connection refused").count(), 1, "{all}");
    assert!(all.contains("127.0.0.1:1"), "says where: {all}");
}

#[test]
fn a_read_only_command_on_a_mistyped_postgres_schema_creates_nothing() {
    let Ok(url) = std::env::var("SEBRIDGE_TEST_POSTGRES_URL") else {
        eprintln!("SEBRIDGE_TEST_POSTGRES_URL unset: skipped");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let schema = format!("sebridge_typo_{}", std::process::id());
    let cfg = config(
        dir.path(),
        &format!("[store]\nkind = \"postgres\"\nurl = \"{url}\"\nschema = \"{schema}\"\n"),
    );
    for args in [&["sinks", "status"][..], &["incidents", "list"], &["audit"]] {
        let out = sebridge(args, &cfg);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(
            text(&out).contains("no sebridge store in") && text(&out).contains(&schema),
            "{}",
            text(&out)
        );
    }
    let exists = Command::new("psql")
        .args([url.as_str(), "-tAc"])
        .arg(format!(
            "SELECT 1 FROM pg_namespace WHERE nspname = '{schema}'"
        ))
        .output();
    if let Ok(o) = exists {
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            "",
            "the schema was created"
        );
    }
}
