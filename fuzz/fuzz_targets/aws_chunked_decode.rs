//! The client aws-chunked decoder (`body::client_chunked::DecodedBody`) on
//! any envelope, cut into any frames.
//!
//! The envelope is either raw bytes or a well-formed one built from data
//! (chunk sizes, chunk signatures and trailers chosen by the input), then
//! edited byte by byte. Raw bytes reach the parser's error paths; built
//! envelopes reach the checksum and the end of the envelope, which random
//! bytes almost never do.
//!
//! Properties:
//! - nothing panics, and the in-memory body is never left waiting;
//! - the size hint is always the declared length less what was released;
//! - a successful decode holds exactly the declared length, and encoding it
//!   again with the proxy's own aws-chunked encoder and decoding that gives
//!   the same bytes;
//! - an unedited built envelope decodes to its data;
//! - the outcome does not depend on how the envelope is cut into frames
//!   (checked for envelopes up to 4096 bytes; see `MAX_FRAMING_CHECK`).

#![no_main]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt::Display;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};

use arbitrary::Arbitrary;
use bytes::Bytes;
use http_body::{Body, Frame};
use libfuzzer_sys::fuzz_target;
use zenko_signing_proxy::body::aws_chunked::{AwsChunkedBody, ChunkSigner};
use zenko_signing_proxy::body::client_chunked::{Checksum, DecodedBody};

/// The decoder refuses a line longer than its 4096-byte limit only when more
/// than 4096 bytes of it arrive before the frame holding its end; a frame
/// holding the whole line is read whatever its length. Framing is compared
/// only on envelopes no longer than the limit, so that this known difference
/// does not hide others.
const MAX_FRAMING_CHECK: usize = 4096;

#[derive(Debug, Arbitrary)]
struct Input {
    envelope: Envelope,
    /// The checksum the decoder is told to expect (`x-amz-trailer`).
    trailer: Option<Kind>,
    /// Frame lengths, in order; the rest goes in one last frame. 255 is a
    /// trailers frame instead, which the decoder must skip.
    cuts: Vec<u8>,
    /// The chunk size of the re-encoding.
    chunk_size: u8,
}

#[derive(Debug, Arbitrary)]
enum Envelope {
    Raw {
        declared: u16,
        bytes: Vec<u8>,
    },
    Built {
        data: Vec<u8>,
        /// Chunk sizes, used in turn (0 counts as 1).
        sizes: Vec<u8>,
        signed: bool,
        send_trailer: bool,
        foreign_trailer: bool,
        /// (position modulo the length, new byte).
        edits: Vec<(u16, u8)>,
    },
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Kind {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

/// A body of frames held in memory: never pending, never failing.
struct Frames(VecDeque<Frame<Bytes>>);

/// What a body yielded: its data, or the error it ended with.
type Outcome = Result<Vec<u8>, String>;

fuzz_target!(|input: Input| {
    let trailer = input.trailer;
    let (envelope, declared, expected) = input.envelope.render(trailer);

    let outcome = decode(&envelope, &input.cuts, declared, trailer);
    if let Some(data) = &expected {
        assert_eq!(outcome.as_ref(), Ok(data), "an unedited envelope decodes");
    }
    if envelope.len() <= MAX_FRAMING_CHECK {
        let whole = decode(&envelope, &[], declared, trailer);
        assert_eq!(outcome.is_ok(), whole.is_ok(), "{outcome:?} vs {whole:?}");
        if let (Ok(cut), Ok(whole)) = (&outcome, &whole) {
            assert_eq!(cut, whole, "framing changed the bytes");
        }
    }
    let Ok(decoded) = outcome else {
        return;
    };
    assert_eq!(decoded.len() as u64, declared);

    let chunk_size = u64::from(input.chunk_size.max(1));
    let encoded = reencode(&decoded, chunk_size);
    let again = decode(&encoded, &input.cuts, declared, None);
    assert_eq!(
        again.as_ref(),
        Ok(&decoded),
        "re-encoding does not round trip"
    );
});

// === impl Envelope ===

impl Envelope {
    /// The envelope's bytes, its declared length, and the data it must decode
    /// to when it was built and left unedited.
    fn render(self, trailer: Option<Kind>) -> (Vec<u8>, u64, Option<Vec<u8>>) {
        match self {
            Self::Raw { declared, bytes } => (bytes, u64::from(declared), None),
            Self::Built {
                data,
                sizes,
                signed,
                send_trailer,
                foreign_trailer,
                edits,
            } => {
                // Without the announced trailer, the envelope is incomplete.
                let complete = send_trailer || trailer.is_none();
                let sent = trailer.filter(|_| send_trailer);
                let mut envelope = build(&data, &sizes, signed, sent, foreign_trailer);
                let unedited = edits.is_empty() && complete;
                for (position, byte) in edits {
                    let index = usize::from(position) % envelope.len();
                    envelope[index] = byte;
                }
                let declared = data.len() as u64;
                (envelope, declared, unedited.then_some(data))
            }
        }
    }
}

/// A well-formed envelope of `data`.
fn build(
    data: &[u8],
    sizes: &[u8],
    signed: bool,
    trailer: Option<Kind>,
    foreign_trailer: bool,
) -> Vec<u8> {
    let extension = if signed {
        format!(";chunk-signature={}", "0".repeat(64))
    } else {
        String::new()
    };
    let mut envelope = Vec::new();
    let mut rest = data;
    let mut turn = 0;
    while !rest.is_empty() {
        let size = sizes.get(turn % sizes.len().max(1)).copied().unwrap_or(64);
        let (chunk, after) = rest.split_at(usize::from(size.max(1)).min(rest.len()));
        envelope.extend_from_slice(format!("{:x}{extension}\r\n", chunk.len()).as_bytes());
        envelope.extend_from_slice(chunk);
        envelope.extend_from_slice(b"\r\n");
        rest = after;
        turn += 1;
    }
    envelope.extend_from_slice(format!("0{extension}\r\n").as_bytes());
    if foreign_trailer {
        envelope.extend_from_slice(b"x-amz-trailer-signature:abc\r\n");
    }
    if let Some(kind) = trailer {
        let value = kind.checksum().digest_of(data);
        envelope.extend_from_slice(format!("{}:{value}\r\n", kind.name()).as_bytes());
    }
    envelope.extend_from_slice(b"\r\n");
    envelope
}

// === impl Kind ===

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
        }
    }

    fn checksum(self) -> Checksum {
        Checksum::for_trailer(self.name()).expect("a known trailer name")
    }
}

