//! `/api/v1/apps/{id}/accounts` and `/errors`: an app's accounts and their
//! sync state, the provisioning errors that wait for an admin, their retry,
//! and the admin's word on a create whose outcome Provisio could not learn.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

use provisio_directory::{AppAccount, NEVER, Resolution};
use provisio_lifecycle::{AccountImage, AccountOp, Connectors};

use super::{Actor, ApiError, AppState, Body, Page, Params, timestamp};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(accounts))
        .routes(routes!(account))
        .routes(routes!(resolve))
        .routes(routes!(consistency))
        .routes(routes!(errors))
        .routes(routes!(retry_all))
        .routes(routes!(retry_one))
}

/// An app account and its sync state.
pub fn account_json(a: &AppAccount) -> Value {
    let sync = if a.desired_generation <= a.pushed_generation {
        "SYNCED"
    } else if a.last_error.is_some() && a.next_attempt_at >= NEVER && a.intent.as_deref() == Some("create") {
        // A create may have reached the app and Provisio cannot tell: the
        // error says what to check before retrying.
        "OUTCOME_UNKNOWN"
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

#[utoipa::path(
    get,
    path = "/apps/{id}/accounts",
    operation_id = "listAppAccounts",
    tag = "apps",
    summary = "App accounts and their sync state, paged by user id",
    params(("id" = String, Path, description = "The app's id"), Page),
    responses((status = 200, description = "Accounts")),
    security(("apiToken" = ["accounts:read"]))
)]
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

#[utoipa::path(
    get,
    path = "/apps/{id}/accounts/{user_id}",
    operation_id = "getAppAccount",
    tag = "apps",
    summary = "One app account and its sync state",
    params(("id" = String, Path, description = "The app's id"), ("user_id" = String, Path, description = "A user's id")),
    responses((status = 200, description = "The account")),
    security(("apiToken" = ["accounts:read"]))
)]
async fn account(
    State(state): State<AppState>,
    _: Actor,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let a = state.store.account(&id, &user_id).await?.ok_or_else(|| no_account(&id, &user_id))?;
    Ok(Json(account_json(&a)))
}

/// What the admin found in the app: exactly one of the two.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Found {
    /// The app's id of the account the create made.
    external_id: Option<String>,
    /// `true`: the app holds no account for this user.
    absent: Option<bool>,
}

#[utoipa::path(
    post,
    path = "/apps/{id}/accounts/{user_id}/resolve",
    operation_id = "resolveAppAccount",
    tag = "apps",
    summary = "Say what the app holds for a create whose outcome is unknown: the account's id, or absent",
    params(("id" = String, Path, description = "The app's id"), ("user_id" = String, Path, description = "A user's id")),
    request_body = Found,
    responses((status = 200, description = "The account, due again"), (status = 409, description = "No create of this account is in doubt, or it is being worked on")),
    security(("apiToken" = ["apps:write"]))
)]
async fn resolve(
    State(state): State<AppState>,
    actor: Actor,
    Path((id, user_id)): Path<(String, String)>,
    Body(found): Body<Found>,
) -> Result<Json<Value>, ApiError> {
    let app = state.store.app(&id).await?;
    let resolution = match (found.external_id, found.absent) {
        (Some(external_id), None) if !external_id.trim().is_empty() => {
            let account = state.store.account(&id, &user_id).await?.ok_or_else(|| no_account(&id, &user_id))?;
            // The create carried the whole profile. Where the connector can
            // update, the account is assumed to hold only its login, so the
            // next push sends every attribute; where it cannot, it holds
            // what the create sent.
            let sent = AccountImage::from_map(&account.desired_profile);
            let profile = if state.connectors.supports(&app, AccountOp::Update) {
                AccountImage { login: sent.login, attributes: Map::new() }.to_map()
            } else {
                sent.to_map()
            };
            Resolution::Found { external_id, profile }
        }
        (None, Some(true)) => Resolution::Absent,
        _ => {
            return Err(ApiError::invalid(
                "say what the app holds: {\"externalId\": \"<the account's id in the app>\"} or {\"absent\": true}",
            ));
        }
    };
    let account = state.store.resolve_in_doubt(&actor.name, &id, &user_id, &resolution).await?;
    state.engine.notify_work();
    Ok(Json(account_json(&account)))
}

#[utoipa::path(
    get,
    path = "/apps/{id}/consistency",
    operation_id = "checkAppConsistency",
    tag = "apps",
    summary = "Recompute every account's desired state from one snapshot of the directory and list where the stored one differs",
    params(("id" = String, Path, description = "The app's id")),
    responses((status = 200, description = "How many accounts were checked, and each difference")),
    security(("apiToken" = ["accounts:read"]))
)]
async fn consistency(State(state): State<AppState>, _: Actor, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    state.store.app(&id).await?;
    let checked = state.engine.drift_in(&id).await?;
    let drift: Vec<Value> = checked
        .drift
        .iter()
        .map(|d| {
            json!({
                "userId": d.user_id,
                "stored": d.stored,
                "implied": d.implied,
                "profileDiffers": d.profile_differs,
            })
        })
        .collect();
    Ok(Json(json!({ "appId": id, "accounts": checked.accounts, "drift": drift })))
}

fn no_account(app_id: &str, user_id: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not-found", format!("user {user_id} has no account in app {app_id}"))
}

#[utoipa::path(
    get,
    path = "/apps/{id}/errors",
    operation_id = "listAppErrors",
    tag = "apps",
    summary = "Provisioning errors that wait for an admin",
    params(("id" = String, Path, description = "The app's id")),
    responses((status = 200, description = "Errors")),
    security(("apiToken" = ["accounts:read"]))
)]
async fn errors(State(state): State<AppState>, _: Actor, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    state.store.app(&id).await?;
    Ok(Json(json!(state.store.provisioning_errors(Some(&id)).await?)))
}

#[utoipa::path(
    post,
    path = "/apps/{id}/errors/retry",
    operation_id = "retryAppErrors",
    tag = "apps",
    summary = "Retry every failed account of the app",
    params(("id" = String, Path, description = "The app's id")),
    responses((status = 200, description = "How many were retried")),
    security(("apiToken" = ["apps:write"]))
)]
async fn retry_all(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.store.app(&id).await?;
    let retried = state.store.retry_errors(&actor.name, &id, None).await?;
    Ok(Json(json!({ "retried": retried })))
}

#[utoipa::path(
    post,
    path = "/apps/{id}/errors/{user_id}/retry",
    operation_id = "retryAppError",
    tag = "apps",
    summary = "Retry one failed account",
    params(("id" = String, Path, description = "The app's id"), ("user_id" = String, Path, description = "A user's id")),
    responses((status = 200, description = "How many were retried")),
    security(("apiToken" = ["apps:write"]))
)]
async fn retry_one(
    State(state): State<AppState>,
    actor: Actor,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let retried = state.store.retry_errors(&actor.name, &id, Some(&user_id)).await?;
    if retried == 0 {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("user {user_id} has no failed account in app {id}"),
        ));
    }
    Ok(Json(json!({ "retried": retried })))
}
