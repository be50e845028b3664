//! Request bodies: the payload modes, and turning the client's body into a
//! body the proxy can sign and send.
//!
//! A V4 signature covers `x-amz-content-sha256`, which must be known before
//! the headers go out. What the proxy does with a body depends on the mode:
//!
//! | mode | body with a known length | body of unknown length (chunked) |
//! |---|---|---|
//! | `unsigned` | streamed as it arrives, `UNSIGNED-PAYLOAD` | spooled, then signed by hash |
//! | `signed` | held in memory up to `memory_body_limit`, else spooled; signed by hash | spooled, then signed by hash |
//! | `streaming` | object upload: aws-chunked, each chunk signed as it passes; other requests as `signed` | as `signed` |
//! | `auto` | empty: hash of empty; up to `memory_body_limit`: `signed` in memory; larger object upload: `streaming`; larger other: spooled | as `signed` |
//!
//! Spooling writes the body to an anonymous temporary file while hashing it,
//! then streams the file; the file has no name and disappears when closed,
//! whatever path the request takes. Spooling stops at `spool_limit` with a
//! 413 from the proxy. A body that fails or ends early is never forwarded in
//! place of the whole: the request is refused, or, when streaming, the
//! upstream request is aborted so that the gateway stores nothing.
//!
//! A spooled body is always signed by its hash: once it is on disk, the
//! hash is known and aws-chunked framing would only add bytes.

use std::path::PathBuf;
use std::str::FromStr;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Body;
use pin_project_lite::pin_project;
use sha2::{Digest, Sha256};

use crate::error::{ErrorKind, ProxyError};
use crate::spool;

pub mod aws_chunked;
pub mod client_chunked;
pub mod detach;
pub mod end_signal;
pub mod idle;
pub mod pump;
#[cfg(test)]
pub(crate) mod scripted;

use aws_chunked::{AwsChunkedBody, ChunkSigner};
use client_chunked::{Checksum, ChunkedBodyError, DecodedBody};

/// Errors carried by bodies that flow through the proxy.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of a request sent to the gateway.
pub type UpstreamBody = UnsyncBoxBody<Bytes, BoxError>;

/// The body of a response sent to the client.
pub type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// A body that can come from a client: hyper's `Incoming` from the
/// listener, or any other body of bytes (the `request` subcommand's file).
pub trait ClientBody:
    Body<Data = Bytes, Error: Into<BoxError> + Send> + Send + Unpin + 'static
{
}

impl<B> ClientBody for B where
    B: Body<Data = Bytes, Error: Into<BoxError> + Send> + Send + Unpin + 'static
{
}

/// Bodies larger than this (or of unknown length) are read ahead by a
/// [`pump`] task: below it, a task costs more than it saves.
pub const PUMP_THRESHOLD: u64 = 1024 * 1024;

/// `body` as a body to send on, read ahead when it is large.
pub fn forwarded(body: impl ClientBody) -> UpstreamBody {
    let large = body
        .size_hint()
        .exact()
        .is_none_or(|length| length > PUMP_THRESHOLD);
    if large && !body.is_end_stream() {
        pump::pumped(body)
    } else {
        body.map_err(Into::into).boxed_unsync()
    }
}

/// The longest body the proxy takes: 5 TiB, the largest S3 object. A
/// longer declared length (`Content-Length`, `x-amz-decoded-content-length`)
/// is a lie or a mistake, and would overflow the aws-chunked framing's
/// length.
pub const MAX_BODY_LENGTH: u64 = 5 << 40;

/// The SHA-256 of an empty body, in hex.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// How request bodies are signed (V4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PayloadMode {
    /// Empty bodies by the hash of empty, all others as `Signed`.
    #[default]
    Auto,
    /// `UNSIGNED-PAYLOAD`: fastest; use it when the gateway is reached over TLS.
    Unsigned,
    /// The SHA-256 of the whole body, computed before the request is sent.
    Signed,
    /// aws-chunked with a signature per chunk, computed as the body passes:
    /// signed integrity in constant memory. For object uploads only (as
    /// Zenko accepts it); other requests fall back to `Signed`.
    Streaming,
}

/// How much of a body the proxy may hold to sign it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyLimits {
    /// Bodies up to this many bytes are held in memory.
    pub memory_limit: u64,
    /// Bodies up to this many bytes may be spooled to disk.
    pub spool_limit: u64,
    /// Where spool files go; the system's temporary directory when `None`.
    pub spool_dir: Option<PathBuf>,
    /// Size of the data of each chunk of a streaming body.
    pub chunk_size: u64,
}

/// What the proxy signs as the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadHash {
    /// `UNSIGNED-PAYLOAD`.
    Unsigned,
    /// The SHA-256 of the whole body.
    Sha256([u8; 32]),
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: the body is sent aws-chunked.
    Streaming {
        /// The length of the client's body.
        decoded_length: u64,
        /// The size of each chunk's data.
        chunk_size: u64,
    },
}

