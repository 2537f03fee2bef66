//! An operator fixes and retires what they made: an app's configuration is
//! changed in place (a credential rotated takes effect on the next call,
//! and the log names it, never its value); a deleted app or group first
//! deprovisions the accounts it gave, so no leaver keeps one; a deleted
//! admin's tokens stop working at once.

use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use crate::databases::{BACKENDS, Backend, TestDatabase};
use crate::server::{Provisio, TEST_CONFIG, eventually};
use crate::support::{Fault, RecordingProxy, Scim2Server};

const MINUTE: Duration = Duration::from_secs(60);

fn assert_error(what: &str, (status, answer): (u16, Json), expected: (u16, &str), says: &str) {
    assert_eq!((status, answer["errorCode"].as_str()), (expected.0, Some(expected.1)), "{what}: {answer}");
    let summary = answer["errorSummary"].as_str().unwrap_or_default();
    assert!(summary.contains(says), "{what}: the error should say {says:?}: {summary}");
}

#[tokio::test]
async fn a_wrong_token_is_fixed_in_place_and_the_log_names_the_credential_never_its_value() {
    for backend in BACKENDS {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = TestDatabase::new(backend, dir.path()).await;
        let p = Provisio::start(dir.path(), &db.url, &format!("{TEST_CONFIG}quarantine_after = 3\n")).await;
        let scim = Scim2Server::start().await;
        let proxy = RecordingProxy::start(&scim.origin()).await;
        let wrong = "wrong-token-4f1c9a";
        let app = p.create_scim_app("Wiki", &proxy.origin(), wrong).await;
        p.create_scim_app("Chat", &proxy.origin(), wrong).await;
        let user = p.create_user("ada@example.com", "Ada", "Lovelace").await;
        p.ok("PUT", &format!("/apps/{app}/users/{user}"), None).await;
        let path = format!("/apps/{app}");
        eventually("the app to be quarantined for its token", MINUTE, || async {
            (p.ok("GET", &path, None).await["status"] == "QUARANTINED").then_some(())
        })
        .await;

        // Refused as at creation, and nothing of the app changes.
        let before = p.ok("GET", &path, None).await;
        let refusals = [
            (
                json!({ "credentials": { "api": null } }),
                (400, "invalid"),
                "declared by the connector but not configured",
            ),
            (json!({ "grants": [] }), (400, "invalid"), "(granted: none)"),
            (json!({ "settings": { "base_url": null } }), (400, "invalid"), "base_url"),
            (json!({ "colour": "red" }), (400, "invalid"), "colour"),
            (json!({ "credentialOrigins": { "api": "x" } }), (400, "invalid"), "credentialOrigins.api"),
            (json!({ "name": "chat" }), (409, "conflict"), "already exists"),
        ];
        for (patch, expected, says) in refusals {
            assert_error(
                &format!("{backend:?} {patch}"),
                p.call("PATCH", &path, Some(patch.clone())).await,
                expected,
                says,
            );
        }
        assert_eq!(p.ok("GET", &path, None).await, before, "{backend:?}: a refused edit changes nothing");

        // Fixed in place: renamed, the right token; resumed, the work goes.
        let fix =
            json!({ "name": "Wiki (fixed)", "credentials": { "api": { "scheme": "bearer", "token": scim.token } } });
        let fixed = p.ok("PATCH", &path, Some(fix)).await;
        assert_eq!((fixed["name"].as_str(), fixed["status"].as_str()), (Some("Wiki (fixed)"), Some("QUARANTINED")));
        p.ok("POST", &format!("{path}/lifecycle/activate"), None).await;
        p.wait_idle(Duration::from_secs(60)).await;
        assert_eq!(scim.users_by_name().await["ada@example.com"]["active"], true, "{backend:?}");

        // Rotated to a token the app refuses: the very next call carries it.
        let rotated_at = Instant::now();
        let rotate = json!({ "credentials": { "api": { "scheme": "bearer", "token": "revoked-token-77ab" } } });
        p.ok("PATCH", &path, Some(rotate)).await;
        p.ok("POST", &format!("/users/{user}"), Some(json!({ "profile": { "title": "Countess" } }))).await;
        eventually("a call under the rotated token", MINUTE, || async {
            // The proxy records a call on arrival; its upstream status once
            // the app has answered.
            let calls: Vec<_> = proxy.exchanges().into_iter().filter(|e| e.received > rotated_at).collect();
            let first = calls.first().filter(|e| e.upstream_status != 0)?;
            assert_eq!(first.upstream_status, 401, "{backend:?}: the old token was used");
            Some(())
        })
        .await;

        // The log names what changed; no token is anywhere in it.
        let events = p.ok("GET", &format!("/logs?eventType=app.update&targetId={app}"), None).await;
        let events = events.as_array().cloned().unwrap_or_default();
        assert_eq!(events.len(), 2, "{backend:?}: one event per edit that changed something: {events:?}");
        let details: Vec<&Json> = events.iter().map(|e| &e["details"]).collect();
        assert!(details.iter().all(|d| d["credentials"]["set"] == json!(["api"])), "{details:?}");
        assert!(details.iter().any(|d| d["name"]["new"] == "Wiki (fixed)"), "{details:?}");
        let (_, csv) = p.get_text(Some(crate::server::TOKEN), "/api/v1/logs/export?format=csv").await;
        let server_log = std::fs::read_to_string(dir.path().join("provisio.log")).unwrap_or_default();
        for secret in [wrong, scim.token.as_str(), "revoked-token-77ab"] {
            assert!(!csv.contains(secret), "{backend:?}: a token is in the system log");
            assert!(!server_log.contains(secret), "{backend:?}: a token is in the server's log");
        }
        drop(p);
        db.drop().await;
    }
}

