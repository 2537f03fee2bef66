//! The directory's and the engine's types as the API shows them: each
//! `provisio_proto` answer is built here and nowhere else, so a field's
//! name and a time's format are decided once.

use provisio_directory::{App, AppAccount, Group, GroupAssignment, NEVER, Plan, ProvisioningError, User};
use provisio_proto as proto;

use super::AppState;
use crate::provisioner::credential_origins;

/// Milliseconds since the epoch as an RFC 3339 timestamp.
pub fn timestamp(ms: i64) -> String {
    provisio_directory::format_time(ms)
}

pub fn user(user: &User) -> proto::User {
    let mut profile = user.profile.clone();
    profile.insert("login".into(), user.login.clone().into());
    proto::User {
        id: user.id.clone(),
        status: proto::UserStatus::from_stored(user.status.as_str()),
        created: timestamp(user.created_at),
        last_updated: timestamp(user.updated_at),
        status_changed: timestamp(user.status_changed_at),
        version: user.version,
        profile,
    }
}

pub fn group(g: &Group) -> proto::Group {
    proto::Group {
        id: g.id.clone(),
        created: timestamp(g.created_at),
        last_updated: timestamp(g.updated_at),
        profile: proto::GroupProfile { name: g.name.clone(), description: g.description.clone() },
    }
}

/// Credentials are never shown, only whether there are any and where each
/// may be sent.
pub fn app(state: &AppState, app: &App) -> proto::App {
    proto::App {
        id: app.id.clone(),
        name: app.name.clone(),
        connector: format!("{}@{}", app.connector_name, app.connector_version),
        connector_pinned: app.connector_pinned,
        previous_connector: app.previous_connector_version.as_ref().map(|v| format!("{}@{v}", app.connector_name)),
        status: proto::AppStatus::from_stored(&app.status),
        quarantine_reason: app.quarantine_reason.clone(),
        paused_until: app.paused_until.map(timestamp),
        settings: app.settings.clone(),
        has_credentials: app.has_secrets,
        grants: app.grants.clone(),
        credential_origins: credential_origins(state.connectors.runtime(), app),
        mappings: app.mappings.clone(),
        // Stored by an earlier version, it may say snake_case.
        policy: provisio_lifecycle::Policy::canonical(&app.policy).unwrap_or_else(|_| app.policy.clone()),
        retiring_since: app.retiring_since.map(timestamp),
        unsettled_accounts: None,
        created: timestamp(app.created_at),
        last_updated: timestamp(app.updated_at),
    }
}

pub fn account(a: &AppAccount) -> proto::Account {
    use proto::SyncState as S;
    let waits_for_admin = a.last_error.is_some() && a.next_attempt_at >= NEVER;
    let sync_state = if a.desired_generation <= a.pushed_generation {
        S::Synced
    } else if waits_for_admin && a.intent.as_deref() == Some("create") {
        // A create may have reached the app and Provisio cannot tell: the
        // error says what to check before retrying.
        S::OutcomeUnknown
    } else if waits_for_admin {
        S::Error
    } else if a.last_error.is_some() {
        S::Retrying
    } else {
        S::Pending
    };
    let due = a.desired_generation > a.pushed_generation && a.next_attempt_at < NEVER;
    proto::Account {
        user_id: a.user_id.clone(),
        login: None,
        external_id: a.external_id.clone(),
        sync_state,
        desired_state: proto::AccountState::from_stored(a.desired_state.as_str()),
        pushed_state: proto::AccountState::from_stored(a.pushed_state.as_str()),
        desired: a.desired_profile.clone(),
        pushed: a.pushed_profile.clone(),
        attempts: a.attempt,
        next_attempt: due.then(|| timestamp(a.next_attempt_at)),
        last_error: a.last_error.clone(),
    }
}

