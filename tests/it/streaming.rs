//! Bodies in flight: responses stream without buffering, a cut response
//! stays a cut, and an upload that breaks leaves nothing on the gateway.

use std::time::Duration;

use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::support::{Gateway, TestProxy, credentials_table, send};

/// A gateway stand-in that answers the first request with `head` and `first`
/// at once, then waits for `release` before it writes `rest` and closes.
async fn scripted_gateway(
    head: String,
    first: Vec<u8>,
    rest: Vec<u8>,
    release: oneshot::Receiver<()>,
) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        read_request_head(&mut stream).await;
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&first).await.unwrap();
        let _ = release.await;
        let _ = stream.write_all(&rest).await;
        let _ = stream.shutdown().await;
    });
    port
}

async fn read_request_head(stream: &mut TcpStream) {
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !seen.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.unwrap() == 0 {
            return;
        }
        seen.push(byte[0]);
    }
}

fn config_for(port: u16) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\nupstream = \"http://127.0.0.1:{port}\"\n{}",
        credentials_table("AKID", "secret")
    )
}

async fn get(proxy: &TestProxy, path: &str) -> http::Response<hyper::body::Incoming> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let request = http::Request::get(proxy.url(path))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    client.request(request).await.unwrap()
}

#[tokio::test]
async fn response_body_reaches_the_client_before_the_gateway_finishes() {
    let (release, released) = oneshot::channel();
    let head = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n".to_owned();
    let port = scripted_gateway(head, b"firs".to_vec(), b"t!!!".to_vec(), released).await;
    let proxy = TestProxy::from_toml(&config_for(port)).await;

    let mut body = get(&proxy, "/b/large").await.into_body();
    let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
        .await
        .expect("the first bytes arrive while the gateway still holds the rest")
        .unwrap()
        .unwrap();
    assert_eq!(frame.into_data().unwrap(), "firs");

    release.send(()).unwrap();
    let rest = body.collect().await.unwrap().to_bytes();
    assert_eq!(rest, "t!!!");
}

#[tokio::test]
async fn response_cut_by_the_gateway_reaches_the_client_as_a_cut() {
    let (release, released) = oneshot::channel();
    let head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_owned();
    let port = scripted_gateway(head, vec![b'a'; 40], Vec::new(), released).await;
    let proxy = TestProxy::from_toml(&config_for(port)).await;

    let response = get(&proxy, "/b/cut").await;
    assert_eq!(response.headers()["content-length"], "100");
    release.send(()).unwrap();
    let outcome = response.into_body().collect().await;
    assert!(outcome.is_err(), "a short body must not look complete");
}

/// Sends the head of a PUT with `Content-Length: declared`, then `sent`
/// bytes, then closes the connection.
async fn abandoned_upload(proxy: &TestProxy, path: &str, declared: usize, sent: usize) {
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {declared}\r\n\r\n",
        proxy.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&vec![b'z'; sent]).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(stream);
}

#[tokio::test]
async fn upload_abandoned_midway_stores_nothing_and_keeps_the_old_object() {
    for gateway in Gateway::all().await {
        for mode in ["unsigned", "signed", "auto", "streaming"] {
            let extra = format!(
                "payload = \"{mode}\"\nmemory_body_limit = \"64KiB\"\nchunk_size = \"8KiB\""
            );
            let proxy = TestProxy::start(&gateway, &extra).await;
            let bucket = crate::support::unique_name("zsp-abort");
            assert_eq!(
                send("PUT", &proxy.url(&format!("/{bucket}")), &[], "")
                    .await
                    .status,
                200
            );

            let kept = proxy.url(&format!("/{bucket}/kept"));
            assert_eq!(send("PUT", &kept, &[], "old version").await.status, 200);

            for (path, declared, sent) in [
                (format!("/{bucket}/kept"), 1 << 20, 300_000),
                (format!("/{bucket}/new"), 1 << 20, 300_000),
                (format!("/{bucket}/small"), 10_000, 5_000),
            ] {
                abandoned_upload(&proxy, &path, declared, sent).await;
            }
            // Let the proxy notice the broken bodies and abort upstream.
            tokio::time::sleep(Duration::from_millis(300)).await;

            let reply = send("GET", &kept, &[], "").await;
            assert_eq!(reply.body, "old version", "{} {mode}", gateway.name);
            for name in ["new", "small"] {
                let reply = send("GET", &proxy.url(&format!("/{bucket}/{name}")), &[], "").await;
                assert_eq!(
                    reply.status,
                    404,
                    "{} {mode} {name}: {}",
                    gateway.name,
                    reply.text()
                );
            }
        }
    }
}
