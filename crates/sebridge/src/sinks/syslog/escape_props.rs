//! Property tests of the syslog encoders' escaping (issue 13): arbitrary strings are encoded,
//! then read back by small parsers written here from the specs (not from the encoders), and
//! must come back as they went in, or as the one documented normalisation (a line break in a
//! CEF header field becomes a space).
//!
//! - CEF (ArcSight rev 25): header fields escape `\` and `|`; extension values escape `\`,
//!   `=`, and line breaks as `\n` / `\r`; keys are words, a value runs to the space before
//!   the next `key=`.
//! - LEEF 2.0: header as CEF; attributes split on the declared delimiter (a character, or
//!   `xHH` / `0xHH`); values escape `\`, the delimiter, LF, CR and TAB (sebridge's reversible
//!   scheme, documented in `leef.rs`, since LEEF defines none).
//! - RFC 5424: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`. sebridge writes no
//!   structured data (SD is the NILVALUE `-`; see `sink.rs`), so there are no SD-PARAM values
//!   to escape; the header fields are checked against the ABNF instead, and MSG must be the
//!   body unchanged.
//!
//! `cargo test -p sebridge --lib escape_props`.

use super::cef;
use super::config::parse_leef_delimiter;
use super::leef;
use super::message::Formatter;
use crate::config::{MessageFormat, SyslogProtocol};
use crate::props::{config, tricky_string};
use crate::sinks::util::view::EventView;
use crate::store::JournalEntry;
use proptest::prelude::*;
use secure_endpoint::Severity;
use serde_json::json;
use std::collections::BTreeMap;

// ---- parsers, from the specs ---------------------------------------------------------------

/// Splits `record` into its first `n` `|`-separated header fields (unescaping `\\` and `\|`)
/// and the rest. `None` if the header is malformed.
fn split_header(record: &str, n: usize) -> Option<(Vec<String>, &str)> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = record.char_indices();
    while let Some((_, c)) = chars.next() {
        match c {
            '\\' => match chars.next()?.1 {
                e @ ('\\' | '|') => field.push(e),
                _ => return None,
            },
            '|' => {
                fields.push(std::mem::take(&mut field));
                if fields.len() == n {
                    // The rest starts at the next character's offset.
                    let rest = chars.next().map_or("", |(i, _)| &record[i..]);
                    return Some((fields, rest));
                }
            }
            c => field.push(c),
        }
    }
    None
}

