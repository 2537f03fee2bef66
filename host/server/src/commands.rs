//! The operator's subcommands, each a call to the management API: users,
//! groups, apps, assignments, connectors, plans, errors, tasks, logs, and
//! a wait for the queue with a progress bar.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use provisio_proto::ProvisioningError;

use crate::remote::{Client, attributes, enc};
use crate::resolve;

const USER_COLUMNS: &[(&str, &str)] =
    &[("ID", "/id"), ("LOGIN", "/profile/login"), ("STATUS", "/status"), ("UPDATED", "/lastUpdated")];
const GROUP_COLUMNS: &[(&str, &str)] =
    &[("ID", "/id"), ("NAME", "/profile/name"), ("DESCRIPTION", "/profile/description")];
const APP_COLUMNS: &[(&str, &str)] = &[
    ("ID", "/id"),
    ("NAME", "/name"),
    ("CONNECTOR", "/connector"),
    ("PINNED", "/connectorPinned"),
    ("STATUS", "/status"),
];
const ACCOUNT_COLUMNS: &[(&str, &str)] = &[
    ("USER", "/userId"),
    ("EXTERNAL ID", "/externalId"),
    ("SYNC", "/syncState"),
    ("STATE", "/pushedState"),
    ("LAST ERROR", "/lastError"),
];

