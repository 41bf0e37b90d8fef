//! Simulator state, start-up, live generation and the control handle.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config_writer::{self, ConfigTenant};
use crate::events::{EventStore, Generator, StoredEvent};
use crate::faults::Faults;
use crate::isolation::IsolationStatus;
use crate::ratelimit::RateLimiter;
use crate::stats::{Counters, SimStats};
use crate::world::{random_hex, random_uuid, World};
use crate::{ComputerInfo, GroupInfo, SimConfig, SimError, TenantInfo};

/// How often live events are generated.
const LIVE_TICK: Duration = Duration::from_millis(100);

pub(crate) fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// One organisation.
pub(crate) struct Tenant {
    pub name: String,
    pub org_guid: String,
    pub client_id: String,
    pub api_key: String,
    pub world: RwLock<World>,
    pub store: RwLock<EventStore>,
    pub gen: Mutex<Generator>,
    pub faults: RwLock<Option<Faults>>,
    pub fault_rng: Mutex<SmallRng>,
    pub limiter: Mutex<RateLimiter>,
    pub counters: Counters,
    /// The credential has the "Read-only" scope: writes are answered 403 (api/mod.rs).
    pub read_only: AtomicBool,
    /// Publishes what this tenant gets to its event streams (no-op without streams).
    pub streams: crate::streams::TenantStreams,
    /// `/v1/events` requests answered, and events waiting for a given count.
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    answered: u64,
    waiting: Vec<(u64, Vec<StoredEvent>)>,
}

impl Tenant {
    pub fn info(&self) -> TenantInfo {
        let w = self.world.read();
        TenantInfo {
            name: self.name.clone(),
            org_guid: self.org_guid.clone(),
            client_id: self.client_id.clone(),
            api_key: self.api_key.clone(),
            groups: w
                .groups
                .iter()
                .map(|g| GroupInfo {
                    guid: g.guid.to_string(),
                    name: g.name.clone(),
                })
                .collect(),
            computers: w
                .computers
                .iter()
                .map(|c| ComputerInfo {
                    guid: c.guid.to_string(),
                    hostname: c.hostname.clone(),
                    group_guid: w.groups[c.group].guid.to_string(),
                    isolated: c.isolation.view(std::time::Instant::now()).status
                        == IsolationStatus::Isolated,
                    isolation_status: c
                        .isolation
                        .view(std::time::Instant::now())
                        .status
                        .name()
                        .into(),
                    online: c.online,
                })
                .collect(),
        }
    }

    pub fn insert(&self, events: Vec<StoredEvent>) {
        self.streams.publish(&events);
        self.store.write().insert_many(events);
    }

    /// Generates events at the given instants (ascending) without inserting them.
    fn generate_at(&self, times: &[(i64, u32)]) -> Vec<StoredEvent> {
        let mut gen = self.gen.lock();
        let world = self.world.read();
        let mut out = Vec::with_capacity(times.len());
        gen.generate(&world, times, &mut out);
        out
    }

    fn generate_live(&self, lambda: f64, from_ns: i128, to_ns: i128) {
        let times = {
            let mut gen = self.gen.lock();
            let n = gen.poisson(lambda);
            if n == 0 {
                return;
            }
            gen.spread_times(n, from_ns, to_ns)
        };
        let events = self.generate_at(&times);
        self.insert(events);
    }

    /// Called once a `/v1/events` request has been answered; inserts events that were
    /// waiting for this count.
    pub fn events_request_answered(&self) {
        let due: Vec<StoredEvent> = {
            let mut p = self.pending.lock();
            p.answered += 1;
            let n = p.answered;
            let mut due = Vec::new();
            p.waiting.retain_mut(|(after, evs)| {
                if *after <= n {
                    due.append(evs);
                    false
                } else {
                    true
                }
            });
            due
        };
        if !due.is_empty() {
            self.insert(due);
        }
    }

    pub fn events_requests(&self) -> u64 {
        self.pending.lock().answered
    }

    pub fn effective_faults(&self, global: &RwLock<Faults>) -> Faults {
        match *self.faults.read() {
            Some(f) => f,
            None => *global.read(),
        }
    }
}

