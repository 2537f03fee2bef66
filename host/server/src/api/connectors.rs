//! `/api/v1/connectors` and `/api/v1/apps/{id}/connector`: connector
//! versions side by side — install (upload), list with the apps on each,
//! describe, remove when unused — and moving an app between versions:
//! upgrade, pin, roll back. An app's configuration is checked against the
//! version it moves to before anything changes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use provisio_directory::StoreError;
use provisio_proto as proto;

use super::apps::app_json;
use super::{Actor, ApiError, AppState, Body, timestamp, wire};
use crate::provisioner::{AppParts, InstallFailure, validate_config};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, install))
        .routes(routes!(describe, remove))
        .routes(routes!(set_app_connector))
        .routes(routes!(roll_back))
        // A package is uploaded whole, its component in base64.
        .layer(axum::extract::DefaultBodyLimit::max(super::input::MAX_PACKAGE_BODY))
}

impl From<InstallFailure> for ApiError {
    fn from(e: InstallFailure) -> Self {
        match e {
            InstallFailure::Install(e) => {
                let status = match e.code() {
                    "already-installed" => StatusCode::CONFLICT,
                    "storage" => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::BAD_REQUEST,
                };
                ApiError::new(status, e.code(), e.to_string())
            }
            InstallFailure::Store(e @ StoreError::Conflict(_)) => {
                ApiError::new(StatusCode::CONFLICT, "connector-in-use", e.to_string())
            }
            InstallFailure::Store(e) => e.into(),
            InstallFailure::Describe(m) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "connector", m),
        }
    }
}

#[utoipa::path(
    get,
    path = "/connectors",
    operation_id = "listConnectors",
    tag = "connectors",
    summary = "Installed connector versions and the apps that run each",
    responses((status = 200, description = "Versions", body = Vec<proto::Connector>)),
    security(("apiToken" = ["apps:read"]))
)]
async fn list(State(state): State<AppState>) -> Result<Json<Vec<proto::Connector>>, ApiError> {
    let rows = state
        .store
        .packages()
        .await?
        .iter()
        .map(|p| proto::Connector {
            name: p.name.clone(),
            version: p.version.clone(),
            label: format!("{}@{}", p.name, p.version),
            contract: p.contract.clone(),
            digest: p.digest.clone(),
            installed: timestamp(p.installed_at),
            loaded: state.connectors.runtime().connector(&p.name, &p.version).is_some(),
            apps: p.apps.clone(),
        })
        .collect();
    Ok(Json(rows))
}

#[utoipa::path(
    post,
    path = "/connectors",
    operation_id = "installConnector",
    tag = "connectors",
    summary = "Install a connector package (manifest and component); other versions keep running",
    request_body = proto::NewConnector,
    responses((status = 201, description = "The installed version, and the apps moved to it", body = proto::Installed)),
    security(("apiToken" = ["apps:write"]))
)]
async fn install(
    State(state): State<AppState>,
    actor: Actor,
    Body(body): Body<proto::NewConnector>,
) -> Result<Response, ApiError> {
    let component = base64::engine::general_purpose::STANDARD
        .decode(body.component.trim())
        .map_err(|e| ApiError::invalid(format!("component: not base64 ({e})")))?;
    let c = state.connectors.install(&actor.name, &body.manifest, &component).await?;
    let (name, version) = (c.package.name().to_string(), c.package.version().to_string());
    let mut upgraded = Vec::new();
    let mut kept = Vec::new();
    if body.upgrade_apps {
        for app_id in state.store.unpinned_apps(&name, &version).await? {
            match move_app(&state, &actor, &app_id, &version, None).await {
                Ok(_) => upgraded.push(app_id),
                Err(e) => kept.push(proto::Kept { app: app_id, reason: e.message().to_string() }),
            }
        }
    }
    let body = proto::Installed {
        name,
        version,
        label: c.package.label(),
        digest: c.package.digest.clone(),
        contract: c.contract_version.to_string(),
        upgraded,
        kept,
        warnings: c.package.manifest.access().warnings(),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[utoipa::path(
    get,
    path = "/connectors/{name}/{version}",
    operation_id = "describeConnector",
    tag = "connectors",
    summary = "What a connector version says about itself: operations, settings, credentials, profile",
    params(
        ("name" = String, Path, description = "The connector's name"),
        ("version" = String, Path, description = "The version")
    ),
    responses((status = 200, description = "The descriptor, what the manifest lets it reach, and the apps that run it", body = proto::ConnectorDescription)),
    security(("apiToken" = ["apps:read"]))
)]
async fn describe(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<proto::ConnectorDescription>, ApiError> {
    let runtime = state.connectors.runtime();
    let c = runtime.connector(&name, &version).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "not-found", format!("connector {name}@{version} is not installed"))
    })?;
    let d = runtime
        .describe(&c)
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "connector", e.to_string()))?;
    let apps: Vec<String> = state
        .store
        .packages()
        .await?
        .into_iter()
        .find(|p| p.name == name && p.version == version)
        .map(|p| p.apps)
        .unwrap_or_default();
    Ok(Json(wire::connector_description(&c, &d, apps)))
}

