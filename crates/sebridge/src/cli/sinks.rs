//! `sebridge sinks status|forget`: journal consumers' positions and backlogs.

use super::setup::{setup, usage, Secrets};
use clap::Subcommand;
use sebridge::topology::StoreNeed;
use std::path::Path;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct SinksArgs {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Subcommand, Debug)]
pub enum Action {
    /// Every journal consumer (each sink, and the incident engine) with its committed
    /// position and backlog (events it has not read yet).
    Status,
    /// Delete the position of a consumer removed from the configuration for good, so it no
    /// longer holds back journal retention. Refused for a consumer still configured.
    Forget {
        /// The consumer: a sink's name, as `sinks status` lists it.
        name: String,
    },
}

pub async fn run(args: SinksArgs, config_path: &Path) -> anyhow::Result<ExitCode> {
    let s = setup(config_path, Secrets::StoreOnly, StoreNeed::Existing).await?;
    let result = async {
        let (config, store) = (&s.config, s.store()?);
        let configured = config.consumers();
        match args.action {
            Action::Status => {
                let head = store.head_from_db().await?;
                let rows = store.count().await?;
                // Sequence numbers have gaps (a duplicate uses one up and is not stored), so
                // the head is not a count: the count is said first.
                println!("journal: {rows} events (newest sequence number {head}; numbers have gaps where duplicates were folded)");
                println!(
                    "{:<24} {:<16} {:>14} {:>16}",
                    "CONSUMER", "KIND", "POSITION (SEQ)", "BACKLOG (EVENTS)"
                );
                let positions = store.positions().await?;
                for (name, p) in &positions {
                    let kind = configured
                        .iter()
                        .find(|(n, _)| n == name)
                        .map_or("(not configured)", |(_, k)| *k);
                    let backlog = store.count_after(p.seq).await?;
                    println!("{name:<24} {kind:<16} {:>14} {backlog:>16}", p.seq);
                }
                for (name, kind) in &configured {
                    if !positions.iter().any(|(n, _)| n == name) {
                        println!("{name:<24} {kind:<16} {:>14} {rows:>16}", "-");
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            Action::Forget { name } => {
                if let Some((_, kind)) = configured.iter().find(|(n, _)| *n == name) {
                    let what = if *kind == "incident engine" {
                        format!("the incident engine's position is in use while [incidents] is in {}", config.path.display())
                    } else {
                        format!("sink {name:?} is still in {}; remove it from the configuration first", config.path.display())
                    };
                    return Err(usage(format!("{what} (forgetting it would make the next run read the whole journal again)")));
                }
                if store.forget_position(&name).await? {
                    println!("forgot consumer {name:?}: it no longer holds back journal retention");
                    Ok(ExitCode::SUCCESS)
                } else {
                    Err(usage(format!(
                        "no consumer named {name:?} has a position (see `sebridge sinks status`)"
                    )))
                }
            }
        }
    }
    .await;
    s.close().await;
    result
}
