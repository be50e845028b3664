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

use http::{HeaderMap, Method};
use percent_encoding::percent_decode_str;

use crate::error::{ErrorKind, ProxyError};
use crate::rewrite::Target;

/// Where Zenko's internal APIs live: Backbeat, metrics, health checks.
pub const INTERNAL_PREFIX: &str = "/_/";

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
        if access.internal && !internal_route {
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
            return Ok(());
        }
        self.check_bucket(route, &access)?;
        self.check_key(route, &access)?;
        match copy_source(headers) {
            Some(source) => {
                let access = Access::copied_from(&source);
                self.check_bucket(route, &access)?;
                self.check_key(route, &access)
            }
            None => Ok(()),
        }
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
            (_, Some(key)) => under(key),
            (Some(_), None) if *access.method == Method::HEAD => true,
            (Some(_), None) => {
                *access.method == Method::GET && access.list_prefix.is_some_and(under)
            }
            (None, None) => true,
        };
        if allowed {
            return Ok(());
        }
        let message = match &access.key {
            Some(key) => format!("key '{key}' is not under the route's key_prefixes"),
            None => "on this route, a bucket may only be listed with a prefix under the \
                     route's key_prefixes"
                .to_owned(),
        };
        Err(refuse(
            ErrorKind::KeyForbidden,
            format!("{route}.key_prefixes"),
            message,
        ))
    }
}

fn refuse(kind: ErrorKind, rule: String, message: impl Into<String>) -> ProxyError {
    ProxyError::new(kind, message).with_rule(rule)
}

/// The `x-amz-copy-source` of a copy (`bucket/key` or `/bucket/key`,
/// percent-encoded, maybe `?versionId=`), decoded.
fn copy_source(headers: &HeaderMap) -> Option<String> {
    let mut values = headers.get_all("x-amz-copy-source").iter();
    let value = values.next()?;
    if values.next().is_some() {
        // Two sources: none is taken, so no restricted policy allows it.
        return Some(String::new());
    }
    let text = String::from_utf8_lossy(value.as_bytes());
    let text = text.split_once('?').map_or(&*text, |(path, _)| path);
    Some(percent_decode_str(text).decode_utf8_lossy().into_owned())
}

// === impl Access ===

impl<'a> Access<'a> {
    /// The read side of a copy: its bucket and key, as a GET of the key.
    fn copied_from(source: &str) -> Access<'static> {
        let source = source.strip_prefix('/').unwrap_or(source);
        let (bucket, key) = source.split_once('/').unwrap_or((source, ""));
        Access {
            method: &Method::GET,
            internal: false,
            bucket: Some(bucket.to_owned()),
            key: Some(key.to_owned()),
            list_prefix: None,
        }
    }

    fn of(method: &'a Method, target: &'a Target) -> Self {
        let internal = target.path.starts_with(INTERNAL_PREFIX);
        let rest = target.path.trim_start_matches('/');
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
        }
    }
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
        let method: Method = method.parse().unwrap();
        policy
            .check("route[0]", false, &method, &target(uri), &HeaderMap::new())
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
    fn a_copy_reads_only_from_allowed_buckets_and_keys() {
        let policy = AccessPolicy {
            buckets: Some(vec!["photos".into()]),
            key_prefixes: Some(vec!["public/".into()]),
            ..AccessPolicy::default()
        };
        let method = Method::PUT;
        let to = target("/photos/public/copy.jpg");
        let refused = |source: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("x-amz-copy-source", source.parse().unwrap());
            policy
                .check("route[0]", false, &method, &to, &headers)
                .err()
                .map(|error| error.kind())
        };
        assert_eq!(refused("/photos/public/a.jpg"), None);
        assert_eq!(refused("photos/public/a%20b.jpg?versionId=3"), None);
        assert_eq!(
            refused("/secrets/public/a.jpg"),
            Some(ErrorKind::BucketForbidden)
        );
        assert_eq!(
            refused("%2Fsecrets%2Fkey"),
            Some(ErrorKind::BucketForbidden)
        );
        assert_eq!(
            refused("/photos/private/a.jpg"),
            Some(ErrorKind::KeyForbidden)
        );
        assert_eq!(refused("/photos"), Some(ErrorKind::KeyForbidden));
        let mut two = HeaderMap::new();
        two.append("x-amz-copy-source", "/photos/public/a".parse().unwrap());
        two.append("x-amz-copy-source", "/secrets/b".parse().unwrap());
        let refusal = policy.check("route[0]", false, &method, &to, &two);
        assert_eq!(
            refusal.err().map(|e| e.kind()),
            Some(ErrorKind::BucketForbidden)
        );
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
}
