//! Async client for Cisco XDR (formerly SecureX): the IROH OAuth2 client-credentials token
//! and the CTIA incident API on private intel.
//!
//! - The token is requested once, cached, renewed shortly before it expires (tokens live
//!   600 s) and again when the API answers 401; one renewal at a time, however many tasks
//!   share the client.
//! - Incidents: create (with `external_ids` for idempotency), get, patch, status, search and
//!   lookup by external id. CTIA's PATCH *replaces* lists, so [`Client::close`] and
//!   [`Client::add_external_reference`] read the incident first and always send the merged
//!   `external_references` (the public SecureX sample drops the existing ones).
//!
//! - Rate limit: XDR's budget is per organisation (8000 requests per rolling hour, shared by
//!   every API client). After a 429 the client sends nothing to CTIA until its `Retry-After`
//!   has passed: every call meanwhile fails at once with [`Error::RateLimited`] carrying the
//!   wait that is left, so many tasks sharing the client do not each spend a request to
//!   learn the same thing.
//!
//! It knows nothing of sebridge. Requests are not retried here ([`Error::is_retryable`]).

mod error;
mod model;

pub use error::Error;
pub use model::{short_id, ExternalReference, Incident, NewIncident, SearchQuery, SearchResult};
pub use secrecy::{ExposeSecret, SecretString};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use url::Url;

/// Renew the token this long before it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// A Cisco XDR / SecureX region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Region {
    Us,
    Eu,
    Apjc,
}

impl Region {
    pub const ALL: [Region; 3] = [Region::Us, Region::Eu, Region::Apjc];

    /// IROH (OAuth2 token, inspect, response): `https://visibility[.eu|.apjc].amp.cisco.com`.
    pub fn iroh_base(self) -> &'static str {
        match self {
            Region::Us => "https://visibility.amp.cisco.com",
            Region::Eu => "https://visibility.eu.amp.cisco.com",
            Region::Apjc => "https://visibility.apjc.amp.cisco.com",
        }
    }

    /// Private intel (CTIA): `https://private.intel[.eu|.apjc].amp.cisco.com`.
    pub fn ctia_base(self) -> &'static str {
        match self {
            Region::Us => "https://private.intel.amp.cisco.com",
            Region::Eu => "https://private.intel.eu.amp.cisco.com",
            Region::Apjc => "https://private.intel.apjc.amp.cisco.com",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Region::Us => "us",
            Region::Eu => "eu",
            Region::Apjc => "apjc",
        }
    }
}

impl FromStr for Region {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "us" | "na" | "nam" => Ok(Region::Us),
            "eu" => Ok(Region::Eu),
            "apjc" => Ok(Region::Apjc),
            _ => Err(Error::InvalidRequest(format!(
                "unknown XDR region {s:?}: expected us, eu or apjc"
            ))),
        }
    }
}

/// An XDR API client's id and password (shown once when the client is created).
#[derive(Clone)]
pub struct Credentials {
    client_id: String,
    client_password: SecretString,
}

impl Credentials {
    pub fn new(client_id: impl Into<String>, client_password: impl Into<String>) -> Self {
        Credentials {
            client_id: client_id.into(),
            client_password: SecretString::from(client_password.into()),
        }
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("client_password", &"[REDACTED]")
            .finish()
    }
}

struct Inner {
    http: reqwest::Client,
    iroh: Url,
    ctia: Url,
    credentials: Credentials,
    token: http_core::TokenCache,
    /// After a 429: no CTIA request before this instant.
    hold_until: Mutex<Option<Instant>>,
}

/// An XDR client for one organisation. Cheap to clone; clones share the token.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("iroh", &self.inner.iroh.as_str())
            .field("ctia", &self.inner.ctia.as_str())
            .field("credentials", &self.inner.credentials)
            .finish()
    }
}

/// Builds a [`Client`].
#[derive(Debug)]
pub struct ClientBuilder {
    iroh: Url,
    ctia: Url,
    credentials: Credentials,
    http: http_core::HttpSettings,
}

