//! `sebridge backfill`: read a tenant's history from a given time into the journal, once.
//!
//! The range a backfill covers is recorded (`backfills`): a second backfill asked to start
//! earlier than the first reads the wider range again, rather than resuming a cursor that is
//! already past it and reporting "0 new events" over hours never read.

use super::args::rfc3339;
use super::progress::Progress;
use super::setup::{setup, usage, Secrets, EXIT_INTERRUPTED};
use super::termination_signal;
use anyhow::Context;
use sebridge::config::{PollSourceConfig, SourceConfig};
use sebridge::sources::{poll, Tenant};
use sebridge::status::StatusBoard;
use sebridge::store::{now_millis, Store};
use sebridge::tenants::api_client;
use sebridge::topology::StoreNeed;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// The cursor a backfill reads under (per tenant), apart from the poll source's.
const CURSOR: &str = "backfill";

#[derive(clap::Args, Debug)]
pub struct BackfillArgs {
    /// The tenant (as `sebridge tenants list` shows it).
    #[arg(long, value_name = "NAME")]
    pub tenant: String,
    /// Start: an RFC 3339 time or a duration back from now ("7d").
    #[arg(long, value_name = "TIME", value_parser = super::args::since)]
    pub since: OffsetDateTime,
    /// Start over instead of resuming an interrupted backfill of this tenant.
    #[arg(long)]
    pub restart: bool,
}

fn at(epoch_s: i64) -> String {
    OffsetDateTime::from_unix_timestamp(epoch_s)
        .map(rfc3339)
        .unwrap_or_else(|_| epoch_s.to_string())
}

/// Whether to start from `since` (and why, for the user) or resume the cursor there.
async fn plan(
    store: &Store,
    tenant: &str,
    since: i64,
    restart: bool,
) -> anyhow::Result<Option<String>> {
    if restart {
        return Ok(Some(format!(
            "starting over from {} (--restart)",
            at(since)
        )));
    }
    let cursor = store.cursor(tenant, CURSOR).await?;
    let range = store.backfill_range(tenant).await?;
    Ok(match (cursor, range) {
        (None, _) => Some(format!("reading from {}", at(since))),
        (Some(_), Some((from, finished))) if since < from => Some(format!(
            "an earlier backfill read from {}{}; {} is earlier, so the wider range is read \
             (events already journaled fold)",
            at(from),
            finished.map_or(" (unfinished)".to_string(), |ms| format!(
                " until {}",
                at(ms / 1000)
            )),
            at(since)
        )),
        // A cursor from before ranges were recorded: where it started is unknown.
        (Some(_), None) => Some(format!(
            "reading from {} (where the earlier backfill started is not recorded)",
            at(since)
        )),
        (Some(c), Some((from, finished))) => {
            match finished {
                Some(ms) => eprintln!(
                    "backfill of {tenant}: the history from {} was read by an earlier backfill \
                     (finished {}); reading what arrived since (`--restart` reads it all again)",
                    at(from),
                    at(ms / 1000)
                ),
                None => eprintln!(
                    "backfill of {tenant}: resuming the interrupted backfill from {} (reached {})",
                    at(from),
                    at(c.time)
                ),
            }
            None
        }
    })
}

pub async fn run(args: BackfillArgs, config_path: &Path) -> anyhow::Result<ExitCode> {
    let s = setup(config_path, Secrets::StoreOnly, StoreNeed::Create).await?;
    let result = backfill(&s, args).await;
    s.close().await;
    result
}

async fn backfill(s: &super::setup::Setup, args: BackfillArgs) -> anyhow::Result<ExitCode> {
    let (config, store) = (&s.config, s.store()?);
    let t = s.tenant(&args.tenant).await?;
    // The poll source's settings (filters, page size, timeout) apply, with the new start.
    let mut poll_cfg: PollSourceConfig = config
        .sources
        .values()
        .find_map(|s| match s {
            SourceConfig::Poll(p) => Some(p.clone()),
            _ => None,
        })
        .ok_or_else(|| usage("backfill uses a poll source's settings; the config has none"))?;
    poll_cfg.since = Some(args.since);
    let since = args.since.unix_timestamp();
    let fresh = plan(store, &t.name, since, args.restart).await?;
    if let Some(why) = &fresh {
        eprintln!("backfill of {}: {why}", t.name);
        store.delete_cursor(&t.name, CURSOR).await?;
        store.set_backfill_range(&t.name, since, None).await?;
    }
    let http = secure_endpoint::default_http_client(poll_cfg.request_timeout)?;
    let tenant = Tenant {
        name: t.name.clone(),
        client: api_client(&t, &http)?,
    };
    let status = StatusBoard::default();
    let shutdown = CancellationToken::new();
    // Progress in events: those read this run, of those plus what the API still lists.
    let progress_done = CancellationToken::new();
    let progress = {
        let status = status.clone();
        let name = t.name.clone();
        let done_token = progress_done.clone();
        tokio::spawn(async move {
            let mut bar = Progress::new(format!("backfill {name}"), None);
            loop {
                // The last look is taken once the work is done, so the end is counted too.
                let last = tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => false,
                    _ = done_token.cancelled() => true,
                };
                if let Some(s) = status
                    .snapshot(0)
                    .tenants
                    .into_iter()
                    .find(|s| s.tenant == name)
                {
                    let read = s.events_ingested + s.duplicates;
                    let reached = s.cursor_time.map(at).unwrap_or_else(|| "-".into());
                    let detail = format!(", {} requests, reached {reached}", s.requests);
                    bar.update(read, s.events_left.map(|left| read + left), &detail);
                }
                if last {
                    break;
                }
            }
            bar.finish();
        })
    };
    let stop = shutdown.clone();
    let signal = tokio::spawn(async move {
        termination_signal().await;
        stop.cancel();
    });
    let result = poll::backfill(
        tenant,
        poll_cfg,
        CURSOR,
        store.clone(),
        status,
        false,
        &shutdown,
    )
    .await;
    // The bar is cleared before the summary line.
    progress_done.cancel();
    let _ = progress.await;
    signal.abort();
    match result {
        Ok(outcome) => {
            let from = store.backfill_range(&t.name).await?.map_or(since, |r| r.0);
            store
                .set_backfill_range(&t.name, from, Some(now_millis()))
                .await?;
            println!(
                "backfill of {} done: {} new events journaled ({} already there), {} requests",
                args.tenant, outcome.inserted, outcome.duplicates, outcome.requests
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(poll::PollError::Shutdown) => {
            println!("backfill interrupted; run the same command again to resume");
            Ok(ExitCode::from(EXIT_INTERRUPTED))
        }
        Err(e) => Err(e).context("backfill failed"),
    }
}
