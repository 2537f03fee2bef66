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
    /// Events after this cursor (paging).
    pub after: Option<LogCursor>,
    pub limit: u32,
}

/// The event hooks can subscribe to.
pub const HOOK_EVENTS: [&str; 5] =
    ["user.deprovisioned", "task.created", "plan.held", "app.quarantined", "provisioning.error"];

/// The hook event a system-log event is, if any.
fn hook_event(e: &NewLogEvent) -> Option<&'static str> {
    let status = e.details.get("status").and_then(Value::as_str);
    match (e.action.as_str(), status) {
        ("user.status", Some("deprovisioned")) => Some("user.deprovisioned"),
        ("task.create", _) => Some("task.created"),
        ("plan.hold", _) => Some("plan.held"),
        ("app.status", Some("quarantined")) => Some("app.quarantined"),
        ("account.error", _) => Some("provisioning.error"),
        _ => None,
    }
}

pub(crate) async fn append(conn: &mut AnyConnection, at: i64, e: &NewLogEvent) -> Result<(), StoreError> {
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

/// The log's query; `$settled` narrows it to what a reader may page past.
macro_rules! log_query {
    ($settled:literal) => {
        concat!(
            "SELECT seq, tx, id, at, actor, action, target_type, target_id, outcome, details FROM system_log \
             WHERE ($1 IS NULL OR actor = $1) AND ($2 IS NULL OR action = $2) \
               AND ($3 IS NULL OR target_type = $3) AND ($4 IS NULL OR target_id = $4) \
               AND ($5 IS NULL OR outcome = $5) AND ($6 IS NULL OR at >= $6) AND ($7 IS NULL OR at < $7) \
               AND ($8 IS NULL OR (tx, seq) > ($8, $9)) ",
            $settled,
            " ORDER BY tx, seq LIMIT $10"
        )
    };
}

impl Store {
    /// Appends an event on its own (for events that record no other change,
    /// such as a call to an app).
    pub async fn append_log(&self, event: &NewLogEvent) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        append(&mut conn, self.now_ms(), event).await
    }

    /// Events in order of cursor, filtered.
    ///
    /// On PostgreSQL only the events of transactions older than every
    /// transaction still running are returned: an event that commits later
    /// then always has a later cursor than any already returned, so a
    /// consumer that pages on never skips one. The price is that a
    /// long-running write (on the same PostgreSQL server, even in another
    /// database) holds back the events written after it began: a short page
    /// waits up to `HELD_BACK_WAIT` for such writes to end, then answers what
    /// is settled, so that a reader sees its own writes in the common case.
    pub async fn log(&self, q: &LogQuery) -> Result<Vec<LogEvent>, StoreError> {
        let deadline = tokio::time::Instant::now() + HELD_BACK_WAIT;
        let mut pause = std::time::Duration::from_millis(2);
        loop {
            let page = self.log_page(q).await?;
            let short = page.len() < q.limit.clamp(1, 1000) as usize;
            if self.backend() == Backend::Sqlite || !short || tokio::time::Instant::now() >= deadline {
                return Ok(page);
            }
            let held_back = sqlx::query(
                "SELECT 1 FROM system_log WHERE tx >= pg_snapshot_xmin(pg_current_snapshot())::text::bigint LIMIT 1",
            )
            .fetch_optional(&self.pool)
            .await?;
            if held_back.is_none() {
                return Ok(page);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_millis(100));
        }
    }

    async fn log_page(&self, q: &LogQuery) -> Result<Vec<LogEvent>, StoreError> {
        let limit = i64::from(q.limit.clamp(1, 1000));
        let sql = match self.backend() {
            Backend::Postgres => log_query!("AND tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint"),
            Backend::Sqlite => log_query!(""),
        };
        let rows = sqlx::query(sql)
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
