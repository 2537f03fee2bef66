//! Hostile components: every limit holds, the error says what happened and
//! who is to blame, and a well-behaved call is served right after.

use std::time::Duration;

use provisio_runtime::bounds::{MAX_MESSAGE_BYTES, MAX_RETRY_AFTER_MS};
use provisio_runtime::model::{Account, ConnectorError, NewAccount};
use provisio_runtime::{App, Blame, CallError, CallReport, Invocation, LimitKind, Limits};
use provisio_sdk_harness::{Harness, RecordingServer, Reply};

use crate::support::{call, hostile};

fn test_limits() -> Limits {
    Limits {
        memory_bytes: 32 << 20,
        max_response_bytes: 1 << 20,
        max_requests: 20,
        operation_timeout_ms: 10_000,
        ..Limits::default()
    }
}

async fn server() -> RecordingServer {
    RecordingServer::start(|req| match req.path.as_str() {
        "/redirect" => Reply::status(302).header("location", "http://evil.example.net/steal"),
        "/redirect-relative" => Reply::status(302).header("location", "/landing?next=http://evil.example.net/x"),
        p if p.starts_with("/landing") => Reply { status: 200, headers: Vec::new(), body: b"landed".to_vec() },
        "/echo-auth" => Reply {
            status: 200,
            headers: Vec::new(),
            body: req.header("authorization").unwrap_or_default().as_bytes().to_vec(),
        },
        "/big" => Reply { status: 200, headers: Vec::new(), body: vec![b'x'; 2 << 20] },
        "/slow" => {
            std::thread::sleep(Duration::from_secs(3));
            Reply::status(200)
        }
        _ => Reply::status(200),
    })
    .await
}

async fn app_with(harness: &Harness, server: &RecordingServer, limits: Limits) -> App {
    harness
        .app(
            harness
                .config_for(server)
                .setting("target", server.url())
                .bearer("api", "t0ken-value")
                .grant("http://*:80")
                .limits(limits),
        )
        .expect("app")
}

async fn attack(app: &App, name: &str) -> (CallError, CallReport) {
    let inv = run_attack(app, name).await;
    let err = inv.result.expect_err("the attack must fail");
    (err, inv.report)
}

async fn run_attack(app: &App, name: &str) -> Invocation<Account> {
    let user = NewAccount { login: name.into(), active: true, profile: Default::default() };
    app.create_user(&call(name), &user).await
}

/// An attack that would keep the host busy forever without its fix, run
/// apart so that the test itself can give up on it.
async fn attack_with_patience(app: &App, name: &'static str) -> (CallError, CallReport) {
    let app = app.clone();
    let task = tokio::spawn(async move { attack(&app, name).await });
    tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .unwrap_or_else(|_| panic!("{name}: the guest was still running a minute later"))
        .expect("the attack's task")
}

/// The same component, a fresh store: still served.
async fn still_served(app: &App) {
    app.check(&call("after")).await.into_result().expect("a well-behaved call right after");
}

fn assert_limit(err: &CallError, expected: LimitKind, blame: Blame) {
    match err {
        CallError::Limit { limit, blame: b, .. } => {
            assert_eq!(*limit, expected, "{err}");
            assert_eq!(*b, blame, "{err}");
        }
        other => panic!("expected the {expected} limit, got {other:?}"),
    }
}

#[tokio::test]
async fn an_endless_loop_is_stopped_by_the_cpu_limit_and_blamed_on_the_guest() {
    let (h, s) = (hostile().await, server().await);
    let app = app_with(&h, &s, Limits { fuel: 500_000_000, ..test_limits() }).await;
    let (err, report) = attack(&app, "endless-loop").await;
    assert_limit(&err, LimitKind::Cpu, Blame::Guest);
    assert!(err.to_string().contains("CPU"), "{err}");
    assert!(report.fuel_consumed >= 500_000_000);
    still_served(&app).await;
}

