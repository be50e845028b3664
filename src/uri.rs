//! Re-serialising the client's path and query into the exact form the proxy
//! sends and signs.
//!
//! Clients encode URLs loosely: a literal `+`, a raw `:` or `@`, lowercase
//! escapes. Servers decode them in different ways (CloudServer and AWS read
//! `+` in a path as a space, s3s reads it literally), so a signature over the
//! client's bytes is fragile. The proxy therefore decodes what the client
//! sent and encodes it again with the strict RFC 3986 unreserved set
//! (`A-Z a-z 0-9 - . _ ~`, everything else as `%XX` in uppercase hex). Both
//! servers decode that form the same way, and the V4 canonical URI is then
//! the wire path itself.
//!
//! Slashes are kept as they are: never collapsed, never added or removed, and
//! `.` or `..` segments are not resolved, because an S3 key may contain them.
//! An escaped slash (`%2F`) is sent as `/`: servers decode the path to the
//! object key before they canonicalise it, so both name the same key.
//!
//! See <https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>
//! (canonical URI and canonical query string).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::{ErrorKind, ProxyError};

/// Everything except the RFC 3986 unreserved characters: the strict set
/// the proxy encodes with.
pub const STRICT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The strict set for paths, where `/` separates and stays as it is.
const STRICT_PATH: &AsciiSet = &STRICT.remove(b'/');

/// Query parameters that carry a presigned signature. The proxy drops them
/// from the client's query, so that its own header signature is the only one.
const PRESIGN_PARAMETERS: [&str; 10] = [
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-expires",
    "x-amz-signedheaders",
    "x-amz-signature",
    "x-amz-security-token",
    "awsaccesskeyid",
    "signature",
    "expires",
];

/// What a literal `+` in the client's path means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlusInPath {
    /// `+` is a space, as CloudServer and AWS S3 read it (the default).
    #[default]
    Space,
    /// `+` is a plus sign, for clients that never encode it.
    Literal,
}

/// One parameter of the client's query, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryParameter {
    /// The decoded key.
    pub key: String,
    /// The decoded value; `None` when the client wrote the key alone (`?acl`).
    pub value: Option<String>,
}

/// The client's query, decoded, without presign parameters, in client order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    parameters: Vec<QueryParameter>,
}

// === impl Query ===

impl Query {
    /// Parses the raw query of the client's request.
    ///
    /// `+` means a space here, for every server. A key given twice is refused:
    /// Arsenal would sign it with an empty value, and no S3 operation needs it.
    pub fn parse(raw: &str) -> Result<Self, ProxyError> {
        let mut parameters: Vec<QueryParameter> = Vec::new();
        for piece in raw.split('&').filter(|piece| !piece.is_empty()) {
            let parameter = parse_parameter(piece)?;
            if is_presign_parameter(&parameter.key) {
                continue;
            }
            if parameters.iter().any(|seen| seen.key == parameter.key) {
                return Err(ProxyError::new(
                    ErrorKind::DuplicateQueryKey,
                    format!("the query names '{}' more than once", parameter.key),
                ));
            }
            parameters.push(parameter);
        }
        Ok(Self { parameters })
    }

    /// The parameters in the client's order.
    pub fn parameters(&self) -> &[QueryParameter] {
        &self.parameters
    }

    /// The value of `key`, if present (`Some("")` for a bare key).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.parameters
            .iter()
            .find(|parameter| parameter.key == key)
            .map(|parameter| parameter.value.as_deref().unwrap_or(""))
    }

    /// The query as sent on the wire, strictly encoded, in client order.
    ///
    /// A bare key stays bare (`acl`); V4 canonicalises it as `acl=`.
    pub fn to_wire(&self) -> String {
        let mut wire = String::new();
        for parameter in &self.parameters {
            if !wire.is_empty() {
                wire.push('&');
            }
            wire.extend(utf8_percent_encode(&parameter.key, STRICT));
            if let Some(value) = &parameter.value {
                wire.push('=');
                wire.extend(utf8_percent_encode(value, STRICT));
            }
        }
        wire
    }
}

