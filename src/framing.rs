//! Request smuggling watch: follows the request heads of an HTTP/1
//! connection as its bytes arrive, and flags a head whose framing two
//! parsers could read apart.
//!
//! hyper settles ambiguous framing on its own (`Transfer-Encoding` wins
//! over `Content-Length`, a repeated equal `Content-Length` is dropped) and
//! hides the losing headers, so the proxy cannot see them in the request it
//! is handed. The proxy never forwards the client's framing, so nothing can
//! be smuggled past it; still, a request that carries `Content-Length`
//! together with `Transfer-Encoding`, or `Content-Length` twice, comes from
//! a broken or hostile client and is refused with 400 rather than guessed
//! at. [`WatchedIo`] reads the bytes hyper reads: it finds each head,
//! parses it with `httparse`, skips the body by the head's own framing
//! (length or chunks), and sets the connection's flag on an ambiguous head.
//! What it cannot follow (HTTP/2, a head hyper refuses) ends the watch and
//! is left to hyper.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The longest head followed; hyper refuses longer ones itself.
const MAX_HEAD: usize = 512 * 1024;
/// The longest chunk-size or trailer line followed.
const MAX_LINE: usize = 4096;

/// Set once a request head of the connection had ambiguous framing.
#[derive(Debug, Clone, Default)]
pub struct AmbiguousFlag(Arc<AtomicBool>);

pin_project! {
    /// A connection's stream, its incoming bytes watched for request heads.
    pub struct WatchedIo<S> {
        #[pin]
        inner: S,
        watch: FramingWatch,
    }
}

/// Where in the request stream the next byte falls. The bytes of the
/// head or line being read are in [`FramingWatch::part`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Inside a head.
    Head,
    /// Inside a body of known length: bytes left.
    Body(u64),
    /// Inside a chunk-size line.
    ChunkSize,
    /// Inside a chunk's data and its CRLF: bytes left.
    ChunkData(u64),
    /// Inside the trailer section.
    Trailer,
    /// No longer followed.
    Off,
}

/// How a head frames its body.
enum Framing {
    None,
    Length(u64),
    Chunked,
    Ambiguous,
    Unknown,
}

/// The state machine behind [`WatchedIo`].
#[derive(Debug)]
pub struct FramingWatch {
    state: State,
    /// The head or line being read; kept between requests.
    part: Vec<u8>,
    flag: AmbiguousFlag,
    max_headers: usize,
}

// === impl AmbiguousFlag ===

impl AmbiguousFlag {
    /// Whether an ambiguous head was seen.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    fn set(&self) {
        self.0.store(true, Ordering::Release);
    }
}

// === impl WatchedIo ===

impl<S> WatchedIo<S> {
    /// Watches `inner`, parsing heads of up to `max_headers` headers.
    pub fn new(inner: S, max_headers: usize) -> (Self, AmbiguousFlag) {
        let watch = FramingWatch::new(max_headers);
        let flag = watch.flag.clone();
        (Self { inner, watch }, flag)
    }
}

impl<S: AsyncRead> AsyncRead for WatchedIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let polled = this.inner.poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.watch.feed(&buf.filled()[before..]);
        }
        polled
    }
}

impl<S: AsyncWrite> AsyncWrite for WatchedIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

// === impl FramingWatch ===

impl FramingWatch {
    /// A watch at the start of a connection, parsing heads of up to
    /// `max_headers` headers.
    pub fn new(max_headers: usize) -> Self {
        Self {
            state: State::Head,
            part: Vec::new(),
            flag: AmbiguousFlag::default(),
            max_headers,
        }
    }

    /// Whether an ambiguous head was seen.
    pub fn is_flagged(&self) -> bool {
        self.flag.is_set()
    }

