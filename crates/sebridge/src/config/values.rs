//! Rules shared by every section, and by the command line: tenant, source and sink names,
//! group GUIDs, durations and points in time. A duration or a time is written the same way
//! in the file and on the command line, and read by the same function.

use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub(crate) const NAME_RULE: &str = "1 to 64 characters of a-z, 0-9, `_` and `-`";

/// Names of tenants, sources and sinks (they end up in keys, labels and file names).
pub fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

pub(crate) fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// How a duration is written, for messages.
pub const DURATION_SYNTAX: &str =
    "a duration with a unit, like \"30s\", \"5m\", \"24h\" or \"1h 30m\"";

/// A duration as the config and every flag write it: humantime ("30s", "5m", "1h 30m",
/// "7d"). A bare number is refused rather than guessed: `lookback = "7"` could mean seven
/// days as easily as seven seconds. The error completes "<key> ...".
pub fn parse_duration(text: &str, allow_zero: bool) -> Result<Duration, String> {
    let text = text.trim();
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() && !allow_zero => Err("must be greater than zero".to_string()),
        Ok(d) => Ok(d),
        Err(_) if !text.is_empty() && text.parse::<f64>().is_ok() => Err(format!(
            "needs a unit: write \"{text}s\" for seconds (or m, h, d); expected {DURATION_SYNTAX}"
        )),
        Err(e) => Err(format!(
            "is not a valid duration ({e}): expected {DURATION_SYNTAX}"
        )),
    }
}

/// How a point in time is written on the command line, for messages.
pub const SINCE_SYNTAX: &str =
    "an RFC 3339 time (\"2024-05-01T00:00:00Z\") or a duration back from now (\"2h\", \"7d\")";

/// A point in time: RFC 3339, or a duration back from `now`.
pub fn parse_since(text: &str, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t);
    }
    match parse_duration(text, true) {
        Ok(d) => Ok(now - d),
        Err(_) if text.contains('T') || text.contains('-') => Err(format!(
            "is not an RFC 3339 time (it needs a date, a time and a UTC offset, e.g. \
             \"2024-05-01T00:00:00Z\"); expected {SINCE_SYNTAX}"
        )),
        Err(e) => Err(format!(
            "{e}; or an RFC 3339 time (\"2024-05-01T00:00:00Z\")"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times_read_the_same_everywhere() {
        assert_eq!(parse_duration("30s", false), Ok(Duration::from_secs(30)));
        assert_eq!(
            parse_duration(" 1h 30m ", false),
            Ok(Duration::from_secs(5400))
        );
        assert_eq!(parse_duration("0s", true), Ok(Duration::ZERO));
        assert!(parse_duration("0s", false)
            .unwrap_err()
            .contains("greater than zero"));
        let e = parse_duration("60", false).unwrap_err();
        assert!(e.contains("needs a unit: write \"60s\""), "{e}");
        let e = parse_duration("soon", false).unwrap_err();
        assert!(e.contains("not a valid duration"), "{e}");

        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        assert_eq!(parse_since("2h", now), Ok(now - Duration::from_secs(7200)));
        assert_eq!(
            parse_since("2024-05-01T00:00:00Z", now).map(|t| t.unix_timestamp()),
            Ok(1_714_521_600)
        );
        let e = parse_since("2024-05-01", now).unwrap_err();
        assert!(e.contains("not an RFC 3339 time"), "{e}");
        let e = parse_since("7", now).unwrap_err();
        assert!(e.contains("needs a unit") && e.contains("RFC 3339"), "{e}");
    }
}
