//! The README as a new user reads it: every TOML snippet is a valid configuration as written
//! (on its own, completed by a minimal tenant, source and sink where it shows only a part),
//! and the commands a user types after it work (`validate`, `tenants add` on a config without
//! tenants, the read-only commands). `src/cli/tests.rs` checks that every `sebridge` command
//! form of the README parses.

use sebridge::config::Config;
use std::path::{Path, PathBuf};
use std::process::Command;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
        .expect("README.md")
}

/// The README's ```toml blocks, with the line each starts on.
fn toml_blocks(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```toml") => current = Some((n + 2, String::new())),
            (Some(_), l) if l.starts_with("```") => out.extend(current.take()),
            (Some((_, body)), _) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, _) => {}
        }
    }
    out
}

/// What a snippet that shows only part of a config is completed with, section by section.
const BASE: &str = r#"
[tenants.acme]
region = "us"
client_id = "id-acme"
api_key = "key-acme"

[sources.poll]
type = "poll"

[sinks.out]
type = "stdout"
"#;

/// Every `${VAR}` a snippet uses, with a value of the right shape.
fn env(name: &str) -> Option<String> {
    Some(if name.ends_with("DATABASE_URL") {
        "postgres://u:p@127.0.0.1/db".to_string()
    } else {
        format!("{name}-value-0123456789abcdef")
    })
}

