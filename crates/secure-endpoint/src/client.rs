//! The HTTP client.

use crate::envelope::{error_details, snippet, Envelope, Metadata};
use crate::error::Error;
use crate::event::{Event, EventType};
use crate::model::{Computer, Group, Isolation, Version};
use crate::ratelimit::{retry_after, RateLimit};
use crate::{Credentials, Region};
use bytes::Bytes;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use std::time::Duration;
use time::OffsetDateTime;
use url::Url;

/// Largest page the API serves ("current limit of 500 results").
pub const MAX_PAGE_SIZE: u32 = 500;

/// A Secure Endpoint API client for one organisation (one credential pair).
///
/// Cloning is cheap; clones share the connection pool. Requests are not retried here: the
/// caller owns the retry policy (see [`Error::is_retryable`]).
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    credentials: Credentials,
}

/// Builds a [`Client`].
#[derive(Debug)]
pub struct ClientBuilder {
    base: Url,
    credentials: Credentials,
    http: http_core::HttpSettings,
}

impl ClientBuilder {
    /// Per-request timeout (default 30 s). Ignored when an HTTP client is supplied.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.http.set_timeout(timeout);
        self
    }

    /// Shares an existing HTTP client (one connection pool for many tenants).
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http.share(http);
        self
    }

    pub fn build(self) -> Result<Client, Error> {
        let http = self.http.build(USER_AGENT).map_err(http_client_error)?;
        Ok(Client {
            http,
            base: self.base,
            credentials: self.credentials,
        })
    }
}

const USER_AGENT: &str = concat!("sebridge-secure-endpoint/", env!("CARGO_PKG_VERSION"));

/// The HTTP client settings the API expects (gzip, JSON, a user agent, TLS via rustls).
pub fn default_http_client(timeout: Duration) -> Result<reqwest::Client, Error> {
    http_core::http_client(USER_AGENT, timeout).map_err(http_client_error)
}

fn http_client_error(e: reqwest::Error) -> Error {
    Error::InvalidRequest(format!("cannot build HTTP client: {e}"))
}

/// Filters and paging of `GET /v1/events`. Filters of different kinds are ANDed; several
/// values of one kind are ORed (API semantics).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventsQuery {
    pub event_types: Vec<u64>,
    pub connector_guids: Vec<String>,
    pub group_guids: Vec<String>,
    /// Inclusive lower bound (the API compares at second precision).
    pub start_date: Option<OffsetDateTime>,
    pub detection_sha256: Option<String>,
    pub application_sha256: Option<String>,
    pub offset: Option<u64>,
    /// 1..=500; the API's default (500) when `None`.
    pub limit: Option<u32>,
}

/// Formats a time as the API's examples do: `2015-10-01T00:00:00+00:00` (whole seconds, UTC).
pub fn format_api_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// One page of `GET /v1/events`.
#[derive(Clone, Debug)]
pub struct EventsPage {
    pub events: Vec<Event>,
    /// Items of `data` that are not usable events, with the reason (kept, never dropped
    /// silently: the caller dead-letters them).
    pub rejected: Vec<RejectedEvent>,
    pub total: Option<u64>,
    pub index: Option<u64>,
    pub items_per_page: Option<u64>,
    /// `metadata.links.next`; `None` on the last page.
    pub next: Option<String>,
    pub prev: Option<String>,
}

/// An item of a page that could not be read as an event.
#[derive(Clone, Debug)]
pub struct RejectedEvent {
    pub raw: String,
    pub reason: String,
}

