//! Installed connector versions and which one each app runs: the
//! directory's side of install, upgrade, pin, roll back and removal. The
//! runtime holds the code; this holds the record every node agrees on.

use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Row;

use crate::apps::App;
use crate::error::StoreError;
use crate::log::NewLogEvent;
use crate::store::Store;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub digest: String,
    pub contract: String,
    pub installed_at: i64,
    /// What it can do (its descriptor's operations), when recorded.
    pub operations: Vec<String>,
    /// The apps that run this version.
    pub apps: Vec<String>,
}

/// What every node needs to load a package: its manifest, its component
/// and what it can do (its descriptor's operations, by name).
#[derive(Debug, Clone, PartialEq)]
pub struct PackageContent {
    pub manifest: String,
    pub component: Vec<u8>,
    pub operations: Vec<String>,
}

impl Store {
    /// Records an installed package; the same name@version with other bytes
    /// is a conflict. With its `content`, every node can load it from the
    /// directory (stored once per digest, with what the version can do).
    pub async fn register_package(
        &self,
        actor: &str,
        name: &str,
        version: &str,
        digest: &str,
        contract: &str,
        content: Option<&PackageContent>,
    ) -> Result<(), StoreError> {
        let now = self.now_ms();
        let mut tx = self.write().await?;
        let existing: Option<String> =
            sqlx::query("SELECT digest FROM connector_packages WHERE name = $1 AND version = $2")
                .bind(name)
                .bind(version)
                .fetch_optional(tx.conn())
                .await?
                .map(|r| r.try_get("digest"))
                .transpose()?;
        let new = match existing {
            Some(d) if d == digest => false,
            Some(d) => {
                return Err(StoreError::Conflict(format!(
                    "{name}@{version} is already registered with digest {d}; give the new build a new version"
                )));
            }
            None => true,
        };
        if new {
            sqlx::query(
                "INSERT INTO connector_packages (name, version, digest, contract, installed_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(name)
            .bind(version)
            .bind(digest)
            .bind(contract)
            .bind(now)
            .execute(tx.conn())
            .await?;
        }
        let stored = sqlx::query("SELECT 1 FROM package_blobs WHERE digest = $1")
            .bind(digest)
            .fetch_optional(tx.conn())
            .await?
            .is_some();
        // Sent once per digest: nodes re-register their versions at every start.
        if let Some(content) = content.filter(|_| !stored) {
            sqlx::query(
                "INSERT INTO package_blobs (digest, manifest, component, stored_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (digest) DO NOTHING",
            )
            .bind(digest)
            .bind(&content.manifest)
            .bind(content.component.clone())
            .bind(now)
            .execute(tx.conn())
            .await?;
        }
        if let Some(content) = content {
            sqlx::query(
                "UPDATE connector_packages SET operations = $1 WHERE name = $2 AND version = $3 AND operations IS NULL",
            )
            .bind(Value::from(content.operations.clone()).to_string())
            .bind(name)
            .bind(version)
            .execute(tx.conn())
            .await?;
        }
        if !new {
            return tx.commit().await;
        }
        let event = NewLogEvent::success(
            actor,
            "connector.install",
            "connector",
            &format!("{name}@{version}"),
            json!({ "digest": digest, "contract": contract }),
        );
        tx.log(&event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A registered version's manifest and component, when stored.
    pub async fn package_content(&self, digest: &str) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let row = sqlx::query("SELECT manifest, component FROM package_blobs WHERE digest = $1")
            .bind(digest)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((r.try_get("manifest")?, r.try_get("component")?))).transpose()
    }

    /// Every registered version, in name and install order, with its apps.
    pub async fn packages(&self) -> Result<Vec<Package>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, version, digest, contract, installed_at, operations FROM connector_packages \
             ORDER BY name, installed_at, version",
        )
        .fetch_all(&self.pool)
        .await?;
        let apps = sqlx::query("SELECT id, connector_name, connector_version FROM apps ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let (name, version): (String, String) = (r.try_get("name")?, r.try_get("version")?);
                let mut users = Vec::new();
                for a in &apps {
                    if a.try_get::<String, _>("connector_name")? == name
                        && a.try_get::<String, _>("connector_version")? == version
                    {
                        users.push(a.try_get("id")?);
                    }
                }
                Ok(Package {
                    name,
                    version,
                    digest: r.try_get("digest")?,
                    contract: r.try_get("contract")?,
                    installed_at: r.try_get("installed_at")?,
                    operations: r
                        .try_get::<Option<String>, _>("operations")?
                        .and_then(|o| serde_json::from_str(&o).ok())
                        .unwrap_or_default(),
                    apps: users,
                })
            })
            .collect()
    }

    /// Forgets an installed version. Refused while any app runs it.
    pub async fn unregister_package(&self, actor: &str, name: &str, version: &str) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let users = sqlx::query("SELECT id FROM apps WHERE connector_name = $1 AND connector_version = $2 ORDER BY id")
            .bind(name)
            .bind(version)
            .fetch_all(tx.conn())
            .await?;
        if !users.is_empty() {
            let ids: Vec<String> = users.iter().map(|r| r.try_get("id")).collect::<Result<_, _>>()?;
            return Err(StoreError::Conflict(format!(
                "{name}@{version} is in use by app(s) {}; move them to another version first",
                ids.join(", ")
            )));
        }
        let done = sqlx::query("DELETE FROM connector_packages WHERE name = $1 AND version = $2")
            .bind(name)
            .bind(version)
            .execute(tx.conn())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("connector {name}@{version}")));
        }
        let label = format!("{name}@{version}");
        tx.log(&NewLogEvent::success(actor, "connector.remove", "connector", &label, json!({}))).await?;
        tx.commit().await
    }

    /// Moves an app to another installed version of its connector (the
    /// caller has validated the app's configuration against it), and sets
    /// or keeps its pin. The version it leaves is kept for a roll back.
    pub async fn set_app_connector(
        &self,
        actor: &str,
        app_id: &str,
        version: &str,
        pinned: Option<bool>,
    ) -> Result<App, StoreError> {
        let mut tx = self.write().await?;
        let app = tx.app(app_id).await?;
        let registered = sqlx::query("SELECT 1 FROM connector_packages WHERE name = $1 AND version = $2")
            .bind(&app.connector_name)
            .bind(version)
            .fetch_optional(tx.conn())
            .await?;
        if registered.is_none() {
            return Err(StoreError::Invalid(format!(
                "{}@{version} is not installed; install it first",
                app.connector_name
            )));
        }
        let pinned = pinned.unwrap_or(app.connector_pinned);
        let moved = app.connector_version != version;
        sqlx::query(
            "UPDATE apps SET connector_version = $1, connector_pinned = $2, \
             previous_connector_version = CASE WHEN $3 = 1 THEN connector_version ELSE previous_connector_version END, \
             updated_at = $4 WHERE id = $5",
        )
        .bind(version)
        .bind(i64::from(pinned))
        .bind(i64::from(moved))
        .bind(tx.now_ms())
        .bind(app_id)
        .execute(tx.conn())
        .await?;
        let details = json!({
            "connector": app.connector_name,
            "from": app.connector_version,
            "to": version,
            "pinned": pinned,
        });
        tx.log(&NewLogEvent::success(actor, "app.connector.change", "app", app_id, details)).await?;
        let app = tx.app(app_id).await?;
        tx.commit().await?;
        Ok(app)
    }

    /// The unpinned apps of a connector that run another version than `version`.
    pub async fn unpinned_apps(&self, name: &str, version: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT id FROM apps WHERE connector_name = $1 AND connector_version <> $2 AND connector_pinned = 0 ORDER BY id",
        )
        .bind(name)
        .bind(version)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
    }
}
