//! The access log: one line per request, at `info`, written when the
//! answer's body has been sent (or the client went away), with a fixed list
//! of fields: method, path (never the query, which may carry a presigned
//! signature), route, status, who answered (the gateway or the proxy),
//! bytes in and out, duration, request id, and the proxy's error code.
//!
//! No header is logged: `Authorization`, tokens and signatures never reach
//! this line.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::{Buf, Bytes};
use http::Method;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::body::BoxError;

/// What is known of a request when its answer starts.
#[derive(Debug, Clone)]
pub struct AccessRecord {
    /// The client's method.
    pub method: Method,
    /// The client's path, without the query.
    pub path: String,
    /// The route's prefix; empty for the default route.
    pub route: String,
    /// The status sent to the client.
    pub status: u16,
    /// The proxy's own error code when the proxy answered.
    pub error: Option<String>,
    /// The request body's length as declared (0 for a chunked body).
    pub bytes_in: u64,
    /// The request id.
    pub request_id: String,
    /// When the request arrived.
    pub started: Instant,
}

/// The route a response went through, carried in its extensions.
#[derive(Debug, Clone)]
pub struct RouteTaken(pub String);

pin_project! {
    /// A response body that counts what it sends and logs the request's
    /// line once, at its end or when dropped early.
    pub struct LoggedBody<B> {
        #[pin]
        inner: B,
        pending: Pending,
    }
}

/// The record not yet logged, and the bytes sent so far.
struct Pending {
    record: Option<AccessRecord>,
    bytes_out: u64,
}

// === impl LoggedBody ===

impl<B: Body> LoggedBody<B> {
    /// Wraps `inner`, to log `record` when it ends.
    pub fn new(inner: B, record: AccessRecord) -> Self {
        let mut body = Self {
            inner,
            pending: Pending {
                record: Some(record),
                bytes_out: 0,
            },
        };
        if body.inner.is_end_stream() {
            body.pending.log("complete");
        }
        body
    }
}

impl<B> Body for LoggedBody<B>
where
    B: Body<Data = Bytes, Error = BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    this.pending.bytes_out += data.remaining() as u64;
                }
                if this.inner.is_end_stream() {
                    this.pending.log("complete");
                }
            }
            Some(Err(_)) => this.pending.log("cut"),
            None => this.pending.log("complete"),
        }
        Poll::Ready(frame)
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

// === impl Pending ===

impl Pending {
    /// Logs the line, once.
    fn log(&mut self, outcome: &'static str) {
        let Some(record) = self.record.take() else {
            return;
        };
        crate::metrics::METRICS.request(
            &record.route,
            record.method.as_str(),
            record.status,
            record.bytes_in,
            self.bytes_out,
        );
        tracing::info!(
            target: "zenko_signing_proxy::access",
            method = %record.method,
            path = %record.path,
            route = if record.route.is_empty() { "default" } else { record.route.as_str() },
            status = record.status,
            answered_by = if record.error.is_some() { "proxy" } else { "gateway" },
            error = record.error.as_deref().unwrap_or("-"),
            bytes_in = record.bytes_in,
            bytes_out = self.bytes_out,
            duration_ms = record.started.elapsed().as_millis() as u64,
            outcome,
            request_id = %record.request_id,
            "access"
        );
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        // The client went away before the end of the answer.
        self.log("client-gone");
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;
    use crate::body::scripted::{data, scripted};

    fn record() -> AccessRecord {
        AccessRecord {
            method: Method::GET,
            path: "/b/k".into(),
            route: String::new(),
            status: 200,
            error: None,
            bytes_in: 0,
            request_id: "zsp-1".into(),
            started: Instant::now(),
        }
    }

    #[tokio::test]
    async fn counts_the_bytes_it_sends() {
        let inner = scripted(vec![data("abc"), data("de")]).map_err(BoxError::from);
        let mut body = LoggedBody::new(inner, record());
        while let Some(frame) = body.frame().await {
            frame.unwrap();
        }
        assert_eq!(body.pending.bytes_out, 5);
        assert!(body.pending.record.is_none(), "logged once, at the end");
    }

    #[tokio::test]
    async fn an_empty_answer_is_logged_at_once() {
        let empty = http_body_util::Empty::<Bytes>::new().map_err(|never| match never {});
        let body = LoggedBody::new(empty, record());
        assert!(body.pending.record.is_none());
    }

    #[tokio::test]
    async fn an_answer_dropped_early_is_logged_when_dropped() {
        let inner = scripted(vec![data("abc"), data("de")]).map_err(BoxError::from);
        let mut body = LoggedBody::new(inner, record());
        body.frame().await.unwrap().unwrap();
        assert!(body.pending.record.is_some(), "not yet");
        assert_eq!(body.pending.bytes_out, 3);
        let mut pending = std::mem::replace(
            &mut body.pending,
            Pending {
                record: None,
                bytes_out: 0,
            },
        );
        pending.log("client-gone");
        assert!(pending.record.is_none());
    }
}
