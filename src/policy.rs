//! Access policy per route: what a route lets its clients do with the
//! proxy's credentials.
//!
//! Each route may narrow the methods (`methods`, or `read_only` for GET and
//! HEAD), the buckets (`buckets`) and the keys (`key_prefixes`) it signs
//! for; a copy (`x-amz-copy-source`) must read from an allowed bucket and
//! key too. Zenko's internal APIs (`/_/`, Backbeat among them) are refused
//! unless a route names them by prefix. A refusal is a 403 of the proxy's
//! own, naming the rule that matched (`route[1].read_only`), and is logged
//! with it.
//!
//! What a request names beyond its path is checked too: the source of a
//! copy (`x-amz-copy-source`) must be allowed like the target, and a
//! multi-object delete (`POST ?delete`, whose body names the keys) is
//! refused on a route limited to some keys. `.` and `..` segments are
//! refused on a route limited to some buckets or keys, and wherever they
//! would lead into `/_/`: a gateway that resolves them (s3s-fs does, as a
//! file path) would act outside what the route allows.

use http::{HeaderMap, Method};
use percent_encoding::percent_decode_str;

use crate::error::{ErrorKind, ProxyError};
use crate::rewrite::Target;

/// Where Zenko's internal APIs live: Backbeat, metrics, health checks.
pub const INTERNAL_PREFIX: &str = "/_/";

/// The header naming the source object of CopyObject and UploadPartCopy.
const COPY_SOURCE: &str = "x-amz-copy-source";

/// The query parameters of bucket listings (ListObjects V1 and V2,
/// ListObjectVersions, ListMultipartUploads): on a route with key
/// prefixes, a bucket GET with any other parameter reads the bucket's
/// configuration (`?acl`, `?policy`, …), not keys under a prefix.
const LISTING_PARAMETERS: [&str; 16] = [
    "list-type",
    "prefix",
    "delimiter",
    "marker",
    "max-keys",
    "encoding-type",
    "continuation-token",
    "fetch-owner",
    "start-after",
    "versions",
    "key-marker",
    "version-id-marker",
    "uploads",
    "upload-id-marker",
    "max-uploads",
    "x-id",
];

/// The restrictions of one route; the default allows all the guard allows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    /// The methods allowed; `None` for every method the guard lets through.
    pub methods: Option<Vec<Method>>,
    /// Only GET and HEAD.
    pub read_only: bool,
    /// The buckets allowed, by exact name; `None` for any bucket.
    pub buckets: Option<Vec<String>>,
    /// The key prefixes allowed; `None` for any key.
    pub key_prefixes: Option<Vec<String>>,
}

/// A request as the policy sees it: method, bucket and key, decoded.
struct Access<'a> {
    method: &'a Method,
    internal: bool,
    bucket: Option<String>,
    key: Option<String>,
    list_prefix: Option<&'a str>,
    /// Whether the query holds only listing parameters.
    listing: bool,
    /// A multi-object delete (`?delete`): its body names the keys.
    deletes_many: bool,
    /// Whether the path has a `.` or `..` segment.
    dot_segments: bool,
}

// === impl AccessPolicy ===

impl AccessPolicy {
    /// Refuses the request when a rule of the route `route` (its name in
    /// the config, such as `route[1]` or `default`) forbids it.
    /// `internal_route` tells whether the route was configured for `/_/`.
    pub fn check(
        &self,
        route: &str,
        internal_route: bool,
        method: &Method,
        target: &Target,
        headers: &HeaderMap,
    ) -> Result<(), ProxyError> {
        let access = Access::of(method, target);
        let resolves_internal = resolve_dot_segments(&target.path).starts_with(INTERNAL_PREFIX);
        if (access.internal || resolves_internal) && !internal_route {
            return Err(refuse(
                ErrorKind::InternalApiRefused,
                "internal_apis".to_owned(),
                format!(
                    "{} is one of Zenko's internal APIs; the proxy signs for them only \
                     through a [[route]] whose prefix names them",
                    target.path
                ),
            ));
        }
        self.check_method(route, access.method)?;
        if access.internal {
            if access.dot_segments {
                return Err(refuse(
                    ErrorKind::InternalApiRefused,
                    "internal_apis".to_owned(),
                    "'.' and '..' segments are refused in paths to Zenko's internal APIs",
                ));
            }
            return Ok(());
        }
        if !self.limits_objects() {
            return Ok(());
        }
        self.check_dot_segments(route, &access)?;
        self.check_bucket(route, &access)?;
        self.check_key(route, &access)?;
        self.check_copy_source(route, method, headers)
    }

