//! Async client for the ServiceNow Table API, for one table (`incident` by default,
//! `sn_si_incident` for Security Incident Response, any other by name).
//!
//! It creates, reads, patches and queries records (`sysparm_query`, `sysparm_fields`,
//! `sysparm_limit`, `sysparm_offset`), adds work notes, authenticates with HTTP Basic or OAuth
//! (password grant with refresh, the token cached and renewed before it expires and on 401),
//! turns the `{"error":{"message","detail"},"status":"failure"}` envelope into [`Error`], and
//! reports 429 with its `Retry-After`. It knows nothing of sebridge. Requests are not retried
//! here; the caller owns the retry policy ([`Error::is_retryable`]).

mod error;

pub use error::Error;
pub use secrecy::{ExposeSecret, SecretString};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Default incident state values (`incident.state` choice list of the Helsinki+ state model).
/// Instances can change them; [`is_done_state`] covers the defaults.
pub mod state {
    pub const NEW: &str = "1";
    pub const IN_PROGRESS: &str = "2";
    pub const ON_HOLD: &str = "3";
    pub const RESOLVED: &str = "6";
    pub const CLOSED: &str = "7";
    pub const CANCELED: &str = "8";
}

/// Resolved, Closed or Canceled: the analyst is done with the ticket.
pub fn is_done_state(state: &str) -> bool {
    matches!(
        state.trim(),
        state::RESOLVED | state::CLOSED | state::CANCELED
    )
}

/// Renew an OAuth token this long before it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// How the client authenticates.
#[derive(Clone)]
pub enum Auth {
    /// HTTP Basic with an integration user (role `itil`, or `sn_si.analyst` for SIR).
    Basic {
        username: String,
        password: SecretString,
    },
    /// OAuth 2.0 password grant on `/oauth_token.do` (Application Registry entry).
    OAuth {
        client_id: String,
        client_secret: SecretString,
        username: String,
        password: SecretString,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"[REDACTED]")
                .finish(),
            Auth::OAuth {
                client_id,
                username,
                ..
            } => f
                .debug_struct("OAuth")
                .field("client_id", client_id)
                .field("client_secret", &"[REDACTED]")
                .field("username", username)
                .field("password", &"[REDACTED]")
                .finish(),
        }
    }
}

/// A record: the fields as the instance sent them (strings, by default).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Record(pub Map<String, Value>);

impl Record {
    /// A field as text (`""` and absent are `None`). Reference fields sent as
    /// `{"value": …, "link": …}` give their value.
    pub fn get_str(&self, field: &str) -> Option<&str> {
        match self.0.get(field)? {
            Value::String(s) if !s.is_empty() => Some(s),
            Value::Object(o) => o.get("value").and_then(Value::as_str),
            _ => None,
        }
    }

    pub fn sys_id(&self) -> Option<&str> {
        self.get_str("sys_id")
    }

    pub fn number(&self) -> Option<&str> {
        self.get_str("number")
    }

    pub fn state(&self) -> Option<&str> {
        self.get_str("state")
    }
}

/// `GET /api/now/table/{table}` parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// Encoded query, e.g. `correlation_id=abc^stateIN6,7,8^ORDERBYsys_updated_on`.
    pub query: String,
    /// Fields to return; empty = all.
    pub fields: Vec<String>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// One page of a query.
#[derive(Clone, Debug, Default)]
pub struct QueryPage {
    pub records: Vec<Record>,
    /// `X-Total-Count`, when sent.
    pub total: Option<u64>,
    /// Whether the `Link` header names a `next` page.
    pub has_next: bool,
}

/// Escapes a value for an encoded query: `^` separates conditions, so a literal one is `^^`.
pub fn escape_query_value(value: &str) -> String {
    value.replace('^', "^^")
}

/// Builds a [`Client`].
#[derive(Debug)]
pub struct ClientBuilder {
    instance: Url,
    table: String,
    auth: Auth,
    http: http_core::HttpSettings,
    api_version: Option<String>,
}

impl ClientBuilder {
    /// The table (default `incident`).
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

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

