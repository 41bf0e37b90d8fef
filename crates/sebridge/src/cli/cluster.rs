//! `sebridge cluster status`: the replicas sharing a PostgreSQL store, their heartbeats and
//! who runs which tenant, sink and the incident service.

use super::setup::{setup, usage, Secrets};
use clap::Subcommand;
use sebridge::cluster::status;
use sebridge::topology::StoreNeed;
use std::path::Path;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Subcommand, Debug)]
pub enum Action {
    /// Replicas (alive or not), then every lease: owner, epoch, expiry, takeovers.
    Status {
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(args: ClusterArgs, config_path: &Path) -> anyhow::Result<ExitCode> {
    let config = super::setup::load(config_path, Secrets::StoreOnly)?;
    if !matches!(config.store, sebridge::config::StoreConfig::Postgres { .. }) {
        return Err(usage(format!(
            "{}: the store is SQLite: one process runs everything (replicas need [store] kind = \"postgres\")",
            config.path.display()
        )));
    }
    let s = setup(config_path, Secrets::StoreOnly, StoreNeed::Existing).await?;
    let lease_ms = i64::try_from(s.config.cluster.lease.as_millis()).unwrap_or(i64::MAX);
    let result = status::read(s.store()?, lease_ms).await;
    s.close().await;
    let Action::Status { json } = args.action;
    let st = result?;
    if json {
        println!("{}", serde_json::to_string_pretty(&st)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<40} {:<6} {:>10} {:>8}",
        "REPLICA", "STATE", "HEARTBEAT", "LEASES"
    );
    let now = sebridge::store::now_millis();
    for r in &st.replicas {
        let held = st
            .leases
            .iter()
            .filter(|l| l.owner.as_deref() == Some(&r.id) && l.expires_in_ms > 0)
            .count();
        let state = if r.alive { "alive" } else { "gone" };
        let ago = format!("{:.1}s ago", (now - r.heartbeat_at).max(0) as f64 / 1000.0);
        println!("{:<40} {state:<6} {ago:>10} {held:>8}", r.id);
    }
    println!();
    println!(
        "{:<32} {:<40} {:>6} {:>10} {:>9}",
        "LEASE", "OWNER", "EPOCH", "EXPIRES", "TAKEOVERS"
    );
    for l in &st.leases {
        let (owner, expires) = match (&l.owner, l.expires_in_ms) {
            (Some(o), ms) if ms > 0 => (o.as_str(), format!("in {:.1}s", ms as f64 / 1000.0)),
            (Some(o), _) => (o.as_str(), "expired".to_string()),
            (None, _) => ("-", "free".to_string()),
        };
        println!(
            "{:<32} {owner:<40} {:>6} {expires:>10} {:>9}",
            l.name, l.epoch, l.takeovers
        );
    }
    Ok(ExitCode::SUCCESS)
}
