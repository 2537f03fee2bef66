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
pub fn unsupported(message: impl Into<String>) -> ConnectorError {
    ConnectorError::Unsupported(message.into())
}
pub fn conflict(message: impl Into<String>, existing: Option<crate::Account>) -> ConnectorError {
    ConnectorError::Conflict(Conflict { message: message.into(), existing })
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
        409 => ConnectorError::Conflict(Conflict { message, existing: None }),
        429 => ConnectorError::RateLimited(RateLimit { message, retry_after_ms: response.retry_after_ms() }),
        400 | 422 => ConnectorError::InvalidInput(message),
        408 | 500..=599 => {
            if status == 503 && response.retry_after_ms().is_some() {
                ConnectorError::RateLimited(RateLimit { message, retry_after_ms: response.retry_after_ms() })
            } else {
                ConnectorError::Transient(message)
            }
        }
        _ => ConnectorError::Permanent(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Response;

    fn answer(status: u16, headers: &[(&str, &str)]) -> Response {
        Response {
            status,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: b"detail".to_vec(),
        }
    }

    #[test]
    fn http_answers_map_to_the_errors_the_engine_acts_on() {
        let kind = |status, headers: &[(&str, &str)]| from_status(&answer(status, headers), "op");
        assert!(matches!(kind(401, &[]), ConnectorError::Unauthorized(_)));
        assert!(matches!(kind(403, &[]), ConnectorError::Unauthorized(_)));
        assert!(matches!(kind(404, &[]), ConnectorError::NotFound(_)));
        assert!(matches!(kind(409, &[]), ConnectorError::Conflict(_)));
        assert!(matches!(kind(400, &[]), ConnectorError::InvalidInput(_)));
        assert!(matches!(kind(422, &[]), ConnectorError::InvalidInput(_)));
        assert!(matches!(kind(500, &[]), ConnectorError::Transient(_)));
        assert!(matches!(kind(502, &[]), ConnectorError::Transient(_)));
        assert!(matches!(kind(405, &[]), ConnectorError::Permanent(_)));
        match kind(429, &[("Retry-After", "12")]) {
            ConnectorError::RateLimited(r) => assert_eq!(r.retry_after_ms, Some(12_000)),
            other => panic!("{other:?}"),
        }
        match kind(503, &[("retry-after", "3")]) {
            ConnectorError::RateLimited(r) => assert_eq!(r.retry_after_ms, Some(3_000)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_message_names_the_operation_the_status_and_the_apps_words() {
        let e = from_status(&answer(500, &[]), "create user");
        assert!(matches!(&e, ConnectorError::Transient(m) if m == "create user: the application answered 500: detail"));
    }
}