#[tokio::test]
async fn a_memory_bomb_is_stopped_at_the_memory_limit() {
    let (h, s) = (hostile().await, server().await);
    let app = app_with(&h, &s, test_limits()).await;
    let (err, _) = attack(&app, "memory-bomb").await;
    assert_limit(&err, LimitKind::Memory, Blame::Guest);
    assert!(err.to_string().contains("memory"), "{err}");
    still_served(&app).await;
}

#[tokio::test]
async fn a_panic_reaches_the_host_with_the_guests_message() {
    let (h, s) = (hostile().await, server().await);
    let app = app_with(&h, &s, test_limits()).await;
    let (err, report) = attack(&app, "panic").await;
    assert!(matches!(err, CallError::Trap { .. }), "{err:?}");
    assert_eq!(err.blame(), Blame::Guest);
    assert!(err.to_string().contains("connector bug: the answer was not 42"), "{err}");
    assert!(err.to_string().contains("hostile@0.1.0"), "names the connector: {err}");
    assert!(report.guest_output.contains("panicked"));
    still_served(&app).await;
}

#[tokio::test]
async fn a_stack_overflow_traps_without_harming_the_host() {
    let (h, s) = (hostile().await, server().await);
    let app = app_with(&h, &s, test_limits()).await;
    let (err, _) = attack(&app, "stack-overflow").await;
    assert_limit(&err, LimitKind::Stack, Blame::Guest);
    still_served(&app).await;
}

fn assert_refused(err: &CallError, report: &CallReport, says: &str) {
    assert_eq!(err.blame(), Blame::Guest, "{err}");
    assert!(err.to_string().contains(says), "error should say {says:?}: {err}");
    assert!(report.refusals.iter().any(|r| r.contains(says)), "{:?}", report.refusals);
}

#[tokio::test]
async fn a_host_the_manifest_does_not_declare_is_denied_by_the_manifest_rule() {
    let (h, s) = (hostile().await, server().await);
    let app = app_with(&h, &s, test_limits()).await;
    let (err, report) = attack(&app, "undeclared-host").await;
    assert_refused(&err, &report, "not among the hosts the connector's manifest declares");
    still_served(&app).await;
}

#[tokio::test]
async fn a_declared_host_the_operator_did_not_grant_is_denied_by_the_grant_rule() {
    let (h, s) = (hostile().await, server().await);
    // Only the test server is granted here, not the wildcard.
    let app = h
        .app(h.config_for(&s).setting("target", s.url()).bearer("api", "t0ken-value").limits(test_limits()))
        .expect("app");
    let (err, report) = attack(&app, "ungranted-host").await;
    assert_refused(&err, &report, "not granted by the operator");
    still_served(&app).await;
}

#[tokio::test]
async fn the_metadata_address_is_denied_even_under_a_wildcard_grant() {
    let (h, s) = (hostile().await, server().await);
    let app = app_with(&h, &s, test_limits()).await;
    let (err, report) = attack(&app, "metadata").await;
    assert_refused(&err, &report, "cloud metadata address");
    still_served(&app).await;
}

#[tokio::test]
async fn a_redirect_to_a_host_not_granted_is_denied_at_the_second_hop() {
    let (h, s) = (hostile().await, server().await);
    let app = h
        .app(h.config_for(&s).setting("target", s.url()).bearer("api", "t0ken-value").limits(test_limits()))
        .expect("app");
    let (err, report) = attack(&app, "redirect").await;
    assert_refused(&err, &report, "evil.example.net");
    assert_eq!(s.requests().iter().filter(|r| r.path == "/redirect").count(), 1);
    still_served(&app).await;
}

#[tokio::test]
async fn an_oversized_response_is_cut_off_at_the_size_limit() {
    let (h, s) = (hostile().await, server().await);
    let app = app_with(&h, &s, test_limits()).await;
    let (err, _) = attack(&app, "big-response").await;
    assert!(err.to_string().contains("max_response_bytes"), "{err}");
    still_served(&app).await;
}