pub fn provisioning_error(e: &ProvisioningError) -> proto::ProvisioningError {
    proto::ProvisioningError {
        app_id: e.app_id.clone(),
        user_id: e.user_id.clone(),
        login: None,
        error: e.error.clone(),
        attempts: e.attempts,
        next_attempt: e.next_attempt_at.map(timestamp),
    }
}

pub fn group_assignment(g: &GroupAssignment) -> proto::GroupAssignment {
    proto::GroupAssignment {
        group_id: g.group_id.clone(),
        name: g.group_name.clone(),
        priority: g.priority,
        assigned: timestamp(g.assigned_at),
    }
}

/// A stored plan: its summary and operations are the engine's effects,
/// its change the engine's own format.
pub fn plan(p: &Plan) -> proto::Plan {
    let effects = |v: &serde_json::Value| serde_json::from_value(v.clone()).unwrap_or_default();
    proto::Plan {
        id: p.id.clone(),
        kind: p.kind.clone(),
        status: proto::PlanStatus::from_stored(&p.status),
        summary: effects(&p.summary),
        operations: effects(&p.operations),
        change: p.change.clone(),
        created_by: p.created_by.clone(),
        created: timestamp(p.created_at),
        decided_by: p.decided_by.clone(),
        decided: p.decided_at.map(timestamp),
    }
}

pub fn drift(d: &provisio_lifecycle::Drift) -> proto::Drift {
    proto::Drift {
        user_id: d.user_id.clone(),
        stored: proto::AccountState::from_stored(d.stored.as_str()),
        implied: proto::AccountState::from_stored(d.implied.as_str()),
        profile_differs: d.profile_differs,
    }
}

/// Fills in each answer's login: tables and scripts name people, not ids.
pub async fn with_logins<T>(
    store: &provisio_directory::Store,
    mut items: Vec<T>,
    user_id: impl Fn(&T) -> &str,
    login: impl Fn(&mut T) -> &mut Option<String>,
) -> Result<Vec<T>, provisio_directory::StoreError> {
    let ids: Vec<String> = items.iter().map(|i| user_id(i).to_string()).collect();
    let logins = store.logins_of(&ids).await?;
    for item in &mut items {
        let found = logins.get(user_id(item)).cloned();
        *login(item) = found;
    }
    Ok(items)
}

/// A connector version as it describes itself, with what its manifest
/// lets it reach: one shape for the API and for `provisio package describe`.
pub fn connector_description(
    c: &provisio_runtime::Connector,
    d: &provisio_runtime::model::Descriptor,
    apps: Vec<String>,
) -> proto::ConnectorDescription {
    let access = c.package.manifest.access();
    proto::ConnectorDescription {
        name: c.package.name().into(),
        version: c.package.version().into(),
        label: c.package.label(),
        digest: c.package.digest.clone(),
        contract: c.contract_version.to_string(),
        apps,
        operations: d.operations.iter().map(|o| o.name().to_string()).collect(),
        settings: d
            .settings
            .iter()
            .map(|s| proto::SettingInfo {
                name: s.name.clone(),
                kind: wire_name(&s.setting_type),
                required: s.required,
                description: s.description.clone(),
            })
            .collect(),
        credentials: access
            .credentials
            .iter()
            .map(|c| proto::CredentialInfo {
                name: c.name.clone(),
                schemes: c.schemes.iter().map(wire_name).collect(),
                origins: c.origins.clone(),
                required: c.required,
                wildcard: c.wildcard,
            })
            .collect(),
        hosts: access.hosts,
        profile: d.profile.iter().map(attribute_info).collect(),
    }
}

fn attribute_info(a: &provisio_runtime::model::AttributeSchema) -> proto::AttributeInfo {
    proto::AttributeInfo {
        name: a.name.clone(),
        kind: wire_name(&a.value_type),
        multi_valued: a.multi_valued,
        required: a.required,
        description: a.description.clone(),
        sub_attributes: a.sub_attributes.iter().map(attribute_info).collect(),
    }
}

/// A unit enum's serde name (`kebab-case` in the runtime's types).
fn wire_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}
