//! Users: login, lifecycle status, and a profile of base and custom attributes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::{StoreError, conflict_on_unique};
use crate::log::NewLogEvent;
use crate::logins::{login_key, normal_login};
use crate::store::{Store, new_id};
use crate::tx::Tx;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UserStatus {
    Staged,
    Active,
    Suspended,
    Deprovisioned,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Staged => "staged",
            UserStatus::Active => "active",
            UserStatus::Suspended => "suspended",
            UserStatus::Deprovisioned => "deprovisioned",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "staged" => UserStatus::Staged,
            "active" => UserStatus::Active,
            "suspended" => UserStatus::Suspended,
            "deprovisioned" => UserStatus::Deprovisioned,
            other => return Err(StoreError::Invalid(format!("unknown user status \"{other}\" in the database"))),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub login: String,
    pub status: UserStatus,
    pub profile: Map<String, Value>,
    /// Bumped on every change; lets a writer detect a concurrent one.
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub status_changed_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub login: String,
    pub profile: Map<String, Value>,
    pub status: UserStatus,
}

macro_rules! user_columns {
    () => {
        "id, login, status, profile, version, created_at, updated_at, status_changed_at"
    };
}

pub(crate) const USER_COLUMNS: &str = user_columns!();

pub(crate) fn from_row(r: &AnyRow) -> Result<User, StoreError> {
    let profile: String = r.try_get("profile")?;
    let status: String = r.try_get("status")?;
    Ok(User {
        id: r.try_get("id")?,
        login: r.try_get("login")?,
        status: UserStatus::parse(&status)?,
        profile: serde_json::from_str(&profile)
            .map_err(|e| StoreError::Invalid(format!("a stored profile is not JSON: {e}")))?,
        version: r.try_get("version")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        status_changed_at: r.try_get("status_changed_at")?,
    })
}

/// The most attributes one profile holds.
pub const MAX_PROFILE_ATTRIBUTES: usize = 500;
/// The longest attribute name.
pub const MAX_ATTRIBUTE_NAME_BYTES: usize = 128;
/// The largest attribute value, as JSON.
pub const MAX_ATTRIBUTE_VALUE_BYTES: usize = 64 << 10;

/// A profile within its limits: every list answer carries whole profiles,
/// so one huge profile would slow every search.
/// The system log's name for a move from one status to another: the
/// lifecycle operation that makes it.
fn lifecycle_event(from: UserStatus, to: UserStatus) -> &'static str {
    match (from, to) {
        (_, UserStatus::Deprovisioned) => "user.lifecycle.deactivate",
        (_, UserStatus::Suspended) => "user.lifecycle.suspend",
        (UserStatus::Suspended, _) => "user.lifecycle.unsuspend",
        (UserStatus::Deprovisioned, _) => "user.lifecycle.reactivate",
        _ => "user.lifecycle.activate",
    }
}

/// Attribute names whose values the log never shows (a profile may carry
/// an initial password, a PIN or a recovery secret from an HR import).
const SECRET_WORDS: [&str; 5] = ["password", "secret", "token", "pin", "passphrase"];

fn is_secret_attribute(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| name.contains(w))
}

/// Each attribute a profile update changes, with its old and new value
/// (`null` where there was none or is none now); a secret's values are
/// masked, so the log says only that it changed.
fn profile_changes(old: &Map<String, Value>, new: &Map<String, Value>) -> Value {
    let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
    names.sort();
    names.dedup();
    let mut changes = Map::new();
    for name in names {
        let (before, after) = (old.get(name), new.get(name));
        if before == after {
            continue;
        }
        let shown = |v: Option<&Value>| match v {
            Some(_) if is_secret_attribute(name) => json!("********"),
            Some(v) => v.clone(),
            None => Value::Null,
        };
        changes.insert(name.clone(), json!({ "old": shown(before), "new": shown(after) }));
    }
    Value::Object(changes)
}

