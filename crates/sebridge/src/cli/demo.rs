//! `sebridge demo`: the whole flow on this machine. The simulator (Secure Endpoint API for a
//! few tenants) runs in-process, the journal is SQLite in a temporary directory, events go to
//! a JSON-lines file, and a live summary shows them flowing.

use super::termination_signal;
use anyhow::Context;
use sebridge::config::{Config, SinkConfig};
use sebridge::topology::Topology;
use simulator::{SimConfig, SimHandle};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Stop after this long (e.g. "30s", "5m"); default: until Ctrl-C.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Number of simulated customer organisations.
    #[arg(long, default_value_t = 3)]
    pub tenants: usize,
    /// New events per second per tenant.
    #[arg(long, default_value_t = 2.0)]
    pub rate: f64,
    /// Events each tenant already has when the demo starts (the first poll backfills them).
    #[arg(long, default_value_t = 1200)]
    pub history: usize,
    /// Dashboard and /metrics address (falls back to a free port when taken).
    #[arg(long, default_value = "127.0.0.1:8686")]
    pub listen: SocketAddr,
    /// Keep the journal, config and output here instead of a temporary directory.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let temp;
    let dir: PathBuf = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            d.clone()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("sebridge-demo-")
                .tempdir()
                .context("cannot create a temporary directory")?;
            temp.path().to_path_buf()
        }
    };
    let amqp = super::demo_stream::detect().await;
    let streaming = amqp.is_some();
    let sim = simulator::start(SimConfig {
        amqp,
        tenants: args.tenants.max(1),
        rate: args.rate.max(0.0),
        history: args.history,
        seed: rand::random(),
        ..SimConfig::default()
    })
    .await
    .context("cannot start the simulator")?;
    let config_path = dir.join("sebridge.toml");
    sim.write_config(&config_path)
        .context("cannot write the demo config")?;
    let config = if streaming {
        super::demo_stream::enable(&sim, &config_path).await?
    } else {
        Config::load(&config_path)
            .map_err(|e| anyhow::anyhow!("the demo config is invalid:\n{e}"))?
    };
    let topology = match Topology::start(&config, Some(args.listen)).await {
        Ok(t) => t,
        // The dashboard port is taken (another demo?): any free port will do.
        Err(sebridge::topology::TopologyError::Listen { .. }) => {
            Topology::start(&config, Some(SocketAddr::from(([127, 0, 0, 1], 0)))).await?
        }
        Err(e) => return Err(e.into()),
    };
    let file_sink = config.sinks.values().find_map(|s| match s {
        SinkConfig::File(f) => Some(f.path.clone()),
        _ => None,
    });
    if streaming {
        println!(
            "event streams: RabbitMQ is reachable on 127.0.0.1:5672, so new events arrive by the \
             stream path (AMQP push, journaled then acked); poll backfills the history and fills gaps"
        );
    } else {
        println!(
            "event streams: RabbitMQ is not reachable on 127.0.0.1:5672, so events come by polling \
             only (start RabbitMQ to see the stream path)"
        );
    }
    print_banner(
        &sim,
        &config,
        &dir,
        topology.http_addr,
        file_sink.as_deref(),
    );

    let started = Instant::now();
    let deadline = args.duration.map(|d| started + d);
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    tick.tick().await;
    let stop = termination_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = tick.tick() => print_summary(&topology, started.elapsed()),
            _ = &mut stop => break,
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    println!("\nstopping: sources finish their page, sinks commit their positions ...");
    let report = topology.stop().await;
    sim.shutdown().await;
    let mut exit = ExitCode::SUCCESS;
    if let Some(path) = file_sink {
        let (lines, distinct) = count_lines(&path)?;
        println!(
            "journal: {} events; file sink {}: {lines} lines, {distinct} distinct",
            report.journal_events,
            path.display()
        );
        if lines as i64 == report.journal_events && distinct == lines {
            println!("every journaled event is in the file exactly once");
        } else {
            println!("WARNING: the file sink does not match the journal");
            exit = ExitCode::from(1);
        }
    }
    if args.dir.is_some() {
        println!(
            "kept in {} (run again with `sebridge run -c {}`)",
            dir.display(),
            config_path.display()
        );
    }
    Ok(exit)
}

fn print_banner(
    sim: &SimHandle,
    config: &Config,
    dir: &Path,
    http: Option<SocketAddr>,
    file: Option<&Path>,
) {
    println!("sebridge demo");
    println!(
        "  simulator (Secure Endpoint API): {} with {} tenants",
        sim.base_url(),
        sim.tenants().len()
    );
    println!("  config:    {}", config.path.display());
    println!("  journal:   SQLite in {}", dir.display());
    if let Some(f) = file {
        println!("  file sink: {}", f.display());
    }
    if let Some(addr) = http {
        println!("  dashboard: http://{addr}/   metrics: http://{addr}/metrics");
    }
    println!("  Ctrl-C stops it cleanly.\n");
}

fn print_summary(topology: &Topology, elapsed: Duration) {
    let snap = topology.status.snapshot(topology.store.head());
    let tenants: Vec<String> = snap
        .tenants
        .iter()
        .map(|t| {
            let via = if t.source == "poll" {
                String::new()
            } else {
                format!("/{}", t.source.split(':').next().unwrap_or_default())
            };
            format!("{}{via} {} ({:?})", t.tenant, t.events_ingested, t.state).to_lowercase()
        })
        .collect();
    let sinks: Vec<String> = snap
        .sinks
        .iter()
        .map(|s| {
            format!(
                "{} @{} ({} behind{})",
                s.sink,
                s.position,
                snap.journal_head - s.position,
                if s.healthy { "" } else { ", FAILING" }
            )
        })
        .collect();
    println!(
        "[{:>4}s] journal head {:>6} | {} | sinks: {}",
        elapsed.as_secs(),
        snap.journal_head,
        tenants.join(", "),
        sinks.join(", ")
    );
}

/// Lines in the file and how many are distinct.
fn count_lines(path: &Path) -> anyhow::Result<(usize, usize)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut seen = HashSet::new();
    let mut lines = 0;
    for line in text.lines() {
        lines += 1;
        seen.insert(line);
    }
    Ok((lines, seen.len()))
}
