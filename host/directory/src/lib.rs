//! The directory store: who works here and what they were given, on SQLite
//! (embedded default, WAL) or PostgreSQL, through one interface. Every change
//! writes its system-log event in the same transaction: all or nothing.
//! The design is in docs/design/directory.md.

#[macro_use]
mod accounts;
mod admins;
mod app_edits;
mod apps;
mod bulk;
mod clock;
mod error;
mod groups;
mod hooks;
mod levels;
mod locks;
mod log;
mod logins;
mod nodes;
mod packages;
mod plans;
mod sealing;
mod search;
mod singletons;
mod store;
mod tasks;
mod tx;
mod users;
mod work;

pub use accounts::{AccountState, AppAccount, AppWork, Lease, ProvisioningError, Pushed, Resolution};
pub use admins::{Admin, ApiToken, Authenticated, IssuedToken, Role, token_hash};
pub use app_edits::{AppConfigEdit, Retirement};
pub use apps::{App, AppGrant, GroupAssignment, NewApp};
pub use clock::{Clock, FixedClock, SystemClock, format_time, parse_time};
pub use error::StoreError;
pub use groups::Group;
pub use hooks::{Attempt as DeliveryAttempt, Delivery, Hook};
pub use levels::{Levels, with_request_id};
pub use locks::Touches;
pub use log::{EVENT_TYPES, HOOK_EVENTS, LogCursor, LogEvent, LogQuery, NewLogEvent, Outcome};
pub use logins::{LoginCollision, MAX_LOGIN_BYTES};
pub use nodes::{NewNode, Node};
pub use packages::{Package, PackageContent};
pub use plans::{NewPlan, Plan};
pub use sealing::Sealer;
pub use search::UserSearch;
pub use singletons::{Held, Singleton};
pub use store::{Backend, Store};
pub use tasks::ManualTask;
pub use tx::Tx;
pub use users::{NewUser, User, UserStatus};
pub use work::{Failure, Linked, NEVER, PushOutcome};
