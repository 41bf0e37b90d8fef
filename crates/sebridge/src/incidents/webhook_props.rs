//! Property tests of the ServiceNow close webhook's signature check (issue 13):
//! [`verify_signature`] accepts exactly a correct HMAC of `"<ts>.<body>"` with the timestamp
//! inside the window and the body within [`MAX_BODY`]; any single-bit change of the body, the
//! signature or the timestamp is refused (the one documented equivalence: hex digits are read
//! in either case, so flipping a hex letter's case bit is the same signature); it never
//! panics, whatever the headers, secret, body and clock.
//!
//! The expected signature is computed here from the description in `webhook.rs`'s module
//! comment, with `hmac` directly. `cargo test -p sebridge --lib webhook_props`.

use super::{hex_decode, verify_signature, MAX_BODY, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::props::config;
use axum::http::{HeaderMap, HeaderValue};
use hmac::{KeyInit, Mac};
use proptest::prelude::*;
use std::time::Duration;

/// `sha256=` + lowercase hex HMAC-SHA256(secret, "<ts>.<body>"), `ts` as sent but trimmed.
fn sign(secret: &[u8], ts: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(ts.trim().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Headers from raw bytes; `None` when HTTP cannot carry them (then no request reaches us).
fn headers(sig: &[u8], ts: &[u8]) -> Option<HeaderMap> {
    let mut h = HeaderMap::new();
    h.insert(SIGNATURE_HEADER, HeaderValue::from_bytes(sig).ok()?);
    h.insert(TIMESTAMP_HEADER, HeaderValue::from_bytes(ts).ok()?);
    Some(h)
}

fn verify(
    secret: &[u8],
    sig: &[u8],
    ts: &[u8],
    body: &[u8],
    now: i64,
    skew: Duration,
) -> Option<Result<(), &'static str>> {
    let h = headers(sig, ts)?;
    Some(verify_signature(secret, &h, body, now, skew))
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..200),
        1 => Just(br#"{"sys_id":"46d44e4a","number":"INC0010001","state":"7"}"#.to_vec()),
        // Around the limit, cheap to build.
        1 => (MAX_BODY - 2..=MAX_BODY + 2, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
    ]
}

fn skew() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        (0u64..100_000).prop_map(Duration::from_secs),
        Just(Duration::from_secs(300)),
        Just(Duration::from_secs(u64::MAX)),
    ]
}

/// Timestamps anywhere in i64, with the ends of the range well represented.
fn instant() -> impl Strategy<Value = i64> {
    prop_oneof![
        2 => 1_500_000_000i64..2_000_000_000,
        1 => any::<i64>(),
        1 => proptest::sample::select(vec![i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX]),
    ]
}

fn within(now: i64, ts: i64, skew: Duration) -> bool {
    now.abs_diff(ts) <= skew.as_secs()
}

