//! Tracing of connector calls: every call is one event with the app,
//! connector@version, operation, duration, outcome and blame.

use crate::model::Operation;
use crate::runtime::CallReport;
use crate::state::{AppShared, LogLevel, LogLine};

pub(crate) fn guest_log(app: &AppShared, operation: Operation, line: &LogLine) {
    let (app_id, connector, op, msg) = (&app.app_id, &app.connector, operation.name(), &line.message);
    match line.level {
        LogLevel::Trace => {
            tracing::trace!(target: "provisio::guest", app = %app_id, connector = %connector, operation = op, "{msg}")
        }
        LogLevel::Debug => {
            tracing::debug!(target: "provisio::guest", app = %app_id, connector = %connector, operation = op, "{msg}")
        }
        LogLevel::Info => {
            tracing::info!(target: "provisio::guest", app = %app_id, connector = %connector, operation = op, "{msg}")
        }
        LogLevel::Warn => {
            tracing::warn!(target: "provisio::guest", app = %app_id, connector = %connector, operation = op, "{msg}")
        }
        LogLevel::Error => {
            tracing::error!(target: "provisio::guest", app = %app_id, connector = %connector, operation = op, "{msg}")
        }
    }
}

pub(crate) fn call_finished(report: &CallReport, error: Option<&crate::error::CallError>) {
    let duration_us = report.duration.as_micros() as u64;
    let (app, connector, operation) =
        (report.app_id.to_string(), report.connector.to_string(), report.operation.name());
    let outcome = error.map_or("ok", |e| e.kind());
    metrics::counter!(
        "provisio_connector_calls_total",
        "app" => app.clone(), "connector" => connector.clone(), "operation" => operation, "outcome" => outcome
    )
    .increment(1);
    metrics::histogram!("provisio_connector_call_duration_seconds", "app" => app.clone(), "operation" => operation)
        .record(report.duration.as_secs_f64());
    if matches!(error, Some(crate::error::CallError::Trap { .. })) {
        metrics::counter!("provisio_connector_traps_total", "app" => app, "connector" => connector).increment(1);
    }
    match error {
        None => tracing::info!(
            target: "provisio::connector",
            app = %report.app_id, connector = %report.connector, operation = report.operation.name(),
            duration_us, requests = report.requests, outcome = "ok",
            "connector call succeeded"
        ),
        Some(e) => tracing::warn!(
            target: "provisio::connector",
            app = %report.app_id, connector = %report.connector, operation = report.operation.name(),
            duration_us, requests = report.requests, outcome = e.kind(), blame = %e.blame(),
            "connector call failed: {e}"
        ),
    }
}
