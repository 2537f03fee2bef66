//! App accounts, their sync state, and the errors that wait for an admin.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Attributes;

/// Where an account's last change stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SyncState {
    /// The app holds what the directory wants.
    Synced,
    /// A change waits to be pushed.
    Pending,
    /// A push failed and will be tried again by itself.
    Retrying,
    /// A push failed and waits for an admin.
    Error,
    /// A create may have reached the app and Provisio cannot tell: check
    /// the app, then resolve it.
    OutcomeUnknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub user_id: String,
    /// The user's login in the directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    /// The account's id in the app.
    pub external_id: Option<String>,
    pub sync_state: SyncState,
    pub desired_state: crate::AccountState,
    pub pushed_state: crate::AccountState,
    /// The attributes the app should hold.
    #[schema(value_type = Object)]
    pub desired: Attributes,
    /// The attributes last pushed.
    #[schema(value_type = Object)]
    pub pushed: Attributes,
    pub attempts: i64,
    pub next_attempt: Option<String>,
    pub last_error: Option<String>,
}

/// What the admin found in the app for a create in doubt: exactly one.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResolveBody {
    /// The app's id of the account the create made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// `true`: the app holds no account for this user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absent: Option<bool>,
}

/// An account whose stored desire is not what the directory implies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    pub user_id: String,
    /// The state the directory holds for the account.
    pub stored: crate::AccountState,
    /// The state the user's status and assignments imply.
    pub implied: crate::AccountState,
    pub profile_differs: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Consistency {
    pub app_id: String,
    /// How many accounts were checked.
    pub accounts: u64,
    pub drift: Vec<Drift>,
}

/// A provisioning error that waits for an admin (or a retry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningError {
    pub app_id: String,
    pub user_id: String,
    /// The user's login in the directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    pub error: String,
    pub attempts: i64,
    /// When it is tried again; null when it waits for an admin.
    pub next_attempt: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Retried {
    pub retried: u64,
}
