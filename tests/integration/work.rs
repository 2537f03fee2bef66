//! The work model under the executor, the same on SQLite and PostgreSQL:
//! fenced leases, renewal, settle times, and outcomes recorded only under
//! the claim they were made with (and never lost when they are not).

use provisio_directory::{AccountState, Clock, Failure, LogQuery, Pushed, Store};
use serde_json::{Map, Value, json};

use crate::directory::{app_with_users, each_backend};

/// Apps' settle time in these tests, unless a test says otherwise.
fn no_settle(_: &Value) -> i64 {
    0
}

fn pushed(generation: i64, external_id: &str) -> Pushed {
    Pushed { generation, state: AccountState::Active, profile: Map::new(), external_id: Some(external_id.into()) }
}

fn failure(generation: i64, retry_at: Option<i64>) -> Failure {
    Failure {
        generation,
        error: "HTTP 500".into(),
        retry_at,
        counts: true,
        settled: false,
        settle_until: None,
        linked: None,
    }
}

async fn stale_events(store: &Store) -> Vec<Value> {
    let all = store.log(&LogQuery { limit: 1000, ..LogQuery::default() }).await.expect("log");
    all.into_iter().filter(|e| e.action == "account.outcome.discard").map(|e| e.details).collect()
}

#[tokio::test]
async fn a_leased_account_is_not_claimed_again_until_its_lease_expires() {
    each_backend(|store, clock| async move {
        let (app, users) = app_with_users(&store, 3).await;
        for u in &users {
            store.set_desired(&app, u, AccountState::Active, &Map::new()).await.expect("set");
        }
        let first = store.claim_due("w1", 30_000, 2, &no_settle).await.expect("claim");
        assert_eq!(first.len(), 2);
        let second = store.claim_due("w2", 30_000, 10, &no_settle).await.expect("claim");
        assert_eq!(second.len(), 1, "only the one not leased");
        assert!(first.iter().all(|a| a.user_id != second[0].user_id));
        assert!(store.claim_due("w3", 30_000, 10, &no_settle).await.expect("claim").is_empty());
        clock.advance(30_001);
        let after_expiry = store.claim_due("w3", 30_000, 10, &no_settle).await.expect("claim");
        assert_eq!(after_expiry.len(), 3, "a dead worker's leases run out");
        // The old claim can no longer complete: its lease is gone.
        let err = store.complete_push(&app, &first[0].user_id, &first[0].lease(), &pushed(1, "x")).await;
        assert_eq!(err.expect_err("stale claim").code(), "conflict");
    })
    .await;
}

#[tokio::test]
async fn an_outcome_under_a_replaced_claim_is_refused_and_logged_even_from_the_same_worker() {
    each_backend(|store, clock| async move {
        let (app, users) = app_with_users(&store, 1).await;
        let u = &users[0];
        store.set_desired(&app, u, AccountState::Active, &Map::new()).await.expect("set");
        let first = store.claim_due("node-a/run-1", 10_000, 1, &no_settle).await.expect("claim").remove(0);
        // The first attempt's call outlives its lease; the same worker claims
        // the account again and makes a second attempt.
        clock.advance(10_001);
        let second = store.claim_due("node-a/run-1", 10_000, 1, &no_settle).await.expect("claim").remove(0);
        assert_eq!(first.lease().owner, second.lease().owner);
        assert!(second.lease_token > first.lease_token, "every claim takes a new token");

        let err = store.complete_push(&app, u, &first.lease(), &pushed(1, "made-by-the-first")).await;
        assert_eq!(err.expect_err("the first claim was replaced").code(), "conflict");
        let a = store.account(&app, u).await.expect("read").expect("exists");
        assert_eq!(a.external_id, None, "the stale outcome changed nothing");
        let stale = stale_events(&store).await;
        assert_eq!(stale.len(), 1, "{stale:?}");
        assert_eq!(stale[0]["externalId"], "made-by-the-first", "what the app did is kept");
        assert_eq!(stale[0]["token"], first.lease_token);

        store.complete_push(&app, u, &second.lease(), &pushed(1, "made-by-the-second")).await.expect("current");
        let a = store.account(&app, u).await.expect("read").expect("exists");
        assert_eq!(a.external_id.as_deref(), Some("made-by-the-second"));
        let failed = store.fail_push(&app, u, &first.lease(), &failure(1, None)).await;
        assert_eq!(failed.expect_err("stale").code(), "conflict");
        assert_eq!(stale_events(&store).await.len(), 2, "a stale failure is recorded too");
    })
    .await;
}

