//! A guest that keeps its host busy, in a real `provisio serve`: it logs a
//! 16 MiB string in a loop, which costs it almost no fuel and the host a
//! copy per call. The API answers while two such calls run, and SIGTERM
//! stops the server without waiting for them to reach their deadline.

use std::time::{Duration, Instant};

use provisio_sdk_harness::{RecordingServer, Reply};
use serde_json::json;

use crate::databases::{Backend, TestDatabase};
use crate::server::{Provisio, TEST_CONFIG};
use crate::support::{HOSTILE, HOSTILE_MANIFEST};
use crate::versions::package;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_keeps_the_host_busy_never_stalls_the_api_or_a_shutdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = RecordingServer::start(|_| Reply::status(200)).await;
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let mut p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
    p.ok("POST", "/connectors", Some(package(HOSTILE_MANIFEST, HOSTILE))).await;
    // Every account's login names the attack (the hostile guest's switch).
    let app = p
        .ok(
            "POST",
            "/apps",
            Some(json!({
                "name": "Busy",
                "connector": "hostile@0.1.0",
                "settings": { "target": target.url() },
                "credentials": { "api": { "scheme": "bearer", "token": "t0ken-value" } },
                "grants": [target.origin()],
                "mappings": { "login": "'busy-host'" }
            })),
        )
        .await;
    let app = app["id"].as_str().expect("app id").to_string();
    for login in ["busy1@example.com", "busy2@example.com"] {
        let user = p.create_user(login, "Busy", "Guest").await;
        p.ok("PUT", &format!("/apps/{app}/users/{user}"), None).await;
    }

    // Both guests are in their loops once each has asked for /started.
    let deadline = Instant::now() + Duration::from_secs(60);
    while target.requests().iter().filter(|r| r.path == "/started").count() < 2 {
        assert!(Instant::now() < deadline, "the busy guests never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The API answers while both still run (their deadline is the 30 s lease).
    let (status, health) = p.call_absolute(None, "GET", "/healthz", None).await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    assert_eq!(p.pending().await, 2, "both calls were still running when the API answered");

    // SIGTERM: the server stops at once, the guests with it.
    let stopped = p.terminate(Duration::from_secs(10));
    assert!(stopped.is_some_and(|s| s.success()), "provisio did not stop on SIGTERM within 10 s: {stopped:?}");
}
