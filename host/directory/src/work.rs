//! The executor's side of app accounts: claiming due work under a fenced
//! lease, renewing the leases a worker holds, and recording outcomes only
//! under the claim they were made with. See docs/design/directory.md.
//!
//! Three times bound an account's work:
//! - `lease_until`: the worker's claim; renewed while the work runs, and no
//!   call of the worker's reaches past it;
//! - `lease_token`: bumped by every claim; an outcome that names an older
//!   token is recorded in the system log, never applied;
//! - `settle_until`: an operation whose outcome is unknown (a call abandoned
//!   at its deadline, a lease run out) may still land in the app until then,
//!   so no new attempt starts before it.

use serde_json::{Map, Value};
use sqlx::Row;

use crate::accounts::{AccountState, AppAccount, Lease, Pushed, from_row};
use crate::error::StoreError;
use crate::store::{Backend, Store};
use crate::tx::Tx;

/// `next_attempt_at` of an account that waits for an admin.
pub const NEVER: i64 = i64::MAX / 2;

/// An account whose claim means a create (the SQL twin of
/// [`AppAccount::creates`]), on the target table `a`.
const CREATES: &str =
    "a.desired_state = 'active' AND (a.external_id IS NULL OR a.pushed_state NOT IN ('active', 'inactive'))";

/// An account found in the app and linked before the attempt failed: the
/// link is kept, so the next attempt need not look again.
#[derive(Debug, Clone)]
pub struct Linked {
    pub external_id: String,
    pub state: AccountState,
    /// What is known of what the app holds (the login; its attributes are
    /// unknown, so the next attempt sends them all).
    pub profile: Map<String, Value>,
}

/// A failed attempt, as recorded.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The desired generation the attempt tried. A newer one stays due: a
    /// failure parks only what it tried.
    pub generation: i64,
    pub error: String,
    /// When to try this generation again; `None`: not until an admin retries.
    pub retry_at: Option<i64>,
    /// Whether the attempt counts towards backoff (a rate limit does not).
    pub counts: bool,
    /// Whether a create's outcome is known (the app refused it, or the
    /// account was found and linked): the recorded intent is dropped. While
    /// it is not, the next attempt looks the account up before creating.
    pub settled: bool,
    /// The app may still act on an abandoned call until then.
    pub settle_until: Option<i64>,
    pub linked: Option<Linked>,
}

/// One attempt's outcome, for [`Store::record_outcomes`]: what happened, and
/// the lease it happened under.
#[derive(Debug, Clone)]
pub struct PushOutcome {
    pub app_id: String,
    pub user_id: String,
    pub lease: Lease,
    pub result: Result<Pushed, Failure>,
}

fn lease_lost(app_id: &str, user_id: &str, lease: &Lease) -> StoreError {
    StoreError::Conflict(format!(
        "worker {} no longer holds lease {} on the account of user {user_id} in app {app_id}",
        lease.owner, lease.token
    ))
}

impl Store {
    /// Leases up to `limit` due accounts to `owner` for `lease_ms`, each under
    /// a new fencing token, and records the intent of those about to be
    /// created: accounts with unpushed changes, due, settled, not leased by a
    /// live worker, whose app is active and not paused. Several workers
    /// (several nodes on PostgreSQL) never get the same account.
    ///
    /// `settle_ms` gives an app's settle time from its policy: if this claim's
    /// lease runs out with a call in flight, the account is not claimed again
    /// before the lease's end plus that.
    pub async fn claim_due(
        &self,
        owner: &str,
        lease_ms: i64,
        limit: u32,
        settle_ms: &(dyn Fn(&Value) -> i64 + Sync),
    ) -> Result<Vec<AppAccount>, StoreError> {
        self.claim_due_except(owner, lease_ms, limit, settle_ms, &[]).await
    }

