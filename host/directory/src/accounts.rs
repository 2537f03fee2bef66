//! App accounts: the unit of work. Each row holds what the app should hold
//! (desired, with a generation bumped on every change) and what was last
//! pushed; work is whatever is due and not yet pushed, claimed under a lease
//! so that at most one operation per account is in flight. See
//! docs/design/directory.md.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::{StoreError, conflict_on_unique};
use crate::store::Store;
use crate::tx::Tx;
use crate::work::NEVER;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountState {
    Absent,
    Active,
    Inactive,
    Deleted,
}

impl AccountState {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::Absent => "absent",
            AccountState::Active => "active",
            AccountState::Inactive => "inactive",
            AccountState::Deleted => "deleted",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "absent" => AccountState::Absent,
            "active" => AccountState::Active,
            "inactive" => AccountState::Inactive,
            "deleted" => AccountState::Deleted,
            other => return Err(StoreError::Invalid(format!("unknown account state \"{other}\" in the database"))),
        })
    }
}

/// One app account as the executor sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppAccount {
    pub app_id: String,
    pub user_id: String,
    pub external_id: Option<String>,
    pub desired_state: AccountState,
    pub desired_profile: Map<String, Value>,
    pub desired_generation: i64,
    pub pushed_state: AccountState,
    pub pushed_profile: Map<String, Value>,
    pub pushed_generation: i64,
    /// Set before an operation whose outcome could be lost (a create): on the
    /// next attempt, look the account up before trying again.
    pub intent: Option<String>,
    pub operation_id: Option<String>,
    pub attempt: i64,
    pub next_attempt_at: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    /// The fencing token of the current (or last) claim: outcomes are
    /// accepted only with it.
    pub lease_token: i64,
    /// No attempt starts before this: an earlier call whose outcome is
    /// unknown may still land in the app until then.
    pub settle_until: Option<i64>,
    pub last_error: Option<String>,
    /// The API request the desired state comes from, if any (for tracing).
    pub trace_id: Option<String>,
}

impl AppAccount {
    /// The lease this account was claimed under (what its outcome must name).
    pub fn lease(&self) -> Lease {
        Lease { owner: self.lease_owner.clone().unwrap_or_default(), token: self.lease_token }
    }

    /// Whether pushing this account means creating it in the app.
    pub fn creates(&self) -> bool {
        self.desired_state == AccountState::Active
            && (self.external_id.is_none()
                || !matches!(self.pushed_state, AccountState::Active | AccountState::Inactive))
    }
}

/// What an admin found in the app for a create in doubt.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// The create made this account, holding `profile`.
    Found { external_id: String, profile: Map<String, Value> },
    /// The app holds no account for the user.
    Absent,
}

/// A claim on an account: the worker (one per process run) and the claim's
/// fencing token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub token: i64,
}

/// What a successful push leaves in the app.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub generation: i64,
    pub state: AccountState,
    pub profile: Map<String, Value>,
    pub external_id: Option<String>,
}

macro_rules! account_columns {
    () => {
        "a.app_id, a.user_id, a.external_id, a.desired_state, a.desired_profile, a.desired_generation, \
         a.pushed_state, a.pushed_profile, a.pushed_generation, a.intent, a.operation_id, a.attempt, \
         a.next_attempt_at, a.lease_owner, a.lease_until, a.lease_token, a.settle_until, a.last_error, a.trace_id"
    };
}

pub(crate) const ACCOUNT_COLUMNS: &str = account_columns!();

fn profile_column(r: &AnyRow, name: &str) -> Result<Map<String, Value>, StoreError> {
    let text: String = r.try_get(name)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Invalid(format!("stored {name} is not a JSON object: {e}")))
}

pub(crate) fn from_row(r: &AnyRow) -> Result<AppAccount, StoreError> {
    let desired: String = r.try_get("desired_state")?;
    let pushed: String = r.try_get("pushed_state")?;
    Ok(AppAccount {
        app_id: r.try_get("app_id")?,
        user_id: r.try_get("user_id")?,
        external_id: r.try_get("external_id")?,
        desired_state: AccountState::parse(&desired)?,
        desired_profile: profile_column(r, "desired_profile")?,
        desired_generation: r.try_get("desired_generation")?,
        pushed_state: AccountState::parse(&pushed)?,
        pushed_profile: profile_column(r, "pushed_profile")?,
        pushed_generation: r.try_get("pushed_generation")?,
        intent: r.try_get("intent")?,
        operation_id: r.try_get("operation_id")?,
        attempt: r.try_get("attempt")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        lease_owner: r.try_get("lease_owner")?,
        lease_until: r.try_get("lease_until")?,
        lease_token: r.try_get("lease_token")?,
        settle_until: r.try_get("settle_until")?,
        last_error: r.try_get("last_error")?,
        trace_id: r.try_get("trace_id")?,
    })
}

