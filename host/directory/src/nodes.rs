//! The nodes that run on this directory: each process run of `provisio
//! serve` registers itself under the name its leases carry, says it is
//! alive every `heartbeat_ms`, and marks itself stopped on a clean exit. A
//! run that stops saying so (killed, partitioned) shows as not live; what it
//! held expires with its leases.

use serde::Serialize;
use sqlx::Row;

use crate::error::StoreError;
use crate::store::Store;

/// Runs whose last word is older than this are forgotten.
const FORGET_AFTER_MS: i64 = 7 * 24 * 3600 * 1000;

/// A run as it registers.
#[derive(Debug, Clone)]
pub struct NewNode {
    /// The lease owner name: `node-id/run-id`.
    pub id: String,
    /// The data directory's node id.
    pub node: String,
    pub version: String,
    pub listen: String,
    pub heartbeat_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    pub id: String,
    pub node: String,
    pub version: String,
    pub listen: String,
    pub started_at: i64,
    pub heartbeat_at: i64,
    pub stopped_at: Option<i64>,
    /// Said it was alive within three heartbeats, and has not stopped.
    pub live: bool,
    /// App accounts it holds under a live lease.
    pub held: i64,
    /// The singletons it holds under a live lease (see `singletons.rs`).
    pub singletons: Vec<String>,
}

impl Store {
    /// Registers this run (and forgets runs silent for a week).
    pub async fn register_node(&self, new: &NewNode) -> Result<(), StoreError> {
        let now = self.now_ms();
        sqlx::query("DELETE FROM nodes WHERE heartbeat_at < $1")
            .bind(now - FORGET_AFTER_MS)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO nodes (id, node, version, listen, started_at, heartbeat_at, heartbeat_ms) \
             VALUES ($1, $2, $3, $4, $5, $5, $6)",
        )
        .bind(&new.id)
        .bind(&new.node)
        .bind(&new.version)
        .bind(&new.listen)
        .bind(now)
        .bind(new.heartbeat_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// This run is alive.
    pub async fn node_heartbeat(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE nodes SET heartbeat_at = $1 WHERE id = $2")
            .bind(self.now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// This run stopped cleanly.
    pub async fn node_stopped(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE nodes SET stopped_at = $1 WHERE id = $2")
            .bind(self.now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every known run, newest first, with the work each holds.
    pub async fn nodes(&self) -> Result<Vec<Node>, StoreError> {
        let now = self.now_ms();
        let rows = sqlx::query(
            "SELECT n.id, n.node, n.version, n.listen, n.started_at, n.heartbeat_at, n.heartbeat_ms, n.stopped_at, \
               (SELECT COUNT(*) FROM app_accounts a WHERE a.lease_owner = n.id AND a.lease_until > $1) AS held \
             FROM nodes n ORDER BY n.started_at DESC, n.id",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let singletons = self.singletons().await?;
        rows.iter()
            .map(|r| {
                let heartbeat_at: i64 = r.try_get("heartbeat_at")?;
                let heartbeat_ms: i64 = r.try_get("heartbeat_ms")?;
                let stopped_at: Option<i64> = r.try_get("stopped_at")?;
                let id: String = r.try_get("id")?;
                let held_singletons = singletons
                    .iter()
                    .filter(|s| s.held && s.holder.as_deref() == Some(id.as_str()))
                    .map(|s| s.name.clone())
                    .collect();
                Ok(Node {
                    singletons: held_singletons,
                    id,
                    node: r.try_get("node")?,
                    version: r.try_get("version")?,
                    listen: r.try_get("listen")?,
                    started_at: r.try_get("started_at")?,
                    heartbeat_at,
                    stopped_at,
                    live: stopped_at.is_none() && heartbeat_at > now - 3 * heartbeat_ms,
                    held: r.try_get("held")?,
                })
            })
            .collect()
    }
}
