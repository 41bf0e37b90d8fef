//! Request counters, per tenant.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Coarse classes of API paths, used as keys of [`TenantStats::by_path`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathClass {
    Version,
    EventTypes,
    Events,
    Computers,
    Isolation,
    Groups,
    EventStreams,
    Other,
}

impl PathClass {
    pub const ALL: [PathClass; 8] = [
        PathClass::Version,
        PathClass::EventTypes,
        PathClass::Events,
        PathClass::Computers,
        PathClass::Isolation,
        PathClass::Groups,
        PathClass::EventStreams,
        PathClass::Other,
    ];

    pub fn of(path: &str) -> PathClass {
        let p = path.trim_end_matches('/');
        match p {
            "/v1/version" => PathClass::Version,
            "/v1/event_types" => PathClass::EventTypes,
            "/v1/events" => PathClass::Events,
            "/v1/groups" => PathClass::Groups,
            "/v1/computers" => PathClass::Computers,
            "/v1/event_streams" => PathClass::EventStreams,
            _ if p.starts_with("/v1/computers/") && p.ends_with("/isolation") => {
                PathClass::Isolation
            }
            _ if p.starts_with("/v1/computers/") => PathClass::Computers,
            _ if p.starts_with("/v1/groups/") => PathClass::Groups,
            _ if p.starts_with("/v1/event_streams/") => PathClass::EventStreams,
            _ => PathClass::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PathClass::Version => "version",
            PathClass::EventTypes => "event_types",
            PathClass::Events => "events",
            PathClass::Computers => "computers",
            PathClass::Isolation => "isolation",
            PathClass::Groups => "groups",
            PathClass::EventStreams => "event_streams",
            PathClass::Other => "other",
        }
    }

    fn index(self) -> usize {
        PathClass::ALL
            .iter()
            .position(|c| *c == self)
            .unwrap_or(PathClass::ALL.len() - 1)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub requests: AtomicU64,
    by_path: [AtomicU64; PathClass::ALL.len()],
    pub rate_limited: AtomicU64,
    pub server_errors: AtomicU64,
    pub drops: AtomicU64,
    pub malformed: AtomicU64,
    pub client_errors: AtomicU64,
    pub forbidden: AtomicU64,
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub fn count_request(&self, class: PathClass) {
        bump(&self.requests);
        bump(&self.by_path[class.index()]);
    }

    pub fn snapshot(&self, name: &str, events_stored: usize, events_requests: u64) -> TenantStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TenantStats {
            name: name.to_string(),
            requests: get(&self.requests),
            by_path: PathClass::ALL
                .iter()
                .map(|c| (c.as_str().to_string(), get(&self.by_path[c.index()])))
                .collect(),
            events_requests,
            events_stored,
            rate_limited: get(&self.rate_limited),
            server_errors: get(&self.server_errors),
            drops: get(&self.drops),
            malformed: get(&self.malformed),
            client_errors: get(&self.client_errors),
            forbidden: get(&self.forbidden),
        }
    }
}

/// Counters of one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantStats {
    /// Tenant name.
    pub name: String,
    /// Authenticated requests received (including those answered 429 or with a fault).
    pub requests: u64,
    /// Requests per path class: `version`, `event_types`, `events`, `computers`,
    /// `isolation`, `groups`, `event_streams`, `other`.
    pub by_path: BTreeMap<String, u64>,
    /// `/v1/events` requests answered by the handler (the count `insert_after_requests`
    /// refers to; excludes 429s and injected 5xx, includes drops and malformed answers).
    pub events_requests: u64,
    /// Events currently stored.
    pub events_stored: usize,
    /// Requests answered 429.
    pub rate_limited: u64,
    /// Injected 5xx answers.
    pub server_errors: u64,
    /// Injected dropped connections.
    pub drops: u64,
    /// Injected malformed bodies.
    pub malformed: u64,
    /// 4xx answers other than 429 (bad parameters, unknown paths, conflicts, 403s).
    pub client_errors: u64,
    /// Writes refused with 403 because the tenant's credential is read-only.
    #[serde(default)]
    pub forbidden: u64,
}

/// Snapshot of all counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimStats {
    /// One entry per tenant, in tenant order.
    pub tenants: Vec<TenantStats>,
    /// Requests rejected with 401 (unknown or missing credentials).
    pub unauthorized: u64,
}

impl SimStats {
    /// The counters of the tenant called `name`.
    pub fn tenant(&self, name: &str) -> Option<&TenantStats> {
        self.tenants.iter().find(|t| t.name == name)
    }
}
