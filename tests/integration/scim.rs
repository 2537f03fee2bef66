//! The SCIM connector against a real SCIM service (scim2-server from PyPI),
//! through a recording proxy: assertions read what the server then holds and
//! what was sent.

use provisio_runtime::model::{AccountKey, ConnectorError, ListRequest, NewAccount, NewGroup, Value};
use provisio_runtime::{App, SecretString};
use serde_json::json;

use crate::support::{RecordingProxy, Scim2Server, call, scim_harness};

struct Setup {
    server: Scim2Server,
    proxy: RecordingProxy,
    app: App,
    _harness: provisio_sdk_harness::Harness,
}

async fn setup(switches: &[(&str, serde_json::Value)]) -> Setup {
    let server = Scim2Server::start().await;
    let proxy = RecordingProxy::start(&server.origin()).await;
    let harness = scim_harness().await;
    let mut config = provisio_sdk_harness::AppConfigBuilder::default()
        .setting("base_url", format!("{}/v2", proxy.origin()))
        .bearer("api", &server.token)
        .grant(&proxy.origin());
    config.0.app_id = "scim-app".into();
    for (name, value) in switches {
        config = config.setting(name, value.clone());
    }
    let app = harness.app(config).expect("app");
    Setup { server, proxy, app, _harness: harness }
}

impl Setup {
    /// Creates `login` through the connector.
    async fn create(&self, login: &str) -> provisio_runtime::model::Account {
        self.app.create_user(&call(&format!("create-{login}")), &new_user(login)).await.into_result().expect("create")
    }
}

fn new_user(login: &str) -> NewAccount {
    NewAccount {
        login: login.into(),
        active: true,
        profile: [
            ("displayName".to_string(), Value::text(format!("User {login}"))),
            (
                "name".to_string(),
                Value::Complex(
                    [
                        ("givenName".to_string(), provisio_runtime::model::Scalar::Text("Ada".into())),
                        ("familyName".to_string(), provisio_runtime::model::Scalar::Text("Lovelace".into())),
                    ]
                    .into(),
                ),
            ),
            ("title".to_string(), Value::text("Engineer")),
        ]
        .into(),
    }
}

#[tokio::test]
async fn create_user_creates_the_account_in_scim2_server() {
    let s = setup(&[]).await;
    let account = s.create("ada").await;
    let held = s.server.user(&account.id).await;
    assert_eq!(held["userName"], "ada");
    assert_eq!(held["active"], json!(true));
    assert_eq!(held["name"]["familyName"], "Lovelace");
    assert_eq!(held["title"], "Engineer");
    assert_eq!(s.server.total_users().await, 1);
}

#[tokio::test]
async fn an_update_sends_only_the_changed_attributes_by_patch() {
    let s = setup(&[]).await;
    let account = s.create("ada").await;
    s.proxy.clear();
    let mut desired = new_user("ada").profile;
    desired.insert("title".into(), Value::text("Principal Engineer"));
    let changes = [("title".to_string(), Some(Value::text("Principal Engineer")))].into();
    s.app.update_user(&call("u1"), &account.id, &changes, &desired).await.into_result().expect("update");

    let sent = s.proxy.exchanges();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].method, "PATCH");
    assert_eq!(
        sent[0].body["Operations"],
        json!([{"op": "replace", "path": "title", "value": "Principal Engineer"}]),
        "only the changed attribute"
    );
    let held = s.server.user(&account.id).await;
    assert_eq!(held["title"], "Principal Engineer");
    assert_eq!(held["displayName"], "User ada", "untouched attributes stay");
}

#[tokio::test]
async fn deactivate_stores_active_as_boolean_false() {
    let s = setup(&[]).await;
    let account = s.create("ada").await;
    s.app.deactivate_user(&call("d1"), &account.id).await.into_result().expect("deactivate");
    let held = s.server.user(&account.id).await;
    assert_eq!(held["active"], json!(false), "a JSON boolean, never the string \"False\"");
}

#[tokio::test]
async fn reactivate_sets_active_back_to_true() {
    let s = setup(&[]).await;
    let account = s.create("ada").await;
    s.app.deactivate_user(&call("d1"), &account.id).await.into_result().expect("deactivate");
    s.app.reactivate_user(&call("r1"), &account.id).await.into_result().expect("reactivate");
    assert_eq!(s.server.user(&account.id).await["active"], json!(true));
}

