//! A borrowed, typed view of the vendor fields the SIEM formats (CEF, LEEF, syslog header,
//! HEC time) need, read from the raw JSON in one pass without building a `Value` tree.
//!
//! Fields whose type varies between event kinds (ports, pids, ids) are read as any scalar.
//! A field of an unexpected shape makes the whole view fall back to what the journal row
//! itself knows (tenant, id, type, time, severity): formatting never fails an event.

use crate::store::JournalEntry;
use serde::Deserialize;
use std::borrow::Cow;

/// A JSON scalar of any kind, as text.
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
pub enum Scalar<'a> {
    #[serde(borrow)]
    Str(Cow<'a, str>),
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
}

impl Scalar<'_> {
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Scalar::Str(s) => Cow::Borrowed(s.as_ref()),
            Scalar::Int(i) => Cow::Owned(i.to_string()),
            Scalar::UInt(u) => Cow::Owned(u.to_string()),
            Scalar::Float(f) => Cow::Owned(f.to_string()),
            Scalar::Bool(b) => Cow::Owned(b.to_string()),
        }
    }
}

type S<'a> = Option<Cow<'a, str>>;

#[derive(Deserialize, Debug, Default)]
pub struct EventView<'a> {
    #[serde(borrow, default)]
    pub event_type: S<'a>,
    #[serde(default)]
    pub timestamp_nanoseconds: Option<u64>,
    #[serde(borrow, default)]
    pub detection: S<'a>,
    #[serde(borrow, default)]
    pub detection_id: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    pub group_guids: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow, default)]
    pub computer: Option<Computer<'a>>,
    #[serde(borrow, default)]
    pub file: Option<File<'a>>,
    #[serde(borrow, default)]
    pub network_info: Option<NetworkInfo<'a>>,
    #[serde(borrow, default)]
    pub command_line: Option<CommandLine<'a>>,
    #[serde(borrow, default)]
    pub cloud_ioc: Option<CloudIoc<'a>>,
    #[serde(borrow, default)]
    pub error: Option<ErrorInfo<'a>>,
    #[serde(borrow, default)]
    pub threat_hunting: Option<Lenient<ThreatHunting<'a>>>,
    #[serde(borrow, default)]
    pub vulnerabilities: Option<Lenient<Vec<Lenient<Vulnerability<'a>>>>>,
}

/// A field read when it has the expected shape and ignored otherwise, so that an odd value
/// of it never makes the whole view fall back (for fields only some event kinds carry).
#[derive(Deserialize, Debug)]
#[serde(untagged)]
pub enum Lenient<T> {
    Typed(T),
    Other(serde::de::IgnoredAny),
}

impl<T> Lenient<T> {
    pub fn get(&self) -> Option<&T> {
        match self {
            Lenient::Typed(t) => Some(t),
            Lenient::Other(_) => None,
        }
    }
}

#[derive(Deserialize, Debug, Default)]
pub struct ThreatHunting<'a> {
    #[serde(borrow, default)]
    pub incident_title: Option<Lenient<Cow<'a, str>>>,
}

#[derive(Deserialize, Debug, Default)]
pub struct Vulnerability<'a> {
    #[serde(borrow, default)]
    pub cve: Option<Lenient<Cow<'a, str>>>,
}

#[derive(Deserialize, Debug, Default)]
pub struct Computer<'a> {
    #[serde(borrow, default)]
    pub hostname: S<'a>,
    #[serde(borrow, default)]
    pub user: S<'a>,
    #[serde(borrow, default)]
    pub external_ip: S<'a>,
}

#[derive(Deserialize, Debug, Default)]
pub struct Identity<'a> {
    #[serde(borrow, default)]
    pub sha256: S<'a>,
}

#[derive(Deserialize, Debug, Default)]
pub struct Parent<'a> {
    #[serde(borrow, default)]
    pub process_id: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    pub file_name: S<'a>,
}

#[derive(Deserialize, Debug, Default)]
pub struct File<'a> {
    #[serde(borrow, default)]
    pub file_name: S<'a>,
    #[serde(borrow, default)]
    pub file_path: S<'a>,
    #[serde(borrow, default)]
    pub disposition: S<'a>,
    #[serde(borrow, default)]
    pub identity: Option<Identity<'a>>,
    #[serde(borrow, default)]
    pub parent: Option<Parent<'a>>,
}

#[derive(Deserialize, Debug, Default)]
pub struct Nfm<'a> {
    #[serde(borrow, default)]
    pub protocol: S<'a>,
    #[serde(borrow, default)]
    pub direction: S<'a>,
}

