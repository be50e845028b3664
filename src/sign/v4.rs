//! AWS Signature Version 4 in the `Authorization` header, through the
//! `aws-sigv4` crate with the settings S3 needs: the path is used as sent
//! (single encoding, no normalisation, since the proxy has already written
//! it strictly; see [`crate::uri`]), and `x-amz-content-sha256` is signed.
//!
//! See <https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html>.
//!
//! Presigned URLs put the same signature in the query instead
//! ([`V4Signer::presign`]); a streaming body's chunks are signed in the chain
//! [`V4Signer::chunk_signer`] starts (see [`crate::body::aws_chunked`]).
//! Not here: SigV4A.

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_smithy_runtime_api::client::identity::Identity;
use http::request::Parts;
use http::{HeaderName, HeaderValue};
use sha2::Digest;

use crate::body::aws_chunked::ChunkSigner;
use crate::credentials::Credentials;
use crate::error::{ErrorKind, ProxyError};
use crate::sign::is_signed_header;

/// The service name in the credential scope; Zenko wants `s3`.
const SERVICE: &str = "s3";

/// Signs requests with one set of credentials for one region.
pub struct V4Signer {
    identity: Identity,
    secret: Credentials,
    region: String,
}

// === impl V4Signer ===

impl V4Signer {
    /// A signer for `credentials` in `region`.
    pub fn new(credentials: &Credentials, region: impl Into<String>) -> Self {
        let aws_credentials = aws_credential_types::Credentials::new(
            credentials.access_key_id(),
            credentials.secret_access_key(),
            credentials.session_token().map(str::to_owned),
            None,
            "zenko-signing-proxy",
        );
        Self {
            identity: aws_credentials.into(),
            secret: credentials.clone(),
            region: region.into(),
        }
    }

    /// Signs the request in `parts`, whose URI, `Host` and other headers are
    /// final, and adds `Authorization`, `x-amz-date`,
    /// `x-amz-content-sha256` and, with a session token,
    /// `x-amz-security-token`.
    ///
    /// Returns the signature, the seed of a streaming body's chunk chain.
    pub fn sign(
        &self,
        parts: &mut Parts,
        payload_hash: &str,
        time: SystemTime,
    ) -> Result<String, ProxyError> {
        let signed = signed_headers(parts)?;
        let (headers, signature) = self.signature_headers(parts, &signed, payload_hash, time)?;
        for (name, value) in headers {
            parts.headers.insert(name, value);
        }
        Ok(signature)
    }

    /// The signer of the chunks of a streaming body whose headers were
    /// signed at `time` with `seed_signature`.
    pub fn chunk_signer(&self, seed_signature: String, time: SystemTime) -> ChunkSigner {
        let key = aws_sigv4::sign::v4::generate_signing_key(
            self.secret.secret_access_key(),
            time,
            &self.region,
            SERVICE,
        );
        let mut signing_key = [0u8; 32];
        signing_key.copy_from_slice(key.as_ref());
        let date_time = time::OffsetDateTime::from(time);
        let format =
            time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
        let date_time = date_time.format(&format).expect("a fixed format");
        let scope = format!("{}/{}/{SERVICE}/aws4_request", &date_time[..8], self.region);
        ChunkSigner::new(signing_key, date_time, scope, seed_signature)
    }

    /// The headers that carry the signature of a request with exactly the
    /// headers in `signed`, and the signature itself.
    pub fn signature_headers(
        &self,
        parts: &Parts,
        signed: &[(&str, &str)],
        payload_hash: &str,
        time: SystemTime,
    ) -> Result<(Vec<(HeaderName, HeaderValue)>, String), ProxyError> {
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
        let (instructions, signature) = sign(signable, &params)
            .map_err(signing_failed)?
            .into_parts();

        let headers = instructions
            .headers()
            .map(|(name, value)| {
                let name = HeaderName::from_bytes(name.as_bytes()).map_err(signing_failed)?;
                let mut value = HeaderValue::from_str(value).map_err(signing_failed)?;
                value.set_sensitive(name == http::header::AUTHORIZATION);
                Ok((name, value))
            })
            .collect::<Result<_, ProxyError>>()?;
        Ok((headers, signature))
    }
}

/// The canonical request and string to sign behind the signature of a
/// signed request, rebuilt from the request itself: for `sign --verbose`,
/// and for checking a signature in tests. Holds nothing secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The canonical request.
    pub canonical_request: String,
    /// The string to sign: algorithm, time, scope, hash of the canonical request.
    pub string_to_sign: String,
    /// The signature the `Authorization` header carries.
    pub signature: String,
}

/// Rebuilds the canonical request and string to sign of `parts`, a request
/// signed by [`V4Signer::sign`] (or any V4 header signature).
///
/// See <https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>.
pub fn explain(parts: &Parts) -> Result<Explanation, String> {
    let authorization = header(parts, "authorization")?;
    let field = |name: &str| {
        authorization
            .split([' ', ','])
            .find_map(|piece| piece.strip_prefix(name))
            .ok_or_else(|| format!("the Authorization header has no {name}"))
    };
    let scope = field("Credential=")?
        .split_once('/')
        .map(|(_, scope)| scope.to_owned())
        .ok_or("the credential has no scope")?;
    let signed_headers = field("SignedHeaders=")?;
    let signature = field("Signature=")?.to_owned();

    let mut canonical_request = format!(
        "{}\n{}\n{}\n",
        parts.method,
        parts.uri.path(),
        canonical_query(parts.uri.query().unwrap_or(""))
    );
    for name in signed_headers.split(';') {
        let values: Vec<String> = parts
            .headers
            .get_all(name)
            .iter()
            .map(|value| collapse_spaces(value.to_str().unwrap_or_default()))
            .collect();
        canonical_request.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    canonical_request.push_str(&format!(
        "\n{signed_headers}\n{}",
        header(parts, "x-amz-content-sha256")?
    ));

    let digest = hex::encode(sha2::Sha256::digest(canonical_request.as_bytes()));
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{digest}",
        header(parts, "x-amz-date")?
    );
    Ok(Explanation {
        canonical_request,
        string_to_sign,
        signature,
    })
}