/// Shared state of a running simulator.
pub(crate) struct SimInner {
    pub base_url: String,
    pub tenants: Vec<Arc<Tenant>>,
    by_name: HashMap<String, usize>,
    by_client_id: HashMap<String, usize>,
    pub global_faults: RwLock<Faults>,
    pub global_rate_limit: RwLock<(u32, Duration)>,
    pub documented_rate_headers: bool,
    /// [`crate::SimConfig::isolation_delay`], in milliseconds.
    pub isolation_delay_ms: AtomicU64,
    pub unauthorized: AtomicU64,
    rate_bits: AtomicU64,
    /// The simulated ServiceNow instance and XDR organisation (one each, shared by tenants).
    pub snow: crate::snow::SnowState,
    pub xdr: crate::xdr::XdrState,
    /// Event Streams broker, when configured.
    pub broker: Option<Arc<crate::streams::Broker>>,
}

impl SimInner {
    /// How a computer's connector carries out an isolation request now.
    pub fn check_in(&self, online: bool) -> crate::isolation::CheckIn {
        crate::isolation::CheckIn {
            online,
            delay: Duration::from_millis(self.isolation_delay_ms.load(Ordering::Relaxed)),
        }
    }

    pub fn tenant(&self, name: &str) -> Result<&Arc<Tenant>, SimError> {
        self.by_name
            .get(name)
            .map(|&i| &self.tenants[i])
            .ok_or_else(|| SimError::UnknownTenant(name.to_string()))
    }

    pub fn tenant_by_client_id(&self, client_id: &str) -> Option<&Arc<Tenant>> {
        self.by_client_id.get(client_id).map(|&i| &self.tenants[i])
    }

    pub fn rate(&self) -> f64 {
        f64::from_bits(self.rate_bits.load(Ordering::Relaxed))
    }

    pub fn set_rate(&self, rate: f64) -> Result<(), SimError> {
        if !(rate.is_finite() && rate >= 0.0) {
            return Err(SimError::Config(format!(
                "rate must be a non-negative number, got {rate}"
            )));
        }
        self.rate_bits.store(rate.to_bits(), Ordering::Relaxed);
        Ok(())
    }

    pub fn stats(&self) -> SimStats {
        SimStats {
            tenants: self
                .tenants
                .iter()
                .map(|t| {
                    t.counters
                        .snapshot(&t.name, t.store.read().len(), t.events_requests())
                })
                .collect(),
            unauthorized: self.unauthorized.load(Ordering::Relaxed),
        }
    }

    pub fn set_faults(&self, tenant: Option<&str>, faults: Faults) -> Result<(), SimError> {
        faults.validate().map_err(SimError::Config)?;
        match tenant {
            Some(name) => *self.tenant(name)?.faults.write() = Some(faults),
            None => *self.global_faults.write() = faults,
        }
        Ok(())
    }

    pub fn set_rate_limit(
        &self,
        tenant: Option<&str>,
        limit: u32,
        window: Duration,
    ) -> Result<(), SimError> {
        if window.is_zero() {
            return Err(SimError::Config("rate-limit window must be > 0".into()));
        }
        match tenant {
            Some(name) => self.tenant(name)?.limiter.lock().set(limit, window),
            None => {
                *self.global_rate_limit.write() = (limit, window);
                for t in &self.tenants {
                    t.limiter.lock().set(limit, window);
                }
            }
        }
        Ok(())
    }

    /// Converts raw JSON texts into stored events (verbatim text).
    pub fn parse_raw(texts: Vec<String>) -> Result<Vec<StoredEvent>, SimError> {
        texts
            .into_iter()
            .enumerate()
            .map(|(index, t)| {
                StoredEvent::from_raw(Arc::from(t.trim()))
                    .map_err(|reason| SimError::InvalidEvent { index, reason })
            })
            .collect()
    }

    pub fn insert_raw(&self, tenant: &str, texts: Vec<String>) -> Result<usize, SimError> {
        let t = self.tenant(tenant)?;
        let events = Self::parse_raw(texts)?;
        let n = events.len();
        t.insert(events);
        Ok(n)
    }

    pub fn insert_after(
        &self,
        tenant: &str,
        after: u64,
        texts: Vec<String>,
    ) -> Result<(), SimError> {
        let t = self.tenant(tenant)?;
        let events = Self::parse_raw(texts)?;
        let now = {
            let mut p = t.pending.lock();
            if p.answered >= after {
                true
            } else {
                p.waiting.push((after, events.clone()));
                false
            }
        };
        if now {
            t.insert(events);
        }
        Ok(())
    }

