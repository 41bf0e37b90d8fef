//! `sebridge replay` (rewind a consumer's position) and `sebridge dead-letters`.

use super::progress::Progress;
use super::setup::{setup, usage, Secrets, Setup, EXIT_INTERRUPTED};
use super::termination_signal;
use anyhow::{bail, Context};
use sebridge::status::StatusBoard;
use sebridge::store::Position;
use sebridge::topology::{lock_store, StoreNeed};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

#[derive(clap::Args, Debug)]
#[command(group = clap::ArgGroup::new("from").required(true).args(["since", "from_seq", "from_start"]))]
pub struct ReplayArgs {
    /// The consumer to rewind: a sink's name (see `[sinks.<name>]`).
    #[arg(long, value_name = "SINK")]
    pub consumer: String,
    /// Deliver again everything journaled (received) at or after this time: RFC 3339 or a
    /// duration back from now ("2h") ...
    #[arg(long, value_name = "TIME", value_parser = super::args::since)]
    pub since: Option<OffsetDateTime>,
    /// ... or from this journal sequence number on (as `sinks status` shows positions) ...
    #[arg(long, value_name = "SEQ")]
    pub from_seq: Option<i64>,
    /// ... or everything in the journal.
    #[arg(long)]
    pub from_start: bool,
    /// Deliver now, up to the journal's head, with progress (events, rate, ETA), instead of
    /// leaving it to the next `sebridge run`.
    #[arg(long)]
    pub deliver: bool,
}

#[derive(clap::Args, Debug)]
pub struct DeadLettersArgs {
    /// At most this many (the newest).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
    /// Print JSON lines (with the raw message) instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub async fn replay(args: ReplayArgs, config_path: &Path) -> anyhow::Result<ExitCode> {
    // Delivering needs the sink's secrets; a rewind only the store.
    let secrets = if args.deliver {
        Secrets::All
    } else {
        Secrets::StoreOnly
    };
    let config = super::setup::load(config_path, secrets)?;
    if !config.sinks.contains_key(&args.consumer) {
        let known: Vec<&str> = config.sinks.keys().map(String::as_str).collect();
        return Err(usage(format!(
            "no sink named {:?} (sinks: {})",
            args.consumer,
            known.join(", ")
        )));
    }
    // Refuse while a pipeline runs: it would overwrite the rewound position.
    let _lock = lock_store(&config)?;
    let s = setup(config_path, secrets, StoreNeed::Existing).await?;
    let result = rewind(&s, &args).await;
    s.close().await;
    result
}