#[tokio::test]
async fn put_mode_keeps_attributes_provisio_does_not_manage() {
    let s = setup(&[("update_with_put", json!(true))]).await;
    let created = s
        .server
        .post_user(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "grace", "displayName": "Grace", "nickName": "Amazing Grace", "title": "Rear Admiral"
        }))
        .await;
    let id = created["id"].as_str().expect("id").to_string();
    let desired =
        [("displayName".to_string(), Value::text("Grace Hopper")), ("title".to_string(), Value::text("Rear Admiral"))]
            .into();
    let changes = [("displayName".to_string(), Some(Value::text("Grace Hopper")))].into();
    s.app.update_user(&call("u1"), &id, &changes, &desired).await.into_result().expect("update");

    assert!(s.proxy.exchanges().iter().any(|e| e.method == "PUT"), "updated by PUT");
    let held = s.server.user(&id).await;
    assert_eq!(held["displayName"], "Grace Hopper");
    assert_eq!(held["nickName"], "Amazing Grace", "an attribute Provisio does not manage survives the PUT");
}

#[tokio::test]
async fn a_409_on_create_yields_the_existing_account_not_a_duplicate() {
    let s = setup(&[]).await;
    let existing =
        s.server.post_user(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada"})).await;
    let err = s.app.create_user(&call("c1"), &new_user("ada")).await.into_result().expect_err("conflict");
    match err.connector_error() {
        Some(ConnectorError::Conflict { existing: Some(account), .. }) => {
            assert_eq!(Some(account.id.as_str()), existing["id"].as_str());
            assert_eq!(account.login.as_deref(), Some("ada"));
        }
        other => panic!("expected a conflict with the existing account, got {other:?}"),
    }
    assert_eq!(s.server.total_users().await, 1, "no duplicate");
}

#[tokio::test]
async fn listing_crosses_several_pages() {
    let s = setup(&[]).await;
    for i in 0..25 {
        s.server
            .post_user(
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("user{i:02}")}),
            )
            .await;
    }
    let mut logins = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = s
            .app
            .list_users(&call("l"), &ListRequest { cursor: cursor.clone(), since: None, page_size: 10 })
            .await
            .into_result()
            .expect("page");
        pages += 1;
        logins.extend(page.items.iter().filter_map(|a| a.login.clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    logins.sort();
    assert_eq!(pages, 3);
    assert_eq!(logins.len(), 25);
    assert_eq!(logins.first().map(String::as_str), Some("user00"));
    assert_eq!(logins.last().map(String::as_str), Some("user24"));
}

#[tokio::test]
async fn get_user_finds_an_account_by_id_and_by_login() {
    let s = setup(&[]).await;
    let account = s.create("ada").await;
    let by_login = s.app.get_user(&call("g1"), &AccountKey::Login("ada".into())).await.into_result().expect("get");
    assert_eq!(by_login.map(|a| a.id), Some(account.id.clone()));
    let by_id = s.app.get_user(&call("g2"), &AccountKey::Id(account.id.clone())).await.into_result().expect("get");
    assert_eq!(by_id.and_then(|a| a.login), Some("ada".to_string()));
    let missing = s.app.get_user(&call("g3"), &AccountKey::Login("nobody".into())).await.into_result().expect("get");
    assert!(missing.is_none());
}

#[tokio::test]
async fn get_by_login_works_without_filter_support_by_listing() {
    let s = setup(&[("no_filter", json!(true)), ("page_size", json!(5))]).await;
    for i in 0..12 {
        s.server
            .post_user(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("u{i}")}))
            .await;
    }
    let found = s.app.get_user(&call("g"), &AccountKey::Login("u11".into())).await.into_result().expect("get");
    assert_eq!(found.and_then(|a| a.login), Some("u11".to_string()));
    assert!(s.proxy.exchanges().iter().all(|e| !e.path.contains("filter=")), "no filter was sent");
}

#[tokio::test]
async fn delete_removes_the_account_and_deleting_again_succeeds() {
    let s = setup(&[]).await;
    let account = s.create("ada").await;
    s.app.delete_user(&call("x1"), &account.id).await.into_result().expect("delete");
    assert_eq!(s.server.get(&format!("/Users/{}", account.id)).await.0, 404);
    s.app.delete_user(&call("x1"), &account.id).await.into_result().expect("a retried delete succeeds");
}

#[tokio::test]
async fn deactivate_with_delete_removes_the_account() {
    let s = setup(&[("deactivate_with_delete", json!(true))]).await;
    let account = s.create("ada").await;
    s.app.deactivate_user(&call("d1"), &account.id).await.into_result().expect("deactivate");
    assert_eq!(s.server.get(&format!("/Users/{}", account.id)).await.0, 404);
}

