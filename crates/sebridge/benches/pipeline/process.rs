//! The simulator and sebridge as child processes, and what is measured while they run.

use crate::output::LineCounter;
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Kills the child (SIGKILL) if it is still running when dropped, so an error in the bench
/// never leaves a simulator or a sebridge behind.
pub struct ChildGuard {
    child: Option<Child>,
    what: &'static str,
}

impl ChildGuard {
    fn new(child: Child, what: &'static str) -> ChildGuard {
        ChildGuard {
            child: Some(child),
            what,
        }
    }

    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        match self.child.as_mut() {
            Some(c) => c
                .try_wait()
                .with_context(|| format!("waiting for the {}", self.what)),
            None => bail!("the {} was already reaped", self.what),
        }
    }

    /// Stops the child now and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Ok(None) = c.try_wait() {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running `sebridge-sim`.
pub struct Simulator {
    pub guard: ChildGuard,
    pub base_url: String,
    /// From spawn to the "listening" line (history generation included); not measured.
    pub startup: Duration,
    pub config_path: PathBuf,
}

pub struct SimArgs {
    pub tenants: usize,
    pub history: usize,
    pub history_span: &'static str,
}

impl Simulator {
    pub fn start(bin: &Path, dir: &Path, args: &SimArgs) -> Result<Simulator> {
        let config_path = dir.join("sebridge.toml");
        let log_path = dir.join("sim.log");
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let t0 = Instant::now();
        let mut child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0"])
            .args(["--tenants", &args.tenants.to_string()])
            .args(["--history", &args.history.to_string()])
            .args(["--history-span", args.history_span])
            .args(["--rate", "0", "--rate-limit", "1000000", "--seed", "1"])
            .arg("--write-config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().context("the simulator's stdout")?;
        let guard = ChildGuard::new(child, "simulator");
        // Read the "listening" line on a thread (the history takes a while to generate), then
        // keep draining stdout so the simulator never blocks on a full pipe.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let first = reader.read_line(&mut line).map(|_| line);
            let _ = tx.send(first);
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = match rx.recv_timeout(Duration::from_secs(600)) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => return Err(e).context("reading the simulator's stdout"),
            Err(_) => bail!(
                "the simulator did not report its address within 600 s (see {})",
                log_path.display()
            ),
        };
        let startup = t0.elapsed();
        let base_url = line
            .trim()
            .rsplit(' ')
            .next()
            .filter(|u| u.starts_with("http://"))
            .with_context(|| {
                format!(
                    "unexpected first line from the simulator: {line:?} (see {})",
                    log_path.display()
                )
            })?
            .to_string();
        // The config is written once the port is bound, just before or after the line.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !config_path.is_file() {
            if Instant::now() > deadline {
                bail!("the simulator did not write {}", config_path.display());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Simulator {
            guard,
            base_url,
            startup,
            config_path,
        })
    }

    /// `GET /_sim/stats`, summed over tenants.
    pub fn stats(&self) -> Result<SimStats> {
        let url = format!("{}/_sim/stats", self.base_url);
        let body = crate::baseline::get_text(&url).context("GET /_sim/stats")?;
        let v: serde_json::Value = serde_json::from_str(&body).context("parsing /_sim/stats")?;
        let tenants = v["tenants"]
            .as_array()
            .context("/_sim/stats has no `tenants` array")?;
        let sum = |key: &str| -> u64 { tenants.iter().filter_map(|t| t[key].as_u64()).sum() };
        Ok(SimStats {
            requests: sum("requests"),
            events_requests: sum("events_requests"),
            rate_limited: sum("rate_limited"),
            server_errors: sum("server_errors"),
        })
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct SimStats {
    pub requests: u64,
    pub events_requests: u64,
    pub rate_limited: u64,
    pub server_errors: u64,
}

impl SimStats {
    pub fn since(self, before: SimStats) -> SimStats {
        SimStats {
            requests: self.requests - before.requests.min(self.requests),
            events_requests: self.events_requests
                - before.events_requests.min(self.events_requests),
            rate_limited: self.rate_limited - before.rate_limited.min(self.rate_limited),
            server_errors: self.server_errors - before.server_errors.min(self.server_errors),
        }
    }
}

/// CPU time of a process (user + system, all threads) from `/proc/<pid>/stat`; `pid` may be
/// "self". In clock ticks (USER_HZ, 100 on Linux).
pub fn process_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14,
    // stime 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Busy CPU time of the whole machine (all cores; idle and iowait excluded), in ticks.
fn machine_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let busy = v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)? + v.get(7)?;
    Some(busy)
}

pub fn ticks(t: u64) -> Duration {
    Duration::from_millis(t * 10)
}

