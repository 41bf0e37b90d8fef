//! `[incidents.xdr]`: the Cisco XDR tenant incidents are opened in.

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::defaults;
use crate::config::reader::{Ctx, Sec};
use crate::config::values::Str;

/// `[incidents.xdr]`.
#[derive(Debug, Clone)]
pub struct XdrConfig {
    pub endpoint: XdrEndpoint,
    pub client_id: String,
    pub client_password: SecretString,
    pub request_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XdrEndpoint {
    Region(xdr::Region),
    /// One base for both the token endpoint and CTIA (a proxy, the simulator).
    BaseUrl(Url),
}

#[derive(Deserialize)]
pub(crate) struct XdrRaw {
    region: Str,
    base_url: Str,
    client_id: Str,
    client_password: Str,
    request_timeout: Str,
}

pub(crate) fn xdr(cx: &mut Ctx<'_>, s: &Sec, raw: XdrRaw) -> Option<XdrConfig> {
    let endpoint = match (raw.region.is_some(), raw.base_url.is_some()) {
        (true, true) | (false, false) => {
            cx.error(
                &s.span,
                "[incidents.xdr] needs exactly one of `region` (us, eu, apjc) and `base_url`",
            );
            None
        }
        (true, false) => match cx.string(s, "region", raw.region).flatten() {
            Some((region, span)) => match region.as_str() {
                "us" => Some(XdrEndpoint::Region(xdr::Region::Us)),
                "eu" => Some(XdrEndpoint::Region(xdr::Region::Eu)),
                "apjc" => Some(XdrEndpoint::Region(xdr::Region::Apjc)),
                other => {
                    cx.error_at(
                        &span,
                        format!("unknown region `{other}` in [incidents.xdr]; expected one of us, eu, apjc"),
                    );
                    None
                }
            },
            None => None,
        },
        (false, true) => {
            let example = "https://private.intel.amp.cisco.com";
            let use_instead = "`client_id` and `client_password`";
            cx.http_url(s, "base_url", raw.base_url, example, use_instead, true)
                .flatten()
                .map(XdrEndpoint::BaseUrl)
        }
    };
    let client_id = cx.req_string(
        s,
        "client_id",
        raw.client_id,
        "the XDR API client id (client-…)",
    );
    let hint = "the XDR API client password, e.g. \"${XDR_CLIENT_PASSWORD}\"";
    let client_password = cx.req_secret(s, "client_password", raw.client_password, hint);
    let request_timeout = cx.duration_or(
        s,
        "request_timeout",
        raw.request_timeout,
        false,
        defaults::REQUEST_TIMEOUT,
    );
    Some(XdrConfig {
        endpoint: endpoint?,
        client_id: client_id?,
        client_password: client_password?.0,
        request_timeout: request_timeout?,
    })
}
