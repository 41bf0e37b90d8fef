//! The stream source: Event Streams (AMQP 0-9-1 push) into the journal, at least once.
//!
//! One consumer per stored stream, committing in groups: each commit takes the deliveries
//! that arrived while the previous one ran (up to `batch_size`; `batch_wait` can add a
//! wait for more), appends their events to the journal in one transaction (deduplicated on
//! tenant + event id), and only then acknowledges them with a single multiple-ack. A crash
//! between the commit and the ack leaves the deliveries unacknowledged: the broker
//! redelivers them and the journal folds them away, so nothing is lost and nothing repeats
//! downstream. The broker keeps sending (up to `prefetch` unacknowledged deliveries) while
//! a commit runs.
//!
//! A delivery that is not a valid event (not UTF-8, not JSON, no event type...) goes to the
//! `dead_letters` table with the reason, and is acknowledged with its batch: it never blocks
//! the stream.
//!
//! Connections use heartbeats and are reopened forever, with exponential backoff and
//! jitter. Problems time will not fix (refused login, missing queue, TLS verification,
//! plain AMQP to a remote host) mark the stream `failed` and are retried at the slowest pace.
//! The one exception is a stream deleted in Secure Endpoint: when the broker fails the way it
//! does for a deleted stream and the tenant's API confirms the stream is gone, the consumer
//! says so once and stops (see `gone`). Every state change is in the status board, the
//! metrics and the logs.

pub mod amqp;
pub mod config;
mod consumer;
pub mod credentials;
mod gone;
mod store;

pub use consumer::{Observed, FAILPOINT_ENV};
pub use gone::TenantLink;
pub use store::StoredStream;

use self::amqp::TlsPolicy;
use self::consumer::StreamConsumer;
use self::credentials::ResolvedStream;
use crate::config::StreamSourceConfig;
use crate::status::{StatusBoard, TenantState};
use crate::store::Store;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// The stream source for a set of streams.
pub struct StreamSource {
    pub name: String,
    pub config: StreamSourceConfig,
    pub streams: Vec<ResolvedStream>,
    pub store: Store,
    pub status: StatusBoard,
    /// Gets what happens as it happens (`sebridge tail`): connections and every committed
    /// batch's events. Bounded: a slow reader slows the consumer down, never memory.
    pub observer: Option<tokio::sync::mpsc::Sender<Observed>>,
    /// Consumes a tenant's streams only while this replica holds the tenant's lease.
    pub cluster: crate::cluster::Cluster,
    /// Per tenant: its API (asked whether a failing stream was deleted) and the poll sources
    /// that read it too. A tenant without one is never asked: its failures are retried.
    pub tenant_links: BTreeMap<String, TenantLink>,
}

/// Timeout of the API question "does this stream still exist?" (the reconnection waits for it).
const API_TIMEOUT: Duration = Duration::from_secs(15);

/// The status-board label of one stream of a source.
pub fn status_label(source: &str, stream: &str) -> String {
    format!("{source}:{stream}")
}

impl StreamSource {
    /// Runs one consumer per stream until `shutdown`; each finishes and acks its batch.
    pub async fn run(self, shutdown: CancellationToken) {
        let policy = TlsPolicy {
            ca_file: self.config.ca_file.clone(),
            insecure: self.config.insecure,
        };
        if policy.insecure {
            warn!(source = %self.name, "INSECURE: `insecure = true`: broker certificates are NOT verified");
        }
        let tls = amqp::client_config(&policy);
        let mut tasks = tokio::task::JoinSet::new();
        for stream in self.streams {
            let label = status_label(&self.name, &stream.name);
            self.status.register_tenant(&stream.tenant, &label);
            let link = self.tenant_links.get(&stream.tenant).cloned();
            let consumer = StreamConsumer {
                source: self.name.clone(),
                label,
                config: self.config.clone(),
                policy: policy.clone(),
                stream,
                store: self.store.clone(),
                status: self.status.clone(),
                observer: self.observer.clone(),
                link,
            };
            match &tls {
                Ok(tls) => {
                    let (cluster, tls, shutdown) =
                        (self.cluster.clone(), tls.clone(), shutdown.clone());
                    tasks.spawn(async move {
                        let unit = crate::cluster::tenant_lease(&consumer.stream.tenant);
                        let store = consumer.store.clone();
                        cluster
                            .gated(&unit, &store, shutdown, |store, stop| {
                                let c = StreamConsumer {
                                    store,
                                    ..consumer.clone()
                                };
                                c.run(tls.clone(), stop)
                            })
                            .await
                    });
                }
                Err(e) => {
                    // The TLS settings themselves are unusable: nothing to retry until fixed.
                    consumer.set_failed(e);
                }
            }
        }
        while let Some(res) = tasks.join_next().await {
            if let Err(e) = res {
                error!(source = %self.name, error = %e, "a stream consumer task ended abnormally");
            }
        }
    }
}

