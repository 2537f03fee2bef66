//! Apps, their configuration, mappings and assignments. Credentials go in
//! and never come out: an app shows only whether it has any.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::Attributes;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct App {
    pub id: String,
    pub name: String,
    /// `name@version` of the connector it runs.
    pub connector: String,
    pub connector_pinned: bool,
    /// `name@version` it ran before its last change of version.
    pub previous_connector: Option<String>,
    pub status: crate::AppStatus,
    pub quarantine_reason: Option<String>,
    pub paused_until: Option<String>,
    #[schema(value_type = Object)]
    pub settings: Value,
    pub has_credentials: bool,
    pub grants: Vec<String>,
    /// Credential name → the origins it may be sent to.
    pub credential_origins: BTreeMap<String, Vec<String>>,
    #[schema(value_type = Object)]
    pub mappings: Value,
    #[schema(value_type = Object)]
    pub policy: Value,
    /// Set once the app is deleted: it goes when its accounts are settled.
    pub retiring_since: Option<String>,
    /// For an app being deleted: the accounts that still keep it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsettled_accounts: Option<i64>,
    pub created: String,
    pub last_updated: String,
}

/// An app to create on an installed connector.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewApp {
    pub name: String,
    /// `name@version` of an installed connector.
    pub connector: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub settings: Attributes,
    /// Credential name → `{ "scheme": "bearer", "token": … }` and the like.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub credentials: Attributes,
    #[serde(default)]
    pub grants: Vec<String>,
    /// Credential name → the origins it may be sent to, each within those the
    /// connector binds it to. Left out: the origins bound exactly (the base
    /// URL's); a connector that binds a credential to a wildcard needs it.
    #[serde(default)]
    pub credential_origins: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub mappings: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub policy: Option<Value>,
}

/// What to change of an app; each part left out is kept as it is.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AppPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Merged into the settings as a JSON merge patch (RFC 7396): a key
    /// set to null is removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Attributes>,
    /// Credential name → its new value, which replaces the old one whole
    /// (the old one cannot be read back); null removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub credentials: Option<Attributes>,
    /// Replaces the grants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grants: Option<Vec<String>>,
    /// Credential name → the origins it may go to; null returns it to the
    /// connector's binding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub credential_origins: Option<Attributes>,
}

/// A deleted app that still has accounts to deprovision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Retiring {
    pub retiring: bool,
    pub deleted: bool,
}

/// The answer of a connection test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CheckResult {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the app would receive for a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccountImage {
    pub login: String,
    #[schema(value_type = Object)]
    pub attributes: Attributes,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MappingPreviewBody {
    pub user_id: String,
    /// Mappings to try instead of the app's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub mappings: Option<Value>,
}

/// The app's mappings after a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MappingsSet {
    #[schema(value_type = Object)]
    pub mappings: Value,
}

/// The app's policy after a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PolicySet {
    #[schema(value_type = Object)]
    pub policy: Value,
}

/// How a user comes to be assigned to an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Scope {
    /// Assigned directly (and maybe through a group too).
    User,
    /// Only through one or more groups.
    Group,
}

/// A user assigned to an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppUser {
    /// The user's id.
    pub id: String,
    /// The user's login in the directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    pub scope: Scope,
}

/// A group assigned to an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupAssignment {
    pub group_id: String,
    /// The group's name.
    pub name: String,
    /// Lower wins when groups would give an app different values.
    pub priority: i64,
    pub assigned: String,
}