async fn rewind(s: &Setup, args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let store = s.store()?;
    // On PostgreSQL the sink may run on another machine: refuse while a replica holds it.
    if store.is_postgres() {
        let unit = sebridge::cluster::sink_lease(&args.consumer);
        if let Some(replica) = sebridge::cluster::status::holder(store, &unit).await? {
            bail!(
                "sink {:?} is running on replica {replica}; stop the replicas first (`sebridge cluster status`)",
                args.consumer
            );
        }
    }
    let current = store.position(&args.consumer).await?.unwrap_or_default();
    let from = if args.from_start {
        1
    } else if let Some(seq) = args.from_seq {
        seq.max(1)
    } else if let Some(since) = args.since {
        let millis = i64::try_from(since.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
        match store.first_seq_received_since(millis).await? {
            Some(seq) => seq,
            None => {
                println!(
                    "nothing was journaled at or after {}: nothing to replay",
                    super::args::rfc3339(since)
                );
                return Ok(ExitCode::SUCCESS);
            }
        }
    } else {
        return Err(usage(
            "say where to replay from: --since TIME, --from-seq N or --from-start",
        ));
    };
    let target = from - 1;
    if target >= current.seq {
        println!(
            "{} is at {}; nothing to replay from {from}",
            args.consumer, current.seq
        );
        return Ok(ExitCode::SUCCESS);
    }
    // The sink's own state (e.g. the file's committed length) is kept: replayed events are
    // delivered again after what is already there, not written over it.
    store
        .commit_position(
            &args.consumer,
            &Position {
                seq: target,
                state: current.state.clone(),
            },
        )
        .await?;
    if !args.deliver {
        println!(
            "{}: position {} -> {target}; events from {from} on are delivered again at the next `sebridge run`",
            args.consumer, current.seq
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{}: position {} -> {target}; delivering",
        args.consumer, current.seq
    );
    deliver(&s.config, store, &args.consumer, target).await
}

/// Runs the one sink from `from` up to the journal's head as it is now, showing progress;
/// SIGINT/SIGTERM stop it cleanly (what was delivered stays committed).
async fn deliver(
    config: &sebridge::config::Config,
    store: &sebridge::store::Store,
    name: &str,
    from: i64,
) -> anyhow::Result<ExitCode> {
    let sink = config
        .sinks
        .get(name)
        .with_context(|| format!("no sink named {name:?}"))?;
    let head = store.head_from_db().await?;
    // In events, not sequence numbers (they have gaps): what the sink has to go through.
    let total = u64::try_from(store.count_after(from).await?).unwrap_or(0);
    let status = StatusBoard::default();
    let shutdown = CancellationToken::new();
    let mut set = JoinSet::new();
    sebridge::sinks::build::spawn_sink(&mut set, name, sink, store, &status, &shutdown);
    let signal = tokio::spawn(termination_signal());
    let mut bar = Progress::new(format!("replay {name}"), Some(total));
    let mut interrupted = false;
    let reached = loop {
        let snap = status.snapshot(head);
        let s = snap.sinks.iter().find(|s| s.sink == name);
        let position = s.map_or(from, |s| s.position);
        let detail = match s.and_then(|s| s.last_error.as_deref()) {
            Some(e) if !s.is_some_and(|s| s.healthy) => format!(", failing: {e}"),
            _ => String::new(),
        };
        // Filtered and dead-lettered events are gone through too.
        let done = s.map_or(0, |s| {
            s.events_written + s.events_filtered + s.events_dead_lettered
        });
        bar.update(done, Some(total), &detail);
        if position >= head {
            break position;
        }
        if signal.is_finished() {
            interrupted = true;
            break position;
        }
        if set.is_empty() {
            break position;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    shutdown.cancel();
    while set.join_next().await.is_some() {}
    signal.abort();
    bar.finish();
    // After the stop, the sink has committed what it delivered.
    let committed = store.position(name).await?.map_or(reached, |p| p.seq);
    if interrupted {
        println!("{name}: replay interrupted at {committed}; `sebridge run` delivers the rest");
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    if committed < head {
        let why = status
            .snapshot(head)
            .sinks
            .into_iter()
            .find(|s| s.sink == name)
            .and_then(|s| s.last_error)
            .unwrap_or_else(|| "see the log".into());
        bail!("sink {name} stopped at {committed}, before the journal's head {head}: {why}");
    }
    println!("{name}: delivered again up to {committed} (the journal's head)");
    Ok(ExitCode::SUCCESS)
}

pub async fn dead_letters(args: DeadLettersArgs, config_path: &Path) -> anyhow::Result<ExitCode> {
    let s = setup(config_path, Secrets::StoreOnly, StoreNeed::Existing).await?;
    let letters = s.store()?.dead_letters(args.limit).await;
    s.close().await;
    let letters = letters?;
    for d in &letters {
        let when = super::args::millis_utc(d.received_at);
        if args.json {
            println!(
                "{}",
                serde_json::json!({"id": d.id, "tenant": d.tenant, "source": d.source, "reason": d.reason, "received_at": when, "raw": d.raw})
            );
        } else {
            println!(
                "#{:<6} {when} {:<16} {:<10} {}",
                d.id, d.tenant, d.source, d.reason
            );
        }
    }
    if !args.json {
        eprintln!("{} dead letter(s) shown", letters.len());
    }
    Ok(ExitCode::SUCCESS)
}
