//! Databases for tests: a fresh SQLite file or a fresh PostgreSQL database
//! (127.0.0.1:5432, or PROVISIO_TEST_POSTGRES) per test, dropped afterwards.

use sqlx::Connection;

pub fn admin_url() -> String {
    std::env::var("PROVISIO_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn unique_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}_{}_{}", std::process::id(), nanos, N.fetch_add(1, Ordering::Relaxed))
}

/// Creates a database of its own; returns its URL and name.
pub async fn create_postgres() -> (String, String) {
    let name = format!("provisio_test_{}", unique_name());
    let mut admin = sqlx::PgConnection::connect(&admin_url())
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {} is needed for these tests: {e}", admin_url()));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await.expect("create db");
    let url = admin_url().rsplit_once('/').map(|(base, _)| format!("{base}/{name}")).expect("url");
    (url, name)
}

pub async fn drop_postgres(name: &str) {
    let mut admin = sqlx::PgConnection::connect(&admin_url()).await.expect("admin");
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
        .execute(&mut admin)
        .await
        .expect("drop db");
}

/// The two backends every end-to-end test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

/// A database for one test run: its URL, and the PostgreSQL database to drop.
pub struct TestDatabase {
    pub url: String,
    postgres: Option<String>,
}

impl TestDatabase {
    pub async fn new(backend: Backend, dir: &std::path::Path) -> TestDatabase {
        match backend {
            Backend::Sqlite => {
                TestDatabase { url: format!("sqlite://{}", dir.join("provisio.db").display()), postgres: None }
            }
            Backend::Postgres => {
                let (url, name) = create_postgres().await;
                TestDatabase { url, postgres: Some(name) }
            }
        }
    }

    pub async fn drop(self) {
        if let Some(name) = self.postgres {
            drop_postgres(&name).await;
        }
    }
}
