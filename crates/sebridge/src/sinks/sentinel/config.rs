//! `[sinks.<name>] type = "sentinel"`: Microsoft Sentinel through the Azure Monitor Logs
//! Ingestion API (a data collection rule and stream, OAuth2 client credentials).

use std::path::PathBuf;
use std::time::Duration;

use serde::de::Error;
use serde::{Deserialize, Deserializer};
use toml::de::DeValue;
use url::Url;

use crate::config::de;
use crate::config::reader::{Ctx, Sec};
use crate::sinks::util::config::{defaults, request_timeout, yes, Secret, SinkCommon, USE_INSTEAD};

/// What a row holds, which decides the stream it goes to (see [`super::encoder`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentinelRows {
    /// The vendor event as the API returns it: the input of Microsoft's own connector DCR
    /// (stream `Custom-CiscoSecureEndpointEvents`), whose transform makes the table's columns.
    Connector,
    /// The columns of `CiscoSecureEndpointEventsV2_CL` themselves, for a DCR of one's own
    /// whose stream declares them and whose transform is `source`.
    Table,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SentinelSinkConfig {
    #[serde(skip, default = "SinkCommon::unset")]
    pub common: SinkCommon,
    /// The logs ingestion endpoint: a data collection endpoint's, or the DCR's own.
    #[serde(deserialize_with = "endpoint")]
    pub endpoint: Url,
    /// The DCR's `immutableId` (`dcr-` and 32 hex digits).
    #[serde(deserialize_with = "dcr_id")]
    pub dcr_immutable_id: String,
    /// A stream declared in the DCR; by default the one `row_format` is made for.
    #[serde(default, deserialize_with = "stream_name")]
    pub stream: String,
    #[serde(default = "connector", deserialize_with = "row_format_of")]
    pub row_format: SentinelRows,
    /// The Microsoft Entra ID tenant (directory) of the app registration: its GUID or a
    /// domain such as `contoso.onmicrosoft.com`.
    #[serde(deserialize_with = "directory")]
    pub tenant_id: String,
    /// The app registration's application (client) id.
    #[serde(deserialize_with = "guid")]
    pub client_id: String,
    #[serde(deserialize_with = "de::secret")]
    pub client_secret: Secret,
    /// The token endpoint; default `https://login.microsoftonline.com/<tenant_id>/oauth2/v2.0/token`
    /// (sovereign clouds and the simulator set their own).
    #[serde(default, deserialize_with = "token_url_of")]
    pub token_url: Option<Url>,
    /// The OAuth2 scope: the Logs Ingestion resource and `/.default`.
    #[serde(default = "scope", deserialize_with = "scope_of")]
    pub scope: String,
    /// Largest call, as JSON before compression (the API's 1 MB limit counts both).
    #[serde(default = "max_request_bytes", deserialize_with = "request_bytes")]
    pub max_request_bytes: usize,
    #[serde(rename = "compression", default = "yes")]
    #[serde(deserialize_with = "de::compression")]
    pub gzip: bool,
    #[serde(default = "request_timeout", deserialize_with = "de::duration")]
    pub request_timeout: Duration,
    #[serde(default, deserialize_with = "de::opt_path")]
    pub ca_file: Option<PathBuf>,
}

impl SentinelSinkConfig {
    /// The token endpoint in use.
    pub fn token_endpoint(&self) -> String {
        match &self.token_url {
            Some(u) => u.to_string(),
            None => format!("{SENTINEL_AUTHORITY}/{}/oauth2/v2.0/token", self.tenant_id),
        }
    }
}

pub(crate) const BATCHES: (usize, Duration) = defaults::BATCHES;
/// The input stream of Microsoft's codeless connector DCR (Azure/Azure-Sentinel,
/// `Solutions/Cisco Secure Endpoint/Data Connectors/CiscoSecureEndpointLogs_ccp/`
/// `CiscoSecureEndpointLogs_DCR.json` and `..._PollingConfig.json`).
pub const SENTINEL_STREAM: &str = "Custom-CiscoSecureEndpointEvents";
/// The stream of a DCR of one's own declared with the table's columns (`Custom-<table>`).
pub const SENTINEL_TABLE_STREAM: &str = "Custom-CiscoSecureEndpointEventsV2_CL";
/// The Logs Ingestion API's resource with `/.default` (the double slash is Microsoft's).
pub const SENTINEL_SCOPE: &str = "https://monitor.azure.com//.default";
/// Microsoft Entra ID in the public cloud.
pub const SENTINEL_AUTHORITY: &str = "https://login.microsoftonline.com";
/// "Maximum size of API call: 1 MB" (Azure Monitor service limits), on both compressed and
/// uncompressed data; 1,048,576 bytes by the API's own 413 message.
pub const SENTINEL_MAX_CALL: usize = 1_048_576;
/// A margin below the limit, so a call never meets it by a few bytes of rounding.
pub const SENTINEL_MAX_REQUEST_BYTES: usize = 1_000_000;
const EXAMPLE: &str = "https://my-dce-a1b2.westeurope-1.ingest.monitor.azure.com";

