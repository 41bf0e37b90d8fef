//! Authentication of the simulated instance: HTTP Basic with the integration user, bearer
//! tokens from `/oauth_token.do` (password and refresh grants), and the gate every Table API
//! request passes (authentication, injected faults, known table).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine as _;

use crate::api::envelope_json_response as json_response;
use crate::sim::SimInner;
use crate::util::{form_fields, is_form};
use crate::world::random_hex;

use super::{snow_error, table_prefix, SnowState};

fn authenticated(s: &SnowState, headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (u, p) = text.split_once(':')?;
        return (u == s.username && p == s.password).then(|| u.to_string());
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        let tokens = s.tokens.lock();
        let exp = tokens.get(rest.trim())?;
        return (*exp > Instant::now()).then(|| s.username.clone());
    }
    None
}

fn unauthenticated() -> Response {
    snow_error(
        StatusCode::UNAUTHORIZED,
        "User Not Authenticated",
        Some("Required to provide Auth information"),
    )
}

pub(super) async fn oauth_token(
    State(sim): State<Arc<SimInner>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let s = &sim.snow;
    if !is_form(&headers) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let form = form_fields(&body);
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if get("client_id") != s.client_id || get("client_secret") != s.client_secret {
        return oauth_error(StatusCode::UNAUTHORIZED, "access_denied");
    }
    match get("grant_type") {
        "password" => {
            if get("username") != s.username || get("password") != s.password {
                return oauth_error(StatusCode::UNAUTHORIZED, "access_denied");
            }
        }
        "refresh_token" => {
            let valid = s
                .refresh_tokens
                .lock()
                .get(get("refresh_token"))
                .is_some_and(|exp| *exp > Instant::now());
            if !valid {
                return oauth_error(StatusCode::UNAUTHORIZED, "access_denied");
            }
        }
        _ => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    }
    let (access, refresh) = {
        let mut rng = s.rng.lock();
        (random_hex(&mut rng, 40), random_hex(&mut rng, 40))
    };
    let ttl = Duration::from_secs(1800);
    s.tokens.lock().insert(access.clone(), Instant::now() + ttl);
    s.refresh_tokens.lock().insert(
        refresh.clone(),
        Instant::now() + Duration::from_secs(8_640_000),
    );
    json_response(
        StatusCode::OK,
        serde_json::json!({
            "access_token": access,
            "refresh_token": refresh,
            "scope": "useraccount",
            "token_type": "Bearer",
            "expires_in": ttl.as_secs(),
        })
        .to_string(),
    )
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    json_response(
        status,
        serde_json::json!({ "error_description": "access_denied", "error": error }).to_string(),
    )
}

/// Authentication and injected faults of every Table API request. `Err` is the answer.
pub(super) async fn gate(
    sim: &SimInner,
    headers: &HeaderMap,
    table: &str,
) -> Result<String, Response> {
    let s = &sim.snow;
    s.requests.fetch_add(1, Ordering::Relaxed);
    let user = authenticated(s, headers).ok_or_else(unauthenticated)?;
    {
        let mut f = s.faults.lock();
        if f.rate_limited_requests > 0 {
            f.rate_limited_requests -= 1;
            let mut resp = snow_error(
                StatusCode::TOO_MANY_REQUESTS,
                "Rate limit exceeded",
                Some("Inbound REST API rate limit rule exceeded"),
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return Err(resp);
        }
        if f.unavailable_requests > 0 {
            f.unavailable_requests -= 1;
            return Err(snow_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable",
                Some("Simulated outage"),
            ));
        }
    }
    if table_prefix(table).is_none() {
        return Err(snow_error(
            StatusCode::BAD_REQUEST,
            &format!("Invalid table {table}"),
            None,
        ));
    }
    Ok(user)
}
