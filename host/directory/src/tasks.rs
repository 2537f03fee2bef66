//! Manual deprovisioning tasks: what a human must do in an app whose
//! connector cannot (who, which app, what, since when), until an admin
//! marks it done. A task is opened once per account change, however often
//! the attempt that opens it is retried.

use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::StoreError;
use crate::log::NewLogEvent;
use crate::store::{Store, new_id};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ManualTask {
    pub id: String,
    pub app_id: String,
    pub user_id: String,
    pub login: String,
    /// `deactivate`, `delete` or `reactivate`.
    pub action: String,
    /// `open`, `done` or `cancelled` (no longer needed).
    pub status: String,
    pub created_at: i64,
    pub closed_at: Option<i64>,
    pub closed_by: Option<String>,
}

fn from_row(r: &AnyRow) -> Result<ManualTask, StoreError> {
    Ok(ManualTask {
        id: r.try_get("id")?,
        app_id: r.try_get("app_id")?,
        user_id: r.try_get("user_id")?,
        login: r.try_get("login")?,
        action: r.try_get("action")?,
        status: r.try_get("status")?,
        created_at: r.try_get("created_at")?,
        closed_at: r.try_get("closed_at")?,
        closed_by: r.try_get("closed_by")?,
    })
}

impl Store {
    /// Opens a task for `action` on a user's account, unless this change
    /// (`generation`) already has one. Returns whether one was opened.
    pub async fn open_manual_task(
        &self,
        app_id: &str,
        user_id: &str,
        login: &str,
        action: &str,
        generation: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let id = new_id();
        let opened = sqlx::query(
            "INSERT INTO manual_tasks (id, app_id, user_id, login, action, generation, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'open', $7) ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(app_id)
        .bind(user_id)
        .bind(login)
        .bind(action)
        .bind(generation)
        .bind(tx.now_ms())
        .execute(tx.conn())
        .await?
        .rows_affected()
            == 1;
        if opened {
            let details = json!({ "app": app_id, "user": user_id, "login": login, "action": action });
            tx.log(&NewLogEvent::success("provisioner", "task.create", "task", &id, details)).await?;
        }
        tx.commit().await?;
        Ok(opened)
    }

    /// Cancels a user's open tasks in an app (the change they were for was
    /// undone before anyone acted). Returns how many were open.
    pub async fn cancel_manual_tasks(&self, app_id: &str, user_id: &str) -> Result<u64, StoreError> {
        let mut tx = self.write().await?;
        let cancelled = sqlx::query(
            "UPDATE manual_tasks SET status = 'cancelled', closed_at = $1, closed_by = 'provisioner' \
             WHERE app_id = $2 AND user_id = $3 AND status = 'open'",
        )
        .bind(tx.now_ms())
        .bind(app_id)
        .bind(user_id)
        .execute(tx.conn())
        .await?
        .rows_affected();
        if cancelled > 0 {
            let details = json!({ "app": app_id, "user": user_id, "cancelled": cancelled });
            tx.log(&NewLogEvent::success("provisioner", "task.cancel", "user", user_id, details)).await?;
        }
        tx.commit().await?;
        Ok(cancelled)
    }

    /// Marks an open task done.
    pub async fn complete_manual_task(&self, actor: &str, id: &str) -> Result<ManualTask, StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE manual_tasks SET status = 'done', closed_at = $1, closed_by = $2 WHERE id = $3 AND status = 'open'",
        )
        .bind(tx.now_ms())
        .bind(actor)
        .bind(id)
        .execute(tx.conn())
        .await?
        .rows_affected();
        if done == 0 {
            let task = self.manual_task(id).await?;
            return Err(StoreError::Conflict(format!("task {id} is already {}", task.status)));
        }
        tx.log(&NewLogEvent::success(actor, "task.complete", "task", id, json!({}))).await?;
        tx.commit().await?;
        self.manual_task(id).await
    }

    pub async fn manual_task(&self, id: &str) -> Result<ManualTask, StoreError> {
        let row = sqlx::query("SELECT * FROM manual_tasks WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("task {id}")))?;
        from_row(&row)
    }

    /// Tasks by status (all when `None`) and app, oldest first.
    pub async fn manual_tasks(
        &self,
        status: Option<&str>,
        app_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ManualTask>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM manual_tasks WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR app_id = $2) \
             ORDER BY created_at, id LIMIT $3",
        )
        .bind(status)
        .bind(app_id)
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }
}
