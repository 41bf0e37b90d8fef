//! What every command starts with: the configuration (with the secrets the command needs),
//! the store (created only by commands that write), and the tenants the file names checked
//! against the store's registry. Also the errors that end a command with exit code 2
//! (invalid configuration or usage) rather than 1.

use sebridge::config::{Config, ConfigErrors, EnvPolicy};
use sebridge::store::Store;
use sebridge::tenants::{self, ResolvedTenant};
use sebridge::topology::{self, StoreNeed};
use std::fmt;
use std::path::Path;

/// Exit code for configuration and usage errors.
pub const EXIT_CONFIG: u8 = 2;
/// Exit code of work stopped by SIGINT/SIGTERM before it was done (`backfill`, `replay
/// --deliver`): 128 + SIGINT, as shells report it. Running the command again resumes.
pub const EXIT_INTERRUPTED: u8 = 130;

/// A mistake in how the command was called (an unknown tenant, a bad value): exit code 2.
#[derive(Debug)]
pub struct Usage(pub String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// `Err(usage(...))?`: an error that exits with code 2.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(message.into()))
}

/// The exit code and text of an error that ends a command: configuration problems one per
/// line (exit 2), usage errors (exit 2), anything else with its causes, each once (exit 1).
pub fn report(e: &anyhow::Error) -> (u8, String) {
    if let Some(errors) = e.downcast_ref::<ConfigErrors>() {
        return (EXIT_CONFIG, errors.to_string());
    }
    let code = if e.downcast_ref::<Usage>().is_some() {
        EXIT_CONFIG
    } else {
        1
    };
    // `{:#}` prints every cause after its context, and many errors already include their
    // cause's text: the chain without repeats (a refused connection said once, not thrice).
    (
        code,
        format!("error: {}", http_core::error_chain(e.as_ref())),
    )
}

/// Which `${VAR}` references must be set for a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Secrets {
    /// Every one: the command calls APIs or delivers (`run`, `incidents close`, `replay
    /// --deliver`).
    All,
    /// Only the store's: the command reads the store, or calls one tenant's API and checks
    /// that tenant's credentials itself ([`Setup::tenant`]).
    StoreOnly,
}

/// The loaded configuration and, when opened, the store.
pub struct Setup {
    pub config: Config,
    pub store: Option<Store>,
    /// Names of the tenants in the store's registry.
    pub registered: Vec<String>,
}

/// Loads the config at `path` and opens its store as `need` says; the tenants the file
/// names are checked against the registry. Configuration problems come back as
/// [`ConfigErrors`] (exit 2).
pub async fn setup(path: &Path, secrets: Secrets, need: StoreNeed) -> anyhow::Result<Setup> {
    let config = load(path, secrets)?;
    let store = topology::open_store_as(&config, need).await?;
    let registered = match &store {
        Some(s) => match s.registered_tenants().await {
            Ok(rows) => rows.into_iter().map(|r| r.name).collect(),
            Err(e) => {
                s.close().await;
                return Err(e.into());
            }
        },
        None => Vec::new(),
    };
    if let Err(e) = config.check_tenants(&registered, false) {
        if let Some(s) = &store {
            s.close().await;
        }
        return Err(e.into());
    }
    Ok(Setup {
        config,
        store,
        registered,
    })
}

/// Loads and validates the config; unset variables are an error outside the store's
/// sections only for [`Secrets::All`].
pub fn load(path: &Path, secrets: Secrets) -> anyhow::Result<Config> {
    let policy = match secrets {
        Secrets::All => EnvPolicy::Strict,
        Secrets::StoreOnly => EnvPolicy::Inspect,
    };
    Ok(Config::load_with(path, policy)?)
}

impl Setup {
    /// The store (for commands opened with a need that always gives one).
    pub fn store(&self) -> anyhow::Result<&Store> {
        self.store
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("internal error: the store is not open"))
    }

    pub async fn close(&self) {
        if let Some(s) = &self.store {
            s.close().await;
        }
    }

    /// Every enabled tenant (config, then registry).
    pub async fn tenants(&self) -> anyhow::Result<Vec<ResolvedTenant>> {
        match &self.store {
            Some(store) => Ok(tenants::resolve_all(&self.config, store).await?),
            None => Ok(tenants::resolve_config(&self.config)),
        }
    }

    /// Whether `name` is a tenant of the file or of the registry; otherwise the usage error
    /// every command gives for an unknown tenant.
    pub fn known_tenant(&self, name: &str) -> anyhow::Result<()> {
        if self.config.tenants.contains_key(name) || self.registered.iter().any(|n| n == name) {
            return Ok(());
        }
        let in_file: Vec<&str> = self.config.tenants.keys().map(String::as_str).collect();
        Err(usage(format!(
            "no tenant named {name:?}; {}",
            sebridge::config::known_tenants(&in_file, &self.registered)
        )))
    }

    /// One tenant, ready to call its API: known, enabled, and with its credentials set.
    pub async fn tenant(&self, name: &str) -> anyhow::Result<ResolvedTenant> {
        self.known_tenant(name)?;
        if let Some(t) = self.config.tenants.get(name) {
            if !t.enabled {
                return Err(usage(format!(
                    "tenant {name:?} is disabled (`enabled = false` in {})",
                    self.config.path.display()
                )));
            }
            let unset = t.unset_credentials();
            if !unset.is_empty() {
                return Err(usage(format!(
                    "tenant {name:?} needs {} from the environment, which {} not set",
                    unset.join(" and "),
                    if unset.len() == 1 { "is" } else { "are" }
                )));
            }
        }
        self.tenants()
            .await?
            .into_iter()
            .find(|t| t.name == name)
            .ok_or_else(|| usage(format!("no enabled tenant named {name:?}")))
    }

    /// An API client for one tenant ([`Setup::tenant`]).
    pub async fn client(&self, name: &str) -> anyhow::Result<secure_endpoint::Client> {
        let t = self.tenant(name).await?;
        let http = secure_endpoint::default_http_client(std::time::Duration::from_secs(30))?;
        Ok(tenants::api_client(&t, &http)?)
    }
}
