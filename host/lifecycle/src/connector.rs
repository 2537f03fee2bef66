//! How the engine reaches apps: a trait the runtime implements (the engine
//! knows nothing of WebAssembly), in the engine's terms: an account image in
//! JSON, and failures classified by what the executor should do next.

use std::future::Future;

use serde_json::{Map, Value};

use provisio_directory::App;

/// Account operations the engine may need an app's connector for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountOp {
    Create,
    Update,
    Deactivate,
    Reactivate,
    Delete,
    Lookup,
    /// Every account, page by page (the duplicate sweep).
    List,
}

/// One intent across its retries: the connector's idempotency key, and
/// when the host must have given the call up (the lease that covers it
/// ends; the runtime's own wall-time limit may end it sooner).
#[derive(Debug, Clone)]
pub struct CallId {
    pub operation_id: String,
    pub attempt: u32,
    pub deadline: Option<std::time::Instant>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Create {
        login: String,
        active: bool,
        attributes: Map<String, Value>,
    },
    /// Only the changed attributes (`None`: remove), with the whole desired
    /// image for connectors that replace.
    Update {
        id: String,
        changes: Map<String, Value>,
        removed: Vec<String>,
        desired: Map<String, Value>,
    },
    Deactivate {
        id: String,
    },
    Reactivate {
        id: String,
    },
    Delete {
        id: String,
    },
    Lookup {
        login: String,
    },
    /// One page of the app's accounts; `cursor` from the previous page.
    List {
        cursor: Option<String>,
    },
}

impl Call {
    pub fn op(&self) -> AccountOp {
        match self {
            Call::Create { .. } => AccountOp::Create,
            Call::Update { .. } => AccountOp::Update,
            Call::Deactivate { .. } => AccountOp::Deactivate,
            Call::Reactivate { .. } => AccountOp::Reactivate,
            Call::Delete { .. } => AccountOp::Delete,
            Call::Lookup { .. } => AccountOp::Lookup,
            Call::List { .. } => AccountOp::List,
        }
    }
}

/// An account as the app reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundAccount {
    pub id: String,
    pub active: Option<bool>,
    /// The Provisio user id the account carries in the connector's
    /// correlation attribute (see [`Connectors::correlation`]), if any.
    pub correlation: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Create, or an update that returns the account.
    Account(FoundAccount),
    Done,
    Found(Option<FoundAccount>),
    /// A page of accounts, and the cursor of the next (none: the last).
    Page {
        accounts: Vec<FoundAccount>,
        next: Option<String>,
    },
}

/// What a failure means for the executor.
#[derive(Debug, Clone, PartialEq)]
pub enum FailureKind {
    /// The app does not have it (an update or deactivation of a vanished
    /// account).
    NotFound,
    /// The login is taken; `existing` is the account holding it.
    Conflict { existing: Option<FoundAccount> },
    /// The app asked to slow down: pause the whole app until then.
    RateLimited { retry_after_ms: Option<u64> },
    /// Credentials refused: retried, counts towards quarantine.
    Unauthorized,
    /// The app refused the request as it is; retrying will not help.
    Rejected,
    /// The connector cannot do this.
    Unsupported,
    /// Worth retrying, and the app may or may not have acted (a 5xx, a
    /// dropped connection, a timeout, a trap).
    Transient,
    /// The host did not send the call (the lease covering it was about to
    /// end): the app cannot have acted on it.
    NotSent,
    /// Provisio itself failed (a key that cannot open the app's secrets, a
    /// connector this node lacks, a directory that did not answer, a host
    /// bug), not the app or its connector: retried with backoff, and never
    /// counted towards quarantining the app. The app may have acted if the
    /// fault came mid-call.
    HostFault,
}

impl FailureKind {
    /// Whether the app certainly did not carry the call out.
    pub fn refused(&self) -> bool {
        !matches!(self, FailureKind::Transient | FailureKind::NotFound | FailureKind::HostFault)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct CallFailure {
    pub kind: FailureKind,
    pub message: String,
}

/// The connectors, as the engine sees them.
pub trait Connectors: Send + Sync + 'static {
    /// Whether the app's connector supports an operation.
    fn supports(&self, app: &App, op: AccountOp) -> bool;

    /// The account attribute in which the app's connector stores Provisio's
    /// user id, so that an account found by login is recognised as this
    /// user's (or someone else's); `None` when the connector cannot store one.
    fn correlation(&self, app: &App) -> Option<String>;

    fn call(&self, app: &App, id: CallId, call: Call) -> impl Future<Output = Result<Reply, CallFailure>> + Send;

    /// Whether this node can run the app's connector version (loading it
    /// first if another node installed it). A node that cannot leaves the
    /// app's work to the nodes that can, instead of failing it.
    fn runs_here(&self, _app: &App) -> impl Future<Output = bool> + Send {
        async { true }
    }

    /// Bumped when an app's configuration changes on this node: an app read
    /// under an older value is read again, so an edit (a rotated
    /// credential) takes effect for the next call, not after a cache's time.
    fn apps_epoch(&self) -> u64 {
        0
    }
}