async fn group_members(s: &Setup, group_id: &str) -> Vec<String> {
    let (_, g) = s.server.get(&format!("/Groups/{group_id}")).await;
    let mut ids: Vec<String> = g["members"]
        .as_array()
        .map(|m| m.iter().filter_map(|x| x["value"].as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    ids.sort();
    ids
}

async fn group_membership_round_trip(switches: &[(&str, serde_json::Value)]) {
    let s = setup(switches).await;
    let a = s.create("ada").await;
    let b = s.create("bob").await;
    let group = s
        .app
        .create_group(
            &call("g1"),
            &NewGroup { name: "engineers".into(), description: None, members: vec![a.id.clone()] },
        )
        .await
        .into_result()
        .expect("create group");
    assert_eq!(group_members(&s, &group.id).await, vec![a.id.clone()]);

    s.app.add_members(&call("g2"), &group.id, std::slice::from_ref(&b.id)).await.into_result().expect("add");
    let mut both = vec![a.id.clone(), b.id.clone()];
    both.sort();
    assert_eq!(group_members(&s, &group.id).await, both);

    s.app.remove_members(&call("g3"), &group.id, std::slice::from_ref(&a.id)).await.into_result().expect("remove");
    assert_eq!(group_members(&s, &group.id).await, vec![b.id.clone()]);

    let page = s.app.list_groups(&call("g4"), &ListRequest::default()).await.into_result().expect("list");
    assert_eq!(page.items.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), vec!["engineers"]);
}

#[tokio::test]
async fn group_create_and_membership_add_and_remove() {
    group_membership_round_trip(&[]).await;
}

#[tokio::test]
async fn group_membership_by_put_for_services_that_need_it() {
    group_membership_round_trip(&[("members_with_put", json!(true))]).await;
}

#[tokio::test]
async fn set_password_puts_the_password_in_the_body_without_the_guest_seeing_it() {
    let s = setup(&[]).await;
    let account = s.create("ada").await;
    s.proxy.clear();
    let inv = s.app.set_password(&call("p1"), &account.id, SecretString::new("correct horse battery")).await;
    assert!(!format!("{:?}", inv.report).contains("correct horse"), "the password is not in the report");
    inv.result.expect("set password");
    let sent = s.proxy.exchanges();
    assert_eq!(sent[0].body["Operations"][0]["value"], "correct horse battery");
    assert!((200..300).contains(&sent[0].status), "scim2-server took it: {}", sent[0].status);
}

#[tokio::test]
async fn check_fails_as_unauthorized_with_a_wrong_token() {
    let server = Scim2Server::start().await;
    let harness = scim_harness().await;
    let config = provisio_sdk_harness::AppConfigBuilder::default()
        .setting("base_url", server.base_url.clone())
        .bearer("api", "wrong")
        .grant(&server.origin());
    let app = harness.app(config).expect("app");
    let err = app.check(&call("k")).await.into_result().expect_err("401");
    assert!(matches!(err.connector_error(), Some(ConnectorError::Unauthorized { .. })), "{err:?}");
}

async fn list_all(s: &Setup, since: Option<String>) -> (Vec<String>, Option<String>) {
    let (mut logins, mut cursor) = (Vec::new(), None);
    loop {
        let req = ListRequest { cursor: cursor.clone(), since: since.clone(), page_size: 2 };
        let page = s.app.list_users(&call("l"), &req).await.into_result().expect("page");
        logins.extend(page.items.iter().filter_map(|a| a.login.clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => {
                logins.sort();
                return (logins, page.watermark);
            }
        }
    }
}

#[tokio::test]
async fn an_incremental_listing_returns_only_what_changed_since_the_watermark() {
    let s = setup(&[]).await;
    for login in ["a", "b", "c"] {
        s.server.post_user(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": login})).await;
    }
    let (all, watermark) = list_all(&s, None).await;
    assert_eq!(all, ["a", "b", "c"]);
    let watermark = watermark.expect("the last page carries a watermark");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    for login in ["d", "e"] {
        s.server.post_user(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": login})).await;
    }
    let (changed, next) = list_all(&s, Some(watermark.clone())).await;
    // The account at the watermark itself may come again (`ge`): never lost.
    assert!(changed.iter().all(|l| ["c", "d", "e"].contains(&l.as_str())), "{changed:?}");
    assert!(changed.contains(&"d".to_string()) && changed.contains(&"e".to_string()), "{changed:?}");
    assert!(next.is_some_and(|n| n > watermark), "the watermark moves forward");
}

#[tokio::test]
async fn a_sub_attribute_dropped_from_a_complex_value_is_removed_from_the_app() {
    let s = setup(&[]).await;
    let account = s.create("ada").await;
    let name =
        Value::Complex([("givenName".to_string(), provisio_runtime::model::Scalar::Text("Augusta".into()))].into());
    let mut desired = new_user("ada").profile;
    desired.insert("name".into(), name.clone());
    let changes = [("name".to_string(), Some(name))].into();
    s.app.update_user(&call("u1"), &account.id, &changes, &desired).await.into_result().expect("update");
    let held = s.server.user(&account.id).await;
    assert_eq!(held["name"]["givenName"], "Augusta");
    assert!(held["name"].get("familyName").is_none(), "familyName was dropped: {}", held["name"]);
    assert_eq!(held["userName"], "ada");
}
