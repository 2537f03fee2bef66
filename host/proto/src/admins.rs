//! Admins, their roles, and their API tokens.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Admin {
    /// Absent for the bootstrap admin, which is not stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub login: String,
    /// super-admin, app-admin, group-admin or read-only.
    pub role: String,
    /// A deactivated admin's tokens stop working.
    pub status: crate::AdminStatus,
    /// The groups a group admin manages.
    pub groups: Vec<String>,
    /// Absent for the bootstrap admin, which is not stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
}

/// An admin to create.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAdmin {
    pub login: String,
    /// super-admin, app-admin, group-admin or read-only.
    pub role: String,
    /// The groups a group admin manages.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// An admin's new role (and groups, for a group admin).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminRole {
    pub role: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// A token to issue.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewToken {
    pub name: String,
    /// When the token stops working (RFC 3339); never, if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// An API token, without its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    pub id: String,
    pub admin_id: String,
    pub name: String,
    /// The token's first characters, to tell tokens apart; never enough to use.
    pub prefix: String,
    pub created: String,
    pub expires_at: Option<String>,
    pub last_used: Option<String>,
    pub revoked: Option<String>,
}

/// A token just issued: its value is in this answer and nowhere else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuedToken {
    #[serde(flatten)]
    pub token: Token,
    /// Present it as `Authorization: SSWS <token>`.
    #[serde(rename = "token")]
    pub value: String,
}
