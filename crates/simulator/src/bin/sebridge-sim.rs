//! `sebridge-sim`: the Cisco Secure Endpoint v1 API simulator as a process.
//!
//! Prints `sebridge-sim listening on http://127.0.0.1:PORT` on stdout once bound, then logs
//! to stderr. SIGINT/SIGTERM stop it cleanly (exit 0).

use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Parser;
use simulator::{parse_duration, Faults, SimConfig};

fn duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s)
}

fn rate_arg(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("{s:?} must be >= 0"))
    }
}

fn fraction_arg(s: &str) -> Result<f64, String> {
    let v = rate_arg(s)?;
    if v <= 1.0 {
        Ok(v)
    } else {
        Err(format!("{s:?} must be between 0 and 1"))
    }
}

/// Simulates the Cisco Secure Endpoint v1 REST API for N tenants on loopback.
#[derive(Debug, Parser)]
#[command(name = "sebridge-sim", version, about)]
struct Cli {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,

    /// Number of tenants (organisations), named tenant-1..tenant-N.
    #[arg(long, default_value_t = 3)]
    tenants: usize,

    /// Explicit tenant names, comma-separated (overrides --tenants).
    #[arg(long, value_delimiter = ',')]
    tenant_names: Option<Vec<String>>,

    /// Seed for credentials, computers, events and fault draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// Live events per second per tenant (0 = none). Default 1, or 0 with --events-file.
    #[arg(long, value_parser = rate_arg)]
    rate: Option<f64>,

    /// Events per tenant generated at start, spread over --history-span.
    #[arg(long, default_value_t = 0)]
    history: usize,

    /// How far back --history reaches (e.g. 1h, 30m, 3600s).
    #[arg(long, default_value = "1h", value_parser = duration_arg)]
    history_span: Duration,

    /// JSON-lines file of events served verbatim to every tenant (instead of history).
    #[arg(long)]
    events_file: Option<PathBuf>,

    /// Write a runnable sebridge config for this simulator here once the port is bound.
    #[arg(long)]
    write_config: Option<PathBuf>,

    /// Requests allowed per rate-limit window, per tenant credential.
    #[arg(long, default_value_t = simulator::DEFAULT_RATE_LIMIT)]
    rate_limit: u32,

    /// Length of the fixed rate-limit window.
    #[arg(long, default_value = "3600s", value_parser = duration_arg)]
    rate_limit_window: Duration,

    /// Also send the documented X-Rate-Limit-Limit/-Remaining/-Reset headers.
    #[arg(long)]
    documented_rate_headers: bool,

    /// Fraction of requests answered 500/502/503.
    #[arg(long = "fault-5xx", default_value_t = 0.0, value_parser = fraction_arg)]
    fault_5xx: f64,

    /// Milliseconds added to every request.
    #[arg(long, default_value_t = 0)]
    fault_latency_ms: u64,

    /// Fraction of requests whose connection is dropped mid-response.
    #[arg(long, default_value_t = 0.0, value_parser = fraction_arg)]
    fault_drop: f64,

    /// Fraction of requests answered 200 with a body that is not JSON.
    #[arg(long, default_value_t = 0.0, value_parser = fraction_arg)]
    fault_malformed: f64,

    /// Serve /v1/event_streams with real queues on this RabbitMQ (a login that may declare
    /// queues and exchanges), e.g. amqp://guest:guest@127.0.0.1:5672/%2f.
    #[arg(long)]
    amqp_url: Option<String>,

    /// How per-stream broker users are made: rabbitmqctl (needs broker admin rights), shared
    /// (every stream gets the --amqp-url login; a deviation from the real service), or auto.
    #[arg(long, default_value = "auto", value_parser = ["auto", "rabbitmqctl", "shared"])]
    stream_users: String,
}

async fn wait_for_signal() -> Result<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => { r.context("waiting for SIGINT")?; Ok("SIGINT") }
            _ = term.recv() => Ok("SIGTERM"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        Ok("Ctrl-C")
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    let rate = cli
        .rate
        .unwrap_or(if cli.events_file.is_some() { 0.0 } else { 1.0 });
    let amqp = match cli.amqp_url {
        Some(url) => Some(simulator::AmqpConfig {
            users: match cli.stream_users.as_str() {
                "rabbitmqctl" => simulator::StreamUsers::rabbitmqctl(),
                "shared" => simulator::StreamUsers::Shared,
                _ => simulator::StreamUsers::detect().await,
            },
            ..simulator::AmqpConfig::local(url)
        }),
        None => None,
    };
    let cfg = SimConfig {
        amqp,
        listen: cli.listen,
        tenants: cli.tenants,
        tenant_names: cli.tenant_names,
        seed: cli.seed,
        rate,
        history: cli.history,
        history_span: cli.history_span,
        events_file: cli.events_file,
        rate_limit: cli.rate_limit,
        rate_limit_window: cli.rate_limit_window,
        documented_rate_headers: cli.documented_rate_headers,
        faults: Faults {
            error_rate: cli.fault_5xx,
            latency: Duration::from_millis(cli.fault_latency_ms),
            drop_rate: cli.fault_drop,
            malformed_rate: cli.fault_malformed,
        },
    };
    let sim = simulator::start(cfg)
        .await
        .context("starting the simulator")?;
    if let Some(path) = &cli.write_config {
        sim.write_config(path)
            .with_context(|| format!("writing config {}", path.display()))?;
        tracing::info!(path = %path.display(), "wrote sebridge config");
    }
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "sebridge-sim listening on {}", sim.base_url())?;
        out.flush()?;
    }
    for t in sim.tenants() {
        tracing::info!(
            tenant = %t.name,
            client_id = %t.client_id,
            api_key = %t.api_key,
            computers = t.computers.len(),
            groups = t.groups.len(),
            events = sim.event_count(&t.name).unwrap_or(0),
            "tenant"
        );
    }
    let sig = wait_for_signal().await?;
    tracing::info!(signal = sig, "shutting down");
    sim.shutdown().await;
    Ok(())
}
