//! `[sinks.<name>]`, tagged by `type`: where events go. One file per sink type, each with
//! its table as written, its defaults and its checks; `common` holds the keys all share.

pub use crate::sinks::elasticsearch::config as elasticsearch;
pub use crate::sinks::file::config as file;
pub use crate::sinks::postgres::config as postgres;
pub use crate::sinks::sentinel::config as sentinel;
pub use crate::sinks::splunk_hec::config as splunk_hec;
pub use crate::sinks::stdout::config as stdout;
pub use crate::sinks::syslog::config as syslog;
pub use crate::sinks::util::config as common;
pub use crate::sinks::webhook::config as webhook;

use std::collections::BTreeMap;
use std::path::PathBuf;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::config::reader::{fields, with_type, Ctx, Sec, Span};
pub use common::{Secret, SinkCommon, SinkFilter};
pub use elasticsearch::{ElasticAuth, ElasticsearchSinkConfig};
pub use file::FileSinkConfig;
pub use postgres::PostgresSinkConfig;
pub use sentinel::{SentinelRows, SentinelSinkConfig};
pub use splunk_hec::HecSinkConfig;
pub use stdout::StdoutSinkConfig;
pub use syslog::{MessageFormat, SyslogFraming, SyslogProtocol, SyslogSinkConfig, SyslogTransport};
pub use webhook::WebhookSinkConfig;

/// Defaults of every sink type (and of `[journal]`), as documented in `config/example.toml`.
pub mod defaults {
    pub use super::common::defaults::*;
    pub use super::elasticsearch::{ES_BATCHES, ES_DATA_STREAM, ES_PIPELINE};
    pub use super::postgres::PG_TABLE;
    pub use super::sentinel::{
        SENTINEL_MAX_REQUEST_BYTES, SENTINEL_SCOPE, SENTINEL_STREAM, SENTINEL_TABLE_STREAM,
    };
    pub use super::splunk_hec::{HEC_ACK_TIMEOUT, HEC_SOURCETYPE};
    pub use super::syslog::{SYSLOG_APP_NAME, SYSLOG_FACILITY};
    pub use crate::config::journal::defaults::*;
}

/// `[sinks.<name>]`, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkConfig {
    /// `type = "file"`: JSON lines appended to a file.
    File(FileSinkConfig),
    /// `type = "stdout"`: JSON lines on standard output.
    Stdout(StdoutSinkConfig),
    /// `type = "syslog"`: RFC 5424/3164 over UDP, TCP or TLS; JSON, CEF or LEEF.
    Syslog(SyslogSinkConfig),
    /// `type = "splunk_hec"`: Splunk HTTP Event Collector.
    SplunkHec(HecSinkConfig),
    /// `type = "elasticsearch"`: `_bulk` into a data stream, ECS documents.
    Elasticsearch(ElasticsearchSinkConfig),
    /// `type = "sentinel"`: Microsoft Sentinel through the Logs Ingestion API.
    Sentinel(SentinelSinkConfig),
    /// `type = "postgres"`: an events table in the user's PostgreSQL.
    Postgres(PostgresSinkConfig),
    /// `type = "webhook"`: signed JSON batches.
    Webhook(WebhookSinkConfig),
}

