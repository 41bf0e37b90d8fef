//! `sebridge tail --tenant T [--stream NAME] [--json]`: a tenant's events as they arrive on its
//! Event Stream — the vendor's "hello world" consumer done properly: verified TLS, heartbeats,
//! reconnects with backoff, clean Ctrl-C.
//!
//! A queue's deliveries are split between its consumers, and an acked delivery is gone. So
//! `tail` never just acks and prints: it is a stream source like `sebridge run`'s — every
//! delivery is committed to the journal (the config's store) before it is acked and printed.
//! Nothing it shows is lost to the pipeline: the pipeline's sinks deliver it from the journal.
//! When another consumer (a running pipeline) shares the queue, tail says so, since it then
//! shows only its share of the events.

use super::setup::{setup, usage, Secrets};
use super::termination_signal;
use anyhow::Context;
use sebridge::config::{defaults, SourceConfig, StreamSourceConfig};
use sebridge::sources::stream::amqp::TlsPolicy;
use sebridge::sources::stream::{Observed, StreamSource, TenantLink};
use sebridge::status::StatusBoard;
use sebridge::topology::StoreNeed;
use secure_endpoint::Event;
use std::io::Write as _;
use std::path::Path;
use std::path::PathBuf;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

#[derive(clap::Args, Debug)]
pub struct TailArgs {
    /// The tenant (as `sebridge tenants list` shows it).
    #[arg(long, value_name = "NAME")]
    pub tenant: String,
    /// The stored stream to follow (needed when the tenant has several).
    #[arg(long)]
    pub stream: Option<String>,
    /// Print each event's JSON exactly as the vendor sent it, one per line.
    #[arg(long)]
    pub json: bool,
    /// PEM CA file for the broker's certificate (default: the config's stream source
    /// `ca_file`, else the system's roots).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Do not verify the broker's certificate (testing only; warned about).
    #[arg(long)]
    pub insecure: bool,
}

/// The config's first stream source settings, or the defaults.
fn source_settings(config: &sebridge::config::Config) -> StreamSourceConfig {
    config
        .sources
        .values()
        .find_map(|s| match s {
            SourceConfig::Stream(c) => Some(c.clone()),
            _ => None,
        })
        .unwrap_or(StreamSourceConfig {
            streams: Vec::new(),
            tenants: None,
            prefetch: defaults::STREAM_PREFETCH,
            batch_size: defaults::STREAM_BATCH_SIZE,
            batch_wait: defaults::STREAM_BATCH_WAIT,
            heartbeat: defaults::STREAM_HEARTBEAT,
            connect_timeout: defaults::STREAM_CONNECT_TIMEOUT,
            max_backoff: defaults::STREAM_MAX_BACKOFF,
            ca_file: None,
            insecure: false,
        })
}

