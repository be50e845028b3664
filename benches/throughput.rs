//! End-to-end throughput, direct and through the proxy, measured side by
//! side in one run on loopback.
//!
//! A minimal upstream (in this process) drains PUT bodies and serves GET
//! bodies of a fixed size; the proxy runs as its own process (the release
//! binary) in front of it. Each figure is printed with its ratio to the
//! direct connection, with the single-core SHA-256 rate (the floor of the
//! cost of a signed body) and the proxy's peak RSS.
//!
//! Run with `cargo bench --bench throughput`. `ZSP_BENCH_MIB` sets the large
//! body size in MiB (default 1024), `ZSP_BENCH_SECONDS` the length of the
//! small-request run (default 5), `ZSP_BENCH_ONLY` a comma list of cases
//! (`put-unsigned`, `put-signed`, `put-streaming`, `get`, `small`),
//! `ZSP_BENCH_PROXY_LOG` the proxy's `RUST_LOG` (default: its own default,
//! one access line per request). Every server binds 127.0.0.1:0 and stops
//! with the run.

// A benchmark's output is its figures.
#![allow(clippy::print_stdout)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use sha2::Digest;

/// Pieces of bodies sent and served (256 KiB).
const PIECE: usize = 256 * 1024;

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let mib: u64 = env_number("ZSP_BENCH_MIB", 1024);
    let seconds: u64 = env_number("ZSP_BENCH_SECONDS", 5);
    let large = mib << 20;
    let upstream = start_upstream().await;
    println!("large bodies: {mib} MiB; small GETs: 1 KiB, 64 connections, {seconds} s");

    let sha = sha256_rate(256 << 20);
    println!("single-core SHA-256: {:.0} MB/s", sha / 1e6);

    let only = std::env::var("ZSP_BENCH_ONLY").unwrap_or_default();
    let wanted = |case: &str| only.is_empty() || only.split(',').any(|c| c == case);
    let mut proxies = Vec::new();
    for mode in ["unsigned", "signed", "streaming"] {
        proxies.push((mode, Proxy::start(upstream, mode)));
    }
    let unsigned = proxies[0].1.addr;

    let direct_put = put_rate(upstream, large).await;
    println!("\nPUT  direct              {:>8.0} MB/s", direct_put / 1e6);
    for (mode, proxy) in &proxies {
        if !wanted(&format!("put-{mode}")) {
            continue;
        }
        let rate = put_rate(proxy.addr, large).await;
        println!(
            "PUT  proxy {mode:<13} {:>8.0} MB/s  {:.2}x direct  {:.2}x SHA-256",
            rate / 1e6,
            rate / direct_put,
            rate / sha
        );
    }

    if wanted("get") {
        let direct_get = get_rate(upstream, large).await;
        let proxied_get = get_rate(unsigned, large).await;
        println!("\nGET  direct              {:>8.0} MB/s", direct_get / 1e6);
        println!(
            "GET  proxy               {:>8.0} MB/s  {:.2}x direct",
            proxied_get / 1e6,
            proxied_get / direct_get
        );
    }

    if wanted("small") {
        let window = Duration::from_secs(seconds);
        let direct_small = small_get_rate(upstream, window).await;
        let proxied_small = small_get_rate(unsigned, window).await;
        println!("\nsmall GET direct         {direct_small:>8.0} req/s");
        println!(
            "small GET proxy          {proxied_small:>8.0} req/s  {:.2}x direct",
            proxied_small / direct_small
        );
    }

    println!();
    for (mode, proxy) in proxies {
        println!(
            "proxy peak RSS ({mode}): {:.1} MiB",
            proxy.stop() as f64 / 1024.0
        );
    }
}

/// The proxy's log filter: its default (access lines included) unless
/// `ZSP_BENCH_PROXY_LOG` says otherwise (`warn` measures without them). The
/// startup line, which says where the proxy listens, is always kept.
fn proxy_log_filter() -> String {
    let filter = std::env::var("ZSP_BENCH_PROXY_LOG")
        .unwrap_or_else(|_| "warn,zenko_signing_proxy=info".into());
    format!("{filter},zenko_signing_proxy::serve=info")
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Bytes per second of SHA-256 on one core.
fn sha256_rate(bytes: usize) -> f64 {
    let piece = vec![0x5au8; PIECE];
    let started = Instant::now();
    let mut hasher = sha2::Sha256::new();
    for _ in 0..bytes / PIECE {
        hasher.update(&piece);
    }
    std::hint::black_box(hasher.finalize());
    bytes as f64 / started.elapsed().as_secs_f64()
}

// === the upstream ===

/// Starts the upstream: PUT drains, `GET /size/N` serves N bytes.
async fn start_upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(upstream_answer);
                let http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = http.serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    addr
}

