//! The guard: what the proxy refuses to sign, whoever asks.
//!
//! Everything that reaches the proxy is signed with its owner's
//! credentials, so requests that no legitimate local client sends are
//! refused before anything else happens, each with an XML error naming the
//! rule:
//!
//! - a web page: a request with an `Origin` not in `allowed_origins` (none
//!   by default), a `Sec-Fetch-Site` of `cross-site` or `same-site`, or a
//!   CORS preflight (`OPTIONS`);
//! - DNS rebinding: a `Host` that is not a loopback name or address, the
//!   listen address, or one of `allowed_hosts`;
//! - a client without the proxy's token, when one is configured (see
//!   [`crate::client_auth`]; client addresses are checked per connection);
//! - request smuggling shapes in the headers it is handed: two
//!   `Content-Length` headers, or one beside `Transfer-Encoding`, or
//!   `chunked` given twice. hyper's HTTP/1 parser hides the first two, so
//!   for HTTP/1 they are caught on the wire by [`crate::framing`]; hyper
//!   itself refuses obsolete line folding and differing lengths;
//! - methods S3 does not use (`TRACE`, `CONNECT`, unknown ones), and an
//!   `Expect` other than `100-continue`.
//!
//! What each route allows is [`crate::policy`]'s; sizes are
//! [`crate::limits`]'.

use std::net::{IpAddr, SocketAddr};

use http::request::Parts;
use http::{HeaderMap, Method, header};

use crate::client_auth::ClientAuth;
use crate::error::{ErrorKind, ProxyError};

/// Who may ask the proxy to sign.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guard {
    /// The address the proxy listens on.
    pub listen: Option<SocketAddr>,
    /// Host names accepted besides loopback ones, lowercase, without port.
    pub allowed_hosts: Vec<String>,
    /// `Origin` values accepted (`scheme://host[:port]`), exactly.
    pub allowed_origins: Vec<String>,
    /// The token clients must show, if any.
    pub client_auth: ClientAuth,
}

// === impl Guard ===

impl Guard {
    /// Refuses `parts` when a rule forbids it.
    pub fn check(&self, parts: &Parts) -> Result<(), ProxyError> {
        check_method(&parts.method)?;
        check_framing(&parts.headers)?;
        check_expect(&parts.headers)?;
        self.check_origin(&parts.headers)?;
        check_fetch_site(&parts.headers)?;
        self.check_host(parts)?;
        self.client_auth.check_token(&parts.headers)
    }

    fn check_origin(&self, headers: &HeaderMap) -> Result<(), ProxyError> {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let origin = origin.to_str().unwrap_or("");
        if self.allowed_origins.iter().any(|allowed| allowed == origin) {
            return Ok(());
        }
        Err(ProxyError::new(
            ErrorKind::ForbiddenOrigin,
            format!(
                "requests from web pages are refused (Origin '{origin}' is not in allowed_origins)"
            ),
        ))
    }

    fn check_host(&self, parts: &Parts) -> Result<(), ProxyError> {
        let authority = parts
            .headers
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
            .or_else(|| parts.uri.authority().map(|a| a.as_str().to_owned()));
        let Some(authority) = authority else {
            return Ok(());
        };
        let host = host_of(&authority);
        if self.is_own_host(&host) {
            return Ok(());
        }
        Err(ProxyError::new(
            ErrorKind::ForbiddenHost,
            format!("Host '{host}' is not a name of this proxy (add it to allowed_hosts)"),
        ))
    }

    fn is_own_host(&self, host: &str) -> bool {
        if host == "localhost" || host.ends_with(".localhost") {
            return true;
        }
        if self.allowed_hosts.iter().any(|allowed| allowed == host) {
            return true;
        }
        match host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            Ok(ip) => ip.is_loopback() || self.listen.is_some_and(|listen| listen.ip() == ip),
            Err(_) => false,
        }
    }
}

fn check_method(method: &Method) -> Result<(), ProxyError> {
    if *method == Method::OPTIONS {
        return Err(ProxyError::new(
            ErrorKind::CorsPreflight,
            "CORS preflight requests are refused: the proxy never serves web pages",
        ));
    }
    let allowed = [
        Method::GET,
        Method::HEAD,
        Method::PUT,
        Method::POST,
        Method::DELETE,
    ];
    if allowed.contains(method) {
        return Ok(());
    }
    Err(ProxyError::new(
        ErrorKind::MethodNotAllowed,
        format!("{method} is not proxied (only GET, HEAD, PUT, POST, DELETE)"),
    ))
}

/// Refuses a body whose length two parts of the chain could read apart.
fn check_framing(headers: &HeaderMap) -> Result<(), ProxyError> {
    let ambiguous = |why: &str| {
        Err(ProxyError::new(
            ErrorKind::AmbiguousFraming,
            format!("the request's framing is ambiguous: {why}"),
        ))
    };
    let lengths = headers.get_all(header::CONTENT_LENGTH).iter().count();
    if lengths > 1 {
        return ambiguous("more than one Content-Length");
    }
    let codings = headers.get_all(header::TRANSFER_ENCODING);
    if lengths == 1 && codings.iter().next().is_some() {
        return ambiguous("both Content-Length and Transfer-Encoding");
    }
    let chunked = codings
        .iter()
        .flat_map(|value| value.as_bytes().split(|b| *b == b','))
        .filter(|coding| coding.trim_ascii().eq_ignore_ascii_case(b"chunked"))
        .count();
    if chunked > 1 {
        return ambiguous("Transfer-Encoding names chunked more than once");
    }
    Ok(())
}

