//! Every invocation form of the README's CLI table parses, with `-c FILE` before the
//! subcommand, right after it and at the end, and the config path reaches the command.

use super::Cli;
use clap::Parser;
use std::path::Path;

/// The first cell of every row of the README's CLI table, as written there.
fn readme_forms() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap_or_else(|e| panic!("README.md: {e}"));
    let start = readme.find("\n## CLI").expect("README has a CLI section");
    let table = &readme[start..];
    let end = table.find("\nLogs go").unwrap_or(table.len());
    table[..end]
        .lines()
        .filter(|l| l.starts_with("| `sebridge "))
        .map(|l| {
            let cell = &l[2..];
            cell[..cell.find(" | ").unwrap_or(cell.len())]
                .trim()
                .to_string()
        })
        .collect()
}

/// Concrete argument lists (without `sebridge` and without `-c`) for each README form: every
/// alternative, and every optional part at least once.
fn concrete(form: &str) -> Vec<&'static [&'static str]> {
    match form {
        "`sebridge validate -c FILE`" => vec![&["validate"]],
        "`sebridge run -c FILE [--until-idle SECS] [--listen ADDR]`" => vec![
            &["run"],
            &["run", "--until-idle", "5", "--listen", "127.0.0.1:8686"],
        ],
        "`sebridge demo [--duration D]`" => vec![&["demo"], &["demo", "--duration", "30s"]],
        "`sebridge tenants add --name N (--region R \\| --base-url U) --client-id ID [--api-key-env VAR]`" => vec![
            &["tenants", "add", "--name", "acme", "--region", "eu", "--client-id", "id"],
            &[
                "tenants", "add", "--name", "acme", "--base-url", "http://127.0.0.1:1", "--client-id",
                "id", "--api-key-env", "ACME_KEY",
            ],
        ],
        "`sebridge tenants list` / `remove NAME` / `test [NAME]`" => vec![
            &["tenants", "list"],
            &["tenants", "remove", "acme"],
            &["tenants", "test"],
            &["tenants", "test", "acme"],
        ],
        "`sebridge event-types --tenant T [--json]`" => {
            vec![&["event-types", "--tenant", "acme"], &["event-types", "--tenant", "acme", "--json"]]
        }
        "`sebridge events --tenant T [--since 2h\\|RFC3339] [--type ID\\|NAME]... [--group G]... [--limit N] [--json]`" => vec![
            &["events", "--tenant", "acme"],
            &[
                "events", "--tenant", "acme", "--since", "2h", "--type", "1090519054", "--type",
                "Threat Quarantined", "--group", "g1", "--group", "g2", "--limit", "10", "--json",
            ],
            &["events", "--tenant", "acme", "--since", "2024-05-01T00:00:00Z"],
        ],
        "`sebridge backfill --tenant T --since 7d\\|RFC3339 [--restart]`" => vec![
            &["backfill", "--tenant", "acme", "--since", "7d"],
            &["backfill", "--tenant", "acme", "--since", "2024-05-01T00:00:00Z", "--restart"],
        ],
        "`sebridge replay --consumer SINK (--since RFC3339 \\| --from-seq N \\| --from-start) [--deliver]`" => vec![
            &["replay", "--consumer", "out", "--since", "2024-05-01T00:00:00Z"],
            &["replay", "--consumer", "out", "--from-seq", "10"],
            &["replay", "--consumer", "out", "--from-start"],
            &["replay", "--consumer", "out", "--from-start", "--deliver"],
        ],
        "`sebridge dead-letters [--limit N] [--json]`" => {
            vec![&["dead-letters"], &["dead-letters", "--limit", "5", "--json"]]
        }
        "`sebridge incidents list [--status open\\|closing\\|closed] [--tenant T] [--limit N] [--json]`" => vec![
            &["incidents", "list"],
            &["incidents", "list", "--limit", "1000"],
            &["incidents", "list", "--status", "open", "--tenant", "acme", "--json"],
            &["incidents", "list", "--status", "closing"],
            &["incidents", "list", "--status", "closed"],
        ],
        "`sebridge incidents show ID [--json]`" => {
            vec![&["incidents", "show", "7"], &["incidents", "show", "7", "--json"]]
        }
        "`sebridge incidents close ID [--code C] [--notes N]`" => vec![
            &["incidents", "close", "7"],
            &["incidents", "close", "7", "--code", "Solved", "--notes", "done"],
        ],
        "`sebridge audit [--incident ID] [--limit N] [--json]`" => {
            vec![&["audit"], &["audit", "--incident", "7", "--limit", "5", "--json"]]
        }
        "`sebridge sinks status`" => vec![&["sinks", "status"]],
        "`sebridge sinks forget NAME`" => vec![&["sinks", "forget", "old"]],
        "`sebridge store migrate --from sqlite:PATH --to postgres://... [--schema S]`" => vec![
            &["store", "migrate", "--from", "sqlite:x.db", "--to", "postgres://h/db"],
            &["store", "migrate", "--from", "sqlite:x.db", "--to", "postgres://h/db", "--schema", "s"],
        ],
        "`sebridge cluster status [--json]`" => vec![&["cluster", "status"], &["cluster", "status", "--json"]],
        "`sebridge streams create --tenant T --name N [--event-type ID\\|NAME]... [--group G]...`" => vec![
            &["streams", "create", "--tenant", "acme", "--name", "siem"],
            &[
                "streams", "create", "--tenant", "acme", "--name", "siem", "--event-type", "1090519054",
                "--event-type", "Threat Quarantined", "--group", "g1", "--group", "g2",
            ],
        ],
        "`sebridge streams list [--tenant T] [--remote]` / `delete --tenant T --name N`" => vec![
            &["streams", "list"],
            &["streams", "list", "--tenant", "acme", "--remote"],
            &["streams", "delete", "--tenant", "acme", "--name", "siem"],
        ],
        "`sebridge completions bash\\|zsh\\|fish` / `sebridge man [--dir DIR]`" => vec![
            &["completions", "bash"],
            &["completions", "zsh"],
            &["completions", "fish"],
            &["man"],
            &["man", "--dir", "/tmp/man1"],
        ],
        "`sebridge tail --tenant T [--stream NAME] [--json]`" => vec![
            &["tail", "--tenant", "acme"],
            &["tail", "--tenant", "acme", "--stream", "siem", "--json"],
        ],
        other => panic!("README documents {other} but this test has no concrete form for it: add one"),
    }
}