    /// Whether the policy narrows anything a copy could read through.
    pub fn restricts(&self) -> bool {
        self.methods.is_some() || self.read_only || self.limits_objects()
    }

    /// Whether the route is limited to some buckets or keys.
    fn limits_objects(&self) -> bool {
        self.buckets.is_some() || self.key_prefixes.is_some()
    }

    /// The rule a refusal about buckets or keys names.
    fn object_rule(&self, route: &str) -> String {
        match self.key_prefixes {
            Some(_) => format!("{route}.key_prefixes"),
            None => format!("{route}.buckets"),
        }
    }

    fn check_dot_segments(&self, route: &str, access: &Access<'_>) -> Result<(), ProxyError> {
        if !access.dot_segments {
            return Ok(());
        }
        Err(refuse(
            ErrorKind::KeyForbidden,
            self.object_rule(route),
            "'.' and '..' segments are refused on a route limited to some buckets or keys \
             (a gateway may resolve them to another bucket or key)",
        ))
    }

    /// The source of a copy is read with the proxy's credentials: it must
    /// be allowed as the target is.
    fn check_copy_source(
        &self,
        route: &str,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<(), ProxyError> {
        let mut values = headers.get_all(COPY_SOURCE).iter();
        let Some(value) = values.next() else {
            return Ok(());
        };
        let invalid = || {
            refuse(
                ErrorKind::KeyForbidden,
                self.object_rule(route),
                format!(
                    "{COPY_SOURCE} must name one bucket and key on a route limited to some \
                     buckets or keys"
                ),
            )
        };
        if values.next().is_some() {
            return Err(invalid());
        }
        let raw = value.to_str().map_err(|_| invalid())?;
        // Gateways read the source two ways: decoded, then cut at '?'
        // (CloudServer), or cut at '?', then decoded; both must be allowed.
        let decoded_first = percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| invalid())?;
        let cut_first = raw.split('?').next().unwrap_or("");
        let cut_first = percent_decode_str(cut_first)
            .decode_utf8()
            .map_err(|_| invalid())?;
        let decoded_first = decoded_first.split('?').next().unwrap_or("");
        for source in [decoded_first, &cut_first] {
            let source = source.strip_prefix('/').unwrap_or(source);
            let Some((bucket, key)) = source.split_once('/') else {
                return Err(invalid());
            };
            if bucket.is_empty() || key.is_empty() {
                return Err(invalid());
            }
            let access = Access {
                method,
                internal: false,
                bucket: Some(bucket.to_owned()),
                key: Some(key.to_owned()),
                list_prefix: None,
                listing: false,
                deletes_many: false,
                dot_segments: has_dot_segment(source),
            };
            let named = |error: ProxyError| {
                let message = format!("copy source: {}", error.message());
                let rule = error.rule().unwrap_or_default().to_owned();
                refuse(error.kind(), rule, message)
            };
            self.check_dot_segments(route, &access).map_err(named)?;
            self.check_bucket(route, &access).map_err(named)?;
            self.check_key(route, &access).map_err(named)?;
        }
        Ok(())
    }

