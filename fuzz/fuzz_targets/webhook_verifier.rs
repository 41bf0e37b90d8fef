//! Any secret, headers, body and clock through the ServiceNow webhook's signature check:
//! never a panic, and nothing over the body limit or outside the window is accepted. The
//! exact acceptance rules are in `crates/sebridge/src/incidents/webhook_props.rs`.
#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use sebridge::incidents::webhook::{
    verify_signature, MAX_BODY, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use std::time::Duration;

fn run(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let secret: &[u8] = u.arbitrary()?;
    let sig: &[u8] = u.arbitrary()?;
    let ts: &[u8] = u.arbitrary()?;
    let now: i64 = u.arbitrary()?;
    let skew = Duration::from_secs(u.arbitrary()?);
    let body = u.take_rest();
    let mut headers = HeaderMap::new();
    // Bytes HTTP cannot carry never reach the check.
    if let Ok(v) = HeaderValue::from_bytes(sig) {
        headers.insert(SIGNATURE_HEADER, v);
    }
    if let Ok(v) = HeaderValue::from_bytes(ts) {
        headers.insert(TIMESTAMP_HEADER, v);
    }
    if verify_signature(secret, &headers, body, now, skew).is_ok() {
        assert!(body.len() <= MAX_BODY);
        let ts: i64 = std::str::from_utf8(ts).unwrap().trim().parse().unwrap();
        assert!(now.abs_diff(ts) <= skew.as_secs());
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
