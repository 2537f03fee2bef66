//! App accounts: the unit of work. Each row holds what the app should hold
//! (desired, with a generation bumped on every change) and what was last
//! pushed; work is whatever is due and not yet pushed, claimed under a lease
//! so that at most one operation per account is in flight. See
//! docs/design/directory.md.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::StoreError;
use crate::store::{Backend, Store};
use crate::tx::Tx;

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
    pub last_error: Option<String>,
    /// The API request the desired state comes from, if any (for tracing).
    pub trace_id: Option<String>,
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
         a.next_attempt_at, a.lease_owner, a.lease_until, a.last_error, a.trace_id"
    };
}

pub(crate) const ACCOUNT_COLUMNS: &str = account_columns!();

/// An account whose claim means a create (the SQL twin of the check in
/// `claim_due`).
const CREATES: &str =
    "desired_state = 'active' AND (external_id IS NULL OR pushed_state NOT IN ('active', 'inactive'))";

/// What a failed attempt sets ($1 counts, $2 error, $3 retry at, $4
/// settled, $5 now).
macro_rules! fail_columns {
    () => {
        "attempt = attempt + $1, last_error = $2, next_attempt_at = $3, \
         intent = CASE WHEN $4 = 1 THEN NULL ELSE intent END, \
         operation_id = CASE WHEN $4 = 1 THEN NULL ELSE operation_id END, \
         lease_owner = NULL, lease_until = NULL, updated_at = $5"
    };
}

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
        last_error: r.try_get("last_error")?,
        trace_id: r.try_get("trace_id")?,
    })
}

