//! A real `provisio serve` process for end-to-end tests: started on a free
//! port over a test database, driven through its API, and killed (SIGKILL)
//! or restarted at will.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

/// Polls `probe` until it finds what it looks for, and answers that; the
/// test fails naming `what` once `patience` has passed. The one way a test
/// waits for an event it cannot be told of.
pub async fn eventually<T, F, Fut>(what: &str, patience: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + patience;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "waited {patience:?} for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub const TOKEN: &str = "test-admin-token-0123456789";

pub struct Provisio {
    child: Option<Child>,
    pub base: String,
    data_dir: PathBuf,
    database_url: String,
    config: PathBuf,
    client: reqwest::Client,
    log: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Fast retries and polling, so faults resolve within a test's patience.
pub const TEST_CONFIG: &str =
    "[executor]\nretry_base_ms = 100\nretry_max_ms = 2000\npoll_ms = 100\nlease_secs = 30\nsettle_secs = 1\n";

impl Provisio {
    pub async fn start(data_dir: &Path, database_url: &str, config: &str) -> Provisio {
        Provisio::start_with_log(data_dir, database_url, config, "warn,provisio_lifecycle=info").await
    }

    /// With the server's log filter (`PROVISIO_LOG`) set to `log`.
    pub async fn start_with_log(data_dir: &Path, database_url: &str, config: &str, log: &str) -> Provisio {
        let config_path = data_dir.join("provisio.toml");
        std::fs::write(&config_path, config).expect("write config");
        let mut p = Provisio {
            child: None,
            base: String::new(),
            data_dir: data_dir.to_path_buf(),
            database_url: database_url.to_string(),
            config: config_path,
            client: reqwest::Client::builder().no_proxy().build().expect("client"),
            log: log.to_string(),
        };
        p.spawn().await;
        p
    }

    async fn spawn(&mut self) {
        let port = free_port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data_dir.join("provisio.log"))
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_provisio-under-test"))
            .args(["--data-dir", &self.data_dir.display().to_string(), "serve"])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--database-url", &self.database_url])
            .args(["--config", &self.config.display().to_string()])
            .env("PROVISIO_BOOTSTRAP_TOKEN", TOKEN)
            .env("PROVISIO_LOG", &self.log)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start provisio");
        self.child = Some(child);
        self.base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(r) = self.client.get(format!("{}/readyz", self.base)).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("provisio exited with {status}; see {}", self.data_dir.join("provisio.log").display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("provisio did not become ready; see {}", self.data_dir.join("provisio.log").display());
    }

    /// SIGKILL: no shutdown, no flush; whatever was in flight is lost.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits up to `patience` for the process to exit; its
    /// exit status, or `None` if it is still running (it is then killed).
    pub fn terminate(&mut self, patience: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let sent = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        assert!(sent.is_ok_and(|s| s.success()), "could not send SIGTERM");
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// The server's process id (the benchmark reads its CPU and memory).
    #[allow(dead_code)]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Json>) -> (u16, Json) {
        self.call_as(Some(TOKEN), method, path, body).await
    }

    /// A call with another token, or none.
    pub async fn call_as(&self, token: Option<&str>, method: &str, path: &str, body: Option<Json>) -> (u16, Json) {
        self.call_absolute(token, method, &format!("/api/v1{path}"), body).await
    }

    /// A call to a path from the server's root (`/metrics`, `/api/v1/…`).
    pub async fn call_absolute(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Json>,
    ) -> (u16, Json) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.header("Authorization", format!("SSWS {token}"));
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let r = req.send().await.expect("provisio answers");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Json::Null))
    }

    /// A call with a JSON body given as text (one serde would not write,
    /// such as a key twice).
    pub async fn call_raw(&self, method: &str, path: &str, body: &str) -> (u16, Json) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let r = self
            .client
            .request(method, format!("{}/api/v1{path}", self.base))
            .header("Authorization", format!("SSWS {TOKEN}"))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("provisio answers");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Json::Null))
    }

    /// A call that must succeed (2xx); returns the body.
    pub async fn ok(&self, method: &str, path: &str, body: Option<Json>) -> Json {
        let (status, answer) = self.call(method, path, body).await;
        assert!((200..300).contains(&status), "{method} {path}: {status} {answer}");
        answer
    }

    /// A raw GET (for documents that are not JSON, and for public ones).
    pub async fn get_text(&self, token: Option<&str>, path: &str) -> (u16, String) {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.header("Authorization", format!("SSWS {token}"));
        }
        let r = req.send().await.expect("provisio answers");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    }

    /// An admin with `role` (and groups) and a fresh token of theirs.
    pub async fn admin_with_token(&self, login: &str, role: &str, groups: &[&str]) -> (String, String) {
        let admin = self.ok("POST", "/admins", Some(json!({ "login": login, "role": role, "groups": groups }))).await;
        let id = admin["id"].as_str().expect("admin id").to_string();
        let token = self.ok("POST", &format!("/admins/{id}/tokens"), Some(json!({ "name": "test" }))).await;
        (id, token["token"].as_str().expect("token value").to_string())
    }

    pub async fn create_user(&self, login: &str, first: &str, last: &str) -> String {
        let body = json!({ "profile": {
            "login": login, "email": login, "firstName": first, "lastName": last, "title": "Engineer"
        }});
        let user = self.ok("POST", "/users", Some(body)).await;
        user["id"].as_str().expect("user id").to_string()
    }

    /// A SCIM app for `origin` (the proxy), with the usual mappings.
    pub async fn create_scim_app(&self, name: &str, origin: &str, token: &str) -> String {
        let body = json!({
            "name": name,
            "connector": "scim@0.1.0",
            "settings": { "base_url": format!("{origin}/v2") },
            "credentials": { "api": { "scheme": "bearer", "token": token } },
            "grants": [origin],
            "mappings": {
                "login": "user.login",
                "attributes": {
                    "name": "{'givenName': user.firstName, 'familyName': user.lastName}",
                    "displayName": "user.firstName + ' ' + user.lastName",
                    "emails": "[{'value': user.email, 'type': 'work', 'primary': true}]",
                    "title": "user.title"
                }
            }
        });
        let app = self.ok("POST", "/apps", Some(body)).await;
        app["id"].as_str().expect("app id").to_string()
    }

    pub async fn pending(&self) -> i64 {
        self.ok("GET", "/work", None).await["pending"].as_i64().expect("pending")
    }

    /// Waits until every app account is pushed.
    pub async fn wait_idle(&self, patience: Duration) {
        let deadline = Instant::now() + patience;
        loop {
            let pending = self.pending().await;
            if pending == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{pending} accounts still pending after {patience:?}; see {}",
                self.data_dir.join("provisio.log").display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the account at `path` (`/apps/{app}/accounts/{user}`)
    /// reaches `sync_state`, and answers it.
    pub async fn account_reaching(&self, path: &str, sync_state: &str) -> Json {
        eventually(&format!("{path} to reach {sync_state}"), Duration::from_secs(30), || async {
            let account = self.ok("GET", path, None).await;
            (account["syncState"] == sync_state).then_some(account)
        })
        .await
    }

    /// How often the executor has looked for work (its claims, found or not).
    pub async fn claims(&self) -> u64 {
        let (status, text) = self.get_text(Some(TOKEN), "/metrics").await;
        assert_eq!(status, 200, "{text}");
        text.lines()
            .find_map(|l| l.strip_prefix("provisio_executor_claims_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map_or(0, |v| v as u64)
    }

    /// Waits until the executor has looked for work `n` more times: what it
    /// would have sent by then, it has sent.
    pub async fn wait_for_claims(&self, n: u64) {
        let start = self.claims().await;
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.claims().await < start + n {
            assert!(Instant::now() < deadline, "the executor stopped looking for work");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every account of an app (all pages).
    pub async fn accounts(&self, app_id: &str) -> Vec<Json> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let path = match &after {
                Some(a) => format!("/apps/{app_id}/accounts?limit=1000&after={a}"),
                None => format!("/apps/{app_id}/accounts?limit=1000"),
            };
            let page = self.ok("GET", &path, None).await;
            let rows = page.as_array().cloned().unwrap_or_default();
            if rows.is_empty() {
                return all;
            }
            after = rows.last().and_then(|r| r["userId"].as_str()).map(str::to_string);
            all.extend(rows);
        }
    }
}

impl Drop for Provisio {
    fn drop(&mut self) {
        self.kill();
    }
}