fn line(e: &Event) -> String {
    // Fixed width (milliseconds always shown), so the columns line up.
    let ms = i64::try_from(e.time().unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let time = super::args::millis_utc(ms);
    format!(
        "{time}  {:<12} {:<34} {:<24} {}",
        e.severity.map(|s| s.as_str()).unwrap_or("-"),
        e.event_type
            .clone()
            .unwrap_or_else(|| e.event_type_id.to_string()),
        e.hostname.as_deref().unwrap_or("-"),
        e.detection.as_deref().unwrap_or("")
    )
}

pub async fn run(args: TailArgs, config_path: &Path) -> anyhow::Result<ExitCode> {
    // It journals what it shows, so it may create the store.
    let s = setup(config_path, Secrets::StoreOnly, StoreNeed::Create).await?;
    let result = tail(&s, args).await;
    s.close().await;
    result
}

async fn tail(s: &super::setup::Setup, args: TailArgs) -> anyhow::Result<ExitCode> {
    let (config, store) = (&s.config, s.store()?);
    s.known_tenant(&args.tenant)?;
    let streams =
        sebridge::sources::stream::credentials::resolve(config, store, Some(&args.tenant))
            .await
            .context("cannot read the stored event streams")?;
    let names = || {
        streams
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let stream = match (&args.stream, streams.len()) {
        (_, 0) => return Err(usage(format!(
            "tenant {} has no stored event stream: create one with `sebridge streams create --tenant {} --name <name>`",
            args.tenant,
            args.tenant
        ))),
        (Some(name), _) => streams
            .iter()
            .find(|s| &s.name == name)
            .cloned()
            .ok_or_else(|| usage(format!("tenant {} has no stream named {name:?} (stored: {})", args.tenant, names())))?,
        (None, 1) => streams[0].clone(),
        (None, _) => {
            return Err(usage(format!("tenant {} has several streams ({}): choose one with --stream", args.tenant, names())))
        }
    };
    let mut settings = source_settings(config);
    if args.ca_file.is_some() || args.insecure {
        settings.ca_file = args.ca_file.clone();
        settings.insecure = args.insecure;
    }
    // Surface a bad TLS setting now, before connecting.
    sebridge::sources::stream::amqp::client_config(&TlsPolicy {
        ca_file: settings.ca_file.clone(),
        insecure: settings.insecure,
    })?;
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    // With the tenant's API at hand, a stream deleted in Secure Endpoint is told once and
    // ends the tail, instead of reconnecting with revoked credentials forever.
    let mut tenant_links = std::collections::BTreeMap::new();
    if let Ok(api) = s.client(&args.tenant).await {
        tenant_links.insert(
            args.tenant.clone(),
            TenantLink {
                api,
                poll_sources: Vec::new(),
            },
        );
    }
    let status = StatusBoard::default();
    let source = StreamSource {
        name: "tail".into(),
        config: settings,
        streams: vec![stream.clone()],
        store: store.clone(),
        status: status.clone(),
        observer: Some(tx),
        cluster: sebridge::cluster::Cluster::single(),
        tenant_links,
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(source.run(shutdown.clone()));
    eprintln!(
        "following stream {} of tenant {} (queue {}); Ctrl-C stops",
        stream.name, args.tenant, stream.credentials.queue_name
    );
    let stop = termination_signal();
    tokio::pin!(stop);
    let mut printed: u64 = 0;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            o = rx.recv() => match o {
                None => break,
                Some(o) => if !show(o, args.json, &mut printed) {
                    break;
                },
            }
        }
    }
    shutdown.cancel();
    // The batch in hand is committed, acked and shown before the consumer stops; the
    // channel closes when it has.
    while let Some(o) = rx.recv().await {
        show(o, args.json, &mut printed);
    }
    let _ = task.await;
    eprintln!("stopped after {printed} event(s)");
    // The consumer ends by itself only when its stream cannot be used any more (deleted).
    if let Some(t) = status
        .snapshot(0)
        .tenants
        .into_iter()
        .find(|t| t.state == sebridge::status::TenantState::Failed)
    {
        anyhow::bail!(
            "{}",
            t.last_error
                .unwrap_or_else(|| "the event stream cannot be used".into())
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints what the consumer reports; false when stdout is gone (e.g. `| head`).
fn show(o: Observed, json: bool, printed: &mut u64) -> bool {
    match o {
        Observed::Connected {
            detail,
            other_consumers,
        } => {
            eprintln!("{detail}");
            if other_consumers > 0 {
                eprintln!(
                    "note: {other_consumers} other consumer(s) (a running `sebridge run`?) share \
                     this queue; the broker splits deliveries, so this shows only a share of the \
                     events. Every event still reaches the journal."
                );
            }
        }
        Observed::Disconnected { reason } => eprintln!("disconnected: {reason}"),
        Observed::Events(events) => {
            let mut out = std::io::stdout().lock();
            for e in &events {
                let text = if json { e.raw().to_string() } else { line(e) };
                if writeln!(out, "{text}").is_err() {
                    return false;
                }
                *printed += 1;
            }
            if out.flush().is_err() {
                return false;
            }
        }
    }
    true
}
