//! What can go wrong in a connector call, and who is to blame for it.

use serde::Serialize;

use crate::limits::LimitKind;
use crate::model::ConnectorError;

/// Who caused a failure: the connector's code, Provisio itself, or the
/// application the connector talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Blame {
    Guest,
    Host,
    RemoteApp,
}

impl std::fmt::Display for Blame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Blame::Guest => "guest",
            Blame::Host => "host",
            Blame::RemoteApp => "remote-app",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum CallError {
    /// The connector answered with a typed error. The blame is the guest's
    /// when the host had refused one of its requests during the call (a
    /// denied host, a misused secret, too many requests), else the app's.
    #[error("{error}")]
    Connector { error: ConnectorError, blame: Blame },
    /// The operation hit one of the app's limits and was stopped.
    #[error("{connector} exceeded its {limit} limit: {message}")]
    Limit { connector: String, limit: LimitKind, message: String, blame: Blame, guest_output: String },
    /// The guest trapped (a panic, an abort, an invalid operation).
    #[error("{connector} trapped: {message}")]
    Trap { connector: String, message: String, guest_output: String },
    /// The guest returned something the host does not take (an id over its
    /// limit, a NUL in a value): the call may have changed the app, but its
    /// answer is not used.
    #[error("{connector} returned an answer the host does not take: {message}")]
    InvalidOutput { connector: String, message: String },
    /// Provisio failed; the connector is not at fault.
    #[error("host error: {message}")]
    Host { message: String },
}

impl CallError {
    pub fn blame(&self) -> Blame {
        match self {
            CallError::Connector { blame, .. } => *blame,
            CallError::Limit { blame, .. } => *blame,
            CallError::Trap { .. } | CallError::InvalidOutput { .. } => Blame::Guest,
            CallError::Host { .. } => Blame::Host,
        }
    }

    /// A short outcome label for traces and metrics.
    /// The same error with every message passed through `scrub` (to remove
    /// secret values an app or a guest echoed).
    pub(crate) fn redacted(self, scrub: &dyn Fn(&str) -> String) -> CallError {
        match self {
            CallError::Connector { error, blame } => CallError::Connector { error: error.redacted(scrub), blame },
            CallError::Limit { connector, limit, message, blame, guest_output } => CallError::Limit {
                connector,
                limit,
                message: scrub(&message),
                blame,
                guest_output: scrub(&guest_output),
            },
            CallError::Trap { connector, message, guest_output } => {
                CallError::Trap { connector, message: scrub(&message), guest_output: scrub(&guest_output) }
            }
            CallError::InvalidOutput { connector, message } => {
                CallError::InvalidOutput { connector, message: scrub(&message) }
            }
            CallError::Host { message } => CallError::Host { message: scrub(&message) },
        }
    }

    /// The connector's typed error, if that is what this is.
    pub fn connector_error(&self) -> Option<&ConnectorError> {
        match self {
            CallError::Connector { error, .. } => Some(error),
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Connector { error, .. } => match error {
                ConnectorError::NotFound { .. } => "not-found",
                ConnectorError::Conflict { .. } => "conflict",
                ConnectorError::RateLimited { .. } => "rate-limited",
                ConnectorError::Unauthorized { .. } => "unauthorized",
                ConnectorError::InvalidInput { .. } => "invalid-input",
                ConnectorError::Transient { .. } => "transient",
                ConnectorError::Permanent { .. } => "permanent",
                ConnectorError::Unsupported { .. } => "unsupported",
            },
            CallError::Limit { .. } => "limit",
            CallError::Trap { .. } => "trap",
            CallError::InvalidOutput { .. } => "invalid-output",
            CallError::Host { .. } => "host-error",
        }
    }
}
