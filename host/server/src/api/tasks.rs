//! `/api/v1/tasks`: manual deprovisioning tasks — what a human must do in
//! an app whose connector cannot — and marking them done.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use provisio_directory::ManualTask;
use provisio_proto as proto;

use super::{Actor, ApiError, AppState, Params, timestamp};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(read)).routes(routes!(complete))
}

fn task_json(t: &ManualTask) -> proto::Task {
    proto::Task {
        id: t.id.clone(),
        app_id: t.app_id.clone(),
        user_id: t.user_id.clone(),
        login: t.login.clone(),
        action: t.action.clone(),
        status: proto::TaskStatus::from_stored(&t.status),
        created: timestamp(t.created_at),
        closed: t.closed_at.map(timestamp),
        closed_by: t.closed_by.clone(),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct TaskQuery {
    /// OPEN (the default), DONE, CANCELLED or ALL; either case.
    status: Option<String>,
    app_id: Option<String>,
    /// At most this many (1-1000, default 200).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/tasks",
    operation_id = "listTasks",
    tag = "tasks",
    summary = "Manual deprovisioning tasks, oldest first (open ones unless asked otherwise)",
    params(TaskQuery),
    responses((status = 200, description = "Tasks", body = Vec<proto::Task>)),
    security(("apiToken" = ["accounts:read"]))
)]
async fn list(State(state): State<AppState>, Params(q): Params<TaskQuery>) -> Result<Json<Vec<proto::Task>>, ApiError> {
    let status = match q.status.as_deref() {
        None => Some(proto::TaskStatus::Open),
        Some(all) if all.eq_ignore_ascii_case("all") => None,
        Some(s) => Some(proto::TaskStatus::parse("status", s).map_err(|e| ApiError::invalid(format!("{e} or ALL")))?),
    };
    let tasks = state
        .store
        .manual_tasks(status.map(proto::TaskStatus::stored), q.app_id.as_deref(), super::checked_limit(q.limit)?)
        .await?;
    Ok(Json(tasks.iter().map(task_json).collect()))
}

#[utoipa::path(
    get,
    path = "/tasks/{id}",
    operation_id = "getTask",
    tag = "tasks",
    summary = "A manual task",
    params(("id" = String, Path, description = "The task's id")),
    responses((status = 200, description = "The task", body = proto::Task)),
    security(("apiToken" = ["accounts:read"]))
)]
async fn read(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<proto::Task>, ApiError> {
    Ok(Json(task_json(&state.store.manual_task(&id).await?)))
}

#[utoipa::path(
    post,
    path = "/tasks/{id}/done",
    operation_id = "completeTask",
    tag = "tasks",
    summary = "Mark a manual task done (409 if it is not open)",
    params(("id" = String, Path, description = "The task's id")),
    responses((status = 200, description = "The task", body = proto::Task)),
    security(("apiToken" = ["tasks:write"]))
)]
async fn complete(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<proto::Task>, ApiError> {
    Ok(Json(task_json(&state.store.complete_manual_task(&actor.name, &id).await?)))
}