#[derive(Deserialize, Debug, Default)]
pub struct NetworkInfo<'a> {
    #[serde(borrow, default)]
    pub local_ip: S<'a>,
    #[serde(borrow, default)]
    pub local_port: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    pub remote_ip: S<'a>,
    #[serde(borrow, default)]
    pub remote_port: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    pub dirty_url: S<'a>,
    #[serde(borrow, default)]
    pub nfm: Option<Nfm<'a>>,
    #[serde(borrow, default)]
    pub parent: Option<Parent<'a>>,
}

#[derive(Deserialize, Debug, Default)]
pub struct CommandLine<'a> {
    #[serde(borrow, default)]
    pub arguments: S<'a>,
}

#[derive(Deserialize, Debug, Default)]
pub struct CloudIoc<'a> {
    #[serde(borrow, default)]
    pub description: S<'a>,
    #[serde(borrow, default)]
    pub short_description: S<'a>,
}

#[derive(Deserialize, Debug, Default)]
pub struct ErrorInfo<'a> {
    #[serde(borrow, default)]
    pub error_code: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    pub description: S<'a>,
}

impl<'a> EventView<'a> {
    /// The view of `raw`, or an empty one when the event has an unexpected shape.
    pub fn parse(raw: &'a str) -> EventView<'a> {
        serde_json::from_str(raw).unwrap_or_default()
    }

    pub fn hostname(&self) -> Option<&str> {
        self.computer
            .as_ref()?
            .hostname
            .as_deref()
            .filter(|s| !s.is_empty())
    }

    /// The user, unless the vendor's "Not Available" placeholder.
    pub fn user(&self) -> Option<&str> {
        self.computer
            .as_ref()?
            .user
            .as_deref()
            .filter(|u| !u.is_empty() && *u != "Not Available")
    }

    pub fn sha256(&self) -> Option<&str> {
        self.file.as_ref()?.identity.as_ref()?.sha256.as_deref()
    }

    /// The process behind the event: the file's parent, else the network flow's.
    pub fn parent(&self) -> Option<&Parent<'a>> {
        self.file
            .as_ref()
            .and_then(|f| f.parent.as_ref())
            .or_else(|| self.network_info.as_ref().and_then(|n| n.parent.as_ref()))
    }

    /// A one-line description: the Cloud IOC's, else the error's, else the threat hunting
    /// incident's title, else the CVEs of a vulnerable application (comma-separated).
    pub fn description(&self) -> Option<Cow<'_, str>> {
        let borrowed = self
            .cloud_ioc
            .as_ref()
            .and_then(|c| c.description.as_deref().or(c.short_description.as_deref()))
            .or_else(|| self.error.as_ref().and_then(|e| e.description.as_deref()))
            .or_else(|| {
                let th = self.threat_hunting.as_ref()?.get()?;
                th.incident_title.as_ref()?.get().map(|t| t.as_ref())
            })
            .filter(|d| !d.is_empty());
        if let Some(d) = borrowed {
            return Some(Cow::Borrowed(d));
        }
        let cves: Vec<&str> = self
            .vulnerabilities
            .as_ref()?
            .get()?
            .iter()
            .filter_map(|v| v.get()?.cve.as_ref()?.get().map(|c| c.as_ref()))
            .filter(|c| !c.is_empty())
            .collect();
        (!cves.is_empty()).then(|| Cow::Owned(cves.join(", ")))
    }

    /// CEF's `deviceDirection` of the network flow: 1 outbound, 0 inbound.
    pub fn direction(&self) -> Option<&'static str> {
        let d = self
            .network_info
            .as_ref()?
            .nfm
            .as_ref()?
            .direction
            .as_deref()?;
        match d {
            "Outgoing connection from" => Some("1"),
            "Incoming connection from" => Some("0"),
            _ => None,
        }
    }
}

/// Event time in epoch milliseconds (with the sub-second part the vendor sends).
///
/// Saturating throughout: the vendor's `timestamp` is any i64, and `i64::MAX` (saturated)
/// plus the sub-second part overflowed, a panic in debug builds (escape_props found it).
pub fn event_millis(entry: &JournalEntry, v: &EventView<'_>) -> i64 {
    entry.event_time.saturating_mul(1000).saturating_add(
        i64::try_from(v.timestamp_nanoseconds.unwrap_or(0).min(999_999_999) / 1_000_000)
            .unwrap_or(0),
    )
}

/// Event time in epoch microseconds (saturating, as [`event_millis`]).
pub fn event_micros(entry: &JournalEntry, v: &EventView<'_>) -> i64 {
    entry.event_time.saturating_mul(1_000_000).saturating_add(
        i64::try_from(v.timestamp_nanoseconds.unwrap_or(0).min(999_999_999) / 1000).unwrap_or(0),
    )
}

