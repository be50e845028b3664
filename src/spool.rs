//! Spool files: a request body written to disk while it is hashed, then read
//! back as the body sent to the gateway.
//!
//! The file is anonymous (`O_TMPFILE` where the system has it, else created
//! and unlinked at once), so it has no name to leak and is gone as soon as
//! the last handle closes: after the upload, after an error, or when the
//! client goes away. Writes and reads go in pieces of [`IO_PIECE`] bytes.

use std::io::SeekFrom;

use futures_util::TryStreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufWriter};
use tokio_util::io::ReaderStream;

use crate::body::{BodyLimits, BoxError, ClientBody, UpstreamBody, client_body_error, too_large};
use crate::error::{ErrorKind, ProxyError};

/// Size of the pieces written to and read from a spool file (256 KiB).
pub const IO_PIECE: usize = 256 * 1024;

/// A body written to a spool file, complete and hashed.
#[derive(Debug)]
pub struct Spooled {
    file: tokio::fs::File,
    /// The number of bytes in the file.
    pub length: u64,
    /// The SHA-256 of those bytes.
    pub sha256: [u8; 32],
}

// === impl Spooled ===

impl Spooled {
    /// The file's bytes as a body, read in pieces of [`IO_PIECE`].
    pub fn into_body(self) -> UpstreamBody {
        let stream = ReaderStream::with_capacity(self.file, IO_PIECE)
            .map_ok(Frame::data)
            .map_err(BoxError::from);
        StreamBody::new(stream).boxed_unsync()
    }
}

/// Writes the whole of `body` to a new spool file, hashing it on the way.
///
/// Fails with 413 past `limits.spool_limit`, and with 400 when the body
/// breaks before its end; the file is dropped (and so removed) either way.
pub async fn write(mut body: impl ClientBody, limits: &BodyLimits) -> Result<Spooled, ProxyError> {
    let file = create(limits)?;
    let mut writer = BufWriter::with_capacity(IO_PIECE, file);
    let mut hasher = Sha256::new();
    let mut length: u64 = 0;

    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| client_body_error(&*error.into()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        length += data.len() as u64;
        if length > limits.spool_limit {
            return Err(too_large(limits.spool_limit));
        }
        hasher.update(&data);
        writer.write_all(&data).await.map_err(spool_failed)?;
    }

    writer.flush().await.map_err(spool_failed)?;
    crate::metrics::METRICS.spooled_bytes.inc_by(length);
    let mut file = writer.into_inner();
    file.seek(SeekFrom::Start(0)).await.map_err(spool_failed)?;
    Ok(Spooled {
        file,
        length,
        sha256: hasher.finalize().into(),
    })
}

fn create(limits: &BodyLimits) -> Result<tokio::fs::File, ProxyError> {
    let dir = limits.spool_dir.clone().unwrap_or_else(std::env::temp_dir);
    let file = tempfile::tempfile_in(&dir).map_err(spool_failed)?;
    Ok(tokio::fs::File::from_std(file))
}

fn spool_failed(error: std::io::Error) -> ProxyError {
    tracing::warn!(%error, "spool file failed");
    ProxyError::new(
        ErrorKind::SpoolFailed,
        "the proxy could not spool the request body to disk",
    )
}