impl ClientBuilder {
    /// Per-request timeout (default 30 s). Ignored when an HTTP client is supplied.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.http.set_timeout(timeout);
        self
    }

    /// Shares an existing HTTP client.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http.share(http);
        self
    }

    pub fn build(self) -> Result<Client, Error> {
        let http = self.http.build(USER_AGENT).map_err(http_client_error)?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                iroh: self.iroh,
                ctia: self.ctia,
                credentials: self.credentials,
                token: http_core::TokenCache::new(TOKEN_MARGIN),
                hold_until: Mutex::new(None),
            }),
        })
    }
}

const USER_AGENT: &str = concat!("sebridge-xdr/", env!("CARGO_PKG_VERSION"));

/// An HTTP client with the settings the API expects.
pub fn default_http_client(timeout: Duration) -> Result<reqwest::Client, Error> {
    http_core::http_client(USER_AGENT, timeout).map_err(http_client_error)
}

fn http_client_error(e: reqwest::Error) -> Error {
    Error::InvalidRequest(format!("cannot build HTTP client: {e}"))
}

fn parse_base(s: &str) -> Result<Url, Error> {
    let u = Url::parse(s).map_err(|e| Error::InvalidRequest(format!("invalid URL {s:?}: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
        return Err(Error::InvalidRequest(format!(
            "URL {s:?} must be http(s)://host"
        )));
    }
    Ok(u)
}

struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    url: String,
}

impl Client {
    /// A client for a region's IROH and private-intel hosts.
    pub fn builder(region: Region, credentials: Credentials) -> Result<ClientBuilder, Error> {
        Self::builder_with_base_urls(region.iroh_base(), region.ctia_base(), credentials)
    }

    /// A client for custom hosts (a proxy, the simulator: both may be the same URL).
    pub fn builder_with_base_urls(
        iroh_base: &str,
        ctia_base: &str,
        credentials: Credentials,
    ) -> Result<ClientBuilder, Error> {
        Ok(ClientBuilder {
            iroh: parse_base(iroh_base)?,
            ctia: parse_base(ctia_base)?,
            credentials,
            http: http_core::HttpSettings::default(),
        })
    }

    /// How long CTIA asked us to wait (the rest of the last 429's `Retry-After`); `None`
    /// when requests may be sent.
    pub fn rate_limited_for(&self) -> Option<Duration> {
        let mut hold = self
            .inner
            .hold_until
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let left = hold.map(|t| t.saturating_duration_since(Instant::now()));
        match left {
            Some(d) if !d.is_zero() => Some(d),
            _ => {
                *hold = None;
                None
            }
        }
    }

    /// Holds every CTIA request for `wait` (keeping a longer hold already in force).
    fn hold_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut hold = self
            .inner
            .hold_until
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if hold.is_none_or(|t| t < until) {
            *hold = Some(until);
        }
    }

    /// How many tokens this client has requested so far (for status pages and tests).
    pub fn token_requests(&self) -> u64 {
        self.inner.token.renewals()
    }

    fn join(base: &Url, path: &str) -> Url {
        let mut url = base.clone();
        let prefix = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{prefix}{path}"));
        url
    }

    fn incident_url(&self, id: &str, tail: &str) -> Result<Url, Error> {
        let short = short_id(id);
        if short.is_empty()
            || !short
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::InvalidRequest(format!("invalid incident id {id:?}")));
        }
        Ok(Self::join(
            &self.inner.ctia,
            &format!("/ctia/incident/{short}{tail}"),
        ))
    }

    /// `POST /ctia/incident?wait_for=true`: creates an incident; `wait_for` makes it
    /// searchable (and findable by external id) before the answer, so a retry after a lost
    /// answer finds it.
    pub async fn create(&self, incident: &NewIncident) -> Result<Incident, Error> {
        let mut url = Self::join(&self.inner.ctia, "/ctia/incident");
        url.query_pairs_mut().append_pair("wait_for", "true");
        let raw = self.call(Method::POST, url, Some(incident)).await?;
        decode(raw)
    }

    /// `GET /ctia/incident/{id}` (short id `incident-…`, or the full URL id).
    pub async fn get(&self, id: &str) -> Result<Incident, Error> {
        let url = self.incident_url(id, "")?;
        decode(self.call(Method::GET, url, None::<&()>).await?)
    }

    /// `PATCH /ctia/incident/{id}`. Maps are merged, lists are *replaced*.
    pub async fn patch(&self, id: &str, fields: &Value) -> Result<Incident, Error> {
        let mut url = self.incident_url(id, "")?;
        url.query_pairs_mut().append_pair("wait_for", "true");
        decode(self.call(Method::PATCH, url, Some(fields)).await?)
    }

    /// `POST /ctia/incident/{id}/status`: the server stamps the matching `incident_time`.
    pub async fn set_status(&self, id: &str, status: &str) -> Result<Incident, Error> {
        let url = self.incident_url(id, "/status")?;
        let body = serde_json::json!({ "status": status });
        decode(self.call(Method::POST, url, Some(&body)).await?)
    }

    /// `GET /ctia/incident/external_id/{external_id}`.
    pub async fn find_by_external_id(&self, external_id: &str) -> Result<Vec<Incident>, Error> {
        let mut url = Self::join(&self.inner.ctia, "/ctia/incident/external_id/");
        // One path segment, percent-encoded (external ids contain ':').
        url.path_segments_mut()
            .map_err(|_| Error::InvalidRequest("CTIA base URL cannot take a path".into()))?
            .pop_if_empty()
            .push(external_id);
        let raw = self.call(Method::GET, url, None::<&()>).await?;
        let found: Vec<Incident> = decode(raw)?;
        // Exact match only: never adopt an incident that merely resembles ours.
        Ok(found
            .into_iter()
            .filter(|i| i.external_ids.iter().any(|e| e == external_id))
            .collect())
    }

    /// `GET /ctia/incident/search`.
    pub async fn search(&self, q: &SearchQuery) -> Result<SearchResult, Error> {
        let mut url = Self::join(&self.inner.ctia, "/ctia/incident/search");
        {
            let mut qp = url.query_pairs_mut();
            if let Some(s) = &q.query {
                qp.append_pair("query", s);
            }
            if let Some(s) = &q.status {
                qp.append_pair("status", s);
            }
            if let Some(s) = &q.severity {
                qp.append_pair("severity", s);
            }
            if let Some(l) = q.limit {
                qp.append_pair("limit", &l.to_string());
            }
            if let Some(o) = q.offset {
                qp.append_pair("offset", &o.to_string());
            }
            if let Some(s) = &q.sort_by {
                qp.append_pair("sort_by", s);
            }
        }
        let raw = self.call(Method::GET, url, None::<&()>).await?;
        let total_hits = raw
            .headers
            .get("x-total-hits")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let incidents: Vec<Incident> = decode(raw)?;
        Ok(SearchResult {
            incidents,
            total_hits,
        })
    }

    /// Adds (or refreshes) one external reference, keeping every existing one: reads the
    /// incident and PATCHes the merged list (CTIA replaces lists on PATCH).
    pub async fn add_external_reference(
        &self,
        id: &str,
        reference: ExternalReference,
    ) -> Result<Incident, Error> {
        let current = self.get(id).await?;
        let refs = model::merge_references(&current.external_references, reference);
        self.patch(id, &serde_json::json!({ "external_references": refs }))
            .await
    }

    /// Closes an incident: `status` (a `Closed…` value), `incident_time.closed`, and the
    /// merged `external_references` with `reference` (e.g. the ServiceNow record) added.
    pub async fn close(
        &self,
        id: &str,
        status: &str,
        closed_at: OffsetDateTime,
        reference: Option<ExternalReference>,
    ) -> Result<Incident, Error> {
        if !status.starts_with("Closed") {
            return Err(Error::InvalidRequest(format!(
                "{status:?} is not a closed status"
            )));
        }
        let current = self.get(id).await?;
        let refs = match reference {
            Some(r) => model::merge_references(&current.external_references, r),
            None => current.external_references.clone(),
        };
        let closed = closed_at
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| Error::InvalidRequest(format!("close time: {e}")))?;
        let body = serde_json::json!({
            "status": status,
            "incident_time": { "closed": closed },
            "external_references": refs,
        });
        self.patch(id, &body).await
    }

    async fn call<B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<Raw, Error> {
        let mut retried = false;
        loop {
            if let Some(retry_after) = self.rate_limited_for() {
                return Err(Error::RateLimited { retry_after });
            }
            let token = self.token().await?;
            let url_text = url.to_string();
            let mut req = self
                .inner
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token.expose_secret())
                .header(reqwest::header::ACCEPT, "application/json");
            if let Some(b) = body {
                req = req.json(b);
            }
            let http_core::Response {
                status,
                headers,
                body: body_bytes,
            } = http_core::send(req, &url_text, http_core::MAX_BODY_BYTES).await?;
            if status == StatusCode::UNAUTHORIZED && !retried {
                // Expired or revoked before our clock said so: a new token, once.
                retried = true;
                self.inner.token.invalidate(&token).await;
                continue;
            }
            if status.is_success() {
                return Ok(Raw {
                    status,
                    headers,
                    body: body_bytes,
                    url: url_text,
                });
            }
            let e = status_error(status, &headers, &body_bytes);
            if let Error::RateLimited { retry_after } = &e {
                self.hold_for(*retry_after);
            }
            return Err(e);
        }
    }

    /// The cached token, renewed when it is about to expire.
    async fn token(&self) -> Result<SecretString, Error> {
        self.inner.token.get(|_| self.token_request()).await
    }

    /// `POST /iroh/oauth2/token` with the client credentials grant.
    async fn token_request(&self) -> Result<http_core::Token, Error> {
        let url = Self::join(&self.inner.iroh, "/iroh/oauth2/token");
        let url_text = url.to_string();
        let req = self
            .inner
            .http
            .post(url)
            .basic_auth(
                &self.inner.credentials.client_id,
                Some(self.inner.credentials.client_password.expose_secret()),
            )
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body("grant_type=client_credentials");
        let http_core::Response {
            status,
            headers,
            body,
        } = http_core::send(req, &url_text, http_core::MAX_BODY_BYTES).await?;
        if !status.is_success() {
            return Err(status_error(status, &headers, &body));
        }
        #[derive(serde::Deserialize)]
        struct TokenBody {
            access_token: String,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let t: TokenBody = serde_json::from_slice(&body).map_err(|e| Error::Malformed {
            url: url_text,
            reason: format!("unexpected token response: {e}"),
        })?;
        Ok(http_core::Token::new(
            SecretString::from(t.access_token),
            None,
            // Tokens live 600 s unless the server says otherwise.
            Duration::from_secs(t.expires_in.unwrap_or(600)),
        ))
    }
}

