//! `POST /hooks/servicenow`: the close notice a ServiceNow business rule sends when a ticket
//! changes to Resolved, Closed or Canceled (the dashboard's read-only routes are in `api`).
//!
//! Authentication: `X-Sebridge-Signature: sha256=<hex HMAC-SHA256(secret, "<ts>.<body>")>`
//! with `X-Sebridge-Timestamp: <unix seconds>` within `max_skew`, or
//! `Authorization: Bearer <token>`; both compared in constant time. Anything else gets 401
//! and changes nothing. An authenticated notice is still checked against ServiceNow (the
//! ticket must really be resolved/closed) before anything is undone: a replayed or forged
//! body naming another ticket cannot release a host.

use super::store::{CloseInfo, CloseResult};
use super::IncidentService;
use crate::store::now_millis;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use hmac::{KeyInit, Mac};
use secrecy::ExposeSecret;
use serde::Deserialize;
use subtle::ConstantTimeEq;
use tracing::{info, warn};

pub const SIGNATURE_HEADER: &str = "x-sebridge-signature";
pub const TIMESTAMP_HEADER: &str = "x-sebridge-timestamp";
/// Close notices are small; anything bigger is refused unread.
pub const MAX_BODY: usize = 64 * 1024;

/// The routes (merged into the server's router).
pub fn router(service: IncidentService) -> Router {
    Router::new()
        .route("/hooks/servicenow", post(servicenow_hook))
        .with_state(service.clone())
        .merge(super::api::router(service))
}

/// Hex digits (either case) to bytes. Only digits: `u8::from_str_radix` alone also takes a
/// leading `+`, which let `+a` stand for `0a` (a second spelling of a valid signature).
fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Checks a signed close notice: `body` at most [`MAX_BODY`] bytes, the
/// [`TIMESTAMP_HEADER`] (unix seconds) within `max_skew` of `now_secs`, and the
/// [`SIGNATURE_HEADER`] `sha256=<hex>` (either case) equal to HMAC-SHA256(`secret`,
/// `"<timestamp>.<body>"`), compared in constant time. Returns why not (for the log). Pure
/// (no service, no clock), so it is property-tested (`webhook_props.rs`) and fuzzed
/// (`fuzz/fuzz_targets/webhook_verifier.rs`).
pub fn verify_signature(
    secret: &[u8],
    headers: &HeaderMap,
    body: &[u8],
    now_secs: i64,
    max_skew: std::time::Duration,
) -> Result<(), &'static str> {
    if body.len() > MAX_BODY {
        return Err("body too large");
    }
    let sig = headers
        .get(SIGNATURE_HEADER)
        .ok_or("no signature")?
        .to_str()
        .map_err(|_| "unreadable signature")?;
    let hexpart = sig
        .trim()
        .strip_prefix("sha256=")
        .ok_or("signature without sha256=")?;
    let given = hex_decode(hexpart).ok_or("signature is not hex")?;
    let ts = headers
        .get(TIMESTAMP_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or("signed notice without timestamp")?;
    let ts_num: i64 = ts.trim().parse().map_err(|_| "bad timestamp")?;
    // abs_diff: `now - ts` overflowed for a timestamp near i64::MIN (a panic in debug builds;
    // in release the wrapped difference of ts = now - 2^63 even passed the check).
    if now_secs.abs_diff(ts_num) > max_skew.as_secs() {
        return Err("timestamp outside the allowed skew (replay?)");
    }
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).map_err(|_| "bad key")?;
    mac.update(ts.trim().as_bytes());
    mac.update(b".");
    mac.update(body);
    // verify_slice compares in constant time.
    mac.verify_slice(&given).map_err(|_| "wrong signature")
}

/// Why a notice was refused (logged, never echoed in detail to the caller).
fn authenticate(
    service: &IncidentService,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<&'static str, &'static str> {
    let Some(cfg) = &service.ctx.config.webhook else {
        return Err("no [incidents.webhook] configured");
    };
    if let (Some(secret), Some(_)) = (&cfg.secret, headers.get(SIGNATURE_HEADER)) {
        return verify_signature(
            secret.expose_secret().as_bytes(),
            headers,
            body,
            now_millis() / 1000,
            cfg.max_skew,
        )
        .map(|()| "signature");
    }
    if let (Some(token), Some(auth)) = (
        &cfg.bearer_token,
        headers.get(axum::http::header::AUTHORIZATION),
    ) {
        let auth = auth.to_str().map_err(|_| "unreadable authorization")?;
        let (scheme, given) = auth
            .trim()
            .split_once(' ')
            .ok_or("malformed authorization")?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err("not a bearer token");
        }
        let ok: bool = given
            .trim()
            .as_bytes()
            .ct_eq(token.expose_secret().as_bytes())
            .into();
        return if ok {
            Ok("bearer token")
        } else {
            Err("wrong bearer token")
        };
    }
    Err("no signature or bearer token")
}

#[derive(Deserialize)]
struct Notice {
    #[serde(default)]
    sys_id: Option<String>,
    #[serde(default)]
    correlation_id: Option<String>,
    #[serde(default)]
    number: Option<String>,
}

fn answer(status: StatusCode, result: &str) -> Response {
    (status, Json(serde_json::json!({ "result": result }))).into_response()
}

