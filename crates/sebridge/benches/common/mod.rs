//! What several benches share: the vendor's fixture events, as the journal stores them.

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