#[tokio::test]
async fn two_admins_editing_an_app_at_once_each_keep_what_they_changed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Postgres, dir.path()).await;
    let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
    let origin = "http://127.0.0.1:9";
    let app = p.create_scim_app("Wiki", origin, "token-one").await;
    let path = format!("/apps/{app}");
    for round in 0..5 {
        let name = json!({ "name": format!("Wiki {round}") });
        let grants = json!({ "grants": [origin, format!("http://10.0.0.{round}:80")] });
        let token = json!({ "credentials": { "api": { "scheme": "bearer", "token": format!("token-{round}") } } });
        let (a, b, c) = tokio::join!(
            p.call("PATCH", &path, Some(name)),
            p.call("PATCH", &path, Some(grants)),
            p.call("PATCH", &path, Some(token))
        );
        assert!([&a, &b, &c].iter().all(|(status, _)| *status == 200), "{a:?} {b:?} {c:?}");
        let shown = p.ok("GET", &path, None).await;
        assert_eq!(shown["name"], format!("Wiki {round}"), "an edit was lost: {shown}");
        assert_eq!(shown["grants"][1], format!("http://10.0.0.{round}:80"), "an edit was lost: {shown}");
    }
    let events = p.ok("GET", &format!("/logs?eventType=app.update&targetId={app}&limit=100"), None).await;
    let credential_edits =
        events.as_array().map_or(0, |e| e.iter().filter(|e| e["details"]["credentials"].is_object()).count());
    assert_eq!(credential_edits, 5, "each rotation was applied on its own: {events}");
    drop(p);
    db.drop().await;
}

/// The app's accounts, by login, as the SCIM server holds them: active?
async fn active_in(scim: &Scim2Server) -> std::collections::BTreeMap<String, bool> {
    scim.users_by_name().await.into_iter().map(|(login, u)| (login, u["active"] == true)).collect()
}

/// The guard holds even a small app's fan-out (as a large app's would be).
async fn no_floor(p: &Provisio, app: &str) {
    p.ok("PUT", &format!("/apps/{app}/policy"), Some(json!({ "guard": { "floor": 0 } }))).await;
}

/// Approves the plan a held answer names.
async fn approve(p: &Provisio, (status, answer): (u16, Json)) {
    assert_eq!((status, &answer["held"]), (202, &json!(true)), "a fan-out is guarded: {answer}");
    let plan = answer["plan"]["id"].as_str().expect("plan id");
    p.ok("POST", &format!("/plans/{plan}/approve"), None).await;
}

