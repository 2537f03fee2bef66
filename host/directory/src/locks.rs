//! Row locks a change takes before it reads what it will act on, so that two
//! changes at once end as some serial order of them would (PostgreSQL runs
//! READ COMMITTED: without them, a deactivation and an assignment could each
//! read the directory before the other's write and both commit). Locks are
//! taken in one order — groups, users, apps — each set sorted, so two
//! changes rarely wait on each other in a circle; when they do, PostgreSQL
//! ends one with a deadlock error, which [`StoreError::is_race`] tells the
//! caller to retry. SQLite needs none: it has one writer at a time.

use crate::error::StoreError;
use crate::store::Backend;
use crate::tx::Tx;

/// What a change reads and writes, by kind of row.
#[derive(Debug, Default, Clone)]
pub struct Touches {
    pub groups: Vec<String>,
    pub users: Vec<String>,
    pub apps: Vec<String>,
}

/// Ids per locking statement.
const CHUNK: usize = 500;

impl Tx {
    /// Locks the rows a change touches, in the fixed order. Groups and users
    /// are locked for update (changes to them, or to what hangs off them,
    /// serialise); apps are shared (their mappings and policy are read, and a
    /// change of them waits for the readers).
    pub async fn lock_rows(&mut self, touches: &Touches) -> Result<(), StoreError> {
        if self.backend() != Backend::Postgres {
            return Ok(());
        }
        self.lock_table("user_groups", &touches.groups, "FOR NO KEY UPDATE").await?;
        self.lock_table("users", &touches.users, "FOR NO KEY UPDATE").await?;
        self.lock_table("apps", &touches.apps, "FOR SHARE").await
    }

    async fn lock_table(&mut self, table: &str, ids: &[String], mode: &str) -> Result<(), StoreError> {
        let mut ids: Vec<&String> = ids.iter().collect();
        ids.sort();
        ids.dedup();
        for chunk in ids.chunks(CHUNK) {
            // Only the table name, the lock mode (both constants of this
            // module) and generated placeholders are formatted into the SQL.
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("SELECT id FROM {table} WHERE id IN ({}) ORDER BY id {mode}", placeholders.join(", "));
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind((*id).clone());
            }
            query.fetch_all(self.conn()).await?;
        }
        Ok(())
    }
}

impl StoreError {
    /// Whether this is a legitimate race another attempt of the same change
    /// would not meet again: a deadlock, a serialization failure, or two
    /// writers inserting the same app account at once.
    pub fn is_race(&self) -> bool {
        let StoreError::Database(sqlx::Error::Database(db)) = self else { return false };
        match db.code().as_deref() {
            Some("40P01") | Some("40001") => true,
            Some("23505") => db.constraint() == Some("app_accounts_pkey"),
            _ => false,
        }
    }
}
