//! Connector versions installed on the server.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One installed version of a connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Connector {
    pub name: String,
    pub version: String,
    /// `name@version`.
    pub label: String,
    /// The WIT contract version it was built against.
    pub contract: String,
    pub digest: String,
    pub installed: String,
    /// Compiled and ready on this node.
    pub loaded: bool,
    /// The apps that run it.
    pub apps: Vec<String>,
}

/// A package to install.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewConnector {
    /// The package's connector.toml, as text.
    pub manifest: String,
    /// The WebAssembly component, base64.
    pub component: String,
    /// Move every unpinned app of this connector to the new version
    /// (each checked against its schema first; those that do not fit stay).
    #[serde(default)]
    pub upgrade_apps: bool,
}

/// What an install did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Installed {
    pub name: String,
    pub version: String,
    pub label: String,
    pub digest: String,
    pub contract: String,
    /// The apps moved to this version.
    pub upgraded: Vec<String>,
    /// The apps that stayed, and why.
    pub kept: Vec<Kept>,
    /// What the manifest asks for that an operator should know.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Kept {
    pub app: String,
    pub reason: String,
}
