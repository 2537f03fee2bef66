//! Groups and their members.

use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::{StoreError, conflict_on_unique};
use crate::log::NewLogEvent;
use crate::store::{Store, new_id};
use crate::tx::Tx;
use crate::users::{USER_COLUMNS, User, from_row as user_row};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created_at: i64,
    pub updated_at: i64,
}

fn from_row(r: &AnyRow) -> Result<Group, StoreError> {
    Ok(Group {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

async fn fetch_group<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(e: E, id: &str) -> Result<Group, StoreError> {
    let row = sqlx::query("SELECT id, name, description, created_at, updated_at FROM user_groups WHERE id = $1")
        .bind(id)
        .fetch_optional(e)
        .await?
        .ok_or_else(|| StoreError::not_found(format!("group {id}")))?;
    from_row(&row)
}

async fn fetch_members<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    group_id: &str,
) -> Result<Vec<String>, StoreError> {
    let rows = sqlx::query("SELECT user_id FROM memberships WHERE group_id = $1 ORDER BY user_id")
        .bind(group_id)
        .fetch_all(e)
        .await?;
    rows.iter().map(|r| Ok(r.try_get("user_id")?)).collect()
}

fn check_name(name: &str) -> Result<(), StoreError> {
    if name.trim().is_empty() || name.len() > 256 {
        return Err(StoreError::Invalid("a group name must be 1-256 characters".into()));
    }
    Ok(())
}

impl Tx {
    pub async fn create_group(&mut self, actor: &str, name: &str, description: &str) -> Result<Group, StoreError> {
        check_name(name)?;
        let now = self.now;
        let id = new_id();
        sqlx::query(
            "INSERT INTO user_groups (id, name, name_key, description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&id)
        .bind(name)
        .bind(name.to_lowercase())
        .bind(description)
        .bind(now)
        .execute(self.conn())
        .await
        .map_err(|e| conflict_on_unique(e, || format!("a group named \"{name}\" already exists")))?;
        self.log(&NewLogEvent::success(actor, "group.create", "group", &id, json!({ "name": name }))).await?;
        self.group(&id).await
    }

    pub async fn group(&mut self, id: &str) -> Result<Group, StoreError> {
        fetch_group(self.conn(), id).await
    }

    pub async fn members(&mut self, group_id: &str) -> Result<Vec<String>, StoreError> {
        fetch_members(self.conn(), group_id).await
    }

    /// Renames a group or changes its description (names are unique, case
    /// aside, as at creation).
    pub async fn update_group(
        &mut self,
        actor: &str,
        id: &str,
        name: &str,
        description: &str,
    ) -> Result<Group, StoreError> {
        check_name(name)?;
        let current = self.group(id).await?;
        if current.name == name && current.description == description {
            return Ok(current);
        }
        let now = self.now.max(current.updated_at + 1);
        sqlx::query("UPDATE user_groups SET name = $1, name_key = $2, description = $3, updated_at = $4 WHERE id = $5")
            .bind(name)
            .bind(name.to_lowercase())
            .bind(description)
            .bind(now)
            .bind(id)
            .execute(self.conn())
            .await
            .map_err(|e| conflict_on_unique(e, || format!("a group named \"{name}\" already exists")))?;
        let details = json!({
            "name": { "old": current.name, "new": name },
            "description": { "old": current.description, "new": description },
        });
        self.log(&NewLogEvent::success(actor, "group.update", "group", id, details)).await?;
        self.group(id).await
    }

    /// Deletes a group with its memberships and app assignments; the caller
    /// reconciles the accounts those gave (see the engine's group deletion).
    pub async fn delete_group(&mut self, actor: &str, id: &str) -> Result<(), StoreError> {
        let group = self.group(id).await?;
        let members = self.members(id).await?.len();
        sqlx::query("DELETE FROM user_groups WHERE id = $1").bind(id).execute(self.conn()).await?;
        let details = json!({ "name": group.name, "members": members });
        self.log(&NewLogEvent::success(actor, "group.delete", "group", id, details)).await
    }

    /// Adds a member; adding one who is already a member changes nothing and
    /// returns false.
    pub async fn add_member(&mut self, actor: &str, group_id: &str, user_id: &str) -> Result<bool, StoreError> {
        self.group(group_id).await?;
        self.user(user_id).await?;
        let now = self.now;
        let added = sqlx::query(
            "INSERT INTO memberships (group_id, user_id, added_at) VALUES ($1, $2, $3) \
             ON CONFLICT (group_id, user_id) DO NOTHING",
        )
        .bind(group_id)
        .bind(user_id)
        .bind(now)
        .execute(self.conn())
        .await?
        .rows_affected()
            == 1;
        if added {
            let event =
                NewLogEvent::success(actor, "group.member.add", "group", group_id, json!({ "user_id": user_id }));
            self.log(&event).await?;
        }
        Ok(added)
    }

    /// Removes a member; returns false when they were not one.
    pub async fn remove_member(&mut self, actor: &str, group_id: &str, user_id: &str) -> Result<bool, StoreError> {
        let removed = sqlx::query("DELETE FROM memberships WHERE group_id = $1 AND user_id = $2")
            .bind(group_id)
            .bind(user_id)
            .execute(self.conn())
            .await?
            .rows_affected()
            == 1;
        if removed {
            let event =
                NewLogEvent::success(actor, "group.member.remove", "group", group_id, json!({ "user_id": user_id }));
            self.log(&event).await?;
        }
        Ok(removed)
    }
}

impl Store {
    pub async fn create_group(&self, actor: &str, name: &str, description: &str) -> Result<Group, StoreError> {
        let mut tx = self.write().await?;
        let group = tx.create_group(actor, name, description).await?;
        tx.commit().await?;
        Ok(group)
    }

    pub async fn group(&self, id: &str) -> Result<Group, StoreError> {
        fetch_group(&self.pool, id).await
    }

    pub async fn list_groups(&self, after: Option<&str>, limit: u32) -> Result<Vec<Group>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, description, created_at, updated_at FROM user_groups \
             WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2",
        )
        .bind(after.map(str::to_string))
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn add_member(&self, actor: &str, group_id: &str, user_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let added = tx.add_member(actor, group_id, user_id).await?;
        tx.commit().await?;
        Ok(added)
    }

    pub async fn remove_member(&self, actor: &str, group_id: &str, user_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let removed = tx.remove_member(actor, group_id, user_id).await?;
        tx.commit().await?;
        Ok(removed)
    }

    /// Member user ids, in id order.
    pub async fn members(&self, group_id: &str) -> Result<Vec<String>, StoreError> {
        fetch_members(&self.pool, group_id).await
    }

    /// A page of a group's members, in id order, from after `after`: one
    /// query however large the group (the membership key is ordered by user).
    pub async fn member_page(&self, group_id: &str, after: Option<&str>, limit: u32) -> Result<Vec<User>, StoreError> {
        // The membership table shares no column name with users, so the
        // user columns need no prefix.
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.group_id = $1 AND ($2 IS NULL OR m.user_id > $2) ORDER BY m.user_id LIMIT $3"
        )))
        .bind(group_id)
        .bind(after.map(str::to_string))
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_row).collect()
    }

    /// The groups a user is in, by name.
    pub async fn user_groups(&self, user_id: &str) -> Result<Vec<Group>, StoreError> {
        let rows = sqlx::query(
            "SELECT g.id, g.name, g.description, g.created_at, g.updated_at FROM user_groups g \
             JOIN memberships m ON m.group_id = g.id WHERE m.user_id = $1 ORDER BY g.name_key, g.id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// The ids of the groups a user is in.
    pub async fn groups_of(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT group_id FROM memberships WHERE user_id = $1 ORDER BY group_id")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("group_id")?)).collect()
    }
}
