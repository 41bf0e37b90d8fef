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
    /// A field the event cannot do without has a type the parser cannot read it from.
    #[error("event field `{field}` is {found}, not an unsigned integer")]
    BadField { field: &'static str, found: String },
    #[error(
        "event timestamp {0} is not an integer number of seconds, and the event has no parseable date"
    )]
    BadTime(String),
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
        let view: View<'_> = match serde_json::from_str(trimmed) {
            Ok(v) => v,
            // Valid JSON with a field of another type than the API documents (a changed
            // API): read again, forgivingly.
            Err(e) if e.classify() == serde_json::error::Category::Data => {
                return Self::from_value(trimmed, &serde_json::from_str(trimmed)?);
            }
            Err(e) => return Err(e.into()),
        };
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

    /// The typed view of an event whose fields do not all have the documented types. What
    /// the journal cannot do without stays strict and is refused with the field named: `id`
    /// (an integer or a string of digits, as always; a float has lost digits) and
    /// `event_type_id` (an integer: it routes the event). The time is read forgivingly: a
    /// `timestamp` (or `timestamp_nanoseconds`) of digits in a string is read as the number,
    /// one of another type gives way to `date`.
    /// Fields used only for routing and correlation (severity, computer, groups, file,
    /// detection) are absent when their type is unexpected: the raw text still carries them.
    fn from_value(trimmed: &str, v: &Value) -> Result<Event, EventError> {
        let obj = v.as_object().ok_or(EventError::NotAnObject)?;
        let field = |name: &str| obj.get(name).filter(|v| !v.is_null());
        let uint = |v: &Value| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        };
        let text = |v: Option<&Value>| {
            v.and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let event_type_id = match field("event_type_id") {
            None => return Err(EventError::MissingType),
            Some(t) => t.as_u64().ok_or_else(|| EventError::BadField {
                field: "event_type_id",
                found: shown(t),
            })?,
        };
        let seconds = field("timestamp").map(|t| {
            t.as_i64()
                .or_else(|| t.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or(t)
        });
        let (timestamp, nanos) = match seconds {
            Some(Ok(ts)) => (
                ts,
                field("timestamp_nanoseconds").and_then(uint).unwrap_or(0),
            ),
            Some(Err(_)) | None => {
                let date = field("date").and_then(Value::as_str).and_then(|d| {
                    OffsetDateTime::parse(d, &time::format_description::well_known::Rfc3339).ok()
                });
                match (date, seconds) {
                    (Some(dt), _) => (dt.unix_timestamp(), u64::from(dt.nanosecond())),
                    (None, Some(Err(t))) => return Err(EventError::BadTime(shown(t))),
                    (None, _) => return Err(EventError::MissingTime),
                }
            }
        };
        let id = match field("id") {
            None => derive_id(trimmed)?,
            Some(Value::Number(n)) => n.as_u64().ok_or_else(|| EventError::BadId(n.to_string()))?,
            Some(Value::String(s)) => s.trim().parse().map_err(|_| EventError::BadId(s.clone()))?,
            Some(other) => return Err(EventError::BadId(shown(other))),
        };
        let computer = field("computer").and_then(Value::as_object);
        let connector_guid = text(field("connector_guid"))
            .or_else(|| text(computer.and_then(|c| c.get("connector_guid"))));
        Ok(Event {
            raw: trimmed.into(),
            id,
            event_type_id,
            event_type: text(field("event_type")),
            timestamp,
            timestamp_nanoseconds: u32::try_from(nanos.min(999_999_999)).unwrap_or(0),
            severity: field("severity")
                .and_then(Value::as_str)
                .and_then(Severity::parse),
            connector_guid,
            hostname: text(computer.and_then(|c| c.get("hostname"))),
            group_guids: field("group_guids")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            detection: text(field("detection")),
            detection_id: field("detection_id")
                .and_then(|d| match d {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .filter(|s| !s.is_empty()),
            sha256: text(v.pointer("/file/identity/sha256")).map(|s| s.to_ascii_lowercase()),
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

/// A JSON value for an error message, cut short.
fn shown(v: &Value) -> String {
    let kind = match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    let mut text = v.to_string();
    if text.len() > 60 {
        let mut cut = 60;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    format!("{kind} ({text})")
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

    /// A changed API (issue 13): fields of other types than documented. Routing fields of
    /// the wrong type are left out (the raw text keeps them), the time falls back to `date`,
    /// and what the journal needs is refused with the field named.
    #[test]
    fn retyped_fields_are_read_forgivingly_or_refused_with_the_field_named() {
        let base = r#""id":7,"event_type_id":1090519054,"timestamp":1610709638,"date":"2021-01-15T11:20:38+00:00""#;
        let ok = |extra: &str| {
            Event::from_json(&format!("{{{base},{extra}}}"))
                .unwrap_or_else(|e| panic!("{extra}: {e}"))
        };
        let e = ok(r#""computer":[{"connector_guid":"c1","hostname":"h"}]"#);
        assert_eq!((e.id, e.timestamp), (7, 1610709638));
        assert_eq!(e.connector_guid, None);
        assert_eq!(e.hostname, None);
        let e = ok(r#""severity":3,"group_guids":["g1",2],"file":"x","detection_id":{"a":1}"#);
        assert_eq!(e.severity, None);
        assert_eq!(e.group_guids, vec!["g1".to_string()]);
        assert_eq!((&e.sha256, &e.detection_id), (&None, &None));
        // The raw text is kept whatever the view could read.
        assert!(e.raw().contains(r#""severity":3"#));
        let e = ok(r#""computer":{"connector_guid":"c2","hostname":["h"]},"severity":"High""#);
        assert_eq!(e.connector_guid.as_deref(), Some("c2"));
        assert_eq!(e.severity, Some(Severity::High));
        // The time: digits in a string are the number; anything else gives way to `date`.
        let t = |ts: &str| {
            Event::from_json(&format!(
                r#"{{"id":1,"event_type_id":1,"timestamp":{ts},"timestamp_nanoseconds":"5","date":"2021-01-15T11:20:38+00:00"}}"#
            ))
            .map(|e| (e.timestamp, e.timestamp_nanoseconds))
        };
        assert_eq!(t(r#""1600000000""#).unwrap(), (1600000000, 5));
        assert_eq!(t(r#""yesterday""#).unwrap(), (1610709638, 0));
        assert_eq!(t("1.6e9").unwrap(), (1610709638, 0));
        let err = Event::from_json(r#"{"id":1,"event_type_id":1,"timestamp":[1]}"#).unwrap_err();
        assert!(matches!(err, EventError::BadTime(_)), "{err:?}");
        assert!(
            err.to_string().contains("timestamp an array ([1])"),
            "{err}"
        );
        let err =
            Event::from_json(r#"{"id":1,"event_type_id":"1090519054","timestamp":1}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"event field `event_type_id` is a string ("1090519054"), not an unsigned integer"#
        );
        let err = Event::from_json(r#"{"id":1.5,"event_type_id":1,"timestamp":"1"}"#).unwrap_err();
        assert!(matches!(err, EventError::BadId(_)), "{err:?}");
        // Not JSON stays a JSON error, even when a retyped field comes first.
        let err = Event::from_json(r#"{"timestamp":"x", nope"#).unwrap_err();
        assert!(matches!(err, EventError::Json(_)), "{err:?}");
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
