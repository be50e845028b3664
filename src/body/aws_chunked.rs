//! aws-chunked encoding with a V4 signature on every chunk
//! (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`): integrity signed in constant
//! memory, without reading the body first.
//!
//! Each chunk goes on the wire as
//!
//! ```text
//! <size in hex>;chunk-signature=<64 hex>\r\n<size bytes>\r\n
//! ```
//!
//! and the body ends with a chunk of size 0. A chunk's signature signs its
//! SHA-256 and the previous signature (the first one, the seed signature of
//! the headers), so chunks can be neither changed, reordered nor cut:
//!
//! ```text
//! AWS4-HMAC-SHA256-PAYLOAD \n <x-amz-date> \n <scope> \n <previous signature> \n
//! <SHA-256 of the empty string> \n <SHA-256 of the chunk>
//! ```
//!
//! The final chunk is sent only once the client's whole body has arrived
//! with the declared length: a body that ends short or fails ends the
//! encoded body with an error, the upstream request is aborted, and the
//! gateway, missing the final chunk, stores nothing.
//!
//! See <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html>.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use hmac::{Hmac, KeyInit, Mac};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use sha2::{Digest, Sha256};

use crate::body::BoxError;

/// The `x-amz-content-sha256` value of a streaming-signed body.
pub const STREAMING_PAYLOAD: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";

/// The default size of a chunk's data (64 KiB).
pub const DEFAULT_CHUNK_SIZE: u64 = 64 * 1024;

/// The SHA-256 of the empty string, in hex, as every chunk signs it.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// `;chunk-signature=` plus 64 hex digits plus CRLF, after the size.
const HEADER_OVERHEAD: u64 = 17 + 64 + 2;

/// What the chain of chunk signatures starts from.
pub struct ChunkSigner {
    signing_key: [u8; 32],
    date_time: String,
    scope: String,
    previous: String,
}

pin_project! {
    /// `B` re-framed as signed aws-chunked data.
    pub struct AwsChunkedBody<B> {
        #[pin]
        inner: B,
        signer: ChunkSigner,
        chunk_size: usize,
        declared: u64,
        received: u64,
        filling: Chunk,
        ready: VecDeque<Bytes>,
        finished: bool,
    }
}

/// The chunk being filled: its pieces (slices of the client's frames,
/// never copied) and their running hash.
struct Chunk {
    pieces: Vec<Bytes>,
    length: usize,
    hasher: Sha256,
}

// === impl ChunkSigner ===

impl ChunkSigner {
    /// A chain that starts at `seed_signature`, the signature of the
    /// request's headers, made at `date_time` (`x-amz-date`) for `scope`
    /// (`date/region/s3/aws4_request`) with `signing_key`.
    pub fn new(
        signing_key: [u8; 32],
        date_time: String,
        scope: String,
        seed_signature: String,
    ) -> Self {
        Self {
            signing_key,
            date_time,
            scope,
            previous: seed_signature,
        }
    }

    /// Signs the next chunk, whose SHA-256 is `digest`.
    pub fn sign(&mut self, digest: &[u8]) -> String {
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{}",
            self.date_time,
            self.scope,
            self.previous,
            hex::encode(digest)
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.signing_key)
            .expect("HMAC takes a key of any length");
        mac.update(string_to_sign.as_bytes());
        self.previous = hex::encode(mac.finalize().into_bytes());
        self.previous.clone()
    }
}

impl Drop for ChunkSigner {
    fn drop(&mut self) {
        // NB: a plain overwrite; the key is short-lived and never logged.
        self.signing_key = [0; 32];
    }
}

/// The encoded length of `decoded` bytes in chunks of `chunk_size`,
/// final chunk included.
pub fn encoded_length(decoded: u64, chunk_size: u64) -> u64 {
    let framed = |size: u64| hex_digits(size) + HEADER_OVERHEAD + size + 2;
    let full = decoded / chunk_size;
    let rest = decoded % chunk_size;
    let mut length = full * framed(chunk_size) + framed(0);
    if rest > 0 {
        length += framed(rest);
    }
    length
}

fn hex_digits(value: u64) -> u64 {
    (u64::BITS - value.leading_zeros()).div_ceil(4).max(1) as u64
}

// === impl AwsChunkedBody ===

