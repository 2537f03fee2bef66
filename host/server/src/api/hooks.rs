//! `/api/v1/hooks`: outbound webhooks for lifecycle events, and what was
//! delivered to each. A hook's signing secret is in the answer that creates
//! it and nowhere else.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};

use provisio_directory::{Delivery, HOOK_EVENTS, Hook};
use provisio_proto::{self as proto, NewHook};

use super::{Actor, ApiError, AppState, Body, Page, Params, timestamp};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(read, remove)).routes(routes!(deliveries))
}

fn hook_json(h: &Hook) -> proto::Hook {
    proto::Hook {
        id: h.id.clone(),
        name: h.name.clone(),
        url: h.url.clone(),
        events: h.events.clone(),
        status: proto::HookStatus::from_stored(&h.status),
        created: timestamp(h.created_at),
        last_updated: timestamp(h.updated_at),
    }
}

fn delivery_json(d: &Delivery) -> proto::Delivery {
    proto::Delivery {
        id: d.id.clone(),
        event_id: d.log_id.clone(),
        event_type: d.event_type.clone(),
        status: proto::DeliveryStatus::from_stored(&d.status),
        attempts: d.attempts,
        next_attempt: (d.status == "pending").then(|| timestamp(d.next_attempt_at)),
        last_status: d.last_status,
        last_error: d.last_error.clone(),
        created: timestamp(d.created_at),
        delivered: d.delivered_at.map(timestamp),
    }
}

#[utoipa::path(
    get,
    path = "/hooks",
    operation_id = "listHooks",
    tag = "hooks",
    summary = "Registered event hooks",
    responses((status = 200, description = "Hooks", body = Vec<proto::Hook>)),
    security(("apiToken" = ["hooks:read"]))
)]
async fn list(State(state): State<AppState>) -> Result<Json<Vec<proto::Hook>>, ApiError> {
    Ok(Json(state.store.hooks().await?.iter().map(hook_json).collect()))
}

#[utoipa::path(
    post,
    path = "/hooks",
    operation_id = "createHook",
    tag = "hooks",
    summary = "Register an event hook; its signing secret is shown in this answer only",
    request_body = NewHook,
    responses((status = 201, description = "The hook, with `secret`", body = proto::CreatedHook)),
    security(("apiToken" = ["hooks:write"]))
)]
async fn create(State(state): State<AppState>, actor: Actor, Body(body): Body<NewHook>) -> Result<Response, ApiError> {
    let (hook, secret) =
        state.store.create_hook(&actor.name, &body.name, &body.url, &body.events, &state.sealer).await?;
    let answer = proto::CreatedHook {
        hook: hook_json(&hook),
        secret: secret.as_str().to_string(),
        verify: "X-Provisio-Signature is t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<body>\")>; compare in constant time and refuse an old t".into(),
        known_events: HOOK_EVENTS.iter().map(|e| e.to_string()).collect(),
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

#[utoipa::path(
    get,
    path = "/hooks/{id}",
    operation_id = "getHook",
    tag = "hooks",
    summary = "An event hook",
    params(("id" = String, Path, description = "The hook's id")),
    responses((status = 200, description = "The hook", body = proto::Hook)),
    security(("apiToken" = ["hooks:read"]))
)]
async fn read(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<proto::Hook>, ApiError> {
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
    responses((status = 200, description = "Deliveries", body = Vec<proto::Delivery>)),
    security(("apiToken" = ["hooks:read"]))
)]
async fn deliveries(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(page): Params<Page>,
) -> Result<Json<Vec<proto::Delivery>>, ApiError> {
    state.store.hook(&id).await?;
    let rows = state.store.deliveries(&id, page.limit()?).await?;
    Ok(Json(rows.iter().map(delivery_json).collect()))
}