#[test]
fn every_toml_snippet_of_the_readme_is_a_valid_config() {
    let text = readme();
    let blocks = toml_blocks(&text);
    assert!(
        blocks.len() >= 5,
        "README TOML blocks not found: {}",
        blocks.len()
    );
    let base: toml_edit::DocumentMut = BASE.parse().expect("base");
    let mut problems = Vec::new();
    for (line, body) in &blocks {
        let mut doc: toml_edit::DocumentMut = match body.parse() {
            Ok(d) => d,
            Err(e) => {
                problems.push(format!("README.md:{line}: not TOML: {e}"));
                continue;
            }
        };
        for (k, v) in base.iter() {
            if !doc.contains_key(k) {
                doc.insert(k, v.clone());
            }
        }
        let whole = doc.to_string();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sebridge.toml");
        let checked = Config::from_str_with_env(&whole, &path, &env)
            .and_then(|c| c.check_tenants(&[], true).map(|()| c));
        if let Err(e) = checked {
            problems.push(format!(
                "README.md:{line}: the snippet is refused:\n{e}\n---\n{body}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

fn sebridge(args: &[&str], config: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sebridge"))
        .args(args)
        .arg("-c")
        .arg(config)
        .env_remove("SEBRIDGE_CONFIG")
        .env_remove("SEBRIDGE_MASTER_KEY")
        .env_remove("SEBRIDGE_LOG")
        .env("ACME_API_KEY", "k-0123456789")
        .output()
        .expect("run sebridge")
}

fn text(o: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A config with a store, a source and a sink, and no tenant.
fn tenantless(dir: &Path) -> PathBuf {
    let path = dir.join("sebridge.toml");
    std::fs::write(
        &path,
        "[store]\npath = \"sebridge.db\"\n\n[sources.poll]\ntype = \"poll\"\n\n\
         [sinks.out]\ntype = \"file\"\npath = \"out.jsonl\"\n",
    )
    .expect("write config");
    path
}

#[test]
fn a_config_without_tenants_works_once_the_store_has_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = tenantless(dir.path());
    // Nothing to read yet: validate says what is missing; read-only commands create nothing.
    let out = sebridge(&["validate"], &cfg);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no tenants"), "{}", text(&out));
    let out = sebridge(&["sinks", "status"], &cfg);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("no store at"), "{}", text(&out));
    assert!(
        !dir.path().join("sebridge.db").exists(),
        "a read-only command created the store"
    );
    let out = sebridge(&["tenants", "list"], &cfg);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !dir.path().join("sebridge.db").exists(),
        "tenants list created the store"
    );

    // The first tenant is added on that very config.
    let out = sebridge(
        &[
            "tenants",
            "add",
            "--name",
            "acme",
            "--region",
            "eu",
            "--client-id",
            "id-1",
            "--api-key-env",
            "ACME_API_KEY",
        ],
        &cfg,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("BACK IT UP"),
        "creating the master key says to back it up: {}",
        text(&out)
    );
    let out = sebridge(&["validate"], &cfg);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 tenant (1 in the store)"),
        "{}",
        text(&out)
    );
    let out = sebridge(&["tenants", "list"], &cfg);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("acme"),
        "{}",
        text(&out)
    );
    let out = sebridge(&["sinks", "status"], &cfg);
    assert!(out.status.success(), "{}", text(&out));

    // A source naming a stored tenant is valid; one naming no tenant at all is not, with its
    // place in the file.
    let with = |tenants: &str| {
        std::fs::write(
            &cfg,
            format!(
                "[store]\npath = \"sebridge.db\"\n\n[sources.poll]\ntype = \"poll\"\ntenants = {tenants}\n\n\
                 [sinks.out]\ntype = \"file\"\npath = \"out.jsonl\"\n"
            ),
        )
        .expect("write");
    };
    with("[\"acme\"]");
    let out = sebridge(&["validate"], &cfg);
    assert!(out.status.success(), "{}", text(&out));
    with("[\"acmee\"]");
    let out = sebridge(&["validate"], &cfg);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains(
            "sebridge.toml:6:12: source `poll` names unknown tenant `acmee` (did you mean `acme`?)"
        ) && all.contains("acme (the store)"),
        "{all}"
    );
    // Every command checks it the same way.
    let out = sebridge(&["sinks", "status"], &cfg);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn inspection_commands_need_no_tenant_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("sebridge.toml");
    std::fs::write(
        &cfg,
        "[store]\npath = \"sebridge.db\"\n\n[tenants.acme]\nregion = \"eu\"\n\
         client_id = \"${UNSET_CLIENT_ID}\"\napi_key = \"${UNSET_API_KEY}\"\n\n\
         [sources.poll]\ntype = \"poll\"\n\n[sinks.warehouse]\ntype = \"postgres\"\n\
         url = \"${UNSET_DATABASE_URL}\"\n",
    )
    .expect("write");
    // A store to look at (run needs the credentials; create it by adding a tenant).
    let out = sebridge(
        &[
            "tenants",
            "add",
            "--name",
            "beta",
            "--region",
            "us",
            "--client-id",
            "b",
            "--api-key-env",
            "ACME_API_KEY",
        ],
        &cfg,
    );
    assert!(out.status.success(), "{}", text(&out));
    for args in [
        &["tenants", "list"][..],
        &["sinks", "status"],
        &["incidents", "list"],
        &["audit"],
        &["dead-letters"],
    ] {
        let out = sebridge(args, &cfg);
        assert!(
            out.status.success(),
            "`sebridge {}` needs credentials:\n{}",
            args.join(" "),
            text(&out)
        );
    }
    let out = sebridge(&["tenants", "list"], &cfg);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("${UNSET_CLIENT_ID} (not set here)"),
        "{}",
        text(&out)
    );
    // What needs them still says which are missing (run: exit 2, file:line:col) ...
    let out = sebridge(&["run", "--until-idle", "1s"], &cfg);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("environment variable `UNSET_API_KEY` is not set"),
        "{}",
        text(&out)
    );
    // ... and a command calling one tenant's API names that tenant's.
    let out = sebridge(&["events", "--tenant", "acme"], &cfg);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(
            "tenant \"acme\" needs ${UNSET_CLIENT_ID} and ${UNSET_API_KEY} from the environment"
        ),
        "{}",
        text(&out)
    );
    let out = sebridge(&["tenants", "test"], &cfg);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(
            "acme                     FAILED: ${UNSET_CLIENT_ID} and ${UNSET_API_KEY} not set"
        ),
        "{}",
        text(&out)
    );
}

