//! `sebridge run`.

use super::setup::{load, Secrets};
use super::termination_signal;
use anyhow::Context;
use sebridge::topology::Topology;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use tracing::{error, info, warn};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Exit once every tenant is caught up, every sink has delivered everything, and nothing
    /// new arrived for this long ("30s"; for batch jobs and tests). Exit code 0, or 1 when
    /// some tenant failed with an error that needs a human (bad credentials...).
    #[arg(long, value_name = "DURATION", value_parser = super::args::duration)]
    pub until_idle: Option<Duration>,
    /// Serve /metrics, /healthz, /status and the dashboard here (overrides [server] listen).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

pub async fn run(args: RunArgs, config_path: &Path) -> anyhow::Result<ExitCode> {
    let stop = termination_signal();
    let config = load(config_path, Secrets::All)?;
    let topology = Topology::start(&config, args.listen)
        .await
        .with_context(|| format!("cannot start the pipeline of {}", config.path.display()))?;
    info!(config = %config.path.display(), "sebridge running; Ctrl-C or SIGTERM stops it cleanly");
    // Whether a batch run (`--until-idle`) reached idle; a signal stops it before.
    let mut went_idle = false;
    match args.until_idle {
        Some(idle) => {
            tokio::select! {
                _ = topology.wait_idle(idle) => {
                    went_idle = true;
                    info!("idle: every tenant caught up and every sink delivered");
                }
                signal = stop => info!("stop requested ({signal})"),
            }
        }
        None => {
            let signal = stop.await;
            info!("stop requested ({signal})");
        }
    }
    let report = topology.stop().await;
    info!(journal_head = report.journal_head, "stopped cleanly");
    if !report.failed_tenants.is_empty() {
        for (tenant, err) in &report.failed_tenants {
            error!(tenant = %tenant, error = %err, "tenant failed");
            eprintln!("tenant {tenant} failed: {err}");
        }
        warn!(
            count = report.failed_tenants.len(),
            "some tenants could not be read"
        );
        // A stop asked for by a signal is the normal end of `run` (exit 0, as documented);
        // only a batch run that went idle reports the tenants that failed by its status.
        if went_idle {
            return Ok(ExitCode::from(1));
        }
    }
    if args.until_idle.is_some() && !went_idle {
        // Stopped before it was idle: the batch job did not finish.
        return Ok(ExitCode::from(super::EXIT_INTERRUPTED));
    }
    Ok(ExitCode::SUCCESS)
}