impl SinkConfig {
    /// The `type` as written in the config.
    pub fn kind(&self) -> &'static str {
        match self {
            SinkConfig::File(_) => "file",
            SinkConfig::Stdout(_) => "stdout",
            SinkConfig::Syslog(_) => "syslog",
            SinkConfig::SplunkHec(_) => "splunk_hec",
            SinkConfig::Elasticsearch(_) => "elasticsearch",
            SinkConfig::Sentinel(_) => "sentinel",
            SinkConfig::Postgres(_) => "postgres",
            SinkConfig::Webhook(_) => "webhook",
        }
    }

    /// Batching, retry and filter settings.
    pub fn common(&self) -> &SinkCommon {
        match self {
            SinkConfig::File(c) => &c.common,
            SinkConfig::Stdout(c) => &c.common,
            SinkConfig::Syslog(c) => &c.common,
            SinkConfig::SplunkHec(c) => &c.common,
            SinkConfig::Elasticsearch(c) => &c.common,
            SinkConfig::Sentinel(c) => &c.common,
            SinkConfig::Postgres(c) => &c.common,
            SinkConfig::Webhook(c) => &c.common,
        }
    }

    pub fn common_mut(&mut self) -> &mut SinkCommon {
        match self {
            SinkConfig::File(c) => &mut c.common,
            SinkConfig::Stdout(c) => &mut c.common,
            SinkConfig::Syslog(c) => &mut c.common,
            SinkConfig::SplunkHec(c) => &mut c.common,
            SinkConfig::Elasticsearch(c) => &mut c.common,
            SinkConfig::Sentinel(c) => &mut c.common,
            SinkConfig::Postgres(c) => &mut c.common,
            SinkConfig::Webhook(c) => &mut c.common,
        }
    }
}

const TYPES: &[&str] = &[
    "file",
    "stdout",
    "syslog",
    "splunk_hec",
    "elasticsearch",
    "sentinel",
    "postgres",
    "webhook",
];

/// One `[sinks.<name>]` table. `files`: the file sinks' paths so far (one file, one sink).
pub(crate) fn sink(
    cx: &mut Ctx<'_>,
    name: &str,
    key_span: Span,
    table: &DeTable<'_>,
    value: &Spanned<DeValue<'_>>,
    files: &mut BTreeMap<PathBuf, String>,
) -> Option<SinkConfig> {
    let s = Sec::new(format!("sink `{name}`"), key_span, table);
    let kind = cx.kind(&s, table, TYPES, "sink")?;
    let (own, batches) = match kind.as_str() {
        "file" => (fields::<FileSinkConfig>().to_vec(), file::BATCHES),
        "stdout" => (fields::<StdoutSinkConfig>().to_vec(), stdout::BATCHES),
        "syslog" => (fields::<SyslogSinkConfig>().to_vec(), syslog::BATCHES),
        "splunk_hec" => (fields::<HecSinkConfig>().to_vec(), splunk_hec::BATCHES),
        "elasticsearch" => (elasticsearch::keys(), elasticsearch::ES_BATCHES),
        "sentinel" => (fields::<SentinelSinkConfig>().to_vec(), sentinel::BATCHES),
        "postgres" => (fields::<PostgresSinkConfig>().to_vec(), postgres::BATCHES),
        _ => (fields::<WebhookSinkConfig>().to_vec(), webhook::BATCHES),
    };
    let mut keys = with_type(fields::<common::CommonDe>());
    keys.extend_from_slice(&own);
    let typos = cx.check_keys(&s, &keys);
    let common = match cx.de_partial::<common::CommonDe>(&s, value, &[]) {
        (Some(c), bad) => {
            let c = c.build(cx, &s, batches, &bad);
            bad.is_empty().then_some(c)
        }
        _ => None,
    };
    let sink = match kind.as_str() {
        "file" => file::file(cx, &s, value, name, files, &typos).map(SinkConfig::File),
        "stdout" => cx.de(&s, value, &[]).map(SinkConfig::Stdout),
        "syslog" => syslog::syslog(cx, &s, value).map(SinkConfig::Syslog),
        "splunk_hec" => splunk_hec::splunk_hec(cx, &s, value).map(SinkConfig::SplunkHec),
        "elasticsearch" => {
            elasticsearch::elasticsearch(cx, &s, value).map(SinkConfig::Elasticsearch)
        }
        "sentinel" => sentinel::sentinel(cx, &s, value).map(SinkConfig::Sentinel),
        "postgres" => postgres::postgres(cx, &s, value).map(SinkConfig::Postgres),
        _ => webhook::webhook(cx, &s, value).map(SinkConfig::Webhook),
    };
    let (mut sink, common) = (sink?, common?);
    *sink.common_mut() = common;
    Some(sink)
}
