//! A tenant's world: groups, computers (with isolation state), and their JSON forms.
//!
//! Everything is derived from a seeded RNG so that a given `--seed` always yields the same
//! organisations, credentials, groups and computers.

use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::RngExt;
use serde::Serialize;

use crate::isolation::{Isolation, IsolationStatus};
use crate::util::{push_json_str, zulu_date};

/// Names of the groups a tenant may have (2 to 4 of them, in this order).
const GROUP_NAMES: [(&str, &str); 4] = [
    ("Protect", "Default protection group for workstations"),
    ("Triage", "Computers under investigation"),
    ("Servers", "Windows servers"),
    ("Audit", "Audit-only group"),
];

const FIRST_NAMES: [&str; 16] = [
    "john", "jane", "alex", "maria", "li", "omar", "sara", "ken", "ana", "tom", "eva", "raj",
    "nina", "paul", "yuki", "ben",
];
const LAST_NAMES: [&str; 16] = [
    "doe", "smith", "garcia", "chen", "khan", "muller", "rossi", "tanaka", "silva", "novak",
    "jones", "patel", "kim", "brown", "dubois", "berg",
];

const WORKSTATION_OS: [(&str, &str); 3] = [
    ("Windows 10, SP 0.0", "10.0.19045.3570"),
    ("Windows 11, SP 0.0", "10.0.22631.2861"),
    ("Windows 10, SP 0.0", "10.0.19044.2965"),
];
const SERVER_OS: [(&str, &str); 2] = [
    ("Windows Server 2019, SP 0.0", "10.0.17763.5122"),
    ("Windows Server 2022, SP 0.0", "10.0.20348.2113"),
];
const CONNECTOR_VERSIONS: [&str; 3] = ["8.2.1.21650", "8.1.7.21585", "7.5.17.21542"];

#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub guid: Arc<str>,
    pub name: String,
    pub description: String,
    pub policy_guid: String,
    pub policy_name: String,
    pub policy_serial: u32,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct Computer {
    pub guid: Arc<str>,
    pub hostname: String,
    pub windows_processor_id: String,
    pub connector_version: String,
    pub operating_system: String,
    pub os_version: String,
    pub internal_ip: String,
    pub external_ip: String,
    pub mac: String,
    pub user: String,
    pub group: usize,
    pub install_date: i64,
    pub last_seen: i64,
    pub isolation: Isolation,
    /// Whether the connector is online: an offline one carries out an isolation request
    /// only when it is back.
    pub online: bool,
    /// Pre-serialized `computer` object for events, with `user`.
    pub frag_user: Arc<str>,
    /// Pre-serialized `computer` object for events, without `user`.
    pub frag_plain: Arc<str>,
}

/// Groups and computers of one tenant. Mutated by PATCH (move) and isolation requests.
#[derive(Debug)]
pub(crate) struct World {
    pub base_url: Arc<str>,
    pub groups: Vec<Group>,
    pub computers: Vec<Computer>,
}

pub(crate) fn random_hex(rng: &mut SmallRng, n: usize) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    (0..n)
        .map(|_| HEX[rng.random_range(0..16usize)] as char)
        .collect()
}

