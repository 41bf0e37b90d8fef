//! `[sinks.<name>] type = "splunk_hec"`: Splunk HTTP Event Collector.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use url::Url;

use crate::config::de;
use crate::config::reader::{Ctx, Sec};
use crate::sinks::util::config::{
    defaults, event_format, request_timeout, yes, EventFormat, Secret, SinkCommon, USE_INSTEAD,
};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HecSinkConfig {
    #[serde(skip, default = "SinkCommon::unset")]
    pub common: SinkCommon,
    /// Base URL, e.g. https://splunk.example.com:8088
    #[serde(deserialize_with = "url")]
    pub url: Url,
    #[serde(deserialize_with = "de::secret")]
    pub token: Secret,
    #[serde(default, deserialize_with = "de::opt_text")]
    pub index: Option<String>,
    #[serde(default, deserialize_with = "de::opt_text")]
    pub source: Option<String>,
    #[serde(default = "sourcetype", deserialize_with = "de::text")]
    pub sourcetype: String,
    #[serde(default, deserialize_with = "de::opt_text")]
    pub host: Option<String>,
    #[serde(rename = "compression", default = "yes")]
    #[serde(deserialize_with = "de::compression")]
    pub gzip: bool,
    /// Use indexer acknowledgement (the token must have useACK).
    #[serde(default, deserialize_with = "de::boolean")]
    pub ack: bool,
    #[serde(default = "ack_timeout", deserialize_with = "de::duration")]
    pub ack_timeout: Duration,
    #[serde(default = "request_timeout", deserialize_with = "de::duration")]
    pub request_timeout: Duration,
    #[serde(default, deserialize_with = "de::opt_path")]
    pub ca_file: Option<PathBuf>,
    /// `json` (the Cisco add-ons' shape, default) or `ocsf` (the OCSF event as `event`).
    #[serde(default, deserialize_with = "event_format")]
    pub format: EventFormat,
}

pub(crate) const BATCHES: (usize, Duration) = defaults::BATCHES;
pub const HEC_SOURCETYPE: &str = "cisco:amp:event";
/// The default sourcetype of `format = "ocsf"`: the add-ons' searches expect the vendor shape
/// under `cisco:amp:event`, so OCSF events get their own.
pub const HEC_OCSF_SOURCETYPE: &str = "cisco:amp:ocsf";
pub const HEC_ACK_TIMEOUT: Duration = Duration::from_secs(60);
const EXAMPLE: &str = "https://splunk.example.com:8088";

de::defaults! {
    sourcetype: String = HEC_SOURCETYPE.to_string();
    ack_timeout: Duration = HEC_ACK_TIMEOUT;
}
fn url<'de, D: Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
    de::http_url(d, EXAMPLE, USE_INSTEAD)
}

pub(crate) fn splunk_hec(
    cx: &mut Ctx<'_>,
    s: &Sec,
    value: &toml::Spanned<toml::de::DeValue<'_>>,
) -> Option<HecSinkConfig> {
    let url = format!("an http(s) URL such as \"{EXAMPLE}\"");
    let token = "the HEC token (e.g. token = \"${SPLUNK_HEC_TOKEN}\")";
    let mut h: HecSinkConfig = cx.de(s, value, &[("url", &url), ("token", token)])?;
    if h.format == EventFormat::Ocsf && !s.has("sourcetype") {
        h.sourcetype = HEC_OCSF_SOURCETYPE.to_string();
    }
    cx.file_at(s, "ca_file", &mut h.ca_file, None).then_some(h)
}