async fn fetch_account<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    app_id: &str,
    user_id: &str,
) -> Result<Option<AppAccount>, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        account_columns!(),
        " FROM app_accounts a WHERE a.app_id = $1 AND a.user_id = $2"
    ))
    .bind(app_id)
    .bind(user_id)
    .fetch_optional(e)
    .await?;
    row.as_ref().map(from_row).transpose()
}

impl Store {
    pub async fn account(&self, app_id: &str, user_id: &str) -> Result<Option<AppAccount>, StoreError> {
        fetch_account(&self.pool, app_id, user_id).await
    }

    /// Sets what the app should hold for this user (see [`Tx::set_desired`]).
    pub async fn set_desired(
        &self,
        app_id: &str,
        user_id: &str,
        state: AccountState,
        profile: &Map<String, Value>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write().await?;
        let generation = tx.set_desired(app_id, user_id, state, profile).await?;
        tx.commit().await?;
        Ok(generation)
    }

    /// Pauses all work for an app until `until_ms` (a Retry-After).
    pub async fn pause_app(&self, app_id: &str, until_ms: i64) -> Result<(), StoreError> {
        let updated = sqlx::query("UPDATE apps SET paused_until = $1, updated_at = $2 WHERE id = $3")
            .bind(until_ms)
            .bind(self.now_ms())
            .bind(app_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if updated == 0 {
            return Err(StoreError::not_found(format!("app {app_id}")));
        }
        Ok(())
    }

    /// The account of an app linked to this external id, if any.
    pub async fn account_by_external_id(
        &self,
        app_id: &str,
        external_id: &str,
    ) -> Result<Option<AppAccount>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            account_columns!(),
            " FROM app_accounts a WHERE a.app_id = $1 AND a.external_id = $2"
        ))
        .bind(app_id)
        .bind(external_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// An app's accounts in user-id order, after `after` (paging).
    pub async fn app_accounts(
        &self,
        app_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AppAccount>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            account_columns!(),
            " FROM app_accounts a WHERE a.app_id = $1 AND ($2 IS NULL OR a.user_id > $2) ORDER BY a.user_id LIMIT $3"
        ))
        .bind(app_id)
        .bind(after.map(str::to_string))
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Accounts of an app deactivated (and settled) before `before`: the
    /// retention sweeper's candidates for deletion.
    pub async fn deactivated_before(&self, app_id: &str, before: i64, limit: u32) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT user_id FROM app_accounts WHERE app_id = $1 AND pushed_state = 'inactive' \
             AND desired_state = 'inactive' AND desired_generation = pushed_generation \
             AND deactivated_at IS NOT NULL AND deactivated_at < $2 ORDER BY user_id LIMIT $3",
        )
        .bind(app_id)
        .bind(before)
        .bind(i64::from(limit.clamp(1, 10_000)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("user_id")?)).collect()
    }

    /// The work queue per app: how many accounts wait for a push, and how
    /// many of them nothing will move until an admin acts (an error that is
    /// not retried by itself, or an app quarantined or paused by an admin).
    pub async fn work_by_app(&self) -> Result<Vec<AppWork>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.app_id, apps.name, apps.status, apps.quarantine_reason, COUNT(*) AS pending, \
             SUM(CASE WHEN a.next_attempt_at >= $1 THEN 1 ELSE 0 END) AS waiting, \
             CAST(CASE WHEN apps.status = 'quarantined' OR (apps.status = 'paused' AND apps.paused_until IS NULL) \
                  THEN 1 ELSE 0 END AS BIGINT) AS stopped \
             FROM app_accounts a JOIN apps ON apps.id = a.app_id \
             WHERE a.desired_generation > a.pushed_generation \
             GROUP BY a.app_id, apps.name, apps.status, apps.quarantine_reason, apps.paused_until ORDER BY a.app_id",
        )
        .bind(NEVER)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let pending: i64 = r.try_get("pending")?;
                let stopped = r.try_get::<i64, _>("stopped")? != 0;
                Ok(AppWork {
                    app_id: r.try_get("app_id")?,
                    name: r.try_get("name")?,
                    status: AppStatus::from_stored(&r.try_get::<String, _>("status")?),
                    reason: r.try_get("quarantine_reason")?,
                    pending,
                    waiting_for_admin: if stopped { pending } else { r.try_get("waiting")? },
                })
            })
            .collect()
    }

    /// How many accounts still have changes to push (the work queue's length).
    pub async fn pending_accounts(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM app_accounts WHERE desired_generation > pushed_generation")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }
}

