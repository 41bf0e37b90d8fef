//! CTIM incident shapes (the fields the bridge uses; everything else is kept in `extra`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// CTIM length limits (ShortString, MedString, Markdown).
pub const TITLE_MAX: usize = 1024;
pub const SHORT_DESCRIPTION_MAX: usize = 2048;
pub const DESCRIPTION_MAX: usize = 5000;

/// `{source_name (required), description, url, external_id, hashes}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExternalReference {
    pub source_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hashes: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A new incident. `confidence`, `status` and `incident_time.opened` are required by the
/// schema; text fields are cut to the schema's limits by [`NewIncident::truncated`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NewIncident {
    #[serde(rename = "type")]
    pub kind: String,
    pub confidence: String,
    pub status: String,
    pub incident_time: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tlp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_references: Vec<ExternalReference>,
    /// Anything else of the schema (categories, discovery_method, tactics, scores, meta…).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn cut(s: &mut Option<String>, max: usize) {
    if let Some(text) = s {
        if text.chars().count() > max {
            let mut t: String = text.chars().take(max.saturating_sub(1)).collect();
            t.push('…');
            *text = t;
        }
    }
}

impl NewIncident {
    /// An incident with the required fields: `confidence`, `status`, `incident_time.opened`.
    pub fn new(confidence: &str, status: &str, opened: &str) -> NewIncident {
        let mut time = Map::new();
        time.insert("opened".into(), Value::String(opened.to_string()));
        NewIncident {
            kind: "incident".into(),
            confidence: confidence.into(),
            status: status.into(),
            incident_time: time,
            ..NewIncident::default()
        }
    }

    /// The same incident with title, short description and description cut to the CTIM
    /// limits (a longer one is refused with 400).
    pub fn truncated(mut self) -> NewIncident {
        cut(&mut self.title, TITLE_MAX);
        cut(&mut self.short_description, SHORT_DESCRIPTION_MAX);
        cut(&mut self.description, DESCRIPTION_MAX);
        self
    }
}

/// A stored incident (the fields the bridge reads; the rest in `extra`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// The full URL id, e.g. `https://private.intel.amp.cisco.com:443/ctia/incident/incident-<uuid>`.
    pub id: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub confidence: Option<String>,
    #[serde(default)]
    pub incident_time: Map<String, Value>,
    #[serde(default)]
    pub external_ids: Vec<String>,
    #[serde(default)]
    pub external_references: Vec<ExternalReference>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Incident {
    /// The short id (`incident-<uuid>`).
    pub fn short_id(&self) -> &str {
        short_id(&self.id)
    }

    /// `incident_time.<key>` as text.
    pub fn time(&self, key: &str) -> Option<&str> {
        self.incident_time.get(key).and_then(Value::as_str)
    }
}

/// The last path segment of an id (a full CTIA URL becomes `incident-<uuid>`).
pub fn short_id(id: &str) -> &str {
    id.trim_end_matches('/').rsplit('/').next().unwrap_or(id)
}

/// `GET /ctia/incident/search` parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchQuery {
    /// Lucene query string, e.g. `external_ids:"sebridge:acme:amp-event:1"`.
    pub query: Option<String>,
    pub status: Option<String>,
    pub severity: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
    pub sort_by: Option<String>,
}

/// A search answer.
#[derive(Clone, Debug)]
pub struct SearchResult {
    pub incidents: Vec<Incident>,
    /// `X-Total-Hits`.
    pub total_hits: Option<u64>,
}

/// `existing` with `new` added, or replacing the reference to the same thing (same source
/// and the same `external_id`, or the same `url`). Order is kept.
pub(crate) fn merge_references(
    existing: &[ExternalReference],
    new: ExternalReference,
) -> Vec<ExternalReference> {
    let same = |r: &ExternalReference| {
        r.source_name == new.source_name
            && ((r.external_id.is_some() && r.external_id == new.external_id)
                || (r.url.is_some() && r.url == new.url))
    };
    let mut out: Vec<ExternalReference> = Vec::with_capacity(existing.len() + 1);
    let mut replaced = false;
    for r in existing {
        if same(r) {
            if !replaced {
                out.push(new.clone());
                replaced = true;
            }
        } else {
            out.push(r.clone());
        }
    }
    if !replaced {
        out.push(new);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(source: &str, id: Option<&str>, url: &str) -> ExternalReference {
        ExternalReference {
            source_name: source.into(),
            external_id: id.map(str::to_string),
            url: Some(url.into()),
            ..Default::default()
        }
    }

    #[test]
    fn merge_keeps_existing_and_replaces_same() {
        let existing = vec![
            r("Cisco Secure Endpoint", Some("guid"), "https://console/x"),
            r("ServiceNow", Some("INC1"), "https://old"),
        ];
        let merged = merge_references(&existing, r("ServiceNow", Some("INC1"), "https://new"));
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0], existing[0]);
        assert_eq!(merged[1].url.as_deref(), Some("https://new"));
        let merged = merge_references(&existing, r("ServiceNow", Some("INC2"), "https://two"));
        assert_eq!(merged.len(), 3);
    }

    #[test]
    fn truncation_and_short_ids() {
        let mut n = NewIncident::new("High", "New", "2024-05-01T10:15:02.000Z");
        n.description = Some("x".repeat(6000));
        n.title = Some("t".into());
        let n = n.truncated();
        assert_eq!(
            n.description.as_ref().unwrap().chars().count(),
            DESCRIPTION_MAX
        );
        assert_eq!(n.title.as_deref(), Some("t"));
        let v = serde_json::to_value(&n).unwrap();
        assert_eq!(v["type"], "incident");
        assert_eq!(v["incident_time"]["opened"], "2024-05-01T10:15:02.000Z");
        assert!(v.get("external_ids").is_none());
        assert_eq!(
            short_id("https://private.intel.amp.cisco.com:443/ctia/incident/incident-0b6b"),
            "incident-0b6b"
        );
        assert_eq!(short_id("incident-1"), "incident-1");
    }
}
