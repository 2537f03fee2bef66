//! The three promises on one node, end to end on SQLite and PostgreSQL: an
//! account is never created twice, a change is never lost, a leaver never
//! keeps access — with an app slower than the lease, a node killed with
//! creates in flight, a login a leaver still holds, and a change made while
//! a failing call is in flight. The app is `LaxApp` (it accepts duplicate
//! userNames and finishes requests whose client has gone), except where a
//! 409 is the point (scim2-server).

use std::time::Duration;

use serde_json::json;

use crate::databases::{BACKENDS, Backend, TestDatabase};
use crate::lax_app::{Behaviour, LaxApp, Request};
use crate::server::Provisio;

/// Leases of 3 s, so calls slower than a lease are quick to stage.
fn config(settle_secs: u32) -> String {
    format!(
        "[executor]\nretry_base_ms = 100\nretry_max_ms = 1000\npoll_ms = 100\nlease_secs = 3\nsettle_secs = {settle_secs}\n"
    )
}

struct World {
    app: LaxApp,
    provisio: Provisio,
    db: TestDatabase,
    _dir: tempfile::TempDir,
}

async fn world(backend: Backend, config: &str) -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = LaxApp::start().await;
    let db = TestDatabase::new(backend, dir.path()).await;
    let provisio = Provisio::start(dir.path(), &db.url, config).await;
    World { app, provisio, db, _dir: dir }
}

impl World {
    async fn end(self) {
        let World { app, mut provisio, db, _dir } = self;
        provisio.kill();
        drop(app);
        db.drop().await;
    }
}

async fn users(p: &Provisio, app_id: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = p.create_user(&format!("user{i:03}@example.com"), &format!("First{i}"), "Last").await;
        p.ok("PUT", &format!("/apps/{app_id}/users/{id}"), None).await;
        ids.push(id);
    }
    ids
}

fn posts(requests: &[Request]) -> usize {
    requests.iter().filter(|r| r.method == "POST").count()
}

/// Exactly one account per user in the app, made by exactly one POST, each
/// linked in Provisio and carrying the user's id as its correlation key.
async fn assert_one_account_each(w: &World, app_id: &str, logins: usize) {
    let held = w.app.by_name();
    for (name, accounts) in &held {
        assert_eq!(accounts.len(), 1, "{name} has {} accounts in the app: {accounts:?}", accounts.len());
    }
    assert_eq!(held.len(), logins, "accounts in the app");
    let requests = w.app.requests();
    for name in held.keys() {
        let creates = requests.iter().filter(|r| r.method == "POST" && r.user_name.as_deref() == Some(name)).count();
        assert_eq!(creates, 1, "{name} was POSTed {creates} times");
    }
    w.app.assert_one_request_at_a_time();
    for a in w.provisio.accounts(app_id).await {
        let login = a["desired"]["login"].as_str().expect("login");
        let theirs = &held[login][0];
        assert_eq!(a["externalId"], theirs["id"], "{login} is linked to its account");
        assert_eq!(theirs["externalId"], a["userId"], "{login}'s account carries Provisio's key");
        assert_eq!(a["syncState"], "SYNCED", "{a}");
    }
}

