//! Where a connector may send requests: origin patterns, the allow-list
//! (declared by the manifest AND granted by the operator), and the address
//! rules that keep loopback, link-local and cloud-metadata addresses out of
//! reach unless the operator names them literally.

use std::net::IpAddr;

/// `scheme://host[:port]`; host may be `*` (any host) or `*.example.com`
/// (any subdomain, never the bare domain); port may be `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPattern {
    scheme: String,
    host: HostPattern,
    /// `None` = any port.
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// Suffix including the leading dot: `.example.com`.
    Subdomains(String),
    Exact(String),
}

impl OriginPattern {
    pub fn parse(text: &str) -> Result<OriginPattern, String> {
        let hint = "write an origin such as \"https://api.example.com\", \"https://*.example.com:8443\" or \"http://127.0.0.1:8080\"";
        let (scheme, rest) = text.split_once("://").ok_or_else(|| format!("\"{text}\" has no scheme; {hint}"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(format!("\"{text}\": only http and https are allowed; {hint}"));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') || rest.contains('?') || rest.contains('@') {
            return Err(format!("\"{text}\" has a path, query or user part; {hint}"));
        }
        let (host, port) = split_host_port(rest).ok_or_else(|| format!("\"{text}\": bad port; {hint}"))?;
        let default_port = if scheme == "https" { 443 } else { 80 };
        let port = match port {
            None => Some(default_port),
            Some("*") => None,
            Some(p) => Some(p.parse::<u16>().map_err(|_| format!("\"{text}\": bad port \"{p}\"; {hint}"))?),
        };
        let host = host.to_ascii_lowercase();
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(domain) = host.strip_prefix("*.") {
            if domain.is_empty() || domain.contains('*') {
                return Err(format!("\"{text}\": bad wildcard; {hint}"));
            }
            HostPattern::Subdomains(format!(".{domain}"))
        } else if host.is_empty() || host.contains('*') {
            return Err(format!(
                "\"{text}\": a wildcard may only stand for whole leading labels (\"*.example.com\"); {hint}"
            ));
        } else {
            HostPattern::Exact(normalise_host(&host))
        };
        Ok(OriginPattern { scheme, host, port })
    }

    /// The origin of a full URL (an app's base URL): path and query dropped.
    pub fn from_url(url: &str) -> Result<OriginPattern, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("\"{url}\" is not a URL: {e}"))?;
        let host = parsed.host_str().ok_or_else(|| format!("\"{url}\" has no host"))?;
        let port = parsed.port_or_known_default().ok_or_else(|| format!("\"{url}\" has no port"))?;
        OriginPattern::parse(&format!("{}://{}:{}", parsed.scheme(), host, port))
    }

    pub fn matches(&self, url: &url::Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = normalise_host(&host.to_ascii_lowercase());
        self.scheme == url.scheme()
            && self.port.is_none_or(|p| Some(p) == url.port_or_known_default())
            && match &self.host {
                HostPattern::Any => true,
                HostPattern::Subdomains(suffix) => host.len() > suffix.len() && host.ends_with(suffix.as_str()),
                HostPattern::Exact(h) => *h == host,
            }
    }

    /// True when the pattern stands for more than one origin (`*` host,
    /// `*.` subdomains, or any port): a credential bound this wide goes only
    /// where the operator names.
    pub fn is_wildcard(&self) -> bool {
        self.port.is_none() || !matches!(self.host, HostPattern::Exact(_))
    }

    /// True when every origin this pattern matches is also matched by `wider`.
    pub fn within(&self, wider: &OriginPattern) -> bool {
        let port = match (wider.port, self.port) {
            (None, _) => true,
            (Some(w), Some(s)) => w == s,
            (Some(_), None) => false,
        };
        let host = match (&wider.host, &self.host) {
            (HostPattern::Any, _) => true,
            (HostPattern::Subdomains(w), HostPattern::Subdomains(s)) => s.ends_with(w.as_str()),
            (HostPattern::Subdomains(w), HostPattern::Exact(h)) => h.len() > w.len() && h.ends_with(w.as_str()),
            (HostPattern::Exact(w), HostPattern::Exact(h)) => w == h,
            _ => false,
        };
        self.scheme == wider.scheme && port && host
    }

    /// True when this pattern names `ip` itself (or `localhost` for a loopback
    /// address): the only way a special address becomes reachable.
    fn names_address(&self, ip: IpAddr) -> bool {
        match &self.host {
            HostPattern::Exact(h) if h == "localhost" => ip.is_loopback(),
            HostPattern::Exact(h) => h.parse::<IpAddr>().is_ok_and(|named| named == ip),
            _ => false,
        }
    }
}

impl std::fmt::Display for OriginPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = match &self.host {
            HostPattern::Any => "*".to_string(),
            HostPattern::Subdomains(s) => format!("*{s}"),
            HostPattern::Exact(h) if h.contains(':') => format!("[{h}]"),
            HostPattern::Exact(h) => h.clone(),
        };
        match self.port {
            Some(p) => write!(f, "{}://{}:{}", self.scheme, host, p),
            None => write!(f, "{}://{}:*", self.scheme, host),
        }
    }
}

