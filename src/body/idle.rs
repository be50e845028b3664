//! A body that fails when no frame comes for too long: a client or gateway
//! that stalls mid-body does not hold a connection (and a signed upload)
//! open for ever. A body that keeps moving, however slowly and however
//! long, is never cut: only silence is.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
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
