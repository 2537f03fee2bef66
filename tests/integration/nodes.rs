//! Several `provisio serve` runs on one directory: a data directory belongs
//! to one process at a time, and every run is listed with whether it is
//! live and what it holds.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use crate::databases::{Backend, TestDatabase};
use crate::server::Provisio;

/// Heartbeats every second (a third of the lease): a killed run is shown
/// as not live within three.
const CONFIG: &str =
    "[executor]\nretry_base_ms = 100\nretry_max_ms = 2000\npoll_ms = 100\nlease_secs = 3\nsettle_secs = 1\n";

fn node<'a>(nodes: &'a Json, listen: &str) -> &'a Json {
    nodes.as_array().and_then(|n| n.iter().find(|n| n["listen"] == listen)).unwrap_or(&Json::Null)
}

#[tokio::test]
async fn a_second_process_on_one_data_directory_is_refused_and_every_run_is_listed_live_or_not() {
    let (dir_a, dir_b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let db = TestDatabase::new(Backend::Postgres, dir_a.path()).await;
    let a = Provisio::start(dir_a.path(), &db.url, CONFIG).await;

    // The same data directory, a second process: refused, saying why.
    let mut second = Command::new(env!("CARGO_BIN_EXE_provisio-under-test"))
        .args(["--data-dir", &dir_a.path().display().to_string(), "serve", "--listen", "127.0.0.1:0"])
        .args(["--database-url", &db.url])
        .env("PROVISIO_BOOTSTRAP_TOKEN", "test-admin-token-0123456789")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start a second process");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = second.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            panic!("a second process on one data directory kept running");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().expect("stderr"), &mut stderr).expect("stderr");
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("is in use by another provisio process"), "{stderr}");

    // Two nodes: both listed, live, each its own run of its own node.
    let mut b = Provisio::start(dir_b.path(), &db.url, CONFIG).await;
    let (listen_a, listen_b) = (a.base.trim_start_matches("http://"), b.base.trim_start_matches("http://").to_string());
    let nodes = a.ok("GET", "/nodes", None).await;
    assert_eq!(nodes.as_array().map(Vec::len), Some(2), "{nodes}");
    let (na, nb) = (node(&nodes, listen_a), node(&nodes, &listen_b));
    assert_eq!((na["live"].as_bool(), nb["live"].as_bool()), (Some(true), Some(true)), "{nodes}");
    assert_ne!(na["node"], nb["node"], "{nodes}");
    let first_run = nb["id"].clone();

    // Killed: shown as not live once it stops saying so; its restart is a
    // new run of the same node.
    b.kill();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let nodes = a.ok("GET", "/nodes", None).await;
        if node(&nodes, &listen_b)["live"] == false {
            break;
        }
        assert!(Instant::now() < deadline, "a killed node is still shown live: {nodes}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    b.restart().await;
    let nodes = a.ok("GET", "/nodes", None).await;
    let runs: Vec<&Json> = nodes.as_array().expect("nodes").iter().filter(|n| n["node"] == nb["node"]).collect();
    assert_eq!(runs.len(), 2, "{nodes}");
    assert!(runs.iter().any(|r| r["id"] == first_run && r["live"] == false), "{nodes}");
    assert!(runs.iter().any(|r| r["id"] != first_run && r["live"] == true), "{nodes}");
    drop((a, b));
    db.drop().await;
}
