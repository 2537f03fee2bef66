//! `/api/v1/nodes`: the `provisio serve` runs on this directory, whether
//! each is live, and the work each holds.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Actor, ApiError, AppState, timestamp};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

#[utoipa::path(
    get,
    path = "/nodes",
    operation_id = "listNodes",
    tag = "nodes",
    summary = "Every run of provisio serve on this directory, newest first: live or not, the accounts it holds and the singletons it runs (retention, duplicates, hooks.fan-out)",
    responses((status = 200, description = "Nodes")),
    security(("apiToken" = ["nodes:read"]))
)]
async fn list(State(state): State<AppState>, _: Actor) -> Result<Json<Value>, ApiError> {
    let nodes = state.store.nodes().await?;
    let shown: Vec<Value> = nodes
        .iter()
        .map(|n| {
            json!({
                "id": n.id,
                "node": n.node,
                "version": n.version,
                "listen": n.listen,
                "live": n.live,
                "started": timestamp(n.started_at),
                "lastHeartbeat": timestamp(n.heartbeat_at),
                "stopped": n.stopped_at.map(timestamp),
                "accountsHeld": n.held,
                "singletons": n.singletons,
            })
        })
        .collect();
    Ok(Json(Value::Array(shown)))
}
