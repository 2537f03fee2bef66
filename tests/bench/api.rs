//! What checking who calls costs the API, through a real `provisio serve`
//! on SQLite: reads of one user per second at a fixed concurrency with the
//! bootstrap token (compared in memory: the baseline), a stored admin's
//! token (hashed and looked up), and a group admin's (plus the check that
//! the user is in their groups). `/healthz` (no token, no directory) is the
//! floor of the HTTP stack itself. Then pages of 200: a group's members and
//! an app's users against the plain list of users (the baseline), each one
//! query however large the group. Figures in tests/bench/README.md.
//!
//! `cargo bench -p provisio-tests --bench api --profile dev`
//! (BENCH_SECONDS, BENCH_CONCURRENCY tune it.)

#[path = "../integration/databases.rs"]
#[allow(dead_code)]
mod databases;
#[path = "../integration/server.rs"]
#[allow(dead_code)]
mod server;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use databases::{Backend, TestDatabase};
use server::{Provisio, TEST_CONFIG};

const BOOTSTRAP: &str = "test-admin-token-0123456789";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Requests per second for `url` with `token` over `seconds`.
async fn rate(url: &str, token: Option<&str>, concurrency: usize, seconds: u64) -> f64 {
    let client = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(concurrency).build().expect("client");
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, done, url, token) = (client.clone(), done.clone(), url.to_string(), token.map(str::to_string));
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let mut req = client.get(&url);
                    if let Some(t) = &token {
                        req = req.header("Authorization", format!("SSWS {t}"));
                    }
                    let r = req.send().await.expect("answer");
                    assert!(r.status().is_success(), "{url}: {}", r.status());
                    let _ = r.bytes().await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let seconds = env_u64("BENCH_SECONDS", 5);
    let concurrency = env_u64("BENCH_CONCURRENCY", 16) as usize;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let p = Provisio::start_with_log(dir.path(), &db.url, TEST_CONFIG, "warn").await;
    let group = p.ok("POST", "/groups", Some(json!({ "profile": { "name": "Bench" } }))).await["id"]
        .as_str()
        .expect("group")
        .to_string();
    let user = p.create_user("bench@example.com", "Ben", "Ch").await;
    p.ok("PUT", &format!("/groups/{group}/users/{user}"), None).await;
    for i in 0..200 {
        let other = p.create_user(&format!("other{i}@example.com"), "Oth", "Er").await;
        p.ok("PUT", &format!("/groups/{group}/users/{other}"), None).await;
    }
    let (_, stored) = p.admin_with_token("bench-super@example.com", "super-admin", &[]).await;
    let (_, scoped) = p.admin_with_token("bench-group@example.com", "group-admin", &[group.as_str()]).await;
    let url = format!("{}/api/v1/users/{user}", p.base);

    // Warm up every path once.
    for token in [BOOTSTRAP, stored.as_str(), scoped.as_str()] {
        rate(&url, Some(token), concurrency, 1).await;
    }
    let floor = rate(&format!("{}/healthz", p.base), None, concurrency, seconds).await;
    let baseline = rate(&url, Some(BOOTSTRAP), concurrency, seconds).await;
    let hashed = rate(&url, Some(&stored), concurrency, seconds).await;
    let group_admin = rate(&url, Some(&scoped), concurrency, seconds).await;
    println!("GET /healthz (no token, no directory)    {floor:>8.0} req/s");
    println!("GET /users/{{id}}, bootstrap token        {baseline:>8.0} req/s  (baseline)");
    println!("GET /users/{{id}}, stored token (hashed)  {hashed:>8.0} req/s  ratio {:.2}", hashed / baseline);
    println!("GET /users/{{id}}, group admin (scoped)   {group_admin:>8.0} req/s  ratio {:.2}", group_admin / baseline);

    // A paused app (it sends nothing while the bench runs) given the group.
    let app = p.create_scim_app("Bench", "http://127.0.0.1:9", "t").await;
    p.ok("POST", &format!("/apps/{app}/lifecycle/deactivate"), None).await;
    p.ok("PUT", &format!("/apps/{app}/groups/{group}"), None).await;
    let page = |path: &str| format!("{}/api/v1{path}?limit=200", p.base);
    let users = rate(&page("/users"), Some(BOOTSTRAP), concurrency, seconds).await;
    let members = rate(&page(&format!("/groups/{group}/users")), Some(BOOTSTRAP), concurrency, seconds).await;
    let app_users = rate(&page(&format!("/apps/{app}/users")), Some(BOOTSTRAP), concurrency, seconds).await;
    println!("GET /users, 200 a page                    {users:>8.0} req/s  (baseline)");
    println!("GET /groups/{{id}}/users, 200 a page       {members:>8.0} req/s  ratio {:.2}", members / users);
    println!("GET /apps/{{id}}/users, 200 a page         {app_users:>8.0} req/s  ratio {:.2}", app_users / users);
    drop(p);
    db.drop().await;
}
