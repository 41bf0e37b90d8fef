//! Typed views of computers, groups and isolation. Unknown fields are kept in `extra` so a
//! newer API never breaks parsing and nothing is lost when re-serialising.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A computer (connector) as returned by `/v1/computers`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Computer {
    pub connector_guid: String,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub group_guid: Option<String>,
    #[serde(default)]
    pub operating_system: Option<String>,
    #[serde(default)]
    pub internal_ips: Vec<String>,
    #[serde(default)]
    pub external_ip: Option<String>,
    #[serde(default)]
    pub isolation: Option<IsolationSummary>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `isolation` member of a computer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IsolationSummary {
    #[serde(default)]
    pub available: Option<bool>,
    #[serde(default)]
    pub status: Option<IsolationStatus>,
}

/// A group as returned by `/v1/groups`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub guid: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Isolation state of a computer (`/v1/computers/{guid}/isolation`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Isolation {
    #[serde(default)]
    pub available: Option<bool>,
    pub status: IsolationStatus,
    #[serde(default)]
    pub unlock_code: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Isolation status values seen in the API; anything else is kept verbatim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IsolationStatus {
    NotIsolated,
    PendingStart,
    Isolated,
    PendingStop,
    #[serde(untagged)]
    Other(String),
}

impl IsolationStatus {
    /// The name the API gives the status (`pending_start`, ...; an unknown one verbatim).
    pub fn as_str(&self) -> &str {
        match self {
            IsolationStatus::NotIsolated => "not_isolated",
            IsolationStatus::PendingStart => "pending_start",
            IsolationStatus::Isolated => "isolated",
            IsolationStatus::PendingStop => "pending_stop",
            IsolationStatus::Other(s) => s,
        }
    }

    /// True when isolation is on or on its way.
    pub fn is_isolating(&self) -> bool {
        matches!(
            self,
            IsolationStatus::Isolated | IsolationStatus::PendingStart
        )
    }
}

/// `GET /v1/version`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Version {
    #[serde(default)]
    pub version: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::IsolationStatus;

    #[test]
    fn isolation_status_names_are_the_wire_names() {
        for s in [
            IsolationStatus::NotIsolated,
            IsolationStatus::PendingStart,
            IsolationStatus::Isolated,
            IsolationStatus::PendingStop,
            IsolationStatus::Other("quarantined".into()),
        ] {
            let wire = serde_json::to_string(&s).expect("serialises");
            assert_eq!(wire, format!("\"{}\"", s.as_str()));
        }
    }
}