/// A body ready to be signed and sent.
pub struct PreparedBody {
    /// The bytes to send; for a streaming body, the client's bytes before
    /// they are framed (see [`PreparedBody::into_upstream_body`]).
    pub body: UpstreamBody,
    /// Exactly how many bytes go on the wire.
    pub length: u64,
    /// The value for `x-amz-content-sha256`.
    pub hash: PayloadHash,
    /// The bytes again, for a body small enough to be sent twice (a retry
    /// after a clock correction); `None` for streamed and spooled bodies.
    pub replay: Option<Bytes>,
}

// === impl PayloadMode ===

impl FromStr for PayloadMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "auto" => Ok(Self::Auto),
            "unsigned" => Ok(Self::Unsigned),
            "signed" => Ok(Self::Signed),
            "streaming" => Ok(Self::Streaming),
            other => Err(format!(
                "'{other}' is not one of: auto, unsigned, signed, streaming"
            )),
        }
    }
}

impl PayloadMode {
    /// The name used in the config and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Unsigned => "unsigned",
            Self::Signed => "signed",
            Self::Streaming => "streaming",
        }
    }
}

// === impl PayloadHash ===

impl PayloadHash {
    /// The hash of an empty body.
    pub fn of_empty() -> Self {
        Self::Sha256(Sha256::digest(b"").into())
    }

    /// The value of the `x-amz-content-sha256` header.
    pub fn header_value(&self) -> String {
        match self {
            Self::Unsigned => "UNSIGNED-PAYLOAD".to_owned(),
            Self::Sha256(digest) => hex::encode(digest),
            Self::Streaming { .. } => aws_chunked::STREAMING_PAYLOAD.to_owned(),
        }
    }
}

// === impl PreparedBody ===

impl PreparedBody {
    fn empty() -> Self {
        Self {
            body: Empty::new().map_err(|never| match never {}).boxed_unsync(),
            length: 0,
            hash: PayloadHash::of_empty(),
            replay: Some(Bytes::new()),
        }
    }

    fn in_memory(bytes: Bytes) -> Self {
        let hash = PayloadHash::Sha256(Sha256::digest(&bytes).into());
        Self {
            length: bytes.len() as u64,
            body: Full::new(bytes.clone())
                .map_err(|never| match never {})
                .boxed_unsync(),
            hash,
            replay: Some(bytes),
        }
    }

    /// The same body once more, when it can be sent twice.
    pub fn again(&self) -> Option<Self> {
        let bytes = self.replay.clone()?;
        Some(Self {
            body: Full::new(bytes.clone())
                .map_err(|never| match never {})
                .boxed_unsync(),
            length: self.length,
            hash: self.hash,
            replay: Some(bytes),
        })
    }

    fn chunked(body: impl ClientBody, decoded_length: u64, chunk_size: u64) -> Self {
        Self {
            body: forwarded(body),
            length: aws_chunked::encoded_length(decoded_length, chunk_size),
            hash: PayloadHash::Streaming {
                decoded_length,
                chunk_size,
            },
            replay: None,
        }
    }

    /// The body to send, once the headers are signed: a streaming body is
    /// framed as aws-chunked, its chunks signed by `chunks`.
    pub fn into_upstream_body(self, chunks: Option<ChunkSigner>) -> UpstreamBody {
        match (self.hash, chunks) {
            (
                PayloadHash::Streaming {
                    decoded_length,
                    chunk_size,
                },
                Some(signer),
            ) => AwsChunkedBody::new(self.body, signer, chunk_size, decoded_length).boxed_unsync(),
            _ => self.body,
        }
    }

    fn streamed(body: impl ClientBody, length: u64) -> Self {
        Self {
            body: forwarded(body),
            length,
            hash: PayloadHash::Unsigned,
            replay: None,
        }
    }
}

/// How the client framed its body, beyond HTTP's own framing.
pub enum ClientFraming {
    /// The body is the object's bytes.
    Plain,
    /// The body is an aws-chunked envelope, to decode.
    AwsChunked {
        /// `x-amz-decoded-content-length`.
        decoded_length: u64,
        /// The checksum trailer `x-amz-trailer` announces, if any.
        checksum: Option<(String, Checksum)>,
    },
}

