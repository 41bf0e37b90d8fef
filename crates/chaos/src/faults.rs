//! The fault matrix: one row per fault. Each row runs `sebridge run` on a fresh world with
//! live events, applies its fault for the outage time, lifts it, and waits for the same
//! process to catch up by itself (no restart). A row passes when nothing is lost or doubled
//! and sebridge said what was wrong while it was wrong.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use simulator::Faults;

use crate::check::{outcome, Outcome};
use crate::replica::Run;
use crate::settle::settled;
use crate::world::{Spec, World};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The API answers 5xx at 20%, malformed bodies and dropped connections at 5% each, and
    /// 429 with rate-limit headers once a small budget is spent.
    ApiErrors,
    /// Every RabbitMQ connection closed, twice, then the broker application restarted.
    Broker,
    PostgresSinkDown,
    HecDown,
    ElasticsearchDown,
    /// ServiceNow and XDR unreachable.
    IntegrationsDown,
    /// The store's file system (a small tmpfs) full.
    DiskFull,
}

pub struct Row {
    pub name: &'static str,
    pub what: &'static str,
    pub fault: Fault,
}

pub const ROWS: &[Row] = &[
    Row {
        name: "api-errors",
        what: "API: 20% 5xx, 20% 429, 5% malformed, 5% dropped; 20 requests per 5 s",
        fault: Fault::ApiErrors,
    },
    Row {
        name: "postgres-sink-down",
        what: "PostgreSQL sink unreachable",
        fault: Fault::PostgresSinkDown,
    },
    Row {
        name: "hec-down",
        what: "Splunk HEC unreachable",
        fault: Fault::HecDown,
    },
    Row {
        name: "elasticsearch-down",
        what: "Elasticsearch unreachable",
        fault: Fault::ElasticsearchDown,
    },
    Row {
        name: "servicenow-xdr-down",
        what: "ServiceNow and XDR unreachable",
        fault: Fault::IntegrationsDown,
    },
    Row {
        name: "disk-full",
        what: "the store's disk full (tmpfs)",
        fault: Fault::DiskFull,
    },
    Row {
        name: "broker",
        what: "RabbitMQ connections closed twice, then the broker restarted",
        fault: Fault::Broker,
    },
];

pub struct FaultReport {
    pub name: &'static str,
    pub what: &'static str,
    pub outage: Duration,
    /// Why the row could not run here (e.g. no root for the tmpfs).
    pub skipped: Option<String>,
    pub events: usize,
    pub outcome: Outcome,
    /// From lifting the fault to everything delivered.
    pub recovery: Option<Duration>,
    /// The first warning or error sebridge logged while the fault lasted.
    pub said: Option<String>,
    /// What the simulator injected, for faults that retries absorb without a warning.
    pub injected: Option<String>,
    pub clean_exit: bool,
}

impl FaultReport {
    fn skipped(row: &Row, outage: Duration, why: String) -> FaultReport {
        FaultReport {
            name: row.name,
            what: row.what,
            outage,
            skipped: Some(why),
            events: 0,
            outcome: Outcome::default(),
            recovery: None,
            said: None,
            injected: None,
            clean_exit: true,
        }
    }
}

