//! `/api/v1/groups`: groups and their members.

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};

use provisio_lifecycle::Change;
use provisio_proto::{self as proto, GroupBody, GroupPatch};

use super::{Actor, ApiError, AppState, Body, Page, Params, PreviewParam, page, submit, wire};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(read, update, delete))
        .routes(routes!(members))
        .routes(routes!(add, remove))
}

#[utoipa::path(
    post,
    path = "/groups",
    operation_id = "createGroup",
    tag = "groups",
    summary = "Create a group",
    request_body = GroupBody,
    responses((status = 201, description = "The group", body = proto::Group)),
    security(("apiToken" = ["groups:write"]))
)]
async fn create(
    State(state): State<AppState>,
    actor: Actor,
    Body(body): Body<GroupBody>,
) -> Result<Response, ApiError> {
    let group = state.store.create_group(&actor.name, &body.profile.name, &body.profile.description).await?;
    Ok((StatusCode::CREATED, Json(wire::group(&group))).into_response())
}

#[utoipa::path(
    get,
    path = "/groups/{id}",
    operation_id = "getGroup",
    tag = "groups",
    summary = "A group",
    params(("id" = String, Path, description = "The group's id")),
    responses((status = 200, description = "The group", body = proto::Group)),
    security(("apiToken" = ["directory:read"]))
)]
async fn read(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<proto::Group>, ApiError> {
    actor.may_see_group(&id)?;
    Ok(Json(wire::group(&state.store.group(&id).await?)))
}

/// A rename changes no account: mappings see a user's profile, not their
/// groups' names.
#[utoipa::path(
    patch,
    path = "/groups/{id}",
    operation_id = "updateGroup",
    tag = "groups",
    summary = "Rename a group or change its description",
    params(("id" = String, Path, description = "The group's id")),
    request_body = GroupPatch,
    responses((status = 200, description = "The group", body = proto::Group)),
    security(("apiToken" = ["groups:write"]))
)]
async fn update(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Body(body): Body<GroupPatch>,
) -> Result<Json<proto::Group>, ApiError> {
    let mut tx = state.store.write().await?;
    let current = tx.group(&id).await?;
    let name = body.profile.name.unwrap_or(current.name);
    let description = body.profile.description.unwrap_or(current.description);
    let group = tx.update_group(&actor.name, &id, &name, &description).await?;
    tx.commit().await?;
    Ok(Json(wire::group(&group)))
}

/// Its members lose the apps it gave them (unless another assignment gives
/// them too), through the engine like any unassignment, and guarded.
#[utoipa::path(
    delete,
    path = "/groups/{id}",
    operation_id = "deleteGroup",
    tag = "groups",
    summary = "Delete a group; its members are deprovisioned from the apps it gave them",
    params(("id" = String, Path, description = "The group's id"), PreviewParam),
    responses((status = 204, description = "Deleted")),
    security(("apiToken" = ["groups:write"]))
)]
async fn delete(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Params(p): Params<PreviewParam>,
) -> Result<Response, ApiError> {
    let change = Change::DeleteGroup { group_id: id };
    let answer = submit(&state, &actor, change, p.preview, |_| StatusCode::NO_CONTENT.into_response()).await;
    // A group admin's scope may have gone with it.
    state.tokens.clear();
    answer
}

#[utoipa::path(
    get,
    path = "/groups",
    operation_id = "listGroups",
    tag = "groups",
    summary = "List groups, paged by id",
    params(Page),
    responses((status = 200, description = "Groups; a `Link: rel=next` header when there may be more", body = Vec<proto::Group>)),
    security(("apiToken" = ["directory:read"]))
)]
async fn list(
    State(state): State<AppState>,
    actor: Actor,
    OriginalUri(uri): OriginalUri,
    Params(p): Params<Page>,
) -> Result<Response, ApiError> {
    let limit = p.limit()?;
    let mut groups = state.store.list_groups(p.after.as_deref(), limit).await?;
    if actor.managed_by().is_some() {
        // A group admin sees their own groups only; they are few.
        groups = Vec::new();
        for id in actor.groups.iter().filter(|g| p.after.as_deref().is_none_or(|a| g.as_str() > a)).take(limit as usize)
        {
            groups.push(state.store.group(id).await?);
        }
    }
    let last = groups.last().map(|g| g.id.clone());
    Ok(page(&uri, &groups.iter().map(wire::group).collect::<Vec<_>>(), limit, last))
}

#[utoipa::path(
    get,
    path = "/groups/{id}/users",
    operation_id = "listGroupMembers",
    tag = "groups",
    summary = "A group's members, paged by id",
    params(("id" = String, Path, description = "The group's id"), Page),
    responses((status = 200, description = "Users; a `Link: rel=next` header when there may be more", body = Vec<proto::User>)),
    security(("apiToken" = ["directory:read"]))
)]
async fn members(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    Params(p): Params<Page>,
) -> Result<Response, ApiError> {
    actor.may_see_group(&id)?;
    let limit = p.limit()?;
    state.store.group(&id).await?;
    let users = state.store.member_page(&id, p.after.as_deref(), limit).await?;
    let last = users.last().map(|u| u.id.clone());
    Ok(page(&uri, &users.iter().map(wire::user).collect::<Vec<_>>(), limit, last))
}

#[utoipa::path(
    put,
    path = "/groups/{id}/users/{user_id}",
    operation_id = "addGroupMember",
    tag = "groups",
    summary = "Add a user to a group",
    params(("id" = String, Path, description = "The group's id"), ("user_id" = String, Path, description = "A user's id"), PreviewParam),
    responses((status = 204, description = "Added (or a member already)")),
    security(("apiToken" = ["members:write"]))
)]
async fn add(
    State(state): State<AppState>,
    actor: Actor,
    Path((group_id, user_id)): Path<(String, String)>,
    Params(p): Params<PreviewParam>,
) -> Result<Response, ApiError> {
    let change = Change::AddMember { group_id, user_id };
    submit(&state, &actor, change, p.preview, |_| StatusCode::NO_CONTENT.into_response()).await
}

#[utoipa::path(
    delete,
    path = "/groups/{id}/users/{user_id}",
    operation_id = "removeGroupMember",
    tag = "groups",
    summary = "Remove a user from a group",
    params(("id" = String, Path, description = "The group's id"), ("user_id" = String, Path, description = "A user's id"), PreviewParam),
    responses((status = 204, description = "Removed (or not a member)")),
    security(("apiToken" = ["members:write"]))
)]
async fn remove(
    State(state): State<AppState>,
    actor: Actor,
    Path((group_id, user_id)): Path<(String, String)>,
    Params(p): Params<PreviewParam>,
) -> Result<Response, ApiError> {
    let change = Change::RemoveMember { group_id, user_id };
    submit(&state, &actor, change, p.preview, |_| StatusCode::NO_CONTENT.into_response()).await
}
