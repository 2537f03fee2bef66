//! What an operator watches, through a real `provisio serve`: Prometheus
//! metrics behind a token, and one request id from an API call to the
//! connector calls it caused.

use std::time::Duration;

use crate::databases::{Backend, TestDatabase};
use crate::server::{Provisio, TEST_CONFIG};
use crate::support::{RecordingProxy, Scim2Server};

const BOOTSTRAP: &str = "test-admin-token-0123456789";

/// The value of the first sample whose line starts with `prefix`.
fn sample(metrics: &str, prefix: &str) -> Option<f64> {
    metrics.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_count_the_work_and_a_request_id_joins_an_api_call_to_its_connector_calls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scim = Scim2Server::start().await;
    let proxy = RecordingProxy::start(&scim.origin()).await;
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let p = Provisio::start_with_log(dir.path(), &db.url, TEST_CONFIG, "info").await;
    let app = p.create_scim_app("Observed", &proxy.origin(), &scim.token).await;
    let user = p.create_user("watched@example.com", "Wat", "Ched").await;

    // The assignment carries a request id; the answer echoes it.
    let client = reqwest::Client::new();
    let answer = client
        .put(format!("{}/api/v1/apps/{app}/users/{user}", p.base))
        .header("Authorization", format!("SSWS {BOOTSTRAP}"))
        .header("X-Request-Id", "assign-watched-42")
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(answer.headers().get("x-request-id").and_then(|v| v.to_str().ok()), Some("assign-watched-42"));
    p.wait_idle(Duration::from_secs(30)).await;
    // Without one, the server makes one up.
    let (status, _) = p.get_text(Some(BOOTSTRAP), "/api/v1/users").await;
    assert_eq!(status, 200);

    // The connector's create call is logged inside the push that the
    // request caused, under the request's id.
    let log = std::fs::read_to_string(dir.path().join("provisio.log")).expect("server log");
    let joined: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("request_id=assign-watched-42") && l.contains("connector call succeeded"))
        .collect();
    assert_eq!(joined.len(), 1, "one connector call under the request's id:\n{log}");
    assert!(joined[0].contains("create-user") && joined[0].contains(&app), "{}", joined[0]);

    // Metrics: behind a token with the permission.
    let (status, _) = p.get_text(None, "/metrics").await;
    assert_eq!(status, 401);
    let (_, group_admin) = p.admin_with_token("ga@example.com", "group-admin", &[]).await;
    assert_eq!(p.get_text(Some(&group_admin), "/metrics").await.0, 403);
    let (_, reader) = p.admin_with_token("ro@example.com", "read-only", &[]).await;
    let (status, metrics) = p.get_text(Some(&reader), "/metrics").await;
    assert_eq!(status, 200);
    let app_label = format!("app=\"{app}\"");
    let done = metrics
        .lines()
        .find(|l| l.starts_with("provisio_work_done_total") && l.contains(&app_label))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok());
    assert_eq!(done, Some(1.0), "one account pushed:\n{metrics}");
    let created = metrics.lines().any(|l| {
        l.starts_with("provisio_connector_calls_total")
            && l.contains(&app_label)
            && l.contains("operation=\"create-user\"")
            && l.contains("outcome=\"ok\"")
            && l.ends_with(" 1")
    });
    assert!(created, "the create call is counted:\n{metrics}");
    assert!(metrics.contains("provisio_connector_call_duration_seconds_bucket"), "latency per app and operation");
    assert_eq!(sample(&metrics, "provisio_work_queued "), Some(0.0));
    assert_eq!(sample(&metrics, "provisio_apps_quarantined "), Some(0.0));
    assert!(metrics.contains("provisio_http_requests_total{"), "{metrics}");
    drop(p);
    drop((scim, proxy));
    db.drop().await;
}
