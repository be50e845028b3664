//! Scripted bodies for the tests of the body wrappers: a fixed list of
//! frames or errors, delivered in order.

use bytes::Bytes;
use http_body_util::StreamBody;
use hyper::body::Frame;

/// One step of a scripted body.
pub(crate) type Piece = Result<Frame<Bytes>, std::io::Error>;

/// A body that yields its pieces, then ends.
pub(crate) type Scripted = StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Piece>>>;

/// A body of `pieces`.
pub(crate) fn scripted(pieces: Vec<Piece>) -> Scripted {
    StreamBody::new(futures_util::stream::iter(pieces))
}

/// A data frame holding `bytes`.
pub(crate) fn data(bytes: impl AsRef<[u8]>) -> Piece {
    Ok(Frame::data(Bytes::copy_from_slice(bytes.as_ref())))
}
