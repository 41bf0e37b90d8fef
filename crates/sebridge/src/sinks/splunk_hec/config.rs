//! `[sinks.<name>] type = "splunk_hec"`: Splunk HTTP Event Collector.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::config::reader::{Ctx, Sec};
use crate::config::values::{Bool, Str};
use crate::sinks::util::config::{compression, defaults, Secret, SinkCommon, USE_INSTEAD};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HecSinkConfig {
    pub common: SinkCommon,
    /// Base URL, e.g. https://splunk.example.com:8088
    pub url: Url,
    pub token: Secret,
    pub index: Option<String>,
    pub source: Option<String>,
    pub sourcetype: String,
    pub host: Option<String>,
    pub gzip: bool,
    /// Use indexer acknowledgement (the token must have useACK).
    pub ack: bool,
    pub ack_timeout: Duration,
    pub request_timeout: Duration,
    pub ca_file: Option<PathBuf>,
}

pub(crate) const BATCHES: (usize, Duration) = defaults::BATCHES;
pub const HEC_SOURCETYPE: &str = "cisco:amp:event";
pub const HEC_ACK_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Deserialize)]
pub(crate) struct HecRaw {
    url: Str,
    token: Str,
    index: Str,
    source: Str,
    sourcetype: Str,
    host: Str,
    compression: Str,
    ack: Bool,
    ack_timeout: Str,
    request_timeout: Str,
    ca_file: Str,
}

pub(crate) fn splunk_hec(
    cx: &mut Ctx<'_>,
    s: &Sec,
    raw: HecRaw,
    common: Option<SinkCommon>,
) -> Option<HecSinkConfig> {
    let url = cx.req_url(
        s,
        "url",
        raw.url,
        "https://splunk.example.com:8088",
        USE_INSTEAD,
    );
    let hint = "the HEC token (e.g. token = \"${SPLUNK_HEC_TOKEN}\")";
    let token = cx.req_secret(s, "token", raw.token, hint);
    let index = cx.opt_string(s, "index", raw.index);
    let source = cx.opt_string(s, "source", raw.source);
    let sourcetype = cx
        .opt_string(s, "sourcetype", raw.sourcetype)
        .map(|v| v.unwrap_or_else(|| HEC_SOURCETYPE.to_string()));
    let host = cx.opt_string(s, "host", raw.host);
    let gzip = compression(cx, s, raw.compression);
    let ack = cx.bool_or(s, "ack", raw.ack, false);
    let ack_timeout = cx.duration_or(s, "ack_timeout", raw.ack_timeout, false, HEC_ACK_TIMEOUT);
    let request_timeout = cx.duration_or(
        s,
        "request_timeout",
        raw.request_timeout,
        false,
        defaults::REQUEST_TIMEOUT,
    );
    let ca_file = cx.opt_file(s, "ca_file", raw.ca_file, None);
    Some(HecSinkConfig {
        common: common?,
        url: url?,
        token: Secret(token?.0),
        index: index?,
        source: source?,
        sourcetype: sourcetype?,
        host: host?,
        gzip: gzip?,
        ack: ack?,
        ack_timeout: ack_timeout?,
        request_timeout: request_timeout?,
        ca_file: ca_file?,
    })
}