#[tokio::test]
async fn a_create_slower_than_its_lease_is_sent_once_and_a_leaver_s_in_doubt_account_is_deactivated() {
    for backend in BACKENDS {
        let w = world(backend, &config(5)).await;
        let p = &w.provisio;
        // Every create takes 6 s: twice the lease. The call is given up
        // within the lease; the app commits it anyway, after Provisio left.
        w.app.set_rule(|r| match r.method.as_str() {
            "POST" => Behaviour { delay: Duration::from_secs(6), ..Behaviour::default() },
            _ => Behaviour::default(),
        });
        let app_id = p.create_scim_app("Slow", &w.app.origin(), "token").await;
        let ids = users(p, &app_id, 6).await;
        w.app.wait_for("every create to reach the app", Duration::from_secs(30), |r| posts(r) >= 6).await;
        // Half of them leave while their creates are in flight.
        for id in &ids[..3] {
            p.ok("POST", &format!("/users/{id}/lifecycle/deactivate"), None).await;
        }
        p.wait_idle(Duration::from_secs(90)).await;

        assert_one_account_each(&w, &app_id, 6).await;
        // No call outlived the lease that covered it (3 s): the POSTs were
        // given up by then, though the app took 6 s.
        w.app.assert_no_client_waited_longer_than(Duration::from_millis(3_300));
        let held = w.app.by_name();
        for i in 0..6 {
            let account = &held[&format!("user{i:03}@example.com")][0];
            assert_eq!(account["active"], json!(i >= 3), "{backend:?}: user{i:03} active only if not a leaver");
        }
        // The other half leave too: no account stays active.
        for id in &ids[3..] {
            p.ok("POST", &format!("/users/{id}/lifecycle/deactivate"), None).await;
        }
        p.wait_idle(Duration::from_secs(60)).await;
        assert!(w.app.users().iter().all(|u| u["active"] == json!(false)), "{backend:?}: {:?}", w.app.users());
        assert_eq!(posts(&w.app.requests()), 6, "{backend:?}: one POST per user, ever");
        w.end().await;
    }
}

#[tokio::test]
async fn work_waiting_in_the_node_s_queue_keeps_its_lease_alive() {
    for backend in BACKENDS {
        // One call at a time; claims come two at a time, so the second
        // account waits 1.5 s of its 3 s lease for the first one's create,
        // then needs 1.5 s more. Renewed every second, a lease always has
        // more than 1.9 s left.
        let w = world(backend, &format!("{}concurrency = 1\n", config(1))).await;
        w.app.set_rule(|r| match r.method.as_str() {
            "POST" => Behaviour { delay: Duration::from_millis(1_500), ..Behaviour::default() },
            _ => Behaviour::default(),
        });
        let app_id = w.provisio.create_scim_app("Queued", &w.app.origin(), "token").await;
        users(&w.provisio, &app_id, 4).await;
        w.provisio.wait_idle(Duration::from_secs(60)).await;
        // Renewed while they waited, every create had its full time.
        w.app.assert_every_answer_was_waited_for();
        assert_one_account_each(&w, &app_id, 4).await;
        w.end().await;
    }
}

#[tokio::test]
async fn creates_in_flight_when_the_node_is_killed_are_found_after_the_settle_time_not_repeated() {
    for backend in BACKENDS {
        let mut w = world(backend, &config(4)).await;
        // A create takes 4 s, longer than a restart: the killed run's
        // creates land in the app after the new run has started.
        w.app.set_rule(|r| match r.method.as_str() {
            "POST" => Behaviour { delay: Duration::from_secs(4), ..Behaviour::default() },
            _ => Behaviour::default(),
        });
        let app_id = w.provisio.create_scim_app("Killed", &w.app.origin(), "token").await;
        users(&w.provisio, &app_id, 20).await;
        w.app
            .wait_for("creates in flight", Duration::from_secs(30), |r| {
                r.iter().filter(|r| r.method == "POST" && r.finished.is_none()).count() >= 5
            })
            .await;
        w.provisio.kill();
        let in_flight = w.app.requests().iter().filter(|r| r.method == "POST" && r.finished.is_none()).count();
        w.provisio.restart().await;
        w.provisio.wait_idle(Duration::from_secs(120)).await;

        assert!(in_flight >= 5, "{backend:?}: killed with creates in flight ({in_flight})");
        assert_one_account_each(&w, &app_id, 20).await;
        w.end().await;
    }
}

