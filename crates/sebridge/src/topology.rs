//! Wires sources, the journal and sinks from the config, runs them, and stops them cleanly.

use crate::config::{Config, SinkConfig, SourceConfig, StoreConfig};
use crate::server;
use crate::sinks::{file::FileSink, run_sink, stdout::StdoutSink};
use crate::sources::{poll::PollSource, Tenant};
use crate::status::{StatusBoard, TenantState};
use crate::store::{Store, StoreError};
use crate::tenants::{resolve_all, ResolvedTenant, TenantError};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tenants(#[from] TenantError),
    #[error("the PostgreSQL store is not available in this build yet; use kind = \"sqlite\"")]
    PostgresUnsupported,
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] secure_endpoint::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("no enabled tenant to read from")]
    NoTenants,
}

/// Opens the store the config names.
pub async fn open_store(config: &Config) -> Result<Store, TopologyError> {
    match &config.store {
        StoreConfig::Sqlite { path } => Ok(Store::open_sqlite(path).await?),
        StoreConfig::Postgres { .. } => Err(TopologyError::PostgresUnsupported),
    }
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

/// A running pipeline.
pub struct Topology {
    pub store: Store,
    pub status: StatusBoard,
    pub http_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    /// Sinks stop after the sources, once they have delivered what the sources committed on
    /// their way out (bounded wait).
    sinks_stop: CancellationToken,
    sources: JoinSet<()>,
    sinks: JoinSet<()>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// How a run ended.
#[derive(Debug, Default)]
pub struct RunReport {
    /// Tenants whose last poll failed with an error that needs a human, with the error.
    pub failed_tenants: Vec<(String, String)>,
    pub journal_head: i64,
    /// Events in the journal (-1 if it could not be counted).
    pub journal_events: i64,
}

impl Topology {
    /// Starts every source and sink of the config. `listen` overrides `[server] listen`.
    pub async fn start(
        config: &Config,
        listen: Option<SocketAddr>,
    ) -> Result<Topology, TopologyError> {
        let store = open_store(config).await?;
        Self::start_with_store(config, store, listen).await
    }

    pub async fn start_with_store(
        config: &Config,
        store: Store,
        listen: Option<SocketAddr>,
    ) -> Result<Topology, TopologyError> {
        let status = StatusBoard::default();
        let shutdown = CancellationToken::new();
        let tenants = resolve_all(config, &store).await?;
        if tenants.is_empty() {
            return Err(TopologyError::NoTenants);
        }
        let mut sources = JoinSet::new();
        for (name, source) in &config.sources {
            match source {
                SourceConfig::Poll(cfg) => {
                    let http = secure_endpoint::default_http_client(cfg.request_timeout)?;
                    let selected = tenants
                        .iter()
                        .filter(|t| cfg.tenants.as_ref().is_none_or(|sel| sel.contains(&t.name)))
                        .map(|t| {
                            Ok(Tenant {
                                name: t.name.clone(),
                                client: api_client(t, &http)?,
                            })
                        })
                        .collect::<Result<Vec<_>, secure_endpoint::Error>>()?;
                    info!(source = %name, tenants = selected.len(), interval = ?cfg.interval, "poll source starting");
                    let src = PollSource {
                        name: name.clone(),
                        config: cfg.clone(),
                        tenants: selected,
                        store: store.clone(),
                        status: status.clone(),
                    };
                    sources.spawn(src.run(shutdown.clone()));
                }
                SourceConfig::Stream(cfg) => {
                    let src = crate::sources::stream::StreamSource::build(
                        name, cfg, &tenants, config, &store, &status,
                    )
                    .await?;
                    info!(source = %name, streams = src.streams.len(), "stream source starting");
                    sources.spawn(src.run(shutdown.clone()));
                }
            }
        }
        let mut sinks = JoinSet::new();
        let sinks_stop = CancellationToken::new();
        for (name, sink) in &config.sinks {
            let (store, status, token, name) = (
                store.clone(),
                status.clone(),
                sinks_stop.clone(),
                name.clone(),
            );
            let sink_name = name.clone();
            let sink = sink.clone();
            let fut = async move {
                let result = match &sink {
                    SinkConfig::File(c) => {
                        run_sink(
                            name,
                            FileSink::new(c.path.clone(), c.wrap),
                            c.batch_size,
                            store,
                            status,
                            token,
                        )
                        .await
                    }
                    SinkConfig::Stdout(c) => {
                        run_sink(
                            name,
                            StdoutSink::new(c.wrap),
                            c.batch_size,
                            store,
                            status,
                            token,
                        )
                        .await
                    }
                };
                if let Err(e) = result {
                    error!(sink = %sink_name, error = %e, "sink stopped with an error");
                }
            };
            sinks.spawn(fut);
        }
        let mut http_addr = None;
        let mut server_task = None;
        if let Some(addr) = listen.or(config.server.as_ref().map(|s| s.listen)) {
            let router = server::router(status.clone(), store.clone());
            let (bound, task) = server::serve(addr, router, shutdown.clone())
                .await
                .map_err(|source| TopologyError::Listen { addr, source })?;
            http_addr = Some(bound);
            server_task = Some(task);
        }
        Ok(Topology {
            store,
            status,
            http_addr,
            shutdown,
            sinks_stop,
            sources,
            sinks,
            server: server_task,
        })
    }

    /// The token that stops everything.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Resolves once every tenant has polled successfully at least once (or failed with an
    /// error that needs a human), every sink has caught up with the journal, and nothing new
    /// arrived for `idle`.
    pub async fn wait_idle(&self, idle: Duration) {
        let mut last_head = -1;
        let mut since = Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = self.shutdown.cancelled() => return,
            }
            let head = self.store.head();
            let snap = self.status.snapshot(head);
            let sources_done = snap.tenants.iter().all(|t| match t.state {
                TenantState::Idle => t.last_success.is_some(),
                TenantState::Failed => true,
                _ => false,
            });
            let sinks_done = snap.sinks.len() == self.sinks.len()
                && snap.sinks.iter().all(|s| s.position >= head);
            if head != last_head || !sources_done || !sinks_done {
                last_head = head;
                since = Instant::now();
                continue;
            }
            if since.elapsed() >= idle {
                return;
            }
        }
    }

    /// Stops sources first (the batch in hand is committed), then sinks (likewise), then
    /// the server, and closes the store.
    pub async fn stop(mut self) -> RunReport {
        self.shutdown.cancel();
        while self.sources.join_next().await.is_some() {}
        // A source's last batch (e.g. a stream's deliveries in hand) may have been committed
        // after the sinks' last read: let healthy sinks deliver it before they stop.
        let head = self.store.head();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let snap = self.status.snapshot(head);
            if snap.sinks.iter().all(|s| s.position >= head || !s.healthy) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.sinks_stop.cancel();
        while self.sinks.join_next().await.is_some() {}
        if let Some(s) = self.server.take() {
            let _ = s.await;
        }
        let head = self.store.head();
        let journal_events = self.store.count().await.unwrap_or(-1);
        let failed_tenants = self
            .status
            .snapshot(head)
            .tenants
            .into_iter()
            .filter(|t| t.state == TenantState::Failed)
            .map(|t| (t.tenant, t.last_error.unwrap_or_default()))
            .collect();
        self.store.close().await;
        RunReport {
            failed_tenants,
            journal_head: head,
            journal_events,
        }
    }
}
