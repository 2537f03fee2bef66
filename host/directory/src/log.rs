//! The system log: every change and every call to an app, append-only,
//! written in the same transaction as the change it records.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{AnyConnection, Row};

use crate::error::StoreError;
use crate::store::{Backend, Store, new_id};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewLogEvent {
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub outcome: Outcome,
    pub details: Value,
}

impl NewLogEvent {
    pub fn failure(actor: &str, action: &str, target_type: &str, target_id: &str, details: Value) -> Self {
        NewLogEvent {
            outcome: Outcome::Failure,
            ..NewLogEvent::success(actor, action, target_type, target_id, details)
        }
    }

    pub fn success(actor: &str, action: &str, target_type: &str, target_id: &str, details: Value) -> Self {
        NewLogEvent {
            actor: actor.into(),
            action: action.into(),
            target_type: target_type.into(),
            target_id: target_id.into(),
            outcome: Outcome::Success,
            details,
        }
    }
}

/// A place in the log, for paging: events are read in order of cursor,
/// and an event that becomes visible later always sorts after every
/// cursor already handed out (see `Store::log`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct LogCursor {
    /// PostgreSQL: the writing transaction's id; SQLite: 0 (one writer
    /// at a time, so numbering order is commit order).
    pub tx: i64,
    pub seq: i64,
}

impl std::fmt::Display for LogCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.tx, self.seq)
    }
}

impl std::str::FromStr for LogCursor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("cursor \"{s}\": pass the cursor of the last event seen, e.g. \"0.42\"");
        let (tx, seq) = s.split_once('.').ok_or_else(bad)?;
        Ok(LogCursor { tx: tx.parse().map_err(|_| bad())?, seq: seq.parse().map_err(|_| bad())? })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEvent {
    /// The event's number: unique, increasing in the order events were
    /// written (not always the order they committed).
    pub seq: i64,
    /// Where to page on from.
    pub cursor: LogCursor,
    pub id: String,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub outcome: String,
    pub details: Value,
}

/// Filters for reading the log; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub outcome: Option<Outcome>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Events after this cursor (paging); newest first, those before it.
    pub after: Option<LogCursor>,
    /// The newest first (a view for people; a feed pages oldest first).
    pub newest_first: bool,
    pub limit: u32,
}

/// Every event type the system log records, with what it means. Names are
/// `<object>[.<part>].<verb>`, the verb last and in the present tense, as
/// Okta names its own (`user.lifecycle.deactivate`); hooks subscribe to the
/// same names. docs/operators.md lists them ("The system log's events"),
/// and a test keeps the two alike.
pub const EVENT_TYPES: &[(&str, &str)] = &[
    ("account.duplicate.find", "a duplicate account was found in an app (and deactivated if it could be)"),
    ("account.fail", "an app account's change failed for good: an admin must look (retry or resolve)"),
    ("account.outcome.discard", "an app's answer came back under a lease another claim had replaced"),
    ("account.resolve", "an admin resolved a provisioning error"),
    ("admin.create", "an admin was created"),
    ("admin.update", "an admin's role, groups or name changed"),
    ("admin.deactivate", "an admin was deactivated"),
    ("admin.delete", "an admin was deleted"),
    ("api.refuse", "a call was refused: no valid token (401) or not permitted (403)"),
    ("app.create", "an app was created"),
    ("app.update", "an app's name, settings, credentials or grants changed (old and new; secrets by name only)"),
    ("app.delete", "an app was deleted"),
    ("app.retire", "an app's retirement began: its accounts are being deprovisioned"),
    ("app.lifecycle.activate", "an app was resumed"),
    ("app.lifecycle.deactivate", "an app was paused by an admin"),
    ("app.lifecycle.quarantine", "an app was quarantined after failing calls in a row"),
    ("app.connector.change", "an app moved to another connector version (an upgrade, a rollback or a pin)"),
    ("app.mappings.set", "an app's attribute mappings were replaced"),
    ("app.policy.set", "an app's deprovisioning policy was replaced"),
    ("app.user.assign", "a user was assigned to an app directly"),
    ("app.user.unassign", "a user's direct assignment was removed"),
    ("app.group.assign", "a group was assigned to an app"),
    ("app.group.unassign", "a group's assignment was removed"),
    ("app.errors.retry", "an admin retried an app's provisioning errors"),
    ("app.accounts.expire", "an app's accounts were expired"),
    ("connector.install", "a connector package was installed"),
    ("connector.remove", "a connector package was removed"),
    ("group.create", "a group was created"),
    ("group.update", "a group's name or description changed"),
    ("group.delete", "a group was deleted"),
    ("group.member.add", "a user was added to a group"),
    ("group.member.remove", "a user was removed from a group"),
    ("hook.create", "an event hook was registered"),
    ("hook.delete", "an event hook was deleted"),
    ("plan.hold", "a disruptive change was held for approval"),
    ("plan.apply", "a held change was approved and applied"),
    ("plan.reject", "a held change was rejected"),
    ("singleton.acquire", "a node took over a cluster-wide duty"),
    ("task.create", "a manual task was opened (an app without automatic deprovisioning)"),
    ("task.cancel", "a manual task was cancelled: it is no longer needed"),
    ("task.complete", "a manual task was marked done"),
    ("token.create", "an API token was issued"),
    ("token.revoke", "an API token was revoked"),
    ("user.create", "a user was created"),
    ("user.update", "a user's profile changed (each attribute's old and new value; secrets masked)"),
    ("user.lifecycle.activate", "a staged user was activated"),
    ("user.lifecycle.reactivate", "a deprovisioned user was activated again"),
    ("user.lifecycle.suspend", "a user was suspended"),
    ("user.lifecycle.unsuspend", "a suspended user was unsuspended"),
    ("user.lifecycle.deactivate", "a user was deprovisioned: every app account follows"),
    ("user.purge", "a user was removed for good"),
];

