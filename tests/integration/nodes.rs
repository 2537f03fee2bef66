//! Several `provisio serve` runs on one directory: a data directory belongs
//! to one process at a time, and every run is listed with whether it is
//! live and what it holds.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use crate::databases::{Backend, TestDatabase};
use crate::lax_app::{LaxApp, Request};
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

/// A version installed through one node is in the directory: another node
/// loads it (at start, or within seconds when it is installed later) and
/// runs the apps on it, with the first node gone.
#[tokio::test]
async fn a_connector_version_installed_through_one_node_runs_on_another() {
    let (dir_a, dir_b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let db = TestDatabase::new(Backend::Postgres, dir_a.path()).await;
    let scim = crate::support::Scim2Server::start().await;
    let proxy = crate::support::RecordingProxy::start(&scim.origin()).await;
    let mut a = Provisio::start(dir_a.path(), &db.url, CONFIG).await;
    // Nodes share the key that seals app credentials.
    std::fs::copy(dir_a.path().join("secret.key"), dir_b.path().join("secret.key")).expect("share the key");
    let b = Provisio::start(dir_b.path(), &db.url, CONFIG).await;

    let next = crate::versions::package(&crate::versions::next_manifest(), crate::support::SCIM_NEXT);
    assert_eq!(a.ok("POST", "/connectors", Some(next)).await["label"], "scim@0.2.0");
    let app = a.create_scim_app("Next", &proxy.origin(), &scim.token).await;
    a.ok("PUT", &format!("/apps/{app}/connector"), Some(serde_json::json!({ "version": "0.2.0" }))).await;
    a.kill();

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = b.ok("GET", "/connectors", None).await;
        let loaded = listed.as_array().into_iter().flatten().any(|c| c["version"] == "0.2.0" && c["loaded"] == true);
        if loaded {
            break;
        }
        assert!(Instant::now() < deadline, "node b never loaded scim@0.2.0: {listed}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for i in 0..3 {
        let user = b.create_user(&format!("n{i}@example.com"), "N", &format!("{i}")).await;
        b.ok("PUT", &format!("/apps/{app}/users/{user}"), None).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while b.pending().await > 0 {
        assert!(Instant::now() < deadline, "not provisioned by node b: {:?}", b.accounts(&app).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(scim.total_users().await, 3, "provisioned by node b");
    let exchanges = proxy.exchanges();
    let posts: Vec<_> = exchanges.iter().filter(|e| e.method == "POST").collect();
    assert_eq!(posts.len(), 3);
    assert!(posts.iter().all(|e| e.user_agent.contains("scim@0.2.0")), "{:?}", posts.first().map(|e| &e.user_agent));
    drop(b);
    db.drop().await;
}

/// When each duplicate sweep started, as the app saw it: its first page of
/// an unfiltered listing.
pub(crate) fn sweep_starts(requests: &[Request]) -> Vec<Instant> {
    requests
        .iter()
        .filter(|r| r.method == "GET" && (r.path == "/v2/Users" || r.path.starts_with("/v2/Users?")))
        .filter(|r| !r.path.contains("filter="))
        .filter(|r| {
            !r.path.contains("startIndex=") || r.path.contains("startIndex=1&") || r.path.ends_with("startIndex=1")
        })
        .map(|r| r.arrived)
        .collect()
}

/// Fails if two sweeps started less than a period apart.
fn assert_once_per_period(starts: &[Instant], period: Duration) {
    for pair in starts.windows(2) {
        let apart = pair[1] - pair[0];
        // A quarter period of slack: the schedule is kept from when a run
        // began; how soon its first request reaches the app varies with load.
        assert!(apart + period / 4 >= period, "two sweeps {apart:?} apart: {starts:?}");
    }
}

/// Who runs a singleton, by the nodes' listing.
async fn runner(p: &Provisio, singleton: &str) -> Vec<String> {
    let nodes = p.ok("GET", "/nodes", None).await;
    nodes
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["live"] == true && n["singletons"].as_array().is_some_and(|s| s.iter().any(|s| s == singleton)))
        .map(|n| n["listen"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn a_singleton_runs_on_one_node_once_per_period_and_moves_when_its_node_dies() {
    let (dir_a, dir_b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let db = TestDatabase::new(Backend::Postgres, dir_a.path()).await;
    let app = LaxApp::start().await;
    let period = Duration::from_secs(2);
    let config = format!("{CONFIG}duplicate_sweep_secs = {}\n", period.as_secs());
    let mut a = Provisio::start(dir_a.path(), &db.url, &config).await;
    std::fs::copy(dir_a.path().join("secret.key"), dir_b.path().join("secret.key")).expect("share the key");
    let mut b = Provisio::start(dir_b.path(), &db.url, &config).await;
    a.create_scim_app("Lax", &app.origin(), "token").await;

    app.wait_for("four sweeps", Duration::from_secs(30), |r| sweep_starts(r).len() >= 4).await;
    assert_once_per_period(&sweep_starts(&app.requests()), period);
    let holder = runner(&a, "duplicates").await;
    assert_eq!(holder.len(), 1, "one node runs the sweep: {holder:?}");

    // The holder dies; the other takes over within a lease and keeps the
    // schedule.
    let (dead, survivor) = if a.base.ends_with(&holder[0]) { (&mut a, &b) } else { (&mut b, &a) };
    let run_of = |nodes: &Json, base: &str| node(nodes, base.trim_start_matches("http://"))["id"].clone();
    let nodes = survivor.ok("GET", "/nodes", None).await;
    let (dead_run, survivor_run) = (run_of(&nodes, &dead.base), run_of(&nodes, &survivor.base));
    dead.kill();
    let before = sweep_starts(&app.requests()).len();
    app.wait_for("sweeps after the kill", Duration::from_secs(30), |r| sweep_starts(r).len() >= before + 3).await;
    let after = sweep_starts(&app.requests());
    assert_once_per_period(&after[before..], period);
    let survivor_listen = survivor.base.trim_start_matches("http://").to_string();
    assert_eq!(runner(survivor, "duplicates").await, [survivor_listen], "the survivor runs it now");
    // Each change of holder is in the log; the last one is the handover.
    let log = survivor.ok("GET", "/logs?eventType=singleton.acquire&targetId=duplicates&limit=100", None).await;
    let takeovers = log.as_array().cloned().unwrap_or_default();
    assert!(takeovers.len() >= 2 && takeovers[0]["details"]["previous"].is_null(), "{log}");
    let last = &takeovers[takeovers.len() - 1]["details"];
    assert_eq!((&last["previous"], &last["holder"]), (&dead_run, &survivor_run), "{log}");
    drop((a, b));
    db.drop().await;
}

/// A version one node cannot load (here: its content is gone from the
/// directory, as after a node installed it with a build that could not
/// store it) is run by the nodes that have it; the node without it leaves
/// the app's work to them instead of failing it.
#[tokio::test]
async fn a_node_that_cannot_load_a_version_leaves_the_app_s_work_to_the_nodes_that_can() {
    let (dir_a, dir_b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let db = TestDatabase::new(Backend::Postgres, dir_a.path()).await;
    let app = LaxApp::start().await;
    let a = Provisio::start(dir_a.path(), &db.url, CONFIG).await;
    std::fs::copy(dir_a.path().join("secret.key"), dir_b.path().join("secret.key")).expect("share the key");
    let next = crate::versions::package(&crate::versions::next_manifest(), crate::support::SCIM_NEXT);
    assert_eq!(a.ok("POST", "/connectors", Some(next)).await["label"], "scim@0.2.0");
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url).await.expect("connect");
    sqlx::query("DELETE FROM package_blobs").execute(&mut conn).await.expect("lose the content");
    let b = Provisio::start(dir_b.path(), &db.url, CONFIG).await;
    let app_id = a.create_scim_app("Next", &app.origin(), "token").await;
    a.ok("PUT", &format!("/apps/{app_id}/connector"), Some(serde_json::json!({ "version": "0.2.0" }))).await;

    for i in 0..20 {
        let node = if i % 2 == 0 { &a } else { &b };
        let user = node.create_user(&format!("u{i}@example.com"), "U", &format!("{i}")).await;
        node.ok("PUT", &format!("/apps/{app_id}/users/{user}"), None).await;
    }
    a.wait_idle(Duration::from_secs(60)).await;
    // Node b looked for work all along, and failed none of it.
    b.wait_for_claims(3).await;
    assert_eq!(app.users().len(), 20);
    let errors = a.ok("GET", "/logs?eventType=account.fail&limit=100", None).await;
    assert_eq!(errors, serde_json::json!([]), "no push failed for want of the version");
    let (_, metrics) = b.get_text(Some(crate::server::TOKEN), "/metrics").await;
    let failed: Vec<&str> = metrics.lines().filter(|l| l.starts_with("provisio_work_failed_total")).collect();
    assert!(failed.is_empty(), "node b failed none of the app's work: {failed:?}");
    let listed = b.ok("GET", "/connectors", None).await;
    let loaded_on_b = listed.as_array().into_iter().flatten().any(|c| c["version"] == "0.2.0" && c["loaded"] == true);
    assert!(!loaded_on_b, "node b never had the version: {listed}");
    drop((a, b));
    db.drop().await;
}