/// Reads how the client framed its body, and removes `aws-chunked` from
/// `Content-Encoding` (what remains is the object's own encoding).
///
/// Refuses transfer codings other than `chunked` (RFC 9112 §6.1: hyper
/// removes the chunking, and a gzip coding would be stored as the object).
pub fn client_framing(headers: &mut HeaderMap) -> Result<ClientFraming, ProxyError> {
    let transfer_codings = header_tokens(headers, http::header::TRANSFER_ENCODING);
    if transfer_codings.iter().any(|coding| coding != "chunked") {
        return Err(ProxyError::new(
            ErrorKind::UnsupportedBodyEncoding,
            format!(
                "transfer coding '{}' is not supported",
                transfer_codings.join(", ")
            ),
        ));
    }
    let content_codings = header_tokens(headers, http::header::CONTENT_ENCODING);
    let streaming = headers
        .get("x-amz-content-sha256")
        .map(|value| {
            value
                .as_bytes()
                .to_ascii_lowercase()
                .starts_with(b"streaming-")
        })
        .unwrap_or(false);
    let enveloped = content_codings.iter().any(|coding| coding == "aws-chunked")
        || streaming
        || headers.contains_key("x-amz-decoded-content-length");
    if !enveloped {
        return Ok(ClientFraming::Plain);
    }

    let decoded_length = headers
        .get("x-amz-decoded-content-length")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .ok_or_else(|| {
            ProxyError::new(
                ErrorKind::InvalidChunkedBody,
                "an aws-chunked body needs x-amz-decoded-content-length",
            )
        })?;
    let checksum = announced_checksum(headers)?;
    let remaining: Vec<String> = content_codings
        .into_iter()
        .filter(|coding| coding != "aws-chunked")
        .collect();
    headers.remove(http::header::CONTENT_ENCODING);
    if !remaining.is_empty() {
        let value = HeaderValue::from_str(&remaining.join(",")).expect("tokens of a header value");
        headers.insert(http::header::CONTENT_ENCODING, value);
    }
    Ok(ClientFraming::AwsChunked {
        decoded_length,
        checksum,
    })
}

/// The checksum of `x-amz-trailer`; an unknown checksum trailer is refused.
fn announced_checksum(headers: &HeaderMap) -> Result<Option<(String, Checksum)>, ProxyError> {
    let trailers = header_tokens(headers, "x-amz-trailer");
    let Some(name) = trailers
        .into_iter()
        .find(|name| name.starts_with("x-amz-checksum-"))
    else {
        return Ok(None);
    };
    match Checksum::for_trailer(&name) {
        Some(checksum) => Ok(Some((name, checksum))),
        None => Err(ProxyError::new(
            ErrorKind::UnsupportedBodyEncoding,
            format!("checksum trailer '{name}' is not supported"),
        )),
    }
}

/// The comma-separated tokens of every `name` header, trimmed, lowercase.
fn header_tokens(headers: &HeaderMap, name: impl http::header::AsHeaderName) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|value| {
            String::from_utf8_lossy(value.as_bytes())
                .split(',')
                .map(|token| token.trim().to_ascii_lowercase())
                .filter(|token| !token.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The client's body as the proxy reads it: decoded when enveloped.
pub fn unframe(body: impl ClientBody, framing: ClientFraming) -> UpstreamBody {
    match framing {
        ClientFraming::Plain => body.map_err(Into::into).boxed_unsync(),
        ClientFraming::AwsChunked {
            decoded_length,
            checksum,
        } => DecodedBody::new(body, decoded_length, checksum).boxed_unsync(),
    }
}

/// The proxy's error for a client body that failed: the envelope's own
/// complaint when it was aws-chunked, else "ended early".
pub fn client_body_error(error: &(dyn std::error::Error + 'static)) -> ProxyError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(chunked) = current.downcast_ref::<ChunkedBodyError>() {
            return ProxyError::new(ErrorKind::InvalidChunkedBody, chunked.to_string());
        }
        if let Some(idle) = current.downcast_ref::<idle::Idle>() {
            return ProxyError::new(
                ErrorKind::IncompleteBody,
                format!("the request body stalled: {idle}"),
            );
        }
        cause = current.source();
    }
    incomplete()
}

/// Turns the client's body into a body to sign, as `mode` says;
/// `streamable` tells whether aws-chunked streaming is allowed (object
/// uploads only, see [`crate::rewrite::Target::is_object_upload`]).
pub async fn prepare(
    body: impl ClientBody,
    mode: PayloadMode,
    streamable: bool,
    limits: &BodyLimits,
) -> Result<PreparedBody, ProxyError> {
    let declared = body.size_hint().exact();
    if declared.is_some_and(|length| length > MAX_BODY_LENGTH) {
        return Err(too_large(MAX_BODY_LENGTH));
    }
    let streams = |length: u64| {
        streamable
            && match mode {
                PayloadMode::Streaming => true,
                PayloadMode::Auto => length > limits.memory_limit,
                PayloadMode::Signed | PayloadMode::Unsigned => false,
            }
    };
    match declared {
        Some(0) => Ok(PreparedBody::empty()),
        Some(length) if mode == PayloadMode::Unsigned => Ok(PreparedBody::streamed(body, length)),
        Some(length) if streams(length) => {
            Ok(PreparedBody::chunked(body, length, limits.chunk_size))
        }
        Some(length) if length > limits.spool_limit => Err(too_large(limits.spool_limit)),
        Some(length) if length <= limits.memory_limit => read_into_memory(body, length).await,
        _ => spool_body(body, limits).await,
    }
}

async fn read_into_memory(
    mut body: impl ClientBody,
    length: u64,
) -> Result<PreparedBody, ProxyError> {
    let mut bytes = BytesMut::with_capacity(length as usize);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| client_body_error(&*error.into()))?;
        if let Ok(data) = frame.into_data() {
            bytes.extend_from_slice(&data);
        }
    }
    if bytes.len() as u64 != length {
        return Err(incomplete());
    }
    Ok(PreparedBody::in_memory(bytes.freeze()))
}

