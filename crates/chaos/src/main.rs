//! `scripts/chaos [--long]` (or `cargo run -p chaos -- ...` with a built `sebridge`): crash
//! loops and a fault matrix against the real `sebridge` binary, the simulator (in this
//! process: the ground truth), the real RabbitMQ and the real PostgreSQL. Prints a Markdown
//! report; exits 1 when any scenario lost an event or made a duplicate.

mod check;
mod crash;
mod faults;
mod proxy;
mod replica;
mod report;
mod settle;
mod world;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "chaos", about = "Crash loops and a fault matrix for sebridge")]
struct Cli {
    /// The long mode, for BENCHMARKS.md: 120,000 events and 50 kills, 60 s outages.
    #[arg(long)]
    long: bool,
    /// SIGKILLs of the crash loop (default 12, or 50 with --long).
    #[arg(long)]
    kills: Option<usize>,
    /// Events of the crash loop over its 3 tenants (default 12,000, or 120,000 with --long).
    #[arg(long)]
    events: Option<usize>,
    /// How long each outage of the fault matrix lasts (default 5s, or 60s with --long).
    #[arg(long, value_parser = parse_secs)]
    outage: Option<std::time::Duration>,
    /// Run only these parts, comma-separated: `crash`, `faults` (every row), or rows by name:
    /// api-errors, postgres-sink-down, hec-down, elasticsearch-down, servicenow-xdr-down,
    /// disk-full, broker.
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// The sebridge binary (default: `sebridge` beside this one).
    #[arg(long)]
    sebridge: Option<PathBuf>,
    /// Where scenarios keep their files (default: a new directory under target/chaos).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Also write the report to this file.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Seed of the simulator's data and of the kill moments (default: random, printed).
    #[arg(long)]
    seed: Option<u64>,
}

fn parse_secs(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim().trim_end_matches('s');
    t.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .map(std::time::Duration::from_secs_f64)
        .ok_or_else(|| format!("{s:?} is not a number of seconds like \"60s\""))
}

fn default_bin() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe().context("cannot find this program's path")?;
    let bin = me.with_file_name("sebridge");
    anyhow::ensure!(
        bin.is_file(),
        "no sebridge binary at {} (build it, or pass --sebridge PATH)",
        bin.display()
    );
    Ok(bin)
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("chaos: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<bool> {
    let bin = match &cli.sebridge {
        Some(b) => b.clone(),
        None => default_bin()?,
    };
    let seed = cli.seed.unwrap_or_else(rand::random);
    let dir = match &cli.dir {
        Some(d) => d.clone(),
        None => std::env::current_dir()?
            .join("target/chaos")
            .join(format!("run-{seed}")),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let wanted = |name: &str| {
        cli.only.as_ref().is_none_or(|o| {
            o.iter()
                .any(|n| n == name || (n == "faults" && name != "crash"))
        })
    };
    let mode = if cli.long { "long" } else { "short" };
    eprintln!(
        "chaos ({mode} mode, seed {seed}): files in {}",
        dir.display()
    );
    let mut report = report::Report::new(mode, seed, &bin);
    if wanted("crash") {
        let spec = crash::CrashSpec {
            kills: cli.kills.unwrap_or(if cli.long { 50 } else { 12 }),
            events: cli
                .events
                .unwrap_or(if cli.long { 120_000 } else { 12_000 }),
            seed,
        };
        eprintln!("crash loop: {} events, {} kills", spec.events, spec.kills);
        let r = crash::run(&dir.join("crash"), &bin, &spec, true).await?;
        report.crash(&r);
    }
    let outage = cli
        .outage
        .unwrap_or(std::time::Duration::from_secs(if cli.long {
            60
        } else {
            5
        }));
    for row in faults::ROWS {
        if !wanted(row.name) {
            continue;
        }
        eprintln!("fault: {}", row.name);
        let r = faults::run(row, &dir.join(row.name), &bin, outage, seed).await?;
        report.fault(&r);
    }
    let text = report.render();
    println!("{text}");
    if let Some(p) = &cli.report {
        std::fs::write(p, &text).with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(report.ok())
}
