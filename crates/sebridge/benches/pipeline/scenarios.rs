//! The two scenarios. Each starts one simulator, then runs sebridge `--runs` times against
//! it, every run with a fresh store and output file; figures are medians over the runs.

use crate::baseline::{self, BaselineMeasure};
use crate::config::{Config, API_PAGE};
use crate::options::{Options, Scenario};
use crate::output::{self, Checked};
use crate::process::{self, RunMeasure, SimArgs, SimStats, Simulator};
use crate::report::{mb, secs, Row, Section};
use crate::Paths;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Poll interval set in the config for both scenarios.
const INTERVAL: &str = "60s";
const RSS_TARGET: u64 = 200_000_000;
const THROUGHPUT_TARGET: f64 = 50_000.0;

/// A fresh working directory.
fn fresh_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

/// Removes the large files of a run (journal, outputs) unless `--keep`; logs stay.
fn cleanup(dir: &Path, keep: bool) {
    if keep {
        return;
    }
    for name in [
        "sebridge.db",
        "sebridge.db-wal",
        "sebridge.db-shm",
        "events.jsonl",
        "baseline.jsonl",
    ] {
        let _ = std::fs::remove_file(dir.join(name));
    }
}

pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The median of some values (mean of the middle two for an even count).
fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// "X" for one run, "median X (runs: a, b, c)" for several.
fn series(values: &[f64], fmt: impl Fn(f64) -> String) -> String {
    if values.len() == 1 {
        return fmt(values[0]);
    }
    let all: Vec<String> = values.iter().map(|v| fmt(*v)).collect();
    format!("median {} (runs: {})", fmt(median(values)), all.join(", "))
}

/// When the source committed its last page, from the sebridge log (the time of the last
/// "journaled events" line), relative to `start`.
fn journal_done(log: &Path, start: SystemTime) -> Option<Duration> {
    let text = std::fs::read_to_string(log).ok()?;
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains("journaled events"))?;
    let stamp = strip_ansi(line.split_whitespace().next()?);
    let t =
        time::OffsetDateTime::parse(&stamp, &time::format_description::well_known::Rfc3339).ok()?;
    Duration::try_from(t - time::OffsetDateTime::from(start)).ok()
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// One sebridge run and what it left behind.
struct Attempt {
    /// With `--quiet-wait`: the others' load (cores) just before the run, and whether it was
    /// below the threshold.
    quiet: Option<(f64, bool)>,
    run: RunMeasure,
    stats: SimStats,
    checked: Checked,
    journal_done: Option<Duration>,
}

/// The simulator, its config, and the scenario's directory.
struct Setup {
    sim: Simulator,
    config: Config,
    dir: PathBuf,
}

fn start(opts: &Options, paths: &Paths, name: &str, sim_args: &SimArgs) -> Result<Setup> {
    let dir = paths.runs.join(name);
    fresh_dir(&dir)?;
    let sim = Simulator::start(&paths.simulator, &dir, sim_args)?;
    eprintln!(
        "simulator ready at {} after {}",
        sim.base_url,
        secs(sim.startup)
    );
    let mut config = Config::load(&sim.config_path)?;
    config.set("sources.poll.interval", &format!("\"{INTERVAL}\""))?;
    for (k, v) in &opts.overrides {
        config
            .set(k, v)
            .with_context(|| format!("applying --set {k}={v}"))?;
    }
    config.save()?;
    Ok(Setup { sim, config, dir })
}

/// Threshold of `--quiet-wait`, in cores used by other processes.
const QUIET_CORES: f64 = 0.25;

fn quiet_before_run(opts: &Options, sim: &Simulator) -> Option<(f64, bool)> {
    if opts.quiet_wait.is_zero() {
        return None;
    }
    let (load, ok) = process::wait_for_quiet(sim.guard.id(), QUIET_CORES, opts.quiet_wait);
    if !ok {
        eprintln!("the machine is still busy ({load:.2} cores used by others); measuring anyway");
    }
    Some((load, ok))
}