#[tokio::test]
async fn a_deleted_app_deprovisions_every_account_first_and_an_unsettled_one_keeps_it() {
    for backend in BACKENDS {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = TestDatabase::new(backend, dir.path()).await;
        let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
        let scim = Scim2Server::start().await;
        let proxy = RecordingProxy::start(&scim.origin()).await;
        let app = p.create_scim_app("Wiki", &proxy.origin(), &scim.token).await;
        no_floor(&p, &app).await;
        let group = p.ok("POST", "/groups", Some(json!({ "profile": { "name": "Staff" } }))).await;
        let group = group["id"].as_str().expect("group id").to_string();
        let mut users = Vec::new();
        for i in 0..3 {
            let user = p.create_user(&format!("u{i}@example.com"), "U", &format!("{i}")).await;
            p.ok("PUT", &format!("/groups/{group}/users/{user}"), None).await;
            users.push(user);
        }
        p.ok("PUT", &format!("/apps/{app}/groups/{group}"), None).await;
        p.ok("PUT", &format!("/apps/{app}/users/{}", users[0]), None).await;
        p.wait_idle(Duration::from_secs(60)).await;
        assert!(active_in(&scim).await.values().all(|a| *a), "{backend:?}: provisioned");

        // The first deactivation the app refuses: that account stays
        // unsettled, and it keeps the app.
        let mut refused = false;
        proxy.set_faults(move |method, path| {
            if matches!(method, "PATCH" | "PUT") && path.contains("/Users/") && !refused {
                refused = true;
                Fault::Status(400)
            } else {
                Fault::Pass
            }
        });
        let path = format!("/apps/{app}");
        approve(&p, p.call("DELETE", &path, None).await).await;
        let (status, answer) = p.call("PUT", &format!("{path}/users/{}", users[1]), None).await;
        assert_error("assign to a deleted app", (status, answer), (409, "conflict"), "is being deleted");
        eventually("every other account to be deprovisioned", MINUTE, || async {
            let errors = p.ok("GET", &format!("{path}/errors"), None).await;
            let failed = errors.as_array().map_or(0, Vec::len) as i64;
            (failed == 1 && p.pending().await == 1).then_some(())
        })
        .await;
        let kept = p.ok("GET", &path, None).await;
        assert!(kept["retiringSince"].is_string(), "{backend:?}: {kept}");
        assert_eq!(kept["unsettledAccounts"], 1, "{backend:?}: the refused account keeps the app: {kept}");
        assert_eq!(active_in(&scim).await.values().filter(|a| **a).count(), 1, "{backend:?}");

        // Fixed at the app; retried: the last account settles, the app goes.
        proxy.set_faults(|_, _| Fault::Pass);
        p.ok("POST", &format!("{path}/errors/retry"), None).await;
        eventually("the app to go", MINUTE, || async { (p.call("GET", &path, None).await.0 == 404).then_some(()) })
            .await;
        assert_eq!(active_in(&scim).await.values().filter(|a| **a).count(), 0, "{backend:?}: a leaver kept access");
        for event in ["app.retire", "app.delete"] {
            let logged = p.ok("GET", &format!("/logs?eventType={event}&targetId={app}"), None).await;
            assert_eq!(logged.as_array().map(Vec::len), Some(1), "{backend:?} {event}: {logged}");
        }
        // An app gone for good: once an admin says so, its unsettled
        // accounts are abandoned, each named in the log.
        let dead = RecordingProxy::start(&scim.origin()).await;
        let gone = p.create_scim_app("Gone", &dead.origin(), &scim.token).await;
        no_floor(&p, &gone).await;
        let abandon = format!("/apps/{gone}?abandonUnsettled=true");
        let early = p.call("DELETE", &abandon, None).await;
        assert_error("abandon before deleting", early, (409, "conflict"), "without abandonUnsettled first");
        let user = p.create_user("gone@example.com", "Gone", "Away").await;
        p.ok("PUT", &format!("/apps/{gone}/users/{user}"), None).await;
        p.wait_idle(Duration::from_secs(60)).await;
        dead.set_faults(|method, _| if method == "GET" { Fault::Pass } else { Fault::Status(400) });
        approve(&p, p.call("DELETE", &format!("/apps/{gone}"), None).await).await;
        eventually("the deactivation to be refused", MINUTE, || async {
            let errors = p.ok("GET", &format!("/apps/{gone}/errors"), None).await;
            (errors.as_array().map_or(0, Vec::len) == 1).then_some(())
        })
        .await;
        assert_eq!(p.call("DELETE", &abandon, None).await.0, 204, "{backend:?}");
        let logged = p.ok("GET", &format!("/logs?eventType=app.delete&targetId={gone}"), None).await;
        assert_eq!(logged[0]["details"]["abandoned"], json!([user]), "{backend:?}: {logged}");

        // The group and users remain; an app without accounts goes at once.
        p.ok("GET", &format!("/groups/{group}"), None).await;
        let empty = p.create_scim_app("Empty", &proxy.origin(), &scim.token).await;
        assert_eq!(p.call("DELETE", &format!("/apps/{empty}"), None).await.0, 204, "{backend:?}");
        assert_eq!(p.call("GET", &format!("/apps/{empty}"), None).await.0, 404);
        drop(p);
        db.drop().await;
    }
}

