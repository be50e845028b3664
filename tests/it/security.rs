//! Who gets in: client networks, the token, TLS client certificates, the
//! access policy of routes, the limits, and request smuggling shapes. Each
//! rule is tried allowed and refused, against s3s-fs (which verifies every
//! signature) or a recording gateway where what was forwarded matters.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::HeaderMap;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{
    Gateway, ProxyProcess, TestProxy, credentials_table, send, send_chunked, unique_name,
    write_file,
};

const TOKEN: &str = "3f9c1e7a5b2d4c6e8f0a1b3c5d7e9f21";

/// A gateway that records the headers of every request and answers 200
/// after `delay`; it checks no signature.
struct Recorder {
    url: String,
    seen: Arc<Mutex<Vec<HeaderMap>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn recorder(delay: Duration) -> Recorder {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let log = Arc::clone(&log);
            let service = hyper::service::service_fn(move |request: http::Request<_>| {
                log.lock().unwrap().push(request.headers().clone());
                async move {
                    tokio::time::sleep(delay).await;
                    Ok::<_, std::convert::Infallible>(http::Response::new(
                        http_body_util::Full::new(bytes::Bytes::from_static(b"ok")),
                    ))
                }
            });
            let http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            tokio::spawn(
                http.serve_connection(TokioIo::new(stream), service)
                    .into_owned(),
            );
        }
    });
    Recorder { url, seen, task }
}

fn recorder_config(recorder: &Recorder, extra: &str) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\nupstream = \"{}\"\n{extra}\n{}",
        recorder.url,
        credentials_table("AKIDREC", "recorder-secret")
    )
}

/// Sends raw bytes on a new connection; returns all the proxy answered
/// before closing (or within two seconds).
async fn raw_exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_configured_token_is_required_and_never_forwarded() {
    let gateway = recorder(Duration::ZERO).await;
    let proxy = TestProxy::from_toml(&recorder_config(
        &gateway,
        &format!("client_token = \"{TOKEN}\""),
    ))
    .await;
    let url = proxy.url("/bucket/key");

    let missing = send("GET", &url, &[], "").await;
    assert_eq!(missing.status, 403);
    assert_eq!(missing.error_code().as_deref(), Some("ProxyTokenRequired"));
    let wrong = format!("{}0", &TOKEN[..TOKEN.len() - 1]);
    let refused = send("GET", &url, &[("x-proxy-token", &wrong)], "").await;
    assert_eq!(refused.error_code().as_deref(), Some("ProxyTokenInvalid"));
    assert!(!refused.text().contains(TOKEN), "{}", refused.text());
    assert!(
        gateway.seen.lock().unwrap().is_empty(),
        "refusals reached the gateway"
    );

    let passed = send("GET", &url, &[("x-proxy-token", TOKEN)], "").await;
    assert_eq!(passed.status, 200, "{}", passed.text());
    let seen = gateway.seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].get("x-proxy-token").is_none(), "{:?}", seen[0]);
    assert!(seen[0].get("authorization").is_some());
}

#[tokio::test]
async fn requests_with_the_token_are_signed_for_a_verifying_gateway() {
    let gateway = Gateway::s3s().await;
    let proxy = TestProxy::start(&gateway, &format!("client_token = \"{TOKEN}\"")).await;
    let token = [("x-proxy-token", TOKEN)];
    let bucket = unique_name("token");
    let created = send("PUT", &proxy.url(&format!("/{bucket}")), &token, "").await;
    assert_eq!(created.status, 200, "{}", created.text());
    let key = proxy.url(&format!("/{bucket}/k"));
    assert_eq!(send("PUT", &key, &token, "payload").await.status, 200);
    let read = send("GET", &key, &token, "").await;
    assert_eq!(&read.body[..], b"payload");
}