fn check_expect(headers: &HeaderMap) -> Result<(), ProxyError> {
    match headers.get(header::EXPECT) {
        Some(value) if !value.as_bytes().eq_ignore_ascii_case(b"100-continue") => {
            Err(ProxyError::new(
                ErrorKind::ExpectationFailed,
                "only 'Expect: 100-continue' is supported",
            ))
        }
        _ => Ok(()),
    }
}

fn check_fetch_site(headers: &HeaderMap) -> Result<(), ProxyError> {
    let site = headers
        .get("sec-fetch-site")
        .map(|value| value.as_bytes().to_ascii_lowercase());
    match site.as_deref() {
        Some(b"cross-site") | Some(b"same-site") => Err(ProxyError::new(
            ErrorKind::CrossSiteRequest,
            "requests sent by a web page of another site are refused (Sec-Fetch-Site)",
        )),
        _ => Ok(()),
    }
}

/// The host part of an authority, lowercase, without the port.
fn host_of(authority: &str) -> String {
    let authority = authority.trim().to_ascii_lowercase();
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) => authority[..=end].to_owned(),
            None => authority,
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host.to_owned(),
        _ => authority,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::builder().method(method).uri("/bucket/key");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn guard() -> Guard {
        Guard {
            listen: Some("127.0.0.1:7070".parse().unwrap()),
            allowed_hosts: vec!["proxy.internal".into()],
            allowed_origins: vec!["http://console.internal".into()],
            client_auth: ClientAuth::default(),
        }
    }

    fn refusal(method: &str, headers: &[(&str, &str)]) -> Option<ErrorKind> {
        guard()
            .check(&request(method, headers))
            .err()
            .map(|e| e.kind())
    }

    #[test]
    fn plain_local_clients_pass() {
        for host in [
            "127.0.0.1:7070",
            "localhost:7070",
            "bucket.localhost",
            "[::1]:7070",
            "127.0.0.9",
        ] {
            assert_eq!(refusal("GET", &[("host", host)]), None, "{host}");
        }
        assert_eq!(refusal("PUT", &[("host", "proxy.internal:7070")]), None);
        assert_eq!(refusal("PUT", &[("expect", "100-Continue")]), None);
        assert_eq!(refusal("GET", &[("sec-fetch-site", "same-origin")]), None);
        assert_eq!(
            refusal("GET", &[("origin", "http://console.internal")]),
            None
        );
    }

    #[test]
    fn web_pages_are_refused() {
        let origin = [("origin", "http://evil.example")];
        assert_eq!(refusal("GET", &origin), Some(ErrorKind::ForbiddenOrigin));
        let site = [("sec-fetch-site", "cross-site")];
        assert_eq!(refusal("DELETE", &site), Some(ErrorKind::CrossSiteRequest));
        let site = [("sec-fetch-site", "Same-Site")];
        assert_eq!(refusal("DELETE", &site), Some(ErrorKind::CrossSiteRequest));
        assert_eq!(refusal("OPTIONS", &[]), Some(ErrorKind::CorsPreflight));
    }

    #[test]
    fn foreign_hosts_are_refused() {
        for host in [
            "attacker.example",
            "attacker.example:7070",
            "203.0.113.7:7070",
            "localhost.evil.example",
        ] {
            assert_eq!(
                refusal("GET", &[("host", host)]),
                Some(ErrorKind::ForbiddenHost),
                "{host}"
            );
        }
    }

    #[test]
    fn odd_methods_and_expectations_are_refused() {
        for method in ["TRACE", "CONNECT", "PATCH", "FOO"] {
            assert_eq!(
                refusal(method, &[]),
                Some(ErrorKind::MethodNotAllowed),
                "{method}"
            );
        }
        assert_eq!(
            refusal("PUT", &[("expect", "201-maybe")]),
            Some(ErrorKind::ExpectationFailed)
        );
    }

    #[test]
    fn smuggling_shapes_are_refused() {
        let refused = Some(ErrorKind::AmbiguousFraming);
        let both = [("content-length", "5"), ("transfer-encoding", "chunked")];
        assert_eq!(refusal("PUT", &both), refused);
        let twice = [("content-length", "5"), ("content-length", "5")];
        assert_eq!(refusal("PUT", &twice), refused);
        let chunked_twice = [("transfer-encoding", "chunked, Chunked")];
        assert_eq!(refusal("PUT", &chunked_twice), refused);
        let two_headers = [
            ("transfer-encoding", "chunked"),
            ("transfer-encoding", "chunked"),
        ];
        assert_eq!(refusal("PUT", &two_headers), refused);
        assert_eq!(refusal("PUT", &[("content-length", "5")]), None);
        assert_eq!(refusal("PUT", &[("transfer-encoding", "chunked")]), None);
    }

    #[test]
    fn a_configured_token_is_required() {
        let guard = Guard {
            client_auth: ClientAuth {
                allowed_clients: Vec::new(),
                token: Some(crate::client_auth::Token::new("a-long-enough-shared-token").unwrap()),
            },
            ..guard()
        };
        let refused = |headers: &[(&str, &str)]| {
            guard
                .check(&request("GET", headers))
                .err()
                .map(|e| e.kind())
        };
        assert_eq!(refused(&[]), Some(ErrorKind::TokenRequired));
        let token = [("x-proxy-token", "a-long-enough-shared-token")];
        assert_eq!(refused(&token), None);
    }

    #[test]
    fn hosts_lose_their_port_and_case() {
        assert_eq!(host_of("LocalHost:80"), "localhost");
        assert_eq!(host_of("[::1]:7070"), "[::1]");
        assert_eq!(host_of("example"), "example");
    }
}
