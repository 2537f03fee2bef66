//! The typed errors the engine acts on, and how HTTP answers map to them.

pub use crate::wit::provisio::connector::types::{Conflict, ConnectorError, RateLimit};

pub type Result<T> = core::result::Result<T, ConnectorError>;

pub fn not_found(message: impl Into<String>) -> ConnectorError {
    ConnectorError::NotFound(message.into())
}
pub fn invalid_input(message: impl Into<String>) -> ConnectorError {
    ConnectorError::InvalidInput(message.into())
}
pub fn transient(message: impl Into<String>) -> ConnectorError {
    ConnectorError::Transient(message.into())
}
pub fn permanent(message: impl Into<String>) -> ConnectorError {
    ConnectorError::Permanent(message.into())
}
pub fn conflict(message: impl Into<String>, existing: Option<crate::Account>) -> ConnectorError {
    ConnectorError::Conflict(Conflict {
        message: message.into(),
        existing,
    })
}

/// Maps an HTTP answer that is not a success to the error the engine expects:
/// 401/403 unauthorized, 404 not found, 409 conflict, 429 rate limited (with
/// Retry-After), 400/422 invalid input, 408 and 5xx transient, others permanent.
pub fn from_status(response: &crate::http::Response, what: &str) -> ConnectorError {
    let status = response.status;
    let detail = response.error_detail();
    let message = if detail.is_empty() {
        format!("{what}: the application answered {status}")
    } else {
        format!("{what}: the application answered {status}: {detail}")
    };
    match status {
        401 | 403 => ConnectorError::Unauthorized(message),
        404 => ConnectorError::NotFound(message),
        409 => ConnectorError::Conflict(Conflict {
            message,
            existing: None,
        }),
        429 => ConnectorError::RateLimited(RateLimit {
            message,
            retry_after_ms: response.retry_after_ms(),
        }),
        400 | 422 => ConnectorError::InvalidInput(message),
        408 | 500..=599 => {
            if status == 503 && response.retry_after_ms().is_some() {
                ConnectorError::RateLimited(RateLimit {
                    message,
                    retry_after_ms: response.retry_after_ms(),
                })
            } else {
                ConnectorError::Transient(message)
            }
        }
        _ => ConnectorError::Permanent(message),
    }
}
