//! A body wrapper that reports when its last byte has been handed on.
//!
//! The response timeout towards the gateway must start once the request body
//! has been sent, not when the request starts: a 5 GiB upload takes longer
//! than any sensible wait for response headers. [`EndSignal`] passes frames
//! through unchanged and fires its [`oneshot`] sender once, at the end of the
//! stream. If the body fails or is dropped first, the sender is dropped
//! without firing.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::sync::oneshot;

pin_project! {
    /// `B`, with a signal at its end.
    pub struct EndSignal<B> {
        #[pin]
        inner: B,
        ended: Option<oneshot::Sender<()>>,
    }
}

// === impl EndSignal ===

impl<B: Body> EndSignal<B> {
    /// Wraps `inner`; the receiver completes when `inner` has been read to
    /// its end (at once for a body that is already empty).
    pub fn new(inner: B) -> (Self, oneshot::Receiver<()>) {
        let (sender, receiver) = oneshot::channel();
        let mut body = Self {
            inner,
            ended: Some(sender),
        };
        if body.inner.is_end_stream() {
            body.fire();
        }
        (body, receiver)
    }

    fn fire(&mut self) {
        if let Some(sender) = self.ended.take() {
            let _ = sender.send(());
        }
    }
}

impl<B: Body> Body for EndSignal<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        let at_end = match &frame {
            None => true,
            Some(Ok(_)) => this.inner.is_end_stream(),
            // An error is not an end: the sender is dropped, unfired.
            Some(Err(_)) => {
                this.ended.take();
                false
            }
        };
        if at_end && let Some(sender) = this.ended.take() {
            let _ = sender.send(());
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

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Empty, Full};

    use super::*;
    use crate::body::scripted::{data, scripted};

    #[tokio::test]
    async fn empty_body_signals_at_once() {
        let (_body, mut ended) = EndSignal::new(Empty::<Bytes>::new());
        assert!(ended.try_recv().is_ok());
    }

    #[tokio::test]
    async fn several_chunks_signal_only_after_the_last() {
        let (mut body, mut ended) = EndSignal::new(scripted(vec![data("a"), data("b")]));
        body.frame().await.unwrap().unwrap();
        assert!(ended.try_recv().is_err(), "not after the first chunk");
        body.frame().await.unwrap().unwrap();
        assert!(body.frame().await.is_none());
        assert!(ended.try_recv().is_ok());
    }

    #[tokio::test]
    async fn full_body_signals_with_its_only_frame() {
        let (mut body, mut ended) = EndSignal::new(Full::new(Bytes::from_static(b"x")));
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "x");
        assert!(ended.try_recv().is_ok());
    }

    #[tokio::test]
    async fn trailers_pass_through_and_end_the_body() {
        let trailers = Ok(Frame::trailers(http::HeaderMap::new()));
        let (mut body, mut ended) = EndSignal::new(scripted(vec![data("a"), trailers]));
        body.frame().await.unwrap().unwrap();
        assert!(body.frame().await.unwrap().unwrap().is_trailers());
        assert!(body.frame().await.is_none());
        assert!(ended.try_recv().is_ok());
    }

    #[tokio::test]
    async fn inner_error_is_passed_on_and_never_signals() {
        let failure = Err(std::io::Error::other("client went away"));
        let (mut body, mut ended) = EndSignal::new(scripted(vec![data("a"), failure]));
        body.frame().await.unwrap().unwrap();
        assert!(body.frame().await.unwrap().is_err());
        assert!(matches!(
            ended.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
    }

    #[tokio::test]
    async fn dropped_early_never_signals() {
        let (body, mut ended) = EndSignal::new(scripted(vec![data("a"), data("b")]));
        drop(body);
        assert!(matches!(
            ended.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
    }
}