/// Unescapes a CEF extension value: `\\`, `\=`, `\n`, `\r`; anything else after `\` is an
/// error (the encoder must never produce it).
fn cef_value(raw: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.push(match chars.next()? {
                '\\' => '\\',
                '=' => '=',
                'n' => '\n',
                'r' => '\r',
                _ => return None,
            });
        } else if c == '=' {
            return None;
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// A CEF extension: `key=value` pairs; a value runs to the space before the next key (a
/// word followed by an unescaped `=`). Keys in order, values unescaped.
fn cef_extension(ext: &str) -> Option<Vec<(String, String)>> {
    // Byte offsets of the unescaped `=`.
    let mut eqs = Vec::new();
    let mut it = ext.char_indices();
    while let Some((i, c)) = it.next() {
        match c {
            '\\' => {
                it.next()?;
            }
            '=' => eqs.push(i),
            _ => {}
        }
    }
    let mut pairs = Vec::new();
    // Each key starts after the last space before its `=` (or at the start).
    let key_start = |eq: usize| ext[..eq].rfind(' ').map_or(0, |s| s + 1);
    for (k, &eq) in eqs.iter().enumerate() {
        let start = key_start(eq);
        let key = &ext[start..eq];
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
        let end = match eqs.get(k + 1) {
            Some(&next) => key_start(next).checked_sub(1)?,
            None => ext.len(),
        };
        if k == 0 && start != 0 {
            return None;
        }
        pairs.push((key.to_string(), cef_value(ext.get(eq + 1..end)?)?));
    }
    if eqs.is_empty() && !ext.is_empty() {
        return None;
    }
    Some(pairs)
}

/// The LEEF 2.0 delimiter field: one character, or `xHH` / `0xHH` (one byte).
fn leef_delimiter(field: &str) -> Option<char> {
    let mut cs = field.chars();
    if let (Some(c), None) = (cs.next(), cs.next()) {
        return Some(c);
    }
    let hex = field
        .strip_prefix("0x")
        .or_else(|| field.strip_prefix('x'))?;
    (hex.len() == 2)
        .then(|| u8::from_str_radix(hex, 16).ok())
        .flatten()
        .filter(u8::is_ascii)
        .map(char::from)
}

/// LEEF attributes: split on the unescaped delimiter, `key=value` at the first `=`, values
/// unescaped (`\\`, `\n`, `\r`, `\t`, `\<delim>`).
fn leef_attributes(attrs: &str, delim: char) -> Option<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    if attrs.is_empty() {
        return Some(pairs);
    }
    let mut cur = String::new();
    let mut items = Vec::new();
    let mut chars = attrs.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            cur.push(c);
            cur.push(chars.next()?);
        } else if c == delim {
            items.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    items.push(cur);
    for item in items {
        let (k, v) = item.split_once('=')?;
        let mut value = String::new();
        let mut cs = v.chars();
        while let Some(c) = cs.next() {
            if c == '\\' {
                value.push(match cs.next()? {
                    '\\' => '\\',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    d if d == delim => d,
                    _ => return None,
                });
            } else {
                value.push(c);
            }
        }
        pairs.push((k.to_string(), value));
    }
    Some(pairs)
}

/// RFC 5424 PRINTUSASCII (%d33-126), 1 to `max` characters.
fn printusascii(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| (33..=126).contains(&b))
}

/// `FULL-DATE "T" FULL-TIME` with `TIME-SECFRAC` and `Z`, or the NILVALUE.
fn rfc5424_timestamp(ts: &str) -> bool {
    ts == "-"
        || (ts.len() >= 20
            && ts.as_bytes()[4] == b'-'
            && ts.as_bytes()[..4].iter().all(u8::is_ascii_digit)
            && time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
                .is_ok())
}

// ---- inputs ---------------------------------------------------------------------------------

/// A LEEF delimiter the config accepts (as written in the config: a character or hex).
fn accepted_delimiter() -> impl Strategy<Value = char> {
    prop_oneof![
        proptest::sample::select(vec!['^', '|', '\t', '\\', '~', '#', '\u{1}', '\u{7f}', '→']),
        any::<char>(),
        any::<u8>().prop_map(char::from),
    ]
    .prop_filter("accepted by the config", |c| {
        parse_leef_delimiter(&c.to_string()) == Some(*c)
            || parse_leef_delimiter(&format!("x{:02X}", u32::from(*c))) == Some(*c)
    })
}

/// The string fields of an event the encoders write, each absent or any text.
#[derive(Debug, Clone)]
struct Fields {
    event_type: Option<String>,
    detection: Option<String>,
    hostname: Option<String>,
    user: Option<String>,
    file_name: Option<String>,
    file_path: Option<String>,
    disposition: Option<String>,
    sha256: Option<String>,
    arguments: Option<String>,
    description: Option<String>,
    tenant: String,
    connector: Option<String>,
}

fn fields() -> impl Strategy<Value = Fields> {
    let o = || proptest::option::of(tricky_string());
    (
        (o(), o(), o(), o(), o(), o()),
        (o(), o(), o(), o(), tricky_string(), o()),
    )
        .prop_map(|((a, b, c, d, e, f), (g, h, i, j, k, l))| Fields {
            event_type: a,
            detection: b,
            hostname: c,
            user: d,
            file_name: e,
            file_path: f,
            disposition: g,
            sha256: h,
            arguments: i,
            description: j,
            tenant: k,
            connector: l,
        })
}

