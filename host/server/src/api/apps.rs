//! `/api/v1/apps`: apps on installed connectors (configuration and sealed
//! credentials), connection checks, mappings with preview, policy,
//! assignments. Their accounts are in `accounts`.

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

use provisio_directory::{App, AppConfigEdit, NewApp, Retirement, StoreError};
use provisio_lifecycle::{AccountImage, Change, Mappings, Policy};
use provisio_proto as proto;

use super::{Actor, ApiError, AppState, Body, Page, Params, PreviewParam, page, submit, typed, wire};
use crate::provisioner::{AppParts, validate_config};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(read, update, delete))
        .routes(routes!(check))
        .routes(routes!(lifecycle))
        .routes(routes!(mappings, set_mappings))
        .routes(routes!(preview_mapping))
        .routes(routes!(set_policy))
        .routes(routes!(users))
        .routes(routes!(assign_user, unassign_user))
        .routes(routes!(groups))
        .routes(routes!(assign_group, unassign_group))
}

/// An app as the API shows it (credentials never).
pub fn app_json(state: &AppState, app: &App) -> proto::App {
    wire::app(state, app)
}

#[utoipa::path(
    post,
    path = "/apps",
    operation_id = "createApp",
    tag = "apps",
    summary = "Create an app on an installed connector, with sealed credentials",
    request_body = proto::NewApp,
    responses((status = 201, description = "The app (credentials never shown)", body = proto::App)),
    security(("apiToken" = ["apps:write"]))
)]
async fn create(
    State(state): State<AppState>,
    actor: Actor,
    Body(body): Body<proto::NewApp>,
) -> Result<Response, ApiError> {
    let (name, version) = body
        .connector
        .split_once('@')
        .ok_or_else(|| ApiError::invalid("connector: name it as NAME@VERSION, e.g. scim@0.1.0"))?;
    let mappings = body.mappings.unwrap_or_else(|| json!({}));
    Mappings::parse(&mappings).map_err(|e| ApiError::invalid(e.to_string()))?;
    let policy = Policy::canonical(&body.policy.unwrap_or_else(|| json!({}))).map_err(ApiError::invalid)?;
    let settings = Value::Object(body.settings);
    let parts = AppParts { settings: &settings, grants: &body.grants, credential_origins: &body.credential_origins };
    validate_config(state.connectors.runtime(), (name, version), &parts, &body.credentials)
        .map_err(ApiError::invalid)?;
    let new = NewApp {
        name: body.name,
        connector_name: name.into(),
        connector_version: version.into(),
        settings,
        secrets: body.credentials,
        grants: body.grants,
        credential_origins: body.credential_origins,
        mappings,
        policy,
    };
    let app = state.store.create_app(&actor.name, new, &state.sealer).await?;
    Ok((StatusCode::CREATED, Json(app_json(&state, &app))).into_response())
}

#[utoipa::path(
    get,
    path = "/apps",
    operation_id = "listApps",
    tag = "apps",
    summary = "List apps",
    responses((status = 200, description = "Apps", body = Vec<proto::App>)),
    security(("apiToken" = ["apps:read"]))
)]
async fn list(State(state): State<AppState>, _: Actor) -> Result<Json<Vec<proto::App>>, ApiError> {
    Ok(Json(state.store.list_apps().await?.iter().map(|a| app_json(&state, a)).collect()))
}

#[utoipa::path(
    get,
    path = "/apps/{id}",
    operation_id = "getApp",
    tag = "apps",
    summary = "An app",
    params(("id" = String, Path, description = "The app's id")),
    responses((status = 200, description = "The app", body = proto::App)),
    security(("apiToken" = ["apps:read"]))
)]
async fn read(State(state): State<AppState>, _: Actor, Path(id): Path<String>) -> Result<Json<proto::App>, ApiError> {
    let app = state.store.app(&id).await?;
    let mut shown = app_json(&state, &app);
    if app.retiring_since.is_some() {
        // What still keeps a deleted app: see its errors to settle them.
        shown.unsettled_accounts = Some(state.store.unsettled_accounts(&id).await?);
    }
    Ok(Json(shown))
}