    /// Generates `n` events for `tenant` (at `at`'s second, else starting now), inserts them
    /// and returns their texts.
    pub fn generate(
        &self,
        tenant: &str,
        n: usize,
        at: Option<time::OffsetDateTime>,
    ) -> Result<Vec<String>, SimError> {
        let t = self.tenant(tenant)?;
        let times: Vec<(i64, u32)> = {
            let mut gen = t.gen.lock();
            match at {
                Some(at) => {
                    let ts = at.unix_timestamp();
                    let mut ns: Vec<u32> = (0..n).map(|_| gen.random_ns()).collect();
                    ns.sort_unstable();
                    ns.into_iter().map(|ns| (ts, ns)).collect()
                }
                None => {
                    // Start now and advance by a few microseconds per event, so that events
                    // are never older than the moment they are inserted.
                    let mut t = now_ns();
                    (0..n)
                        .map(|_| {
                            t += 1 + (gen.random_ns() % 20_000) as i128;
                            (
                                t.div_euclid(1_000_000_000) as i64,
                                t.rem_euclid(1_000_000_000) as u32,
                            )
                        })
                        .collect()
                }
            }
        };
        let events = t.generate_at(&times);
        let texts = events.iter().map(|e| e.text.to_text()).collect();
        t.insert(events);
        Ok(texts)
    }

    pub fn oldest_event(&self) -> Option<i64> {
        self.tenants
            .iter()
            .filter_map(|t| t.store.read().oldest_ts())
            .min()
    }

    pub fn write_config(&self, path: &Path) -> Result<(), SimError> {
        let tenants: Vec<ConfigTenant<'_>> = self
            .tenants
            .iter()
            .map(|t| ConfigTenant {
                name: &t.name,
                client_id: &t.client_id,
                api_key: &t.api_key,
            })
            .collect();
        config_writer::write(path, &self.base_url, &tenants, self.oldest_event())
    }
}

