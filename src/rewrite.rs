//! Rewriting the client's request into the request for the gateway, and the
//! gateway's response into the response for the client.
//!
//! Towards the gateway: the path and query are the strict forms of
//! [`crate::uri`]; `Host` is the gateway's authority; hop-by-hop headers
//! (RFC 9110 §7.6.1: `Connection` and the headers it names, `Keep-Alive`,
//! `Proxy-Connection`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`) and
//! `Expect` are removed, as is anything that could carry a signature other
//! than the proxy's own (`Authorization`, `X-Amz-Date`,
//! `X-Amz-Security-Token`, `X-Amz-Content-Sha256`), CloudServer's
//! `proxy_path` override, and `X-Forwarded-*` (a client could claim another
//! source address with them). `X-Amz-Decoded-Content-Length` and
//! `X-Amz-Trailer` describe an aws-chunked body, which the proxy never
//! forwards as such. The proxy's own `X-Proxy-Token` is removed too.
//! `Content-Length` is set to the length of the
//! body actually sent.
//!
//! Towards the client: hop-by-hop headers of the gateway's answer are
//! removed; everything else, `Content-Length` included, passes unchanged.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, Version};

use crate::error::{ErrorKind, ProxyError};
use crate::route::Addressing;
use crate::upstream::Upstream;
use crate::uri::{PlusInPath, Query, canonical_path};

/// The longest encoded path and query the proxy signs (16 KiB): S3 keys
/// are at most 1 KiB, and signing libraries fail on URIs near 64 KiB.
const MAX_PATH_AND_QUERY: usize = 16 * 1024;

/// Hop-by-hop headers, removed in both directions.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
];

/// Client headers that must never reach the gateway.
const REMOVED_FROM_CLIENT: [&str; 12] = [
    "host",
    "expect",
    "upgrade",
    "content-length",
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "proxy_path",
    "x-amz-decoded-content-length",
    "x-amz-trailer",
    crate::client_auth::TOKEN_HEADER,
];

/// Where the client's request goes: the strict path and the parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The strictly encoded path.
    pub path: String,
    /// The query, without presign parameters.
    pub query: Query,
}

// === impl Target ===

impl Target {
    /// Reads the path and query of the client's request URI.
    ///
    /// A virtual-host request (`Host: bucket.localhost:7070`) is turned
    /// path-style (`/bucket/key`): the gateway is always addressed by path,
    /// and the bucket is never lost. Internal routes (`/_/`) keep their path.
    pub fn from_client(parts: &Parts, plus: PlusInPath) -> Result<Self, ProxyError> {
        let mut path = canonical_path(parts.uri.path(), plus)?;
        if let Some(bucket) = virtual_host_bucket(parts)
            && !path.starts_with("/_/")
        {
            path = format!("/{bucket}{path}");
        }
        let query = Query::parse(parts.uri.query().unwrap_or(""))?;
        Ok(Self { path, query })
    }

    /// Whether this is an object upload (PutObject or UploadPart), the only
    /// requests S3 servers accept an aws-chunked body for: a PUT to a key,
    /// with no query but `partNumber`, `uploadId` and SDKs' `x-id`. A PUT of
    /// `?versioning`, `?tagging` or any other configuration is not.
    pub fn is_object_upload(&self, method: &Method) -> bool {
        let has_key = self
            .path
            .trim_start_matches('/')
            .split_once('/')
            .is_some_and(|(bucket, key)| !bucket.is_empty() && !key.is_empty());
        let upload_query = self
            .query
            .parameters()
            .iter()
            .all(|p| matches!(p.key.as_str(), "partNumber" | "uploadId" | "x-id"));
        *method == Method::PUT && has_key && upload_query
    }

    /// For a gateway addressed by virtual host: the bucket and the path
    /// after it (`/bucket/key` → `bucket`, `/key`). `None` for the root and
    /// for internal routes (`/_/`), which are never virtual-hosted.
    pub fn virtual_host_split(&self) -> Option<(&str, String)> {
        if self.path.starts_with("/_/") {
            return None;
        }
        let rest = self.path.strip_prefix('/')?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        (!bucket.is_empty()).then(|| (bucket, format!("/{key}")))
    }