impl Fields {
    fn raw(&self, nanos: u64) -> String {
        json!({
            "event_type": self.event_type,
            "timestamp_nanoseconds": nanos,
            "detection": self.detection,
            "computer": {"hostname": self.hostname, "user": self.user},
            "file": {
                "file_name": self.file_name, "file_path": self.file_path,
                "disposition": self.disposition, "identity": {"sha256": self.sha256},
            },
            "command_line": {"arguments": self.arguments},
            "cloud_ioc": {"description": self.description},
        })
        .to_string()
    }

    fn entry(&self, event_time: i64, nanos: u64, severity: Option<Severity>) -> JournalEntry {
        JournalEntry {
            tenant: self.tenant.clone(),
            event_id: 42,
            event_type_id: 1090519054,
            event_time,
            severity,
            connector_guid: self.connector.clone(),
            raw: self.raw(nanos).into(),
            ..Default::default()
        }
    }

    /// What an encoder writes for a field: nothing when absent or empty.
    fn written(v: &Option<String>) -> Option<&str> {
        v.as_deref().filter(|s| !s.is_empty())
    }
}

fn severity() -> impl Strategy<Value = Option<Severity>> {
    proptest::option::of(proptest::sample::select(vec![
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ]))
}

// ---- properties -----------------------------------------------------------------------------

