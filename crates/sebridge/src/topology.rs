//! Wires sources, the journal and sinks from the config, runs them, and stops them cleanly.

use crate::cluster::{self, Cluster};
use crate::config::{Config, SourceConfig, StoreConfig};
use crate::server;
use crate::sources::{poll::PollSource, Tenant};
use crate::status::{StatusBoard, TenantState};
use crate::store::{Store, StoreError};
use crate::tenants::{api_client, resolve_all, ResolvedTenant, TenantError};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::info;

#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tenants(#[from] TenantError),
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] secure_endpoint::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("no enabled tenant to read from: add a [tenants.<name>] table to the configuration, or store one with `sebridge tenants add`")]
    NoTenants,
    #[error("{0}")]
    NoStore(String),
    #[error("cannot join the other replicas: {0}")]
    Cluster(#[from] cluster::ClusterError),
    #[error(
        "another sebridge process is using the store {0} (it holds the lock file); stop it first"
    )]
    Locked(String),
    #[error("cannot lock the store ({path}): {source}")]
    Lock {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the incident service: {0}")]
    Incidents(#[from] crate::incidents::IncidentError),
}

/// An exclusive lock on the store, held while consumers (sinks, incident engine) advance
/// their positions: two `run`s on one store would deliver everything twice, and `replay`
/// must not rewind a position under a running process. Released on drop.
#[derive(Debug)]
pub struct StoreLock {
    _file: std::fs::File,
}

/// Takes the store's lock, or says who holds it.
pub fn lock_store(config: &Config) -> Result<Option<StoreLock>, TopologyError> {
    // PostgreSQL is shared by replicas on several machines: a file lock means nothing there;
    // who runs which consumer is decided by the store's leases instead.
    let StoreConfig::Sqlite { path } = &config.store else {
        return Ok(None);
    };
    lock_sqlite(path).map(Some)
}

/// Takes the lock of the SQLite store at `path`, or says that a process holds it.
pub fn lock_sqlite(path: &std::path::Path) -> Result<StoreLock, TopologyError> {
    let mut lock_path = path.as_os_str().to_os_string();
    lock_path.push(".lock");
    let lock_path = std::path::PathBuf::from(lock_path);
    if let Some(dir) = lock_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    let shown = lock_path.display().to_string();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| TopologyError::Lock {
            path: shown.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(StoreLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(TopologyError::Locked(path.display().to_string()))
        }
        Err(std::fs::TryLockError::Error(source)) => Err(TopologyError::Lock {
            path: shown,
            source,
        }),
    }
}

/// How a command needs the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreNeed {
    /// It writes: the store is created (and migrated) if it does not exist.
    Create,
    /// It reads what is there: a store that does not exist is an error, and is not created
    /// (a mistyped path must not leave an empty store behind and report "0 rows").
    Existing,
    /// It can do without (e.g. tenants from the file only): opened only when it exists.
    IfExists,
}

/// Opens the store the config names as `need` says (`None`: absent and not needed).
pub async fn open_store_as(
    config: &Config,
    need: StoreNeed,
) -> Result<Option<Store>, TopologyError> {
    if need != StoreNeed::Create && !store_exists(config).await? {
        if need == StoreNeed::IfExists {
            return Ok(None);
        }
        let (what, how) = match &config.store {
            StoreConfig::Sqlite { path } => {
                (format!("no store at {}", path.display()), "[store] path")
            }
            StoreConfig::Postgres { url, schema } => (
                format!(
                    "no sebridge store in {}{}",
                    crate::store::redact_url(url.expose()),
                    schema
                        .as_deref()
                        .map(|s| format!(" (schema {s})"))
                        .unwrap_or_default()
                ),
                "[store] url and schema",
            ),
        };
        return Err(TopologyError::NoStore(format!(
            "{what}: nothing has run with {} yet (`sebridge run` creates the store), or {how} \
             is not the one meant",
            config.path.display()
        )));
    }
    open_store(config).await.map(Some)
}

