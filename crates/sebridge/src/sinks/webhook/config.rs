//! `[sinks.<name>] type = "webhook"`: signed JSON batches.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use url::Url;

use crate::config::de;
use crate::config::reader::{Ctx, Sec};
use crate::sinks::util::config::{
    defaults, event_format, request_timeout, EventFormat, Secret, SinkCommon, USE_INSTEAD,
};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WebhookSinkConfig {
    #[serde(skip, default = "SinkCommon::unset")]
    pub common: SinkCommon,
    #[serde(deserialize_with = "url")]
    pub url: Url,
    /// HMAC-SHA256 key for the signature header.
    #[serde(deserialize_with = "secret")]
    pub secret: Secret,
    #[serde(default = "request_timeout", deserialize_with = "de::duration")]
    pub request_timeout: Duration,
    #[serde(default, deserialize_with = "de::opt_path")]
    pub ca_file: Option<PathBuf>,
    /// `json` (each event as the vendor sent it, default) or `ocsf` (an OCSF event).
    #[serde(default, deserialize_with = "event_format")]
    pub format: EventFormat,
}

pub(crate) const BATCHES: (usize, Duration) = defaults::BATCHES;
const EXAMPLE: &str = "https://hooks.example.com/sebridge";

fn url<'de, D: Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
    de::http_url(d, EXAMPLE, USE_INSTEAD)
}

fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    let secret = de::secret(d)?;
    if secret.expose().len() < 16 {
        return Err(serde::de::Error::custom(
            "is shorter than 16 characters; use a long random key",
        ));
    }
    Ok(secret)
}

pub(crate) fn webhook(
    cx: &mut Ctx<'_>,
    s: &Sec,
    value: &toml::Spanned<toml::de::DeValue<'_>>,
) -> Option<WebhookSinkConfig> {
    let url = format!("an http(s) URL such as \"{EXAMPLE}\"");
    let secret = "the HMAC-SHA256 signing key (e.g. secret = \"${WEBHOOK_SECRET}\")";
    let mut w: WebhookSinkConfig = cx.de(s, value, &[("url", &url), ("secret", secret)])?;
    cx.file_at(s, "ca_file", &mut w.ca_file, None).then_some(w)
}
