//! Rate-limit headers.
//!
//! Cisco documents `X-Rate-Limit-Limit/-Remaining/-Reset`, but captured responses carry
//! `x-ratelimit-limit/-remaining/-reset/-resetdate` (no hyphen, plus an ISO-8601 reset date).
//! Both spellings are read; `Reset` is *relative seconds* (treating it as an epoch was a real
//! bug in Elastic's integration) and `ResetDate`, when present, wins.

use reqwest::header::HeaderMap;
use std::time::Duration;
use time::OffsetDateTime;

/// The request budget as last reported by the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed in the current period.
    pub limit: Option<u64>,
    /// Requests left in the current period.
    pub remaining: Option<u64>,
    /// When the period resets (absolute, computed when the response was received).
    pub reset_at: Option<OffsetDateTime>,
}

const NAMES: [(&str, &str); 4] = [
    ("x-ratelimit-limit", "x-rate-limit-limit"),
    ("x-ratelimit-remaining", "x-rate-limit-remaining"),
    ("x-ratelimit-reset", "x-rate-limit-reset"),
    ("x-ratelimit-resetdate", "x-rate-limit-resetdate"),
];

fn header<'a>(headers: &'a HeaderMap, names: (&str, &str)) -> Option<&'a str> {
    // HeaderMap lookups are case-insensitive already.
    headers
        .get(names.0)
        .or_else(|| headers.get(names.1))
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

impl RateLimit {
    /// Reads the rate-limit headers of a response received at `now`. `None` when the response
    /// carries none of them.
    pub fn from_headers(headers: &HeaderMap, now: OffsetDateTime) -> Option<RateLimit> {
        let limit = header(headers, NAMES[0]).and_then(|v| v.parse().ok());
        let remaining = header(headers, NAMES[1]).and_then(|v| v.parse().ok());
        let reset_secs: Option<u64> = header(headers, NAMES[2]).and_then(|v| v.parse().ok());
        let reset_date = header(headers, NAMES[3]).and_then(|v| {
            OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339).ok()
        });
        let reset_at =
            reset_date.or_else(|| reset_secs.map(|s| now + Duration::from_secs(s.min(24 * 3600))));
        if limit.is_none() && remaining.is_none() && reset_at.is_none() {
            return None;
        }
        Some(RateLimit {
            limit,
            remaining,
            reset_at,
        })
    }

    /// Time from `now` until the budget resets (zero if already past or unknown).
    pub fn reset_in(&self, now: OffsetDateTime) -> Duration {
        match self.reset_at {
            Some(at) if at > now => (at - now).try_into().unwrap_or(Duration::ZERO),
            _ => Duration::ZERO,
        }
    }
}

/// Parses `Retry-After` (seconds or an HTTP date).
pub(crate) use http_core::retry_after;

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};
    use time::macros::datetime;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn reads_observed_spelling_and_prefers_reset_date() {
        let now = datetime!(2021-05-05 23:22:38 UTC);
        let h = headers(&[
            ("x-ratelimit-limit", "3000"),
            ("x-ratelimit-remaining", "2863"),
            ("x-ratelimit-reset", "1991"),
            ("x-ratelimit-resetdate", "2021-05-05T23:55:49Z"),
        ]);
        let rl = RateLimit::from_headers(&h, now).unwrap();
        assert_eq!(rl.limit, Some(3000));
        assert_eq!(rl.remaining, Some(2863));
        assert_eq!(rl.reset_at, Some(datetime!(2021-05-05 23:55:49 UTC)));
        assert_eq!(rl.reset_in(now), Duration::from_secs(1991));
    }

    #[test]
    fn reads_documented_spelling_as_relative_seconds() {
        let now = datetime!(2022-01-01 00:00:00 UTC);
        let h = headers(&[
            ("X-Rate-Limit-Limit", "3000"),
            ("X-Rate-Limit-Remaining", "0"),
            ("X-Rate-Limit-Reset", "120"),
        ]);
        let rl = RateLimit::from_headers(&h, now).unwrap();
        assert_eq!(rl.remaining, Some(0));
        assert_eq!(rl.reset_in(now), Duration::from_secs(120));
    }

    #[test]
    fn absent_headers_mean_none() {
        assert!(RateLimit::from_headers(&HeaderMap::new(), OffsetDateTime::now_utc()).is_none());
    }
}