fn valid_tenant_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn load_events_file(path: &Path) -> Result<Vec<StoredEvent>, SimError> {
    let text = std::fs::read_to_string(path).map_err(|source| SimError::Io {
        context: format!("reading events file {}", path.display()),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_start_matches('\u{feff}').trim();
        if line.is_empty() {
            continue;
        }
        let ev = StoredEvent::from_raw(Arc::from(line)).map_err(|reason| SimError::EventsFile {
            path: path.to_path_buf(),
            line: i + 1,
            reason,
        })?;
        out.push(ev);
    }
    Ok(out)
}

/// Starts a simulator: binds the listener, builds the tenants (and their history or the
/// events file), and serves until [`SimHandle::shutdown`] (or until the handle is dropped).
///
/// Must be called inside a Tokio runtime. History generation runs on a blocking thread.
pub async fn start(cfg: SimConfig) -> Result<SimHandle, SimError> {
    cfg.faults.validate().map_err(SimError::Config)?;
    if !(cfg.rate.is_finite() && cfg.rate >= 0.0) {
        return Err(SimError::Config(format!(
            "rate must be a non-negative number, got {}",
            cfg.rate
        )));
    }
    if cfg.rate_limit_window.is_zero() {
        return Err(SimError::Config("rate-limit window must be > 0".into()));
    }
    let names: Vec<String> = match &cfg.tenant_names {
        Some(names) => names.clone(),
        None => (1..=cfg.tenants).map(|i| format!("tenant-{i}")).collect(),
    };
    if names.is_empty() {
        return Err(SimError::Config("at least one tenant is needed".into()));
    }
    if let Some(n) = cfg.read_only_tenants.iter().find(|n| !names.contains(n)) {
        return Err(SimError::Config(format!(
            "read-only tenant {n:?} is not one of the tenants"
        )));
    }
    if cfg.xdr_rate_limit_window.is_zero() {
        return Err(SimError::Config("XDR rate-limit window must be > 0".into()));
    }
    let mut seen = std::collections::HashSet::new();
    for n in &names {
        if !valid_tenant_name(n) {
            return Err(SimError::Config(format!(
                "tenant name {n:?} must be 1..64 chars of [a-z0-9_-]"
            )));
        }
        if !seen.insert(n.as_str()) {
            return Err(SimError::Config(format!("duplicate tenant name {n:?}")));
        }
    }

    let file_events = match &cfg.events_file {
        Some(p) => {
            let p = p.clone();
            Some(
                tokio::task::spawn_blocking(move || load_events_file(&p))
                    .await
                    .map_err(|e| SimError::Config(format!("loading events file: {e}")))??,
            )
        }
        None => None,
    };

    let broker = match cfg.amqp.clone() {
        Some(a) => Some(
            crate::streams::Broker::start(a)
                .await
                .map_err(SimError::Amqp)?,
        ),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| SimError::Bind {
            addr: cfg.listen,
            source,
        })?;
    let mut addr = listener.local_addr().map_err(|source| SimError::Bind {
        addr: cfg.listen,
        source,
    })?;
    if addr.ip().is_unspecified() {
        addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let base_url = format!("http://{addr}");

    let now_secs = (now_ns() / 1_000_000_000) as i64;
    let mut master = SmallRng::seed_from_u64(cfg.seed);
    let mut tenants = Vec::with_capacity(names.len());
    let mut by_name = HashMap::new();
    let mut by_client_id = HashMap::new();
    for (i, name) in names.iter().enumerate() {
        let mut rng = SmallRng::seed_from_u64(master.random());
        let org_guid = random_uuid(&mut rng);
        let mut client_id = random_hex(&mut rng, 20);
        while by_client_id.contains_key(&client_id) {
            client_id = random_hex(&mut rng, 20);
        }
        let api_key = random_uuid(&mut rng);
        let world = World::generate(&mut rng, name, &base_url, now_secs);
        let gen = Generator::new(SmallRng::seed_from_u64(rng.random()));
        let fault_rng = SmallRng::seed_from_u64(rng.random());
        by_name.insert(name.clone(), i);
        by_client_id.insert(client_id.clone(), i);
        tenants.push(Arc::new(Tenant {
            name: name.clone(),
            org_guid,
            client_id,
            api_key,
            world: RwLock::new(world),
            store: RwLock::new(EventStore::default()),
            gen: Mutex::new(gen),
            faults: RwLock::new(None),
            fault_rng: Mutex::new(fault_rng),
            limiter: Mutex::new(RateLimiter::new(cfg.rate_limit, cfg.rate_limit_window)),
            counters: Counters::default(),
            read_only: AtomicBool::new(cfg.read_only_tenants.contains(name)),
            streams: Default::default(),
            pending: Mutex::new(Pending::default()),
        }));
    }
    let inner = Arc::new(SimInner {
        base_url,
        tenants,
        by_name,
        by_client_id,
        global_faults: RwLock::new(cfg.faults),
        global_rate_limit: RwLock::new((cfg.rate_limit, cfg.rate_limit_window)),
        documented_rate_headers: cfg.documented_rate_headers,
        isolation_delay_ms: AtomicU64::new(
            u64::try_from(cfg.isolation_delay.as_millis()).unwrap_or(u64::MAX),
        ),
        unauthorized: AtomicU64::new(0),
        rate_bits: AtomicU64::new(cfg.rate.to_bits()),
        snow: crate::snow::SnowState::new(&mut master),
        xdr: crate::xdr::XdrState::new(&mut master, cfg.xdr_rate_limit, cfg.xdr_rate_limit_window),
        broker,
    });
    if let Some(b) = &inner.broker {
        for t in &inner.tenants {
            b.attach(&t.streams, &t.org_guid);
        }
    }

    // Initial content: the events file (same events for every tenant) or generated history.
    {
        let inner = inner.clone();
        let history = cfg.history;
        let span = cfg.history_span;
        tokio::task::spawn_blocking(move || {
            if let Some(events) = file_events {
                for t in &inner.tenants {
                    t.insert(events.clone());
                }
            } else if history > 0 {
                let to = now_ns();
                let from = to - span.as_nanos() as i128;
                for t in &inner.tenants {
                    let times = t.gen.lock().spread_times(history, from, to);
                    let events = t.generate_at(&times);
                    t.insert(events);
                }
            }
        })
        .await
        .map_err(|e| SimError::Config(format!("generating history: {e}")))?;
    }

    let app = crate::api::router(inner.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let served = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = rx.await;
        })
        .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "simulator server stopped");
        }
    });
    let generator = tokio::spawn(live_loop(inner.clone()));
    tracing::debug!(base_url = %inner.base_url, tenants = inner.tenants.len(), "simulator started");
    Ok(SimHandle {
        inner,
        addr,
        shutdown: Some(tx),
        server: Some(server),
        generator: Some(generator),
    })
}

