//! The operator's subcommands, each a call to the management API, one
//! module per family: users, groups, apps (and assignments), connectors,
//! the work that waits for an admin (plans, errors, tasks, checks, nodes),
//! admins and their tokens, hooks, and the system log.

use anyhow::Context as _;
use serde_json::Value;

use crate::remote::Client;

mod admins;
mod apps;
mod assignments;
pub(crate) mod connectors;
mod groups;
mod hooks;
mod logs;
mod rows;
mod rules;
mod users;
mod work;

pub use admins::{Admins, Tokens, admins, tokens};
pub use apps::{Apps, apps};
pub use assignments::{Assignments, assignments};
pub use connectors::{Connectors, connectors};
pub use groups::{Groups, groups};
pub use hooks::{Hooks, hooks};
pub use logs::{Logs, logs};
pub use users::{Users, users};
pub use work::{Check, Errors, Plans, Tasks, check, errors, nodes, plans, tasks};

pub use crate::wait::wait;

pub(crate) fn pointer_str<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or_default()
}

/// A JSON document from a file, or standard input for `-`.
fn json_file(file: &std::path::Path) -> anyhow::Result<Value> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading JSON from standard input")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
    };
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))
}

/// What a quarantined app needs once its configuration is fixed.
fn resume_hint(app: &Value) -> String {
    match serde_json::from_value::<provisio_proto::App>(app.clone()) {
        Ok(app) if app.status == provisio_proto::AppStatus::Quarantined => {
            format!("; it is quarantined: `provisio apps resume {}` sends its work again", app.id)
        }
        _ => String::new(),
    }
}

/// Confirms a change, or says which plan holds it for approval.
fn held_or(c: &Client, answer: &Value, message: String) {
    if answer["held"] == true {
        c.done(answer, format!("held for approval as plan {}", pointer_str(answer, "/plan/id")));
    } else {
        c.done(answer, message);
    }
}
