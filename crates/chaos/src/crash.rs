//! The crash loop: `sebridge run` (poll and Event Streams together, four sinks, incidents
//! in ServiceNow and XDR) killed with SIGKILL again and again, each time at a moment picked
//! by a trigger (while the journal commits, while stream deliveries are being acked, while
//! a sink batch is written, while a ticket is being created, right after a work note), then
//! one clean run that catches up. The outcome is counted against the simulator.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{RngExt as _, SeedableRng as _};
use simulator::SnowFaults;

use crate::check::{outcome, Outcome};
use crate::replica::Run;
use crate::settle::settled;
use crate::world::{Spec, World};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Trigger {
    /// Any moment.
    Random,
    /// The store's write-ahead log just grew: a journal (or position) commit is under way.
    JournalCommit,
    /// A burst of events was just published to the streams: deliveries and acks in flight.
    StreamAck,
    /// A sink's output just grew: a batch is being written and its position committed.
    SinkBatch,
    /// ServiceNow stored a new ticket and holds its answer back: the create's answer is lost.
    IncidentCreate,
    /// ServiceNow just stored a work note: the note's commit in sebridge is in flight.
    WorkNote,
}

const TRIGGERS: [Trigger; 6] = [
    Trigger::JournalCommit,
    Trigger::StreamAck,
    Trigger::SinkBatch,
    Trigger::IncidentCreate,
    Trigger::WorkNote,
    Trigger::Random,
];

impl Trigger {
    pub fn label(self) -> &'static str {
        match self {
            Trigger::Random => "random moment",
            Trigger::JournalCommit => "during a journal commit",
            Trigger::StreamAck => "during stream acks",
            Trigger::SinkBatch => "during a sink batch",
            Trigger::IncidentCreate => "during a ticket create",
            Trigger::WorkNote => "after a work note, before its commit",
        }
    }
}

pub struct Kill {
    pub trigger: Trigger,
    /// The trigger's moment was seen (else the kill fell back to a random moment).
    pub hit: bool,
    pub uptime: Duration,
}

pub struct CrashReport {
    pub kills: Vec<Kill>,
    pub events: usize,
    pub outcome: Outcome,
    pub catch_up: Option<Duration>,
    pub clean_exit: bool,
    pub wall: Duration,
    pub log: PathBuf,
}

pub struct CrashSpec {
    pub kills: usize,
    /// Events in all (history plus live bursts), over 3 tenants.
    pub events: usize,
    pub seed: u64,
}

fn wal_len(store: &Path) -> u64 {
    let mut p = store.as_os_str().to_owned();
    p.push("-wal");
    std::fs::metadata(PathBuf::from(p)).map_or(0, |m| m.len())
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

fn notes(world: &World) -> usize {
    world
        .sim
        .snow_records()
        .iter()
        .map(|r| r.journal.len())
        .sum()
}

/// Waits for `trigger`'s moment (true), or gives up after `limit` (false).
async fn wait_for(world: &World, trigger: Trigger, rng: &mut SmallRng, limit: Duration) -> bool {
    let start = Instant::now();
    let tick = Duration::from_millis(2);
    match trigger {
        Trigger::Random => {
            tokio::time::sleep(Duration::from_millis(rng.random_range(200..3000))).await;
            true
        }
        Trigger::StreamAck => {
            tokio::time::sleep(Duration::from_millis(rng.random_range(5..120))).await;
            true
        }
        Trigger::JournalCommit => {
            let before = wal_len(&world.store);
            while start.elapsed() < limit {
                if wal_len(&world.store) != before {
                    return true;
                }
                tokio::time::sleep(tick).await;
            }
            false
        }
        Trigger::SinkBatch => {
            let file = world.events_file();
            let (f0, pg0) = (file_len(&file), world.pg_rows().await);
            while start.elapsed() < limit {
                if file_len(&file) != f0 || world.pg_rows().await != pg0 {
                    return true;
                }
                tokio::time::sleep(tick).await;
            }
            false
        }
        Trigger::IncidentCreate => {
            let before = world.sim.snow_records().len();
            while start.elapsed() < limit {
                if world.sim.snow_records().len() > before {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            false
        }
        Trigger::WorkNote => {
            let before = notes(world);
            while start.elapsed() < limit {
                if notes(world) > before {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            false
        }
    }
}

pub async fn run(
    dir: &Path,
    bin: &Path,
    spec: &CrashSpec,
    progress: bool,
) -> anyhow::Result<CrashReport> {
    let wall = Instant::now();
    let _ = std::fs::remove_dir_all(dir);
    let tenants = 3;
    // Most events are history (the backfill is where the journal works hardest); the rest
    // arrive in bursts during the loop, through the streams and the poll.
    let history = spec.events * 3 / 5 / tenants;
    let per_burst = (spec.events - history * tenants) / tenants / spec.kills.max(1);
    let world = World::start(
        "crash",
        dir,
        bin,
        &Spec {
            tenants,
            history,
            streams: true,
            siem: false,
            incidents: true,
            store_dir: None,
            seed: spec.seed,
        },
    )
    .await?;
    let log = dir.join("sebridge.log");
    let mut rng = SmallRng::seed_from_u64(spec.seed);
    let mut kills = Vec::new();
    for n in 0..spec.kills {
        let trigger = TRIGGERS[n % TRIGGERS.len()];
        if trigger == Trigger::IncidentCreate {
            world.sim.set_snow_faults(SnowFaults {
                create_delay: Duration::from_secs(2),
                ..SnowFaults::default()
            });
        }
        let mut run = Run::start(bin, &world.config, &log)?;
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..800))).await;
        if trigger != Trigger::StreamAck {
            world.burst(per_burst)?;
        }
        if let Some(status) = run.exited() {
            anyhow::bail!(
                "sebridge exited by itself ({status}) before kill {n}; see {}",
                log.display()
            );
        }
        if trigger == Trigger::StreamAck {
            world.burst(per_burst)?;
        }
        let hit = wait_for(&world, trigger, &mut rng, Duration::from_secs(10)).await;
        let uptime = run.started.elapsed();
        run.kill();
        world.sim.set_snow_faults(SnowFaults::default());
        if progress {
            eprintln!(
                "  kill {:>2}/{}: {} ({}), after {:.1} s",
                n + 1,
                spec.kills,
                trigger.label(),
                if hit {
                    "seen"
                } else {
                    "not seen: random moment"
                },
                uptime.as_secs_f64()
            );
        }
        kills.push(Kill {
            trigger,
            hit,
            uptime,
        });
    }
    // Everything served so far is the truth; the streams get what is still in flight.
    world.sim.flush_streams(Duration::from_secs(30)).await;
    let events = world.truth_count();
    let run = Run::start(bin, &world.config, &log)?;
    let catch_up = settled(&world, Duration::from_secs(8), Duration::from_secs(600)).await;
    let clean_exit = run.stop(Duration::from_secs(60)).await;
    let outcome = outcome(&world).await?;
    world.finish(false).await;
    Ok(CrashReport {
        kills,
        events,
        outcome,
        catch_up,
        clean_exit,
        wall: wall.elapsed(),
        log,
    })
}
