//! `/api/v1/nodes`: the `provisio serve` runs on this directory, whether
//! each is live, and the work each holds.

use axum::Json;
use axum::extract::State;
use provisio_proto as proto;
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
    responses((status = 200, description = "Nodes", body = Vec<proto::Node>)),
    security(("apiToken" = ["nodes:read"]))
)]
async fn list(State(state): State<AppState>, _: Actor) -> Result<Json<Vec<proto::Node>>, ApiError> {
    let nodes = state.store.nodes().await?;
    Ok(Json(
        nodes
            .iter()
            .map(|n| proto::Node {
                id: n.id.clone(),
                node: n.node.clone(),
                version: n.version.clone(),
                listen: n.listen.clone(),
                live: n.live,
                started: timestamp(n.started_at),
                last_heartbeat: timestamp(n.heartbeat_at),
                stopped: n.stopped_at.map(timestamp),
                accounts_held: n.held,
                singletons: n.singletons.clone(),
            })
            .collect(),
    ))
}
