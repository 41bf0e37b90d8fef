//! ArcSight CEF (rev 25): `CEF:0|Cisco|Secure Endpoint|1.0|<event_type_id>|<name>|<sev>|<ext>`.
//!
//! Escaping as the standard says: in the header `\` → `\\` and `|` → `\|` (a line break,
//! which the header may not hold, becomes a space); in extension values `\` → `\\`,
//! `=` → `\=`, LF → `\n`, CR → `\r` (`|` needs no escape there). Keys are fixed ASCII words
//! from the CEF dictionary, so they never need escaping. Unlike some encoders, line breaks
//! are always encoded, so a multi-line value cannot split a record on newline framing.
//!
//! Severity (CEF integer 0–10): Low → 3, Medium → 5, High → 8, Critical → 10; an event
//! without severity gets `Unknown`.

use crate::sinks::util::view::{cim_action, event_millis, EventView};
use crate::store::JournalEntry;
use secure_endpoint::Severity;

pub const VENDOR: &str = "Cisco";
pub const PRODUCT: &str = "Secure Endpoint";
pub const DEVICE_VERSION: &str = "1.0";

pub fn severity(s: Option<Severity>) -> &'static str {
    match s {
        Some(Severity::Low) => "3",
        Some(Severity::Medium) => "5",
        Some(Severity::High) => "8",
        Some(Severity::Critical) => "10",
        None => "Unknown",
    }
}

pub fn escape_header(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
}

pub fn escape_ext(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

struct Ext<'o> {
    out: &'o mut String,
    /// No pair written yet. (Not "the output ends with `|`": a value may end with an
    /// unescaped `|`, and the next key then lost its separating space; escape_props found it.)
    first: bool,
}

impl Ext<'_> {
    fn put(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            if !std::mem::take(&mut self.first) {
                self.out.push(' ');
            }
            self.out.push_str(key);
            self.out.push('=');
            escape_ext(self.out, v);
        }
    }

    fn labelled(&mut self, n: u8, label: &str, value: Option<&str>) {
        if value.is_some_and(|v| !v.is_empty()) {
            self.put(&format!("cs{n}"), value);
            self.put(&format!("cs{n}Label"), Some(label));
        }
    }
}

/// Appends the CEF record of one event (no trailing newline).
pub fn render(entry: &JournalEntry, v: &EventView<'_>, out: &mut String) {
    out.push_str("CEF:0|");
    escape_header(out, VENDOR);
    out.push('|');
    escape_header(out, PRODUCT);
    out.push('|');
    escape_header(out, DEVICE_VERSION);
    out.push('|');
    out.push_str(&entry.event_type_id.to_string());
    out.push('|');
    let name = v.event_type.as_deref().unwrap_or("Secure Endpoint event");
    escape_header(out, name);
    out.push('|');
    out.push_str(severity(entry.severity));
    out.push('|');
    let mut x = Ext { out, first: true };
    let file = v.file.as_ref();
    let net = v.network_info.as_ref();
    let parent = v.parent();
    x.put("rt", Some(&event_millis(entry, v).to_string()));
    x.put("externalId", Some(&entry.event_id.to_string()));
    x.put("cat", v.event_type.as_deref());
    x.put("act", cim_action(entry.event_type_id));
    x.put("deviceExternalId", entry.connector_guid.as_deref());
    x.put("dhost", v.hostname());
    x.put("duser", v.user());
    x.put("fname", file.and_then(|f| f.file_name.as_deref()));
    x.put("filePath", file.and_then(|f| f.file_path.as_deref()));
    x.put("fileHash", v.sha256());
    x.put("sproc", parent.and_then(|p| p.file_name.as_deref()));
    let pid = parent.and_then(|p| p.process_id.as_ref()).map(|p| p.text());
    x.put("spid", pid.as_deref());
    x.put("src", net.and_then(|n| n.local_ip.as_deref()));
    let spt = net.and_then(|n| n.local_port.as_ref()).map(|p| p.text());
    x.put("spt", spt.as_deref());
    x.put("dst", net.and_then(|n| n.remote_ip.as_deref()));
    let dpt = net.and_then(|n| n.remote_port.as_ref()).map(|p| p.text());
    x.put("dpt", dpt.as_deref());
    x.put(
        "proto",
        net.and_then(|n| n.nfm.as_ref())
            .and_then(|n| n.protocol.as_deref()),
    );
    x.put("deviceDirection", v.direction());
    x.put("request", net.and_then(|n| n.dirty_url.as_deref()));
    x.put("msg", v.description().as_deref());
    let detection_id = v.detection_id.as_ref().map(|d| d.text());
    let groups = v.group_guids.as_ref().map(|g| g.join(","));
    x.labelled(1, "detection", v.detection.as_deref());
    x.labelled(2, "detectionId", detection_id.as_deref());
    x.labelled(
        3,
        "disposition",
        file.and_then(|f| f.disposition.as_deref()),
    );
    x.labelled(4, "tenant", Some(&entry.tenant));
    x.labelled(5, "groupGuids", groups.as_deref());
    x.labelled(
        6,
        "commandLine",
        v.command_line.as_ref().and_then(|c| c.arguments.as_deref()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_follows_the_standard() {
        let mut h = String::new();
        escape_header(&mut h, "a|b\\c=d\ne");
        assert_eq!(h, "a\\|b\\\\c=d e");
        let mut x = String::new();
        escape_ext(&mut x, "a|b\\c=d\ne\rf");
        assert_eq!(x, "a|b\\\\c\\=d\\ne\\rf");
    }

    #[test]
    fn record_has_header_and_labelled_extensions() {
        let raw = r#"{"event_type":"Threat | Detected","timestamp_nanoseconds":443000000,"detection":"W32.X=1",
            "computer":{"hostname":"host-1","user":"a@b"},"file":{"file_name":"x.exe","file_path":"C:\\dir\\x.exe"}}"#;
        let e = JournalEntry {
            tenant: "acme".into(),
            event_id: 6419204901661835278,
            event_type_id: 1090519054,
            event_time: 1610629577,
            severity: Some(Severity::Medium),
            raw: raw.into(),
            ..Default::default()
        };
        let mut out = String::new();
        render(&e, &EventView::parse(raw), &mut out);
        assert!(
            out.starts_with("CEF:0|Cisco|Secure Endpoint|1.0|1090519054|Threat \\| Detected|5|rt=1610629577443 externalId=6419204901661835278"),
            "{out}"
        );
        assert!(out.contains(" filePath=C:\\\\dir\\\\x.exe"), "{out}");
        assert!(out.contains(" cs1=W32.X\\=1 cs1Label=detection"), "{out}");
        assert!(out.contains(" cs4=acme cs4Label=tenant"), "{out}");
        assert!(!out.contains('\n'));
    }

    /// Found by escape_props: a value ending with `|` (legal unescaped in the extension) made
    /// the next pair lose its separating space (`cs6=|cs6Label=commandLine`).
    #[test]
    fn a_value_ending_with_a_pipe_keeps_the_next_key_separate() {
        let raw = r#"{"command_line":{"arguments":"a|"}}"#;
        let e = JournalEntry {
            tenant: "acme".into(),
            event_id: 1,
            event_type_id: 1,
            raw: raw.into(),
            ..Default::default()
        };
        let mut out = String::new();
        render(&e, &EventView::parse(raw), &mut out);
        assert!(out.ends_with(" cs6=a| cs6Label=commandLine"), "{out}");
    }
}
