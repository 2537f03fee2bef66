//! `/api/v1/apps`: apps on installed connectors (configuration and sealed
//! credentials), connection checks, mappings with preview, policy,
//! assignments, app accounts and their sync state, provisioning errors.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use provisio_directory::{App, AppAccount, NEVER, NewApp};
use provisio_lifecycle::{AccountImage, Change, Mappings, Policy};

use super::{Actor, ApiError, AppState, Body, Page, Params, PreviewParam, submit, timestamp};
use crate::provisioner::validate_config;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/apps", post(create).get(list))
        .route("/apps/{id}", get(read))
        .route("/apps/{id}/check", post(check))
        .route("/apps/{id}/lifecycle/{action}", post(lifecycle))
        .route("/apps/{id}/mappings", put(set_mappings).get(mappings))
        .route("/apps/{id}/mappings/preview", post(preview_mapping))
        .route("/apps/{id}/policy", put(set_policy))
        .route("/apps/{id}/users", get(users))
        .route("/apps/{id}/users/{user_id}", put(assign_user).delete(unassign_user))
        .route("/apps/{id}/groups", get(groups))
        .route("/apps/{id}/groups/{group_id}", put(assign_group).delete(unassign_group))
        .route("/apps/{id}/accounts", get(accounts))
        .route("/apps/{id}/accounts/{user_id}", get(account))
        .route("/apps/{id}/errors", get(errors))
        .route("/apps/{id}/errors/retry", post(retry_all))
        .route("/apps/{id}/errors/{user_id}/retry", post(retry_one))
}

/// An app as the API shows it; credentials are never shown, only whether
/// there are any.
fn app_json(app: &App) -> Value {
    json!({
        "id": app.id,
        "name": app.name,
        "connector": format!("{}@{}", app.connector_name, app.connector_version),
        "status": app.status,
        "quarantineReason": app.quarantine_reason,
        "pausedUntil": app.paused_until.map(timestamp),
        "settings": app.settings,
        "hasCredentials": app.has_secrets,
        "grants": app.grants,
        "mappings": app.mappings,
        "policy": app.policy,
        "created": timestamp(app.created_at),
        "lastUpdated": timestamp(app.updated_at),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAppBody {
    name: String,
    /// `name@version` of an installed connector.
    connector: String,
    #[serde(default)]
    settings: Map<String, Value>,
    /// Credential name → `{ "scheme": "bearer", "token": … }` and the like.
    #[serde(default)]
    credentials: Map<String, Value>,
    #[serde(default)]
    grants: Vec<String>,
    #[serde(default)]
    mappings: Option<Value>,
    #[serde(default)]
    policy: Option<Value>,
}

async fn create(
    State(state): State<AppState>,
    actor: Actor,
    Body(body): Body<NewAppBody>,
) -> Result<Response, ApiError> {
    let (name, version) = body
        .connector
        .split_once('@')
        .ok_or_else(|| ApiError::invalid("connector: name it as NAME@VERSION, e.g. scim@0.1.0"))?;
    let mappings = body.mappings.unwrap_or_else(|| json!({}));
    Mappings::parse(&mappings).map_err(|e| ApiError::invalid(e.to_string()))?;
    let policy = body.policy.unwrap_or_else(|| json!({}));
    Policy::parse(&policy).map_err(ApiError::invalid)?;
    let settings = Value::Object(body.settings);
    validate_config(state.connectors.runtime(), (name, version), &settings, &body.grants, &body.credentials)
        .map_err(ApiError::invalid)?;
    let new = NewApp {
        name: body.name,
        connector_name: name.into(),
        connector_version: version.into(),
        settings,
        secrets: body.credentials,
        grants: body.grants,
        mappings,
        policy,
    };
    let app = state.store.create_app(&actor.0, new, &state.sealer).await?;
    Ok((StatusCode::CREATED, Json(app_json(&app))).into_response())
}

async fn list(State(state): State<AppState>, _: Actor) -> Result<Json<Value>, ApiError> {
    Ok(Json(Value::Array(state.store.list_apps().await?.iter().map(app_json).collect())))
}

async fn read(State(state): State<AppState>, _: Actor, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app_json(&state.store.app(&id).await?)))
}

async fn check(State(state): State<AppState>, _: Actor, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let app = state.store.app(&id).await?;
    match state.connectors.check(&app).await {
        Ok(()) => Ok(Json(json!({ "ok": true }))),
        Err(message) => Ok(Json(json!({ "ok": false, "error": message }))),
    }
}

/// `activate` resumes a quarantined or paused app.
async fn lifecycle(
    State(state): State<AppState>,
    actor: Actor,
    Path((id, action)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let status = match action.as_str() {
        "activate" => "active",
        "deactivate" => "paused",
        other => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not-found",
                format!("no app lifecycle operation \"{other}\"; use activate or deactivate"),
            ));
        }
    };
    state.store.set_app_status(&actor.0, &id, status, None).await?;
    Ok(Json(app_json(&state.store.app(&id).await?)))
}

async fn mappings(State(state): State<AppState>, _: Actor, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.store.app(&id).await?.mappings))
}

