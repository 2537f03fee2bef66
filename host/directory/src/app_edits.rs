//! Changing an app's configuration (name, settings, credentials, grants,
//! credential origins) and retiring it: a deleted app first deprovisions
//! every account it holds, and its row goes only once they are settled.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use sqlx::Row;

use crate::apps::{App, fetch_app, open_secrets, seal_secrets};
use crate::error::{StoreError, conflict_on_unique};
use crate::log::NewLogEvent;
use crate::sealing::Sealer;
use crate::store::{Backend, Store};
use crate::tx::Tx;

/// An app's configuration as an edit leaves it: every part, whether it
/// changed or not.
#[derive(Debug, Clone, PartialEq)]
pub struct AppConfigEdit {
    pub name: String,
    pub settings: Value,
    /// Plain secrets in; sealed before they reach the database.
    pub secrets: Map<String, Value>,
    pub grants: Vec<String>,
    pub credential_origins: BTreeMap<String, Vec<String>>,
}

/// Where an app's retirement stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retirement {
    /// The app was not being retired (or is gone already).
    NotRetiring,
    /// Accounts still hold access or have a change to push.
    Waiting { unsettled: i64 },
    /// The app and its accounts' rows are deleted.
    Deleted,
}

/// Accounts that keep a retiring app: one the app holds with a change
/// still to push (its deprovisioning, or an error waiting for an admin), a
/// create whose outcome is unknown, or an account the app last heard was
/// active. A create the app never got (a paused app's) keeps nothing.
macro_rules! unsettled {
    () => {
        "FROM app_accounts WHERE app_id = $1 AND (intent IS NOT NULL OR pushed_state = 'active' \
         OR (pushed_state = 'inactive' AND desired_generation > pushed_generation))"
    };
}
const UNSETTLED: &str = concat!("SELECT COUNT(*) AS n ", unsettled!());
const UNSETTLED_USERS: &str = concat!("SELECT user_id ", unsettled!(), " ORDER BY user_id");

impl Store {
    /// Changes an app's configuration. `edit` is given the app as it is now,
    /// locked against other edits, and its opened secrets, and answers with
    /// the whole new configuration (or why not): two admins editing at once
    /// each edit what the other left. The log names what changed, old and
    /// new, except credentials, which it names only.
    pub async fn edit_app<F>(&self, actor: &str, id: &str, sealer: &Sealer, edit: F) -> Result<App, StoreError>
    where
        F: FnOnce(&App, Map<String, Value>) -> Result<AppConfigEdit, StoreError>,
    {
        let mut tx = self.write().await?;
        let lock = match tx.backend() {
            Backend::Postgres => "SELECT secrets FROM apps WHERE id = $1 FOR UPDATE",
            Backend::Sqlite => "SELECT secrets FROM apps WHERE id = $1",
        };
        let sealed: Option<Vec<u8>> = sqlx::query(lock)
            .bind(id)
            .fetch_optional(tx.conn())
            .await?
            .ok_or_else(|| StoreError::not_found(format!("app {id}")))?
            .try_get("secrets")?;
        let current = fetch_app(tx.conn(), id).await?;
        let old_secrets = open_secrets(sealer, id, sealed)?;
        let new = edit(&current, old_secrets.clone())?;
        if new.name.trim().is_empty() || new.name.len() > 256 {
            return Err(StoreError::Invalid("an app name must be 1-256 characters".into()));
        }
        let details = edit_details(&current, &old_secrets, &new);
        if details.as_object().is_none_or(Map::is_empty) {
            tx.rollback().await?;
            return Ok(current);
        }
        // Strictly later than before: a node's cached build of the app is
        // keyed by it, and two edits may fall in one millisecond.
        let updated_at = tx.now.max(current.updated_at + 1);
        sqlx::query(
            "UPDATE apps SET name = $1, name_key = $2, settings = $3, secrets = $4, grants = $5, \
             credential_origins = $6, updated_at = $7 WHERE id = $8",
        )
        .bind(&new.name)
        .bind(new.name.to_lowercase())
        .bind(new.settings.to_string())
        .bind(seal_secrets(sealer, id, &new.secrets)?)
        .bind(json!(new.grants).to_string())
        .bind(json!(new.credential_origins).to_string())
        .bind(updated_at)
        .bind(id)
        .execute(tx.conn())
        .await
        .map_err(|e| conflict_on_unique(e, || format!("an app named \"{}\" already exists", new.name)))?;
        tx.log(&NewLogEvent::success(actor, "app.update", "app", id, details)).await?;
        let app = fetch_app(tx.conn(), id).await?;
        tx.commit().await?;
        Ok(app)
    }

    /// Deletes a retiring app once none of its accounts holds access or has
    /// a change still to push; otherwise says how many keep it.
    pub async fn finish_retirement(&self, actor: &str, app_id: &str) -> Result<Retirement, StoreError> {
        self.end_retirement(actor, app_id, false).await
    }

    /// Deletes a retiring app even though some accounts are not settled
    /// (the app is gone for good, and an admin has checked it): the log
    /// names each account abandoned.
    pub async fn abandon_retirement(&self, actor: &str, app_id: &str) -> Result<Retirement, StoreError> {
        self.end_retirement(actor, app_id, true).await
    }

