//! The management API's wire format, in one place: every request body and
//! every answer the server sends, the types the CLI reads them back into,
//! and the schemas of the OpenAPI document. A change to the wire format is
//! a change here, and so a compile error in every user of it.
//!
//! One convention, Okta's, holds everywhere:
//! - field names are camelCase; times are RFC 3339 strings (UTC, ms);
//! - a list is a JSON array, paged by `after` (the last id or cursor seen)
//!   and `limit` (1-1000, anything else is refused with 400 naming it),
//!   with a `Link: <…>; rel="next"` header while there may be more;
//! - an object the URL names that does not exist is 404 `not-found`,
//!   including one named by a path segment of an assignment or membership;
//! - every error is [`Error`], its `errorSummary` naming the offending
//!   parameter or field.
//!
//! The types own no logic beyond (de)serialization: the server builds them
//! from the directory's and the engine's own types.

pub mod accounts;
pub mod admins;
pub mod apps;
pub mod connectors;
pub mod error;
pub mod groups;
pub mod hooks;
pub mod logs;
pub mod plans;
pub mod status;
pub mod users;
pub mod work;

pub use accounts::*;
pub use admins::*;
pub use apps::*;
pub use connectors::*;
pub use error::*;
pub use groups::*;
pub use hooks::*;
pub use logs::*;
pub use plans::*;
pub use status::*;
pub use users::*;
pub use work::*;

/// The largest page a list answers, and the default.
pub const MAX_LIMIT: u32 = 1000;
pub const DEFAULT_LIMIT: u32 = 200;

/// A JSON object of attributes (a profile, settings, an account image).
pub type Attributes = serde_json::Map<String, serde_json::Value>;