#[derive(Subcommand, Debug)]
pub enum Users {
    /// List users (paged by id).
    List {
        #[arg(long)]
        after: Option<String>,
        #[arg(long, default_value_t = 200)]
        limit: u32,
    },
    Get {
        id: String,
    },
    /// Create a user; `--attr name=value` for any other attribute.
    Create {
        login: String,
        #[arg(long)]
        first: Option<String>,
        #[arg(long)]
        last: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long = "attr")]
        attrs: Vec<String>,
        /// Stage the user instead of activating them.
        #[arg(long)]
        staged: bool,
    },
    /// Change profile attributes (`--attr name=value`; `name=null` removes).
    Update {
        id: String,
        #[arg(long = "attr", required = true)]
        attrs: Vec<String>,
    },
    Activate {
        id: String,
    },
    Deactivate {
        id: String,
    },
    Suspend {
        id: String,
    },
    Unsuspend {
        id: String,
    },
    /// Purge a deprovisioned user whose app accounts are settled.
    Delete {
        id: String,
    },
    /// Create users from a CSV file (a header row naming `login` and other
    /// attributes), with a progress bar. Every refused row is reported by
    /// its line and the rest go on; a login that exists is skipped, so a
    /// run can be repeated.
    Import {
        file: PathBuf,
        /// Check every row, create none.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum Groups {
    List,
    Get {
        id: String,
    },
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    Members {
        id: String,
    },
    Add {
        group: String,
        user: String,
    },
    Remove {
        group: String,
        user: String,
    },
    /// Rename a group (and, with --description, describe it anew).
    Rename {
        id: String,
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a group: its members lose the apps it gave them (guarded).
    Delete {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum Apps {
    List,
    Get {
        id: String,
    },
    /// Create an app from a JSON file (`-`: standard input) with name,
    /// connector, settings, credentials, grants, mappings, policy.
    Create {
        file: PathBuf,
    },
    /// Test the app's connection.
    Check {
        id: String,
    },
    /// App accounts and their sync state.
    Accounts {
        id: String,
    },
    Pause {
        id: String,
    },
    /// Resume a paused or quarantined app.
    Resume {
        id: String,
    },
    /// Change an app: a JSON merge patch from a file (`-`: standard input)
    /// with any of name, settings, credentials, grants, credentialOrigins.
    Update {
        id: String,
        #[arg(long, required_unless_present = "name")]
        file: Option<PathBuf>,
        #[arg(long)]
        name: Option<String>,
    },
    /// Replace one credential, read from standard input (never from the
    /// command line, which other users of the machine can see): a JSON
    /// object such as {"scheme": "bearer", "token": "…"}, or a bare token
    /// for a bearer credential.
    Rotate {
        id: String,
        credential: String,
    },
    /// Delete an app: its accounts are deprovisioned, then it goes.
    Delete {
        id: String,
    },
}

impl Apps {
    /// The same command with the app named by its id (it may be given by
    /// name).
    async fn resolved(mut self, c: &Client) -> anyhow::Result<Apps> {
        match &mut self {
            Apps::List | Apps::Create { .. } => {}
            Apps::Get { id }
            | Apps::Check { id }
            | Apps::Accounts { id }
            | Apps::Pause { id }
            | Apps::Resume { id }
            | Apps::Update { id, .. }
            | Apps::Rotate { id, .. }
            | Apps::Delete { id } => *id = resolve::app(c, id).await?,
        }
        Ok(self)
    }
}

#[derive(Subcommand, Debug)]
pub enum Assignments {
    /// Who is assigned to an app, and how.
    List { app: String },
    /// Assign a user (`--user`) or a group (`--group`) to an app.
    Add {
        app: String,
        #[arg(long, conflicts_with = "group", required_unless_present = "group")]
        user: Option<String>,
        #[arg(long)]
        group: Option<String>,
    },
    Remove {
        app: String,
        #[arg(long, conflicts_with = "group", required_unless_present = "group")]
        user: Option<String>,
        #[arg(long)]
        group: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum Connectors {
    /// Installed versions and the apps on each.
    List,
    /// Install a package folder (connector.toml and one .wasm) on the server.
    Install {
        dir: PathBuf,
        #[arg(long)]
        component: Option<PathBuf>,
        /// Move every unpinned app of this connector to the new version.
        #[arg(long)]
        upgrade_apps: bool,
    },
    Describe {
        connector: String,
    },
    /// Remove a version no app runs.
    Remove {
        connector: String,
    },
    /// Move an app to a version of its connector, optionally pinning it there.
    Use {
        app: String,
        version: String,
        #[arg(long)]
        pin: bool,
    },
    /// Move an app back to the version it ran before.
    Rollback {
        app: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum Plans {
    List {
        #[arg(long)]
        status: Option<String>,
    },
    Get {
        id: String,
    },
    Approve {
        id: String,
    },
    Reject {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum Errors {
    List {
        app: String,
    },
    /// Retry one user's failed account, or all of the app's.
    Retry {
        app: String,
        #[arg(long)]
        user: Option<String>,
    },
    /// Say what the app holds for a create whose outcome is unknown
    /// (sync state OUTCOME_UNKNOWN): the account's id, or nothing.
    Resolve {
        app: String,
        user: String,
        /// The id of the account the create made, as the app shows it.
        #[arg(long, conflicts_with = "absent", required_unless_present = "absent")]
        found: Option<String>,
        /// The app holds no account for this user: create it.
        #[arg(long)]
        absent: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum Tasks {
    List {
        #[arg(long, default_value = "open")]
        status: String,
    },
    Done {
        id: String,
    },
}

#[derive(clap::Args, Debug)]
pub struct Logs {
    #[arg(long)]
    actor: Option<String>,
    #[arg(long)]
    event_type: Option<String>,
    #[arg(long)]
    target_type: Option<String>,
    #[arg(long)]
    target_id: Option<String>,
    #[arg(long)]
    outcome: Option<String>,
    /// RFC 3339, e.g. 2026-11-30T00:00:00Z.
    #[arg(long)]
    since: Option<String>,
    #[arg(long)]
    until: Option<String>,
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Print every matching event as csv or json instead of a page.
    #[arg(long)]
    export: Option<String>,
}

pub(crate) fn pointer_str<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or_default()
}

pub async fn users(c: &Client, cmd: Users) -> anyhow::Result<()> {
    match cmd {
        Users::List { after, limit } => {
            let after = after.map(|a| format!("&after={}", enc(&a))).unwrap_or_default();
            c.print(&c.get(&format!("/users?limit={limit}{after}")).await?, USER_COLUMNS);
        }
        Users::Get { id } => {
            let id = resolve::user(c, &id).await?;
            c.print(&c.get(&format!("/users/{}", enc(&id))).await?, USER_COLUMNS)
        }
        Users::Create { login, first, last, email, attrs, staged } => {
            let mut profile = attributes(&attrs)?;
            profile.insert("login".into(), json!(login));
            for (k, v) in [("firstName", first), ("lastName", last), ("email", email)] {
                if let Some(v) = v {
                    profile.insert(k.into(), json!(v));
                }
            }
            let user = c.post(&format!("/users?activate={}", !staged), Some(&json!({ "profile": profile }))).await?;
            c.done(&user, format!("created {} ({})", pointer_str(&user, "/profile/login"), pointer_str(&user, "/id")));
        }
        Users::Update { id, attrs } => {
            let id = resolve::user(c, &id).await?;
            let body = json!({ "profile": attributes(&attrs)? });
            let user = c.post(&format!("/users/{}", enc(&id)), Some(&body)).await?;
            c.done(&user, format!("updated {}", pointer_str(&user, "/profile/login")));
        }
        Users::Activate { id } => lifecycle(c, &id, "activate").await?,
        Users::Deactivate { id } => lifecycle(c, &id, "deactivate").await?,
        Users::Suspend { id } => lifecycle(c, &id, "suspend").await?,
        Users::Unsuspend { id } => lifecycle(c, &id, "unsuspend").await?,
        Users::Delete { id } => {
            let id = resolve::user(c, &id).await?;
            c.delete(&format!("/users/{}", enc(&id))).await?;
            c.done(&json!({ "deleted": id }), format!("deleted {id}"));
        }
        Users::Import { file, dry_run } => crate::csv_import::import(c, &file, dry_run).await?,
    }
    Ok(())
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
    match app["status"].as_str() {
        Some("quarantined") => {
            format!("; it is quarantined: `provisio apps resume {}` sends its work again", pointer_str(app, "/id"))
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

async fn lifecycle(c: &Client, id: &str, action: &str) -> anyhow::Result<()> {
    let id = resolve::user(c, id).await?;
    let answer = c.post(&format!("/users/{}/lifecycle/{action}", enc(&id)), None).await?;
    let message = format!("{} is now {}", pointer_str(&answer, "/profile/login"), pointer_str(&answer, "/status"));
    held_or(c, &answer, message);
    Ok(())
}

pub async fn groups(c: &Client, cmd: Groups) -> anyhow::Result<()> {
    match cmd {
        Groups::List => c.print(&c.get("/groups").await?, GROUP_COLUMNS),
        Groups::Get { id } => {
            let id = resolve::group(c, &id).await?;
            c.print(&c.get(&format!("/groups/{}", enc(&id))).await?, GROUP_COLUMNS)
        }
        Groups::Create { name, description } => {
            let g =
                c.post("/groups", Some(&json!({ "profile": { "name": name, "description": description } }))).await?;
            c.done(&g, format!("created group {name} ({})", pointer_str(&g, "/id")));
        }
        Groups::Members { id } => {
            let id = resolve::group(c, &id).await?;
            c.print(&c.get(&format!("/groups/{}/users", enc(&id))).await?, USER_COLUMNS)
        }
        Groups::Add { group, user } => {
            let (group_id, user_id) = (resolve::group(c, &group).await?, resolve::user(c, &user).await?);
            let r = c.put(&format!("/groups/{}/users/{}", enc(&group_id), enc(&user_id)), None).await?;
            c.done(&r, format!("added {user} to {group}"));
        }
        Groups::Remove { group, user } => {
            let (group_id, user_id) = (resolve::group(c, &group).await?, resolve::user(c, &user).await?);
            let r = c.delete(&format!("/groups/{}/users/{}", enc(&group_id), enc(&user_id))).await?;
            c.done(&r, format!("removed {user} from {group}"));
        }
        Groups::Rename { id, name, description } => {
            let id = resolve::group(c, &id).await?;
            let mut profile = json!({ "name": name });
            if let Some(description) = description {
                profile["description"] = json!(description);
            }
            let g = c.patch(&format!("/groups/{}", enc(&id)), &json!({ "profile": profile })).await?;
            c.done(&g, format!("group {id} is now {}", pointer_str(&g, "/profile/name")));
        }
        Groups::Delete { id } => {
            let id = resolve::group(c, &id).await?;
            let r = c.delete(&format!("/groups/{}", enc(&id))).await?;
            held_or(c, &r, format!("deleted group {id}"));
        }
    }
    Ok(())
}

pub async fn apps(c: &Client, cmd: Apps) -> anyhow::Result<()> {
    let cmd = cmd.resolved(c).await?;
    match cmd {
        Apps::List => c.print(&c.get("/apps").await?, APP_COLUMNS),
        Apps::Get { id } => c.print(&c.get(&format!("/apps/{}", enc(&id))).await?, APP_COLUMNS),
        Apps::Create { file } => {
            let app = c.post("/apps", Some(&json_file(&file)?)).await?;
            c.done(&app, format!("created app {} ({})", pointer_str(&app, "/name"), pointer_str(&app, "/id")));
        }
        Apps::Check { id } => {
            let r = c.post(&format!("/apps/{}/check", enc(&id)), None).await?;
            if r["ok"] != true && !c.json {
                bail!("the check failed: {}", r["error"].as_str().unwrap_or_default());
            }
            c.done(&r, "ok");
        }
        Apps::Accounts { id } => c.print(&c.get(&format!("/apps/{}/accounts", enc(&id))).await?, ACCOUNT_COLUMNS),
        Apps::Pause { id } => {
            let r = c.post(&format!("/apps/{}/lifecycle/deactivate", enc(&id)), None).await?;
            c.done(&r, format!("paused {id}"));
        }
        Apps::Resume { id } => {
            let r = c.post(&format!("/apps/{}/lifecycle/activate", enc(&id)), None).await?;
            c.done(&r, format!("resumed {id}"));
        }
        Apps::Update { id, file, name } => {
            let mut patch = match file {
                Some(file) => json_file(&file)?,
                None => json!({}),
            };
            if let Some(name) = name {
                patch["name"] = json!(name);
            }
            let app = c.patch(&format!("/apps/{}", enc(&id)), &patch).await?;
            c.done(&app, format!("updated app {} ({id}){}", pointer_str(&app, "/name"), resume_hint(&app)));
        }
        Apps::Rotate { id, credential } => {
            let text = zeroize::Zeroizing::new(
                std::io::read_to_string(std::io::stdin()).context("reading the credential from standard input")?,
            );
            let value = match serde_json::from_str::<Value>(text.trim()) {
                Ok(object @ Value::Object(_)) => object,
                _ if text.trim().is_empty() => bail!("give the new credential on standard input"),
                _ => json!({ "scheme": "bearer", "token": text.trim() }),
            };
            let patch = json!({ "credentials": { credential.clone(): value } });
            let app = c.patch(&format!("/apps/{}", enc(&id)), &patch).await?;
            c.done(&app, format!("replaced credential \"{credential}\" of app {id}{}", resume_hint(&app)));
        }
        Apps::Delete { id } => {
            let r = c.delete(&format!("/apps/{}", enc(&id))).await?;
            let message = if r.is_null() {
                format!("deleted app {id}")
            } else {
                format!(
                    "app {id} is being deleted: its accounts are deprovisioned first; `provisio apps get {id}` shows what remains"
                )
            };
            held_or(c, &r, message);
        }
    }
    Ok(())
}

pub async fn assignments(c: &Client, cmd: Assignments) -> anyhow::Result<()> {
    match cmd {
        Assignments::List { app } => {
            let app = resolve::app(c, &app).await?;
            let users = c.get(&format!("/apps/{}/users", enc(&app))).await?;
            let groups = c.get(&format!("/apps/{}/groups", enc(&app))).await?;
            if c.json {
                crate::remote::say(format_args!(
                    "{}",
                    serde_json::to_string_pretty(&json!({ "users": users, "groups": groups }))?
                ));
            } else {
                c.print(&users, &[("USER", "/id"), ("VIA", "/scope")]);
                c.print(&groups, &[("GROUP", "/groupId"), ("PRIORITY", "/priority")]);
            }
        }
        Assignments::Add { app, user, group } => {
            let app = resolve::app(c, &app).await?;
            let (kind, id) = which(c, user, group).await?;
            let r = c.put(&format!("/apps/{}/{kind}/{}", enc(&app), enc(&id)), None).await?;
            held_or(c, &r, format!("assigned {id} to {app}"));
        }
        Assignments::Remove { app, user, group } => {
            let app = resolve::app(c, &app).await?;
            let (kind, id) = which(c, user, group).await?;
            let r = c.delete(&format!("/apps/{}/{kind}/{}", enc(&app), enc(&id))).await?;
            held_or(c, &r, format!("removed {id} from {app}"));
        }
    }
    Ok(())
}

async fn which(c: &Client, user: Option<String>, group: Option<String>) -> anyhow::Result<(&'static str, String)> {
    Ok(match (user, group) {
        (Some(u), _) => ("users", resolve::user(c, &u).await?),
        (None, Some(g)) => ("groups", resolve::group(c, &g).await?),
        // clap requires one of the two.
        (None, None) => ("users", String::new()),
    })
}

fn split_label(label: &str) -> anyhow::Result<(&str, &str)> {
    label.split_once('@').context("name the connector as NAME@VERSION, e.g. scim@0.1.0")
}

pub async fn connectors(c: &Client, cmd: Connectors) -> anyhow::Result<()> {
    match cmd {
        Connectors::List => c.print(
            &c.get("/connectors").await?,
            &[
                ("CONNECTOR", "/label"),
                ("CONTRACT", "/contract"),
                ("LOADED", "/loaded"),
                ("APPS", "/apps"),
                ("INSTALLED", "/installed"),
            ],
        ),
        Connectors::Install { dir, component, upgrade_apps } => {
            let manifest = std::fs::read_to_string(dir.join("connector.toml"))
                .with_context(|| format!("reading {}/connector.toml", dir.display()))?;
            let path = match component {
                Some(p) => p,
                None => crate::connectors::find_component(&dir)?,
            };
            let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let body = json!({
                "manifest": manifest,
                "component": base64::engine::general_purpose::STANDARD.encode(bytes),
                "upgradeApps": upgrade_apps,
            });
            let r = c.post("/connectors", Some(&body)).await?;
            for warning in r["warnings"].as_array().into_iter().flatten().filter_map(|w| w.as_str()) {
                eprintln!("warning: {warning}");
            }
            c.done(
                &r,
                format!(
                    "installed {} ({}); apps moved: {}",
                    pointer_str(&r, "/label"),
                    pointer_str(&r, "/digest"),
                    r["upgraded"]
                ),
            );
        }
        Connectors::Describe { connector } => {
            let (name, version) = split_label(&connector)?;
            let d = c.get(&format!("/connectors/{}/{}", enc(name), enc(version))).await?;
            crate::remote::say(format_args!("{}", serde_json::to_string_pretty(&d)?));
        }
        Connectors::Remove { connector } => {
            let (name, version) = split_label(&connector)?;
            let r = c.delete(&format!("/connectors/{}/{}", enc(name), enc(version))).await?;
            c.done(&r, format!("removed {connector}"));
        }
        Connectors::Use { app, version, pin } => {
            let r = c
                .put(&format!("/apps/{}/connector", enc(&app)), Some(&json!({ "version": version, "pinned": pin })))
                .await?;
            c.done(
                &r,
                format!("{app} now runs {}{}", pointer_str(&r, "/connector"), if pin { " (pinned)" } else { "" }),
            );
        }
        Connectors::Rollback { app } => {
            let r = c.post(&format!("/apps/{}/connector/rollback", enc(&app)), None).await?;
            c.done(&r, format!("{app} is back on {}", pointer_str(&r, "/connector")));
        }
    }
    Ok(())
}

pub async fn plans(c: &Client, cmd: Plans) -> anyhow::Result<()> {
    let columns: &[(&str, &str)] = &[
        ("ID", "/id"),
        ("KIND", "/kind"),
        ("STATUS", "/status"),
        ("BY", "/createdBy"),
        ("CREATED", "/created"),
        ("SUMMARY", "/summary"),
    ];
    match cmd {
        Plans::List { status } => {
            let q = status.map(|s| format!("?status={}", enc(&s))).unwrap_or_default();
            c.print(&c.get(&format!("/plans{q}")).await?, columns);
        }
        Plans::Get { id } => c.print(&c.get(&format!("/plans/{}", enc(&id))).await?, columns),
        Plans::Approve { id } => {
            let r = c.post(&format!("/plans/{}/approve", enc(&id)), None).await?;
            c.done(&r, format!("approved {id}"));
        }
        Plans::Reject { id } => {
            let r = c.post(&format!("/plans/{}/reject", enc(&id)), None).await?;
            c.done(&r, format!("rejected {id}"));
        }
    }
    Ok(())
}

pub async fn errors(c: &Client, cmd: Errors) -> anyhow::Result<()> {
    match cmd {
        Errors::List { app } => {
            let app = resolve::app(c, &app).await?;
            let errors: Vec<ProvisioningError> = c.get_as(&format!("/apps/{}/errors", enc(&app))).await?;
            c.print(
                &serde_json::to_value(&errors)?,
                &[("USER", "/userId"), ("ATTEMPTS", "/attempts"), ("NEXT", "/nextAttempt"), ("ERROR", "/error")],
            )
        }
        Errors::Retry { app, user } => {
            let app = resolve::app(c, &app).await?;
            let path = match user {
                Some(u) => format!("/apps/{}/errors/{}/retry", enc(&app), enc(&resolve::user(c, &u).await?)),
                None => format!("/apps/{}/errors/retry", enc(&app)),
            };
            let r = c.post(&path, None).await?;
            c.done(&r, format!("retrying {}", r["retried"]));
        }
        Errors::Resolve { app, user, found, absent } => {
            let (app, user) = (resolve::app(c, &app).await?, resolve::user(c, &user).await?);
            let body = match found {
                Some(id) => json!({ "externalId": id }),
                None => json!({ "absent": absent }),
            };
            let path = format!("/apps/{}/accounts/{}/resolve", enc(&app), enc(&user));
            let r = c.post(&path, Some(&body)).await?;
            c.done(&r, format!("resolved: {}", pointer_str(&r, "/syncState")));
        }
    }
    Ok(())
}

pub async fn tasks(c: &Client, cmd: Tasks) -> anyhow::Result<()> {
    match cmd {
        Tasks::List { status } => c.print(
            &c.get(&format!("/tasks?status={}", enc(&status))).await?,
            &[
                ("ID", "/id"),
                ("APP", "/appId"),
                ("LOGIN", "/login"),
                ("ACTION", "/action"),
                ("STATUS", "/status"),
                ("SINCE", "/created"),
            ],
        ),
        Tasks::Done { id } => {
            let r = c.post(&format!("/tasks/{}/done", enc(&id)), None).await?;
            c.done(&r, format!("task {id} done"));
        }
    }
    Ok(())
}

pub async fn logs(c: &Client, q: Logs) -> anyhow::Result<()> {
    let filters = [
        ("actor", &q.actor),
        ("eventType", &q.event_type),
        ("targetType", &q.target_type),
        ("targetId", &q.target_id),
        ("outcome", &q.outcome),
        ("since", &q.since),
        ("until", &q.until),
    ];
    let query: String = filters.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("&{k}={}", enc(v)))).collect();
    if let Some(format) = q.export {
        crate::remote::say_raw(format_args!(
            "{}",
            c.get_text(&format!("/logs/export?format={}{query}", enc(&format))).await?
        ));
        return Ok(());
    }
    c.print(
        &c.get(&format!("/logs?limit={}{query}", q.limit)).await?,
        &[
            ("SEQ", "/seq"),
            ("PUBLISHED", "/published"),
            ("ACTOR", "/actor"),
            ("EVENT", "/eventType"),
            ("TARGET", "/target/id"),
            ("OUTCOME", "/outcome"),
        ],
    );
    Ok(())
}

/// Waits until every app account's change is pushed, with a progress bar.
#[derive(Subcommand, Debug)]
pub enum Check {
    /// Every app's accounts (or one app's) against what the directory implies.
    Consistency {
        #[arg(long)]
        app: Option<String>,
    },
}

pub async fn check(c: &Client, cmd: Check) -> anyhow::Result<()> {
    let Check::Consistency { app } = cmd;
    let apps: Vec<String> = match app {
        Some(app) => vec![app],
        None => c
            .get("/apps")
            .await?
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["id"].as_str().map(str::to_string))
            .collect(),
    };
    let bar = ProgressBar::new(apps.len() as u64);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} apps checked  {elapsed_precise}")?);
    if c.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let (mut accounts, mut drift) = (0, Vec::new());
    for app in &apps {
        let checked = c.get(&format!("/apps/{}/consistency", enc(app))).await?;
        accounts += checked["accounts"].as_u64().unwrap_or(0);
        for d in checked["drift"].as_array().into_iter().flatten() {
            let mut d = d.clone();
            d["appId"] = json!(app);
            drift.push(d);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let report = json!({ "apps": apps.len(), "accounts": accounts, "drift": drift });
    if drift.is_empty() {
        c.done(&report, format!("{accounts} accounts in {} apps: every one as the directory implies", apps.len()));
        return Ok(());
    }
    let columns = [
        ("APP", "/appId"),
        ("USER", "/userId"),
        ("STORED", "/stored"),
        ("IMPLIED", "/implied"),
        ("PROFILE DIFFERS", "/profileDiffers"),
    ];
    c.print(&Value::Array(drift.clone()), &columns);
    bail!("{} of {accounts} accounts differ from what the directory implies", drift.len())
}

pub async fn nodes(c: &Client) -> anyhow::Result<()> {
    let columns = [
        ("ID", "/id"),
        ("LIVE", "/live"),
        ("LISTEN", "/listen"),
        ("STARTED", "/started"),
        ("HEARTBEAT", "/lastHeartbeat"),
        ("HELD", "/accountsHeld"),
        ("RUNS", "/singletons"),
    ];
    c.print(&c.get("/nodes").await?, &columns);
    Ok(())
}

pub use crate::wait::wait;
