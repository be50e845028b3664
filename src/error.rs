//! Errors the proxy answers itself, as S3-style XML.
//!
//! Every refusal or failure that comes from the proxy (not from the gateway)
//! becomes a [`ProxyError`]. Each kind names who is at fault and maps to one
//! HTTP status and one error code of the proxy's own, prefixed `Proxy`, so
//! that an S3 client shows it and an operator can tell it apart from an
//! answer of the gateway, which passes through unchanged.

use std::fmt;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};

use crate::body::ResponseBody;

/// What went wrong, from the proxy's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The client's request cannot be turned into a signed request.
    InvalidRequest,
    /// The client's query names the same key twice.
    DuplicateQueryKey,
    /// The client's method cannot be proxied (CONNECT, TRACE, unknown ones).
    MethodNotAllowed,
    /// The client's path and query are too long to sign.
    UriTooLong,
    /// The client's `Expect` is not `100-continue`.
    ExpectationFailed,
    /// The client's aws-chunked body is malformed or fails its checksum.
    InvalidChunkedBody,
    /// The request carries an `Origin` that is not allowed (a web page).
    ForbiddenOrigin,
    /// The request comes from another site (`Sec-Fetch-Site`).
    CrossSiteRequest,
    /// The request's `Host` is not a name of the proxy (DNS rebinding).
    ForbiddenHost,
    /// A CORS preflight: the proxy never lets a web page through.
    CorsPreflight,
    /// The client's body ended or failed before it was complete.
    IncompleteBody,
    /// The client's body is larger than the proxy may hold to sign it.
    BodyTooLarge,
    /// The client's body uses an encoding the proxy cannot sign.
    UnsupportedBodyEncoding,
    /// The gateway could not be reached (refused, unresolvable, TLS failed).
    UpstreamUnreachable,
    /// The gateway did not answer with headers in time.
    UpstreamTimeout,
    /// The gateway's answer was not valid HTTP or broke before its headers.
    UpstreamBroken,
    /// The proxy could not sign the request.
    SigningFailed,
    /// The proxy could not write or read its spool file.
    SpoolFailed,
    /// The proxy's credentials expired and were not renewed.
    CredentialsExpired,
    /// The client's address is outside `allowed_clients`.
    ClientNotAllowed,
    /// The request lacks the proxy's token (`X-Proxy-Token`).
    TokenRequired,
    /// The request's token is not the proxy's.
    TokenInvalid,
    /// The route's `methods` or `read_only` forbid the method.
    AccessDenied,
    /// The route's `buckets` do not include the request's bucket.
    BucketForbidden,
    /// The route's `key_prefixes` do not cover the request's key.
    KeyForbidden,
    /// A Zenko internal API (`/_/`) that no route was configured for.
    InternalApiRefused,
    /// The request's headers are too many or too large.
    HeadersTooLarge,
    /// The request's framing is ambiguous (request smuggling shapes).
    AmbiguousFraming,
    /// The proxy has as many connections as it accepts.
    TooManyConnections,
    /// The proxy has as many requests in flight as it accepts.
    TooManyRequests,
}

/// An error answered by the proxy itself.
#[derive(Debug)]
pub struct ProxyError {
    kind: ErrorKind,
    message: String,
    rule: Option<String>,
    route: Option<String>,
}

// === impl ErrorKind ===