impl EventsPage {
    /// Reads an events response body. `data` is normally an array; a single object (as in
    /// Elastic's test captures) is read as a one-event page.
    pub fn from_body(body: &[u8]) -> Result<EventsPage, String> {
        // Fast path, the API's shape: `data` read straight into one raw slice per event (a
        // second pass over the page would cost about as much as the typed parse).
        #[derive(serde::Deserialize)]
        struct ArrayEnvelope<'a> {
            #[serde(default)]
            metadata: Metadata,
            #[serde(borrow)]
            data: Vec<&'a RawValue>,
        }
        let (metadata, items) = match serde_json::from_slice::<ArrayEnvelope<'_>>(body) {
            Ok(env) => (env.metadata, env.data),
            Err(_) => {
                let env: Envelope<'_> = serde_json::from_slice(body)
                    .map_err(|e| format!("not a JSON envelope: {e}"))?;
                let data = env
                    .data
                    .ok_or_else(|| "envelope has no `data`".to_string())?;
                let items: Vec<&RawValue> = match data.get().trim_start().as_bytes().first() {
                    Some(b'[') => serde_json::from_str(data.get())
                        .map_err(|e| format!("`data` is not an array of JSON values: {e}"))?,
                    Some(b'{') => vec![data],
                    _ => return Err("`data` is neither an array nor an object".into()),
                };
                (env.metadata, items)
            }
        };
        let mut events = Vec::with_capacity(items.len());
        let mut rejected = Vec::new();
        for item in items {
            match Event::from_json(item.get()) {
                Ok(e) => events.push(e),
                Err(e) => rejected.push(RejectedEvent {
                    raw: item.get().to_string(),
                    reason: e.to_string(),
                }),
            }
        }
        let results = metadata.results.unwrap_or_default();
        Ok(EventsPage {
            events,
            rejected,
            total: results.total,
            index: results.index,
            items_per_page: results.items_per_page,
            next: metadata.links.next,
            prev: metadata.links.prev,
        })
    }
}

/// A successful answer: the data, the envelope's metadata and the rate-limit headers.
#[derive(Clone, Debug)]
pub struct ApiResponse<T> {
    pub data: T,
    pub metadata: Metadata,
    pub rate_limit: Option<RateLimit>,
}

impl<T: DeserializeOwned> ApiResponse<T> {
    /// Reads a success body: the envelope, and its `data` as `T`. (Rate limits come from
    /// headers, so they are `None` here.)
    pub fn from_body(body: &[u8]) -> Result<ApiResponse<T>, String> {
        let env: Envelope<'_> = serde_json::from_slice(body)
            .map_err(|e| format!("not a JSON envelope ({e}); body starts: {}", snippet(body)))?;
        let data = env
            .data
            .ok_or_else(|| "envelope has no `data`".to_string())?;
        let data =
            serde_json::from_str(data.get()).map_err(|e| format!("unexpected `data`: {e}"))?;
        Ok(ApiResponse {
            data,
            metadata: env.metadata,
            rate_limit: None,
        })
    }
}

/// A 2xx answer before its body is decoded.
pub(crate) struct RawResponse {
    body: Bytes,
    rate_limit: Option<RateLimit>,
    url: String,
}

impl Client {
    /// A client for a region's cloud.
    pub fn builder(region: Region, credentials: Credentials) -> ClientBuilder {
        // The regional bases are constants that always parse.
        let base = Url::parse(region.api_base()).unwrap_or_else(|_| unreachable_base());
        Self::builder_for(base, credentials)
    }