#[tokio::test]
async fn a_failure_in_flight_does_not_strand_the_deactivation_made_meanwhile() {
    for backend in BACKENDS {
        let w = world(backend, &config(1)).await;
        let p = &w.provisio;
        let app_id = p.create_scim_app("Strict", &w.app.origin(), "token").await;
        let ids = users(p, &app_id, 1).await;
        p.wait_idle(Duration::from_secs(30)).await;
        // The app refuses the new title, after 2 s.
        w.app.set_rule(|r| {
            if r.method == "PATCH" && r.body.to_string().contains("Director") {
                return Behaviour { delay: Duration::from_secs(2), status: Some(400) };
            }
            Behaviour::default()
        });
        p.ok("POST", &format!("/users/{}", ids[0]), Some(json!({ "profile": { "title": "Director" } }))).await;
        w.app
            .wait_for("the update to reach the app", Duration::from_secs(30), |r| {
                r.iter().any(|r| r.method == "PATCH" && r.body.to_string().contains("Director"))
            })
            .await;
        p.ok("POST", &format!("/users/{}/lifecycle/deactivate", ids[0]), None).await;
        p.wait_idle(Duration::from_secs(30)).await;

        let account = &w.app.users()[0];
        assert_eq!(account["active"], json!(false), "{backend:?}: the leaver's account is inactive");
        let ours = p.ok("GET", &format!("/apps/{app_id}/accounts/{}", ids[0]), None).await;
        assert_eq!(ours["syncState"], "SYNCED", "{backend:?}: {ours}");
        w.end().await;
    }
}

/// A user whose login is their email.
async fn person(p: &Provisio, login: &str, email: &str, first: &str, title: &str) -> String {
    let body = json!({ "profile": {
        "login": login, "email": email, "firstName": first, "lastName": "Doe", "title": title
    }});
    p.ok("POST", "/users", Some(body)).await["id"].as_str().expect("id").to_string()
}

#[tokio::test]
async fn a_new_hire_with_a_leaver_s_email_gets_a_collision_error_not_the_leaver_s_account() {
    use crate::support::Scim2Server;
    for backend in BACKENDS {
        let dir = tempfile::tempdir().expect("tempdir");
        // scim2-server answers 409 for a userName it holds: the point here.
        let scim = Scim2Server::start().await;
        let db = TestDatabase::new(backend, dir.path()).await;
        let mut p = Provisio::start(dir.path(), &db.url, &config(1)).await;
        let body = json!({
            "name": "By email",
            "connector": "scim@0.1.0",
            "settings": { "base_url": scim.base_url },
            "credentials": { "api": { "scheme": "bearer", "token": scim.token } },
            "grants": [scim.origin()],
            "mappings": {
                "login": "user.email",
                "attributes": { "displayName": "user.firstName + ' ' + user.lastName", "title": "user.title" }
            }
        });
        let app_id = p.ok("POST", "/apps", Some(body)).await["id"].as_str().expect("app id").to_string();
        let leaver = person(&p, "ann@example.com", "desk@example.com", "Ann", "Analyst").await;
        p.ok("PUT", &format!("/apps/{app_id}/users/{leaver}"), None).await;
        p.wait_idle(Duration::from_secs(30)).await;
        p.ok("POST", &format!("/users/{leaver}/lifecycle/deactivate"), None).await;
        p.wait_idle(Duration::from_secs(30)).await;

        let hire = person(&p, "bob@example.com", "desk@example.com", "Bob", "Director").await;
        p.ok("PUT", &format!("/apps/{app_id}/users/{hire}"), None).await;
        let path = format!("/apps/{app_id}/accounts/{hire}");
        let account = p.account_reaching(&path, "ERROR").await;
        let error = account["lastError"].as_str().unwrap_or_default();
        assert!(error.contains("login collision") && error.contains("desk@example.com"), "{backend:?}: {error}");
        let errors = p.ok("GET", &format!("/apps/{app_id}/errors"), None).await;
        assert!(errors.to_string().contains(&hire), "{backend:?}: the collision is a provisioning error: {errors}");

        let (_, found) = scim.get("/Users?filter=userName%20eq%20%22desk@example.com%22").await;
        let held = &found["Resources"][0];
        assert_eq!(held["active"], json!(false), "{backend:?}: the leaver's account stays inactive: {held}");
        assert_eq!(held["displayName"], "Ann Doe", "{backend:?}: and keeps the leaver's name");
        // The new hire leaves too: nothing in the app changes.
        p.ok("POST", &format!("/users/{hire}/lifecycle/deactivate"), None).await;
        p.account_reaching(&path, "SYNCED").await;
        let (_, found) = scim.get("/Users?filter=userName%20eq%20%22desk@example.com%22").await;
        assert_eq!(found["totalResults"], 1);
        assert_eq!(found["Resources"][0]["active"], json!(false), "{backend:?}");
        p.kill();
        db.drop().await;
    }
}

