//! What an operator watches: Prometheus metrics (`/metrics`) and the
//! request id that joins an API call to the connector calls it caused.
//!
//! Every request gets an id (the caller's `X-Request-Id` when it is sane, a
//! new one otherwise), answered in `X-Request-Id`, carried by the request's
//! tracing span, and written on the app accounts the request changes; the
//! executor's span for each push carries it again, so the connector calls'
//! log lines name the request that caused them.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;

use super::{ApiError, AppState};

/// The process's one recorder (installing a second one fails, and tests
/// build several routers in one process).
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
            let builder = PrometheusBuilder::new().set_buckets(&buckets).ok()?;
            builder.install_recorder().map_err(|e| tracing::warn!(error = %e, "no metrics recorder")).ok()
        })
        .as_ref()
}

fn request_id(request: &Request) -> String {
    request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// The span, the request id and the HTTP metrics of every request.
pub async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(&request);
    let route =
        request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let method = request.method().to_string();
    let span = tracing::info_span!("request", request_id = %id, %method, %route);
    let mut response = provisio_directory::with_request_id(id.clone(), next.run(request)).instrument(span).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    let status = response.status().as_u16().to_string();
    metrics::counter!("provisio_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("provisio_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "getMetrics",
    tag = "observability",
    summary = "Prometheus metrics: work queued, done and failed; connector call latency per app and operation; apps quarantined; connector traps; hooks; HTTP",
    responses((status = 200, description = "The Prometheus text format")),
    security(("apiToken" = ["metrics:read"]))
)]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let Some(handle) = prometheus() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics",
            "metrics are not recorded in this process",
        ));
    };
    // Levels are read from the directory when scraped: every node agrees.
    let levels = state.store.levels().await?;
    metrics::gauge!("provisio_work_queued").set(levels.pending_accounts as f64);
    metrics::gauge!("provisio_apps_quarantined").set(levels.quarantined_apps as f64);
    metrics::gauge!("provisio_apps_paused").set(levels.paused_apps as f64);
    metrics::gauge!("provisio_manual_tasks_open").set(levels.open_tasks as f64);
    metrics::gauge!("provisio_provisioning_errors").set(levels.errors as f64);
    metrics::gauge!("provisio_hook_deliveries_pending").set(levels.pending_deliveries as f64);
    let body = handle.render();
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response())
}