async fn live_loop(inner: Arc<SimInner>) {
    let mut tick = tokio::time::interval(LIVE_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = now_ns();
    loop {
        tick.tick().await;
        let now = now_ns();
        let rate = inner.rate();
        if rate > 0.0 && now > last {
            let lambda = rate * ((now - last) as f64 / 1e9);
            for t in &inner.tenants {
                t.generate_live(lambda, last, now);
            }
        }
        last = now;
    }
}

/// Control handle of a running simulator. Dropping it stops the simulator too (abruptly);
/// [`SimHandle::shutdown`] stops it gracefully.
///
/// The same controls exist over HTTP for other processes (no auth, loopback peers only):
///
/// | route | body | effect |
/// |---|---|---|
/// | `GET /_sim/stats` | | [`SimStats`](crate::SimStats) as JSON |
/// | `GET /_sim/tenants` | | `[TenantInfo]` |
/// | `GET /_sim/tenants/{name}/event_ids` | | ids newest first (`null` when absent) |
/// | `POST /_sim/tenants/{name}/events` | `[event, ...]` (stored verbatim) or `{"generate": n, "at": "<RFC 3339>"?}` | `{"inserted": n}` |
/// | `POST /_sim/tenants/{name}/insert_after` | `{"after": n, "events": [...]}` | see [`SimHandle::insert_after_requests`] |
/// | `PUT /_sim/faults` | `{"tenant"?, "error_rate", "latency_ms", "drop_rate", "malformed_rate", "rate_limited_rate"}` (missing = 0) | |
/// | `PUT /_sim/rate_limit` | `{"tenant"?, "limit", "window_secs"}` | |
/// | `PUT /_sim/read_only` | `{"tenant", "read_only"}` | see [`SimHandle::set_read_only`] |
/// | `PUT /_sim/rate` | `{"rate": events_per_second}` | live generation rate |
/// | `POST /_sim/write_config` | `{"path": "..."}` | [`SimHandle::write_config`] |
pub struct SimHandle {
    pub(crate) inner: Arc<SimInner>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    generator: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("base_url", &self.inner.base_url)
            .field("tenants", &self.inner.tenants.len())
            .finish()
    }
}

fn values_to_texts(events: Vec<Value>) -> Vec<String> {
    events.into_iter().map(|v| v.to_string()).collect()
}

impl SimHandle {
    pub(crate) fn inner(&self) -> &Arc<SimInner> {
        &self.inner
    }

