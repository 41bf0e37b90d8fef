//! Control of the simulated ServiceNow instance and XDR organisation: [`SimHandle`] methods
//! and the `/_sim/integrations`, `/_sim/snow/...`, `/_sim/xdr/...` routes.
//!
//! | route | body | effect |
//! |---|---|---|
//! | `GET /_sim/integrations` | | [`IntegrationInfo`]: URLs and credentials of both |
//! | `GET /_sim/snow/records` | | every record with its journal |
//! | `PUT /_sim/snow/webhook` | [`SnowWebhook`] | where the close business rule posts |
//! | `POST /_sim/snow/close` | `{"number", "state"?, "close_code"?, "close_notes"?}` | an analyst closes a ticket |
//! | `PUT /_sim/snow/faults` | `{"create_delay_ms", "rate_limited_requests", "unavailable_requests"}` | |
//! | `GET /_sim/snow/deliveries` | | webhook calls made |
//! | `GET /_sim/xdr/incidents` | | every XDR incident |
//! | `PUT /_sim/xdr/token_ttl` | `{"secs"}` | lifetime of tokens issued from now on |
//! | `POST /_sim/xdr/expire_tokens` | | every issued token stops working |
//! | `PUT /_sim/xdr/rate_limit` | `{"limit", "window_secs"}` | the organisation's budget per rolling window |
//! | `GET /_sim/xdr/requests` | | every `/ctia` request: [`XdrRequest`](crate::XdrRequest)s |

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::envelope_json_response as json_response;
use crate::sim::SimInner;
use crate::snow::{analyst_close, CloseBody, SnowFaults, SnowInfo, SnowRecord, SnowWebhook};
use crate::xdr::{XdrInfo, XdrRequest};
use crate::{SimError, SimHandle, WebhookDelivery};

/// Where the simulated ServiceNow and XDR are and how to authenticate to them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IntegrationInfo {
    /// The ServiceNow instance.
    pub servicenow: SnowInfo,
    /// The XDR organisation.
    pub xdr: XdrInfo,
}

pub(crate) fn admin_router() -> Router<Arc<SimInner>> {
    Router::new()
        .route("/integrations", get(integrations))
        .nest("/snow", crate::snow::admin_router())
        .nest("/xdr", crate::xdr::admin_router())
}

fn info(sim: &SimInner) -> IntegrationInfo {
    IntegrationInfo {
        servicenow: sim.snow.info(&sim.base_url),
        xdr: sim.xdr.info(&sim.base_url),
    }
}

async fn integrations(State(sim): State<Arc<SimInner>>) -> Response {
    json_response(
        StatusCode::OK,
        serde_json::to_string(&info(&sim)).unwrap_or_else(|_| "{}".into()),
    )
}

impl SimHandle {
    /// URLs and credentials of the simulated ServiceNow instance and XDR organisation.
    pub fn integrations(&self) -> IntegrationInfo {
        info(self.inner())
    }

    /// Every ServiceNow record (both tables), with its journal.
    pub fn snow_records(&self) -> Vec<SnowRecord> {
        self.inner().snow.records()
    }

    /// One ServiceNow record by number.
    pub fn snow_record(&self, number: &str) -> Option<SnowRecord> {
        self.snow_records()
            .into_iter()
            .find(|r| r.get("number") == number)
    }

    /// Configures the webhook the close business rule calls.
    pub fn set_snow_webhook(&self, webhook: SnowWebhook) {
        self.inner().snow.set_webhook(webhook);
    }

    /// Switches the close business rule on or off (off: close notices are lost).
    pub fn set_snow_webhook_enabled(&self, enabled: bool) {
        self.inner().snow.set_webhook_enabled(enabled);
    }

    /// Sets the ServiceNow fault knobs.
    pub fn set_snow_faults(&self, faults: SnowFaults) {
        self.inner().snow.set_faults(faults);
    }

    /// Table API requests received so far (authenticated or not).
    pub fn snow_requests(&self) -> u64 {
        self.inner().snow.requests()
    }

    /// Webhook calls the business rule made.
    pub fn snow_webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        self.inner().snow.deliveries()
    }

    /// An analyst closes ticket `number` (state 7 "Closed", or `state` e.g. "6" Resolved),
    /// with a close code and notes; the business rule fires. `None` if there is no such
    /// ticket.
    pub fn snow_close(
        &self,
        number: &str,
        state: Option<&str>,
        close_code: Option<&str>,
    ) -> Option<SnowRecord> {
        analyst_close(
            self.inner(),
            &CloseBody {
                number: number.to_string(),
                state: state.map(str::to_string),
                close_code: close_code.map(str::to_string),
                close_notes: None,
            },
        )
    }

    /// Every XDR incident, oldest first.
    pub fn xdr_incidents(&self) -> Vec<Value> {
        self.inner().xdr.incidents()
    }

    /// Lifetime of XDR tokens issued from now on (default 600 s).
    pub fn set_xdr_token_ttl(&self, ttl: Duration) {
        self.inner().xdr.set_token_ttl(ttl);
    }

    /// Every XDR token issued so far stops working (as if expired).
    pub fn expire_xdr_tokens(&self) {
        self.inner().xdr.expire_tokens();
    }

    /// Every access token the XDR side issued (and did not expire by hand): for tests that
    /// check they never show up anywhere.
    pub fn xdr_issued_tokens(&self) -> Vec<String> {
        self.inner().xdr.issued_tokens()
    }

    /// Every ServiceNow OAuth access and refresh token issued so far.
    pub fn snow_issued_tokens(&self) -> Vec<String> {
        self.inner().snow.issued_tokens()
    }

    /// The XDR organisation's request budget per rolling window (default 8000 per hour, as
    /// documented); the window starts empty. Over it, `/ctia` answers 429 with `Retry-After`.
    pub fn set_xdr_rate_limit(&self, limit: u32, window: Duration) -> Result<(), SimError> {
        if window.is_zero() {
            return Err(SimError::Config("XDR rate-limit window must be > 0".into()));
        }
        self.inner().xdr.set_rate_limit(limit, window);
        Ok(())
    }

    /// Every `/ctia` request the XDR side received (the last 100,000), oldest first, with
    /// its arrival time and answer: to check what was sent while a 429 was in force.
    pub fn xdr_requests(&self) -> Vec<XdrRequest> {
        self.inner().xdr.requests()
    }

    /// (token requests, requests refused for want of a valid token) on the XDR side.
    pub fn xdr_token_counters(&self) -> (u64, u64) {
        self.inner().xdr.counters()
    }
}
