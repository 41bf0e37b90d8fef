//! `[incidents.xdr]`: the Cisco XDR tenant incidents are opened in.

use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};
use url::Url;

use super::defaults;
use crate::config::de;
use crate::config::reader::{fields, Ctx, Sec};

/// `[incidents.xdr]`.
#[derive(Debug, Clone, Deserialize)]
pub struct XdrConfig {
    /// Read from [`EndpointDe`]'s keys.
    #[serde(skip, default = "no_endpoint")]
    pub endpoint: XdrEndpoint,
    #[serde(deserialize_with = "de::text")]
    pub client_id: String,
    #[serde(deserialize_with = "password")]
    pub client_password: SecretString,
    #[serde(default = "request_timeout", deserialize_with = "de::duration")]
    pub request_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XdrEndpoint {
    Region(xdr::Region),
    /// One base for both the token endpoint and CTIA (a proxy, the simulator).
    BaseUrl(Url),
}

/// The keys [`XdrEndpoint`] is chosen by.
#[derive(Deserialize)]
struct EndpointDe {
    #[serde(default, deserialize_with = "region")]
    region: Option<xdr::Region>,
    #[serde(default, deserialize_with = "base_url")]
    base_url: Option<Url>,
}

de::defaults! {
    no_endpoint: XdrEndpoint = XdrEndpoint::Region(xdr::Region::Us);
    request_timeout: Duration = defaults::REQUEST_TIMEOUT;
}
fn password<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
    de::secret(d).map(|s| s.0)
}
fn region<'de, D: Deserializer<'de>>(d: D) -> Result<Option<xdr::Region>, D::Error> {
    let region = String::deserialize(d)?;
    match region.as_str() {
        "us" => Ok(Some(xdr::Region::Us)),
        "eu" => Ok(Some(xdr::Region::Eu)),
        "apjc" => Ok(Some(xdr::Region::Apjc)),
        other => Err(serde::de::Error::custom(format!(
            "unknown region `{other}` in {{what}}; expected one of us, eu, apjc"
        ))),
    }
}
fn base_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    let example = "https://private.intel.amp.cisco.com";
    de::http_url(d, example, "`client_id` and `client_password`").map(Some)
}

/// The keys of the table: the endpoint's, then the others.
pub(crate) fn keys() -> Vec<&'static str> {
    [fields::<EndpointDe>(), fields::<XdrConfig>()].concat()
}

pub(crate) fn xdr(
    cx: &mut Ctx<'_>,
    s: &Sec,
    value: &toml::Spanned<toml::de::DeValue<'_>>,
) -> Option<XdrConfig> {
    let endpoint = if s.has("region") == s.has("base_url") {
        cx.error(
            &s.span,
            "[incidents.xdr] needs exactly one of `region` (us, eu, apjc) and `base_url`",
        );
        None
    } else {
        match cx.de::<EndpointDe>(s, value, &[]) {
            Some(EndpointDe {
                region: Some(r), ..
            }) => Some(XdrEndpoint::Region(r)),
            Some(EndpointDe {
                base_url: Some(u), ..
            }) => Some(XdrEndpoint::BaseUrl(u)),
            _ => None,
        }
    };
    let required = [
        ("client_id", "the XDR API client id (client-…)"),
        (
            "client_password",
            "the XDR API client password, e.g. \"${XDR_CLIENT_PASSWORD}\"",
        ),
    ];
    let mut x: XdrConfig = cx.de(s, value, &required)?;
    x.endpoint = endpoint?;
    Some(x)
}
