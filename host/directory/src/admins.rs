//! Admins, their roles, the groups a group admin is given, and API tokens.
//!
//! A token is 32 random bytes, shown once when made and kept only as its
//! SHA-256: a stolen database holds no usable token. (A slow password hash
//! buys nothing for 256 random bits and would cost every request.)

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::{StoreError, conflict_on_unique};
use crate::log::NewLogEvent;
use crate::store::{Store, new_id};
use crate::tx::Tx;

/// What an admin may do; the API maps each role to its permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Everything.
    SuperAdmin,
    /// Connectors, apps, assignments, mappings.
    AppAdmin,
    /// Only the users and groups given to them.
    GroupAdmin,
    /// Reads everything an auditor needs; changes nothing.
    ReadOnly,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::SuperAdmin, Role::AppAdmin, Role::GroupAdmin, Role::ReadOnly];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::SuperAdmin => "super-admin",
            Role::AppAdmin => "app-admin",
            Role::GroupAdmin => "group-admin",
            Role::ReadOnly => "read-only",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Role, StoreError> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            StoreError::Invalid(format!("unknown role \"{s}\"; use super-admin, app-admin, group-admin or read-only"))
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Admin {
    pub id: String,
    pub login: String,
    pub role: Role,
    /// `active` or `deactivated` (a deactivated admin's tokens stop working).
    pub status: String,
    /// The groups a group admin manages; empty for other roles.
    pub groups: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiToken {
    pub id: String,
    pub admin_id: String,
    pub name: String,
    /// The token's first characters, to tell tokens apart; never enough to use.
    pub prefix: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A token whose value exists only in this answer.
#[derive(Debug)]
pub struct IssuedToken {
    pub token: ApiToken,
    pub secret: zeroize::Zeroizing<String>,
}

/// The admin a presented token belongs to, if it is valid now.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub admin: Admin,
    pub token_id: String,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

const TOKEN_PREFIX: &str = "pvs_";

pub fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn admin_from_row(r: &AnyRow) -> Result<Admin, StoreError> {
    let role: String = r.try_get("role")?;
    Ok(Admin {
        id: r.try_get("id")?,
        login: r.try_get("login")?,
        role: role.parse()?,
        status: r.try_get("status")?,
        groups: Vec::new(),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn token_from_row(r: &AnyRow) -> Result<ApiToken, StoreError> {
    Ok(ApiToken {
        id: r.try_get("id")?,
        admin_id: r.try_get("admin_id")?,
        name: r.try_get("name")?,
        prefix: r.try_get("prefix")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        last_used_at: r.try_get("last_used_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

async fn fetch_admin<'c, E>(e: E, id: &str) -> Result<Option<Admin>, StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let row = sqlx::query("SELECT id, login, role, status, created_at, updated_at FROM admins WHERE id = $1")
        .bind(id)
        .fetch_optional(e)
        .await?;
    row.as_ref().map(admin_from_row).transpose()
}

async fn fetch_admin_groups<'c, E>(e: E, admin_id: &str) -> Result<Vec<String>, StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let rows = sqlx::query("SELECT group_id FROM admin_groups WHERE admin_id = $1 ORDER BY group_id")
        .bind(admin_id)
        .fetch_all(e)
        .await?;
    rows.iter().map(|r| Ok(r.try_get("group_id")?)).collect()
}

impl Tx {
    /// A new admin. Groups are given only to group admins.
    pub async fn create_admin(
        &mut self,
        actor: &str,
        login: &str,
        role: Role,
        groups: &[String],
    ) -> Result<Admin, StoreError> {
        let login = &crate::logins::normal_login(login)?;
        let id = new_id();
        let now = self.now;
        sqlx::query(
            "INSERT INTO admins (id, login, login_key, role, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'active', $5, $5)",
        )
        .bind(&id)
        .bind(login)
        .bind(crate::logins::login_key(login))
        .bind(role.as_str())
        .bind(now)
        .execute(self.conn())
        .await
        .map_err(|e| conflict_on_unique(e, || format!("an admin with login \"{login}\" already exists")))?;
        self.put_admin_groups(&id, role, groups).await?;
        let details = json!({ "login": login, "role": role, "groups": groups });
        self.log(&NewLogEvent::success(actor, "admin.create", "admin", &id, details)).await?;
        self.admin(&id).await
    }

    /// Changes an admin's role and (for a group admin) their groups.
    pub async fn update_admin(
        &mut self,
        actor: &str,
        id: &str,
        role: Role,
        groups: &[String],
    ) -> Result<Admin, StoreError> {
        let before = self.admin(id).await?;
        if before.status != "active" {
            return Err(StoreError::Conflict(format!("admin {id} is deactivated")));
        }
        sqlx::query("UPDATE admins SET role = $1, updated_at = $2 WHERE id = $3")
            .bind(role.as_str())
            .bind(self.now)
            .bind(id)
            .execute(self.conn())
            .await?;
        self.put_admin_groups(id, role, groups).await?;
        let details = json!({ "role": { "from": before.role, "to": role }, "groups": groups });
        self.log(&NewLogEvent::success(actor, "admin.update", "admin", id, details)).await?;
        self.admin(id).await
    }

    /// Deactivates an admin and revokes every token they hold. The admin is
    /// kept: the system log still names them.
    pub async fn deactivate_admin(&mut self, actor: &str, id: &str) -> Result<Admin, StoreError> {
        self.admin(id).await?;
        let now = self.now;
        sqlx::query("UPDATE admins SET status = 'deactivated', updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(self.conn())
            .await?;
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE admin_id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(self.conn())
            .await?;
        self.log(&NewLogEvent::success(actor, "admin.deactivate", "admin", id, json!({}))).await?;
        self.admin(id).await
    }

    /// Deletes an admin; their tokens and group scopes go with them (ON
    /// DELETE CASCADE), so no token of theirs authenticates again. The
    /// system log keeps naming them: its actor is a login, not a reference.
    pub async fn delete_admin(&mut self, actor: &str, id: &str) -> Result<(), StoreError> {
        let admin = self.admin(id).await?;
        sqlx::query("DELETE FROM admins WHERE id = $1").bind(id).execute(self.conn()).await?;
        let details = json!({ "login": admin.login, "role": admin.role });
        self.log(&NewLogEvent::success(actor, "admin.delete", "admin", id, details)).await
    }

    async fn put_admin_groups(&mut self, admin_id: &str, role: Role, groups: &[String]) -> Result<(), StoreError> {
        if role != Role::GroupAdmin && !groups.is_empty() {
            return Err(StoreError::Invalid(format!("only a group admin is given groups, not a {role}")));
        }
        sqlx::query("DELETE FROM admin_groups WHERE admin_id = $1").bind(admin_id).execute(self.conn()).await?;
        for group_id in groups {
            let exists = sqlx::query("SELECT 1 FROM user_groups WHERE id = $1")
                .bind(group_id)
                .fetch_optional(self.conn())
                .await?;
            if exists.is_none() {
                return Err(StoreError::Invalid(format!("no group {group_id} to give")));
            }
            sqlx::query("INSERT INTO admin_groups (admin_id, group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(admin_id)
                .bind(group_id)
                .execute(self.conn())
                .await?;
        }
        Ok(())
    }

    pub async fn admin(&mut self, id: &str) -> Result<Admin, StoreError> {
        let mut admin =
            fetch_admin(self.conn(), id).await?.ok_or_else(|| StoreError::not_found(format!("admin {id}")))?;
        admin.groups = fetch_admin_groups(self.conn(), id).await?;
        Ok(admin)
    }

    /// A new token for an active admin; `expires_at` in ms, if it should end.
    pub async fn create_token(
        &mut self,
        actor: &str,
        admin_id: &str,
        name: &str,
        expires_at: Option<i64>,
    ) -> Result<IssuedToken, StoreError> {
        if name.trim().is_empty() || name.len() > 256 {
            return Err(StoreError::Invalid("a token's name must be 1-256 characters".into()));
        }
        if expires_at.is_some_and(|t| t <= self.now) {
            return Err(StoreError::Invalid("a token's expiry must be in the future".into()));
        }
        let admin = self.admin(admin_id).await?;
        if admin.status != "active" {
            return Err(StoreError::Conflict(format!("admin {admin_id} is deactivated; it cannot hold tokens")));
        }
        let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(bytes.as_mut());
        let secret = zeroize::Zeroizing::new(format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref())
        ));
        let id = new_id();
        let prefix: String = secret.chars().take(TOKEN_PREFIX.len() + 6).collect();
        sqlx::query(
            "INSERT INTO api_tokens (id, admin_id, name, token_hash, prefix, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(admin_id)
        .bind(name)
        .bind(token_hash(&secret))
        .bind(&prefix)
        .bind(self.now)
        .bind(expires_at)
        .execute(self.conn())
        .await?;
        let details = json!({ "admin": admin_id, "name": name, "prefix": prefix });
        self.log(&NewLogEvent::success(actor, "token.create", "token", &id, details)).await?;
        let token = ApiToken {
            id,
            admin_id: admin_id.into(),
            name: name.into(),
            prefix,
            created_at: self.now,
            expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        Ok(IssuedToken { token, secret })
    }

    /// Revokes one of `admin_id`'s tokens; revoking twice is a no-op.
    pub async fn revoke_token(&mut self, actor: &str, admin_id: &str, token_id: &str) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 AND admin_id = $3")
                .bind(self.now)
                .bind(token_id)
                .bind(admin_id)
                .execute(self.conn())
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("token {token_id} of admin {admin_id}")));
        }
        let details = json!({ "admin": admin_id });
        self.log(&NewLogEvent::success(actor, "token.revoke", "token", token_id, details)).await
    }
}

impl Store {
    pub async fn create_admin(
        &self,
        actor: &str,
        login: &str,
        role: Role,
        groups: &[String],
    ) -> Result<Admin, StoreError> {
        let mut tx = self.write().await?;
        let admin = tx.create_admin(actor, login, role, groups).await?;
        tx.commit().await?;
        Ok(admin)
    }

    pub async fn admin(&self, id: &str) -> Result<Admin, StoreError> {
        let mut admin =
            fetch_admin(&self.pool, id).await?.ok_or_else(|| StoreError::not_found(format!("admin {id}")))?;
        admin.groups = fetch_admin_groups(&self.pool, id).await?;
        Ok(admin)
    }

    pub async fn list_admins(&self) -> Result<Vec<Admin>, StoreError> {
        let rows = sqlx::query("SELECT id, login, role, status, created_at, updated_at FROM admins ORDER BY login_key")
            .fetch_all(&self.pool)
            .await?;
        let mut admins: Vec<Admin> = rows.iter().map(admin_from_row).collect::<Result<_, _>>()?;
        for admin in &mut admins {
            admin.groups = fetch_admin_groups(&self.pool, &admin.id).await?;
        }
        Ok(admins)
    }

    pub async fn tokens_of(&self, admin_id: &str) -> Result<Vec<ApiToken>, StoreError> {
        let rows = sqlx::query("SELECT id, admin_id, name, prefix, created_at, expires_at, last_used_at, revoked_at FROM api_tokens WHERE admin_id = $1 ORDER BY id")
            .bind(admin_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(token_from_row).collect()
    }

    /// The active admin a presented token belongs to, if the token is
    /// neither revoked nor expired. The lookup is by hash, so its timing
    /// says nothing about how close a guess came.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<Authenticated>, StoreError> {
        if !secret.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        // One query for the token and its admin; a second only for a group
        // admin's groups.
        let row = sqlx::query(
            "SELECT t.id AS token_id, t.expires_at, t.revoked_at, t.last_used_at, \
                    a.id, a.login, a.role, a.status, a.created_at, a.updated_at \
             FROM api_tokens t JOIN admins a ON a.id = t.admin_id WHERE t.token_hash = $1",
        )
        .bind(token_hash(secret))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let expires_at: Option<i64> = row.try_get("expires_at")?;
        let revoked_at: Option<i64> = row.try_get("revoked_at")?;
        let mut admin = admin_from_row(&row)?;
        if revoked_at.is_some() || expires_at.is_some_and(|t| t <= self.now_ms()) || admin.status != "active" {
            return Ok(None);
        }
        if admin.role == Role::GroupAdmin {
            admin.groups = fetch_admin_groups(&self.pool, &admin.id).await?;
        }
        Ok(Some(Authenticated {
            admin,
            token_id: row.try_get("token_id")?,
            expires_at,
            last_used_at: row.try_get("last_used_at")?,
        }))
    }

    /// Records that a token was used (callers do this at most once a minute
    /// per token, so reads do not become writes).
    pub async fn touch_token(&self, token_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(self.now_ms())
            .bind(token_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether `user_id` belongs to one of the groups `admin_id` manages.
    pub async fn admin_manages_user(&self, admin_id: &str, user_id: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT 1 FROM memberships m JOIN admin_groups g ON g.group_id = m.group_id \
             WHERE g.admin_id = $1 AND m.user_id = $2 LIMIT 1",
        )
        .bind(admin_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }
}
