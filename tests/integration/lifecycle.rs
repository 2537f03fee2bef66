//! End to end, on SQLite and on PostgreSQL: a real `provisio serve`, a real
//! scim2-server behind a recording, fault-injecting proxy. Assertions read
//! both what the app holds and what Provisio sent.

use std::time::Duration;

use serde_json::{Value as Json, json};

use crate::databases::{BACKENDS, Backend, TestDatabase};
use crate::server::{Provisio, TEST_CONFIG, eventually};
use crate::support::{RecordingProxy, Scim2Server};

struct World {
    scim: Scim2Server,
    proxy: RecordingProxy,
    provisio: Provisio,
    db: TestDatabase,
    _dir: tempfile::TempDir,
}

async fn world(backend: Backend, config: &str) -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let scim = Scim2Server::start().await;
    let proxy = RecordingProxy::start(&scim.origin()).await;
    let db = TestDatabase::new(backend, dir.path()).await;
    let provisio = Provisio::start(dir.path(), &db.url, config).await;
    World { scim, proxy, provisio, db, _dir: dir }
}

impl World {
    async fn end(self) {
        let World { scim, proxy, mut provisio, db, _dir } = self;
        provisio.kill();
        drop((scim, proxy));
        db.drop().await;
    }
}

fn login(i: usize) -> String {
    format!("user{i:05}@example.com")
}

/// Creates `n` active users and a group holding them; returns (group, users).
async fn group_of(p: &Provisio, name: &str, n: usize, offset: usize) -> (String, Vec<String>) {
    let group = p.ok("POST", "/groups", Some(json!({ "profile": { "name": name } }))).await;
    let group_id = group["id"].as_str().expect("group id").to_string();
    let mut users = Vec::with_capacity(n);
    for i in offset..offset + n {
        let id = p.create_user(&login(i), &format!("First{i}"), &format!("Last{i}")).await;
        p.ok("PUT", &format!("/groups/{group_id}/users/{id}"), None).await;
        users.push(id);
    }
    (group_id, users)
}

/// Every account Provisio holds for the app points at the account the app
/// holds under that login, and the app holds nothing else.
async fn assert_linked(p: &Provisio, scim: &Scim2Server, app_id: &str, expected: usize) {
    let held = scim.users_by_name().await;
    assert_eq!(held.len(), expected, "accounts in scim2-server");
    let accounts = p.accounts(app_id).await;
    for a in &accounts {
        let login = a["desired"]["login"].as_str().expect("login");
        let theirs = held.get(login).unwrap_or_else(|| panic!("{login} is not in the app"));
        assert_eq!(a["externalId"], theirs["id"], "external id of {login}");
        assert_eq!(a["syncState"], "SYNCED", "{a}");
    }
}

fn scim_active(held: &std::collections::BTreeMap<String, Json>, login: &str) -> bool {
    held.get(login).unwrap_or_else(|| panic!("{login} not in app"))["active"].as_bool().expect("active")
}