/// Runs sebridge `opts.runs` times, each in `DIR/run-N` with a fresh store and output.
fn attempts(
    opts: &Options,
    paths: &Paths,
    setup: &mut Setup,
    expected: u64,
) -> Result<Vec<Attempt>> {
    let mut out = Vec::new();
    for i in 1..=opts.runs {
        let dir = setup.dir.join(format!("run-{i}"));
        fresh_dir(&dir)?;
        let output = dir.join("events.jsonl");
        setup
            .config
            .set_str("store.path", &dir.join("sebridge.db").to_string_lossy())?;
        setup
            .config
            .set_str("sinks.file.path", &output.to_string_lossy())?;
        setup.config.save_as(&dir.join("sebridge.toml"))?;
        let quiet = quiet_before_run(opts, &setup.sim);
        eprintln!(
            "run {i}/{}: sebridge, expecting {} lines...",
            opts.runs,
            thousands(expected)
        );
        let before = setup.sim.stats()?;
        let started = SystemTime::now();
        let run = process::run_sebridge(
            &paths.sebridge,
            &setup.config.path,
            &output,
            expected,
            opts.idle,
            opts.timeout,
            setup.sim.guard.id(),
        )?;
        let stats = setup.sim.stats()?.since(before);
        let checked = output::check(&output)?;
        eprintln!(
            "run {i}/{}: all lines after {}, exit after {}",
            opts.runs,
            run.complete_after.map_or("-".into(), secs),
            secs(run.exited_after)
        );
        out.push(Attempt {
            quiet,
            journal_done: journal_done(&run.log, started),
            run,
            stats,
            checked,
        });
        cleanup(&dir, opts.keep);
    }
    Ok(out)
}

/// Rows every scenario has: exit, journal time, RSS, output checks, CPU.
fn common_rows(rows: &mut Vec<Row>, attempts: &[Attempt], expected: u64, rss_target: Option<u64>) {
    let done: Vec<f64> = attempts
        .iter()
        .filter_map(|a| a.journal_done.map(|d| d.as_secs_f64()))
        .collect();
    if done.len() == attempts.len() {
        rows.push(Row::info(
            "last page journaled (from the sebridge log)",
            series(&done, |v| format!("{v:.2} s")),
        ));
    }

    let bad_exit: Vec<String> = attempts
        .iter()
        .enumerate()
        .filter_map(|(i, a)| match (&a.run.status, a.run.timed_out) {
            (_, true) => Some(format!(
                "run {}: killed after {} (timeout)",
                i + 1,
                secs(a.run.exited_after)
            )),
            (Some(s), _) if s.success() => None,
            (Some(s), _) => Some(format!("run {}: {s} (see {})", i + 1, a.run.log.display())),
            (None, _) => Some(format!("run {}: unknown", i + 1)),
        })
        .collect();
    let exits: Vec<f64> = attempts
        .iter()
        .map(|a| a.run.exited_after.as_secs_f64())
        .collect();
    rows.push(Row::check(
        bad_exit.is_empty(),
        "sebridge exit",
        if bad_exit.is_empty() {
            format!(
                "0, after {} (includes the idle wait)",
                series(&exits, |v| format!("{v:.2} s"))
            )
        } else {
            bad_exit.join("; ")
        },
        "exits 0 by itself",
    ));

    let peak = attempts.iter().filter_map(|a| a.run.peak_rss).max();
    let measured_all = attempts.iter().all(|a| a.run.peak_rss.is_some());
    let value = match peak {
        Some(b) if attempts.len() > 1 => format!("{} (highest of the runs)", mb(b)),
        Some(b) => mb(b),
        None => "not measured".into(),
    };
    match rss_target {
        Some(t) => rows.push(Row::target(
            measured_all && peak.is_some_and(|p| p <= t),
            "sebridge peak RSS (VmHWM)",
            value,
            &format!("≤ {}", mb(t)),
        )),
        None => rows.push(Row::info("sebridge peak RSS (VmHWM)", value)),
    }

    for (i, a) in attempts.iter().enumerate() {
        let c = &a.checked;
        let what = if attempts.len() > 1 {
            format!("file sink output, run {}", i + 1)
        } else {
            "file sink output".to_string()
        };
        rows.push(output_row(&what, c, expected));
    }

    let cpu = |f: fn(&Attempt) -> Option<Duration>| -> Option<Vec<f64>> {
        attempts
            .iter()
            .map(|a| f(a).map(|d| d.as_secs_f64()))
            .collect()
    };
    if let (Some(seb), Some(sim), Some(other)) = (
        cpu(|a| a.run.cpu.sebridge),
        cpu(|a| a.run.cpu.simulator),
        cpu(|a| a.run.cpu.others),
    ) {
        rows.push(Row::info(
            "sebridge CPU per event",
            series(&seb, |v| format!("{:.1} µs", v * 1e6 / expected as f64)),
        ));
        rows.push(Row::info(
            "CPU time (user+sys): sebridge / simulator / other processes on the machine",
            format!(
                "{} / {} / {}",
                series(&seb, |v| format!("{v:.1} s")),
                series(&sim, |v| format!("{v:.1} s")),
                series(&other, |v| format!("{v:.1} s")),
            ),
        ));
    }
}