async fn spool_body(
    body: impl ClientBody,
    limits: &BodyLimits,
) -> Result<PreparedBody, ProxyError> {
    let spooled = spool::write(body, limits).await?;
    if spooled.length == 0 {
        return Ok(PreparedBody::empty());
    }
    Ok(PreparedBody {
        length: spooled.length,
        hash: PayloadHash::Sha256(spooled.sha256),
        body: spooled.into_body(),
        replay: None,
    })
}

impl BodyLimits {
    /// These limits with the spool stopping at `max_body_size` too: a
    /// body of unknown length over a route's limit is refused as it spools.
    pub fn capped(&self, max_body_size: Option<u64>) -> Self {
        let mut limits = self.clone();
        if let Some(limit) = max_body_size {
            limits.spool_limit = limits.spool_limit.min(limit);
        }
        limits
    }
}

pin_project! {
    /// A body that holds `T` (a permit, say) until it ends or is dropped.
    pub struct Holding<B, T> {
        #[pin]
        inner: B,
        held: Option<T>,
    }
}

impl<B, T> Holding<B, T> {
    /// `inner`, holding `held` for as long as it lives.
    pub fn new(inner: B, held: T) -> Self {
        Self {
            inner,
            held: Some(held),
        }
    }
}

impl<B: http_body::Body, T> http_body::Body for Holding<B, T> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if matches!(polled, std::task::Poll::Ready(None | Some(Err(_)))) {
            this.held.take();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The error for a body that ended or failed before it was complete.
pub fn incomplete() -> ProxyError {
    ProxyError::new(
        ErrorKind::IncompleteBody,
        "the request body ended before it was complete",
    )
}

/// The error for a body over the spool limit.
pub fn too_large(limit: u64) -> ProxyError {
    ProxyError::new(
        ErrorKind::BodyTooLarge,
        format!("the request body is larger than the proxy's limit of {limit} bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_hash_matches_the_known_value() {
        assert_eq!(PayloadHash::of_empty().header_value(), EMPTY_SHA256);
    }

    #[test]
    fn unsigned_header_value() {
        assert_eq!(PayloadHash::Unsigned.header_value(), "UNSIGNED-PAYLOAD");
    }

    #[test]
    fn payload_modes_parse_by_name() {
        for mode in [
            PayloadMode::Auto,
            PayloadMode::Unsigned,
            PayloadMode::Signed,
        ] {
            assert_eq!(mode.as_str().parse::<PayloadMode>(), Ok(mode));
        }
        assert!("streaming-fast".parse::<PayloadMode>().is_err());
    }

    #[tokio::test]
    async fn absurd_declared_lengths_are_refused_before_framing() {
        let limits = BodyLimits {
            memory_limit: 1024 * 1024,
            spool_limit: 5 * 1024 * 1024 * 1024,
            spool_dir: None,
            chunk_size: 64 * 1024,
        };
        for declared in [u64::MAX, u64::MAX - 615, MAX_BODY_LENGTH + 1] {
            for mode in [
                PayloadMode::Auto,
                PayloadMode::Streaming,
                PayloadMode::Unsigned,
                PayloadMode::Signed,
            ] {
                let body = DecodedBody::new(scripted::scripted(vec![]), declared, None);
                let refused = prepare(body, mode, true, &limits).await.err();
                assert_eq!(
                    refused.map(|error| error.kind()),
                    Some(ErrorKind::BodyTooLarge),
                    "{declared} {mode:?}"
                );
            }
        }
        let largest = aws_chunked::encoded_length(MAX_BODY_LENGTH, 8 * 1024);
        assert!(largest > MAX_BODY_LENGTH);
    }

    #[test]
    fn in_memory_body_is_hashed() {
        let prepared = PreparedBody::in_memory(Bytes::from_static(b"abc"));
        assert_eq!(prepared.length, 3);
        assert_eq!(
            prepared.hash.header_value(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