/// Decodes the client's raw path and encodes it strictly.
///
/// The result starts with `/`, has the same slashes as the input, and is
/// exactly what the proxy sends and what V4 signs as the canonical URI.
pub fn canonical_path(raw: &str, plus: PlusInPath) -> Result<String, ProxyError> {
    if !raw.starts_with('/') {
        return Err(invalid("the request path must start with '/'"));
    }
    let decoded = percent_decode(raw, plus == PlusInPath::Space)
        .ok_or_else(|| invalid("the request path has a malformed percent escape"))?;
    Ok(percent_encoding::percent_encode(&decoded, STRICT_PATH).to_string())
}

fn parse_parameter(piece: &str) -> Result<QueryParameter, ProxyError> {
    let (raw_key, raw_value) = match piece.split_once('=') {
        Some((key, value)) => (key, Some(value)),
        None => (piece, None),
    };
    let key = decode_query_text(raw_key)?;
    let value = raw_value.map(decode_query_text).transpose()?;
    Ok(QueryParameter { key, value })
}

fn decode_query_text(raw: &str) -> Result<String, ProxyError> {
    let bytes = percent_decode(raw, true)
        .ok_or_else(|| invalid("the query has a malformed percent escape"))?;
    String::from_utf8(bytes).map_err(|_| invalid("the query decodes to text that is not UTF-8"))
}

fn is_presign_parameter(key: &str) -> bool {
    PRESIGN_PARAMETERS
        .iter()
        .any(|name| name.eq_ignore_ascii_case(key))
}

/// Decodes `%XX` escapes strictly: a `%` not followed by two hex digits is an
/// error (`None`). `+` becomes a space when `plus_is_space`.
fn percent_decode(raw: &str, plus_is_space: bool) -> Option<Vec<u8>> {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' => {
                let high = hex_value(*bytes.get(index + 1)?)?;
                let low = hex_value(*bytes.get(index + 2)?)?;
                decoded.push(high << 4 | low);
                index += 3;
            }
            b'+' if plus_is_space => {
                decoded.push(b' ');
                index += 1;
            }
            byte => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    Some(decoded)
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).map(|value| value as u8)
}

