//! The event model: the vendor's JSON exactly as received, beside a typed view of the
//! fields used for routing.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use time::OffsetDateTime;

/// Bit 63 marks ids that sebridge derived from content. Observed vendor ids stay below
/// 2^63 (about 7e18 at most), so a derived id never collides with a real one.
pub const DERIVED_ID_BIT: u64 = 1 << 63;

/// Event severity, as the API spells it ("Low", "Medium", "High", "Critical").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Case-insensitive parse (threat-hunting events use lowercase).
    pub fn parse(s: &str) -> Option<Severity> {
        match s.trim().to_ascii_lowercase().as_str() {
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a JSON object is not a usable event.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("event is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("event is not a JSON object")]
    NotAnObject,
    #[error("event has no event_type_id")]
    MissingType,
    #[error("event has neither a timestamp nor a parseable date")]
    MissingTime,
    #[error("event id {0:?} is not an unsigned 64-bit integer")]
    BadId(String),
}

/// One Secure Endpoint event.
///
/// `raw()` is the vendor's JSON text byte for byte; sinks forward it unchanged. The other
/// fields are a typed view read from it.
#[derive(Clone)]
pub struct Event {
    // Shared: the journal and its in-memory tail hold the same text without copying it.
    raw: Arc<str>,
    /// The vendor's id, or one derived from the content (see [`Event::id_is_derived`]).
    pub id: u64,
    pub event_type_id: u64,
    pub event_type: Option<String>,
    /// Epoch seconds.
    pub timestamp: i64,
    /// Sub-second part of the timestamp (0..1e9).
    pub timestamp_nanoseconds: u32,
    pub severity: Option<Severity>,
    pub connector_guid: Option<String>,
    pub hostname: Option<String>,
    pub group_guids: Vec<String>,
    pub detection: Option<String>,
    pub detection_id: Option<String>,
    /// `file.identity.sha256`, lowercased.
    pub sha256: Option<String>,
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("id", &self.id)
            .field("event_type_id", &self.event_type_id)
            .field("timestamp", &self.timestamp)
            .field("connector_guid", &self.connector_guid)
            .finish_non_exhaustive()
    }
}

/// Accepts an id as a JSON integer (the API) or a string of digits (user_trajectory docs).
/// A float (a consumer that went through f64) is refused: its low digits are lost.
#[derive(Deserialize)]
#[serde(untagged)]
enum IdRepr<'a> {
    Int(u64),
    #[serde(borrow)]
    Str(Cow<'a, str>),
    Other(Value),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StrOrNum<'a> {
    #[serde(borrow)]
    Str(Cow<'a, str>),
    Num(serde_json::Number),
}

impl StrOrNum<'_> {
    fn into_string(self) -> String {
        match self {
            StrOrNum::Str(s) => s.into_owned(),
            StrOrNum::Num(n) => n.to_string(),
        }
    }
}

#[derive(Deserialize)]
struct View<'a> {
    #[serde(borrow, default)]
    id: Option<IdRepr<'a>>,
    #[serde(default)]
    event_type_id: Option<u64>,
    #[serde(borrow, default)]
    event_type: Option<Cow<'a, str>>,
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(default)]
    timestamp_nanoseconds: Option<u64>,
    #[serde(borrow, default)]
    date: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    severity: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    connector_guid: Option<Cow<'a, str>>,
    #[serde(default)]
    group_guids: Option<Vec<String>>,
    #[serde(borrow, default)]
    detection: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    detection_id: Option<StrOrNum<'a>>,
    #[serde(borrow, default)]
    computer: Option<ComputerView<'a>>,
    #[serde(borrow, default)]
    file: Option<FileView<'a>>,
}

#[derive(Deserialize)]
struct ComputerView<'a> {
    #[serde(borrow, default)]
    connector_guid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    hostname: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct FileView<'a> {
    #[serde(borrow, default)]
    identity: Option<IdentityView<'a>>,
}

#[derive(Deserialize)]
struct IdentityView<'a> {
    #[serde(borrow, default)]
    sha256: Option<Cow<'a, str>>,
}

fn non_empty(s: Option<Cow<'_, str>>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(Cow::into_owned)
}

