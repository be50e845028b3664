//! Decoding a body that the client already framed as aws-chunked, as recent
//! AWS SDKs and the AWS CLI do (`Content-Encoding: aws-chunked`,
//! `x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER` or one of the
//! signed streaming values, a checksum in a trailer named by `x-amz-trailer`).
//!
//! Zenko 8.8 refuses trailers, and the envelope must never be stored as the
//! object, so the proxy decodes the envelope as it streams, checks the
//! trailing checksum, and passes on the plain bytes, which are then signed
//! like any other body. The client's own chunk signatures, if any, are made
//! with keys the proxy does not know; they are dropped, and the proxy's
//! signature covers the bytes instead.
//!
//! Data safety: the last piece of data is held back until the trailer has
//! been read and the checksum matches. A wrong checksum or a malformed
//! envelope ends the decoded body with an error before its last byte, so
//! the upstream request is aborted short and the gateway stores nothing.
//!
//! The envelope:
//!
//! ```text
//! <hex size>[;chunk-signature=…]\r\n <data> \r\n   … repeated
//! 0[;chunk-signature=…]\r\n
//! x-amz-checksum-crc32:<base64>\r\n                 (trailers, optional)
//! \r\n
//! ```

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use base64::Engine;
use bytes::{Buf, Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::body::BoxError;

/// Longest chunk header or trailer line accepted.
const MAX_LINE: usize = 4096;

/// A checksum named by `x-amz-trailer`, computed over the decoded bytes.
pub enum Checksum {
    /// `x-amz-checksum-crc32`.
    Crc32(crc32fast::Hasher),
    /// `x-amz-checksum-crc32c`.
    Crc32c(u32),
    /// `x-amz-checksum-crc64nvme`.
    Crc64Nvme(crc64fast_nvme::Digest),
    /// `x-amz-checksum-sha1`.
    Sha1(Sha1),
    /// `x-amz-checksum-sha256`.
    Sha256(Sha256),
}

/// Why a client's aws-chunked body was refused.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChunkedBodyError {
    /// A chunk header, its data or a trailer is not where the envelope
    /// puts it.
    #[error("malformed aws-chunked body: {0}")]
    Malformed(&'static str),
    /// The decoded bytes are not as many as `x-amz-decoded-content-length`.
    #[error("aws-chunked body holds {decoded} bytes, x-amz-decoded-content-length says {declared}")]
    Length {
        /// The declared length.
        declared: u64,
        /// The bytes decoded.
        decoded: u64,
    },
    /// The trailing checksum does not match the bytes.
    #[error("aws-chunked body fails its {name} checksum: trailer {sent}, bytes {computed}")]
    ChecksumMismatch {
        /// The trailer's name.
        name: String,
        /// The value the client sent.
        sent: String,
        /// The value of the bytes received.
        computed: String,
    },
    /// The trailer named by `x-amz-trailer` never came.
    #[error("aws-chunked body ended without its {0} trailer")]
    MissingTrailer(String),
}

pin_project! {
    /// The plain bytes of a client's aws-chunked body.
    pub struct DecodedBody<B> {
        #[pin]
        inner: B,
        declared: u64,
        decoded: u64,
        state: State,
        line: BytesMut,
        checksum: Option<(String, Checksum)>,
        held: Option<Bytes>,
        failed: bool,
    }
}

/// Where the decoder is in the envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk header line.
    Header,
    /// Inside a chunk's data, with this many bytes to go.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// Reading trailer lines, up to the empty one.
    Trailers,
    /// The envelope is complete and checked.
    Done,
}

// === impl Checksum ===

