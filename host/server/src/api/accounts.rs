//! `/api/v1/apps/{id}/accounts` and `/errors`: an app's accounts and their
//! sync state, the provisioning errors that wait for an admin, their retry,
//! and the admin's word on a create whose outcome Provisio could not learn.

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Map;
use utoipa_axum::{router::OpenApiRouter, routes};

use provisio_directory::Resolution;
use provisio_lifecycle::{AccountImage, AccountOp, Connectors};
use provisio_proto::{self as proto, ResolveBody};

use super::{Actor, ApiError, AppState, Body, Page, Params, page, wire};

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

#[utoipa::path(
    get,
    path = "/apps/{id}/accounts",
    operation_id = "listAppAccounts",
    tag = "apps",
    summary = "App accounts and their sync state, paged by user id",
    params(("id" = String, Path, description = "The app's id"), Page),
    responses((status = 200, description = "Accounts; a `Link: rel=next` header when there may be more", body = Vec<proto::Account>)),
    security(("apiToken" = ["accounts:read"]))
)]
async fn accounts(
    State(state): State<AppState>,
    _: Actor,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
    Params(p): Params<Page>,
) -> Result<Response, ApiError> {
    let limit = p.limit()?;
    state.store.app(&id).await?;
    let rows = state.store.app_accounts(&id, p.after.as_deref(), limit).await?;
    let last = rows.last().map(|a| a.user_id.clone());
    let answers = named(&state, rows.iter().map(wire::account).collect()).await?;
    Ok(page(&uri, &answers, limit, last))
}

#[utoipa::path(
    get,
    path = "/apps/{id}/accounts/{user_id}",
    operation_id = "getAppAccount",
    tag = "apps",
    summary = "One app account and its sync state",
    params(("id" = String, Path, description = "The app's id"), ("user_id" = String, Path, description = "A user's id")),
    responses((status = 200, description = "The account", body = proto::Account)),
    security(("apiToken" = ["accounts:read"]))
)]
async fn account(
    State(state): State<AppState>,
    _: Actor,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<Json<proto::Account>, ApiError> {
    let a = state.store.account(&id, &user_id).await?.ok_or_else(|| no_account(&id, &user_id))?;
    Ok(Json(named(&state, vec![wire::account(&a)]).await?.remove(0)))
}

/// Accounts with their users' logins.
async fn named(state: &AppState, accounts: Vec<proto::Account>) -> Result<Vec<proto::Account>, ApiError> {
    Ok(wire::with_logins(&state.store, accounts, |a| &a.user_id, |a| &mut a.login).await?)
}

#[utoipa::path(
    post,
    path = "/apps/{id}/accounts/{user_id}/resolve",
    operation_id = "resolveAppAccount",
    tag = "apps",
    summary = "Say what the app holds for a create whose outcome is unknown: the account's id, or absent",
    params(("id" = String, Path, description = "The app's id"), ("user_id" = String, Path, description = "A user's id")),
    request_body = ResolveBody,
    responses((status = 200, description = "The account, due again", body = proto::Account), (status = 409, description = "No create of this account is in doubt, or it is being worked on", body = proto::Error)),
    security(("apiToken" = ["apps:write"]))
)]
async fn resolve(
    State(state): State<AppState>,
    actor: Actor,
    Path((id, user_id)): Path<(String, String)>,
    Body(found): Body<ResolveBody>,
) -> Result<Json<proto::Account>, ApiError> {
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
    Ok(Json(wire::account(&account)))
}

#[utoipa::path(
    get,
    path = "/apps/{id}/consistency",
    operation_id = "checkAppConsistency",
    tag = "apps",
    summary = "Recompute every account's desired state from one snapshot of the directory and list where the stored one differs",
    params(("id" = String, Path, description = "The app's id")),
    responses((status = 200, description = "How many accounts were checked, and each difference", body = proto::Consistency)),
    security(("apiToken" = ["accounts:read"]))
)]
async fn consistency(
    State(state): State<AppState>,
    _: Actor,
    Path(id): Path<String>,
) -> Result<Json<proto::Consistency>, ApiError> {
    state.store.app(&id).await?;
    let checked = state.engine.drift_in(&id).await?;
    let drift = checked.drift.iter().map(wire::drift).collect();
    Ok(Json(proto::Consistency { app_id: id, accounts: checked.accounts as u64, drift }))
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
    responses((status = 200, description = "Errors", body = Vec<proto::ProvisioningError>)),
    security(("apiToken" = ["accounts:read"]))
)]
async fn errors(
    State(state): State<AppState>,
    _: Actor,
    Path(id): Path<String>,
) -> Result<Json<Vec<proto::ProvisioningError>>, ApiError> {
    state.store.app(&id).await?;
    let errors = state.store.provisioning_errors(Some(&id)).await?.iter().map(wire::provisioning_error).collect();
    Ok(Json(wire::with_logins(&state.store, errors, |e| &e.user_id, |e| &mut e.login).await?))
}

#[utoipa::path(
    post,
    path = "/apps/{id}/errors/retry",
    operation_id = "retryAppErrors",
    tag = "apps",
    summary = "Retry every failed account of the app",
    params(("id" = String, Path, description = "The app's id")),
    responses((status = 200, description = "How many were retried", body = proto::Retried)),
    security(("apiToken" = ["apps:write"]))
)]
async fn retry_all(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<proto::Retried>, ApiError> {
    state.store.app(&id).await?;
    let retried = state.store.retry_errors(&actor.name, &id, None).await?;
    Ok(Json(proto::Retried { retried: retried as u64 }))
}

#[utoipa::path(
    post,
    path = "/apps/{id}/errors/{user_id}/retry",
    operation_id = "retryAppError",
    tag = "apps",
    summary = "Retry one failed account",
    params(("id" = String, Path, description = "The app's id"), ("user_id" = String, Path, description = "A user's id")),
    responses((status = 200, description = "How many were retried", body = proto::Retried)),
    security(("apiToken" = ["apps:write"]))
)]
async fn retry_one(
    State(state): State<AppState>,
    actor: Actor,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<Json<proto::Retried>, ApiError> {
    let retried = state.store.retry_errors(&actor.name, &id, Some(&user_id)).await?;
    if retried == 0 {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("user {user_id} has no failed account in app {id}"),
        ));
    }
    Ok(Json(proto::Retried { retried: retried as u64 }))
}
