//! Read-only JSON for the dashboard: `GET /incidents.json` (summary and the latest
//! incidents) and `GET /incidents/{id}` (one incident, its outbox operations and audit
//! trail). Nothing here changes anything; no secret is in an incident row.

use super::IncidentService;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

pub fn router(service: IncidentService) -> Router {
    Router::new()
        .route("/incidents.json", get(incidents_json))
        .route("/incidents/{id}", get(incident_json))
        .with_state(service)
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("store unavailable: {e}"),
    )
        .into_response()
}

/// Summary and the latest incidents, for the dashboard.
async fn incidents_json(State(service): State<IncidentService>) -> Response {
    let store = &service.ctx.store;
    match (store.summary().await, store.list(None, None, 25).await) {
        (Ok(summary), Ok(list)) => {
            // What failed or was held back shows as such, not as no containment.
            let contained = match store.containment(&list).await {
                Ok(c) => c,
                Err(e) => return unavailable(e),
            };
            let items: Vec<serde_json::Value> = list
                .iter()
                .map(|i| {
                    serde_json::json!({
                        "id": i.id, "tenant": i.tenant, "status": i.status, "severity": i.severity,
                        "title": i.title, "events": i.event_count, "servicenow": i.snow_number,
                        "xdr": i.xdr_id.as_deref().map(xdr::short_id),
                        "isolated": i.isolated_by_us && !i.isolation_released,
                        "moved": i.moved_by_us && !i.group_restored,
                        "isolation_pending": i.isolation_pending().map(|(state, since)| {
                            serde_json::json!({ "state": state, "since": since })
                        }),
                        "containment": contained.get(&i.id),
                    })
                })
                .collect();
            Json(serde_json::json!({ "summary": summary, "incidents": items })).into_response()
        }
        (Err(e), _) | (_, Err(e)) => unavailable(e),
    }
}

/// One incident with its operations and audit trail, oldest line first.
async fn incident_json(State(service): State<IncidentService>, Path(id): Path<i64>) -> Response {
    let store = &service.ctx.store;
    let incident = match store.get(id).await {
        Ok(Some(i)) => i,
        Ok(None) => return (StatusCode::NOT_FOUND, format!("no incident #{id}")).into_response(),
        Err(e) => return unavailable(e),
    };
    match (store.ops(id).await, store.audit(Some(id), 1000).await) {
        (Ok(ops), Ok(mut audit)) => {
            audit.reverse();
            Json(serde_json::json!({ "incident": incident, "operations": ops, "audit": audit }))
                .into_response()
        }
        (Err(e), _) | (_, Err(e)) => unavailable(e),
    }
}