    /// [`Store::claim_due`], leaving out the apps in `skip` (the worker has
    /// as much of their work as it may run at once).
    pub async fn claim_due_except(
        &self,
        owner: &str,
        lease_ms: i64,
        limit: u32,
        settle_ms: &(dyn Fn(&Value) -> i64 + Sync),
        skip: &[String],
    ) -> Result<Vec<AppAccount>, StoreError> {
        let mut tx = self.write().await?;
        // Read once the transaction is open: a `now` taken before a wait for
        // a connection (or SQLite's writer) would give a lease that is
        // already over, which another worker may claim at once.
        let now = tx.now_ms();
        // Only generated placeholders are formatted into the SQL.
        let skipped = match skip.len() {
            0 => String::new(),
            n => format!(
                " AND a.app_id NOT IN ({})",
                (0..n).map(|i| format!("${}", 3 + i)).collect::<Vec<_>>().join(", ")
            ),
        };
        let select = format!(
            "SELECT {} , p.policy AS app_policy FROM app_accounts a JOIN apps p ON p.id = a.app_id \
             WHERE a.desired_generation > a.pushed_generation AND a.next_attempt_at <= $1 \
               AND (a.lease_until IS NULL OR a.lease_until <= $1) \
               AND (a.settle_until IS NULL OR a.settle_until <= $1) \
               AND p.status = 'active' AND (p.paused_until IS NULL OR p.paused_until <= $1){skipped} \
             ORDER BY a.next_attempt_at, a.app_id, a.user_id LIMIT $2{}",
            account_columns!(),
            match self.backend() {
                // SQLite has one writer (BEGIN IMMEDIATE): no row locks needed.
                Backend::Sqlite => "",
                Backend::Postgres => " FOR UPDATE OF a SKIP LOCKED",
            }
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(select)).bind(now).bind(i64::from(limit.max(1)));
        for app in skip {
            query = query.bind(app.clone());
        }
        let rows = query.fetch_all(tx.conn()).await?;
        let lease_until = now + lease_ms;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut account = from_row(row)?;
            let policy: String = row.try_get("app_policy")?;
            let settle = settle_ms(&serde_json::from_str(&policy).unwrap_or(Value::Null)).max(0);
            // A create's intent is committed with the claim, before any call
            // is made; `account.intent` keeps what an earlier attempt left,
            // which tells the worker to look the account up first. Any other
            // claim records `sync`, cleared only by a recorded success: an
            // attempt that ended without one (its node died, its call
            // outlived the lease) may have changed the app after all, so the
            // next one does not trust the pushed image. The
            // operation id (the idempotency key) is stable across retries of
            // one create: it changes only when a push completes.
            if account.creates() && account.operation_id.is_none() {
                account.operation_id =
                    Some(format!("{}:{}:{}", account.app_id, account.user_id, account.pushed_generation));
            }
            account.lease_owner = Some(owner.to_string());
            account.lease_until = Some(lease_until);
            account.lease_token += 1;
            account.settle_until = Some(lease_until + settle);
            claimed.push(account);
        }
        for chunk in claimed.chunks(100) {
            // One statement per 100; only generated placeholders are
            // formatted into the SQL.
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p = 3 + i * 3;
                    format!("SELECT ${p} AS app_id, ${} AS user_id, CAST(${} AS BIGINT) AS settle_until", p + 1, p + 2)
                })
                .collect();
            let sql = format!(
                "UPDATE app_accounts AS a SET lease_owner = $1, lease_until = $2, lease_token = a.lease_token + 1, \
                 settle_until = v.settle_until, \
                 intent = CASE WHEN {CREATES} OR a.intent = 'create' THEN 'create' ELSE 'sync' END, \
                 operation_id = CASE WHEN {CREATES} AND a.operation_id IS NULL \
                   THEN a.app_id || ':' || a.user_id || ':' || CAST(a.pushed_generation AS TEXT) \
                   ELSE a.operation_id END \
                 FROM ({}) AS v WHERE a.app_id = v.app_id AND a.user_id = v.user_id",
                rows.join(" UNION ALL ")
            );
            let mut update = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(owner.to_string()).bind(lease_until);
            for a in chunk {
                update = update.bind(a.app_id.clone()).bind(a.user_id.clone()).bind(a.settle_until);
            }
            update.execute(tx.conn()).await?;
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Extends every live lease `owner` holds to `lease_ms` from now, in one
    /// statement (the worker's heartbeat); each account's settle time moves
    /// with its lease. Returns the new end of the leases and how many were
    /// renewed. A lease that already ran out is not revived: its account may
    /// belong to another worker by now.
    pub async fn renew_leases(&self, owner: &str, lease_ms: i64) -> Result<(i64, u64), StoreError> {
        // The connection first, then the time (see `claim_due_except`).
        let mut conn = self.pool.acquire().await?;
        let now = self.now_ms();
        let until = now + lease_ms;
        let renewed = sqlx::query(
            "UPDATE app_accounts SET settle_until = COALESCE(settle_until, lease_until) + ($1 - lease_until), \
             lease_until = $1 WHERE lease_owner = $2 AND lease_until > $3",
        )
        .bind(until)
        .bind(owner)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        Ok((until, renewed))
    }

    /// Records many outcomes in one transaction (the batching writer: one
    /// commit for many pushes). Returns, per outcome in order, whether its
    /// lease still held. An outcome whose lease did not hold (another claim
    /// replaced it) changes nothing in the account and is recorded in the
    /// system log as `account.outcome.discard`, with what it did in the app.
    pub async fn record_outcomes(&self, outcomes: &[PushOutcome]) -> Result<Vec<bool>, StoreError> {
        let mut tx = self.write().await?;
        let now = tx.now;
        let mut held = vec![false; outcomes.len()];
        let mut pushed_rows = Vec::new();
        for (i, outcome) in outcomes.iter().enumerate() {
            match &outcome.result {
                Ok(pushed) => pushed_rows.push((i, outcome, pushed)),
                Err(failure) => held[i] = tx.record_failure(outcome, failure).await?,
            }
        }
        // Successes, the bulk of the work, go in one UPDATE … FROM per 100.
        for chunk in pushed_rows.chunks(100) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p = 2 + i * 8;
                    format!(
                        "SELECT ${p} AS app_id, ${} AS user_id, ${} AS owner, CAST(${} AS BIGINT) AS token, \
                         ${} AS state, ${} AS profile, CAST(${} AS BIGINT) AS generation, ${} AS external_id",
                        p + 1,
                        p + 2,
                        p + 3,
                        p + 4,
                        p + 5,
                        p + 6,
                        p + 7
                    )
                })
                .collect();
            // Only generated placeholders are formatted into the SQL.
            let sql = format!(
                "UPDATE app_accounts AS a SET pushed_state = v.state, pushed_profile = v.profile, \
                 pushed_generation = v.generation, external_id = COALESCE(v.external_id, a.external_id), \
                 intent = NULL, operation_id = NULL, attempt = 0, last_error = NULL, lease_owner = NULL, \
                 lease_until = NULL, settle_until = NULL, updated_at = $1, \
                 deactivated_at = CASE WHEN v.state = 'inactive' THEN COALESCE(a.deactivated_at, $1) ELSE NULL END \
                 FROM ({}) AS v WHERE a.app_id = v.app_id AND a.user_id = v.user_id \
                   AND a.lease_owner = v.owner AND a.lease_token = v.token \
                 RETURNING {}",
                rows.join(" UNION ALL "),
                // SQLite's RETURNING names the target's columns bare;
                // PostgreSQL needs them qualified (v has the same names).
                match tx.backend() {
                    Backend::Sqlite => "app_id, user_id",
                    Backend::Postgres => "a.app_id, a.user_id",
                }
            );
            let mut update = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
            for (_, outcome, pushed) in chunk {
                update = update
                    .bind(outcome.app_id.clone())
                    .bind(outcome.user_id.clone())
                    .bind(outcome.lease.owner.clone())
                    .bind(outcome.lease.token)
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
            for (i, outcome, _) in chunk {
                held[*i] = updated.contains(&(outcome.app_id.clone(), outcome.user_id.clone()));
            }
        }
        for (outcome, held) in outcomes.iter().zip(&held) {
            if !held {
                tx.log(&stale_event(outcome)).await?;
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
        lease: &Lease,
        pushed: &Pushed,
    ) -> Result<(), StoreError> {
        self.record_one(PushOutcome {
            app_id: app_id.into(),
            user_id: user_id.into(),
            lease: lease.clone(),
            result: Ok(pushed.clone()),
        })
        .await
    }

    /// Records a failed attempt: the error is kept, the generation it tried
    /// is due again at the failure's `retry_at` (never, until an admin retries
    /// it, when there is none), a newer one at once, and the lease is
    /// released. The intent stays unless the failure settled it.
    pub async fn fail_push(
        &self,
        app_id: &str,
        user_id: &str,
        lease: &Lease,
        failure: &Failure,
    ) -> Result<(), StoreError> {
        self.record_one(PushOutcome {
            app_id: app_id.into(),
            user_id: user_id.into(),
            lease: lease.clone(),
            result: Err(failure.clone()),
        })
        .await
    }

    /// One outcome through the batch path; a lost lease is an error.
    async fn record_one(&self, outcome: PushOutcome) -> Result<(), StoreError> {
        let held = self.record_outcomes(std::slice::from_ref(&outcome)).await?;
        if held.first() == Some(&true) {
            return Ok(());
        }
        Err(lease_lost(&outcome.app_id, &outcome.user_id, &outcome.lease))
    }

    /// Gives a leased account back untouched, due again at `until` (its app
    /// is paused): no attempt is counted, the intent stays, and since no call
    /// was made there is nothing to let settle.
    pub async fn defer(&self, app_id: &str, user_id: &str, lease: &Lease, until: i64) -> Result<(), StoreError> {
        let updated = sqlx::query(
            "UPDATE app_accounts SET next_attempt_at = $1, lease_owner = NULL, lease_until = NULL, settle_until = NULL \
             WHERE app_id = $2 AND user_id = $3 AND lease_owner = $4 AND lease_token = $5",
        )
        .bind(until)
        .bind(app_id)
        .bind(user_id)
        .bind(lease.owner.clone())
        .bind(lease.token)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if updated == 0 {
            return Err(lease_lost(app_id, user_id, lease));
        }
        Ok(())
    }
}

