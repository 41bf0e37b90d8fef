//! `sebridge validate`: every problem of the file (with file:line:col), then the tenants it
//! names checked against the store's registry, when there is a store.

use super::setup::{load, Secrets};
use sebridge::topology::{open_store_as, StoreNeed};
use std::path::Path;
use std::process::ExitCode;

pub async fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let config = load(path, Secrets::All)?;
    // Only read: validating a mistyped path must not create a store there.
    let store = open_store_as(&config, StoreNeed::IfExists).await?;
    let registered: Vec<String> = match &store {
        Some(s) => {
            let rows = s.registered_tenants().await;
            s.close().await;
            rows?.into_iter().map(|r| r.name).collect()
        }
        None => Vec::new(),
    };
    config.check_tenants(&registered, true)?;
    println!(
        "{}: OK ({})",
        path.display(),
        sebridge::config::summary(&config, registered.len())
    );
    Ok(ExitCode::SUCCESS)
}
