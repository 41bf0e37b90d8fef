//! `sebridge backfill`: read a tenant's history from a given time into the journal, once.

use super::progress::Progress;
use super::{load_config, termination_signal};
use anyhow::{bail, Context};
use sebridge::config::{PollSourceConfig, SourceConfig};
use sebridge::sources::{poll, Tenant};
use sebridge::status::StatusBoard;
use sebridge::tenants::api_client;
use sebridge::tenants::resolve_all;
use sebridge::topology::open_store;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

#[derive(clap::Args, Debug)]
pub struct BackfillArgs {
    #[arg(long)]
    pub tenant: String,
    /// Start: RFC 3339 time or a duration back from now ("7d").
    #[arg(long)]
    pub since: String,
    /// Start over instead of resuming an interrupted backfill of this tenant.
    #[arg(long)]
    pub restart: bool,
}

pub async fn run(args: BackfillArgs, config_path: &Path) -> anyhow::Result<ExitCode> {
    let config = match load_config(config_path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let since =
        match OffsetDateTime::parse(&args.since, &time::format_description::well_known::Rfc3339) {
            Ok(t) => t,
            Err(_) => {
                let d = humantime::parse_duration(&args.since).with_context(|| {
                    format!(
                        "--since {:?}: expected an RFC 3339 time or a duration like \"7d\"",
                        args.since
                    )
                })?;
                OffsetDateTime::now_utc() - d
            }
        };
    // The poll source's settings (filters, page size, timeout) apply, with the new start.
    let mut poll_cfg: PollSourceConfig = config
        .sources
        .values()
        .find_map(|s| match s {
            SourceConfig::Poll(p) => Some(p.clone()),
            _ => None,
        })
        .context("backfill uses a poll source's settings; the config has none")?;
    poll_cfg.since = Some(since);
    let store = open_store(&config).await?;
    let tenants = resolve_all(&config, &store).await?;
    let Some(t) = tenants.iter().find(|t| t.name == args.tenant) else {
        store.close().await;
        bail!("no tenant named {:?}", args.tenant);
    };
    let http = secure_endpoint::default_http_client(poll_cfg.request_timeout)?;
    let tenant = Tenant {
        name: t.name.clone(),
        client: api_client(t, &http)?,
    };
    let status = StatusBoard::default();
    let shutdown = CancellationToken::new();
    // Progress by time covered: from `since` to now, as the cursor moves forward.
    let progress_done = CancellationToken::new();
    let progress = {
        let status = status.clone();
        let name = t.name.clone();
        let start = since.unix_timestamp();
        let end = OffsetDateTime::now_utc().unix_timestamp();
        let total = u64::try_from(end - start).unwrap_or(0).max(1);
        let done_token = progress_done.clone();
        tokio::spawn(async move {
            let mut bar = Progress::new(format!("backfill {name}"), total);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = done_token.cancelled() => break,
                }
                if let Some(s) = status
                    .snapshot(0)
                    .tenants
                    .into_iter()
                    .find(|s| s.tenant == name)
                {
                    let at = s.cursor_time.unwrap_or(start);
                    let done = u64::try_from(at - start).unwrap_or(0);
                    let reached = OffsetDateTime::from_unix_timestamp(at)
                        .ok()
                        .and_then(|c| {
                            c.format(&time::format_description::well_known::Rfc3339)
                                .ok()
                        })
                        .unwrap_or_default();
                    let detail = format!(", {} requests, reached {reached}", s.requests);
                    bar.update(done, total, s.events_ingested, &detail);
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
        "backfill",
        store.clone(),
        status,
        args.restart,
        &shutdown,
    )
    .await;
    // The bar is cleared before the summary line.
    progress_done.cancel();
    let _ = progress.await;
    signal.abort();
    store.close().await;
    match result {
        Ok(outcome) => {
            println!(
                "backfill of {} done: {} new events journaled ({} already there), {} requests",
                args.tenant, outcome.inserted, outcome.duplicates, outcome.requests
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(poll::PollError::Shutdown) => {
            println!("backfill interrupted; run the same command again to resume");
            Ok(ExitCode::from(130))
        }
        Err(e) => Err(e).context("backfill failed"),
    }
}
