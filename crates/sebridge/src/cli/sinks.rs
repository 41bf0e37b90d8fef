//! `sebridge sinks status|forget`: journal consumers' positions and backlogs.

use super::load_config;
use anyhow::bail;
use clap::Subcommand;
use sebridge::topology::open_store;
use std::path::Path;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct SinksArgs {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Subcommand, Debug)]
pub enum Action {
    /// Every journal consumer's committed position and backlog (rows it has not read).
    Status,
    /// Delete the position of a consumer removed from the configuration for good, so it no
    /// longer holds back journal retention. Refused for a sink still configured.
    Forget { name: String },
}

pub async fn run(args: SinksArgs, config_path: &Path) -> anyhow::Result<ExitCode> {
    let config = match load_config(config_path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let store = open_store(&config).await?;
    let result = async {
        match args.action {
            Action::Status => {
                let head = store.head_from_db().await?;
                let rows = store.count().await?;
                println!("journal: {rows} rows, head {head}");
                println!(
                    "{:<24} {:<14} {:>12} {:>12}",
                    "CONSUMER", "KIND", "POSITION", "BACKLOG"
                );
                let positions = store.positions().await?;
                for (name, p) in &positions {
                    let kind = config
                        .sinks
                        .get(name)
                        .map_or("(not configured)", |s| s.kind());
                    let backlog = store.count_after(p.seq).await?;
                    println!("{name:<24} {kind:<14} {:>12} {backlog:>12}", p.seq);
                }
                for (name, s) in &config.sinks {
                    if !positions.iter().any(|(n, _)| n == name) {
                        println!("{name:<24} {:<14} {:>12} {rows:>12}", s.kind(), "-");
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            Action::Forget { name } => {
                if config.sinks.contains_key(&name) {
                    bail!(
                        "sink {name:?} is still in {}; remove it from the configuration first",
                        config.path.display()
                    );
                }
                if store.forget_position(&name).await? {
                    println!("forgot consumer {name:?}: it no longer holds back journal retention");
                    Ok(ExitCode::SUCCESS)
                } else {
                    bail!("no consumer named {name:?} has a position (see `sebridge sinks status`)")
                }
            }
        }
    }
    .await;
    store.close().await;
    result
}
