//! Manual deprovisioning and event hooks through a real `provisio serve`:
//! an app whose connector (a real component) can only create users gets a
//! task when its user is deactivated, and a registered webhook receiver
//! gets signed events, retried past its failures, each delivered once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{Value as Json, json};
use sha2::Sha256;

use crate::databases::{Backend, TestDatabase};
use crate::server::{Provisio, TEST_CONFIG};
use crate::support::{Scim2Server, create_only_app};

#[derive(Clone, Debug)]
struct Received {
    signature: String,
    event_id: String,
    event_type: String,
    body: String,
    answered: u16,
}

/// A webhook receiver that answers 500 to its first `fail_first` requests.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl Receiver {
    async fn start(fail_first: usize) -> Receiver {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let log = received.clone();
        let handler = move |headers: axum::http::HeaderMap, body: String| {
            let log = log.clone();
            async move {
                let header =
                    |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                let answered = if log.len() < fail_first { 500 } else { 204 };
                log.push(Received {
                    signature: header("x-provisio-signature"),
                    event_id: header("x-provisio-event-id"),
                    event_type: header("x-provisio-event-type"),
                    body,
                    answered,
                });
                axum::http::StatusCode::from_u16(answered).expect("status")
            }
        };
        let app = axum::Router::new().route("/hook", axum::routing::post(handler));
        let (addr, tx) = crate::support::serve(app).await;
        let url = format!("http://{addr}/hook");
        Receiver { url, received, _shutdown: tx }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Waits until an event of `event_type` was accepted.
    async fn accepted(&self, event_type: &str, patience: Duration) -> Received {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(r) = self.received().into_iter().find(|r| r.event_type == event_type && r.answered == 204) {
                return r;
            }
            assert!(Instant::now() < deadline, "no {event_type} accepted; received {:?}", self.received());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Verifies `t=<unix>,v1=<hex>` as a receiver would: HMAC-SHA256 over
/// "<t>.<body>", compared in constant time, and a fresh `t`.
fn verifies(secret: &str, signature: &str, body: &str) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in signature.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<u64>().ok(),
            Some(("v1", value)) => v1 = hex::decode(value).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else { return false };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if now.abs_diff(t) > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.{body}").as_bytes());
    mac.verify_slice(&v1).is_ok()
}

const HOOKS_CONFIG: &str = "[hooks]\nretry_base_ms = 100\nretry_max_ms = 400\npoll_ms = 50\n";

#[tokio::test]
async fn an_app_that_cannot_deprovision_gets_a_task_and_a_webhook_hears_of_it_signed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scim = Scim2Server::start().await;
    // The receiver fails its first two requests: the deliveries are retried.
    let receiver = Receiver::start(2).await;
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let p = Provisio::start(dir.path(), &db.url, &format!("{TEST_CONFIG}{HOOKS_CONFIG}")).await;

    // Bad hooks are refused with a reason.
    for bad in [
        json!({ "name": "x", "url": "ftp://example.com", "events": ["task.create"] }),
        json!({ "name": "x", "url": receiver.url, "events": ["user.exploded"] }),
        json!({ "name": "x", "url": receiver.url, "events": [] }),
    ] {
        let (status, answer) = p.call("POST", "/hooks", Some(bad)).await;
        assert_eq!((status, answer["errorCode"].as_str()), (400, Some("invalid")), "{answer}");
    }
    let events = ["user.lifecycle.deactivate", "task.create", "plan.hold", "app.lifecycle.quarantine", "account.fail"];
    let hook = p.ok("POST", "/hooks", Some(json!({ "name": "ops", "url": receiver.url, "events": events }))).await;
    let secret = hook["secret"].as_str().expect("the secret, once").to_string();
    let hook_id = hook["id"].as_str().expect("id").to_string();
    assert!(p.ok("GET", &format!("/hooks/{hook_id}"), None).await.get("secret").is_none());

    let app = create_only_app(&p, "Create only", &scim.origin(), &scim.token).await;
    let user = p.create_user("leaver@example.com", "Lee", "Ver").await;
    p.ok("PUT", &format!("/apps/{app}/users/{user}"), None).await;
    p.wait_idle(Duration::from_secs(30)).await;
    assert!(scim.users_by_name().await.contains_key("leaver@example.com"), "created by the connector");

    // The leaver: the connector cannot deactivate, so a human is asked to.
    p.ok("POST", &format!("/users/{user}/lifecycle/deactivate"), None).await;
    p.wait_idle(Duration::from_secs(30)).await;
    let tasks = p.ok("GET", "/tasks", None).await;
    let tasks = tasks.as_array().expect("tasks");
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let task = &tasks[0];
    assert_eq!(
        (
            task["appId"].as_str(),
            task["userId"].as_str(),
            task["login"].as_str(),
            task["action"].as_str(),
            task["status"].as_str()
        ),
        (Some(app.as_str()), Some(user.as_str()), Some("leaver@example.com"), Some("deactivate"), Some("OPEN"))
    );
    assert!(task["created"].as_str().is_some_and(|c| c.starts_with("20")));
    assert_eq!(scim.users_by_name().await["leaver@example.com"]["active"], true, "nobody touched the app");
    let account = p.ok("GET", &format!("/apps/{app}/accounts/{user}"), None).await;
    assert_eq!(account["syncState"], "SYNCED", "handed to a human: {account}");

    // The webhook hears of both, signed; a tampered body does not verify.
    let deprovisioned = receiver.accepted("user.lifecycle.deactivate", Duration::from_secs(20)).await;
    let created = receiver.accepted("task.create", Duration::from_secs(20)).await;
    for r in [&deprovisioned, &created] {
        assert!(verifies(&secret, &r.signature, &r.body), "{r:?}");
        assert!(r.body.contains("leaver@example.com"), "the event names the user: {}", r.body);
        assert!(!verifies(&secret, &r.signature, &r.body.replace("leaver", "lever")), "tampering shows");
        assert!(!verifies("whsec_wrong", &r.signature, &r.body));
    }
    let body: Json = serde_json::from_str(&created.body).expect("json");
    assert_eq!(
        (body["eventType"].as_str(), body["data"]["login"].as_str()),
        (Some("task.create"), Some("leaver@example.com"))
    );
    assert_eq!(body["target"]["id"], task["id"]);
    let body: Json = serde_json::from_str(&deprovisioned.body).expect("json");
    assert_eq!(body["target"]["id"], json!(user));

    // Two failures, then delivered: recorded on the deliveries; each event
    // accepted exactly once.
    let received = receiver.received();
    assert_eq!(received.iter().filter(|r| r.answered == 500).count(), 2);
    let mut accepted: Vec<&str> = received.iter().filter(|r| r.answered == 204).map(|r| r.event_id.as_str()).collect();
    let total = accepted.len();
    accepted.sort();
    accepted.dedup();
    assert_eq!(accepted.len(), total, "no event accepted twice: {received:?}");
    let deliveries = p.ok("GET", &format!("/hooks/{hook_id}/deliveries"), None).await;
    let deliveries = deliveries.as_array().expect("deliveries");
    assert_eq!(deliveries.len(), 2, "{deliveries:?}");
    assert!(deliveries.iter().all(|d| d["status"] == "DELIVERED"), "{deliveries:?}");
    let attempts: i64 = deliveries.iter().filter_map(|d| d["attempts"].as_i64()).sum();
    assert_eq!(attempts, 4, "two failed attempts and two that landed: {deliveries:?}");

    // An admin marks the task done; twice is a conflict.
    let task_id = task["id"].as_str().expect("task id");
    let done = p.ok("POST", &format!("/tasks/{task_id}/done"), None).await;
    assert_eq!((done["status"].as_str(), done["closedBy"].as_str()), (Some("DONE"), Some("bootstrap-admin")));
    let (status, answer) = p.call("POST", &format!("/tasks/{task_id}/done"), None).await;
    assert_eq!((status, answer["errorCode"].as_str()), (409, Some("conflict")), "{answer}");
    assert_eq!(p.ok("GET", "/tasks", None).await.as_array().map(Vec::len), Some(0), "none open");

    // Back again: the human deactivated the account, so a human restores it.
    p.ok("POST", &format!("/users/{user}/lifecycle/activate"), None).await;
    p.wait_idle(Duration::from_secs(30)).await;
    let open = p.ok("GET", "/tasks", None).await;
    let actions: Vec<&str> = open.as_array().expect("tasks").iter().filter_map(|t| t["action"].as_str()).collect();
    assert_eq!(actions, vec!["reactivate"]);
    drop(p);
    db.drop().await;
}
