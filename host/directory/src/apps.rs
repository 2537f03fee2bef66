//! Installed connector packages, apps, and who is assigned to them (directly
//! or through a group).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::{StoreError, conflict_on_unique};
use crate::log::NewLogEvent;
use crate::sealing::Sealer;
use crate::store::{Store, new_id};
use crate::tx::Tx;

#[derive(Debug, Clone)]
pub struct NewApp {
    pub name: String,
    pub connector_name: String,
    pub connector_version: String,
    pub settings: Value,
    /// Plain secrets in; sealed before they reach the database.
    pub secrets: Map<String, Value>,
    pub grants: Vec<String>,
    /// Credential name → the origins the operator lets it go to.
    pub credential_origins: BTreeMap<String, Vec<String>>,
    pub mappings: Value,
    pub policy: Value,
}

/// An app as stored; its secrets stay sealed (see [`Store::app_secrets`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct App {
    pub id: String,
    pub name: String,
    pub connector_name: String,
    pub connector_version: String,
    pub settings: Value,
    pub has_secrets: bool,
    pub grants: Vec<String>,
    pub credential_origins: BTreeMap<String, Vec<String>>,
    pub mappings: Value,
    pub policy: Value,
    pub status: String,
    pub paused_until: Option<i64>,
    pub quarantine_reason: Option<String>,
    /// Kept on its version when an install moves the connector's apps along.
    pub connector_pinned: bool,
    /// The version it ran before the last change of version (for a roll back).
    pub previous_connector_version: Option<String>,
    /// Set when an admin deleted the app: it is assigned to no one, and it
    /// goes once its accounts are settled.
    pub retiring_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

macro_rules! app_columns {
    () => {
        "id, name, connector_name, connector_version, settings, CAST(CASE WHEN secrets IS NULL THEN 0 ELSE 1 END AS BIGINT) AS has_secrets, grants, \
         credential_origins, mappings, policy, status, paused_until, quarantine_reason, connector_pinned, previous_connector_version, \
         retiring_since, created_at, updated_at"
    };
}

pub(crate) fn json_column(r: &AnyRow, name: &str) -> Result<Value, StoreError> {
    let text: String = r.try_get(name)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Invalid(format!("stored {name} is not JSON: {e}")))
}

