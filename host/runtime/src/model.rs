//! The host's own view of what crosses the connector boundary, independent of
//! any one WIT version: every supported version's bindings convert to and from
//! these types, so the engine is written once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scalar {
    Boolean(bool),
    Integer(i64),
    Number(f64),
    Text(String),
    Binary(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    Single(Scalar),
    Multi(Vec<Scalar>),
    Complex(BTreeMap<String, Scalar>),
    MultiComplex(Vec<BTreeMap<String, Scalar>>),
}

impl Value {
    pub fn text(s: impl Into<String>) -> Value {
        Value::Single(Scalar::Text(s.into()))
    }
    pub fn boolean(b: bool) -> Value {
        Value::Single(Scalar::Boolean(b))
    }
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Single(Scalar::Text(s)) => Some(s),
            _ => None,
        }
    }
}

/// Attributes in the application's own names.
pub type Profile = BTreeMap<String, Value>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub login: Option<String>,
    pub active: Option<bool>,
    pub profile: Profile,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAccount {
    pub login: String,
    pub active: bool,
    pub profile: Profile,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AccountKey {
    Id(String),
    Login(String),
}

/// `None` removes the attribute.
pub type Changes = BTreeMap<String, Option<Value>>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub members: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewGroup {
    pub name: String,
    pub description: Option<String>,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListRequest {
    pub cursor: Option<String>,
    pub since: Option<String>,
    pub page_size: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub deleted: Vec<String>,
    pub next_cursor: Option<String>,
    pub watermark: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Authentication {
    Accepted(Option<Account>),
    Rejected(String),
}

/// The typed error a connector returns; the engine decides retry, link, fail or
/// pause from its kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ConnectorError {
    #[error("not found: {message}")]
    NotFound { message: String },
    #[error("conflict: {message}")]
    Conflict { message: String, existing: Option<Account> },
    #[error("rate limited: {message}")]
    RateLimited { message: String, retry_after_ms: Option<u64> },
    #[error("unauthorized: {message}")]
    Unauthorized { message: String },
    #[error("invalid input: {message}")]
    InvalidInput { message: String },
    #[error("transient: {message}")]
    Transient { message: String },
    #[error("permanent: {message}")]
    Permanent { message: String },
    #[error("unsupported: {message}")]
    Unsupported { message: String },
}

impl ConnectorError {
    pub(crate) fn redacted(self, scrub: &dyn Fn(&str) -> String) -> ConnectorError {
        use ConnectorError as E;
        match self {
            E::NotFound { message } => E::NotFound { message: scrub(&message) },
            E::Conflict { message, existing } => E::Conflict { message: scrub(&message), existing },
            E::RateLimited { message, retry_after_ms } => E::RateLimited { message: scrub(&message), retry_after_ms },
            E::Unauthorized { message } => E::Unauthorized { message: scrub(&message) },
            E::InvalidInput { message } => E::InvalidInput { message: scrub(&message) },
            E::Transient { message } => E::Transient { message: scrub(&message) },
            E::Permanent { message } => E::Permanent { message: scrub(&message) },
            E::Unsupported { message } => E::Unsupported { message: scrub(&message) },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    /// `describe()`: host-side only, not an operation a connector lists.
    Describe,
    Check,
    CreateUser,
    UpdateUser,
    DeactivateUser,
    ReactivateUser,
    DeleteUser,
    GetUser,
    ListUsers,
    ListUsersIncremental,
    ListGroups,
    CreateGroup,
    UpdateGroup,
    DeleteGroup,
    AddMembers,
    RemoveMembers,
    SetPassword,
    Authenticate,
}

impl Operation {
    pub fn name(self) -> &'static str {
        match self {
            Operation::Describe => "describe",
            Operation::Check => "check",
            Operation::CreateUser => "create-user",
            Operation::UpdateUser => "update-user",
            Operation::DeactivateUser => "deactivate-user",
            Operation::ReactivateUser => "reactivate-user",
            Operation::DeleteUser => "delete-user",
            Operation::GetUser => "get-user",
            Operation::ListUsers => "list-users",
            Operation::ListUsersIncremental => "list-users-incremental",
            Operation::ListGroups => "list-groups",
            Operation::CreateGroup => "create-group",
            Operation::UpdateGroup => "update-group",
            Operation::DeleteGroup => "delete-group",
            Operation::AddMembers => "add-members",
            Operation::RemoveMembers => "remove-members",
            Operation::SetPassword => "set-password",
            Operation::Authenticate => "authenticate",
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ValueType {
    Boolean,
    Integer,
    Number,
    Text,
    Binary,
    Datetime,
    Reference,
    Complex,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributeSchema {
    pub name: String,
    pub value_type: ValueType,
    pub multi_valued: bool,
    pub required: bool,
    pub description: String,
    pub sub_attributes: Vec<AttributeSchema>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingSchema {
    pub name: String,
    pub setting_type: crate::manifest::SettingType,
    pub required: bool,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Descriptor {
    pub name: String,
    pub version: String,
    pub operations: Vec<Operation>,
    pub settings: Vec<SettingSchema>,
    pub credentials: Vec<String>,
    pub profile: Vec<AttributeSchema>,
}