#[tokio::test]
async fn a_create_repeated_after_a_lost_answer_carries_the_same_idempotency_key() {
    use base64::Engine as _;
    // The app takes 6 s to commit, longer than the lease and the settle
    // time: only the idempotency key keeps the repeated create from
    // becoming a second account.
    let w = world(Backend::Sqlite, &config(1)).await;
    let p = &w.provisio;
    w.app.honour_idempotency_keys();
    w.app.set_rule(|r| match r.method.as_str() {
        "POST" => Behaviour { delay: Duration::from_secs(6), ..Behaviour::default() },
        _ => Behaviour::default(),
    });
    let manifest = provisio_bundled::SCIM.manifest.replacen("version = \"0.1.0\"", "version = \"0.2.0\"", 1)
        + "idempotency_header = \"Idempotency-Key\"\n";
    let component = base64::engine::general_purpose::STANDARD.encode(crate::support::SCIM_NEXT);
    p.ok("POST", "/connectors", Some(json!({ "manifest": manifest, "component": component }))).await;
    let body = json!({
        "name": "Keyed",
        "connector": "scim@0.2.0",
        "settings": { "base_url": format!("{}/v2", w.app.origin()) },
        "credentials": { "api": { "scheme": "bearer", "token": "token" } },
        "grants": [w.app.origin()],
        "mappings": { "login": "user.login", "attributes": { "title": "user.title" } }
    });
    let app_id = p.ok("POST", "/apps", Some(body)).await["id"].as_str().expect("app id").to_string();
    users(p, &app_id, 2).await;
    p.wait_idle(Duration::from_secs(60)).await;

    let requests = w.app.requests();
    let held = w.app.by_name();
    assert_eq!(held.len(), 2);
    for (name, accounts) in &held {
        assert_eq!(accounts.len(), 1, "{name}: {accounts:?}");
        let keys: Vec<_> = requests
            .iter()
            .filter(|r| r.method == "POST" && r.user_name.as_deref() == Some(name))
            .map(|r| r.idempotency_key.clone().expect("an idempotency key"))
            .collect();
        assert!(keys.len() >= 2, "{name}: the create was repeated after its answer was lost ({keys:?})");
        assert!(keys.windows(2).all(|k| k[0] == k[1]), "{name}: one key for one intent: {keys:?}");
    }
    assert!(requests.iter().filter(|r| r.method == "GET").all(|r| r.idempotency_key.is_none()), "reads carry no key");
    for a in p.accounts(&app_id).await {
        assert_eq!(a["syncState"], "SYNCED", "{a}");
    }
    w.end().await;
}

#[tokio::test]
async fn a_slow_app_cannot_take_every_executor_slot() {
    // Four slots, two per app; app A answers creates in 3 s.
    let w = world(Backend::Sqlite, &format!("{}concurrency = 4\nper_app_concurrency = 2\n", config(1))).await;
    let p = &w.provisio;
    let fast = LaxApp::start().await;
    w.app.set_rule(|r| match r.method.as_str() {
        "POST" => Behaviour { delay: Duration::from_secs(3), ..Behaviour::default() },
        _ => Behaviour::default(),
    });
    let slow_id = p.create_scim_app("Slow", &w.app.origin(), "token").await;
    let fast_id = p.create_scim_app("Fast", &fast.origin(), "token").await;
    users(p, &slow_id, 8).await;
    let last = p.create_user("late@example.com", "Late", "Comer").await;
    p.ok("PUT", &format!("/apps/{fast_id}/users/{last}"), None).await;
    fast.wait_for("the fast app's create", Duration::from_secs(60), |r| r.iter().any(|r| r.finished.is_some())).await;

    let fast_done = fast.requests().iter().find_map(|r| r.finished).expect("finished");
    let slow = w.app.requests();
    let first_slow_done = slow.iter().filter_map(|r| r.finished).min();
    assert!(first_slow_done.is_none_or(|t| fast_done < t), "the fast app waited for the slow app's creates to finish");
    let at_once = slow.iter().filter(|r| r.arrived < fast_done && r.finished.is_none_or(|f| f > fast_done)).count();
    assert!(at_once <= 2, "the slow app had {at_once} calls running at once");
    p.wait_idle(Duration::from_secs(60)).await;
    w.end().await;
}

