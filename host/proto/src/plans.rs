//! What a change does to the apps (its effects), a change previewed, a
//! change held as a plan by the mass-change guard, and the work queue.
//! The engine computes effects in these very types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlannedOp {
    Create,
    Update,
    Deactivate,
    Reactivate,
    Delete,
    /// A create not yet made is withdrawn: the app never held the account,
    /// so nothing happens there (and the guard does not count it).
    Cancel,
}

impl PlannedOp {
    pub fn name(self) -> &'static str {
        match self {
            PlannedOp::Create => "create",
            PlannedOp::Update => "update",
            PlannedOp::Deactivate => "deactivate",
            PlannedOp::Reactivate => "reactivate",
            PlannedOp::Delete => "delete",
            PlannedOp::Cancel => "cancel",
        }
    }
}

/// One account's planned operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlannedChange {
    // Plans held before the wire format was one said `user_id`.
    #[serde(alias = "user_id")]
    pub user_id: String,
    /// The user's login, in a plan's answer (`GET /plans/{id}`), so an
    /// admin sees who a change reaches before approving it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    pub op: PlannedOp,
    /// For an update: the attributes that change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<String>,
}

/// What a change does to one app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppEffect {
    #[serde(alias = "app_id")]
    pub app_id: String,
    /// The app's name when the change was planned (empty in plans stored
    /// before names were recorded).
    #[serde(default)]
    pub name: String,
    /// Accounts the app holds (the guard's base); -1 when not counted (a
    /// change the guard does not look at).
    pub accounts: i64,
    /// Operation → how many.
    pub counts: BTreeMap<String, u64>,
    #[serde(default)]
    pub changes: Vec<PlannedChange>,
}

/// A change's answer with `?preview=true`: what it would do, done nowhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    /// Always true: tells a preview from the change's own answer.
    pub preview: bool,
    /// Whether applying it would hold it for approval.
    pub would_be_held: bool,
    pub effects: Vec<AppEffect>,
}

/// A change over the mass-change guard (202): held, to approve or reject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Held {
    pub held: bool,
    pub plan: Plan,
    pub error_summary: String,
}

/// A change held by the mass-change guard, and its decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub id: String,
    /// The kind of change, e.g. `assign_group`, `bulk_lifecycle`.
    pub kind: String,
    pub status: crate::PlanStatus,
    /// Per app: its accounts and the operations by kind.
    pub summary: Vec<AppEffect>,
    /// Per app: each account's operation.
    pub operations: Vec<AppEffect>,
    /// The directory change it applies on approval.
    #[schema(value_type = Object)]
    pub change: Value,
    pub created_by: String,
    pub created: String,
    pub decided_by: Option<String>,
    pub decided: Option<String>,
}

/// An approved plan and what applying it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Approved {
    pub plan: Plan,
    pub effects: Vec<AppEffect>,
}

/// How many app accounts wait for a change to be pushed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Work {
    pub pending: i64,
    /// Of those, the ones that wait for an admin.
    pub waiting_for_admin: i64,
    pub apps: Vec<AppWork>,
}

/// One app's share of the work queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppWork {
    pub app_id: String,
    pub name: String,
    pub status: crate::AppStatus,
    /// Why it is quarantined, if it is.
    pub reason: Option<String>,
    pub pending: i64,
    /// Errors not retried by themselves, or all of them when the app is
    /// quarantined or paused.
    pub waiting_for_admin: i64,
}