fn split_host_port(rest: &str) -> Option<(&str, Option<&str>)> {
    if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            p => Some((host, Some(p.strip_prefix(':')?))),
        };
    }
    match rest.rsplit_once(':') {
        Some((h, p)) => Some((h, Some(p))),
        None => Some((rest, None)),
    }
}

fn normalise_host(host: &str) -> String {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => bare.trim_end_matches('.').to_string(),
    }
}

/// Why an address is special, or `None` for an ordinary one.
pub fn special_address(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() || v6.is_multicast() {
                Some("unspecified or multicast")
            } else if (seg[0] & 0xffc0) == 0xfe80 {
                Some("link-local")
            } else if seg == [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254] {
                Some("cloud metadata")
            } else {
                // IPv4 addresses carried inside IPv6 reach the IPv4 host:
                // mapped/compatible (::ffff:a.b.c.d, ::a.b.c.d), NAT64
                // (64:ff9b::/96) and 6to4 (2002:aabb:ccdd::/48).
                let embedded = match seg {
                    [0, 0, 0, 0, 0, 0xffff | 0, _, _] | [0x64, 0xff9b, 0, 0, 0, 0, _, _] => {
                        Some(v4_from(seg[6], seg[7]))
                    }
                    [0x2002, a, b, ..] => Some(v4_from(a, b)),
                    _ => None,
                };
                embedded.and_then(special_v4)
            }
        }
    }
}

fn v4_from(high: u16, low: u16) -> std::net::Ipv4Addr {
    let [a, b] = high.to_be_bytes();
    let [c, d] = low.to_be_bytes();
    std::net::Ipv4Addr::new(a, b, c, d)
}

fn special_v4(v4: std::net::Ipv4Addr) -> Option<&'static str> {
    // 169.254.169.254: AWS, GCP, Azure; 100.100.100.200: Alibaba; 192.0.0.192: Oracle.
    const METADATA: [[u8; 4]; 3] = [[169, 254, 169, 254], [100, 100, 100, 200], [192, 0, 0, 192]];
    if METADATA.contains(&v4.octets()) {
        Some("cloud metadata")
    } else if v4.is_loopback() {
        Some("loopback")
    } else if v4.is_link_local() {
        Some("link-local")
    } else if v4.octets()[0] == 0 || v4.is_broadcast() || v4.is_multicast() {
        Some("unspecified, broadcast or multicast")
    } else {
        None
    }
}

/// The effective allow-list of one app.
#[derive(Debug, Clone)]
pub struct OutboundPolicy {
    declared: Vec<OriginPattern>,
    granted: Vec<OriginPattern>,
}

impl OutboundPolicy {
    pub fn new(declared: Vec<OriginPattern>, granted: Vec<OriginPattern>) -> Self {
        OutboundPolicy { declared, granted }
    }

    /// Checks the URL against both lists; the error names the rule that denied.
    pub fn check_url(&self, url: &url::Url) -> Result<(), String> {
        // The origin string is only built for a denial: this runs on every request.
        let origin = || {
            format!("{}://{}:{}", url.scheme(), url.host_str().unwrap_or(""), url.port_or_known_default().unwrap_or(0))
        };
        if !self.declared.iter().any(|p| p.matches(url)) {
            return Err(format!(
                "{} is not among the hosts the connector's manifest declares ({})",
                origin(),
                list(&self.declared)
            ));
        }
        if !self.granted.iter().any(|p| p.matches(url)) {
            return Err(not_granted(&origin(), &self.granted));
        }
        Ok(())
    }

    /// Each of `origins` (the app's own URLs) must be granted: an app that
    /// cannot reach its base URL is refused when it is configured, with the
    /// message a call would get.
    pub fn check_granted(&self, origins: &[OriginPattern]) -> Result<(), String> {
        match origins.iter().find(|o| !self.granted.iter().any(|g| o.within(g))) {
            Some(missing) => Err(not_granted(&missing.to_string(), &self.granted)),
            None => Ok(()),
        }
    }

    /// Loopback, link-local and metadata addresses pass only when a grant that
    /// matches the URL names that address literally.
    pub fn check_address(&self, url: &url::Url, ip: IpAddr) -> Result<(), String> {
        let Some(kind) = special_address(ip) else {
            return Ok(());
        };
        let named = self.granted.iter().any(|p| p.matches(url) && p.names_address(ip));
        if named {
            Ok(())
        } else {
            Err(format!(
                "{} resolves to {ip}, a {kind} address, which is denied unless the operator grants it by that exact address",
                url.host_str().unwrap_or("")
            ))
        }
    }
}

fn not_granted(origin: &str, granted: &[OriginPattern]) -> String {
    let mut message = format!(
        "{origin} is declared by the connector but not granted by the operator for this app (granted: {})",
        list(granted)
    );
    // The usual slip: a grant for localhost and a base URL on 127.0.0.1.
    let loopback = |text: &str| ["localhost", "127.0.0.1", "[::1]"].iter().any(|l| text.contains(&format!("://{l}:")));
    if loopback(origin) && granted.iter().any(|g| loopback(&g.to_string())) {
        message.push_str("; localhost, 127.0.0.1 and [::1] are different origins: grant the one the URL names");
    }
    message
}

