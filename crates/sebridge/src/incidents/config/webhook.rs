//! `[incidents.webhook]`: how ServiceNow's close notices (`POST /hooks/servicenow`) are
//! authenticated.

use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

use super::defaults;
use crate::config::de;
use crate::config::reader::{Ctx, Sec};

/// `[incidents.webhook]`: how `POST /hooks/servicenow` is authenticated.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookConfig {
    /// HMAC-SHA256 key of `X-Sebridge-Signature`.
    #[serde(default, deserialize_with = "key")]
    pub secret: Option<SecretString>,
    /// `Authorization: Bearer` token.
    #[serde(default, deserialize_with = "key")]
    pub bearer_token: Option<SecretString>,
    /// Largest accepted age of a signed notice's timestamp.
    #[serde(default = "max_skew", deserialize_with = "de::duration")]
    pub max_skew: Duration,
}

de::defaults! {
    max_skew: Duration = defaults::MAX_SKEW;
}

fn key<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    let key = de::secret(d)?;
    if key.expose().len() < 16 {
        let m = "is too short: use at least 16 characters";
        return Err(serde::de::Error::custom(m));
    }
    Ok(Some(key.0))
}

pub(crate) fn webhook(
    cx: &mut Ctx<'_>,
    s: &Sec,
    value: &toml::Spanned<toml::de::DeValue<'_>>,
) -> Option<WebhookConfig> {
    let w = cx.de(s, value, &[]);
    if !s.has("secret") && !s.has("bearer_token") {
        cx.error(
            &s.span,
            "[incidents.webhook] needs `secret` (HMAC-SHA256 signature) or `bearer_token`: \
             an unauthenticated webhook could close any incident",
        );
        return None;
    }
    w
}