    /// A client for a custom base URL (a proxy, a private cloud, the simulator).
    pub fn builder_with_base_url(
        base_url: &str,
        credentials: Credentials,
    ) -> Result<ClientBuilder, Error> {
        let base = Url::parse(base_url)
            .map_err(|e| Error::InvalidRequest(format!("invalid base URL {base_url:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(Error::InvalidRequest(format!(
                "base URL {base_url:?} must be http or https"
            )));
        }
        Ok(Self::builder_for(base, credentials))
    }

    fn builder_for(base: Url, credentials: Credentials) -> ClientBuilder {
        ClientBuilder {
            base,
            credentials,
            http: http_core::HttpSettings::default(),
        }
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The credentials in use (their `Debug` is redacted).
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    pub(crate) fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        // Keep a path prefix of the base (e.g. a proxy under /amp).
        let prefix = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{prefix}{path}"));
        url
    }

    pub(crate) async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&impl Serialize>,
    ) -> Result<RawResponse, Error> {
        let url_text = url.to_string();
        // Only the Event Streams routes answer an unknown id with a 400 "... not found".
        let streams = url.path().contains("/v1/event_streams");
        let (user, key) = self.credentials.basic_auth();
        let mut req = self
            .http
            .request(method, url)
            .basic_auth(user, Some(key))
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| http_core::ReadError::transport(e, &url_text))?;
        // Rate-limit resets are relative to when the answer arrived, before its body.
        let now = OffsetDateTime::now_utc();
        let status = resp.status();
        let rate_limit = RateLimit::from_headers(resp.headers(), now);
        let retry = retry_after(resp.headers(), now);
        let body = http_core::read_body(resp, &url_text, http_core::MAX_BODY_BYTES).await?;
        if status.is_success() {
            return Ok(RawResponse {
                body: Bytes::from(body),
                rate_limit,
                url: url_text,
            });
        }
        Err(status_error(status, &body, rate_limit, retry, now, streams))
    }

    fn decode<T: DeserializeOwned>(raw: RawResponse) -> Result<ApiResponse<T>, Error> {
        let mut resp = ApiResponse::from_body(&raw.body).map_err(|reason| Error::Malformed {
            url: raw.url.clone(),
            reason,
        })?;
        resp.rate_limit = raw.rate_limit;
        Ok(resp)
    }

    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&impl Serialize>,
    ) -> Result<ApiResponse<T>, Error> {
        Self::decode(self.send(method, url, body).await?)
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, url: Url) -> Result<ApiResponse<T>, Error> {
        self.call(Method::GET, url, None::<&()>).await
    }

    /// `GET /v1/version`: the cheapest authenticated call, used to test credentials.
    pub async fn version(&self) -> Result<ApiResponse<Version>, Error> {
        self.get(self.url("/v1/version")).await
    }

    /// `GET /v1/event_types`.
    pub async fn event_types(&self) -> Result<ApiResponse<Vec<EventType>>, Error> {
        self.get(self.url("/v1/event_types")).await
    }

    /// The URL of `GET /v1/events` for a query.
    pub fn events_url(&self, q: &EventsQuery) -> Result<Url, Error> {
        if let Some(limit) = q.limit {
            if limit == 0 || limit > MAX_PAGE_SIZE {
                return Err(Error::InvalidRequest(format!(
                    "limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}"
                )));
            }
        }
        let mut url = self.url("/v1/events");
        {
            let mut qp = url.query_pairs_mut();
            for t in &q.event_types {
                qp.append_pair("event_type[]", &t.to_string());
            }
            for g in &q.connector_guids {
                qp.append_pair("connector_guid[]", g);
            }
            for g in &q.group_guids {
                qp.append_pair("group_guid[]", g);
            }
            if let Some(d) = q.start_date {
                // Form encoding turns '+' into %2B, so the offset survives.
                qp.append_pair("start_date", &format_api_date(d));
            }
            if let Some(s) = &q.detection_sha256 {
                qp.append_pair("detection_sha256", s);
            }
            if let Some(s) = &q.application_sha256 {
                qp.append_pair("application_sha256", s);
            }
            if let Some(o) = q.offset {
                qp.append_pair("offset", &o.to_string());
            }
            if let Some(l) = q.limit {
                qp.append_pair("limit", &l.to_string());
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        Ok(url)
    }

    /// One page of `GET /v1/events`.
    pub async fn events(&self, q: &EventsQuery) -> Result<ApiResponse<EventsPage>, Error> {
        let url = self.events_url(q)?;
        self.events_at(url).await
    }

    /// Follows a `metadata.links.next` (or `prev`) link. Only its path and query are used,
    /// on this client's base URL, so credentials never go to a host named in a response.
    pub async fn events_next(&self, link: &str) -> Result<ApiResponse<EventsPage>, Error> {
        let url = self.rebase(link)?;
        self.events_at(url).await
    }

    /// Iterates over every page of a query, following `next` until it is absent.
    pub fn events_pager(&self, q: EventsQuery) -> EventPager<'_> {
        EventPager {
            client: self,
            state: PagerState::Start(q),
        }
    }

    fn rebase(&self, link: &str) -> Result<Url, Error> {
        let parsed = Url::parse(link)
            .map_err(|e| Error::InvalidRequest(format!("invalid link {link:?}: {e}")))?;
        let mut url = self.base.clone();
        url.set_path(parsed.path());
        url.set_query(parsed.query());
        Ok(url)
    }

    async fn events_at(&self, url: Url) -> Result<ApiResponse<EventsPage>, Error> {
        let raw = self.send(Method::GET, url, None::<&()>).await?;
        let page = EventsPage::from_body(&raw.body).map_err(|reason| Error::Malformed {
            url: raw.url.clone(),
            reason: format!("{reason}; body starts: {}", snippet(&raw.body)),
        })?;
        let metadata = Metadata {
            links: crate::envelope::Links {
                self_: None,
                next: page.next.clone(),
                prev: page.prev.clone(),
            },
            results: None,
        };
        Ok(ApiResponse {
            data: page,
            metadata,
            rate_limit: raw.rate_limit,
        })
    }

    /// `GET /v1/computers` (one page).
    pub async fn computers(&self, q: &ComputersQuery) -> Result<ApiResponse<Vec<Computer>>, Error> {
        let mut url = self.url("/v1/computers");
        {
            let mut qp = url.query_pairs_mut();
            for h in &q.hostnames {
                qp.append_pair("hostname[]", h);
            }
            for g in &q.group_guids {
                qp.append_pair("group_guid[]", g);
            }
            if let Some(ip) = &q.internal_ip {
                qp.append_pair("internal_ip", ip);
            }
            if let Some(ip) = &q.external_ip {
                qp.append_pair("external_ip", ip);
            }
            if let Some(o) = q.offset {
                qp.append_pair("offset", &o.to_string());
            }
            if let Some(l) = q.limit {
                qp.append_pair("limit", &l.to_string());
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        self.get(url).await
    }

    /// `GET /v1/computers/{guid}`.
    pub async fn computer(&self, connector_guid: &str) -> Result<ApiResponse<Computer>, Error> {
        self.get(self.url(&format!("/v1/computers/{}", path_segment(connector_guid)?)))
            .await
    }

    /// `PATCH /v1/computers/{guid}` with `{"group_guid": ...}`: moves the computer to a group.
    pub async fn move_computer(
        &self,
        connector_guid: &str,
        group_guid: &str,
    ) -> Result<ApiResponse<Computer>, Error> {
        let url = self.url(&format!("/v1/computers/{}", path_segment(connector_guid)?));
        self.call(
            Method::PATCH,
            url,
            Some(&serde_json::json!({ "group_guid": group_guid })),
        )
        .await
    }

    /// `GET /v1/groups`, optionally filtered by name.
    pub async fn groups(&self, name: Option<&str>) -> Result<ApiResponse<Vec<Group>>, Error> {
        let mut url = self.url("/v1/groups");
        if let Some(n) = name {
            url.query_pairs_mut().append_pair("name", n);
        }
        self.get(url).await
    }

    /// `GET /v1/groups/{guid}`.
    pub async fn group(&self, guid: &str) -> Result<ApiResponse<Group>, Error> {
        self.get(self.url(&format!("/v1/groups/{}", path_segment(guid)?)))
            .await
    }

    fn isolation_url(&self, connector_guid: &str) -> Result<Url, Error> {
        Ok(self.url(&format!(
            "/v1/computers/{}/isolation",
            path_segment(connector_guid)?
        )))
    }

    /// `GET /v1/computers/{guid}/isolation`.
    pub async fn isolation(&self, connector_guid: &str) -> Result<ApiResponse<Isolation>, Error> {
        self.get(self.isolation_url(connector_guid)?).await
    }

    /// `PUT /v1/computers/{guid}/isolation`: starts isolation. An already isolated host
    /// answers [`Error::Conflict`] (409), which callers treat as "already done".
    pub async fn start_isolation(
        &self,
        connector_guid: &str,
        comment: &str,
        unlock_code: Option<&str>,
    ) -> Result<ApiResponse<Isolation>, Error> {
        let mut body = serde_json::json!({ "comment": comment });
        if let Some(code) = unlock_code {
            body["unlock_code"] = serde_json::Value::String(code.to_string());
        }
        self.call(
            Method::PUT,
            self.isolation_url(connector_guid)?,
            Some(&body),
        )
        .await
    }

    /// `DELETE /v1/computers/{guid}/isolation`: stops isolation.
    pub async fn stop_isolation(
        &self,
        connector_guid: &str,
        comment: &str,
    ) -> Result<ApiResponse<Isolation>, Error> {
        let body = serde_json::json!({ "comment": comment });
        self.call(
            Method::DELETE,
            self.isolation_url(connector_guid)?,
            Some(&body),
        )
        .await
    }
}

fn unreachable_base() -> Url {
    // Only reached if a region constant were malformed; keep a harmless value instead of panicking.
    Url::parse("https://api.amp.cisco.com")
        .unwrap_or_else(|_| Url::parse("http://0.0.0.0").unwrap_or_else(|_| unreachable!()))
}

/// Refuses ids that would change the path (e.g. "../"), instead of sending them.
fn path_segment(s: &str) -> Result<&str, Error> {
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Error::InvalidRequest(format!("invalid id {s:?}")));
    }
    Ok(s)
}

