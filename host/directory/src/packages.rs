//! Installed connector versions and which one each app runs: the
//! directory's side of install, upgrade, pin, roll back and removal. The
//! runtime holds the code; this holds the record every node agrees on.

use serde::Serialize;
use serde_json::json;
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
    /// The apps that run this version.
    pub apps: Vec<String>,
}

impl Store {
    /// Every registered version, in name and install order, with its apps.
    pub async fn packages(&self) -> Result<Vec<Package>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, version, digest, contract, installed_at FROM connector_packages ORDER BY name, installed_at, version",
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
