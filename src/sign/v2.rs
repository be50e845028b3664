//! AWS Signature Version 2 (HMAC-SHA1) in the `Authorization` header, as
//! Zenko's CloudServer rebuilds it. Written by hand: no maintained crate
//! implements the legacy scheme, and Zenko's variant differs from AWS's on
//! the points below.
//!
//! The string to sign, one element per line:
//!
//! ```text
//! VERB \n
//! Content-MD5 \n          (empty line when absent)
//! Content-Type \n         (empty line when absent)
//! Date \n                 (the proxy's own RFC 1123 date)
//! x-amz-a:value \n        (every x-amz-* header: lowercase names, sorted,
//! x-amz-b:value \n         values trimmed, duplicates merged with ',')
//! /path?subresources      (the canonicalised resource)
//! ```
//!
//! Zenko's rules that differ from AWS's or s3s's:
//!
//! - Only one date: the proxy sends `Date` and never `x-amz-date` (CloudServer
//!   uses `Date` in the date line even when `x-amz-date` is present, AWS then
//!   uses an empty line).
//! - Duplicate `x-amz-*` headers are merged on the wire into one header
//!   (by [`crate::rewrite`]), so the gateway signs what the proxy signed.
//! - The resource is the path exactly as sent, then the subresources of
//!   Zenko's list, sorted, with decoded values (`?partNumber=1&uploadId=a+b`),
//!   then the response overrides, in a fixed order, after them. Other query
//!   words (`prefix`, `list-type`) are left out. A bucket taken from a
//!   virtual-host `Host` is prefixed as `/bucket`, except on `/_/` routes.
//!
//! See <https://docs.aws.amazon.com/AmazonS3/latest/userguide/RESTAuthentication.html>.
//!
//! Presigned URLs sign the same string with `Expires` in the date line
//! ([`V2Signer::presign`]).

