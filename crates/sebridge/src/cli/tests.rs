//! Every `sebridge` command the README shows parses: the rows of its CLI table, the commands
//! in its code blocks and in its text. Each synopsis is expanded (every alternative and every
//! optional part at least once, placeholders replaced by sample values), so a documented
//! form the program refuses cannot land; `-c FILE` is tried before the subcommand, right
//! after it and at the end. (The README's config snippets are validated by
//! `tests/it/readme.rs`, and its runnable commands run there.)

use super::Cli;
use clap::Parser;
use std::path::Path;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
        .unwrap_or_else(|e| panic!("README.md: {e}"))
}

/// Every `sebridge ...` synopsis of the README: inline code spans (table cells and text,
/// `/`-separated continuations such as "`remove NAME`" completed with the row's command)
/// and lines of code blocks (backslash continuations joined).
fn readme_commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    let mut block_line = String::new();
    let mut prose = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if !in_block {
            prose.push_str(line);
            prose.push('\n');
            continue;
        }
        let l = line.trim();
        let (part, more) = match l.strip_suffix('\\') {
            Some(p) => (p.trim(), true),
            None => (l, false),
        };
        block_line.push_str(part);
        block_line.push(' ');
        if !more {
            let cmd = block_line
                .split('#')
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            block_line.clear();
            if let Some(rest) = cmd.strip_prefix("cargo run --release -- ") {
                out.push(format!("sebridge {rest}"));
            } else if cmd.starts_with("sebridge ") {
                out.push(cmd);
            }
        }
    }
    // Inline spans (they may wrap across lines); in a table row, "`a` / `b`" continues the
    // command of `a`.
    let mut last_cmd: Option<String> = None;
    for (i, span) in prose.split('`').enumerate() {
        if i % 2 == 0 {
            if span.trim() != "/" {
                last_cmd = None;
            }
            continue;
        }
        let span = span.replace("\\|", "|").replace('\n', " ");
        if let Some(rest) = span.strip_prefix("sebridge ") {
            let first = rest.split_whitespace().next();
            last_cmd = first
                .filter(|w| {
                    matches!(
                        *w,
                        "tenants" | "incidents" | "sinks" | "streams" | "cluster" | "store"
                    )
                })
                .map(str::to_string);
            out.push(span.clone());
        } else if let Some(base) = &last_cmd {
            let first = span.split_whitespace().next().unwrap_or("");
            if !first.is_empty() && first.chars().all(|c| c.is_ascii_lowercase()) {
                out.push(format!("sebridge {base} {span}"));
            }
        }
    }
    // What follows a shell operator is not the command's.
    let out = out.into_iter().map(|c| {
        let end = [" > ", " >> ", " 2>", " && ", " ; "]
            .iter()
            .filter_map(|op| c.find(op))
            .min()
            .unwrap_or(c.len());
        c[..end].trim().to_string()
    });
    let mut out: Vec<String> = out
        .filter(|c| !c.contains("sebridge-sim") && c != "sebridge" && !c.contains('…'))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A synopsis as a tree: words, `[optional]`, `(a | b)` alternatives of groups (spaced),
/// `a|b` alternatives of one word (unspaced), `...`.
#[derive(Clone, Debug)]
enum Part {
    Word(String),
    Optional(Vec<Vec<Part>>),
    Choice(Vec<Vec<Part>>),
}

/// The group separator: a `|` with spaces around it.
const GROUP: &str = "\u{a6}";

