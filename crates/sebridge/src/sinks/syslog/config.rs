//! `[sinks.<name>] type = "syslog"`: RFC 5424/3164 over UDP, TCP or TLS; JSON, CEF or LEEF.

use std::path::PathBuf;
use std::time::Duration;

use serde::de::{Error, Visitor};
use serde::{Deserialize, Deserializer};
use toml::de::DeValue;

use crate::config::de;
use crate::config::reader::{Ctx, Sec};
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

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SyslogSinkConfig {
    #[serde(skip, default = "SinkCommon::unset")]
    pub common: SinkCommon,
    /// host:port
    #[serde(deserialize_with = "address")]
    pub address: String,
    #[serde(default = "tcp", deserialize_with = "transport")]
    pub transport: SyslogTransport,
    #[serde(default = "octets", deserialize_with = "framing")]
    pub framing: SyslogFraming,
    #[serde(default = "rfc5424", deserialize_with = "protocol")]
    pub protocol: SyslogProtocol,
    #[serde(default = "json", deserialize_with = "format")]
    pub format: MessageFormat,
    /// 0..=23 (default 16, local0).
    #[serde(default = "local0", deserialize_with = "facility")]
    pub facility: u8,
    #[serde(default = "app_name", deserialize_with = "app_name_of")]
    pub app_name: String,
    /// HOSTNAME of the header; default: this machine's host name.
    #[serde(default, deserialize_with = "hostname")]
    pub hostname: Option<String>,
    /// Extra CA certificates (PEM) for TLS; the system roots are always trusted too.
    #[serde(default, deserialize_with = "de::opt_path")]
    pub ca_file: Option<PathBuf>,
    /// Name checked against the server certificate; default: the host of `address`.
    #[serde(default, deserialize_with = "de::opt_text")]
    pub tls_server_name: Option<String>,
    /// LEEF 2.0 attribute delimiter (a single character).
    #[serde(default = "caret", deserialize_with = "leef_delimiter")]
    pub leef_delimiter: char,
    /// JSON only: wrap as {"tenant":..,"received_at":..,"event":..}.
    #[serde(default, deserialize_with = "de::boolean")]
    pub wrap: bool,
    #[serde(default = "connect_timeout", deserialize_with = "de::duration")]
    pub connect_timeout: Duration,
}

pub(crate) const BATCHES: (usize, Duration) = defaults::STREAM_BATCHES;
pub const SYSLOG_FACILITY: u8 = 16;
pub const SYSLOG_APP_NAME: &str = "sebridge";

/// By number: `kern` is 0, `local7` 23.
#[rustfmt::skip]
const FACILITIES: &[&str] = &[
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
    "authpriv", "ftp", "ntp", "security", "console", "solaris-cron", "local0", "local1",
    "local2", "local3", "local4", "local5", "local6", "local7",
];

/// 1 to `max` printable ASCII characters without spaces (syslog header fields).
fn header_field(v: &str, max: usize) -> bool {
    v.len() <= max && v.bytes().all(|b| (33..=126).contains(&b))
}

de::defaults! {
    tcp: SyslogTransport = SyslogTransport::Tcp;
    octets: SyslogFraming = SyslogFraming::OctetCounting;
    rfc5424: SyslogProtocol = SyslogProtocol::Rfc5424;
    json: MessageFormat = MessageFormat::Json;
    local0: u8 = SYSLOG_FACILITY;
    app_name: String = SYSLOG_APP_NAME.to_string();
    caret: char = '^';
    connect_timeout: Duration = defaults::CONNECT_TIMEOUT;
}

fn transport<'de, D: Deserializer<'de>>(d: D) -> Result<SyslogTransport, D::Error> {
    use SyslogTransport::*;
    de::choice(d, &[("udp", Udp), ("tcp", Tcp), ("tls", Tls)])
}
fn framing<'de, D: Deserializer<'de>>(d: D) -> Result<SyslogFraming, D::Error> {
    use SyslogFraming::*;
    de::choice(
        d,
        &[("octet_counting", OctetCounting), ("newline", Newline)],
    )
}
fn protocol<'de, D: Deserializer<'de>>(d: D) -> Result<SyslogProtocol, D::Error> {
    use SyslogProtocol::*;
    de::choice(d, &[("rfc5424", Rfc5424), ("rfc3164", Rfc3164)])
}
fn format<'de, D: Deserializer<'de>>(d: D) -> Result<MessageFormat, D::Error> {
    use MessageFormat::*;
    de::choice(d, &[("json", Json), ("cef", Cef), ("leef", Leef)])
}

