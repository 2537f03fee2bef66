//! Levels an operator watches, read from the directory (so every node
//! reports the same): work queued, apps paused or quarantined, errors
//! waiting for an admin, open manual tasks, hook deliveries pending. And the
//! request id that follows an API call's changes to the connector calls
//! they cause.

use sqlx::Row;

use crate::error::StoreError;
use crate::store::Store;
use crate::work::NEVER;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Runs `f` with `id` as the current request: the app-account changes it
/// writes carry the id, and so do the executor's pushes of them.
pub async fn with_request_id<F: std::future::Future>(id: String, f: F) -> F::Output {
    REQUEST_ID.scope(id, f).await
}

pub(crate) fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Levels {
    pub pending_accounts: i64,
    pub errors: i64,
    pub quarantined_apps: i64,
    pub paused_apps: i64,
    pub open_tasks: i64,
    pub pending_deliveries: i64,
}

impl Store {
    pub async fn levels(&self) -> Result<Levels, StoreError> {
        let row = sqlx::query(
            "SELECT \
               (SELECT COUNT(*) FROM app_accounts WHERE desired_generation > pushed_generation) AS pending, \
               (SELECT COUNT(*) FROM app_accounts WHERE desired_generation > pushed_generation AND next_attempt_at >= $1) AS errors, \
               (SELECT COUNT(*) FROM apps WHERE status = 'quarantined') AS quarantined, \
               (SELECT COUNT(*) FROM apps WHERE status = 'paused') AS paused, \
               (SELECT COUNT(*) FROM manual_tasks WHERE status = 'open') AS tasks, \
               (SELECT COUNT(*) FROM hook_deliveries WHERE status = 'pending') AS deliveries",
        )
        .bind(NEVER)
        .fetch_one(&self.pool)
        .await?;
        Ok(Levels {
            pending_accounts: row.try_get("pending")?,
            errors: row.try_get("errors")?,
            quarantined_apps: row.try_get("quarantined")?,
            paused_apps: row.try_get("paused")?,
            open_tasks: row.try_get("tasks")?,
            pending_deliveries: row.try_get("deliveries")?,
        })
    }
}
