//! `[sinks.<name>] type = "syslog"`: RFC 5424/3164 over UDP, TCP or TLS; JSON, CEF or LEEF.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::config::reader::{Ctx, Sec};
use crate::config::values::{Any, Bool, Str};
use crate::sinks::util::config::{defaults, SinkCommon};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogTransport {
    Udp,
    Tcp,
    Tls,
}

/// RFC 6587 framing on TCP (TLS is always octet-counted, RFC 5425).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogFraming {
    OctetCounting,
    Newline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogProtocol {
    Rfc5424,
    Rfc3164,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageFormat {
    Json,
    Cef,
    Leef,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogSinkConfig {
    pub common: SinkCommon,
    /// host:port
    pub address: String,
    pub transport: SyslogTransport,
    pub framing: SyslogFraming,
    pub protocol: SyslogProtocol,
    pub format: MessageFormat,
    /// 0..=23 (default 16, local0).
    pub facility: u8,
    pub app_name: String,
    /// HOSTNAME of the header; default: this machine's host name.
    pub hostname: Option<String>,
    /// Extra CA certificates (PEM) for TLS; the system roots are always trusted too.
    pub ca_file: Option<PathBuf>,
    /// Name checked against the server certificate; default: the host of `address`.
    pub tls_server_name: Option<String>,
    /// LEEF 2.0 attribute delimiter (a single character).
    pub leef_delimiter: char,
    /// JSON only: wrap as {"tenant":..,"received_at":..,"event":..}.
    pub wrap: bool,
    pub connect_timeout: Duration,
}

pub(crate) const BATCHES: (usize, Duration) = defaults::STREAM_BATCHES;
pub const SYSLOG_FACILITY: u8 = 16;
pub const SYSLOG_APP_NAME: &str = "sebridge";

#[derive(Deserialize)]
pub(crate) struct SyslogRaw {
    address: Str,
    transport: Str,
    framing: Str,
    protocol: Str,
    format: Str,
    facility: Any,
    app_name: Str,
    hostname: Str,
    ca_file: Str,
    tls_server_name: Str,
    leef_delimiter: Str,
    wrap: Bool,
    connect_timeout: Str,
}

const FACILITIES: &[&str] = &[
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

/// 1 to `max` printable ASCII characters without spaces (syslog header fields).
fn header_field(v: &str, max: usize) -> bool {
    v.len() <= max && v.bytes().all(|b| (33..=126).contains(&b))
}

pub(crate) fn syslog(
    cx: &mut Ctx<'_>,
    s: &Sec,
    raw: SyslogRaw,
    common: Option<SinkCommon>,
) -> Option<SyslogSinkConfig> {
    let what = &s.what;
    if raw.address.is_none() {
        cx.missing(s, "address", "host:port (e.g. \"127.0.0.1:514\")");
    }
    let address = cx.non_empty(s, "address", raw.address).flatten().and_then(|(v, span)| {
        let text = v.trim().to_string();
        match text.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {
                Some(text)
            }
            _ => {
                cx.error_at(
                    &span,
                    format!(
                        "`address` in {what} must be host:port (e.g. \"siem.example.com:6514\" or \"[::1]:514\"), found \"{text}\""
                    ),
                );
                None
            }
        }
    });
    use SyslogTransport::*;
    let transport = cx.choice(
        s,
        "transport",
        raw.transport,
        &[("udp", Udp), ("tcp", Tcp), ("tls", Tls)],
        Tcp,
    );
    let newline = matches!(&raw.framing, Some(f) if f.value.as_deref() == Ok("newline"));
    let framing = cx.choice(
        s,
        "framing",
        raw.framing,
        &[
            ("octet_counting", SyslogFraming::OctetCounting),
            ("newline", SyslogFraming::Newline),
        ],
        SyslogFraming::OctetCounting,
    );
    if transport == Some(Tls) && newline {
        cx.error(
            &s.key("framing"),
            format!("{what}: syslog over TLS is always octet-counted (RFC 5425); remove `framing`"),
        );
    }
    let protocol = cx.choice(
        s,
        "protocol",
        raw.protocol,
        &[
            ("rfc5424", SyslogProtocol::Rfc5424),
            ("rfc3164", SyslogProtocol::Rfc3164),
        ],
        SyslogProtocol::Rfc5424,
    );
    let format = cx.choice(
        s,
        "format",
        raw.format,
        &[
            ("json", MessageFormat::Json),
            ("cef", MessageFormat::Cef),
            ("leef", MessageFormat::Leef),
        ],
        MessageFormat::Json,
    );
    let facility = facility(cx, s, raw.facility);
    let app_name = match cx.opt_string(s, "app_name", raw.app_name) {
        Some(Some(a)) if !header_field(&a, 48) => {
            cx.error(
                &s.key("app_name"),
                format!("`app_name` in {what} must be 1 to 48 printable ASCII characters without spaces (RFC 5424)"),
            );
            None
        }
        other => other.map(|a| a.unwrap_or_else(|| SYSLOG_APP_NAME.to_string())),
    };
    let hostname = match cx.opt_string(s, "hostname", raw.hostname) {
        Some(Some(h)) if !header_field(&h, 255) => {
            cx.error(
                &s.key("hostname"),
                format!("`hostname` in {what} must be 1 to 255 printable ASCII characters without spaces"),
            );
            None
        }
        other => other,
    };
    let ca_file = cx.opt_file(s, "ca_file", raw.ca_file, None);
    let tls_server_name = cx.opt_string(s, "tls_server_name", raw.tls_server_name);
    for key in ["ca_file", "tls_server_name"] {
        if s.has(key) && transport.is_some_and(|t| t != Tls) {
            cx.error(
                &s.key(key),
                format!("`{key}` in {what} is only used with transport = \"tls\""),
            );
        }
    }
    let leef_delimiter = match cx.non_empty(s, "leef_delimiter", raw.leef_delimiter) {
        Some(Some((v, span))) => parse_leef_delimiter(&v).or_else(|| {
            cx.error_at(
                &span,
                format!(
                    "`leef_delimiter` in {what} must be one character (e.g. \"^\") or a hex code (\"x09\" for TAB); not `=`, a letter, a digit or a space"
                ),
            );
            None
        }),
        Some(None) => Some('^'),
        None => None,
    };
    let wrap = cx.bool_or(s, "wrap", raw.wrap, false);
    let connect_timeout = cx.duration_or(
        s,
        "connect_timeout",
        raw.connect_timeout,
        false,
        defaults::CONNECT_TIMEOUT,
    );
    Some(SyslogSinkConfig {
        common: common?,
        address: address?,
        transport: transport?,
        framing: framing?,
        protocol: protocol?,
        format: format?,
        facility: facility?,
        app_name: app_name?,
        hostname: hostname?,
        ca_file: ca_file?,
        tls_server_name: tls_server_name?,
        leef_delimiter: leef_delimiter?,
        wrap: wrap?,
        connect_timeout: connect_timeout?,
    })
}

fn facility(cx: &mut Ctx<'_>, s: &Sec, f: Any) -> Option<u8> {
    let Some((value, span)) = cx.take(s, "facility", f, "an integer or a name")? else {
        return Some(SYSLOG_FACILITY);
    };
    let index = match &value {
        toml::Value::Integer(i) => u8::try_from(*i).ok().filter(|i| *i <= 23),
        toml::Value::String(name) => FACILITIES
            .iter()
            .position(|f| *f == name.trim())
            .and_then(|i| u8::try_from(i).ok()),
        _ => None,
    };
    if index.is_none() {
        cx.error_at(
            &span,
            format!(
                "`facility` in {} must be 0..23 or a name ({})",
                s.what,
                FACILITIES.join(", ")
            ),
        );
    }
    index
}

/// `^`, `|`, `x09`, `0x5E`.
pub fn parse_leef_delimiter(text: &str) -> Option<char> {
    let hex = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix('x'))
        .filter(|h| !h.is_empty() && h.len() <= 2);
    let c = match hex {
        Some(h) => char::from(u8::from_str_radix(h, 16).ok()?),
        None => {
            let mut chars = text.chars();
            let c = chars.next()?;
            if chars.next().is_some() {
                return None;
            }
            c
        }
    };
    (c != '=' && c != ' ' && !c.is_alphanumeric() && c != '\n' && c != '\r').then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leef_delimiters() {
        assert_eq!(parse_leef_delimiter("^"), Some('^'));
        assert_eq!(parse_leef_delimiter("x09"), Some('\t'));
        assert_eq!(parse_leef_delimiter("0x5E"), Some('^'));
        assert_eq!(parse_leef_delimiter("|"), Some('|'));
        assert_eq!(parse_leef_delimiter("="), None);
        assert_eq!(parse_leef_delimiter("ab"), None);
        assert_eq!(parse_leef_delimiter("a"), None);
    }
}