    /// Base URL of the API, e.g. `http://127.0.0.1:41234` (no trailing slash).
    pub fn base_url(&self) -> String {
        self.inner.base_url.clone()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// All tenants: name, credentials, groups and computers (current state).
    pub fn tenants(&self) -> Vec<TenantInfo> {
        self.inner.tenants.iter().map(|t| t.info()).collect()
    }

    /// One tenant by name.
    pub fn tenant(&self, name: &str) -> Result<TenantInfo, SimError> {
        Ok(self.inner.tenant(name)?.info())
    }

    /// Writes a runnable sebridge config for this simulator to `path`, atomically.
    ///
    /// The store (`sebridge.db`) and the file sink (`events.jsonl`) go beside it, with
    /// absolute paths. The poll source starts at the oldest stored event's second
    /// (`since`), or with `lookback = "1h"` when no tenant has any event yet.
    pub fn write_config(&self, path: &Path) -> Result<(), SimError> {
        self.inner.write_config(path)
    }

    /// Inserts events as given (serialized with `serde_json`, so key order follows the
    /// `Value`). Each must be an object with an integer `timestamp` (or a `date`).
    pub fn insert_events(&self, tenant: &str, events: Vec<Value>) -> Result<(), SimError> {
        self.inner
            .insert_raw(tenant, values_to_texts(events))
            .map(|_| ())
    }

    /// Inserts events given as JSON texts; each is served byte for byte (trimmed).
    pub fn insert_raw_events(&self, tenant: &str, events: Vec<String>) -> Result<(), SimError> {
        self.inner.insert_raw(tenant, events).map(|_| ())
    }

    /// Generates `n` events for `tenant`, inserts them and returns them.
    ///
    /// With `at`, all events fall in `at`'s second (random nanoseconds) — handy to test
    /// equal timestamps. Without, they start at the current instant and advance a few
    /// microseconds each, so none is older than the moment of insertion.
    pub fn generate_events(
        &self,
        tenant: &str,
        n: usize,
        at: Option<time::OffsetDateTime>,
    ) -> Result<Vec<Value>, SimError> {
        let texts = self.inner.generate(tenant, n, at)?;
        Ok(texts
            .iter()
            .filter_map(|t| serde_json::from_str(t).ok())
            .collect())
    }

    /// Inserts `events` right after the tenant's `after`-th `/v1/events` request (counted
    /// from the simulator's start, 1-based) has been answered — before the next request is
    /// handled. If that many requests were already answered, inserts now. Counted requests
    /// are those that reached the events handler (including 400s, drops and malformed
    /// answers; not 401, 429 or injected 5xx). See [`TenantStats::events_requests`](crate::TenantStats).
    pub fn insert_after_requests(
        &self,
        tenant: &str,
        after: u64,
        events: Vec<Value>,
    ) -> Result<(), SimError> {
        self.inner
            .insert_after(tenant, after, values_to_texts(events))
    }

    /// Sets fault injection for one tenant (`Some(name)`, overriding the global setting) or
    /// globally (`None`).
    pub fn set_faults(&self, tenant: Option<&str>, faults: Faults) -> Result<(), SimError> {
        self.inner.set_faults(tenant, faults)
    }

    /// Removes every tenant override and sets the global faults to none.
    pub fn clear_faults(&self) {
        *self.inner.global_faults.write() = Faults::NONE;
        for t in &self.inner.tenants {
            *t.faults.write() = None;
        }
    }

    /// Sets the request budget of one tenant, or of all tenants (`None`). The tenant's
    /// window restarts at its next request.
    pub fn set_rate_limit(
        &self,
        tenant: Option<&str>,
        limit: u32,
        window: Duration,
    ) -> Result<(), SimError> {
        self.inner.set_rate_limit(tenant, limit, window)
    }

    /// Gives `tenant`'s API credential the "Read-only" scope (`true`: every write under
    /// `/v1/` is answered 403, reads work) or "Read & Write" (`false`, the default).
    pub fn set_read_only(&self, tenant: &str, read_only: bool) -> Result<(), SimError> {
        self.inner
            .tenant(tenant)?
            .read_only
            .store(read_only, Ordering::Relaxed);
        Ok(())
    }

    /// Changes the live generation rate (events per second per tenant; 0 stops it).
    pub fn set_rate(&self, rate: f64) -> Result<(), SimError> {
        self.inner.set_rate(rate)
    }

    /// Snapshot of the request counters.
    pub fn stats(&self) -> SimStats {
        self.inner.stats()
    }

    /// Number of events stored for `tenant`.
    pub fn event_count(&self, tenant: &str) -> Result<usize, SimError> {
        Ok(self.inner.tenant(tenant)?.store.read().len())
    }

    /// Every stored event's `id`, newest first (API order); `None` for events without one
    /// (e.g. SecureX Threat Hunting Incident). For exactly-once checks.
    pub fn all_event_ids(&self, tenant: &str) -> Result<Vec<Option<u64>>, SimError> {
        Ok(self.inner.tenant(tenant)?.store.read().ids_newest_first())
    }

    /// Every stored event's JSON text, newest first (API order).
    pub fn all_event_texts(&self, tenant: &str) -> Result<Vec<String>, SimError> {
        let t = self.inner.tenant(tenant)?;
        let store = t.store.read();
        Ok((0..store.len())
            .rev()
            .map(|i| store.get(i).text.to_text())
            .collect())
    }

    /// Waits until every event given to the tenants so far has been published to their
    /// event streams and confirmed by the broker (true), or `limit` passed (false). True at
    /// once without a broker.
    pub async fn flush_streams(&self, limit: Duration) -> bool {
        match &self.inner.broker {
            Some(b) => b.flush(limit).await,
            None => true,
        }
    }

    /// Every event stream: `(tenant, stream id, queue name, user name)`.
    pub fn event_streams(&self) -> Vec<(String, u64, String, String)> {
        self.inner
            .broker
            .as_ref()
            .map(|b| {
                b.all()
                    .into_iter()
                    .map(|(t, s)| (t, s.id, s.queue_name, s.user_name))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Stops the simulator gracefully (waits up to 5 s for open requests) and removes its
    /// event streams (queues and broker users).
    pub async fn shutdown(mut self) {
        if let Some(g) = self.generator.take() {
            g.abort();
        }
        if let Some(b) = &self.inner.broker {
            b.shutdown().await;
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(mut server) = self.server.take() {
            if tokio::time::timeout(Duration::from_secs(5), &mut server)
                .await
                .is_err()
            {
                server.abort();
            }
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(g) = self.generator.take() {
            g.abort();
        }
        if let Some(b) = &self.inner.broker {
            b.cleanup_blocking();
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(s) = self.server.take() {
            s.abort();
        }
    }
}