#[test]
fn unknown_tenants_get_one_clear_error_everywhere() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("sebridge.toml");
    std::fs::write(
        &cfg,
        "[store]\npath = \"sebridge.db\"\n\n[tenants.acme]\nbase_url = \"http://127.0.0.1:9\"\n\
         client_id = \"a\"\napi_key = \"k\"\n\n[sources.poll]\ntype = \"poll\"\n\n\
         [sinks.out]\ntype = \"stdout\"\n",
    )
    .expect("write");
    // A store to read, with a tenant of its own.
    let out = sebridge(
        &[
            "tenants",
            "add",
            "--name",
            "beta",
            "--region",
            "us",
            "--client-id",
            "b",
            "--api-key-env",
            "ACME_API_KEY",
        ],
        &cfg,
    );
    assert!(out.status.success(), "{}", text(&out));
    for args in [
        &["events", "--tenant", "nope"][..],
        &["event-types", "--tenant", "nope"],
        &["backfill", "--tenant", "nope", "--since", "2h"],
        &["tenants", "test", "nope"],
        &["incidents", "list", "--tenant", "nope"],
        &["streams", "create", "--tenant", "nope", "--name", "s"],
        &["streams", "list", "--tenant", "nope"],
        &["tail", "--tenant", "nope"],
    ] {
        let out = sebridge(args, &cfg);
        let all = text(&out);
        assert_eq!(
            out.status.code(),
            Some(2),
            "`sebridge {}`:\n{all}",
            args.join(" ")
        );
        assert!(
            all.contains(
                "no tenant named \"nope\"; known tenants: acme (this file); beta (the store)"
            ),
            "`sebridge {}`:\n{all}",
            args.join(" ")
        );
    }
    // A tenant of the file cannot be added to the store, and the message does not suggest a
    // `tenants remove` that would be refused.
    let out = sebridge(
        &[
            "tenants",
            "add",
            "--name",
            "acme",
            "--region",
            "eu",
            "--client-id",
            "x",
            "--api-key-env",
            "ACME_API_KEY",
        ],
        &cfg,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("already defined in"), "{}", text(&out));
    assert!(!text(&out).contains("tenants remove"), "{}", text(&out));
}

#[test]
fn tenants_add_reads_the_key_from_a_terminal_without_echo_after_checking_the_rest() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = tenantless(dir.path());
    // A bad name is told before any key is asked for (stdin is never read).
    let out = Command::new(env!("CARGO_BIN_EXE_sebridge"))
        .args([
            "tenants",
            "add",
            "--name",
            "Not Valid",
            "--region",
            "eu",
            "--client-id",
            "x",
            "-c",
        ])
        .arg(&cfg)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("name \"Not Valid\""), "{}", text(&out));
    assert!(
        !text(&out).contains("API key"),
        "asked for the key first: {}",
        text(&out)
    );

    // On a terminal (script(1) gives it one), what is typed is not shown.
    let command = format!(
        "{} tenants add --name acme --region eu --client-id id-1 -c {}",
        env!("CARGO_BIN_EXE_sebridge"),
        cfg.display()
    );
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env_remove("SEBRIDGE_MASTER_KEY")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script(1) runs");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("not shown as you type") {
        let n = stdout.read(&mut buf).expect("read");
        assert!(n > 0, "no prompt: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"typed-secret-0123456789\n")
        .expect("type the key");
    stdin.flush().expect("flush");
    stdout.read_to_end(&mut seen).expect("read the rest");
    let status = child.wait().expect("ends");
    let shown = String::from_utf8_lossy(&seen);
    assert!(status.success(), "{shown}");
    assert!(shown.contains("tenant acme added"), "{shown}");
    assert!(
        !shown.contains("typed-secret"),
        "the key was echoed: {shown}"
    );
}
