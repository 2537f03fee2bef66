//! A user's reach: the groups they are in and the apps they have, with the
//! reason for each app (directly, or through which groups).

use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::{router::OpenApiRouter, routes};

use provisio_directory::AppGrant;
use provisio_proto as proto;

use super::{Actor, ApiError, AppState, users::find_user, wire};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(groups)).routes(routes!(apps))
}

#[utoipa::path(
    get,
    path = "/users/{id}/groups",
    operation_id = "listUserGroups",
    tag = "users",
    summary = "The groups a user is in, by name",
    params(("id" = String, Path, description = "The user's id, or their login")),
    responses((status = 200, description = "The groups", body = Vec<proto::Group>)),
    security(("apiToken" = ["directory:read"]))
)]
async fn groups(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<Vec<proto::Group>>, ApiError> {
    let user = find_user(&state, &actor, &id).await?;
    Ok(Json(state.store.user_groups(&user.id).await?.iter().map(wire::group).collect()))
}

#[utoipa::path(
    get,
    path = "/users/{id}/apps",
    operation_id = "listUserApps",
    tag = "users",
    summary = "The apps a user has, each with why: a direct assignment, and the groups that bring it",
    params(("id" = String, Path, description = "The user's id, or their login")),
    responses((status = 200, description = "The apps, by name", body = Vec<proto::UserApp>)),
    security(("apiToken" = ["apps:read"]))
)]
async fn apps(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<Vec<proto::UserApp>>, ApiError> {
    let user = find_user(&state, &actor, &id).await?;
    Ok(Json(user_apps(state.store.user_app_grants(&user.id).await?)))
}

/// Grants (ordered by app, then priority) folded into one entry per app.
fn user_apps(grants: Vec<AppGrant>) -> Vec<proto::UserApp> {
    let mut apps: Vec<proto::UserApp> = Vec::new();
    for g in grants {
        if apps.last().is_none_or(|last| last.id != g.app_id) {
            apps.push(proto::UserApp { id: g.app_id, name: g.app_name, direct: false, through: Vec::new() });
        }
        let Some(entry) = apps.last_mut() else { continue };
        match g.group {
            None => entry.direct = true,
            Some((id, name)) => entry.through.push(proto::GroupRef { id, name, priority: g.priority }),
        }
    }
    apps
}

#[cfg(test)]
mod tests {
    use provisio_directory::AppGrant;

    use super::user_apps;

    #[test]
    fn each_app_appears_once_with_every_reason_the_user_has_it() {
        let grant = |app: &str, group: Option<(&str, i64)>| AppGrant {
            app_id: app.into(),
            app_name: app.to_uppercase(),
            group: group.map(|(g, _)| (g.into(), format!("{g} team"))),
            priority: group.map_or(0, |(_, p)| p),
        };
        let apps = user_apps(vec![
            grant("crm", None),
            grant("crm", Some(("sales", 1))),
            grant("crm", Some(("ops", 2))),
            grant("wiki", Some(("ops", 0))),
        ]);
        assert_eq!(apps.len(), 2);
        assert!(apps[0].direct && apps[0].through.iter().map(|g| g.name.as_str()).eq(["sales team", "ops team"]));
        assert!(!apps[1].direct && apps[1].through.len() == 1 && apps[1].through[0].id == "ops");
    }
}
