//! `/api/v1/users`: create, read, list, update profiles, lifecycle.

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa_axum::{router::OpenApiRouter, routes};

use provisio_directory::{StoreError, User, UserSearch};
use provisio_lifecycle::{Change, Transition};
use provisio_proto::{self as proto, BulkLifecycleBody, BulkResult, UserBody};

use super::{
    Actor, ApiError, AppState, Body, Params, PreviewParam, checked_limit, engine_answer, page, submit, typed, wire,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(read, update_profile, replace_profile, delete))
        .routes(routes!(lifecycle))
        .routes(routes!(bulk_lifecycle))
}

/// The engine's user (the answer of a user change) as the API shows it.
fn user_answer(result: Value) -> Result<proto::User, ApiError> {
    let user: User = engine_answer(result)?;
    Ok(wire::user(&user))
}

fn answer(status: StatusCode, result: Value) -> Response {
    match user_answer(result) {
        Ok(u) => (status, Json(u)).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct CreateParams {
    #[serde(default = "yes")]
    activate: bool,
    #[serde(default)]
    preview: bool,
}

fn yes() -> bool {
    true
}

/// Splits the login out of a profile; every other attribute must be a
/// JSON scalar or a list of them, or an object (custom attributes welcome).
fn split_login(mut profile: Map<String, Value>) -> Result<(String, Map<String, Value>), ApiError> {
    let login = match profile.remove("login") {
        Some(Value::String(s)) => s,
        Some(other) => return Err(ApiError::invalid(format!("profile.login must be a string, not {other}"))),
        None => return Err(ApiError::invalid("profile.login is required")),
    };
    for key in ["email", "firstName", "lastName", "displayName", "employeeNumber", "department", "title", "manager"] {
        if let Some(v) = profile.get(key)
            && !(v.is_string() || v.is_null())
        {
            return Err(ApiError::invalid(format!("profile.{key} must be a string, not {v}")));
        }
    }
    Ok((login, profile))
}

#[utoipa::path(
    post,
    path = "/users",
    operation_id = "createUser",
    tag = "users",
    summary = "Create a user (activated unless `activate=false`)",
    params(CreateParams),
    request_body = UserBody,
    responses((status = 201, description = "The user", body = proto::User)),
    security(("apiToken" = ["users:create"]))
)]
async fn create(
    State(state): State<AppState>,
    actor: Actor,
    Params(params): Params<CreateParams>,
    Body(body): Body<UserBody>,
) -> Result<Response, ApiError> {
    let (login, profile) = split_login(body.profile)?;
    let change = Change::CreateUser { login, profile, activate: params.activate };
    submit(&state, &actor, change, params.preview, |result| answer(StatusCode::CREATED, result)).await
}

#[utoipa::path(
    get,
    path = "/users/{id}",
    operation_id = "getUser",
    tag = "users",
    summary = "A user, by id or login",
    params(("id" = String, Path, description = "The user's id, or their login")),
    responses((status = 200, description = "The user", body = proto::User)),
    security(("apiToken" = ["directory:read"]))
)]
async fn read(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<proto::User>, ApiError> {
    Ok(Json(wire::user(&find_user(&state, &actor, &id).await?)))
}

/// The user a path names by id or, as in Okta's API, by login; one a group
/// admin may not see is not found.
pub(super) async fn find_user(state: &AppState, actor: &Actor, id: &str) -> Result<User, ApiError> {
    let user = match state.store.user(id).await {
        Err(StoreError::NotFound { .. }) => state.store.user_by_login(id).await?.ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, "not-found", format!("no user has the id or login \"{id}\""))
        })?,
        found => found?,
    };
    actor.may_see_user(&state.store, &user.id).await?;
    Ok(user)
}