impl Checksum {
    /// The checksum a trailer name (`x-amz-checksum-crc32`, …) asks for.
    pub fn for_trailer(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "x-amz-checksum-crc32" => Some(Self::Crc32(crc32fast::Hasher::new())),
            "x-amz-checksum-crc32c" => Some(Self::Crc32c(0)),
            "x-amz-checksum-crc64nvme" => Some(Self::Crc64Nvme(crc64fast_nvme::Digest::new())),
            "x-amz-checksum-sha1" => Some(Self::Sha1(Sha1::new())),
            "x-amz-checksum-sha256" => Some(Self::Sha256(Sha256::new())),
            _ => None,
        }
    }

    /// The trailer value of `bytes` under this checksum.
    pub fn digest_of(mut self, bytes: &[u8]) -> String {
        self.update(bytes);
        self.finish()
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Crc32(hasher) => hasher.update(bytes),
            Self::Crc32c(crc) => *crc = crc32c::crc32c_append(*crc, bytes),
            Self::Crc64Nvme(digest) => digest.write(bytes),
            Self::Sha1(hasher) => hasher.update(bytes),
            Self::Sha256(hasher) => hasher.update(bytes),
        }
    }

    /// The value as the trailer carries it: base64 of the big-endian digest.
    fn finish(self) -> String {
        let bytes = match self {
            Self::Crc32(hasher) => hasher.finalize().to_be_bytes().to_vec(),
            Self::Crc32c(crc) => crc.to_be_bytes().to_vec(),
            Self::Crc64Nvme(digest) => digest.sum64().to_be_bytes().to_vec(),
            Self::Sha1(hasher) => hasher.finalize().to_vec(),
            Self::Sha256(hasher) => hasher.finalize().to_vec(),
        };
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

// === impl DecodedBody ===

impl<B> DecodedBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    /// Decodes `inner`, which must hold `declared` bytes once decoded and,
    /// when `trailer` names a checksum, end with that checksum.
    pub fn new(inner: B, declared: u64, trailer: Option<(String, Checksum)>) -> Self {
        Self {
            inner,
            declared,
            decoded: 0,
            state: State::Header,
            line: BytesMut::new(),
            checksum: trailer,
            held: None,
            failed: false,
        }
    }
}

impl<B> Body for DecodedBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        if *this.failed {
            return Poll::Ready(None);
        }
        loop {
            let frame = ready!(this.inner.as_mut().poll_frame(cx));
            let mut input = match frame {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_) => continue,
                },
                Some(Err(error)) => {
                    *this.failed = true;
                    return Poll::Ready(Some(Err(error.into())));
                }
                // The client's body is over: release the last piece only if
                // the envelope was complete and checked.
                None if *this.state == State::Done => {
                    return Poll::Ready(this.held.take().map(|bytes| Ok(Frame::data(bytes))));
                }
                None => {
                    *this.failed = true;
                    let error = ChunkedBodyError::Malformed("the body ended inside the envelope");
                    return Poll::Ready(Some(Err(error.into())));
                }
            };
            let mut decoder = Decoder {
                declared: *this.declared,
                decoded: this.decoded,
                state: this.state,
                line: this.line,
                checksum: this.checksum,
            };
            let mut out = Vec::new();
            if let Err(error) = decoder.feed(&mut input, &mut out) {
                *this.failed = true;
                return Poll::Ready(Some(Err(error.into())));
            }
            // Hold the newest piece back, so that the last one is released
            // only after the trailer has been checked.
            let mut release = None;
            for piece in out {
                if let Some(previous) = this.held.replace(piece) {
                    release = Some(match release.take() {
                        None => previous,
                        Some(earlier) => join(earlier, previous),
                    });
                }
            }
            if let Some(bytes) = release {
                return Poll::Ready(Some(Ok(Frame::data(bytes))));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed
            || (self.state == State::Done && self.held.is_none() && self.inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.declared.saturating_sub(self.decoded) + self.held_len())
    }
}

impl<B: Body> DecodedBody<B> {
    fn held_len(&self) -> u64 {
        // NB: `decoded` already counts the held piece, which is still to go.
        self.held.as_ref().map_or(0, |held| held.len() as u64)
    }
}

/// Two pieces released together (only when one frame of input completes
/// several pieces of data); a copy, but a rare one.
fn join(first: Bytes, second: Bytes) -> Bytes {
    let mut joined = BytesMut::with_capacity(first.len() + second.len());
    joined.extend_from_slice(&first);
    joined.extend_from_slice(&second);
    joined.freeze()
}

/// The decoder's state, borrowed from the body for one frame of input.
struct Decoder<'a> {
    declared: u64,
    decoded: &'a mut u64,
    state: &'a mut State,
    line: &'a mut BytesMut,
    checksum: &'a mut Option<(String, Checksum)>,
}

