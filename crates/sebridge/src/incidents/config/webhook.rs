//! `[incidents.webhook]`: how ServiceNow's close notices (`POST /hooks/servicenow`) are
//! authenticated.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::defaults;
use crate::config::reader::{Ctx, Sec};
use crate::config::values::Str;

/// `[incidents.webhook]`: how `POST /hooks/servicenow` is authenticated.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// HMAC-SHA256 key of `X-Sebridge-Signature`.
    pub secret: Option<SecretString>,
    /// `Authorization: Bearer` token.
    pub bearer_token: Option<SecretString>,
    /// Largest accepted age of a signed notice's timestamp.
    pub max_skew: Duration,
}

#[derive(Deserialize)]
pub(crate) struct WebhookRaw {
    secret: Str,
    bearer_token: Str,
    max_skew: Str,
}

pub(crate) fn webhook(cx: &mut Ctx<'_>, s: &Sec, raw: WebhookRaw) -> Option<WebhookConfig> {
    let given = raw.secret.is_some() || raw.bearer_token.is_some();
    let key = |cx: &mut Ctx<'_>, name: &str, f: Str| -> Option<Option<SecretString>> {
        match cx.secret(s, name, f)? {
            Some((v, span)) if v.expose_secret().len() < 16 => {
                cx.error_at(
                    &span,
                    format!(
                        "`{name}` in [incidents.webhook] is too short: use at least 16 characters"
                    ),
                );
                None
            }
            other => Some(other.map(|(v, _)| v)),
        }
    };
    let secret = key(cx, "secret", raw.secret);
    let bearer_token = key(cx, "bearer_token", raw.bearer_token);
    let max_skew = cx.duration_or(s, "max_skew", raw.max_skew, false, defaults::MAX_SKEW);
    if !given {
        cx.error(
            &s.span,
            "[incidents.webhook] needs `secret` (HMAC-SHA256 signature) or `bearer_token`: \
             an unauthenticated webhook could close any incident",
        );
        return None;
    }
    Some(WebhookConfig {
        secret: secret?,
        bearer_token: bearer_token?,
        max_skew: max_skew?,
    })
}
