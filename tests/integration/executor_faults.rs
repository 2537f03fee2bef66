//! A bug in Provisio's own push path (a panic) is recorded on the account
//! it hit, with why, and the account is retried; it is not left as work
//! that silently waits out its lease.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Notify;

use provisio_directory::{NewApp, Store};
use provisio_lifecycle::{
    AccountOp, Call, CallFailure, CallId, Change, Connectors, Engine, Executor, ExecutorConfig, Mode, Reply,
};
use provisio_server::provisioner::RuntimeConnectors;

use crate::databases::{Backend, TestDatabase};

/// The real connectors, except that every call panics. A fake on purpose:
/// no real part can be made to hit a bug of the host's on demand.
struct PanicsOnCall(Arc<RuntimeConnectors>);

impl Connectors for PanicsOnCall {
    fn supports(&self, app: &provisio_directory::App, op: AccountOp) -> bool {
        self.0.supports(app, op)
    }

    fn correlation(&self, app: &provisio_directory::App) -> Option<String> {
        self.0.correlation(app)
    }

    async fn call(&self, _app: &provisio_directory::App, _id: CallId, _call: Call) -> Result<Reply, CallFailure> {
        panic!("a bug in the push path")
    }
}

#[tokio::test]
async fn a_push_that_panics_records_why_on_the_account_and_is_retried() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let store = Store::open(&db.url).await.expect("store");
    let (connectors, name, version, sealer) = crate::support::scim_connectors(&store, dir.path()).await;
    let work = Arc::new(Notify::new());
    let engine = Engine::new(store.clone(), connectors.clone(), work.clone());
    let config = ExecutorConfig { poll: Duration::from_millis(20), ..ExecutorConfig::default() };
    let executor = Executor::new(store.clone(), Arc::new(PanicsOnCall(connectors)), config, work);
    let stop = Arc::new(Notify::new());
    let worker = tokio::spawn(executor.run(stop.clone()));

    let new_app = NewApp {
        name: "Crashes".into(),
        connector_name: name,
        connector_version: version,
        settings: json!({ "base_url": "http://127.0.0.1:9/v2" }),
        secrets: serde_json::Map::new(),
        grants: vec!["http://127.0.0.1:9".into()],
        credential_origins: Default::default(),
        mappings: json!({}),
        policy: json!({}),
    };
    let app = store.create_app("test", new_app, &sealer).await.expect("app").id;
    let create = Change::CreateUser { login: "ada@example.com".into(), profile: Default::default(), activate: true };
    let user =
        engine.submit("test", &create, Mode::Apply).await.expect("user").result["id"].as_str().expect("id").to_string();
    engine
        .submit("test", &Change::AssignUser { app_id: app.clone(), user_id: user.clone() }, Mode::Apply)
        .await
        .expect("assign");

    let deadline = Instant::now() + Duration::from_secs(30);
    let account = loop {
        let account = store.account(&app, &user).await.expect("read").expect("account");
        if account.last_error.is_some() {
            break account;
        }
        assert!(Instant::now() < deadline, "the crash was never recorded: {account:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let error = account.last_error.as_deref().unwrap_or_default();
    assert!(error.contains("Provisio failed") && error.contains("a bug in the push path"), "{error}");
    assert!(account.lease_owner.is_none(), "the lease was given back: {account:?}");
    assert!(account.attempt >= 1, "the attempt counts towards backoff: {account:?}");
    assert!(account.intent.is_some(), "the create stays in doubt until it is looked up: {account:?}");

    stop.notify_one();
    let _ = worker.await;
    store.close().await;
    db.drop().await;
}
