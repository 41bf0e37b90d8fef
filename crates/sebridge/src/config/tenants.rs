//! `[tenants.<name>]`: one customer organisation and how to reach its API.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use toml::de::{DeTable, DeValue};
use toml::Spanned;
use url::Url;

use super::de;
use super::reader::{fields, Ctx, Sec, Span};
use secure_endpoint::Region;

/// `[tenants.<name>]`: one customer organisation.
#[derive(Debug, Clone, Deserialize)]
pub struct TenantConfig {
    /// The table's name.
    #[serde(skip)]
    pub name: String,
    /// Read from [`EndpointDe`]'s keys.
    #[serde(skip, default = "no_endpoint")]
    pub endpoint: Endpoint,
    /// Not a secret, but held to the same rules (a stray space fails much later).
    #[serde(deserialize_with = "client_id")]
    pub client_id: String,
    #[serde(deserialize_with = "api_key")]
    pub api_key: SecretString,
    /// Defaults to true; disabled tenants are kept in the config but never polled.
    #[serde(default = "yes", deserialize_with = "de::boolean")]
    pub enabled: bool,
}

/// The keys [`Endpoint`] is chosen by.
#[derive(Deserialize)]
struct EndpointDe {
    #[serde(default, deserialize_with = "region")]
    region: Option<Region>,
    #[serde(default, deserialize_with = "base_url")]
    base_url: Option<Url>,
}

de::defaults! {
    yes: bool = true;
    no_endpoint: Endpoint = Endpoint::Region(Region::Us);
}
fn client_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    de::secret(d).map(|c| c.expose().to_string())
}
fn api_key<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
    de::secret(d).map(|k| k.0)
}

fn region<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Region>, D::Error> {
    let value = String::deserialize(d)?;
    // Only the documented spellings: one way to write a region keeps configs greppable.
    if let Some(r) = Region::ALL.into_iter().find(|reg| reg.as_str() == value) {
        return Ok(Some(r));
    }
    let mut message = format!("unknown region `{value}` in {{what}}; expected one of us, eu, apjc");
    if let Ok(alias) = value.parse::<Region>() {
        message.push_str(&format!(" (did you mean `{alias}`?)"));
    }
    Err(serde::de::Error::custom(message))
}

fn base_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    let example = "https://api.amp.cisco.com\" or \"http://127.0.0.1:9000";
    de::url_of(d, example, "client_id and api_key", false).map(Some)
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

    /// The `${VAR}`s of its client id and API key that were not set (the config was loaded
    /// with [`super::EnvPolicy::Inspect`]): its API cannot be called.
    pub fn unset_credentials(&self) -> Vec<&str> {
        [self.client_id.as_str(), self.api_key.expose_secret()]
            .into_iter()
            .filter_map(super::unset_reference)
            .collect()
    }

    /// The tenant's API credentials.
    pub fn credentials(&self) -> secure_endpoint::Credentials {
        secure_endpoint::Credentials::new(
            self.client_id.clone(),
            self.api_key.expose_secret().to_string(),
        )
    }
}

pub(crate) fn tenant(
    cx: &mut Ctx<'_>,
    name: &str,
    key_span: Span,
    table: &DeTable<'_>,
    value: &Spanned<DeValue<'_>>,
) -> Option<TenantConfig> {
    let s = Sec::new(format!("tenant `{name}`"), key_span, table);
    let keys = [fields::<EndpointDe>(), fields::<TenantConfig>()].concat();
    let typos = cx.check_keys(&s, &keys);
    // A key reported as a typo of `k` counts as given: its report says what to fix.
    let given = |k: &str| s.has(k) || typos.iter().any(|t| t == k);
    let endpoint = match (given("region"), given("base_url")) {
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
            cx.de::<EndpointDe>(&s, value, &[]);
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
        _ => match cx.de::<EndpointDe>(&s, value, &[]) {
            Some(EndpointDe {
                region: Some(r), ..
            }) => Some(Endpoint::Region(r)),
            Some(EndpointDe {
                base_url: Some(u), ..
            }) => Some(Endpoint::BaseUrl(u)),
            _ => None,
        },
    };
    let required: Vec<(&str, &str)> = [
        (
            "client_id",
            "the API client id (e.g. client_id = \"${ACME_CLIENT_ID}\")",
        ),
        (
            "api_key",
            "the API key (e.g. api_key = \"${ACME_API_KEY}\")",
        ),
    ]
    .into_iter()
    .filter(|(k, _)| !given(k))
    .collect();
    let mut t: TenantConfig = cx.de(&s, value, &required)?;
    t.name = name.to_string();
    t.endpoint = endpoint?;
    Some(t)
}
