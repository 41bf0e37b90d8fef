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

    /// How long a connector takes to carry out an isolation start or stop (the computer
    /// is pending_start / pending_stop meanwhile).
    #[arg(long, default_value = "0s", value_parser = duration_arg)]
    isolation_delay: Duration,

    /// Give this tenant's API credential the "Read-only" scope: writes (isolation, group
    /// moves, event stream management) are answered 403. Repeatable.
    #[arg(long = "read-only-tenant", value_name = "NAME")]
    read_only_tenants: Vec<String>,

    /// XDR requests allowed per rolling window for the organisation (documented: 8000).
    #[arg(long, default_value_t = simulator::XDR_DEFAULT_RATE_LIMIT)]
    xdr_rate_limit: u32,

    /// Length of the rolling XDR rate-limit window.
    #[arg(long, default_value = "3600s", value_parser = duration_arg)]
    xdr_rate_limit_window: Duration,

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

    /// Fraction of requests answered 429 (a burst limit) with rate-limit headers.
    #[arg(long = "fault-429", default_value_t = 0.0, value_parser = fraction_arg)]
    fault_429: f64,

    /// Act on a running simulator instead of starting one.
    #[command(subcommand)]
    command: Option<SimCommand>,
    /// Also serve a Splunk HTTP Event Collector here (e.g. 127.0.0.1:8088).
    #[arg(long)]
    hec_listen: Option<SocketAddr>,

    /// The HEC token to accept.
    #[arg(long, default_value = "00000000-0000-4000-8000-000000000000")]
    hec_token: String,

    /// Turn on HEC indexer acknowledgement.
    #[arg(long)]
    hec_ack: bool,

    /// Also serve an Elasticsearch _bulk endpoint here (e.g. 127.0.0.1:9200).
    #[arg(long)]
    es_listen: Option<SocketAddr>,

    /// The Elasticsearch API key (Authorization: ApiKey <key>) to accept.
    #[arg(long, default_value = "c2VicmlkZ2U6dGVzdA==")]
    es_api_key: String,

    /// Also serve Microsoft Sentinel's Logs Ingestion API and its Entra ID token endpoint
    /// here (e.g. 127.0.0.1:9300); its tenant, client and DCR ids are printed at start.
    #[arg(long)]
    sentinel_listen: Option<SocketAddr>,

    /// The client secret the Sentinel receiver's token endpoint accepts.
    #[arg(long, default_value = "sim~Sentinel.ClientSecret-0123456789abcdef")]
    sentinel_client_secret: String,

    /// Serve /v1/event_streams with real queues on this RabbitMQ (a login that may declare
    /// queues and exchanges), e.g. amqp://guest:guest@127.0.0.1:5672/%2f.
    #[arg(long)]
    amqp_url: Option<String>,

    /// How per-stream broker users are made: rabbitmqctl (needs broker admin rights), shared
    /// (every stream gets the --amqp-url login; a deviation from the real service), or auto.
    #[arg(long, default_value = "auto", value_parser = ["auto", "rabbitmqctl", "shared"])]
    stream_users: String,
}

#[derive(Debug, clap::Subcommand)]
enum SimCommand {
    /// The simulated ServiceNow instance of a running simulator.
    Snow {
        #[command(subcommand)]
        action: SnowAction,
    },
}

#[derive(Debug, clap::Subcommand)]
enum SnowAction {
    /// Close a ticket as an analyst would; the instance's business rule then calls the
    /// configured webhook (exactly like a state change made in the UI).
    Close {
        /// Ticket number, e.g. INC0010001.
        number: String,
        /// Base URL of the running simulator.
        #[arg(long, env = "SEBRIDGE_SIM_URL")]
        url: String,
        /// Resolve (state 6) instead of close (state 7).
        #[arg(long)]
        resolve: bool,
        /// Close code (default "Solution provided").
        #[arg(long)]
        close_code: Option<String>,
        /// Close notes.
        #[arg(long)]
        close_notes: Option<String>,
    },
}

/// `sebridge-sim snow close INC…`: POST /_sim/snow/close on the running simulator.
async fn snow_command(action: SnowAction) -> Result<()> {
    let SnowAction::Close {
        number,
        url,
        resolve,
        close_code,
        close_notes,
    } = action;
    let mut body =
        serde_json::json!({ "number": number, "state": if resolve { "6" } else { "7" } });
    if let Some(c) = close_code {
        body["close_code"] = c.into();
    }
    if let Some(n) = close_notes {
        body["close_notes"] = n.into();
    }
    let endpoint = format!("{}/_sim/snow/close", url.trim_end_matches('/'));
    let resp = reqwest::Client::new()
        .post(&endpoint)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("cannot reach the simulator at {endpoint}"))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        anyhow::bail!("the simulator refused to close {number}: HTTP {status}: {text}");
    }
    let record: simulator::SnowRecord =
        serde_json::from_str(&text).context("unexpected answer from the simulator")?;
    println!(
        "{} {} (state {}, close code {:?}); the business rule notifies the webhook if one is configured",
        record.get("number"),
        if resolve { "resolved" } else { "closed" },
        record.get("state"),
        record.get("close_code"),
    );
    Ok(())
}