// === impl Frames ===

impl Frames {
    /// `bytes` cut at `cuts`, the rest in one last frame.
    fn cut(bytes: &[u8], cuts: &[u8]) -> Self {
        let mut frames = VecDeque::new();
        let mut rest = bytes;
        for &cut in cuts {
            if cut == u8::MAX {
                frames.push_back(Frame::trailers(http::HeaderMap::new()));
                continue;
            }
            let (frame, after) = rest.split_at(usize::from(cut).min(rest.len()));
            frames.push_back(Frame::data(Bytes::copy_from_slice(frame)));
            rest = after;
        }
        if !rest.is_empty() {
            frames.push_back(Frame::data(Bytes::copy_from_slice(rest)));
        }
        Self(frames)
    }
}

impl Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.get_mut().0.pop_front().map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }
}

/// `envelope`, cut at `cuts`, through the decoder.
fn decode(envelope: &[u8], cuts: &[u8], declared: u64, trailer: Option<Kind>) -> Outcome {
    let checksum = trailer.map(|kind| (kind.name().to_owned(), kind.checksum()));
    let body = DecodedBody::new(Frames::cut(envelope, cuts), declared, checksum);
    drain(body, |body, released| {
        let hint = body.size_hint().exact();
        assert_eq!(hint, Some(declared - released), "size hint");
    })
}

/// `data` encoded by the proxy's own aws-chunked encoder.
fn reencode(data: &[u8], chunk_size: u64) -> Vec<u8> {
    let signer = ChunkSigner::new(
        [7; 32],
        "20250101T000000Z".into(),
        "20250101/us-east-1/s3/aws4_request".into(),
        "0".repeat(64),
    );
    let frames = Frames::cut(data, &[]);
    let body = AwsChunkedBody::new(frames, signer, chunk_size, data.len() as u64);
    drain(body, |_, _| {}).expect("the encoder takes a body of its declared length")
}

/// Polls `body` to its end, calling `check` after each data frame with the
/// bytes released so far. A body that fails must then stay ended.
fn drain<B>(body: B, check: impl Fn(&B, u64)) -> Outcome
where
    B: Body<Data = Bytes>,
    B::Error: Display,
{
    let mut body = pin!(body);
    let mut context = Context::from_waker(Waker::noop());
    let mut released = Vec::new();
    loop {
        match body.as_mut().poll_frame(&mut context) {
            Poll::Pending => panic!("a body of in-memory frames never waits"),
            Poll::Ready(None) => {
                assert!(body.is_end_stream(), "ended but not at end of stream");
                return Ok(released);
            }
            Poll::Ready(Some(Ok(frame))) => {
                let data = frame.into_data().expect("only data comes out");
                released.extend_from_slice(&data);
                check(&body, released.len() as u64);
            }
            Poll::Ready(Some(Err(error))) => {
                let after = body.as_mut().poll_frame(&mut context);
                assert!(matches!(after, Poll::Ready(None)), "polled after failing");
                return Err(error.to_string());
            }
        }
    }
}
