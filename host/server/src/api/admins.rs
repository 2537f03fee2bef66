//! `/api/v1/admins`: admins, their roles and groups, and their API tokens.
//! A token's value is in the answer that creates it and nowhere else.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};

use provisio_directory::{Admin, ApiToken, IssuedToken, Role};
use provisio_proto::{self as proto, AdminRole, NewAdmin, NewToken};

use super::{Actor, ApiError, AppState, Body, parse_timestamp, timestamp};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(me))
        .routes(routes!(my_tokens, create_my_token))
        .routes(routes!(revoke_my_token))
        .routes(routes!(read, update, delete))
        .routes(routes!(deactivate))
        .routes(routes!(tokens, create_token))
        .routes(routes!(revoke_token))
}

fn admin_json(a: &Admin) -> proto::Admin {
    proto::Admin {
        id: Some(a.id.clone()),
        login: a.login.clone(),
        role: a.role.to_string(),
        status: proto::AdminStatus::from_stored(&a.status),
        groups: a.groups.clone(),
        created: Some(timestamp(a.created_at)),
        last_updated: Some(timestamp(a.updated_at)),
    }
}

fn token_json(t: &ApiToken) -> proto::Token {
    proto::Token {
        id: t.id.clone(),
        admin_id: t.admin_id.clone(),
        name: t.name.clone(),
        prefix: t.prefix.clone(),
        created: timestamp(t.created_at),
        expires_at: t.expires_at.map(timestamp),
        last_used: t.last_used_at.map(timestamp),
        revoked: t.revoked_at.map(timestamp),
    }
}

fn issued_json(issued: &IssuedToken) -> proto::IssuedToken {
    proto::IssuedToken { token: token_json(&issued.token), value: issued.secret.as_str().to_string() }
}

fn role(name: &str) -> Result<Role, ApiError> {
    Ok(name.parse::<Role>()?)
}

#[utoipa::path(
    get,
    path = "/admins",
    operation_id = "listAdmins",
    tag = "admins",
    summary = "List admins",
    responses((status = 200, description = "Admins", body = Vec<proto::Admin>)),
    security(("apiToken" = ["admins:read"]))
)]
async fn list(State(state): State<AppState>) -> Result<Json<Vec<proto::Admin>>, ApiError> {
    Ok(Json(state.store.list_admins().await?.iter().map(admin_json).collect()))
}

#[utoipa::path(
    post,
    path = "/admins",
    operation_id = "createAdmin",
    tag = "admins",
    summary = "Create an admin with a role (and, for a group admin, groups)",
    request_body = NewAdmin,
    responses((status = 201, description = "The admin", body = proto::Admin)),
    security(("apiToken" = ["admins:write"]))
)]
async fn create(State(state): State<AppState>, actor: Actor, Body(body): Body<NewAdmin>) -> Result<Response, ApiError> {
    let admin = state.store.create_admin(&actor.name, &body.login, role(&body.role)?, &body.groups).await?;
    Ok((StatusCode::CREATED, Json(admin_json(&admin))).into_response())
}

#[utoipa::path(
    get,
    path = "/admins/{id}",
    operation_id = "getAdmin",
    tag = "admins",
    summary = "An admin",
    params(("id" = String, Path, description = "The admin's id")),
    responses((status = 200, description = "The admin", body = proto::Admin)),
    security(("apiToken" = ["admins:read"]))
)]
async fn read(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<proto::Admin>, ApiError> {
    Ok(Json(admin_json(&state.store.admin(&id).await?)))
}

#[utoipa::path(
    put,
    path = "/admins/{id}",
    operation_id = "updateAdmin",
    tag = "admins",
    summary = "Change an admin's role and groups",
    params(("id" = String, Path, description = "The admin's id")),
    request_body = AdminRole,
    responses((status = 200, description = "The admin", body = proto::Admin)),
    security(("apiToken" = ["admins:write"]))
)]
async fn update(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Body(body): Body<AdminRole>,
) -> Result<Json<proto::Admin>, ApiError> {
    let mut tx = state.store.write().await?;
    let admin = tx.update_admin(&actor.name, &id, role(&body.role)?, &body.groups).await?;
    tx.commit().await?;
    state.tokens.clear();
    Ok(Json(admin_json(&admin)))
}

#[utoipa::path(
    delete,
    path = "/admins/{id}",
    operation_id = "deleteAdmin",
    tag = "admins",
    summary = "Delete an admin; every token of theirs stops working at once",
    params(("id" = String, Path, description = "The admin's id")),
    responses((status = 204, description = "Deleted")),
    security(("apiToken" = ["admins:write"]))
)]
async fn delete(State(state): State<AppState>, actor: Actor, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    if actor.admin_id.as_deref() == Some(id.as_str()) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "you cannot delete yourself; another super admin can",
        ));
    }
    let mut tx = state.store.write().await?;
    tx.delete_admin(&actor.name, &id).await?;
    tx.commit().await?;
    state.tokens.clear();
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/admins/{id}/lifecycle/deactivate",
    operation_id = "deactivateAdmin",
    tag = "admins",
    summary = "Deactivate an admin and revoke their tokens",
    params(("id" = String, Path, description = "The admin's id")),
    responses((status = 200, description = "The admin", body = proto::Admin)),
    security(("apiToken" = ["admins:write"]))
)]
async fn deactivate(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<proto::Admin>, ApiError> {
    let mut tx = state.store.write().await?;
    let admin = tx.deactivate_admin(&actor.name, &id).await?;
    tx.commit().await?;
    state.tokens.clear();
    Ok(Json(admin_json(&admin)))
}

#[utoipa::path(
    get,
    path = "/admins/{id}/tokens",
    operation_id = "listAdminTokens",
    tag = "admins",
    summary = "An admin's tokens (never their values)",
    params(("id" = String, Path, description = "The admin's id")),
    responses((status = 200, description = "Tokens", body = Vec<proto::Token>)),
    security(("apiToken" = ["admins:read"]))
)]
async fn tokens(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Vec<proto::Token>>, ApiError> {
    state.store.admin(&id).await?;
    Ok(Json(state.store.tokens_of(&id).await?.iter().map(token_json).collect()))
}

#[utoipa::path(
    post,
    path = "/admins/{id}/tokens",
    operation_id = "createAdminToken",
    tag = "admins",
    summary = "A new token for an admin; its value is shown in this answer only",
    params(("id" = String, Path, description = "The admin's id")),
    request_body = NewToken,
    responses((status = 201, description = "The token, with its value", body = proto::IssuedToken)),
    security(("apiToken" = ["admins:write"]))
)]
async fn create_token(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Body(body): Body<NewToken>,
) -> Result<Response, ApiError> {
    issue(&state, &actor, &id, body).await
}

