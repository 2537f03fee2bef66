//! Connector versions through the API of a real `provisio serve`: a second
//! version of the SCIM connector installed beside the first, an app moved
//! to it and rolled back while users keep arriving, a version that does not
//! fit the app's configuration refused, and removal refused while in use.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value as Json, json};

use crate::databases::{BACKENDS, TestDatabase};
use crate::server::{Provisio, TEST_CONFIG};
use crate::support::{RecordingProxy, SCIM_NEXT, Scim2Server, WIT_FUTURE};

pub(crate) fn next_manifest() -> String {
    let manifest = provisio_bundled::SCIM.manifest;
    assert!(manifest.contains("version = \"0.1.0\""));
    manifest.replacen("version = \"0.1.0\"", "version = \"0.2.0\"", 1)
}

pub(crate) fn package(manifest: &str, component: &[u8]) -> Json {
    json!({ "manifest": manifest, "component": base64::engine::general_purpose::STANDARD.encode(component) })
}

fn versions_of(list: &Json) -> Vec<(String, Vec<String>)> {
    list.as_array()
        .expect("connectors")
        .iter()
        .filter(|c| c["name"] == "scim")
        .map(|c| {
            let apps = c["apps"].as_array().expect("apps").iter().filter_map(|a| a.as_str().map(str::to_string));
            (c["version"].as_str().expect("version").to_string(), apps.collect())
        })
        .collect()
}

