//! `sebridge tenants add|list|remove|test`.

use super::load_config;
use anyhow::{bail, Context};
use clap::Subcommand;
use sebridge::incidents::rules::containment_rules;
use sebridge::tenants::{self, api_client, NewTenant, Origin};
use sebridge::topology::open_store;
use secure_endpoint::{Region, SecretString};
use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct TenantsArgs {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Subcommand, Debug)]
pub enum Action {
    /// Add a tenant; its API key is read from stdin (or --api-key-env) and stored encrypted.
    Add {
        /// Tenant name: 1-64 of a-z, 0-9, '-', '_'.
        #[arg(long)]
        name: String,
        /// Region: us, eu or apjc.
        #[arg(
            long,
            conflicts_with = "base_url",
            required_unless_present = "base_url"
        )]
        region: Option<Region>,
        /// Custom API base URL instead of a region.
        #[arg(long)]
        base_url: Option<url::Url>,
        /// API client id.
        #[arg(long)]
        client_id: String,
        /// Read the API key from this environment variable instead of stdin (never pass
        /// keys as arguments: other users can see a process's arguments).
        #[arg(long, value_name = "VAR")]
        api_key_env: Option<String>,
    },
    /// List tenants (the API key is never shown).
    List,
    /// Remove a tenant added with `tenants add`.
    Remove { name: String },
    /// Check each tenant's credentials against the API (GET /v1/version) and whether its key
    /// may write (isolation, group moves, event streams), with a write that changes nothing.
    Test {
        /// Only this tenant.
        name: Option<String>,
    },
}

fn read_api_key(env: Option<&str>) -> anyhow::Result<SecretString> {
    let key = match env {
        Some(var) => {
            std::env::var(var).with_context(|| format!("environment variable {var} is not set"))?
        }
        None => {
            eprintln!("API key (read from stdin, one line):");
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("cannot read the API key from stdin")?;
            line
        }
    };
    let key = key.trim().to_string();
    if key.is_empty() {
        bail!("the API key is empty");
    }
    Ok(SecretString::from(key))
}

pub async fn run(args: TenantsArgs, config_path: &Path) -> anyhow::Result<ExitCode> {
    let config = match load_config(config_path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let store = open_store(&config).await?;
    let result = async {
        match args.action {
            Action::Add {
                name,
                region,
                base_url,
                client_id,
                api_key_env,
            } => {
                let api_key = read_api_key(api_key_env.as_deref())?;
                tenants::add(
                    &config,
                    &store,
                    NewTenant {
                        name: name.clone(),
                        region,
                        base_url,
                        client_id,
                        api_key,
                    },
                )
                .await?;
                println!("tenant {name} added (API key stored encrypted)");
                Ok(ExitCode::SUCCESS)
            }
            Action::List => {
                let all = tenants::resolve_all(&config, &store).await?;
                println!(
                    "{:<24} {:<9} {:<40} CLIENT ID",
                    "NAME", "ORIGIN", "ENDPOINT"
                );
                for t in all {
                    let origin = match t.origin {
                        Origin::Config => "config",
                        Origin::Registry => "registry",
                    };
                    let endpoint = t
                        .region
                        .map(|r| r.to_string())
                        .unwrap_or_else(|| t.base_url.to_string());
                    println!(
                        "{:<24} {:<9} {:<40} {}",
                        t.name,
                        origin,
                        endpoint,
                        t.credentials.client_id()
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            Action::Remove { name } => {
                if config.tenants.contains_key(&name) {
                    bail!(
                        "tenant {name:?} is defined in {}; edit that file to remove it",
                        config.path.display()
                    );
                }
                if store.remove_tenant(&name).await? {
                    println!("tenant {name} removed");
                    Ok(ExitCode::SUCCESS)
                } else {
                    bail!("no tenant named {name:?} in the registry");
                }
            }
            Action::Test { name } => {
                let all = tenants::resolve_all(&config, &store).await?;
                let http = secure_endpoint::default_http_client(Duration::from_secs(20))?;
                let mut failed = 0;
                let mut tested = 0;
                for t in all
                    .iter()
                    .filter(|t| name.as_ref().is_none_or(|n| n == &t.name))
                {
                    tested += 1;
                    let client = api_client(t, &http)?;
                    match client.version().await {
                        Ok(v) => {
                            let left = v
                                .rate_limit
                                .and_then(|r| r.remaining)
                                .map(|r| format!(", {r} requests left this hour"))
                                .unwrap_or_default();
                            // A move of a computer that does not exist: 403 = read-only.
                            let scope = tenants::probe_write_scope(&client).await;
                            println!(
                                "{:<24} ok ({}{left}), {}",
                                t.name,
                                client.base_url(),
                                scope.describe()
                            );
                            let needing = config
                                .incidents
                                .as_ref()
                                .map(|i| containment_rules(i, &t.name))
                                .unwrap_or_default();
                            if matches!(scope, tenants::WriteScope::ReadOnly(_))
                                && !needing.is_empty()
                            {
                                failed += 1;
                                println!(
                                    "{:<24} FAILED: rule(s) {} ask for containment on this tenant; its isolations and group moves will fail",
                                    "",
                                    needing.join(", ")
                                );
                            }
                        }
                        Err(e) => {
                            failed += 1;
                            println!("{:<24} FAILED: {e}", t.name);
                        }
                    }
                }
                if tested == 0 {
                    bail!(
                        "no tenant to test{}",
                        name.map(|n| format!(" named {n:?}")).unwrap_or_default()
                    );
                }
                Ok(if failed > 0 {
                    ExitCode::from(1)
                } else {
                    ExitCode::SUCCESS
                })
            }
        }
    }
    .await;
    store.close().await;
    result
}