/// `streams`: the request was to `/v1/event_streams`, the one family of routes that answers an
/// unknown id with a 400 whose message says "not found". Elsewhere such a 400 stays a bad
/// request: a move to an unknown group must not read as a computer that disappeared.
fn status_error(
    status: StatusCode,
    body: &[u8],
    rate_limit: Option<RateLimit>,
    retry: Option<Duration>,
    now: OffsetDateTime,
    streams: bool,
) -> Error {
    let details = error_details(body);
    let code = status.as_u16();
    match code {
        401 => Error::Unauthorized { details },
        403 => Error::Forbidden { details },
        404 => Error::NotFound {
            status: code,
            details,
        },
        // The API answers "not found" for event streams as 400 (Cisco's Splunk add-on matches it).
        400 if streams && details.to_ascii_lowercase().contains("not found") => Error::NotFound {
            status: code,
            details,
        },
        400 => Error::BadRequest { details },
        409 => Error::Conflict { details },
        429 => {
            let retry_after = http_core::rate_limit_wait(
                retry.or_else(|| rate_limit.as_ref().map(|r| r.reset_in(now))),
            );
            Error::RateLimited {
                retry_after,
                rate_limit,
            }
        }
        500..=599 => Error::Server {
            status: code,
            details,
        },
        _ => Error::Status {
            status: code,
            details,
        },
    }
}

/// Filters of `GET /v1/computers`.
#[derive(Clone, Debug, Default)]
pub struct ComputersQuery {
    pub hostnames: Vec<String>,
    pub group_guids: Vec<String>,
    pub internal_ip: Option<String>,
    pub external_ip: Option<String>,
    pub offset: Option<u64>,
    pub limit: Option<u32>,
}

enum PagerState {
    Start(EventsQuery),
    Next(String),
    Done,
}

/// Pages through `GET /v1/events`, following `next` links; see [`Client::events_pager`].
pub struct EventPager<'a> {
    client: &'a Client,
    state: PagerState,
}

impl EventPager<'_> {
    /// The next page, or `None` after the last one (the page without a `next` link).
    pub async fn next_page(&mut self) -> Option<Result<ApiResponse<EventsPage>, Error>> {
        let result = match std::mem::replace(&mut self.state, PagerState::Done) {
            PagerState::Done => return None,
            PagerState::Start(q) => self.client.events(&q).await,
            PagerState::Next(link) => self.client.events_next(&link).await,
        };
        if let Ok(resp) = &result {
            if let Some(next) = &resp.data.next {
                self.state = PagerState::Next(next.clone());
            }
        }
        Some(result)
    }
}
