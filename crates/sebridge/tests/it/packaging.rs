//! What packages ship: shell completions and manual pages generated from the CLI, the
//! hardened systemd unit (checked by systemd's own analyser), the container image's
//! Dockerfile, and the packaged configs (valid, and writing only to the state directory).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sebridge() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sebridge"));
    c.env_remove("SEBRIDGE_MASTER_KEY")
        .env("SEBRIDGE_LOG", "warn");
    c
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The subcommands `sebridge --help` lists (the hidden `demo` of a lean build aside).
fn subcommands() -> Vec<String> {
    let help = stdout(&sebridge().arg("--help").output().expect("runs"));
    let mut names = Vec::new();
    let mut inside = false;
    for line in help.lines() {
        if line.starts_with("Commands:") {
            inside = true;
            continue;
        }
        if inside {
            let Some(name) = line
                .strip_prefix("  ")
                .and_then(|l| l.split_whitespace().next())
            else {
                break;
            };
            if name != "help" {
                names.push(name.to_string());
            }
        }
    }
    assert!(names.len() > 10, "subcommands found in --help: {names:?}");
    names
}

#[test]
fn completions_cover_every_subcommand_and_bash_parses_them() {
    let names = subcommands();
    for shell in ["bash", "zsh", "fish"] {
        let script = stdout(
            &sebridge()
                .args(["completions", shell])
                .output()
                .expect("runs"),
        );
        for n in &names {
            assert!(script.contains(n.as_str()), "{shell} completion lacks {n}");
        }
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("sebridge.bash");
    let script = sebridge()
        .args(["completions", "bash"])
        .output()
        .expect("runs");
    std::fs::write(&path, &script.stdout).expect("written");
    let check = Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .expect("bash runs");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let bad = sebridge()
        .args(["completions", "tcsh"])
        .output()
        .expect("runs");
    assert_eq!(
        bad.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn the_manual_pages_document_every_subcommand() {
    let page = stdout(&sebridge().arg("man").output().expect("runs"));
    assert!(page.contains(".TH sebridge 1"), "{page}");
    let names = subcommands();
    for n in &names {
        // roff escapes the hyphen of `event-types`.
        let roff = n.replace('-', "\\-");
        assert!(page.contains(&roff), "sebridge(1) lacks {n}");
    }
    let dir = tempfile::tempdir().expect("dir");
    stdout(
        &sebridge()
            .args(["man", "--dir"])
            .arg(dir.path())
            .output()
            .expect("runs"),
    );
    for n in &names {
        let sub = dir.path().join(format!("sebridge-{n}.1"));
        let text = std::fs::read_to_string(&sub).unwrap_or_else(|e| panic!("{sub:?}: {e}"));
        assert!(text.contains(".TH sebridge-"), "{sub:?}");
    }
    let run = std::fs::read_to_string(dir.path().join("sebridge-run.1")).expect("run page");
    assert!(
        run.contains("until\\-idle"),
        "options are documented: {run}"
    );
}

/// The unit with its binary pointed at the one under test (systemd checks it exists).
fn unit_under_test(dir: &Path) -> PathBuf {
    let unit = std::fs::read_to_string(repo().join("packaging/systemd/sebridge.service"))
        .expect("unit file");
    for d in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "StateDirectory=sebridge",
        "NoNewPrivileges=yes",
        "KillSignal=SIGTERM",
    ] {
        assert!(unit.lines().any(|l| l == d), "the unit lacks {d}");
    }
    let path = dir.join("sebridge.service");
    std::fs::write(
        &path,
        unit.replace("/usr/bin/sebridge", env!("CARGO_BIN_EXE_sebridge")),
    )
    .expect("unit written");
    path
}

fn systemd_analyze(args: &[&str], unit: &Path) -> Output {
    Command::new("systemd-analyze")
        .args(args)
        .arg(unit)
        .output()
        .expect("systemd-analyze runs (scripts/test installs systemd when missing)")
}

#[test]
fn the_systemd_unit_is_valid_and_hardened() {
    let dir = tempfile::tempdir().expect("dir");
    let unit = unit_under_test(dir.path());
    let verify = systemd_analyze(&["verify", "--man=no"], &unit);
    assert!(
        verify.status.success(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    // Exposure on systemd's 0-100 scale (printed as 0.0-10.0): 15 is well inside "OK".
    let security = systemd_analyze(
        &["security", "--offline=true", "--threshold=15", "--no-pager"],
        &unit,
    );
    let report = String::from_utf8_lossy(&security.stdout);
    assert!(security.status.success(), "exposure over 1.5:\n{report}");
    assert!(report.contains("Overall exposure level"), "{report}");
}

#[test]
fn the_packaged_configs_are_valid_and_write_only_to_the_state_directory() {
    for file in [
        "packaging/systemd/sebridge.toml",
        "packaging/docker/sebridge.toml",
    ] {
        let path = repo().join(file);
        let out = sebridge()
            .args(["validate", "-c"])
            .arg(&path)
            .env("ACME_CLIENT_ID", "0123456789abcdef0123")
            .env("ACME_API_KEY", "00000000-0000-0000-0000-000000000000")
            .output()
            .expect("runs");
        let text = stdout(&out);
        assert!(text.contains("OK"), "{file}: {text}");
        let v: toml::Table =
            toml::from_str(&std::fs::read_to_string(&path).expect("config")).expect("TOML");
        let mut written = vec![
            v["store"]["path"].as_str().expect("store path").to_string(),
            v["secrets"]["key_file"]
                .as_str()
                .expect("key file")
                .to_string(),
        ];
        for sink in v["sinks"].as_table().expect("sinks").values() {
            if let Some(p) = sink.get("path").and_then(|p| p.as_str()) {
                written.push(p.to_string());
            }
        }
        for p in written {
            assert!(p.starts_with("/var/lib/sebridge/"), "{file}: {p}");
        }
    }
}

#[test]
fn the_dockerfile_builds_the_lean_binary_and_runs_it_unprivileged() {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).expect("Dockerfile");
    let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert!(froms.len() >= 2, "multi-stage: {froms:?}");
    let build = text
        .lines()
        .find(|l| l.contains("cargo build"))
        .expect("a cargo build step");
    for flag in [
        "--release",
        "--locked",
        "--no-default-features",
        "--bin sebridge",
    ] {
        assert!(build.contains(flag), "the build step lacks {flag}: {build}");
    }
    let user = text
        .lines()
        .rfind(|l| l.starts_with("USER "))
        .expect("a USER in the final stage");
    let uid = user[5..].split(':').next().unwrap_or("");
    assert!(uid != "root" && uid != "0", "{user}");
    // What it copies from the build context exists, and the port it exposes is the one the
    // image's config listens on.
    for line in text
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let src = line.split_whitespace().nth(1).expect("source");
        if src != "." {
            assert!(repo().join(src).exists(), "{line}");
        }
    }
    let config =
        std::fs::read_to_string(repo().join("packaging/docker/sebridge.toml")).expect("config");
    let port = text
        .lines()
        .find_map(|l| l.strip_prefix("EXPOSE "))
        .expect("EXPOSE")
        .trim();
    assert!(
        config.contains(&format!("listen = \"0.0.0.0:{port}\"")),
        "the image's config listens on the exposed port"
    );
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).expect(".dockerignore");
    assert!(
        ignore.lines().any(|l| l.trim() == "target/"),
        "the build context leaves target/ out"
    );
}
