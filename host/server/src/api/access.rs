//! Who may do what. Every route declares the permission it needs in the
//! OpenAPI document (its security scope); one middleware authenticates the
//! token and checks that permission against the admin's role, so the
//! document and the enforcement cannot drift apart. What a group admin may
//! touch inside a permission (their own users and groups) is checked per
//! object, here too, from the change itself.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::{Method, StatusCode, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;
use utoipa::openapi::OpenApi;

use provisio_directory::{Role, Store};
use provisio_lifecycle::Change;

use super::refusals::{Caller, Refusal};
use super::{ApiError, AppState};

/// The name of the token security scheme in the OpenAPI document.
pub const SCHEME: &str = "apiToken";

/// Each permission and the roles that hold it. The table in
/// docs/operators.md says the same in words.
pub const PERMISSIONS: &[(&str, &[Role])] = &[
    ("directory:read", &[Role::SuperAdmin, Role::AppAdmin, Role::GroupAdmin, Role::ReadOnly]),
    ("users:create", &[Role::SuperAdmin]),
    ("users:write", &[Role::SuperAdmin, Role::GroupAdmin]),
    ("groups:write", &[Role::SuperAdmin]),
    ("members:write", &[Role::SuperAdmin, Role::GroupAdmin]),
    ("apps:read", &[Role::SuperAdmin, Role::AppAdmin, Role::GroupAdmin, Role::ReadOnly]),
    ("accounts:read", &[Role::SuperAdmin, Role::AppAdmin, Role::ReadOnly]),
    ("apps:write", &[Role::SuperAdmin, Role::AppAdmin]),
    ("assignments:write", &[Role::SuperAdmin, Role::AppAdmin]),
    ("group-assignments:write", &[Role::SuperAdmin, Role::AppAdmin, Role::GroupAdmin]),
    ("plans:read", &[Role::SuperAdmin, Role::AppAdmin, Role::GroupAdmin, Role::ReadOnly]),
    ("plans:decide", &[Role::SuperAdmin, Role::AppAdmin]),
    ("logs:read", &[Role::SuperAdmin, Role::AppAdmin, Role::ReadOnly]),
    ("admins:read", &[Role::SuperAdmin]),
    ("admins:write", &[Role::SuperAdmin]),
    ("tasks:write", &[Role::SuperAdmin, Role::AppAdmin]),
    ("hooks:read", &[Role::SuperAdmin, Role::ReadOnly]),
    ("hooks:write", &[Role::SuperAdmin]),
    ("metrics:read", &[Role::SuperAdmin, Role::AppAdmin, Role::ReadOnly]),
    ("nodes:read", &[Role::SuperAdmin, Role::AppAdmin, Role::ReadOnly]),
    ("self", &[Role::SuperAdmin, Role::AppAdmin, Role::GroupAdmin, Role::ReadOnly]),
];

pub fn role_holds(role: Role, permission: &str) -> bool {
    PERMISSIONS.iter().any(|(p, roles)| *p == permission && roles.contains(&role))
}

/// The admin behind a request: the system log's actor.
#[derive(Clone, Debug)]
pub struct Actor {
    /// The name the system log records: the admin's login.
    pub name: String,
    /// `None` for the bootstrap token, which belongs to no stored admin.
    pub admin_id: Option<String>,
    pub role: Role,
    /// The groups a group admin manages.
    pub groups: Arc<Vec<String>>,
}

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

pub fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

/// A group admin asking for a user or group outside their groups is told
/// it does not exist: whether it does is not theirs to know.
fn hidden(what: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not-found", format!("{what} not found"))
}

/// The permission each route needs, read from the OpenAPI document.
#[derive(Clone, Default)]
pub struct RoutePermissions(Arc<HashMap<(Method, String), String>>);

impl RoutePermissions {
    pub fn from_openapi(doc: &OpenApi) -> RoutePermissions {
        let mut map = HashMap::new();
        for (path, item) in &doc.paths.paths {
            let ops = [
                (Method::GET, &item.get),
                (Method::POST, &item.post),
                (Method::PUT, &item.put),
                (Method::DELETE, &item.delete),
                (Method::PATCH, &item.patch),
            ];
            for (method, op) in ops {
                let Some(op) = op else { continue };
                let scope = op.security.iter().flatten().find_map(|req| {
                    let value = serde_json::to_value(req).ok()?;
                    value.get(SCHEME)?.as_array()?.first()?.as_str().map(str::to_owned)
                });
                if let Some(scope) = scope {
                    map.insert((method, path.clone()), scope);
                }
            }
        }
        RoutePermissions(Arc::new(map))
    }