impl Event {
    /// Reads an event from its JSON text. The text is kept exactly as given.
    pub fn from_json(raw: &str) -> Result<Event, EventError> {
        let trimmed = raw.trim();
        if !trimmed.starts_with('{') {
            // Validate it is JSON at all, for a precise error, then refuse.
            serde_json::from_str::<&RawValue>(trimmed)?;
            return Err(EventError::NotAnObject);
        }
        let view: View<'_> = serde_json::from_str(trimmed)?;
        let event_type_id = view.event_type_id.ok_or(EventError::MissingType)?;
        let (timestamp, nanos) = match (view.timestamp, view.date.as_deref()) {
            (Some(ts), _) => (ts, view.timestamp_nanoseconds.unwrap_or(0)),
            (None, Some(date)) => {
                let dt =
                    OffsetDateTime::parse(date, &time::format_description::well_known::Rfc3339)
                        .map_err(|_| EventError::MissingTime)?;
                (dt.unix_timestamp(), u64::from(dt.nanosecond()))
            }
            (None, None) => return Err(EventError::MissingTime),
        };
        let id = match view.id {
            Some(IdRepr::Int(id)) => id,
            Some(IdRepr::Str(s)) => s
                .trim()
                .parse()
                .map_err(|_| EventError::BadId(s.into_owned()))?,
            Some(IdRepr::Other(Value::Null)) | None => derive_id(trimmed)?,
            Some(IdRepr::Other(v)) => return Err(EventError::BadId(v.to_string())),
        };
        let computer = view.computer;
        let connector_guid = non_empty(view.connector_guid).or_else(|| {
            computer
                .as_ref()
                .and_then(|c| c.connector_guid.clone())
                .and_then(|c| non_empty(Some(c)))
        });
        Ok(Event {
            raw: trimmed.into(),
            id,
            event_type_id,
            event_type: non_empty(view.event_type),
            timestamp,
            timestamp_nanoseconds: u32::try_from(nanos.min(999_999_999)).unwrap_or(0),
            severity: view.severity.as_deref().and_then(Severity::parse),
            connector_guid,
            hostname: computer.and_then(|c| non_empty(c.hostname)),
            group_guids: view.group_guids.unwrap_or_default(),
            detection: non_empty(view.detection),
            detection_id: view
                .detection_id
                .map(StrOrNum::into_string)
                .filter(|s| !s.is_empty()),
            sha256: view
                .file
                .and_then(|f| f.identity)
                .and_then(|i| non_empty(i.sha256))
                .map(|s| s.to_ascii_lowercase()),
        })
    }

    /// The vendor's JSON text, exactly as received.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The same text, shared (a reference count, no copy).
    pub fn shared_raw(&self) -> Arc<str> {
        Arc::clone(&self.raw)
    }

    /// True when the API gave no id and [`Event::id`] was derived from the content.
    pub fn id_is_derived(&self) -> bool {
        self.id & DERIVED_ID_BIT != 0
    }

    /// The event time (second plus sub-second part), UTC.
    pub fn time(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.timestamp)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
            .replace_nanosecond(self.timestamp_nanoseconds)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// A stable id for an event the API sent without one: SHA-256 of the canonical JSON (keys
/// sorted, no whitespace), so the same event read by poll and by stream, with keys in another
/// order or other spacing, gets the same id. Bit 63 is set to mark it as derived.
fn derive_id(raw: &str) -> Result<u64, EventError> {
    let value: Value = serde_json::from_str(raw)?;
    let mut canonical = String::with_capacity(raw.len());
    write_canonical(&value, &mut canonical);
    let digest = Sha256::digest(canonical.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    Ok(u64::from_be_bytes(first) | DERIVED_ID_BIT)
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            // Sorted explicitly: serde_json's map order depends on a cargo feature that any
            // crate in a build can switch on.
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// An event type, as listed by `GET /v1/event_types`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EventType {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_ids_keep_every_digit() {
        let e = Event::from_json(
            r#"{"id":6533241145273614339,"timestamp":1593079552,"timestamp_nanoseconds":619000000,
            "date":"2020-06-25T10:05:52+00:00","event_type":"Threat Detected","event_type_id":1090519054,
            "severity":"Medium","connector_guid":"0b4883d4","file":{"identity":{"sha256":"A78C"}}}"#,
        )
        .unwrap();
        assert_eq!(e.id, 6533241145273614339);
        assert!(!e.id_is_derived());
        assert_eq!(e.severity, Some(Severity::Medium));
        assert_eq!(e.sha256.as_deref(), Some("a78c"));
        assert_eq!(e.time().unix_timestamp(), 1593079552);
        assert_eq!(e.time().nanosecond(), 619000000);
    }

    #[test]
    fn derived_id_ignores_key_order_and_spacing() {
        let a =
            Event::from_json(r#"{"event_type_id":1107296344,"timestamp":5,"x":{"b":1,"a":[1,2]}}"#)
                .unwrap();
        let b = Event::from_json(
            r#"{ "x": {"a":[1, 2], "b":1}, "timestamp":5, "event_type_id":1107296344 }"#,
        )
        .unwrap();
        let c =
            Event::from_json(r#"{"event_type_id":1107296344,"timestamp":6,"x":{"b":1,"a":[1,2]}}"#)
                .unwrap();
        assert!(a.id_is_derived());
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, c.id);
    }

    #[test]
    fn float_ids_and_missing_fields_are_refused() {
        assert!(matches!(
            Event::from_json(r#"{"id":6.4e18,"event_type_id":1,"timestamp":1}"#),
            Err(EventError::BadId(_))
        ));
        assert!(matches!(
            Event::from_json(r#"{"id":1,"timestamp":1}"#),
            Err(EventError::MissingType)
        ));
        assert!(matches!(
            Event::from_json(r#"{"id":1,"event_type_id":1}"#),
            Err(EventError::MissingTime)
        ));
        assert!(matches!(
            Event::from_json("[1]"),
            Err(EventError::NotAnObject)
        ));
        assert!(matches!(
            Event::from_json("{nope"),
            Err(EventError::Json(_))
        ));
    }

    #[test]
    fn date_is_used_when_timestamp_is_absent() {
        let e =
            Event::from_json(r#"{"id":"42","event_type_id":1,"date":"2021-01-15T11:20:38+00:00"}"#)
                .unwrap();
        assert_eq!(e.id, 42);
        assert_eq!(e.timestamp, 1610709638);
    }
}