async fn set_mappings(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Params(p): Params<PreviewParam>,
    Body(mappings): Body<Value>,
) -> Result<Response, ApiError> {
    let change = Change::SetMappings { app_id: id, mappings };
    submit(&state, &actor, change, p.preview, |r| Json(r).into_response()).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PreviewBody {
    user_id: String,
    /// Mappings to try instead of the app's own.
    mappings: Option<Value>,
}

/// What the app would receive for a user.
async fn preview_mapping(
    State(state): State<AppState>,
    _: Actor,
    Path(id): Path<String>,
    Body(body): Body<PreviewBody>,
) -> Result<Json<Value>, ApiError> {
    let image: AccountImage = state.engine.preview_mapping(&id, &body.user_id, body.mappings.as_ref()).await?;
    Ok(Json(json!({ "login": image.login, "attributes": image.attributes })))
}

async fn set_policy(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Params(p): Params<PreviewParam>,
    Body(policy): Body<Value>,
) -> Result<Response, ApiError> {
    let change = Change::SetPolicy { app_id: id, policy };
    submit(&state, &actor, change, p.preview, |r| Json(r).into_response()).await
}

async fn users(State(state): State<AppState>, _: Actor, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    state.store.app(&id).await?;
    let direct = state.store.direct_assignments(&id).await?;
    let all = state.store.app_users(&id).await?;
    let rows: Vec<Value> =
        all.iter().map(|u| json!({ "id": u, "scope": if direct.contains(u) { "USER" } else { "GROUP" } })).collect();
    Ok(Json(Value::Array(rows)))
}

async fn assign_user(
    State(state): State<AppState>,
    actor: Actor,
    Path((app_id, user_id)): Path<(String, String)>,
    Params(p): Params<PreviewParam>,
) -> Result<Response, ApiError> {
    let change = Change::AssignUser { app_id, user_id };
    submit(&state, &actor, change, p.preview, |r| Json(r).into_response()).await
}

async fn unassign_user(
    State(state): State<AppState>,
    actor: Actor,
    Path((app_id, user_id)): Path<(String, String)>,
    Params(p): Params<PreviewParam>,
) -> Result<Response, ApiError> {
    let change = Change::UnassignUser { app_id, user_id };
    submit(&state, &actor, change, p.preview, |_| StatusCode::NO_CONTENT.into_response()).await
}

async fn groups(State(state): State<AppState>, _: Actor, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    state.store.app(&id).await?;
    Ok(Json(json!(state.store.group_assignments(&id).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignGroupParams {
    #[serde(default)]
    preview: bool,
    /// Lower wins when groups would give an app different values (later).
    #[serde(default)]
    priority: i64,
}

async fn assign_group(
    State(state): State<AppState>,
    actor: Actor,
    Path((app_id, group_id)): Path<(String, String)>,
    Params(p): Params<AssignGroupParams>,
) -> Result<Response, ApiError> {
    let change = Change::AssignGroup { app_id, group_id, priority: p.priority };
    submit(&state, &actor, change, p.preview, |r| Json(r).into_response()).await
}

async fn unassign_group(
    State(state): State<AppState>,
    actor: Actor,
    Path((app_id, group_id)): Path<(String, String)>,
    Params(p): Params<PreviewParam>,
) -> Result<Response, ApiError> {
    let change = Change::UnassignGroup { app_id, group_id };
    submit(&state, &actor, change, p.preview, |_| StatusCode::NO_CONTENT.into_response()).await
}

/// An app account and its sync state.
fn account_json(a: &AppAccount) -> Value {
    let sync = if a.desired_generation <= a.pushed_generation {
        "SYNCED"
    } else if a.last_error.is_some() && a.next_attempt_at >= NEVER {
        "ERROR"
    } else if a.last_error.is_some() {
        "RETRYING"
    } else {
        "PENDING"
    };
    json!({
        "userId": a.user_id,
        "externalId": a.external_id,
        "syncState": sync,
        "desiredState": a.desired_state,
        "pushedState": a.pushed_state,
        "desired": a.desired_profile,
        "pushed": a.pushed_profile,
        "attempts": a.attempt,
        "nextAttempt": (a.desired_generation > a.pushed_generation && a.next_attempt_at < NEVER).then(|| timestamp(a.next_attempt_at)),
        "lastError": a.last_error,
    })
}

async fn accounts(
    State(state): State<AppState>,
    _: Actor,
    Path(id): Path<String>,
    Params(page): Params<Page>,
) -> Result<Json<Value>, ApiError> {
    state.store.app(&id).await?;
    let rows = state.store.app_accounts(&id, page.after.as_deref(), page.limit).await?;
    Ok(Json(Value::Array(rows.iter().map(account_json).collect())))
}

async fn account(
    State(state): State<AppState>,
    _: Actor,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let a = state.store.account(&id, &user_id).await?.ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "not-found", format!("user {user_id} has no account in app {id}"))
    })?;
    Ok(Json(account_json(&a)))
}

async fn errors(State(state): State<AppState>, _: Actor, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    state.store.app(&id).await?;
    Ok(Json(json!(state.store.provisioning_errors(Some(&id)).await?)))
}

async fn retry_all(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.store.app(&id).await?;
    let retried = state.store.retry_errors(&actor.0, &id, None).await?;
    Ok(Json(json!({ "retried": retried })))
}

async fn retry_one(
    State(state): State<AppState>,
    actor: Actor,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let retried = state.store.retry_errors(&actor.0, &id, Some(&user_id)).await?;
    if retried == 0 {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("user {user_id} has no failed account in app {id}"),
        ));
    }
    Ok(Json(json!({ "retried": retried })))
}