    pub fn get(&self, method: &Method, path: &str) -> Option<&str> {
        // HEAD is GET without the body, under GET's permission.
        let method = if method == Method::HEAD { &Method::GET } else { method };
        self.0.get(&(method.clone(), path.to_owned())).map(String::as_str)
    }

    /// The methods a route declares, in a stable order.
    pub fn methods(&self, path: &str) -> Vec<Method> {
        let mut methods: Vec<Method> = self.0.keys().filter(|(_, p)| p == path).map(|(m, _)| m.clone()).collect();
        methods.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        methods
    }

    pub fn iter(&self) -> impl Iterator<Item = (&(Method, String), &String)> {
        self.0.iter()
    }
}

/// Authenticates `Authorization: SSWS <token>` (or `Bearer`) and checks
/// the route's permission against the admin's role. A route without a
/// declared permission is refused: nothing is open by omission.
///
/// Every refusal (401, 403), here or in the handler, is written to the
/// system log with the caller and what they asked for.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let (caller, response) = admit(&state, request, next).await;
    if let Some(refusal) = response.extensions().get::<Refusal>() {
        let caller = match &caller {
            Ok(actor) => Caller::Admin(&actor.name),
            Err(token_hash) => Caller::Anonymous { token_hash: token_hash.clone() },
        };
        state.refusals.record(&state.store, caller, (&method, &path), response.status(), refusal).await;
    }
    response
}

/// The guard's decision and the answer: the admin, or (when none was
/// identified) the presented token's hash prefix, if a token was presented.
async fn admit(state: &AppState, mut request: Request, next: Next) -> (Result<Actor, Option<String>>, Response) {
    let presented = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("SSWS ").or_else(|| v.strip_prefix("Bearer ")))
        .map(str::trim);
    let Some(presented) = presented else {
        return (Err(None), unauthenticated().into_response());
    };
    let actor = match identify(state, presented).await {
        Ok(Some(actor)) => actor,
        Ok(None) => {
            let hash = provisio_directory::token_hash(presented).chars().take(12).collect();
            let refused = ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "the API token is not valid");
            return (Err(Some(hash)), refused.into_response());
        }
        Err(e) => return (Err(None), e.into_response()),
    };
    let Some(path) = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()) else {
        // No route matched: the fallback answers 404 to an authenticated caller.
        request.extensions_mut().insert(actor.clone());
        return (Ok(actor), next.run(request).await);
    };
    let Some(permission) = state.permissions.get(request.method(), &path) else {
        let allowed = state.permissions.methods(&path);
        if !allowed.is_empty() {
            let allow: Vec<&str> = allowed.iter().map(Method::as_str).collect();
            let message =
                format!("{} is not a method of this endpoint; it takes {}", request.method(), allow.join(", "));
            let mut response =
                ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", message).into_response();
            if let Ok(value) = axum::http::HeaderValue::from_str(&allow.join(", ")) {
                response.headers_mut().insert(axum::http::header::ALLOW, value);
            }
            return (Ok(actor), response);
        }
        tracing::error!(%path, method = %request.method(), "route declares no permission; refused");
        let refused = forbidden("this endpoint declares no permission, so no one may call it");
        return (Ok(actor), refused.into_response());
    };
    if !role_holds(actor.role, permission) {
        let refused =
            forbidden(format!("this needs the \"{permission}\" permission, which a {} does not hold", actor.role));
        return (Ok(actor), refused.into_response());
    }
    request.extensions_mut().insert(actor.clone());
    (Ok(actor), next.run(request).await)
}

async fn identify(state: &AppState, presented: &str) -> Result<Option<Actor>, ApiError> {
    if bool::from(presented.as_bytes().ct_eq(state.token.as_bytes())) {
        return Ok(Some(Actor {
            name: "bootstrap-admin".into(),
            admin_id: None,
            role: Role::SuperAdmin,
            groups: Arc::default(),
        }));
    }
    let key = provisio_directory::token_hash(presented);
    let now = state.store.now_ms();
    if let Some(actor) = state.tokens.get(&key, now) {
        return Ok(Some(actor));
    }
    let Some(auth) = state.store.authenticate(presented).await? else { return Ok(None) };
    // Last use is recorded at most once a minute per token, off the request's path.
    if auth.last_used_at.is_none_or(|t| now - t > 60_000) {
        let store = state.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.touch_token(&auth.token_id).await {
                tracing::warn!(error = %e, "could not record a token's last use");
            }
        });
    }
    let actor = Actor {
        name: auth.admin.login,
        admin_id: Some(auth.admin.id),
        role: auth.admin.role,
        groups: Arc::new(auth.admin.groups),
    };
    state.tokens.put(key, actor.clone(), auth.expires_at, now);
    Ok(Some(actor))
}

