//! The management API, `/api/v1/…`, shaped like Okta's: JSON in and out,
//! every request authenticated, every error coded and readable
//! (`errorCode`, `errorSummary`, `errorId`), every change applied with the
//! app-account changes it causes in one transaction. `?preview=true` on a
//! change answers what it would do, without doing it.

mod access;
mod accounts;
mod admins;
mod apps;
mod connectors;
mod groups;
mod hooks;
mod input;
mod logs;
mod nodes;
mod observe;
mod plans;
mod tasks;
mod users;

pub use access::{Actor, PERMISSIONS, RoutePermissions, role_holds};
pub use input::{Body, Params};

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use provisio_directory::{Sealer, Store, StoreError};
use provisio_lifecycle::{Change, Engine, EngineError, Mode, Outcome};

use crate::provisioner::RuntimeConnectors;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub engine: Arc<Engine<RuntimeConnectors>>,
    pub connectors: Arc<RuntimeConnectors>,
    pub sealer: Arc<Sealer>,
    pub token: Arc<String>,
    /// Filled by `router` from the OpenAPI document.
    pub permissions: RoutePermissions,
    /// Recently checked API tokens.
    pub tokens: Arc<access::TokenCache>,
}

/// The API's routes and the OpenAPI document they were declared with.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(observe::metrics))
        .nest(
            "/api/v1",
            OpenApiRouter::new()
                .merge(users::routes())
                .merge(groups::routes())
                .merge(apps::routes())
                .merge(accounts::routes())
                .merge(nodes::routes())
                .merge(plans::routes())
                .merge(admins::routes())
                .merge(logs::routes())
                .merge(connectors::routes())
                .merge(hooks::routes())
                .merge(tasks::routes()),
        )
        .split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    (router, doc)
}

/// The OpenAPI document's frame: its title and the token scheme.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Provisio management API", description = "Users, groups, apps, assignments, app accounts, plans, admins and the system log. Every route needs an API token (`Authorization: SSWS <token>`); the security scope on each operation names the permission it needs."),
    modifiers(&TokenScheme)
)]
struct ApiDoc;

struct TokenScheme;

impl utoipa::Modify for TokenScheme {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            access::SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`SSWS <token>` or `Bearer <token>`",
            ))),
        );
    }
}

pub fn router(mut state: AppState) -> Router {
    observe::prometheus();
    let (api, doc) = api();
    state.permissions = RoutePermissions::from_openapi(&doc);
    let doc = Arc::new(doc);
    let api = api
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such endpoint") })
        .layer(middleware::from_fn(input::refuse_nul_in_url))
        .layer(middleware::from_fn_with_state(state.clone(), access::guard))
        // Bodies are read only after the guard has let the caller in; the
        // connector routes take whole packages (input::MAX_PACKAGE_BODY).
        .layer(axum::extract::DefaultBodyLimit::max(input::MAX_BODY));
    Router::new()
        .route("/healthz", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/readyz", get(ready))
        // The document describes the API; it holds no data, so it is public.
        .route("/api/v1/openapi.json", get(move || async move { Json(doc.as_ref().clone()) }))
        .merge(api)
        .layer(middleware::from_fn(observe::observe))
        .with_state(state)
}

async fn ready(State(state): State<AppState>) -> Response {
    match state.store.pending_accounts().await {
        Ok(_) => Json(json!({ "status": "ready" })).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the directory does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable" }))).into_response()
        }
    }
}

/// A coded, readable error.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid", message)
    }
}

impl ApiError {
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let id = uuid::Uuid::now_v7().to_string();
        let body = json!({ "errorCode": self.code, "errorSummary": self.message, "errorId": id });
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let status = match &e {
            StoreError::NotFound { .. } => StatusCode::NOT_FOUND,
            StoreError::Conflict(_) => StatusCode::CONFLICT,
            StoreError::Invalid(_) => StatusCode::BAD_REQUEST,
            StoreError::Database(_) | StoreError::Migration(_) => {
                // The details go to the operator's log, not to the client.
                let id = uuid::Uuid::now_v7();
                tracing::error!(error_id = %id, error = %e, "directory error");
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database",
                    format!("the directory could not complete the request; try again (error {id})"),
                );
            }
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Store(e) => e.into(),
            EngineError::Invalid(m) => ApiError::new(StatusCode::BAD_REQUEST, "invalid", m),
            EngineError::IllegalTransition(m) => ApiError::new(StatusCode::BAD_REQUEST, "illegal-transition", m),
            EngineError::Mapping(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "mapping-failed", m),
        }
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PreviewParam {
    /// Answer what the change would do, without doing it.
    #[serde(default)]
    pub preview: bool,
}

/// Runs a change through the engine and answers: the preview, the plan it
/// was held as (202), or `done(result)`.
pub async fn submit(
    state: &AppState,
    actor: &Actor,
    change: Change,
    preview: bool,
    done: impl FnOnce(Value) -> Response,
) -> Result<Response, ApiError> {
    actor.may_change(&state.store, &change).await?;
    let mode = if preview { Mode::Preview } else { Mode::Apply };
    let outcome: Outcome = state.engine.submit(&actor.name, &change, mode).await?;
    if preview {
        let body = json!({ "preview": true, "wouldBeHeld": outcome.would_hold, "effects": outcome.effects });
        return Ok(Json(body).into_response());
    }
    if let Some(plan) = outcome.held {
        let body = json!({
            "held": true,
            "plan": plan,
            "errorSummary": "this change crosses the mass-change guard; it waits for an admin to approve or reject the plan",
        });
        return Ok((StatusCode::ACCEPTED, Json(body)).into_response());
    }
    Ok(done(outcome.result))
}

/// Paging for lists: `after` (an id) and `limit`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// The last id of the previous page.
    pub after: Option<String>,
    /// At most this many (1-1000).
    #[serde(default = "default_limit")]
    pub limit: u32,
}

fn default_limit() -> u32 {
    200
}

/// Milliseconds since the epoch as an RFC 3339 timestamp.
pub fn timestamp(ms: i64) -> String {
    provisio_directory::format_time(ms)
}

/// A query or body time (RFC 3339) as ms, or a coded error naming the field.
pub fn parse_timestamp(field: &str, value: &str) -> Result<i64, ApiError> {
    provisio_directory::parse_time(value).map_err(|e| ApiError::invalid(format!("{field} {e}")))
}
