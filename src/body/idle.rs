//! A body that fails when no frame comes for too long: a client or gateway
//! that stalls mid-body does not hold a connection (and a signed upload)
//! open for ever. A body that keeps moving, however slowly and however
//! long, is never cut: only silence is.
//!
//! The other side of the same rule: a gateway that stops reading a request
//! body. [`SendWatch`] tells whether the body waits for its source (the
//! client: [`IdleTimeout`]'s business) or for its reader (the gateway),
//! so that the upstream client can give up on a gateway that took no byte
//! for too long.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

use crate::body::BoxError;

pin_project! {
    /// `B`, failing after `limit` without a frame.
    pub struct IdleTimeout<B> {
        #[pin]
        inner: B,
        #[pin]
        deadline: Sleep,
        limit: Duration,
    }
}

/// The error of a body that went quiet.
#[derive(Debug, thiserror::Error)]
#[error("no data for {}", humantime::format_duration(*.0))]
pub struct Idle(pub Duration);

// === impl IdleTimeout ===

impl<B> IdleTimeout<B> {
    /// Wraps `inner`, allowing `limit` between frames.
    pub fn new(inner: B, limit: Duration) -> Self {
        Self {
            inner,
            deadline: tokio::time::sleep(limit),
            limit,
        }
    }
}

impl<B> Body for IdleTimeout<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, BoxError>>> {
        let mut this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(frame) => {
                this.deadline.as_mut().reset(Instant::now() + *this.limit);
                Poll::Ready(frame.map(|frame| frame.map_err(Into::into)))
            }
            Poll::Pending => match this.deadline.poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Idle(*this.limit).into()))),
                Poll::Pending => Poll::Pending,
            },
        }
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

pin_project! {
    /// `B`, reporting each frame it hands out to its [`SendWatch`].
    pub struct Watched<B> {
        #[pin]
        inner: B,
        watch: Arc<SendWatch>,
        // The reader's waker and the `SourceWaker` made for it, reused
        // while the reader polls with the same waker.
        wakers: Option<(Waker, Waker)>,
    }
}

/// What a watched body was last doing.
#[derive(Debug, Default)]
pub struct SendWatch {
    /// Signalled at each frame handed to the reader.
    moved: Notify,
    /// Whether the last poll waited for the source.
    waiting_for_source: AtomicBool,
}

// === impl SendWatch ===

impl SendWatch {
    /// Wraps `inner` in a body watched by a new watch.
    pub fn watch<B>(inner: B) -> (Watched<B>, Arc<SendWatch>) {
        let watch = Arc::new(Self::default());
        let body = Watched {
            inner,
            watch: Arc::clone(&watch),
            wakers: None,
        };
        (body, watch)
    }

    /// Completes when the reader took no frame for `limit` while the body
    /// had one to give (it was not waiting for its source).
    pub async fn reader_stalled(&self, limit: Duration) {
        loop {
            let moved = tokio::time::timeout(limit, self.moved.notified()).await;
            if moved.is_err() && !self.waiting_for_source.load(Ordering::Acquire) {
                return;
            }
        }
    }
}

impl<B: Body> Body for Watched<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        // The source wakes through `SourceWaker`, which records that it
        // has something again even when the reader does not poll at once.
        let reused = matches!(this.wakers, Some((reader, _)) if reader.will_wake(cx.waker()));
        if !reused {
            let ours = Waker::from(Arc::new(SourceWaker {
                watch: Arc::clone(this.watch),
                reader: cx.waker().clone(),
            }));
            *this.wakers = Some((cx.waker().clone(), ours));
        }
        let (_, waker) = this.wakers.as_ref().expect("set above");
        let polled = this.inner.poll_frame(&mut Context::from_waker(waker));
        let waiting = polled.is_pending();
        this.watch
            .waiting_for_source
            .store(waiting, Ordering::Release);
        if !waiting {
            this.watch.moved.notify_one();
        }
        polled
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

/// The waker a watched body's source gets: it marks the source ready, then
/// wakes the reader.
struct SourceWaker {
    watch: Arc<SendWatch>,
    reader: Waker,
}

impl Wake for SourceWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.watch
            .waiting_for_source
            .store(false, Ordering::Release);
        self.reader.wake_by_ref();
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;
    use crate::body::scripted::{data, scripted};

    #[tokio::test]
    async fn a_moving_body_passes_whole() {
        let body = IdleTimeout::new(
            scripted(vec![data("ab"), data("c")]),
            Duration::from_secs(1),
        );
        assert_eq!(body.collect().await.unwrap().to_bytes(), "abc");
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_body_fails_after_the_limit() {
        let silent = http_body_util::StreamBody::new(futures_util::stream::pending::<
            Result<Frame<bytes::Bytes>, std::io::Error>,
        >());
        let mut body = std::pin::pin!(IdleTimeout::new(silent, Duration::from_secs(30)));
        let error = body.frame().await.unwrap().unwrap_err();
        assert_eq!(error.to_string(), "no data for 30s");
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_that_stops_taking_frames_is_stalled() {
        let (body, watch) = SendWatch::watch(scripted(vec![data("a"), data("b")]));
        let mut body = std::pin::pin!(body);
        assert!(body.frame().await.is_some());
        // The reader takes one frame, then no more.
        let stalled = watch.reader_stalled(Duration::from_secs(5));
        assert!(
            tokio::time::timeout(Duration::from_secs(6), stalled)
                .await
                .is_ok()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_waiting_for_its_source_is_not_a_stalled_reader() {
        let silent = http_body_util::StreamBody::new(futures_util::stream::pending::<
            Result<Frame<bytes::Bytes>, std::io::Error>,
        >());
        let (body, watch) = SendWatch::watch(silent);
        let reader = tokio::spawn(async move {
            let mut body = std::pin::pin!(body);
            body.frame().await
        });
        let stalled = watch.reader_stalled(Duration::from_secs(5));
        assert!(
            tokio::time::timeout(Duration::from_secs(60), stalled)
                .await
                .is_err()
        );
        reader.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_source_that_woke_an_idle_reader_is_not_waited_for() {
        let (sender, receiver) =
            tokio::sync::mpsc::channel::<Result<Frame<bytes::Bytes>, std::io::Error>>(1);
        let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        });
        let (body, watch) = SendWatch::watch(http_body_util::StreamBody::new(stream));
        let mut body = std::pin::pin!(body);
        // The reader polls once (the source has nothing), then stops
        // polling, although the source sends a frame.
        let polled = futures_util::poll!(body.frame());
        assert!(polled.is_pending());
        sender
            .send(Ok(Frame::data(bytes::Bytes::from_static(b"x"))))
            .await
            .unwrap();
        let stalled = watch.reader_stalled(Duration::from_secs(5));
        assert!(
            tokio::time::timeout(Duration::from_secs(6), stalled)
                .await
                .is_ok()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn slow_but_steady_is_never_cut() {
        let steps = futures_util::stream::unfold(0, |sent| async move {
            if sent == 5 {
                return None;
            }
            tokio::time::sleep(Duration::from_secs(20)).await;
            Some((data("x"), sent + 1))
        });
        let body = IdleTimeout::new(
            http_body_util::StreamBody::new(steps),
            Duration::from_secs(30),
        );
        assert_eq!(body.collect().await.unwrap().to_bytes(), "xxxxx");
    }
}