/// Recently checked tokens, by hash, so that a busy client does not cost a
/// directory read per request. An entry lives `TTL`: a token revoked (or an
/// admin changed) on another node stops working within it; on this node the
/// admin API clears the cache at once.
#[derive(Default)]
pub struct TokenCache(std::sync::Mutex<HashMap<String, (Actor, i64)>>);

const TTL_MS: i64 = 5_000;
const CACHED_TOKENS: usize = 10_000;

impl TokenCache {
    fn get(&self, key: &str, now: i64) -> Option<Actor> {
        let cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(key).filter(|(_, until)| *until > now).map(|(actor, _)| actor.clone())
    }

    fn put(&self, key: String, actor: Actor, expires_at: Option<i64>, now: i64) {
        let until = expires_at.map_or(now + TTL_MS, |e| e.min(now + TTL_MS));
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHED_TOKENS {
            cache.retain(|_, (_, u)| *u > now);
            if cache.len() >= CACHED_TOKENS {
                cache.clear();
            }
        }
        cache.insert(key, (actor, until));
    }

    /// Forgets every token (after any change to admins or tokens).
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

impl Actor {
    /// A group admin's id: their reads are limited to their own groups.
    pub fn managed_by(&self) -> Option<&str> {
        if self.is_group_admin() { self.admin_id.as_deref() } else { None }
    }

    fn is_group_admin(&self) -> bool {
        self.role == Role::GroupAdmin
    }

    fn manages_group(&self, group_id: &str) -> bool {
        self.groups.iter().any(|g| g == group_id)
    }

    /// A user a group admin may see: one in their groups.
    pub async fn may_see_user(&self, store: &Store, user_id: &str) -> Result<(), ApiError> {
        if !self.is_group_admin() {
            return Ok(());
        }
        let admin_id = self.admin_id.as_deref().unwrap_or_default();
        if store.admin_manages_user(admin_id, user_id).await? {
            Ok(())
        } else {
            Err(hidden(&format!("user {user_id}")))
        }
    }

    pub fn may_see_group(&self, group_id: &str) -> Result<(), ApiError> {
        if self.is_group_admin() && !self.manages_group(group_id) {
            return Err(hidden(&format!("group {group_id}")));
        }
        Ok(())
    }

    /// Whether this admin may make `change`: the role must hold the
    /// change's permission (a held plan is approved only by someone who
    /// could have made it), and a group admin may touch only their own
    /// users and groups.
    pub async fn may_change(&self, store: &Store, change: &Change) -> Result<(), ApiError> {
        let permission = permission_of(change);
        if !role_holds(self.role, permission) {
            return Err(forbidden(format!(
                "this change needs the \"{permission}\" permission, which a {} does not hold",
                self.role
            )));
        }
        if !self.is_group_admin() {
            return Ok(());
        }
        let own_group = |group_id: &str| {
            if self.manages_group(group_id) {
                Ok(())
            } else {
                Err(forbidden(format!("group {group_id} is not one of the groups you manage")))
            }
        };
        match change {
            Change::UpdateProfile { user_id, .. }
            | Change::Lifecycle { user_id, .. }
            | Change::DeleteUser { user_id } => self.may_see_user(store, user_id).await,
            Change::BulkLifecycle { user_ids, .. } => {
                for user_id in user_ids {
                    self.may_see_user(store, user_id).await?;
                }
                Ok(())
            }
            Change::AddMember { group_id, user_id } => {
                own_group(group_id)?;
                // Adding someone else's user would widen the admin's own reach.
                self.may_see_user(store, user_id).await
            }
            Change::RemoveMember { group_id, .. } => own_group(group_id),
            Change::AssignGroup { group_id, .. } | Change::UnassignGroup { group_id, .. } => own_group(group_id),
            _ => Err(forbidden("a group admin may change only the users and groups they manage")),
        }
    }
}

/// The permission a change needs, whichever route brings it.
pub fn permission_of(change: &Change) -> &'static str {
    match change {
        Change::CreateUser { .. } => "users:create",
        Change::UpdateProfile { .. }
        | Change::Lifecycle { .. }
        | Change::BulkLifecycle { .. }
        | Change::DeleteUser { .. } => "users:write",
        Change::AddMember { .. } | Change::RemoveMember { .. } => "members:write",
        Change::AssignUser { .. } | Change::UnassignUser { .. } => "assignments:write",
        Change::AssignGroup { .. } | Change::UnassignGroup { .. } => "group-assignments:write",
        Change::DeleteGroup { .. } => "groups:write",
        Change::SetMappings { .. }
        | Change::SetPolicy { .. }
        | Change::ExpireAccounts { .. }
        | Change::DeleteApp { .. } => "apps:write",
    }
}
