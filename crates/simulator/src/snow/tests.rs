//! Unit tests of the encoded-query parser and the close-notice signature.

use hmac::{KeyInit as _, Mac as _};
use serde_json::{Map, Value};

use super::business_rule::sign;
use super::query::{cond_matches, parse_encoded, split_terms};
use super::table::priority;
use super::SnowRecord;

fn rec(fields: &[(&str, &str)]) -> SnowRecord {
    let mut m = Map::new();
    for (k, v) in fields {
        m.insert((*k).into(), Value::String((*v).into()));
    }
    SnowRecord {
        table: "incident".into(),
        fields: m,
        journal: vec![],
        created_ms: 0,
    }
}

fn matches(q: &str, r: &SnowRecord) -> bool {
    let (groups, _) = parse_encoded(q);
    groups.iter().all(|g| g.iter().any(|c| cond_matches(r, c)))
}

#[test]
fn encoded_queries() {
    let r = rec(&[
        ("state", "6"),
        ("correlation_id", "sebridge:acme:amp-event:1"),
        ("sys_id", "abc"),
        ("sys_updated_on", "2024-05-01 10:00:00"),
    ]);
    assert!(matches("stateIN6,7,8", &r));
    assert!(!matches("stateIN1,2", &r));
    assert!(matches(
        "correlation_id=sebridge:acme:amp-event:1^state=6",
        &r
    ));
    assert!(matches(
        "correlation_idSTARTSWITHsebridge:^stateNOT IN1,2",
        &r
    ));
    assert!(matches("sys_idINx,abc", &r));
    assert!(matches("sys_updated_on>2024-05-01 09:00:00", &r));
    assert!(!matches("state=1^ORstate=2", &r));
    assert!(matches("state=1^ORstate=6", &r));
    // Unknown field: ignored, as an instance does.
    assert!(matches("correlaton_id=nope", &r));
    assert_eq!(split_terms("a=x^^y^b=2"), vec!["a=x^y", "b=2"]);
    assert_eq!(priority("1", "1"), "1");
    assert_eq!(priority("3", "3"), "5");
}

#[test]
fn signature_is_hmac_sha256_hex() {
    // RFC 4231 test case 2 with our "<ts>.<body>" framing: key "Jefe", data
    // "what do ya want for nothing?" split as ts="what do ya want for nothing" + "." … is
    // not possible, so check the framing against a direct HMAC instead.
    let direct = {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"k").unwrap();
        mac.update(b"1.{}");
        mac.finalize().into_bytes()
    };
    let hex: String = direct.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(sign("k", "1", "{}"), format!("sha256={hex}"));
}
