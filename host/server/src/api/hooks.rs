//! `/api/v1/hooks`: outbound webhooks for lifecycle events, and what was
//! delivered to each. A hook's signing secret is in the answer that creates
//! it and nowhere else.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

use provisio_directory::{Delivery, HOOK_EVENTS, Hook};

use super::{Actor, ApiError, AppState, Body, Page, Params, timestamp};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(read, remove)).routes(routes!(deliveries))
}

fn hook_json(h: &Hook) -> Value {
    json!({
        "id": h.id,
        "name": h.name,
        "url": h.url,
        "events": h.events,
        "status": h.status,
        "created": timestamp(h.created_at),
        "lastUpdated": timestamp(h.updated_at),
    })
}

fn delivery_json(d: &Delivery) -> Value {
    json!({
        "id": d.id,
        "eventId": d.log_id,
        "eventType": d.event_type,
        "status": d.status,
        "attempts": d.attempts,
        "nextAttempt": (d.status == "pending").then(|| timestamp(d.next_attempt_at)),
        "lastStatus": d.last_status,
        "lastError": d.last_error,
        "created": timestamp(d.created_at),
        "delivered": d.delivered_at.map(timestamp),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct HookBody {
    name: String,
    /// Where events are POSTed (http or https).
    url: String,
    /// Any of user.deprovisioned, task.created, plan.held, app.quarantined, provisioning.error.
    events: Vec<String>,
}

#[utoipa::path(
    get,
    path = "/hooks",
    operation_id = "listHooks",
    tag = "hooks",
    summary = "Registered event hooks",
    responses((status = 200, description = "Hooks")),
    security(("apiToken" = ["hooks:read"]))
)]
async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(Value::Array(state.store.hooks().await?.iter().map(hook_json).collect())))
}

#[utoipa::path(
    post,
    path = "/hooks",
    operation_id = "createHook",
    tag = "hooks",
    summary = "Register an event hook; its signing secret is shown in this answer only",
    request_body = HookBody,
    responses((status = 201, description = "The hook, with `secret`")),
    security(("apiToken" = ["hooks:write"]))
)]
async fn create(State(state): State<AppState>, actor: Actor, Body(body): Body<HookBody>) -> Result<Response, ApiError> {
    let (hook, secret) =
        state.store.create_hook(&actor.name, &body.name, &body.url, &body.events, &state.sealer).await?;
    let mut answer = hook_json(&hook);
    answer["secret"] = json!(secret.as_str());
    answer["verify"] = json!(
        "X-Provisio-Signature is t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<body>\")>; compare in constant time and refuse an old t"
    );
    answer["knownEvents"] = json!(HOOK_EVENTS);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

#[utoipa::path(
    get,
    path = "/hooks/{id}",
    operation_id = "getHook",
    tag = "hooks",
    summary = "An event hook",
    params(("id" = String, Path, description = "The hook's id")),
    responses((status = 200, description = "The hook")),
    security(("apiToken" = ["hooks:read"]))
)]
async fn read(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(hook_json(&state.store.hook(&id).await?)))
}

#[utoipa::path(
    delete,
    path = "/hooks/{id}",
    operation_id = "deleteHook",
    tag = "hooks",
    summary = "Remove an event hook and its deliveries",
    params(("id" = String, Path, description = "The hook's id")),
    responses((status = 204, description = "Removed")),
    security(("apiToken" = ["hooks:write"]))
)]
async fn remove(State(state): State<AppState>, actor: Actor, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    state.store.delete_hook(&actor.name, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/hooks/{id}/deliveries",
    operation_id = "listHookDeliveries",
    tag = "hooks",
    summary = "A hook's deliveries, newest first: status, attempts, the receiver's last answer",
    params(("id" = String, Path, description = "The hook's id"), Page),
    responses((status = 200, description = "Deliveries")),
    security(("apiToken" = ["hooks:read"]))
)]
async fn deliveries(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(page): Params<Page>,
) -> Result<Json<Value>, ApiError> {
    state.store.hook(&id).await?;
    let rows = state.store.deliveries(&id, page.limit()?).await?;
    Ok(Json(Value::Array(rows.iter().map(delivery_json).collect())))
}
