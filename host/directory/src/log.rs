//! The system log: every change and every call to an app, append-only,
//! written in the same transaction as the change it records.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{AnyConnection, Row};

use crate::error::StoreError;
use crate::store::{Store, new_id};

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

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEvent {
    /// Position in the log: increasing, for paging.
    pub seq: i64,
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
    /// Events after this position (paging).
    pub after_seq: Option<i64>,
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

impl Store {
    /// Appends an event on its own (for events that record no other change,
    /// such as a call to an app).
    pub async fn append_log(&self, event: &NewLogEvent) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        append(&mut conn, self.now_ms(), event).await
    }

    /// Events in order of position, filtered.
    pub async fn log(&self, q: &LogQuery) -> Result<Vec<LogEvent>, StoreError> {
        let limit = i64::from(q.limit.clamp(1, 1000));
        let rows = sqlx::query(
            "SELECT seq, id, at, actor, action, target_type, target_id, outcome, details FROM system_log \
             WHERE ($1 IS NULL OR actor = $1) AND ($2 IS NULL OR action = $2) \
               AND ($3 IS NULL OR target_type = $3) AND ($4 IS NULL OR target_id = $4) \
               AND ($5 IS NULL OR outcome = $5) AND ($6 IS NULL OR at >= $6) AND ($7 IS NULL OR at < $7) \
               AND ($8 IS NULL OR seq > $8) \
             ORDER BY seq LIMIT $9",
        )
        .bind(q.actor.clone())
        .bind(q.action.clone())
        .bind(q.target_type.clone())
        .bind(q.target_id.clone())
        .bind(q.outcome.map(|o| o.as_str().to_string()))
        .bind(q.since_ms)
        .bind(q.until_ms)
        .bind(q.after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let details: String = r.try_get("details")?;
                Ok(LogEvent {
                    seq: r.try_get("seq")?,
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
