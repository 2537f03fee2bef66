//! Provisio's connector runtime: runs connector components in wasmtime with
//! per-app limits, an outbound allow-list, and secrets that never enter the
//! guest. The lifecycle engine calls connectors only through [`App`].

mod bindings;
pub mod bounds;
mod configure;
pub mod error;
mod http;
pub mod limits;
pub mod manifest;
pub mod model;
mod operations;
pub mod outbound;
pub mod package;
mod runtime;
pub mod secrets;
mod settings;
mod state;
mod trace;
mod traps;
mod v0_1;
mod wall_time;

pub use bindings::supported_range;
pub use configure::credential_origins;
pub use error::{Blame, CallError};
pub use limits::{LimitKind, Limits};
pub use manifest::Manifest;
pub use runtime::{
    App, AppConfig, CallContext, CallReport, ConfigError, Connector, InstallError, Invocation, Runtime, RuntimeConfig,
};
pub use secrets::{CredentialSecret, SecretString};
pub use state::{LogLevel, LogLine};
