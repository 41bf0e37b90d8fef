//! Any strings through the CEF, LEEF and syslog encoders: one line each, whatever the
//! input (line breaks are escaped), never a panic. The round trips through parsers written
//! from the specs are in `crates/sebridge/src/sinks/syslog/escape_props.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sebridge::config::{MessageFormat, SyslogProtocol};
use sebridge::sinks::syslog::config::parse_leef_delimiter;
use sebridge::sinks::syslog::{cef, leef, Formatter};
use sebridge::store::JournalEntry;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.splitn(3, '\u{0}');
    let (a, b, c) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let mut out = String::new();
    cef::escape_header(&mut out, a);
    cef::escape_ext(&mut out, b);
    assert!(!out.contains(['\n', '\r']));
    // Only delimiters the config accepts reach the encoder.
    let delim = parse_leef_delimiter(&char::from(selector & 0x7f).to_string()).unwrap_or('^');
    out.clear();
    leef::escape_value(&mut out, c, delim);
    assert!(!out.contains(['\n', '\r']));
    assert_eq!(
        parse_leef_delimiter(&leef::delimiter_field(delim)),
        Some(delim)
    );
    // A whole message, the raw event holding the fuzzed strings.
    let raw = json_event(a, b, c);
    let entry = JournalEntry {
        tenant: b.to_string(),
        event_id: u64::from(selector),
        event_type_id: 1090519054,
        event_time: i64::from(selector) << 40,
        raw: raw.into(),
        ..Default::default()
    };
    let formatter = Formatter {
        protocol: if selector & 0x80 == 0 {
            SyslogProtocol::Rfc5424
        } else {
            SyslogProtocol::Rfc3164
        },
        format: match selector % 3 {
            0 => MessageFormat::Json,
            1 => MessageFormat::Cef,
            _ => MessageFormat::Leef,
        },
        facility: selector % 24,
        hostname: "fuzz".into(),
        app_name: "sebridge".into(),
        leef_delimiter: delim,
        wrap: selector & 0x40 != 0,
    };
    out.clear();
    formatter.message(&entry, &mut out);
    assert!(!out.contains(['\n', '\r']));
});

/// `{"event_type": a, "detection": b, "computer": {"hostname": c}}` with JSON escaping.
fn json_event(a: &str, b: &str, c: &str) -> String {
    let q = |s: &str| {
        let mut o = String::from("\"");
        for ch in s.chars() {
            match ch {
                '"' => o.push_str("\\\""),
                '\\' => o.push_str("\\\\"),
                ctl if (ctl as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", ctl as u32)),
                other => o.push(other),
            }
        }
        o.push('"');
        o
    };
    format!(
        r#"{{"event_type":{},"detection":{},"computer":{{"hostname":{}}}}}"#,
        q(a),
        q(b),
        q(c)
    )
}
