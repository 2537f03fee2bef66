//! `provisio package …`: install and inspect connector packages in a data
//! directory (no server needed), and try one against an application.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use provisio_runtime::{AppConfig, CallContext, CredentialSecret, Runtime, RuntimeConfig};
use serde::Deserialize;

#[derive(Subcommand)]
pub enum Command {
    /// List installed connectors (installing the built-in ones on first use).
    #[command(after_help = "Example:\n  provisio package list")]
    List,
    /// Install a package: a folder holding connector.toml and the component.
    #[command(after_help = "Example:\n  provisio package install ./my-connector")]
    Install {
        /// The package folder.
        dir: PathBuf,
        /// The component file, if not named in the folder as `<crate>.wasm`.
        #[arg(long)]
        component: Option<PathBuf>,
    },
    /// Print what a connector says about itself.
    #[command(after_help = "Example:\n  provisio package describe scim@0.1.0")]
    Describe { connector: String },
    /// Test the connection of a connector to an app described by a TOML file
    /// (settings, credentials, grants).
    #[command(after_help = "Example:\n  provisio package check scim@0.1.0 wiki.toml")]
    Check { connector: String, app: PathBuf },
}

/// An app file for `check`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppFile {
    #[serde(default)]
    settings: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    credentials: BTreeMap<String, CredentialSecret>,
    #[serde(default)]
    grants: Vec<String>,
    #[serde(default)]
    credential_origins: BTreeMap<String, Vec<String>>,
}

/// `json`: the global `--json` flag.
pub async fn run(data_dir: &Path, cmd: Command, json: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    let runtime = Runtime::new(RuntimeConfig::new(data_dir))?;
    let loaded = runtime.load_installed()?;
    install_bundled(&runtime).await?;
    tracing::info!(loaded, elapsed_ms = started.elapsed().as_millis() as u64, "runtime ready");
    match cmd {
        Command::List => list(&runtime, json).await,
        Command::Install { dir, component } => {
            let manifest = std::fs::read_to_string(dir.join("connector.toml"))
                .with_context(|| format!("reading {}/connector.toml", dir.display()))?;
            let component_path = match component {
                Some(p) => p,
                None => find_component(&dir)?,
            };
            let bytes =
                std::fs::read(&component_path).with_context(|| format!("reading {}", component_path.display()))?;
            let c = runtime.install(&manifest, &bytes).await?;
            crate::remote::say(format_args!("installed {} ({})", c.package.label(), c.package.digest));
            for warning in c.package.manifest.access().warnings() {
                eprintln!("warning: {warning}");
            }
            Ok(())
        }
        Command::Describe { connector } => {
            let c = find(&runtime, &connector)?;
            let d = runtime.describe(&c).await?;
            crate::commands::connectors::show_description(
                &crate::api::wire::connector_description(&c, &d, Vec::new()),
                json,
            );
            Ok(())
        }
        Command::Check { connector, app } => {
            let c = find(&runtime, &connector)?;
            let text = std::fs::read_to_string(&app).with_context(|| format!("reading {}", app.display()))?;
            let file: AppFile = toml::from_str(&text).with_context(|| format!("{}", app.display()))?;
            let app = runtime.app(
                c,
                AppConfig {
                    app_id: "cli".into(),
                    settings: file.settings,
                    credentials: file.credentials,
                    grants: file.grants,
                    credential_origins: file.credential_origins,
                    limits: None,
                },
            )?;
            let inv = app.check(&CallContext::new("cli-check")).await;
            match inv.result {
                Ok(()) => {
                    crate::remote::say(format_args!(
                        "ok ({} ms, {} requests)",
                        inv.report.duration.as_millis(),
                        inv.report.requests
                    ));
                    Ok(())
                }
                Err(e) => bail!("check failed ({} is to blame): {e}", e.blame()),
            }
        }
    }
}

pub async fn install_bundled(runtime: &Runtime) -> anyhow::Result<()> {
    for package in provisio_bundled::ALL {
        let manifest = provisio_runtime::Manifest::parse(package.manifest)?;
        if runtime.connector(&manifest.connector.name, &manifest.connector.version).is_none() {
            runtime.install(package.manifest, package.component).await?;
        }
    }
    Ok(())
}

fn find(runtime: &Runtime, spec: &str) -> anyhow::Result<std::sync::Arc<provisio_runtime::Connector>> {
    let (name, version) = spec.split_once('@').context("name the connector as NAME@VERSION, e.g. scim@0.1.0")?;
    runtime.connector(name, version).with_context(|| {
        let installed: Vec<String> = runtime.connectors().iter().map(|c| c.package.label()).collect();
        format!("{spec} is not installed (installed: {})", installed.join(", "))
    })
}

pub fn find_component(dir: &Path) -> anyhow::Result<PathBuf> {
    let wasm: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    match wasm.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("{} holds no .wasm component; pass --component", dir.display()),
        _ => bail!("{} holds several .wasm files; pass --component", dir.display()),
    }
}

async fn list(runtime: &Runtime, json: bool) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for c in runtime.connectors() {
        let d = runtime.describe(&c).await?;
        rows.push(serde_json::json!({
            "name": c.package.name(),
            "version": c.package.version(),
            "contract": c.contract_version.to_string(),
            "digest": c.package.digest,
            "operations": d.operations.iter().map(|o| o.name()).collect::<Vec<_>>(),
        }));
    }
    if json {
        crate::remote::say(format_args!("{}", serde_json::to_string_pretty(&rows)?));
        return Ok(());
    }
    crate::remote::say(format_args!("{:<16} {:<10} {:<9} {:<20} OPERATIONS", "NAME", "VERSION", "CONTRACT", "DIGEST"));
    for r in &rows {
        let digest = r["digest"].as_str().unwrap_or_default();
        crate::remote::say(format_args!(
            "{:<16} {:<10} {:<9} {:<20} {}",
            r["name"].as_str().unwrap_or_default(),
            r["version"].as_str().unwrap_or_default(),
            r["contract"].as_str().unwrap_or_default(),
            &digest[..digest.len().min(19)],
            r["operations"].as_array().map(|o| o.len()).unwrap_or(0),
        ));
    }
    Ok(())
}