fn decode<T: serde::de::DeserializeOwned>(raw: Raw) -> Result<T, Error> {
    let _ = raw.status;
    serde_json::from_slice(&raw.body).map_err(|e| Error::Malformed {
        url: raw.url,
        reason: format!("{e}; body starts: {}", error::snippet(&raw.body)),
    })
}

fn status_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
    let details = error::error_details(body);
    match status.as_u16() {
        400 => Error::BadRequest { details },
        401 => Error::Unauthorized { details },
        403 => Error::Forbidden { details },
        404 => Error::NotFound { details },
        429 => Error::RateLimited {
            // Whole seconds only, as CTIA sends.
            retry_after: http_core::rate_limit_wait(http_core::retry_after_seconds(headers)),
        },
        code @ 500..=599 => Error::Server {
            status: code,
            details,
        },
        code => Error::Status {
            status: code,
            details,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_and_debug() {
        assert_eq!(
            "eu".parse::<Region>().unwrap().iroh_base(),
            "https://visibility.eu.amp.cisco.com"
        );
        assert_eq!(
            Region::Apjc.ctia_base(),
            "https://private.intel.apjc.amp.cisco.com"
        );
        assert!("mars".parse::<Region>().is_err());
        let c = Credentials::new("client-abc", "pa55w0rd-secret");
        assert!(!format!("{c:?}").contains("pa55w0rd"));
    }

    #[test]
    fn incident_urls_refuse_odd_ids() {
        let c = Client::builder(Region::Us, Credentials::new("a", "b"))
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(
            c.incident_url(
                "https://private.intel.amp.cisco.com:443/ctia/incident/incident-0b6b1c9e",
                ""
            )
            .unwrap()
            .as_str(),
            "https://private.intel.amp.cisco.com/ctia/incident/incident-0b6b1c9e"
        );
        assert!(c.incident_url("../../x y", "").is_err());
    }

    #[test]
    fn rate_limit_reads_retry_after() {
        let mut h = HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "12".parse().unwrap());
        let e = status_error(StatusCode::TOO_MANY_REQUESTS, &h, b"{}");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(12)));
        assert!(e.is_retryable());
        assert!(!status_error(StatusCode::BAD_REQUEST, &h, b"{}").is_retryable());
    }
}