impl ErrorKind {
    /// The HTTP status this kind is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidRequest
            | Self::DuplicateQueryKey
            | Self::IncompleteBody
            | Self::AmbiguousFraming => StatusCode::BAD_REQUEST,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::ExpectationFailed => StatusCode::EXPECTATION_FAILED,
            Self::InvalidChunkedBody => StatusCode::BAD_REQUEST,
            Self::ForbiddenOrigin
            | Self::CrossSiteRequest
            | Self::ForbiddenHost
            | Self::CorsPreflight
            | Self::ClientNotAllowed
            | Self::TokenRequired
            | Self::TokenInvalid
            | Self::AccessDenied
            | Self::BucketForbidden
            | Self::KeyForbidden
            | Self::InternalApiRefused => StatusCode::FORBIDDEN,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedBodyEncoding => StatusCode::NOT_IMPLEMENTED,
            Self::UpstreamUnreachable | Self::UpstreamBroken => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::SigningFailed | Self::SpoolFailed => StatusCode::INTERNAL_SERVER_ERROR,
            Self::CredentialsExpired | Self::TooManyConnections | Self::TooManyRequests => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// The `<Code>` of the XML error body.
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidRequest => "ProxyInvalidRequest",
            Self::DuplicateQueryKey => "ProxyDuplicateQueryKey",
            Self::MethodNotAllowed => "ProxyMethodNotAllowed",
            Self::UriTooLong => "ProxyUriTooLong",
            Self::ExpectationFailed => "ProxyExpectationFailed",
            Self::InvalidChunkedBody => "ProxyInvalidChunkedBody",
            Self::ForbiddenOrigin => "ProxyForbiddenOrigin",
            Self::CrossSiteRequest => "ProxyCrossSiteRequest",
            Self::ForbiddenHost => "ProxyForbiddenHost",
            Self::CorsPreflight => "ProxyCorsPreflightRefused",
            Self::IncompleteBody => "ProxyIncompleteBody",
            Self::BodyTooLarge => "ProxyBodyTooLarge",
            Self::UnsupportedBodyEncoding => "ProxyUnsupportedBodyEncoding",
            Self::UpstreamUnreachable => "ProxyUpstreamUnreachable",
            Self::UpstreamTimeout => "ProxyUpstreamTimeout",
            Self::UpstreamBroken => "ProxyUpstreamBroken",
            Self::SigningFailed => "ProxySigningFailed",
            Self::SpoolFailed => "ProxySpoolFailed",
            Self::CredentialsExpired => "ProxyCredentialsExpired",
            Self::ClientNotAllowed => "ProxyClientNotAllowed",
            Self::TokenRequired => "ProxyTokenRequired",
            Self::TokenInvalid => "ProxyTokenInvalid",
            Self::AccessDenied => "ProxyAccessDenied",
            Self::BucketForbidden => "ProxyBucketForbidden",
            Self::KeyForbidden => "ProxyKeyForbidden",
            Self::InternalApiRefused => "ProxyInternalApiRefused",
            Self::HeadersTooLarge => "ProxyHeadersTooLarge",
            Self::AmbiguousFraming => "ProxyAmbiguousFraming",
            Self::TooManyConnections => "ProxyTooManyConnections",
            Self::TooManyRequests => "ProxyTooManyRequests",
        }
    }
}

// === impl ProxyError ===

impl ProxyError {
    /// An error of `kind` with a message for the client.
    ///
    /// The message is shown to the client: it must hold no secret and no
    /// detail of the proxy's internals beyond what helps the client.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            rule: None,
            route: None,
        }
    }

    /// The same error, raised on the route with this prefix (for the
    /// access log and metrics).
    pub fn on_route(mut self, prefix: impl Into<String>) -> Self {
        self.route.get_or_insert_with(|| prefix.into());
        self
    }

    /// The prefix of the route the error was raised on, if it had one.
    pub fn route(&self) -> Option<&str> {
        self.route.as_deref()
    }

    /// The same error, naming the config rule that refused the request
    /// (`route[1].read_only`); the rule is logged and shown to the client.
    pub fn with_rule(mut self, rule: impl Into<String>) -> Self {
        self.rule = Some(rule.into());
        self
    }

    /// The config rule that refused the request, if one did.
    pub fn rule(&self) -> Option<&str> {
        self.rule.as_deref()
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message shown to the client.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The XML body of this error, as S3 writes its own errors.
    pub fn to_xml(&self, request_id: &str) -> String {
        let message = match &self.rule {
            Some(rule) => format!("{} (rule {rule})", self.message),
            None => self.message.clone(),
        };
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <Error><Code>{}</Code><Message>{}</Message><RequestId>{}</RequestId></Error>\n",
            self.kind.code(),
            xml_escape(&message),
            xml_escape(request_id),
        )
    }

    /// The full HTTP answer for this error.
    pub fn into_response(self, request_id: &str) -> Response<ResponseBody> {
        let xml = self.to_xml(request_id);
        let length = xml.len();
        let body = Full::new(Bytes::from(xml))
            .map_err(|never| match never {})
            .boxed_unsync();
        let mut response = Response::new(body);
        *response.status_mut() = self.kind.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        headers.insert("x-proxy-error", HeaderValue::from_static(self.kind.code()));
        if matches!(
            self.kind,
            ErrorKind::TooManyConnections | ErrorKind::TooManyRequests
        ) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.message)
    }
}

