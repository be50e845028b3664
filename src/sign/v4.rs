//! AWS Signature Version 4 in the `Authorization` header, through the
//! `aws-sigv4` crate with the settings S3 needs: the path is used as sent
//! (single encoding, no normalisation, since the proxy has already written
//! it strictly; see [`crate::uri`]), and `x-amz-content-sha256` is signed.
//!
//! See <https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html>.
//!
//! Not here: presigned URLs, aws-chunked streaming signatures, SigV4A.

use std::time::SystemTime;

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_smithy_runtime_api::client::identity::Identity;
use http::request::Parts;
use http::{HeaderName, HeaderValue};

use crate::credentials::Credentials;
use crate::error::{ErrorKind, ProxyError};
use crate::sign::is_signed_header;

/// The service name in the credential scope; Zenko wants `s3`.
const SERVICE: &str = "s3";

/// Signs requests with one set of credentials for one region.
pub struct V4Signer {
    identity: Identity,
    region: String,
}

// === impl V4Signer ===

impl V4Signer {
    /// A signer for `credentials` in `region`.
    pub fn new(credentials: &Credentials, region: impl Into<String>) -> Self {
        let credentials = aws_credential_types::Credentials::new(
            credentials.access_key_id(),
            credentials.secret_access_key(),
            credentials.session_token().map(str::to_owned),
            None,
            "zenko-signing-proxy",
        );
        Self {
            identity: credentials.into(),
            region: region.into(),
        }
    }

    /// Signs the request in `parts`, whose URI, `Host` and other headers are
    /// final, and adds `Authorization`, `x-amz-date`,
    /// `x-amz-content-sha256` and, with a session token,
    /// `x-amz-security-token`.
    pub fn sign(
        &self,
        parts: &mut Parts,
        payload_hash: &str,
        time: SystemTime,
    ) -> Result<(), ProxyError> {
        let signed = signed_headers(parts)?;
        let headers = self.signature_headers(parts, &signed, payload_hash, time)?;
        for (name, value) in headers {
            parts.headers.insert(name, value);
        }
        Ok(())
    }

