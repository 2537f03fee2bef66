//! The host's `http` capability, independent of the WIT version: allow-list and
//! address checks, per-request limits, and the authentication schemes the host
//! runs itself (bearer, basic, OAuth2 client credentials with a cached token).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::outbound::special_address;
use crate::secrets::{AppCredential, CachedToken, CredentialSecret, SecretString, TOKEN_EXPIRY_MARGIN, TokenResponse};
use crate::state::CallScope;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
}

#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    Denied(String),
    Timeout(String),
    /// The app's answer was over `max_response_bytes`.
    TooLarge(String),
    /// The guest's request was over `max_request_bytes` (sent to the guest
    /// as `too-large`, but the guest's doing).
    RequestTooLarge(String),
    Connection(String),
    LimitExceeded(String),
    InvalidRequest(String),
}

/// A password the host writes into the JSON body for `send-with-secret`.
pub struct BodySecret {
    pub value: SecretString,
    pub json_pointer: String,
}

/// Builds the runtime's one outbound client (shared by all apps; the policy
/// is checked per request): no redirects followed (each hop is a new, checked
/// request) and a resolver that never hands out special addresses for a DNS
/// name, so DNS rebinding cannot reach loopback or metadata endpoints.
pub(crate) fn build_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // A proxy would resolve the target itself, past the address guard.
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver))
        .user_agent(concat!("provisio/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The User-Agent of an app's requests: the host's version and the
/// connector's, so the app's operator can tell who called.
pub(crate) fn user_agent(connector: &str) -> HeaderValue {
    let host = concat!("provisio/", env!("CARGO_PKG_VERSION"));
    HeaderValue::from_str(&format!("{host} ({connector})")).unwrap_or(HeaderValue::from_static(host))
}

struct GuardedResolver;

#[derive(Debug)]
struct AddressDenied(String);

impl std::fmt::Display for AddressDenied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for AddressDenied {}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            // `localhost` was already checked against the grants by name; any
            // other name must resolve to ordinary addresses.
            let keep: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| match special_address(a.ip()) {
                    None => true,
                    Some(_) => is_localhost(&host) && a.ip().is_loopback(),
                })
                .collect();
            if keep.is_empty() {
                let shown: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
                return Err(Box::new(AddressDenied(format!(
                    "{host} resolves only to special addresses ({}): loopback, link-local and metadata addresses are denied unless the operator grants them by exact address",
                    shown.join(", ")
                ))) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(keep.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

pub(crate) async fn send(
    state: &CallScope,
    req: Request,
    auth: Option<Arc<AppCredential>>,
    body_secret: Option<BodySecret>,
) -> Result<Response, HttpError> {
    checked_send(state, req, auth, body_secret).await.map_err(|e| refuse(state, e))
}

/// Passes an error on to the guest, remembering it when it is a refusal of
/// the guest's own doing (so the call's outcome is blamed on the guest).
pub(crate) fn refuse(state: &CallScope, e: HttpError) -> HttpError {
    if let Some(why) = e.guest_fault() {
        state.meter.record_refusal(why);
    }
    e
}

impl HttpError {
    /// The message, when the error is the guest's doing rather than the
    /// network's or the app's.
    pub fn guest_fault(&self) -> Option<&str> {
        match self {
            HttpError::Denied(m)
            | HttpError::LimitExceeded(m)
            | HttpError::InvalidRequest(m)
            | HttpError::RequestTooLarge(m) => Some(m),
            HttpError::Timeout(_) | HttpError::TooLarge(_) | HttpError::Connection(_) => None,
        }
    }
}

async fn checked_send(
    state: &CallScope,
    req: Request,
    auth: Option<Arc<AppCredential>>,
    body_secret: Option<BodySecret>,
) -> Result<Response, HttpError> {
    let app = &state.app;
    let limits = &app.limits;
    charge_request(state)?;
    // Everything the guest sends counts, measured before any of it is parsed.
    let head_len = req.url.len() + req.headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum::<usize>();
    let request_len = (head_len + req.body.as_ref().map_or(0, Vec::len)) as u64;
    if request_len > limits.max_request_bytes {
        return Err(too_large_request(request_len, limits.max_request_bytes));
    }
    let mut url = url::Url::parse(&req.url)
        .map_err(|e| HttpError::InvalidRequest(format!("\"{}\" is not a URL: {e}", req.url)))?;
    // `localhost.` names the same host as `localhost`, but the system's
    // resolver knows only the latter.
    if url.host_str().is_some_and(|h| h.ends_with('.') && is_localhost(h)) {
        let _ = url.set_host(Some("localhost"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(HttpError::InvalidRequest(
            "credentials in a URL are not allowed; pass a credential handle as `auth`".into(),
        ));
    }
    app.policy.check_url(&url).map_err(HttpError::Denied)?;
    match url.host() {
        Some(url::Host::Ipv4(ip)) => app.policy.check_address(&url, IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => app.policy.check_address(&url, IpAddr::V6(ip)),
        Some(url::Host::Domain(d)) if is_localhost(d) => app.policy.check_address(&url, IpAddr::from([127, 0, 0, 1])),
        _ => Ok(()),
    }
    .map_err(HttpError::Denied)?;
    if let Some(cred) = &auth
        && !cred.may_be_sent_to(&url)
    {
        let origins: Vec<String> = cred.origins.iter().map(|o| o.to_string()).collect();
        return Err(HttpError::Denied(format!(
            "credential \"{}\" may only be sent to {}",
            cred.name,
            origins.join(", ")
        )));
    }

    let mut headers = HeaderMap::new();
    for (name, value) in &req.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| HttpError::InvalidRequest(format!("bad header name \"{name}\"")))?;
        if is_framing_header(&name) {
            return Err(HttpError::InvalidRequest(format!("the {name} header is set by the host, not the connector")));
        }
        if auth.is_some() && name == reqwest::header::AUTHORIZATION {
            return Err(HttpError::InvalidRequest(
                "the request sets Authorization and passes a credential; leave the header to the host".into(),
            ));
        }
        let value = HeaderValue::from_str(value)
            .map_err(|_| HttpError::InvalidRequest(format!("bad value for header \"{name}\"")))?;
        headers.append(name, value);
    }

    let mut body = req.body;
    if let Some(secret) = body_secret {
        state.meter.register_secret(&secret.value);
        body = Some(inject_secret(body.as_deref(), &secret)?);
    }
    let request_len = (head_len + body.as_ref().map_or(0, Vec::len)) as u64;
    if request_len > limits.max_request_bytes {
        return Err(too_large_request(request_len, limits.max_request_bytes));
    }

    let method = match req.method {
        Method::Get => reqwest::Method::GET,
        Method::Head => reqwest::Method::HEAD,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Patch => reqwest::Method::PATCH,
        Method::Delete => reqwest::Method::DELETE,
        Method::Options => reqwest::Method::OPTIONS,
    };

    state.meter.enter_host_call();
    let result = exchange(state, method, &url, &headers, body.as_deref(), auth.as_deref()).await;
    state.meter.exit_host_call();
    if result.as_ref().err().is_none_or(|e| e.guest_fault().is_none()) {
        state.meter.count_app_exchange();
    }
    // An app may echo a credential or a password back (in an error message,
    // say): the guest never gets to see it.
    result.map(|r| Response { body: state.meter.redact_bytes(r.body), ..r })
}

async fn exchange(
    state: &CallScope,
    method: reqwest::Method,
    url: &url::Url,
    headers: &HeaderMap,
    body: Option<&[u8]>,
    auth: Option<&AppCredential>,
) -> Result<Response, HttpError> {
    let app = &state.app;
    let limits = &app.limits;
    let mut retried_auth = false;
    // A request that changes something carries the intent's key, numbered
    // by its place in the operation: the same on every retry of the intent.
    let idempotency = state
        .idempotency
        .as_ref()
        .filter(|_| !matches!(method, reqwest::Method::GET | reqwest::Method::HEAD | reqwest::Method::OPTIONS))
        .and_then(|(name, key)| {
            HeaderValue::from_str(&format!("{key}:{}", state.meter.requests())).ok().map(|v| (name.clone(), v))
        });
    loop {
        let timeout = request_timeout(state)?;
        let mut builder = app.client.request(method.clone(), url.clone()).headers(headers.clone()).timeout(timeout);
        if let Some((name, value)) = &idempotency {
            builder = builder.header(name, value);
        }
        if !headers.contains_key(reqwest::header::USER_AGENT) {
            // The app's operator can tell which connector version called.
            builder = builder.header(reqwest::header::USER_AGENT, &app.user_agent);
        }
        if let Some(b) = body {
            builder = builder.body(b.to_vec());
        }
        if let Some(cred) = auth {
            let value = authorization(state, cred, retried_auth).await?;
            builder = builder.header(reqwest::header::AUTHORIZATION, value);
        }
        let response = read_response(builder, limits.max_response_bytes).await?;
        let oauth = auth.as_ref().is_some_and(|c| matches!(c.secret, CredentialSecret::Oauth2ClientCredentials { .. }));
        if response.status == 401 && oauth && !retried_auth {
            // The cached token may have been revoked early: fetch a new one once.
            retried_auth = true;
            charge_request(state)?;
            continue;
        }
        return Ok(response);
    }
}

/// The per-exchange limit. It is not shortened to the operation's deadline:
/// that deadline is enforced around the whole call, so running out of it is
/// reported as the operation's wall-time limit, not as an HTTP timeout.
/// Counts one more exchange (the guest's requests, the host's retries and
/// token fetches alike) against the app's `max_requests`.
fn charge_request(state: &CallScope) -> Result<(), HttpError> {
    let max = state.app.limits.max_requests;
    if state.meter.count_request() + state.meter.token_fetches() > max {
        return Err(HttpError::LimitExceeded(format!(
            "this operation made more than {max} HTTP requests (the app's max_requests)"
        )));
    }
    Ok(())
}

/// Headers that decide where and how a request travels: the host sets them,
/// so a connector cannot reach another virtual host or smuggle a request.
fn is_framing_header(name: &HeaderName) -> bool {
    use reqwest::header::{CONNECTION, CONTENT_LENGTH, HOST, TE, TRANSFER_ENCODING, UPGRADE};
    [HOST, CONTENT_LENGTH, TRANSFER_ENCODING, CONNECTION, TE, UPGRADE].contains(name)
        || name.as_str().starts_with("proxy-")
        || name.as_str() == "keep-alive"
}

fn request_timeout(state: &CallScope) -> Result<Duration, HttpError> {
    if state.deadline <= Instant::now() {
        return Err(HttpError::Timeout("the operation's deadline has passed".into()));
    }
    Ok(Duration::from_millis(state.app.limits.http_timeout_ms))
}

async fn read_response(builder: reqwest::RequestBuilder, max: u64) -> Result<Response, HttpError> {
    let mut resp = builder.send().await.map_err(classify)?;
    if let Some(len) = resp.content_length()
        && len > max
    {
        return Err(too_large(max));
    }
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(classify)? {
        if (body.len() + chunk.len()) as u64 > max {
            return Err(too_large(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Response { status, headers, body })
}

fn too_large_request(len: u64, max: u64) -> HttpError {
    HttpError::RequestTooLarge(format!(
        "the request has {len} bytes (URL, headers and body); the app's max_request_bytes is {max}"
    ))
}

/// `localhost`, in any case, with or without the root's trailing dot.
fn is_localhost(host: &str) -> bool {
    host.strip_suffix('.').unwrap_or(host).eq_ignore_ascii_case("localhost")
}

fn too_large(max: u64) -> HttpError {
    HttpError::TooLarge(format!("the response is larger than the app's max_response_bytes ({max} bytes)"))
}

fn classify(e: reqwest::Error) -> HttpError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(denied) = s.downcast_ref::<AddressDenied>() {
            return HttpError::Denied(denied.0.clone());
        }
        source = s.source();
    }
    if e.is_builder() {
        // The request could not even be built: the guest's doing.
        HttpError::InvalidRequest(format!("the request cannot be sent: {}", e.without_url()))
    } else if e.is_timeout() {
        HttpError::Timeout(format!("the HTTP exchange timed out: {e}"))
    } else {
        // No URL in the message: it is already known to the caller.
        HttpError::Connection(e.without_url().to_string())
    }
}

async fn authorization(state: &CallScope, cred: &AppCredential, refresh: bool) -> Result<HeaderValue, HttpError> {
    let value = match &cred.secret {
        CredentialSecret::Bearer { token } => format!("Bearer {}", token.expose()),
        CredentialSecret::Basic { username, password } => {
            let raw = format!("{username}:{}", password.expose());
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
        }
        CredentialSecret::Oauth2ClientCredentials { .. } => {
            let token = oauth_token(state, cred, refresh).await?;
            state.meter.register_secret(&token);
            format!("Bearer {}", token.expose())
        }
    };
    let mut header = HeaderValue::from_str(&value)
        .map_err(|_| HttpError::InvalidRequest(format!("credential \"{}\" is not a valid header value", cred.name)))?;
    header.set_sensitive(true);
    Ok(header)
}

/// Client-credentials grant (RFC 6749 §4.4). The token endpoint is part of the
/// operator's configuration, not the guest's request, so it is not subject to
/// the connector's allow-list.
async fn oauth_token(state: &CallScope, cred: &AppCredential, refresh: bool) -> Result<SecretString, HttpError> {
    let CredentialSecret::Oauth2ClientCredentials { token_url, client_id, client_secret, scope } = &cred.secret else {
        return Err(HttpError::InvalidRequest("not an OAuth2 credential".into()));
    };
    let mut cached = cred.token.lock().await;
    if !refresh
        && let Some(token) = cached.as_ref()
        && token.expires > Instant::now()
    {
        return Ok(token.value.clone());
    }
    let form = {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials");
        if let Some(scope) = scope {
            form.append_pair("scope", scope);
        }
        form.finish()
    };
    let builder = state
        .app
        .client
        .post(token_url)
        .basic_auth(client_id, Some(client_secret.expose()))
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(reqwest::header::ACCEPT, "application/json")
        .body(form)
        .timeout(request_timeout(state)?);
    if state.meter.requests() + state.meter.token_fetches() >= state.app.limits.max_requests {
        return Err(HttpError::LimitExceeded(format!(
            "no room left for an OAuth2 token request within the app's max_requests ({})",
            state.app.limits.max_requests
        )));
    }
    state.meter.count_token_fetch();
    let response = read_response(builder, 64 << 10).await?;
    if response.status != 200 {
        return Err(HttpError::Connection(format!(
            "the OAuth2 token endpoint of credential \"{}\" answered {}",
            cred.name, response.status
        )));
    }
    let token: TokenResponse = serde_json::from_slice(&response.body).map_err(|e| {
        HttpError::Connection(format!(
            "the OAuth2 token endpoint of credential \"{}\" sent no usable token: {e}",
            cred.name
        ))
    })?;
    let lifetime = Duration::from_secs(token.expires_in.unwrap_or(3600));
    let value = SecretString::new(token.access_token);
    *cached = Some(CachedToken {
        value: value.clone(),
        expires: Instant::now() + lifetime.saturating_sub(TOKEN_EXPIRY_MARGIN),
    });
    Ok(value)
}

fn inject_secret(body: Option<&[u8]>, secret: &BodySecret) -> Result<Vec<u8>, HttpError> {
    let invalid = |m: String| HttpError::InvalidRequest(m);
    let mut doc: serde_json::Value = serde_json::from_slice(body.unwrap_or(b"{}"))
        .map_err(|e| invalid(format!("send-with-secret needs a JSON body: {e}")))?;
    let pointer = &secret.json_pointer;
    let (parent, key) = pointer
        .rsplit_once('/')
        .ok_or_else(|| invalid(format!("\"{pointer}\" is not a JSON pointer (write e.g. \"/password\")")))?;
    let key = key.replace("~1", "/").replace("~0", "~");
    let target = doc
        .pointer_mut(parent)
        .and_then(|p| p.as_object_mut())
        .ok_or_else(|| invalid(format!("the body has no object at \"{parent}\" for \"{pointer}\"")))?;
    target.insert(key, serde_json::Value::String(secret.value.expose().to_string()));
    serde_json::to_vec(&doc).map_err(|e| invalid(e.to_string()))
}