/// The events hooks can subscribe to: a part of the log's, by the same names.
pub const HOOK_EVENTS: [&str; 5] =
    ["user.lifecycle.deactivate", "task.create", "plan.hold", "app.lifecycle.quarantine", "account.fail"];

/// The hook event a system-log event is, if any.
fn hook_event(e: &NewLogEvent) -> Option<&'static str> {
    HOOK_EVENTS.iter().copied().find(|h| *h == e.action)
}

pub(crate) async fn append(conn: &mut AnyConnection, at: i64, e: &NewLogEvent) -> Result<(), StoreError> {
    // Every test run checks that no event type escapes the documented list.
    debug_assert!(EVENT_TYPES.iter().any(|(name, _)| *name == e.action), "unlisted event type {}", e.action);
    let id = new_id();
    if let Some(event_type) = hook_event(e) {
        // Committed (or not) with the event itself: the hooks' outbox.
        sqlx::query("INSERT INTO hook_outbox (log_id, event_type, created_at) VALUES ($1, $2, $3)")
            .bind(&id)
            .bind(event_type)
            .bind(at)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query(
        "INSERT INTO system_log (id, at, actor, action, target_type, target_id, outcome, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(at)
    .bind(&e.actor)
    .bind(&e.action)
    .bind(&e.target_type)
    .bind(&e.target_id)
    .bind(e.outcome.as_str())
    .bind(e.details.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// How long a short page of the log waits for writes still running to
/// commit (PostgreSQL; see `Store::log`).
const HELD_BACK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The log's query, oldest first from a cursor or newest first before one;
/// `$11` narrows it to what a reader may page past.
macro_rules! log_query {
    ($from:literal, $order:literal) => {
        concat!(
            "SELECT seq, tx, id, at, actor, action, target_type, target_id, outcome, details FROM system_log \
             WHERE ($1 IS NULL OR actor = $1) AND ($2 IS NULL OR action = $2) \
               AND ($3 IS NULL OR target_type = $3) AND ($4 IS NULL OR target_id = $4) \
               AND ($5 IS NULL OR outcome = $5) AND ($6 IS NULL OR at >= $6) AND ($7 IS NULL OR at < $7) \
               AND ($8 IS NULL OR (tx, seq) ",
            $from,
            " ($8, $9)) AND ($11 IS NULL OR tx < $11) ORDER BY ",
            $order,
            " LIMIT $10"
        )
    };
}
const LOG_OLDEST_FIRST: &str = log_query!(">", "tx, seq");
const LOG_NEWEST_FIRST: &str = log_query!("<", "tx DESC, seq DESC");

impl Store {
    /// Appends an event on its own (for events that record no other change,
    /// such as a call to an app).
    pub async fn append_log(&self, event: &NewLogEvent) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        append(&mut conn, self.now_ms(), event).await
    }

    /// Events in order of cursor, filtered.
    ///
    /// On PostgreSQL only the events of transactions older than every write
    /// still running in this database are returned (see `settled_below`): an
    /// event that commits later then always has a later cursor than any
    /// already returned, so a consumer that pages on never skips one. The
    /// price is that a long-running write of Provisio's holds back the events
    /// written after it began: a short page waits up to `HELD_BACK_WAIT` for
    /// such writes to end, then answers what is settled, so that a reader
    /// sees its own writes in the common case.
    pub async fn log(&self, q: &LogQuery) -> Result<Vec<LogEvent>, StoreError> {
        let deadline = tokio::time::Instant::now() + HELD_BACK_WAIT;
        let mut pause = std::time::Duration::from_millis(2);
        loop {
            // Newest first is read as it stands: it is not a feed to page
            // on without skipping (an event committing late may sort below
            // a page already shown).
            let below = match self.backend() {
                Backend::Postgres if !q.newest_first => Some(self.settled_below().await?),
                _ => None,
            };
            let page = self.log_page(q, below).await?;
            let short = page.len() < q.limit.clamp(1, 1000) as usize;
            let Some(below) = below else { return Ok(page) };
            if !short || tokio::time::Instant::now() >= deadline {
                return Ok(page);
            }
            let held_back = sqlx::query("SELECT 1 FROM system_log WHERE tx >= $1 LIMIT 1")
                .bind(below)
                .fetch_optional(&self.pool)
                .await?;
            if held_back.is_none() {
                return Ok(page);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_millis(100));
        }
    }

    /// The transaction id below which every transaction that can still write
    /// to this database's log has ended (PostgreSQL).
    ///
    /// The snapshot's own xmin would do, but it counts every database on the
    /// server: a long write in another application's database would hold
    /// Provisio's log back. So: `next` is the snapshot's xmax, taken when the
    /// statement starts; every transaction below it that is still running
    /// had its id then, so the sessions of this database read afterwards
    /// name them all. Where a session's id is hidden from this role (another
    /// role without `pg_read_all_stats`), the server-wide xmin is used.
    async fn settled_below(&self) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next, \
                    pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS server_xmin, \
                    COALESCE((SELECT string_agg(backend_xid::text, ',') FROM pg_stat_activity \
                              WHERE datname = current_database() AND backend_xid IS NOT NULL), '') AS running, \
                    EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() \
                            AND query = '<insufficient privilege>') AS hidden",
        )
        .fetch_one(&self.pool)
        .await?;
        let next: i64 = row.try_get("next")?;
        if row.try_get::<bool, _>("hidden")? {
            return Ok(row.try_get("server_xmin")?);
        }
        let running: String = row.try_get("running")?;
        let oldest =
            running.split(',').filter_map(|x| x.parse::<u32>().ok()).map(|x| widen_xid(x, next)).min().unwrap_or(next);
        Ok(oldest.min(next))
    }

    async fn log_page(&self, q: &LogQuery, settled_below: Option<i64>) -> Result<Vec<LogEvent>, StoreError> {
        let limit = i64::from(q.limit.clamp(1, 1000));
        let statement = if q.newest_first { LOG_NEWEST_FIRST } else { LOG_OLDEST_FIRST };
        let rows = sqlx::query(statement)
            .bind(q.actor.clone())
            .bind(q.action.clone())
            .bind(q.target_type.clone())
            .bind(q.target_id.clone())
            .bind(q.outcome.map(|o| o.as_str().to_string()))
            .bind(q.since_ms)
            .bind(q.until_ms)
            .bind(q.after.map(|c| c.tx))
            .bind(q.after.map(|c| c.seq))
            .bind(limit)
            .bind(settled_below)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let details: String = r.try_get("details")?;
                Ok(LogEvent {
                    seq: r.try_get("seq")?,
                    cursor: LogCursor { tx: r.try_get("tx")?, seq: r.try_get("seq")? },
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target_type: r.try_get("target_type")?,
                    target_id: r.try_get("target_id")?,
                    outcome: r.try_get("outcome")?,
                    details: serde_json::from_str(&details).unwrap_or(Value::Null),
                })
            })
            .collect()
    }
}

/// The 64-bit id of a running transaction known by its 32-bit `xid`, given
/// `next`, a 64-bit id taken at about the same time: the two are never more
/// than 2^31 apart, which PostgreSQL's wraparound protection guarantees.
fn widen_xid(xid: u32, next: i64) -> i64 {
    let offset = xid.wrapping_sub(next as u32) as i32;
    next + i64::from(offset)
}

#[cfg(test)]
mod tests {
    use super::widen_xid;

    #[test]
    fn a_32_bit_xid_widens_to_the_64_bit_id_nearest_the_next_one() {
        let epoch = 3_i64 << 32;
        assert_eq!(widen_xid(100, epoch + 150), epoch + 100);
        assert_eq!(widen_xid(160, epoch + 150), epoch + 160);
        // Across an epoch boundary, both ways.
        assert_eq!(widen_xid(u32::MAX - 5, epoch + 10), epoch - 6);
        assert_eq!(widen_xid(4, epoch - 2), epoch + 4);
    }
}
