//! `/api/v1/plans`: changes held by the mass-change guard, and the work queue.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use provisio_lifecycle::Change;
use provisio_proto as proto;

use super::{Actor, ApiError, AppState, Params, checked_limit, wire};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read))
        .routes(routes!(approve))
        .routes(routes!(reject))
        .routes(routes!(work))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PlanQuery {
    /// HELD, APPROVED, REJECTED or APPLIED; either case.
    status: Option<String>,
    /// At most this many, newest first (1-1000, default 200).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/plans",
    operation_id = "listPlans",
    tag = "plans",
    summary = "Plans held by the mass-change guard, and decided ones",
    params(PlanQuery),
    responses((status = 200, description = "Plans", body = Vec<proto::Plan>)),
    security(("apiToken" = ["plans:read"]))
)]
async fn list(
    State(state): State<AppState>,
    _: Actor,
    Params(q): Params<PlanQuery>,
) -> Result<Json<Vec<proto::Plan>>, ApiError> {
    let limit = checked_limit(q.limit)?;
    let status =
        q.status.as_deref().map(|s| proto::PlanStatus::parse("status", s)).transpose().map_err(ApiError::invalid)?;
    Ok(Json(
        state.store.list_plans(status.map(proto::PlanStatus::stored), limit).await?.iter().map(wire::plan).collect(),
    ))
}

#[utoipa::path(
    get,
    path = "/plans/{id}",
    operation_id = "getPlan",
    tag = "plans",
    summary = "A plan",
    params(("id" = String, Path, description = "The plan's id")),
    responses((status = 200, description = "The plan", body = proto::Plan)),
    security(("apiToken" = ["plans:read"]))
)]
async fn read(State(state): State<AppState>, _: Actor, Path(id): Path<String>) -> Result<Json<proto::Plan>, ApiError> {
    let mut plan = wire::plan(&state.store.plan(&id).await?);
    // Who each planned change reaches, by login: one batched read.
    let changes = || plan.operations.iter().flat_map(|e| e.changes.iter());
    let ids: Vec<String> = changes().map(|c| c.user_id.clone()).collect();
    let logins = state.store.logins_of(&ids).await?;
    for change in plan.operations.iter_mut().flat_map(|e| e.changes.iter_mut()) {
        change.login = logins.get(&change.user_id).cloned();
    }
    Ok(Json(plan))
}

#[utoipa::path(
    post,
    path = "/plans/{id}/approve",
    operation_id = "approvePlan",
    tag = "plans",
    summary = "Apply a held plan to the directory as it is now",
    params(("id" = String, Path, description = "The plan's id")),
    responses((status = 200, description = "The plan and its effects", body = proto::Approved)),
    security(("apiToken" = ["plans:decide"]))
)]
async fn approve(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<proto::Approved>, ApiError> {
    // Only someone who could have made the change may approve it.
    let change: Change = serde_json::from_value(state.store.plan(&id).await?.change)
        .map_err(|e| ApiError::invalid(format!("plan {id} holds a change this version cannot read: {e}")))?;
    actor.may_change(&state.store, &change).await?;
    let outcome = state.engine.approve(&actor.name, &id).await?;
    Ok(Json(proto::Approved { plan: wire::plan(&state.store.plan(&id).await?), effects: outcome.effects }))
}

#[utoipa::path(
    post,
    path = "/plans/{id}/reject",
    operation_id = "rejectPlan",
    tag = "plans",
    summary = "Reject a held plan",
    params(("id" = String, Path, description = "The plan's id")),
    responses((status = 200, description = "The plan", body = proto::Plan)),
    security(("apiToken" = ["plans:decide"]))
)]
async fn reject(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<proto::Plan>, ApiError> {
    state.engine.reject(&actor.name, &id).await?;
    Ok(Json(wire::plan(&state.store.plan(&id).await?)))
}

/// The work queue: accounts with changes not yet pushed.
#[utoipa::path(
    get,
    path = "/work",
    operation_id = "getWork",
    tag = "plans",
    summary = "How many app accounts wait for a change to be pushed, per app, and how many of them wait for an admin",
    responses((status = 200, description = "The queue", body = proto::Work)),
    security(("apiToken" = ["apps:read"]))
)]
async fn work(State(state): State<AppState>, _: Actor) -> Result<Json<proto::Work>, ApiError> {
    let apps: Vec<proto::AppWork> = state.store.work_by_app().await?;
    let pending = apps.iter().map(|a| a.pending).sum();
    let waiting_for_admin = apps.iter().map(|a| a.waiting_for_admin).sum();
    Ok(Json(proto::Work { pending, waiting_for_admin, apps }))
}
