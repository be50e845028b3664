//! The server: accepts connections (TCP or a unix socket, see
//! [`crate::listener`]) and serves each with the proxy, over HTTP/1.1 or
//! HTTP/2 (h2c), until asked to stop.
//!
//! On shutdown the listener closes at once, and connections in flight are
//! asked to finish their current request; after the drain timeout the rest
//! are dropped.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;

use crate::listener::{Connection, Listener};
use crate::proxy::Proxy;

/// How long a client may take to send a request's headers (slow clients
/// otherwise hold a connection open for ever).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest read buffer of a client connection: bodies arrive in
/// pieces of up to this size.
const READ_BUFFER: usize = 512 * 1024;

/// Serves connections from `listener` until `shutdown` completes, then
/// lets requests in flight finish for up to `drain_timeout`.
pub async fn run(
    listener: Listener,
    proxy: Arc<Proxy>,
    shutdown: impl Future<Output = ()>,
    drain_timeout: Duration,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(READ_BUFFER);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        let connection = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(error) => {
                    // Out of file descriptors, usually: wait, then accept again.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        match connection {
            Connection::Tcp(stream) => serve(&builder, &graceful, &proxy, stream),
            Connection::Unix(stream) => serve(&builder, &graceful, &proxy, stream),
        }
    }

    drop(listener);
    tracing::info!("shutting down; waiting for requests in flight");
    if tokio::time::timeout(drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("drain timeout passed; closing the remaining connections");
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {},
                    _ = terminate.recv() => {},
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

/// Serves one connection with the proxy, watched for graceful shutdown.
fn serve<S>(
    builder: &auto::Builder<TokioExecutor>,
    graceful: &GracefulShutdown,
    proxy: &Arc<Proxy>,
    stream: S,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let proxy = Arc::clone(proxy);
    let service = service_fn(move |request| {
        let proxy = Arc::clone(&proxy);
        async move { Ok::<_, Infallible>(proxy.handle(request).await) }
    });
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    let connection = graceful.watch(connection.into_owned());
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "connection ended with an error");
        }
    });
}