/// Whether the config's store exists (a SQLite file with content; a PostgreSQL schema that
/// sebridge has migrated), without creating anything.
async fn store_exists(config: &Config) -> Result<bool, TopologyError> {
    match &config.store {
        // An empty file is what a new store starts as: there is nothing in it either.
        StoreConfig::Sqlite { path } => Ok(std::fs::metadata(path).is_ok_and(|m| m.len() > 0)),
        StoreConfig::Postgres { url, schema } => {
            Ok(crate::store::PgStore::exists(url.expose(), schema.as_deref()).await?)
        }
    }
}

/// Opens the store the config names, creating it if needed.
pub async fn open_store(config: &Config) -> Result<Store, TopologyError> {
    match &config.store {
        StoreConfig::Sqlite { path } => Ok(Store::open_sqlite(path).await?),
        StoreConfig::Postgres { url, schema } => {
            Ok(
                Store::open_postgres_with(url.expose(), schema.as_deref(), config.cluster.lease)
                    .await?,
            )
        }
    }
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
    /// Present when `[incidents]` is configured.
    pub incidents: Option<crate::incidents::IncidentService>,
    server: Option<tokio::task::JoinHandle<()>>,
    lock: Option<StoreLock>,
    /// Which units of work this replica runs (everything, on SQLite).
    pub cluster: Cluster,
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
        let lock = lock_store(config)?;
        let store = open_store(config).await?;
        let mut topology = Self::start_with_store(config, store, listen).await?;
        topology.lock = lock;
        Ok(topology)
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
        // On PostgreSQL several replicas may share the store: each tenant's sources, each
        // sink and the incident service run where their lease is held.
        let cluster = if store.is_postgres() {
            let mut units: Vec<String> = tenants
                .iter()
                .map(|t| cluster::tenant_lease(&t.name))
                .collect();
            units.extend(config.sinks.keys().map(|s| cluster::sink_lease(s)));
            if config.incidents.is_some() {
                units.push(cluster::INCIDENTS_LEASE.to_string());
            }
            let c = Cluster::join(&store, units, config.cluster).await?;
            info!(replica = c.replica().unwrap_or(""), lease = ?config.cluster.lease, "joined the replicas of the store");
            c
        } else {
            Cluster::single()
        };
        let mut sources = JoinSet::new();
        for (name, source) in &config.sources {
            match source {
                SourceConfig::Poll(cfg) => {
                    let http = secure_endpoint::default_http_client(cfg.request_timeout)?;
                    let selected = tenants
                        .iter()
                        .filter(|t| cfg.reads(&t.name))
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
                        cluster: cluster.clone(),
                    };
                    sources.spawn(src.run(shutdown.clone()));
                }
                SourceConfig::Stream(cfg) => {
                    let mut src = crate::sources::stream::StreamSource::build(
                        name, cfg, &tenants, config, &store, &status,
                    )
                    .await?;
                    src.cluster = cluster.clone();
                    info!(source = %name, streams = src.streams.len(), "stream source starting");
                    sources.spawn(src.run(shutdown.clone()));
                }
            }
        }
        let mut sinks = JoinSet::new();
        let sinks_stop = CancellationToken::new();
        for (name, sink) in &config.sinks {
            let (c, unit, store, status) = (
                cluster.clone(),
                cluster::sink_lease(name),
                store.clone(),
                status.clone(),
            );
            let (name, sink, stop) = (name.clone(), sink.clone(), sinks_stop.clone());
            sinks.spawn(async move {
                c.gated(&unit, &store, stop, |store, stop| {
                    let mut one = JoinSet::new();
                    crate::sinks::build::spawn_sink(&mut one, &name, &sink, &store, &status, &stop);
                    async move { while one.join_next().await.is_some() {} }
                })
                .await
            });
        }
        // The engine is a journal consumer like the sinks: it drains with them on stop.
        if config
            .incidents
            .as_ref()
            .is_some_and(|i| i.webhook.is_some())
            && config.server.is_none()
            && listen.is_none()
        {
            tracing::warn!("[incidents.webhook] is configured but [server] is not: close notices can only arrive with --listen; the reconciler still polls ServiceNow");
        }
        let incidents = start_incidents(
            config,
            &store,
            &tenants,
            &status,
            &sinks_stop,
            &mut sinks,
            &cluster,
        )?;
        // Retention runs beside the sources (stopped with them); it only deletes rows every
        // consumer has passed, unless the operator chose otherwise.
        let retention = crate::sinks::retention::Retention::new(
            config.journal.clone(),
            store.clone(),
            status.clone(),
            config
                .consumers()
                .into_iter()
                .map(|(name, _)| name)
                .collect(),
        );
        sources.spawn(retention.run(shutdown.clone()));
        let mut http_addr = None;
        let mut server_task = None;
        if let Some(addr) = listen.or(config.server.as_ref().map(|s| s.listen)) {
            let mut router = server::router(status.clone(), store.clone(), cluster.clone());
            if let Some(svc) = &incidents {
                router = router.merge(crate::incidents::webhook::router(svc.clone()));
            }
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
            incidents,
            server: server_task,
            lock: None,
            cluster,
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
        // after the sinks' last read: let healthy sinks deliver it before they stop. Only
        // those running here: the board still shows a sink this replica gave away, whose
        // position no longer moves here (its new owner delivers the batch).
        let head = self.store.head();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let snap = self.status.snapshot(head);
            let done = snap.sinks.iter().all(|s| {
                s.position >= head
                    || !s.healthy
                    || !self.cluster.runs(&cluster::sink_lease(&s.sink))
            });
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.sinks_stop.cancel();
        while self.sinks.join_next().await.is_some() {}
        // Everything that wrote under a lease has stopped: give them back now.
        self.cluster.leave(&self.store).await;
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
        drop(self.lock.take());
        RunReport {
            failed_tenants,
            journal_head: head,
            journal_events,
        }
    }
}

