//! IBM QRadar LEEF 2.0: `LEEF:2.0|Cisco|Secure Endpoint|1.0|<event_type_id>|<delim>|k=v<delim>k=v…`.
//!
//! LEEF defines no escape sequence; IBM's guidance is to keep the delimiter out of values.
//! Values are therefore escaped reversibly so no record can be split or shifted: `\` → `\\`,
//! the delimiter → `\<delim>`, LF → `\n`, CR → `\r`, TAB → `\t`. Header fields escape `\` and
//! `|` (line breaks become spaces). Choose a delimiter that does not occur in your data
//! (default `^`) and QRadar sees the values unchanged. The delimiter is one ASCII character
//! other than `\` (the config refuses the rest), declared as itself, or in hex (`x09`) when
//! it is not printable.
//!
//! Keys: the predefined ones where they fit (`devTime` with `devTimeFormat`, `cat`, `sev`
//! 1–10, `usrName`, `identHostName`, `src`, `dst`, `srcPort`, `dstPort`, `proto`, `url`),
//! vendor keys in camelCase for the rest.

use super::cef::escape_header;
use crate::sinks::util::view::{cim_action, event_millis, EventView};
use crate::store::JournalEntry;
use secure_endpoint::Severity;

pub const DEV_TIME_FORMAT: &str = "yyyy-MM-dd'T'HH:mm:ss.SSSX";

/// LEEF `sev` is 1–10: Low → 3, Medium → 5, High → 8, Critical → 10, none → 1.
pub fn severity(s: Option<Severity>) -> &'static str {
    match s {
        Some(Severity::Low) => "3",
        Some(Severity::Medium) => "5",
        Some(Severity::High) => "8",
        Some(Severity::Critical) => "10",
        None => "1",
    }
}

pub fn escape_value(out: &mut String, s: &str, delim: char) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == delim => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
}

/// The delimiter as written in the header.
pub fn delimiter_field(delim: char) -> String {
    if delim.is_ascii_graphic() && delim != '|' {
        delim.to_string()
    } else {
        format!("x{:02X}", u32::from(delim))
    }
}

fn iso_millis(ms: i64) -> String {
    crate::sinks::util::render::iso_millis(
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    )
}

/// Appends the LEEF 2.0 record of one event (no trailing newline).
pub fn render(entry: &JournalEntry, v: &EventView<'_>, delim: char, out: &mut String) {
    out.push_str("LEEF:2.0|");
    escape_header(out, super::cef::VENDOR);
    out.push('|');
    escape_header(out, super::cef::PRODUCT);
    out.push('|');
    escape_header(out, super::cef::DEVICE_VERSION);
    out.push('|');
    out.push_str(&entry.event_type_id.to_string());
    out.push('|');
    out.push_str(&delimiter_field(delim));
    out.push('|');
    let mut first = true;
    let mut put = |key: &str, value: Option<&str>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            if !first {
                out.push(delim);
            }
            first = false;
            out.push_str(key);
            out.push('=');
            escape_value(out, v, delim);
        }
    };
    let file = v.file.as_ref();
    let net = v.network_info.as_ref();
    let parent = v.parent();
    put("devTime", Some(&iso_millis(event_millis(entry, v))));
    put("devTimeFormat", Some(DEV_TIME_FORMAT));
    put("cat", v.event_type.as_deref());
    put("sev", Some(severity(entry.severity)));
    put("eventId", Some(&entry.event_id.to_string()));
    put("tenant", Some(&entry.tenant));
    put("identHostName", v.hostname());
    put("usrName", v.user());
    put("connectorGuid", entry.connector_guid.as_deref());
    let groups = v.group_guids.as_ref().map(|g| g.join(","));
    put("groupGuids", groups.as_deref());
    put("detection", v.detection.as_deref());
    let detection_id = v.detection_id.as_ref().map(|d| d.text());
    put("detectionId", detection_id.as_deref());
    put("action", cim_action(entry.event_type_id));
    put("fileName", file.and_then(|f| f.file_name.as_deref()));
    put("filePath", file.and_then(|f| f.file_path.as_deref()));
    put("fileHash", v.sha256());
    put("disposition", file.and_then(|f| f.disposition.as_deref()));
    put("parentProcess", parent.and_then(|p| p.file_name.as_deref()));
    let pid = parent.and_then(|p| p.process_id.as_ref()).map(|p| p.text());
    put("parentPid", pid.as_deref());
    put("src", net.and_then(|n| n.local_ip.as_deref()));
    let spt = net.and_then(|n| n.local_port.as_ref()).map(|p| p.text());
    put("srcPort", spt.as_deref());
    put("dst", net.and_then(|n| n.remote_ip.as_deref()));
    let dpt = net.and_then(|n| n.remote_port.as_ref()).map(|p| p.text());
    put("dstPort", dpt.as_deref());
    put(
        "proto",
        net.and_then(|n| n.nfm.as_ref())
            .and_then(|n| n.protocol.as_deref()),
    );
    put("url", net.and_then(|n| n.dirty_url.as_deref()));
    put(
        "commandLine",
        v.command_line.as_ref().and_then(|c| c.arguments.as_deref()),
    );
    put("description", v.description().as_deref());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_escape_the_delimiter_and_line_breaks() {
        let mut out = String::new();
        escape_value(&mut out, "a^b\\c\nd\te=f|g", '^');
        assert_eq!(out, "a\\^b\\\\c\\nd\\te=f|g");
        assert_eq!(delimiter_field('^'), "^");
        assert_eq!(delimiter_field('\t'), "x09");
        assert_eq!(delimiter_field('|'), "x7C");
    }

    #[test]
    fn record_layout() {
        let raw = r#"{"event_type":"Threat Detected","timestamp_nanoseconds":443000000}"#;
        let e = JournalEntry {
            tenant: "acme".into(),
            event_id: 7,
            event_type_id: 1090519054,
            event_time: 1610629577,
            severity: Some(Severity::High),
            raw: raw.into(),
            ..Default::default()
        };
        let mut out = String::new();
        render(&e, &EventView::parse(raw), '^', &mut out);
        assert_eq!(
            out,
            "LEEF:2.0|Cisco|Secure Endpoint|1.0|1090519054|^|devTime=2021-01-14T13:06:17.443Z^\
             devTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSX^cat=Threat Detected^sev=8^eventId=7^tenant=acme"
        );
    }
}