    async fn end_retirement(&self, actor: &str, app_id: &str, abandon: bool) -> Result<Retirement, StoreError> {
        let mut tx = self.write().await?;
        let lock = match tx.backend() {
            Backend::Postgres => "SELECT name, retiring_since FROM apps WHERE id = $1 FOR UPDATE",
            Backend::Sqlite => "SELECT name, retiring_since FROM apps WHERE id = $1",
        };
        let Some(row) = sqlx::query(lock).bind(app_id).fetch_optional(tx.conn()).await? else {
            return Ok(Retirement::NotRetiring);
        };
        if row.try_get::<Option<i64>, _>("retiring_since")?.is_none() {
            return Ok(Retirement::NotRetiring);
        }
        let name: String = row.try_get("name")?;
        let unsettled: i64 = sqlx::query(UNSETTLED).bind(app_id).fetch_one(tx.conn()).await?.try_get("n")?;
        if unsettled > 0 && !abandon {
            tx.rollback().await?;
            return Ok(Retirement::Waiting { unsettled });
        }
        let abandoned: Vec<String> = sqlx::query(UNSETTLED_USERS)
            .bind(app_id)
            .fetch_all(tx.conn())
            .await?
            .iter()
            .map(|r| r.try_get("user_id"))
            .collect::<Result<_, _>>()?;
        let accounts: i64 = sqlx::query("SELECT COUNT(*) AS n FROM app_accounts WHERE app_id = $1")
            .bind(app_id)
            .fetch_one(tx.conn())
            .await?
            .try_get("n")?;
        // Accounts, assignments and tasks go with it (ON DELETE CASCADE).
        sqlx::query("DELETE FROM apps WHERE id = $1").bind(app_id).execute(tx.conn()).await?;
        let details = json!({ "name": name, "accounts": accounts, "abandoned": abandoned });
        tx.log(&NewLogEvent::success(actor, "app.delete", "app", app_id, details)).await?;
        tx.commit().await?;
        Ok(Retirement::Deleted)
    }

    /// The apps being retired (the executor asks after each batch of
    /// outcomes, whose last may have settled one; there are seldom any).
    pub async fn retiring_apps(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT id FROM apps WHERE retiring_since IS NOT NULL ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
    }

    /// How many of a retiring app's accounts keep it.
    pub async fn unsettled_accounts(&self, app_id: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query(UNSETTLED).bind(app_id).fetch_one(&self.pool).await?.try_get("n")?)
    }
}

impl Tx {
    /// Marks the app as retiring (from now on it is assigned to no one);
    /// returns false when it already was.
    pub async fn begin_retirement(&mut self, actor: &str, app_id: &str) -> Result<bool, StoreError> {
        let app = fetch_app(self.conn(), app_id).await?;
        if app.retiring_since.is_some() {
            return Ok(false);
        }
        let now = self.now;
        sqlx::query("UPDATE apps SET retiring_since = $1, updated_at = $2 WHERE id = $3")
            .bind(now)
            .bind(now.max(app.updated_at + 1))
            .bind(app_id)
            .execute(self.conn())
            .await?;
        self.log(&NewLogEvent::success(actor, "app.retire", "app", app_id, json!({ "name": app.name }))).await?;
        Ok(true)
    }

    /// Refuses a new assignment to an app being retired. A missing app is
    /// left to the assignment's own error.
    pub(crate) async fn refuse_if_retiring(&mut self, app_id: &str) -> Result<(), StoreError> {
        let row = sqlx::query("SELECT name FROM apps WHERE id = $1 AND retiring_since IS NOT NULL")
            .bind(app_id)
            .fetch_optional(self.conn())
            .await?;
        match row {
            Some(row) => Err(StoreError::Conflict(format!(
                "app {} is being deleted: it takes no new assignments (its accounts are being deprovisioned)",
                row.try_get::<String, _>("name")?
            ))),
            None => Ok(()),
        }
    }
}

/// What an edit changes, for the log: each part's old and new value, and
/// only the names of the credentials set or removed.
fn edit_details(current: &App, old_secrets: &Map<String, Value>, new: &AppConfigEdit) -> Value {
    let mut details = Map::new();
    let mut part = |name: &str, old: Value, new: Value| {
        if old != new {
            details.insert(name.into(), json!({ "old": old, "new": new }));
        }
    };
    part("name", json!(current.name), json!(new.name));
    part("settings", current.settings.clone(), new.settings.clone());
    part("grants", json!(current.grants), json!(new.grants));
    part("credentialOrigins", json!(current.credential_origins), json!(new.credential_origins));
    let set: Vec<&String> =
        new.secrets.iter().filter(|(k, v)| old_secrets.get(*k) != Some(v)).map(|(k, _)| k).collect();
    let removed: Vec<&String> = old_secrets.keys().filter(|k| !new.secrets.contains_key(*k)).collect();
    if !set.is_empty() || !removed.is_empty() {
        details.insert("credentials".into(), json!({ "set": set, "removed": removed }));
    }
    Value::Object(details)
}