pub(crate) fn random_uuid(rng: &mut SmallRng) -> String {
    let bytes: [u8; 16] = rng.random();
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

fn random_upper_alnum(rng: &mut SmallRng, n: usize) -> String {
    const CH: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
    (0..n)
        .map(|_| CH[rng.random_range(0..CH.len())] as char)
        .collect()
}

impl World {
    /// Builds a tenant's groups and computers. `now` is epoch seconds.
    pub fn generate(rng: &mut SmallRng, tenant: &str, base_url: &str, now: i64) -> World {
        let n_groups = rng.random_range(2..=4usize);
        let groups: Vec<Group> = GROUP_NAMES[..n_groups]
            .iter()
            .map(|(name, desc)| Group {
                guid: random_uuid(rng).into(),
                name: (*name).to_string(),
                description: (*desc).to_string(),
                policy_guid: random_uuid(rng),
                policy_name: format!("{name} Policy"),
                policy_serial: rng.random_range(10..500u32),
                created_at: now - rng.random_range(200..900i64) * 86_400,
            })
            .collect();
        let servers_group = groups.iter().position(|g| g.name == "Servers");
        let domain = format!("{tenant}.example.com");
        let external_ip = format!("203.0.113.{}", rng.random_range(2..250u32));
        let subnet = rng.random_range(0..250u32);
        let n_computers = rng.random_range(5..=50usize);
        let mut computers = Vec::with_capacity(n_computers);
        let mut hostnames = std::collections::HashSet::new();
        for i in 0..n_computers {
            let is_server = rng.random_bool(0.15);
            let (os, osv) = if is_server {
                SERVER_OS[rng.random_range(0..SERVER_OS.len())]
            } else {
                WORKSTATION_OS[rng.random_range(0..WORKSTATION_OS.len())]
            };
            let mut hostname = if is_server {
                format!(
                    "SRV-{}-{:02}",
                    ["APP", "DB", "FILE", "WEB", "DC"][i % 5],
                    i + 1
                )
            } else {
                let prefix = ["DESKTOP", "LAPTOP", "WS"][rng.random_range(0..3usize)];
                format!("{prefix}-{}", random_upper_alnum(rng, 7))
            };
            while !hostnames.insert(hostname.clone()) {
                hostname.push('X');
            }
            let user = if is_server {
                format!("administrator@{domain}")
            } else {
                format!(
                    "{}.{}@{domain}",
                    FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())],
                    LAST_NAMES[rng.random_range(0..LAST_NAMES.len())]
                )
            };
            let group = match servers_group {
                Some(g) if is_server => g,
                _ => {
                    let choices: Vec<usize> = (0..groups.len())
                        .filter(|g| Some(*g) != servers_group)
                        .collect();
                    choices[rng.random_range(0..choices.len())]
                }
            };
            let mac_bytes: [u8; 6] = rng.random();
            let mac = mac_bytes
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":");
            let install_date = now - rng.random_range(30..700i64) * 86_400;
            computers.push(Computer {
                guid: random_uuid(rng).into(),
                hostname,
                windows_processor_id: random_hex(rng, 15),
                connector_version: CONNECTOR_VERSIONS
                    [rng.random_range(0..CONNECTOR_VERSIONS.len())]
                .to_string(),
                operating_system: os.to_string(),
                os_version: osv.to_string(),
                internal_ip: format!("10.{}.{}.{}", subnet, i / 250, 10 + i % 240),
                external_ip: external_ip.clone(),
                mac,
                user,
                group,
                install_date,
                last_seen: now - rng.random_range(0..3600i64),
                isolation: Isolation::default(),
                online: true,
                frag_user: Arc::from(""),
                frag_plain: Arc::from(""),
            });
        }
        let mut world = World {
            base_url: Arc::from(base_url),
            groups,
            computers,
        };
        for i in 0..world.computers.len() {
            world.refresh_fragments(i);
        }
        world
    }

    /// Rebuilds the pre-serialized event `computer` objects of computer `i`.
    pub fn refresh_fragments(&mut self, i: usize) {
        let group_guid = self.groups[self.computers[i].group].guid.clone();
        let c = &mut self.computers[i];
        c.frag_user = event_computer_json(&self.base_url, c, &group_guid, true).into();
        c.frag_plain = event_computer_json(&self.base_url, c, &group_guid, false).into();
    }

    pub fn computer_index(&self, guid: &str) -> Option<usize> {
        self.computers.iter().position(|c| &*c.guid == guid)
    }

    pub fn group_index(&self, guid: &str) -> Option<usize> {
        self.groups.iter().position(|g| &*g.guid == guid)
    }

    /// Moves computer `ci` to group `gi`; later events carry the new group.
    pub fn move_computer(&mut self, ci: usize, gi: usize) {
        self.computers[ci].group = gi;
        self.refresh_fragments(ci);
    }

    pub fn computer_json(&self, i: usize) -> ComputerJson {
        let c = &self.computers[i];
        let g = &self.groups[c.group];
        let base = &self.base_url;
        let isolation = c.isolation.view(std::time::Instant::now());
        ComputerJson {
            connector_guid: c.guid.to_string(),
            hostname: c.hostname.clone(),
            windows_processor_id: c.windows_processor_id.clone(),
            active: true,
            links: ComputerLinks {
                computer: format!("{base}/v1/computers/{}", c.guid),
                trajectory: format!("{base}/v1/computers/{}/trajectory", c.guid),
                group: format!("{base}/v1/groups/{}", g.guid),
            },
            connector_version: c.connector_version.clone(),
            operating_system: c.operating_system.clone(),
            os_version: c.os_version.clone(),
            internal_ips: vec![c.internal_ip.clone()],
            external_ip: c.external_ip.clone(),
            group_guid: g.guid.to_string(),
            install_date: zulu_date(c.install_date),
            is_compromised: false,
            demo: false,
            network_addresses: vec![NetworkAddress {
                mac: c.mac.clone(),
                ip: c.internal_ip.clone(),
            }],
            policy: PolicyRef {
                guid: g.policy_guid.clone(),
                name: g.policy_name.clone(),
            },
            groups: vec![GroupRef {
                guid: g.guid.to_string(),
                name: g.name.clone(),
            }],
            last_seen: zulu_date(c.last_seen),
            faults: Vec::new(),
            isolation: IsolationSummary {
                available: isolation.available,
                status: isolation.status,
            },
            orbital: OrbitalStatus {
                status: "not_enabled",
            },
        }
    }

    pub fn group_list_json(&self, i: usize) -> GroupListItem {
        let g = &self.groups[i];
        GroupListItem {
            name: g.name.clone(),
            description: g.description.clone(),
            guid: g.guid.to_string(),
            source: None,
            links: GroupLinks {
                group: format!("{}/v1/groups/{}", self.base_url, g.guid),
            },
        }
    }

    pub fn group_detail_json(&self, i: usize) -> GroupDetail {
        let g = &self.groups[i];
        let base = &self.base_url;
        let count = self.computers.iter().filter(|c| c.group == i).count();
        GroupDetail {
            name: g.name.clone(),
            description: g.description.clone(),
            guid: g.guid.to_string(),
            source: None,
            creator: "sebridge-sim".to_string(),
            created_at: zulu_date(g.created_at),
            computers_count: count,
            descendant_computers_count: 0,
            policies: vec![PolicyDetail {
                name: g.policy_name.clone(),
                description: format!("Policy for the {} group", g.name),
                guid: g.policy_guid.clone(),
                product: "windows",
                default: false,
                serial_number: g.policy_serial,
                links: PolicyLinks {
                    policy_xml: format!("{base}/v1/policies/{}.xml", g.policy_guid),
                    policy: format!("{base}/v1/policies/{}", g.policy_guid),
                },
                file_lists: Vec::new(),
                ip_lists: Vec::new(),
                isolation_ip_lists: Vec::new(),
                exclusion_sets: Vec::new(),
                used_in_groups: vec![GroupRef {
                    guid: g.guid.to_string(),
                    name: g.name.clone(),
                }],
                inherited: false,
            }],
        }
    }
}

