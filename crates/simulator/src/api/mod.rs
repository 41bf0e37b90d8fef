//! The HTTP layer: `/v1/...` (authenticated, rate limited, read-only credentials refused
//! writes, fault injected) and `/_sim/...` (control, loopback only).

mod admin;
mod computers;
mod envelope;
mod events;
mod groups;
mod streams;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use futures::StreamExt as _;

use crate::faults::{self, FaultAction, HTML_ERROR_PAGE};
use crate::ratelimit::{RateLimiter, RateStatus};
use crate::sim::{SimInner, Tenant};
use crate::stats::{bump, PathClass};
use crate::util::zulu_date;

pub(crate) use admin::admin_error;
pub(crate) use envelope::json_response as envelope_json_response;
pub(crate) use envelope::{error, self_link};

/// The authenticated tenant, put into request extensions by the gate.
#[derive(Clone)]
pub(crate) struct TenantCtx(pub Arc<Tenant>);

pub(crate) fn router(sim: Arc<SimInner>) -> Router {
    let api = Router::new()
        .route("/v1/version", get(events::version))
        .route("/v1/event_types", get(events::event_types))
        .route("/v1/events", get(events::list))
        .route("/v1/computers", get(computers::list))
        .route(
            "/v1/computers/{guid}",
            get(computers::get_one).patch(computers::patch),
        )
        .route(
            "/v1/computers/{guid}/trajectory",
            get(computers::trajectory),
        )
        .route(
            "/v1/computers/{guid}/isolation",
            get(computers::isolation_get)
                .put(computers::isolation_put)
                .delete(computers::isolation_delete)
                .options(computers::isolation_options),
        )
        .route("/v1/groups", get(groups::list))
        .route("/v1/groups/{guid}", get(groups::get_one))
        .route(
            "/v1/event_streams",
            get(streams::list).post(streams::create),
        )
        .route(
            "/v1/event_streams/{id}",
            get(streams::get_one)
                .patch(streams::patch)
                .delete(streams::delete),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(sim.clone(), gate));
    // ServiceNow and XDR have their own authentication: they stay outside the /v1 gate.
    let integrations = crate::snow::router().merge(crate::xdr::router(sim.clone()));
    let admin = admin::router()
        .merge(crate::integrations::admin_router())
        .layer(from_fn(loopback_only));
    api.merge(integrations).nest("/_sim", admin).with_state(sim)
}

async fn not_found(State(sim): State<Arc<SimInner>>, uri: Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        self_link(&sim.base_url, &uri),
        vec![format!("No route matches {}", uri.path())],
    )
}

async fn method_not_allowed(State(sim): State<Arc<SimInner>>, uri: Uri) -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        self_link(&sim.base_url, &uri),
        vec![format!("Method not allowed on {}", uri.path())],
    )
}

/// HTTP Basic: user = client id, password = API key.
fn authenticate(sim: &SimInner, headers: &HeaderMap) -> Option<Arc<Tenant>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (client_id, api_key) = text.split_once(':')?;
    let tenant = sim.tenant_by_client_id(client_id)?;
    (tenant.api_key == api_key).then(|| tenant.clone())
}

