//! The syslog message: PRI (facility × 8 + a severity mapped from the event's), the RFC 5424
//! or RFC 3164 header, and the body (the raw event as JSON, CEF or LEEF 2.0), without
//! framing (the transport in [`super::sink`] adds it).

use super::{cef, leef};
use crate::config::{MessageFormat, SyslogProtocol, SyslogSinkConfig};
use crate::sinks::util::render::render_json;
use crate::sinks::util::view::{event_micros, EventView};
use crate::store::JournalEntry;
use secure_endpoint::Severity;

pub fn syslog_severity(s: Option<Severity>) -> u8 {
    match s {
        Some(Severity::Critical) => 2,
        Some(Severity::High) => 3,
        Some(Severity::Medium) => 4,
        Some(Severity::Low) => 5,
        None => 6,
    }
}

/// Renders whole syslog messages (header + body), without framing.
pub struct Formatter {
    pub protocol: SyslogProtocol,
    pub format: MessageFormat,
    pub facility: u8,
    pub hostname: String,
    pub app_name: String,
    pub leef_delimiter: char,
    pub wrap: bool,
}

impl Formatter {
    pub fn from_config(c: &SyslogSinkConfig) -> Formatter {
        Formatter {
            protocol: c.protocol,
            format: c.format,
            facility: c.facility,
            hostname: c.hostname.clone().unwrap_or_else(local_hostname),
            app_name: c.app_name.clone(),
            leef_delimiter: c.leef_delimiter,
            wrap: c.wrap,
        }
    }

    /// Appends one message to `out`.
    pub fn message(&self, entry: &JournalEntry, out: &mut String) {
        let view = EventView::parse(&entry.raw);
        let pri = u16::from(self.facility) * 8 + u16::from(syslog_severity(entry.severity));
        let micros = event_micros(entry, &view);
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        out.push('<');
        out.push_str(&pri.to_string());
        out.push('>');
        match self.protocol {
            SyslogProtocol::Rfc5424 => {
                out.push_str("1 ");
                // TIMESTAMP has a four-digit year. The vendor's time is any i64: one before
                // year 0 gets the NILVALUE, not a malformed "-001-12-31T…" (escape_props).
                if (0..=9999).contains(&t.year()) {
                    out.push_str(&format!(
                        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                        t.year(),
                        u8::from(t.month()),
                        t.day(),
                        t.hour(),
                        t.minute(),
                        t.second(),
                        t.microsecond(),
                    ));
                } else {
                    out.push('-');
                }
                out.push_str(&format!(
                    " {} {} - {} - ",
                    self.hostname, self.app_name, entry.event_type_id
                ));
            }
            SyslogProtocol::Rfc3164 => {
                const MONTHS: [&str; 12] = [
                    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                    "Dec",
                ];
                out.push_str(&format!(
                    "{} {:>2} {:02}:{:02}:{:02} {} {}: ",
                    MONTHS[usize::from(u8::from(t.month())) - 1],
                    t.day(),
                    t.hour(),
                    t.minute(),
                    t.second(),
                    self.hostname,
                    self.app_name
                ));
            }
        }
        match self.format {
            MessageFormat::Json => render_json(entry, self.wrap, out),
            MessageFormat::Cef => cef::render(entry, &view, out),
            MessageFormat::Leef => leef::render(entry, &view, self.leef_delimiter, out),
        }
    }
}

/// This machine's host name, for the syslog HOSTNAME field ("-" when unknown).
pub fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| (33..=126).contains(&b)))
        .unwrap_or_else(|| "-".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(protocol: SyslogProtocol, format: MessageFormat) -> Formatter {
        Formatter {
            protocol,
            format,
            facility: 16,
            hostname: "bridge".into(),
            app_name: "sebridge".into(),
            leef_delimiter: '^',
            wrap: false,
        }
    }

    fn entry() -> JournalEntry {
        JournalEntry {
            tenant: "acme".into(),
            event_id: 1,
            event_type_id: 1090519054,
            event_time: 1610629577,
            severity: Some(Severity::High),
            raw: r#"{"id":1,"timestamp_nanoseconds":443000000,"event_type":"Threat Detected"}"#
                .into(),
            ..Default::default()
        }
    }

    #[test]
    fn rfc5424_header() {
        let mut out = String::new();
        fmt(SyslogProtocol::Rfc5424, MessageFormat::Json).message(&entry(), &mut out);
        // local0 (16) * 8 + err (3) = 131
        assert_eq!(
            out,
            "<131>1 2021-01-14T13:06:17.443000Z bridge sebridge - 1090519054 - {\"id\":1,\"timestamp_nanoseconds\":443000000,\"event_type\":\"Threat Detected\"}"
        );
    }

    /// Found by escape_props: a vendor time before year 0 wrote a five-character year.
    #[test]
    fn rfc5424_timestamp_before_year_0_is_the_nilvalue() {
        let mut out = String::new();
        let mut e = entry();
        e.event_time = -62167219201; // -0001-12-31T23:59:59Z
        fmt(SyslogProtocol::Rfc5424, MessageFormat::Json).message(&e, &mut out);
        assert!(
            out.starts_with("<131>1 - bridge sebridge - 1090519054 - {"),
            "{out}"
        );
    }

    #[test]
    fn rfc3164_header() {
        let mut out = String::new();
        let mut e = entry();
        e.event_time = 1609718777; // 2021-01-04: day padded with a space
        fmt(SyslogProtocol::Rfc3164, MessageFormat::Cef).message(&e, &mut out);
        assert!(
            out.starts_with("<131>Jan  4 00:06:17 bridge sebridge: CEF:0|Cisco|"),
            "{out}"
        );
    }
}
