//! The server: accepts connections (TCP or a unix socket, see
//! [`crate::listener`]), admits them, and serves each with the proxy, over
//! HTTP/1.1 or HTTP/2 (h2c, or h2 over TLS), until asked to stop.
//!
//! A connection is admitted when the proxy has room for it
//! (`max_connections`) and its peer is loopback or in `allowed_clients`;
//! otherwise every request on it is answered with the refusal (503 or 403)
//! and the connection is closed. On a TLS listener the handshake comes
//! first, so that even a refusal is never sent in clear. Request heads
//! with ambiguous framing are refused the same way ([`crate::framing`]).
//!
//! On shutdown the listener closes at once, and connections in flight are
//! asked to finish their current request; after the drain timeout the rest
//! are dropped.

use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{HeaderValue, header};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::body::Holding;
use crate::client_auth::ClientAuth;
use crate::error::{ErrorKind, ProxyError};
use crate::framing::WatchedIo;
use crate::limits::{HeadLimits, InFlight};
use crate::listener::{Connection, Listener};
use crate::proxy::Proxy;

/// How long a client may take to send a request's headers (slow clients
/// otherwise hold a connection open for ever); also the longest a TLS
/// handshake may take.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest read buffer of a client connection: bodies arrive in
/// pieces of up to this size.
const READ_BUFFER: usize = 512 * 1024;

/// How connections are admitted and served.
pub struct ServerSettings {
    /// The limits on a request's head, given to the HTTP parser too.
    pub head_limits: HeadLimits,
    /// Which peers may connect.
    pub client_auth: ClientAuth,
    /// TLS on the listener, if configured.
    pub tls: Option<TlsAcceptor>,
    /// The connections open at once.
    pub connections: InFlight,
    /// How long requests in flight may take to finish at shutdown.
    pub drain_timeout: Duration,
    /// How long a connection may stay open between requests.
    pub idle_timeout: Duration,
}

/// What every connection task shares.
struct Shared {
    builder: auto::Builder<TokioExecutor>,
    parser_header_count: usize,
    proxy: Arc<Proxy>,
    client_auth: ClientAuth,
    tls: Option<TlsAcceptor>,
    idle_timeout: Duration,
}

/// What the server decided for a new connection.
struct Admission {
    /// Its place among `max_connections`; none when refused.
    permit: Option<OwnedSemaphorePermit>,
    /// Why it is not served by the proxy, if it is not.
    refusal: Option<Refusal>,
    /// The graceful-shutdown watch.
    watcher: Watcher,
}

/// Why a connection is not served by the proxy.
#[derive(Clone, Copy)]
enum Refusal {
    TooManyConnections(usize),
    ClientNotAllowed(IpAddr),
    AmbiguousFraming,
}

/// Serves connections from `listener` until `shutdown` completes, then
/// lets requests in flight finish for up to the drain timeout.
pub async fn run(
    listener: Listener,
    proxy: Arc<Proxy>,
    settings: ServerSettings,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_headers(settings.head_limits.parser_header_count())
        .max_buf_size(READ_BUFFER);
    let header_list = settings.head_limits.max_header_bytes.saturating_mul(2);
    builder
        .http2()
        .max_header_list_size(u32::try_from(header_list).unwrap_or(u32::MAX));
    let shared = Arc::new(Shared {
        builder,
        parser_header_count: settings.head_limits.parser_header_count(),
        proxy,
        client_auth: settings.client_auth,
        tls: settings.tls,
        idle_timeout: settings.idle_timeout,
    });
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
        let peer = match &connection {
            Connection::Tcp(_, peer) => Some(peer.ip()),
            Connection::Unix(_) => None,
        };
        let watcher = graceful.watcher();
        let admission =
            Admission::decide(&settings.connections, &shared.client_auth, peer, watcher);
        match connection {
            Connection::Tcp(stream, _) => {
                tokio::spawn(Arc::clone(&shared).connection(stream, admission));
            }
            Connection::Unix(stream) => {
                tokio::spawn(Arc::clone(&shared).plain(stream, admission));
            }
        }
    }

    drop(listener);
    tracing::info!("shutting down; waiting for requests in flight");
    if tokio::time::timeout(settings.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("drain timeout passed; closing the remaining connections");
    }
}

// === impl Shared ===

