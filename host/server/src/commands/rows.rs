//! How each wire type reads as a table row. The cells come from the typed
//! answer (`provisio_proto`), so a field the server renames is a compile
//! error here rather than an empty column.

use provisio_proto as proto;

use crate::remote::Row;

fn or_empty(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

/// A profile attribute as text.
fn attribute(profile: &proto::Attributes, name: &str) -> String {
    match profile.get(name) {
        Some(serde_json::Value::String(s)) => s.clone(),
        None | Some(serde_json::Value::Null) => String::new(),
        Some(other) => other.to_string(),
    }
}

impl Row for proto::User {
    const HEADER: &'static [&'static str] = &["ID", "LOGIN", "NAME", "STATUS", "UPDATED"];
    fn cells(&self) -> Vec<String> {
        let name = format!("{} {}", attribute(&self.profile, "firstName"), attribute(&self.profile, "lastName"));
        vec![
            self.id.clone(),
            self.login().into(),
            name.trim().into(),
            self.status.to_string(),
            self.last_updated.clone(),
        ]
    }
}

impl Row for proto::Group {
    const HEADER: &'static [&'static str] = &["ID", "NAME", "DESCRIPTION"];
    fn cells(&self) -> Vec<String> {
        vec![self.id.clone(), self.profile.name.clone(), self.profile.description.clone()]
    }
}

impl Row for proto::App {
    const HEADER: &'static [&'static str] = &["ID", "NAME", "CONNECTOR", "PINNED", "STATUS"];
    fn cells(&self) -> Vec<String> {
        let status = match &self.quarantine_reason {
            Some(reason) => format!("{} ({reason})", self.status),
            None => self.status.to_string(),
        };
        vec![self.id.clone(), self.name.clone(), self.connector.clone(), self.connector_pinned.to_string(), status]
    }
}

impl Row for proto::UserApp {
    const HEADER: &'static [&'static str] = &["APP", "NAME", "WHY"];
    fn cells(&self) -> Vec<String> {
        let mut why: Vec<String> = Vec::new();
        if self.direct {
            why.push("assigned directly".into());
        }
        why.extend(self.through.iter().map(|g| format!("through group {} (priority {})", g.name, g.priority)));
        vec![self.id.clone(), self.name.clone(), why.join("; ")]
    }
}

/// What a change does to one app, e.g. `2 deactivate, 1 update`.
fn counts(e: &proto::AppEffect) -> String {
    let counts: Vec<String> = e.counts.iter().map(|(op, n)| format!("{n} {op}")).collect();
    if counts.is_empty() { "nothing".into() } else { counts.join(", ") }
}

/// A preview's lines, one per app: its name, its id and what it would feel.
pub fn effect_lines(effects: &[proto::AppEffect]) -> Vec<String> {
    effects.iter().map(|e| format!("  app {} ({}): {}", e.name, e.app_id, counts(e))).collect()
}

/// A plan's changes as an admin reads them before deciding: per app what
/// it would feel, then who, by login, up to `most` an app.
pub fn planned_changes(plan: &proto::Plan, most: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for (effect, line) in plan.operations.iter().zip(effect_lines(&plan.operations)) {
        lines.push(line);
        for change in effect.changes.iter().take(most) {
            let who = change.login.as_deref().unwrap_or(&change.user_id);
            let what = if change.attributes.is_empty() {
                String::new()
            } else {
                format!(" ({})", change.attributes.join(", "))
            };
            lines.push(format!("    {} {who}{what}", change.op.name()));
        }
        if effect.changes.len() > most {
            lines.push(format!("    … and {} more (--json lists them all)", effect.changes.len() - most));
        }
    }
    lines
}

impl Row for proto::Plan {
    const HEADER: &'static [&'static str] = &["ID", "KIND", "STATUS", "BY", "CREATED", "EFFECT"];
    fn cells(&self) -> Vec<String> {
        let apps: Vec<String> = self
            .summary
            .iter()
            .map(|e| format!("{}: {}", if e.name.is_empty() { &e.app_id } else { &e.name }, counts(e)))
            .collect();
        vec![
            self.id.clone(),
            self.kind.clone(),
            self.status.to_string(),
            self.created_by.clone(),
            self.created.clone(),
            apps.join("; "),
        ]
    }
}

impl Row for proto::LogEvent {
    const HEADER: &'static [&'static str] = &["PUBLISHED", "ACTOR", "EVENT", "TARGET", "OUTCOME"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.published.clone(),
            self.actor.clone(),
            self.event_type.clone(),
            format!("{} {}", self.target.kind, self.target.id),
            self.outcome.clone(),
        ]
    }
}

impl Row for proto::Admin {
    const HEADER: &'static [&'static str] = &["ID", "LOGIN", "ROLE", "STATUS", "GROUPS"];
    fn cells(&self) -> Vec<String> {
        vec![or_empty(&self.id), self.login.clone(), self.role.clone(), self.status.to_string(), self.groups.join(", ")]
    }
}

