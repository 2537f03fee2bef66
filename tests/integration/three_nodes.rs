//! Three `provisio serve` nodes on one PostgreSQL, SIGKILLed at random while
//! admins work through all of them, against an app that accepts a second
//! account for a userName and records every request: afterwards the app
//! holds one account per user, created by one POST, never two requests for
//! one account in flight at once; the consistency checker finds nothing; a
//! version uploaded through node 1 runs on node 3; the duplicate sweep (a
//! singleton) ran once per period throughout.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value as Json, json};

use crate::databases::{Backend, TestDatabase};
use crate::lax_app::{Behaviour, LaxApp};
use crate::server::{Provisio, TOKEN};

const USERS: usize = 2_000;
const LEASE_SECS: u64 = 3;
/// Longer than the slowest create lasts past its lease: an in-doubt create
/// has always committed in the app when it is looked up.
const SETTLE_SECS: u64 = 3;
const SWEEP_SECS: u64 = 5;
/// The slow creates: longer than the lease.
const SLOW_POST: Duration = Duration::from_secs(4);

fn config() -> String {
    format!(
        "[executor]\nretry_base_ms = 100\nretry_max_ms = 1000\npoll_ms = 100\nlease_secs = {LEASE_SECS}\n\
         settle_secs = {SETTLE_SECS}\nduplicate_sweep_secs = {SWEEP_SECS}\n"
    )
}

fn login(i: usize) -> String {
    format!("user{i:04}@example.com")
}

/// What an admin may expect of user `i` at the end.
fn active_at_end(i: usize) -> bool {
    // 0: deactivated midway; 5: left the group midway; 1: deactivated at the
    // end through node 3 alone; 3: left the group and came back.
    !matches!(i % 10, 0 | 1 | 5)
}

/// A tiny deterministic generator: the seed is printed, so a failing run
/// can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// An admin who works through whichever node answers: a call cut off by a
/// kill is sent again to the next node, as an operator's script would.
#[derive(Clone)]
struct Admin {
    /// Each node's address, `None` while it is down: its old port may be
    /// taken by another process (another test's server) meanwhile.
    bases: Arc<Mutex<Vec<Option<String>>>>,
    client: reqwest::Client,
}