#[tokio::test]
async fn an_oversized_request_body_never_leaves_the_host() {
    let (h, s) = (hostile().await, server().await);
    let app = app_with(&h, &s, Limits { max_request_bytes: 1 << 20, ..test_limits() }).await;
    let (err, _) = attack(&app, "big-request").await;
    assert!(err.to_string().contains("max_request_bytes"), "{err}");
    assert_eq!(err.blame(), Blame::Guest, "the guest sent too much, not the app: {err:?}");
    assert!(s.requests().is_empty(), "nothing was sent");
    still_served(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_app_hits_the_wall_time_limit_and_is_blamed_on_the_app() {
    let (h, s) = (hostile().await, server().await);
    let app = app_with(&h, &s, Limits { operation_timeout_ms: 500, ..test_limits() }).await;
    let (err, report) = attack(&app, "slow-app").await;
    assert_limit(&err, LimitKind::WallTime, Blame::RemoteApp);
    assert!(report.duration < Duration::from_secs(3), "stopped at the deadline, not when the app answered");
    still_served(&app).await;
}

#[tokio::test]
async fn a_log_flood_is_capped_at_the_log_budget() {
    let (h, s) = (hostile().await, server().await);
    let limits = Limits { max_log_bytes: 16 << 10, ..test_limits() };
    let app = app_with(&h, &s, limits).await;
    let inv = app
        .create_user(
            &call("flood"),
            &NewAccount { login: "log-flood".into(), active: true, profile: Default::default() },
        )
        .await;
    inv.result.expect("logging too much does not fail the operation");
    let kept: usize = inv.report.logs.iter().map(|l| l.message.len()).sum();
    assert!(kept <= 16 << 10, "kept {kept} bytes");
    assert!(inv.report.logs_dropped > 100_000, "dropped {}", inv.report.logs_dropped);
    still_served(&app).await;
}

#[tokio::test]
async fn a_request_flood_is_stopped_at_the_request_limit() {
    let (h, s) = (hostile().await, server().await);
    let app = app_with(&h, &s, test_limits()).await;
    let (err, report) = attack(&app, "request-flood").await;
    assert_refused(&err, &report, "more than 20 HTTP requests");
    assert_eq!(s.requests().len(), 20, "no request beyond the limit left the host");
    still_served(&app).await;
}

#[tokio::test]
async fn a_secret_handle_put_into_a_request_reveals_nothing() {
    let (h, s) = (hostile().await, server().await);
    let app = app_with(&h, &s, test_limits()).await;
    let (err, report) = attack(&app, "secret-in-request").await;
    assert_refused(&err, &report, "can only be used as `auth`");
    for r in s.requests() {
        let all = format!("{} {:?} {}", r.path, r.headers, String::from_utf8_lossy(&r.body));
        assert!(!all.contains("t0ken-value"), "the secret left the host: {all}");
    }
    assert!(!format!("{report:?}").contains("t0ken-value"));
    still_served(&app).await;
}

#[tokio::test]
async fn a_credential_is_never_sent_outside_its_origins() {
    let (h, s) = (hostile().await, server().await);
    let app = app_with(&h, &s, test_limits()).await;
    let (err, report) = attack(&app, "credential-elsewhere").await;
    assert_refused(&err, &report, "credential \"api\" may only be sent to");
    still_served(&app).await;
}

#[tokio::test]
async fn a_forged_secret_handle_is_refused() {
    let (h, s) = (hostile().await, server().await);
    let app = app_with(&h, &s, test_limits()).await;
    let (err, _) = attack(&app, "forged-handle").await;
    assert_eq!(err.blame(), Blame::Guest, "{err:?}");
    assert!(s.requests().iter().all(|r| r.header("authorization").is_none()));
    still_served(&app).await;
}

#[tokio::test]
async fn one_apps_trap_does_not_disturb_another_apps_calls_in_flight() {
    let (h, s) = (hostile().await, server().await);
    let bad = app_with(&h, &s, test_limits()).await;
    let good = app_with(&h, &s, test_limits()).await;
    let (trapped, served) = tokio::join!(attack(&bad, "panic"), async {
        let mut ok = 0;
        for i in 0..20 {
            good.check(&call(&format!("good-{i}"))).await.into_result().expect("served");
            ok += 1;
        }
        ok
    });
    assert!(matches!(trapped.0, CallError::Trap { .. }));
    assert_eq!(served, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_answer_slower_than_the_http_timeout_is_a_transient_error_of_the_app() {
    let (h, s) = (hostile().await, server().await);
    let app = app_with(&h, &s, Limits { http_timeout_ms: 300, ..test_limits() }).await;
    let (err, report) = attack(&app, "slow-app").await;
    assert!(
        matches!(err.connector_error(), Some(provisio_runtime::model::ConnectorError::Transient { .. })),
        "{err:?}"
    );
    assert_eq!(err.blame(), Blame::RemoteApp);
    assert!(report.duration < Duration::from_secs(3));
    still_served(&app).await;
}

#[tokio::test]
async fn a_host_header_from_the_guest_is_refused() {
    let (h, s) = (hostile().await, server().await);
    let app = app_with(&h, &s, test_limits()).await;
    let (err, report) = attack(&app, "host-header").await;
    assert_refused(&err, &report, "header is set by the host");
    assert!(s.requests().is_empty());
    still_served(&app).await;
}

#[tokio::test]
async fn a_secret_the_app_echoes_is_redacted_before_the_guest_sees_it() {
    let (h, s) = (hostile().await, server().await);
    let app = app_with(&h, &s, test_limits()).await;
    let (err, report) = attack(&app, "echo-secret").await;
    assert_eq!(s.requests()[0].header("authorization"), Some("Bearer t0ken-value"), "the app got the token");
    let everything = format!("{err} {err:?} {report:?}");
    assert!(!everything.contains("t0ken-value"), "the token leaked: {everything}");
    assert!(err.to_string().contains("Bearer [redacted]"), "{err}");
    assert!(report.logs.iter().any(|l| l.message.contains("[redacted]")));
    still_served(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_keeps_the_host_busy_in_its_calls_is_stopped_at_its_wall_time() {
    let (h, s) = (hostile().await, server().await);
    let limits = Limits { operation_timeout_ms: 1_000, memory_bytes: 160 << 20, ..test_limits() };
    let app = app_with(&h, &s, limits).await;
    for name in ["busy-host", "busy-host-http"] {
        let (err, report) = attack_with_patience(&app, name).await;
        assert_limit(&err, LimitKind::WallTime, Blame::Guest);
        assert!(
            report.duration < Duration::from_secs(5),
            "{name}: stopped near its deadline, not {:?}",
            report.duration
        );
    }
    still_served(&app).await;
}

#[tokio::test]
async fn a_huge_error_message_is_cut_with_a_marker_saying_how_much() {
    let (h, s) = (hostile().await, server().await);
    let app = app_with(&h, &s, Limits { memory_bytes: 160 << 20, ..test_limits() }).await;
    let (err, _) = attack(&app, "huge-error").await;
    let text = err.to_string();
    assert!(text.len() < 2 * MAX_MESSAGE_BYTES, "kept {} bytes", text.len());
    assert!(text.contains("more bytes cut]"), "{}", &text[text.len() - 60..]);
    assert!(!text.contains("END"), "the end was cut");
}

#[tokio::test]
async fn a_nul_in_a_message_never_leaves_the_runtime_raw() {
    let (h, s) = (hostile().await, server().await);
    let app = app_with(&h, &s, test_limits()).await;
    let (err, _) = attack(&app, "nul-error").await;
    assert!(!err.to_string().contains('\0'), "{err:?}");
    assert!(err.to_string().contains("bad\u{FFFD}thing"), "{err}");
}

#[tokio::test]
async fn an_id_with_a_nul_or_over_its_limit_is_refused_not_cut() {
    let (h, s) = (hostile().await, server().await);
    let app = app_with(&h, &s, test_limits()).await;
    for (name, says) in [("nul-id", "NUL"), ("huge-id", "2000 bytes")] {
        let (err, _) = attack(&app, name).await;
        assert!(matches!(err, CallError::InvalidOutput { .. }), "{name}: {err:?}");
        assert_eq!(err.blame(), Blame::Guest);
        assert!(err.to_string().contains(says), "{name}: {err}");
    }
}

#[tokio::test]
async fn a_retry_after_near_the_largest_number_is_clamped_to_the_ceiling() {
    let (h, s) = (hostile().await, server().await);
    let app = app_with(&h, &s, test_limits()).await;
    let (err, _) = attack(&app, "retry-after-max").await;
    match err.connector_error() {
        Some(ConnectorError::RateLimited { retry_after_ms, .. }) => {
            assert_eq!(*retry_after_ms, Some(MAX_RETRY_AFTER_MS))
        }
        other => panic!("expected rate-limited, got {other:?}"),
    }
}

#[tokio::test]
async fn an_error_the_guest_makes_up_without_asking_the_app_is_blamed_on_the_guest() {
    let (h, s) = (hostile().await, server().await);
    let app = app_with(&h, &s, test_limits()).await;
    let (err, report) = attack(&app, "error-without-request").await;
    assert_eq!(report.requests, 0);
    assert_eq!(err.blame(), Blame::Guest, "{err:?}");
}

#[tokio::test]
async fn headers_and_the_url_count_against_max_request_bytes() {
    let (h, s) = (hostile().await, server().await);
    let app = app_with(&h, &s, Limits { max_request_bytes: 1 << 20, ..test_limits() }).await;
    for name in ["big-header", "many-headers"] {
        let (err, _) = attack(&app, name).await;
        assert!(err.to_string().contains("max_request_bytes"), "{name}: {err}");
        assert_eq!(err.blame(), Blame::Guest, "{name}: {err:?}");
    }
    assert!(s.requests().is_empty(), "nothing was sent");
    still_served(&app).await;
}

#[tokio::test]
async fn a_url_the_http_stack_cannot_carry_is_a_permanent_error_of_the_guest() {
    let (h, s) = (hostile().await, server().await);
    let app = app_with(&h, &s, Limits { max_request_bytes: 1 << 20, ..test_limits() }).await;
    let (err, _) = attack(&app, "long-url").await;
    assert_eq!(err.blame(), Blame::Guest, "{err:?}");
    assert!(matches!(err.connector_error(), Some(ConnectorError::Permanent { .. })), "not retried: {err:?}");
    assert!(s.requests().is_empty());
}

#[tokio::test]
async fn localhost_with_the_root_s_trailing_dot_is_the_same_granted_host() {
    let (h, s) = (hostile().await, server().await);
    let origin = s.url().replace("127.0.0.1", "localhost");
    let app = h
        .app(
            h.config_for(&s)
                .setting("target", origin.as_str())
                .bearer("api", "t0ken-value")
                .grant(origin.trim_end_matches('/'))
                .limits(test_limits()),
        )
        .expect("app");
    let inv = run_attack(&app, "localhost-dot").await;
    assert_eq!(inv.result.expect("reached the granted host").id, "reached");
    assert!(s.requests().iter().any(|r| r.path == "/ok"));
}

#[tokio::test]
async fn deep_recursion_with_large_frames_is_reported_as_the_stack_limit() {
    let (h, s) = (hostile().await, server().await);
    let app = app_with(&h, &s, test_limits()).await;
    let (err, _) = attack(&app, "stack-large-frames").await;
    assert_limit(&err, LimitKind::Stack, Blame::Guest);
    assert!(err.to_string().contains("ran out of stack"), "{err}");
    still_served(&app).await;
}

#[tokio::test]
async fn the_memory_limit_message_carries_no_backtrace_hint() {
    let (h, s) = (hostile().await, server().await);
    let app = app_with(&h, &s, test_limits()).await;
    let (err, _) = attack(&app, "memory-bomb").await;
    assert!(!err.to_string().contains("RUST_BACKTRACE"), "{err}");
}

#[tokio::test]
async fn a_relative_redirect_with_a_url_in_its_query_is_followed_on_the_same_origin() {
    let (h, s) = (hostile().await, server().await);
    let app = h
        .app(h.config_for(&s).setting("target", s.url()).bearer("api", "t0ken-value").limits(test_limits()))
        .expect("app");
    let inv = run_attack(&app, "relative-redirect").await;
    assert_eq!(inv.result.expect("followed").id, "landed");
    assert!(s.requests().iter().any(|r| r.path.starts_with("/landing?next=")));
}
