//! `provisio groups`: groups and their members.

use clap::Subcommand;
use serde_json::json;

use provisio_proto::{Group, User};

use super::{held_or, pointer_str};
use crate::remote::{Client, enc};
use crate::resolve;

#[derive(Subcommand, Debug)]
pub enum Groups {
    /// Every group.
    #[command(after_help = "Example:\n  provisio groups list")]
    List,
    /// A group, by id or name.
    #[command(after_help = "Example:\n  provisio groups get Engineering")]
    Get { group: String },
    #[command(after_help = "Example:\n  provisio groups create Engineering --description \"Everyone who builds\"")]
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// A group's members.
    #[command(after_help = "Example:\n  provisio groups members Engineering")]
    Members { group: String },
    /// Add a user (id or login) to a group: they get the group's apps.
    #[command(after_help = "Example:\n  provisio groups add Engineering ada@example.com")]
    Add { group: String, user: String },
    /// Remove a user from a group: they lose the apps only it gave them.
    #[command(after_help = "Example:\n  provisio groups remove Engineering ada@example.com")]
    Remove { group: String, user: String },
    /// Rename a group (and, with --description, describe it anew).
    #[command(after_help = "Example:\n  provisio groups rename Engineering \"Product Engineering\"")]
    Rename {
        group: String,
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a group: its members lose the apps it gave them (guarded).
    #[command(after_help = "Example:\n  provisio groups delete Contractors")]
    Delete { group: String },
}

pub async fn groups(c: &Client, cmd: Groups) -> anyhow::Result<()> {
    match cmd {
        Groups::List => c.rows(&c.get_all::<Group>("/groups", |g| &g.id).await?),
        Groups::Get { group } => {
            let id = resolve::group(c, &group).await?;
            c.row(&c.get_as::<Group>(&format!("/groups/{}", enc(&id))).await?)
        }
        Groups::Create { name, description } => {
            let g =
                c.post("/groups", Some(&json!({ "profile": { "name": name, "description": description } }))).await?;
            c.done(&g, format!("created group {name} ({})", pointer_str(&g, "/id")));
        }
        Groups::Members { group } => {
            let id = resolve::group(c, &group).await?;
            c.rows(&c.get_all(&format!("/groups/{}/users", enc(&id)), |u: &User| &u.id).await?)
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
        Groups::Rename { group, name, description } => {
            let id = resolve::group(c, &group).await?;
            let mut profile = json!({ "name": name });
            if let Some(description) = description {
                profile["description"] = json!(description);
            }
            let g = c.patch(&format!("/groups/{}", enc(&id)), &json!({ "profile": profile })).await?;
            c.done(&g, format!("group {group} is now {}", pointer_str(&g, "/profile/name")));
        }
        Groups::Delete { group } => {
            let id = resolve::group(c, &group).await?;
            let r = c.delete(&format!("/groups/{}", enc(&id))).await?;
            held_or(c, &r, format!("deleted group {group}"));
        }
    }
    Ok(())
}