#[tokio::test]
async fn joiners_movers_and_leavers_reach_the_app_on_both_backends() {
    for backend in BACKENDS {
        let w = world(backend, TEST_CONFIG).await;
        let p = &w.provisio;
        let app = p.create_scim_app("HR SaaS", &w.proxy.origin(), &w.scim.token).await;
        let (group, users) = group_of(p, "Engineering", 200, 0).await;

        // Joiners: the group's 200 members appear in the app.
        p.ok("PUT", &format!("/apps/{app}/groups/{group}"), None).await;
        p.wait_idle(Duration::from_secs(120)).await;
        assert_linked(p, &w.scim, &app, 200).await;
        let held = w.scim.users_by_name().await;
        let first = &held[&login(0)];
        assert_eq!(first["name"]["givenName"], "First0", "{backend:?}: mapped attributes arrive");
        assert_eq!(first["emails"][0]["value"], login(0));
        let sent = w.proxy.exchanges();
        let posts = sent.iter().filter(|e| e.method == "POST").count();
        assert_eq!(posts, 200, "{backend:?}: one create per user");
        let lookups = sent.iter().filter(|e| e.method == "GET" && e.path.contains("filter")).count();
        assert_eq!(lookups, 0, "{backend:?}: no lookups on the way (a first create does not look)");

        // Mover: a profile change sends a PATCH with only what changed.
        w.proxy.clear();
        p.ok("POST", &format!("/users/{}", users[0]), Some(json!({ "profile": { "title": "Director" } }))).await;
        p.wait_idle(Duration::from_secs(30)).await;
        let sent = w.proxy.exchanges();
        assert_eq!(sent.len(), 1, "{backend:?}: one call for one change: {sent:?}");
        assert_eq!(sent[0].method, "PATCH");
        assert!(sent[0].path.ends_with(first["id"].as_str().expect("id")), "{}", sent[0].path);
        let ops = sent[0].body["Operations"].as_array().expect("operations");
        assert!(!ops.is_empty(), "{backend:?}: the PATCH carries the change");
        assert!(
            ops.iter().all(|op| op["path"] == "title" || op["value"].get("title").is_some()),
            "{backend:?}: only the title is sent: {ops:?}"
        );
        assert_eq!(w.scim.user(first["id"].as_str().expect("id")).await["title"], "Director");

        // Leaver from the group: user 1 keeps the app through a direct
        // assignment; user 2 loses it and is deactivated, not deleted.
        p.ok("PUT", &format!("/apps/{app}/users/{}", users[1]), None).await;
        p.ok("DELETE", &format!("/groups/{group}/users/{}", users[1]), None).await;
        p.ok("DELETE", &format!("/groups/{group}/users/{}", users[2]), None).await;
        p.wait_idle(Duration::from_secs(30)).await;
        let held = w.scim.users_by_name().await;
        assert!(scim_active(&held, &login(1)), "{backend:?}: still assigned directly");
        assert!(!scim_active(&held, &login(2)), "{backend:?}: no assignment left: deactivated");
        assert_eq!(held.len(), 200, "deactivated, not deleted");

        // Deactivating a user deactivates them in every app; activating
        // them again restores them.
        let other_scim = Scim2Server::start().await;
        let other_proxy = RecordingProxy::start(&other_scim.origin()).await;
        let other = p.create_scim_app("Wiki", &other_proxy.origin(), &other_scim.token).await;
        p.ok("PUT", &format!("/apps/{other}/users/{}", users[3]), None).await;
        p.wait_idle(Duration::from_secs(30)).await;
        assert!(scim_active(&other_scim.users_by_name().await, &login(3)));
        p.ok("POST", &format!("/users/{}/lifecycle/deactivate", users[3]), None).await;
        p.wait_idle(Duration::from_secs(30)).await;
        assert!(!scim_active(&w.scim.users_by_name().await, &login(3)), "{backend:?}: deactivated in app 1");
        assert!(!scim_active(&other_scim.users_by_name().await, &login(3)), "{backend:?}: deactivated in app 2");
        let (status, refused) = p.call("POST", &format!("/users/{}/lifecycle/suspend", users[3]), None).await;
        assert_eq!((status, refused["errorCode"].as_str()), (400, Some("illegal-transition")), "{refused}");
        p.ok("POST", &format!("/users/{}/lifecycle/activate", users[3]), None).await;
        p.wait_idle(Duration::from_secs(30)).await;
        assert!(scim_active(&w.scim.users_by_name().await, &login(3)), "{backend:?}: restored in app 1");
        assert!(scim_active(&other_scim.users_by_name().await, &login(3)), "{backend:?}: restored in app 2");
        assert_eq!(w.scim.total_users().await, 200, "restored, not re-created");
        assert_eq!(other_scim.total_users().await, 1);
        w.end().await;
    }
}