    /// The path and query as sent on the wire.
    pub fn path_and_query(&self) -> String {
        with_query(self.path.clone(), &self.query)
    }
}

fn with_query(path: String, query: &Query) -> String {
    let query = query.to_wire();
    if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    }
}

/// The bucket of a virtual-host style request: the first label of a `Host`
/// under `localhost` (`photos.localhost:7070`). Bucket names are lowercase
/// letters, digits, dots and dashes; anything else is not taken as one.
fn virtual_host_bucket(parts: &Parts) -> Option<String> {
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| parts.uri.host())?;
    let host = host.rsplit_once(':').map_or(host, |(name, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            name
        } else {
            host
        }
    });
    let bucket = host
        .to_ascii_lowercase()
        .strip_suffix(".localhost")?
        .to_owned();
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    valid.then_some(bucket)
}

/// The request line and headers for the gateway, before signing.
pub fn upstream_parts(
    client: Parts,
    target: &Target,
    upstream: &Upstream,
    addressing: Addressing,
    body_length: u64,
) -> Result<Parts, ProxyError> {
    let virtual_host = match addressing {
        Addressing::VirtualHost => target.virtual_host_split(),
        Addressing::Path => None,
    };
    let (host, path_and_query) = match virtual_host {
        Some((bucket, path)) => {
            let host = format!("{bucket}.{}", upstream.host_header().to_str().unwrap_or(""));
            let host = HeaderValue::from_str(&host).map_err(|_| {
                ProxyError::new(
                    ErrorKind::InvalidRequest,
                    "the bucket is not a valid host name",
                )
            })?;
            (host, with_query(path, &target.query))
        }
        None => (upstream.host_header().clone(), target.path_and_query()),
    };
    if path_and_query.len() > MAX_PATH_AND_QUERY {
        return Err(ProxyError::new(
            ErrorKind::UriTooLong,
            format!("the path and query are longer than {MAX_PATH_AND_QUERY} bytes once encoded"),
        ));
    }
    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = client.method;
    parts.version = Version::HTTP_11;
    parts.uri = upstream.uri_for(&path_and_query)?;
    parts.headers = forwarded_headers(client.headers);
    merge_duplicate_amz_headers(&mut parts.headers)?;
    parts.headers.insert(header::HOST, host);
    if body_length > 0 || method_has_body(&parts.method) {
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(body_length));
    }
    Ok(parts)
}

