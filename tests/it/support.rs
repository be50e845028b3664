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

pub mod backbeat;
pub mod odd_upload_ids;

/// A gateway that verifies signatures.
pub struct Gateway {
    /// `s3s-fs` or `radosgw`, and the signature version, for messages.
    pub name: String,
    /// The signature version the proxy uses in front of it (`v4`, `v2`).
    pub signature: &'static str,
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
        Self::s3s_with(false).await
    }

    /// s3s-fs that also reads virtual-host requests (`bucket.localhost`),
    /// at `http://localhost:PORT`.
    pub async fn s3s_virtual_host() -> Self {
        Self::s3s_with(true).await
    }

    async fn s3s_with(virtual_host: bool) -> Self {
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
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        if virtual_host {
            let domain = format!("localhost:{port}");
            builder.set_host(s3s::host::MultiDomain::new(&[domain.as_str()]).unwrap());
        }
        let service = builder.build();
        let url = if virtual_host {
            format!("http://localhost:{port}")
        } else {
            format!("http://127.0.0.1:{port}")
        };
        let task = tokio::spawn(async move {
            let http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            while let Ok((stream, _)) = listener.accept().await {
                let connection = http.serve_connection(TokioIo::new(stream), service.clone());
                tokio::spawn(connection.into_owned());
            }
        });
        Self {
            name: "s3s-fs".to_owned(),
            signature: "v4",
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
            name: "radosgw".to_owned(),
            signature: "v4",
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

    /// Every gateway twice, once for each signature version.
    pub async fn all_with_every_signature() -> Vec<Self> {
        let mut setups = Vec::new();
        for signature in ["v4", "v2"] {
            for mut gateway in Self::all().await {
                gateway.name = format!("{} {signature}", gateway.name);
                gateway.signature = signature;
                setups.push(gateway);
            }
        }
        setups
    }

    /// Whether this is the in-process s3s-fs.
    pub fn is_s3s(&self) -> bool {
        self.data.is_some()
    }

    /// Where s3s-fs keeps its objects (none for radosgw).
    pub fn data_dir(&self) -> Option<&Path> {
        self.data.as_ref().map(|dir| dir.path())
    }

    /// The config lines that point the proxy at this gateway.
    pub fn proxy_config(&self, secret: &str) -> String {
        format!(
            "listen = \"127.0.0.1:0\"\nupstream = \"{}\"\nsignature = \"{}\"\n",
            self.url, self.signature
        ) + &credentials_table(&self.access_key, secret)
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
        let addr = service.local_addr().expect("a TCP listener");
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

/// Writes `text` to `dir/name`; returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
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

/// The base64 MD5 of `bytes`, as `Content-MD5` carries it.
pub fn md5_base64(bytes: &[u8]) -> String {
    use base64::Engine;
    use md5::Digest as _;
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(bytes))
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

/// How many files the process `pid` holds open under `dir`, from
/// `/proc/PID/fd`. Spool files are anonymous, so a listing of the spool
/// directory is always empty: their open descriptors are what is left of
/// them. Pass [`std::process::id`] for the proxy running in the test.
pub fn open_files_under(pid: u32, dir: &Path) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/PID/fd is readable")
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.starts_with(dir))
        .count()
}

// === the binary as a subprocess ===

/// The proxy binary built for these tests.
pub const BINARY: &str = env!("CARGO_BIN_EXE_zenko-signing-proxy");

/// How long a run of the binary, or its start, may take.
pub const BINARY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);

/// How a run of the binary ended.
#[derive(Debug)]
pub struct Finished {
    /// The exit code (`None` when a signal ended it).
    pub code: Option<i32>,
    /// All of stdout.
    pub stdout: String,
    /// All of stderr.
    pub stderr: String,
}

/// The binary running `serve`, started by this test; killed (by its own
/// PID, through its `Child`) when stopped or dropped.
pub struct ProxyProcess {
    child: std::process::Child,
    /// Where it listens, read from its log.
    pub addr: SocketAddr,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
    stopped: bool,
    _home: tempfile::TempDir,
}