/// The whole configuration after this patch.
fn patched(patch: &proto::AppPatch, app: &App, mut secrets: Map<String, Value>) -> Result<AppConfigEdit, String> {
    let mut settings = app.settings.clone();
    if let Some(patch) = &patch.settings {
        json_patch::merge(&mut settings, &Value::Object(patch.clone()));
    }
    for (name, value) in patch.credentials.iter().flatten() {
        match value {
            Value::Null => secrets.remove(name),
            value => secrets.insert(name.clone(), value.clone()),
        };
    }
    let mut credential_origins = app.credential_origins.clone();
    for (name, value) in patch.credential_origins.iter().flatten() {
        match value {
            Value::Null => credential_origins.remove(name),
            value => {
                let origins = serde_json::from_value(value.clone())
                    .map_err(|_| format!("credentialOrigins.{name}: give a list of origins, or null to remove them"))?;
                credential_origins.insert(name.clone(), origins)
            }
        };
    }
    Ok(AppConfigEdit {
        name: patch.name.clone().unwrap_or_else(|| app.name.clone()),
        settings,
        secrets,
        grants: patch.grants.clone().unwrap_or_else(|| app.grants.clone()),
        credential_origins,
    })
}

/// Validated against the connector as at creation; the app's next call
/// uses the new configuration. The log says which parts changed (for a
/// credential, only its name).
#[utoipa::path(
    patch,
    path = "/apps/{id}",
    operation_id = "updateApp",
    tag = "apps",
    summary = "Change an app's name, settings, credentials, grants or credential origins",
    params(("id" = String, Path, description = "The app's id")),
    request_body = proto::AppPatch,
    responses((status = 200, description = "The app (credentials never shown)", body = proto::App)),
    security(("apiToken" = ["apps:write"]))
)]
async fn update(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Body(patch): Body<proto::AppPatch>,
) -> Result<Json<proto::App>, ApiError> {
    let runtime = state.connectors.runtime();
    let app = state
        .store
        .edit_app(&actor.name, &id, &state.sealer, |app, secrets| {
            let edit = patched(&patch, app, secrets).map_err(StoreError::Invalid)?;
            let parts = AppParts {
                settings: &edit.settings,
                grants: &edit.grants,
                credential_origins: &edit.credential_origins,
            };
            validate_config(runtime, (&app.connector_name, &app.connector_version), &parts, &edit.secrets)
                .map_err(StoreError::Invalid)?;
            Ok(edit)
        })
        .await?;
    state.connectors.app_changed();
    Ok(Json(app_json(&state, &app)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct DeleteAppParams {
    #[serde(default)]
    preview: bool,
    /// For an app already being deleted whose remaining accounts cannot be
    /// settled (the app is gone for good): delete it now; the log names
    /// each account abandoned.
    #[serde(default)]
    abandon_unsettled: bool,
}

/// An app is never simply dropped: its accounts would stay in the app with
/// no one to deactivate them. It is assigned to no one from now on, each
/// account is deprovisioned (as its policy says: deactivated or deleted),
/// through a plan guarded like any fan-out, and the app goes once they are
/// all settled. An account that cannot be settled (an error) keeps it,
/// shown as `retiringSince` with `unsettledAccounts`.
#[utoipa::path(
    delete,
    path = "/apps/{id}",
    operation_id = "deleteApp",
    tag = "apps",
    summary = "Delete an app: deprovision its accounts, then remove it",
    params(("id" = String, Path, description = "The app's id"), DeleteAppParams),
    responses(
        (status = 204, description = "Deleted: it held no account to deprovision"),
        (status = 202, description = "Deprovisioning its accounts; it goes once they are settled", body = proto::Retiring),
    ),
    security(("apiToken" = ["apps:write"]))
)]
async fn delete(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Params(p): Params<DeleteAppParams>,
) -> Result<Response, ApiError> {
    if p.abandon_unsettled {
        return match state.store.abandon_retirement(&actor.name, &id).await? {
            Retirement::Deleted => Ok(StatusCode::NO_CONTENT.into_response()),
            _ => Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!(
                    "app {id} is not being deleted: delete it without abandonUnsettled first, so that its accounts are deprovisioned"
                ),
            )),
        };
    }
    let change = Change::DeleteApp { app_id: id };
    submit(&state, &actor, change, p.preview, |result| {
        if result["deleted"] == true {
            StatusCode::NO_CONTENT.into_response()
        } else {
            (StatusCode::ACCEPTED, Json(proto::Retiring { retiring: true, deleted: false })).into_response()
        }
    })
    .await
}

#[utoipa::path(
    post,
    path = "/apps/{id}/check",
    operation_id = "checkApp",
    tag = "apps",
    summary = "Test the connection to the app",
    params(("id" = String, Path, description = "The app's id")),
    responses((status = 200, description = "`ok`, or the error", body = proto::CheckResult)),
    security(("apiToken" = ["apps:write"]))
)]
async fn check(
    State(state): State<AppState>,
    _: Actor,
    Path(id): Path<String>,
) -> Result<Json<proto::CheckResult>, ApiError> {
    let app = state.store.app(&id).await?;
    let error = state.connectors.check(&app).await.err();
    Ok(Json(proto::CheckResult { ok: error.is_none(), error }))
}