#[tokio::test]
async fn peers_outside_allowed_clients_get_403_and_reach_nothing() {
    let gateway = recorder(Duration::ZERO).await;
    let outside = recorder_config(&gateway, "allowed_clients = [\"198.51.100.0/24\"]");
    let proxy = TestProxy::from_toml(&outside).await;
    let reply = send("GET", &proxy.url("/bucket/key"), &[], "").await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.error_code().as_deref(), Some("ProxyClientNotAllowed"));
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(reply.text().contains("127.0.0.1"), "{}", reply.text());
    assert!(gateway.seen.lock().unwrap().is_empty());

    let inside = recorder_config(&gateway, "allowed_clients = [\"127.0.0.0/8\"]");
    let proxy = TestProxy::from_toml(&inside).await;
    let reply = send("GET", &proxy.url("/bucket/key"), &[], "").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[tokio::test]
async fn a_tls_listener_takes_only_clients_with_a_certificate_of_its_ca() {
    let gateway = Gateway::s3s().await;
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let files = pki.write(dir.path());
    let proxy = TestProxy::start(
        &gateway,
        &format!(
            "tls_cert = \"{}\"\ntls_key = \"{}\"\ntls_client_ca = \"{}\"",
            files.server_cert.display(),
            files.server_key.display(),
            files.ca.display()
        ),
    )
    .await;
    let bucket = unique_name("mtls");

    let with_cert = pki.client_config(true);
    let status = tls_request(proxy.addr, with_cert, &format!("/{bucket}"), "PUT").await;
    assert_eq!(status.unwrap(), 200);
    let with_cert = pki.client_config(true);
    let status = tls_request(proxy.addr, with_cert, &format!("/{bucket}"), "HEAD").await;
    assert_eq!(status.unwrap(), 200);

    let without = pki.client_config(false);
    let refused = tls_request(proxy.addr, without, &format!("/{bucket}"), "GET").await;
    assert!(
        refused.is_err(),
        "a client without a certificate got {refused:?}"
    );

    let url = proxy.url(&format!("/{bucket}"));
    let plain = tokio::spawn(async move { send("GET", &url, &[], "").await });
    let plain = tokio::time::timeout(Duration::from_secs(5), plain).await;
    assert!(
        !matches!(plain, Ok(Ok(ref reply)) if reply.status == 200),
        "plain HTTP was served: {plain:?}"
    );
}

