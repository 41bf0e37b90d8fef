//! `/_sim/snow/...` control routes: records, webhook, faults, deliveries, and the analyst's
//! close (which fires the business rule).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::api::envelope_json_response as json_response;
use crate::sim::SimInner;

use super::table::update_record;
use super::{SnowFaults, SnowRecord, SnowWebhook};

pub(super) async fn admin_records(State(sim): State<Arc<SimInner>>) -> Response {
    json_response(
        StatusCode::OK,
        serde_json::to_string(&sim.snow.records()).unwrap_or_else(|_| "[]".into()),
    )
}

pub(super) async fn admin_webhook(State(sim): State<Arc<SimInner>>, body: Bytes) -> Response {
    match serde_json::from_slice::<SnowWebhook>(&body) {
        Ok(w) => {
            sim.snow.set_webhook(w);
            json_response(StatusCode::OK, "{\"ok\":true}".into())
        }
        Err(e) => crate::api::admin_error(StatusCode::BAD_REQUEST, &format!("bad body: {e}")),
    }
}

/// What an analyst does in the UI to close a ticket.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CloseBody {
    pub number: String,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub close_code: Option<String>,
    #[serde(default)]
    pub close_notes: Option<String>,
}

/// Closes a ticket as an analyst would (state 7 by default, with close code and notes);
/// the business rule fires. `None` when no record has that number.
pub(crate) fn analyst_close(sim: &Arc<SimInner>, c: &CloseBody) -> Option<SnowRecord> {
    let closed_default = |table: &str| if table == "sn_si_incident" { "3" } else { "7" };
    let table = sim
        .snow
        .tables
        .lock()
        .records
        .iter()
        .find(|r| r.get("number") == c.number)
        .map(|r| r.table.clone())?;
    let state = c
        .state
        .clone()
        .unwrap_or_else(|| closed_default(&table).to_string());
    let mut input = Map::new();
    input.insert("state".into(), Value::String(state));
    input.insert(
        "close_code".into(),
        Value::String(
            c.close_code
                .clone()
                .unwrap_or_else(|| "Solution provided".into()),
        ),
    );
    input.insert(
        "close_notes".into(),
        Value::String(
            c.close_notes
                .clone()
                .unwrap_or_else(|| "Closed by the analyst (simulated)".into()),
        ),
    );
    let table = sim
        .snow
        .tables
        .lock()
        .records
        .iter()
        .find(|r| r.get("number") == c.number)
        .map(|r| r.table.clone())?;
    update_record(
        sim,
        &table,
        |r| r.get("number") == c.number,
        &input,
        "analyst",
    )
}

pub(super) async fn admin_close(State(sim): State<Arc<SimInner>>, body: Bytes) -> Response {
    let c: CloseBody = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => {
            return crate::api::admin_error(StatusCode::BAD_REQUEST, &format!("bad body: {e}"))
        }
    };
    match analyst_close(&sim, &c) {
        Some(r) => json_response(
            StatusCode::OK,
            serde_json::to_string(&r).unwrap_or_else(|_| "{}".into()),
        ),
        None => crate::api::admin_error(
            StatusCode::NOT_FOUND,
            &format!("no ticket numbered {}", c.number),
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultsBody {
    #[serde(default)]
    create_delay_ms: u64,
    #[serde(default)]
    update_delay_ms: u64,
    #[serde(default)]
    rate_limited_requests: u32,
    #[serde(default)]
    unavailable_requests: u32,
}

pub(super) async fn admin_faults(State(sim): State<Arc<SimInner>>, body: Bytes) -> Response {
    match serde_json::from_slice::<FaultsBody>(&body) {
        Ok(f) => {
            sim.snow.set_faults(SnowFaults {
                create_delay: Duration::from_millis(f.create_delay_ms),
                update_delay: Duration::from_millis(f.update_delay_ms),
                rate_limited_requests: f.rate_limited_requests,
                unavailable_requests: f.unavailable_requests,
            });
            json_response(StatusCode::OK, "{\"ok\":true}".into())
        }
        Err(e) => crate::api::admin_error(StatusCode::BAD_REQUEST, &format!("bad body: {e}")),
    }
}

pub(super) async fn admin_deliveries(State(sim): State<Arc<SimInner>>) -> Response {
    json_response(
        StatusCode::OK,
        serde_json::to_string(&sim.snow.deliveries()).unwrap_or_else(|_| "[]".into()),
    )
}
