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
    #[error("{0} already exists")]
    Exists(String),
    #[error("tenant {0:?} is already in the store (`sebridge tenants list`); remove it first with `sebridge tenants remove {0}` to replace it")]
    Registered(String),
    #[error("tenant {0:?} is already defined in {1}; a tenant lives in the file or in the store, not both: choose another name, or edit that file")]
    InConfig(String, String),
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

/// The enabled tenants of the config file (without the registry).
pub fn resolve_config(config: &Config) -> Vec<ResolvedTenant> {
    config
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
        .collect()
}

/// Every enabled tenant: config first, then the registry. The master key is only needed
/// when the registry has entries.
pub async fn resolve_all(
    config: &Config,
    store: &Store,
) -> Result<Vec<ResolvedTenant>, TenantError> {
    let mut out = resolve_config(config);
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

/// Checks a new tenant (name, endpoint, client id, not already there) before its API key
/// is asked for: a mistake is reported before the user types a secret.
pub async fn check_new(
    config: &Config,
    store: &Store,
    name: &str,
    region: Option<Region>,
    base_url: Option<&Url>,
    client_id: &str,
) -> Result<(), TenantError> {
    if !crate::config::values::is_valid_name(name) {
        return Err(TenantError::Invalid(format!(
            "name {name:?}: use 1 to 64 of a-z, 0-9, '-' and '_'"
        )));
    }
    if region.is_some() == base_url.is_some() {
        return Err(TenantError::Invalid(
            "give exactly one of --region and --base-url".into(),
        ));
    }
    if client_id.trim().is_empty() {
        return Err(TenantError::Invalid(
            "the client id must not be empty".into(),
        ));
    }
    if config.tenants.contains_key(name) {
        return Err(TenantError::InConfig(
            name.to_string(),
            config.path.display().to_string(),
        ));
    }
    if store
        .registered_tenants()
        .await?
        .iter()
        .any(|r| r.name == name)
    {
        return Err(TenantError::Registered(name.to_string()));
    }
    Ok(())
}

/// Seals the key and stores the tenant.
pub async fn add(config: &Config, store: &Store, t: NewTenant) -> Result<(), TenantError> {
    check_new(
        config,
        store,
        &t.name,
        t.region,
        t.base_url.as_ref(),
        &t.client_id,
    )
    .await?;
    if t.api_key.expose_secret().trim().is_empty() {
        return Err(TenantError::Invalid("the API key must not be empty".into()));
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
        return Err(TenantError::Registered(t.name));
    }
    Ok(())
}

/// What a tenant's API credential may do, as far as a write that cannot change anything
/// tells ([`probe_write_scope`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteScope {
    /// "Read & Write": isolation, group moves and Event Stream management can work.
    ReadWrite,
    /// "Read-only": the API refused the write with 403 (its details).
    ReadOnly(String),
    /// No answer that tells (the API unreachable or failing, rate limited, credentials
    /// refused): why.
    Unknown(String),
}

impl WriteScope {
    /// `read_write`, `read_only` or `unknown` (for `/status` and metrics).
    pub fn as_str(&self) -> &'static str {
        match self {
            WriteScope::ReadWrite => "read_write",
            WriteScope::ReadOnly(_) => "read_only",
            WriteScope::Unknown(_) => "unknown",
        }
    }

    /// One sentence for people: what works and what will fail.
    pub fn describe(&self) -> String {
        match self {
            WriteScope::ReadWrite => "read & write".into(),
            WriteScope::ReadOnly(details) => format!(
                "READ-ONLY API key: isolation, group moves and event stream management will fail \
                 (the API refused a write with HTTP 403: {details}); create a key with Read & Write scope"
            ),
            WriteScope::Unknown(why) => format!("write scope unknown ({why})"),
        }
    }
}

/// The connector GUID (and group GUID) of the scope probe: the nil UUID, which no computer
/// or group has.
pub const PROBE_GUID: &str = "00000000-0000-0000-0000-000000000000";

/// Finds out whether the tenant's key may write, without changing anything: moves the
/// computer [`PROBE_GUID`], which does not exist, to the group [`PROBE_GUID`]
/// (`PATCH /v1/computers/{guid}`, the very write a triage move makes).
///
/// A read-only key is refused (403) before the API looks the computer up; a read & write
/// key gets 404 (no such computer) or 400 (no such group). Why this write and not another:
/// it is the request containment itself sends, so its scope check is the one that matters;
/// it can have no effect on any tenant (nothing has the nil GUID); and unlike a probe by
/// `POST /v1/event_streams` it cannot create anything should the body be accepted, nor
/// run into the five-streams limit. The 403 status is an inference (the vendor documents
/// that read-only keys refuse writes, not the status); anything else that does not tell
/// (5xx, timeouts, 401, 429) is [`WriteScope::Unknown`].
pub async fn probe_write_scope(client: &secure_endpoint::Client) -> WriteScope {
    use secure_endpoint::Error;
    match client.move_computer(PROBE_GUID, PROBE_GUID).await {
        Err(Error::Forbidden { details }) => WriteScope::ReadOnly(details),
        Err(Error::NotFound { .. } | Error::BadRequest { .. }) | Ok(_) => WriteScope::ReadWrite,
        Err(e) => WriteScope::Unknown(e.to_string()),
    }
}
