//! The management API, `/api/v1/…`, shaped like Okta's: JSON in and out,
//! every request authenticated, every error coded and readable
//! (`errorCode`, `errorSummary`, `errorId`), every change applied with the
//! app-account changes it causes in one transaction. `?preview=true` on a
//! change answers what it would do, without doing it.

mod apps;
mod groups;
mod plans;
mod users;

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::{StatusCode, request::Parts};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

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
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .merge(users::routes())
        .merge(groups::routes())
        .merge(apps::routes())
        .merge(plans::routes())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such endpoint") })
        .layer(middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .route("/healthz", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/readyz", get(ready))
        .nest("/api/v1", api)
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

/// Who made a request (the system log's actor).
#[derive(Clone)]
pub struct Actor(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Actor>().cloned().ok_or_else(unauthenticated)
    }
}

fn unauthenticated() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "authenticate with the header `Authorization: SSWS <token>` (or `Bearer <token>`)",
    )
}

/// `Authorization: SSWS <token>` or `Bearer <token>`, compared in constant
/// time. There is one super-admin token until admin roles arrive.
async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("SSWS ").or_else(|| v.strip_prefix("Bearer ")))
        .map(str::trim);
    let Some(presented) = presented else {
        return unauthenticated().into_response();
    };
    if !bool::from(presented.as_bytes().ct_eq(state.token.as_bytes())) {
        return ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "the API token is not valid")
            .into_response();
    }
    request.extensions_mut().insert(Actor("bootstrap-admin".into()));
    next.run(request).await
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

/// A JSON body whose rejection (malformed, unknown field, wrong type) is a
/// coded error.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(rejection) => Err(ApiError::invalid(rejection.body_text())),
        }
    }
}

/// Query parameters, with the same coded rejection.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Params(v)),
            Err(rejection) => Err(ApiError::invalid(rejection.body_text())),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewParam {
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
    let mode = if preview { Mode::Preview } else { Mode::Apply };
    let outcome: Outcome = state.engine.submit(&actor.0, &change, mode).await?;
    if preview {
        return Ok(Json(json!({ "preview": true, "effects": outcome.effects })).into_response());
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    pub after: Option<String>,
    #[serde(default = "default_limit")]
    pub limit: u32,
}

fn default_limit() -> u32 {
    200
}

/// Milliseconds since the epoch as an RFC 3339 timestamp.
pub fn timestamp(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}
