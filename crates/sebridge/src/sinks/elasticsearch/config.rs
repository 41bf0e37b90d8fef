//! `[sinks.<name>] type = "elasticsearch"`: `_bulk` into a data stream, ECS documents.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use url::Url;

use crate::config::de;
use crate::config::reader::{fields, Ctx, Sec};
use crate::sinks::util::config::{defaults, request_timeout, yes, Secret, SinkCommon, USE_INSTEAD};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElasticAuth {
    None,
    ApiKey(Secret),
    Basic { username: String, password: Secret },
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ElasticsearchSinkConfig {
    #[serde(skip, default = "SinkCommon::unset")]
    pub common: SinkCommon,
    #[serde(deserialize_with = "url")]
    pub url: Url,
    /// Read from [`AuthDe`]'s keys.
    #[serde(skip, default = "no_auth")]
    pub auth: ElasticAuth,
    /// Target data stream (`create` ops).
    #[serde(default = "data_stream", deserialize_with = "data_stream_name")]
    pub data_stream: String,
    /// Ingest pipeline; `_none` (default) skips the data stream's default pipeline, since
    /// documents arrive already mapped to ECS.
    #[serde(default = "pipeline", deserialize_with = "de::opt_text")]
    pub pipeline: Option<String>,
    #[serde(rename = "compression", default = "yes")]
    #[serde(deserialize_with = "de::compression")]
    pub gzip: bool,
    #[serde(default = "request_timeout", deserialize_with = "de::duration")]
    pub request_timeout: Duration,
    #[serde(default, deserialize_with = "de::opt_path")]
    pub ca_file: Option<PathBuf>,
}

/// The keys [`ElasticAuth`] is chosen by.
#[derive(Deserialize)]
struct AuthDe {
    #[serde(default, deserialize_with = "de::opt_secret")]
    api_key: Option<Secret>,
    #[serde(default, deserialize_with = "de::opt_text")]
    username: Option<String>,
    #[serde(default, deserialize_with = "de::opt_secret")]
    password: Option<Secret>,
}

/// 2000 ECS documents are ~9 MB of bulk body, within the 5-15 MB per bulk request Elastic
/// advises (Vector's default is up to 10 MB); fewer, larger requests cost both sides less
/// (BENCHMARKS.md, "Sinks").
pub const ES_BATCHES: (usize, Duration) = (2000, defaults::BATCH_TIMEOUT);
pub const ES_DATA_STREAM: &str = "logs-cisco_secure_endpoint.event-default";
pub const ES_PIPELINE: &str = "_none";
const EXAMPLE: &str = "https://elastic.example.com:9200";

de::defaults! {
    no_auth: ElasticAuth = ElasticAuth::None;
    data_stream: String = ES_DATA_STREAM.to_string();
    pipeline: Option<String> = Some(ES_PIPELINE.to_string());
}
fn url<'de, D: Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
    de::http_url(d, EXAMPLE, USE_INSTEAD)
}

fn data_stream_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let ds = de::text(d)?;
    if is_data_stream_name(&ds) {
        return Ok(ds);
    }
    Err(serde::de::Error::custom(format!(
        "@must be <type>-<dataset>-<namespace> in lowercase (e.g. \"{ES_DATA_STREAM}\")"
    )))
}

/// The keys of the table, in the documented order (the auth keys after `url`).
pub(crate) fn keys() -> Vec<&'static str> {
    let mut keys = fields::<ElasticsearchSinkConfig>().to_vec();
    keys.splice(1..1, fields::<AuthDe>().iter().copied());
    keys
}

pub(crate) fn elasticsearch(
    cx: &mut Ctx<'_>,
    s: &Sec,
    value: &toml::Spanned<toml::de::DeValue<'_>>,
) -> Option<ElasticsearchSinkConfig> {
    let what = &s.what;
    let url = format!("an http(s) URL such as \"{EXAMPLE}\"");
    let e = cx.de::<ElasticsearchSinkConfig>(s, value, &[("url", &url)]);
    let auth = match (s.has("api_key"), s.has("username"), s.has("password")) {
        (false, true, false) | (false, false, true) => {
            let message = format!("{what} needs both `username` and `password` (or `api_key`)");
            cx.error(&s.span, message);
            None
        }
        (true, true, _) | (true, _, true) => {
            let message = format!("{what} sets `api_key` and `username`/`password`; use one");
            cx.error(&s.key("api_key"), message);
            None
        }
        _ => match cx.de::<AuthDe>(s, value, &[])? {
            AuthDe {
                api_key: Some(k), ..
            } => Some(ElasticAuth::ApiKey(k)),
            AuthDe {
                username: Some(username),
                password: Some(password),
                ..
            } => Some(ElasticAuth::Basic { username, password }),
            _ => Some(ElasticAuth::None),
        },
    };
    let mut e = e?;
    e.auth = auth?;
    cx.file_at(s, "ca_file", &mut e.ca_file, None).then_some(e)
}
fn is_data_stream_name(ds: &str) -> bool {
    let parts: Vec<&str> = ds.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty())
        && ds.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
}