proptest! {
    #![proptest_config(config(3000))]

    /// Arbitrary headers: never a panic, and accepted only when everything is right.
    #[test]
    fn anything_is_refused_unless_signed_fresh_and_small(
        secret in proptest::collection::vec(any::<u8>(), 0..80),
        sig in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..80),
            "sha256=[0-9a-fA-F]{0,70}".prop_map(String::into_bytes),
        ],
        ts in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..24),
            instant().prop_map(|t| t.to_string().into_bytes()),
        ],
        body in body(),
        now in instant(),
        skew in skew(),
    ) {
        if let Some(Ok(())) = verify(&secret, &sig, &ts, &body, now, skew) {
            let ts = std::str::from_utf8(&ts).expect("accepted: text");
            let t: i64 = ts.trim().parse().expect("accepted: a number");
            prop_assert!(within(now, t, skew));
            prop_assert!(body.len() <= MAX_BODY);
            let sig = std::str::from_utf8(&sig).unwrap().trim();
            prop_assert!(sig.eq_ignore_ascii_case(&sign(&secret, ts, &body)));
        }
    }

    /// The correct signature: accepted exactly inside the window and within the body limit.
    #[test]
    fn a_correct_signature_is_accepted_exactly_inside_the_window(
        secret in proptest::collection::vec(any::<u8>(), 0..80),
        body in body(),
        ts in instant(),
        offset in prop_oneof![any::<i64>(), -400i64..400],
        skew in skew(),
        pad in proptest::sample::select(vec!["", " ", "\t"]),
        upper in any::<bool>(),
    ) {
        let now = ts.saturating_add(offset);
        let ts_text = format!("{pad}{ts}{pad}");
        let mut sig = sign(&secret, &ts_text, &body);
        if upper {
            sig = format!("sha256={}", sig["sha256=".len()..].to_ascii_uppercase());
        }
        let got = verify(&secret, sig.as_bytes(), ts_text.as_bytes(), &body, now, skew)
            .expect("valid headers");
        let want = within(now, ts, skew) && body.len() <= MAX_BODY;
        prop_assert_eq!(got.is_ok(), want, "{:?}", got);
    }

    /// Any single-bit change of the body, the signature or the timestamp is refused.
    #[test]
    fn any_single_bit_change_is_refused(
        secret in proptest::collection::vec(any::<u8>(), 0..80),
        body in proptest::collection::vec(any::<u8>(), 0..200),
        ts in 1_500_000_000i64..2_000_000_000,
        drift in -300i64..=300,
        which in 0u8..3,
        at in any::<proptest::sample::Index>(),
        bit in 0u8..8,
    ) {
        let skew = Duration::from_secs(300);
        let now = ts + drift;
        let ts_text = ts.to_string();
        let sig = sign(&secret, &ts_text, &body);
        prop_assert_eq!(
            verify(&secret, sig.as_bytes(), ts_text.as_bytes(), &body, now, skew),
            Some(Ok(()))
        );
        let (mut b, mut s, mut t) = (body.clone(), sig.clone().into_bytes(), ts_text.into_bytes());
        let target = match which {
            0 => &mut b,
            1 => &mut s,
            _ => &mut t,
        };
        if target.is_empty() {
            // An empty body has no bit to change; add one byte instead.
            target.push(1 << bit);
        } else {
            let i = at.index(target.len());
            target[i] ^= 1 << bit;
        }
        // The documented equivalence: a hex letter's case (bit 5) in the signature's hex part.
        let case_only = which == 1
            && String::from_utf8(s.clone())
                .is_ok_and(|x| x != sig && x.eq_ignore_ascii_case(&sig) && x.starts_with("sha256="));
        match verify(&secret, &s, &t, &b, now, skew) {
            None => {} // not a valid header value: HTTP refuses it before us
            Some(got) => prop_assert_eq!(got.is_ok(), case_only, "{:?}", got),
        }
    }

    /// The signature's hex reader takes exactly the hex of some bytes, in either case.
    #[test]
    fn hex_has_one_spelling_up_to_case(s in "[0-9a-fA-F+\\- g]{0,8}") {
        if let Some(bytes) = hex_decode(&s) {
            prop_assert!(hex::encode(&bytes).eq_ignore_ascii_case(&s), "{s:?} read as {bytes:?}");
        }
    }

    /// Other spellings of a valid signature (a character replaced, inserted or removed) are
    /// refused, except the same hex in another case.
    #[test]
    fn a_valid_signature_has_no_other_spelling(
        secret in proptest::collection::vec(any::<u8>(), 0..40),
        body in proptest::collection::vec(any::<u8>(), 0..64),
        edits in proptest::collection::vec(
            (
                any::<proptest::sample::Index>(),
                0u8..3,
                proptest::sample::select(vec!['+', '-', ' ', '0', 'A', 'f', 'g', 'x', '=', '\t']),
            ),
            1..3,
        ),
    ) {
        let (ts, now, skew) = ("1700000000", 1_700_000_000, Duration::from_secs(300));
        let sig = sign(&secret, ts, &body);
        let mut s: Vec<char> = sig.chars().collect();
        for (at, op, c) in edits {
            let i = at.index(s.len());
            match op {
                0 => s[i] = c,
                1 => s.insert(i, c),
                _ => {
                    s.remove(i);
                }
            }
        }
        let s: String = s.into_iter().collect();
        if let Some(Ok(())) = verify(&secret, s.as_bytes(), ts.as_bytes(), &body, now, skew) {
            prop_assert!(
                s.trim().eq_ignore_ascii_case(&sig) && s.trim().starts_with("sha256="),
                "{s:?} accepted for {sig:?}"
            );
        }
    }
}