fn address<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = de::text(d)?;
    match text.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {
            Ok(text)
        }
        _ => Err(D::Error::custom(format!(
            "must be host:port (e.g. \"siem.example.com:6514\" or \"[::1]:514\"), found \"{text}\""
        ))),
    }
}

fn app_name_of<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let a = de::text(d)?;
    match header_field(&a, 48) {
        true => Ok(a),
        false => Err(D::Error::custom(
            "@must be 1 to 48 printable ASCII characters without spaces (RFC 5424)",
        )),
    }
}

fn hostname<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let h = de::text(d)?;
    match header_field(&h, 255) {
        true => Ok(Some(h)),
        false => Err(D::Error::custom(
            "@must be 1 to 255 printable ASCII characters without spaces",
        )),
    }
}

fn leef_delimiter<'de, D: Deserializer<'de>>(d: D) -> Result<char, D::Error> {
    parse_leef_delimiter(&untrimmed(d)?).ok_or_else(|| D::Error::custom(
        "must be one ASCII character (e.g. \"^\") or a hex code (\"x09\" for TAB); not `=`, `\\`, a letter, a digit or a space",
    ))
}

/// A non-empty string as written: spaces are not a delimiter's padding.
fn untrimmed<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = String::deserialize(d)?;
    match v.trim().is_empty() {
        true => Err(D::Error::custom("is empty")),
        false => Ok(v),
    }
}

/// A number 0..=23 or its name.
fn facility<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    struct F;
    impl Visitor<'_> for F {
        type Value = Option<u8>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an integer or a name")
        }
        fn visit_i64<E: Error>(self, i: i64) -> Result<Option<u8>, E> {
            Ok(u8::try_from(i).ok().filter(|i| *i <= 23))
        }
        fn visit_str<E: Error>(self, name: &str) -> Result<Option<u8>, E> {
            let i = FACILITIES.iter().position(|f| *f == name.trim());
            Ok(i.and_then(|i| u8::try_from(i).ok()))
        }
    }
    d.deserialize_any(F)?.ok_or_else(|| {
        D::Error::custom(format!(
            "must be 0..23 or a name ({})",
            FACILITIES.join(", ")
        ))
    })
}

pub(crate) fn syslog(
    cx: &mut Ctx<'_>,
    s: &Sec,
    value: &toml::Spanned<DeValue<'_>>,
) -> Option<SyslogSinkConfig> {
    let what = &s.what;
    let hint = "host:port (e.g. \"127.0.0.1:514\")";
    let c = cx.de::<SyslogSinkConfig>(s, value, &[("address", hint)]);
    // Checks across keys use the values as written, so they run even when others are wrong.
    let raw = |k: &str| match value.get_ref() {
        DeValue::Table(t) => t.get(k).map(|v| v.get_ref().as_str()),
        _ => None,
    };
    let transport = raw("transport").unwrap_or(Some("tcp")).map(str::trim);
    let transport = transport.filter(|t| ["udp", "tcp", "tls"].contains(t));
    let mut ok = true;
    if transport == Some("tls") && raw("framing") == Some(Some("newline")) {
        let m =
            format!("{what}: syslog over TLS is always octet-counted (RFC 5425); remove `framing`");
        cx.error(&s.key("framing"), m);
        ok = false;
    }
    for key in ["ca_file", "tls_server_name"] {
        if s.has(key) && transport.is_some_and(|t| t != "tls") {
            let m = format!("`{key}` in {what} is only used with transport = \"tls\"");
            cx.error(&s.key(key), m);
            ok = false;
        }
    }
    let mut c = c?;
    (cx.file_at(s, "ca_file", &mut c.ca_file, None) && ok).then_some(c)
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
    // ASCII only: LEEF's `xHH` names one byte, and a non-ASCII character is several bytes in
    // UTF-8 (U+2192 was declared as "x2192", U+0080 as "x80" while the record held C2 80).
    // Not `\`: it is the escape character of the values (escape_props found both).
    (c.is_ascii()
        && c != '\\'
        && c != '='
        && c != ' '
        && !c.is_alphanumeric()
        && c != '\n'
        && c != '\r')
        .then_some(c)
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
        // Found by escape_props: the escape character, and characters that are not one byte.
        assert_eq!(parse_leef_delimiter("\\"), None);
        assert_eq!(parse_leef_delimiter("x5C"), None);
        assert_eq!(parse_leef_delimiter("\u{2192}"), None);
        assert_eq!(parse_leef_delimiter("x80"), None);
        assert_eq!(parse_leef_delimiter("x7F"), Some('\u{7f}'));
    }
}