pub(crate) fn from_row(r: &AnyRow) -> Result<App, StoreError> {
    Ok(App {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        connector_name: r.try_get("connector_name")?,
        connector_version: r.try_get("connector_version")?,
        settings: json_column(r, "settings")?,
        // An integer, not a bool: SQLite has no boolean type.
        has_secrets: r.try_get::<i64, _>("has_secrets")? != 0,
        grants: serde_json::from_value(json_column(r, "grants")?)
            .map_err(|e| StoreError::Invalid(format!("stored grants: {e}")))?,
        credential_origins: serde_json::from_value(json_column(r, "credential_origins")?)
            .map_err(|e| StoreError::Invalid(format!("stored credential origins: {e}")))?,
        mappings: json_column(r, "mappings")?,
        policy: json_column(r, "policy")?,
        status: r.try_get("status")?,
        paused_until: r.try_get("paused_until")?,
        quarantine_reason: r.try_get("quarantine_reason")?,
        connector_pinned: r.try_get::<i64, _>("connector_pinned")? != 0,
        previous_connector_version: r.try_get("previous_connector_version")?,
        retiring_since: r.try_get("retiring_since")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn seal_context(app_id: &str) -> String {
    format!("app {app_id}")
}

/// An app's secrets sealed for its row (None when it has none).
pub(crate) fn seal_secrets(
    sealer: &Sealer,
    app_id: &str,
    secrets: &Map<String, Value>,
) -> Result<Option<Vec<u8>>, StoreError> {
    if secrets.is_empty() {
        return Ok(None);
    }
    let plain = zeroize::Zeroizing::new(Value::Object(secrets.clone()).to_string());
    Ok(Some(sealer.seal(&seal_context(app_id), plain.as_bytes())?))
}

/// An app's secrets, opened from its row.
pub(crate) fn open_secrets(
    sealer: &Sealer,
    app_id: &str,
    sealed: Option<Vec<u8>>,
) -> Result<Map<String, Value>, StoreError> {
    let Some(sealed) = sealed else {
        return Ok(Map::new());
    };
    let plain = sealer.open(&seal_context(app_id), &sealed)?;
    serde_json::from_slice(&plain).map_err(|_| StoreError::Invalid(format!("the secrets of app {app_id} are damaged")))
}

/// A missing row behind a foreign key becomes a readable error.
fn missing_reference(e: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::Invalid(message()),
        _ => StoreError::Database(e),
    }
}

impl Store {
    pub async fn create_app(&self, actor: &str, new: NewApp, sealer: &Sealer) -> Result<App, StoreError> {
        if new.name.trim().is_empty() || new.name.len() > 256 {
            return Err(StoreError::Invalid("an app name must be 1-256 characters".into()));
        }
        let now = self.now_ms();
        let id = new_id();
        let secrets = seal_secrets(sealer, &id, &new.secrets)?;
        let connector = format!("{}@{}", new.connector_name, new.connector_version);
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO apps (id, name, name_key, connector_name, connector_version, settings, secrets, grants, \
             mappings, policy, credential_origins, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'active', $12, $12)",
        )
        .bind(&id)
        .bind(&new.name)
        .bind(new.name.to_lowercase())
        .bind(&new.connector_name)
        .bind(&new.connector_version)
        .bind(new.settings.to_string())
        .bind(secrets)
        .bind(json!(new.grants).to_string())
        .bind(new.mappings.to_string())
        .bind(new.policy.to_string())
        .bind(json!(new.credential_origins).to_string())
        .bind(now)
        .execute(tx.conn())
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                conflict_on_unique(e, || format!("an app named \"{}\" already exists", new.name))
            }
            _ => missing_reference(e, || format!("connector {connector} is not installed")),
        })?;
        // The log names the secrets' keys, never their values.
        let secret_names: Vec<&String> = new.secrets.keys().collect();
        let event = NewLogEvent::success(
            actor,
            "app.create",
            "app",
            &id,
            json!({ "name": new.name, "connector": connector, "secrets": secret_names }),
        );
        tx.log(&event).await?;
        tx.commit().await?;
        self.app(&id).await
    }

    pub async fn app(&self, id: &str) -> Result<App, StoreError> {
        fetch_app(&self.pool, id).await
    }

    pub async fn list_apps(&self) -> Result<Vec<App>, StoreError> {
        let rows =
            sqlx::query(concat!("SELECT ", app_columns!(), " FROM apps ORDER BY id")).fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    /// The app's secrets, opened with the directory key.
    pub async fn app_secrets(&self, id: &str, sealer: &Sealer) -> Result<Map<String, Value>, StoreError> {
        let sealed: Option<Vec<u8>> = sqlx::query("SELECT secrets FROM apps WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("app {id}")))?
            .try_get("secrets")?;
        open_secrets(sealer, id, sealed)
    }

    pub async fn assign_user(&self, actor: &str, app_id: &str, user_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let changed = tx.assign_user(actor, app_id, user_id).await?;
        tx.commit().await?;
        Ok(changed)
    }

    pub async fn unassign_user(&self, actor: &str, app_id: &str, user_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let changed = tx.unassign_user(actor, app_id, user_id).await?;
        tx.commit().await?;
        Ok(changed)
    }

    pub async fn assign_group(
        &self,
        actor: &str,
        app_id: &str,
        group_id: &str,
        priority: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let changed = tx.assign_group(actor, app_id, group_id, priority).await?;
        tx.commit().await?;
        Ok(changed)
    }

    pub async fn unassign_group(&self, actor: &str, app_id: &str, group_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let changed = tx.unassign_group(actor, app_id, group_id).await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// A page of the app's users, in id order, from after `after`: each
    /// with whether it is assigned directly (else only through groups).
    pub async fn app_user_page(
        &self,
        app_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(String, bool)>, StoreError> {
        let rows = sqlx::query(
            "SELECT user_id, MAX(direct) AS direct FROM ( \
               SELECT user_id, CAST(1 AS BIGINT) AS direct FROM app_user_assignments WHERE app_id = $1 \
               UNION ALL SELECT m.user_id, CAST(0 AS BIGINT) FROM app_group_assignments g \
               JOIN memberships m ON m.group_id = g.group_id WHERE g.app_id = $1) t \
             WHERE ($2 IS NULL OR user_id > $2) GROUP BY user_id ORDER BY user_id LIMIT $3",
        )
        .bind(app_id)
        .bind(after.map(str::to_string))
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let direct: i64 = r.try_get("direct")?;
                Ok((r.try_get("user_id")?, direct == 1))
            })
            .collect()
    }

    /// Why a user has each app: one grant for a direct assignment and one
    /// for each group (with its name) that brings the app, by app name.
    pub async fn user_app_grants(&self, user_id: &str) -> Result<Vec<AppGrant>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.id AS app_id, a.name AS app_name, NULL AS group_id, NULL AS group_name, 0 AS priority \
             FROM app_user_assignments u JOIN apps a ON a.id = u.app_id WHERE u.user_id = $1 \
             UNION ALL \
             SELECT a.id, a.name, g.id, g.name, ga.priority FROM app_group_assignments ga \
             JOIN memberships m ON m.group_id = ga.group_id JOIN user_groups g ON g.id = ga.group_id \
             JOIN apps a ON a.id = ga.app_id WHERE m.user_id = $1 \
             ORDER BY app_name, app_id, priority, group_name",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let group_id: Option<String> = r.try_get("group_id")?;
                let group_name: Option<String> = r.try_get("group_name")?;
                Ok(AppGrant {
                    app_id: r.try_get("app_id")?,
                    app_name: r.try_get("app_name")?,
                    group: group_id.zip(group_name),
                    priority: r.try_get("priority")?,
                })
            })
            .collect()
    }

    /// The apps a user is assigned to, directly or through any group.
    pub async fn user_apps(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT app_id FROM app_user_assignments WHERE user_id = $1 \
             UNION SELECT g.app_id FROM app_group_assignments g JOIN memberships m ON m.group_id = g.group_id \
             WHERE m.user_id = $1 ORDER BY app_id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("app_id")?)).collect()
    }
}

