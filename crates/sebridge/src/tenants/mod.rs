//! The tenant registry: tenants from the config file plus those added with
//! `sebridge tenants add` (stored in the database, API key sealed with the master key).

use crate::config::{Config, Endpoint};
use crate::secrets::{MasterKey, SecretsError};
use crate::store::{RegisteredTenant, Store, StoreError};
use secure_endpoint::{Credentials, ExposeSecret, Region, SecretString};
use url::Url;

/// Where a tenant's definition lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Config,
    Registry,
}

/// A tenant ready to use.
#[derive(Clone, Debug)]
pub struct ResolvedTenant {
    pub name: String,
    pub base_url: Url,
    pub region: Option<Region>,
    pub credentials: Credentials,
    pub origin: Origin,
}

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error("tenant {0:?} is defined both in the config file and in the registry; remove one (`sebridge tenants remove {0}`)")]
    Duplicate(String),
    #[error("tenant {name:?} in the registry is unusable: {problem}")]
    Corrupt { name: String, problem: String },
    #[error("tenant {0:?} already exists")]
    Exists(String),
    #[error("no tenant named {0:?} (known: {1})")]
    Unknown(String, String),
    #[error("invalid tenant: {0}")]
    Invalid(String),
}

/// The environment variable that may hold the master key.
pub const MASTER_KEY_ENV: &str = "SEBRIDGE_MASTER_KEY";

fn associated_data(name: &str) -> Vec<u8> {
    // Binds the ciphertext to its row: a sealed key copied to another tenant won't open.
    format!("tenant:{name}:api_key").into_bytes()
}

/// Loads the master key (creating the key file when asked).
pub fn master_key(config: &Config, create: bool) -> Result<MasterKey, SecretsError> {
    MasterKey::from_env_or_file(MASTER_KEY_ENV, &config.secrets.key_file, create)
}

/// Every enabled tenant: config first, then the registry. The master key is only needed
/// when the registry has entries.
pub async fn resolve_all(
    config: &Config,
    store: &Store,
) -> Result<Vec<ResolvedTenant>, TenantError> {
    let mut out: Vec<ResolvedTenant> = config
        .tenants
        .values()
        .filter(|t| t.enabled)
        .map(|t| ResolvedTenant {
            name: t.name.clone(),
            base_url: t.base_url(),
            region: match &t.endpoint {
                Endpoint::Region(r) => Some(*r),
                Endpoint::BaseUrl(_) => None,
            },
            credentials: t.credentials(),
            origin: Origin::Config,
        })
        .collect();
    let registered = store.registered_tenants().await?;
    if registered.is_empty() {
        return Ok(out);
    }
    let key = master_key(config, false)?;
    for r in registered {
        if config.tenants.contains_key(&r.name) {
            return Err(TenantError::Duplicate(r.name));
        }
        out.push(open_registered(&key, r)?);
    }
    Ok(out)
}

fn open_registered(key: &MasterKey, r: RegisteredTenant) -> Result<ResolvedTenant, TenantError> {
    let corrupt = |problem: String| TenantError::Corrupt {
        name: r.name.clone(),
        problem,
    };
    let api_key: SecretString = key.open_string(&r.sealed_api_key, &associated_data(&r.name))?;
    let region = r
        .region
        .as_deref()
        .map(str::parse::<Region>)
        .transpose()
        .map_err(|e| corrupt(e.to_string()))?;
    let base_url = match (&r.base_url, region) {
        (Some(u), _) => Url::parse(u).map_err(|e| corrupt(format!("base_url: {e}")))?,
        (None, Some(region)) => {
            Url::parse(region.api_base()).map_err(|e| corrupt(e.to_string()))?
        }
        (None, None) => return Err(corrupt("neither region nor base_url".into())),
    };
    Ok(ResolvedTenant {
        credentials: Credentials::new(r.client_id.clone(), api_key.expose_secret().to_string()),
        name: r.name,
        base_url,
        region,
        origin: Origin::Registry,
    })
}

/// Builds an API client for a tenant on a shared connection pool.
pub fn api_client(
    t: &ResolvedTenant,
    http: &reqwest::Client,
) -> Result<secure_endpoint::Client, secure_endpoint::Error> {
    secure_endpoint::Client::builder_with_base_url(t.base_url.as_str(), t.credentials.clone())?
        .http_client(http.clone())
        .build()
}

/// What `tenants add` needs.
pub struct NewTenant {
    pub name: String,
    pub region: Option<Region>,
    pub base_url: Option<Url>,
    pub client_id: String,
    pub api_key: SecretString,
}

/// Seals the key and stores the tenant.
pub async fn add(config: &Config, store: &Store, t: NewTenant) -> Result<(), TenantError> {
    if t.name.is_empty()
        || t.name.len() > 64
        || !t
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Err(TenantError::Invalid(format!(
            "name {:?}: use 1 to 64 of a-z, 0-9, '-' and '_'",
            t.name
        )));
    }
    if t.region.is_some() == t.base_url.is_some() {
        return Err(TenantError::Invalid(
            "give exactly one of --region and --base-url".into(),
        ));
    }
    if t.client_id.trim().is_empty() || t.api_key.expose_secret().trim().is_empty() {
        return Err(TenantError::Invalid(
            "client id and API key must not be empty".into(),
        ));
    }
    if config.tenants.contains_key(&t.name) {
        return Err(TenantError::Duplicate(t.name));
    }
    let key = master_key(config, true)?;
    let sealed = key.seal(
        t.api_key.expose_secret().trim().as_bytes(),
        &associated_data(&t.name),
    );
    let row = RegisteredTenant {
        name: t.name.clone(),
        region: t.region.map(|r| r.as_str().to_string()),
        base_url: t.base_url.map(|u| u.to_string()),
        client_id: t.client_id.trim().to_string(),
        sealed_api_key: sealed,
        created_at: crate::store::now_millis(),
    };
    if !store.register_tenant(&row).await? {
        return Err(TenantError::Exists(t.name));
    }
    Ok(())
}
