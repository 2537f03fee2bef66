//! `/api/v1/groups`: groups and their members.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use provisio_directory::Group;
use provisio_lifecycle::Change;

use super::{Actor, ApiError, AppState, Body, Page, Params, PreviewParam, submit, timestamp};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/groups", post(create).get(list))
        .route("/groups/{id}", get(read))
        .route("/groups/{id}/users", get(members))
        .route("/groups/{id}/users/{user_id}", put(add).delete(remove))
}

fn group_json(g: &Group) -> Value {
    json!({
        "id": g.id,
        "created": timestamp(g.created_at),
        "lastUpdated": timestamp(g.updated_at),
        "profile": { "name": g.name, "description": g.description },
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupBody {
    profile: GroupProfile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupProfile {
    name: String,
    #[serde(default)]
    description: String,
}

async fn create(
    State(state): State<AppState>,
    actor: Actor,
    Body(body): Body<GroupBody>,
) -> Result<Response, ApiError> {
    let group = state.store.create_group(&actor.0, &body.profile.name, &body.profile.description).await?;
    Ok((StatusCode::CREATED, Json(group_json(&group))).into_response())
}

async fn read(State(state): State<AppState>, _: Actor, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(group_json(&state.store.group(&id).await?)))
}

async fn list(State(state): State<AppState>, _: Actor, Params(page): Params<Page>) -> Result<Json<Value>, ApiError> {
    let groups = state.store.list_groups(page.after.as_deref(), page.limit).await?;
    Ok(Json(Value::Array(groups.iter().map(group_json).collect())))
}

async fn members(State(state): State<AppState>, _: Actor, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    state.store.group(&id).await?;
    let mut users = Vec::new();
    for user_id in state.store.members(&id).await? {
        users.push(super::users::user_json(&state.store.user(&user_id).await?));
    }
    Ok(Json(Value::Array(users)))
}

async fn add(
    State(state): State<AppState>,
    actor: Actor,
    Path((group_id, user_id)): Path<(String, String)>,
    Params(p): Params<PreviewParam>,
) -> Result<Response, ApiError> {
    let change = Change::AddMember { group_id, user_id };
    submit(&state, &actor, change, p.preview, |_| StatusCode::NO_CONTENT.into_response()).await
}

async fn remove(
    State(state): State<AppState>,
    actor: Actor,
    Path((group_id, user_id)): Path<(String, String)>,
    Params(p): Params<PreviewParam>,
) -> Result<Response, ApiError> {
    let change = Change::RemoveMember { group_id, user_id };
    submit(&state, &actor, change, p.preview, |_| StatusCode::NO_CONTENT.into_response()).await
}
