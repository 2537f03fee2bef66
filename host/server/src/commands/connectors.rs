//! `provisio connectors`: connector versions on the server.

use std::path::PathBuf;

use anyhow::Context as _;
use base64::Engine as _;
use clap::Subcommand;
use serde_json::json;

use provisio_proto::{AttributeInfo, Connector, ConnectorDescription};

use super::pointer_str;
use crate::remote::{Client, enc, say, table_of};

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
            let d: ConnectorDescription = c.get_as(&format!("/connectors/{}/{}", enc(name), enc(version))).await?;
            show_description(&d, c.json);
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

/// A connector's description as a person reads it: what it is and runs,
/// then its settings, credentials and profile as tables (or the JSON).
pub fn show_description(d: &ConnectorDescription, json: bool) {
    if json {
        say(format_args!("{}", serde_json::to_string_pretty(d).unwrap_or_default()));
        return;
    }
    let or_none = |items: &[String]| if items.is_empty() { "(none)".to_string() } else { items.join(", ") };
    say(format_args!("{} ({}, contract {})", d.label, d.digest, d.contract));
    say(format_args!("apps:       {}", or_none(&d.apps)));
    say(format_args!("operations: {}", or_none(&d.operations)));
    say(format_args!("may call:   {}", or_none(&d.hosts)));
    if !d.settings.is_empty() {
        say(format_args!("\nSettings\n{}", table_of(&d.settings)));
    }
    if !d.credentials.is_empty() {
        say(format_args!("\nCredentials\n{}", table_of(&d.credentials)));
    }
    if !d.profile.is_empty() {
        // A complex attribute's parts read as `name.part`.
        fn flatten(prefix: &str, attributes: &[AttributeInfo], out: &mut Vec<AttributeInfo>) {
            for a in attributes {
                let name = format!("{prefix}{}", a.name);
                out.push(AttributeInfo { name: name.clone(), sub_attributes: Vec::new(), ..a.clone() });
                flatten(&format!("{name}."), &a.sub_attributes, out);
            }
        }
        let mut rows = Vec::new();
        flatten("", &d.profile, &mut rows);
        say(format_args!("\nProfile\n{}", table_of(&rows)));
    }
}