/// The `computer` object embedded in events (key order as in real events).
fn event_computer_json(base: &str, c: &Computer, group_guid: &str, with_user: bool) -> String {
    let mut s = String::with_capacity(512);
    s.push_str("{\"connector_guid\":");
    push_json_str(&mut s, &c.guid);
    s.push_str(",\"hostname\":");
    push_json_str(&mut s, &c.hostname);
    s.push_str(",\"external_ip\":");
    push_json_str(&mut s, &c.external_ip);
    if with_user {
        s.push_str(",\"user\":");
        push_json_str(&mut s, &c.user);
    }
    s.push_str(",\"active\":true,\"network_addresses\":[{\"ip\":");
    push_json_str(&mut s, &c.internal_ip);
    s.push_str(",\"mac\":");
    push_json_str(&mut s, &c.mac);
    s.push_str("}],\"links\":{\"computer\":");
    push_json_str(&mut s, &format!("{base}/v1/computers/{}", c.guid));
    s.push_str(",\"trajectory\":");
    push_json_str(
        &mut s,
        &format!("{base}/v1/computers/{}/trajectory", c.guid),
    );
    s.push_str(",\"group\":");
    push_json_str(&mut s, &format!("{base}/v1/groups/{group_guid}"));
    s.push_str("}}");
    s
}

