//! A SCIM-speaking app that hides nothing scim2-server hides: it accepts a
//! second account for a userName (as many real apps do; scim2-server's 409
//! would hide every duplicate), and it carries a request out even after the
//! client has gone away (that is what "in flight" means). Every request is
//! recorded with when it arrived and when the app finished with it, so a
//! test can tell whether two requests for one account were ever in flight at
//! once. A fake only in that it keeps accounts in memory; the SCIM connector
//! talks to it as it would to any app.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as Json, json};
use tokio::sync::Notify;

/// What the app does with one request.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// How long the app works on it before it commits and answers.
    pub delay: Duration,
    /// Answer this status instead, without committing anything.
    pub status: Option<u16>,
}

/// One request, as the app saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub body: Json,
    /// The account the request is about: the POSTed userName, the userName
    /// of a `userName eq` filter, or the userName of the account addressed
    /// by id.
    pub user_name: Option<String>,
    pub idempotency_key: Option<String>,
    pub arrived: Instant,
    /// When the app was done with it (committed and answered, whether or
    /// not anyone was still listening).
    pub finished: Option<Instant>,
    /// When the client stopped waiting for the answer: it got it, or it
    /// gave up and closed the connection.
    pub let_go: Option<Instant>,
    pub status: u16,
}

type Rule = Box<dyn FnMut(&Request) -> Behaviour + Send>;

#[derive(Default)]
struct State {
    users: BTreeMap<String, Json>,
    next_id: u64,
    requests: Vec<Request>,
    /// Idempotency keys already carried out, with their answers.
    idempotent: BTreeMap<String, (u16, Json)>,
}

pub struct LaxApp {
    pub addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
    rule: Arc<Mutex<Rule>>,
    changed: Arc<Notify>,
    /// Whether the app honours `Idempotency-Key`.
    honours_keys: Arc<std::sync::atomic::AtomicBool>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The userName of a `userName eq "…"` filter in a query string.
fn filtered_name(query: &str) -> Option<String> {
    let (_, filter) = url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "filter")?;
    let rest = filter.strip_prefix("userName eq ")?;
    serde_json::from_str::<String>(rest.trim()).ok()
}

