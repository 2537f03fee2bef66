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

/// What a connector version says about itself (its `describe`) and what
/// its manifest lets it reach, with the apps that run it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorDescription {
    pub name: String,
    pub version: String,
    /// `name@version`.
    pub label: String,
    pub digest: String,
    /// The WIT contract version it was built against.
    pub contract: String,
    /// The apps that run it (none when described from a local package).
    pub apps: Vec<String>,
    /// The operations it implements, e.g. `create-user`, `list-users`.
    pub operations: Vec<String>,
    /// What each app of it is configured with.
    pub settings: Vec<SettingInfo>,
    /// The secrets it may be given, and where each may be sent.
    pub credentials: Vec<CredentialInfo>,
    /// The hosts its manifest lets it call (`*.` for a subdomain wildcard).
    pub hosts: Vec<String>,
    /// The account attributes it understands.
    pub profile: Vec<AttributeInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingInfo {
    pub name: String,
    /// text, url, integer or boolean.
    #[serde(rename = "type")]
    pub kind: String,
    pub required: bool,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialInfo {
    pub name: String,
    /// The schemes the application accepts: bearer, basic,
    /// oauth2-client-credentials.
    pub schemes: Vec<String>,
    /// Where the package binds it; an app's grant stays within these.
    pub origins: Vec<String>,
    pub required: bool,
    /// Bound to a wildcard: each app must name its origins.
    pub wildcard: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttributeInfo {
    pub name: String,
    /// boolean, integer, number, text, binary, datetime, reference or
    /// complex.
    #[serde(rename = "type")]
    pub kind: String,
    pub multi_valued: bool,
    pub required: bool,
    pub description: String,
    /// A complex attribute's parts.
    #[schema(no_recursion)]
    pub sub_attributes: Vec<AttributeInfo>,
}