fn check_profile(profile: &Map<String, Value>) -> Result<(), StoreError> {
    if profile.len() > MAX_PROFILE_ATTRIBUTES {
        return Err(StoreError::Invalid(format!(
            "the profile has {} attributes; a profile holds at most {MAX_PROFILE_ATTRIBUTES}",
            profile.len()
        )));
    }
    for (name, value) in profile {
        if name.is_empty() || name.len() > MAX_ATTRIBUTE_NAME_BYTES || name.chars().any(char::is_control) {
            return Err(StoreError::Invalid(format!(
                "attribute name \"{}\" must be 1-{MAX_ATTRIBUTE_NAME_BYTES} bytes with no control characters",
                shown(name)
            )));
        }
        let size = value.to_string().len();
        if size > MAX_ATTRIBUTE_VALUE_BYTES {
            return Err(StoreError::Invalid(format!(
                "attribute \"{}\" is {size} bytes; a value holds at most {} KiB",
                shown(name),
                MAX_ATTRIBUTE_VALUE_BYTES >> 10
            )));
        }
    }
    Ok(())
}

/// Input quoted in an error, cut short: an error never echoes a megabyte.
pub(crate) fn shown(text: &str) -> String {
    const SHOWN: usize = 64;
    match text.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], text.len()),
        None => text.to_string(),
    }
}

