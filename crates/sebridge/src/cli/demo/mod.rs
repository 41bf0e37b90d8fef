//! `sebridge demo`: the whole flow on this machine. The simulator (Secure Endpoint API for a
//! few tenants) runs in-process, the journal is SQLite in a temporary directory, events go to
//! a JSON-lines file, and a live summary shows them flowing.

mod incidents;
mod stream;

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
    /// Leave out incidents (simulated ServiceNow and XDR, containment, closed loop).
    #[arg(long)]
    pub no_incidents: bool,
    /// When the demo's analyst closes a contained incident's ticket in the simulated
    /// ServiceNow (starting the closed loop).
    #[arg(long, default_value = "8s", value_parser = humantime::parse_duration)]
    pub close_after: Duration,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let stop = termination_signal();
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
    let amqp = stream::detect().await;
    let streaming = amqp.is_some();
    let sim = simulator::start(SimConfig {
        amqp,
        tenants: args.tenants.max(1),
        rate: args.rate.max(0.0),
        history: args.history,
        seed: rand::random(),
        // As in reality, a connector takes a moment to carry an isolation out: the
        // dashboard shows it pending meanwhile.
        isolation_delay: Duration::from_secs(2),
        ..SimConfig::default()
    })
    .await
    .context("cannot start the simulator")?;
    let config_path = dir.join("sebridge.toml");
    sim.write_config(&config_path)
        .context("cannot write the demo config")?;
    if !args.no_incidents {
        incidents::append_config(&sim, &config_path)?;
    }
    append_server(&config_path, args.listen)?;
    let siem = demo_siem::start(&config_path).await?;
    let config = if streaming {
        stream::enable(&sim, &config_path).await?
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
    let mut incident_loop = incidents::LoopState::default();
    if !args.no_incidents {
        incidents::connect_webhook(&sim, &topology);
    }

    let started = Instant::now();
    let deadline = args.duration.map(|d| started + d);
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    tick.tick().await;
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                print_summary(&topology, started.elapsed()).await;
                if !args.no_incidents {
                    incidents::tick(&mut incident_loop, &sim, &topology, started.elapsed(), args.close_after).await;
                }
            }
            _ = &mut stop => break,
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    let ran = started.elapsed();
    println!("\nstopping: sources finish their page, sinks commit their positions ...");
    let status = topology.status.clone();
    let report = topology.stop().await;
    sim.shutdown().await;
    let mut exit = ExitCode::SUCCESS;
    if !siem.check(&status.snapshot(report.journal_head)).await {
        exit = ExitCode::from(1);
    }
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
    let kept = args.dir.is_some().then_some(config_path.as_path());
    let wrap = incidents::WrapUp {
        elapsed: ran,
        close_after: args.close_after,
        kept_config: kept,
    };
    if !args.no_incidents && !incidents::final_report(&incident_loop, &wrap) {
        exit = ExitCode::from(1);
    }
    if let Some(config) = kept {
        // The simulator the config points at has stopped with the demo: `run` on it would
        // find no API. What is kept can still be looked at.
        let c = config.display();
        println!(
            "kept in {}: the journal, the file sink's output and the config.",
            dir.display()
        );
        println!("  look at it with `sebridge -c {c} sinks status`, `sebridge -c {c} incidents list` or `sebridge -c {c} audit`");
        println!("  (its simulator stopped with the demo, so `sebridge run` on this config has no API to read; `sebridge demo --dir` starts a new one)");
    }
    Ok(exit)
}

/// The demo's dashboard address as `[server] listen`, so the written config serves the
/// webhook and the dashboard where the demo did.
fn append_server(path: &Path, listen: SocketAddr) -> anyhow::Result<()> {
    let mut text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.push_str(&format!("\n[server]\nlisten = \"{listen}\"\n"));
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
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
    println!(
        "  SIEM receivers (simulated Splunk HEC, Elasticsearch _bulk and Microsoft Sentinel's Logs Ingestion API) get every event too."
    );
    println!("  Ctrl-C stops it cleanly.\n");
}