    /// Follows `bytes`, the next bytes the client sent.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let step = match &mut self.state {
                State::Off => return,
                State::Body(left) | State::ChunkData(left) => {
                    let used = (*left).min(bytes.len() as u64);
                    *left -= used;
                    Some((used as usize, *left == 0))
                }
                // Empty lines before a request line are skipped, as
                // parsers do.
                State::Head if self.part.is_empty() && matches!(bytes[0], b'\r' | b'\n') => {
                    Some((1, false))
                }
                State::Head => take_part(&mut self.part, bytes, MAX_HEAD, 2, head_end),
                State::ChunkSize | State::Trailer => {
                    take_part(&mut self.part, bytes, MAX_LINE, 0, line_end)
                }
            };
            let Some((used, complete)) = step else {
                self.state = State::Off;
                return;
            };
            bytes = &bytes[used..];
            if complete {
                self.state = self.next_state();
                self.part.clear();
            }
        }
    }

    /// The state after the part just completed.
    fn next_state(&self) -> State {
        match self.state {
            State::Head => match self.framing_of(&self.part) {
                Framing::None | Framing::Length(0) => State::Head,
                Framing::Length(length) => State::Body(length),
                Framing::Chunked => State::ChunkSize,
                Framing::Ambiguous => {
                    self.flag.set();
                    State::Off
                }
                Framing::Unknown => State::Off,
            },
            State::Body(_) => State::Head,
            State::ChunkData(_) => State::ChunkSize,
            State::ChunkSize => match chunk_size(&self.part) {
                Some(0) => State::Trailer,
                Some(size) => State::ChunkData(size.saturating_add(2)),
                None => State::Off,
            },
            State::Trailer if self.part == b"\r\n" || self.part == b"\n" => State::Head,
            State::Trailer => State::Trailer,
            State::Off => State::Off,
        }
    }

    fn framing_of(&self, head: &[u8]) -> Framing {
        // Most heads fit the array on the stack; the others get a vector
        // as large as the parser's limit.
        let mut few = [httparse::EMPTY_HEADER; 32];
        let mut many = Vec::new();
        let mut request = httparse::Request::new(&mut few);
        match request.parse(head) {
            Ok(httparse::Status::Complete(_)) => {}
            Err(httparse::Error::TooManyHeaders) => {
                many.resize(self.max_headers, httparse::EMPTY_HEADER);
                request = httparse::Request::new(&mut many);
                if !matches!(request.parse(head), Ok(httparse::Status::Complete(_))) {
                    return Framing::Unknown;
                }
            }
            _ => return Framing::Unknown,
        }
        // HTTP/1.0 and 1.1 frame bodies alike (1.0 with Content-Length).
        if !matches!(request.version, Some(0 | 1)) {
            return Framing::Unknown;
        }
        let values = |name: &str| -> Vec<&[u8]> {
            request
                .headers
                .iter()
                .filter(|header| header.name.eq_ignore_ascii_case(name))
                .map(|header| header.value)
                .collect()
        };
        let lengths = values("content-length");
        let codings = values("transfer-encoding");
        match (lengths.as_slice(), codings.as_slice()) {
            ([], []) => Framing::None,
            ([length], []) => std::str::from_utf8(length)
                .ok()
                .and_then(|text| text.trim().parse().ok())
                .map_or(Framing::Unknown, Framing::Length),
            ([], [.., last]) if ends_with_chunked(last) => Framing::Chunked,
            ([], _) => Framing::Unknown,
            _ => Framing::Ambiguous,
        }
    }
}

/// Appends `bytes` to `part` up to the end `find` finds (it may start in
/// the last `lookback` bytes already taken); returns how many bytes were
/// taken and whether the part is complete, or `None` when the part grew to
/// `limit` without an end.
fn take_part(
    part: &mut Vec<u8>,
    bytes: &[u8],
    limit: usize,
    lookback: usize,
    find: fn(&[u8]) -> Option<usize>,
) -> Option<(usize, bool)> {
    let taken = part.len();
    let start = taken.saturating_sub(lookback);
    let room = limit.saturating_sub(taken).max(1);
    let window = &bytes[..bytes.len().min(room)];
    part.extend_from_slice(window);
    match find(&part[start..]) {
        Some(end) if start + end > taken => {
            part.truncate(start + end);
            Some((start + end - taken, true))
        }
        _ if part.len() >= limit => None,
        _ => Some((window.len(), false)),
    }
}

/// Where a head ends: after its empty line (CRLF or a bare LF, as
/// parsers accept).
fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes.iter().enumerate().find_map(|(at, byte)| {
        if *byte != b'\n' {
            return None;
        }
        match bytes.get(at + 1..) {
            Some([b'\n', ..]) => Some(at + 2),
            Some([b'\r', b'\n', ..]) => Some(at + 3),
            _ => None,
        }
    })
}

/// Where a line ends: after its LF.
fn line_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .iter()
        .position(|byte| *byte == b'\n')
        .map(|at| at + 1)
}

