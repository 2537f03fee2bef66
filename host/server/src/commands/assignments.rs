//! `provisio assignments`: who is assigned to an app, directly or through
//! a group, and assigning or removing them.

use clap::Subcommand;
use serde_json::json;

use provisio_proto::{AppUser, GroupAssignment};

use super::held_or;
use crate::remote::{Client, enc};
use crate::resolve;

#[derive(Subcommand, Debug)]
pub enum Assignments {
    /// Who is assigned to an app, and how.
    #[command(after_help = "Example:\n  provisio assignments list Wiki")]
    List { app: String },
    /// Assign a user (`--user`) or a group (`--group`) to an app.
    #[command(
        after_help = "Examples:\n  provisio assignments add Wiki --user ada@example.com\n  provisio assignments add Wiki --group Engineering"
    )]
    Add {
        app: String,
        #[arg(long, conflicts_with = "group", required_unless_present = "group")]
        user: Option<String>,
        #[arg(long)]
        group: Option<String>,
    },
    /// Remove a user's direct assignment, or a group's.
    #[command(after_help = "Example:\n  provisio assignments remove Wiki --group Contractors")]
    Remove {
        app: String,
        #[arg(long, conflicts_with = "group", required_unless_present = "group")]
        user: Option<String>,
        #[arg(long)]
        group: Option<String>,
    },
}

pub async fn assignments(c: &Client, cmd: Assignments) -> anyhow::Result<()> {
    match cmd {
        Assignments::List { app } => {
            let app = resolve::app(c, &app).await?;
            let users: Vec<AppUser> = c.get_all(&format!("/apps/{}/users", enc(&app)), |u: &AppUser| &u.id).await?;
            let groups: Vec<GroupAssignment> = c.get_as(&format!("/apps/{}/groups", enc(&app))).await?;
            if c.json {
                crate::remote::say(format_args!(
                    "{}",
                    serde_json::to_string_pretty(&json!({ "users": users, "groups": groups }))?
                ));
            } else {
                c.rows(&users);
                c.rows(&groups);
            }
        }
        Assignments::Add { app, user, group } => {
            let app_id = resolve::app(c, &app).await?;
            let named = user.clone().or(group.clone()).unwrap_or_default();
            let (kind, id) = which(c, user, group).await?;
            let r = c.put(&format!("/apps/{}/{kind}/{}", enc(&app_id), enc(&id)), None).await?;
            held_or(c, &r, format!("assigned {named} to {app}"));
        }
        Assignments::Remove { app, user, group } => {
            let app_id = resolve::app(c, &app).await?;
            let named = user.clone().or(group.clone()).unwrap_or_default();
            let (kind, id) = which(c, user, group).await?;
            let r = c.delete(&format!("/apps/{}/{kind}/{}", enc(&app_id), enc(&id))).await?;
            held_or(c, &r, format!("removed {named} from {app}"));
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