// ---- JSON shapes (field order follows the real responses) ----

#[derive(Debug, Serialize)]
pub(crate) struct ComputerLinks {
    pub computer: String,
    pub trajectory: String,
    pub group: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct NetworkAddress {
    pub mac: String,
    pub ip: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct PolicyRef {
    pub guid: String,
    pub name: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct GroupRef {
    pub guid: String,
    pub name: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct IsolationSummary {
    pub available: bool,
    pub status: IsolationStatus,
}

#[derive(Debug, Serialize)]
pub(crate) struct OrbitalStatus {
    pub status: &'static str,
}

/// A computer as returned by `/v1/computers` (reference §8.1).
#[derive(Debug, Serialize)]
pub(crate) struct ComputerJson {
    pub connector_guid: String,
    pub hostname: String,
    pub windows_processor_id: String,
    pub active: bool,
    pub links: ComputerLinks,
    pub connector_version: String,
    pub operating_system: String,
    pub os_version: String,
    pub internal_ips: Vec<String>,
    pub external_ip: String,
    pub group_guid: String,
    pub install_date: String,
    pub is_compromised: bool,
    pub demo: bool,
    pub network_addresses: Vec<NetworkAddress>,
    pub policy: PolicyRef,
    pub groups: Vec<GroupRef>,
    pub last_seen: String,
    pub faults: Vec<serde_json::Value>,
    pub isolation: IsolationSummary,
    pub orbital: OrbitalStatus,
}

#[derive(Debug, Serialize)]
pub(crate) struct GroupLinks {
    pub group: String,
}

/// A group as listed by `GET /v1/groups`.
#[derive(Debug, Serialize)]
pub(crate) struct GroupListItem {
    pub name: String,
    pub description: String,
    pub guid: String,
    pub source: Option<String>,
    pub links: GroupLinks,
}

#[derive(Debug, Serialize)]
pub(crate) struct PolicyLinks {
    pub policy_xml: String,
    pub policy: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct PolicyDetail {
    pub name: String,
    pub description: String,
    pub guid: String,
    pub product: &'static str,
    pub default: bool,
    pub serial_number: u32,
    pub links: PolicyLinks,
    pub file_lists: Vec<serde_json::Value>,
    pub ip_lists: Vec<serde_json::Value>,
    pub isolation_ip_lists: Vec<serde_json::Value>,
    pub exclusion_sets: Vec<serde_json::Value>,
    pub used_in_groups: Vec<GroupRef>,
    pub inherited: bool,
}

/// A group as returned by `GET /v1/groups/{guid}`.
#[derive(Debug, Serialize)]
pub(crate) struct GroupDetail {
    pub name: String,
    pub description: String,
    pub guid: String,
    pub source: Option<String>,
    pub creator: String,
    pub created_at: String,
    pub computers_count: usize,
    pub descendant_computers_count: usize,
    pub policies: Vec<PolicyDetail>,
}

/// `GET /v1/computers/{guid}/isolation` data.
#[derive(Debug, Serialize)]
pub(crate) struct IsolationJson {
    pub available: bool,
    pub status: IsolationStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unlock_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolated_by: Option<String>,
}

impl From<&Isolation> for IsolationJson {
    fn from(i: &Isolation) -> Self {
        IsolationJson {
            available: i.available,
            status: i.status,
            unlock_code: i.unlock_code.clone(),
            comment: i.comment.clone(),
            isolated_by: i.isolated_by.clone(),
        }
    }
}
