//! `/api/v1/plans`: changes held by the mass-change guard, and the work queue.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Actor, ApiError, AppState, Params};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/plans", get(list))
        .route("/plans/{id}", get(read))
        .route("/plans/{id}/approve", post(approve))
        .route("/plans/{id}/reject", post(reject))
        .route("/work", get(work))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanQuery {
    status: Option<String>,
    #[serde(default = "hundred")]
    limit: u32,
}

fn hundred() -> u32 {
    100
}

async fn list(State(state): State<AppState>, _: Actor, Params(q): Params<PlanQuery>) -> Result<Json<Value>, ApiError> {
    if let Some(s) = &q.status
        && !matches!(s.as_str(), "held" | "applied" | "rejected")
    {
        return Err(ApiError::invalid(format!("status \"{s}\": use held, applied or rejected")));
    }
    Ok(Json(json!(state.store.list_plans(q.status.as_deref(), q.limit).await?)))
}

async fn read(State(state): State<AppState>, _: Actor, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.store.plan(&id).await?)))
}

async fn approve(State(state): State<AppState>, actor: Actor, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let outcome = state.engine.approve(&actor.0, &id).await?;
    Ok(Json(json!({ "plan": state.store.plan(&id).await?, "effects": outcome.effects })))
}

async fn reject(State(state): State<AppState>, actor: Actor, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    state.engine.reject(&actor.0, &id).await?;
    Ok(Json(json!(state.store.plan(&id).await?)))
}

/// The work queue: accounts with changes not yet pushed.
async fn work(State(state): State<AppState>, _: Actor) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "pending": state.store.pending_accounts().await? })))
}