#[tokio::test]
async fn route_policies_refuse_with_their_rule() {
    let gateway = Gateway::s3s().await;
    let public = unique_name("public");
    let shared = unique_name("shared");
    // Buckets are created through an open proxy first.
    let open = TestProxy::start(&gateway, "").await;
    for bucket in [&public, &shared] {
        let created = send("PUT", &open.url(&format!("/{bucket}")), &[], "").await;
        assert_eq!(created.status, 200, "{}", created.text());
    }
    let seed = send("PUT", &open.url(&format!("/{public}/a.txt")), &[], "A").await;
    assert_eq!(seed.status, 200);

    let policy = format!(
        "buckets = [\"{public}\", \"{shared}\"]\nkey_prefixes = [\"in/\"]\n\
         [[route]]\nprefix = \"/{public}/\"\nread_only = true\nkey_prefixes = [\"a\"]\n\n"
    );
    let config = format!(
        "listen = \"127.0.0.1:0\"\nupstream = \"{}\"\n{policy}{}",
        gateway.url,
        credentials_table(&gateway.access_key, &gateway.secret_key)
    );
    let proxy = TestProxy::from_toml(&config).await;
    let refusal = |reply: &crate::support::Reply| {
        (
            reply.status,
            reply.error_code().unwrap_or_default(),
            reply.text(),
        )
    };

    let read = send("GET", &proxy.url(&format!("/{public}/a.txt")), &[], "").await;
    assert_eq!(&read.body[..], b"A");
    let write = send("PUT", &proxy.url(&format!("/{public}/a.txt")), &[], "B").await;
    let (status, code, text) = refusal(&write);
    assert_eq!(
        (status, code.as_str()),
        (403, "ProxyAccessDenied"),
        "{text}"
    );
    assert!(text.contains("route[0].read_only"), "{text}");

    let upload = send("PUT", &proxy.url(&format!("/{shared}/in/x")), &[], "x").await;
    assert_eq!(upload.status, 200, "{}", upload.text());
    let outside = send("PUT", &proxy.url(&format!("/{shared}/out/x")), &[], "x").await;
    let (status, code, text) = refusal(&outside);
    assert_eq!(
        (status, code.as_str()),
        (403, "ProxyKeyForbidden"),
        "{text}"
    );
    assert!(text.contains("default.key_prefixes"), "{text}");
    let listing = send(
        "GET",
        &proxy.url(&format!("/{shared}?list-type=2&prefix=in/")),
        &[],
        "",
    )
    .await;
    assert_eq!(listing.status, 200, "{}", listing.text());
    let everything = send(
        "GET",
        &proxy.url(&format!("/{shared}?list-type=2")),
        &[],
        "",
    )
    .await;
    assert_eq!(
        everything.error_code().as_deref(),
        Some("ProxyKeyForbidden")
    );

    let copy_to = proxy.url(&format!("/{shared}/in/copy"));
    let inside = format!("/{shared}/in/x");
    let copied = send("PUT", &copy_to, &[("x-amz-copy-source", &inside)], "").await;
    assert_eq!(copied.status, 200, "{}", copied.text());
    let outside = format!("/{public}/a.txt");
    let copied = send("PUT", &copy_to, &[("x-amz-copy-source", &outside)], "").await;
    assert_eq!(copied.error_code().as_deref(), Some("ProxyKeyForbidden"));

    let other = send("GET", &proxy.url("/some-other-bucket/in/x"), &[], "").await;
    assert_eq!(other.error_code().as_deref(), Some("ProxyBucketForbidden"));
    let buckets = send("GET", &proxy.url("/"), &[], "").await;
    assert_eq!(
        buckets.error_code().as_deref(),
        Some("ProxyBucketForbidden")
    );
    let backbeat = send(
        "GET",
        &proxy.url("/_/backbeat/api/metrics/crr/all"),
        &[],
        "",
    )
    .await;
    assert_eq!(
        backbeat.error_code().as_deref(),
        Some("ProxyInternalApiRefused")
    );

    // Nothing refused was written.
    let kept = send("GET", &open.url(&format!("/{public}/a.txt")), &[], "").await;
    assert_eq!(&kept.body[..], b"A");
    let absent = send("HEAD", &open.url(&format!("/{shared}/out/x")), &[], "").await;
    assert_eq!(absent.status, 404);
}

#[test]
fn a_policy_refusal_is_logged_with_its_rule() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "proxy.toml",
        &format!(
            "listen = \"127.0.0.1:0\"\nupstream = \"http://127.0.0.1:{}\"\nread_only = true\n{}\n\
             [[route]]\nprefix = \"/ro/\"\n",
            crate::support::closed_port(),
            credentials_table("AKIDLOG", "log-secret")
        ),
    );
    let proxy = ProxyProcess::spawn(&["serve", "--config", config.to_str().unwrap()], &[])
        .expect("the proxy serves");
    let url = proxy.url("/bucket/key");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let reply = runtime.block_on(send("DELETE", &url, &[], ""));
    assert_eq!(reply.error_code().as_deref(), Some("ProxyAccessDenied"));
    let on_route = runtime.block_on(send("PUT", &proxy.url("/ro/key"), &[], "x"));
    assert_eq!(on_route.error_code().as_deref(), Some("ProxyAccessDenied"));
    // SIGTERM, so that the log writer flushes before the process ends.
    proxy.signal("TERM");
    let (_, log) = proxy.wait_exit(Duration::from_secs(20));
    let line = log
        .lines()
        .find(|line| line.contains("refused"))
        .unwrap_or_else(|| panic!("no refusal logged: {log}"));
    assert!(line.contains("rule=\"default.read_only\""), "{line}");
    assert!(line.contains("ProxyAccessDenied"), "{line}");
    // The access line names the route that refused, not the default one.
    let access = log
        .lines()
        .find(|line| line.contains("PUT") && line.contains("status=403"))
        .unwrap_or_else(|| panic!("no access line for the PUT: {log}"));
    assert!(
        access.contains("route=\"/ro/\"") || access.contains("route=/ro/"),
        "{access}"
    );
    assert!(!log.contains("log-secret"));
}

