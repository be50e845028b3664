//! The admin listener (off unless `admin_listen` is set, loopback only):
//!
//! - `GET /healthz`: 200 while the process runs;
//! - `GET /readyz`: 200 when the gateway of every route accepts a TCP
//!   connection within a second, else 503 naming the first that does not
//!   (credentials are loaded before the proxy starts serving at all);
//! - `GET /metrics`: the metrics of [`crate::metrics`], Prometheus text.
//!
//! It never signs or forwards anything.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::upstream::Upstream;

/// How long `/readyz` waits for each gateway.
const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// Serves the admin endpoints on `listener` until the task is aborted.
pub async fn serve(listener: TcpListener, upstreams: Vec<Upstream>) {
    let upstreams = std::sync::Arc::new(upstreams);
    while let Ok((stream, _)) = listener.accept().await {
        let upstreams = std::sync::Arc::clone(&upstreams);
        let service = hyper::service::service_fn(move |request| {
            let upstreams = std::sync::Arc::clone(&upstreams);
            async move { Ok::<_, Infallible>(answer(&request, &upstreams).await) }
        });
        tokio::spawn(async move {
            let http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let _ = http.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// Binds the admin address, which must be loopback.
pub async fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    if !address.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("admin_listen {address} is not a loopback address"),
        ));
    }
    TcpListener::bind(address).await
}

async fn answer(request: &Request<Incoming>, upstreams: &[Upstream]) -> Response<Full<Bytes>> {
    if request.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n".into());
    }
    match request.uri().path() {
        "/healthz" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => match unreachable_upstream(upstreams).await {
            None => text(StatusCode::OK, "ready\n".into()),
            Some(upstream) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {upstream} does not accept connections\n"),
            ),
        },
        "/metrics" => {
            let mut response = text(StatusCode::OK, crate::metrics::METRICS.encode());
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            response
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "/healthz, /readyz or /metrics\n".into(),
        ),
    }
}

/// The first gateway that does not accept a TCP connection in time.
async fn unreachable_upstream(upstreams: &[Upstream]) -> Option<&Upstream> {
    for upstream in upstreams {
        let connect = tokio::net::TcpStream::connect(upstream.socket_authority());
        match tokio::time::timeout(READY_TIMEOUT, connect).await {
            Ok(Ok(_)) => {}
            _ => return Some(upstream),
        }
    }
    None
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