async fn upstream_answer(
    request: http::Request<Incoming>,
) -> Result<http::Response<Body>, hyper::Error> {
    let size: u64 = request
        .uri()
        .path()
        .strip_prefix("/size/")
        .and_then(|size| size.parse().ok())
        .unwrap_or(0);
    let mut body = request.into_body();
    while let Some(frame) = body.frame().await {
        frame?;
    }
    let response = http::Response::builder()
        .header("content-length", size)
        .body(generated(size))
        .unwrap();
    Ok(response)
}

/// `size` bytes, in pieces of one shared buffer.
fn generated(size: u64) -> Body {
    let piece = Bytes::from(vec![0x5au8; PIECE]);
    let pieces = (0..size.div_ceil(PIECE as u64)).map(move |index| {
        let left = size - index * PIECE as u64;
        Ok(Frame::data(piece.slice(..left.min(PIECE as u64) as usize)))
    });
    StreamBody::new(futures_util::stream::iter(pieces)).boxed_unsync()
}

// === the proxy ===

/// The release binary serving in front of the upstream.
struct Proxy {
    child: Child,
    addr: SocketAddr,
    _config: tempfile::NamedTempFile,
}

impl Proxy {
    fn start(upstream: SocketAddr, payload: &str) -> Self {
        let config = tempfile::NamedTempFile::new().unwrap();
        let text = format!(
            "listen = \"127.0.0.1:0\"\nupstream = \"http://{upstream}\"\npayload = \"{payload}\"\n\
             [credentials]\naccess_key_id = \"BENCHKEY\"\nsecret_access_key = \"bench-secret\"\n"
        );
        std::fs::write(config.path(), text).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_zenko-signing-proxy"))
            .args(["serve", "--config", config.path().to_str().unwrap()])
            .env_clear()
            .env("NO_COLOR", "1")
            .env("RUST_LOG", proxy_log_filter())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the proxy starts");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let addr = loop {
            let mut line = String::new();
            assert!(stderr.read_line(&mut line).unwrap() > 0, "the proxy exited");
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let addr: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                break addr.parse().unwrap();
            }
        };
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Self {
            child,
            addr,
            _config: config,
        }
    }

    /// Stops the proxy; returns its peak RSS in KiB.
    fn stop(mut self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()));
        let _ = self.child.kill();
        let _ = self.child.wait();
        status
            .unwrap_or_default()
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

// === the client ===

async fn connect(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<Body> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender
}

/// Bytes per second of one PUT of `size` bytes.
async fn put_rate(addr: SocketAddr, size: u64) -> f64 {
    let mut sender = connect(addr).await;
    let request = http::Request::put(format!("http://{addr}/bench/object"))
        .header("host", addr.to_string())
        .header("content-length", size)
        .body(generated(size))
        .unwrap();
    let started = Instant::now();
    let response = sender.send_request(request).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.into_body().collect().await.unwrap();
    size as f64 / started.elapsed().as_secs_f64()
}

/// Bytes per second of one GET of `size` bytes.
async fn get_rate(addr: SocketAddr, size: u64) -> f64 {
    let mut sender = connect(addr).await;
    let request = http::Request::get(format!("http://{addr}/size/{size}"))
        .header("host", addr.to_string())
        .body(Empty::new().map_err(|never| match never {}).boxed_unsync())
        .unwrap();
    let started = Instant::now();
    let response = sender.send_request(request).await.unwrap();
    let mut body = response.into_body();
    let mut received = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            received += data.len() as u64;
        }
    }
    assert_eq!(received, size);
    size as f64 / started.elapsed().as_secs_f64()
}

/// Requests per second of 1 KiB GETs on 64 keep-alive connections.
async fn small_get_rate(addr: SocketAddr, window: Duration) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + window;
    let mut workers = Vec::new();
    for _ in 0..64 {
        let done = Arc::clone(&done);
        workers.push(tokio::spawn(async move {
            let mut sender = connect(addr).await;
            while Instant::now() < deadline {
                let request = http::Request::get(format!("http://{addr}/size/1024"))
                    .header("host", addr.to_string())
                    .body(Empty::new().map_err(|never| match never {}).boxed_unsync())
                    .unwrap();
                let response = sender.send_request(request).await.unwrap();
                response.into_body().collect().await.unwrap();
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let started = Instant::now();
    for worker in workers {
        worker.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}