impl Admin {
    /// Answers the status and body; a repeated call may meet what the cut
    /// one did (409 for a user that was created, say): `retried` says so.
    async fn call(&self, node: usize, method: &str, path: &str, body: Option<Json>) -> (u16, Json, bool) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut retried = false;
        for attempt in 0.. {
            let base = {
                let bases = self.bases.lock().unwrap_or_else(|p| p.into_inner());
                bases[(node + attempt) % bases.len()].clone()
            };
            let Some(base) = base else { continue };
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let mut req = self
                .client
                .request(method, format!("{base}/api/v1{path}"))
                .header("Authorization", format!("SSWS {TOKEN}"))
                .timeout(Duration::from_secs(30));
            if let Some(body) = &body {
                req = req.json(body);
            }
            match req.send().await {
                Ok(r) if r.status().as_u16() < 500 => {
                    let status = r.status().as_u16();
                    return (status, r.json().await.unwrap_or(Json::Null), retried);
                }
                _ => {
                    assert!(Instant::now() < deadline, "no node answered {path} for two minutes");
                    retried = true;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        unreachable!()
    }

    /// A call that must succeed, or have succeeded before it was cut off.
    async fn ok(&self, node: usize, method: &str, path: &str, body: Option<Json>) -> Json {
        let (status, answer, retried) = self.call(node, method, path, body).await;
        assert!((200..300).contains(&status) || retried, "{method} {path}: {status} {answer}");
        answer
    }

    /// Creates user `i` (or finds the one a cut-off call created).
    async fn create_user(&self, node: usize, i: usize) -> String {
        let body = json!({ "profile": {
            "login": login(i), "email": login(i), "firstName": format!("First{i}"), "lastName": "Last", "title": "Engineer"
        }});
        let mut seen = Vec::new();
        for round in 0..5 {
            let (status, answer, retried) = self.call(node, "POST", "/users", Some(body.clone())).await;
            if (200..300).contains(&status) {
                return answer["id"].as_str().expect("id").to_string();
            }
            assert!((retried || round > 0) && status == 409, "creating {}: {status} {answer}", login(i));
            let filter = format!("filter=profile.login%20eq%20%22{}%22", login(i).replace('@', "%40"));
            let found = self.ok(node, "GET", &format!("/users?{filter}"), None).await;
            if let Some(id) = found[0]["id"].as_str() {
                return id.to_string();
            }
            // Neither made nor found (the search was cut off too): again.
            seen.push(format!("409 {answer}, then {found}"));
        }
        panic!("creating {}: {seen:?}", login(i));
    }
}

/// The nodes, killed and restarted by one task while the admins work.
struct Cluster {
    nodes: Vec<tokio::sync::Mutex<Provisio>>,
    bases: Arc<Mutex<Vec<Option<String>>>>,
    kills: Mutex<Vec<Instant>>,
}

impl Cluster {
    async fn kill_at_random_until(&self, done: &tokio::sync::watch::Receiver<bool>, rng: &mut Rng) {
        while !*done.borrow() {
            tokio::time::sleep(Duration::from_millis(1_500 + rng.below(2_000))).await;
            let n = rng.below(self.nodes.len() as u64) as usize;
            let mut node = self.nodes[n].lock().await;
            self.bases.lock().unwrap_or_else(|p| p.into_inner())[n] = None;
            node.kill();
            self.kills.lock().unwrap_or_else(|p| p.into_inner()).push(Instant::now());
            tokio::time::sleep(Duration::from_millis(rng.below(800))).await;
            node.restart().await;
            self.bases.lock().unwrap_or_else(|p| p.into_inner())[n] = Some(node.base.clone());
        }
    }
}

#[tokio::test]
async fn three_nodes_killed_at_random_keep_every_promise() {
    let started = Instant::now();
    let seed = std::env::var("THREE_NODES_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::time::SystemTime::UNIX_EPOCH.elapsed().map_or(1, |d| d.as_nanos() as u64) | 1);
    eprintln!("three nodes: seed {seed} (THREE_NODES_SEED={seed} replays the kills)");
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("tempdir")).collect();
    let db = TestDatabase::new(Backend::Postgres, dirs[0].path()).await;
    let app = LaxApp::start().await;
    // One create in forty takes longer than the lease.
    app.set_rule(|r| match (r.method.as_str(), r.user_name.as_deref()) {
        ("POST", Some(name)) if name[4..8].parse::<usize>().is_ok_and(|i| i % 40 == 7) => {
            Behaviour { delay: SLOW_POST, ..Behaviour::default() }
        }
        _ => Behaviour::default(),
    });

    let first = Provisio::start(dirs[0].path(), &db.url, &config()).await;
    let mut nodes = vec![first];
    for dir in &dirs[1..] {
        // Nodes share the key that seals app credentials.
        std::fs::copy(dirs[0].path().join("secret.key"), dir.path().join("secret.key")).expect("share the key");
        nodes.push(Provisio::start(dir.path(), &db.url, &config()).await);
    }
    // A version uploaded through node 1 only.
    let n1 = &nodes[0];
    let next = crate::versions::package(&crate::versions::next_manifest(), crate::support::SCIM_NEXT);
    assert_eq!(n1.ok("POST", "/connectors", Some(next)).await["label"], "scim@0.2.0");
    let app_id = n1.create_scim_app("Lax", &app.origin(), "token").await;
    n1.ok("PUT", &format!("/apps/{app_id}/connector"), Some(json!({ "version": "0.2.0" }))).await;
    let group = n1.ok("POST", "/groups", Some(json!({ "profile": { "name": "Staff" } }))).await["id"]
        .as_str()
        .expect("group id")
        .to_string();
    n1.ok("PUT", &format!("/apps/{app_id}/groups/{group}"), None).await;

    let bases = Arc::new(Mutex::new(nodes.iter().map(|n| Some(n.base.clone())).collect::<Vec<_>>()));
    let cluster = Arc::new(Cluster {
        nodes: nodes.into_iter().map(tokio::sync::Mutex::new).collect(),
        bases: bases.clone(),
        kills: Mutex::default(),
    });
    let admin = Admin { bases, client: reqwest::Client::builder().no_proxy().build().expect("client") };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let killer = {
        let cluster = cluster.clone();
        tokio::spawn(async move { cluster.kill_at_random_until(&stopped, &mut Rng(seed)).await })
    };

    // Joiners, through all three nodes at once.
    let ids: Vec<String> = futures::stream::iter(0..USERS)
        .map(|i| {
            let (admin, group) = (admin.clone(), group.clone());
            async move {
                let id = admin.create_user(i % 3, i).await;
                admin.ok(i % 3, "PUT", &format!("/groups/{group}/users/{id}"), None).await;
                id
            }
        })
        .buffered(6)
        .collect()
        .await;
    // Leavers and movers while the joiners are provisioned, each kind
    // through another node.
    futures::stream::iter(0..USERS)
        .filter(|i| futures::future::ready(matches!(i % 10, 0 | 3 | 5)))
        .for_each_concurrent(6, |i| {
            let (admin, group, id) = (admin.clone(), group.clone(), ids[i].clone());
            async move {
                match i % 10 {
                    0 => {
                        admin.ok(0, "POST", &format!("/users/{id}/lifecycle/deactivate"), None).await;
                    }
                    5 => {
                        admin.ok(1, "DELETE", &format!("/groups/{group}/users/{id}"), None).await;
                    }
                    _ => {
                        admin.ok(2, "DELETE", &format!("/groups/{group}/users/{id}"), None).await;
                        admin.ok(0, "PUT", &format!("/groups/{group}/users/{id}"), None).await;
                    }
                }
            }
        })
        .await;
    // Keep killing while the work drains, then let it settle.
    let drain_deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let (status, work, _) = admin.call(2, "GET", "/work", None).await;
        if status == 200 && work["pending"] == 0 && cluster.kills.lock().map_or(0, |k| k.len()) >= 4 {
            break;
        }
        assert!(Instant::now() < drain_deadline, "the work did not drain: {work}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.send(true).expect("stop the killer");
    killer.await.expect("killer");
    let kills = cluster.kills.lock().map(|k| k.clone()).unwrap_or_default();
    let cluster = Arc::into_inner(cluster).expect("the killer is done");
    let mut nodes: Vec<Provisio> = cluster.nodes.into_iter().map(tokio::sync::Mutex::into_inner).collect();
    nodes[2].wait_idle(Duration::from_secs(120)).await;

    // Nodes 1 and 2 gone: the last leavers are node 3's alone, on the
    // version only node 1 received.
    nodes[0].kill();
    nodes[1].kill();
    let n3 = &nodes[2];
    for (i, id) in ids.iter().enumerate().filter(|(i, _)| i % 10 == 1) {
        let (status, answer) = n3.call("POST", &format!("/users/{id}/lifecycle/deactivate"), None).await;
        assert!((200..300).contains(&status), "user {i}: {status} {answer}");
    }
    n3.wait_idle(Duration::from_secs(120)).await;
    let (_, metrics) = n3.get_text(Some(TOKEN), "/metrics").await;
    let done_here: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("provisio_work_done_total") && l.contains(&app_id))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(done_here >= (USERS / 10) as f64, "node 3 pushed the last leavers on scim@0.2.0: {done_here}");

    // One account per user, made by one POST, in the state the directory
    // says, never two requests for one account at once.
    let held = app.by_name();
    let requests = app.requests();
    let mut posts = std::collections::BTreeMap::<&str, usize>::new();
    for r in requests.iter().filter(|r| r.method == "POST") {
        *posts.entry(r.user_name.as_deref().unwrap_or_default()).or_default() += 1;
    }
    let mut never_made = 0;
    for (i, id) in ids.iter().enumerate().take(USERS) {
        let accounts = held.get(&login(i)).map_or(&[][..], Vec::as_slice);
        let posted = posts.get(login(i).as_str()).copied().unwrap_or(0);
        // A user who left (deactivated, or removed from the group) before
        // their create ran needs no account at all.
        if !active_at_end(i) && i % 10 != 1 && accounts.is_empty() && posted == 0 {
            never_made += 1;
            continue;
        }
        assert_eq!(accounts.len(), 1, "{} has {} accounts: {accounts:?}", login(i), accounts.len());
        assert_eq!(posted, 1, "{} was POSTed {posted} times", login(i));
        assert_eq!(accounts[0]["active"], json!(active_at_end(i)), "{}: {:?}", login(i), accounts[0]);
        assert_eq!(accounts[0]["externalId"], json!(id), "{} carries Provisio's key", login(i));
    }
    assert_eq!(held.len() + never_made, USERS, "accounts in the app, and only ours");
    app.assert_one_request_at_a_time();
    let check = n3.ok("GET", &format!("/apps/{app_id}/consistency"), None).await;
    assert_eq!(check["drift"], json!([]), "the checker finds nothing: {check}");
    assert_eq!(n3.pending().await, 0, "the queue is empty");
    let duplicates = n3.ok("GET", "/logs?eventType=account.duplicate.find&limit=10", None).await;
    assert_eq!(duplicates, json!([]), "no duplicate was ever made");

    // The sweep ran on one node at a time, once per period: two starts are
    // closer only when a kill cut the first short.
    let starts = crate::nodes::sweep_starts(&requests);
    let period = Duration::from_secs(SWEEP_SECS);
    for pair in starts.windows(2) {
        let killed_between = kills.iter().any(|k| *k >= pair[0] && *k <= pair[1]);
        assert!(
            pair[1] - pair[0] + period / 4 >= period || killed_between,
            "two sweeps {:?} apart with no kill between",
            pair[1] - pair[0]
        );
    }
    assert!(starts.len() >= 3, "the sweep ran: {} times", starts.len());
    eprintln!(
        "three nodes: {USERS} users, {} kills, {} sweeps, {} requests, {:?}",
        kills.len(),
        starts.len(),
        requests.len(),
        started.elapsed()
    );
    drop(nodes);
    db.drop().await;
}
