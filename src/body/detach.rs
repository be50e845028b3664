//! A request body that can be taken back from the connection sending it.
//!
//! hyper's client connection owns a request body until the connection
//! ends, and a connection blocked writing to a gateway that stopped reading
//! may not end for a long time, even once nobody waits for its answer. A
//! spooled body holds its spool file that long. [`Detachable`] keeps the
//! body in a slot shared with a [`DetachOnDrop`] guard held by the request:
//! when the request is given up (the client left, a timeout), the guard
//! drops the body, closing its file, whatever the connection does next;
//! the connection then finds the body gone and fails its request.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::body::{BoxError, UpstreamBody};

type Slot = Arc<Mutex<Option<UpstreamBody>>>;

/// A body the request can take back.
pub struct Detachable {
    slot: Slot,
    hint: SizeHint,
}

/// Drops the body when dropped, unless disarmed.
pub struct DetachOnDrop {
    slot: Option<Slot>,
}

/// The error of a body taken back.
#[derive(Debug, thiserror::Error)]
#[error("the request was given up")]
pub struct Detached;

// === impl Detachable ===

impl Detachable {
    /// `body`, with the guard that takes it back.
    pub fn new(body: UpstreamBody) -> (Self, DetachOnDrop) {
        let hint = body.size_hint();
        let slot = Arc::new(Mutex::new(Some(body)));
        let guard = DetachOnDrop {
            slot: Some(Arc::clone(&slot)),
        };
        (Self { slot, hint }, guard)
    }
}

impl Body for Detachable {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let Ok(mut slot) = self.slot.lock() else {
            return Poll::Ready(Some(Err(Detached.into())));
        };
        match slot.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(Some(Err(Detached.into()))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self.slot.lock() {
            Ok(slot) => slot.as_ref().is_some_and(|body| body.is_end_stream()),
            Err(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        self.hint
    }
}

// === impl DetachOnDrop ===

impl DetachOnDrop {
    /// Leaves the body with the connection for good (the request got its
    /// answer).
    pub fn disarm(mut self) {
        self.slot = None;
    }
}

impl Drop for DetachOnDrop {
    fn drop(&mut self) {
        let Some(slot) = self.slot.take() else {
            return;
        };
        // Taken out under the lock, dropped outside it.
        let body = slot.lock().ok().and_then(|mut slot| slot.take());
        drop(body);
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    fn body(text: &'static str) -> UpstreamBody {
        http_body_util::Full::new(Bytes::from_static(text.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync()
    }

    #[tokio::test]
    async fn a_disarmed_guard_leaves_the_body_whole() {
        let (detachable, guard) = Detachable::new(body("whole"));
        assert_eq!(detachable.size_hint().exact(), Some(5));
        guard.disarm();
        assert_eq!(detachable.collect().await.unwrap().to_bytes(), "whole");
    }

    #[tokio::test]
    async fn a_dropped_guard_takes_the_body_back() {
        let (detachable, guard) = Detachable::new(body("taken"));
        drop(guard);
        let error = detachable.collect().await.unwrap_err();
        assert_eq!(error.to_string(), "the request was given up");
    }
}
