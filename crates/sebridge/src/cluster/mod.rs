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
use tokio::sync::watch;
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

#[derive(Debug)]
struct Shared {
    me: String,
    timing: Timing,
    /// Per unit: the fence while held.
    slots: Mutex<HashMap<String, watch::Sender<Option<Fence>>>>,
    /// When the last renewal that succeeded was sent (monotonic: it counts time this
    /// process spent stopped, so a replica woken from SIGSTOP knows its leases are stale).
    renewed_at: Mutex<Option<Instant>>,
    stop: CancellationToken,
    /// The lease loop, awaited on leave so that no tick runs after the leases are given back.
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Shared {
    /// Units whose lease is held, sorted.
    fn held(&self) -> Vec<String> {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let mut held: Vec<String> = slots
            .iter()
            .filter(|(_, tx)| tx.borrow().is_some())
            .map(|(u, _)| u.clone())
            .collect();
        held.sort();
        held
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
        let slots = units
            .iter()
            .map(|u| (u.clone(), watch::channel(None).0))
            .collect();
        let cluster = Cluster {
            inner: Arc::new(Inner {
                shared: Some(Shared {
                    me,
                    timing,
                    slots: Mutex::new(slots),
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

    /// Runs `work` whenever this replica holds `unit`'s lease, until `shutdown`. `work` gets
    /// the store fenced by the lease and a token cancelled when the lease is lost; a new run
    /// starts (with a new fence) when it is taken again.
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
        let mut rx = {
            let mut slots = s.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots
                .entry(unit.to_string())
                .or_insert_with(|| watch::channel(None).0)
                .subscribe()
        };
        loop {
            let fence = loop {
                if let Some(f) = rx.borrow_and_update().clone() {
                    break f;
                }
                tokio::select! {
                    r = rx.changed() => if r.is_err() { return },
                    _ = shutdown.cancelled() => return,
                }
            };
            tracing::info!(unit, epoch = fence.epoch, "lease taken: starting");
            let stop = shutdown.child_token();
            let run = work(store.fenced(fence.clone()), stop.clone());
            tokio::pin!(run);
            let mut ended = false;
            loop {
                tokio::select! {
                    _ = &mut run, if !ended => {
                        ended = true;
                        if shutdown.is_cancelled() {
                            return;
                        }
                    }
                    r = rx.changed() => {
                        let held = r.is_ok() && rx.borrow().as_ref() == Some(&fence);
                        if !held {
                            break;
                        }
                    }
                    _ = shutdown.cancelled(), if ended => return,
                }
            }
            stop.cancel();
            if !ended {
                run.await;
            }
            tracing::info!(unit, epoch = fence.epoch, "lease lost: stopped");
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