#[utoipa::path(
    get,
    path = "/users",
    operation_id = "listUsers",
    tag = "users",
    summary = "Find users: `q` (prefix of login, name or email), `filter` (status, times, profile attributes), paged by id",
    params(ListParams),
    responses((status = 200, description = "Users; a `Link: rel=next` header when there may be more", body = Vec<proto::User>)),
    security(("apiToken" = ["directory:read"]))
)]
async fn list(
    State(state): State<AppState>,
    actor: Actor,
    OriginalUri(uri): OriginalUri,
    Params(p): Params<ListParams>,
) -> Result<Response, ApiError> {
    let limit = checked_limit(p.limit)?;
    let search = UserSearch {
        q: p.q,
        filter: p.filter,
        // A group admin sees the users of their groups only.
        managed_by: actor.managed_by().map(str::to_owned),
        after: p.after,
        limit,
    };
    let users = state.store.search_users(&search).await?;
    let last = users.last().map(|u| u.id.clone());
    Ok(page(&uri, &users.iter().map(wire::user).collect::<Vec<_>>(), limit, last))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// A prefix of the login, first or last name, or email (case-insensitive).
    q: Option<String>,
    /// e.g. `status eq "ACTIVE" and profile.department eq "Engineering"`; also
    /// `created|lastUpdated gt|ge|lt|le "<RFC 3339>"` and `profile.NAME sw "prefix"`.
    filter: Option<String>,
    /// The last id of the previous page.
    after: Option<String>,
    /// At most this many (1-1000, default 200).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

async fn update(
    state: AppState,
    actor: Actor,
    id: String,
    profile: Map<String, Value>,
    merge: bool,
    preview: bool,
) -> Result<Response, ApiError> {
    let current = state.store.user(&id).await?;
    let (login, incoming) = match profile.contains_key("login") {
        true => split_login(profile)?,
        false => (current.login.clone(), profile),
    };
    if login != current.login {
        return Err(ApiError::invalid("changing a user's login is not supported yet"));
    }
    let profile = if merge {
        let mut merged = current.profile.clone();
        for (k, v) in incoming {
            // null removes an attribute, as in Okta's partial update.
            if v.is_null() {
                merged.remove(&k);
            } else {
                merged.insert(k, v);
            }
        }
        merged
    } else {
        incoming
    };
    let change = Change::UpdateProfile { user_id: id, profile, expected_version: Some(current.version) };
    submit(&state, &actor, change, preview, |result| answer(StatusCode::OK, result)).await
}

/// POST merges into the profile (null removes an attribute), as in Okta's API.
#[utoipa::path(
    post,
    path = "/users/{id}",
    operation_id = "updateUser",
    tag = "users",
    summary = "Merge into a user's profile (`null` removes an attribute)",
    params(("id" = String, Path, description = "The user's id"), PreviewParam),
    request_body = UserBody,
    responses((status = 200, description = "The user", body = proto::User)),
    security(("apiToken" = ["users:write"]))
)]
async fn update_profile(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Params(p): Params<PreviewParam>,
    Body(body): Body<UserBody>,
) -> Result<Response, ApiError> {
    update(state, actor, id, body.profile, true, p.preview).await
}

/// PUT replaces the profile.
#[utoipa::path(
    put,
    path = "/users/{id}",
    operation_id = "replaceUser",
    tag = "users",
    summary = "Replace a user's profile",
    params(("id" = String, Path, description = "The user's id"), PreviewParam),
    request_body = UserBody,
    responses((status = 200, description = "The user", body = proto::User)),
    security(("apiToken" = ["users:write"]))
)]
async fn replace_profile(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Params(p): Params<PreviewParam>,
    Body(body): Body<UserBody>,
) -> Result<Response, ApiError> {
    update(state, actor, id, body.profile, false, p.preview).await
}

fn transition(action: &str) -> Result<Transition, ApiError> {
    Transition::parse(action).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no lifecycle operation \"{action}\"; use activate, reactivate, suspend, unsuspend or deactivate"),
        )
    })
}

#[utoipa::path(
    post,
    path = "/users/{id}/lifecycle/{action}",
    operation_id = "userLifecycle",
    tag = "users",
    summary = "activate, reactivate, suspend, unsuspend or deactivate a user",
    params(("id" = String, Path, description = "The user's id"), ("action" = String, Path, description = "The operation"), PreviewParam),
    responses((status = 200, description = "The user", body = proto::User)),
    security(("apiToken" = ["users:write"]))
)]
async fn lifecycle(
    State(state): State<AppState>,
    actor: Actor,
    Path((id, action)): Path<(String, String)>,
    Params(p): Params<PreviewParam>,
) -> Result<Response, ApiError> {
    let change = Change::Lifecycle { user_id: id, transition: transition(&action)? };
    submit(&state, &actor, change, p.preview, |result| answer(StatusCode::OK, result)).await
}

#[utoipa::path(
    post,
    path = "/bulk/users/lifecycle/{action}",
    operation_id = "bulkUserLifecycle",
    tag = "users",
    summary = "One lifecycle operation on many users",
    params(("action" = String, Path, description = "The operation"), PreviewParam),
    request_body = BulkLifecycleBody,
    responses((status = 200, description = "How many users changed", body = BulkResult)),
    security(("apiToken" = ["users:write"]))
)]
async fn bulk_lifecycle(
    State(state): State<AppState>,
    actor: Actor,
    Path(action): Path<String>,
    Params(p): Params<PreviewParam>,
    Body(body): Body<BulkLifecycleBody>,
) -> Result<Response, ApiError> {
    let change = Change::BulkLifecycle { user_ids: body.user_ids, transition: transition(&action)? };
    submit(&state, &actor, change, p.preview, |r| typed::<BulkResult>(StatusCode::OK, r)).await
}

#[utoipa::path(
    delete,
    path = "/users/{id}",
    operation_id = "deleteUser",
    tag = "users",
    summary = "Delete a deprovisioned user whose app accounts are settled",
    params(("id" = String, Path, description = "The user's id"), PreviewParam),
    responses((status = 204, description = "Deleted")),
    security(("apiToken" = ["users:write"]))
)]
async fn delete(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Params(p): Params<PreviewParam>,
) -> Result<Response, ApiError> {
    submit(&state, &actor, Change::DeleteUser { user_id: id }, p.preview, |_| StatusCode::NO_CONTENT.into_response())
        .await
}