    fn check_method(&self, route: &str, method: &Method) -> Result<(), ProxyError> {
        if self.read_only && !matches!(*method, Method::GET | Method::HEAD) {
            return Err(refuse(
                ErrorKind::AccessDenied,
                format!("{route}.read_only"),
                format!("{method} is refused: the route is read-only"),
            ));
        }
        match &self.methods {
            Some(methods) if !methods.contains(method) => Err(refuse(
                ErrorKind::AccessDenied,
                format!("{route}.methods"),
                format!("{method} is not among the route's methods"),
            )),
            _ => Ok(()),
        }
    }

    fn check_bucket(&self, route: &str, access: &Access<'_>) -> Result<(), ProxyError> {
        let Some(buckets) = &self.buckets else {
            return Ok(());
        };
        match &access.bucket {
            Some(bucket) if buckets.contains(bucket) => Ok(()),
            Some(bucket) => Err(refuse(
                ErrorKind::BucketForbidden,
                format!("{route}.buckets"),
                format!("bucket '{bucket}' is not among the route's buckets"),
            )),
            None => Err(refuse(
                ErrorKind::BucketForbidden,
                format!("{route}.buckets"),
                "requests outside a bucket (such as listing buckets) are refused: \
                 the route is limited to some buckets",
            )),
        }
    }

    /// With key prefixes, a request names a key under one of them, or is
    /// a listing (or HEAD) of the bucket whose `prefix` is under one.
    fn check_key(&self, route: &str, access: &Access<'_>) -> Result<(), ProxyError> {
        let Some(prefixes) = &self.key_prefixes else {
            return Ok(());
        };
        let under = |text: &str| prefixes.iter().any(|prefix| text.starts_with(prefix));
        let allowed = match (&access.bucket, &access.key) {
            // The body names the keys, whatever the path says (CloudServer
            // takes `POST /bucket/key?delete` for DeleteObjects too).
            _ if access.deletes_many => false,
            (_, Some(key)) => under(key),
            (Some(_), None) if *access.method == Method::HEAD => true,
            (Some(_), None) => {
                *access.method == Method::GET
                    && access.listing
                    && access.list_prefix.is_some_and(under)
            }
            (None, None) => true,
        };
        if allowed {
            return Ok(());
        }
        let message = match &access.key {
            _ if access.deletes_many => "on this route, multi-object deletes (?delete) are \
                                         refused: their keys are not checked"
                .to_owned(),
            Some(key) => format!("key '{key}' is not under the route's key_prefixes"),
            None => "on this route, a request on the bucket itself is refused, except HEAD \
                     and a listing (list parameters only) with a prefix under the route's \
                     key_prefixes"
                .to_owned(),
        };
        Err(refuse(
            ErrorKind::KeyForbidden,
            format!("{route}.key_prefixes"),
            message,
        ))
    }
}

