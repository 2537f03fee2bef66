//! A create whose outcome Provisio cannot learn: the answer was lost and the
//! app refuses to look accounts up (400 to a filtered GET; a connector that
//! cannot look up at all ends the same way). The account is shown OUTCOME_UNKNOWN,
//! nothing is sent blind, and an admin who looked in the app says what is
//! there: the account's id (linked, never created again) or nothing (created).

use std::time::Duration;

use serde_json::json;

use crate::databases::{Backend, TestDatabase};
use crate::server::{Provisio, TEST_CONFIG};
use crate::support::{Fault, RecordingProxy, Scim2Server, create_only_app};

fn posts(proxy: &RecordingProxy) -> usize {
    proxy.exchanges().iter().filter(|e| e.method == "POST").count()
}

#[tokio::test]
async fn a_create_of_unknown_outcome_waits_for_an_admin_who_links_the_account_or_has_it_created() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
    let scim = Scim2Server::start().await;
    let proxy = RecordingProxy::start(&scim.origin()).await;
    let app = create_only_app(&p, "No lookups", &proxy.origin(), &scim.token).await;

    // The app makes the account, and its answer is lost.
    let refusing_lookups = |create: Fault| {
        move |method: &str, _: &str| match method {
            "POST" => create.clone(),
            "GET" => Fault::Status(400),
            _ => Fault::Pass,
        }
    };
    proxy.set_faults(refusing_lookups(Fault::DropAfter));
    let ada = p.create_user("ada@example.com", "Ada", "Lovelace").await;
    p.ok("PUT", &format!("/apps/{app}/users/{ada}"), None).await;
    let account = p.account_reaching(&format!("/apps/{app}/accounts/{ada}"), "OUTCOME_UNKNOWN").await;
    let error = account["lastError"].as_str().unwrap_or_default();
    assert!(error.contains("outcome unknown") && error.contains("/resolve"), "says what to do: {error}");
    assert!(account["nextAttempt"].is_null(), "nothing more is tried by itself: {account}");
    assert_eq!(posts(&proxy), 1, "one create, never repeated blind");
    let made = scim.users_by_name().await["ada@example.com"]["id"].as_str().expect("made").to_string();

    // Bad words are refused, and change nothing.
    for bad in [
        json!({}),
        json!({ "externalId": made, "absent": true }),
        json!({ "absent": false }),
        json!({ "externalId": " " }),
    ] {
        let (status, answer) = p.call("POST", &format!("/apps/{app}/accounts/{ada}/resolve"), Some(bad.clone())).await;
        assert_eq!((status, answer["errorCode"].as_str()), (400, Some("invalid")), "{bad}: {answer}");
    }
    let (status, _) =
        p.call("POST", &format!("/apps/{app}/accounts/no-such-user/resolve"), Some(json!({ "absent": true }))).await;
    assert_eq!(status, 404);
    assert_eq!(p.ok("GET", &format!("/apps/{app}/accounts/{ada}"), None).await["syncState"], "OUTCOME_UNKNOWN");

    // The admin found it: linked, and not created again.
    proxy.set_faults(|_, _| Fault::Pass);
    let resolved =
        p.ok("POST", &format!("/apps/{app}/accounts/{ada}/resolve"), Some(json!({ "externalId": made }))).await;
    assert_eq!(resolved["externalId"], made.as_str(), "{resolved}");
    p.wait_idle(Duration::from_secs(30)).await;
    let account = p.ok("GET", &format!("/apps/{app}/accounts/{ada}"), None).await;
    assert_eq!((account["syncState"].as_str(), account["externalId"].as_str()), (Some("SYNCED"), Some(made.as_str())));
    assert_eq!(posts(&proxy), 1, "the found account was not created again");
    let (status, answer) =
        p.call("POST", &format!("/apps/{app}/accounts/{ada}/resolve"), Some(json!({ "absent": true }))).await;
    assert_eq!((status, answer["errorCode"].as_str()), (409, Some("conflict")), "nothing in doubt: {answer}");

    // The create never reached the app (the connection dropped before it):
    // the admin says so, and it is created, once.
    proxy.set_faults(refusing_lookups(Fault::DropBefore));
    let alan = p.create_user("alan@example.com", "Alan", "Turing").await;
    p.ok("PUT", &format!("/apps/{app}/users/{alan}"), None).await;
    p.account_reaching(&format!("/apps/{app}/accounts/{alan}"), "OUTCOME_UNKNOWN").await;
    assert!(!scim.users_by_name().await.contains_key("alan@example.com"));
    proxy.set_faults(|_, _| Fault::Pass);
    p.ok("POST", &format!("/apps/{app}/accounts/{alan}/resolve"), Some(json!({ "absent": true }))).await;
    p.wait_idle(Duration::from_secs(30)).await;
    assert_eq!(scim.users_by_name().await.keys().filter(|k| k.starts_with("alan")).count(), 1);
    let log = p.ok("GET", &format!("/logs?eventType=account.resolve&targetId={alan}"), None).await;
    assert_eq!(log.as_array().map(Vec::len), Some(1), "the admin's word is in the log: {log}");
    drop(p);
    db.drop().await;
}
