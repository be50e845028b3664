//! Gateways that misbehave, played by scripts on loopback: what reaches
//! the client is a 502 or 504 in XML from the proxy when the gateway fails
//! before its headers, and a cut connection when it fails inside its body.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{Reply, TestProxy, credentials_table, send};

/// How long a client in these tests waits for anything.
const CLIENT_DEADLINE: Duration = Duration::from_secs(10);

/// A scripted gateway: each connection runs the script, given the stream
/// and the request head (as text) once the head has been read.
pub(super) struct Scripted {
    port: u16,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Scripted {
    pub(super) async fn start<S, F>(script: S) -> Self
    where
        S: Fn(TcpStream, String) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let head = read_request_head(&mut stream).await;
                tokio::spawn(script(stream, head));
            }
        });
        Self {
            port,
            connections,
            task,
        }
    }

    /// A proxy in front of it, with `extra` config lines.
    pub(super) async fn proxy(&self, extra: &str) -> TestProxy {
        TestProxy::from_toml(&format!(
            "{extra}\nlisten = \"127.0.0.1:0\"\nupstream = \"http://127.0.0.1:{}\"\n{}",
            self.port,
            credentials_table("AKID", "secret")
        ))
        .await
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_request_head(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !seen.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => seen.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// Closes `stream` with a TCP reset rather than an orderly close.
pub(super) fn reset(stream: TcpStream) {
    stream.set_zero_linger().unwrap();
    drop(stream);
}

/// Asserts a proxy error answer: status, `x-proxy-error`, XML `<Code>`.
fn assert_proxy_error(reply: &Reply, status: u16, code: &str, case: &str) {
    assert_eq!(reply.status, status, "{case}: {}", reply.text());
    assert_eq!(reply.header("x-proxy-error"), Some(code), "{case}");
    assert_eq!(reply.error_code().as_deref(), Some(code), "{case}");
    assert_eq!(reply.header("content-type"), Some("application/xml"));
}

/// The gateway's failure before its headers, for a GET and a small PUT.
async fn assert_502_broken(gateway: &Scripted, case: &str) {
    let proxy = gateway.proxy("").await;
    for (method, body) in [("GET", ""), ("PUT", "a small body")] {
        let before = gateway.connections();
        let reply =
            tokio::time::timeout(CLIENT_DEADLINE, send(method, &proxy.url("/b/k"), &[], body))
                .await
                .expect("the proxy answers");
        assert_proxy_error(
            &reply,
            502,
            "ProxyUpstreamBroken",
            &format!("{case} {method}"),
        );
        assert_eq!(
            gateway.connections() - before,
            1,
            "{case} {method}: sent once, never again on a new connection"
        );
    }
}

#[tokio::test]
async fn gateway_resetting_before_its_headers_gives_502_broken() {
    let gateway = Scripted::start(|stream, _| async move { reset(stream) }).await;
    assert_502_broken(&gateway, "reset").await;
}

#[tokio::test]
async fn gateway_closing_before_its_headers_gives_502_broken() {
    let gateway = Scripted::start(|mut stream, _| async move {
        let _ = stream.shutdown().await;
    })
    .await;
    assert_502_broken(&gateway, "close").await;
}

#[tokio::test]
async fn gateway_answering_garbage_gives_502_broken() {
    let gateway = Scripted::start(|mut stream, _| async move {
        let garbage = b"SSH-2.0-OpenSSH_9.6\r\n\x00\x01\x02\xff not HTTP at all\r\n\r\n";
        let _ = stream.write_all(garbage).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    })
    .await;
    assert_502_broken(&gateway, "garbage").await;
}

#[tokio::test]
async fn gateway_stalling_inside_its_headers_gives_504() {
    let gateway = Scripted::start(|mut stream, _| async move {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Le").await;
        tokio::time::sleep(CLIENT_DEADLINE).await;
    })
    .await;
    let proxy = gateway.proxy("response_timeout = \"300ms\"").await;
    let started = Instant::now();
    let reply = tokio::time::timeout(CLIENT_DEADLINE, send("GET", &proxy.url("/b/k"), &[], ""))
        .await
        .expect("the proxy answers before the gateway's script ends");
    assert_proxy_error(&reply, 504, "ProxyUpstreamTimeout", "half a head");
    assert!(started.elapsed() >= Duration::from_millis(300));
}

/// What a client read of a response before it ended.
#[derive(Debug)]
struct Received {
    status: u16,
    content_length: Option<u64>,
    bytes: u64,
    /// `None` when the body ended cleanly, else the error that ended it.
    error: Option<String>,
    took: Duration,
}

/// GETs `path` with a plain client, counting body bytes until the end or
/// an error.
async fn receive(proxy: &TestProxy, path: &str) -> Received {
    let started = Instant::now();
    let work = async {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(hyper_util::client::legacy::connect::HttpConnector::new());
        let request = http::Request::get(proxy.url(path))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = client.request(request).await.expect("response headers");
        let status = response.status().as_u16();
        let content_length = response
            .headers()
            .get("content-length")
            .map(|value| value.to_str().unwrap().parse().unwrap());
        let mut body = response.into_body();
        let mut bytes = 0;
        let mut error = None;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => bytes += frame.into_data().map_or(0, |data| data.len() as u64),
                Err(cut) => {
                    error = Some(zenko_signing_proxy::error::chain(&cut));
                    break;
                }
            }
        }
        Received {
            status,
            content_length,
            bytes,
            error,
            took: started.elapsed(),
        }
    };
    tokio::time::timeout(CLIENT_DEADLINE, work)
        .await
        .expect("the response ends, cleanly or not, in time")
}

