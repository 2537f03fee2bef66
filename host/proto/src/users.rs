//! Users, as Okta shows them: the login inside the profile.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Attributes;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub status: crate::UserStatus,
    pub created: String,
    pub last_updated: String,
    pub status_changed: String,
    /// Bumped on every change.
    pub version: i64,
    /// `login` and every other attribute.
    #[schema(value_type = Object)]
    pub profile: Attributes,
}

impl User {
    pub fn login(&self) -> &str {
        self.profile.get("login").and_then(|v| v.as_str()).unwrap_or_default()
    }
}

/// A user to create, or the profile to merge or replace.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    /// The login and any other attributes.
    #[schema(value_type = Object)]
    pub profile: Attributes,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BulkLifecycleBody {
    /// 1-10,000 user ids.
    pub user_ids: Vec<String>,
}

/// What a bulk lifecycle operation did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BulkResult {
    /// How many users it changed.
    pub users: u64,
}

/// An app a user has, and every reason they have it: so an operator can
/// answer "why does this person have this app".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserApp {
    /// The app's id.
    pub id: String,
    pub name: String,
    /// Assigned to the user themself.
    pub direct: bool,
    /// The groups that bring the app, the one whose values win first
    /// (lowest priority).
    pub through: Vec<GroupRef>,
}

/// A group named where it is the reason for something.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupRef {
    pub id: String,
    pub name: String,
    /// The group's priority on the app (lower wins).
    pub priority: i64,
}