#[tokio::test]
async fn head_limits_are_answered_with_the_proxys_xml() {
    let gateway = recorder(Duration::ZERO).await;
    let limits = "max_header_count = 20\nmax_header_bytes = \"2KiB\"\nmax_uri_length = \"1KiB\"";
    let proxy = TestProxy::from_toml(&recorder_config(&gateway, limits)).await;
    let url = proxy.url("/bucket/key");

    let names: Vec<String> = (0..25).map(|i| format!("x-amz-meta-m{i}")).collect();
    let many: Vec<(&str, &str)> = names.iter().map(|name| (name.as_str(), "v")).collect();
    let reply = send("PUT", &url, &many, "").await;
    assert_eq!(reply.status, 431);
    assert_eq!(reply.error_code().as_deref(), Some("ProxyHeadersTooLarge"));
    let big = "v".repeat(3000);
    let reply = send("PUT", &url, &[("x-amz-meta-big", &big)], "").await;
    assert_eq!(reply.error_code().as_deref(), Some("ProxyHeadersTooLarge"));
    let long = proxy.url(&format!("/bucket/{}", "k".repeat(1100)));
    let reply = send("GET", &long, &[], "").await;
    assert_eq!(reply.status, 414);
    assert_eq!(reply.error_code().as_deref(), Some("ProxyUriTooLong"));
    assert!(gateway.seen.lock().unwrap().is_empty());

    let within: Vec<(&str, &str)> = many[..15].to_vec();
    assert_eq!(send("PUT", &url, &within, "").await.status, 200);
}

#[tokio::test]
async fn a_route_body_limit_refuses_before_anything_is_stored() {
    let gateway = Gateway::s3s().await;
    let bucket = unique_name("limited");
    // Route tables come after the top-level keys.
    let config = format!(
        "{}\n[[route]]\nprefix = \"/{bucket}/small/\"\nmax_body_size = \"1KiB\"\n",
        gateway.proxy_config(&gateway.secret_key)
    );
    let proxy = TestProxy::from_toml(&config).await;
    assert_eq!(
        send("PUT", &proxy.url(&format!("/{bucket}")), &[], "")
            .await
            .status,
        200
    );

    let fits = proxy.url(&format!("/{bucket}/small/fits"));
    assert_eq!(send("PUT", &fits, &[], vec![b'f'; 1024]).await.status, 200);
    let declared = proxy.url(&format!("/{bucket}/small/declared"));
    let reply = send("PUT", &declared, &[], vec![b'd'; 2048]).await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.error_code().as_deref(), Some("ProxyBodyTooLarge"));
    assert!(
        reply.text().contains("route[0].max_body_size"),
        "{}",
        reply.text()
    );
    let chunked = proxy.url(&format!("/{bucket}/small/chunked"));
    let pieces = vec![bytes::Bytes::from(vec![b'c'; 1000]); 3];
    let reply = send_chunked("PUT", &chunked, &[], pieces).await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert!(
        reply.text().contains("route[0].max_body_size"),
        "{}",
        reply.text()
    );
    for key in ["declared", "chunked"] {
        let url = proxy.url(&format!("/{bucket}/small/{key}"));
        assert_eq!(send("HEAD", &url, &[], "").await.status, 404, "{key}");
    }
    let elsewhere = proxy.url(&format!("/{bucket}/large"));
    assert_eq!(
        send("PUT", &elsewhere, &[], vec![b'l'; 4096]).await.status,
        200
    );
}