/// The API path of one change for a user.
type Path<'a> = dyn Fn(&str) -> String + 'a;

#[tokio::test]
async fn concurrent_changes_end_as_some_serial_order_would_and_never_answer_5xx() {
    const TRIALS: usize = 40;
    for backend in BACKENDS {
        let w = world(backend, &config(1)).await;
        let p = &w.provisio;
        let app_id = p.create_scim_app("Raced", &w.app.origin(), "token").await;
        let group = p.ok("POST", "/groups", Some(json!({ "profile": { "name": "Assigned" } }))).await;
        let group_id = group["id"].as_str().expect("group id").to_string();
        p.ok("PUT", &format!("/apps/{app_id}/groups/{group_id}"), None).await;

        let deactivate = |id: &str| format!("/users/{id}/lifecycle/deactivate");
        let assign = |id: &str| format!("/apps/{app_id}/users/{id}");
        let join = |id: &str| format!("/groups/{group_id}/users/{id}");
        // (first, second, whether the user ends deprovisioned)
        let kinds: [(&Path<'_>, &Path<'_>, bool); 3] =
            [(&deactivate, &assign, true), (&deactivate, &join, true), (&assign, &join, false)];
        let mut leavers = Vec::new();
        let mut stayers = Vec::new();
        for (k, (first, second, leaves)) in kinds.iter().enumerate() {
            for t in 0..TRIALS {
                let id = p.create_user(&format!("race{k}-{t:03}@example.com"), "Race", "Condition").await;
                let (a, b) = (first(&id), second(&id));
                let method = |path: &str| if path.contains("/lifecycle/") { "POST" } else { "PUT" };
                let ((sa, ba), (sb, bb)) = tokio::join!(p.call(method(&a), &a, None), p.call(method(&b), &b, None));
                assert!(sa < 500 && sb < 500, "{backend:?}: a race answered {sa} {ba} / {sb} {bb}");
                if *leaves { leavers.push(id) } else { stayers.push(id) }
            }
        }
        for id in &leavers {
            let (status, account) = p.call("GET", &format!("/apps/{app_id}/accounts/{id}"), None).await;
            assert!(
                status == 404 || account["desiredState"] != "ACTIVE",
                "{backend:?}: a deprovisioned user's account is wanted active: {account}"
            );
        }
        for id in &stayers {
            let account = p.ok("GET", &format!("/apps/{app_id}/accounts/{id}"), None).await;
            assert_eq!(account["desiredState"], "ACTIVE", "{backend:?}: an assigned user's account: {account}");
        }
        p.wait_idle(Duration::from_secs(120)).await;
        let held = w.app.by_name();
        for (name, accounts) in &held {
            assert_eq!(accounts.len(), 1, "{backend:?}: {name}");
            let stays = name.starts_with("race2-");
            assert_eq!(accounts[0]["active"], json!(stays), "{backend:?}: {name} active only if not a leaver");
        }
        assert_eq!(held.keys().filter(|n| n.starts_with("race2-")).count(), TRIALS, "{backend:?}");
        w.end().await;
    }
}