/// The paths a copy reads, in the strict form routes are matched on: the
/// `x-amz-copy-source` cut at `?` and, where it differs, cut at an encoded
/// `%3F` (a gateway that decodes first cuts there). None without a copy
/// source; a source that is not a path is refused.
pub fn copy_source_paths(
    headers: &HeaderMap,
    plus: crate::uri::PlusInPath,
) -> Result<Vec<String>, ProxyError> {
    let Some(value) = headers.get(COPY_SOURCE) else {
        return Ok(Vec::new());
    };
    let unreadable = || {
        ProxyError::new(
            ErrorKind::InvalidRequest,
            format!("{COPY_SOURCE} is not a bucket and key"),
        )
    };
    let raw = value.to_str().map_err(|_| unreadable())?;
    let raw = raw.strip_prefix('/').unwrap_or(raw);
    let cut = raw.split('?').next().unwrap_or("");
    let encoded_mark = cut.to_ascii_lowercase().find("%3f").unwrap_or(cut.len());
    let mut paths = Vec::new();
    for source in [cut, &cut[..encoded_mark]] {
        let path =
            crate::uri::canonical_path(&format!("/{source}"), plus).map_err(|_| unreadable())?;
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    Ok(paths)
}

fn refuse(kind: ErrorKind, rule: String, message: impl Into<String>) -> ProxyError {
    ProxyError::new(kind, message).with_rule(rule)
}

// === impl Access ===

impl<'a> Access<'a> {
    fn of(method: &'a Method, target: &'a Target) -> Self {
        let internal = target.path.starts_with(INTERNAL_PREFIX);
        // One slash only: `//bucket/key` names an empty bucket to the
        // gateway, not `bucket`.
        let rest = target.path.strip_prefix('/').unwrap_or(&target.path);
        let (bucket, key) = match rest.split_once('/') {
            Some((bucket, key)) => (bucket, Some(key)),
            None => (rest, None),
        };
        let decode = |text: &str| percent_decode_str(text).decode_utf8_lossy().into_owned();
        Self {
            method,
            internal,
            bucket: (!bucket.is_empty()).then(|| decode(bucket)),
            key: key.filter(|key| !key.is_empty()).map(decode),
            list_prefix: target.query.get("prefix"),
            listing: target
                .query
                .parameters()
                .iter()
                .all(|p| LISTING_PARAMETERS.contains(&p.key.as_str())),
            deletes_many: *method == Method::POST && target.query.get("delete").is_some(),
            dot_segments: has_dot_segment(&target.path),
        }
    }
}

/// Whether a path has a `.` or `..` segment.
fn has_dot_segment(path: &str) -> bool {
    path.split('/')
        .any(|segment| segment == "." || segment == "..")
}

/// The path with its `.` and `..` segments resolved (RFC 3986 §5.2.4), as
/// a gateway that resolves them would read it; borrowed when it has none
/// (nearly every request).
pub fn resolve_dot_segments(path: &str) -> std::borrow::Cow<'_, str> {
    if !has_dot_segment(path) {
        return std::borrow::Cow::Borrowed(path);
    }
    let mut kept: Vec<&str> = Vec::new();
    for segment in path.split('/').skip(1) {
        match segment {
            "." => {}
            ".." => {
                kept.pop();
            }
            other => kept.push(other),
        }
    }
    std::borrow::Cow::Owned(format!("/{}", kept.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uri::PlusInPath;

    fn target(uri: &str) -> Target {
        let request = http::Request::builder().uri(uri).body(()).unwrap();
        Target::from_client(&request.into_parts().0, PlusInPath::Space).unwrap()
    }

    fn refusal(policy: &AccessPolicy, method: &str, uri: &str) -> Option<(ErrorKind, String)> {
        refusal_with(policy, method, uri, &[])
    }

    fn refusal_with(
        policy: &AccessPolicy,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
    ) -> Option<(ErrorKind, String)> {
        let method: Method = method.parse().unwrap();
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        policy
            .check("route[0]", false, &method, &target(uri), &map)
            .err()
            .map(|error| (error.kind(), error.rule().unwrap_or_default().to_owned()))
    }

    #[test]
    fn an_open_route_allows_everything_but_internal_apis() {
        let open = AccessPolicy::default();
        assert_eq!(refusal(&open, "DELETE", "/photos/a.jpg"), None);
        assert_eq!(refusal(&open, "GET", "/"), None);
        let refused = refusal(&open, "GET", "/_/backbeat/api/metrics/crr/all");
        assert_eq!(
            refused,
            Some((ErrorKind::InternalApiRefused, "internal_apis".into()))
        );
        let method = Method::GET;
        let backbeat = target("/_/backbeat/api/metrics/crr/all");
        let headers = HeaderMap::new();
        assert!(
            open.check("route[0]", true, &method, &backbeat, &headers)
                .is_ok()
        );
    }

    #[test]
    fn read_only_and_methods_narrow_what_is_signed() {
        let read_only = AccessPolicy {
            read_only: true,
            ..AccessPolicy::default()
        };
        assert_eq!(refusal(&read_only, "GET", "/photos/a.jpg"), None);
        assert_eq!(refusal(&read_only, "HEAD", "/photos/a.jpg"), None);
        for method in ["PUT", "POST", "DELETE"] {
            assert_eq!(
                refusal(&read_only, method, "/photos/a.jpg"),
                Some((ErrorKind::AccessDenied, "route[0].read_only".into()))
            );
        }
        let no_delete = AccessPolicy {
            methods: Some(vec![Method::GET, Method::PUT]),
            ..AccessPolicy::default()
        };
        assert_eq!(refusal(&no_delete, "PUT", "/photos/a.jpg"), None);
        assert_eq!(
            refusal(&no_delete, "DELETE", "/photos/a.jpg"),
            Some((ErrorKind::AccessDenied, "route[0].methods".into()))
        );
    }

    #[test]
    fn buckets_are_matched_exactly_after_decoding() {
        let photos = AccessPolicy {
            buckets: Some(vec!["photos".into()]),
            ..AccessPolicy::default()
        };
        assert_eq!(refusal(&photos, "GET", "/photos/a.jpg"), None);
        assert_eq!(refusal(&photos, "GET", "/photos?list-type=2"), None);
        assert_eq!(refusal(&photos, "GET", "/%70hotos/a.jpg"), None);
        for uri in ["/photos2/a.jpg", "/photo/a", "/", "/Photos/a"] {
            let refused = refusal(&photos, "GET", uri).map(|(kind, _)| kind);
            assert_eq!(refused, Some(ErrorKind::BucketForbidden), "{uri}");
        }
    }

    #[test]
    fn key_prefixes_limit_objects_and_listings() {
        let reports = AccessPolicy {
            key_prefixes: Some(vec!["reports/".into()]),
            ..AccessPolicy::default()
        };
        assert_eq!(refusal(&reports, "PUT", "/b/reports/2026/q4.csv"), None);
        assert_eq!(refusal(&reports, "GET", "/b/reports%2Fq4.csv"), None);
        assert_eq!(
            refusal(&reports, "GET", "/b?list-type=2&prefix=reports/"),
            None
        );
        assert_eq!(refusal(&reports, "HEAD", "/b"), None);
        for (method, uri) in [
            ("GET", "/b/other/q4.csv"),
            ("GET", "/b/reports"),
            ("GET", "/b?list-type=2"),
            ("GET", "/b?list-type=2&prefix=rep"),
            ("DELETE", "/b"),
            ("PUT", "/b?versioning"),
        ] {
            let refused = refusal(&reports, method, uri);
            assert_eq!(
                refused,
                Some((ErrorKind::KeyForbidden, "route[0].key_prefixes".into())),
                "{method} {uri}"
            );
        }
    }

    fn limited() -> AccessPolicy {
        AccessPolicy {
            buckets: Some(vec!["photos".into()]),
            key_prefixes: Some(vec!["reports/".into()]),
            ..AccessPolicy::default()
        }
    }

    #[test]
    fn dot_segments_never_lead_outside_the_route() {
        let limited = limited();
        for uri in [
            "/photos/reports/../private/p.txt",
            "/photos/reports/../../secret/s.txt",
            "/photos/reports/%2E%2E/%2E%2E/secret/s.txt",
            "/photos/reports%2F..%2F..%2Fsecret%2Fs.txt",
            "/photos/reports/./r.txt",
        ] {
            for method in ["GET", "PUT", "DELETE"] {
                let refused = refusal(&limited, method, uri);
                assert_eq!(
                    refused,
                    Some((ErrorKind::KeyForbidden, "route[0].key_prefixes".into())),
                    "{method} {uri}"
                );
            }
        }
        assert_eq!(refusal(&limited, "GET", "/photos/reports/a..b/..c"), None);
        // Into /_/ from any route, and out of an internal route.
        let open = AccessPolicy::default();
        assert_eq!(refusal(&open, "GET", "/photos/a/../b"), None);
        for uri in ["/photos/../_/backbeat/api/x", "/x/%2E%2E/_/metadata/y"] {
            let refused = refusal(&open, "GET", uri).map(|(kind, _)| kind);
            assert_eq!(refused, Some(ErrorKind::InternalApiRefused), "{uri}");
        }
        let escape = target("/_/backbeat/api/../../metadata/x");
        let refused = open.check("route[0]", true, &Method::GET, &escape, &HeaderMap::new());
        assert_eq!(
            refused.err().map(|e| e.kind()),
            Some(ErrorKind::InternalApiRefused)
        );
    }

    #[test]
    fn a_leading_double_slash_names_no_bucket() {
        let photos = AccessPolicy {
            buckets: Some(vec!["photos".into()]),
            ..AccessPolicy::default()
        };
        let refused = refusal(&photos, "GET", "//photos/a.jpg").map(|(kind, _)| kind);
        assert_eq!(refused, Some(ErrorKind::BucketForbidden));
    }

    #[test]
    fn copy_sources_are_held_to_the_route_too() {
        let limited = limited();
        let copy = |source: &str| {
            refusal_with(
                &limited,
                "PUT",
                "/photos/reports/copy.txt",
                &[("x-amz-copy-source", source)],
            )
            .map(|(kind, _)| kind)
        };
        assert_eq!(copy("/photos/reports/r.txt"), None);
        assert_eq!(copy("photos/reports/r.txt?versionId=3"), None);
        assert_eq!(copy("photos%2Freports%2Fr.txt"), None);
        for (source, kind) in [
            ("/secret/s.txt", ErrorKind::BucketForbidden),
            ("photos/private/p.txt", ErrorKind::KeyForbidden),
            ("photos/reports/../private/p.txt", ErrorKind::KeyForbidden),
            ("photos/reports%3F/../../x", ErrorKind::KeyForbidden),
            ("%2Fsecret%2Fs.txt", ErrorKind::BucketForbidden),
            ("//photos/reports/r.txt", ErrorKind::KeyForbidden),
            ("photos", ErrorKind::KeyForbidden),
            (
                "arn:aws:s3:us-east-1:1:accesspoint/ap/object/k",
                ErrorKind::BucketForbidden,
            ),
        ] {
            assert_eq!(copy(source), Some(kind), "{source}");
        }
        // UploadPartCopy names its source the same way.
        let part = refusal_with(
            &limited,
            "PUT",
            "/photos/reports/big?partNumber=1&uploadId=u",
            &[("x-amz-copy-source", "secret/s.txt")],
        );
        assert_eq!(part.map(|(kind, _)| kind), Some(ErrorKind::BucketForbidden));
        // An open route copies anything.
        let open = AccessPolicy::default();
        let any = [("x-amz-copy-source", "secret/s.txt")];
        assert_eq!(refusal_with(&open, "PUT", "/photos/x", &any), None);
    }

    #[test]
    fn multi_object_deletes_and_bucket_configuration_need_an_open_route() {
        let limited = limited();
        for uri in [
            "/photos?delete",
            "/photos/reports/x?delete",
            "/photos/reports/?delete",
        ] {
            assert_eq!(
                refusal(&limited, "POST", uri).map(|(kind, _)| kind),
                Some(ErrorKind::KeyForbidden),
                "{uri}"
            );
        }
        for uri in [
            "/photos?acl&prefix=reports/",
            "/photos?policy&prefix=reports/",
            "/photos?location&prefix=reports/",
        ] {
            assert_eq!(
                refusal(&limited, "GET", uri).map(|(kind, _)| kind),
                Some(ErrorKind::KeyForbidden),
                "{uri}"
            );
        }
        for uri in [
            "/photos?list-type=2&prefix=reports/&delimiter=/&max-keys=5",
            "/photos?versions&prefix=reports/",
            "/photos?uploads&prefix=reports/",
            "/photos?prefix=reports/&marker=reports/a",
        ] {
            assert_eq!(refusal(&limited, "GET", uri), None, "{uri}");
        }
        let photos = AccessPolicy {
            buckets: Some(vec!["photos".into()]),
            ..AccessPolicy::default()
        };
        assert_eq!(refusal(&photos, "POST", "/photos?delete"), None);
    }
}