impl StreamSource {
    /// The source for `tenants` (already resolved and enabled): their stored streams, limited
    /// to the configured names. A tenant the source names explicitly but that has no matching
    /// stream is shown as failed (with how to fix it) rather than silently skipped.
    pub async fn build(
        name: &str,
        cfg: &StreamSourceConfig,
        tenants: &[crate::tenants::ResolvedTenant],
        config: &crate::config::Config,
        store: &Store,
        status: &StatusBoard,
    ) -> Result<StreamSource, crate::tenants::TenantError> {
        let all = credentials::resolve(config, store, None).await?;
        let selected: Vec<&str> = tenants
            .iter()
            .filter(|t| cfg.reads(&t.name))
            .map(|t| t.name.as_str())
            .collect();
        let streams: Vec<ResolvedStream> = all
            .into_iter()
            .filter(|s| selected.contains(&s.tenant.as_str()))
            .filter(|s| cfg.streams.is_empty() || cfg.streams.contains(&s.name))
            .collect();
        for t in &selected {
            if streams.iter().any(|s| s.tenant == *t) {
                continue;
            }
            let wanted = if cfg.streams.is_empty() {
                "any event stream".to_string()
            } else {
                format!("a stream named {}", cfg.streams.join(" or "))
            };
            let msg = format!(
                "tenant {t} has no stored event stream ({wanted}): create one with \
                 `sebridge streams create --tenant {t} --name <name>`"
            );
            if cfg.tenants.is_some() {
                let label = status_label(name, "-");
                status.register_tenant(t, &label);
                status.update_tenant(t, &label, |s| {
                    s.state = TenantState::Failed;
                    s.last_error = Some(msg.clone());
                });
                error!(source = %name, "{msg}");
            } else {
                info!(source = %name, "{msg}; skipped");
            }
        }
        let tenant_links = tenant_links(name, tenants, &streams, config);
        Ok(StreamSource {
            name: name.to_string(),
            config: cfg.clone(),
            streams,
            store: store.clone(),
            status: status.clone(),
            observer: None,
            cluster: crate::cluster::Cluster::single(),
            tenant_links,
        })
    }
}

/// The API client and covering poll sources of every tenant with a stream here. A client
/// that cannot be built only costs the deletion check (said once); the stream still runs.
fn tenant_links(
    source: &str,
    tenants: &[crate::tenants::ResolvedTenant],
    streams: &[ResolvedStream],
    config: &crate::config::Config,
) -> BTreeMap<String, TenantLink> {
    let mut out = BTreeMap::new();
    if streams.is_empty() {
        return out;
    }
    let http = match secure_endpoint::default_http_client(API_TIMEOUT) {
        Ok(h) => h,
        Err(e) => {
            warn!(source = %source, error = %e, "no HTTP client: a deleted event stream will not be recognised as such");
            return out;
        }
    };
    for t in tenants {
        if !streams.iter().any(|s| s.tenant == t.name) {
            continue;
        }
        let api = match crate::tenants::api_client(t, &http) {
            Ok(c) => c,
            Err(e) => {
                warn!(source = %source, tenant = %t.name, error = %e,
                    "cannot build the API client: a deleted event stream will not be recognised as such");
                continue;
            }
        };
        let poll_sources = config
            .sources
            .iter()
            .filter_map(|(n, s)| match s {
                crate::config::SourceConfig::Poll(p) if p.reads(&t.name) => Some(n.clone()),
                _ => None,
            })
            .collect();
        out.insert(t.name.clone(), TenantLink { api, poll_sources });
    }
    out
}
