//! HTTP through the host. The host checks every request against the app's
//! allow-list and limits and adds credentials itself; redirects come back as
//! answers and [`RequestBuilder::send`] follows them with new, checked requests.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Secret;
use crate::error::{ConnectorError, Result, permanent, transient};
use crate::wit::provisio::connector::http as host;
pub use host::Method;

const MAX_REDIRECTS: usize = 5;

pub struct RequestBuilder<'a> {
    request: host::Request,
    auth: Option<&'a Secret>,
    follow_redirects: bool,
}

pub fn request(method: Method, url: impl Into<String>) -> RequestBuilder<'static> {
    RequestBuilder {
        request: host::Request { method, url: url.into(), headers: Vec::new(), body: None },
        auth: None,
        follow_redirects: true,
    }
}

pub fn get(url: impl Into<String>) -> RequestBuilder<'static> {
    request(Method::Get, url)
}
pub fn post(url: impl Into<String>) -> RequestBuilder<'static> {
    request(Method::Post, url)
}
pub fn put(url: impl Into<String>) -> RequestBuilder<'static> {
    request(Method::Put, url)
}
pub fn patch(url: impl Into<String>) -> RequestBuilder<'static> {
    request(Method::Patch, url)
}
pub fn delete(url: impl Into<String>) -> RequestBuilder<'static> {
    request(Method::Delete, url)
}

impl<'a> RequestBuilder<'a> {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.request.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Appends `name=value` to the URL's query, both percent-encoded, so that
    /// a login such as `grace+ops@example.com` or `Zoë Ng` reaches the app as
    /// written (unencoded, `+` would arrive as a space and the lookup would
    /// find nothing).
    pub fn query(mut self, name: &str, value: &str) -> Self {
        let url = &mut self.request.url;
        let separator = match url.find('?') {
            None => "?",
            Some(_) if url.ends_with('?') || url.ends_with('&') => "",
            Some(_) => "&",
        };
        let pair = format!("{}={}", encode(name), encode(value));
        url.push_str(separator);
        url.push_str(&pair);
        self
    }

    /// The host sets the Authorization header from this credential.
    pub fn auth<'b>(self, secret: Option<&'b Secret>) -> RequestBuilder<'b> {
        RequestBuilder { request: self.request, auth: secret, follow_redirects: self.follow_redirects }
    }

    pub fn body(mut self, content_type: &str, body: Vec<u8>) -> Self {
        self.request.headers.push(("content-type".into(), content_type.into()));
        self.request.body = Some(body);
        self
    }

    pub fn json<T: Serialize>(self, value: &T) -> Result<Self> {
        let body = serde_json::to_vec(value).map_err(|e| permanent(format!("cannot encode JSON: {e}")))?;
        Ok(self.body("application/json", body))
    }

    pub fn no_redirects(mut self) -> Self {
        self.follow_redirects = false;
        self
    }

    /// Sends the request (following up to five redirects); an HTTP answer of
    /// any status is `Ok`, only a failure to get one is an error.
    pub fn send(self) -> Result<Response> {
        let mut request = self.request;
        for _ in 0..=MAX_REDIRECTS {
            let response = host::send(&request, self.auth).map_err(from_http_error)?;
            let response = Response { status: response.status, headers: response.headers, body: response.body };
            let location = response.header("location").map(str::to_string);
            match (self.follow_redirects, response.status, location) {
                (true, 301 | 302 | 303 | 307 | 308, Some(location)) => {
                    request.url = resolve(&request.url, &location)?;
                    if response.status == 303
                        || (response.status != 307 && response.status != 308 && request.method == Method::Post)
                    {
                        request.method = Method::Get;
                        request.body = None;
                    }
                }
                _ => return Ok(response),
            }
        }
        Err(permanent(format!("more than {MAX_REDIRECTS} redirects from {}", request.url)))
    }

    /// Sends with `secret` written by the host into the JSON body at
    /// `json_pointer` (for set-password). Redirects are not followed.
    pub fn send_with_secret(self, secret: &Secret, json_pointer: &str) -> Result<Response> {
        let response =
            host::send_with_secret(&self.request, self.auth, secret, json_pointer).map_err(from_http_error)?;
        Ok(Response { status: response.status, headers: response.headers, body: response.body })
    }
}

/// Everything but RFC 3986's unreserved characters, percent-encoded (a space
/// as `%20`, which every server reads as a space; `+` as `%2B`).
fn encode(text: &str) -> String {
    const QUERY_PART: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
    percent_encoding::utf8_percent_encode(text, QUERY_PART).to_string()
}

/// `location` resolved against the request's URL as RFC 3986 (section 5)
/// says: a `Location` is relative unless it starts with a scheme, whatever
/// its query holds.
fn resolve(base: &str, location: &str) -> Result<String> {
    let base = url::Url::parse(base).map_err(|e| permanent(format!("\"{base}\" is not a URL: {e}")))?;
    base.join(location)
        .map(String::from)
        .map_err(|e| permanent(format!("the app redirected to \"{location}\", which is not a URL: {e}")))
}

