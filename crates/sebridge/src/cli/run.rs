//! `sebridge run`.

use super::{load_config, termination_signal};
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
    /// new arrived for SECS seconds (for batch jobs and tests). Exit code 0, or 1 when some
    /// tenant failed with an error that needs a human (bad credentials...).
    #[arg(long, value_name = "SECS")]
    pub until_idle: Option<f64>,
    /// Serve /metrics, /healthz, /status and the dashboard here (overrides [server] listen).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
}

pub async fn run(args: RunArgs, config_path: &Path) -> anyhow::Result<ExitCode> {
    let stop = termination_signal();
    let config = match load_config(config_path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let topology = Topology::start(&config, args.listen)
        .await
        .with_context(|| format!("cannot start the pipeline of {}", config.path.display()))?;
    info!(config = %config.path.display(), "sebridge running; Ctrl-C or SIGTERM stops it cleanly");
    match args.until_idle {
        Some(secs) => {
            let idle = Duration::try_from_secs_f64(secs)
                .context("--until-idle must be a positive number of seconds")?;
            tokio::select! {
                _ = topology.wait_idle(idle) => info!("idle: every tenant caught up and every sink delivered"),
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
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