/// The Splunk CIM add-on's action for an event type (its `cisco_amp_events_actions` lookup).
pub fn cim_action(event_type_id: u64) -> Option<&'static str> {
    Some(match event_type_id {
        570425394 | 553648149 | 553648154 | 553648146 => "allowed",
        2181038130 | 553648155 | 2164260892 | 2164260893 | 553648147 | 553648168 | 553648143 => {
            "blocked"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_fields_and_falls_back_on_odd_shapes() {
        let raw = r#"{"event_type":"Threat Detected","timestamp_nanoseconds":443000000,
            "computer":{"hostname":"H","user":"Not Available"},
            "file":{"file_name":"a\"b.exe","identity":{"sha256":"ab"},"parent":{"process_id":12}},
            "network_info":{"local_port":"80","remote_port":443}}"#;
        let v = EventView::parse(raw);
        assert_eq!(v.hostname(), Some("H"));
        assert_eq!(v.user(), None);
        assert_eq!(v.sha256(), Some("ab"));
        assert_eq!(
            v.file.as_ref().unwrap().file_name.as_deref(),
            Some("a\"b.exe")
        );
        assert_eq!(
            v.parent().unwrap().process_id.as_ref().unwrap().text(),
            "12"
        );
        let n = v.network_info.as_ref().unwrap();
        assert_eq!(n.local_port.as_ref().unwrap().text(), "80");
        assert_eq!(n.remote_port.as_ref().unwrap().text(), "443");
        let odd = EventView::parse(r#"{"computer":"not an object"}"#);
        assert!(odd.hostname().is_none());
    }

    /// Fields only some kinds carry (threat hunting, vulnerabilities) feed the description;
    /// an odd value of one is ignored instead of emptying the whole view.
    #[test]
    fn descriptions_of_hunting_and_vulnerability_events_and_odd_shapes() {
        let th = EventView::parse(r#"{"threat_hunting":{"incident_title":"Valak Variant"}}"#);
        assert_eq!(th.description().as_deref(), Some("Valak Variant"));
        let vulns = EventView::parse(
            r#"{"computer":{"hostname":"H"},"vulnerabilities":[{"cve":"CVE-1"},{"cve":2},{},7,{"cve":"CVE-3"}]}"#,
        );
        assert_eq!(vulns.hostname(), Some("H"));
        assert_eq!(vulns.description().as_deref(), Some("CVE-1, CVE-3"));
        for odd in [
            r#"{"computer":{"hostname":"H"},"vulnerabilities":{"cve":"x"},"threat_hunting":[1]}"#,
            r#"{"computer":{"hostname":"H"},"vulnerabilities":"x","threat_hunting":{"incident_title":5}}"#,
        ] {
            let v = EventView::parse(odd);
            assert_eq!(v.hostname(), Some("H"), "{odd}");
            assert_eq!(v.description(), None, "{odd}");
        }
        let out = r#"{"network_info":{"nfm":{"direction":"Outgoing connection from"}}}"#;
        assert_eq!(EventView::parse(out).direction(), Some("1"));
        let inc = r#"{"network_info":{"nfm":{"direction":"Incoming connection from"}}}"#;
        assert_eq!(EventView::parse(inc).direction(), Some("0"));
        assert_eq!(EventView::parse(r#"{"network_info":{}}"#).direction(), None);
    }

    /// Found by escape_props: a timestamp whose milli/microseconds saturate at i64::MAX, plus
    /// a sub-second part, overflowed (a panic in debug builds).
    #[test]
    fn event_times_far_out_of_range_saturate() {
        let v = EventView::parse(r#"{"timestamp_nanoseconds":999999999}"#);
        let e = |event_time| JournalEntry {
            event_time,
            ..Default::default()
        };
        assert_eq!(event_millis(&e(i64::MAX), &v), i64::MAX);
        assert_eq!(event_micros(&e(i64::MAX), &v), i64::MAX);
        assert_eq!(event_millis(&e(i64::MIN), &v), i64::MIN + 999);
        assert_eq!(event_micros(&e(1), &v), 1_999_999);
    }

    #[test]
    fn cim_actions_match_the_add_on_lookup() {
        let csv = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../fixtures/splunk/cim_amp_event_actions.csv"),
        )
        .expect("fixture");
        let mut n = 0;
        for line in csv.lines().skip(1) {
            let (id, action) = line.split_once(',').expect("two columns");
            assert_eq!(cim_action(id.parse().unwrap()), Some(action.trim()), "{id}");
            n += 1;
        }
        assert_eq!(n, 11);
        assert_eq!(cim_action(1090519054), None);
    }
}