    /// Uses the versioned path `/api/now/{version}/table/...` (e.g. `v2`, as the SXO atomics).
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = Some(version.into());
        self
    }

    pub fn build(self) -> Result<Client, Error> {
        if self.table.is_empty()
            || !self
                .table
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(Error::InvalidRequest(format!(
                "invalid table name {:?}",
                self.table
            )));
        }
        if let Some(v) = &self.api_version {
            if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(Error::InvalidRequest(format!("invalid API version {v:?}")));
            }
        }
        let http = self.http.build(USER_AGENT).map_err(http_client_error)?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                instance: self.instance,
                table: self.table,
                api_version: self.api_version,
                auth: self.auth,
                token: http_core::TokenCache::new(TOKEN_MARGIN),
            }),
        })
    }
}

const USER_AGENT: &str = concat!("sebridge-servicenow/", env!("CARGO_PKG_VERSION"));

/// An HTTP client with the settings the instance expects.
pub fn default_http_client(timeout: Duration) -> Result<reqwest::Client, Error> {
    http_core::http_client(USER_AGENT, timeout).map_err(http_client_error)
}

fn http_client_error(e: reqwest::Error) -> Error {
    Error::InvalidRequest(format!("cannot build HTTP client: {e}"))
}

struct Inner {
    http: reqwest::Client,
    instance: Url,
    table: String,
    api_version: Option<String>,
    auth: Auth,
    /// The OAuth access token (unused with Basic).
    token: http_core::TokenCache,
}

/// A Table API client for one instance and table. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("instance", &self.inner.instance.as_str())
            .field("table", &self.inner.table)
            .field("auth", &self.inner.auth)
            .finish()
    }
}

struct RawResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    url: String,
}

impl Client {
    /// A client for `https://<instance>.service-now.com` (or any base URL: a proxy, the
    /// simulator).
    pub fn builder(instance_url: &str, auth: Auth) -> Result<ClientBuilder, Error> {
        let instance = Url::parse(instance_url).map_err(|e| {
            Error::InvalidRequest(format!("invalid instance URL {instance_url:?}: {e}"))
        })?;
        if !matches!(instance.scheme(), "http" | "https") || instance.host().is_none() {
            return Err(Error::InvalidRequest(format!(
                "instance URL {instance_url:?} must be http(s)://host"
            )));
        }
        Ok(ClientBuilder {
            instance,
            table: "incident".into(),
            auth,
            http: http_core::HttpSettings::default(),
            api_version: None,
        })
    }

    /// The table this client works on.
    pub fn table(&self) -> &str {
        &self.inner.table
    }

    /// The instance base URL.
    pub fn instance_url(&self) -> &Url {
        &self.inner.instance
    }

    /// A link a person can open: `<instance>/nav_to.do?uri=<table>.do?sys_id=<sys_id>`.
    pub fn record_link(&self, sys_id: &str) -> String {
        let base = self.inner.instance.as_str().trim_end_matches('/');
        format!(
            "{base}/nav_to.do?uri={}.do?sys_id={sys_id}",
            self.inner.table
        )
    }

    fn url(&self, tail: &str) -> Url {
        let mut url = self.inner.instance.clone();
        let prefix = url.path().trim_end_matches('/').to_string();
        let api = match &self.inner.api_version {
            Some(v) => format!("/api/now/{v}/table/{}", self.inner.table),
            None => format!("/api/now/table/{}", self.inner.table),
        };
        url.set_path(&format!("{prefix}{api}{tail}"));
        url
    }

