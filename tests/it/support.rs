//! Test harness: real gateways that verify signatures, the proxy in front of
//! them, and a plain HTTP client that sends unsigned requests.
//!
//! Every server binds `127.0.0.1:0`. The s3s-fs gateway always runs (in
//! process); radosgw joins when `ZSP_RADOSGW_URL`, `ZSP_RADOSGW_ACCESS_KEY`
//! and `ZSP_RADOSGW_SECRET_KEY` name one (`.ci/run` starts it).

use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use zenko_signing_proxy::config::{Config, Overrides};
use zenko_signing_proxy::credentials::Environment;
use zenko_signing_proxy::serve::Service;

pub mod odd_upload_ids;

/// A gateway that verifies signatures.
pub struct Gateway {
    /// `s3s-fs` or `radosgw`, for assertion messages.
    pub name: &'static str,
    /// Base URL.
    pub url: String,
    /// The access key it knows.
    pub access_key: String,
    /// The secret it knows.
    pub secret_key: String,
    data: Option<tempfile::TempDir>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// The proxy, running in this process.
pub struct TestProxy {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// An environment with nothing set, so tests never read the developer's keys.
pub struct NoEnvironment;

type TestBody = UnsyncBoxBody<Bytes, std::io::Error>;

// === impl Gateway ===

impl Gateway {
    /// s3s-fs in process, on a fresh directory, with fresh credentials.
    pub async fn s3s() -> Self {
        let data = tempfile::tempdir().unwrap();
        let access_key = format!("AK{}", random_hex(8));
        let secret_key = random_hex(20);
        let filesystem = s3s_fs::FileSystem::new(data.path()).unwrap();
        let mut builder =
            s3s::service::S3ServiceBuilder::new(odd_upload_ids::OddUploadIds(filesystem));
        builder.set_auth(s3s::auth::SimpleAuth::from_single(
            access_key.clone(),
            secret_key.clone(),
        ));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            while let Ok((stream, _)) = listener.accept().await {
                let connection = http.serve_connection(TokioIo::new(stream), service.clone());
                tokio::spawn(connection.into_owned());
            }
        });
        Self {
            name: "s3s-fs",
            url,
            access_key,
            secret_key,
            data: Some(data),
            task: Some(task),
        }
    }

    /// radosgw, when the environment names one.
    pub fn radosgw() -> Option<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Some(Self {
            name: "radosgw",
            url: var("ZSP_RADOSGW_URL")?,
            access_key: var("ZSP_RADOSGW_ACCESS_KEY")?,
            secret_key: var("ZSP_RADOSGW_SECRET_KEY")?,
            data: None,
            task: None,
        })
    }

    /// Every gateway available to this run: s3s-fs, and radosgw if named.
    pub async fn all() -> Vec<Self> {
        let mut gateways = vec![Self::s3s().await];
        gateways.extend(Self::radosgw());
        gateways
    }

    /// Where s3s-fs keeps its objects (none for radosgw).
    pub fn data_dir(&self) -> Option<&Path> {
        self.data.as_ref().map(|dir| dir.path())
    }

    /// The config lines that point the proxy at this gateway.
    pub fn proxy_config(&self, secret: &str) -> String {
        format!("listen = \"127.0.0.1:0\"\nupstream = \"{}\"\n", self.url)
            + &credentials_table(&self.access_key, secret)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// A `[credentials]` table, to end a config with.
pub fn credentials_table(access_key: &str, secret: &str) -> String {
    format!("[credentials]\naccess_key_id = \"{access_key}\"\nsecret_access_key = \"{secret}\"\n")
}

// === impl TestProxy ===

impl TestProxy {
    /// The proxy in front of `gateway` with its right secret; `extra` holds
    /// more top-level config lines.
    pub async fn start(gateway: &Gateway, extra: &str) -> Self {
        Self::from_toml(&format!(
            "{extra}\n{}",
            gateway.proxy_config(&gateway.secret_key)
        ))
        .await
    }

    /// The proxy with a whole config.
    pub async fn from_toml(toml: &str) -> Self {
        let config = Config::from_toml(toml, &Overrides::default()).expect("test config");
        let service = Service::bind(config, &NoEnvironment)
            .await
            .expect("proxy starts");
        let addr = service.local_addr();
        let (shutdown, stopped) = oneshot::channel();
        let done = tokio::spawn(service.run(async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            shutdown: Some(shutdown),
            done: Some(done),
        }
    }

    /// A URL on the proxy.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    /// Stops the proxy and waits for it to drain.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

impl Environment for NoEnvironment {
    fn var(&self, _name: &str) -> Option<String> {
        None
    }
}

// === impl Reply ===

impl Reply {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `<Code>` of an XML error body.
    pub fn error_code(&self) -> Option<String> {
        xml_values(&self.text(), "Code").into_iter().next()
    }

    /// A response header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

/// Sends one request with a body of known length.
pub async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Reply {
    let body = Full::new(body.into())
        .map_err(|never| match never {})
        .boxed_unsync();
    exchange(method, url, headers, body).await
}

/// Sends one request whose body has no length: chunked on the wire.
pub async fn send_chunked(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    chunks: Vec<Bytes>,
) -> Reply {
    let stream = futures_util::stream::iter(chunks.into_iter().map(|c| Ok(Frame::data(c))));
    exchange(method, url, headers, StreamBody::new(stream).boxed_unsync()).await
}

async fn exchange(method: &str, url: &str, headers: &[(&str, &str)], body: TestBody) -> Reply {
    let client: Client<HttpConnector, TestBody> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let mut request = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client
        .request(request.body(body).unwrap())
        .await
        .expect("proxy answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("whole body")
        .to_bytes();
    Reply {
        status,
        headers,
        body,
    }
}

/// The texts of every `<tag>…</tag>` in `xml`, in order.
pub fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut values = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        values.push(after[..end].to_owned());
        rest = &after[end + close.len()..];
    }
    values
}

/// A name no other test uses (bucket names: lowercase, digits, dashes).
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}-{}", std::process::id(), random_hex(3))
}

/// `length` bytes that differ from one `seed` to the next.
pub fn pseudo_random_bytes(length: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut bytes = Vec::with_capacity(length + 8);
    while bytes.len() < length {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(length);
    bytes
}

/// SHA-256 in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `bytes` random bytes, in hex.
pub fn random_hex(bytes: usize) -> String {
    let mut text = String::new();
    while text.len() < bytes * 2 {
        let value = std::hash::RandomState::new().build_hasher().finish();
        text.push_str(&format!("{value:016x}"));
    }
    text.truncate(bytes * 2);
    text
}

/// The port of a loopback socket that was open a moment ago and is now
/// closed: connecting to it is refused.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