#[tokio::test]
async fn an_app_moves_to_a_new_connector_version_and_back_while_it_keeps_provisioning() {
    const USERS: usize = 40;
    for backend in BACKENDS {
        let dir = tempfile::tempdir().expect("tempdir");
        let scim = Scim2Server::start().await;
        let proxy = RecordingProxy::start(&scim.origin()).await;
        let db = TestDatabase::new(backend, dir.path()).await;
        let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
        let app = p.create_scim_app("Versioned", &proxy.origin(), &scim.token).await;

        // Bad packages: each refused with its code, nothing installed.
        let broken = package("[connector]\nname = \"scim\"\n", SCIM_NEXT);
        let future_manifest = next_manifest().replacen("wit = \"0.1.0\"", "wit = \"0.9.0\"", 1);
        for (body, code) in [
            (broken, "invalid-manifest"),
            (package(&future_manifest, WIT_FUTURE), "unsupported-contract"),
            (json!({ "manifest": next_manifest(), "component": "%%% not base64" }), "invalid"),
            (package(&next_manifest(), b"not a component"), "invalid-component"),
        ] {
            let (status, answer) = p.call("POST", "/connectors", Some(body)).await;
            assert_eq!((status, answer["errorCode"].as_str()), (400, Some(code)), "{backend:?}: {answer}");
        }
        let installed = p.ok("GET", "/connectors", None).await;
        assert_eq!(versions_of(&installed), vec![("0.1.0".to_string(), vec![app.clone()])]);

        // A 0.2.0 whose credential takes only basic auth: the app's bearer
        // token does not fit it, so the move is refused and nothing changes.
        let basic_only = next_manifest().replacen(
            "schemes = [\"bearer\", \"basic\", \"oauth2-client-credentials\"]",
            "schemes = [\"basic\"]",
            1,
        );
        assert_ne!(basic_only, next_manifest());
        let (status, answer) = p.call("POST", "/connectors", Some(package(&basic_only, SCIM_NEXT))).await;
        assert_eq!(status, 201, "{answer}");
        let (status, answer) =
            p.call("PUT", &format!("/apps/{app}/connector"), Some(json!({ "version": "0.2.0" }))).await;
        assert_eq!((status, answer["errorCode"].as_str()), (400, Some("config-does-not-fit")), "{answer}");
        assert_eq!(p.ok("GET", &format!("/apps/{app}"), None).await["connector"], "scim@0.1.0");
        p.ok("DELETE", "/connectors/scim/0.2.0", None).await;

        // Users keep arriving while the app moves to 0.2.0 and back.
        // Installed before users arrive: compiling takes seconds on a loaded
        // machine, and the move is what this test is about.
        let answer = p.ok("POST", "/connectors", Some(package(&next_manifest(), SCIM_NEXT))).await;
        assert_eq!(answer["label"], "scim@0.2.0");
        let installed = p.ok("GET", "/connectors", None).await;
        assert_eq!(
            versions_of(&installed),
            vec![("0.1.0".to_string(), vec![app.clone()]), ("0.2.0".to_string(), vec![])],
            "side by side"
        );
        let arrivals = async {
            let mut ids = Vec::new();
            for i in 0..USERS {
                let id = p.create_user(&format!("v{i:03}@example.com"), "Ver", &format!("Sion{i}")).await;
                p.ok("PUT", &format!("/apps/{app}/users/{id}"), None).await;
                ids.push(id);
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            ids
        };
        let moves = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let moved = p.ok("PUT", &format!("/apps/{app}/connector"), Some(json!({ "version": "0.2.0" }))).await;
            assert_eq!(
                (moved["connector"].as_str(), moved["previousConnector"].as_str()),
                (Some("scim@0.2.0"), Some("scim@0.1.0"))
            );
            // While an app runs it, a version cannot be removed.
            let (status, answer) = p.call("DELETE", "/connectors/scim/0.2.0", None).await;
            assert_eq!((status, answer["errorCode"].as_str()), (409, Some("connector-in-use")), "{answer}");
            assert!(answer["errorSummary"].as_str().is_some_and(|s| s.contains(&app)), "names the app: {answer}");
            // Rolled back once the new version has served (however loaded the machine is).
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while !proxy.exchanges().iter().any(|e| e.method == "POST" && e.user_agent.ends_with("(scim@0.2.0)")) {
                assert!(std::time::Instant::now() < deadline, "{backend:?}: scim@0.2.0 never served");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let back = p.ok("POST", &format!("/apps/{app}/connector/rollback"), None).await;
            assert_eq!(back["connector"], "scim@0.1.0");
            // Pinned on 0.1.0: an install that moves apps along leaves it.
            p.ok("PUT", &format!("/apps/{app}/connector"), Some(json!({ "version": "0.1.0", "pinned": true }))).await;
        };
        let (ids, ()) = tokio::join!(arrivals, moves);
        p.wait_idle(Duration::from_secs(60)).await;

        // Every user arrived exactly once, whichever version was running.
        let held = scim.users_by_name().await;
        assert_eq!(held.len(), USERS, "{backend:?}");
        let posts = proxy.exchanges().into_iter().filter(|e| e.method == "POST").collect::<Vec<_>>();
        assert_eq!(posts.len(), USERS, "{backend:?}: one create per user");
        let by_next = posts.iter().filter(|e| e.user_agent.ends_with("(scim@0.2.0)")).count();
        let by_first = posts.iter().filter(|e| e.user_agent.ends_with("(scim@0.1.0)")).count();
        assert!(
            by_next > 0 && by_first > 0,
            "{backend:?}: both versions served ({by_first} by 0.1.0, {by_next} by 0.2.0)"
        );
        assert_eq!(by_next + by_first, USERS);
        let accounts = p.accounts(&app).await;
        assert_eq!(accounts.len(), ids.len());
        assert!(accounts.iter().all(|a| a["syncState"] == "SYNCED"));

        // The pinned app stays put when 0.2.0 is installed with upgradeApps;
        // unpinned, it moves along.
        let mut again = package(&next_manifest(), SCIM_NEXT);
        again["upgradeApps"] = json!(true);
        let answer = p.ok("POST", "/connectors", Some(again.clone())).await;
        assert_eq!(answer["upgraded"], json!([]), "{answer}");
        p.ok("PUT", &format!("/apps/{app}/connector"), Some(json!({ "version": "0.1.0", "pinned": false }))).await;
        let answer = p.ok("POST", "/connectors", Some(again)).await;
        assert_eq!(answer["upgraded"], json!([app]), "{answer}");
        let log = p.ok("GET", &format!("/logs?eventType=app.connector.change&targetId={app}"), None).await;
        assert_eq!(log.as_array().map(Vec::len), Some(5), "every move is in the system log: {log}");

        drop(p);
        drop((scim, proxy));
        db.drop().await;
    }
}