/// One reason a user has an app: assigned directly (`group` is `None`) or
/// through a group (its id and name, and its priority on the app).
#[derive(Debug, Clone, PartialEq)]
pub struct AppGrant {
    pub app_id: String,
    pub app_name: String,
    pub group: Option<(String, String)>,
    pub priority: i64,
}

pub(crate) async fn fetch_app<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    id: &str,
) -> Result<App, StoreError> {
    let row = sqlx::query(concat!("SELECT ", app_columns!(), " FROM apps WHERE id = $1"))
        .bind(id)
        .fetch_optional(e)
        .await?
        .ok_or_else(|| StoreError::not_found(format!("app {id}")))?;
    from_row(&row)
}

impl Tx {
    pub async fn app(&mut self, id: &str) -> Result<App, StoreError> {
        fetch_app(self.conn(), id).await
    }

    pub async fn assign_user(&mut self, actor: &str, app_id: &str, user_id: &str) -> Result<bool, StoreError> {
        // A missing app or user is 404, named, like any object the URL names.
        self.app(app_id).await?;
        self.user(user_id).await?;
        self.refuse_if_retiring(app_id).await?;
        let statement = sqlx::query(
            "INSERT INTO app_user_assignments (app_id, user_id, assigned_at) VALUES ($1, $2, $3) \
             ON CONFLICT (app_id, user_id) DO NOTHING",
        )
        .bind(app_id.to_string())
        .bind(user_id.to_string())
        .bind(self.now);
        self.assignment_change(actor, "app.user.assign", app_id, json!({ "user_id": user_id }), statement).await
    }

    pub async fn unassign_user(&mut self, actor: &str, app_id: &str, user_id: &str) -> Result<bool, StoreError> {
        let statement = sqlx::query("DELETE FROM app_user_assignments WHERE app_id = $1 AND user_id = $2")
            .bind(app_id.to_string())
            .bind(user_id.to_string());
        self.assignment_change(actor, "app.user.unassign", app_id, json!({ "user_id": user_id }), statement).await
    }

    pub async fn assign_group(
        &mut self,
        actor: &str,
        app_id: &str,
        group_id: &str,
        priority: i64,
    ) -> Result<bool, StoreError> {
        self.app(app_id).await?;
        self.group(group_id).await?;
        self.refuse_if_retiring(app_id).await?;
        let statement = sqlx::query(
            "INSERT INTO app_group_assignments (app_id, group_id, priority, assigned_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (app_id, group_id) DO NOTHING",
        )
        .bind(app_id.to_string())
        .bind(group_id.to_string())
        .bind(priority)
        .bind(self.now);
        let details = json!({ "group_id": group_id, "priority": priority });
        self.assignment_change(actor, "app.group.assign", app_id, details, statement).await
    }

    pub async fn unassign_group(&mut self, actor: &str, app_id: &str, group_id: &str) -> Result<bool, StoreError> {
        let statement = sqlx::query("DELETE FROM app_group_assignments WHERE app_id = $1 AND group_id = $2")
            .bind(app_id.to_string())
            .bind(group_id.to_string());
        self.assignment_change(actor, "app.group.unassign", app_id, json!({ "group_id": group_id }), statement).await
    }

