//! Rendering shared by the encoders: JSON lines of the raw event (optionally wrapped with
//! tenant and receive time), JSON string escaping, and the time formats.

use crate::store::JournalEntry;
use time::format_description::well_known::Rfc3339;

/// Renders one JSON line: the raw vendor event, or wrapped with tenant and receive time.
pub fn render_line(entry: &JournalEntry, wrap: bool, out: &mut String) {
    render_json(entry, wrap, out);
    out.push('\n');
}

/// `YYYY-MM-DDThh:mm:ss.mmmZ` (UTC, millisecond precision), as ECS and LEEF want it.
pub(crate) fn iso_millis(t: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// The JSON of [`render_line`] without the newline.
pub fn render_json(entry: &JournalEntry, wrap: bool, out: &mut String) {
    // A JSON-lines record must not contain a newline. The API sends compact JSON; should a
    // raw event carry formatting newlines (only possible between tokens, since JSON strings
    // escape control characters), they become spaces: same JSON, one line.
    let raw: &str = &entry.raw;
    // memchr2 scans with SIMD; a `char` pattern decodes every character (µs per event).
    let needs_fix = memchr::memchr2(b'\n', b'\r', raw.as_bytes()).is_some();
    let fixed;
    let raw = if needs_fix {
        fixed = raw.replace(['\n', '\r'], " ");
        fixed.as_str()
    } else {
        raw
    };
    if wrap {
        out.push_str("{\"tenant\":");
        push_json_str(out, &entry.tenant);
        out.push_str(",\"received_at\":\"");
        out.push_str(&rfc3339_millis(entry.received_at));
        out.push_str("\",\"event\":");
        out.push_str(raw);
        out.push('}');
    } else {
        out.push_str(raw);
    }
}

/// Epoch milliseconds as RFC 3339 (empty if out of range).
pub fn rfc3339_millis(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Appends `s` as a JSON string literal.
pub fn push_json_str(out: &mut String, s: &str) {
    // serde_json's escaping, without an intermediate Value.
    let mut buf = Vec::with_capacity(s.len() + 2);
    if serde_json::to_writer(&mut buf, s).is_ok() {
        out.push_str(&String::from_utf8_lossy(&buf));
    } else {
        out.push_str("\"\"");
    }
}