/// Waits until the rest of the machine (everything but this bench and the simulator `sim_pid`)
/// uses less than `max_cores` over a 3 s window, for at most `limit`. Returns the load seen
/// last (cores) and whether it was low enough.
pub fn wait_for_quiet(sim_pid: u32, max_cores: f64, limit: Duration) -> (f64, bool) {
    let sim = sim_pid.to_string();
    let window = Duration::from_secs(3);
    let deadline = Instant::now() + limit;
    let mut announced = false;
    loop {
        let before = (
            machine_busy_ticks(),
            process_ticks(&sim),
            process_ticks("self"),
        );
        std::thread::sleep(window);
        let after = (
            machine_busy_ticks(),
            process_ticks(&sim),
            process_ticks("self"),
        );
        let others = (|| {
            let busy = after.0?.saturating_sub(before.0?);
            let ours = after.1?.saturating_sub(before.1?) + after.2?.saturating_sub(before.2?);
            Some(ticks(busy.saturating_sub(ours)).as_secs_f64() / window.as_secs_f64())
        })();
        let Some(load) = others else {
            return (f64::NAN, false);
        };
        if load <= max_cores {
            return (load, true);
        }
        if Instant::now() >= deadline {
            return (load, false);
        }
        if !announced {
            eprintln!(
                "other processes use {load:.2} cores; waiting up to {} s for the machine to quiet down...",
                limit.as_secs()
            );
            announced = true;
        }
    }
}

/// CPU use during a run, to tell a busy machine from a slow program.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuUse {
    pub sebridge: Option<Duration>,
    pub simulator: Option<Duration>,
    /// Everything else on the machine (other users' builds and tests), bench excluded.
    pub others: Option<Duration>,
}

/// What one `sebridge run --until-idle` did.
#[derive(Debug)]
pub struct RunMeasure {
    pub cpu: CpuUse,
    /// From spawn until the output file held the expected number of lines.
    pub complete_after: Option<Duration>,
    /// From spawn until the process exited.
    pub exited_after: Duration,
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
    /// Highest `VmHWM` seen, in bytes.
    pub peak_rss: Option<u64>,
    /// Lines in the output when the process exited.
    pub lines: u64,
    pub log: PathBuf,
}

/// `VmHWM` (peak resident set) of a live process, in bytes.
fn vm_hwm(pid: u32) -> Option<u64> {
    let mut s = String::new();
    std::fs::File::open(format!("/proc/{pid}/status"))
        .ok()?
        .read_to_string(&mut s)
        .ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Runs `sebridge run -c CONFIG --until-idle IDLE` and watches it: the output's line count
/// and `VmHWM`, every 20 ms (the count reads only what was appended; `VmHWM` is the kernel's
/// own high-water mark but vanishes with the process, so the last reading before the exit
/// stands for the peak).
pub fn run_sebridge(
    bin: &Path,
    config: &Path,
    output: &Path,
    expected_lines: u64,
    idle: f64,
    timeout: Duration,
    sim_pid: u32,
) -> Result<RunMeasure> {
    let dir = config.parent().unwrap_or(Path::new("."));
    let log_path = dir.join("sebridge.log");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let log2 = log
        .try_clone()
        .with_context(|| format!("duplicating the handle of {}", log_path.display()))?;
    let mut counter = LineCounter::new(output);
    let sim_pid = sim_pid.to_string();
    let before = (
        machine_busy_ticks(),
        process_ticks(&sim_pid),
        process_ticks("self"),
    );
    let t0 = Instant::now();
    let child = Command::new(bin)
        .arg("run")
        .arg("-c")
        .arg(config)
        .args([
            "--until-idle",
            &format!("{}ms", (idle * 1000.0).round() as u64),
        ])
        // The default log filter and format for `run`, whatever the caller's shell has.
        .env_remove("SEBRIDGE_LOG")
        .env_remove("SEBRIDGE_LOG_FORMAT")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let mut guard = ChildGuard::new(child, "sebridge");
    let pid = guard.id();
    let mut peak: Option<u64> = None;
    let mut own_ticks: Option<u64> = None;
    let mut complete_after = None;
    let (status, exited_after, timed_out) = loop {
        if complete_after.is_none() {
            let n = counter
                .poll()
                .with_context(|| format!("counting the lines of {}", output.display()))?;
            if n >= expected_lines {
                complete_after = Some(t0.elapsed());
            }
        }
        // Every tick, so the last reading is at most 20 ms before the exit.
        if let Some(hwm) = vm_hwm(pid) {
            peak = Some(peak.map_or(hwm, |p| p.max(hwm)));
        }
        if let Some(t) = process_ticks(&pid.to_string()) {
            own_ticks = Some(t);
        }
        if let Some(status) = guard.try_wait()? {
            break (Some(status), t0.elapsed(), false);
        }
        if t0.elapsed() > timeout {
            guard.kill();
            break (None, t0.elapsed(), true);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let lines = counter
        .poll()
        .with_context(|| format!("counting the lines of {}", output.display()))?;
    if complete_after.is_none() && lines >= expected_lines {
        complete_after = Some(exited_after);
    }
    let after = (
        machine_busy_ticks(),
        process_ticks(&sim_pid),
        process_ticks("self"),
    );
    let delta = |a: Option<u64>, b: Option<u64>| Some(a?.saturating_sub(b?));
    let sim_ticks = delta(after.1, before.1);
    let others = (|| {
        let busy = delta(after.0, before.0)?;
        let bench = delta(after.2, before.2)?;
        Some(busy.saturating_sub(bench + sim_ticks? + own_ticks?))
    })();
    let cpu = CpuUse {
        sebridge: own_ticks.map(ticks),
        simulator: sim_ticks.map(ticks),
        others: others.map(ticks),
    };
    Ok(RunMeasure {
        cpu,
        complete_after,
        exited_after,
        status,
        timed_out,
        peak_rss: peak,
        lines,
        log: log_path,
    })
}