/// Joins the values of each repeated `x-amz-*` header into one, so that the
/// wire carries exactly what the string to sign lists.
fn merge_duplicate_amz_headers(headers: &mut HeaderMap) -> Result<(), ProxyError> {
    let repeated: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            name.as_str().starts_with("x-amz-") && headers.get_all(*name).iter().count() > 1
        })
        .cloned()
        .collect();
    for name in repeated {
        let merged = headers
            .get_all(&name)
            .iter()
            .map(|value| {
                value.to_str().map(str::trim).map_err(|_| {
                    ProxyError::new(
                        ErrorKind::InvalidRequest,
                        format!("header '{name}' is not printable ASCII and cannot be signed"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?
            .join(",");
        let merged = HeaderValue::from_str(&merged).expect("joined header values stay valid");
        headers.insert(name, merged);
    }
    Ok(())
}

/// Marks a request whose body goes aws-chunked: `Content-Encoding` starts
/// with `aws-chunked` (the gateway removes it before it stores the object's
/// own encoding), and `x-amz-decoded-content-length` is the object's size.
pub fn mark_aws_chunked(headers: &mut HeaderMap, decoded_length: u64) {
    let encoding = match headers
        .get(header::CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
    {
        Some(existing) => format!("aws-chunked,{existing}"),
        None => "aws-chunked".to_owned(),
    };
    headers.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_str(&encoding).expect("a valid encoding stays valid"),
    );
    headers.insert(
        "x-amz-decoded-content-length",
        HeaderValue::from(decoded_length),
    );
}

/// The gateway's response headers, for the client.
///
/// `x-proxy-error` marks the proxy's own errors: a gateway's is removed, so
/// that a gateway cannot pass for the proxy.
pub fn client_response_headers(headers: &mut HeaderMap) {
    remove_hop_by_hop(headers);
    headers.remove("x-proxy-error");
}

fn forwarded_headers(mut headers: HeaderMap) -> HeaderMap {
    remove_hop_by_hop(&mut headers);
    for name in REMOVED_FROM_CLIENT {
        headers.remove(name);
    }
    let forwarded: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("x-forwarded-") || *name == "forwarded")
        .cloned()
        .collect();
    for name in forwarded {
        headers.remove(name);
    }
    headers
}

/// Removes the hop-by-hop headers and every header that `Connection` names.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

fn method_has_body(method: &Method) -> bool {
    *method == Method::PUT || *method == Method::POST || *method == Method::PATCH
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::builder().method("PUT").uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn rewrite(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let parts = client(uri, headers);
        let target = Target::from_client(&parts, PlusInPath::Space).unwrap();
        let upstream = Upstream::parse("http://127.0.0.1:9000").unwrap();
        upstream_parts(parts, &target, &upstream, Addressing::Path, 5).unwrap()
    }

    #[test]
    fn host_and_uri_point_at_the_gateway() {
        let parts = rewrite("/bucket/a+b?uploads", &[("host", "127.0.0.1:7070")]);
        assert_eq!(
            parts.uri.to_string(),
            "http://127.0.0.1:9000/bucket/a%20b?uploads"
        );
        assert_eq!(parts.headers["host"], "127.0.0.1:9000");
        assert_eq!(parts.headers["content-length"], "5");
    }

    #[test]
    fn absolute_form_requests_keep_only_path_and_query() {
        let parts = rewrite("http://elsewhere.example/bucket/k?acl", &[]);
        assert_eq!(parts.uri.to_string(), "http://127.0.0.1:9000/bucket/k?acl");
    }

    #[test]
    fn incoming_signatures_and_overrides_are_removed() {
        let parts = rewrite(
            "/b/k",
            &[
                ("authorization", "AWS4-HMAC-SHA256 Credential=evil"),
                ("x-amz-date", "20000101T000000Z"),
                ("x-amz-security-token", "stolen"),
                ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
                ("proxy_path", "/other/key"),
                ("x-forwarded-for", "203.0.113.9"),
                ("forwarded", "for=203.0.113.9"),
                ("expect", "100-continue"),
                ("x-amz-meta-kept", "yes"),
            ],
        );
        for removed in [
            "authorization",
            "x-amz-date",
            "x-amz-security-token",
            "x-amz-content-sha256",
            "proxy_path",
            "x-forwarded-for",
            "forwarded",
            "expect",
        ] {
            assert!(!parts.headers.contains_key(removed), "{removed}");
        }
        assert_eq!(parts.headers["x-amz-meta-kept"], "yes");
    }

    #[test]
    fn hop_by_hop_headers_and_those_named_by_connection_are_removed() {
        let parts = rewrite(
            "/b/k",
            &[
                ("connection", "keep-alive, x-custom"),
                ("keep-alive", "timeout=5"),
                ("x-custom", "1"),
                ("transfer-encoding", "chunked"),
                ("te", "trailers"),
                ("x-other", "2"),
            ],
        );
        for removed in [
            "connection",
            "keep-alive",
            "x-custom",
            "transfer-encoding",
            "te",
        ] {
            assert!(!parts.headers.contains_key(removed), "{removed}");
        }
        assert_eq!(parts.headers["x-other"], "2");
    }

    #[test]
    fn get_without_body_has_no_content_length() {
        let parts = client("/b/k", &[]);
        let mut parts = parts;
        parts.method = Method::GET;
        let target = Target::from_client(&parts, PlusInPath::Space).unwrap();
        let upstream = Upstream::parse("http://127.0.0.1:9000").unwrap();
        let parts = upstream_parts(parts, &target, &upstream, Addressing::Path, 0).unwrap();
        assert!(!parts.headers.contains_key("content-length"));
    }

    #[test]
    fn virtual_host_requests_become_path_style() {
        let parts = rewrite(
            "/photos/2024.jpg?acl",
            &[("host", "my-bucket.localhost:7070")],
        );
        assert_eq!(
            parts.uri.to_string(),
            "http://127.0.0.1:9000/my-bucket/photos/2024.jpg?acl"
        );
        let parts = rewrite("/", &[("host", "my-bucket.localhost")]);
        assert_eq!(parts.uri.path(), "/my-bucket/");
        let parts = rewrite(
            "/_/backbeat/api/healthcheck",
            &[("host", "bucket.localhost")],
        );
        assert_eq!(parts.uri.path(), "/_/backbeat/api/healthcheck");
        for host in [
            "localhost:7070",
            "127.0.0.1:7070",
            "Bad_Name.localhost",
            "x.localhost",
        ] {
            let parts = rewrite("/b/k", &[("host", host)]);
            assert_eq!(parts.uri.path(), "/b/k", "{host}");
        }
    }

    #[test]
    fn virtual_host_addressing_moves_the_bucket_into_the_host() {
        let upstream = Upstream::parse("http://zenko.local:8000").unwrap();
        let cases = [
            (
                "/photos/a/b.jpg?acl",
                "photos.zenko.local:8000",
                "/a/b.jpg?acl",
            ),
            ("/photos", "photos.zenko.local:8000", "/"),
            ("/", "zenko.local:8000", "/"),
            ("/_/backbeat/api/x", "zenko.local:8000", "/_/backbeat/api/x"),
        ];
        for (path, host, sent) in cases {
            let parts = client(path, &[]);
            let target = Target::from_client(&parts, PlusInPath::Space).unwrap();
            let parts =
                upstream_parts(parts, &target, &upstream, Addressing::VirtualHost, 0).unwrap();
            assert_eq!(parts.headers["host"], host, "{path}");
            assert_eq!(parts.uri.path_and_query().unwrap().as_str(), sent, "{path}");
            assert_eq!(parts.uri.authority().unwrap().as_str(), "zenko.local:8000");
        }
    }

    #[test]
    fn only_object_uploads_may_stream() {
        let target = |uri: &str| Target::from_client(&client(uri, &[]), PlusInPath::Space).unwrap();
        assert!(target("/b/k").is_object_upload(&Method::PUT));
        assert!(target("/b/dir/k?partNumber=2&uploadId=x").is_object_upload(&Method::PUT));
        assert!(target("/b/k?x-id=PutObject").is_object_upload(&Method::PUT));
        assert!(!target("/b/k").is_object_upload(&Method::POST));
        assert!(!target("/b").is_object_upload(&Method::PUT));
        assert!(!target("/b/").is_object_upload(&Method::PUT));
        assert!(!target("/b?versioning").is_object_upload(&Method::PUT));
        assert!(!target("/b/k?tagging").is_object_upload(&Method::PUT));
    }

    #[test]
    fn duplicate_amz_headers_are_merged_into_one() {
        let parts = rewrite(
            "/b/k",
            &[("x-amz-meta-a", " one "), ("x-amz-meta-a", "two")],
        );
        let values: Vec<_> = parts.headers.get_all("x-amz-meta-a").iter().collect();
        assert_eq!(values, ["one,two"]);
    }

    #[test]
    fn overlong_uris_are_refused_before_signing() {
        let query: Vec<String> = (0..12_000).map(|i| format!("{i:x}")).collect();
        let parts = client(&format!("/b?{}", query.join("&")), &[]);
        let target = Target::from_client(&parts, PlusInPath::Space).unwrap();
        let upstream = Upstream::parse("http://127.0.0.1:9000").unwrap();
        let error = upstream_parts(parts, &target, &upstream, Addressing::Path, 0).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::UriTooLong);
    }

    #[test]
    fn a_gateway_cannot_pass_for_the_proxy() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-proxy-error",
            HeaderValue::from_static("ProxyUpstreamTimeout"),
        );
        client_response_headers(&mut headers);
        assert!(headers.is_empty());
    }
}