impl Decoder<'_> {
    /// Consumes `input`, pushing decoded data pieces to `out`.
    fn feed(&mut self, input: &mut Bytes, out: &mut Vec<Bytes>) -> Result<(), ChunkedBodyError> {
        while !input.is_empty() {
            match *self.state {
                State::Header => {
                    if let Some(line) = self.take_line(input)? {
                        *self.state = chunk_size(&line)?.map_or(State::Trailers, State::Data);
                    }
                }
                State::Data(remaining) => {
                    let take = remaining.min(input.len() as u64) as usize;
                    let piece = input.split_to(take);
                    *self.decoded += take as u64;
                    if *self.decoded > self.declared {
                        return Err(self.length_error());
                    }
                    if let Some((_, checksum)) = self.checksum.as_mut() {
                        checksum.update(&piece);
                    }
                    out.push(piece);
                    let left = remaining - take as u64;
                    *self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                }
                State::DataEnd => {
                    if let Some(line) = self.take_line(input)? {
                        if !line.is_empty() {
                            return Err(ChunkedBodyError::Malformed(
                                "chunk data longer than its size",
                            ));
                        }
                        *self.state = State::Header;
                    }
                }
                State::Trailers => {
                    if let Some(line) = self.take_line(input)? {
                        if line.is_empty() {
                            self.finish()?;
                        } else {
                            self.trailer(&line)?;
                        }
                    }
                }
                State::Done => {
                    return Err(ChunkedBodyError::Malformed(
                        "bytes after the end of the envelope",
                    ));
                }
            }
        }
        Ok(())
    }

    /// A whole line without its CRLF, once it has arrived.
    fn take_line(&mut self, input: &mut Bytes) -> Result<Option<Bytes>, ChunkedBodyError> {
        match input.iter().position(|&byte| byte == b'\n') {
            Some(end) => {
                self.line.extend_from_slice(&input.split_to(end + 1));
                if self.line.len() > MAX_LINE + 2 {
                    return Err(ChunkedBodyError::Malformed("a chunk header is too long"));
                }
                let mut line = self.line.split().freeze();
                if !line.ends_with(b"\r\n") {
                    return Err(ChunkedBodyError::Malformed("a line does not end with CRLF"));
                }
                line.truncate(line.len() - 2);
                Ok(Some(line))
            }
            None => {
                self.line.extend_from_slice(input);
                input.advance(input.len());
                if self.line.len() > MAX_LINE {
                    return Err(ChunkedBodyError::Malformed("a chunk header is too long"));
                }
                Ok(None)
            }
        }
    }

    fn trailer(&mut self, line: &[u8]) -> Result<(), ChunkedBodyError> {
        let text = std::str::from_utf8(line)
            .map_err(|_| ChunkedBodyError::Malformed("a trailer is not text"))?;
        let (name, value) = text
            .split_once(':')
            .ok_or(ChunkedBodyError::Malformed("a trailer has no ':'"))?;
        let name = name.trim().to_ascii_lowercase();
        let expected = self.checksum.as_ref().map(|(wanted, _)| wanted.as_str());
        if expected != Some(name.as_str()) {
            // x-amz-trailer-signature and the like: signed with the
            // client's key, which the proxy does not know.
            return Ok(());
        }
        let (name, checksum) = self.checksum.take().expect("the checksum was just seen");
        let computed = checksum.finish();
        let sent = value.trim();
        if sent != computed {
            return Err(ChunkedBodyError::ChecksumMismatch {
                name,
                sent: sent.to_owned(),
                computed,
            });
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ChunkedBodyError> {
        if *self.decoded != self.declared {
            return Err(self.length_error());
        }
        if let Some((name, _)) = self.checksum.take() {
            return Err(ChunkedBodyError::MissingTrailer(name));
        }
        *self.state = State::Done;
        Ok(())
    }

    fn length_error(&self) -> ChunkedBodyError {
        ChunkedBodyError::Length {
            declared: self.declared,
            decoded: *self.decoded,
        }
    }
}

/// The size of a chunk header line; `None` for the final chunk.
fn chunk_size(line: &[u8]) -> Result<Option<u64>, ChunkedBodyError> {
    let size = line.split(|&byte| byte == b';').next().unwrap_or_default();
    let size = std::str::from_utf8(size)
        .ok()
        .map(str::trim)
        .filter(|size| {
            (1..=16).contains(&size.len()) && size.bytes().all(|b| b.is_ascii_hexdigit())
        })
        .and_then(|size| u64::from_str_radix(size, 16).ok())
        .ok_or(ChunkedBodyError::Malformed(
            "a chunk size is not hexadecimal",
        ))?;
    Ok((size > 0).then_some(size))
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;
    use crate::body::scripted::scripted;

    /// `envelope` cut into frames of `frame` bytes, decoded.
    async fn decode(
        envelope: &[u8],
        frame: usize,
        declared: u64,
        trailer: Option<&str>,
    ) -> Result<Bytes, BoxError> {
        let pieces = envelope
            .chunks(frame)
            .map(|piece| Ok(Frame::data(Bytes::copy_from_slice(piece))))
            .collect();
        let checksum = trailer.map(|name| (name.to_owned(), Checksum::for_trailer(name).unwrap()));
        let body = DecodedBody::new(scripted(pieces), declared, checksum);
        body.collect().await.map(|collected| collected.to_bytes())
    }

    fn crc32_of(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(crc32fast::hash(bytes).to_be_bytes())
    }

    fn envelope(chunks: &[&[u8]], trailers: &str) -> Vec<u8> {
        let mut envelope = Vec::new();
        for chunk in chunks {
            envelope.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            envelope.extend_from_slice(chunk);
            envelope.extend_from_slice(b"\r\n");
        }
        envelope.extend_from_slice(format!("0\r\n{trailers}\r\n").as_bytes());
        envelope
    }

    #[tokio::test]
    async fn unsigned_trailer_body_decodes_at_any_frame_size() {
        let data = b"hello, chunked world";
        let trailer = format!("x-amz-checksum-crc32:{}\r\n", crc32_of(data));
        let envelope = envelope(&[&data[..7], &data[7..]], &trailer);
        for frame in [1, 2, 5, 64, 1000] {
            let decoded = decode(&envelope, frame, 20, Some("x-amz-checksum-crc32"))
                .await
                .unwrap();
            assert_eq!(decoded, &data[..], "frames of {frame}");
        }
    }

    #[tokio::test]
    async fn signed_chunk_headers_are_stripped() {
        let signature = "0".repeat(64);
        let envelope = format!(
            "5;chunk-signature={signature}\r\nhello\r\n0;chunk-signature={signature}\r\n\r\n"
        );
        let decoded = decode(envelope.as_bytes(), 3, 5, None).await.unwrap();
        assert_eq!(decoded, "hello");
    }

    #[tokio::test]
    async fn every_checksum_kind_is_checked() {
        let data = b"checksummed";
        for name in [
            "x-amz-checksum-crc32",
            "x-amz-checksum-crc32c",
            "x-amz-checksum-crc64nvme",
            "x-amz-checksum-sha1",
            "x-amz-checksum-sha256",
        ] {
            let mut checksum = Checksum::for_trailer(name).unwrap();
            checksum.update(data);
            let right = format!("{name}:{}\r\n", checksum.finish());
            let good = envelope(&[data], &right);
            assert!(decode(&good, 4, 11, Some(name)).await.is_ok(), "{name}");
            let wrong = envelope(&[b"checksummeD"], &right);
            let error = decode(&wrong, 4, 11, Some(name)).await.unwrap_err();
            assert!(error.to_string().contains("fails its"), "{name}: {error}");
        }
    }

    #[tokio::test]
    async fn last_piece_is_held_until_the_checksum_passes() {
        let data = b"abcdefgh";
        let wrong = "x-amz-checksum-crc32:AAAAAA==\r\n";
        let envelope = envelope(&[&data[..4], &data[4..]], wrong);
        let pieces = envelope
            .chunks(6)
            .map(|piece| Ok(Frame::data(Bytes::copy_from_slice(piece))))
            .collect();
        let checksum = Checksum::for_trailer("x-amz-checksum-crc32");
        let body = DecodedBody::new(
            scripted(pieces),
            8,
            Some(("x-amz-checksum-crc32".into(), checksum.unwrap())),
        );
        let mut body = std::pin::pin!(body);
        let mut released = Vec::new();
        let error = loop {
            match body.frame().await {
                Some(Ok(frame)) => released.extend_from_slice(&frame.into_data().unwrap()),
                Some(Err(error)) => break error,
                None => panic!("a wrong checksum must end in an error"),
            }
        };
        assert!(error.to_string().contains("fails its x-amz-checksum-crc32"));
        assert!(released.len() < data.len(), "released {released:?}");
    }

    #[tokio::test]
    async fn malformed_envelopes_are_refused() {
        let cases: [(&[u8], &str); 5] = [
            (b"zz\r\nhello\r\n0\r\n\r\n", "not hexadecimal"),
            (b"5\r\nhello!!\r\n0\r\n\r\n", "longer than its size"),
            (b"5\nhello\r\n0\r\n\r\n", "CRLF"),
            (b"5\r\nhel", "ended inside"),
            (b"5\r\nhello\r\n0\r\n\r\nextra", "after the end"),
        ];
        for (envelope, expected) in cases {
            let error = decode(envelope, 3, 5, None).await.unwrap_err();
            assert!(error.to_string().contains(expected), "{expected}: {error}");
        }
    }

    #[tokio::test]
    async fn decoded_length_must_match_the_declared_one() {
        let error = decode(&envelope(&[b"hello"], ""), 100, 6, None)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("holds 5 bytes"), "{error}");
        let error = decode(&envelope(&[b"hello"], ""), 100, 4, None)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("says 4"), "{error}");
    }

    #[tokio::test]
    async fn announced_trailer_must_come() {
        let error = decode(
            &envelope(&[b"hello"], ""),
            100,
            5,
            Some("x-amz-checksum-sha256"),
        )
        .await
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("without its x-amz-checksum-sha256"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn size_hint_is_the_decoded_length() {
        let body = DecodedBody::new(scripted(vec![]), 1234, None);
        assert_eq!(body.size_hint().exact(), Some(1234));
    }

    const TRAILERS: [&str; 5] = [
        "x-amz-checksum-crc32",
        "x-amz-checksum-crc32c",
        "x-amz-checksum-crc64nvme",
        "x-amz-checksum-sha1",
        "x-amz-checksum-sha256",
    ];

    /// `data` in chunks of `sizes` (used in turn), signed or not, ending
    /// with `trailers`.
    fn envelope_of(data: &[u8], sizes: &[usize], signed: bool, trailers: &str) -> Vec<u8> {
        let extension = if signed {
            format!(";chunk-signature={}", "0".repeat(64))
        } else {
            String::new()
        };
        let mut envelope = Vec::new();
        let mut rest = data;
        for size in sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, after) = rest.split_at((*size).min(rest.len()));
            envelope.extend_from_slice(format!("{:x}{extension}\r\n", chunk.len()).as_bytes());
            envelope.extend_from_slice(chunk);
            envelope.extend_from_slice(b"\r\n");
            rest = after;
        }
        envelope.extend_from_slice(format!("0{extension}\r\n{trailers}\r\n").as_bytes());
        envelope
    }

    /// `data` framed again by the proxy's own aws-chunked encoder.
    async fn reencode(data: &[u8], chunk_size: u64) -> Bytes {
        let signer = crate::body::aws_chunked::ChunkSigner::new(
            [7; 32],
            "20250101T000000Z".into(),
            "20250101/us-east-1/s3/aws4_request".into(),
            "0".repeat(64),
        );
        let pieces = vec![Ok(Frame::data(Bytes::copy_from_slice(data)))];
        let body = crate::body::aws_chunked::AwsChunkedBody::new(
            scripted(pieces),
            signer,
            chunk_size,
            data.len() as u64,
        );
        body.collect().await.unwrap().to_bytes()
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// A well-formed envelope decodes to its data whatever the chunk
        /// sizes, chunk signatures, checksum and framing, and the decoded
        /// bytes survive the proxy's own encoder and this decoder again.
        #[test]
        fn well_formed_envelope_decodes_to_its_data(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000),
            sizes in proptest::collection::vec(1usize..700, 1..4),
            signed in proptest::prelude::any::<bool>(),
            trailer in proptest::option::of(proptest::sample::select(TRAILERS.to_vec())),
            frame in 1usize..600,
            chunk_size in 1u64..1000,
        ) {
            let trailers = trailer.map_or(String::new(), |name| {
                let value = Checksum::for_trailer(name).unwrap().digest_of(&data);
                format!("x-amz-trailer-signature:{}\r\n{name}:{value}\r\n", "0".repeat(64))
            });
            let envelope = envelope_of(&data, &sizes, signed, &trailers);
            let declared = data.len() as u64;
            let runtime = runtime();
            let decoded = runtime.block_on(decode(&envelope, frame, declared, trailer)).unwrap();
            proptest::prop_assert_eq!(&decoded[..], &data[..]);

            let encoded = runtime.block_on(reencode(&decoded, chunk_size));
            let again = runtime.block_on(decode(&encoded, frame, declared, None)).unwrap();
            proptest::prop_assert_eq!(&again[..], &data[..]);
        }

        /// A damaged envelope never panics the decoder, and it decodes, if
        /// at all, to exactly the declared length, the same way in one frame
        /// as in many, and to bytes that re-encode and decode unchanged.
        #[test]
        fn damaged_envelope_fails_cleanly_or_decodes_exactly(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
            sizes in proptest::collection::vec(1usize..100, 1..4),
            edits in proptest::collection::vec(
                (proptest::prelude::any::<usize>(), proptest::sample::select(b"0123456789abcdef;=:\r\n x".to_vec())),
                1..4,
            ),
            trailer in proptest::option::of(proptest::sample::select(TRAILERS.to_vec())),
            declared_offset in -2i64..3,
            frame in 1usize..64,
        ) {
            let trailers = trailer.map_or(String::new(), |name| {
                let value = Checksum::for_trailer(name).unwrap().digest_of(&data);
                format!("{name}:{value}\r\n")
            });
            let mut envelope = envelope_of(&data, &sizes, false, &trailers);
            for (position, byte) in edits {
                let index = position % envelope.len();
                envelope[index] = byte;
            }
            let declared = (data.len() as u64).saturating_add_signed(declared_offset);
            let runtime = runtime();
            let cut = runtime.block_on(decode(&envelope, frame, declared, trailer));
            let whole = runtime.block_on(decode(&envelope, envelope.len(), declared, trailer));
            proptest::prop_assert_eq!(cut.is_ok(), whole.is_ok());
            if let (Ok(cut), Ok(whole)) = (cut, whole) {
                proptest::prop_assert_eq!(&cut, &whole);
                proptest::prop_assert_eq!(cut.len() as u64, declared);
                let encoded = runtime.block_on(reencode(&cut, 7));
                let again = runtime.block_on(decode(&encoded, frame, declared, None)).unwrap();
                proptest::prop_assert_eq!(&again, &cut);
            }
        }

        /// Arbitrary bytes never panic the decoder; a success holds the
        /// declared length.
        #[test]
        fn arbitrary_bytes_never_panic_the_decoder(
            bytes in proptest::collection::vec(
                proptest::sample::select(b"0123456789abcdefABCDEF;=:\r\nxyz ".to_vec()),
                0..200,
            ),
            declared in 0u64..16,
            frame in 1usize..32,
        ) {
            if let Ok(decoded) = runtime().block_on(decode(&bytes, frame, declared, None)) {
                proptest::prop_assert_eq!(decoded.len() as u64, declared);
            }
        }
    }

    #[test]
    fn chunk_sizes_are_plain_hexadecimal() {
        assert_eq!(chunk_size(b"1f;chunk-signature=ab").unwrap(), Some(31));
        assert_eq!(chunk_size(b"0").unwrap(), None);
        for bad in [&b"+5"[..], b"-1", b"", b"0x10", b"12345678901234567"] {
            assert!(chunk_size(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[tokio::test]
    async fn long_chunk_header_is_refused_however_it_is_framed() {
        let header = format!("5;{}\r\n", "x".repeat(2 * MAX_LINE));
        let envelope = [header.as_bytes(), b"hello\r\n0\r\n\r\n"].concat();
        let cut = decode(&envelope, 1024, 5, None).await.unwrap_err();
        assert!(cut.to_string().contains("too long"), "{cut}");
        let whole = decode(&envelope, envelope.len(), 5, None).await;
        assert!(whole.is_err(), "the same line in one frame is read whole");
    }
}