#[tokio::test]
async fn a_claim_whose_lease_ran_out_waits_for_the_settle_time_and_keeps_its_create_intent() {
    each_backend(|store, clock| async move {
        let (app, users) = app_with_users(&store, 1).await;
        let u = &users[0];
        store.set_desired(&app, u, AccountState::Active, &Map::new()).await.expect("set");
        let settle = |_: &Value| 5_000;
        let first = store.claim_due("w1", 10_000, 1, &settle).await.expect("claim").remove(0);
        assert!(first.creates());
        // w1 dies here, its create in flight. Its lease runs out, but the app
        // may still commit the create for the settle time.
        clock.advance(10_001);
        assert!(store.claim_due("w2", 10_000, 1, &settle).await.expect("claim").is_empty(), "settling");
        clock.advance(5_000);
        let next = store.claim_due("w2", 10_000, 1, &settle).await.expect("claim").remove(0);
        assert_eq!(next.intent.as_deref(), Some("create"), "look the account up before creating again");
        assert_eq!(next.operation_id, first.operation_id, "the same idempotency key");
        assert!(next.operation_id.is_some());
    })
    .await;
}

#[tokio::test]
async fn renewing_extends_a_worker_s_live_leases_and_their_settle_times_but_revives_none() {
    each_backend(|store, clock| async move {
        let (app, users) = app_with_users(&store, 2).await;
        for u in &users {
            store.set_desired(&app, u, AccountState::Active, &Map::new()).await.expect("set");
        }
        let settle = |_: &Value| 5_000;
        let held = store.claim_due("w1", 10_000, 1, &settle).await.expect("claim").remove(0);
        clock.advance(8_000);
        let (until, renewed) = store.renew_leases("w1", 10_000).await.expect("renew");
        assert_eq!((until, renewed), (store.now_ms() + 10_000, 1));
        clock.advance(8_000);
        // 16 s after the claim, the renewed lease holds: only the other account is free.
        let other = store.claim_due("w2", 10_000, 10, &settle).await.expect("claim");
        assert_eq!(other.len(), 1);
        assert_ne!(other[0].user_id, held.user_id);
        let a = store.account(&app, &held.user_id).await.expect("read").expect("exists");
        assert_eq!(a.settle_until, Some(until + 5_000), "the settle time moved with the lease");
        // w2's lease runs out; w2 renews too late: it is not revived.
        clock.advance(10_001);
        assert_eq!(store.renew_leases("w2", 10_000).await.expect("renew").1, 0);
        store.complete_push(&app, &held.user_id, &held.lease(), &pushed(1, "e1")).await.expect("w1 still holds it");
    })
    .await;
}

#[tokio::test]
async fn a_failure_parks_only_the_generation_it_tried() {
    each_backend(|store, _| async move {
        let (app, users) = app_with_users(&store, 1).await;
        let u = &users[0];
        store.set_desired(&app, u, AccountState::Active, &Map::new()).await.expect("set");
        let claimed = store.claim_due("w1", 30_000, 1, &no_settle).await.expect("claim").remove(0);
        store.complete_push(&app, u, &claimed.lease(), &pushed(1, "e1")).await.expect("created");
        let titled = json!({"title": "A"}).as_object().cloned().expect("object");
        store.set_desired(&app, u, AccountState::Active, &titled).await.expect("change");
        let update = store.claim_due("w1", 30_000, 1, &no_settle).await.expect("claim").remove(0);
        // The user is deactivated while the update is in flight; then the
        // update fails for good.
        store.set_desired(&app, u, AccountState::Inactive, &Map::new()).await.expect("deactivate");
        store.fail_push(&app, u, &update.lease(), &failure(update.desired_generation, None)).await.expect("fail");
        let due = store.claim_due("w1", 30_000, 1, &no_settle).await.expect("claim");
        assert_eq!(due.len(), 1, "the deactivation is due, not parked behind the failed update");
        assert_eq!(due[0].desired_state, AccountState::Inactive);
        assert_eq!(due[0].attempt, 0, "its attempts are its own");
    })
    .await;
}

