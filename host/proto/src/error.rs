//! The one shape of every error answer.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A coded, readable error: `errorCode` is stable for programs,
/// `errorSummary` says what was wrong and how to fix it, `errorId` finds
/// the request in the server's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Error {
    /// e.g. `invalid`, `not-found`, `conflict`, `unauthorized`, `forbidden`.
    pub error_code: String,
    pub error_summary: String,
    pub error_id: String,
}