fn tokens(s: &str) -> Vec<String> {
    let s = s.replace(" | ", " \u{a6} ");
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '[' | ']' | '(' | ')' | '\u{a6}' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(c.to_string());
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Alternatives up to the closing `close` (or the end).
fn alternatives(t: &[String], i: &mut usize, close: Option<&str>) -> Vec<Vec<Part>> {
    let mut alts = vec![Vec::new()];
    while *i < t.len() {
        let tok = t[*i].as_str();
        *i += 1;
        match tok {
            "[" => {
                let inner = alternatives(t, i, Some("]"));
                alts.last_mut().unwrap().push(Part::Optional(inner));
            }
            "(" => {
                let inner = alternatives(t, i, Some(")"));
                alts.last_mut().unwrap().push(Part::Choice(inner));
            }
            GROUP => alts.push(Vec::new()),
            t if Some(t) == close => return alts,
            "..." => {}
            w => {
                let w = w.trim_end_matches("...");
                let part = if w.contains('|') {
                    Part::Choice(
                        w.split('|')
                            .map(|a| vec![Part::Word(a.to_string())])
                            .collect(),
                    )
                } else {
                    Part::Word(w.to_string())
                };
                alts.last_mut().unwrap().push(part);
            }
        }
    }
    alts
}

/// Every variant of a sequence (capped): each optional part absent and present, each
/// alternative taken.
fn variants(seq: &[Part]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = vec![Vec::new()];
    for p in seq {
        let options: Vec<Vec<String>> = match p {
            Part::Word(w) => vec![vec![w.clone()]],
            Part::Optional(alts) => {
                let mut v = vec![Vec::new()];
                v.extend(alts.iter().flat_map(|a| variants(a)));
                v
            }
            Part::Choice(alts) => alts.iter().flat_map(|a| variants(a)).collect(),
        };
        let mut next = Vec::new();
        for prefix in &out {
            for o in &options {
                let mut v = prefix.clone();
                v.extend(o.iter().cloned());
                next.push(v);
            }
        }
        next.truncate(256);
        out = next;
    }
    out
}

/// A sample value for a placeholder (an all-capitals word), given the flag before it.
fn sample(word: &str, flag: Option<&str>) -> String {
    let is_placeholder = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if let Some(p) = word.strip_prefix("sqlite:") {
        return format!("sqlite:{}", if p == "PATH" { "x.db" } else { p });
    }
    if word == "postgres://..." {
        return "postgres://h/db".into();
    }
    // A shell variable the user's shell expands.
    if let Some(var) = word.trim_matches('"').strip_prefix('$') {
        return match var {
            v if v.ends_with("DATABASE_URL") => "postgres://h/db".into(),
            v => panic!("no sample value for the README's shell variable ${v}: add one"),
        };
    }
    if !is_placeholder {
        return word.to_string();
    }
    match (word, flag) {
        (_, Some("--region")) => "eu",
        (_, Some("--base-url")) => "http://127.0.0.1:1",
        ("FILE", _) => "/tmp/x.toml",
        ("SECS" | "D" | "DURATION", _) => "30s",
        ("ADDR", _) => "127.0.0.1:8686",
        ("N" | "SEQ", _) => "5",
        ("RFC3339", _) => "2024-05-01T00:00:00Z",
        ("TIME", _) => "2h",
        ("ID" | "INCIDENT", _) => "7",
        ("VAR", _) => "ACME_KEY",
        ("T" | "NAME", _) => "acme",
        ("SINK", _) => "out",
        ("G" | "GUID", _) => "b077d6bc-bbdf-42f7-8838-a06053fbd98a",
        ("C", _) => "Solved",
        ("DIR", _) => "/tmp/man1",
        ("S", _) => "s",
        ("INC0010001", _) => "INC0010001",
        (w, _) => panic!("no sample value for the README placeholder {w}: add one"),
    }
    .to_string()
}

/// The argument lists (without `sebridge`) a README synopsis stands for.
fn expand(synopsis: &str) -> Vec<Vec<String>> {
    let rest = synopsis.strip_prefix("sebridge ").unwrap_or(synopsis);
    let t = tokens(rest);
    let mut i = 0;
    let alts = alternatives(&t, &mut i, None);
    alts.iter()
        .flat_map(|a| variants(a))
        .map(|words| {
            let mut args = Vec::new();
            for (k, w) in words.iter().enumerate() {
                let flag = k
                    .checked_sub(1)
                    .and_then(|j| words.get(j))
                    .map(String::as_str)
                    .filter(|f| f.starts_with("--"));
                args.push(sample(w, flag));
            }
            args
        })
        .collect()
}

fn parse(args: &[&str]) -> Result<Cli, String> {
    let argv = std::iter::once("sebridge").chain(args.iter().copied());
    Cli::try_parse_from(argv).map_err(|e| e.to_string())
}

/// A command named in the text ("`sebridge tenants add` stores a tenant"), not shown with
/// its arguments: it must name a real subcommand, whose required options are then missing.
fn is_reference(args: &[&str]) -> bool {
    args.iter().all(|a| !a.starts_with('-'))
        && Cli::try_parse_from(std::iter::once("sebridge").chain(args.iter().copied()))
            .is_err_and(|e| e.kind() == clap::error::ErrorKind::MissingRequiredArgument)
}

#[test]
fn the_synopsis_expander_covers_alternatives_and_options() {
    let v = expand("sebridge replay --consumer SINK (--since RFC3339 | --from-seq N) [--deliver]");
    assert_eq!(v.len(), 4, "{v:?}");
    assert!(v.contains(
        &[
            "replay",
            "--consumer",
            "out",
            "--from-seq",
            "5",
            "--deliver"
        ]
        .map(String::from)
        .to_vec()
    ));
    let v = expand("sebridge events --tenant T [--since 2h|RFC3339] [--type ID|NAME]...");
    assert!(v.iter().any(|a| a.contains(&"2h".to_string())), "{v:?}");
    assert!(
        v.iter()
            .any(|a| a.contains(&"2024-05-01T00:00:00Z".to_string())),
        "{v:?}"
    );
    let cmds = readme_commands("| `sebridge tenants list` / `remove NAME` / `test [NAME]` | x |\n");
    assert_eq!(
        cmds,
        [
            "sebridge tenants list",
            "sebridge tenants remove NAME",
            "sebridge tenants test [NAME]"
        ]
    );
}

#[test]
fn every_readme_command_parses_with_the_config_anywhere() {
    let commands = readme_commands(&readme());
    assert!(
        commands.len() >= 30,
        "README commands not found: {commands:#?}"
    );
    let mut checked = 0;
    let mut refused = Vec::new();
    for synopsis in &commands {
        for args in expand(synopsis) {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            if is_reference(&args) {
                checked += 1;
                continue;
            }
            if let Err(e) = parse(&args) {
                refused.push(format!(
                    "`{synopsis}` as `sebridge {}`:\n{e}",
                    args.join(" ")
                ));
                continue;
            }
            if args[0] == "demo" || args.iter().any(|a| *a == "-c" || a.starts_with("--config")) {
                checked += 1;
                continue; // demo writes its own config; a form with -c has its own
            }
            // Subcommand depth: `tenants list` has two words before its options.
            let depth = if matches!(
                args[0],
                "tenants" | "incidents" | "sinks" | "streams" | "cluster" | "store"
            ) {
                2
            } else {
                1
            };
            for at in [0, 1, depth.min(args.len()), args.len()] {
                let mut with: Vec<&str> = args.clone();
                with.splice(at..at, ["-c", "/tmp/other.toml"]);
                match parse(&with) {
                    Ok(cli) => assert_eq!(cli.config, Path::new("/tmp/other.toml"), "{with:?}"),
                    Err(e) => refused.push(format!("`sebridge {}`:\n{e}", with.join(" "))),
                }
                checked += 1;
            }
        }
    }
    assert!(
        refused.is_empty(),
        "README forms refused:\n{}",
        refused.join("\n")
    );
    assert!(checked > 150, "only {checked} forms checked");
}

#[test]
fn log_options_are_global_too() {
    let cli = parse(&["tenants", "list", "--log", "debug", "--log-format", "json"]).unwrap();
    assert_eq!(cli.log.as_deref(), Some("debug"));
    assert!(matches!(cli.log_format, super::LogFormat::Json));
    let cli = parse(&["--log", "trace", "sinks", "status"]).unwrap();
    assert_eq!(cli.log.as_deref(), Some("trace"));
}

#[test]
fn every_flag_and_argument_has_help() {
    use clap::CommandFactory;
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for a in cmd.get_arguments() {
            let id = a.get_id().as_str();
            if matches!(id, "help" | "version") {
                continue;
            }
            if a.get_help().is_none() && a.get_long_help().is_none() {
                missing.push(format!("{path} {id}"));
            }
        }
        for sub in cmd.get_subcommands() {
            if sub.get_about().is_none() && sub.get_name() != "help" {
                missing.push(format!("{path} {} (no about)", sub.get_name()));
            }
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let mut missing = Vec::new();
    walk(&Cli::command(), "sebridge", &mut missing);
    assert!(
        missing.is_empty(),
        "options without help text:\n{}",
        missing.join("\n")
    );
}