fn output_row(what: &str, checked: &Checked, expected: u64) -> Row {
    let value = format!(
        "{} lines, {} distinct{} ({})",
        thousands(checked.lines),
        thousands(checked.distinct),
        if checked.torn { ", last line torn" } else { "" },
        mb(checked.bytes)
    );
    let target = format!("exactly {} distinct lines", thousands(expected));
    Row::check(checked.is_exactly(expected), what, value, &target)
}

/// Notes about a busy machine: other processes' CPU per second of run.
fn load_note(attempts: &[Attempt]) -> Option<String> {
    let waited: Vec<String> = attempts
        .iter()
        .filter_map(|a| a.quiet)
        .map(|(load, ok)| format!("{load:.2}{}", if ok { "" } else { " (still busy)" }))
        .collect();
    let waited = if waited.is_empty() {
        String::new()
    } else {
        format!(
            " Load of other processes just before each run (cores, after `--quiet-wait`): {}.",
            waited.join(", ")
        )
    };
    let worst = attempts
        .iter()
        .filter_map(|a| {
            let others = a.run.cpu.others?.as_secs_f64();
            Some(others / a.run.exited_after.as_secs_f64())
        })
        .fold(0.0_f64, f64::max);
    if worst > 0.2 {
        Some(format!(
            "Other processes used up to {worst:.2} cores on average during a run: the machine \
             was not idle, so these figures are pessimistic.{waited}"
        ))
    } else if !waited.is_empty() {
        Some(waited.trim_start().to_string())
    } else {
        None
    }
}

fn describe_sim(args: &SimArgs, startup: Duration) -> String {
    format!(
        "`sebridge-sim --tenants {} --history {} --history-span {} --rate 0 --rate-limit 1000000 --seed 1` (ready after {}, not counted)",
        args.tenants,
        args.history,
        args.history_span,
        secs(startup)
    )
}