/// A command for the binary with an empty environment: `HOME` is a fresh
/// directory, and `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE` name
/// files that do not exist in it, so the developer's keys are never read.
/// `env` is applied last and may override those.
fn binary_command(home: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Command {
    let mut command = std::process::Command::new(BINARY);
    command
        .args(args)
        .env_clear()
        .env("HOME", home)
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

fn read_all_in_thread(
    mut pipe: impl std::io::Read + Send + 'static,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Runs the binary to its end (at most [`BINARY_DEADLINE`], else it is
/// killed and the test fails), with the clean environment of
/// [`binary_command`].
pub fn run_binary(args: &[&str], env: &[(&str, &str)]) -> Finished {
    let home = tempfile::tempdir().unwrap();
    let mut child = binary_command(home.path(), args, env)
        .spawn()
        .expect("the binary starts");
    let stdout = read_all_in_thread(child.stdout.take().unwrap());
    let stderr = read_all_in_thread(child.stderr.take().unwrap());
    let deadline = std::time::Instant::now() + BINARY_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} still running after {BINARY_DEADLINE:?}; killed");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Finished {
        code: status.code(),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// The address in a log line like `... listening on http://127.0.0.1:7070`.
pub fn listening_address(line: &str) -> Option<SocketAddr> {
    let marker = "listening on http://";
    let start = line.find(marker)? + marker.len();
    let address: String = line[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '\u{1b}' && *c != '"')
        .collect();
    address.parse().ok()
}

impl ProxyProcess {
    /// Starts the binary with `args` (e.g. `serve --config FILE ...`) and the
    /// clean environment plus `env`, and waits up to [`BINARY_DEADLINE`] for
    /// its "listening on" line. A binary that exits first is returned as
    /// `Err` with its exit code and output. Blocks the calling thread while
    /// it waits.
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Result<Self, Finished> {
        use std::io::BufRead;

        let home = tempfile::tempdir().unwrap();
        let mut child = binary_command(home.path(), args, env)
            .spawn()
            .expect("the binary starts");
        let stdout = read_all_in_thread(child.stdout.take().unwrap());
        let pipe = child.stderr.take().unwrap();
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (found, listening) = std::sync::mpsc::channel();
        let collected = stderr.clone();
        let stderr_reader = std::thread::spawn(move || {
            let mut found = Some(found);
            for line in std::io::BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = listening_address(&line)
                    && let Some(found) = found.take()
                {
                    let _ = found.send(addr);
                }
                let mut text = collected.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        match listening.recv_timeout(BINARY_DEADLINE) {
            Ok(addr) => {
                drop(stdout);
                Ok(Self {
                    child,
                    addr,
                    stderr,
                    stderr_reader: Some(stderr_reader),
                    stopped: false,
                    _home: home,
                })
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = stderr_reader.join();
                panic!(
                    "no 'listening on' line within {BINARY_DEADLINE:?}; killed. stderr:\n{}",
                    stderr.lock().unwrap()
                );
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                // stderr closed without the line: the process is ending.
                let deadline = std::time::Instant::now() + BINARY_DEADLINE;
                let status = loop {
                    if let Some(status) = child.try_wait().unwrap() {
                        break status;
                    }
                    if std::time::Instant::now() > deadline {
                        let _ = child.kill();
                        break child.wait().unwrap();
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                };
                let _ = stderr_reader.join();
                let stderr = stderr.lock().unwrap().clone();
                Err(Finished {
                    code: status.code(),
                    stdout: stdout.join().unwrap(),
                    stderr,
                })
            }
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A URL on the proxy.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    /// A line of `/proc/PID/status`, in KiB (`VmHWM`, `VmRSS`, ...).
    pub fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("/proc/PID/status of the proxy");
        status
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{field}:")))
            .and_then(|value| value.trim().strip_suffix("kB"))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/{}/status", self.pid()))
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends the process `signal` (`HUP`, `TERM`) with kill(1), by its PID.
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal}");
    }

    /// Waits up to `deadline` for the process to exit by itself: its exit
    /// code (`None` if a signal ended it) and stderr. Killed if it overruns.
    pub fn wait_exit(mut self, deadline: std::time::Duration) -> (Option<i32>, String) {
        let started = std::time::Instant::now();
        let code = loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                break status.code();
            }
            if started.elapsed() > deadline {
                self.kill_and_wait();
                panic!("the proxy did not exit within {deadline:?}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        self.stopped = true;
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        let stderr = self.stderr.lock().unwrap().clone();
        (code, stderr)
    }

    /// Kills the process (by its PID), waits for it and returns its stderr.
    pub fn stop(mut self) -> String {
        self.kill_and_wait();
        self.stderr.lock().unwrap().clone()
    }

    fn kill_and_wait(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        self.kill_and_wait();
    }
}

// === generated bodies, streamed ===

/// A request body of `length` bytes made as it is sent: the same bytes as
/// [`pseudo_random_bytes`]`(length, seed)`, without holding them. Its length
/// is exact, so it goes out with `Content-Length`.
pub struct GeneratedBody {
    remaining: u64,
    state: u64,
}

impl GeneratedBody {
    /// Pieces of this many bytes (a multiple of 8).
    const PIECE: usize = 64 * 1024;

    pub fn new(length: u64, seed: u64) -> Self {
        Self {
            remaining: length,
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        }
    }

    fn next_piece(&mut self) -> Option<Bytes> {
        if self.remaining == 0 {
            return None;
        }
        let size = (self.remaining as usize).min(Self::PIECE);
        let mut piece = Vec::with_capacity(Self::PIECE);
        while piece.len() < size {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            piece.extend_from_slice(&self.state.to_le_bytes());
        }
        piece.truncate(size);
        self.remaining -= size as u64;
        Some(Bytes::from(piece))
    }

    /// The SHA-256 (hex) of the whole body, computed piece by piece.
    pub fn sha256_hex(length: u64, seed: u64) -> String {
        let mut body = Self::new(length, seed);
        let mut hasher = Sha256::new();
        while let Some(piece) = body.next_piece() {
            hasher.update(&piece);
        }
        hex::encode(hasher.finalize())
    }
}

impl hyper::body::Body for GeneratedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.next_piece().map(|piece| Ok(Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.remaining)
    }
}

/// Sends one request whose body is `body` (streamed as it is polled).
pub async fn send_body(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl hyper::body::Body<Data = Bytes, Error = std::io::Error> + Send + 'static,
) -> Reply {
    exchange(method, url, headers, body.boxed_unsync()).await
}

/// GETs `url` and hashes the body as it streams in: the status, the number
/// of body bytes and their SHA-256 in hex.
pub async fn get_sha256(url: &str) -> (u16, u64, String) {
    let client: Client<HttpConnector, TestBody> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let request = Request::builder()
        .method("GET")
        .uri(url)
        .body(
            Full::new(Bytes::new())
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .unwrap();
    let response = client.request(request).await.expect("proxy answers");
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut hasher = Sha256::new();
    let mut length = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("body frame").into_data() {
            length += data.len() as u64;
            hasher.update(&data);
        }
    }
    (status, length, hex::encode(hasher.finalize()))
}
