//! What several benches share: the vendor's fixture events, as the journal stores them.
#![allow(dead_code)] // each bench uses its own part of this module

use secure_endpoint::Event;
use serde_json::Value;
use std::path::PathBuf;

/// Every event of the repository's Secure Endpoint fixtures (real vendor payloads).
pub fn fixture_events() -> Vec<Value> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/secure-endpoint");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("fixtures")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for f in files {
        let Ok(v) = serde_json::from_str::<Value>(&std::fs::read_to_string(&f).unwrap_or_default())
        else {
            continue;
        };
        let items = match v.get("data") {
            Some(Value::Object(_)) => vec![v["data"].clone()],
            Some(Value::Array(a)) => a.clone(),
            _ => vec![v],
        };
        out.extend(items.into_iter().filter(|e| {
            e.get("event_type_id").is_some() && Event::from_json(&e.to_string()).is_ok()
        }));
    }
    out
}

/// One journal row in `COPY`'s text format, as the PostgreSQL journal stores it.
pub fn copy_row(
    out: &mut String,
    seq: i64,
    tenant: &str,
    e: &Event,
    received_at: i64,
    source: &str,
) {
    use std::fmt::Write;
    let id = |v: u64| i64::from_ne_bytes(v.to_ne_bytes());
    let _ = write!(out, "{seq}\t");
    push_copy_text(out, tenant);
    let _ = write!(
        out,
        "\t{}\t{}\t{}\t{received_at}\t",
        id(e.id),
        id(e.event_type_id),
        e.timestamp
    );
    push_copy_text(out, source);
    out.push('\t');
    push_copy_text(out, e.raw());
    // The severity column is left empty: it costs the ceiling nothing to skip.
    out.push_str("\t\\N\t");
    match &e.connector_guid {
        Some(g) => push_copy_text(out, g),
        None => out.push_str("\\N"),
    }
    out.push('\n');
}

/// `text` as a field of `COPY … FROM STDIN`'s text format: backslash, tab, newline and
/// carriage return escaped, everything else as it is.
pub fn push_copy_text(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(i) = rest.find(['\\', '\t', '\n', '\r']) {
        out.push_str(&rest[..i]);
        out.push_str(match rest.as_bytes()[i] {
            b'\\' => "\\\\",
            b'\t' => "\\t",
            b'\n' => "\\n",
            _ => "\\r",
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}
