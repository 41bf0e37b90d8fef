//! `sebridge tenants add|list|remove|test`.

use super::setup::{setup, usage, Secrets, Setup};
use anyhow::{bail, Context};
use clap::Subcommand;
use sebridge::config::unset_reference;
use sebridge::incidents::rules::containment_rules;
use sebridge::tenants::{self, api_client, NewTenant, Origin};
use sebridge::topology::StoreNeed;
use secure_endpoint::{ExposeSecret, Region, SecretString};
use std::io::{BufRead, IsTerminal};
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
    /// Add a tenant to the store; its API key is read from the terminal without echo (or
    /// one line of stdin, or --api-key-env) and stored encrypted.
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
        /// Custom API base URL instead of a region (a proxy, the simulator).
        #[arg(long, value_name = "URL")]
        base_url: Option<url::Url>,
        /// API client id (the 3rd party API credential's client id).
        #[arg(long, value_name = "ID")]
        client_id: String,
        /// Read the API key from this environment variable instead of the terminal or stdin
        /// (never pass keys as arguments: other users can see a process's arguments).
        #[arg(long, value_name = "VAR")]
        api_key_env: Option<String>,
    },
    /// List tenants, from the config file and the store (the API key is never shown).
    List,
    /// Remove a tenant added with `tenants add`.
    Remove {
        /// The tenant's name.
        name: String,
    },
    /// Check each tenant's credentials against the API (GET /v1/version) and whether its key
    /// may write (isolation, group moves, event streams), with a write that changes nothing.
    Test {
        /// Only this tenant.
        name: Option<String>,
    },
}

/// The API key: from `env`, else typed on the terminal without echo, else one line of stdin.
fn read_api_key(env: Option<&str>) -> anyhow::Result<SecretString> {
    let key = match env {
        Some(var) => std::env::var(var)
            .map_err(|_| usage(format!("environment variable {var} is not set")))?,
        None if std::io::stdin().is_terminal() => {
            rpassword::prompt_password("API key (not shown as you type): ")
                .context("cannot read the API key from the terminal")?
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
        return Err(usage("the API key is empty"));
    }
    Ok(SecretString::from(key))
}

pub async fn run(args: TenantsArgs, config_path: &Path) -> anyhow::Result<ExitCode> {
    // Only `add` creates the store; the others read what is there (a mistyped path must not
    // leave an empty store behind). `test` needs only the credentials of the tenants it tests.
    let need = match &args.action {
        Action::Add { .. } => StoreNeed::Create,
        Action::Remove { .. } => StoreNeed::Existing,
        Action::List | Action::Test { .. } => StoreNeed::IfExists,
    };
    let s = setup(config_path, Secrets::StoreOnly, need).await?;
    let result = match args.action {
        Action::Add {
            name,
            region,
            base_url,
            client_id,
            api_key_env,
        } => add(&s, name, region, base_url, client_id, api_key_env).await,
        Action::List => list(&s).await,
        Action::Remove { name } => remove(&s, &name).await,
        Action::Test { name } => test(&s, name).await,
    };
    s.close().await;
    result
}

async fn add(
    s: &Setup,
    name: String,
    region: Option<Region>,
    base_url: Option<url::Url>,
    client_id: String,
    api_key_env: Option<String>,
) -> anyhow::Result<ExitCode> {
    let store = s.store()?;
    // Everything that can be wrong is said before the key is asked for.
    tenants::check_new(
        &s.config,
        store,
        &name,
        region,
        base_url.as_ref(),
        &client_id,
    )
    .await
    .map_err(|e| usage(e.to_string()))?;
    let api_key = read_api_key(api_key_env.as_deref())?;
    tenants::add(
        &s.config,
        store,
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

async fn list(s: &Setup) -> anyhow::Result<ExitCode> {
    let all = s.tenants().await?;
    println!(
        "{:<24} {:<9} {:<40} CLIENT ID",
        "NAME", "ORIGIN", "ENDPOINT"
    );
    for t in &all {
        let origin = match t.origin {
            Origin::Config => "config",
            Origin::Registry => "registry",
        };
        let endpoint = t
            .region
            .map(|r| r.to_string())
            .unwrap_or_else(|| t.base_url.to_string());
        let id = t.credentials.client_id();
        let id = match unset_reference(id) {
            Some(var) => format!("{var} (not set here)"),
            None => id.to_string(),
        };
        println!("{:<24} {origin:<9} {endpoint:<40} {id}", t.name);
    }
    if all.is_empty() {
        println!(
            "(no tenants: add a [tenants.<name>] table to the config, or `sebridge tenants add`)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn remove(s: &Setup, name: &str) -> anyhow::Result<ExitCode> {
    if s.config.tenants.contains_key(name) {
        return Err(usage(format!(
            "tenant {name:?} is defined in {}; edit that file to remove it",
            s.config.path.display()
        )));
    }
    if s.store()?.remove_tenant(name).await? {
        println!("tenant {name} removed");
        Ok(ExitCode::SUCCESS)
    } else {
        s.known_tenant(name)?;
        bail!("no tenant named {name:?} in the registry");
    }
}

async fn test(s: &Setup, name: Option<String>) -> anyhow::Result<ExitCode> {
    if let Some(n) = &name {
        s.known_tenant(n)?;
    }
    let all = s.tenants().await?;
    let http = secure_endpoint::default_http_client(Duration::from_secs(20))?;
    let mut failed = 0;
    let mut tested = 0;
    for t in all
        .iter()
        .filter(|t| name.as_ref().is_none_or(|n| n == &t.name))
    {
        tested += 1;
        let unset: Vec<&str> = [
            t.credentials.client_id(),
            t.credentials.api_key().expose_secret(),
        ]
        .into_iter()
        .filter_map(unset_reference)
        .collect();
        if !unset.is_empty() {
            failed += 1;
            println!(
                "{:<24} FAILED: {} not set in this environment",
                t.name,
                unset.join(" and ")
            );
            continue;
        }
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
                let needing = s
                    .config
                    .incidents
                    .as_ref()
                    .map(|i| containment_rules(i, &t.name))
                    .unwrap_or_default();
                if matches!(scope, tenants::WriteScope::ReadOnly(_)) && !needing.is_empty() {
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
        match name {
            Some(n) => return Err(usage(format!("tenant {n:?} is disabled"))),
            None => {
                return Err(usage(
                    "no tenant to test: add a [tenants.<name>] table to the config, or `sebridge tenants add`",
                ))
            }
        }
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
