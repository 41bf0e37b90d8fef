//! The "after update" business rule: a ticket whose state changes to Resolved, Closed or
//! Canceled sends a signed close notice to the configured webhook.

use std::sync::Arc;

use axum::http::header;
use hmac::{KeyInit as _, Mac as _};

use crate::sim::{now_ns, SimInner};

use super::{done_states, SnowRecord, WebhookDelivery, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// The "after update, async" rule: state *changes to* 6, 7 or 8 on a record that carries a
/// correlation id → POST the close notice to the configured webhook.
pub(super) fn business_rule(sim: &Arc<SimInner>, before: &str, after: &SnowRecord) {
    let done = |s: &str| done_states(&after.table).contains(&s);
    let state = after.get("state");
    if !done(state) || done(before) || after.get("correlation_id").is_empty() {
        return;
    }
    let hook = sim.snow.webhook.read().clone();
    let Some(url) = hook.url.clone().filter(|_| hook.enabled) else {
        return;
    };
    let body = serde_json::json!({
        "table": after.table,
        "sys_id": after.get("sys_id"),
        "number": after.get("number"),
        "state": state,
        "close_code": after.get("close_code"),
        "close_notes": after.get("close_notes"),
        "correlation_id": after.get("correlation_id"),
        "sys_updated_on": after.get("sys_updated_on"),
    })
    .to_string();
    let number = after.get("number").to_string();
    let sim = sim.clone();
    tokio::spawn(async move {
        let ts = ((now_ns() / 1_000_000_000) as i64).to_string();
        let mut req = sim
            .snow
            .http
            .post(&url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, &ts);
        if let Some(secret) = &hook.secret {
            req = req.header(SIGNATURE_HEADER, sign(secret, &ts, &body));
        }
        if let Some(b) = &hook.bearer {
            req = req.bearer_auth(b);
        }
        let result = req.body(body).send().await;
        let delivery = match result {
            Ok(resp) => WebhookDelivery {
                number,
                status: Some(resp.status().as_u16()),
                error: None,
            },
            Err(e) => WebhookDelivery {
                number,
                status: None,
                error: Some(e.to_string()),
            },
        };
        tracing::debug!(?delivery, "ServiceNow business rule called the webhook");
        sim.snow.deliveries.lock().push(delivery);
    });
}

/// `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn sign(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac = match hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        // HMAC takes keys of any length; this cannot fail.
        Err(_) => return String::new(),
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let bytes = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(71);
    hex.push_str("sha256=");
    for b in bytes.iter() {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}