/// Starts the incident engine (a journal consumer, run with the sinks so `wait_idle` waits
/// for it), the outbox executor and the reconciler, when `[incidents]` is configured.
fn start_incidents(
    config: &Config,
    store: &Store,
    tenants: &[ResolvedTenant],
    status: &StatusBoard,
    shutdown: &CancellationToken,
    sinks: &mut JoinSet<()>,
    cluster: &Cluster,
) -> Result<Option<crate::incidents::IncidentService>, TopologyError> {
    let Some(cfg) = &config.incidents else {
        return Ok(None);
    };
    let service = crate::incidents::IncidentService::new(cfg, store, tenants)?;
    // Tenants whose rules ask for containment: is their API key read-only? Reported at
    // start (log, /status), beside the pipeline; nothing waits for it.
    sinks.spawn(crate::incidents::scope::check_write_scopes(
        service.ctx.clone(),
        status.clone(),
        shutdown.clone(),
    ));
    // The webhook (on every replica) only records close notices; the engine, executor and
    // reconciler run on the replica holding the `incidents` lease, on a fenced store. A run
    // under a lease gets a service of its own (its writes carry the lease's fence) sharing
    // the webhook's wake-up; a single process (unfenced) runs `service` itself.
    let (c, store, status, stop) = (
        cluster.clone(),
        store.clone(),
        status.clone(),
        shutdown.clone(),
    );
    let (cfg_owned, tenants_owned, base) = (cfg.clone(), tenants.to_vec(), service.clone());
    sinks.spawn(async move {
        c.gated(cluster::INCIDENTS_LEASE, &store, stop, |store, stop| {
            let svc = match store.fence() {
                None => Ok(base.clone()),
                Some(_) => {
                    crate::incidents::IncidentService::new(&cfg_owned, &store, &tenants_owned)
                        .map(|s| s.under_lease(c.clone(), base.ctx.notify.clone()))
                }
            };
            let status = status.clone();
            async move {
                let svc = match svc {
                    Ok(svc) => svc,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot start the incident service");
                        return;
                    }
                };
                let mut set = JoinSet::new();
                set.spawn(svc.clone().run_executor(stop.clone()));
                if svc.has_servicenow() {
                    set.spawn(svc.clone().run_reconciler(stop.clone()));
                }
                svc.run_engine(store, status, stop).await;
                while set.join_next().await.is_some() {}
            }
        })
        .await
    });
    info!(
        rules = cfg.rules.len(),
        servicenow = cfg.servicenow.is_some(),
        xdr = cfg.xdr.is_some(),
        "incident service started"
    );
    Ok(Some(service))
}