#[utoipa::path(
    delete,
    path = "/connectors/{name}/{version}",
    operation_id = "removeConnector",
    tag = "connectors",
    summary = "Remove a version; refused (409 connector-in-use) while an app runs it",
    params(
        ("name" = String, Path, description = "The connector's name"),
        ("version" = String, Path, description = "The version")
    ),
    responses((status = 204, description = "Removed")),
    security(("apiToken" = ["apps:write"]))
)]
async fn remove(
    State(state): State<AppState>,
    actor: Actor,
    Path((name, version)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.connectors.uninstall(&actor.name, &name, &version).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ConnectorBody {
    /// The version of the app's connector to run.
    version: String,
    /// Keep the app on this version when an install moves apps along.
    pinned: Option<bool>,
}

/// Moves an app to `version` of its connector once its settings, grants
/// and credentials fit that version's schema.
async fn move_app(
    state: &AppState,
    actor: &Actor,
    app_id: &str,
    version: &str,
    pinned: Option<bool>,
) -> Result<provisio_proto::App, ApiError> {
    let app = state.store.app(app_id).await?;
    let secrets = state.store.app_secrets(app_id, &state.sealer).await?;
    validate_config(state.connectors.runtime(), (&app.connector_name, version), &AppParts::of(&app), &secrets)
        .map_err(|m| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "config-does-not-fit",
                format!("app {app_id} cannot run {}@{version}: {m}", app.connector_name),
            )
        })?;
    let app = state.store.set_app_connector(&actor.name, app_id, version, pinned).await?;
    Ok(app_json(state, &app))
}

#[utoipa::path(
    put,
    path = "/apps/{id}/connector",
    operation_id = "setAppConnector",
    tag = "connectors",
    summary = "Move an app to another version of its connector (upgrade or downgrade), and pin or unpin it",
    params(("id" = String, Path, description = "The app's id")),
    request_body = ConnectorBody,
    responses((status = 200, description = "The app", body = provisio_proto::App)),
    security(("apiToken" = ["apps:write"]))
)]
async fn set_app_connector(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Body(body): Body<ConnectorBody>,
) -> Result<Json<provisio_proto::App>, ApiError> {
    Ok(Json(move_app(&state, &actor, &id, &body.version, body.pinned).await?))
}

#[utoipa::path(
    post,
    path = "/apps/{id}/connector/rollback",
    operation_id = "rollBackAppConnector",
    tag = "connectors",
    summary = "Move an app back to the version it ran before its last change of version",
    params(("id" = String, Path, description = "The app's id")),
    responses((status = 200, description = "The app", body = provisio_proto::App)),
    security(("apiToken" = ["apps:write"]))
)]
async fn roll_back(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<provisio_proto::App>, ApiError> {
    let app = state.store.app(&id).await?;
    let previous = app.previous_connector_version.ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "nothing-to-roll-back",
            format!("app {id} has run only {}@{}", app.connector_name, app.connector_version),
        )
    })?;
    Ok(Json(move_app(&state, &actor, &id, &previous, None).await?))
}
