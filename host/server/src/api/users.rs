//! `/api/v1/users`: create, read, list, update profiles, lifecycle.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use provisio_directory::User;
use provisio_lifecycle::{Change, Transition};

use super::{Actor, ApiError, AppState, Body, Page, Params, PreviewParam, submit, timestamp};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/users", post(create).get(list))
        .route("/users/{id}", get(read).post(update_profile).put(update_profile).delete(delete))
        .route("/users/{id}/lifecycle/{action}", post(lifecycle))
        .route("/bulk/users/lifecycle/{action}", post(bulk_lifecycle))
}

/// A user as the API shows it: Okta's shape, the login inside the profile.
pub fn user_json(user: &User) -> Value {
    let mut profile = user.profile.clone();
    profile.insert("login".into(), json!(user.login));
    json!({
        "id": user.id,
        "status": user.status,
        "created": timestamp(user.created_at),
        "lastUpdated": timestamp(user.updated_at),
        "statusChanged": timestamp(user.status_changed_at),
        "version": user.version,
        "profile": profile,
    })
}

fn user_from(result: &Value) -> Result<User, ApiError> {
    serde_json::from_value(result.clone()).map_err(|e| ApiError::invalid(format!("engine answered oddly: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody {
    profile: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
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

async fn create(
    State(state): State<AppState>,
    actor: Actor,
    Params(params): Params<CreateParams>,
    Body(body): Body<UserBody>,
) -> Result<Response, ApiError> {
    let (login, profile) = split_login(body.profile)?;
    let change = Change::CreateUser { login, profile, activate: params.activate };
    submit(&state, &actor, change, params.preview, |result| {
        let body = user_from(&result).map(|u| user_json(&u)).unwrap_or(result);
        (StatusCode::CREATED, Json(body)).into_response()
    })
    .await
}

async fn read(State(state): State<AppState>, _: Actor, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(user_json(&state.store.user(&id).await?)))
}

async fn list(State(state): State<AppState>, _: Actor, Params(page): Params<Page>) -> Result<Json<Value>, ApiError> {
    let users = state.store.list_users(page.after.as_deref(), page.limit).await?;
    Ok(Json(Value::Array(users.iter().map(user_json).collect())))
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
    submit(&state, &actor, change, preview, |result| match user_from(&result) {
        Ok(u) => Json(user_json(&u)).into_response(),
        Err(e) => e.into_response(),
    })
    .await
}

/// POST merges into the profile (null removes an attribute), PUT replaces
/// it, as in Okta's API.
async fn update_profile(
    State(state): State<AppState>,
    actor: Actor,
    method: Method,
    Path(id): Path<String>,
    Params(p): Params<PreviewParam>,
    Body(body): Body<UserBody>,
) -> Result<Response, ApiError> {
    update(state, actor, id, body.profile, method == Method::POST, p.preview).await
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

async fn lifecycle(
    State(state): State<AppState>,
    actor: Actor,
    Path((id, action)): Path<(String, String)>,
    Params(p): Params<PreviewParam>,
) -> Result<Response, ApiError> {
    let change = Change::Lifecycle { user_id: id, transition: transition(&action)? };
    submit(&state, &actor, change, p.preview, |result| match user_from(&result) {
        Ok(u) => Json(user_json(&u)).into_response(),
        Err(e) => e.into_response(),
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BulkBody {
    user_ids: Vec<String>,
}

async fn bulk_lifecycle(
    State(state): State<AppState>,
    actor: Actor,
    Path(action): Path<String>,
    Params(p): Params<PreviewParam>,
    Body(body): Body<BulkBody>,
) -> Result<Response, ApiError> {
    let change = Change::BulkLifecycle { user_ids: body.user_ids, transition: transition(&action)? };
    submit(&state, &actor, change, p.preview, |result| Json(result).into_response()).await
}

async fn delete(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Params(p): Params<PreviewParam>,
) -> Result<Response, ApiError> {
    submit(&state, &actor, Change::DeleteUser { user_id: id }, p.preview, |_| StatusCode::NO_CONTENT.into_response())
        .await
}
