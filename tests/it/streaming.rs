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

/// An aws-chunked envelope of `data` in chunks of `chunk`, with a CRC32
/// trailer of `checksum_of` (the data itself for a right checksum).
fn envelope(data: &[u8], chunk: usize, checksum_of: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let crc = crc32fast::hash(checksum_of).to_be_bytes();
    let mut envelope = Vec::new();
    for piece in data.chunks(chunk) {
        envelope.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        envelope.extend_from_slice(piece);
        envelope.extend_from_slice(b"\r\n");
    }
    let trailer = base64::engine::general_purpose::STANDARD.encode(crc);
    envelope.extend_from_slice(format!("0\r\nx-amz-checksum-crc32:{trailer}\r\n\r\n").as_bytes());
    envelope
}

fn envelope_headers(decoded: usize) -> Vec<(&'static str, String)> {
    vec![
        ("content-encoding", "aws-chunked".to_owned()),
        (
            "x-amz-content-sha256",
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER".to_owned(),
        ),
        ("x-amz-trailer", "x-amz-checksum-crc32".to_owned()),
        ("x-amz-decoded-content-length", decoded.to_string()),
    ]
}

#[tokio::test]
async fn client_aws_chunked_body_is_decoded_checked_and_stored_plain() {
    for gateway in Gateway::all().await {
        for mode in ["auto", "signed", "unsigned", "streaming"] {
            let extra = format!(
                "payload = \"{mode}\"\nmemory_body_limit = \"64KiB\"\nchunk_size = \"8KiB\""
            );
            let proxy = TestProxy::start(&gateway, &extra).await;
            let bucket = crate::support::unique_name("zsp-envelope");
            assert_eq!(
                send("PUT", &proxy.url(&format!("/{bucket}")), &[], "")
                    .await
                    .status,
                200
            );
            for size in [5, 100_000] {
                let data = crate::support::pseudo_random_bytes(size, 3);
                let headers = envelope_headers(size);
                let headers: Vec<(&str, &str)> =
                    headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
                let url = proxy.url(&format!("/{bucket}/obj-{size}"));
                let reply = send("PUT", &url, &headers, envelope(&data, 3000, &data)).await;
                assert_eq!(
                    reply.status,
                    200,
                    "{} {mode} {size}: {}",
                    gateway.name,
                    reply.text()
                );
                let stored = send("GET", &url, &[], "").await;
                assert_eq!(stored.body.len(), size, "{} {mode}", gateway.name);
                assert_eq!(
                    stored.body, data,
                    "{} {mode}: the plain bytes, never the envelope",
                    gateway.name
                );
            }
        }
    }
}

