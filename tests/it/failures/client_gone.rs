//! Clients that go away mid-upload: nothing is stored, the gateway never
//! gets a whole body, and no spool file stays open.
//!
//! Spool files are anonymous (they never have a name in the spool
//! directory), so what is checked is the proxy's open descriptors on files
//! in that directory, through `/proc/self/fd`: the proxy runs in the test
//! process, and no other test uses this directory. Each test first sees
//! the spool file open, so the check is known to look at the right place.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::misbehaving_gateway::Scripted;
use crate::support::{Gateway, TestProxy, open_files_under, send, unique_name};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// How long the proxy has to open or close a spool file.
const SPOOL_DEADLINE: Duration = Duration::from_secs(10);

/// Waits up to [`SPOOL_DEADLINE`] for the proxy to hold `count` files in
/// `dir`; false if it never does.
async fn wait_for_open_files(dir: &std::path::Path, count: usize) -> bool {
    let started = Instant::now();
    while started.elapsed() < SPOOL_DEADLINE {
        if open_files_under(std::process::id(), dir) == count {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// How the abandoned body is framed.
#[derive(Debug, Clone, Copy)]
enum Framing {
    ContentLength,
    Chunked,
}

/// Opens a PUT of `path` to the proxy declaring `declared` bytes (or
/// chunked), and sends `sent` bytes of body; the caller drops the stream.
async fn start_upload(
    proxy: &TestProxy,
    path: &str,
    framing: Framing,
    declared: usize,
    sent: usize,
) -> TcpStream {
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    let length = match framing {
        Framing::ContentLength => format!("Content-Length: {declared}"),
        Framing::Chunked => "Transfer-Encoding: chunked".to_owned(),
    };
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {}\r\n{length}\r\n\r\n",
        proxy.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let piece = vec![b'q'; 64 * KIB];
    for _ in 0..sent / piece.len() {
        if let Framing::Chunked = framing {
            stream.write_all(b"10000\r\n").await.unwrap();
        }
        stream.write_all(&piece).await.unwrap();
        if let Framing::Chunked = framing {
            stream.write_all(b"\r\n").await.unwrap();
        }
    }
    stream.flush().await.unwrap();
    stream
}

#[tokio::test]
async fn client_gone_mid_spooled_upload_closes_the_spool_file_and_stores_nothing() {
    let gateway = Gateway::s3s().await;
    let spool = tempfile::tempdir().unwrap();
    // A Content-Length body over the memory limit is spooled in `signed`
    // mode; a chunked body is spooled in every mode, `auto` included.
    for (mode, framing) in [
        ("signed", Framing::ContentLength),
        ("auto", Framing::Chunked),
    ] {
        let extra = format!(
            "payload = \"{mode}\"\nmemory_body_limit = \"64KiB\"\nspool_dir = \"{}\"",
            spool.path().display()
        );
        let proxy = TestProxy::start(&gateway, &extra).await;
        let bucket = unique_name("zsp-spool-gone");
        let reply = send("PUT", &proxy.url(&format!("/{bucket}")), &[], "").await;
        assert_eq!(reply.status, 200, "{}", reply.text());

        let path = format!("/{bucket}/half");
        let client = start_upload(&proxy, &path, framing, 4 * MIB, MIB).await;
        assert!(
            wait_for_open_files(spool.path(), 1).await,
            "{mode} {framing:?}: the body is being spooled"
        );
        drop(client);
        assert!(
            wait_for_open_files(spool.path(), 0).await,
            "{mode} {framing:?}: the spool file is closed (and so gone) once the client is"
        );

        let reply = send("GET", &proxy.url(&path), &[], "").await;
        assert_eq!(reply.status, 404, "{mode} {framing:?}: {}", reply.text());
        assert_eq!(reply.error_code().as_deref(), Some("NoSuchKey"));
        let stored = gateway.data_dir().unwrap().join(&bucket).join("half");
        assert!(!stored.exists(), "{mode} {framing:?}: no file in s3s-fs");
        assert_eq!(std::fs::read_dir(spool.path()).unwrap().count(), 0);
    }
}

/// hyper's client connection keeps a request body until the connection
/// ends, and a connection blocked on a gateway that stopped reading ends
/// only when the gateway closes: the proxy takes the body back from it
/// when the request is given up, so the spool file closes at once.
#[tokio::test]
async fn client_gone_while_its_spooled_body_goes_to_the_gateway_closes_the_spool_file() {
    // The gateway reads the request's first 64 KiB, then stops reading and
    // holds the connection: the proxy is left mid-way through sending the
    // spool file when the client goes.
    let (started, mut reading) = mpsc::unbounded_channel();
    let gateway = Scripted::start(move |mut stream, _head| {
        let started = started.clone();
        async move {
            let mut first = vec![0u8; 64 * KIB];
            if stream.read_exact(&mut first).await.is_ok() {
                let _ = started.send(());
            }
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
    })
    .await;
    let spool = tempfile::tempdir().unwrap();
    let extra = format!(
        "payload = \"signed\"\nmemory_body_limit = \"64KiB\"\nspool_dir = \"{}\"",
        spool.path().display()
    );
    let proxy = gateway.proxy(&extra).await;

    // 16 MiB: more than loopback socket buffers hold, so the proxy cannot
    // have read the whole file yet.
    let whole = 16 * MIB;
    let client = start_upload(&proxy, "/b/k", Framing::ContentLength, whole, whole).await;
    tokio::time::timeout(SPOOL_DEADLINE, reading.recv())
        .await
        .expect("the spooled body reaches the gateway in time");
    assert_eq!(
        open_files_under(std::process::id(), spool.path()),
        1,
        "the spool file is open while it is sent"
    );
    drop(client);
    assert!(
        wait_for_open_files(spool.path(), 0).await,
        "the spool file is closed once the client is gone"
    );
}

/// What a recording gateway saw of one request.
#[derive(Debug)]
struct Seen {
    head: String,
    declared: usize,
    received: usize,
    final_chunk: bool,
}

#[tokio::test]
async fn client_gone_mid_upload_never_lets_the_gateway_see_a_whole_body() {
    let (seen, mut recorded) = mpsc::unbounded_channel();
    let gateway = Scripted::start(move |mut stream, head| {
        let seen = seen.clone();
        async move {
            let declared = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            let mut body = Vec::new();
            let mut piece = vec![0u8; 64 * KIB];
            while body.len() < declared {
                match stream.read(&mut piece).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => body.extend_from_slice(&piece[..n]),
                }
            }
            let received = body.len();
            if received >= declared {
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    .await;
            }
            let final_chunk =
                body.starts_with(b"0;") || body.windows(4).any(|window| window == b"\r\n0;");
            let _ = seen.send(Seen {
                head,
                declared,
                received,
                final_chunk,
            });
        }
    })
    .await;

    // (mode, declared, sent, the payload hash the gateway is told)
    let cases = [
        (
            "streaming",
            MIB,
            320 * KIB,
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        ),
        (
            "auto",
            2 * MIB,
            640 * KIB,
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        ),
        ("unsigned", MIB, 320 * KIB, "UNSIGNED-PAYLOAD"),
    ];
    for (mode, declared, sent, payload_hash) in cases {
        let proxy = gateway
            .proxy(&format!("payload = \"{mode}\"\nchunk_size = \"8KiB\""))
            .await;
        let client = start_upload(&proxy, "/b/k", Framing::ContentLength, declared, sent).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(client);
        let seen = tokio::time::timeout(SPOOL_DEADLINE, recorded.recv())
            .await
            .expect("the proxy ends its request to the gateway")
            .unwrap();
        let head = seen.head.to_ascii_lowercase();
        assert!(
            head.contains(&format!(
                "x-amz-content-sha256: {}",
                payload_hash.to_lowercase()
            )),
            "{mode}: {}",
            seen.head
        );
        assert!(
            seen.received < seen.declared,
            "{mode}: the gateway got {} of {} bytes",
            seen.received,
            seen.declared
        );
        assert!(seen.received > 0, "{mode}: the body was on its way");
        assert!(!seen.final_chunk, "{mode}: no final aws-chunked chunk");
    }
}
