//! Several replicas on one PostgreSQL store: who runs what.
//!
//! Work comes in units, each run by one replica at a time under a lease: `tenant:<name>`
//! (the tenant's poll and stream sources), `sink:<name>`, and `incidents` (engine, executor,
//! reconciler). [`Cluster::gated`] runs a unit's work while this replica holds its lease,
//! with a store handle fenced by it, and stops the work when the lease is lost.
//! `manager.rs` takes, renews, balances and releases the leases. On SQLite there is one
//! process (the file lock), so every unit simply runs.

mod manager;
pub mod status;

use crate::store::{Fence, Store};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

pub use manager::ClusterError;

/// The lease of a tenant's sources.
pub fn tenant_lease(tenant: &str) -> String {
    format!("tenant:{tenant}")
}

/// The lease of a sink.
pub fn sink_lease(sink: &str) -> String {
    format!("sink:{sink}")
}

/// The lease of the incident engine, executor and reconciler.
pub const INCIDENTS_LEASE: &str = "incidents";

/// Lease timing: a lease lasts `lease` from its last renewal; renewals run every third of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub lease: Duration,
}

impl Timing {
    pub fn heartbeat(&self) -> Duration {
        self.lease / 3
    }
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            lease: Duration::from_secs(15),
        }
    }
}

/// This replica's view of the leases. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Cluster {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `None`: a single process (SQLite), every unit runs.
    shared: Option<Shared>,
}

/// What this replica may do with a unit, as its work sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Grant {
    /// Not held here: not taken yet, or given back.
    Free,
    /// Held: the work runs, its writes carry this fence.
    Held(Fence),
    /// Being given back for balance: the work stops, and the lease stays ours (renewed)
    /// until it has, so that its last writes still pass the fence; then it is freed.
    Handing(Fence),
    /// Taken over, or not renewed in time: its writes may be refused already.
    Lost,
}

#[derive(Debug)]
struct Slot {
    grant: watch::Sender<Grant>,
    /// Runs of the unit's work under way here (a tenant's poll and stream sources are two):
    /// a lease being handed over is freed once none is left.
    running: usize,
    /// When the hand-over began (it gives up waiting for the work after a lease).
    handing_since: Option<Instant>,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            grant: watch::channel(Grant::Free).0,
            running: 0,
            handing_since: None,
        }
    }
}

#[derive(Debug)]
struct Shared {
    me: String,
    timing: Timing,
    slots: Mutex<HashMap<String, Slot>>,
    /// Woken when the last run of a unit being handed over ends, so that its lease is
    /// freed at once rather than at the next heartbeat.
    work_ended: Notify,
    /// When the last renewal that succeeded was sent (monotonic: it counts time this
    /// process spent stopped, so a replica woken from SIGSTOP knows its leases are stale).
    renewed_at: Mutex<Option<Instant>>,
    stop: CancellationToken,
    /// The lease loop, awaited on leave so that no tick runs after the leases are given back.
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Shared {
    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Units whose grant matches, sorted.
    fn units(&self, pick: impl Fn(&Grant) -> bool) -> Vec<String> {
        let slots = self.slots();
        let mut units: Vec<String> = slots
            .iter()
            .filter(|(_, slot)| pick(&slot.grant.borrow()))
            .map(|(u, _)| u.clone())
            .collect();
        units.sort();
        units
    }

    /// Units whose lease is held and whose work runs, sorted.
    fn held(&self) -> Vec<String> {
        self.units(|g| matches!(g, Grant::Held(_)))
    }

    /// Units whose lease row is ours: held, or being handed over.
    fn leased(&self) -> Vec<String> {
        self.units(|g| matches!(g, Grant::Held(_) | Grant::Handing(_)))
    }

    /// Starts a run of `unit` if its lease is held: the check and the count happen under
    /// the slots' lock, so a hand-over that began first is never missed by the count.
    fn begin(&self, unit: &str, rx: &mut watch::Receiver<Grant>) -> Option<Fence> {
        let mut slots = self.slots();
        let Grant::Held(fence) = rx.borrow_and_update().clone() else {
            return None;
        };
        if let Some(slot) = slots.get_mut(unit) {
            slot.running += 1;
        }
        Some(fence)
    }

    fn end(&self, unit: &str) {
        let mut slots = self.slots();
        if let Some(slot) = slots.get_mut(unit) {
            slot.running = slot.running.saturating_sub(1);
            if slot.running == 0 && matches!(*slot.grant.borrow(), Grant::Handing(_)) {
                self.work_ended.notify_one();
            }
        }
    }
}

/// One run of a unit's work, counted until dropped (even if its task is cancelled).
struct Running<'a> {
    shared: &'a Shared,
    unit: &'a str,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.shared.end(self.unit);
    }
}

impl Cluster {
    /// One process: every unit runs, unfenced.
    pub fn single() -> Cluster {
        Cluster {
            inner: Arc::new(Inner { shared: None }),
        }
    }