fn lease_lost(app_id: &str, user_id: &str, owner: &str) -> StoreError {
    StoreError::Conflict(format!(
        "worker {owner} no longer holds the lease on the account of user {user_id} in app {app_id}"
    ))
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

    /// Leases up to `limit` due accounts to `owner` for `lease_ms` (and
    /// records the intent of those about to be created): accounts
    /// with unpushed changes, due, not leased by a live worker, whose app is
    /// active and not paused. Several workers (several nodes on PostgreSQL)
    /// never get the same account.
    pub async fn claim_due(&self, owner: &str, lease_ms: i64, limit: u32) -> Result<Vec<AppAccount>, StoreError> {
        let now = self.now_ms();
        let mut tx = self.write().await?;
        let select = match self.backend() {
            // SQLite has one writer (BEGIN IMMEDIATE): no row locks needed.
            Backend::Sqlite => concat!(
                "SELECT ",
                account_columns!(),
                " FROM app_accounts a JOIN apps p ON p.id = a.app_id \
                 WHERE a.desired_generation > a.pushed_generation AND a.next_attempt_at <= $1 \
                   AND (a.lease_until IS NULL OR a.lease_until <= $1) \
                   AND p.status = 'active' AND (p.paused_until IS NULL OR p.paused_until <= $1) \
                 ORDER BY a.next_attempt_at, a.app_id, a.user_id LIMIT $2"
            ),
            Backend::Postgres => concat!(
                "SELECT ",
                account_columns!(),
                " FROM app_accounts a JOIN apps p ON p.id = a.app_id \
                 WHERE a.desired_generation > a.pushed_generation AND a.next_attempt_at <= $1 \
                   AND (a.lease_until IS NULL OR a.lease_until <= $1) \
                   AND p.status = 'active' AND (p.paused_until IS NULL OR p.paused_until <= $1) \
                 ORDER BY a.next_attempt_at, a.app_id, a.user_id LIMIT $2 \
                 FOR UPDATE OF a SKIP LOCKED"
            ),
        };
        let rows = sqlx::query(select).bind(now).bind(i64::from(limit.max(1))).fetch_all(tx.conn()).await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut account = from_row(row)?;
            // A create's intent is committed with the claim, before any call
            // is made; `account.intent` keeps what an earlier attempt left,
            // which tells the worker to look the account up first. The
            // operation id (the idempotency key) is stable across retries of
            // one create: it changes only when a push completes.
            let creates = account.desired_state == AccountState::Active
                && (account.external_id.is_none()
                    || !matches!(account.pushed_state, AccountState::Active | AccountState::Inactive));
            if creates && account.operation_id.is_none() {
                account.operation_id =
                    Some(format!("{}:{}:{}", account.app_id, account.user_id, account.pushed_generation));
            }
            account.lease_owner = Some(owner.to_string());
            account.lease_until = Some(now + lease_ms);
            claimed.push(account);
        }
        if !claimed.is_empty() {
            // One statement for the batch; only generated placeholders are
            // formatted into the SQL.
            let keys: Vec<String> = (0..claimed.len()).map(|i| format!("(${}, ${})", 3 + 2 * i, 4 + 2 * i)).collect();
            let sql = format!(
                "UPDATE app_accounts SET lease_owner = $1, lease_until = $2, \
                 intent = CASE WHEN {CREATES} THEN 'create' ELSE intent END, \
                 operation_id = CASE WHEN {CREATES} AND operation_id IS NULL \
                   THEN app_id || ':' || user_id || ':' || CAST(pushed_generation AS TEXT) ELSE operation_id END \
                 WHERE (app_id, user_id) IN ({})",
                keys.join(", ")
            );
            let mut update = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(owner.to_string()).bind(now + lease_ms);
            for a in &claimed {
                update = update.bind(a.app_id.clone()).bind(a.user_id.clone());
            }
            update.execute(tx.conn()).await?;
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records, before calling the app, an operation whose outcome could be
    /// lost; committed before the call is made.
    pub async fn record_intent(
        &self,
        app_id: &str,
        user_id: &str,
        owner: &str,
        intent: &str,
        operation_id: &str,
    ) -> Result<(), StoreError> {
        let now = self.now_ms();
        let update = sqlx::query(
            "UPDATE app_accounts SET intent = $1, operation_id = $2, updated_at = $3 \
             WHERE app_id = $4 AND user_id = $5 AND lease_owner = $6 AND lease_until > $3",
        )
        .bind(intent)
        .bind(operation_id)
        .bind(now);
        self.leased_update(update, app_id, user_id, owner).await
    }

    /// Records many outcomes in one transaction (the batching writer: one
    /// commit for many pushes). Returns, per outcome in order, whether the
    /// worker still held the lease (false: another took it; nothing written).
    pub async fn record_outcomes(&self, owner: &str, outcomes: &[PushOutcome]) -> Result<Vec<bool>, StoreError> {
        let mut tx = self.write().await?;
        let now = tx.now;
        let mut held = vec![false; outcomes.len()];
        let mut pushed_rows = Vec::new();
        for (i, outcome) in outcomes.iter().enumerate() {
            match outcome {
                PushOutcome::Pushed { app_id, user_id, pushed } => pushed_rows.push((i, app_id, user_id, pushed)),
                PushOutcome::Failed { app_id, user_id, failure } => {
                    let update = sqlx::query(concat!(
                        "UPDATE app_accounts SET ",
                        fail_columns!(),
                        " WHERE app_id = $6 AND user_id = $7 AND lease_owner = $8"
                    ))
                    .bind(i64::from(failure.counts))
                    .bind(failure.error.clone())
                    .bind(failure.retry_at.unwrap_or(NEVER))
                    .bind(i64::from(failure.settled))
                    .bind(now)
                    .bind(app_id.clone())
                    .bind(user_id.clone())
                    .bind(owner.to_string());
                    held[i] = update.execute(tx.conn()).await?.rows_affected() == 1;
                    if held[i] && failure.retry_at.is_none() {
                        // No more retries: an admin must look (and hooks hear of it).
                        let details = serde_json::json!({ "app": app_id, "error": failure.error });
                        let event =
                            crate::log::NewLogEvent::failure("provisioner", "account.error", "user", user_id, details);
                        tx.log(&event).await?;
                    }
                }
            }
        }
        // Successes, the bulk of the work, go in one UPDATE … FROM per 100.
        for chunk in pushed_rows.chunks(100) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p = 3 + i * 6;
                    format!(
                        "SELECT ${p} AS app_id, ${} AS user_id, ${} AS state, ${} AS profile, \
                         CAST(${} AS BIGINT) AS generation, ${} AS external_id",
                        p + 1,
                        p + 2,
                        p + 3,
                        p + 4,
                        p + 5
                    )
                })
                .collect();
            // Only generated placeholders are formatted into the SQL.
            let sql = format!(
                "UPDATE app_accounts AS a SET pushed_state = v.state, pushed_profile = v.profile, \
                 pushed_generation = v.generation, external_id = COALESCE(v.external_id, a.external_id), \
                 intent = NULL, operation_id = NULL, attempt = 0, last_error = NULL, lease_owner = NULL, \
                 lease_until = NULL, updated_at = $2, \
                 deactivated_at = CASE WHEN v.state = 'inactive' THEN COALESCE(a.deactivated_at, $2) ELSE NULL END \
                 FROM ({}) AS v WHERE a.app_id = v.app_id AND a.user_id = v.user_id AND a.lease_owner = $1 \
                 RETURNING {}",
                rows.join(" UNION ALL "),
                // SQLite's RETURNING names the target's columns bare;
                // PostgreSQL needs them qualified (v has the same names).
                match tx.backend() {
                    Backend::Sqlite => "app_id, user_id",
                    Backend::Postgres => "a.app_id, a.user_id",
                }
            );
            let mut update = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(owner.to_string()).bind(now);
            for (_, app_id, user_id, pushed) in chunk {
                update = update
                    .bind((*app_id).clone())
                    .bind((*user_id).clone())
                    .bind(pushed.state.as_str())
                    .bind(Value::Object(pushed.profile.clone()).to_string())
                    .bind(pushed.generation)
                    .bind(pushed.external_id.clone());
            }
            let updated: std::collections::HashSet<(String, String)> = update
                .fetch_all(tx.conn())
                .await?
                .iter()
                .map(|r| Ok((r.try_get("app_id")?, r.try_get("user_id")?)))
                .collect::<Result<_, StoreError>>()?;
            for (i, app_id, user_id, _) in chunk {
                held[*i] = updated.contains(&((*app_id).clone(), (*user_id).clone()));
            }
        }
        tx.commit().await?;
        Ok(held)
    }

    /// Records a successful push and releases the lease. If the desired state
    /// moved on meanwhile, the account stays due for the newer generation.
    pub async fn complete_push(
        &self,
        app_id: &str,
        user_id: &str,
        owner: &str,
        pushed: &Pushed,
    ) -> Result<(), StoreError> {
        let outcome = PushOutcome::Pushed { app_id: app_id.into(), user_id: user_id.into(), pushed: pushed.clone() };
        self.record_one(owner, outcome).await
    }

    /// Records a failed attempt: the error is kept, the account is due again
    /// at the failure's `retry_at` (never, until an admin retries it, when
    /// there is none), and the lease is released. The intent stays unless the
    /// failure settled that nothing happened in the app.
    pub async fn fail_push(
        &self,
        app_id: &str,
        user_id: &str,
        owner: &str,
        failure: &Failure,
    ) -> Result<(), StoreError> {
        let outcome = PushOutcome::Failed { app_id: app_id.into(), user_id: user_id.into(), failure: failure.clone() };
        self.record_one(owner, outcome).await
    }

    /// One outcome through the batch path; a lost lease is an error.
    async fn record_one(&self, owner: &str, outcome: PushOutcome) -> Result<(), StoreError> {
        let held = self.record_outcomes(owner, std::slice::from_ref(&outcome)).await?;
        if held.first() == Some(&true) {
            return Ok(());
        }
        let (PushOutcome::Pushed { app_id, user_id, .. } | PushOutcome::Failed { app_id, user_id, .. }) = &outcome;
        Err(lease_lost(app_id, user_id, owner))
    }

    /// Gives a leased account back untouched, due again at `until` (its app
    /// is paused): no attempt is counted and the intent stays.
    pub async fn defer(&self, app_id: &str, user_id: &str, owner: &str, until: i64) -> Result<(), StoreError> {
        let update = sqlx::query(
            "UPDATE app_accounts SET next_attempt_at = $1, lease_owner = NULL, lease_until = NULL \
             WHERE app_id = $2 AND user_id = $3 AND lease_owner = $4",
        )
        .bind(until);
        self.leased_update(update, app_id, user_id, owner).await
    }

    /// Runs an update whose last three parameters are the app, the user and
    /// the lease owner; it must touch the row, or the owner lost its lease.
    async fn leased_update(
        &self,
        update: sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
        app_id: &str,
        user_id: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        let updated = update
            .bind(app_id.to_string())
            .bind(user_id.to_string())
            .bind(owner.to_string())
            .execute(&self.pool)
            .await?
            .rows_affected();
        if updated == 0 {
            return Err(lease_lost(app_id, user_id, owner));
        }
        Ok(())
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

    /// How many accounts still have changes to push (the work queue's length).
    pub async fn pending_accounts(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM app_accounts WHERE desired_generation > pushed_generation")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }
}

/// `next_attempt_at` of an account that waits for an admin.
pub const NEVER: i64 = i64::MAX / 2;

/// A failed attempt, as recorded.
#[derive(Debug, Clone)]
pub struct Failure {
    pub error: String,
    /// When to try again; `None`: not until an admin retries.
    pub retry_at: Option<i64>,
    /// Whether the attempt counts towards backoff (a rate limit does not).
    pub counts: bool,
    /// The app certainly did not act (a refusal, a rate limit): the recorded
    /// intent is dropped, and the next attempt need not look the account up.
    pub settled: bool,
}

/// One attempt's outcome, for [`Store::record_outcomes`].
#[derive(Debug, Clone)]
pub enum PushOutcome {
    Pushed { app_id: String, user_id: String, pushed: Pushed },
    Failed { app_id: String, user_id: String, failure: Failure },
}

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
    /// Releases every lease a worker holds: a node calls it when it starts,
    /// since a lease under its name belongs to a run that died.
    pub async fn release_leases(&self, owner: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query("UPDATE app_accounts SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1")
            .bind(owner)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

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

    /// Sets an app's status: `active`, or `quarantined` with the reason
    /// shown to admins. Resuming also lifts a Retry-After pause.
    pub async fn set_app_status(
        &self,
        actor: &str,
        app_id: &str,
        status: &str,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        if !matches!(status, "active" | "paused" | "quarantined") {
            return Err(StoreError::Invalid(format!("unknown app status \"{status}\"")));
        }
        let mut tx = self.write().await?;
        let now = tx.now;
        let updated = sqlx::query(
            "UPDATE apps SET status = $1, quarantine_reason = $2, paused_until = NULL, updated_at = $3 WHERE id = $4",
        )
        .bind(status)
        .bind(reason.map(str::to_string))
        .bind(now)
        .bind(app_id)
        .execute(tx.conn())
        .await?
        .rows_affected();
        if updated == 0 {
            return Err(StoreError::not_found(format!("app {app_id}")));
        }
        let details = serde_json::json!({ "status": status, "reason": reason });
        tx.log(&crate::log::NewLogEvent::success(actor, "app.status", "app", app_id, details)).await?;
        tx.commit().await
    }
}
