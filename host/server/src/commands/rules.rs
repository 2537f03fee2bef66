//! `provisio apps mappings` and `provisio apps policy`: what an app receives
//! for each user, and what happens to a leaver's account.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::{Value, json};

use provisio_proto::{AccountImage, App, Preview};

use super::{held_or, json_file};
use crate::remote::{Client, enc};
use crate::resolve;

#[derive(Subcommand, Debug)]
pub enum Mappings {
    /// The app's mappings (CEL expressions over the user's profile).
    #[command(after_help = "Example:\n  provisio apps mappings get Wiki")]
    Get { app: String },
    /// Replace the mappings from a JSON file (`-`: standard input); every
    /// account is brought up to date. `--preview` says what would change.
    #[command(after_help = "Examples:\n  provisio apps mappings set Wiki mappings.json --preview\n  \
                            provisio apps mappings set Wiki mappings.json")]
    Set {
        app: String,
        file: PathBuf,
        #[arg(long)]
        preview: bool,
    },
    /// What the app would receive for a user, with its mappings or with
    /// those in `--file`.
    #[command(after_help = "Examples:\n  provisio apps mappings try Wiki ada@example.com\n  \
                            provisio apps mappings try Wiki ada@example.com --file draft.json")]
    Try {
        app: String,
        user: String,
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum Policy {
    /// The app's deprovisioning policy.
    #[command(after_help = "Example:\n  provisio apps policy get Wiki")]
    Get { app: String },
    /// Replace the policy from a JSON file (`-`: standard input), e.g.
    /// {"deprovision": "delete", "retentionDays": 30}.
    #[command(after_help = "Example:\n  provisio apps policy set Wiki policy.json --preview")]
    Set {
        app: String,
        file: PathBuf,
        #[arg(long)]
        preview: bool,
    },
}

pub async fn mappings(c: &Client, cmd: Mappings) -> anyhow::Result<()> {
    match cmd {
        Mappings::Get { app } => {
            let id = resolve::app(c, &app).await?;
            pretty(&c.get(&format!("/apps/{}/mappings", enc(&id))).await?)
        }
        Mappings::Set { app, file, preview } => {
            let id = resolve::app(c, &app).await?;
            let path = format!("/apps/{}/mappings?preview={preview}", enc(&id));
            let answer = c.put(&path, Some(&json_file(&file)?)).await?;
            changed(c, &answer, preview, format!("replaced the mappings of {app}; its accounts are being updated"))
        }
        Mappings::Try { app, user, file } => {
            let id = resolve::app(c, &app).await?;
            let user_id = resolve::user(c, &user).await?;
            let mut body = json!({ "userId": user_id });
            if let Some(file) = file {
                body["mappings"] = json_file(&file)?;
            }
            let answer = c.post(&format!("/apps/{}/mappings/preview", enc(&id)), Some(&body)).await?;
            let image: AccountImage = serde_json::from_value(answer).context("an unknown shape of account")?;
            pretty(&serde_json::to_value(image)?)
        }
    }
}

pub async fn policy(c: &Client, cmd: Policy) -> anyhow::Result<()> {
    match cmd {
        Policy::Get { app } => {
            let id = resolve::app(c, &app).await?;
            let app: App = c.get_as(&format!("/apps/{}", enc(&id))).await?;
            pretty(&app.policy)
        }
        Policy::Set { app, file, preview } => {
            let id = resolve::app(c, &app).await?;
            let path = format!("/apps/{}/policy?preview={preview}", enc(&id));
            let answer = c.put(&path, Some(&json_file(&file)?)).await?;
            changed(c, &answer, preview, format!("replaced the policy of {app}"))
        }
    }
}

fn pretty(value: &Value) -> anyhow::Result<()> {
    crate::remote::say(format_args!("{}", serde_json::to_string_pretty(value)?));
    Ok(())
}

/// A change's confirmation, or its preview: per app, what would be done.
fn changed(c: &Client, answer: &Value, preview: bool, message: String) -> anyhow::Result<()> {
    if !preview {
        held_or(c, answer, message);
        return Ok(());
    }
    let p: Preview = serde_json::from_value(answer.clone()).context("the preview came back in an unknown shape")?;
    let mut lines = vec![format!(
        "nothing was changed{}; it would do:",
        if p.would_be_held { " (over the mass-change guard, it would wait for approval)" } else { "" }
    )];
    lines.extend(super::rows::effect_lines(&p.effects));
    c.done(answer, lines.join("\n"));
    Ok(())
}