/// `Some` or a test failure naming what and where (shrinks, unlike a panic).
fn some<T>(o: Option<T>, what: &str, input: &str) -> Result<T, TestCaseError> {
    o.ok_or_else(|| TestCaseError::fail(format!("{what}: {input:?}")))
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn cef_header_fields_read_back_with_line_breaks_as_spaces(s in tricky_string()) {
        let mut out = String::new();
        cef::escape_header(&mut out, &s);
        out.push('|');
        let (fields, rest) = some(split_header(&out, 1), "a well-formed header field", &out)?;
        prop_assert_eq!(&fields[0], &s.replace(['\n', '\r'], " "));
        prop_assert_eq!(rest, "");
    }

    #[test]
    fn cef_extension_values_read_back_exactly(
        values in proptest::collection::vec(tricky_string(), 1..5),
    ) {
        let mut ext = String::new();
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                ext.push(' ');
            }
            ext.push_str(&format!("cs{i}="));
            cef::escape_ext(&mut ext, v);
        }
        prop_assert!(!ext.contains(['\n', '\r']));
        let pairs = some(cef_extension(&ext), "a well-formed extension", &ext)?;
        let want: Vec<(String, String)> =
            values.iter().enumerate().map(|(i, v)| (format!("cs{i}"), v.clone())).collect();
        prop_assert_eq!(pairs, want);
    }

    #[test]
    fn leef_values_read_back_exactly(
        values in proptest::collection::vec(tricky_string(), 1..5),
        delim in accepted_delimiter(),
    ) {
        let mut attrs = String::new();
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                attrs.push(delim);
            }
            attrs.push_str(&format!("k{i}="));
            leef::escape_value(&mut attrs, v, delim);
        }
        prop_assert!(!attrs.contains(['\n', '\r']));
        let field = leef::delimiter_field(delim);
        prop_assert_eq!(leef_delimiter(&field), Some(delim), "header field {:?}", field);
        // sebridge's own reader of the setting reads the header form back too.
        prop_assert_eq!(parse_leef_delimiter(&field), Some(delim));
        let pairs = some(leef_attributes(&attrs, delim), "well-formed attributes", &attrs)?;
        let want: Vec<(String, String)> =
            values.iter().enumerate().map(|(i, v)| (format!("k{i}"), v.clone())).collect();
        prop_assert_eq!(pairs, want);
    }

    #[test]
    fn cef_records_parse_back_to_the_event(
        f in fields(),
        event_time in 0i64..253_402_300_799,
        nanos in 0u64..1_000_000_000,
        sev in severity(),
    ) {
        let e = f.entry(event_time, nanos, sev);
        let mut out = String::new();
        cef::render(&e, &EventView::parse(&e.raw), &mut out);
        prop_assert!(!out.contains(['\n', '\r']), "{}", out);
        let (header, ext) = some(split_header(&out, 7), "seven header fields", &out)?;
        let name = f.event_type.clone().unwrap_or_else(|| "Secure Endpoint event".into());
        prop_assert_eq!(
            header,
            vec![
                "CEF:0".to_string(), "Cisco".into(), "Secure Endpoint".into(), "1.0".into(),
                "1090519054".into(), name.replace(['\n', '\r'], " "),
                cef::severity(sev).into(),
            ]
        );
        let pairs = some(cef_extension(ext), "a well-formed extension", &out)?;
        let map: BTreeMap<&str, &str> =
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        prop_assert_eq!(map.len(), pairs.len(), "a key twice: {:?}", pairs);
        let expect = |key: &str, v: Option<&str>| -> Result<(), TestCaseError> {
            prop_assert_eq!(map.get(key).copied(), v, "{}", key);
            Ok(())
        };
        expect("rt", Some(&(event_time * 1000 + (nanos / 1_000_000) as i64).to_string()))?;
        expect("externalId", Some("42"))?;
        expect("cat", Fields::written(&f.event_type))?;
        expect("deviceExternalId", Fields::written(&f.connector))?;
        expect("dhost", Fields::written(&f.hostname))?;
        expect("duser", Fields::written(&f.user).filter(|u| *u != "Not Available"))?;
        expect("fname", Fields::written(&f.file_name))?;
        expect("filePath", Fields::written(&f.file_path))?;
        expect("fileHash", Fields::written(&f.sha256))?;
        expect("msg", Fields::written(&f.description))?;
        expect("cs1", Fields::written(&f.detection))?;
        expect("cs3", Fields::written(&f.disposition))?;
        expect("cs4", Fields::written(&Some(f.tenant.clone())))?;
        expect("cs6", Fields::written(&f.arguments))?;
    }

    #[test]
    fn leef_records_parse_back_to_the_event(
        f in fields(),
        event_time in 0i64..253_402_300_799,
        nanos in 0u64..1_000_000_000,
        sev in severity(),
        delim in accepted_delimiter(),
    ) {
        let e = f.entry(event_time, nanos, sev);
        let mut out = String::new();
        leef::render(&e, &EventView::parse(&e.raw), delim, &mut out);
        prop_assert!(!out.contains(['\n', '\r']), "{}", out);
        let (header, attrs) = some(split_header(&out, 6), "six header fields", &out)?;
        prop_assert_eq!(
            &header[..5],
            &["LEEF:2.0".to_string(), "Cisco".into(), "Secure Endpoint".into(), "1.0".into(),
              "1090519054".into()][..]
        );
        prop_assert_eq!(leef_delimiter(&header[5]), Some(delim));
        let pairs = some(leef_attributes(attrs, delim), "well-formed attributes", &out)?;
        let map: BTreeMap<&str, &str> =
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        prop_assert_eq!(map.len(), pairs.len(), "a key twice: {:?}", pairs);
        let expect = |key: &str, v: Option<&str>| -> Result<(), TestCaseError> {
            prop_assert_eq!(map.get(key).copied(), v, "{}", key);
            Ok(())
        };
        expect("cat", Fields::written(&f.event_type))?;
        expect("sev", Some(leef::severity(sev)))?;
        expect("eventId", Some("42"))?;
        expect("tenant", Fields::written(&Some(f.tenant.clone())))?;
        expect("identHostName", Fields::written(&f.hostname))?;
        expect("usrName", Fields::written(&f.user).filter(|u| *u != "Not Available"))?;
        expect("connectorGuid", Fields::written(&f.connector))?;
        expect("detection", Fields::written(&f.detection))?;
        expect("fileName", Fields::written(&f.file_name))?;
        expect("filePath", Fields::written(&f.file_path))?;
        expect("fileHash", Fields::written(&f.sha256))?;
        expect("disposition", Fields::written(&f.disposition))?;
        expect("commandLine", Fields::written(&f.arguments))?;
        expect("description", Fields::written(&f.description))?;
        let dev_time = map.get("devTime").copied().unwrap_or("");
        prop_assert!(
            time::PrimitiveDateTime::parse(
                dev_time.trim_end_matches('Z'),
                time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]"),
            ).is_ok(),
            "devTime {:?}", dev_time
        );
    }

    #[test]
    fn rfc5424_messages_follow_the_abnf_and_carry_the_body_unchanged(
        f in fields(),
        // Anywhere, and often within the years -9999..=9999 that `time` represents.
        event_time in prop_oneof![any::<i64>(), -400_000_000_000i64..400_000_000_000],
        nanos in any::<u64>(),
        sev in severity(),
        facility in 0u8..24,
        hostname in "[!-~]{1,255}",
        app_name in "[!-~]{1,48}",
        format in proptest::sample::select(vec![MessageFormat::Json, MessageFormat::Cef, MessageFormat::Leef]),
        delim in accepted_delimiter(),
        wrap in any::<bool>(),
    ) {
        let e = f.entry(event_time, nanos, sev);
        let formatter = Formatter {
            protocol: SyslogProtocol::Rfc5424,
            format,
            facility,
            hostname: hostname.clone(),
            app_name: app_name.clone(),
            leef_delimiter: delim,
            wrap,
        };
        let mut out = String::new();
        formatter.message(&e, &mut out);
        prop_assert!(!out.contains(['\n', '\r']), "{}", out);
        let mut parts = out.splitn(8, ' ');
        let mut next = || parts.next().unwrap_or("");
        let (pri_version, ts, host, app, procid, msgid, sd, msg) =
            (next(), next(), next(), next(), next(), next(), next(), next());
        let pri = u16::from(facility) * 8 + u16::from(super::message::syslog_severity(sev));
        prop_assert!(pri <= 191);
        prop_assert_eq!(pri_version, format!("<{pri}>1"));
        prop_assert!(rfc5424_timestamp(ts), "TIMESTAMP {:?}", ts);
        prop_assert_eq!(host, hostname.as_str());
        prop_assert!(printusascii(host, 255));
        prop_assert_eq!(app, app_name.as_str());
        prop_assert!(printusascii(app, 48));
        prop_assert_eq!(procid, "-");
        prop_assert!(printusascii(msgid, 32) && msgid == "1090519054", "MSGID {:?}", msgid);
        prop_assert_eq!(sd, "-", "no structured data");
        // MSG is the body exactly as the encoder alone writes it.
        let mut body = String::new();
        let view = EventView::parse(&e.raw);
        match format {
            MessageFormat::Json => crate::sinks::util::render::render_json(&e, wrap, &mut body),
            MessageFormat::Cef => cef::render(&e, &view, &mut body),
            MessageFormat::Leef => leef::render(&e, &view, delim, &mut body),
        }
        prop_assert_eq!(msg, body.as_str());
    }
}

#[test]
fn the_spec_parsers_read_known_records() {
    // Guards the test's own parsers with records written by hand from the specs.
    let (h, ext) = split_header(r"CEF:0|V|P\|Q|1|2|N\\ame|5|a=b c\=d e=\n", 7).unwrap();
    assert_eq!(h[2], "P|Q");
    assert_eq!(h[5], "N\\ame");
    assert_eq!(
        cef_extension(ext).unwrap(),
        vec![("a".into(), "b c=d".into()), ("e".into(), "\n".into())]
    );
    assert_eq!(cef_extension("a=b=c"), None, "an unescaped = in a value");
    assert_eq!(
        leef_attributes(r"a=1^b=x\^y\\", '^').unwrap(),
        vec![("a".into(), "1".into()), ("b".into(), "x^y\\".into())]
    );
    assert_eq!(leef_delimiter("x09"), Some('\t'));
    assert_eq!(leef_delimiter("0x5E"), Some('^'));
    assert!(rfc5424_timestamp("2021-01-14T13:06:17.443000Z"));
    assert!(!rfc5424_timestamp("-001-01-14T13:06:17.443000Z"));
}