    fn record_url(&self, sys_id: &str) -> Result<Url, Error> {
        // A sys_id is 32 hex characters; anything else would change the path.
        if sys_id.is_empty() || !sys_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Error::InvalidRequest(format!("invalid sys_id {sys_id:?}")));
        }
        Ok(self.url(&format!("/{sys_id}")))
    }

    /// `POST /api/now/table/{table}`: creates a record (201), returns it as stored.
    pub async fn create(&self, fields: &Map<String, Value>) -> Result<Record, Error> {
        let mut url = self.url("");
        url.query_pairs_mut()
            .append_pair("sysparm_exclude_reference_link", "true");
        let raw = self.send(Method::POST, url, Some(fields)).await?;
        Self::single(raw)
    }

    /// `GET /api/now/table/{table}/{sys_id}`; `fields` empty = all.
    pub async fn get(&self, sys_id: &str, fields: &[&str]) -> Result<Record, Error> {
        let mut url = self.record_url(sys_id)?;
        {
            let mut qp = url.query_pairs_mut();
            qp.append_pair("sysparm_exclude_reference_link", "true");
            if !fields.is_empty() {
                qp.append_pair("sysparm_fields", &fields.join(","));
            }
        }
        let raw = self.send(Method::GET, url, None).await?;
        Self::single(raw)
    }

    /// `PATCH /api/now/table/{table}/{sys_id}`: updates the given fields, returns the record.
    pub async fn patch(&self, sys_id: &str, fields: &Map<String, Value>) -> Result<Record, Error> {
        let mut url = self.record_url(sys_id)?;
        url.query_pairs_mut()
            .append_pair("sysparm_exclude_reference_link", "true");
        let raw = self.send(Method::PATCH, url, Some(fields)).await?;
        Self::single(raw)
    }

    /// The work notes of a record as text: its journal entries, newest first, as the
    /// display value of the journal field (`sysparm_display_value=true`). Used to tell
    /// whether a note whose answer was lost has been written.
    pub async fn work_notes(&self, sys_id: &str) -> Result<String, Error> {
        let mut url = self.record_url(sys_id)?;
        url.query_pairs_mut()
            .append_pair("sysparm_display_value", "true")
            .append_pair("sysparm_fields", "work_notes");
        let raw = self.send(Method::GET, url, None).await?;
        let record = Self::single(raw)?;
        Ok(record.get_str("work_notes").unwrap_or_default().to_string())
    }

    /// Adds a work note (a journal entry: each PATCH appends one).
    pub async fn add_work_note(&self, sys_id: &str, text: &str) -> Result<Record, Error> {
        let mut body = Map::new();
        body.insert("work_notes".into(), Value::String(text.to_string()));
        self.patch(sys_id, &body).await
    }

    /// `GET /api/now/table/{table}?sysparm_query=…` (one page).
    pub async fn query(&self, q: &Query) -> Result<QueryPage, Error> {
        let mut url = self.url("");
        {
            let mut qp = url.query_pairs_mut();
            if !q.query.is_empty() {
                qp.append_pair("sysparm_query", &q.query);
            }
            if !q.fields.is_empty() {
                qp.append_pair("sysparm_fields", &q.fields.join(","));
            }
            if let Some(l) = q.limit {
                qp.append_pair("sysparm_limit", &l.to_string());
            }
            if let Some(o) = q.offset {
                qp.append_pair("sysparm_offset", &o.to_string());
            }
            qp.append_pair("sysparm_exclude_reference_link", "true");
        }
        let raw = self.send(Method::GET, url, None).await?;
        let total = raw
            .headers
            .get("x-total-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let has_next = raw
            .headers
            .get_all(reqwest::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains("rel=\"next\""));
        let records = Self::list(raw)?;
        Ok(QueryPage {
            records,
            total,
            has_next,
        })
    }

    /// Records whose `field` is exactly `value`.
    ///
    /// The instance ignores a condition on an unknown field and returns every row (the
    /// default of `glide.invalid_query.returns_no_rows`), so the answer is filtered again
    /// here: a typo can never make an unrelated ticket look like ours.
    pub async fn find_by(
        &self,
        field: &str,
        value: &str,
        fields: &[&str],
    ) -> Result<Vec<Record>, Error> {
        let mut wanted: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        if !wanted.is_empty() && !wanted.iter().any(|f| f == field) {
            wanted.push(field.to_string());
        }
        let page = self
            .query(&Query {
                query: format!("{field}={}", escape_query_value(value)),
                fields: wanted,
                limit: Some(10),
                offset: None,
            })
            .await?;
        Ok(page
            .records
            .into_iter()
            .filter(|r| r.get_str(field) == Some(value))
            .collect())
    }

    fn single(raw: RawResponse) -> Result<Record, Error> {
        let v: Value = serde_json::from_slice(&raw.body).map_err(|e| Error::Malformed {
            url: raw.url.clone(),
            reason: format!("not JSON ({e}): {}", error::snippet(&raw.body)),
        })?;
        match v.get("result") {
            Some(Value::Object(m)) => Ok(Record(m.clone())),
            _ => Err(Error::Malformed {
                url: raw.url,
                reason: "no `result` object".into(),
            }),
        }
    }

    fn list(raw: RawResponse) -> Result<Vec<Record>, Error> {
        let v: Value = serde_json::from_slice(&raw.body).map_err(|e| Error::Malformed {
            url: raw.url.clone(),
            reason: format!("not JSON ({e}): {}", error::snippet(&raw.body)),
        })?;
        match v.get("result") {
            Some(Value::Array(items)) => Ok(items
                .iter()
                .filter_map(|i| i.as_object().map(|m| Record(m.clone())))
                .collect()),
            _ => Err(Error::Malformed {
                url: raw.url,
                reason: "no `result` array".into(),
            }),
        }
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Map<String, Value>>,
    ) -> Result<RawResponse, Error> {
        let mut retried_auth = false;
        loop {
            let bearer = match &self.inner.auth {
                Auth::Basic { .. } => None,
                Auth::OAuth { .. } => Some(self.bearer().await?),
            };
            let raw = self
                .send_once(method.clone(), url.clone(), body, bearer.as_ref())
                .await?;
            if let (StatusCode::UNAUTHORIZED, Some(used), false) =
                (raw.status, &bearer, retried_auth)
            {
                // The token may have been revoked or expired early: get a new one, once.
                retried_auth = true;
                self.inner.token.invalidate(used).await;
                continue;
            }
            if raw.status.is_success() {
                return Ok(raw);
            }
            return Err(status_error(raw.status, &raw.headers, &raw.body));
        }
    }

    async fn send_once(
        &self,
        method: Method,
        url: Url,
        body: Option<&Map<String, Value>>,
        bearer: Option<&SecretString>,
    ) -> Result<RawResponse, Error> {
        let url_text = url.to_string();
        let mut req = self
            .inner
            .http
            .request(method, url)
            .header(reqwest::header::ACCEPT, "application/json");
        req = match (&self.inner.auth, bearer) {
            (_, Some(token)) => req.bearer_auth(token.expose_secret()),
            (Auth::Basic { username, password }, None) => {
                req.basic_auth(username, Some(password.expose_secret()))
            }
            (Auth::OAuth { .. }, None) => {
                return Err(Error::InvalidRequest(
                    "OAuth request without a token".into(),
                ))
            }
        };
        if let Some(b) = body {
            req = req.json(b);
        }
        let http_core::Response {
            status,
            headers,
            body,
        } = http_core::send(req, &url_text, http_core::MAX_BODY_BYTES).await?;
        Ok(RawResponse {
            status,
            headers,
            body,
            url: url_text,
        })
    }

    /// The cached OAuth access token, renewed (refresh grant, else password grant) when it
    /// is about to expire. One renewal at a time: concurrent callers wait for it.
    async fn bearer(&self) -> Result<SecretString, Error> {
        let Auth::OAuth {
            client_id,
            client_secret,
            username,
            password,
        } = &self.inner.auth
        else {
            return Err(Error::InvalidRequest("not an OAuth client".into()));
        };
        self.inner
            .token
            .get(|stale_refresh| async move {
                if let Some(refresh) = stale_refresh {
                    let form = [
                        ("grant_type", "refresh_token"),
                        ("client_id", client_id.as_str()),
                        ("client_secret", client_secret.expose_secret()),
                        ("refresh_token", refresh.expose_secret()),
                    ];
                    match self.token_request(&form).await {
                        Ok(t) => return Ok(t),
                        // An expired refresh token: fall back to the password grant below.
                        Err(e) => tracing::debug!(error = %e, "ServiceNow token refresh failed"),
                    }
                }
                let form = [
                    ("grant_type", "password"),
                    ("client_id", client_id.as_str()),
                    ("client_secret", client_secret.expose_secret()),
                    ("username", username.as_str()),
                    ("password", password.expose_secret()),
                ];
                self.token_request(&form).await
            })
            .await
    }

    async fn token_request(&self, form: &[(&str, &str)]) -> Result<http_core::Token, Error> {
        let mut url = self.inner.instance.clone();
        let prefix = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{prefix}/oauth_token.do"));
        let url_text = url.to_string();
        // The endpoint wants a form body (JSON is refused).
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let req = self
            .inner
            .http
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body);
        let http_core::Response {
            status,
            headers,
            body,
        } = http_core::send(req, &url_text, http_core::MAX_BODY_BYTES).await?;
        if !status.is_success() {
            let e = status_error(status, &headers, &body);
            return Err(if e.is_retryable() {
                e
            } else {
                Error::Token(e.to_string())
            });
        }
        #[derive(serde::Deserialize)]
        struct TokenBody {
            access_token: String,
            #[serde(default)]
            refresh_token: Option<String>,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let t: TokenBody = serde_json::from_slice(&body)
            .map_err(|e| Error::Token(format!("unexpected token response: {e}")))?;
        Ok(http_core::Token::new(
            SecretString::from(t.access_token),
            t.refresh_token.map(SecretString::from),
            // ServiceNow's default access token lifetime is 1800 s.
            Duration::from_secs(t.expires_in.unwrap_or(1800)),
        ))
    }
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    http_core::retry_after(headers, time::OffsetDateTime::now_utc())
}