de::defaults! {
    connector: SentinelRows = SentinelRows::Connector;
    scope: String = SENTINEL_SCOPE.to_string();
    max_request_bytes: usize = SENTINEL_MAX_REQUEST_BYTES;
}

fn endpoint<'de, D: Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
    de::url_of(d, EXAMPLE, USE_INSTEAD, false)
}

fn token_url_of<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    let example = "https://login.microsoftonline.us/<tenant>/oauth2/v2.0/token";
    de::url_of(d, example, "client_id and client_secret", false).map(Some)
}

fn row_format_of<'de, D: Deserializer<'de>>(d: D) -> Result<SentinelRows, D::Error> {
    use SentinelRows::*;
    de::choice(d, &[("connector", Connector), ("table", Table)])
}

/// `dcr-` and 32 hex digits, as the DCR's JSON view shows `immutableId`.
pub(crate) fn is_dcr_id(id: &str) -> bool {
    id.strip_prefix("dcr-")
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn dcr_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let id = de::text(d)?;
    match is_dcr_id(&id) {
        true => Ok(id),
        false => Err(D::Error::custom(
            "must be the DCR's immutableId (\"dcr-\" and 32 hex digits, in the DCR's JSON view), not its name or resource id",
        )),
    }
}

/// Letters, digits, `_` and `-` after `Custom-` (or `Microsoft-` for a built-in table).
pub(crate) fn is_stream_name(s: &str) -> bool {
    let rest = s
        .strip_prefix("Custom-")
        .or_else(|| s.strip_prefix("Microsoft-"));
    rest.is_some_and(|r| {
        !r.is_empty()
            && r.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

fn stream_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = de::text(d)?;
    match is_stream_name(&s) {
        true => Ok(s),
        false => Err(D::Error::custom(format!(
            "must be a stream declared in the DCR: \"Custom-\" and letters, digits, `_` or `-` (e.g. \"{SENTINEL_STREAM}\"), found \"{s}\""
        ))),
    }
}

/// A GUID (8-4-4-4-12 hex digits).
pub(crate) fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn guid<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = de::text(d)?;
    match is_guid(&s) {
        true => Ok(s),
        false => Err(D::Error::custom(
            "must be the app registration's application (client) id, a GUID such as \"0c2e4a6b-8d0f-4a1b-9c3d-5e7f9a1b3c5d\"",
        )),
    }
}

/// A tenant GUID or a verified domain (it goes into the token URL's path).
fn directory<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = de::text(d)?;
    let domain = s.contains('.')
        && s.split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    match is_guid(&s) || domain {
        true => Ok(s),
        false => Err(D::Error::custom(
            "must be the Microsoft Entra tenant (directory) id, a GUID, or its domain such as \"contoso.onmicrosoft.com\"",
        )),
    }
}

fn scope_of<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = de::text(d)?;
    match s.ends_with("/.default") && !s.contains(char::is_whitespace) {
        true => Ok(s),
        false => Err(D::Error::custom(format!(
            "must be the resource followed by /.default (client credentials), e.g. \"{SENTINEL_SCOPE}\""
        ))),
    }
}

fn request_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    // Below 4 KiB most events would not fit a call on their own.
    de::int::<4096, { SENTINEL_MAX_CALL as i64 }, usize, D>(d)
}

pub(crate) fn sentinel(
    cx: &mut Ctx<'_>,
    s: &Sec,
    value: &toml::Spanned<DeValue<'_>>,
) -> Option<SentinelSinkConfig> {
    let what = &s.what;
    let endpoint = format!("the logs ingestion endpoint of the DCE or DCR (e.g. \"{EXAMPLE}\")");
    let required = [
        ("endpoint", endpoint.as_str()),
        (
            "dcr_immutable_id",
            "the DCR's immutableId (e.g. \"dcr-00000000000000000000000000000000\")",
        ),
        ("tenant_id", "the Microsoft Entra tenant (directory) id"),
        ("client_id", "the app registration's application (client) id"),
        (
            "client_secret",
            "the app registration's client secret (e.g. client_secret = \"${SENTINEL_CLIENT_SECRET}\")",
        ),
    ];
    let c = cx.de::<SentinelSinkConfig>(s, value, &required);
    // Checks across keys use the values as written, so they run even when others are wrong.
    let raw = |k: &str| match value.get_ref() {
        DeValue::Table(t) => t.get(k).and_then(|v| v.get_ref().as_str()).map(str::trim),
        _ => None,
    };
    let mut ok = true;
    if raw("row_format") == Some("table") && raw("stream") == Some(SENTINEL_STREAM) {
        let m = format!(
            "{what}: stream \"{SENTINEL_STREAM}\" (the connector's DCR) takes the vendor's fields, not the table's columns; use row_format = \"connector\", or a stream declared with the table's columns (default \"{SENTINEL_TABLE_STREAM}\")"
        );
        cx.error(&s.key("stream"), m);
        ok = false;
    }
    let mut c = c?;
    if c.stream.is_empty() {
        c.stream = match c.row_format {
            SentinelRows::Connector => SENTINEL_STREAM,
            SentinelRows::Table => SENTINEL_TABLE_STREAM,
        }
        .to_string();
    }
    (cx.file_at(s, "ca_file", &mut c.ca_file, None) && ok).then_some(c)
}