    /// Runs one assignment insert or delete with its log event; true when it
    /// changed something (a repeated change is a no-op and logs nothing).
    async fn assignment_change(
        &mut self,
        actor: &str,
        action: &str,
        app_id: &str,
        details: Value,
        statement: sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> Result<bool, StoreError> {
        let changed = statement
            .execute(self.conn())
            .await
            // Only when one went between the check above and this statement.
            .map_err(|e| match missing_reference(e, String::new) {
                StoreError::Invalid(_) => StoreError::not_found(format!("the app, user or group of {details}")),
                other => other,
            })?
            .rows_affected()
            == 1;
        if changed {
            self.log(&NewLogEvent::success(actor, action, "app", app_id, details)).await?;
        }
        Ok(changed)
    }

    /// Whether the app is assigned to the user, directly or through any group.
    pub async fn is_assigned(&mut self, app_id: &str, user_id: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT CAST(CASE WHEN EXISTS (SELECT 1 FROM app_user_assignments WHERE app_id = $1 AND user_id = $2) \
               OR EXISTS (SELECT 1 FROM app_group_assignments g JOIN memberships m ON m.group_id = g.group_id \
                          WHERE g.app_id = $1 AND m.user_id = $2) THEN 1 ELSE 0 END AS BIGINT) AS assigned",
        )
        .bind(app_id)
        .bind(user_id)
        .fetch_one(self.conn())
        .await?;
        Ok(row.try_get::<i64, _>("assigned")? != 0)
    }

    /// The apps that concern a user: assigned (directly or through a group)
    /// or holding an account for them.
    /// Every app's id, in order.
    pub async fn app_ids(&mut self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT id FROM apps ORDER BY id").fetch_all(self.conn()).await?;
        rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
    }

    pub async fn apps_concerning(&mut self, user_id: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT app_id FROM app_user_assignments WHERE user_id = $1 \
             UNION SELECT g.app_id FROM app_group_assignments g JOIN memberships m ON m.group_id = g.group_id \
             WHERE m.user_id = $1 \
             UNION SELECT app_id FROM app_accounts WHERE user_id = $1 ORDER BY app_id",
        )
        .bind(user_id)
        .fetch_all(self.conn())
        .await?;
        rows.iter().map(|r| Ok(r.try_get("app_id")?)).collect()
    }

    /// The users that concern an app: assigned or holding an account.
    pub async fn users_concerning(&mut self, app_id: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT user_id FROM app_user_assignments WHERE app_id = $1 \
             UNION SELECT m.user_id FROM app_group_assignments g JOIN memberships m ON m.group_id = g.group_id \
             WHERE g.app_id = $1 \
             UNION SELECT user_id FROM app_accounts WHERE app_id = $1 ORDER BY user_id",
        )
        .bind(app_id)
        .fetch_all(self.conn())
        .await?;
        rows.iter().map(|r| Ok(r.try_get("user_id")?)).collect()
    }

    /// The apps a group is assigned to.
    pub async fn apps_of_group(&mut self, group_id: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT app_id FROM app_group_assignments WHERE group_id = $1 ORDER BY app_id")
            .bind(group_id)
            .fetch_all(self.conn())
            .await?;
        rows.iter().map(|r| Ok(r.try_get("app_id")?)).collect()
    }

    /// Replaces an app's attribute mappings (validated by the engine first).
    pub async fn set_app_mappings(&mut self, actor: &str, app_id: &str, mappings: &Value) -> Result<(), StoreError> {
        self.set_app_json(actor, "app.mappings.set", app_id, "mappings", mappings).await
    }

    /// Replaces an app's provisioning policy (validated by the engine first).
    pub async fn set_app_policy(&mut self, actor: &str, app_id: &str, policy: &Value) -> Result<(), StoreError> {
        self.set_app_json(actor, "app.policy.set", app_id, "policy", policy).await
    }

    async fn set_app_json(
        &mut self,
        actor: &str,
        action: &str,
        app_id: &str,
        column: &str,
        value: &Value,
    ) -> Result<(), StoreError> {
        let statement = match column {
            "mappings" => "UPDATE apps SET mappings = $1, updated_at = $2 WHERE id = $3",
            _ => "UPDATE apps SET policy = $1, updated_at = $2 WHERE id = $3",
        };
        let now = self.now;
        let updated =
            sqlx::query(statement).bind(value.to_string()).bind(now).bind(app_id).execute(self.conn()).await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("app {app_id}")));
        }
        self.log(&NewLogEvent::success(actor, action, "app", app_id, json!({ column: value }))).await
    }
}

/// A group assigned to an app.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupAssignment {
    pub group_id: String,
    pub group_name: String,
    pub priority: i64,
    pub assigned_at: i64,
}

impl Store {
    /// Users assigned to the app directly (not through groups).
    pub async fn group_assignments(&self, app_id: &str) -> Result<Vec<GroupAssignment>, StoreError> {
        let rows = sqlx::query(
            "SELECT ga.group_id, g.name, ga.priority, ga.assigned_at FROM app_group_assignments ga \
             JOIN user_groups g ON g.id = ga.group_id WHERE ga.app_id = $1 ORDER BY ga.priority, ga.group_id",
        )
        .bind(app_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(GroupAssignment {
                    group_id: r.try_get("group_id")?,
                    group_name: r.try_get("name")?,
                    priority: r.try_get("priority")?,
                    assigned_at: r.try_get("assigned_at")?,
                })
            })
            .collect()
    }
}
