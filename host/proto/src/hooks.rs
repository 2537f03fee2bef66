//! Event hooks and their deliveries.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Hook {
    pub id: String,
    pub name: String,
    pub url: String,
    /// System-log event types the hook hears.
    pub events: Vec<String>,
    pub status: crate::HookStatus,
    pub created: String,
    pub last_updated: String,
}

/// A hook to register.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHook {
    pub name: String,
    /// Where events are POSTed (http or https).
    pub url: String,
    /// Any of user.lifecycle.deactivate, task.create, plan.hold,
    /// app.lifecycle.quarantine, account.fail.
    pub events: Vec<String>,
}

/// A hook just registered: its signing secret is in this answer only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedHook {
    #[serde(flatten)]
    pub hook: Hook,
    pub secret: String,
    /// How a receiver checks the signature.
    pub verify: String,
    /// The events a hook may hear.
    pub known_events: Vec<String>,
}

/// One event's delivery to a hook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub id: String,
    /// The system-log event delivered.
    pub event_id: String,
    pub event_type: String,
    pub status: crate::DeliveryStatus,
    pub attempts: i64,
    pub next_attempt: Option<String>,
    /// The receiver's last HTTP status.
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created: String,
    pub delivered: Option<String>,
}
