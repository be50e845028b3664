//! What the client sees when signing or the gateway fails.

mod client_gone;
mod misbehaving_gateway;

use std::time::{Duration, Instant};

use crate::support::{Gateway, TestProxy, credentials_table, send};

#[tokio::test]
async fn wrong_secret_is_refused_by_the_gateway_and_passed_through() {
    for gateway in Gateway::all_with_every_signature().await {
        let config = gateway.proxy_config("not-the-secret-at-all-0123456789");
        let proxy = TestProxy::from_toml(&config).await;
        let reply = send("PUT", &proxy.url("/zsp-wrong-secret"), &[], "").await;
        assert_eq!(reply.status, 403, "{}: {}", gateway.name, reply.text());
        assert_eq!(
            reply.error_code().as_deref(),
            Some("SignatureDoesNotMatch"),
            "{}",
            gateway.name
        );
        assert!(
            reply.header("x-proxy-error").is_none(),
            "the gateway's own answer"
        );
    }
}

#[tokio::test]
async fn gateway_refusing_connections_gives_502() {
    let port = crate::support::closed_port();
    let config = format!(
        "listen = \"127.0.0.1:0\"\nupstream = \"http://127.0.0.1:{port}\"\n{}",
        credentials_table("AKID", "secret")
    );
    let proxy = TestProxy::from_toml(&config).await;
    let reply = send("GET", &proxy.url("/bucket/key"), &[], "").await;
    assert_eq!(reply.status, 502);
    assert_eq!(
        reply.error_code().as_deref(),
        Some("ProxyUpstreamUnreachable")
    );
    assert_eq!(reply.header("content-type"), Some("application/xml"));
}

#[tokio::test]
async fn gateway_that_never_answers_gives_504_after_the_timeout() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let config = format!(
        "listen = \"127.0.0.1:0\"\nupstream = \"http://127.0.0.1:{port}\"\n\
         response_timeout = \"300ms\"\n{}",
        credentials_table("AKID", "secret")
    );
    let proxy = TestProxy::from_toml(&config).await;
    let started = Instant::now();
    let reply = send("GET", &proxy.url("/bucket/key"), &[], "").await;
    assert_eq!(reply.status, 504);
    assert_eq!(reply.error_code().as_deref(), Some("ProxyUpstreamTimeout"));
    assert!(started.elapsed() >= Duration::from_millis(300));
    holder.abort();
}

#[tokio::test]
async fn duplicate_query_key_is_refused_by_the_proxy() {
    let gateway = Gateway::s3s().await;
    let proxy = TestProxy::start(&gateway, "").await;
    let reply = send("GET", &proxy.url("/b?prefix=a&prefix=b"), &[], "").await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.error_code().as_deref(),
        Some("ProxyDuplicateQueryKey")
    );
}

#[tokio::test]
async fn chunked_body_over_the_spool_limit_gives_413() {
    let gateway = Gateway::s3s().await;
    let proxy = TestProxy::start(&gateway, "spool_limit = 1000").await;
    let chunks = vec![
        bytes::Bytes::from(vec![b'x'; 600]),
        bytes::Bytes::from(vec![b'y'; 600]),
    ];
    let reply = crate::support::send_chunked("PUT", &proxy.url("/b/k"), &[], chunks).await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.error_code().as_deref(), Some("ProxyBodyTooLarge"));
}

#[tokio::test]
async fn upload_slower_than_the_response_timeout_is_not_cut() {
    use http_body_util::BodyExt;

    let gateway = Gateway::s3s().await;
    let extra = "payload = \"unsigned\"\nresponse_timeout = \"300ms\"";
    let proxy = TestProxy::start(&gateway, extra).await;
    assert_eq!(send("PUT", &proxy.url("/slow"), &[], "").await.status, 200);

    // Ten pieces, 100 ms apart: the body takes about three response timeouts.
    let pieces = futures_util::stream::unfold(0u8, |sent| async move {
        if sent == 10 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let frame = hyper::body::Frame::data(bytes::Bytes::from(vec![b'0' + sent; 1000]));
        Some((Ok::<_, std::io::Error>(frame), sent + 1))
    });
    let body = http_body_util::StreamBody::new(pieces).boxed_unsync();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let request = http::Request::put(proxy.url("/slow/object"))
        .header("content-length", "10000")
        .body(body)
        .unwrap();
    let started = Instant::now();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(900));

    let reply = send("GET", &proxy.url("/slow/object"), &[], "").await;
    assert_eq!(reply.body.len(), 10_000);
    assert_eq!(&reply.body[9000..9003], b"999");
}

#[tokio::test]
async fn a_client_that_stalls_mid_body_is_refused_after_the_idle_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let gateway = Gateway::s3s().await;
    let proxy = TestProxy::start(&gateway, "idle_timeout = \"300ms\"").await;
    assert_eq!(send("PUT", &proxy.url("/stall"), &[], "").await.status, 200);
    let mut stream = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    let head = format!(
        "PUT /stall/k HTTP/1.1\r\nHost: {}\r\nContent-Length: 1000\r\n\r\nhalf",
        proxy.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("stalled: no data for 300ms"), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    let reply = send("GET", &proxy.url("/stall/k"), &[], "").await;
    assert_eq!(reply.status, 404, "nothing stored");
}

#[tokio::test]
async fn a_gateway_30_minutes_ahead_is_reached_after_the_clock_correction() {
    use crate::support::backbeat::Backbeat;

    let backbeat = Backbeat::start().await;
    *backbeat.skew.lock().unwrap() = 30 * 60;
    for signature in ["v4", "v2"] {
        let config = format!(
            "listen = \"127.0.0.1:0\"\nupstream = \"{}\"\n{}\n\
             [[route]]\nprefix = \"/_/backbeat/api/\"\nsignature = \"{signature}\"\n",
            backbeat.url,
            credentials_table(&backbeat.access_key, &backbeat.secret_key)
        );
        let proxy = TestProxy::from_toml(&config).await;
        // The first request is refused for its time, then sent again with
        // the gateway's time; the client sees only the success.
        let first = send(
            "GET",
            &proxy.url("/_/backbeat/api/metrics/crr/all"),
            &[],
            "",
        )
        .await;
        assert_eq!(first.status, 200, "{signature}: {}", first.text());
        let second = send(
            "GET",
            &proxy.url("/_/backbeat/api/metrics/crr/all"),
            &[],
            "",
        )
        .await;
        assert_eq!(second.status, 200, "{signature}: {}", second.text());
    }
    let skewed = "refused: time too skewed";
    assert_eq!(
        *backbeat.accepted.lock().unwrap(),
        [skewed, "v4", "v4", skewed, "v2", "v2"],
        "each proxy is refused once, then signs with the gateway's time"
    );
}

#[tokio::test]
async fn the_proxy_serves_on_ipv6_loopback() {
    let gateway = Gateway::s3s().await;
    let config = format!(
        "listen = \"[::1]:0\"\nupstream = \"{}\"\n{}",
        gateway.url,
        credentials_table(&gateway.access_key, &gateway.secret_key)
    );
    let proxy = TestProxy::from_toml(&config).await;
    assert!(proxy.addr.is_ipv6());
    let reply = send("PUT", &proxy.url("/over-ipv6"), &[], "").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = send("PUT", &proxy.url("/over-ipv6/k"), &[], "six").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        send("GET", &proxy.url("/over-ipv6/k"), &[], "").await.body,
        "six"
    );
}