#[tokio::test]
async fn connections_over_max_connections_are_answered_503() {
    let gateway = recorder(Duration::ZERO).await;
    let proxy = TestProxy::from_toml(&recorder_config(&gateway, "max_connections = 2")).await;
    let idle: Vec<_> =
        futures_util::future::join_all((0..2).map(|_| tokio::net::TcpStream::connect(proxy.addr)))
            .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let reply = send("GET", &proxy.url("/bucket/key"), &[], "").await;
    assert_eq!(reply.status, 503);
    assert_eq!(
        reply.error_code().as_deref(),
        Some("ProxyTooManyConnections")
    );
    assert_eq!(reply.header("retry-after"), Some("1"));
    drop(idle);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        send("GET", &proxy.url("/bucket/key"), &[], "").await.status,
        200
    );
}

#[tokio::test]
async fn requests_over_max_requests_are_answered_503() {
    let gateway = recorder(Duration::from_millis(800)).await;
    let proxy = TestProxy::from_toml(&recorder_config(&gateway, "max_requests = 1")).await;
    let url = proxy.url("/bucket/slow");
    let slow = tokio::spawn(async move { send("GET", &url, &[], "").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reply = send("GET", &proxy.url("/bucket/fast"), &[], "").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.error_code().as_deref(), Some("ProxyTooManyRequests"));
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(slow.await.unwrap().status, 200);
    assert_eq!(
        send("GET", &proxy.url("/bucket/again"), &[], "")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn request_smuggling_shapes_get_400_and_store_nothing() {
    let gateway = Gateway::s3s().await;
    let proxy = TestProxy::start(&gateway, "").await;
    let bucket = unique_name("smuggle");
    assert_eq!(
        send("PUT", &proxy.url(&format!("/{bucket}")), &[], "")
            .await
            .status,
        200
    );
    let shapes: [(&str, &str, &str); 5] = [
        (
            "cl-te",
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
            "5\r\nhello\r\n0\r\n\r\n",
        ),
        (
            "cl-cl",
            "Content-Length: 5\r\nContent-Length: 5\r\n",
            "hello",
        ),
        (
            "cl-differ",
            "Content-Length: 5\r\nContent-Length: 6\r\n",
            "hello!",
        ),
        (
            "te-te",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            "5\r\nhello\r\n0\r\n\r\n",
        ),
        (
            "obs-fold",
            "Content-Length: 5\r\nX-Amz-Meta-A: one\r\n two\r\n",
            "hello",
        ),
    ];
    for (key, headers, body) in shapes {
        let request = format!(
            "PUT /{bucket}/{key} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n{body}"
        );
        let answer = raw_exchange(proxy.addr, request.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{key}: {answer}");
        if key != "cl-differ" && key != "obs-fold" {
            // hyper refuses those two itself, without a body.
            assert!(answer.contains("ProxyAmbiguousFraming"), "{key}: {answer}");
        }
        let stored = send("HEAD", &proxy.url(&format!("/{bucket}/{key}")), &[], "").await;
        assert_eq!(stored.status, 404, "{key} was stored");
    }
}

/// A private CA with a server certificate for 127.0.0.1 and a client one.
struct Pki {
    ca: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    server: (rcgen::Certificate, rcgen::KeyPair),
    client: (rcgen::Certificate, rcgen::KeyPair),
}

struct PkiFiles {
    ca: std::path::PathBuf,
    server_cert: std::path::PathBuf,
    server_key: std::path::PathBuf,
}

impl Pki {
    fn new() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let issue = |name: &str| {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(vec![name.to_owned()])
                .unwrap()
                .signed_by(&key, &ca)
                .unwrap();
            (cert, key)
        };
        let server = issue("127.0.0.1");
        let client = issue("sidecar-client");
        Self { ca, server, client }
    }

    fn write(&self, dir: &std::path::Path) -> PkiFiles {
        PkiFiles {
            ca: write_file(dir, "ca.pem", &self.ca.pem()),
            server_cert: write_file(dir, "server.pem", &self.server.0.pem()),
            server_key: write_file(dir, "server-key.pem", &self.server.1.serialize_pem()),
        }
    }

    fn client_config(&self, with_certificate: bool) -> rustls::ClientConfig {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.ca.der().to_vec()))
            .unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        if !with_certificate {
            return builder.with_no_client_auth();
        }
        let chain = vec![CertificateDer::from(self.client.0.der().to_vec())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.client.1.serialize_der()));
        builder.with_client_auth_cert(chain, key).unwrap()
    }
}

