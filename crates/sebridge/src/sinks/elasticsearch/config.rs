//! `[sinks.<name>] type = "elasticsearch"`: `_bulk` into a data stream, ECS documents.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::config::reader::{Ctx, Sec};
use crate::config::values::Str;
use crate::sinks::util::config::{compression, defaults, Secret, SinkCommon, USE_INSTEAD};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElasticAuth {
    None,
    ApiKey(Secret),
    Basic { username: String, password: Secret },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElasticsearchSinkConfig {
    pub common: SinkCommon,
    pub url: Url,
    pub auth: ElasticAuth,
    /// Target data stream (`create` ops).
    pub data_stream: String,
    /// Ingest pipeline; `_none` (default) skips the data stream's default pipeline, since
    /// documents arrive already mapped to ECS.
    pub pipeline: Option<String>,
    pub gzip: bool,
    pub request_timeout: Duration,
    pub ca_file: Option<PathBuf>,
}

/// 2000 ECS documents are ~9 MB of bulk body, within the 5-15 MB per bulk request Elastic
/// advises (Vector's default is up to 10 MB); fewer, larger requests cost both sides less
/// (BENCHMARKS.md, "Sinks").
pub const ES_BATCHES: (usize, Duration) = (2000, defaults::BATCH_TIMEOUT);
pub const ES_DATA_STREAM: &str = "logs-cisco_secure_endpoint.event-default";
pub const ES_PIPELINE: &str = "_none";

#[derive(Deserialize)]
pub(crate) struct ElasticRaw {
    url: Str,
    api_key: Str,
    username: Str,
    password: Str,
    data_stream: Str,
    pipeline: Str,
    compression: Str,
    request_timeout: Str,
    ca_file: Str,
}

pub(crate) fn elasticsearch(
    cx: &mut Ctx<'_>,
    s: &Sec,
    raw: ElasticRaw,
    common: Option<SinkCommon>,
) -> Option<ElasticsearchSinkConfig> {
    let what = &s.what;
    let url = cx.req_url(
        s,
        "url",
        raw.url,
        "https://elastic.example.com:9200",
        USE_INSTEAD,
    );
    let given = (
        raw.api_key.is_some(),
        raw.username.is_some(),
        raw.password.is_some(),
    );
    let auth = match given {
        (false, false, false) => Some(ElasticAuth::None),
        (true, false, false) => cx
            .secret(s, "api_key", raw.api_key)
            .flatten()
            .map(|(k, _)| ElasticAuth::ApiKey(Secret(k))),
        (false, true, true) => {
            let user = cx.non_empty(s, "username", raw.username).flatten();
            let pass = cx.secret(s, "password", raw.password).flatten();
            match (user, pass) {
                (Some((username, _)), Some((p, _))) => Some(ElasticAuth::Basic {
                    username,
                    password: Secret(p),
                }),
                _ => None,
            }
        }
        (false, true, false) | (false, false, true) => {
            cx.error(
                &s.span,
                format!("{what} needs both `username` and `password` (or `api_key`)"),
            );
            None
        }
        _ => {
            cx.error(
                &s.key("api_key"),
                format!("{what} sets `api_key` and `username`/`password`; use one"),
            );
            None
        }
    };
    let data_stream = match cx.opt_string(s, "data_stream", raw.data_stream) {
        Some(Some(ds)) if !is_data_stream_name(&ds) => {
            cx.error(
                &s.key("data_stream"),
                format!(
                    "`data_stream` in {what} must be <type>-<dataset>-<namespace> in lowercase (e.g. \"{ES_DATA_STREAM}\")"
                ),
            );
            None
        }
        other => other.map(|ds| ds.unwrap_or_else(|| ES_DATA_STREAM.to_string())),
    };
    let pipeline = cx
        .opt_string(s, "pipeline", raw.pipeline)
        .map(|p| p.or_else(|| Some(ES_PIPELINE.to_string())));
    let gzip = compression(cx, s, raw.compression);
    let request_timeout = cx.duration_or(
        s,
        "request_timeout",
        raw.request_timeout,
        false,
        defaults::REQUEST_TIMEOUT,
    );
    let ca_file = cx.opt_file(s, "ca_file", raw.ca_file, None);
    Some(ElasticsearchSinkConfig {
        common: common?,
        url: url?,
        auth: auth?,
        data_stream: data_stream?,
        pipeline: pipeline?,
        gzip: gzip?,
        request_timeout: request_timeout?,
        ca_file: ca_file?,
    })
}

fn is_data_stream_name(ds: &str) -> bool {
    let parts: Vec<&str> = ds.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty())
        && ds.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
}