pub fn from_http_error(e: host::HttpError) -> ConnectorError {
    match e {
        host::HttpError::Denied(m) => permanent(format!("request denied by the host: {m}")),
        host::HttpError::Timeout(m) => transient(format!("timeout: {m}")),
        host::HttpError::TooLarge(m) => permanent(format!("too large: {m}")),
        host::HttpError::Connection(m) => transient(format!("connection failed: {m}")),
        host::HttpError::LimitExceeded(m) => permanent(format!("limit exceeded: {m}")),
        host::HttpError::InvalidRequest(m) => permanent(format!("invalid request: {m}")),
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|e| permanent(format!("the application sent JSON this connector cannot read: {e}")))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `Retry-After` in milliseconds (delta-seconds form).
    pub fn retry_after_ms(&self) -> Option<u64> {
        self.header("retry-after")?.trim().parse::<u64>().ok().map(|s| s * 1000)
    }

    /// A short excerpt of the body for error messages: text only (an HTML
    /// error page is reduced to its words), at most 300 characters.
    pub fn error_detail(&self) -> String {
        let text = self.text();
        let html =
            self.header("content-type").is_some_and(|t| t.contains("html")) || text.trim_start().starts_with('<');
        let text = if html { text_of_html(&text) } else { text };
        let text = text.trim();
        match text.char_indices().nth(300) {
            Some((i, _)) => format!("{}…", &text[..i]),
            None => text.to_string(),
        }
    }

    /// `Ok(self)` for a 2xx answer, else the typed error for its status.
    pub fn error_for_status(self, what: &str) -> Result<Self> {
        if self.is_success() { Ok(self) } else { Err(crate::error::from_status(&self, what)) }
    }
}

/// The words of an HTML page: no tags, comments, scripts or styles, and
/// whitespace collapsed.
fn text_of_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len().min(4096));
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        out.push(' ');
        let tag = &rest[start..];
        let lower = tag.get(..8).unwrap_or(tag).to_ascii_lowercase();
        let end = if tag.starts_with("<!--") {
            tag.find("-->").map(|i| i + 3)
        } else if lower.starts_with("<script") || lower.starts_with("<style") {
            let close = if lower.starts_with("<script") { "</script>" } else { "</style>" };
            tag.to_ascii_lowercase().find(close).map(|i| i + close.len())
        } else {
            tag.find('>').map(|i| i + 1)
        };
        rest = end.map_or("", |e| &tag[e..]);
    }
    out.push_str(rest);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::{resolve, text_of_html};

    #[test]
    fn an_html_error_page_is_reduced_to_its_words() {
        let page = "<!DOCTYPE html><html><head><title>500 Oops</title><style>p{color:red}</style>\
                    <script>var x = '<b>';</script></head><body><h1>Internal   Error</h1><!-- a <b>comment</b> --></body></html>";
        assert_eq!(text_of_html(page), "500 Oops Internal Error");
    }

    #[test]
    fn redirect_locations_resolve_against_the_request_url() {
        let r = |base: &str, location: &str| resolve(base, location).ok();
        assert_eq!(r("http://a:1/v2/Users", "http://b/x").as_deref(), Some("http://b/x"));
        assert_eq!(r("http://a:1/v2/Users", "/other").as_deref(), Some("http://a:1/other"));
        assert_eq!(r("http://a:1/v2/Users", "Groups").as_deref(), Some("http://a:1/v2/Groups"));
        assert_eq!(r("http://a:1/v2/Users?x=1", "../up").as_deref(), Some("http://a:1/up"));
        assert_eq!(r("http://a:1/v2/Users", "//c:2/y").as_deref(), Some("http://c:2/y"));
    }

    #[test]
    fn a_query_value_reaches_the_app_as_written() {
        for login in ["grace+ops@example.com", "Zoë Ng", "a&b=c?d#e", "100%"] {
            let request = super::get("https://api.example.com/users?active=true").query("login", login);
            let url = url::Url::parse(&request.request.url).expect("url");
            let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into(), v.into())).collect();
            assert_eq!(pairs, [("active".into(), "true".into()), ("login".to_string(), login.to_string())], "{url}");
        }
        assert_eq!(super::get("https://x.example/u").query("q", "a b").request.url, "https://x.example/u?q=a%20b");
    }

    #[test]
    fn a_relative_redirect_with_a_url_in_its_query_stays_on_the_origin() {
        assert_eq!(
            resolve("http://a:1/login", "/landing?next=http://evil.example/x").ok().as_deref(),
            Some("http://a:1/landing?next=http://evil.example/x")
        );
        assert_eq!(
            resolve("http://a:1/v2/Users", "next?u=https://b").ok().as_deref(),
            Some("http://a:1/v2/next?u=https://b")
        );
    }
}
