//! Command line and environment: which scenarios, at what scale.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::time::Duration;

pub const USAGE: &str = "\
usage: cargo bench -p sebridge --bench pipeline -- [SCENARIO...] [OPTIONS]

Scenarios (default: all):
  tenants     1,000 tenants x 100 events, 60 s poll interval -> journal -> file sink
  backfill    one tenant, 1,000,000 events backfilled -> file sink, plus a baseline client

Options (each also settable by the environment variable shown):
  --quick                   small scale to smoke-test the bench       SEBRIDGE_BENCH_QUICK=1
  --tenants N               tenants in `tenants`                      SEBRIDGE_BENCH_TENANTS
  --events-per-tenant N     history per tenant in `tenants`           SEBRIDGE_BENCH_EVENTS_PER_TENANT
  --backfill-events N       history of the tenant in `backfill`       SEBRIDGE_BENCH_BACKFILL_EVENTS
  --runs N                  runs of sebridge (and of the baseline) per scenario, against
                            the same simulator; the report gives the median (default 1)
                                                                      SEBRIDGE_BENCH_RUNS
  --idle SECS               sebridge run --until-idle SECS (default 2) SEBRIDGE_BENCH_IDLE
  --timeout SECS            kill sebridge after this long (default 1800) SEBRIDGE_BENCH_TIMEOUT
  --quiet-wait SECS         before each measured run, wait up to SECS for other processes to
                            use < 0.25 cores (shared machines; default 0: do not wait)
                                                                      SEBRIDGE_BENCH_QUIET_WAIT
  --set KEY=VALUE           override a key of the generated sebridge config (dotted TOML path,
                            TOML value), e.g. --set sources.poll.concurrency=64
                            --set sinks.file.batch_size=5000  (repeatable)
  --sebridge PATH           use this sebridge binary instead of target/release/sebridge
                            (e.g. to compare two builds)              SEBRIDGE_BENCH_SEBRIDGE
  --simulator PATH          likewise for sebridge-sim                 SEBRIDGE_BENCH_SIMULATOR
  --keep                    keep the run directories' large files (journal, output)
  --build                   run `cargo build --release -p sebridge -p simulator` first
  -h, --help                this text

