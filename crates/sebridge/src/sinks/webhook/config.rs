//! `[sinks.<name>] type = "webhook"`: signed JSON batches.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::ExposeSecret;
use serde::Deserialize;
use url::Url;

use crate::config::reader::{Ctx, Sec};
use crate::config::values::Str;
use crate::sinks::util::config::{defaults, Secret, SinkCommon, USE_INSTEAD};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSinkConfig {
    pub common: SinkCommon,
    pub url: Url,
    /// HMAC-SHA256 key for the signature header.
    pub secret: Secret,
    pub request_timeout: Duration,
    pub ca_file: Option<PathBuf>,
}

pub(crate) const BATCHES: (usize, Duration) = defaults::BATCHES;

#[derive(Deserialize)]
pub(crate) struct WebhookRaw {
    url: Str,
    secret: Str,
    request_timeout: Str,
    ca_file: Str,
}

pub(crate) fn webhook(
    cx: &mut Ctx<'_>,
    s: &Sec,
    raw: WebhookRaw,
    common: Option<SinkCommon>,
) -> Option<WebhookSinkConfig> {
    let url = cx.req_url(
        s,
        "url",
        raw.url,
        "https://hooks.example.com/sebridge",
        USE_INSTEAD,
    );
    let hint = "the HMAC-SHA256 signing key (e.g. secret = \"${WEBHOOK_SECRET}\")";
    let secret = cx.req_secret(s, "secret", raw.secret, hint);
    if let Some((secret, span)) = &secret {
        if secret.expose_secret().len() < 16 {
            cx.error_at(
                span,
                format!(
                    "`secret` in {} is shorter than 16 characters; use a long random key",
                    s.what
                ),
            );
        }
    }
    let request_timeout = cx.duration_or(
        s,
        "request_timeout",
        raw.request_timeout,
        false,
        defaults::REQUEST_TIMEOUT,
    );
    let ca_file = cx.opt_file(s, "ca_file", raw.ca_file, None);
    Some(WebhookSinkConfig {
        common: common?,
        url: url?,
        secret: Secret(secret?.0),
        request_timeout: request_timeout?,
        ca_file: ca_file?,
    })
}