impl<B> AwsChunkedBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    /// Encodes `inner`, which must yield exactly `declared` bytes.
    pub fn new(inner: B, signer: ChunkSigner, chunk_size: u64, declared: u64) -> Self {
        Self {
            inner,
            signer,
            chunk_size: chunk_size as usize,
            declared,
            received: 0,
            filling: Chunk::new(),
            ready: VecDeque::new(),
            finished: false,
        }
    }
}

impl<B> Body for AwsChunkedBody<B>
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
        loop {
            if let Some(bytes) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(bytes))));
            }
            if *this.finished {
                return Poll::Ready(None);
            }
            match ready!(this.inner.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => {
                    let Ok(mut data) = frame.into_data() else {
                        continue;
                    };
                    *this.received += data.remaining() as u64;
                    if *this.received > *this.declared {
                        *this.finished = true;
                        return Poll::Ready(Some(Err(length_error(
                            *this.declared,
                            *this.received,
                        ))));
                    }
                    while !data.is_empty() {
                        let room = *this.chunk_size - this.filling.length;
                        let piece = data.split_to(room.min(data.len()));
                        this.filling.push(piece);
                        if this.filling.length == *this.chunk_size {
                            this.filling.emit(this.signer, this.ready);
                        }
                    }
                }
                Some(Err(error)) => {
                    *this.finished = true;
                    return Poll::Ready(Some(Err(error.into())));
                }
                None => {
                    *this.finished = true;
                    if *this.received != *this.declared {
                        return Poll::Ready(Some(Err(length_error(
                            *this.declared,
                            *this.received,
                        ))));
                    }
                    if this.filling.length > 0 {
                        this.filling.emit(this.signer, this.ready);
                    }
                    this.filling.emit(this.signer, this.ready);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished && self.ready.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(encoded_length(self.declared, self.chunk_size as u64))
    }
}

fn length_error(declared: u64, received: u64) -> BoxError {
    format!("the client's body has {received} bytes where {declared} were declared").into()
}

// === impl Chunk ===

impl Chunk {
    fn new() -> Self {
        Self {
            pieces: Vec::new(),
            length: 0,
            hasher: Sha256::new(),
        }
    }

    fn push(&mut self, piece: Bytes) {
        self.hasher.update(&piece);
        self.length += piece.len();
        self.pieces.push(piece);
    }

    /// Signs the chunk, queues its header, data and CRLF, and starts anew.
    fn emit(&mut self, signer: &mut ChunkSigner, ready: &mut VecDeque<Bytes>) {
        let filled = std::mem::replace(self, Self::new());
        let digest = filled.hasher.finalize();
        let signature = signer.sign(&digest);
        ready.push_back(Bytes::from(format!(
            "{:x};chunk-signature={signature}\r\n",
            filled.length
        )));
        ready.extend(filled.pieces);
        ready.push_back(Bytes::from_static(b"\r\n"));
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, StreamBody};

    use super::*;
    use crate::body::scripted::{Piece, data, scripted};

