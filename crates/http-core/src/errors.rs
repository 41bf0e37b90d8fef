//! Helpers the clients' error types are built with: the text of an error's causes, a bounded
//! snippet of a body, and how long to wait after a 429.

use reqwest::header::HeaderMap;
use std::time::Duration;
use time::OffsetDateTime;

/// How long to wait after a 429 that says nothing: a minute, rather than hammering.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// An error and its causes on one line: "error sending request: connection refused".
/// reqwest's own message is terse; the causes say why. A cause already contained in the text
/// so far is not repeated.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    msg
}

/// At most 200 characters of a body, on one line, for error messages.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    if one_line.trim().is_empty() {
        "(empty body)".to_string()
    } else {
        one_line.trim().to_string()
    }
}

/// `Retry-After` as whole seconds only (an HTTP date gives `None`).
pub fn retry_after_seconds(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// `Retry-After` as seconds or an HTTP date (RFC 2822), relative to `now`; a date in the
/// past gives `None`.
pub fn retry_after(headers: &HeaderMap, now: OffsetDateTime) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    (at - now).try_into().ok()
}

/// The wait after a 429: the server's hint, unless it is absent or zero, else
/// [`DEFAULT_RETRY_AFTER`].
pub fn rate_limit_wait(hint: Option<Duration>) -> Duration {
    hint.filter(|d| !d.is_zero()).unwrap_or(DEFAULT_RETRY_AFTER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn error_chain_joins_causes_without_repeats() {
        let e = E(
            "error sending request",
            Some(Box::new(E(
                "client error (Connect)",
                Some(Box::new(E("Connection refused (os error 111)", None))),
            ))),
        );
        assert_eq!(
            error_chain(&e),
            "error sending request: client error (Connect): Connection refused (os error 111)"
        );
        // A cause whose text is already there (wrappers often repeat it) is skipped.
        let e = E(
            "timed out: operation timed out",
            Some(Box::new(E("operation timed out", None))),
        );
        assert_eq!(error_chain(&e), "timed out: operation timed out");
        assert_eq!(error_chain(&E("alone", None)), "alone");
    }

    #[test]
    fn snippet_is_one_bounded_line() {
        assert_eq!(snippet(b"  a\nb\t c  "), "a b  c");
        assert_eq!(snippet(b" \n "), "(empty body)");
        assert_eq!(snippet(&[b'x'; 500]).len(), 200);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h, now), None);
        h.insert(reqwest::header::RETRY_AFTER, " 12 ".parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(12)));
        assert_eq!(retry_after_seconds(&h), Some(Duration::from_secs(12)));
        // 1_700_000_000 is Tue, 14 Nov 2023 22:13:20 GMT.
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Tue, 14 Nov 2023 22:13:50 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(30)));
        assert_eq!(retry_after_seconds(&h), None);
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Tue, 14 Nov 2023 22:13:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h, now), None);
    }

    #[test]
    fn rate_limit_wait_defaults_to_a_minute() {
        assert_eq!(rate_limit_wait(None), DEFAULT_RETRY_AFTER);
        assert_eq!(rate_limit_wait(Some(Duration::ZERO)), DEFAULT_RETRY_AFTER);
        assert_eq!(
            rate_limit_wait(Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
    }
}
