//! The system log: what was done and tried, by whom, to what.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One system-log event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogEvent {
    /// The event's number: unique, increasing in the order events were written.
    pub seq: i64,
    /// Where to page on from (`after`).
    pub cursor: String,
    pub uuid: String,
    /// When it happened (RFC 3339).
    pub published: String,
    /// The admin (login) or process that acted; `anonymous` for a call
    /// refused before any admin was known.
    pub actor: String,
    /// `<object>[.<part>].<verb>`, e.g. `user.lifecycle.deactivate`.
    pub event_type: String,
    pub target: LogTarget,
    /// `success` or `failure`.
    pub outcome: String,
    /// What changed (old and new values), or why it failed.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogTarget {
    /// e.g. `user`, `group`, `app`, `admin`, `token`, `plan`, `api`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}