Scenarios, when given, can also come from SEBRIDGE_BENCH_SCENARIOS (comma-separated).
Command-line options win over the environment.";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    Tenants,
    Backfill,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Tenants => "tenants",
            Scenario::Backfill => "backfill",
        }
    }

    fn parse(s: &str) -> Result<Scenario> {
        match s.trim() {
            "tenants" | "1" => Ok(Scenario::Tenants),
            "backfill" | "2" => Ok(Scenario::Backfill),
            other => bail!("unknown scenario {other:?} (expected `tenants` or `backfill`)"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Options {
    pub scenarios: Vec<Scenario>,
    pub quick: bool,
    pub tenants: usize,
    pub events_per_tenant: usize,
    pub backfill_events: usize,
    pub runs: usize,
    pub idle: f64,
    pub timeout: Duration,
    pub quiet_wait: Duration,
    /// `(dotted.key, toml value)` overrides applied to the generated config.
    pub overrides: Vec<(String, String)>,
    pub keep: bool,
    pub build: bool,
    pub sebridge_bin: Option<PathBuf>,
    pub simulator_bin: Option<PathBuf>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn number<T: std::str::FromStr>(what: &str, v: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    v.trim()
        .parse::<T>()
        .map_err(|e| anyhow::anyhow!("{what}: {v:?} is not a valid number ({e})"))
}

fn split_override(v: &str) -> Result<(String, String)> {
    let (k, val) = v
        .split_once('=')
        .with_context(|| format!("--set {v:?}: expected KEY=VALUE"))?;
    let (k, val) = (k.trim(), val.trim());
    if k.is_empty() || val.is_empty() {
        bail!("--set {v:?}: expected KEY=VALUE");
    }
    Ok((k.to_string(), val.to_string()))
}

impl Options {
    /// `None` when `--help` was asked for (the usage is printed).
    pub fn parse(args: impl Iterator<Item = String>) -> Result<Option<Options>> {
        let mut scenarios = Vec::new();
        let mut quick = env("SEBRIDGE_BENCH_QUICK").is_some_and(|v| v != "0");
        let mut tenants = env("SEBRIDGE_BENCH_TENANTS");
        let mut per_tenant = env("SEBRIDGE_BENCH_EVENTS_PER_TENANT");
        let mut backfill = env("SEBRIDGE_BENCH_BACKFILL_EVENTS");
        let mut runs = env("SEBRIDGE_BENCH_RUNS");
        let mut idle = env("SEBRIDGE_BENCH_IDLE");
        let mut timeout = env("SEBRIDGE_BENCH_TIMEOUT");
        let mut quiet_wait = env("SEBRIDGE_BENCH_QUIET_WAIT");
        let mut overrides = Vec::new();
        let (mut keep, mut build) = (false, false);
        let mut sebridge_bin = env("SEBRIDGE_BENCH_SEBRIDGE").map(PathBuf::from);
        let mut simulator_bin = env("SEBRIDGE_BENCH_SIMULATOR").map(PathBuf::from);

        let mut args = args.peekable();
        while let Some(arg) = args.next() {
            // `--name=value` or `--name value`.
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let mut value = |name: &str| -> Result<String> {
                match inline.clone().or_else(|| args.next()) {
                    Some(v) => Ok(v),
                    None => bail!("{name} needs a value\n\n{USAGE}"),
                }
            };
            match name.as_str() {
                // `cargo bench` passes `--bench` to harness = false targets.
                "--bench" => {}
                "-h" | "--help" => {
                    println!("{USAGE}");
                    return Ok(None);
                }
                "--quick" => quick = true,
                "--keep" => keep = true,
                "--build" => build = true,
                "--tenants" => tenants = Some(value("--tenants")?),
                "--events-per-tenant" => per_tenant = Some(value("--events-per-tenant")?),
                "--backfill-events" => backfill = Some(value("--backfill-events")?),
                "--runs" => runs = Some(value("--runs")?),
                "--idle" => idle = Some(value("--idle")?),
                "--timeout" => timeout = Some(value("--timeout")?),
                "--quiet-wait" => quiet_wait = Some(value("--quiet-wait")?),
                "--set" => overrides.push(split_override(&value("--set")?)?),
                "--sebridge" => sebridge_bin = Some(value("--sebridge")?.into()),
                "--simulator" => simulator_bin = Some(value("--simulator")?.into()),
                s if s.starts_with('-') => bail!("unknown option {s:?}\n\n{USAGE}"),
                s => scenarios.push(Scenario::parse(s)?),
            }
        }
        if scenarios.is_empty() {
            if let Some(list) = env("SEBRIDGE_BENCH_SCENARIOS") {
                for s in list.split(',').filter(|s| !s.trim().is_empty()) {
                    scenarios.push(Scenario::parse(s)?);
                }
            }
        }
        if scenarios.is_empty() {
            scenarios = vec![Scenario::Tenants, Scenario::Backfill];
        }
        scenarios.dedup();

        let (def_tenants, def_per_tenant, def_backfill) = if quick {
            (50, 100, 20_000)
        } else {
            (1_000, 100, 1_000_000)
        };
        let positive = |what: &str, v: Option<String>, default: usize| -> Result<usize> {
            let n = match v {
                Some(v) => number::<usize>(what, &v)?,
                None => default,
            };
            if n == 0 {
                bail!("{what} must be at least 1");
            }
            Ok(n)
        };
        let idle = match idle {
            Some(v) => number::<f64>("--idle", &v)?,
            None => 2.0,
        };
        if !(idle.is_finite() && idle > 0.0) {
            bail!("--idle must be a positive number of seconds");
        }
        let timeout = match timeout {
            Some(v) => number::<u64>("--timeout", &v)?,
            None => 1800,
        };
        let quiet_wait = match quiet_wait {
            Some(v) => number::<u64>("--quiet-wait", &v)?,
            None => 0,
        };
        Ok(Some(Options {
            scenarios,
            quick,
            tenants: positive("--tenants", tenants, def_tenants)?,
            events_per_tenant: positive("--events-per-tenant", per_tenant, def_per_tenant)?,
            backfill_events: positive("--backfill-events", backfill, def_backfill)?,
            runs: positive("--runs", runs, 1)?,
            idle,
            timeout: Duration::from_secs(timeout.max(1)),
            quiet_wait: Duration::from_secs(quiet_wait),
            overrides,
            keep,
            build,
            sebridge_bin,
            simulator_bin,
        }))
    }

    /// Lines for the report about non-default settings.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.quick {
            notes.push("`--quick`: small scale, for smoke-testing the bench only; the targets are stated for the full scale.".into());
        }
        for (k, v) in &self.overrides {
            notes.push(format!("config override: `{k} = {v}`"));
        }
        if let Some(p) = &self.sebridge_bin {
            notes.push(format!("sebridge binary given: `{}`", p.display()));
        }
        if let Some(p) = &self.simulator_bin {
            notes.push(format!("simulator binary given: `{}`", p.display()));
        }
        notes
    }

    /// The arguments that reproduce this run, for the report.
    pub fn command(&self, scenario: Scenario) -> String {
        let mut cmd = format!(
            "cargo bench -p sebridge --bench pipeline -- {}",
            scenario.name()
        );
        if self.quick {
            cmd.push_str(" --quick");
        }
        let (t, e, b) = if self.quick {
            (50, 100, 20_000)
        } else {
            (1_000, 100, 1_000_000)
        };
        match scenario {
            Scenario::Tenants => {
                if self.tenants != t {
                    cmd.push_str(&format!(" --tenants {}", self.tenants));
                }
                if self.events_per_tenant != e {
                    cmd.push_str(&format!(" --events-per-tenant {}", self.events_per_tenant));
                }
            }
            Scenario::Backfill => {
                if self.backfill_events != b {
                    cmd.push_str(&format!(" --backfill-events {}", self.backfill_events));
                }
            }
        }
        if self.runs != 1 {
            cmd.push_str(&format!(" --runs {}", self.runs));
        }
        if self.idle != 2.0 {
            cmd.push_str(&format!(" --idle {}", self.idle));
        }
        for (k, v) in &self.overrides {
            cmd.push_str(&format!(" --set '{k}={v}'"));
        }
        if let Some(p) = &self.sebridge_bin {
            cmd.push_str(&format!(" --sebridge {}", p.display()));
        }
        if let Some(p) = &self.simulator_bin {
            cmd.push_str(&format!(" --simulator {}", p.display()));
        }
        cmd
    }
}