use provisio_proto::AppStatus;
/// One app's share of the work queue: read as the API shows it.
pub use provisio_proto::AppWork;

/// A provisioning error an admin can see and retry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProvisioningError {
    pub app_id: String,
    pub user_id: String,
    pub error: String,
    pub attempts: i64,
    /// When it is tried again; `None` when it waits for an admin.
    pub next_attempt_at: Option<i64>,
}

impl Tx {
    /// Marks an inactive account for deletion (its retention ended).
    pub async fn expire_account(&mut self, app_id: &str, user_id: &str) -> Result<bool, StoreError> {
        let profile: Option<String> = sqlx::query(
            "SELECT desired_profile FROM app_accounts WHERE app_id = $1 AND user_id = $2 AND desired_state = 'inactive'",
        )
        .bind(app_id)
        .bind(user_id)
        .fetch_optional(self.conn())
        .await?
        .map(|r| r.try_get("desired_profile"))
        .transpose()?;
        let Some(profile) = profile else { return Ok(false) };
        let profile: Map<String, Value> = serde_json::from_str(&profile).unwrap_or_default();
        self.set_desired(app_id, user_id, AccountState::Deleted, &profile).await?;
        Ok(true)
    }

    pub async fn account(&mut self, app_id: &str, user_id: &str) -> Result<Option<AppAccount>, StoreError> {
        fetch_account(self.conn(), app_id, user_id).await
    }

    /// Sets what the app should hold for this user. A change bumps the
    /// generation (and makes the account due now, whatever backoff the old
    /// desire had); setting what is already desired changes nothing. Returns
    /// the desired generation.
    pub async fn set_desired(
        &mut self,
        app_id: &str,
        user_id: &str,
        state: AccountState,
        profile: &Map<String, Value>,
    ) -> Result<i64, StoreError> {
        let current = self.account(app_id, user_id).await?;
        self.write_desired(current.as_ref(), app_id, user_id, state, profile).await?;
        Ok(match current {
            None => 1,
            Some(a) if a.desired_state == state && &a.desired_profile == profile => a.desired_generation,
            Some(a) => a.desired_generation + 1,
        })
    }

    /// How many of a user's app accounts still have changes to push.
    pub async fn pending_pushes_of(&mut self, user_id: &str) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM app_accounts WHERE user_id = $1 AND desired_generation > pushed_generation",
        )
        .bind(user_id)
        .fetch_one(self.conn())
        .await?;
        Ok(row.try_get("n")?)
    }

    /// How many accounts an app holds or is about to (the guard's base).
    pub async fn account_count(&mut self, app_id: &str) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM app_accounts WHERE app_id = $1 \
             AND (pushed_state IN ('active', 'inactive') OR desired_state = 'active')",
        )
        .bind(app_id)
        .fetch_one(self.conn())
        .await?;
        Ok(row.try_get("n")?)
    }
}

