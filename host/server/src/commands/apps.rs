//! `provisio apps`: apps, their accounts, credentials, mappings and policy.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use serde_json::{Value, json};

use provisio_proto::{Account, App};

use super::rules::{Mappings, Policy};
use super::{held_or, json_file, pointer_str, resume_hint};
use crate::remote::{Client, enc};
use crate::resolve;

#[derive(Subcommand, Debug)]
pub enum Apps {
    /// Every app, its connector and status.
    #[command(after_help = "Example:\n  provisio apps list")]
    List,
    /// An app, by id or name.
    #[command(after_help = "Example:\n  provisio apps get Wiki")]
    Get { app: String },
    /// Create an app from a JSON file (`-`: standard input) with name,
    /// connector, settings, credentials, grants, mappings, policy.
    #[command(after_help = "Example:\n  provisio apps create wiki.json")]
    Create { file: PathBuf },
    /// Test the app's connection.
    #[command(after_help = "Example:\n  provisio apps check Wiki")]
    Check { app: String },
    /// App accounts and their sync state.
    #[command(after_help = "Example:\n  provisio apps accounts Wiki")]
    Accounts { app: String },
    /// Stop sending the app its work (it waits, nothing is lost).
    #[command(after_help = "Example:\n  provisio apps pause Wiki")]
    Pause { app: String },
    /// Resume a paused or quarantined app.
    #[command(after_help = "Example:\n  provisio apps resume Wiki")]
    Resume { app: String },
    /// Change an app: a JSON merge patch from a file (`-`: standard input)
    /// with any of name, settings, credentials, grants, credentialOrigins.
    #[command(
        after_help = "Examples:\n  provisio apps update Wiki --name \"Team wiki\"\n  provisio apps update Wiki --file patch.json"
    )]
    Update {
        app: String,
        #[arg(long, required_unless_present = "name")]
        file: Option<PathBuf>,
        #[arg(long)]
        name: Option<String>,
    },
    /// Replace one credential, read from standard input (never from the
    /// command line, which other users of the machine can see): a JSON
    /// object such as {"scheme": "bearer", "token": "…"}, or a bare token
    /// for a bearer credential.
    #[command(after_help = "Example:\n  pass show wiki/token | provisio apps rotate Wiki api")]
    Rotate { app: String, credential: String },
    /// The app's attribute mappings: show, replace, or try on a user.
    #[command(subcommand)]
    Mappings(Mappings),
    /// The app's deprovisioning policy: show or replace.
    #[command(subcommand)]
    Policy(Policy),
    /// Delete an app: its accounts are deprovisioned, then it goes.
    #[command(after_help = "Example:\n  provisio apps delete Wiki")]
    Delete { app: String },
}

impl Apps {
    /// The same command with the app named by its id (it may be given by
    /// name).
    async fn resolved(mut self, c: &Client) -> anyhow::Result<Apps> {
        match &mut self {
            Apps::List | Apps::Create { .. } | Apps::Mappings(_) | Apps::Policy(_) => {}
            Apps::Get { app }
            | Apps::Check { app }
            | Apps::Accounts { app }
            | Apps::Pause { app }
            | Apps::Resume { app }
            | Apps::Update { app, .. }
            | Apps::Rotate { app, .. }
            | Apps::Delete { app } => *app = resolve::app(c, app).await?,
        }
        Ok(self)
    }
}

pub async fn apps(c: &Client, cmd: Apps) -> anyhow::Result<()> {
    let cmd = cmd.resolved(c).await?;
    match cmd {
        Apps::List => c.rows(&c.get_as::<Vec<App>>("/apps").await?),
        Apps::Get { app: id } => c.row(&c.get_as::<App>(&format!("/apps/{}", enc(&id))).await?),
        Apps::Create { file } => {
            let app = c.post("/apps", Some(&json_file(&file)?)).await?;
            c.done(&app, format!("created app {} ({})", pointer_str(&app, "/name"), pointer_str(&app, "/id")));
        }
        Apps::Check { app: id } => {
            let r = c.post(&format!("/apps/{}/check", enc(&id)), None).await?;
            if r["ok"] != true && !c.json {
                bail!("the check failed: {}", r["error"].as_str().unwrap_or_default());
            }
            c.done(&r, "ok");
        }
        Apps::Accounts { app: id } => {
            c.rows(&c.get_all::<Account>(&format!("/apps/{}/accounts", enc(&id)), |a| &a.user_id).await?)
        }
        Apps::Mappings(cmd) => super::rules::mappings(c, cmd).await?,
        Apps::Policy(cmd) => super::rules::policy(c, cmd).await?,
        Apps::Pause { app: id } => {
            let r = c.post(&format!("/apps/{}/lifecycle/deactivate", enc(&id)), None).await?;
            c.done(&r, format!("paused {id}"));
        }
        Apps::Resume { app: id } => {
            let r = c.post(&format!("/apps/{}/lifecycle/activate", enc(&id)), None).await?;
            c.done(&r, format!("resumed {id}"));
        }
        Apps::Update { app: id, file, name } => {
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
        Apps::Rotate { app: id, credential } => {
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
        Apps::Delete { app: id } => {
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