/// A gateway that sends `head`, then `sent` bytes of body, waits a moment
/// (so they pass the proxy) and resets the connection.
async fn resetting_mid_body(head: &'static str, sent: usize) -> Scripted {
    Scripted::start(move |mut stream, _| async move {
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(&vec![b'b'; sent]).await;
        let _ = stream.flush().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        reset(stream);
    })
    .await
}

#[tokio::test]
async fn gateway_resetting_mid_body_reaches_the_client_as_a_cut() {
    let head = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
    let gateway = resetting_mid_body(head, 40_000).await;
    let proxy = gateway.proxy("").await;
    let received = receive(&proxy, "/b/k").await;
    assert_eq!(received.status, 200);
    assert_eq!(received.content_length, Some(100_000));
    assert_eq!(received.bytes, 40_000, "what the gateway sent, and no more");
    assert!(
        received.error.is_some(),
        "40000 of 100000 bytes must not end cleanly"
    );
}

#[tokio::test]
async fn gateway_resetting_a_close_delimited_body_reaches_the_client_as_a_cut() {
    // No Content-Length: the body ends when the connection does. A reset
    // is not an end: the proxy's chunked answer must not get its last chunk.
    let head = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
    let gateway = resetting_mid_body(head, 40_000).await;
    let proxy = gateway.proxy("").await;
    let received = receive(&proxy, "/b/k").await;
    assert_eq!(received.status, 200);
    assert_eq!(received.content_length, None);
    assert_eq!(received.bytes, 40_000);
    assert!(
        received.error.is_some(),
        "a reset must not end the body cleanly"
    );
}

#[tokio::test]
async fn gateway_stalling_mid_body_is_cut_after_the_idle_timeout() {
    let gateway = Scripted::start(|mut stream, _| async move {
        let head = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(&[b's'; 1000]).await;
        tokio::time::sleep(CLIENT_DEADLINE).await;
    })
    .await;
    let proxy = gateway.proxy("idle_timeout = \"300ms\"").await;
    let received = receive(&proxy, "/b/k").await;
    assert_eq!(
        (received.status, received.content_length),
        (200, Some(100_000))
    );
    assert_eq!(received.bytes, 1000);
    assert!(received.error.is_some(), "a stalled body must end as a cut");
    assert!(
        received.took >= Duration::from_millis(300),
        "{:?}",
        received.took
    );
    assert!(received.took < CLIENT_DEADLINE / 2, "{:?}", received.took);
}

/// A small 403 is read whole by the proxy (to look for a clock-skew
/// refusal) before it is passed on; a cut in it must never become a
/// complete shorter 403 (the proxy answers 502 `ProxyUpstreamBroken`).
#[tokio::test]
async fn gateway_cutting_a_small_403_reaches_the_client_as_a_cut() {
    let gateway = Scripted::start(|mut stream, _| async move {
        let head = "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\n\
                    Content-Length: 500\r\n\r\n";
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(b"<Error><Code>AccessDenied</Code>").await;
        let _ = stream.flush().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        reset(stream);
    })
    .await;
    let proxy = gateway.proxy("").await;
    let received = receive(&proxy, "/b/k").await;
    let complete = received.error.is_none() && received.content_length == Some(received.bytes);
    assert_eq!(received.status, 502, "{received:?}");
    assert!(
        !complete || received.status == 502,
        "the gateway sent 32 of 500 bytes and then reset; the client got a complete \
         {} of {} bytes (Content-Length {:?})",
        received.status,
        received.bytes,
        received.content_length
    );
}

/// A gateway that stops reading the request body mid-way is given up after
/// `idle_timeout` (504), rather than holding the upload for ever.
#[tokio::test]
async fn gateway_that_stops_reading_the_body_gives_504() {
    let gateway = Scripted::start(|mut stream, _| async move {
        let mut first = vec![0u8; 64 * 1024];
        let _ = stream.read_exact(&mut first).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let proxy = gateway
        .proxy("payload = \"unsigned\"\nidle_timeout = \"1s\"")
        .await;
    let started = Instant::now();
    let reply = send("PUT", &proxy.url("/b/k"), &[], vec![b'x'; 16 * 1024 * 1024]).await;
    assert_proxy_error(
        &reply,
        504,
        "ProxyUpstreamTimeout",
        "a gateway that stops reading",
    );
    assert!(reply.text().contains("took no byte"), "{}", reply.text());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