fn rabbitmqctl(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .context("cannot run rabbitmqctl")?;
    anyhow::ensure!(
        out.status.success(),
        "rabbitmqctl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// A small tmpfs for the store, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size_mb: u64) -> anyhow::Result<Tmpfs> {
        std::fs::create_dir_all(at)?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mb}m"), "tmpfs"])
            .arg(at)
            .status()
            .context("cannot run mount")?;
        anyhow::ensure!(status.success(), "mount -t tmpfs failed (needs root)");
        Ok(Tmpfs(at.to_path_buf()))
    }

    /// Fills the file system up to its last few blocks with `filler`.
    fn fill(&self) -> anyhow::Result<()> {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.0)
            .output()?;
        let avail: u64 = String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .context("cannot read the free space of the tmpfs")?;
        let f = std::fs::File::create(self.0.join("filler"))?;
        f.set_len(0)?;
        // Written, not sparse: tmpfs counts only pages that hold data.
        let chunk = vec![0u8; 1 << 20];
        let mut left = avail;
        let mut w = std::io::BufWriter::new(f);
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            if std::io::Write::write_all(&mut w, &chunk[..n]).is_err() {
                break;
            }
            left -= n as u64;
        }
        let _ = std::io::Write::flush(&mut w);
        Ok(())
    }

    fn free(&self) {
        let _ = std::fs::remove_file(self.0.join("filler"));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Live events for `d`: a burst every half second.
async fn flow(world: &World, d: Duration, per_burst: usize) -> anyhow::Result<()> {
    let end = Instant::now() + d;
    while Instant::now() < end {
        world.burst(per_burst)?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

/// The first WARN or ERROR line of the log after byte `from`.
fn first_complaint(log: &Path, from: u64) -> Option<String> {
    let text = std::fs::read(log).ok()?;
    let tail = String::from_utf8_lossy(text.get(from as usize..)?).into_owned();
    tail.lines()
        .find(|l| l.contains("WARN") || l.contains("ERROR"))
        .map(|l| {
            let l = l
                .split_once("WARN")
                .or_else(|| l.split_once("ERROR"))
                .map_or(l, |(_, r)| r);
            let l = l.trim();
            l.chars().take(220).collect()
        })
}

pub async fn run(
    row: &Row,
    dir: &Path,
    bin: &Path,
    outage: Duration,
    seed: u64,
) -> anyhow::Result<FaultReport> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let tmpfs = if row.fault == Fault::DiskFull {
        match Tmpfs::mount(&dir.join("store"), 96) {
            Ok(t) => Some(t),
            Err(e) => return Ok(FaultReport::skipped(row, outage, format!("{e:#}"))),
        }
    } else {
        None
    };
    let world = World::start(
        row.name,
        dir,
        bin,
        &Spec {
            tenants: 3,
            history: 1000,
            streams: true,
            siem: true,
            incidents: true,
            store_dir: tmpfs.as_ref().map(|t| t.0.clone()),
            seed,
        },
    )
    .await?;
    let log = dir.join("sebridge.log");
    let run = Run::start(bin, &world.config, &log)?;
    // Caught up on the history first, so the fault meets a pipeline in its steady state.
    settled(&world, Duration::from_secs(2), Duration::from_secs(300)).await;
    flow(&world, Duration::from_secs(2), 10).await?;
    let log_at = std::fs::metadata(&log).map_or(0, |m| m.len());
    match row.fault {
        Fault::ApiErrors => {
            world.sim.set_faults(
                None,
                Faults {
                    error_rate: 0.2,
                    malformed_rate: 0.05,
                    rate_limited_rate: 0.2,
                    drop_rate: 0.05,
                    latency: Duration::ZERO,
                },
            )?;
            world.sim.set_rate_limit(None, 20, Duration::from_secs(5))?;
        }
        Fault::PostgresSinkDown => world.pg_proxy.down(),
        Fault::HecDown => world.hec_proxy.as_ref().context("no HEC proxy")?.down(),
        Fault::ElasticsearchDown => world.es_proxy.as_ref().context("no ES proxy")?.down(),
        Fault::IntegrationsDown => world.integrations_proxy.down(),
        Fault::DiskFull => {
            // Filled while the sinks are busy, so position commits fail too, not only appends.
            let file = world.events_file();
            let before = std::fs::metadata(&file).map_or(0, |m| m.len());
            world.burst(300)?;
            let start = Instant::now();
            while std::fs::metadata(&file).map_or(0, |m| m.len()) == before
                && start.elapsed() < Duration::from_secs(10)
            {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            tmpfs.as_ref().context("no tmpfs")?.fill()?
        }
        Fault::Broker => rabbitmqctl(&["close_all_connections", "chaos: connections closed"])?,
    }
    if row.fault == Fault::Broker {
        flow(&world, outage / 3, 10).await?;
        rabbitmqctl(&["close_all_connections", "chaos: connections closed again"])?;
        flow(&world, outage / 3, 10).await?;
        rabbitmqctl(&["stop_app"])?;
        flow(&world, outage / 3, 10).await?;
        rabbitmqctl(&["start_app"])?;
    } else {
        flow(&world, outage, 10).await?;
    }
    let said = first_complaint(&log, log_at);
    let injected = (row.fault == Fault::ApiErrors).then(|| {
        let st = world.sim.stats();
        let sum = |f: fn(&simulator::TenantStats) -> u64| st.tenants.iter().map(f).sum::<u64>();
        format!(
            "{} requests: {} answered 5xx, {} malformed, {} dropped, {} answered 429",
            sum(|t| t.requests),
            sum(|t| t.server_errors),
            sum(|t| t.malformed),
            sum(|t| t.drops),
            sum(|t| t.rate_limited)
        )
    });
    match row.fault {
        Fault::ApiErrors => {
            world.sim.clear_faults();
            world.sim.set_rate_limit(
                None,
                simulator::DEFAULT_RATE_LIMIT,
                simulator::DEFAULT_RATE_LIMIT_WINDOW,
            )?;
        }
        Fault::PostgresSinkDown => world.pg_proxy.up(),
        Fault::HecDown => world.hec_proxy.as_ref().context("no HEC proxy")?.up(),
        Fault::ElasticsearchDown => world.es_proxy.as_ref().context("no ES proxy")?.up(),
        Fault::IntegrationsDown => world.integrations_proxy.up(),
        Fault::DiskFull => tmpfs.as_ref().context("no tmpfs")?.free(),
        Fault::Broker => {}
    }
    flow(&world, Duration::from_secs(2), 10).await?;
    world.sim.flush_streams(Duration::from_secs(30)).await;
    let events = world.truth_count();
    let recovery = settled(&world, Duration::from_secs(5), Duration::from_secs(600)).await;
    let clean_exit = run.stop(Duration::from_secs(60)).await;
    let outcome = outcome(&world).await?;
    world.finish(false).await;
    drop(tmpfs);
    Ok(FaultReport {
        name: row.name,
        what: row.what,
        outage,
        skipped: None,
        events,
        outcome,
        recovery,
        said,
        injected,
        clean_exit,
    })
}