    /// Joins the replicas of `store` (PostgreSQL) competing for `units`, and starts taking
    /// leases in the background until [`Cluster::leave`].
    pub async fn join(
        store: &Store,
        units: Vec<String>,
        timing: Timing,
    ) -> Result<Cluster, ClusterError> {
        let me = manager::replica_id();
        let slots = units.iter().map(|u| (u.clone(), Slot::new())).collect();
        let cluster = Cluster {
            inner: Arc::new(Inner {
                shared: Some(Shared {
                    me,
                    timing,
                    slots: Mutex::new(slots),
                    work_ended: Notify::new(),
                    renewed_at: Mutex::new(None),
                    stop: CancellationToken::new(),
                    task: Mutex::new(None),
                }),
            }),
        };
        manager::start(cluster.clone(), store.clone(), units).await?;
        Ok(cluster)
    }

    /// This replica's id (`None` for a single process).
    pub fn replica(&self) -> Option<&str> {
        self.inner.shared.as_ref().map(|s| s.me.as_str())
    }

    /// Units whose lease this replica holds now.
    pub fn held(&self) -> Vec<String> {
        self.inner
            .shared
            .as_ref()
            .map_or_else(Vec::new, Shared::held)
    }

    /// True while the leases were renewed recently enough that no other replica can have
    /// taken them yet: checked right before a side effect no database can fence (a ticket,
    /// an isolation).
    pub fn is_fresh(&self) -> bool {
        let Some(s) = &self.inner.shared else {
            return true;
        };
        let renewed = *s.renewed_at.lock().unwrap_or_else(|p| p.into_inner());
        // A margin for the database clock running ahead of ours.
        renewed.is_some_and(|t| t.elapsed() < s.timing.lease.mul_f64(0.8))
    }

    /// True if `unit`'s work runs on this replica now (always, for a single process).
    pub fn runs(&self, unit: &str) -> bool {
        let Some(s) = &self.inner.shared else {
            return true;
        };
        s.slots()
            .get(unit)
            .is_some_and(|slot| matches!(*slot.grant.borrow(), Grant::Held(_)))
    }

    /// Runs `work` whenever this replica holds `unit`'s lease, until `shutdown`. `work` gets
    /// the store fenced by the lease and a token cancelled when the lease is given back or
    /// lost; a new run starts (with a new fence) when it is taken again.
    pub async fn gated<F, Fut>(
        &self,
        unit: &str,
        store: &Store,
        shutdown: CancellationToken,
        work: F,
    ) where
        F: FnMut(Store, CancellationToken) -> Fut,
        Fut: Future<Output = ()>,
    {
        let mut work = work;
        let Some(s) = &self.inner.shared else {
            work(store.clone(), shutdown).await;
            return;
        };
        let mut rx = s
            .slots()
            .entry(unit.to_string())
            .or_insert_with(Slot::new)
            .grant
            .subscribe();
        loop {
            let fence = loop {
                if let Some(f) = s.begin(unit, &mut rx) {
                    break f;
                }
                tokio::select! {
                    r = rx.changed() => if r.is_err() { return },
                    _ = shutdown.cancelled() => return,
                }
            };
            let mut running = Some(Running { shared: s, unit });
            tracing::info!(unit, epoch = fence.epoch, "lease taken: starting");
            let stop = shutdown.child_token();
            let run = work(store.fenced(fence.clone()), stop.clone());
            tokio::pin!(run);
            let why = loop {
                tokio::select! {
                    _ = &mut run, if running.is_some() => {
                        running = None;
                        if shutdown.is_cancelled() {
                            return;
                        }
                    }
                    r = rx.changed() => {
                        let now = if r.is_ok() { rx.borrow().clone() } else { Grant::Lost };
                        if now != Grant::Held(fence.clone()) {
                            break now;
                        }
                    }
                    _ = shutdown.cancelled(), if running.is_none() => return,
                }
            };
            stop.cancel();
            if running.is_some() {
                run.await;
            }
            // Logged before the run is counted out: a lease handed over is freed right
            // after, and the next replica's start should not precede this line.
            let epoch = fence.epoch;
            match why {
                Grant::Handing(_) => {
                    tracing::info!(unit, epoch, "lease given back for balance: stopped")
                }
                Grant::Free => tracing::info!(unit, epoch, "lease given back: stopped"),
                Grant::Held(_) | Grant::Lost => {
                    tracing::warn!(unit, epoch, "lease lost: stopped")
                }
            }
            drop(running);
            if shutdown.is_cancelled() {
                return;
            }
        }
    }

    /// Stops taking leases and gives back those held (after the work stopped), so that the
    /// other replicas take over at once instead of after a lease period.
    pub async fn leave(&self, store: &Store) {
        if let Some(s) = &self.inner.shared {
            s.stop.cancel();
            let task = s.task.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(task) = task {
                let _ = task.await;
            }
            manager::release_all(self, store).await;
        }
    }

    fn shared(&self) -> Option<&Shared> {
        self.inner.shared.as_ref()
    }
}