/// One HTTP/1.1 request over TLS to the proxy; the status, or why none came.
async fn tls_request(
    addr: std::net::SocketAddr,
    config: rustls::ClientConfig,
    path: &str,
    method: &str,
) -> Result<u16, String> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    Ok(response.status().as_u16())
}

#[tokio::test]
async fn idle_connections_are_closed_http1_and_h2c() {
    let gateway = recorder(Duration::ZERO).await;
    let proxy = TestProxy::from_toml(&recorder_config(&gateway, "idle_timeout = \"1s\"")).await;

    // HTTP/1.1 keep-alive: answered, then closed once idle.
    let mut stream = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    let request = "GET /bucket/key HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let started = std::time::Instant::now();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the idle connection stayed open");
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );

    // h2c: one request, then the connection ends by itself.
    let tcp = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    let connection = tokio::spawn(connection);
    let request = http::Request::builder()
        .uri(proxy.url("/bucket/key"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    drop(response);
    let ended = tokio::time::timeout(Duration::from_secs(10), connection).await;
    assert!(ended.is_ok(), "the idle h2c connection stayed open");
}

#[tokio::test]
async fn a_copy_source_is_held_to_the_route_that_serves_it() {
    let gateway = Gateway::s3s().await;
    let bucket = unique_name("copies");
    let open = TestProxy::start(&gateway, "").await;
    assert_eq!(
        send("PUT", &open.url(&format!("/{bucket}")), &[], "")
            .await
            .status,
        200
    );
    for key in ["private/p", "kp/no/x", "kp/ok/x"] {
        let put = send("PUT", &open.url(&format!("/{bucket}/{key}")), &[], key).await;
        assert_eq!(put.status, 200, "{}", put.text());
    }
    // The default route is open; two routes narrow what may be read.
    let config = format!(
        "{}\n[[route]]\nprefix = \"/{bucket}/private/\"\nmethods = [\"PUT\"]\n\
         [[route]]\nprefix = \"/{bucket}/kp/\"\nkey_prefixes = [\"kp/ok/\"]\n",
        gateway.proxy_config(&gateway.secret_key)
    );
    let proxy = TestProxy::from_toml(&config).await;
    let copy = |source: String| {
        let url = proxy.url(&format!("/{bucket}/public/copy"));
        async move { send("PUT", &url, &[("x-amz-copy-source", &source)], "").await }
    };

    let refused = copy(format!("/{bucket}/private/p")).await;
    assert_eq!(refused.error_code().as_deref(), Some("ProxyAccessDenied"));
    assert!(refused.text().contains("copy source"), "{}", refused.text());
    assert!(
        refused.text().contains("route[0].methods"),
        "{}",
        refused.text()
    );
    let refused = copy(format!("{bucket}/kp/no/x?versionId=null")).await;
    assert_eq!(refused.error_code().as_deref(), Some("ProxyKeyForbidden"));
    let encoded = copy(format!("/{bucket}/kp%2Fno%2Fx")).await;
    assert_eq!(encoded.error_code().as_deref(), Some("ProxyKeyForbidden"));
    let copied = copy(format!("/{bucket}/kp/ok/x")).await;
    assert_eq!(copied.status, 200, "{}", copied.text());
    let read = send("GET", &open.url(&format!("/{bucket}/public/copy")), &[], "").await;
    assert_eq!(&read.body[..], b"kp/ok/x");
}