/// Scenario 1: many tenants, little history each, 60 s interval.
pub fn tenants(opts: &Options, paths: &Paths) -> Result<Section> {
    let (t, e) = (opts.tenants, opts.events_per_tenant);
    let expected = (t * e) as u64;
    let title = format!(
        "Scenario 1: {} tenants × {} events, {INTERVAL} poll interval → journal → file sink",
        thousands(t as u64),
        thousands(e as u64)
    );
    eprintln!("== {title}");
    let sim_args = SimArgs {
        tenants: t,
        history: e,
        history_span: "1h",
    };
    let mut setup = start(opts, paths, "tenants", &sim_args)?;
    let interval = setup.config.interval()?;
    let page = setup.config.page_size();
    let attempts = attempts(opts, paths, &mut setup, expected)?;
    setup.sim.guard.kill();

    let mut rows = Vec::new();
    let catch_up: Option<Vec<f64>> = attempts
        .iter()
        .map(|a| a.run.complete_after.map(|d| d.as_secs_f64()))
        .collect();
    let target = format!("≤ 2 intervals ({})", secs(interval * 2));
    let metric = "time to catch up (start → all lines in the file)";
    match catch_up {
        Some(c) => {
            let iv = interval.as_secs_f64();
            rows.push(Row::target(
                median(&c) <= 2.0 * iv,
                metric,
                series(&c, |v| format!("{v:.2} s = {:.3} intervals", v / iv)),
                &target,
            ));
            rows.push(Row::info(
                "events/s (catch-up)",
                series(&c, |v| format!("{:.0}", expected as f64 / v)),
            ));
        }
        None => rows.push(Row::target(
            false,
            metric,
            attempts
                .iter()
                .map(|a| {
                    format!(
                        "{} of {} lines",
                        thousands(a.run.lines),
                        thousands(expected)
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
            &target,
        )),
    }
    let min_requests = t as u64 * (e as u64).div_ceil(page);
    let requests: Vec<f64> = attempts
        .iter()
        .map(|a| a.stats.events_requests as f64)
        .collect();
    let worst = requests.iter().copied().fold(0.0, f64::max);
    rows.push(Row::target(
        worst <= 1.1 * min_requests as f64,
        "`/v1/events` requests (per run)",
        format!(
            "{} (minimum {}; {:.3}× at worst)",
            series(&requests, |v| thousands(v as u64)),
            thousands(min_requests),
            worst / min_requests as f64
        ),
        "≤ 1.1× minimum",
    ));
    let other: Vec<f64> = attempts
        .iter()
        .map(|a| (a.stats.requests - a.stats.events_requests) as f64)
        .collect();
    let limited: Vec<f64> = attempts
        .iter()
        .map(|a| (a.stats.rate_limited + a.stats.server_errors) as f64)
        .collect();
    rows.push(Row::info(
        "other API requests / 429s + 5xx (per run)",
        format!(
            "{} / {}",
            series(&other, |v| thousands(v as u64)),
            series(&limited, |v| thousands(v as u64))
        ),
    ));
    common_rows(&mut rows, &attempts, expected, Some(RSS_TARGET));

    let mut setup_lines = vec![
        describe_sim(&sim_args, setup.sim.startup),
        format!("`sebridge run -c sebridge.toml --until-idle {}`", opts.idle),
        setup.config.describe(),
        format!("work directory: `{}`", setup.dir.display()),
    ];
    setup_lines.extend(load_note(&attempts));
    Ok(Section::new(
        title,
        opts.command(Scenario::Tenants),
        setup_lines,
        rows,
        !opts.quick,
    ))
}

/// Scenario 2: one tenant, a large backfill, against a baseline client.
pub fn backfill(opts: &Options, paths: &Paths) -> Result<Section> {
    let n = opts.backfill_events;
    let expected = n as u64;
    let title = format!(
        "Scenario 2: one tenant, {} events backfilled → file sink",
        thousands(expected)
    );
    eprintln!("== {title}");
    let sim_args = SimArgs {
        tenants: 1,
        history: n,
        history_span: "24h",
    };
    let mut setup = start(opts, paths, "backfill", &sim_args)?;
    let page = setup.config.page_size();
    let attempts = attempts(opts, paths, &mut setup, expected)?;

    // The baseline, as many times, against the same simulator.
    let creds = setup.config.first_tenant()?;
    let mut base_runs: Vec<BaselineMeasure> = Vec::new();
    let mut base_checked: Option<Checked> = None;
    // (client, simulator) CPU seconds of each baseline run.
    let mut base_cpu: Vec<(f64, f64)> = Vec::new();
    for i in 1..=opts.runs {
        quiet_before_run(opts, &setup.sim);
        eprintln!("run {i}/{}: baseline client...", opts.runs);
        let out = setup.dir.join("baseline.jsonl");
        let sim_pid = setup.sim.guard.id().to_string();
        let before = (
            process::process_ticks("self"),
            process::process_ticks(&sim_pid),
        );
        let m = baseline::download(&creds, &out, API_PAGE as u32)?;
        let after = (
            process::process_ticks("self"),
            process::process_ticks(&sim_pid),
        );
        if let (Some(a), Some(b), Some(c), Some(d)) = (after.0, before.0, after.1, before.1) {
            base_cpu.push((
                process::ticks(a.saturating_sub(b)).as_secs_f64(),
                process::ticks(c.saturating_sub(d)).as_secs_f64(),
            ));
        }
        if m.events != expected {
            bail!(
                "the baseline downloaded {} events, expected {}",
                m.events,
                expected
            );
        }
        eprintln!("run {i}/{}: baseline took {}", opts.runs, secs(m.elapsed));
        if base_checked.is_none() {
            base_checked = Some(output::check(&out)?);
        }
        base_runs.push(m);
        cleanup(&setup.dir, opts.keep);
    }
    setup.sim.guard.kill();
    let base_checked = base_checked.context("no baseline run")?;

    let mut rows = Vec::new();
    let base_rates: Vec<f64> = base_runs
        .iter()
        .map(|m| expected as f64 / m.elapsed.as_secs_f64())
        .collect();
    let base_rate = median(&base_rates);
    let rates: Option<Vec<f64>> = attempts
        .iter()
        .map(|a| {
            a.run
                .complete_after
                .map(|d| expected as f64 / d.as_secs_f64())
        })
        .collect();
    let metric = "sebridge throughput (start → all lines in the file)";
    match &rates {
        Some(r) => {
            let times: Vec<f64> = attempts
                .iter()
                .filter_map(|a| a.run.complete_after.map(|d| d.as_secs_f64()))
                .collect();
            rows.push(Row::target(
                median(r) >= THROUGHPUT_TARGET,
                metric,
                format!(
                    "{} events/s ({} for {})",
                    series(r, |v| format!("{v:.0}")),
                    series(&times, |v| format!("{v:.2} s")),
                    thousands(expected)
                ),
                "≥ 50,000 events/s",
            ));
        }
        None => rows.push(Row::target(
            false,
            metric,
            attempts
                .iter()
                .map(|a| {
                    format!(
                        "{} of {} lines",
                        thousands(a.run.lines),
                        thousands(expected)
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
            "≥ 50,000 events/s",
        )),
    }
    let base_times: Vec<f64> = base_runs.iter().map(|m| m.elapsed.as_secs_f64()).collect();
    rows.push(Row::info(
        "baseline throughput (download → file, one fsync)",
        format!(
            "{} events/s ({} for {}, {} requests)",
            series(&base_rates, |v| format!("{v:.0}")),
            series(&base_times, |v| format!("{v:.2} s")),
            thousands(expected),
            thousands(base_runs[0].requests)
        ),
    ));
    if base_cpu.len() == base_runs.len() {
        let client: Vec<f64> = base_cpu.iter().map(|c| c.0).collect();
        let sim: Vec<f64> = base_cpu.iter().map(|c| c.1).collect();
        rows.push(Row::info(
            "baseline CPU time (user+sys): client / simulator",
            format!(
                "{} / {}",
                series(&client, |v| format!("{v:.1} s")),
                series(&sim, |v| format!("{v:.1} s"))
            ),
        ));
    }
    rows.push(Row::info(
        "sebridge / baseline (medians)",
        rates
            .as_ref()
            .map(|r| format!("{:.3}", median(r) / base_rate))
            .unwrap_or_else(|| "-".into()),
    ));
    let min_requests = expected.div_ceil(page);
    let requests: Vec<f64> = attempts
        .iter()
        .map(|a| a.stats.events_requests as f64)
        .collect();
    let limited: Vec<f64> = attempts
        .iter()
        .map(|a| (a.stats.rate_limited + a.stats.server_errors) as f64)
        .collect();
    rows.push(Row::info(
        "`/v1/events` requests by sebridge (per run) / 429s + 5xx",
        format!(
            "{} (minimum {}) / {}",
            series(&requests, |v| thousands(v as u64)),
            thousands(min_requests),
            series(&limited, |v| thousands(v as u64))
        ),
    ));
    common_rows(&mut rows, &attempts, expected, None);
    rows.push(output_row("baseline output", &base_checked, expected));
    let same = attempts
        .iter()
        .all(|a| a.checked.hashes == base_checked.hashes);
    rows.push(Row::check(
        same,
        "sebridge output = baseline output (as sets of lines)",
        if same { "yes" } else { "no" }.into(),
        "yes",
    ));

    let mut setup_lines = vec![
        describe_sim(&sim_args, setup.sim.startup),
        format!("`sebridge run -c sebridge.toml --until-idle {}`", opts.idle),
        setup.config.describe(),
        "baseline: in-process, one connection, `GET /v1/events?limit=500` then `metadata.links.next` (`offset=N`), each event's raw JSON + `\\n` appended through a 1 MiB buffer, one `fsync` at the end; run after sebridge against the same simulator".into(),
        format!("work directory: `{}`", setup.dir.display()),
    ];
    setup_lines.extend(load_note(&attempts));
    Ok(Section::new(
        title,
        opts.command(Scenario::Backfill),
        setup_lines,
        rows,
        !opts.quick,
    ))
}