fn add_rate_headers(documented: bool, resp: &mut Response, r: &RateStatus) {
    let h = resp.headers_mut();
    let date = HeaderValue::from_str(&zulu_date(r.reset_at)).ok();
    h.insert("x-ratelimit-limit", HeaderValue::from(r.limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(r.remaining));
    h.insert("x-ratelimit-reset", HeaderValue::from(r.reset_secs));
    if let Some(d) = date {
        h.insert("x-ratelimit-resetdate", d);
    }
    if documented {
        h.insert(
            HeaderName::from_static("x-rate-limit-limit"),
            HeaderValue::from(r.limit),
        );
        h.insert(
            HeaderName::from_static("x-rate-limit-remaining"),
            HeaderValue::from(r.remaining),
        );
        h.insert(
            HeaderName::from_static("x-rate-limit-reset"),
            HeaderValue::from(r.reset_secs),
        );
    }
}

/// Whether a request changes something (and so needs the "Read & Write" scope).
fn is_write(method: &Method) -> bool {
    matches!(
        *method,
        Method::PUT | Method::PATCH | Method::POST | Method::DELETE
    )
}

/// The answer to a write made with a "Read-only" credential.
///
/// **Inference**: the reference says read-only credentials refuse writes but the status and
/// text were not captured; 403 with the usual error envelope is the reasonable guess. The
/// refusal comes before any validation of the path or body (a scope check, like the 401 of
/// unknown credentials), so a write that could not succeed anyway (an unknown computer, a
/// malformed body) still tells the scope apart: 403 for read-only, 400/404 for read & write.
fn read_only_refusal(link: String, method: &Method, path: &str) -> Response {
    error(
        StatusCode::FORBIDDEN,
        link,
        vec![format!(
            "This API credential has Read-only scope: {method} {path} needs an API credential with Read & Write scope"
        )],
    )
}

/// Authentication, latency, rate limit, read-only scope, fault injection and counters for
/// `/v1/...`.
async fn gate(State(sim): State<Arc<SimInner>>, mut req: Request, next: Next) -> Response {
    let link = self_link(&sim.base_url, req.uri());
    let Some(tenant) = authenticate(&sim, req.headers()) else {
        bump(&sim.unauthorized);
        let (limit, window) = *sim.global_rate_limit.read();
        let mut resp = error(
            StatusCode::UNAUTHORIZED,
            link,
            vec!["Unknown API key or Client ID".into()],
        );
        add_rate_headers(
            sim.documented_rate_headers,
            &mut resp,
            &RateLimiter::untouched(limit, window),
        );
        return resp;
    };
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    tenant.counters.count_request(PathClass::of(&path));
    let faults = tenant.effective_faults(&sim.global_faults);
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    let mut rate = tenant.limiter.lock().check(Instant::now());
    let action = faults::roll(&faults, &mut tenant.fault_rng.lock());
    if action == FaultAction::RateLimited {
        // A burst limit: refused now, with headers saying the budget is back in a second.
        rate.allowed = false;
        rate.remaining = 0;
        rate.reset_secs = 1;
        rate.reset_at = time::OffsetDateTime::now_utc().unix_timestamp() + 1;
    }
    let mut resp = if !rate.allowed {
        bump(&tenant.counters.rate_limited);
        error(
            StatusCode::TOO_MANY_REQUESTS,
            link,
            vec![format!(
                "Rate limit exceeded: {} requests allowed per window; the window resets in {} seconds",
                rate.limit, rate.reset_secs
            )],
        )
    } else if tenant.read_only.load(Ordering::Relaxed) && is_write(&method) {
        bump(&tenant.counters.forbidden);
        bump(&tenant.counters.client_errors);
        read_only_refusal(link, &method, &path)
    } else {
        match action {
            FaultAction::ServerError(code) => {
                bump(&tenant.counters.server_errors);
                error(code, link, vec!["Simulated server error".into()])
            }
            action => {
                req.extensions_mut().insert(TenantCtx(tenant.clone()));
                let resp = next.run(req).await;
                if resp.status().is_client_error() {
                    bump(&tenant.counters.client_errors);
                }
                match action {
                    FaultAction::Drop => {
                        bump(&tenant.counters.drops);
                        dropped(resp).await
                    }
                    FaultAction::MalformedTruncated => {
                        bump(&tenant.counters.malformed);
                        truncated(resp).await
                    }
                    FaultAction::MalformedHtml => {
                        bump(&tenant.counters.malformed);
                        html_page()
                    }
                    _ => resp,
                }
            }
        }
    };
    add_rate_headers(sim.documented_rate_headers, &mut resp, &rate);
    tracing::debug!(
        tenant = %tenant.name,
        %method,
        path,
        status = resp.status().as_u16(),
        remaining = rate.remaining,
        "request"
    );
    resp
}

async fn body_bytes(body: Body) -> Bytes {
    axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default()
}

/// Sends the status, headers and half of the body, then aborts the connection.
async fn dropped(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let bytes = body_bytes(body).await;
    let partial = bytes.slice(..bytes.len() / 2);
    parts.headers.remove(header::CONTENT_LENGTH);
    let stream = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(partial) }).chain(
        futures::stream::once(async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "simulated connection drop",
            ))
        }),
    );
    Response::from_parts(parts, Body::from_stream(stream))
}

/// 200 with the first half of the real body (never valid JSON: an object cut short).
async fn truncated(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let bytes = body_bytes(body).await;
    if bytes.len() < 2 {
        return html_page();
    }
    parts.status = StatusCode::OK;
    parts.headers.remove(header::CONTENT_LENGTH);
    let cut = bytes.slice(..bytes.len() / 2);
    Response::from_parts(parts, Body::from(cut))
}

/// 200 with an HTML error page, as a failing proxy would send.
fn html_page() -> Response {
    let mut resp = Response::new(Body::from(HTML_ERROR_PAGE));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    resp
}

/// The control routes answer loopback peers only.
async fn loopback_only(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    if peer.ip().is_loopback() {
        next.run(req).await
    } else {
        admin::admin_error(StatusCode::FORBIDDEN, "control routes are loopback-only")
    }
}