#[tokio::test]
async fn removing_a_large_group_from_an_app_waits_for_approval() {
    for backend in BACKENDS {
        let w = world(backend, TEST_CONFIG).await;
        let p = &w.provisio;
        let app = p.create_scim_app("CRM", &w.proxy.origin(), &w.scim.token).await;
        let (group, _) = group_of(p, "Sales", 300, 0).await;
        p.ok("PUT", &format!("/apps/{app}/groups/{group}"), None).await;
        p.wait_idle(Duration::from_secs(120)).await;
        assert_eq!(w.scim.total_users().await, 300);

        // A preview says what would happen and does nothing.
        let preview = p.ok("DELETE", &format!("/apps/{app}/groups/{group}?preview=true"), None).await;
        assert_eq!(preview["effects"][0]["counts"]["deactivate"], 300, "{backend:?}: {preview}");

        w.proxy.clear();
        let (status, held) = p.call("DELETE", &format!("/apps/{app}/groups/{group}"), None).await;
        assert_eq!(status, 202, "{backend:?}: held: {held}");
        let plan = held["plan"]["id"].as_str().expect("plan id").to_string();
        assert_eq!(held["plan"]["status"], "HELD");
        assert_eq!(p.ok("GET", "/plans?status=held", None).await.as_array().map(Vec::len), Some(1));
        // Held: the assignment stays and nothing is sent.
        assert_eq!(p.ok("GET", &format!("/apps/{app}/groups"), None).await.as_array().map(Vec::len), Some(1));

        // Rejected: nothing changes in the app.
        let other = p.call("DELETE", &format!("/apps/{app}/groups/{group}"), None).await.1["plan"]["id"]
            .as_str()
            .expect("second plan")
            .to_string();
        p.ok("POST", &format!("/plans/{other}/reject"), None).await;
        p.wait_idle(Duration::from_secs(10)).await;
        p.wait_for_claims(2).await;
        assert!(w.proxy.exchanges().is_empty(), "{backend:?}: nothing sent: {:?}", w.proxy.exchanges().first());
        let held_users = w.scim.users_by_name().await;
        assert!(held_users.values().all(|u| u["active"] == true));

        // Approved: exactly those 300 are deactivated.
        p.ok("POST", &format!("/plans/{plan}/approve"), None).await;
        p.wait_idle(Duration::from_secs(120)).await;
        let held_users = w.scim.users_by_name().await;
        assert_eq!(held_users.len(), 300);
        assert!(held_users.values().all(|u| u["active"] == false), "{backend:?}: all deactivated");
        let sent = w.proxy.exchanges();
        assert_eq!(sent.len(), 300, "{backend:?}: one call per account");
        let (status, again) = p.call("POST", &format!("/plans/{plan}/approve"), None).await;
        assert_eq!((status, again["errorCode"].as_str()), (409, Some("conflict")), "{again}");
        w.end().await;
    }
}

/// No POST for a userName was sent after one for it had reached the app.
fn assert_no_second_create(sent: &[crate::support::Exchange]) {
    let mut created = std::collections::BTreeSet::new();
    for e in sent.iter().filter(|e| e.method == "POST" && e.path.ends_with("/Users")) {
        let name = e.body["userName"].as_str().unwrap_or_default().to_string();
        assert!(!created.contains(&name), "a second POST for {name} after one had succeeded");
        if e.upstream_status == 201 {
            created.insert(name);
        }
    }
}