    /// The headers that carry the signature of a request with exactly the
    /// headers in `signed`.
    pub fn signature_headers(
        &self,
        parts: &Parts,
        signed: &[(&str, &str)],
        payload_hash: &str,
        time: SystemTime,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, ProxyError> {
        let uri = parts.uri.to_string();
        let signable = SignableRequest::new(
            parts.method.as_str(),
            &uri,
            signed.iter().copied(),
            SignableBody::Precomputed(payload_hash.to_owned()),
        )
        .map_err(signing_failed)?;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name(SERVICE)
            .time(time)
            .settings(s3_settings())
            .build()
            .map_err(signing_failed)?
            .into();
        let (instructions, _signature) = sign(signable, &params)
            .map_err(signing_failed)?
            .into_parts();

        instructions
            .headers()
            .map(|(name, value)| {
                let name = HeaderName::from_bytes(name.as_bytes()).map_err(signing_failed)?;
                let mut value = HeaderValue::from_str(value).map_err(signing_failed)?;
                value.set_sensitive(name == http::header::AUTHORIZATION);
                Ok((name, value))
            })
            .collect()
    }
}

fn s3_settings() -> SigningSettings {
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    settings
}

/// The headers of `parts` that the signature covers, as text.
fn signed_headers(parts: &Parts) -> Result<Vec<(&str, &str)>, ProxyError> {
    parts
        .headers
        .iter()
        .filter(|(name, _)| is_signed_header(name))
        .map(|(name, value)| {
            let value = value.to_str().map_err(|_| {
                ProxyError::new(
                    ErrorKind::InvalidRequest,
                    format!("header '{name}' is not printable ASCII and cannot be signed"),
                )
            })?;
            Ok((name.as_str(), value))
        })
        .collect()
}

fn signing_failed(error: impl std::fmt::Display) -> ProxyError {
    tracing::error!(%error, "signing failed");
    ProxyError::new(
        ErrorKind::SigningFailed,
        "the proxy could not sign the request",
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::body::EMPTY_SHA256;

    /// The example key of the AWS documentation.
    fn example_signer() -> V4Signer {
        let credentials = Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            None,
        );
        V4Signer::new(&credentials, "us-east-1")
    }

    /// 2013-05-24T00:00:00Z, the time of the AWS S3 examples.
    fn example_time() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600)
    }

    fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn signature_of(parts: &Parts) -> &str {
        let authorization = parts.headers["authorization"].to_str().unwrap();
        authorization.rsplit("Signature=").next().unwrap()
    }

    const HOST: (&str, &str) = ("host", "examplebucket.s3.amazonaws.com");

    #[test]
    fn aws_example_get_object_with_range() {
        let mut parts = request(
            "GET",
            "https://examplebucket.s3.amazonaws.com/test.txt",
            &[HOST, ("range", "bytes=0-9")],
        );
        let signed = [HOST, ("range", "bytes=0-9")];
        let headers = example_signer()
            .signature_headers(&parts, &signed, EMPTY_SHA256, example_time())
            .unwrap();
        parts.headers.extend(headers);
        assert_eq!(
            signature_of(&parts),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        assert_eq!(parts.headers["x-amz-date"], "20130524T000000Z");
    }

    #[test]
    fn aws_example_put_object() {
        let date = ("date", "Fri, 24 May 2013 00:00:00 GMT");
        let class = ("x-amz-storage-class", "REDUCED_REDUNDANCY");
        let mut parts = request(
            "PUT",
            "https://examplebucket.s3.amazonaws.com/test%24file.text",
            &[HOST, date, class],
        );
        let payload = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
        let headers = example_signer()
            .signature_headers(&parts, &[HOST, date, class], payload, example_time())
            .unwrap();
        parts.headers.extend(headers);
        assert_eq!(
            signature_of(&parts),
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
        );
    }

    #[test]
    fn aws_example_get_bucket_lifecycle_with_bare_subresource() {
        let mut parts = request(
            "GET",
            "https://examplebucket.s3.amazonaws.com/?lifecycle",
            &[HOST],
        );
        example_signer()
            .sign(&mut parts, EMPTY_SHA256, example_time())
            .unwrap();
        assert_eq!(
            signature_of(&parts),
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
        );
    }

    #[test]
    fn aws_example_list_objects() {
        let mut parts = request(
            "GET",
            "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J",
            &[HOST],
        );
        example_signer()
            .sign(&mut parts, EMPTY_SHA256, example_time())
            .unwrap();
        let authorization = parts.headers["authorization"].to_str().unwrap();
        assert!(authorization.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date,"));
        assert_eq!(
            signature_of(&parts),
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        );
    }

    #[test]
    fn every_amz_and_scal_header_is_signed_and_others_are_not() {
        let mut parts = request(
            "PUT",
            "http://127.0.0.1:9000/b/k",
            &[
                ("host", "127.0.0.1:9000"),
                ("x-amz-meta-color", "blue"),
                ("x-scal-request-uids", "abc"),
                ("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg=="),
                ("content-type", "text/plain"),
                ("user-agent", "curl/8"),
                ("content-length", "0"),
            ],
        );
        example_signer()
            .sign(&mut parts, EMPTY_SHA256, example_time())
            .unwrap();
        let authorization = parts.headers["authorization"].to_str().unwrap();
        assert!(
            authorization.contains(
                "SignedHeaders=content-md5;content-type;host;x-amz-content-sha256;x-amz-date;\
                 x-amz-meta-color;x-scal-request-uids,"
            ),
            "{authorization}"
        );
        assert_eq!(parts.headers["x-amz-content-sha256"], EMPTY_SHA256);
    }

    #[test]
    fn session_token_is_sent_and_signed() {
        let credentials = Credentials::new("AKID", "secret", Some("the-token".into()));
        let signer = V4Signer::new(&credentials, "us-east-1");
        let mut parts = request(
            "GET",
            "http://127.0.0.1:9000/b",
            &[("host", "127.0.0.1:9000")],
        );
        signer
            .sign(&mut parts, EMPTY_SHA256, example_time())
            .unwrap();
        assert_eq!(parts.headers["x-amz-security-token"], "the-token");
        let authorization = parts.headers["authorization"].to_str().unwrap();
        assert!(
            authorization.contains(";x-amz-security-token,"),
            "{authorization}"
        );
    }

    #[test]
    fn header_that_is_not_ascii_is_refused() {
        let mut parts = request("PUT", "http://127.0.0.1:9000/b/k", &[("host", "h")]);
        parts.headers.insert(
            "x-amz-meta-name",
            HeaderValue::from_bytes("caf\u{e9}".as_bytes()).unwrap(),
        );
        let error = example_signer()
            .sign(&mut parts, EMPTY_SHA256, example_time())
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidRequest);
    }
}