#[tokio::test]
async fn a_deleted_group_deprovisions_only_what_it_alone_gave_and_a_rename_changes_no_account() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
    let scim = Scim2Server::start().await;
    let app = p.create_scim_app("Wiki", &scim.origin(), &scim.token).await;
    no_floor(&p, &app).await;
    let group = p.ok("POST", "/groups", Some(json!({ "profile": { "name": "Staff" } }))).await;
    let group = group["id"].as_str().expect("group id").to_string();
    let only_group = p.create_user("grace@example.com", "Grace", "Hopper").await;
    let also_direct = p.create_user("ada@example.com", "Ada", "Lovelace").await;
    for user in [&only_group, &also_direct] {
        p.ok("PUT", &format!("/groups/{group}/users/{user}"), None).await;
    }
    p.ok("PUT", &format!("/apps/{app}/groups/{group}"), None).await;
    p.ok("PUT", &format!("/apps/{app}/users/{also_direct}"), None).await;
    p.wait_idle(Duration::from_secs(60)).await;

    let renamed = p.ok("PATCH", &format!("/groups/{group}"), Some(json!({ "profile": { "name": "Everyone" } }))).await;
    assert_eq!(renamed["profile"]["name"], "Everyone", "{renamed}");
    assert_eq!(p.pending().await, 0, "a rename changes no account");
    let other = p.ok("POST", "/groups", Some(json!({ "profile": { "name": "Other" } }))).await;
    let clash = p.call("PATCH", &format!("/groups/{group}"), Some(json!({ "profile": { "name": "other" } }))).await;
    assert_error("a rename onto another group's name", clash, (409, "conflict"), "already exists");
    assert_eq!(other["profile"]["name"], "Other");

    approve(&p, p.call("DELETE", &format!("/groups/{group}"), None).await).await;
    assert_eq!(p.call("GET", &format!("/groups/{group}"), None).await.0, 404);
    p.wait_idle(Duration::from_secs(60)).await;
    let active = active_in(&scim).await;
    assert!(!active["grace@example.com"], "the group alone gave Grace the app: {active:?}");
    assert!(active["ada@example.com"], "Ada's own assignment stays: {active:?}");
    drop(p);
    db.drop().await;
}

#[tokio::test]
async fn a_deleted_admin_s_tokens_stop_working_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
    let (id, token) = p.admin_with_token("leaver@example.com", "super-admin", &[]).await;
    assert_eq!(p.call_as(Some(&token), "GET", "/users", None).await.0, 200, "the token works");
    let (me, _) = p.call_as(Some(&token), "GET", "/admins/me", None).await;
    assert_eq!(me, 200);
    let myself = p.call_as(Some(&token), "DELETE", &format!("/admins/{id}"), None).await;
    assert_error("deleting yourself", myself, (409, "conflict"), "cannot delete yourself");

    assert_eq!(p.call("DELETE", &format!("/admins/{id}"), None).await.0, 204);
    assert_eq!(p.call_as(Some(&token), "GET", "/users", None).await.0, 401, "a deleted admin's token still works");
    assert_eq!(p.call("GET", &format!("/admins/{id}"), None).await.0, 404);
    let logged = p.ok("GET", &format!("/logs?eventType=admin.delete&targetId={id}"), None).await;
    assert_eq!(logged[0]["details"]["login"], "leaver@example.com", "{logged}");
    drop(p);
    db.drop().await;
}
