//! `[incidents.servicenow]`: the ServiceNow instance incidents are opened in.

use std::time::Duration;

use secrecy::SecretString;
use serde::de::Error;
use serde::{Deserialize, Deserializer};
use url::Url;

use super::defaults;
use crate::config::de;
use crate::config::reader::{fields, Ctx, Sec};

/// `[incidents.servicenow]`.
#[derive(Debug, Clone, Deserialize)]
pub struct ServiceNowConfig {
    #[serde(deserialize_with = "instance_url")]
    pub instance_url: Url,
    /// `incident` (default) or `sn_si_incident` (Security Incident Response).
    #[serde(default = "table", deserialize_with = "table_name")]
    pub table: String,
    /// Read from [`AuthDe`]'s keys.
    #[serde(skip, default = "no_auth")]
    pub auth: ServiceNowAuth,
    #[serde(default, deserialize_with = "de::opt_text")]
    pub caller_id: Option<String>,
    #[serde(default, deserialize_with = "de::opt_text")]
    pub assignment_group: Option<String>,
    #[serde(default, deserialize_with = "de::opt_text")]
    pub category: Option<String>,
    #[serde(default = "request_timeout", deserialize_with = "de::duration")]
    pub request_timeout: Duration,
    /// `state` values meaning the analyst is done; the first is what `sebridge incidents
    /// close` sets. Default: `6, 7, 8` (Resolved, Closed, Canceled) for `incident`, `3, 7`
    /// (Closed, Cancelled) for `sn_si_incident`.
    #[serde(default, deserialize_with = "closed_states")]
    pub closed_states: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum ServiceNowAuth {
    Basic {
        username: String,
        password: SecretString,
    },
    OAuth {
        client_id: String,
        client_secret: SecretString,
        username: String,
        password: SecretString,
    },
}

/// The keys [`ServiceNowAuth`] is chosen by.
#[derive(Deserialize)]
struct AuthDe {
    #[serde(deserialize_with = "de::text")]
    username: String,
    #[serde(deserialize_with = "secret")]
    password: SecretString,
    #[serde(default, deserialize_with = "de::opt_text")]
    client_id: Option<String>,
    #[serde(default, deserialize_with = "opt_secret")]
    client_secret: Option<SecretString>,
}

const EXAMPLE: &str = "https://acme.service-now.com";

de::defaults! {
    table: String = defaults::TABLE.to_string();
    request_timeout: Duration = defaults::REQUEST_TIMEOUT;
}
fn no_auth() -> ServiceNowAuth {
    ServiceNowAuth::Basic {
        username: String::new(),
        password: SecretString::from(String::new()),
    }
}
fn instance_url<'de, D: Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
    de::http_url(d, EXAMPLE, "`username` and `password`")
}
fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
    de::secret(d).map(|s| s.0)
}
fn opt_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    de::secret(d).map(|s| Some(s.0))
}
fn table_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let t = String::deserialize(d)?;
    match t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        _ if t.trim().is_empty() => Err(D::Error::custom("is empty")),
        true => Ok(t),
        false => Err(D::Error::custom(
            "must be a table name such as \"incident\" or \"sn_si_incident\"",
        )),
    }
}
fn closed_states<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let states = de::list(d, |v| match v {
        toml::Value::Integer(n) if n >= 0 => Ok(n.to_string()),
        toml::Value::String(t)
            if !t.trim().is_empty() && t.trim().chars().all(|c| c.is_ascii_digit()) =>
        {
            Ok(t.trim().to_string())
        }
        _ => Err("`{key}` in {what} holds state numbers such as 6 or \"7\"".into()),
    })?;
    match states.is_empty() {
        true => Err(D::Error::custom(
            "is empty: no ticket could ever close an incident",
        )),
        false => Ok(states),
    }
}

/// The keys of the table, in the documented order (the auth keys after `table`).
pub(crate) fn keys() -> Vec<&'static str> {
    let mut keys = fields::<ServiceNowConfig>().to_vec();
    keys.splice(2..2, fields::<AuthDe>().iter().copied());
    keys
}

pub(crate) fn servicenow(
    cx: &mut Ctx<'_>,
    s: &Sec,
    value: &toml::Spanned<toml::de::DeValue<'_>>,
) -> Option<ServiceNowConfig> {
    let url = format!("an http(s) URL such as \"{EXAMPLE}\"");
    let c = cx.de::<ServiceNowConfig>(s, value, &[("instance_url", &url)]);
    let mut required = vec![
        (
            "username",
            "the integration user (role itil, or sn_si.analyst for sn_si_incident)",
        ),
        ("password", "its password, e.g. \"${SNOW_PASSWORD}\""),
    ];
    if s.has("client_id") || s.has("client_secret") {
        required.push(("client_id", "the OAuth application's client id"));
        required.push(("client_secret", "the OAuth application's client secret"));
    }
    let auth = match cx.de::<AuthDe>(s, value, &required)? {
        AuthDe {
            username,
            password,
            client_id: Some(client_id),
            client_secret: Some(client_secret),
        } => ServiceNowAuth::OAuth {
            client_id,
            client_secret,
            username,
            password,
        },
        AuthDe {
            username, password, ..
        } => ServiceNowAuth::Basic { username, password },
    };
    let mut c = c?;
    c.auth = auth;
    if !s.has("closed_states") {
        // The default state models (KB0564465; SIR's own model for sn_si_incident).
        c.closed_states = match c.table.as_str() {
            "sn_si_incident" => vec!["3".into(), "7".into()],
            _ => vec!["6".into(), "7".into(), "8".into()],
        };
    }
    Some(c)
}