    /// The signing key of the AWS streaming example: secret
    /// wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, 20130524, us-east-1, s3.
    fn example_signer() -> ChunkSigner {
        let time =
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_369_353_600);
        let key = aws_sigv4::sign::v4::generate_signing_key(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            time,
            "us-east-1",
            "s3",
        );
        let key: [u8; 32] = key.as_ref().try_into().unwrap();
        ChunkSigner::new(
            key,
            "20130524T000000Z".into(),
            "20130524/us-east-1/s3/aws4_request".into(),
            "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9".into(),
        )
    }

    #[tokio::test]
    async fn aws_example_chunk_signatures() {
        // 66560 bytes of 'a' in chunks of 64 KiB: the AWS documentation's
        // example of a streaming PUT, with its three chunk signatures.
        let body = scripted(vec![data([b'a'; 66_560])]);
        let encoded = AwsChunkedBody::new(body, example_signer(), 65_536, 66_560);
        assert_eq!(encoded.size_hint().exact(), Some(66_824));
        let bytes = encoded.collect().await.unwrap().to_bytes();
        assert_eq!(bytes.len(), 66_824);
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with(
            "10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n"
        ));
        assert!(text.contains(
            "\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n"
        ));
        assert!(text.ends_with(
            "\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n"
        ));
    }

    #[tokio::test]
    async fn chunks_are_cut_at_the_chunk_size_whatever_the_frames() {
        let pieces = vec![data(b"abc"), data(b"defgh"), data(b"ij")];
        let encoded = AwsChunkedBody::new(scripted(pieces), example_signer(), 4, 10);
        let expected = encoded_length(10, 4);
        let bytes = encoded.collect().await.unwrap().to_bytes();
        assert_eq!(bytes.len() as u64, expected);
        let text = String::from_utf8_lossy(&bytes);
        let sizes: Vec<&str> = text
            .split("\r\n")
            .filter_map(|line| line.split_once(";chunk-signature=").map(|(size, _)| size))
            .collect();
        assert_eq!(sizes, ["4", "4", "2", "0"]);
        assert!(
            text.contains("\r\nabcd\r\n") && text.contains("\r\nefgh\r\n"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn empty_body_is_only_the_final_chunk() {
        let encoded = AwsChunkedBody::new(scripted(vec![]), example_signer(), 4, 0);
        let bytes = encoded.collect().await.unwrap().to_bytes();
        assert_eq!(bytes.len() as u64, encoded_length(0, 4));
        assert!(bytes.starts_with(b"0;chunk-signature="));
    }

    #[tokio::test]
    async fn body_ending_short_never_gets_a_final_chunk() {
        let encoded = AwsChunkedBody::new(
            scripted(vec![data(b"abcd"), data(b"ef")]),
            example_signer(),
            4,
            10,
        );
        let mut encoded = std::pin::pin!(encoded);
        let mut sent = Vec::new();
        let outcome = loop {
            match encoded.frame().await {
                Some(Ok(frame)) => sent.extend_from_slice(&frame.into_data().unwrap()),
                Some(Err(error)) => break error.to_string(),
                None => panic!("the body must fail, not end"),
            }
        };
        assert!(outcome.contains("6 bytes where 10"), "{outcome}");
        assert!(!String::from_utf8_lossy(&sent).contains("\r\n0;chunk-signature="));
    }

    #[tokio::test]
    async fn inner_error_ends_with_an_error_and_no_final_chunk() {
        let failing = vec![
            data(b"abcd"),
            Err(std::io::Error::other("client went away")),
        ];
        let encoded = AwsChunkedBody::new(scripted(failing), example_signer(), 4, 10);
        let error = encoded.collect().await.unwrap_err();
        assert!(error.to_string().contains("client went away"));
    }

    #[tokio::test]
    async fn body_longer_than_declared_is_an_error() {
        let encoded = AwsChunkedBody::new(scripted(vec![data(b"abcdef")]), example_signer(), 4, 5);
        assert!(encoded.collect().await.is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// Whatever the body's size, the chunk size and how the client's
        /// frames fall, the encoding has the announced length and decodes
        /// back to the same bytes.
        #[test]
        fn encoding_round_trips_through_the_decoder(
            length in 0usize..100_000,
            chunk_size in 1u64..20_000,
            frame in 1usize..30_000,
            seed in proptest::prelude::any::<u8>(),
        ) {
            let data: Vec<u8> = (0..length).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect();
            let pieces = data.chunks(frame).map(data_piece).collect();
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let encoded = runtime.block_on(async {
                let body = AwsChunkedBody::new(scripted(pieces), example_signer(), chunk_size, length as u64);
                body.collect().await.unwrap().to_bytes()
            });
            proptest::prop_assert_eq!(encoded.len() as u64, encoded_length(length as u64, chunk_size));
            let decoded = runtime.block_on(async {
                let frames = vec![Ok::<_, std::io::Error>(Frame::data(encoded))];
                let body = crate::body::client_chunked::DecodedBody::new(
                    StreamBody::new(futures_util::stream::iter(frames)),
                    length as u64,
                    None,
                );
                body.collect().await.unwrap().to_bytes()
            });
            proptest::prop_assert_eq!(&decoded[..], &data[..]);
        }
    }

    fn data_piece(bytes: &[u8]) -> Piece {
        Ok(Frame::data(Bytes::copy_from_slice(bytes)))
    }

    #[test]
    fn encoded_length_counts_every_frame() {
        // One full 64 KiB chunk, one of 1 KiB, the final one.
        assert_eq!(encoded_length(66_560, 65_536), 66_824);
        assert_eq!(encoded_length(0, 65_536), 86);
        assert_eq!(hex_digits(0), 1);
        assert_eq!(hex_digits(15), 1);
        assert_eq!(hex_digits(16), 2);
        assert_eq!(hex_digits(65_536), 5);
    }
}
