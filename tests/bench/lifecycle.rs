//! The engine's benchmarks, end to end through a real `provisio serve`
//! (figures in tests/bench/README.md):
//!
//! 1. throughput against scim2-server under uvicorn, as a ratio to a plain
//!    Rust client making the same creates at the same concurrency;
//! 2. the engine's ceiling against a fast endpoint (an in-process hyper stub
//!    answering fixed SCIM responses), SQLite and PostgreSQL: durable
//!    operations per second;
//! 3. leaver latency: from the deactivate call to the last of 10 apps'
//!    accounts deactivated;
//! 4. resident memory of `provisio serve` holding 100,000 users, 1,000
//!    groups and 10 apps, idle and while provisioning;
//! 5. three nodes on one PostgreSQL against the fixed-answer endpoint, and
//!    one node in the same run: durable operations per second, and what
//!    PostgreSQL did per operation (commits, rows written).
//!
//! `cargo bench -p provisio-tests --bench lifecycle --profile dev`
//! (BENCH_USERS, BENCH_MEMORY_USERS and
//! BENCH_ONLY=throughput|ceiling|leaver|memory|nodes tune it.)

#[path = "../integration/databases.rs"]
#[allow(dead_code)]
mod databases;
#[path = "../integration/server.rs"]
#[allow(dead_code)]
mod server;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use databases::{Backend, TestDatabase};
use server::Provisio;

const CONCURRENCY: usize = 64;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn only(name: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |o| o.split(',').any(|x| x == name))
}

fn config() -> String {
    format!("[executor]\nconcurrency = {CONCURRENCY}\npoll_ms = 20\nretry_base_ms = 100\n")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port")
}

/// scim2-server's ASGI app under uvicorn (one process).
struct Uvicorn {
    child: Child,
    origin: String,
}

impl Uvicorn {
    async fn start() -> Uvicorn {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let port = free_port();
        let child = Command::new(root.join(".venv/bin/uvicorn"))
            .args(["--app-dir", &root.join("tests/bench").display().to_string(), "scim_asgi:app"])
            .args(["--port", &port.to_string(), "--no-access-log", "--log-level", "warning"])
            .stdout(Stdio::null())
            .spawn()
            .expect("uvicorn (run .ci/run or pip install -r tests/requirements.txt into .venv)");
        // Owned at once, so that it is killed and waited for whatever happens.
        let server = Uvicorn { child, origin: format!("http://127.0.0.1:{port}") };
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client.get(format!("{}/v2/ServiceProviderConfig", server.origin)).send().await.is_ok() {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("uvicorn did not start");
    }
}

impl Drop for Uvicorn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fast SCIM endpoint: fixed answers, a fresh id per create, on threads
/// of its own (like nginx would be, it shares the machine's two cores).
fn start_stub() -> String {
    use http_body_util::Full;
    use hyper::body::Bytes;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("rt");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let ids = Arc::new(AtomicU64::new(0));
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let ids = ids.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let ids = ids.clone();
                        async move {
                            let (status, body) = match *req.method() {
                                hyper::Method::POST => {
                                    let id = ids.fetch_add(1, Ordering::Relaxed);
                                    (201, format!(r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"u{id}","active":true}}"#))
                                }
                                hyper::Method::GET => (200, r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"Resources":[]}"#.to_string()),
                                _ => (204, String::new()),
                            };
                            hyper::Response::builder()
                                .status(status)
                                .header("content-type", "application/scim+json")
                                .body(Full::new(Bytes::from(body)))
                        }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
    });
    format!("http://{addr}")
}

fn user_body(i: usize) -> Json {
    json!({ "profile": {
        "login": format!("bench{i:06}@example.com"), "email": format!("bench{i:06}@example.com"),
        "firstName": format!("First{i}"), "lastName": format!("Last{i}"), "title": "Engineer"
    }})
}

/// What the SCIM connector sends for that user (the baseline's body).
fn scim_body(i: usize) -> Json {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": format!("bench{i:06}@example.com"), "active": true,
        "name": { "givenName": format!("First{i}"), "familyName": format!("Last{i}") },
        "displayName": format!("First{i} Last{i}"),
        "emails": [{ "value": format!("bench{i:06}@example.com"), "type": "work", "primary": true }],
        "title": "Engineer"
    })
}

/// Creates `n` users in a new group, `CONCURRENCY` calls at a time.
async fn populate(p: &Provisio, n: usize, offset: usize) -> String {
    let group = p.ok("POST", "/groups", Some(json!({ "profile": { "name": format!("g{offset}") } }))).await;
    let group = group["id"].as_str().expect("group").to_string();
    let mut next = offset;
    while next < offset + n {
        let batch: Vec<usize> = (next..(next + CONCURRENCY).min(offset + n)).collect();
        next += batch.len();
        let calls = batch.into_iter().map(|i| {
            let group = group.clone();
            async move {
                let user = p.ok("POST", "/users", Some(user_body(i))).await;
                let id = user["id"].as_str().expect("id").to_string();
                p.ok("PUT", &format!("/groups/{group}/users/{id}"), None).await;
            }
        });
        futures_join(calls).await;
    }
    group
}