async fn fetch_user<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(e: E, id: &str) -> Result<User, StoreError> {
    let row = sqlx::query(concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(e)
        .await?
        .ok_or_else(|| StoreError::not_found(format!("user {id}")))?;
    from_row(&row)
}

impl Tx {
    pub async fn create_user(&mut self, actor: &str, new: NewUser) -> Result<User, StoreError> {
        let new = NewUser { login: normal_login(&new.login)?, ..new };
        check_profile(&new.profile)?;
        let now = self.now;
        let id = new_id();
        sqlx::query(
            "INSERT INTO users (id, login, login_key, status, profile, version, created_at, updated_at, status_changed_at) \
             VALUES ($1, $2, $3, $4, $5, 1, $6, $6, $6)",
        )
        .bind(&id)
        .bind(&new.login)
        .bind(login_key(&new.login))
        .bind(new.status.as_str())
        .bind(Value::Object(new.profile.clone()).to_string())
        .bind(now)
        .execute(self.conn())
        .await
        .map_err(|e| conflict_on_unique(e, || format!("a user with login \"{}\" already exists", new.login)))?;
        let event = NewLogEvent::success(
            actor,
            "user.create",
            "user",
            &id,
            json!({ "login": new.login, "status": new.status.as_str() }),
        );
        self.log(&event).await?;
        self.user(&id).await
    }

    pub async fn user(&mut self, id: &str) -> Result<User, StoreError> {
        fetch_user(self.conn(), id).await
    }

    /// Replaces the profile. With `expected_version`, refuses (conflict) when
    /// someone else changed the user since it was read.
    pub async fn update_profile(
        &mut self,
        actor: &str,
        id: &str,
        profile: Map<String, Value>,
        expected_version: Option<i64>,
    ) -> Result<User, StoreError> {
        check_profile(&profile)?;
        let before = self.user(id).await?;
        let changes = profile_changes(&before.profile, &profile);
        let now = self.now;
        let updated = sqlx::query(
            "UPDATE users SET profile = $1, version = version + 1, updated_at = $2 \
             WHERE id = $3 AND ($4 IS NULL OR version = $4)",
        )
        .bind(Value::Object(profile).to_string())
        .bind(now)
        .bind(id)
        .bind(expected_version)
        .execute(self.conn())
        .await?
        .rows_affected();
        if updated == 0 {
            self.user(id).await?; // not found?
            return Err(StoreError::Conflict(format!(
                "user {id} was changed by someone else since version {}; read it again",
                expected_version.unwrap_or_default()
            )));
        }
        let details = json!({ "login": before.login, "profile": changes });
        self.log(&NewLogEvent::success(actor, "user.update", "user", id, details)).await?;
        self.user(id).await
    }

    /// Writes a new status (the engine decides which transitions are legal).
    pub async fn set_status(&mut self, actor: &str, id: &str, status: UserStatus) -> Result<User, StoreError> {
        let from = self.user(id).await?.status;
        let now = self.now;
        let updated = sqlx::query(
            "UPDATE users SET status = $1, version = version + 1, updated_at = $2, status_changed_at = $2 WHERE id = $3",
        )
        .bind(status.as_str())
        .bind(now)
        .bind(id)
        .execute(self.conn())
        .await?
        .rows_affected();
        if updated == 0 {
            return Err(StoreError::not_found(format!("user {id}")));
        }
        let user = self.user(id).await?;
        // The login too: a hook's receiver should not have to ask who it was.
        let details = json!({ "status": status.as_str(), "login": user.login });
        self.log(&NewLogEvent::success(actor, lifecycle_event(from, status), "user", id, details)).await?;
        Ok(user)
    }

    /// Removes a user for good (their memberships, assignments and app
    /// accounts go with them).
    pub async fn purge_user(&mut self, actor: &str, id: &str) -> Result<(), StoreError> {
        let deleted =
            sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(self.conn()).await?.rows_affected();
        if deleted == 0 {
            return Err(StoreError::not_found(format!("user {id}")));
        }
        self.log(&NewLogEvent::success(actor, "user.purge", "user", id, json!({}))).await
    }
}

impl Store {
    pub async fn create_user(&self, actor: &str, new: NewUser) -> Result<User, StoreError> {
        let mut tx = self.write().await?;
        let user = tx.create_user(actor, new).await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn user(&self, id: &str) -> Result<User, StoreError> {
        fetch_user(&self.pool, id).await
    }

    pub async fn user_by_login(&self, login: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(concat!("SELECT ", user_columns!(), " FROM users WHERE login_key = $1"))
            .bind(login_key(login))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Users in id order (ids are time-ordered UUIDs), after `after`.
    pub async fn list_users(&self, after: Option<&str>, limit: u32) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2"
        ))
        .bind(after.map(str::to_string))
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Users deprovisioned before `before` whose app accounts are all
    /// settled: the directory retention's candidates for purging.
    pub async fn deprovisioned_before(&self, before: i64, limit: u32) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT u.id FROM users u WHERE u.status = 'deprovisioned' AND u.status_changed_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM app_accounts a WHERE a.user_id = u.id \
                             AND a.desired_generation > a.pushed_generation) \
             ORDER BY u.id LIMIT $2",
        )
        .bind(before)
        .bind(i64::from(limit.clamp(1, 10_000)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
    }

    pub async fn update_profile(
        &self,
        actor: &str,
        id: &str,
        profile: Map<String, Value>,
        expected_version: Option<i64>,
    ) -> Result<User, StoreError> {
        let mut tx = self.write().await?;
        let user = tx.update_profile(actor, id, profile, expected_version).await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn set_status(&self, actor: &str, id: &str, status: UserStatus) -> Result<User, StoreError> {
        let mut tx = self.write().await?;
        let user = tx.set_status(actor, id, status).await?;
        tx.commit().await?;
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    use super::{UserStatus, lifecycle_event, profile_changes};

    fn profile(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn a_profile_change_records_each_changed_attribute_old_and_new_and_masks_secrets() {
        let old = profile(json!({ "email": "a@x", "title": "Dev", "initialPassword": "hunter2", "team": "A" }));
        let new = profile(json!({ "email": "b@x", "title": "Dev", "initialPassword": "swordfish", "city": "Oslo" }));
        assert_eq!(
            profile_changes(&old, &new),
            json!({
                "city": { "old": null, "new": "Oslo" },
                "email": { "old": "a@x", "new": "b@x" },
                "initialPassword": { "old": "********", "new": "********" },
                "team": { "old": "A", "new": null },
            })
        );
    }

    #[test]
    fn each_status_move_is_named_for_the_lifecycle_operation_that_makes_it() {
        use UserStatus::*;
        assert_eq!(lifecycle_event(Staged, Active), "user.lifecycle.activate");
        assert_eq!(lifecycle_event(Deprovisioned, Active), "user.lifecycle.reactivate");
        assert_eq!(lifecycle_event(Active, Suspended), "user.lifecycle.suspend");
        assert_eq!(lifecycle_event(Suspended, Active), "user.lifecycle.unsuspend");
        assert_eq!(lifecycle_event(Suspended, Deprovisioned), "user.lifecycle.deactivate");
    }
}
