//! Work that runs on one node at a time: a named lease on a row of the
//! directory, held by one run of `provisio serve` and renewed while it
//! lives. A lease that lapses (its run was killed, or lost the database) is
//! taken by the next run that asks; a run that stops cleanly gives its
//! leases up at once. The row also keeps a periodic job's schedule, so a new
//! holder neither repeats a run the old one finished nor waits a period more.
//!
//! A row, not a PostgreSQL advisory lock: it works the same on SQLite, it
//! carries the schedule and a fence, and operators can see who holds what.

use serde::Serialize;
use serde_json::json;
use sqlx::Row;

use crate::error::StoreError;
use crate::log::NewLogEvent;
use crate::store::Store;

/// A singleton as its holder sees it after taking or renewing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// Grows with every change of holder: a run is recorded only under the
    /// fence it was started under.
    pub fence: i64,
    /// When the last recorded run of a periodic job started.
    pub last_run_at: Option<i64>,
    pub expires_at: i64,
}

/// A singleton as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Singleton {
    pub name: String,
    pub holder: Option<String>,
    pub fence: i64,
    pub expires_at: i64,
    pub last_run_at: Option<i64>,
    pub runs: i64,
    /// Whether the holder's lease is still running.
    pub held: bool,
}

impl Store {
    /// Takes `name` for `holder` for `lease_ms`, or renews it if `holder`
    /// has it already; `None` while another holder's lease runs. A change of
    /// holder is logged (`singleton.acquire`).
    pub async fn hold_singleton(&self, name: &str, holder: &str, lease_ms: i64) -> Result<Option<Held>, StoreError> {
        let mut tx = self.write().await?;
        let now = tx.now_ms();
        sqlx::query("INSERT INTO singletons (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .execute(tx.conn())
            .await?;
        let row = sqlx::query("SELECT holder, fence, expires_at, last_run_at FROM singletons WHERE name = $1")
            .bind(name)
            .fetch_one(tx.conn())
            .await?;
        let previous: Option<String> = row.try_get("holder")?;
        let (fence, expires_at): (i64, i64) = (row.try_get("fence")?, row.try_get("expires_at")?);
        let mine = previous.as_deref() == Some(holder);
        if !mine && expires_at > now {
            return Ok(None);
        }
        let new_fence = if mine { fence } else { fence + 1 };
        // Compare and set: another run that took it since the read has
        // changed `expires_at` or `fence`.
        let taken = sqlx::query(
            "UPDATE singletons SET holder = $1, fence = $2, expires_at = $3 \
             WHERE name = $4 AND fence = $5 AND expires_at = $6",
        )
        .bind(holder)
        .bind(new_fence)
        .bind(now + lease_ms)
        .bind(name)
        .bind(fence)
        .bind(expires_at)
        .execute(tx.conn())
        .await?
        .rows_affected();
        if taken == 0 {
            return Ok(None);
        }
        if !mine {
            let details = json!({ "holder": holder, "previous": previous, "fence": new_fence });
            tx.log(&NewLogEvent::success(holder, "singleton.acquire", "singleton", name, details)).await?;
        }
        let last_run_at = row.try_get("last_run_at")?;
        tx.commit().await?;
        Ok(Some(Held { fence: new_fence, last_run_at, expires_at: now + lease_ms }))
    }

    /// Records a run of `name` that started at `started_at`, if `holder`
    /// still holds it under `fence`; false if the lease was lost meanwhile.
    pub async fn singleton_ran(
        &self,
        name: &str,
        holder: &str,
        fence: i64,
        started_at: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE singletons SET last_run_at = $1, runs = runs + 1 WHERE name = $2 AND holder = $3 AND fence = $4",
        )
        .bind(started_at)
        .bind(name)
        .bind(holder)
        .bind(fence)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    /// Gives up every lease `holder` has (a clean stop), so that another
    /// run takes the work over at once instead of after the lease.
    pub async fn release_singletons(&self, holder: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE singletons SET expires_at = 0 WHERE holder = $1").bind(holder).execute(&self.pool).await?;
        Ok(())
    }

    /// Every singleton, by name.
    pub async fn singletons(&self) -> Result<Vec<Singleton>, StoreError> {
        let now = self.now_ms();
        let rows =
            sqlx::query("SELECT name, holder, fence, expires_at, last_run_at, runs FROM singletons ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                let expires_at: i64 = r.try_get("expires_at")?;
                Ok(Singleton {
                    name: r.try_get("name")?,
                    holder: r.try_get("holder")?,
                    fence: r.try_get("fence")?,
                    expires_at,
                    last_run_at: r.try_get("last_run_at")?,
                    runs: r.try_get("runs")?,
                    held: expires_at > now,
                })
            })
            .collect()
    }
}