#[tokio::test]
async fn a_failed_push_backs_off_and_a_paused_app_gets_no_work() {
    each_backend(|store, clock| async move {
        let (app, users) = app_with_users(&store, 2).await;
        store.set_desired(&app, &users[0], AccountState::Active, &Map::new()).await.expect("set");
        let claimed = store.claim_due("w1", 30_000, 1, &no_settle).await.expect("claim");
        let now = store.now_ms();
        let failed = Failure { settle_until: Some(now + 8_000), ..failure(1, Some(now + 5_000)) };
        store.fail_push(&app, &claimed[0].user_id, &claimed[0].lease(), &failed).await.expect("fail");
        let a = store.account(&app, &users[0]).await.expect("read").expect("exists");
        assert_eq!((a.attempt, a.last_error.as_deref()), (1, Some("HTTP 500")));
        assert!(store.claim_due("w1", 30_000, 1, &no_settle).await.expect("claim").is_empty(), "backing off");
        clock.advance(5_000);
        assert!(
            store.claim_due("w1", 30_000, 1, &no_settle).await.expect("claim").is_empty(),
            "due, but the abandoned call may still land"
        );
        clock.advance(3_000);
        assert_eq!(store.claim_due("w1", 30_000, 1, &no_settle).await.expect("claim").len(), 1, "due again");

        store.set_desired(&app, &users[1], AccountState::Active, &Map::new()).await.expect("set");
        store.pause_app(&app, store.now_ms() + 60_000).await.expect("pause");
        assert!(
            store.claim_due("w2", 30_000, 10, &no_settle).await.expect("claim").is_empty(),
            "paused by Retry-After"
        );
        clock.advance(60_000);
        // Both are due once the pause is over (the first one's lease ran out too).
        assert_eq!(store.claim_due("w2", 30_000, 10, &no_settle).await.expect("claim").len(), 2);
    })
    .await;
}

/// On PostgreSQL claimers on many connections race for the same due rows;
/// row locks skipped, not waited for, keep each account with one of them.
/// (On SQLite a claim holds the one writer from its read to its commit, so
/// two claims cannot overlap at all.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claimers_on_postgres_never_share_an_account() {
    let db = crate::databases::TestDatabase::new(crate::databases::Backend::Postgres, std::path::Path::new("")).await;
    let store = Store::open(&db.url).await.expect("store");
    let (app, users) = app_with_users(&store, 300).await;
    for u in &users {
        store.set_desired(&app, u, AccountState::Active, &Map::new()).await.expect("set");
    }
    let mut all = Vec::new();
    for round in 0..5 {
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(6));
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let (store, start) = (store.clone(), start.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    store.claim_due(&format!("r{round}w{i}"), 60_000, 10, &no_settle).await.expect("claim")
                })
            })
            .collect();
        for h in handles {
            all.extend(h.await.expect("task").into_iter().map(|a| a.user_id));
        }
    }
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), all.len(), "an account was leased twice");
    assert_eq!(all.len(), users.len(), "every due account was claimed");
    store.close().await;
    db.drop().await;
}

/// A claim that waits for the database (SQLite's writer here; a free
/// connection on PostgreSQL) reckons its lease from when it claims, not from
/// when it began to wait: otherwise the lease would be over on arrival and
/// another worker could claim the account while the first one calls the app.
#[tokio::test]
async fn a_claim_that_waited_for_the_database_gets_a_whole_lease() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = std::sync::Arc::new(provisio_directory::FixedClock::new(1_700_000_000_000));
    let url = format!("sqlite://{}", dir.path().join("provisio.db").display());
    let store = Store::open_with_clock(&url, clock.clone()).await.expect("open");
    let (app, users) = app_with_users(&store, 1).await;
    store.set_desired(&app, &users[0], AccountState::Active, &Map::new()).await.expect("set");

    let busy = store.write().await.expect("another writer");
    let claim = {
        let store = store.clone();
        tokio::spawn(async move { store.claim_due("w1", 10_000, 1, &no_settle).await })
    };
    // Let the claim run until it waits for the writer (one thread: it runs
    // now, up to its first wait).
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    clock.advance(20_000);
    busy.rollback().await.expect("release the writer");
    let claimed = claim.await.expect("join").expect("claim").remove(0);
    assert_eq!(claimed.lease_until, Some(clock.now_ms() + 10_000), "the lease starts at the claim");
    assert!(store.claim_due("w2", 10_000, 1, &no_settle).await.expect("claim").is_empty(), "still leased");
}