fn parse(args: &[&str]) -> Cli {
    let argv = std::iter::once("sebridge").chain(args.iter().copied());
    match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => panic!("`sebridge {}` is refused:\n{e}", args.join(" ")),
    }
}

#[test]
fn every_readme_form_parses_with_the_config_anywhere() {
    let forms = readme_forms();
    assert!(
        forms.len() >= 19,
        "CLI table not found in README: {forms:?}"
    );
    let mut checked = 0;
    for form in &forms {
        for args in concrete(form) {
            // The form as written (validate and run show `-c FILE` right after the command).
            let plain = parse(args);
            if std::env::var_os("SEBRIDGE_CONFIG").is_none() {
                assert_eq!(
                    plain.config,
                    Path::new("sebridge.toml"),
                    "default for {args:?}"
                );
            }
            if args[0] == "demo" {
                continue; // demo writes its own config
            }
            // Subcommand depth: `tenants list` has two words before its options.
            let depth = if matches!(args[0], "tenants" | "incidents" | "sinks" | "streams") {
                2
            } else {
                1
            };
            let positions = [0, 1, depth, args.len()];
            for at in positions {
                let mut with: Vec<&str> = args.to_vec();
                with.splice(at..at, ["-c", "/tmp/other.toml"]);
                let cli = parse(&with);
                assert_eq!(
                    cli.config,
                    Path::new("/tmp/other.toml"),
                    "`sebridge {}`",
                    with.join(" ")
                );
                // The long form too.
                let mut long: Vec<&str> = args.to_vec();
                long.splice(at..at, ["--config=/tmp/long.toml"]);
                assert_eq!(parse(&long).config, Path::new("/tmp/long.toml"), "{long:?}");
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "only {checked} forms checked");
}

#[test]
fn log_options_are_global_too() {
    let cli = parse(&["tenants", "list", "--log", "debug", "--log-format", "json"]);
    assert_eq!(cli.log.as_deref(), Some("debug"));
    assert!(matches!(cli.log_format, super::LogFormat::Json));
    let cli = parse(&["--log", "trace", "sinks", "status"]);
    assert_eq!(cli.log.as_deref(), Some("trace"));
}