fn status_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
    let details = error::error_details(body);
    match status.as_u16() {
        400 => Error::BadRequest { details },
        401 => Error::Unauthorized { details },
        403 => Error::Forbidden { details },
        404 => Error::NotFound { details },
        429 => Error::RateLimited {
            retry_after: http_core::rate_limit_wait(retry_after(headers)),
        },
        code @ 500..=599 => Error::Server {
            status: code,
            details,
            retry_after: retry_after(headers),
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
    fn debug_redacts_secrets() {
        let a = Auth::OAuth {
            client_id: "cid".into(),
            client_secret: SecretString::from("s3cr3t-1".to_string()),
            username: "u".into(),
            password: SecretString::from("s3cr3t-2".to_string()),
        };
        let shown = format!("{a:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        let c = Client::builder(
            "https://acme.service-now.com",
            Auth::Basic {
                username: "u".into(),
                password: SecretString::from("s3cr3t-3".to_string()),
            },
        )
        .unwrap()
        .build()
        .unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }

    #[test]
    fn urls_tables_and_links() {
        let auth = Auth::Basic {
            username: "u".into(),
            password: SecretString::from("p".to_string()),
        };
        let c = Client::builder("https://acme.service-now.com", auth.clone())
            .unwrap()
            .table("sn_si_incident")
            .build()
            .unwrap();
        assert_eq!(
            c.url("/abc").as_str(),
            "https://acme.service-now.com/api/now/table/sn_si_incident/abc"
        );
        assert_eq!(
            c.record_link("0123"),
            "https://acme.service-now.com/nav_to.do?uri=sn_si_incident.do?sys_id=0123"
        );
        let v2 = Client::builder("https://acme.service-now.com", auth.clone())
            .unwrap()
            .api_version("v2")
            .build()
            .unwrap();
        assert_eq!(
            v2.url("").as_str(),
            "https://acme.service-now.com/api/now/v2/table/incident"
        );
        assert!(v2.record_url("../x").is_err());
        assert!(Client::builder("https://a", auth.clone())
            .unwrap()
            .table("inc;drop")
            .build()
            .is_err());
        assert!(Client::builder("ftp://a", auth).is_err());
        assert_eq!(escape_query_value("a^b"), "a^^b");
        assert!(is_done_state("6") && is_done_state("7") && is_done_state("8"));
        assert!(!is_done_state("2"));
    }

    #[test]
    fn statuses_map_to_errors() {
        let mut h = HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        let e = status_error(StatusCode::TOO_MANY_REQUESTS, &h, b"");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert!(e.is_retryable());
        let e = status_error(StatusCode::SERVICE_UNAVAILABLE, &HeaderMap::new(), b"");
        assert!(e.is_retryable());
        let e = status_error(StatusCode::FORBIDDEN, &HeaderMap::new(), b"");
        assert!(!e.is_retryable());
        assert_eq!(e.kind(), "forbidden");
    }
}
