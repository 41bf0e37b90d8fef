//! `[incidents.servicenow]`: the ServiceNow instance incidents are opened in.

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::defaults;
use crate::config::reader::{Ctx, Sec};
use crate::config::values::{List, Str};

/// `[incidents.servicenow]`.
#[derive(Debug, Clone)]
pub struct ServiceNowConfig {
    pub instance_url: Url,
    /// `incident` (default) or `sn_si_incident` (Security Incident Response).
    pub table: String,
    pub auth: ServiceNowAuth,
    pub caller_id: Option<String>,
    pub assignment_group: Option<String>,
    pub category: Option<String>,
    pub request_timeout: Duration,
    /// `state` values meaning the analyst is done; the first is what `sebridge incidents
    /// close` sets. Default: `6, 7, 8` (Resolved, Closed, Canceled) for `incident`, `3, 7`
    /// (Closed, Cancelled) for `sn_si_incident`.
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

#[derive(Deserialize)]
pub(crate) struct ServiceNowRaw {
    instance_url: Str,
    table: Str,
    username: Str,
    password: Str,
    client_id: Str,
    client_secret: Str,
    caller_id: Str,
    assignment_group: Str,
    category: Str,
    request_timeout: Str,
    closed_states: List<toml::Value>,
}

pub(crate) fn servicenow(
    cx: &mut Ctx<'_>,
    s: &Sec,
    raw: ServiceNowRaw,
) -> Option<ServiceNowConfig> {
    let example = "https://acme.service-now.com";
    let instance_url = cx.req_url(
        s,
        "instance_url",
        raw.instance_url,
        example,
        "`username` and `password`",
    );
    let table = match cx.non_empty(s, "table", raw.table)? {
        Some((t, _)) if t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => Some(t),
        Some((_, span)) => {
            cx.error_at(
                &span,
                "`table` in [incidents.servicenow] must be a table name such as \"incident\" or \"sn_si_incident\"",
            );
            None
        }
        None => Some(defaults::TABLE.to_string()),
    };
    let user_hint = "the integration user (role itil, or sn_si.analyst for sn_si_incident)";
    let username = cx.req_string(s, "username", raw.username, user_hint);
    let password = cx.req_secret(
        s,
        "password",
        raw.password,
        "its password, e.g. \"${SNOW_PASSWORD}\"",
    );
    let auth = if raw.client_id.is_some() || raw.client_secret.is_some() {
        let id = cx.req_string(
            s,
            "client_id",
            raw.client_id,
            "the OAuth application's client id",
        );
        let hint = "the OAuth application's client secret";
        let secret = cx.req_secret(s, "client_secret", raw.client_secret, hint);
        match (id, secret, username, password) {
            (Some(client_id), Some((client_secret, _)), Some(username), Some((password, _))) => {
                Some(ServiceNowAuth::OAuth {
                    client_id,
                    client_secret,
                    username,
                    password,
                })
            }
            _ => None,
        }
    } else {
        match (username, password) {
            (Some(username), Some((password, _))) => {
                Some(ServiceNowAuth::Basic { username, password })
            }
            _ => None,
        }
    };
    let caller_id = cx.opt_string(s, "caller_id", raw.caller_id);
    let assignment_group = cx.opt_string(s, "assignment_group", raw.assignment_group);
    let category = cx.opt_string(s, "category", raw.category);
    let request_timeout = cx.duration_or(
        s,
        "request_timeout",
        raw.request_timeout,
        false,
        defaults::REQUEST_TIMEOUT,
    );
    let states = cx.list(
        s,
        "closed_states",
        raw.closed_states,
        |cx, v, span, out| {
            let state = match v {
                toml::Value::Integer(n) if n >= 0 => Some(n.to_string()),
                toml::Value::String(t)
                    if !t.trim().is_empty() && t.trim().chars().all(|c| c.is_ascii_digit()) =>
                {
                    Some(t.trim().to_string())
                }
                _ => None,
            };
            let Some(state) = state else {
                cx.error_at(
                &span,
                "`closed_states` in [incidents.servicenow] holds state numbers such as 6 or \"7\"",
            );
                return false;
            };
            out.push(state);
            true
        },
        "state numbers",
    );
    let closed_states = match states {
        Some(Some((states, span))) if states.is_empty() => {
            cx.error_at(
                &span,
                "`closed_states` in [incidents.servicenow] is empty: no ticket could ever close an incident",
            );
            None
        }
        Some(Some((states, _))) => Some(states),
        // The default state models (KB0564465; SIR's own model for sn_si_incident).
        Some(None) => match table.as_deref() {
            Some("sn_si_incident") => Some(vec!["3".into(), "7".into()]),
            _ => Some(vec!["6".into(), "7".into(), "8".into()]),
        },
        None => None,
    };
    Some(ServiceNowConfig {
        instance_url: instance_url?,
        table: table?,
        auth: auth?,
        caller_id: caller_id?,
        assignment_group: assignment_group?,
        category: category?,
        request_timeout: request_timeout?,
        closed_states: closed_states?,
    })
}