impl std::error::Error for ProxyError {}

/// An error and all its causes on one line, `cause: cause: …`.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

/// Escapes the five XML special characters.
fn xml_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_KINDS: [(ErrorKind, u16); 30] = [
        (ErrorKind::InvalidRequest, 400),
        (ErrorKind::DuplicateQueryKey, 400),
        (ErrorKind::MethodNotAllowed, 405),
        (ErrorKind::UriTooLong, 414),
        (ErrorKind::ExpectationFailed, 417),
        (ErrorKind::InvalidChunkedBody, 400),
        (ErrorKind::ForbiddenOrigin, 403),
        (ErrorKind::CrossSiteRequest, 403),
        (ErrorKind::ForbiddenHost, 403),
        (ErrorKind::CorsPreflight, 403),
        (ErrorKind::IncompleteBody, 400),
        (ErrorKind::BodyTooLarge, 413),
        (ErrorKind::UnsupportedBodyEncoding, 501),
        (ErrorKind::UpstreamUnreachable, 502),
        (ErrorKind::UpstreamTimeout, 504),
        (ErrorKind::UpstreamBroken, 502),
        (ErrorKind::SigningFailed, 500),
        (ErrorKind::SpoolFailed, 500),
        (ErrorKind::CredentialsExpired, 503),
        (ErrorKind::ClientNotAllowed, 403),
        (ErrorKind::TokenRequired, 403),
        (ErrorKind::TokenInvalid, 403),
        (ErrorKind::AccessDenied, 403),
        (ErrorKind::BucketForbidden, 403),
        (ErrorKind::KeyForbidden, 403),
        (ErrorKind::InternalApiRefused, 403),
        (ErrorKind::HeadersTooLarge, 431),
        (ErrorKind::AmbiguousFraming, 400),
        (ErrorKind::TooManyConnections, 503),
        (ErrorKind::TooManyRequests, 503),
    ];

    #[test]
    fn every_kind_maps_to_its_status_and_a_proxy_code() {
        for (kind, status) in ALL_KINDS {
            assert_eq!(kind.status().as_u16(), status, "{kind:?}");
            assert!(kind.code().starts_with("Proxy"), "{kind:?}");
        }
    }

    #[test]
    fn xml_body_escapes_the_message() {
        let error = ProxyError::new(ErrorKind::InvalidRequest, "bad <path> & \"query\"");
        let xml = error.to_xml("req-1");
        assert!(xml.contains("<Code>ProxyInvalidRequest</Code>"));
        assert!(xml.contains("<Message>bad &lt;path&gt; &amp; &quot;query&quot;</Message>"));
        assert!(xml.contains("<RequestId>req-1</RequestId>"));
    }

    #[test]
    fn response_carries_status_type_and_length() {
        let error = ProxyError::new(ErrorKind::UpstreamTimeout, "gateway slow");
        let expected_length = error.to_xml("r").len();
        let response = error.into_response("r");
        assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/xml");
        assert_eq!(
            response.headers()[header::CONTENT_LENGTH],
            expected_length.to_string().as_str()
        );
        assert_eq!(response.headers()["x-proxy-error"], "ProxyUpstreamTimeout");
    }
}