use std::time::SystemTime;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use http::header::{AUTHORIZATION, CONTENT_TYPE, DATE, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use sha1::Sha1;

use crate::credentials::Credentials;
use crate::error::{ErrorKind, ProxyError};
use crate::uri::Query;

/// Query words CloudServer includes in the resource, sorted.
const SUBRESOURCES: [&str; 19] = [
    "acl",
    "cors",
    "delete",
    "lifecycle",
    "location",
    "logging",
    "notification",
    "partNumber",
    "policy",
    "replication",
    "requestPayment",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// Response overrides, appended after the subresources in this order, and
/// only when they have a value.
const RESPONSE_OVERRIDES: [&str; 6] = [
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
];

/// Signs requests with V2 for one set of credentials.
pub struct V2Signer {
    credentials: Credentials,
}

// === impl V2Signer ===

impl V2Signer {
    /// A signer for `credentials`.
    pub fn new(credentials: &Credentials) -> Self {
        Self {
            credentials: credentials.clone(),
        }
    }

    /// Signs the request in `parts`, whose path, query and headers are final:
    /// sets `Date` (and the session token), and adds `Authorization`.
    ///
    /// `bucket_from_host` is the bucket when the gateway is addressed by
    /// virtual host: the resource then starts with `/bucket`.
    pub fn sign(
        &self,
        parts: &mut Parts,
        query: &Query,
        bucket_from_host: Option<&str>,
        time: SystemTime,
    ) -> Result<(), ProxyError> {
        refuse_amz_query_words(query)?;
        parts.headers.remove("x-amz-date");
        let date = HeaderValue::from_str(&httpdate::fmt_http_date(time))
            .expect("an HTTP date is a valid header value");
        parts.headers.insert(DATE, date);
        if let Some(token) = self.credentials.session_token() {
            let mut token = HeaderValue::from_str(token).map_err(|_| {
                ProxyError::new(
                    ErrorKind::SigningFailed,
                    "the session token is not a valid header",
                )
            })?;
            token.set_sensitive(true);
            parts.headers.insert("x-amz-security-token", token);
        }

        let resource = canonical_resource(parts.uri.path(), query, bucket_from_host);
        let string_to_sign = string_to_sign(parts.method.as_str(), &parts.headers, &resource)?;
        tracing::trace!(%string_to_sign, "v2 string to sign");
        let mut authorization = HeaderValue::from_str(&format!(
            "AWS {}:{}",
            self.credentials.access_key_id(),
            self.signature(&string_to_sign)
        ))
        .map_err(|_| ProxyError::new(ErrorKind::SigningFailed, "the access key id is not valid"))?;
        authorization.set_sensitive(true);
        parts.headers.insert(AUTHORIZATION, authorization);
        Ok(())
    }

    /// The query parameters that presign `parts` (final URI) until
    /// `expires_at` (seconds since the epoch): `AWSAccessKeyId`, `Expires`,
    /// `Signature`, and the session token when there is one. The string to
    /// sign carries `Expires` where a header signature carries `Date`.
    pub fn presign(
        &self,
        parts: &Parts,
        query: &Query,
        expires_at: u64,
    ) -> Result<Vec<(String, String)>, ProxyError> {
        refuse_amz_query_words(query)?;
        let mut headers = parts.headers.clone();
        headers.remove(DATE);
        headers.insert(DATE, HeaderValue::from(expires_at));
        if let Some(token) = self.credentials.session_token() {
            let token = HeaderValue::from_str(token).map_err(|_| {
                ProxyError::new(
                    ErrorKind::SigningFailed,
                    "the session token is not a valid header",
                )
            })?;
            headers.insert("x-amz-security-token", token);
        }
        let resource = canonical_resource(parts.uri.path(), query, None);
        let string_to_sign = string_to_sign(parts.method.as_str(), &headers, &resource)?;
        let mut params = vec![
            (
                "AWSAccessKeyId".to_owned(),
                self.credentials.access_key_id().to_owned(),
            ),
            ("Expires".to_owned(), expires_at.to_string()),
            ("Signature".to_owned(), self.signature(&string_to_sign)),
        ];
        if let Some(token) = self.credentials.session_token() {
            params.push(("x-amz-security-token".to_owned(), token.to_owned()));
        }
        Ok(params)
    }

    /// The base64 HMAC-SHA1 of `string_to_sign` under the secret key.
    pub fn signature(&self, string_to_sign: &str) -> String {
        let mut mac = Hmac::<Sha1>::new_from_slice(self.credentials.secret_access_key().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(string_to_sign.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }
}

/// The V2 string to sign of a request with these headers and resource.
pub fn string_to_sign(
    method: &str,
    headers: &HeaderMap,
    resource: &str,
) -> Result<String, ProxyError> {
    let line = |name: &HeaderName| -> Result<String, ProxyError> {
        headers
            .get(name)
            .map(|value| header_text(name.as_str(), value))
            .transpose()
            .map(Option::unwrap_or_default)
    };
    let mut text = format!(
        "{method}\n{}\n{}\n{}\n",
        line(&HeaderName::from_static("content-md5"))?,
        line(&CONTENT_TYPE)?,
        line(&DATE)?,
    );
    text.push_str(&canonical_amz_headers(headers)?);
    text.push_str(resource);
    Ok(text)
}

/// The `x-amz-*` lines of the string to sign: lowercase names (as `http`
/// keeps them), sorted, values trimmed, duplicates joined with `,`.
fn canonical_amz_headers(headers: &HeaderMap) -> Result<String, ProxyError> {
    let mut names: Vec<&HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("x-amz-"))
        .collect();
    names.sort_by_key(|name| name.as_str());
    let mut lines = String::new();
    for name in names {
        let values = headers
            .get_all(name)
            .iter()
            .map(|value| header_text(name.as_str(), value))
            .collect::<Result<Vec<_>, _>>()?;
        lines.push_str(&format!("{}:{}\n", name.as_str(), values.join(",")));
    }
    Ok(lines)
}

/// The canonicalised resource: `path` as sent (prefixed by `/bucket` for a
/// bucket taken from the `Host`, except on `/_/` routes), then the
/// subresources and the response overrides.
pub fn canonical_resource(path: &str, query: &Query, bucket_from_host: Option<&str>) -> String {
    let mut resource = String::new();
    if let Some(bucket) = bucket_from_host
        && !path.starts_with("/_/")
    {
        resource.push('/');
        resource.push_str(bucket);
    }
    resource.push_str(path);

    let mut separator = '?';
    let mut append = |key: &str, value: &str| {
        resource.push(separator);
        resource.push_str(key);
        if !value.is_empty() {
            resource.push('=');
            resource.push_str(value);
        }
        separator = '&';
    };
    for key in SUBRESOURCES {
        if let Some(value) = query.get(key) {
            append(key, value);
        }
    }
    for key in RESPONSE_OVERRIDES {
        if let Some(value) = query.get(key).filter(|value| !value.is_empty()) {
            append(key, value);
        }
    }
    resource
}

/// CloudServer merges `x-amz-*` query words into the signed headers, which
/// AWS and s3s do not: a request with one cannot be signed for both.
fn refuse_amz_query_words(query: &Query) -> Result<(), ProxyError> {
    match query
        .parameters()
        .iter()
        .find(|parameter| parameter.key.to_ascii_lowercase().starts_with("x-amz-"))
    {
        Some(parameter) => Err(ProxyError::new(
            ErrorKind::InvalidRequest,
            format!(
                "query parameter '{}' cannot be signed with V2; send it as a header",
                parameter.key
            ),
        )),
        None => Ok(()),
    }
}

fn header_text(name: &str, value: &HeaderValue) -> Result<String, ProxyError> {
    value
        .to_str()
        .map(|text| text.trim().to_owned())
        .map_err(|_| {
            ProxyError::new(
                ErrorKind::InvalidRequest,
                format!("header '{name}' is not printable ASCII and cannot be signed"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example key of the AWS documentation.
    fn example_signer() -> V2Signer {
        V2Signer::new(&Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            None,
        ))
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    /// One of the `johnsmith` examples of the AWS documentation: the string
    /// to sign the proxy builds, and its signature.
    fn check_example(
        method: &str,
        pairs: &[(&str, &str)],
        resource: &str,
        expected_string: &str,
        expected_signature: &str,
    ) {
        let text = string_to_sign(method, &headers(pairs), resource).unwrap();
        assert_eq!(text, expected_string);
        assert_eq!(example_signer().signature(&text), expected_signature);
    }

    fn resource(path: &str, query: &str, bucket: Option<&str>) -> String {
        canonical_resource(path, &Query::parse(query).unwrap(), bucket)
    }

    #[test]
    fn aws_example_object_get() {
        let date = ("date", "Tue, 27 Mar 2007 19:36:42 +0000");
        let resource = resource("/photos/puppy.jpg", "", Some("johnsmith"));
        check_example(
            "GET",
            &[date],
            &resource,
            "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg",
            "bWq2s1WEIj+Ydj0vQ697zp+IXMU=",
        );
    }

    #[test]
    fn aws_example_object_put() {
        let pairs = [
            ("content-type", "image/jpeg"),
            ("content-length", "94328"),
            ("date", "Tue, 27 Mar 2007 21:15:45 +0000"),
        ];
        let resource = resource("/photos/puppy.jpg", "", Some("johnsmith"));
        check_example(
            "PUT",
            &pairs,
            &resource,
            "PUT\n\nimage/jpeg\nTue, 27 Mar 2007 21:15:45 +0000\n/johnsmith/photos/puppy.jpg",
            "MyyxeRY7whkBe+bq8fHCL/2kKUg=",
        );
    }

    #[test]
    fn aws_example_list_leaves_plain_query_words_out() {
        let pairs = [
            ("user-agent", "Mozilla/5.0"),
            ("date", "Tue, 27 Mar 2007 19:42:41 +0000"),
        ];
        let resource = resource(
            "/",
            "prefix=photos&max-keys=50&marker=puppy",
            Some("johnsmith"),
        );
        check_example(
            "GET",
            &pairs,
            &resource,
            "GET\n\n\nTue, 27 Mar 2007 19:42:41 +0000\n/johnsmith/",
            "htDYFYduRNen8P9ZfE/s9SuKy0U=",
        );
    }

    #[test]
    fn aws_example_fetch_acl() {
        let date = ("date", "Tue, 27 Mar 2007 19:44:46 +0000");
        let resource = resource("/", "acl", Some("johnsmith"));
        check_example(
            "GET",
            &[date],
            &resource,
            "GET\n\n\nTue, 27 Mar 2007 19:44:46 +0000\n/johnsmith/?acl",
            "c2WLPFtWHVgbEmeEG93a4cG37dM=",
        );
    }

    #[test]
    fn aws_example_upload_with_merged_metadata() {
        let pairs = [
            ("date", "Tue, 27 Mar 2007 21:06:08 +0000"),
            ("x-amz-acl", "public-read"),
            ("content-type", "application/x-download"),
            ("content-md5", "4gJE4saaMU4BqNR0kLY+lw=="),
            ("x-amz-meta-reviewedby", "joe@johnsmith.net"),
            ("x-amz-meta-reviewedby", "jane@johnsmith.net"),
            ("x-amz-meta-filechecksum", "0x02661779"),
            ("x-amz-meta-checksumalgorithm", "crc32"),
            ("content-disposition", "attachment; filename=database.dat"),
            ("content-encoding", "gzip"),
        ];
        let resource = resource("/db-backup.dat.gz", "", Some("static.johnsmith.net"));
        check_example(
            "PUT",
            &pairs,
            &resource,
            "PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\n\
             Tue, 27 Mar 2007 21:06:08 +0000\n\
             x-amz-acl:public-read\n\
             x-amz-meta-checksumalgorithm:crc32\n\
             x-amz-meta-filechecksum:0x02661779\n\
             x-amz-meta-reviewedby:joe@johnsmith.net,jane@johnsmith.net\n\
             /static.johnsmith.net/db-backup.dat.gz",
            "ilyl83RwaSoYIEdixDQcA4OnAnc=",
        );
    }

    #[test]
    fn aws_example_list_all_buckets() {
        let date = ("date", "Wed, 28 Mar 2007 01:29:59 +0000");
        check_example(
            "GET",
            &[date],
            &resource("/", "", None),
            "GET\n\n\nWed, 28 Mar 2007 01:29:59 +0000\n/",
            "qGdzdERIC03wnaRNKh6OqZehG9s=",
        );
    }

    #[test]
    fn aws_example_unicode_keys_use_the_path_as_sent() {
        let date = ("date", "Wed, 28 Mar 2007 01:49:49 +0000");
        let path = "/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re";
        check_example(
            "GET",
            &[date],
            &resource(path, "", None),
            &format!("GET\n\n\nWed, 28 Mar 2007 01:49:49 +0000\n{path}"),
            "DNEZGsoieTZ92F3bUfSPQcbGmlM=",
        );
    }

    #[test]
    fn subresources_are_sorted_with_decoded_values() {
        let resource = resource("/b/k", "uploadId=a%2Bb%2Fc%3D&partNumber=2&prefix=x", None);
        assert_eq!(resource, "/b/k?partNumber=2&uploadId=a+b/c=");
    }

    #[test]
    fn response_overrides_come_after_subresources_in_fixed_order() {
        let resource = resource(
            "/b/k",
            "response-expires=e&response-content-type=text%2Fplain&versionId=3\
             &response-cache-control=&acl",
            None,
        );
        assert_eq!(
            resource,
            "/b/k?acl&versionId=3&response-content-type=text/plain&response-expires=e"
        );
    }

    #[test]
    fn other_query_words_are_left_out() {
        let resource = resource(
            "/b",
            "list-type=2&prefix=a&operation=x&encryption&object-lock",
            None,
        );
        assert_eq!(resource, "/b");
    }

    #[test]
    fn internal_routes_never_get_a_bucket_prefix() {
        let path = "/_/backbeat/api/metrics/crr/all";
        assert_eq!(resource(path, "", Some("bucket")), path);
        assert_eq!(resource("/key", "", Some("bucket")), "/bucket/key");
    }

    fn signed(pairs: &[(&str, &str)], uri: &str, credentials: Credentials) -> Parts {
        let mut builder = http::Request::builder().method("PUT").uri(uri);
        for (name, value) in pairs {
            builder = builder.header(*name, *value);
        }
        let mut parts = builder.body(()).unwrap().into_parts().0;
        let query = Query::parse(parts.uri.query().unwrap_or("")).unwrap();
        let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_175_024_202);
        V2Signer::new(&credentials)
            .sign(&mut parts, &query, None, time)
            .unwrap();
        parts
    }

    #[test]
    fn signing_sends_one_date_in_rfc_1123_form() {
        let credentials = Credentials::new("AKID", "secret", None);
        let parts = signed(
            &[("x-amz-date", "old")],
            "http://127.0.0.1:9000/b/k",
            credentials,
        );
        assert_eq!(parts.headers["date"], "Tue, 27 Mar 2007 19:36:42 GMT");
        assert!(!parts.headers.contains_key("x-amz-date"));
        let authorization = parts.headers["authorization"].to_str().unwrap();
        assert!(authorization.starts_with("AWS AKID:"), "{authorization}");
    }

    #[test]
    fn session_token_is_sent_as_a_signed_amz_header() {
        let credentials = Credentials::new("AKID", "secret", Some("tok".into()));
        let with_token = signed(&[], "http://127.0.0.1:9000/b/k", credentials);
        assert_eq!(with_token.headers["x-amz-security-token"], "tok");
        let text = string_to_sign("PUT", &with_token.headers, "/b/k").unwrap();
        assert!(text.contains("\nx-amz-security-token:tok\n"), "{text}");
    }

    #[test]
    fn aws_example_presigned_get() {
        let parts = http::Request::get("http://johnsmith.s3.amazonaws.com/photos/puppy.jpg")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let mut parts = parts;
        // The AWS example signs the virtual-host resource /johnsmith/...;
        // the proxy signs path-style requests, so the path carries the bucket.
        parts.uri = "http://s3.amazonaws.com/johnsmith/photos/puppy.jpg"
            .parse()
            .unwrap();
        let params = example_signer()
            .presign(&parts, &Query::default(), 1_175_139_620)
            .unwrap();
        assert_eq!(
            params[0],
            ("AWSAccessKeyId".into(), "AKIAIOSFODNN7EXAMPLE".into())
        );
        assert_eq!(params[1], ("Expires".into(), "1175139620".into()));
        assert_eq!(
            params[2],
            ("Signature".into(), "NpgCjnDzrM+WFzoENXmpNDUsSn8=".into())
        );
    }

    #[test]
    fn amz_query_words_are_refused() {
        let query = Query::parse("x-amz-foo=1").unwrap();
        let mut parts = http::Request::put("http://h/b")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let error = example_signer()
            .sign(&mut parts, &query, None, SystemTime::now())
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidRequest);
    }

    /// Paths as the rewrite leaves them: canonical, so always rooted.
    fn canonical_paths() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let segment = prop_oneof![
            Just("_".to_owned()),
            "[a-zA-Z0-9 +%.~:@-]{0,8}",
            "\\PC{0,3}"
        ];
        proptest::collection::vec(segment, 0..5).prop_map(|segments| {
            let raw = format!("/{}", segments.join("/"));
            crate::uri::canonical_path(&raw, crate::uri::PlusInPath::Space)
                .unwrap_or_else(|_| "/".to_owned())
        })
    }

    /// Queries mixing subresources, response overrides and plain words.
    fn queries() -> impl proptest::strategy::Strategy<Value = Query> {
        use proptest::prelude::*;
        let key = prop_oneof![
            proptest::sample::select(SUBRESOURCES.to_vec()).prop_map(str::to_owned),
            proptest::sample::select(RESPONSE_OVERRIDES.to_vec()).prop_map(str::to_owned),
            "[a-z-]{1,10}",
        ];
        let value = proptest::option::of("[a-zA-Z0-9+/=~.-]{0,6}");
        proptest::collection::vec((key, value), 0..8).prop_map(|mut pairs| {
            // A key given twice is refused by the parser: keep the first.
            let mut seen = std::collections::HashSet::new();
            pairs.retain(|(key, _)| seen.insert(key.clone()));
            let raw: Vec<String> = pairs
                .into_iter()
                .map(|(key, value)| match value {
                    Some(value) => format!("{key}={value}"),
                    None => key,
                })
                .collect();
            Query::parse(&raw.join("&")).unwrap_or_default()
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

        /// The resource is the same on every call, starts with `/`, and is
        /// the (bucket-prefixed) path followed by nothing or by `?`.
        #[test]
        fn resource_is_the_rooted_path_then_subresources(
            path in canonical_paths(),
            query in queries(),
            bucket in proptest::option::of("[a-z0-9.-]{0,12}"),
        ) {
            let resource = canonical_resource(&path, &query, bucket.as_deref());
            proptest::prop_assert_eq!(
                &resource,
                &canonical_resource(&path, &query, bucket.as_deref())
            );
            proptest::prop_assert!(resource.starts_with('/'), "{resource}");
            let prefixed = match &bucket {
                Some(bucket) if !path.starts_with("/_/") => format!("/{bucket}{path}"),
                _ => path.clone(),
            };
            let tail = resource.strip_prefix(prefixed.as_str());
            proptest::prop_assert!(
                tail.is_some_and(|tail| tail.is_empty() || tail.starts_with('?')),
                "{resource} after {prefixed}"
            );
        }

        /// Any header names and values either sign or are refused: the
        /// string to sign never panics, is deterministic, and is framed by
        /// the method line and the resource.
        #[test]
        fn string_to_sign_never_panics_and_is_deterministic(
            method in "[A-Z]{1,7}",
            pairs in proptest::collection::vec(
                (
                    "x-amz-[a-z0-9-]{0,8}|content-md5|content-type|date|[a-z-]{1,8}",
                    proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12),
                ),
                0..8,
            ),
            resource in canonical_paths(),
        ) {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                if let (Ok(name), Ok(value)) =
                    (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(&value))
                {
                    map.append(name, value);
                }
            }
            if let Ok(text) = string_to_sign(&method, &map, &resource) {
                let again = string_to_sign(&method, &map, &resource).ok();
                proptest::prop_assert_eq!(again.as_ref(), Some(&text));
                proptest::prop_assert!(text.starts_with(&format!("{method}\n")), "{text}");
                proptest::prop_assert!(text.ends_with(&resource), "{text}");
            }
        }
    }
}
