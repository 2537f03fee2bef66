//! The work that waits for an admin: held plans, provisioning errors,
//! manual tasks; the consistency check; the nodes.

use anyhow::bail;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use provisio_proto::{App, Consistency, Drift, Node, Plan, ProvisioningError, Task};

use super::pointer_str;
use crate::remote::{Client, Row, enc};
use crate::resolve;

/// How many of a plan's changes `plans get` lists per app; `--json` has all.
const PLAN_LINES: usize = 50;

#[derive(Subcommand, Debug)]
pub enum Plans {
    /// Plans, newest first; `--status held` for those waiting for a decision.
    #[command(after_help = "Example:\n  provisio plans list --status held")]
    List {
        #[arg(long)]
        status: Option<String>,
    },
    /// A plan: the change it holds and its effect on every app.
    #[command(after_help = "Example:\n  provisio plans get 01JD…")]
    Get { id: String },
    /// Apply a held change (by someone who could have made it).
    #[command(after_help = "Example:\n  provisio plans approve 01JD…")]
    Approve { id: String },
    /// Drop a held change: nothing of it is applied.
    #[command(after_help = "Example:\n  provisio plans reject 01JD…")]
    Reject { id: String },
}

#[derive(Subcommand, Debug)]
pub enum Errors {
    /// An app's accounts whose changes failed and wait for an admin.
    #[command(after_help = "Example:\n  provisio errors list Wiki")]
    List { app: String },
    /// Retry one user's failed account, or all of the app's.
    #[command(
        after_help = "Examples:\n  provisio errors retry Wiki\n  provisio errors retry Wiki --user ada@example.com"
    )]
    Retry {
        app: String,
        #[arg(long)]
        user: Option<String>,
    },
    /// Say what the app holds for a create whose outcome is unknown
    /// (sync state OUTCOME_UNKNOWN): the account's id, or nothing.
    #[command(after_help = "Examples:\n  provisio errors resolve Wiki ada@example.com --found 2819c223\n  \
                            provisio errors resolve Wiki ada@example.com --absent")]
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
    /// Manual deprovisioning tasks (open, done or cancelled).
    #[command(after_help = "Example:\n  provisio tasks list --status open")]
    List {
        #[arg(long, default_value = "open")]
        status: String,
    },
    /// Mark a task done once its account is removed by hand.
    #[command(after_help = "Example:\n  provisio tasks done 01JD…")]
    Done { id: String },
}

pub async fn plans(c: &Client, cmd: Plans) -> anyhow::Result<()> {
    match cmd {
        Plans::List { status } => {
            let q = status.map(|s| format!("?status={}", enc(&s))).unwrap_or_default();
            c.rows(&c.get_as::<Vec<Plan>>(&format!("/plans{q}")).await?);
        }
        Plans::Get { id } => {
            let plan: Plan = c.get_as(&format!("/plans/{}", enc(&id))).await?;
            c.row(&plan);
            if !c.json {
                crate::remote::say(format_args!("{}", super::rows::planned_changes(&plan, PLAN_LINES).join("\n")));
            }
        }
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
            c.rows(&c.get_as::<Vec<ProvisioningError>>(&format!("/apps/{}/errors", enc(&app))).await?)
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
        Tasks::List { status } => c.rows(&c.get_as::<Vec<Task>>(&format!("/tasks?status={}", enc(&status))).await?),
        Tasks::Done { id } => {
            let r = c.post(&format!("/tasks/{}/done", enc(&id)), None).await?;
            c.done(&r, format!("task {id} done"));
        }
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum Check {
    /// Every app's accounts (or one app's) against what the directory implies.
    #[command(after_help = "Examples:\n  provisio check consistency\n  provisio check consistency --app Wiki")]
    Consistency {
        #[arg(long)]
        app: Option<String>,
    },
}

/// One account whose stored state differs from what the directory implies.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct AppDrift {
    app_id: String,
    #[serde(flatten)]
    drift: Drift,
}

impl Row for AppDrift {
    const HEADER: &'static [&'static str] = &["APP", "USER", "STORED", "IMPLIED", "PROFILE DIFFERS"];
    fn cells(&self) -> Vec<String> {
        let d = &self.drift;
        vec![
            self.app_id.clone(),
            d.user_id.clone(),
            d.stored.to_string(),
            d.implied.to_string(),
            d.profile_differs.to_string(),
        ]
    }
}

pub async fn check(c: &Client, cmd: Check) -> anyhow::Result<()> {
    let Check::Consistency { app } = cmd;
    let apps: Vec<String> = match app {
        Some(app) => vec![resolve::app(c, &app).await?],
        None => c.get_as::<Vec<App>>("/apps").await?.into_iter().map(|a| a.id).collect(),
    };
    let bar = ProgressBar::new(apps.len() as u64);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} apps checked  {elapsed_precise}")?);
    if c.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let (mut accounts, mut drift) = (0, Vec::new());
    for app in &apps {
        let checked: Consistency = c.get_as(&format!("/apps/{}/consistency", enc(app))).await?;
        accounts += checked.accounts;
        drift.extend(checked.drift.into_iter().map(|d| AppDrift { app_id: app.clone(), drift: d }));
        bar.inc(1);
    }
    bar.finish_and_clear();
    if drift.is_empty() {
        let report = json!({ "apps": apps.len(), "accounts": accounts, "drift": [] });
        c.done(&report, format!("{accounts} accounts in {} apps: every one as the directory implies", apps.len()));
        return Ok(());
    }
    c.rows(&drift);
    bail!("{} of {accounts} accounts differ from what the directory implies", drift.len())
}

pub async fn nodes(c: &Client) -> anyhow::Result<()> {
    c.rows(&c.get_as::<Vec<Node>>("/nodes").await?);
    Ok(())
}