/// `activate` resumes a quarantined or paused app.
#[utoipa::path(
    post,
    path = "/apps/{id}/lifecycle/{action}",
    operation_id = "appLifecycle",
    tag = "apps",
    summary = "`activate` resumes a paused or quarantined app; `deactivate` pauses it",
    params(("id" = String, Path, description = "The app's id"), ("action" = String, Path, description = "The operation")),
    responses((status = 200, description = "The app", body = proto::App)),
    security(("apiToken" = ["apps:write"]))
)]
async fn lifecycle(
    State(state): State<AppState>,
    actor: Actor,
    Path((id, action)): Path<(String, String)>,
) -> Result<Json<proto::App>, ApiError> {
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
    state.store.set_app_status(&actor.name, &id, status, None).await?;
    Ok(Json(app_json(&state, &state.store.app(&id).await?)))
}

#[utoipa::path(
    get,
    path = "/apps/{id}/mappings",
    operation_id = "getMappings",
    tag = "apps",
    summary = "The app's attribute mappings (CEL)",
    params(("id" = String, Path, description = "The app's id")),
    responses((status = 200, description = "Mappings", body = Value)),
    security(("apiToken" = ["apps:read"]))
)]
async fn mappings(State(state): State<AppState>, _: Actor, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.store.app(&id).await?.mappings))
}

#[utoipa::path(
    put,
    path = "/apps/{id}/mappings",
    operation_id = "setMappings",
    tag = "apps",
    summary = "Replace the app's mappings; every account is brought up to date",
    params(("id" = String, Path, description = "The app's id"), PreviewParam),
    request_body = Value,
    responses((status = 200, description = "The mappings now", body = proto::MappingsSet)),
    security(("apiToken" = ["apps:write"]))
)]
async fn set_mappings(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Params(p): Params<PreviewParam>,
    Body(mappings): Body<Value>,
) -> Result<Response, ApiError> {
    let change = Change::SetMappings { app_id: id, mappings };
    submit(&state, &actor, change, p.preview, |r| typed::<proto::MappingsSet>(StatusCode::OK, r)).await
}

/// What the app would receive for a user.
#[utoipa::path(
    post,
    path = "/apps/{id}/mappings/preview",
    operation_id = "previewMapping",
    tag = "apps",
    summary = "What the app would receive for a user",
    params(("id" = String, Path, description = "The app's id")),
    request_body = proto::MappingPreviewBody,
    responses((status = 200, description = "The account image", body = proto::AccountImage)),
    security(("apiToken" = ["apps:write"]))
)]
async fn preview_mapping(
    State(state): State<AppState>,
    _: Actor,
    Path(id): Path<String>,
    Body(body): Body<proto::MappingPreviewBody>,
) -> Result<Json<proto::AccountImage>, ApiError> {
    let image: AccountImage = state.engine.preview_mapping(&id, &body.user_id, body.mappings.as_ref()).await?;
    Ok(Json(proto::AccountImage { login: image.login, attributes: image.attributes }))
}

#[utoipa::path(
    put,
    path = "/apps/{id}/policy",
    operation_id = "setPolicy",
    tag = "apps",
    summary = "Replace the app's provisioning policy",
    params(("id" = String, Path, description = "The app's id"), PreviewParam),
    request_body = Value,
    responses((status = 200, description = "The policy now", body = proto::PolicySet)),
    security(("apiToken" = ["apps:write"]))
)]
async fn set_policy(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Params(p): Params<PreviewParam>,
    Body(policy): Body<Value>,
) -> Result<Response, ApiError> {
    let change = Change::SetPolicy { app_id: id, policy };
    submit(&state, &actor, change, p.preview, |r| typed::<proto::PolicySet>(StatusCode::OK, r)).await
}

#[utoipa::path(
    get,
    path = "/apps/{id}/users",
    operation_id = "listAppUsers",
    tag = "apps",
    summary = "Users assigned to the app, directly or by group, paged by id",
    params(("id" = String, Path, description = "The app's id"), Page),
    responses((status = 200, description = "Assigned users; a `Link: rel=next` header when there may be more", body = Vec<proto::AppUser>)),
    security(("apiToken" = ["accounts:read"]))
)]
async fn users(
    State(state): State<AppState>,
    _: Actor,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    Params(p): Params<Page>,
) -> Result<Response, ApiError> {
    let limit = p.limit()?;
    state.store.app(&id).await?;
    let users = state.store.app_user_page(&id, p.after.as_deref(), limit).await?;
    let last = users.last().map(|(u, _)| u.clone());
    let scope = |direct: bool| if direct { proto::Scope::User } else { proto::Scope::Group };
    let users =
        users.into_iter().map(|(id, direct)| proto::AppUser { id, login: None, scope: scope(direct) }).collect();
    let users = wire::with_logins(&state.store, users, |u| &u.id, |u| &mut u.login).await?;
    Ok(page(&uri, &users, limit, last))
}

