//! `provisio hooks`: webhooks that hear system-log events, and what was
//! delivered to each.

use clap::Subcommand;
use serde_json::json;

use provisio_proto::{CreatedHook, Delivery, Hook};

use crate::remote::{Client, enc};

#[derive(Subcommand, Debug)]
pub enum Hooks {
    /// Every registered hook.
    #[command(after_help = "Example:\n  provisio hooks list")]
    List,
    /// A hook.
    #[command(after_help = "Example:\n  provisio hooks get 01JD…")]
    Get { id: String },
    /// Register a hook for some events: its signing secret is printed this
    /// once. Events: user.lifecycle.deactivate, task.create, plan.hold,
    /// app.lifecycle.quarantine, account.fail.
    #[command(after_help = "Example:\n  provisio hooks create ops https://hooks.example.com/provisio \
                            --event user.lifecycle.deactivate --event account.fail")]
    Create {
        name: String,
        /// Where events are POSTed (http or https).
        #[arg(value_name = "URL")]
        endpoint: String,
        #[arg(long = "event", required = true)]
        events: Vec<String>,
    },
    /// Remove a hook and its deliveries.
    #[command(after_help = "Example:\n  provisio hooks delete 01JD…")]
    Delete { id: String },
    /// A hook's deliveries, newest first: status, attempts, the receiver's
    /// last answer.
    #[command(after_help = "Example:\n  provisio hooks deliveries 01JD… --limit 20")]
    Deliveries {
        id: String,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

pub async fn hooks(c: &Client, cmd: Hooks) -> anyhow::Result<()> {
    match cmd {
        Hooks::List => c.rows(&c.get_as::<Vec<Hook>>("/hooks").await?),
        Hooks::Get { id } => c.row(&c.get_as::<Hook>(&format!("/hooks/{}", enc(&id))).await?),
        Hooks::Create { name, endpoint, events } => {
            let answer = c.post("/hooks", Some(&json!({ "name": name, "url": endpoint, "events": events }))).await?;
            let created: CreatedHook = serde_json::from_value(answer.clone())?;
            let message = format!(
                "hook {} ({}) hears {}\nits signing secret, shown this once: {}\n{}",
                created.hook.name,
                created.hook.id,
                created.hook.events.join(", "),
                created.secret,
                created.verify
            );
            c.done(&answer, message);
        }
        Hooks::Delete { id } => {
            c.delete(&format!("/hooks/{}", enc(&id))).await?;
            c.done(&json!({ "deleted": id }), format!("deleted hook {id}"));
        }
        Hooks::Deliveries { id, limit } => {
            c.rows(&c.get_as::<Vec<Delivery>>(&format!("/hooks/{}/deliveries?limit={limit}", enc(&id))).await?)
        }
    }
    Ok(())
}
