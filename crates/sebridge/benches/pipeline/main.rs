//! End-to-end pipeline benchmarks: `cargo bench -p sebridge --bench pipeline`.
//!
//! Runs the release binaries (`sebridge`, `sebridge-sim`) as separate processes, measures
//! catch-up time, API requests, peak RSS and throughput, checks the output, and prints a
//! Markdown report (also written to `target/bench-report.md`). See `BENCHMARKS.md`.
//!
//! ```text
//! cargo bench -p sebridge --bench pipeline                 # both scenarios, full scale
//! cargo bench -p sebridge --bench pipeline -- tenants      # scenario 1 only
//! cargo bench -p sebridge --bench pipeline -- backfill     # scenario 2 only
//! cargo bench -p sebridge --bench pipeline -- --quick      # small scale (smoke test)
//! cargo bench -p sebridge --bench pipeline -- --help       # every option
//! ```

mod baseline;
mod config;
mod options;
mod output;
mod process;
mod report;
mod scenarios;

use anyhow::{bail, Context, Result};
use options::Options;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

/// Where the binaries and the report live.
pub struct Paths {
    /// The workspace root (where `cargo build` is run if the binaries are missing).
    pub workspace: PathBuf,
    /// `target/`.
    pub target: PathBuf,
    pub sebridge: PathBuf,
    pub simulator: PathBuf,
    /// Per-scenario working directories (store, output file, logs).
    pub runs: PathBuf,
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        // Some target was missed or a check failed: the report says which.
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("pipeline bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool> {
    let opts = match Options::parse(std::env::args().skip(1))? {
        Some(o) => o,
        None => return Ok(true), // --help
    };
    let mut paths = locate()?;
    let given = [opts.sebridge_bin.is_some(), opts.simulator_bin.is_some()];
    let mut notes = prepare_binaries(&paths, opts.build, given)?;
    for (bin, slot) in [
        (&opts.sebridge_bin, &mut paths.sebridge),
        (&opts.simulator_bin, &mut paths.simulator),
    ] {
        if let Some(p) = bin {
            if !p.is_file() {
                bail!("{} does not exist", p.display());
            }
            *slot = p.clone();
        }
    }
    notes.extend(opts.notes());

    let mut rep = report::Report::new(&opts, &paths, notes);
    let mut all_ok = true;
    for scenario in &opts.scenarios {
        let result = match scenario {
            options::Scenario::Tenants => scenarios::tenants(&opts, &paths),
            options::Scenario::Backfill => scenarios::backfill(&opts, &paths),
        };
        match result {
            Ok(section) => {
                all_ok &= section.ok;
                rep.push(section);
            }
            Err(e) => {
                all_ok = false;
                eprintln!("scenario {} failed: {e:#}", scenario.name());
                rep.push_error(scenario.name(), &format!("{e:#}"));
            }
        }
    }
    let text = rep.render();
    println!("\n{text}");
    let out = paths.target.join("bench-report.md");
    std::fs::write(&out, &text).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("report written to {}", out.display());
    Ok(all_ok)
}

/// Finds `target/` from the bench executable (`target/release/deps/pipeline-HASH`), falling
/// back to `CARGO_TARGET_DIR` or the workspace's `target/`.
fn locate() -> Result<Paths> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .context("the bench's manifest directory has no workspace above it")?
        .to_path_buf();
    let from_exe = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(Path::to_path_buf))
        .filter(|t| t.join("CACHEDIR.TAG").exists() || t.join("release").is_dir());
    let target = match (from_exe, std::env::var_os("CARGO_TARGET_DIR")) {
        (Some(t), _) => t,
        (None, Some(t)) => PathBuf::from(t),
        (None, None) => workspace.join("target"),
    };
    let release = target.join("release");
    Ok(Paths {
        sebridge: release.join("sebridge"),
        simulator: release.join("sebridge-sim"),
        runs: target.join("bench-runs"),
        workspace,
        target,
    })
}

/// Builds the workspace's release binaries when one that is used is missing (or when asked),
/// and warns when one is older than its sources (changed since the last release build).
/// `given`: whether sebridge and the simulator come from the command line instead.
fn prepare_binaries(paths: &Paths, force: bool, given: [bool; 2]) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    let used = [(&paths.sebridge, !given[0]), (&paths.simulator, !given[1])];
    if used.iter().all(|(_, u)| !u) {
        return Ok(notes);
    }
    let missing = used.iter().any(|(b, u)| *u && !b.is_file());
    if missing || force {
        let why = if missing {
            "release binaries missing"
        } else {
            "--build given"
        };
        let msg = format!("{why}: running `cargo build --release -p sebridge -p simulator` once");
        eprintln!("{msg}");
        notes.push(msg);
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "--release", "-p", "sebridge", "-p", "simulator"])
            .current_dir(&paths.workspace)
            .status()
            .context("running cargo build --release")?;
        if !status.success() {
            bail!("cargo build --release -p sebridge -p simulator failed ({status})");
        }
    }
    for (bin, _) in used.iter().filter(|(_, u)| *u) {
        if !bin.is_file() {
            bail!("{} does not exist after the build", bin.display());
        }
    }
    // Each binary against the crates it is built from (cargo relinks a binary whenever one
    // of them changes, so an older binary means a build is due).
    let crates = paths.workspace.join("crates");
    let inputs: [(&PathBuf, &[&str]); 2] = [
        (
            &paths.sebridge,
            &["sebridge", "secure-endpoint", "simulator"],
        ),
        (&paths.simulator, &["simulator"]),
    ];
    for (bin, sources) in inputs {
        let Ok(built) = bin.metadata().and_then(|m| m.modified()) else {
            continue;
        };
        let newest = sources
            .iter()
            .filter_map(|c| newest_source(&crates.join(c)))
            .max_by_key(|(t, _)| *t);
        if let Some((_, file)) = newest.filter(|(t, _)| *t > built) {
            let msg = format!(
                "WARNING: {} is older than {} (changed since the last release build); these \
                 figures may not reflect the current code. Re-run with `-- --build`.",
                bin.display(),
                file.display()
            );
            eprintln!("{msg}");
            notes.push(msg);
        }
    }
    Ok(notes)
}

/// The newest `.rs` or `.sql` file under `dir` (skipping `benches/` and `tests/`, which do
/// not go into the binaries). Manifests are left out: editing one (say, to add a bench) does
/// not relink the binaries, so it would warn for nothing.
fn newest_source(dir: &Path) -> Option<(SystemTime, PathBuf)> {
    let mut newest: Option<(SystemTime, PathBuf)> = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                if !matches!(name.as_ref(), "benches" | "tests" | "target") {
                    stack.push(path);
                }
                continue;
            }
            if !(name.ends_with(".rs") || name.ends_with(".sql")) {
                continue;
            }
            if let Ok(modified) = entry.metadata().and_then(|m| m.modified()) {
                if newest.as_ref().is_none_or(|(t, _)| modified > *t) {
                    newest = Some((modified, path));
                }
            }
        }
    }
    newest
}