impl Tx {
    /// Applies one failed attempt under its lease; false if the lease was lost.
    async fn record_failure(&mut self, outcome: &PushOutcome, failure: &Failure) -> Result<bool, StoreError> {
        let now = self.now;
        let (linked_id, linked_state, linked_profile) = match &failure.linked {
            Some(l) => (
                Some(l.external_id.clone()),
                Some(l.state.as_str()),
                Some(Value::Object(l.profile.clone()).to_string()),
            ),
            None => (None, None, None),
        };
        // A newer generation than the one tried is due at once, its attempts
        // counted afresh: the failure was not about it.
        let update = sqlx::query(
            "UPDATE app_accounts SET \
             attempt = CASE WHEN desired_generation > $1 THEN 0 ELSE attempt + $2 END, \
             next_attempt_at = CASE WHEN desired_generation > $1 THEN $3 ELSE $4 END, \
             last_error = $5, \
             intent = CASE WHEN $6 = 1 AND intent = 'create' THEN NULL ELSE intent END, \
             operation_id = CASE WHEN $6 = 1 THEN NULL ELSE operation_id END, \
             settle_until = $7, \
             external_id = COALESCE($8, external_id), \
             pushed_state = COALESCE($9, pushed_state), \
             pushed_profile = COALESCE($10, pushed_profile), \
             lease_owner = NULL, lease_until = NULL, updated_at = $3 \
             WHERE app_id = $11 AND user_id = $12 AND lease_owner = $13 AND lease_token = $14",
        )
        .bind(failure.generation)
        .bind(i64::from(failure.counts))
        .bind(now)
        .bind(failure.retry_at.unwrap_or(NEVER))
        .bind(failure.error.clone())
        .bind(i64::from(failure.settled))
        .bind(failure.settle_until)
        .bind(linked_id)
        .bind(linked_state)
        .bind(linked_profile)
        .bind(outcome.app_id.clone())
        .bind(outcome.user_id.clone())
        .bind(outcome.lease.owner.clone())
        .bind(outcome.lease.token);
        let held = update.execute(self.conn()).await?.rows_affected() == 1;
        if held && failure.retry_at.is_none() {
            // No more retries of this generation: an admin must look (and
            // hooks hear of it).
            let details = serde_json::json!({ "app": outcome.app_id, "error": failure.error });
            let event =
                crate::log::NewLogEvent::failure("provisioner", "account.fail", "user", &outcome.user_id, details);
            self.log(&event).await?;
        }
        Ok(held)
    }
}

/// The system-log record of an outcome that came back under a lease another
/// claim had replaced: what the app did is kept for the operator (and for
/// the consistency checker), though it changes nothing in the account.
fn stale_event(outcome: &PushOutcome) -> crate::log::NewLogEvent {
    let details = match &outcome.result {
        Ok(pushed) => serde_json::json!({
            "app": outcome.app_id,
            "owner": outcome.lease.owner,
            "token": outcome.lease.token,
            "outcome": "pushed",
            "state": pushed.state,
            "generation": pushed.generation,
            "externalId": pushed.external_id,
        }),
        Err(failure) => serde_json::json!({
            "app": outcome.app_id,
            "owner": outcome.lease.owner,
            "token": outcome.lease.token,
            "outcome": "failed",
            "generation": failure.generation,
            "error": failure.error,
            "externalId": failure.linked.as_ref().map(|l| l.external_id.clone()),
        }),
    };
    crate::log::NewLogEvent::failure("provisioner", "account.outcome.discard", "user", &outcome.user_id, details)
}
