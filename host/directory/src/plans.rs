//! Plans: a change that fans out, with the operations per app it would
//! cause, held for an admin when it crosses the mass-change guard.

use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::StoreError;
use crate::log::NewLogEvent;
use crate::store::{Store, new_id};
use crate::tx::Tx;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub id: String,
    pub kind: String,
    /// held, approved, rejected, applied.
    pub status: String,
    pub summary: Value,
    pub operations: Value,
    /// The directory change the plan would make (the engine's own format).
    pub change: Value,
    pub created_by: String,
    pub created_at: i64,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewPlan {
    pub kind: String,
    pub summary: Value,
    pub operations: Value,
    pub change: Value,
}

macro_rules! plan_columns {
    () => {
        "id, kind, status, summary, operations, change, created_by, created_at, decided_by, decided_at"
    };
}

fn json_text(r: &AnyRow, name: &str) -> Result<Value, StoreError> {
    let text: String = r.try_get(name)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Invalid(format!("stored plan {name} is not JSON: {e}")))
}

fn from_row(r: &AnyRow) -> Result<Plan, StoreError> {
    Ok(Plan {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        status: r.try_get("status")?,
        summary: json_text(r, "summary")?,
        operations: json_text(r, "operations")?,
        change: json_text(r, "change")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        decided_by: r.try_get("decided_by")?,
        decided_at: r.try_get("decided_at")?,
    })
}

async fn fetch_plan<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(e: E, id: &str) -> Result<Plan, StoreError> {
    let row = sqlx::query(concat!("SELECT ", plan_columns!(), " FROM plans WHERE id = $1"))
        .bind(id)
        .fetch_optional(e)
        .await?
        .ok_or_else(|| StoreError::not_found(format!("plan {id}")))?;
    from_row(&row)
}

impl Tx {
    /// Stores a plan held for an admin's decision.
    pub async fn hold_plan(&mut self, actor: &str, new: &NewPlan) -> Result<Plan, StoreError> {
        let id = new_id();
        let now = self.now;
        sqlx::query(
            "INSERT INTO plans (id, kind, status, summary, operations, change, created_by, created_at) \
             VALUES ($1, $2, 'held', $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(&new.kind)
        .bind(new.summary.to_string())
        .bind(new.operations.to_string())
        .bind(new.change.to_string())
        .bind(actor)
        .bind(now)
        .execute(self.conn())
        .await?;
        self.log(&NewLogEvent::success(
            actor,
            "plan.hold",
            "plan",
            &id,
            json!({ "kind": new.kind, "summary": new.summary }),
        ))
        .await?;
        fetch_plan(self.conn(), &id).await
    }

    pub async fn plan(&mut self, id: &str) -> Result<Plan, StoreError> {
        fetch_plan(self.conn(), id).await
    }

    /// Moves a held plan to `status` (applied or rejected); a plan already
    /// decided is a conflict, so two admins cannot both decide it.
    pub async fn decide_plan(&mut self, actor: &str, id: &str, status: &str) -> Result<(), StoreError> {
        let now = self.now;
        let updated = sqlx::query(
            "UPDATE plans SET status = $1, decided_by = $2, decided_at = $3 WHERE id = $4 AND status = 'held'",
        )
        .bind(status)
        .bind(actor)
        .bind(now)
        .bind(id)
        .execute(self.conn())
        .await?
        .rows_affected();
        if updated == 0 {
            let plan = self.plan(id).await?;
            return Err(StoreError::Conflict(format!("plan {id} was already {}", plan.status)));
        }
        let action = if status == "applied" { "plan.apply" } else { "plan.reject" };
        let plan = self.plan(id).await?;
        self.log(&NewLogEvent::success(
            actor,
            action,
            "plan",
            id,
            json!({ "kind": plan.kind, "summary": plan.summary }),
        ))
        .await
    }
}

impl Store {
    pub async fn plan(&self, id: &str) -> Result<Plan, StoreError> {
        fetch_plan(&self.pool, id).await
    }

    /// Plans, newest first, optionally only those with `status`.
    pub async fn list_plans(&self, status: Option<&str>, limit: u32) -> Result<Vec<Plan>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            plan_columns!(),
            " FROM plans WHERE ($1 IS NULL OR status = $1) ORDER BY created_at DESC, id DESC LIMIT $2"
        ))
        .bind(status.map(str::to_string))
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }
}
