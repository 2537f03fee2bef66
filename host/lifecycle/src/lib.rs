//! The lifecycle engine: user transitions, the desired state of every app
//! account (from assignments, status, policy and CEL mappings), plans and the
//! mass-change guard, and the executor that converges apps through
//! connectors. It knows neither HTTP nor WebAssembly: it reaches apps through
//! [`Connectors`], which the runtime implements. See docs/lifecycle.md.

mod change;
mod connector;
mod drift;
mod duplicates;
mod engine;
mod error;
mod executor;
mod fail_point;
mod leases;
mod mapping;
mod policy;

pub use change::{Change, Transition};
pub use connector::{AccountOp, Call, CallFailure, CallId, Connectors, FailureKind, FoundAccount, Reply};
pub use drift::{Checked, Drift};
pub use duplicates::{DuplicateSweep, Swept};
pub use engine::{AppEffect, Engine, Mode, Outcome, PlannedChange, PlannedOp, SweepReport};
pub use error::EngineError;
pub use executor::{Executor, ExecutorConfig, MIN_LEASE};
pub use fail_point::Paused;
pub use mapping::{AccountImage, MappingError, MappingSpec, Mappings};
pub use policy::{Deprovision, Guard, OnSuspend, Policy, desired_state};