#[utoipa::path(
    put,
    path = "/apps/{id}/users/{user_id}",
    operation_id = "assignUserToApp",
    tag = "apps",
    summary = "Assign a user to the app",
    params(("id" = String, Path, description = "The app's id"), ("user_id" = String, Path, description = "A user's id"), PreviewParam),
    responses((status = 200, description = "Whether it was not assigned before", body = proto::Changed)),
    security(("apiToken" = ["assignments:write"]))
)]
async fn assign_user(
    State(state): State<AppState>,
    actor: Actor,
    Path((app_id, user_id)): Path<(String, String)>,
    Params(p): Params<PreviewParam>,
) -> Result<Response, ApiError> {
    let change = Change::AssignUser { app_id, user_id };
    submit(&state, &actor, change, p.preview, |r| typed::<proto::Changed>(StatusCode::OK, r)).await
}

#[utoipa::path(
    delete,
    path = "/apps/{id}/users/{user_id}",
    operation_id = "unassignUserFromApp",
    tag = "apps",
    summary = "Remove a user's direct assignment",
    params(("id" = String, Path, description = "The app's id"), ("user_id" = String, Path, description = "A user's id"), PreviewParam),
    responses((status = 204, description = "Removed")),
    security(("apiToken" = ["assignments:write"]))
)]
async fn unassign_user(
    State(state): State<AppState>,
    actor: Actor,
    Path((app_id, user_id)): Path<(String, String)>,
    Params(p): Params<PreviewParam>,
) -> Result<Response, ApiError> {
    let change = Change::UnassignUser { app_id, user_id };
    submit(&state, &actor, change, p.preview, |_| StatusCode::NO_CONTENT.into_response()).await
}

#[utoipa::path(
    get,
    path = "/apps/{id}/groups",
    operation_id = "listAppGroups",
    tag = "apps",
    summary = "Groups assigned to the app",
    params(("id" = String, Path, description = "The app's id")),
    responses((status = 200, description = "Group assignments", body = Vec<proto::GroupAssignment>)),
    security(("apiToken" = ["apps:read"]))
)]
async fn groups(
    State(state): State<AppState>,
    _: Actor,
    Path(id): Path<String>,
) -> Result<Json<Vec<proto::GroupAssignment>>, ApiError> {
    state.store.app(&id).await?;
    Ok(Json(state.store.group_assignments(&id).await?.iter().map(wire::group_assignment).collect()))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AssignGroupParams {
    #[serde(default)]
    preview: bool,
    /// Lower wins when groups would give an app different values (later).
    #[serde(default)]
    priority: i64,
}

#[utoipa::path(
    put,
    path = "/apps/{id}/groups/{group_id}",
    operation_id = "assignGroupToApp",
    tag = "apps",
    summary = "Assign a group to the app",
    params(("id" = String, Path, description = "The app's id"), ("group_id" = String, Path, description = "A group's id"), AssignGroupParams),
    responses((status = 200, description = "Whether it was not assigned before", body = proto::Changed)),
    security(("apiToken" = ["group-assignments:write"]))
)]
async fn assign_group(
    State(state): State<AppState>,
    actor: Actor,
    Path((app_id, group_id)): Path<(String, String)>,
    Params(p): Params<AssignGroupParams>,
) -> Result<Response, ApiError> {
    let change = Change::AssignGroup { app_id, group_id, priority: p.priority };
    submit(&state, &actor, change, p.preview, |r| typed::<proto::Changed>(StatusCode::OK, r)).await
}

#[utoipa::path(
    delete,
    path = "/apps/{id}/groups/{group_id}",
    operation_id = "unassignGroupFromApp",
    tag = "apps",
    summary = "Remove a group's assignment",
    params(("id" = String, Path, description = "The app's id"), ("group_id" = String, Path, description = "A group's id"), PreviewParam),
    responses((status = 204, description = "Removed")),
    security(("apiToken" = ["group-assignments:write"]))
)]
async fn unassign_group(
    State(state): State<AppState>,
    actor: Actor,
    Path((app_id, group_id)): Path<(String, String)>,
    Params(p): Params<PreviewParam>,
) -> Result<Response, ApiError> {
    let change = Change::UnassignGroup { app_id, group_id };
    submit(&state, &actor, change, p.preview, |_| StatusCode::NO_CONTENT.into_response()).await
}