fn list(patterns: &[OriginPattern]) -> String {
    if patterns.is_empty() {
        return "none".into();
    }
    patterns.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).expect("url")
    }

    fn pattern(s: &str) -> OriginPattern {
        OriginPattern::parse(s).expect("pattern")
    }

    #[test]
    fn a_pattern_is_within_a_wider_one_only() {
        let within = |a: &str, b: &str| pattern(a).within(&pattern(b));
        assert!(within("https://api.example.com", "https://*.example.com"));
        assert!(within("https://a.b.example.com:443", "https://*.example.com:*"));
        assert!(within("https://*.b.example.com", "https://*.example.com"));
        assert!(within("http://127.0.0.1:8080", "http://*:*"));
        assert!(!within("https://example.com", "https://*.example.com"));
        assert!(!within("https://api.example.com:*", "https://api.example.com"));
        assert!(!within("http://api.example.com", "https://api.example.com"));
        assert!(!within("https://*.example.com", "https://api.example.com"));
        assert!(!within("http://localhost:8080", "http://127.0.0.1:8080"));
    }

    #[test]
    fn a_missing_loopback_grant_says_localhost_is_not_127_0_0_1() {
        let policy = OutboundPolicy::new(Vec::new(), vec![pattern("http://localhost:8080")]);
        let err = policy.check_granted(&[pattern("http://127.0.0.1:8080")]).expect_err("not granted");
        assert!(err.contains("not granted by the operator"), "{err}");
        assert!(err.contains("localhost, 127.0.0.1 and [::1] are different origins"), "{err}");
        assert!(policy.check_granted(&[pattern("http://localhost:8080")]).is_ok());
    }

    #[test]
    fn a_subdomain_wildcard_matches_subdomains_only() {
        let p = pattern("https://*.example.com");
        assert!(p.matches(&url("https://api.example.com/x")));
        assert!(p.matches(&url("https://a.b.example.com/")));
        assert!(!p.matches(&url("https://example.com/")));
        assert!(!p.matches(&url("https://evilexample.com/")));
        assert!(!p.matches(&url("https://api.example.com.evil.net/")));
        assert!(!p.matches(&url("http://api.example.com/")), "scheme must match");
        assert!(!p.matches(&url("https://api.example.com:8443/")), "port defaults to 443");
    }

    #[test]
    fn ports_are_matched_exactly_unless_starred() {
        assert!(pattern("http://127.0.0.1:8080").matches(&url("http://127.0.0.1:8080/v2")));
        assert!(!pattern("http://127.0.0.1:8080").matches(&url("http://127.0.0.1:8081/v2")));
        assert!(pattern("http://127.0.0.1:*").matches(&url("http://127.0.0.1:9/")));
    }

    #[test]
    fn bad_patterns_are_refused_with_an_example() {
        for bad in ["api.example.com", "ftp://x", "https://a*.example.com", "https://x/path", "https://x:99999"] {
            let err = OriginPattern::parse(bad).expect_err(bad);
            assert!(err.contains("write an origin such as"), "{bad}: {err}");
        }
    }

    #[test]
    fn an_origin_is_taken_from_a_full_url() {
        let p = OriginPattern::from_url("http://127.0.0.1:5000/v2/").expect("url");
        assert_eq!(p.to_string(), "http://127.0.0.1:5000");
    }

    #[test]
    fn the_denial_names_the_list_that_refused() {
        let policy =
            OutboundPolicy::new(vec![pattern("https://*.example.com")], vec![pattern("https://api.example.com")]);
        assert!(policy.check_url(&url("https://api.example.com/")).is_ok());
        let e = policy.check_url(&url("https://evil.net/")).expect_err("undeclared");
        assert!(e.contains("manifest declares"), "{e}");
        let e = policy.check_url(&url("https://other.example.com/")).expect_err("ungranted");
        assert!(e.contains("not granted by the operator"), "{e}");
    }

    #[test]
    fn special_addresses_need_a_literal_grant() {
        let wildcard = OutboundPolicy::new(vec![pattern("http://*:*")], vec![pattern("http://*:*")]);
        let u = url("http://internal.example/");
        for ip in [
            "127.0.0.1",
            "169.254.169.254",
            "100.100.100.200",
            "::1",
            "fe80::1",
            "0.0.0.0",
            "0.1.2.3",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
        ] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert!(wildcard.check_address(&u, ip).is_err(), "{ip} must be denied");
        }
        assert!(wildcard.check_address(&u, "10.1.2.3".parse().expect("ip")).is_ok());

        let literal = OutboundPolicy::new(vec![pattern("http://*:*")], vec![pattern("http://127.0.0.1:8080")]);
        let local = url("http://127.0.0.1:8080/");
        assert!(literal.check_address(&local, "127.0.0.1".parse().expect("ip")).is_ok());
        assert!(literal.check_address(&local, "127.0.0.2".parse().expect("ip")).is_err());
    }
}
