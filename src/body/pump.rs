//! A pump between two connections: a task that reads one body ahead into a
//! small queue while the other side writes what was read before.
//!
//! hyper hands a request body over one frame at a time: the connection that
//! receives it reads the next piece only once the previous one has been
//! taken. Through the proxy that makes reading from one socket and writing
//! (and hashing) for the other take turns on one core. The pump lets them
//! overlap on two, for at most [`DEPTH`] frames per body in flight.
//!
//! Nothing is lost or invented on the way: frames keep their order, an
//! error is passed on as an error (so the receiving side still aborts), and
//! when the reader of the queue goes away the pump stops and drops the body.

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Body, Frame};
use tokio::sync::mpsc;

use crate::body::{BoxError, UpstreamBody};

/// Frames read ahead per body.
pub const DEPTH: usize = 4;

/// `body`, read ahead by a task of its own.
pub fn pumped<B>(body: B) -> UpstreamBody
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError> + Send,
{
    let (sender, receiver) = mpsc::channel::<Result<Frame<Bytes>, BoxError>>(DEPTH);
    tokio::spawn(pump(body, sender));
    let frames = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|frame| (frame, receiver))
    });
    StreamBody::new(frames).boxed_unsync()
}

async fn pump<B>(mut body: B, sender: mpsc::Sender<Result<Frame<Bytes>, BoxError>>)
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    while let Some(frame) = body.frame().await {
        let failed = frame.is_err();
        if sender.send(frame.map_err(Into::into)).await.is_err() || failed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::StreamBody;

    use super::*;
    use crate::body::scripted::{data, scripted};

    #[tokio::test]
    async fn frames_arrive_whole_and_in_order() {
        let pieces = (0..20).map(|_| data("abc")).collect();
        let collected = pumped(scripted(pieces)).collect().await.unwrap().to_bytes();
        assert_eq!(collected, "abc".repeat(20));
    }

    #[tokio::test]
    async fn empty_body_ends_at_once() {
        let mut body = pumped(scripted(vec![]));
        assert!(body.frame().await.is_none());
    }

    #[tokio::test]
    async fn an_error_is_passed_on_and_ends_the_body() {
        let pieces = vec![
            data("a"),
            Err(std::io::Error::other("client went away")),
            data("b"),
        ];
        let mut body = pumped(scripted(pieces));
        assert_eq!(
            body.frame().await.unwrap().unwrap().into_data().unwrap(),
            "a"
        );
        let error = body.frame().await.unwrap().unwrap_err();
        assert!(error.to_string().contains("client went away"));
        assert!(body.frame().await.is_none(), "nothing after the error");
    }

    #[tokio::test]
    async fn trailers_pass_through() {
        let pieces = vec![data("a"), Ok(Frame::trailers(http::HeaderMap::new()))];
        let mut body = pumped(scripted(pieces));
        body.frame().await.unwrap().unwrap();
        assert!(body.frame().await.unwrap().unwrap().is_trailers());
    }

    #[tokio::test]
    async fn dropping_the_reader_stops_the_pump() {
        let (sender, receiver) = tokio::sync::oneshot::channel::<()>();
        struct Watched(Option<tokio::sync::oneshot::Sender<()>>);
        impl Drop for Watched {
            fn drop(&mut self) {
                if let Some(sender) = self.0.take() {
                    let _ = sender.send(());
                }
            }
        }
        let watched = Watched(Some(sender));
        let endless = futures_util::stream::repeat_with(move || {
            let _keep = &watched;
            data("x")
        });
        let body = pumped(StreamBody::new(endless));
        drop(body);
        tokio::time::timeout(std::time::Duration::from_secs(5), receiver)
            .await
            .expect("the pump drops the body when nobody reads")
            .unwrap();
    }
}