async fn servicenow_hook(
    State(service): State<IncidentService>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if body.len() > MAX_BODY {
        return answer(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
    }
    let method = match authenticate(&service, &headers, &body) {
        Ok(m) => m,
        Err(why) => {
            warn!(
                reason = why,
                "refused an unauthenticated ServiceNow webhook"
            );
            metrics::counter!("sebridge_webhook_requests_total", "result" => "unauthorized")
                .increment(1);
            return answer(StatusCode::UNAUTHORIZED, "unauthorized");
        }
    };
    let Ok(notice) = serde_json::from_slice::<Notice>(&body) else {
        return answer(
            StatusCode::BAD_REQUEST,
            "body must be a JSON object with sys_id or correlation_id",
        );
    };
    let ctx = &service.ctx;
    let store = &ctx.store;
    let found = match (&notice.sys_id, &notice.correlation_id) {
        (Some(s), _) if !s.is_empty() => store.by_snow_sys_id(s).await,
        (_, Some(c)) if !c.is_empty() => store.by_correlation_id(c).await,
        _ => {
            return answer(
                StatusCode::BAD_REQUEST,
                "body needs sys_id or correlation_id",
            );
        }
    };
    let incident = match found {
        Ok(Some(i)) => i,
        Ok(None) => {
            metrics::counter!("sebridge_webhook_requests_total", "result" => "unknown")
                .increment(1);
            return answer(StatusCode::ACCEPTED, "not a sebridge incident");
        }
        Err(e) => {
            warn!(error = %e, "webhook: store unavailable");
            return answer(StatusCode::SERVICE_UNAVAILABLE, "store unavailable; retry");
        }
    };
    if incident.status != "open" {
        let _ = store
            .close(incident.id, "webhook", &CloseInfo::default())
            .await;
        metrics::counter!("sebridge_webhook_requests_total", "result" => "duplicate").increment(1);
        return answer(StatusCode::OK, "already closed");
    }
    let Some(client) = &ctx.snow else {
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceNow is not configured",
        );
    };
    let Some(sys_id) = incident.snow_sys_id.clone() else {
        return answer(StatusCode::ACCEPTED, "ticket not created yet");
    };
    // Trust, but verify with the source of truth before undoing containment.
    let rec = match client
        .get(
            &sys_id,
            &[
                "sys_id",
                "number",
                "state",
                "close_code",
                "close_notes",
                "closed_at",
                "resolved_at",
            ],
        )
        .await
    {
        Ok(r) => r,
        Err(e) => {
            warn!(error = %e, "webhook: cannot check the ticket in ServiceNow; the reconciler will");
            return answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot verify with ServiceNow; retry",
            );
        }
    };
    let state = rec.state().unwrap_or("");
    if !ctx.is_closed_state(state) {
        let _ = store
            .audit_line(
                Some(incident.id),
                Some(&incident.tenant),
                "webhook",
                "close_ignored",
                &format!(
                    "close notice for {} but ServiceNow says state {state:?}: nothing done",
                    notice.number.as_deref().unwrap_or(&sys_id)
                ),
            )
            .await;
        return answer(
            StatusCode::OK,
            "ignored: the ticket is not resolved or closed",
        );
    }
    let closed_at = rec
        .get_str("closed_at")
        .or(rec.get_str("resolved_at"))
        .and_then(super::reconciler::parse_glide_time)
        .unwrap_or_else(now_millis);
    let info = CloseInfo {
        close_code: rec.get_str("close_code").map(str::to_string),
        close_notes: rec.get_str("close_notes").map(str::to_string),
        closed_at,
        resolve_ticket: false,
    };
    match store.close(incident.id, "webhook", &info).await {
        Ok(CloseResult::Closing) => {
            ctx.notify.notify_one();
            info!(
                incident = incident.id,
                ticket = rec.number().unwrap_or(""),
                auth = method,
                "webhook: ticket closed in ServiceNow; closing the loop"
            );
            metrics::counter!("sebridge_incident_closes_total", "source" => "webhook").increment(1);
            answer(StatusCode::OK, "closing")
        }
        Ok(CloseResult::AlreadyClosed) => answer(StatusCode::OK, "already closed"),
        Ok(CloseResult::NotFound) => answer(StatusCode::ACCEPTED, "not a sebridge incident"),
        Err(e) => {
            warn!(error = %e, "webhook: cannot record the close");
            answer(StatusCode::SERVICE_UNAVAILABLE, "store unavailable; retry")
        }
    }
}

#[cfg(test)]
#[path = "webhook_props.rs"]
mod webhook_props;

#[cfg(test)]
mod tests {
    #[test]
    fn hex() {
        assert_eq!(super::hex_decode("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(super::hex_decode("00FF10"), Some(vec![0, 255, 16]));
        assert_eq!(super::hex_decode("0"), None);
        assert_eq!(super::hex_decode("zz"), None);
        // Found by webhook_props: from_str_radix takes a sign, so "+f" read as 0x0f.
        assert_eq!(super::hex_decode("+f"), None);
    }

    /// Found by webhook_props: a timestamp near i64::MIN overflowed `now - ts` (a panic in
    /// debug builds) instead of being refused as outside the window.
    #[test]
    fn a_timestamp_at_the_end_of_the_range_is_refused_not_a_panic() {
        let mut h = axum::http::HeaderMap::new();
        h.insert(super::SIGNATURE_HEADER, "sha256=00".parse().unwrap());
        for ts in [i64::MIN, i64::MIN + 1_700_000_000, i64::MAX] {
            h.insert(super::TIMESTAMP_HEADER, ts.to_string().parse().unwrap());
            let got = super::verify_signature(
                b"k",
                &h,
                b"{}",
                1_700_000_000,
                std::time::Duration::from_secs(300),
            );
            assert_eq!(got, Err("timestamp outside the allowed skew (replay?)"));
        }
    }
}
