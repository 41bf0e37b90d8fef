//! The HTTP server: `/metrics` (Prometheus), `/healthz`, `/readyz`, `/status` (JSON),
//! `/series.json` (recent rates) and the dashboard at `/` (plain HTML, CSS and JavaScript
//! embedded in the binary: nothing to build, nothing to serve from disk).

pub mod series;

use crate::status::StatusBoard;
use crate::store::Store;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use std::sync::OnceLock;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder once; later calls return the same handle.
pub fn metrics_handle() -> Option<PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(h) => Some(h),
            Err(e) => {
                warn!(error = %e, "metrics recorder not installed; /metrics will be empty");
                None
            }
        })
        .clone()
}

#[derive(Clone)]
struct AppState {
    status: StatusBoard,
    store: Store,
    cluster: crate::cluster::Cluster,
    metrics: Option<PrometheusHandle>,
    series: series::Series,
}

/// Routes; `extra` lets later features (webhooks) add their own.
pub fn router(status: StatusBoard, store: Store, cluster: crate::cluster::Cluster) -> Router {
    let state = AppState {
        store,
        series: series::Series::start(status.clone()),
        status,
        cluster,
        metrics: metrics_handle(),
    };
    Router::new()
        .route("/", get(dashboard))
        .route("/dashboard/app.js", get(app_js))
        .route("/dashboard/style.css", get(style_css))
        .route("/series.json", get(series_json))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/status", get(status_json))
        .with_state(state)
}

/// Binds and serves until `shutdown`. Returns the bound address.
pub async fn serve(
    listen: SocketAddr,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    info!(%addr, "HTTP server listening (/metrics, /healthz, /readyz, /status, dashboard at /)");
    let handle = tokio::spawn(async move {
        let result = axum::serve(listener, router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = result {
            warn!(error = %e, "HTTP server stopped with an error");
        }
    });
    Ok((addr, handle))
}

async fn metrics(State(s): State<AppState>) -> Response {
    metrics::gauge!("sebridge_journal_head").set(s.store.head() as f64);
    match &s.metrics {
        Some(h) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            h.render(),
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder unavailable\n",
        )
            .into_response(),
    }
}

async fn readyz(State(s): State<AppState>) -> Response {
    match s.store.head_from_db().await {
        Ok(_) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store unavailable: {e}\n"),
        )
            .into_response(),
    }
}

async fn status_json(State(s): State<AppState>) -> Response {
    let mut v =
        serde_json::to_value(s.status.snapshot(s.store.head())).unwrap_or(serde_json::Value::Null);
    // Replicas of a PostgreSQL store: which one this is and what it runs.
    if let (Some(me), Some(obj)) = (s.cluster.replica(), v.as_object_mut()) {
        obj.insert(
            "cluster".into(),
            serde_json::json!({ "replica": me, "leases": s.cluster.held() }),
        );
    }
    axum::Json(v).into_response()
}

async fn dashboard() -> Html<&'static str> {
    Html(include_str!("dashboard/index.html"))
}

async fn app_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("dashboard/app.js"),
    )
        .into_response()
}

async fn style_css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("dashboard/style.css"),
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct SeriesQuery {
    /// Comma-separated tenant names; all tenants when absent.
    tenants: Option<String>,
}

async fn series_json(State(s): State<AppState>, Query(q): Query<SeriesQuery>) -> Response {
    let names: Option<Vec<&str>> = q
        .tenants
        .as_deref()
        .map(|t| t.split(',').filter(|n| !n.is_empty()).collect());
    axum::Json(s.series.json(names.as_deref())).into_response()
}
