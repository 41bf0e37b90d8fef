//! `[tenants.<name>]`: one customer organisation and how to reach its API.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;
use url::Url;

use super::reader::{fields, Ctx, Sec, Span};
use super::values::{Bool, Str};
use secure_endpoint::Region;

/// `[tenants.<name>]`: one customer organisation.
#[derive(Debug, Clone)]
pub struct TenantConfig {
    pub name: String,
    pub endpoint: Endpoint,
    pub client_id: String,
    pub api_key: SecretString,
    /// Defaults to true; disabled tenants are kept in the config but never polled.
    pub enabled: bool,
}

/// Where a tenant's API is: a Cisco region, or an explicit base URL (simulator, proxy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Region(Region),
    BaseUrl(Url),
}

impl TenantConfig {
    /// The REST API base URL of the tenant.
    pub fn base_url(&self) -> Url {
        match &self.endpoint {
            Endpoint::BaseUrl(url) => url.clone(),
            Endpoint::Region(region) => match Url::parse(region.api_base()) {
                Ok(url) => url,
                // The region table is a compile-time constant of our own client crate.
                Err(e) => panic!("API base of region {region} is not a URL: {e}"),
            },
        }
    }

    /// The tenant's API credentials.
    pub fn credentials(&self) -> secure_endpoint::Credentials {
        secure_endpoint::Credentials::new(
            self.client_id.clone(),
            self.api_key.expose_secret().to_string(),
        )
    }
}

/// The table as written.
#[derive(Deserialize)]
struct TenantRaw {
    region: Str,
    base_url: Str,
    client_id: Str,
    api_key: Str,
    enabled: Bool,
}

pub(crate) fn tenant(
    cx: &mut Ctx<'_>,
    name: &str,
    key_span: Span,
    table: &DeTable<'_>,
    value: &Spanned<DeValue<'_>>,
) -> Option<TenantConfig> {
    let s = Sec::new(format!("tenant `{name}`"), key_span, table);
    let typos = cx.check_keys(&s, fields::<TenantRaw>());
    let raw: TenantRaw = cx.read(value)?;
    // A key reported as a typo of `k` counts as given: its report says what to fix.
    let given = |present: bool, k: &str| present || typos.iter().any(|t| t == k);
    let endpoint = match (
        given(raw.region.is_some(), "region"),
        given(raw.base_url.is_some(), "base_url"),
    ) {
        (true, true) => {
            cx.error(
                &s.key("base_url"),
                format!(
                    "{} sets both `region` and `base_url`; set exactly one \
                     (region for Cisco's cloud, base_url for a simulator or proxy)",
                    s.what
                ),
            );
            // Still check both values, so their own problems show up in this pass too.
            region(cx, &s, raw.region);
            base_url(cx, &s, raw.base_url);
            None
        }
        (false, false) => {
            cx.error(
                &s.span,
                format!(
                    "{} has neither `region` nor `base_url`; set exactly one \
                     (region = \"us\", \"eu\" or \"apjc\"; or base_url = \"https://...\")",
                    s.what
                ),
            );
            None
        }
        (true, false) => region(cx, &s, raw.region).map(Endpoint::Region),
        (false, true) => base_url(cx, &s, raw.base_url).map(Endpoint::BaseUrl),
    };
    let client_id = if given(raw.client_id.is_some(), "client_id") {
        // Not a secret, but held to the same rules (a stray space fails much later).
        cx.secret(&s, "client_id", raw.client_id)
            .flatten()
            .map(|(c, _)| c.expose_secret().to_string())
    } else {
        let hint = "the API client id (e.g. client_id = \"${ACME_CLIENT_ID}\")";
        cx.missing(&s, "client_id", hint);
        None
    };
    let api_key = if given(raw.api_key.is_some(), "api_key") {
        cx.secret(&s, "api_key", raw.api_key)
            .flatten()
            .map(|(k, _)| k)
    } else {
        let hint = "the API key (e.g. api_key = \"${ACME_API_KEY}\")";
        cx.missing(&s, "api_key", hint);
        None
    };
    let enabled = cx.bool_or(&s, "enabled", raw.enabled, true);
    Some(TenantConfig {
        name: name.to_string(),
        endpoint: endpoint?,
        client_id: client_id?,
        api_key: api_key?,
        enabled: enabled?,
    })
}

fn region(cx: &mut Ctx<'_>, s: &Sec, f: Str) -> Option<Region> {
    let (value, span) = cx.string(s, "region", f)??;
    // Only the documented spellings: one way to write a region keeps configs greppable.
    let found = Region::ALL.into_iter().find(|reg| reg.as_str() == value);
    if found.is_none() {
        let mut message = format!(
            "unknown region `{value}` in {}; expected one of us, eu, apjc",
            s.what
        );
        if let Ok(alias) = value.parse::<Region>() {
            message.push_str(&format!(" (did you mean `{alias}`?)"));
        }
        cx.error_at(&span, message);
    }
    found
}

fn base_url(cx: &mut Ctx<'_>, s: &Sec, f: Str) -> Option<Url> {
    let example = "https://api.amp.cisco.com\" or \"http://127.0.0.1:9000";
    cx.http_url(s, "base_url", f, example, "client_id and api_key", false)?
}