/// One line: events journaled, each tenant's intake, each sink's backlog. In events, not
/// sequence numbers: those have gaps (a folded duplicate uses one up).
async fn print_summary(topology: &Topology, elapsed: Duration) {
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
    let mut sinks = Vec::new();
    for s in &snap.sinks {
        let behind = topology.store.count_after(s.position).await.unwrap_or(-1);
        sinks.push(format!(
            "{} {} behind{}",
            s.sink,
            behind,
            if s.healthy { "" } else { ", FAILING" }
        ));
    }
    let events = topology.store.count().await.unwrap_or(-1);
    println!(
        "[{:>4}s] journal {:>6} events | {} | sinks: {}",
        elapsed.as_secs(),
        events,
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

/// The simulated SIEMs of the demo: a Splunk HEC, an Elasticsearch `_bulk` receiver and
/// Microsoft Sentinel's ingestion path (Entra ID token endpoint and Logs Ingestion API), with
/// a sink for each appended to the demo config.
mod demo_siem {
    use anyhow::Context;
    use simulator::receivers::{elastic, hec, sentinel};
    use std::path::Path;

    pub struct Siem {
        hec: hec::HecReceiver,
        es: elastic::ElasticReceiver,
        sentinel: sentinel::SentinelReceiver,
    }

    pub async fn start(config_path: &Path) -> anyhow::Result<Siem> {
        let hec = hec::start(hec::HecConfig {
            keep_events: false,
            ..Default::default()
        })
        .await
        .context("cannot start the HEC receiver")?;
        let es = elastic::start(elastic::ElasticConfig {
            keep_docs: false,
            ..Default::default()
        })
        .await
        .context("cannot start the Elasticsearch receiver")?;
        let sentinel = sentinel::start(sentinel::SentinelConfig {
            keep_rows: false,
            ..Default::default()
        })
        .await
        .context("cannot start the Sentinel receiver")?;
        let extra = format!(
            "\n[sinks.splunk]\ntype = \"splunk_hec\"\nurl = \"{}\"\ntoken = \"{}\"\n\n\
             [sinks.elastic]\ntype = \"elasticsearch\"\nurl = \"{}\"\napi_key = \"{}\"\n",
            hec.url(),
            hec.token(),
            es.url(),
            elastic::ElasticConfig::default()
                .api_key
                .unwrap_or_default(),
        ) + &sentinel_sink(&sentinel);
        let mut text =
            std::fs::read_to_string(config_path).context("cannot read the demo config")?;
        text.push_str(&extra);
        std::fs::write(config_path, text).context("cannot write the demo config")?;
        Ok(Siem { hec, es, sentinel })
    }

    /// The Sentinel sink of the demo: the connector's stream of the simulated DCR, with the
    /// simulated Entra ID as its token endpoint.
    fn sentinel_sink(r: &sentinel::SentinelReceiver) -> String {
        let c = r.config();
        format!(
            "\n[sinks.sentinel]\ntype = \"sentinel\"\nendpoint = \"{}\"\ndcr_immutable_id = \"{}\"\n\
             tenant_id = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\ntoken_url = \"{}\"\n",
            r.url(),
            c.dcr_immutable_id,
            c.tenant_id,
            c.client_id,
            c.client_secret,
            r.token_url(),
        )
    }

    impl Siem {
        /// Prints what each receiver got; true when each holds exactly what its sink
        /// delivered (once).
        pub async fn check(self, snap: &sebridge::status::Snapshot) -> bool {
            let written = |name: &str| {
                snap.sinks
                    .iter()
                    .find(|s| s.sink == name)
                    .map_or(0, |s| s.events_written)
            };
            let hec = self.hec.stats().events;
            let es = self.es.stats();
            let sentinel = self.sentinel.stats();
            println!(
                "splunk HEC receiver: {hec} events; elasticsearch receiver: {} documents ({} duplicates refused); sentinel receiver: {} rows in {} calls",
                es.created, es.conflicts, sentinel.rows, sentinel.accepted_requests
            );
            let ok = hec == written("splunk")
                && es.created == written("elastic")
                && sentinel.rows == written("sentinel");
            if !ok {
                println!("WARNING: a SIEM receiver does not match the journal");
            }
            self.hec.shutdown().await;
            self.es.shutdown().await;
            self.sentinel.shutdown().await;
            ok
        }
    }
}