fn invalid(message: &str) -> ProxyError {
    ProxyError::new(ErrorKind::InvalidRequest, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(raw: &str) -> String {
        canonical_path(raw, PlusInPath::Space).unwrap()
    }

    #[test]
    fn plus_in_path_is_a_space_by_default() {
        assert_eq!(path("/bucket/a+b"), "/bucket/a%20b");
    }

    #[test]
    fn plus_in_path_can_be_literal() {
        let literal = canonical_path("/bucket/a+b", PlusInPath::Literal).unwrap();
        assert_eq!(literal, "/bucket/a%2Bb");
    }

    #[test]
    fn encoded_plus_stays_a_plus() {
        assert_eq!(path("/bucket/a%2bb"), "/bucket/a%2Bb");
    }

    #[test]
    fn reserved_characters_are_encoded_strictly() {
        assert_eq!(path("/b/k:@'!*()"), "/b/k%3A%40%27%21%2A%28%29");
        assert_eq!(path("/b/sp ace"), "/b/sp%20ace");
        assert_eq!(path("/b/%7e-._~"), "/b/~-._~");
    }

    #[test]
    fn unicode_is_encoded_as_utf8_bytes() {
        assert_eq!(path("/b/%C3%A9t%C3%A9"), "/b/%C3%A9t%C3%A9");
        assert_eq!(path("/b/\u{e9}"), "/b/%C3%A9");
    }

    #[test]
    fn slashes_are_never_collapsed_or_resolved() {
        assert_eq!(path("/b//k/./../x/"), "/b//k/./../x/");
        assert_eq!(path("/"), "/");
    }

    #[test]
    fn encoded_slash_becomes_a_slash_as_servers_decode_it() {
        assert_eq!(path("/b/a%2Fb"), "/b/a/b");
    }

    #[test]
    fn malformed_escape_in_path_is_refused() {
        for raw in ["/b/%zz", "/b/%4", "/b/%"] {
            let error = canonical_path(raw, PlusInPath::Space).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidRequest, "{raw}");
        }
    }

    #[test]
    fn path_without_leading_slash_is_refused() {
        assert!(canonical_path("bucket", PlusInPath::Space).is_err());
    }

    #[test]
    fn query_keeps_client_order_and_bare_keys() {
        let query = Query::parse("uploads&prefix=a+b&max-keys=2").unwrap();
        assert_eq!(query.to_wire(), "uploads&prefix=a%20b&max-keys=2");
        assert_eq!(query.get("uploads"), Some(""));
        assert_eq!(query.get("prefix"), Some("a b"));
    }

    #[test]
    fn query_values_are_reencoded_strictly() {
        let query = Query::parse("uploadId=a%2Bb/c%3D&x=%7e").unwrap();
        assert_eq!(query.to_wire(), "uploadId=a%2Bb%2Fc%3D&x=~");
        assert_eq!(query.get("uploadId"), Some("a+b/c="));
    }

    #[test]
    fn empty_value_stays_explicit() {
        let query = Query::parse("prefix=").unwrap();
        assert_eq!(query.to_wire(), "prefix=");
    }

    #[test]
    fn duplicate_query_key_is_refused() {
        let error = Query::parse("a=1&b=2&a=3").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::DuplicateQueryKey);
        assert!(error.message().contains("'a'"));
    }

    #[test]
    fn presign_parameters_are_dropped() {
        let raw = "X-Amz-Signature=abc&x-amz-credential=k&versionId=1&AWSAccessKeyId=k\
                   &Signature=s&Expires=1";
        let query = Query::parse(raw).unwrap();
        assert_eq!(query.to_wire(), "versionId=1");
    }

    #[test]
    fn query_that_is_not_utf8_is_refused() {
        let error = Query::parse("prefix=%FF").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidRequest);
    }

    #[test]
    fn empty_pieces_are_ignored() {
        let query = Query::parse("&&a=1&").unwrap();
        assert_eq!(query.to_wire(), "a=1");
    }

    /// Text made of the pieces the canonicaliser treats specially: slashes,
    /// `+`, escapes good and broken, reserved and unreserved ASCII, and
    /// non-ASCII characters.
    fn url_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            Just("/".to_owned()),
            Just("+".to_owned()),
            Just("%".to_owned()),
            "%[0-9a-fA-F]{2}",
            "%[0-9a-fA-F][g-z]",
            "[&=?#]",
            "[ -~]",
            "\\PC",
        ];
        proptest::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
    }

    /// Every byte is unreserved, a `/` where allowed, or an uppercase `%XX`.
    fn is_strict(text: &str, slash_allowed: bool) -> bool {
        let mut bytes = text.bytes();
        while let Some(byte) = bytes.next() {
            let fine = match byte {
                b'%' => {
                    bytes
                        .by_ref()
                        .take(2)
                        .filter(|digit| matches!(digit, b'0'..=b'9' | b'A'..=b'F'))
                        .count()
                        == 2
                }
                b'/' => slash_allowed,
                _ => byte.is_ascii_alphanumeric() || b"-._~".contains(&byte),
            };
            if !fine {
                return false;
            }
        }
        true
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// A canonical path is strict and canonicalises to itself, whatever
        /// `+` means: the form the proxy signs is a fixed point.
        #[test]
        fn canonical_path_is_a_fixed_point(
            text in url_text(),
            literal in proptest::prelude::any::<bool>(),
        ) {
            let plus = if literal { PlusInPath::Literal } else { PlusInPath::Space };
            let raw = format!("/{text}");
            if let Ok(canonical) = canonical_path(&raw, plus) {
                proptest::prop_assert!(is_strict(&canonical, true), "{canonical}");
                for again in [PlusInPath::Space, PlusInPath::Literal] {
                    let twice = canonical_path(&canonical, again).unwrap();
                    proptest::prop_assert_eq!(&twice, &canonical);
                }
            }
        }

        /// A path without its leading slash is refused, never guessed at.
        #[test]
        fn path_not_starting_with_a_slash_is_refused(text in url_text()) {
            proptest::prop_assume!(!text.starts_with('/'));
            proptest::prop_assert!(canonical_path(&text, PlusInPath::Space).is_err());
        }

        /// A parsed query comes back unchanged from its own wire form.
        #[test]
        fn query_round_trips_through_its_wire_form(text in url_text()) {
            if let Ok(query) = Query::parse(&text) {
                let wire = query.to_wire();
                proptest::prop_assert!(is_strict(&wire.replace(['&', '='], ""), false), "{wire}");
                let again = Query::parse(&wire).unwrap();
                proptest::prop_assert_eq!(&again, &query);
                proptest::prop_assert_eq!(again.to_wire(), wire);
            }
        }
    }
}
