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
mod doc;
mod groups;
mod hooks;
mod input;
mod logs;
mod nodes;
mod observe;
mod plans;
mod refusals;
mod tasks;
mod user_reach;
mod users;
pub(crate) mod wire;

pub use access::{Actor, PERMISSIONS, RoutePermissions, role_holds};
pub use input::{Body, Params};
pub use wire::timestamp;

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
use provisio_proto as proto;

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
    /// How many refused calls this node has logged this minute.
    pub refusals: Arc<refusals::Refusals>,
}

/// The API's routes and the OpenAPI document they were declared with.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(observe::metrics))
        .nest(
            "/api/v1",
            OpenApiRouter::new()
                .merge(users::routes())
                .merge(user_reach::routes())
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
    doc::complete(&mut doc);
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
        let body = proto::Error {
            error_code: self.code.into(),
            error_summary: self.message,
            error_id: uuid::Uuid::now_v7().to_string(),
        };
        let refused = matches!(self.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN);
        let refusal = refused.then(|| refusals::Refusal { code: self.code, message: body.error_summary.clone() });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(refusal) = refusal {
            // For the guard, which logs it with the caller (refusals.rs).
            response.extensions_mut().insert(refusal);
        }
        response
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
        let body = proto::Preview { preview: true, would_be_held: outcome.would_hold, effects: outcome.effects };
        return Ok(Json(body).into_response());
    }
    if let Some(plan) = outcome.held {
        let body = proto::Held {
            held: true,
            plan: wire::plan(&plan),
            error_summary:
                "this change crosses the mass-change guard; it waits for an admin to approve or reject the plan".into(),
        };
        return Ok((StatusCode::ACCEPTED, Json(body)).into_response());
    }
    Ok(done(outcome.result))
}

/// The engine's answer read as the wire type the route promises.
pub fn engine_answer<T: serde::de::DeserializeOwned>(result: Value) -> Result<T, ApiError> {
    serde_json::from_value(result).map_err(|e| {
        let id = uuid::Uuid::now_v7();
        tracing::error!(error_id = %id, error = %e, "the engine answered in a shape the API does not know");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("the change was made, but its answer could not be shown (error {id})"),
        )
    })
}

/// The engine's answer as the route's wire type, with `status`.
pub fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(status: StatusCode, result: Value) -> Response {
    match engine_answer::<T>(result) {
        Ok(v) => (status, Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Paging for lists: `after` (an id, or a cursor) and `limit`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// The last id of the previous page.
    pub after: Option<String>,
    /// At most this many (1-1000, default 200).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

impl Page {
    /// The page's size; anything outside 1-1000 is refused, never clamped,
    /// so a caller never mistakes a short page for the end.
    pub fn limit(&self) -> Result<u32, ApiError> {
        checked_limit(self.limit)
    }
}

/// `limit` as every list takes it.
pub fn checked_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(proto::DEFAULT_LIMIT);
    if !(1..=proto::MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(format!("limit {limit}: use 1 to {}", proto::MAX_LIMIT)));
    }
    Ok(limit)
}

/// A page of a list, with `Link: <…>; rel="next"` when it is full (there
/// may be more): the same request, from after the page's last item.
pub fn page<T: serde::Serialize>(uri: &axum::http::Uri, items: &[T], limit: u32, last: Option<String>) -> Response {
    let mut response = Json(items).into_response();
    if let Some(last) = last.filter(|_| items.len() as u32 >= limit) {
        let mut query: Vec<(String, String)> = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .filter(|(k, _)| k != "after" && k != "limit")
            .collect();
        query.push(("after".into(), last));
        query.push(("limit".into(), limit.to_string()));
        let encoded = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(query).finish();
        let link = format!("<{}?{encoded}>; rel=\"next\"", uri.path());
        if let Ok(v) = axum::http::HeaderValue::from_str(&link) {
            response.headers_mut().insert(axum::http::header::LINK, v);
        }
    }
    response
}

/// A query or body time (RFC 3339) as ms, or a coded error naming the field.
pub fn parse_timestamp(field: &str, value: &str) -> Result<i64, ApiError> {
    provisio_directory::parse_time(value).map_err(|e| ApiError::invalid(format!("{field} {e}")))
}
