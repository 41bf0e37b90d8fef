//! Small, allocation-light helpers shared by the generator and the HTTP layer:
//! date formatting, JSON string escaping, query-string decoding, duration parsing.

use std::fmt::Write as _;
use std::time::Duration;

use time::OffsetDateTime;

/// Days since 1970-01-01 -> (year, month, day) (proleptic Gregorian; H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn write_ymd_hms(out: &mut String, secs: i64) {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        y,
        m,
        d,
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    );
}

/// Appends an event-style date: `2021-01-15T11:20:38+00:00` (second precision, UTC).
pub(crate) fn push_event_date(out: &mut String, secs: i64) {
    write_ymd_hms(out, secs);
    out.push_str("+00:00");
}

/// Event-style date (`+00:00` suffix), as a new string.
#[cfg(test)]
pub(crate) fn event_date(secs: i64) -> String {
    let mut s = String::with_capacity(25);
    push_event_date(&mut s, secs);
    s
}

/// Computer/rate-limit style date: `2021-05-05T23:55:49Z`.
pub(crate) fn zulu_date(secs: i64) -> String {
    let mut s = String::with_capacity(20);
    write_ymd_hms(&mut s, secs);
    s.push('Z');
    s
}

/// Appends `s` as a JSON string literal (with quotes).
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{:04x}", b);
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Decodes one `application/x-www-form-urlencoded` component (`+` is a space).
pub(crate) fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One `key=value` pair of a query string: decoded key and value, plus the raw text
/// (kept so that links can repeat the caller's parameters exactly as sent).
#[derive(Debug, Clone)]
pub(crate) struct QueryPair {
    pub key: String,
    pub value: String,
    pub raw: String,
}

/// Splits a raw query string into pairs (empty segments are ignored).
pub(crate) fn parse_query(raw: Option<&str>) -> Vec<QueryPair> {
    let Some(raw) = raw else { return Vec::new() };
    raw.split('&')
        .filter(|seg| !seg.is_empty())
        .map(|seg| {
            let (k, v) = seg.split_once('=').unwrap_or((seg, ""));
            QueryPair {
                key: form_decode(k),
                value: form_decode(v),
                raw: seg.to_string(),
            }
        })
        .collect()
}

/// Whether a request body is form data (`Content-Type: application/x-www-form-urlencoded`).
pub(crate) fn is_form(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().starts_with("application/x-www-form-urlencoded"))
}

/// A form body's fields by name (the last of a repeated name wins).
pub(crate) fn form_fields(body: &[u8]) -> std::collections::HashMap<String, String> {
    let text = String::from_utf8_lossy(body);
    parse_query(Some(&text))
        .into_iter()
        .map(|p| (p.key, p.value))
        .collect()
}

/// Parses an ISO-8601 instant as accepted by `start_date` and returns epoch seconds
/// (sub-second part dropped: the API compares at second precision).
///
/// Accepted: RFC 3339 (`Z`, `+00:00`, fractional seconds), ISO-8601 basic offsets
/// (`+0000`), a date-time without offset (taken as UTC) and a bare date (midnight UTC).
/// A `+` that was decoded to a space by form decoding is put back first.
pub(crate) fn parse_start_date(s: &str) -> Option<i64> {
    use time::format_description::well_known::{Iso8601, Rfc3339};
    let s = s.trim().replace(' ', "+");
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = OffsetDateTime::parse(&s, &Rfc3339) {
        return Some(t.unix_timestamp());
    }
    if let Ok(t) = OffsetDateTime::parse(&s, &Iso8601::DEFAULT) {
        return Some(t.unix_timestamp());
    }
    if let Ok(t) = time::PrimitiveDateTime::parse(&s, &Iso8601::DEFAULT) {
        return Some(t.assume_utc().unix_timestamp());
    }
    if let Ok(d) = time::Date::parse(&s, &Iso8601::DEFAULT) {
        return Some(d.midnight().assume_utc().unix_timestamp());
    }
    None
}

/// Parses a human duration: `500ms`, `2s`, `90`, `15m`, `1h`, `1d`, or combinations like `1h30m`.
/// A bare number means seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok(Duration::from_secs_f64(secs));
        }
        return Err(format!("invalid duration {s:?}"));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("duration {s:?} lacks a unit"))?;
        if num_end == 0 {
            return Err(format!("invalid duration {s:?}"));
        }
        let n: f64 = rest[..num_end]
            .parse()
            .map_err(|_| format!("invalid number in duration {s:?}"))?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let mult = match unit {
            "ms" => 0.001,
            "s" | "sec" | "secs" => 1.0,
            "m" | "min" | "mins" => 60.0,
            "h" | "hr" | "hours" => 3600.0,
            "d" | "days" => 86_400.0,
            _ => return Err(format!("unknown unit {unit:?} in duration {s:?}")),
        };
        total += Duration::from_secs_f64(n * mult);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(event_date(1_610_709_638), "2021-01-15T11:20:38+00:00");
        assert_eq!(zulu_date(1_620_258_949), "2021-05-05T23:55:49Z");
        assert_eq!(event_date(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(event_date(951_782_400), "2000-02-29T00:00:00+00:00");
    }

    #[test]
    fn escaping() {
        let mut s = String::new();
        push_json_str(&mut s, "\\\\?\\C:\\a\"b\u{1}");
        assert_eq!(s, r#""\\\\?\\C:\\a\"b\u0001""#);
        let back: String = serde_json::from_str(&s).unwrap_or_default();
        assert_eq!(back, "\\\\?\\C:\\a\"b\u{1}");
    }

    #[test]
    fn decoding() {
        assert_eq!(form_decode("a%5B%5D+b%2B"), "a[] b+");
        assert_eq!(form_decode("%zz%"), "%zz%");
        assert_eq!(form_decode("%4"), "%4");
    }

    #[test]
    fn start_dates() {
        let t = 1_610_709_638;
        assert_eq!(parse_start_date("2021-01-15T11:20:38+00:00"), Some(t));
        assert_eq!(parse_start_date("2021-01-15T11:20:38 00:00"), Some(t));
        assert_eq!(parse_start_date("2021-01-15T11:20:38Z"), Some(t));
        assert_eq!(parse_start_date("2021-01-15T11:20:38.999Z"), Some(t));
        assert_eq!(parse_start_date("2021-01-15T12:20:38+01:00"), Some(t));
        assert_eq!(parse_start_date("2021-01-15T11:20:38"), Some(t));
        assert_eq!(
            parse_start_date("2021-01-15"),
            Some(t - (11 * 3600 + 20 * 60 + 38))
        );
        assert_eq!(parse_start_date("yesterday"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("3600s"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("2x").is_err());
        assert!(parse_duration("h").is_err());
    }
}
