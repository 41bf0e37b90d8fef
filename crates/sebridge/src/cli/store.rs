//! `sebridge store migrate`: copy a single-node SQLite store into PostgreSQL.

use anyhow::Context;
use clap::Subcommand;
use sebridge::store::{migrate, redact_url, Store};
use sebridge::topology::lock_sqlite;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct StoreArgs {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Subcommand, Debug)]
pub enum Action {
    /// Copy journal, cursors, positions, tenants, streams, incidents, outbox and audit log of a
    /// SQLite store into a PostgreSQL store (sequence numbers and ids kept; run it again to
    /// finish an interrupted copy). Stop `sebridge run` first.
    Migrate {
        /// The SQLite store: `sqlite:PATH`.
        #[arg(long, value_name = "sqlite:PATH", value_parser = sqlite_path)]
        from: PathBuf,
        /// The PostgreSQL store: `postgres://user:password@host:5432/db`.
        #[arg(long, value_name = "postgres://...", value_parser = postgres_url)]
        to: String,
        /// Schema of the PostgreSQL store (as `[store] schema`; created if missing).
        #[arg(long)]
        schema: Option<String>,
    },
}

/// `sqlite:PATH` (a usage error, exit 2, otherwise).
fn sqlite_path(s: &str) -> Result<PathBuf, String> {
    s.strip_prefix("sqlite:")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| {
            format!("expected sqlite:PATH (e.g. sqlite:/var/lib/sebridge/sebridge.db), found {s:?}")
        })
}

/// A postgres:// URL (never echoed: it may hold a password).
fn postgres_url(s: &str) -> Result<String, String> {
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        Ok(s.to_string())
    } else {
        Err(format!(
            "expected a postgres:// URL, found {}",
            redact_url(s)
        ))
    }
}

pub async fn run(args: StoreArgs) -> anyhow::Result<ExitCode> {
    let Action::Migrate {
        from: path,
        to,
        schema,
    } = args.action;
    if !path.is_file() {
        return Err(super::setup::usage(format!(
            "no SQLite store at {}",
            path.display()
        )));
    }
    // Nothing may write to the source while it is copied.
    let _lock = lock_sqlite(&path)?;
    let source = Store::open_sqlite(&path)
        .await
        .with_context(|| format!("cannot open {}", path.display()))?;
    let target = Store::open_postgres(&to, schema.as_deref()).await?;
    eprintln!(
        "copying {} into {}{} ...",
        path.display(),
        redact_url(&to),
        schema
            .as_deref()
            .map(|s| format!(" (schema {s})"))
            .unwrap_or_default()
    );
    let result = migrate::migrate(&source, &target).await;
    source.close().await;
    target.close().await;
    let report = result?;
    println!("{:<18} {:>12} {:>12}", "TABLE", "IN SOURCE", "COPIED");
    for (table, read, copied) in &report.tables {
        println!("{table:<18} {read:>12} {copied:>12}");
    }
    println!(
        "done: point [store] at kind = \"postgres\" and start the replicas (rows already in the target were kept)"
    );
    Ok(ExitCode::SUCCESS)
}