/// The query with its pairs sorted by encoded key then value, each bare key
/// written `key=`. The wire query is already strictly encoded.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(&str, &str)> = query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| piece.split_once('=').unwrap_or((piece, "")))
        .collect();
    pairs.sort_unstable();
    pairs
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn header<'a>(parts: &'a Parts, name: &str) -> Result<&'a str, String> {
    parts
        .headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| format!("the request has no {name} header"))
}

/// The longest validity of a V4 presigned URL (7 days).
pub const MAX_PRESIGN_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

impl V4Signer {
    /// The query parameters that presign `parts` (final URI and `Host`) for
    /// `expires`, to append to its query. The payload is unsigned.
    pub fn presign(
        &self,
        parts: &Parts,
        expires: Duration,
        time: SystemTime,
    ) -> Result<Vec<(String, String)>, ProxyError> {
        if expires > MAX_PRESIGN_EXPIRY || expires.is_zero() {
            return Err(ProxyError::new(
                ErrorKind::InvalidRequest,
                "a V4 presigned URL lasts between 1 second and 7 days",
            ));
        }
        let signed = signed_headers(parts)?;
        let uri = parts.uri.to_string();
        let signable = SignableRequest::new(
            parts.method.as_str(),
            &uri,
            signed.iter().copied(),
            SignableBody::UnsignedPayload,
        )
        .map_err(signing_failed)?;
        let mut settings = s3_settings();
        settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires);
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name(SERVICE)
            .time(time)
            .settings(settings)
            .build()
            .map_err(signing_failed)?
            .into();
        let (instructions, _signature) = sign(signable, &params)
            .map_err(signing_failed)?
            .into_parts();
        Ok(instructions
            .params()
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.to_string()))
            .collect())
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
        let (headers, _) = example_signer()
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
        let (headers, _) = example_signer()
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

    /// The signature recomputed from the explanation, with aws-sigv4's own
    /// key derivation, matches the one the signer sent.
    fn recomputed_signature(parts: &Parts, secret: &str) -> (Explanation, String) {
        let explanation = explain(parts).unwrap();
        let date = &explanation.string_to_sign.split('\n').nth(1).unwrap()[..8];
        let date = time::Date::parse(
            date,
            &time::macros::format_description!("[year][month][day]"),
        )
        .unwrap();
        let midnight = SystemTime::UNIX_EPOCH
            + Duration::from_secs(date.midnight().assume_utc().unix_timestamp() as u64);
        let key = aws_sigv4::sign::v4::generate_signing_key(secret, midnight, "us-east-1", "s3");
        let signature =
            aws_sigv4::sign::v4::calculate_signature(key, explanation.string_to_sign.as_bytes());
        (explanation, signature)
    }

    #[test]
    fn explanation_reproduces_the_signature() {
        let mut parts = request(
            "PUT",
            "http://127.0.0.1:9000/b/a%20b?uploadId=x%2By&partNumber=2&acl",
            &[
                ("host", "127.0.0.1:9000"),
                ("x-amz-meta-a", "  spaced   value "),
                ("content-type", "text/plain"),
            ],
        );
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        example_signer()
            .sign(&mut parts, EMPTY_SHA256, SystemTime::now())
            .unwrap();
        let (explanation, signature) = recomputed_signature(&parts, secret);
        assert_eq!(signature, explanation.signature);
        assert!(
            explanation
                .canonical_request
                .contains("\nacl=&partNumber=2&uploadId=x%2By\n")
        );
        assert!(
            explanation
                .canonical_request
                .contains("\nx-amz-meta-a:spaced value\n")
        );
    }

    #[test]
    fn explanation_of_a_tampered_request_does_not_match() {
        let mut parts = request(
            "GET",
            "http://127.0.0.1:9000/b/k",
            &[("host", "127.0.0.1:9000")],
        );
        example_signer()
            .sign(&mut parts, EMPTY_SHA256, SystemTime::now())
            .unwrap();
        parts.uri = "http://127.0.0.1:9000/b/other".parse().unwrap();
        let (explanation, signature) =
            recomputed_signature(&parts, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        assert_ne!(signature, explanation.signature);
    }

    #[test]
    fn aws_example_signing_key_derivation() {
        // The documented example of deriving a signing key: 20120215,
        // us-east-1, iam; the proxy derives its chunk-signing keys this way.
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_329_264_000);
        let key = aws_sigv4::sign::v4::generate_signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            time,
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key.as_ref()),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn aws_example_streaming_seed_and_chunk_chain() {
        // The AWS streaming example signs content-encoding and
        // content-length too; the proxy's own header set is smaller.
        let signed = [
            ("host", "s3.amazonaws.com"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("content-length", "66824"),
        ];
        let parts = request(
            "PUT",
            "https://s3.amazonaws.com/examplebucket/chunkObject.txt",
            &signed,
        );
        let signer = example_signer();
        let payload = crate::body::aws_chunked::STREAMING_PAYLOAD;
        let (_, seed) = signer
            .signature_headers(&parts, &signed, payload, example_time())
            .unwrap();
        assert_eq!(
            seed,
            "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
        );
        let mut chunks = signer.chunk_signer(seed, example_time());
        let first = sha2::Sha256::digest([b'a'; 65_536]);
        assert_eq!(
            chunks.sign(&first),
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
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
