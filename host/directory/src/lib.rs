//! The directory store: who works here and what they were given, on SQLite
//! (embedded default, WAL) or PostgreSQL, through one interface. Every change
//! writes its system-log event in the same transaction: all or nothing.
//! The design is in docs/design/directory.md.

mod accounts;
mod apps;
mod clock;
mod error;
mod groups;
mod log;
mod sealing;
mod store;
mod users;

pub use accounts::{AccountState, AppAccount, Pushed};
pub use apps::{App, NewApp};
pub use clock::{Clock, FixedClock, SystemClock};
pub use error::StoreError;
pub use groups::Group;
pub use log::{LogEvent, LogQuery, NewLogEvent, Outcome};
pub use sealing::Sealer;
pub use store::{Backend, Store};
pub use users::{NewUser, User, UserStatus};