impl Shared {
    /// A TCP connection: through the TLS handshake when configured.
    async fn connection<S>(self: Arc<Self>, stream: S, admission: Admission)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Some(acceptor) = self.tls.clone() else {
            return self.plain(stream, admission).await;
        };
        match tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => self.plain(stream, admission).await,
            Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed"),
            Err(_) => tracing::debug!("TLS handshake timed out"),
        }
    }

    /// Serves one connection with the proxy, or with its refusal.
    async fn plain<S>(self: Arc<Self>, stream: S, admission: Admission)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Admission {
            permit,
            refusal,
            watcher,
        } = admission;
        let (stream, ambiguous) = WatchedIo::new(stream, self.parser_header_count);
        let proxy = Arc::clone(&self.proxy);
        let activity = Arc::new(Activity::new());
        let requests = Arc::clone(&activity);
        let service = service_fn(move |request| {
            let busy = Activity::start(&requests);
            let proxy = Arc::clone(&proxy);
            let refusal = match refusal {
                None if ambiguous.is_set() => Some(Refusal::AmbiguousFraming),
                other => other,
            };
            async move {
                let response = match refusal {
                    None => proxy.handle(request).await,
                    Some(refusal) => {
                        let mut response = proxy.refuse(request, refusal.error()).await;
                        let close = HeaderValue::from_static("close");
                        response.headers_mut().insert(header::CONNECTION, close);
                        response
                    }
                };
                // Busy until the answer's body has gone out.
                let response = response.map(|body| Holding::new(body, busy));
                Ok::<_, Infallible>(response)
            }
        });
        let connection = self.builder.serve_connection(TokioIo::new(stream), service);
        let connection = watcher.watch(connection.into_owned());
        tokio::select! {
            outcome = connection => {
                if let Err(error) = outcome {
                    tracing::debug!(%error, "connection ended with an error");
                }
            }
            () = activity.idle(HEADER_READ_TIMEOUT, self.idle_timeout) => {
                tracing::debug!("connection idle; closed");
            }
        }
        drop(permit);
    }
}

/// What a connection is doing, for its idle timer: hyper's header timeout
/// starts only once HTTP/1 is chosen, so a connection that sends nothing,
/// half the HTTP/2 preface, or an HTTP/2 connection between streams would
/// otherwise hold its place for ever.
struct Activity {
    in_flight: AtomicUsize,
    served: AtomicBool,
    idle_since: Mutex<Instant>,
}

/// A request in flight on a connection; done when dropped.
struct Busy(Arc<Activity>);

// === impl Activity ===

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            idle_since: Mutex::new(Instant::now()),
        }
    }

    fn start(activity: &Arc<Self>) -> Busy {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        activity.served.store(true, Ordering::Release);
        Busy(Arc::clone(activity))
    }

    /// Completes once the connection has had no request in flight for
    /// `first` before its first request, or `between` after one.
    async fn idle(&self, first: Duration, between: Duration) {
        loop {
            let limit = if self.served.load(Ordering::Acquire) {
                between
            } else {
                first
            };
            let wait = if self.in_flight.load(Ordering::Acquire) > 0 {
                limit
            } else {
                let since = *self.idle_since.lock().unwrap_or_else(|e| e.into_inner());
                match limit.checked_sub(since.elapsed()) {
                    // A first request may come meanwhile and shorten the
                    // limit: look again after `between` at the latest.
                    Some(left) if !left.is_zero() => left.min(between),
                    _ => return,
                }
            };
            tokio::time::sleep(wait).await;
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.idle_since.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

// === impl Admission ===

impl Admission {
    /// A place when there is one, and a peer (TCP) inside the networks. A
    /// peer outside them never holds a place that the operator's clients
    /// need.
    fn decide(
        connections: &InFlight,
        auth: &ClientAuth,
        peer: Option<IpAddr>,
        watcher: Watcher,
    ) -> Self {
        if let Some(address) = peer.filter(|address| !auth.admits(*address)) {
            return Self {
                permit: None,
                refusal: Some(Refusal::ClientNotAllowed(address)),
                watcher,
            };
        }
        let permit = connections.try_enter();
        let refusal = match permit {
            Some(_) => None,
            None => Some(Refusal::TooManyConnections(connections.limit())),
        };
        Self {
            permit,
            refusal,
            watcher,
        }
    }
}

// === impl Refusal ===

impl Refusal {
    fn error(self) -> ProxyError {
        match self {
            Self::TooManyConnections(limit) => ProxyError::new(
                ErrorKind::TooManyConnections,
                format!(
                    "the proxy already serves as many connections as it takes ({limit}, max_connections)"
                ),
            ),
            Self::ClientNotAllowed(address) => ClientAuth::refusal(address),
            Self::AmbiguousFraming => ProxyError::new(
                ErrorKind::AmbiguousFraming,
                "the request's framing is ambiguous: Content-Length with Transfer-Encoding, \
                 or Content-Length twice",
            ),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: Duration = HEADER_READ_TIMEOUT;
    const BETWEEN: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn a_connection_without_a_request_is_idle_after_the_header_timeout() {
        let activity = Activity::new();
        let started = tokio::time::Instant::now();
        activity.idle(FIRST, BETWEEN).await;
        assert_eq!(started.elapsed().as_secs(), FIRST.as_secs());
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_keeps_the_connection_however_long() {
        let activity = Arc::new(Activity::new());
        let busy = Activity::start(&activity);
        let idle = activity.idle(FIRST, BETWEEN);
        assert!(tokio::time::timeout(BETWEEN * 10, idle).await.is_err());
        drop(busy);
        let started = tokio::time::Instant::now();
        activity.idle(FIRST, BETWEEN).await;
        assert_eq!(started.elapsed().as_secs(), BETWEEN.as_secs());
    }
}