async fn futures_join<F: std::future::Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    futures::future::join_all(futures).await;
}

/// CPU seconds a process has used (user + system).
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at ") ".
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 (index 11 and 12 after the name).
    (ticks(11) + ticks(12)) / 100.0
}

/// Assigns the group to the app and times until every account is pushed;
/// says how much CPU the server used per account.
async fn provision(p: &Provisio, app: &str, group: &str) -> Duration {
    let pid = p.pid().expect("pid");
    let cpu_before = cpu_secs(pid);
    let accounts_before = p.accounts(app).await.len();
    let started = Instant::now();
    p.ok("PUT", &format!("/apps/{app}/groups/{group}"), None).await;
    if std::env::var_os("BENCH_VERBOSE").is_some() {
        println!("  (assigning the group took {:.0} ms)", started.elapsed().as_secs_f64() * 1e3);
    }
    while p.pending().await > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = started.elapsed();
    let accounts = p.accounts(app).await.len() - accounts_before;
    println!(
        "  (provisio used {:.0} µs of CPU per account)",
        (cpu_secs(pid) - cpu_before) * 1e6 / accounts.max(1) as f64
    );
    took
}

async fn throughput(users: usize) {
    // Provisio, through the SCIM connector.
    let dir = tempfile::tempdir().expect("dir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let p = Provisio::start(dir.path(), &db.url, &config()).await;
    let scim = Uvicorn::start().await;
    let app = p.create_scim_app("uvicorn", &scim.origin, "unused").await;
    let group = populate(&p, users, 0).await;
    let through_provisio = provision(&p, &app, &group).await;
    drop(p);

    // The baseline: the same creates from a plain client, same concurrency.
    let scim = Uvicorn::start().await;
    let client = reqwest::Client::new();
    let url = format!("{}/v2/Users", scim.origin);
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, url, next) = (client.clone(), url.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= users {
                    return;
                }
                let r = client.post(&url).json(&scim_body(i)).send().await.expect("post");
                assert_eq!(r.status().as_u16(), 201);
                let _ = r.bytes().await;
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
    let plain = started.elapsed();
    println!(
        "throughput: {users} users to scim2-server/uvicorn: provisio {:.2}s ({:.0}/s), plain client {:.2}s ({:.0}/s), ratio {:.2}",
        through_provisio.as_secs_f64(),
        users as f64 / through_provisio.as_secs_f64(),
        plain.as_secs_f64(),
        users as f64 / plain.as_secs_f64(),
        plain.as_secs_f64() / through_provisio.as_secs_f64()
    );
    db.drop().await;
}

async fn ceiling(users: usize) {
    let stub = start_stub();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let dir = tempfile::tempdir().expect("dir");
        let db = TestDatabase::new(backend, dir.path()).await;
        let p = Provisio::start(dir.path(), &db.url, &config()).await;
        let app = p.create_scim_app("stub", &stub, "unused").await;
        let group = populate(&p, users, 0).await;
        let took = provision(&p, &app, &group).await;
        println!(
            "ceiling ({backend:?}): {users} creates against a fixed-answer endpoint in {:.2}s: {:.0} durable operations/s",
            took.as_secs_f64(),
            users as f64 / took.as_secs_f64()
        );
        drop(p);
        db.drop().await;
    }
}

