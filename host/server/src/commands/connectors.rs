//! `provisio connectors`: connector versions on the server.

use std::path::PathBuf;

use anyhow::Context as _;
use base64::Engine as _;
use clap::Subcommand;
use serde_json::json;

use provisio_proto::Connector;

use super::pointer_str;
use crate::remote::{Client, enc};

#[derive(Subcommand, Debug)]
pub enum Connectors {
    /// Installed versions and the apps on each.
    #[command(after_help = "Example:\n  provisio connectors list")]
    List,
    /// Install a package folder (connector.toml and one .wasm) on the server.
    #[command(after_help = "Example:\n  provisio connectors install ./scim-connector --upgrade-apps")]
    Install {
        dir: PathBuf,
        #[arg(long)]
        component: Option<PathBuf>,
        /// Move every unpinned app of this connector to the new version.
        #[arg(long)]
        upgrade_apps: bool,
    },
    /// A version's manifest, operations and the grants it asks for.
    #[command(after_help = "Example:\n  provisio connectors describe scim@0.1.0")]
    Describe { connector: String },
    /// Remove a version no app runs.
    #[command(after_help = "Example:\n  provisio connectors remove scim@0.1.0")]
    Remove { connector: String },
    /// Move an app to a version of its connector, optionally pinning it there.
    #[command(after_help = "Example:\n  provisio connectors use Wiki 0.2.0 --pin")]
    Use {
        app: String,
        version: String,
        #[arg(long)]
        pin: bool,
    },
    /// Move an app back to the version it ran before.
    #[command(after_help = "Example:\n  provisio connectors rollback Wiki")]
    Rollback { app: String },
}

fn split_label(label: &str) -> anyhow::Result<(&str, &str)> {
    label.split_once('@').context("name the connector as NAME@VERSION, e.g. scim@0.1.0")
}

pub async fn connectors(c: &Client, cmd: Connectors) -> anyhow::Result<()> {
    match cmd {
        Connectors::List => c.rows(&c.get_as::<Vec<Connector>>("/connectors").await?),
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
