//! Incidents and the closed loop.
//!
//! - [`engine`]: a journal consumer with its own position. Rules pick the important events;
//!   events with the same key (tenant + computer + threat) within the window form one
//!   incident; later events become work-note lines and can raise its severity. Decisions,
//!   queued side effects and the position commit in one transaction.
//! - [`executor`]: works the outbox (ServiceNow, XDR, isolation, group moves) with retries,
//!   idempotently: a lost answer or a crash never makes a second ticket.
//! - [`webhook`] (`POST /hooks/servicenow`) and [`reconciler`] (polling ServiceNow) start the
//!   close: XDR closed with a reference to the ticket, our isolation stopped, our group move
//!   undone, every step in the audit log.
//! - [`store`]: the incident tables (incidents, their events, the outbox, the audit log).

pub mod api;
pub mod config;
pub mod engine;
pub mod executor;
pub mod reconciler;
pub mod render;
pub mod rules;
pub mod scope;
pub mod store;
pub mod webhook;

use self::store::IncidentStore;
use crate::config::{IncidentsConfig, ServiceNowAuth, XdrEndpoint};
use crate::store::Store;
use crate::tenants::ResolvedTenant;
use secrecy::ExposeSecret;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Notify;

pub use self::config::CONSUMER;

#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    #[error("ServiceNow client: {0}")]
    ServiceNow(#[from] servicenow::Error),
    #[error("XDR client: {0}")]
    Xdr(#[from] xdr::Error),
    #[error("Secure Endpoint client: {0}")]
    Endpoint(#[from] secure_endpoint::Error),
    #[error("incident templates: {0}")]
    Template(#[from] minijinja::Error),
}

/// What every part of the incident service shares.
pub struct Ctx {
    pub config: IncidentsConfig,
    pub store: IncidentStore,
    pub snow: Option<servicenow::Client>,
    pub xdr: Option<xdr::Client>,
    /// Secure Endpoint client per tenant (isolation, groups).
    pub endpoints: HashMap<String, secure_endpoint::Client>,
    /// Secure Endpoint console base per tenant.
    pub consoles: HashMap<String, String>,
    /// XDR "visibility" base for investigate links.
    pub visibility: String,
    pub renderer: render::Renderer,
    /// Wakes the executor when operations are queued.
    pub notify: Arc<Notify>,
    /// Triage group GUID by (tenant, name).
    pub group_cache: std::sync::Mutex<HashMap<(String, String), String>>,
    /// Whether this replica's leases are fresh: checked before every call to ServiceNow,
    /// XDR or an endpoint (calls no database write can fence).
    pub cluster: crate::cluster::Cluster,
}

impl Ctx {
    /// Whether a ticket state means the analyst is done (`closed_states`).
    pub fn is_closed_state(&self, state: &str) -> bool {
        self.config
            .servicenow
            .as_ref()
            .is_some_and(|s| s.closed_states.iter().any(|c| c == state.trim()))
    }
}

/// The incident service, built from `[incidents]`. Cheap to clone.
#[derive(Clone)]
pub struct IncidentService {
    pub ctx: Arc<Ctx>,
}

fn console_for(t: &ResolvedTenant, cfg: &IncidentsConfig) -> String {
    if let Some(u) = &cfg.console_url {
        return u.as_str().trim_end_matches('/').to_string();
    }
    match t.region {
        Some(secure_endpoint::Region::Eu) => "https://console.eu.amp.cisco.com".into(),
        Some(secure_endpoint::Region::Apjc) => "https://console.apjc.amp.cisco.com".into(),
        _ => "https://console.amp.cisco.com".into(),
    }
}

impl IncidentService {
    pub fn new(
        config: &IncidentsConfig,
        store: &Store,
        tenants: &[ResolvedTenant],
    ) -> Result<IncidentService, IncidentError> {
        let snow = match &config.servicenow {
            Some(s) => {
                let auth = match &s.auth {
                    ServiceNowAuth::Basic { username, password } => servicenow::Auth::Basic {
                        username: username.clone(),
                        password: password.clone(),
                    },
                    ServiceNowAuth::OAuth {
                        client_id,
                        client_secret,
                        username,
                        password,
                    } => servicenow::Auth::OAuth {
                        client_id: client_id.clone(),
                        client_secret: client_secret.clone(),
                        username: username.clone(),
                        password: password.clone(),
                    },
                };
                Some(
                    servicenow::Client::builder(s.instance_url.as_str(), auth)?
                        .table(s.table.clone())
                        .timeout(s.request_timeout)
                        .build()?,
                )
            }
            None => None,
        };
        let (xdr, visibility) = match &config.xdr {
            Some(x) => {
                let creds =
                    xdr::Credentials::new(x.client_id.clone(), x.client_password.expose_secret());
                let (builder, vis) = match &x.endpoint {
                    XdrEndpoint::Region(r) => {
                        (xdr::Client::builder(*r, creds)?, r.iroh_base().to_string())
                    }
                    XdrEndpoint::BaseUrl(u) => (
                        xdr::Client::builder_with_base_urls(u.as_str(), u.as_str(), creds)?,
                        xdr::Region::Us.iroh_base().to_string(),
                    ),
                };
                (Some(builder.timeout(x.request_timeout).build()?), vis)
            }
            None => (None, xdr::Region::Us.iroh_base().to_string()),
        };
        let http = secure_endpoint::default_http_client(std::time::Duration::from_secs(15))?;
        let mut endpoints = HashMap::new();
        let mut consoles = HashMap::new();
        for t in tenants {
            endpoints.insert(t.name.clone(), crate::tenants::api_client(t, &http)?);
            consoles.insert(t.name.clone(), console_for(t, config));
        }
        Ok(IncidentService {
            ctx: Arc::new(Ctx {
                config: config.clone(),
                store: store.incidents(),
                snow,
                xdr,
                endpoints,
                consoles,
                visibility,
                renderer: render::Renderer::new(&config.templates)?,
                notify: Arc::new(Notify::new()),
                group_cache: std::sync::Mutex::new(HashMap::new()),
                cluster: crate::cluster::Cluster::single(),
            }),
        })
    }

    /// The service run under the `incidents` lease of a replica among several: its side
    /// effects wait while the replica's leases are not fresh, and `wake` (the webhook
    /// service's) wakes its executor when a close notice queues work. Call on a new service
    /// (before it is cloned).
    pub fn under_lease(
        mut self,
        cluster: crate::cluster::Cluster,
        wake: Arc<Notify>,
    ) -> IncidentService {
        match Arc::get_mut(&mut self.ctx) {
            Some(ctx) => {
                ctx.cluster = cluster;
                ctx.notify = wake;
            }
            None => tracing::error!("under_lease on a shared incident service: ignored"),
        }
        self
    }

    pub fn has_servicenow(&self) -> bool {
        self.ctx.snow.is_some()
    }
}