async fn leaver() {
    let stub = start_stub();
    let dir = tempfile::tempdir().expect("dir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let p = Provisio::start(dir.path(), &db.url, &config()).await;
    let mut apps = Vec::new();
    for a in 0..10 {
        apps.push(p.create_scim_app(&format!("app{a}"), &stub, "unused").await);
    }
    let group = populate(&p, 20, 0).await;
    for app in &apps {
        p.ok("PUT", &format!("/apps/{app}/groups/{group}"), None).await;
    }
    while p.pending().await > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let users: Vec<String> = p
        .ok("GET", &format!("/groups/{group}/users"), None)
        .await
        .as_array()
        .expect("members")
        .iter()
        .map(|u| u["id"].as_str().expect("id").to_string())
        .collect();
    let mut latencies = Vec::new();
    for user in &users {
        let started = Instant::now();
        p.ok("POST", &format!("/users/{user}/lifecycle/deactivate"), None).await;
        'wait: loop {
            for app in &apps {
                let a = p.ok("GET", &format!("/apps/{app}/accounts/{user}"), None).await;
                if a["pushedState"] != "INACTIVE" {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    continue 'wait;
                }
            }
            break;
        }
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    let worst = latencies[latencies.len() - 1];
    println!(
        "leaver: deactivate → last of 10 apps deactivated: median {:.1} ms, worst {:.1} ms ({} users)",
        median.as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e3,
        latencies.len()
    );
    drop(p);
    db.drop().await;
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

async fn memory(users: usize) {
    use provisio_directory::{NewUser, Store, UserStatus};
    let stub = start_stub();
    let dir = tempfile::tempdir().expect("dir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    // The directory is loaded straight through the store (the API would
    // take minutes for 100,000 users); the server then opens it.
    let store = Store::open(&db.url).await.expect("store");
    let groups = 1_000;
    let mut group_ids = Vec::new();
    for g in 0..groups {
        group_ids.push(store.create_group("bench", &format!("group{g}"), "").await.expect("group").id);
    }
    for chunk in (0..users).collect::<Vec<_>>().chunks(1_000) {
        let mut tx = store.write().await.expect("tx");
        for &i in chunk {
            let Json::Object(mut profile) = user_body(i)["profile"].clone() else { unreachable!() };
            let login = profile.remove("login").and_then(|l| l.as_str().map(str::to_string)).expect("login");
            let user =
                tx.create_user("bench", NewUser { login, profile, status: UserStatus::Active }).await.expect("user");
            tx.add_member("bench", &group_ids[i % groups], &user.id).await.expect("member");
        }
        tx.commit().await.expect("commit");
    }
    store.close().await;
    let p = Provisio::start(dir.path(), &db.url, &config()).await;
    let mut apps = Vec::new();
    for a in 0..10 {
        apps.push(p.create_scim_app(&format!("app{a}"), &stub, "unused").await);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pid = p.pid().expect("pid");
    let idle = rss_mib(pid);
    // While provisioning: every group to the first app.
    let app = apps[0].clone();
    let mut peak: f64 = 0.0;
    let started = Instant::now();
    for g in &group_ids {
        p.ok("PUT", &format!("/apps/{app}/groups/{g}"), None).await;
        peak = peak.max(rss_mib(pid));
    }
    let assigned = started.elapsed();
    while p.pending().await > 0 {
        peak = peak.max(rss_mib(pid));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if std::env::var_os("BENCH_VERBOSE").is_some() {
        println!("  (the {groups} assignments took {:.1}s)", assigned.as_secs_f64());
    }
    let after = rss_mib(pid);
    println!(
        "memory: {users} users, {groups} groups, 10 apps: idle {idle:.0} MiB; provisioning {users} accounts (in {:.1}s) peak {peak:.0} MiB; after {after:.0} MiB",
        started.elapsed().as_secs_f64()
    );
    drop(p);
    db.drop().await;
}

/// This database's counters: commits, and rows inserted, updated or
/// deleted. PostgreSQL flushes a backend's counts within 10 s of its last
/// transaction, so the caller waits that long before reading them after a
/// run.
async fn pg_counters(url: &str) -> (f64, f64) {
    use sqlx::{Connection, Row};
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    let row = sqlx::query(
        "SELECT xact_commit::float8 AS commits, (tup_inserted + tup_updated + tup_deleted)::float8 AS rows \
         FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&mut conn)
    .await
    .expect("pg_stat_database");
    (row.get("commits"), row.get("rows"))
}

async fn nodes(users: usize) {
    let stub = start_stub();
    for count in [1usize, 3] {
        let dirs: Vec<_> = (0..count).map(|_| tempfile::tempdir().expect("dir")).collect();
        let db = TestDatabase::new(Backend::Postgres, dirs[0].path()).await;
        let mut all = vec![Provisio::start(dirs[0].path(), &db.url, &config()).await];
        for dir in &dirs[1..] {
            std::fs::copy(dirs[0].path().join("secret.key"), dir.path().join("secret.key")).expect("share the key");
            all.push(Provisio::start(dir.path(), &db.url, &config()).await);
        }
        let p = &all[0];
        let app = p.create_scim_app("stub", &stub, "unused").await;
        let group = populate(p, users, 0).await;
        tokio::time::sleep(Duration::from_secs(11)).await;
        let (commits, rows) = pg_counters(&db.url).await;
        let cpu: f64 = all.iter().map(|n| cpu_secs(n.pid().expect("pid"))).sum();
        let started = Instant::now();
        p.ok("PUT", &format!("/apps/{app}/groups/{group}"), None).await;
        while p.pending().await > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let took = started.elapsed();
        let cpu = all.iter().map(|n| cpu_secs(n.pid().expect("pid"))).sum::<f64>() - cpu;
        tokio::time::sleep(Duration::from_secs(11)).await;
        let (commits_after, rows_after) = pg_counters(&db.url).await;
        let n = users as f64;
        println!(
            "nodes ({count}): {users} creates against a fixed-answer endpoint in {:.2}s: {:.0} durable operations/s; \
             PostgreSQL {:.2} commits and {:.2} rows written per operation; the nodes used {:.0} µs of CPU per operation",
            took.as_secs_f64(),
            n / took.as_secs_f64(),
            (commits_after - commits) / n,
            (rows_after - rows) / n,
            cpu * 1e6 / n
        );
        drop(all);
        db.drop().await;
    }
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes --bench; nothing else to parse.
    let users = env_usize("BENCH_USERS", 10_000);
    if only("throughput") {
        throughput(users).await;
    }
    if only("ceiling") {
        ceiling(users).await;
    }
    if only("leaver") {
        leaver().await;
    }
    if only("memory") {
        memory(env_usize("BENCH_MEMORY_USERS", 100_000)).await;
    }
    if only("nodes") {
        nodes(users).await;
    }
}
