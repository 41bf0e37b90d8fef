//! Value parsers of the flags shared by several commands: durations and points in time are
//! read exactly as the config reads them (`sebridge::config::values`), so "30s" and
//! "2024-05-01T00:00:00Z" mean the same on every flag and in the file. A bad value is a
//! usage error (exit 2) naming the flag.

use sebridge::config::values::{parse_duration, parse_since};
use std::time::Duration;
use time::OffsetDateTime;

/// A duration greater than zero ("30s", "5m", "1h 30m").
pub fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s, false)
}

/// An RFC 3339 time, or a duration back from now ("2h", "7d").
pub fn since(s: &str) -> Result<OffsetDateTime, String> {
    parse_since(s, OffsetDateTime::now_utc())
}

/// The RFC 3339 text of `t`, with whole seconds when it has no fraction.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Epoch milliseconds as a fixed-width UTC time with milliseconds
/// ("2026-12-08T10:00:00.120Z"), so columns of times line up.
pub fn millis_utc(ms: i64) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_a_fixed_width() {
        assert_eq!(millis_utc(1_765_188_000_000), "2025-12-08T10:00:00.000Z");
        assert_eq!(millis_utc(1_765_188_000_120), "2025-12-08T10:00:00.120Z");
        assert_eq!(millis_utc(1_765_188_000_007), "2025-12-08T10:00:00.007Z");
    }

    #[test]
    fn flags_read_durations_as_the_config_does() {
        assert_eq!(duration("30s"), Ok(Duration::from_secs(30)));
        assert!(duration("30").unwrap_err().contains("needs a unit"));
        assert!(since("2h").is_ok());
        assert!(since("yesterday").is_err());
    }
}