/// Registers the SIGINT/SIGTERM handlers now (before the "listening" line, so a script that
/// signals right after reading it gets a clean stop) and returns the future that waits.
fn wait_for_signal() -> Result<impl std::future::Future<Output = &'static str>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Some(SimCommand::Snow { action }) = cli.command {
        return snow_command(action).await;
    }
    let wanted = Wanted {
        hec_listen: cli.hec_listen,
        hec_token: cli.hec_token.clone(),
        hec_ack: cli.hec_ack,
        es_listen: cli.es_listen,
        es_api_key: cli.es_api_key.clone(),
        sentinel_listen: cli.sentinel_listen,
        sentinel_client_secret: cli.sentinel_client_secret.clone(),
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // lapin logs the 404 of every free-id probe (a passive declare) at ERROR.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,lapin=off")),
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
        read_only_tenants: cli.read_only_tenants,
        xdr_rate_limit: cli.xdr_rate_limit,
        xdr_rate_limit_window: cli.xdr_rate_limit_window,
        isolation_delay: cli.isolation_delay,
        faults: Faults {
            error_rate: cli.fault_5xx,
            latency: Duration::from_millis(cli.fault_latency_ms),
            drop_rate: cli.fault_drop,
            malformed_rate: cli.fault_malformed,
            rate_limited_rate: cli.fault_429,
        },
    };
    let signalled = wait_for_signal()?;
    let sim = simulator::start(cfg)
        .await
        .context("starting the simulator")?;
    if let Some(path) = &cli.write_config {
        sim.write_config(path)
            .with_context(|| format!("writing config {}", path.display()))?;
        tracing::info!(path = %path.display(), "wrote sebridge config");
    }
    // Everything is up before the line scripts wait for.
    let receivers = start_receivers(wanted).await?;
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
    let sig = signalled.await;
    tracing::info!(signal = sig, "shutting down");
    sim.shutdown().await;
    receivers.shutdown().await;
    Ok(())
}

/// The SIEM receivers asked for on the command line.
struct Wanted {
    hec_listen: Option<SocketAddr>,
    hec_token: String,
    hec_ack: bool,
    es_listen: Option<SocketAddr>,
    es_api_key: String,
    sentinel_listen: Option<SocketAddr>,
    sentinel_client_secret: String,
}

/// The SIEM receivers started.
struct Receivers {
    hec: Option<simulator::receivers::hec::HecReceiver>,
    es: Option<simulator::receivers::elastic::ElasticReceiver>,
    sentinel: Option<simulator::receivers::sentinel::SentinelReceiver>,
}

impl Receivers {
    async fn shutdown(self) {
        if let Some(h) = self.hec {
            h.shutdown().await;
        }
        if let Some(e) = self.es {
            e.shutdown().await;
        }
        if let Some(s) = self.sentinel {
            s.shutdown().await;
        }
    }
}

async fn start_receivers(w: Wanted) -> Result<Receivers> {
    use simulator::receivers::{elastic, hec, sentinel};
    let mut out = std::io::stdout().lock();
    let hec = match w.hec_listen {
        Some(listen) => {
            let r = hec::start(hec::HecConfig {
                listen,
                token: w.hec_token,
                ack: w.hec_ack,
                keep_events: false,
                ..Default::default()
            })
            .await
            .context("starting the HEC receiver")?;
            writeln!(out, "hec receiver listening on {}", r.url())?;
            Some(r)
        }
        None => None,
    };
    let es = match w.es_listen {
        Some(listen) => {
            let r = elastic::start(elastic::ElasticConfig {
                listen,
                api_key: Some(w.es_api_key),
                keep_docs: false,
                ..Default::default()
            })
            .await
            .context("starting the Elasticsearch receiver")?;
            writeln!(out, "elasticsearch receiver listening on {}", r.url())?;
            Some(r)
        }
        None => None,
    };
    let sentinel = match w.sentinel_listen {
        Some(listen) => {
            let r = sentinel::start(sentinel::SentinelConfig {
                listen,
                client_secret: w.sentinel_client_secret,
                keep_rows: false,
                ..Default::default()
            })
            .await
            .context("starting the Sentinel receiver")?;
            let c = r.config();
            writeln!(
                out,
                "sentinel receiver listening on {} (token_url {}, tenant_id {}, client_id {}, dcr_immutable_id {})",
                r.url(),
                r.token_url(),
                c.tenant_id,
                c.client_id,
                c.dcr_immutable_id
            )?;
            Some(r)
        }
        None => None,
    };
    out.flush()?;
    Ok(Receivers { hec, es, sentinel })
}