impl Store {
    /// Accounts whose last attempt failed, app by app.
    pub async fn provisioning_errors(&self, app_id: Option<&str>) -> Result<Vec<ProvisioningError>, StoreError> {
        let rows = sqlx::query(
            "SELECT app_id, user_id, last_error, attempt, next_attempt_at FROM app_accounts \
             WHERE last_error IS NOT NULL AND desired_generation > pushed_generation \
               AND ($1 IS NULL OR app_id = $1) ORDER BY app_id, user_id LIMIT 1000",
        )
        .bind(app_id.map(str::to_string))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let next: i64 = r.try_get("next_attempt_at")?;
                Ok(ProvisioningError {
                    app_id: r.try_get("app_id")?,
                    user_id: r.try_get("user_id")?,
                    error: r.try_get::<Option<String>, _>("last_error")?.unwrap_or_default(),
                    attempts: r.try_get("attempt")?,
                    next_attempt_at: (next < NEVER).then_some(next),
                })
            })
            .collect()
    }

    /// Makes failed accounts due now (one account, or every one in an app);
    /// returns how many.
    pub async fn retry_errors(&self, actor: &str, app_id: &str, user_id: Option<&str>) -> Result<u64, StoreError> {
        let mut tx = self.write().await?;
        let now = tx.now;
        let retried = sqlx::query(
            "UPDATE app_accounts SET next_attempt_at = $1, attempt = 0 \
             WHERE app_id = $2 AND ($3 IS NULL OR user_id = $3) AND last_error IS NOT NULL \
               AND desired_generation > pushed_generation",
        )
        .bind(now)
        .bind(app_id)
        .bind(user_id.map(str::to_string))
        .execute(tx.conn())
        .await?
        .rows_affected();
        let details = serde_json::json!({ "user_id": user_id, "accounts": retried });
        tx.log(&crate::log::NewLogEvent::success(actor, "app.errors.retry", "app", app_id, details)).await?;
        tx.commit().await?;
        Ok(retried)
    }

    /// Records what an admin found in the app for a create whose outcome
    /// Provisio could not learn (the connector cannot look accounts up, or
    /// the lookup keeps failing), and makes the account due again: a found
    /// account is linked and brought up to date, an absent one is created.
    /// Refused while the account is leased, while an abandoned call may
    /// still land (its settle time), and when no create is in doubt. Any
    /// attempt still out is fenced off: its outcome will be stale.
    pub async fn resolve_in_doubt(
        &self,
        actor: &str,
        app_id: &str,
        user_id: &str,
        resolution: &Resolution,
    ) -> Result<AppAccount, StoreError> {
        let mut tx = self.write().await?;
        let now = tx.now;
        let current = tx
            .account(app_id, user_id)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("user {user_id}'s account in app {app_id}")))?;
        if current.intent.as_deref() != Some("create") {
            return Err(StoreError::Conflict(format!(
                "no create of user {user_id}'s account in app {app_id} is in doubt: nothing to resolve"
            )));
        }
        if current.lease_until.is_some_and(|until| until > now) {
            return Err(StoreError::Conflict("the account is being worked on; look again in a moment".into()));
        }
        if let Some(until) = current.settle_until.filter(|until| *until > now) {
            return Err(StoreError::Conflict(format!(
                "the last create may still land in the app until {}; look again after that",
                crate::clock::format_time(until)
            )));
        }
        let (external_id, state, profile, details) = match resolution {
            Resolution::Found { external_id, profile } => (
                Some(external_id.clone()),
                "active",
                profile.clone(),
                serde_json::json!({ "app": app_id, "found": external_id }),
            ),
            Resolution::Absent => (None, "absent", Map::new(), serde_json::json!({ "app": app_id, "found": null })),
        };
        sqlx::query(
            "UPDATE app_accounts SET external_id = COALESCE($1, external_id), pushed_state = $2, \
             pushed_profile = CASE WHEN $1 IS NULL THEN pushed_profile ELSE $3 END, \
             intent = NULL, operation_id = NULL, last_error = NULL, attempt = 0, next_attempt_at = $4, \
             settle_until = NULL, lease_owner = NULL, lease_until = NULL, lease_token = lease_token + 1, \
             updated_at = $4 WHERE app_id = $5 AND user_id = $6",
        )
        .bind(external_id.clone())
        .bind(state)
        .bind(Value::Object(profile).to_string())
        .bind(now)
        .bind(app_id)
        .bind(user_id)
        .execute(tx.conn())
        .await
        .map_err(|e| {
            conflict_on_unique(e, || {
                format!(
                    "another user's account in app {app_id} is linked to {}",
                    external_id.clone().unwrap_or_default()
                )
            })
        })?;
        tx.log(&crate::log::NewLogEvent::success(actor, "account.resolve", "user", user_id, details)).await?;
        let resolved = tx.account(app_id, user_id).await?.ok_or_else(|| StoreError::not_found(user_id))?;
        tx.commit().await?;
        Ok(resolved)
    }

    /// Sets an app's status: `active`, or `quarantined` with the reason
    /// shown to admins. Resuming also lifts a Retry-After pause.
    pub async fn set_app_status(
        &self,
        actor: &str,
        app_id: &str,
        status: &str,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        let action = match status {
            "active" => "app.lifecycle.activate",
            "paused" => "app.lifecycle.deactivate",
            "quarantined" => "app.lifecycle.quarantine",
            _ => return Err(StoreError::Invalid(format!("unknown app status \"{status}\""))),
        };
        let mut tx = self.write().await?;
        let now = tx.now;
        // Only a move logs: workers failing at once all reach the threshold,
        // and the app is quarantined (and its hook told) once.
        let updated = sqlx::query(
            "UPDATE apps SET status = $1, quarantine_reason = $2, paused_until = NULL, updated_at = $3 \
             WHERE id = $4 AND (status <> $1 OR paused_until IS NOT NULL)",
        )
        .bind(status)
        .bind(reason.map(str::to_string))
        .bind(now)
        .bind(app_id)
        .execute(tx.conn())
        .await?
        .rows_affected();
        if updated == 0 {
            crate::apps::fetch_app(tx.conn(), app_id).await?;
            return tx.rollback().await;
        }
        let details = serde_json::json!({ "status": status, "reason": reason });
        tx.log(&crate::log::NewLogEvent::success(actor, action, "app", app_id, details)).await?;
        tx.commit().await
    }
}