#[tokio::test]
async fn client_aws_chunked_body_with_a_wrong_checksum_stores_nothing() {
    for gateway in Gateway::all().await {
        for mode in ["auto", "signed", "unsigned", "streaming"] {
            let extra = format!(
                "payload = \"{mode}\"\nmemory_body_limit = \"64KiB\"\nchunk_size = \"8KiB\""
            );
            let proxy = TestProxy::start(&gateway, &extra).await;
            let bucket = crate::support::unique_name("zsp-badsum");
            assert_eq!(
                send("PUT", &proxy.url(&format!("/{bucket}")), &[], "")
                    .await
                    .status,
                200
            );
            let url = proxy.url(&format!("/{bucket}/kept"));
            assert_eq!(send("PUT", &url, &[], "old version").await.status, 200);

            for size in [5, 100_000] {
                let data = crate::support::pseudo_random_bytes(size, 4);
                let headers = envelope_headers(size);
                let headers: Vec<(&str, &str)> =
                    headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
                let bad = envelope(&data, 3000, b"something else");
                let reply = send("PUT", &url, &headers, bad).await;
                assert_eq!(
                    reply.status,
                    400,
                    "{} {mode} {size}: {}",
                    gateway.name,
                    reply.text()
                );
                assert_eq!(
                    reply.error_code().as_deref(),
                    Some("ProxyInvalidChunkedBody")
                );
                assert!(
                    reply.text().contains("x-amz-checksum-crc32"),
                    "{}",
                    reply.text()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            let kept = send("GET", &url, &[], "").await;
            assert_eq!(kept.body, "old version", "{} {mode}", gateway.name);
        }
    }
}

#[tokio::test]
async fn encodings_the_proxy_cannot_sign_are_refused() {
    let gateway = Gateway::s3s().await;
    let proxy = TestProxy::start(&gateway, "").await;
    type Case<'a> = (&'a [(&'a str, &'a str)], u16, &'a str);
    let cases: [Case<'_>; 3] = [
        (
            &[("content-encoding", "AWS-Chunked")],
            400,
            "ProxyInvalidChunkedBody",
        ),
        (
            &[
                ("content-encoding", "aws-chunked"),
                ("x-amz-decoded-content-length", "5"),
                ("x-amz-trailer", "x-amz-checksum-md4"),
            ],
            501,
            "ProxyUnsupportedBodyEncoding",
        ),
        (
            &[("transfer-encoding", "gzip, chunked")],
            501,
            "ProxyUnsupportedBodyEncoding",
        ),
    ];
    for (headers, status, code) in cases {
        let reply = crate::support::send_chunked(
            "PUT",
            &proxy.url("/b/k"),
            headers,
            vec![bytes::Bytes::from_static(b"5\r\nhello\r\n0\r\n\r\n")],
        )
        .await;
        assert_eq!(reply.status, status, "{headers:?}: {}", reply.text());
        assert_eq!(reply.error_code().as_deref(), Some(code), "{headers:?}");
    }
}

#[tokio::test]
async fn streaming_uploads_of_edge_sizes_are_stored_whole() {
    use crate::support::{GeneratedBody, get_sha256, send_body};

    let chunk = 8 * 1024u64;
    for gateway in Gateway::all().await {
        let extra = "payload = \"streaming\"\nchunk_size = \"8KiB\"";
        let proxy = TestProxy::start(&gateway, extra).await;
        let bucket = crate::support::unique_name("zsp-edges");
        assert_eq!(
            send("PUT", &proxy.url(&format!("/{bucket}")), &[], "")
                .await
                .status,
            200
        );
        for size in [0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk, 200 << 20] {
            let url = proxy.url(&format!("/{bucket}/size-{size}"));
            let reply = send_body("PUT", &url, &[], GeneratedBody::new(size, size)).await;
            assert_eq!(
                reply.status,
                200,
                "{} {size}: {}",
                gateway.name,
                reply.text()
            );
            let (status, length, sha) = get_sha256(&url).await;
            assert_eq!((status, length), (200, size), "{} {size}", gateway.name);
            assert_eq!(
                sha,
                GeneratedBody::sha256_hex(size, size),
                "{} {size}",
                gateway.name
            );
        }
    }
}

#[tokio::test]
async fn client_aws_chunked_bodies_with_every_checksum_trailer() {
    use zenko_signing_proxy::body::client_chunked::Checksum;

    for gateway in Gateway::all().await {
        let proxy = TestProxy::start(&gateway, "").await;
        let bucket = crate::support::unique_name("zsp-trailers");
        assert_eq!(
            send("PUT", &proxy.url(&format!("/{bucket}")), &[], "")
                .await
                .status,
            200
        );
        let data = crate::support::pseudo_random_bytes(70_000, 9);
        for kind in ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"] {
            let name = format!("x-amz-checksum-{kind}");
            let value = Checksum::for_trailer(&name).unwrap().digest_of(&data);
            let mut envelope = Vec::new();
            for piece in data.chunks(16_384) {
                envelope.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                envelope.extend_from_slice(piece);
                envelope.extend_from_slice(b"\r\n");
            }
            envelope.extend_from_slice(format!("0\r\n{name}:{value}\r\n\r\n").as_bytes());
            let headers = [
                ("content-encoding", "aws-chunked"),
                ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
                ("x-amz-trailer", name.as_str()),
                ("x-amz-decoded-content-length", "70000"),
            ];
            let url = proxy.url(&format!("/{bucket}/{kind}"));
            let reply = send("PUT", &url, &headers, envelope).await;
            assert_eq!(
                reply.status,
                200,
                "{} {kind}: {}",
                gateway.name,
                reply.text()
            );
            assert_eq!(
                send("GET", &url, &[], "").await.body,
                data,
                "{} {kind}",
                gateway.name
            );
        }
    }
}

#[tokio::test]
async fn abandoned_upload_adds_no_version_to_a_versioned_bucket() {
    // s3s-fs has no versioning; radosgw does.
    let Some(gateway) = Gateway::radosgw() else {
        return;
    };
    for mode in ["streaming", "unsigned"] {
        let proxy = TestProxy::start(&gateway, &format!("payload = \"{mode}\"")).await;
        let bucket = crate::support::unique_name("zsp-versions");
        assert_eq!(
            send("PUT", &proxy.url(&format!("/{bucket}")), &[], "")
                .await
                .status,
            200
        );
        let versioning =
            "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>";
        let reply = send(
            "PUT",
            &proxy.url(&format!("/{bucket}?versioning")),
            &[],
            versioning,
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let key = proxy.url(&format!("/{bucket}/doc"));
        assert_eq!(send("PUT", &key, &[], "version one").await.status, 200);

        abandoned_upload(&proxy, &format!("/{bucket}/doc"), 4 << 20, 2 << 20).await;
        tokio::time::sleep(Duration::from_millis(500)).await;

        let listing = send("GET", &proxy.url(&format!("/{bucket}?versions")), &[], "").await;
        let versions = crate::support::xml_values(&listing.text(), "VersionId");
        assert_eq!(versions.len(), 1, "{mode}: {}", listing.text());
        assert_eq!(
            send("GET", &key, &[], "").await.body,
            "version one",
            "{mode}"
        );
    }
}
