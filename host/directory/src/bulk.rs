//! Reads of many rows at once, for the engine's reconciliation: a change
//! that touches thousands of accounts reads them in a few queries, not a few
//! per account.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};
use sqlx::Row;

use crate::accounts::{AccountState, AppAccount};
use crate::error::StoreError;
use crate::levels::current_request_id;
use crate::tx::Tx;
use crate::users::User;

/// Ids per query: well under every backend's parameter limit.
const CHUNK: usize = 500;

/// `$first, $first+1, …` for `n` parameters.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

impl Tx {
    /// The users with these ids (missing ones are absent from the map).
    pub async fn users_by_id(&mut self, ids: &[String]) -> Result<HashMap<String, User>, StoreError> {
        let mut users = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            // Only generated placeholders are formatted into the SQL.
            let sql = format!(
                "SELECT {} FROM users WHERE id IN ({})",
                crate::users::USER_COLUMNS,
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.clone());
            }
            for row in query.fetch_all(self.conn()).await? {
                let user = crate::users::from_row(&row)?;
                users.insert(user.id.clone(), user);
            }
        }
        Ok(users)
    }

    /// Which of these ids are users of this directory, each with the id of
    /// the account linked to them in the app (`None`: none linked). Ids of
    /// no user here are absent from the map.
    pub async fn links_of(
        &mut self,
        app_id: &str,
        user_ids: &[String],
    ) -> Result<HashMap<String, Option<String>>, StoreError> {
        let mut links = HashMap::new();
        for chunk in user_ids.chunks(CHUNK) {
            // Only generated placeholders are formatted into the SQL.
            let sql = format!(
                "SELECT u.id, a.external_id FROM users u \
                 LEFT JOIN app_accounts a ON a.user_id = u.id AND a.app_id = $1 WHERE u.id IN ({})",
                placeholders(2, chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(app_id.to_string());
            for id in chunk {
                query = query.bind(id.clone());
            }
            for row in query.fetch_all(self.conn()).await? {
                links.insert(row.try_get("id")?, row.try_get("external_id")?);
            }
        }
        Ok(links)
    }

    /// These users' accounts in an app.
    pub async fn accounts_of(
        &mut self,
        app_id: &str,
        user_ids: &[String],
    ) -> Result<HashMap<String, AppAccount>, StoreError> {
        let mut accounts = HashMap::new();
        for chunk in user_ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT {} FROM app_accounts a WHERE a.app_id = $1 AND a.user_id IN ({})",
                crate::accounts::ACCOUNT_COLUMNS,
                placeholders(2, chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(app_id.to_string());
            for id in chunk {
                query = query.bind(id.clone());
            }
            for row in query.fetch_all(self.conn()).await? {
                let account = crate::accounts::from_row(&row)?;
                accounts.insert(account.user_id.clone(), account);
            }
        }
        Ok(accounts)
    }

    /// Which of these users the app is assigned to, directly or through any
    /// group.
    pub async fn assigned_among(&mut self, app_id: &str, user_ids: &[String]) -> Result<HashSet<String>, StoreError> {
        let mut assigned = HashSet::new();
        for chunk in user_ids.chunks(CHUNK) {
            let list = placeholders(2, chunk.len());
            let sql = format!(
                // Driven from the users' memberships (few) rather than the
                // app's group assignments (possibly thousands).
                "SELECT user_id FROM app_user_assignments WHERE app_id = $1 AND user_id IN ({list}) \
                 UNION SELECT m.user_id FROM memberships m WHERE m.user_id IN ({list}) \
                 AND EXISTS (SELECT 1 FROM app_group_assignments g WHERE g.app_id = $1 AND g.group_id = m.group_id)"
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(app_id.to_string());
            for id in chunk {
                query = query.bind(id.clone());
            }
            for row in query.fetch_all(self.conn()).await? {
                assigned.insert(row.try_get::<String, _>("user_id")?);
            }
        }
        Ok(assigned)
    }

    /// Sets what the app should hold for this user, given the account as
    /// read in this transaction (`None`: none yet). The same desire changes
    /// nothing; a new one bumps the generation and is due now.
    pub async fn write_desired(
        &mut self,
        current: Option<&AppAccount>,
        app_id: &str,
        user_id: &str,
        state: AccountState,
        profile: &Map<String, Value>,
    ) -> Result<(), StoreError> {
        let now = self.now;
        let profile_json = Value::Object(profile.clone()).to_string();
        match current {
            None => {
                sqlx::query(
                    "INSERT INTO app_accounts (app_id, user_id, desired_state, desired_profile, desired_generation, \
                     pushed_state, pushed_profile, pushed_generation, next_attempt_at, updated_at, trace_id) \
                     VALUES ($1, $2, $3, $4, 1, 'absent', '{}', 0, $5, $5, $6)",
                )
                .bind(app_id)
                .bind(user_id)
                .bind(state.as_str())
                .bind(&profile_json)
                .bind(now)
                .bind(current_request_id())
                .execute(self.conn())
                .await?;
            }
            Some(a) if a.desired_state == state && &a.desired_profile == profile => {}
            Some(_) => {
                sqlx::query(
                    "UPDATE app_accounts SET desired_state = $1, desired_profile = $2, \
                     desired_generation = desired_generation + 1, attempt = 0, next_attempt_at = $3, updated_at = $3, \
                     trace_id = $6 WHERE app_id = $4 AND user_id = $5",
                )
                .bind(state.as_str())
                .bind(&profile_json)
                .bind(now)
                .bind(app_id)
                .bind(user_id)
                .bind(current_request_id())
                .execute(self.conn())
                .await?;
            }
        }
        Ok(())
    }

    /// Creates the desired state of many accounts that have none yet, in
    /// multi-row inserts.
    pub async fn insert_desired(
        &mut self,
        app_id: &str,
        rows: &[(String, AccountState, Map<String, Value>)],
    ) -> Result<(), StoreError> {
        const ROWS: usize = 100; // 4 parameters each
        let now = self.now;
        for chunk in rows.chunks(ROWS) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p = 4 + i * 3;
                    format!("($1, ${p}, ${}, ${}, 1, 'absent', '{{}}', 0, $2, $2, $3)", p + 1, p + 2)
                })
                .collect();
            let sql = format!(
                "INSERT INTO app_accounts (app_id, user_id, desired_state, desired_profile, desired_generation, \
                 pushed_state, pushed_profile, pushed_generation, next_attempt_at, updated_at, trace_id) VALUES {}",
                values.join(", ")
            );
            let mut query =
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(app_id.to_string()).bind(now).bind(current_request_id());
            for (user_id, state, profile) in chunk {
                query =
                    query.bind(user_id.clone()).bind(state.as_str()).bind(Value::Object(profile.clone()).to_string());
            }
            query.execute(self.conn()).await?;
        }
        Ok(())
    }
}

impl crate::store::Store {
    /// The logins of these users (missing ones are absent), for answers
    /// that name people rather than ids.
    pub async fn logins_of(&self, ids: &[String]) -> Result<HashMap<String, String>, StoreError> {
        let mut logins = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            // Only generated placeholders are formatted into the SQL.
            let sql = format!("SELECT id, login FROM users WHERE id IN ({})", placeholders(1, chunk.len()));
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.clone());
            }
            for row in query.fetch_all(&self.pool).await? {
                logins.insert(row.try_get("id")?, row.try_get("login")?);
            }
        }
        Ok(logins)
    }
}
