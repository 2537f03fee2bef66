//! Manual deprovisioning tasks, and the nodes that run Provisio.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a human must do in an app whose connector cannot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub id: String,
    pub app_id: String,
    pub user_id: String,
    pub login: String,
    /// deactivate, delete or reactivate.
    pub action: String,
    pub status: crate::TaskStatus,
    pub created: String,
    pub closed: Option<String>,
    pub closed_by: Option<String>,
}

/// One run of `provisio serve` on this directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    pub id: String,
    /// The node's name (host and process).
    pub node: String,
    pub version: String,
    pub listen: String,
    pub live: bool,
    pub started: String,
    pub last_heartbeat: String,
    pub stopped: Option<String>,
    /// App accounts whose lease it holds.
    pub accounts_held: i64,
    /// The cluster-wide duties it runs.
    pub singletons: Vec<String>,
}