#[utoipa::path(
    delete,
    path = "/admins/{id}/tokens/{token_id}",
    operation_id = "revokeAdminToken",
    tag = "admins",
    summary = "Revoke an admin's token",
    params(
        ("id" = String, Path, description = "The admin's id"),
        ("token_id" = String, Path, description = "The token's id")
    ),
    responses((status = 204, description = "Revoked")),
    security(("apiToken" = ["admins:write"]))
)]
async fn revoke_token(
    State(state): State<AppState>,
    actor: Actor,
    Path((id, token_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    revoke(&state, &actor, &id, &token_id).await
}

/// The calling admin's own id; the bootstrap token belongs to no admin.
fn own_id(actor: &Actor) -> Result<&str, ApiError> {
    actor.admin_id.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "no-admin",
            "the bootstrap token belongs to no admin; create an admin (POST /api/v1/admins) and give them a token",
        )
    })
}

#[utoipa::path(
    get,
    path = "/admins/me",
    operation_id = "getMe",
    tag = "admins",
    summary = "The calling admin",
    responses((status = 200, description = "The admin", body = proto::Admin)),
    security(("apiToken" = ["self"]))
)]
async fn me(State(state): State<AppState>, actor: Actor) -> Result<Json<proto::Admin>, ApiError> {
    match &actor.admin_id {
        Some(id) => Ok(Json(admin_json(&state.store.admin(id).await?))),
        None => Ok(Json(proto::Admin {
            id: None,
            login: actor.name,
            role: actor.role.to_string(),
            status: proto::AdminStatus::Active,
            groups: Vec::new(),
            created: None,
            last_updated: None,
        })),
    }
}

#[utoipa::path(
    get,
    path = "/admins/me/tokens",
    operation_id = "listMyTokens",
    tag = "admins",
    summary = "The calling admin's tokens",
    responses((status = 200, description = "Tokens", body = Vec<proto::Token>)),
    security(("apiToken" = ["self"]))
)]
async fn my_tokens(State(state): State<AppState>, actor: Actor) -> Result<Json<Vec<proto::Token>>, ApiError> {
    let id = own_id(&actor)?;
    Ok(Json(state.store.tokens_of(id).await?.iter().map(token_json).collect()))
}

#[utoipa::path(
    post,
    path = "/admins/me/tokens",
    operation_id = "createMyToken",
    tag = "admins",
    summary = "A new token for the calling admin, with the same role",
    request_body = NewToken,
    responses((status = 201, description = "The token, with its value", body = proto::IssuedToken)),
    security(("apiToken" = ["self"]))
)]
async fn create_my_token(
    State(state): State<AppState>,
    actor: Actor,
    Body(body): Body<NewToken>,
) -> Result<Response, ApiError> {
    let id = own_id(&actor)?.to_owned();
    issue(&state, &actor, &id, body).await
}

#[utoipa::path(
    delete,
    path = "/admins/me/tokens/{token_id}",
    operation_id = "revokeMyToken",
    tag = "admins",
    summary = "Revoke one of the calling admin's tokens",
    params(("token_id" = String, Path, description = "The token's id")),
    responses((status = 204, description = "Revoked")),
    security(("apiToken" = ["self"]))
)]
async fn revoke_my_token(
    State(state): State<AppState>,
    actor: Actor,
    Path(token_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = own_id(&actor)?.to_owned();
    revoke(&state, &actor, &id, &token_id).await
}

async fn issue(state: &AppState, actor: &Actor, admin_id: &str, body: NewToken) -> Result<Response, ApiError> {
    let expires_at = body.expires_at.as_deref().map(|s| parse_timestamp("expiresAt", s)).transpose()?;
    let mut tx = state.store.write().await?;
    let issued = tx.create_token(&actor.name, admin_id, &body.name, expires_at).await?;
    tx.commit().await?;
    state.tokens.clear();
    Ok((StatusCode::CREATED, Json(issued_json(&issued))).into_response())
}

async fn revoke(state: &AppState, actor: &Actor, admin_id: &str, token_id: &str) -> Result<StatusCode, ApiError> {
    let mut tx = state.store.write().await?;
    tx.revoke_token(&actor.name, admin_id, token_id).await?;
    tx.commit().await?;
    state.tokens.clear();
    Ok(StatusCode::NO_CONTENT)
}