/// An app that commits a create later than its settle time gets a second
/// create: Provisio gave the first up, waited the settle time, looked the
/// login up, found nothing yet, and sent again. No answer ever reports the
/// late account; the duplicate sweep finds it by the key it carries,
/// deactivates it and reports it, and the user's leaving deactivates the
/// other: a leaver keeps no access, whatever the app's delay.
#[tokio::test]
async fn a_duplicate_made_beyond_the_settle_time_is_found_by_its_key_deactivated_and_reported() {
    for backend in BACKENDS {
        let w = world(backend, &format!("{}duplicate_sweep_secs = 1\n", config(1))).await;
        let p = &w.provisio;
        // Only the first create is slow (6 s: given up at 3 s, settled at 4 s).
        let mut first = true;
        w.app.set_rule(move |r| match r.method.as_str() {
            "POST" if std::mem::take(&mut first) => Behaviour { delay: Duration::from_secs(6), ..Behaviour::default() },
            _ => Behaviour::default(),
        });
        let app_id = p.create_scim_app("Late", &w.app.origin(), "token").await;
        let ids = users(p, &app_id, 1).await;
        let login = "user000@example.com";
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let held = loop {
            let held = w.app.by_name().remove(login).unwrap_or_default();
            let active = held.iter().filter(|a| a["active"] == json!(true)).count();
            if held.len() == 2 && active == 1 {
                break held;
            }
            assert!(std::time::Instant::now() < deadline, "{backend:?}: no duplicate found and deactivated: {held:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(posts(&w.app.requests()), 2, "{backend:?}: the second create is the one this test stages");
        let linked = p.ok("GET", &format!("/apps/{app_id}/accounts/{}", ids[0]), None).await;
        let active = held.iter().find(|a| a["active"] == json!(true)).expect("one active");
        assert_eq!(linked["externalId"], active["id"], "{backend:?}: the linked account is the one kept");
        let reported = p.ok("GET", &format!("/logs?eventType=account.duplicate.find&targetId={}", ids[0]), None).await;
        let duplicate = held.iter().find(|a| a["active"] == json!(false)).expect("one inactive");
        assert_eq!(reported[0]["details"]["externalId"], duplicate["id"], "{backend:?}: reported: {reported}");
        assert_eq!(reported[0]["details"]["deactivated"], true, "{backend:?}: {reported}");

        p.ok("POST", &format!("/users/{}/lifecycle/deactivate", ids[0]), None).await;
        p.wait_idle(Duration::from_secs(30)).await;
        assert!(w.app.users().iter().all(|u| u["active"] == json!(false)), "{backend:?}: {:?}", w.app.users());
        w.end().await;
    }
}

/// A node killed while a deactivation is in flight never records it; the
/// app carries it out anyway. The user is back before the lease runs out:
/// the next attempt must not trust what was last recorded as pushed (still
/// "active"), or the returning user would stay locked out (and, the other
/// way round, a leaver would keep access).
#[tokio::test]
async fn a_push_cut_off_by_a_kill_is_sent_again_in_full_not_assumed_undone() {
    for backend in BACKENDS {
        let mut w = world(backend, &config(1)).await;
        let app_id = w.provisio.create_scim_app("Cut", &w.app.origin(), "token").await;
        let ids = users(&w.provisio, &app_id, 1).await;
        w.provisio.wait_idle(Duration::from_secs(30)).await;
        // The deactivation takes 2 s in the app: within the lease, but long
        // enough to kill the node while it is in flight.
        w.app.set_rule(|r| match r.method.as_str() {
            "PATCH" if r.body.to_string().contains("false") => {
                Behaviour { delay: Duration::from_secs(2), ..Behaviour::default() }
            }
            _ => Behaviour::default(),
        });
        w.provisio.ok("POST", &format!("/users/{}/lifecycle/deactivate", ids[0]), None).await;
        w.app
            .wait_for("the deactivation in flight", Duration::from_secs(30), |r| {
                r.iter().any(|r| r.method == "PATCH" && r.finished.is_none())
            })
            .await;
        w.provisio.kill();
        w.provisio.restart().await;
        w.provisio.ok("POST", &format!("/users/{}/lifecycle/reactivate", ids[0]), None).await;
        w.provisio.wait_idle(Duration::from_secs(60)).await;

        let account = &w.app.users()[0];
        assert_eq!(account["active"], json!(true), "{backend:?}: the returning user has access: {account}");
        w.app.assert_one_request_at_a_time();
        w.end().await;
    }
}