fn list(resources: Vec<Json>) -> Json {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// Applies a SCIM PATCH (RFC 7644 §3.5.2) on top-level attributes, which is
/// all the SCIM connector sends for users.
fn patch(resource: &mut Map<String, Json>, body: &Json) {
    for op in body["Operations"].as_array().cloned().unwrap_or_default() {
        let kind = op["op"].as_str().unwrap_or_default().to_ascii_lowercase();
        match (kind.as_str(), op["path"].as_str()) {
            ("remove", Some(path)) => {
                resource.remove(path);
            }
            (_, Some(path)) => {
                resource.insert(path.to_string(), op["value"].clone());
            }
            (_, None) => {
                if let Some(values) = op["value"].as_object() {
                    for (k, v) in values {
                        resource.insert(k.clone(), v.clone());
                    }
                }
            }
        }
    }
}

struct Listening {
    state: Arc<Mutex<State>>,
    index: usize,
}

impl Drop for Listening {
    fn drop(&mut self) {
        lock(&self.state).requests[self.index].let_go.get_or_insert_with(Instant::now);
    }
}

impl State {
    /// Carries a request out; returns the status and body to answer.
    fn apply(&mut self, method: &Method, path: &str, query: &str, body: &Json) -> (u16, Json) {
        let id = path.strip_prefix("/v2/Users/").map(str::to_string);
        match (method.as_str(), id) {
            ("GET", None) if path == "/v2/ServiceProviderConfig" => (200, json!({ "patch": { "supported": true } })),
            ("GET", None) => {
                let name = filtered_name(query);
                let found = self
                    .users
                    .values()
                    .filter(|u| name.as_ref().is_none_or(|n| u["userName"].as_str() == Some(n.as_str())))
                    .cloned()
                    .collect();
                (200, list(found))
            }
            ("POST", None) => {
                self.next_id += 1;
                let id = format!("lax-{:04}", self.next_id);
                let mut resource = body.as_object().cloned().unwrap_or_default();
                resource.insert("id".into(), json!(id));
                resource.insert("meta".into(), json!({ "resourceType": "User" }));
                self.users.insert(id, Json::Object(resource.clone()));
                (201, Json::Object(resource))
            }
            ("GET", Some(id)) => match self.users.get(&id) {
                Some(u) => (200, u.clone()),
                None => (404, json!({ "status": "404" })),
            },
            ("PATCH", Some(id)) => match self.users.get_mut(&id).and_then(Json::as_object_mut) {
                Some(u) => {
                    patch(u, body);
                    (200, Json::Object(u.clone()))
                }
                None => (404, json!({ "status": "404" })),
            },
            ("PUT", Some(id)) => match self.users.get_mut(&id) {
                Some(u) => {
                    let mut replaced = body.as_object().cloned().unwrap_or_default();
                    replaced.insert("id".into(), json!(id));
                    *u = Json::Object(replaced);
                    (200, u.clone())
                }
                None => (404, json!({ "status": "404" })),
            },
            ("DELETE", Some(id)) => match self.users.remove(&id) {
                Some(_) => (204, Json::Null),
                None => (404, json!({ "status": "404" })),
            },
            _ => (405, json!({ "status": "405" })),
        }
    }

    fn user_name_of(&self, method: &Method, path: &str, query: &str, body: &Json) -> Option<String> {
        if method == Method::POST {
            return body["userName"].as_str().map(str::to_string);
        }
        match path.strip_prefix("/v2/Users/") {
            Some(id) => self.users.get(id).and_then(|u| u["userName"].as_str()).map(str::to_string),
            None => filtered_name(query),
        }
    }
}

impl LaxApp {
    pub async fn start() -> LaxApp {
        let state: Arc<Mutex<State>> = Default::default();
        let rule: Arc<Mutex<Rule>> = Arc::new(Mutex::new(Box::new(|_: &Request| Behaviour::default())));
        let changed = Arc::new(Notify::new());
        let honours_keys = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s, r, c, h) = (state.clone(), rule.clone(), changed.clone(), honours_keys.clone());
        let handler = move |method: Method, uri: Uri, headers: axum::http::HeaderMap, body: Bytes| {
            let (state, rule, changed, honours) = (s.clone(), r.clone(), c.clone(), h.clone());
            async move {
                let path = uri.path().to_string();
                let query = uri.query().unwrap_or_default().to_string();
                let body: Json = serde_json::from_slice(&body).unwrap_or(Json::Null);
                let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string);
                let (index, behaviour) = {
                    let mut st = lock(&state);
                    let request = Request {
                        method: method.to_string(),
                        path: if query.is_empty() { path.clone() } else { format!("{path}?{query}") },
                        body: body.clone(),
                        user_name: st.user_name_of(&method, &path, &query, &body),
                        idempotency_key: key.clone(),
                        arrived: Instant::now(),
                        finished: None,
                        let_go: None,
                        status: 0,
                    };
                    let behaviour = lock(&rule)(&request);
                    st.requests.push(request);
                    (st.requests.len() - 1, behaviour)
                };
                changed.notify_waiters();
                // Marks when the client stops waiting: the handler is
                // dropped when the answer is sent, or when the client closes
                // the connection first.
                let _listening = Listening { state: state.clone(), index };
                // The work goes on in its own task: a client that gives up
                // (the connection dropped) does not stop the app.
                let work = tokio::spawn(async move {
                    tokio::time::sleep(behaviour.delay).await;
                    let mut st = lock(&state);
                    let remembered = key
                        .as_ref()
                        .filter(|_| honours.load(std::sync::atomic::Ordering::SeqCst))
                        .and_then(|k| st.idempotent.get(k).cloned());
                    let (status, answer) = match (behaviour.status, remembered) {
                        (Some(status), _) => (status, json!({ "status": status.to_string(), "detail": "injected" })),
                        (None, Some(done)) => done,
                        (None, None) => {
                            let done = st.apply(&method, &path, &query, &body);
                            if let Some(k) = key.filter(|_| honours.load(std::sync::atomic::Ordering::SeqCst)) {
                                st.idempotent.insert(k, done.clone());
                            }
                            done
                        }
                    };
                    st.requests[index].finished = Some(Instant::now());
                    st.requests[index].status = status;
                    drop(st);
                    changed.notify_waiters();
                    (status, answer)
                });
                let (status, answer) = work.await.unwrap_or((500, Json::Null));
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                if answer.is_null() {
                    return status.into_response();
                }
                let mut response: Response = (status, axum::Json(answer)).into_response();
                response.headers_mut().insert("content-type", "application/scim+json".parse().expect("header"));
                response
            }
        };
        let app = axum::Router::new().fallback(handler);
        let (addr, tx) = crate::support::serve(app).await;
        LaxApp { addr, state, rule, changed, honours_keys, _shutdown: tx }
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces what the app does with each request (default: at once).
    pub fn set_rule(&self, rule: impl FnMut(&Request) -> Behaviour + Send + 'static) {
        *lock(&self.rule) = Box::new(rule);
    }

    /// Makes the app carry out a request with a known `Idempotency-Key` once.
    pub fn honour_idempotency_keys(&self) {
        self.honours_keys.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<Request> {
        lock(&self.state).requests.clone()
    }

    /// Every account the app holds.
    pub fn users(&self) -> Vec<Json> {
        lock(&self.state).users.values().cloned().collect()
    }

    /// The accounts the app holds under each userName.
    pub fn by_name(&self) -> BTreeMap<String, Vec<Json>> {
        let mut all: BTreeMap<String, Vec<Json>> = BTreeMap::new();
        for u in self.users() {
            all.entry(u["userName"].as_str().unwrap_or_default().to_string()).or_default().push(u);
        }
        all
    }

    /// Waits until the recorded requests satisfy `condition` (each request
    /// arriving or finishing wakes it), for at most `patience`.
    pub async fn wait_for(&self, what: &str, patience: Duration, condition: impl Fn(&[Request]) -> bool) {
        let deadline = Instant::now() + patience;
        loop {
            let notified = self.changed.notified();
            if condition(&lock(&self.state).requests) {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "timed out waiting for {what}");
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), notified).await;
        }
    }

    /// Fails if the client waited longer than `limit` for any request.
    pub fn assert_no_client_waited_longer_than(&self, limit: Duration) {
        for r in self.requests() {
            let waited = r.let_go.map(|t| t - r.arrived);
            assert!(
                waited.is_some_and(|w| w <= limit),
                "the client waited {waited:?} for {} {} (at most {limit:?} allowed)",
                r.method,
                r.path
            );
        }
    }

    /// Fails if a client gave up on a request before the app answered it.
    pub fn assert_every_answer_was_waited_for(&self) {
        for r in self.requests() {
            let (finished, let_go) = (r.finished, r.let_go);
            assert!(
                finished.zip(let_go).is_some_and(|(f, l)| l >= f),
                "the client gave up on {} {} {:?} after it arrived, before the answer",
                r.method,
                r.path,
                let_go.map(|l| l - r.arrived)
            );
        }
    }

    /// Fails if two requests about one account were ever in flight at once
    /// (from arrival to the app being done with it).
    pub fn assert_one_request_at_a_time(&self) {
        let mut by_name: BTreeMap<String, Vec<Request>> = BTreeMap::new();
        for r in self.requests() {
            if let Some(name) = r.user_name.clone() {
                by_name.entry(name).or_default().push(r);
            }
        }
        for (name, mut requests) in by_name {
            requests.sort_by_key(|r| r.arrived);
            for pair in requests.windows(2) {
                let (a, b) = (&pair[0], &pair[1]);
                let a_done = a.finished.unwrap_or_else(|| panic!("{} {} for {name} never finished", a.method, a.path));
                assert!(
                    b.arrived >= a_done,
                    "two requests for {name} in flight at once: {} {} ({:?} long) and {} {} arriving {:?} after the first",
                    a.method,
                    a.path,
                    a_done - a.arrived,
                    b.method,
                    b.path,
                    b.arrived - a.arrived
                );
            }
        }
    }
}