impl Row for proto::Token {
    const HEADER: &'static [&'static str] = &["ID", "NAME", "PREFIX", "CREATED", "EXPIRES", "LAST USED", "REVOKED"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.name.clone(),
            self.prefix.clone(),
            self.created.clone(),
            or_empty(&self.expires_at),
            or_empty(&self.last_used),
            or_empty(&self.revoked),
        ]
    }
}

impl Row for proto::Hook {
    const HEADER: &'static [&'static str] = &["ID", "NAME", "URL", "EVENTS", "STATUS"];
    fn cells(&self) -> Vec<String> {
        vec![self.id.clone(), self.name.clone(), self.url.clone(), self.events.join(", "), self.status.to_string()]
    }
}

impl Row for proto::Delivery {
    const HEADER: &'static [&'static str] = &["ID", "EVENT", "STATUS", "ATTEMPTS", "LAST STATUS", "LAST ERROR"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.event_type.clone(),
            self.status.to_string(),
            self.attempts.to_string(),
            self.last_status.map(|s| s.to_string()).unwrap_or_default(),
            or_empty(&self.last_error),
        ]
    }
}

impl Row for proto::Account {
    const HEADER: &'static [&'static str] = &["LOGIN", "EXTERNAL ID", "SYNC", "STATE", "ATTEMPTS", "LAST ERROR"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.login.clone().unwrap_or_else(|| self.user_id.clone()),
            or_empty(&self.external_id),
            serde_json::to_value(self.sync_state).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
            self.pushed_state.to_string(),
            self.attempts.to_string(),
            or_empty(&self.last_error),
        ]
    }
}

impl Row for proto::ProvisioningError {
    const HEADER: &'static [&'static str] = &["LOGIN", "ATTEMPTS", "NEXT", "ERROR"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.login.clone().unwrap_or_else(|| self.user_id.clone()),
            self.attempts.to_string(),
            self.next_attempt.clone().unwrap_or_else(|| "waits for an admin".into()),
            self.error.clone(),
        ]
    }
}

impl Row for proto::AppUser {
    const HEADER: &'static [&'static str] = &["USER", "LOGIN", "HOW"];
    fn cells(&self) -> Vec<String> {
        let how = match self.scope {
            proto::Scope::User => "assigned directly",
            proto::Scope::Group => "through a group",
        };
        vec![self.id.clone(), or_empty(&self.login), how.into()]
    }
}

impl Row for proto::GroupAssignment {
    const HEADER: &'static [&'static str] = &["GROUP", "NAME", "PRIORITY", "ASSIGNED"];
    fn cells(&self) -> Vec<String> {
        vec![self.group_id.clone(), self.name.clone(), self.priority.to_string(), self.assigned.clone()]
    }
}

impl Row for proto::Task {
    const HEADER: &'static [&'static str] = &["ID", "APP", "LOGIN", "ACTION", "STATUS", "SINCE"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.app_id.clone(),
            self.login.clone(),
            self.action.clone(),
            self.status.to_string(),
            self.created.clone(),
        ]
    }
}

impl Row for proto::Node {
    const HEADER: &'static [&'static str] = &["ID", "LIVE", "LISTEN", "STARTED", "HEARTBEAT", "HELD", "RUNS"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.live.to_string(),
            self.listen.clone(),
            self.started.clone(),
            self.last_heartbeat.clone(),
            self.accounts_held.to_string(),
            self.singletons.join(", "),
        ]
    }
}

impl Row for proto::Connector {
    const HEADER: &'static [&'static str] = &["CONNECTOR", "CONTRACT", "LOADED", "APPS", "INSTALLED"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.label.clone(),
            self.contract.clone(),
            self.loaded.to_string(),
            self.apps.join(", "),
            self.installed.clone(),
        ]
    }
}

fn yes(b: bool) -> String {
    if b { "yes".into() } else { String::new() }
}

impl Row for proto::SettingInfo {
    const HEADER: &'static [&'static str] = &["SETTING", "TYPE", "REQUIRED", "DESCRIPTION"];
    fn cells(&self) -> Vec<String> {
        vec![self.name.clone(), self.kind.clone(), yes(self.required), self.description.clone()]
    }
}

impl Row for proto::CredentialInfo {
    const HEADER: &'static [&'static str] = &["CREDENTIAL", "SCHEMES", "MAY GO TO", "REQUIRED"];
    fn cells(&self) -> Vec<String> {
        let origins = self.origins.join(", ") + if self.wildcard { " (each app names its own)" } else { "" };
        vec![self.name.clone(), self.schemes.join(", "), origins, yes(self.required)]
    }
}

impl Row for proto::AttributeInfo {
    const HEADER: &'static [&'static str] = &["ATTRIBUTE", "TYPE", "MULTI", "REQUIRED", "DESCRIPTION"];
    fn cells(&self) -> Vec<String> {
        vec![self.name.clone(), self.kind.clone(), yes(self.multi_valued), yes(self.required), self.description.clone()]
    }
}
