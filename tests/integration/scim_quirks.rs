//! The SCIM connector against the quirks real vendors ship, one named test
//! per quirk, each served by `tests/peers/quirky_scim.py` with that quirk on.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use provisio_runtime::model::{AccountKey, ConnectorError, ListRequest, NewAccount};
use provisio_runtime::{App, AppConfig};
use provisio_sdk_harness::{AppConfigBuilder, Harness};
use serde_json::{Value as Json, json};

use crate::databases::{Backend, TestDatabase};
use crate::server::{Provisio, TEST_CONFIG};
use crate::support::{call, scim_harness};

/// One quirky SCIM server, stopped on drop.
struct QuirkyScim {
    child: Child,
    origin: String,
    client: reqwest::Client,
}

impl QuirkyScim {
    async fn start(quirks: &[&str]) -> QuirkyScim {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let port = portpicker();
        let child = Command::new("python3")
            .arg(root.join("peers/quirky_scim.py"))
            .arg(port.to_string())
            .args(quirks)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the quirky SCIM server");
        let server = QuirkyScim { child, origin: format!("http://127.0.0.1:{port}"), client: reqwest::Client::new() };
        let deadline = Instant::now() + Duration::from_secs(20);
        while server.client.get(format!("{}/v2/Users", server.origin)).send().await.is_err() {
            assert!(Instant::now() < deadline, "the quirky SCIM server did not start");
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        server
    }

    /// Adds a user as the app holds it, without any quirk; returns its id.
    async fn seed(&self, user_name: &str, active: bool) -> String {
        let r = self
            .client
            .post(format!("{}/_seed", self.origin))
            .json(&json!({ "userName": user_name, "active": active }));
        let created: Json = r.send().await.expect("seed").json().await.expect("seeded user");
        created["id"].as_str().expect("id").to_string()
    }

    /// A user as the app holds it (the raw record, quirks aside).
    async fn raw_active(&self, user_name: &str) -> Vec<Json> {
        let users: Json =
            self.client.get(format!("{}/_raw", self.origin)).send().await.expect("list").json().await.expect("json");
        let all = users.as_array().cloned().unwrap_or_default();
        all.into_iter().filter(|u| u["userName"] == user_name).map(|u| u["active"].clone()).collect()
    }

    fn app(&self, h: &Harness, extra: &[(&str, Json)]) -> App {
        let mut config = AppConfigBuilder(AppConfig {
            app_id: "quirky".into(),
            grants: vec![self.origin.clone()],
            ..AppConfig::default()
        })
        .setting("base_url", format!("{}/v2", self.origin))
        .bearer("api", "any-token");
        for (name, value) in extra {
            config = config.setting(name, value.clone());
        }
        h.app(config).expect("app")
    }
}

impl Drop for QuirkyScim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn portpicker() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

#[tokio::test]
async fn an_active_sent_as_a_string_is_read_as_the_boolean_it_names() {
    let scim = QuirkyScim::start(&["active-string"]).await;
    scim.seed("off@example.com", false).await;
    scim.seed("on@example.com", true).await;
    let h = scim_harness().await;
    let app = scim.app(&h, &[]);
    for (login, active) in [("off@example.com", false), ("on@example.com", true)] {
        let found = app.get_user(&call("get"), &AccountKey::Login(login.into())).await.into_result().expect("found");
        assert_eq!(found.and_then(|a| a.active), Some(active), "{login}");
    }
}

#[tokio::test]
async fn a_filter_that_matches_nothing_may_answer_404_when_the_operator_says_so() {
    let scim = QuirkyScim::start(&["filter-404"]).await;
    let h = scim_harness().await;
    let nobody = AccountKey::Login("nobody@example.com".into());
    // Off by default: a 404 could as well mean a wrong base URL.
    let strict = scim.app(&h, &[]);
    assert!(strict.get_user(&call("strict"), &nobody).await.into_result().is_err());
    let lenient = scim.app(&h, &[("filter_404_means_none", json!(true))]);
    assert_eq!(lenient.get_user(&call("lenient"), &nobody).await.into_result().expect("no match"), None);
}

#[tokio::test]
async fn an_html_error_page_becomes_a_short_text_excerpt() {
    let scim = QuirkyScim::start(&["html-500-once"]).await;
    let h = scim_harness().await;
    let app = scim.app(&h, &[]);
    let user = NewAccount { login: "ada@example.com".into(), active: true, profile: Default::default() };
    let err = app.create_user(&call("create"), &user).await.into_result().expect_err("the 500");
    match err.connector_error() {
        Some(ConnectorError::Transient { message }) => {
            assert!(message.contains("Internal Server Error"), "{message}");
            assert!(!message.contains('<') && message.len() < 600, "{message}");
        }
        other => panic!("a 500 is transient: {other:?}"),
    }
}

#[tokio::test]
async fn linking_an_account_whose_active_cannot_be_read_reactivates_it() {
    let scim = QuirkyScim::start(&["active-unreadable"]).await;
    scim.seed("left@example.com", false).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
    let app = p.create_scim_app("Quirky", &scim.origin, "any-token").await;
    let user = p.create_user("left@example.com", "Left", "Before").await;
    p.ok("PUT", &format!("/apps/{app}/users/{user}"), None).await;
    p.wait_idle(Duration::from_secs(30)).await;
    // The create met the existing account (409) and linked it; its state
    // could not be read, so it was reactivated rather than assumed active.
    assert_eq!(scim.raw_active("left@example.com").await, vec![json!(true)]);
}

/// Every account a whole listing returns, page by page (at most 50 pages).
async fn list_all(app: &App) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = None;
    for _ in 0..50 {
        let request = ListRequest { cursor: cursor.clone(), since: None, page_size: 2 };
        let page = app.list_users(&call("list"), &request).await.into_result().expect("page");
        ids.extend(page.items.into_iter().map(|a| a.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return ids,
        }
    }
    panic!("the listing did not end within 50 pages ({} accounts so far)", ids.len());
}

#[tokio::test]
async fn a_listing_is_whole_and_lists_each_account_once_whatever_the_service_says_of_its_paging() {
    let h = scim_harness().await;
    for quirks in [&[][..], &["total=2"], &["ignore-paging"], &["ignore-paging", "total=2"]] {
        let scim = QuirkyScim::start(quirks).await;
        let mut seeded = Vec::new();
        for i in 0..5 {
            seeded.push(scim.seed(&format!("user{i}@example.com"), true).await);
        }
        let mut listed = list_all(&scim.app(&h, &[])).await;
        listed.sort();
        seeded.sort();
        assert_eq!(listed, seeded, "{quirks:?}");
    }
}