fn chunk_size(line: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(line).ok()?;
    let digits = text.split([';', '\r', '\n', ' ', '\t']).next()?;
    u64::from_str_radix(digits, 16).ok()
}

fn ends_with_chunked(value: &[u8]) -> bool {
    value
        .rsplit(|b| *b == b',')
        .next()
        .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `stream` in pieces of `piece` bytes; whether it was flagged.
    fn flagged(stream: &[u8], piece: usize) -> bool {
        let mut watch = FramingWatch::new(100);
        for part in stream.chunks(piece) {
            watch.feed(part);
        }
        watch.flag.is_set()
    }

    fn every_split(stream: &[u8]) -> Vec<bool> {
        [1, 2, 3, 7, 64, stream.len()]
            .iter()
            .map(|piece| flagged(stream, *piece))
            .collect()
    }

    #[test]
    fn plain_keep_alive_traffic_is_never_flagged() {
        let stream = b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 22\r\n\r\n\
            Content-Length: 5\r\n\r\n\
            PUT /b/c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
            5;ext=1\r\nhello\r\n1a\r\nContent-Length: 1\r\n\r\nxxxxxx\r\n0\r\nx-trailer: 1\r\n\r\n\
            GET /b/k HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(every_split(stream), vec![false; 6]);
    }

    #[test]
    fn ambiguous_heads_are_flagged_wherever_they_fall() {
        let shapes: [&[u8]; 4] = [
            b"PUT /b/k HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"PUT /b/k HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
            b"PUT /b/k HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n",
            b"PUT /b/k HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        ];
        for shape in shapes {
            assert_eq!(
                every_split(shape),
                vec![true; 6],
                "{}",
                String::from_utf8_lossy(shape)
            );
            // Behind an innocent request with a body, too.
            let mut stream = b"PUT /b/a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc".to_vec();
            stream.extend_from_slice(shape);
            assert_eq!(every_split(&stream), vec![true; 6]);
        }
    }

    #[test]
    fn heads_with_many_headers_are_parsed_too() {
        let mut head = b"PUT /b/k HTTP/1.1\r\n".to_vec();
        for index in 0..60 {
            head.extend_from_slice(format!("x-amz-meta-{index}: v\r\n").as_bytes());
        }
        let mut ambiguous = head.clone();
        ambiguous.extend_from_slice(b"Content-Length: 1\r\nContent-Length: 1\r\n\r\nx");
        assert_eq!(every_split(&ambiguous), vec![true; 6]);
        head.extend_from_slice(b"Content-Length: 1\r\n\r\nx");
        assert_eq!(every_split(&head), vec![false; 6]);
    }

    #[test]
    fn bare_lf_heads_and_http_1_0_are_followed_too() {
        let after_http_1_0 = b"GET /b/first HTTP/1.0\nConnection: keep-alive\n\n\
            PUT /b/k HTTP/1.1\nContent-Length: 6\nTransfer-Encoding: chunked\n\n0\n\n";
        assert_eq!(every_split(after_http_1_0), vec![true; 6]);
        let after_a_body = b"\r\nPUT /b/a HTTP/1.0\r\nContent-Length: 2\r\n\r\nab\
            PUT /b/k HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx";
        assert_eq!(every_split(after_a_body), vec![true; 6]);
        let plain = b"GET / HTTP/1.0\n\nGET / HTTP/1.1\nHost: x\n\n";
        assert_eq!(every_split(plain), vec![false; 6]);
    }

    #[test]
    fn what_cannot_be_followed_ends_the_watch_unflagged() {
        let http2 =
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
        assert!(!flagged(http2, 5));
        let bad_chunk = b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\
            PUT / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
        assert!(!flagged(bad_chunk, 4));
        let endless = vec![b'a'; MAX_HEAD + 10];
        let mut watch = FramingWatch::new(100);
        watch.feed(&endless);
        assert_eq!(watch.state, State::Off);
    }

    #[test]
    fn take_part_finds_an_end_split_across_reads() {
        let mut part = b"GET / HTTP/1.1\r\n\r".to_vec();
        assert_eq!(
            take_part(&mut part, b"\nrest", 100, 2, head_end),
            Some((1, true))
        );
        assert!(part.ends_with(b"\r\n\r\n"));
    }
}
