//! The V2 resource and string to sign on any input:
//! `sign::v2::canonical_resource` and `sign::v2::string_to_sign`.
//!
//! Input: one byte of flags (bit 0: a bucket taken from the `Host`), then
//! text lines, invalid UTF-8 replaced:
//!
//! ```text
//! path?query
//! bucket
//! METHOD
//! name: value        (any number of header lines)
//! ```
//!
//! Properties: nothing panics; the same input gives the same output; the
//! resource starts with `/` whenever the path does or a bucket is prefixed,
//! and it is the (prefixed) path followed by nothing or by `?`; the string
//! to sign starts with the method's line and ends with the resource.

#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use zenko_signing_proxy::sign::v2::{canonical_resource, string_to_sign};
use zenko_signing_proxy::uri::{PlusInPath, Query, canonical_path};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut lines = text.split('\n');
    let target = lines.next().unwrap_or_default();
    let bucket = lines.next().filter(|_| flags & 1 == 1);
    let method = lines.next().unwrap_or("GET");
    let headers = headers(lines);

    let (path, raw_query) = target.split_once('?').unwrap_or((target, ""));
    let query = Query::parse(raw_query).unwrap_or_default();
    check(path, &query, bucket, method, &headers);
    // The signer only ever sees paths that the rewrite made canonical.
    if let Ok(canonical) = canonical_path(path, PlusInPath::Space) {
        let resource = check(&canonical, &query, bucket, method, &headers);
        assert!(resource.starts_with('/'), "{canonical:?} -> {resource:?}");
    }
});

fn check(
    path: &str,
    query: &Query,
    bucket: Option<&str>,
    method: &str,
    headers: &HeaderMap,
) -> String {
    let resource = canonical_resource(path, query, bucket);
    assert_eq!(resource, canonical_resource(path, query, bucket));

    let prefixed = match bucket {
        Some(bucket) if !path.starts_with("/_/") => format!("/{bucket}{path}"),
        _ => path.to_owned(),
    };
    if prefixed.starts_with('/') {
        assert!(resource.starts_with('/'), "{path:?} -> {resource:?}");
    }
    let tail = resource
        .strip_prefix(prefixed.as_str())
        .unwrap_or_else(|| panic!("{resource:?} does not start with {prefixed:?}"));
    assert!(tail.is_empty() || tail.starts_with('?'), "{resource:?}");

    if let Ok(text) = string_to_sign(method, headers, &resource) {
        let again = string_to_sign(method, headers, &resource).ok();
        assert_eq!(again.as_ref(), Some(&text));
        assert!(text.starts_with(&format!("{method}\n")), "{text:?}");
        assert!(text.ends_with(&resource), "{text:?}");
    }
    resource
}

fn headers<'a>(lines: impl Iterator<Item = &'a str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    headers
}