#[tokio::test]
async fn downstream_faults_converge_and_a_retry_after_is_honoured() {
    use crate::support::Fault;
    let retry_after = Duration::from_secs(2);
    for backend in BACKENDS {
        let w = world(backend, TEST_CONFIG).await;
        let p = &w.provisio;
        let app = p.create_scim_app("Flaky", &w.proxy.origin(), &w.scim.token).await;
        let (group, users) = group_of(p, "Everyone", 80, 0).await;
        let mut n = 0u32;
        w.proxy.set_faults(move |method, _path| {
            n += 1;
            match n {
                25 => Fault::RateLimit(2),
                _ if method == "POST" && n % 5 == 1 => Fault::Status(500),
                _ if method == "POST" && n % 7 == 3 => Fault::DropBefore,
                _ if method == "POST" && n % 9 == 4 => Fault::DropAfter,
                _ if method == "PATCH" && n.is_multiple_of(4) => Fault::Status(503),
                _ => Fault::Pass,
            }
        });
        p.ok("PUT", &format!("/apps/{app}/groups/{group}"), None).await;
        p.wait_idle(Duration::from_secs(120)).await;
        // Then updates through the same faults.
        for user in users.iter().take(20) {
            p.ok("POST", &format!("/users/{user}"), Some(json!({ "profile": { "title": "Manager" } }))).await;
        }
        p.wait_idle(Duration::from_secs(120)).await;

        assert_linked(p, &w.scim, &app, 80).await;
        let held = w.scim.users_by_name().await;
        assert!((0..20).all(|i| held[&login(i)]["title"] == "Manager"), "{backend:?}: updates arrived");
        let sent = w.proxy.exchanges();
        for fault in [Fault::Status(500), Fault::DropBefore, Fault::DropAfter, Fault::RateLimit(2)] {
            assert!(sent.iter().any(|e| e.fault == fault), "{backend:?}: {fault:?} was injected");
        }
        assert_no_second_create(&sent);
        let limited = sent.iter().find(|e| e.status == 429).and_then(|e| e.answered).expect("a 429");
        // Calls already on their way when the 429 came back may land just
        // after it; none may start later within the Retry-After.
        let grace = Duration::from_millis(150);
        let early: Vec<_> = sent
            .iter()
            .filter(|e| e.received > limited + grace && e.received < limited + retry_after)
            .map(|e| format!("{} {} at +{:?}", e.method, e.path, e.received - limited))
            .collect();
        assert!(early.is_empty(), "{backend:?}: requests inside the Retry-After: {early:?}");
        w.end().await;
    }
}

#[tokio::test]
async fn provisioning_survives_being_killed_three_times() {
    use crate::support::Fault;
    const USERS: usize = 2_000;
    for backend in BACKENDS {
        let mut w = world(backend, TEST_CONFIG).await;
        let app = w.provisio.create_scim_app("Everything", &w.proxy.origin(), &w.scim.token).await;
        let (group, _) = group_of(&w.provisio, "All staff", USERS, 0).await;
        // The 300th create reaches the app, and its answer never comes back.
        let mut posts = 0;
        w.proxy.set_faults(move |method, _| {
            if method == "POST" {
                posts += 1;
                if posts == 300 {
                    return Fault::HoldAfter;
                }
            }
            Fault::Pass
        });
        w.provisio.ok("PUT", &format!("/apps/{app}/groups/{group}"), None).await;

        let held_post = || w.proxy.exchanges().iter().any(|e| e.fault == Fault::HoldAfter && e.upstream_status == 201);
        eventually("the held create to reach the app", Duration::from_secs(180), || async {
            held_post().then_some(())
        })
        .await;
        w.provisio.kill();
        w.provisio.restart().await;
        let held_name = w
            .proxy
            .exchanges()
            .iter()
            .find(|e| e.fault == Fault::HoldAfter)
            .and_then(|e| e.body["userName"].as_str().map(str::to_string))
            .expect("held userName");
        for at_least in [900, 1_500] {
            let scim = &w.scim;
            eventually("provisioning to go on", Duration::from_secs(180), || async {
                (scim.total_users().await >= at_least).then_some(())
            })
            .await;
            w.provisio.kill();
            let at_kill = w.scim.total_users().await;
            assert!(at_kill < USERS as u64, "{backend:?}: killed while provisioning ({at_kill} of {USERS} done)");
            w.provisio.restart().await;
        }
        w.provisio.wait_idle(Duration::from_secs(300)).await;

        assert_eq!(w.scim.total_users().await, USERS as u64, "{backend:?}: exactly one account per user");
        assert_linked(&w.provisio, &w.scim, &app, USERS).await;
        let sent = w.proxy.exchanges();
        assert_no_second_create(&sent);
        // The create whose answer was lost was looked up, not repeated.
        let looked_up = sent
            .iter()
            .any(|e| e.method == "GET" && e.path.contains("filter") && e.path.contains(&held_name.replace('@', "%40")));
        assert!(looked_up, "{backend:?}: {held_name} was looked up after the crash");
        assert_eq!(w.provisio.pending().await, 0, "the work queue is empty");
        w.end().await;
    }
}
