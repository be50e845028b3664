//! Soak: a fixed plan of mixed requests (PUT, GET, HEAD, DELETE and
//! ListObjectsV2) at 64 in flight, through the proxy binary into s3s-fs,
//! checked against a model of what the bucket holds.
//!
//! Every object written is read back at once and compared by SHA-256; a
//! deleted key must answer 404; a listing must agree with the model for
//! every key that nobody touched while the listing ran; at the end, the
//! whole bucket is read back and listed once more. Any disagreement is
//! collected, and the test fails if there is one.
//!
//! The plan (operations, keys, sizes and contents) comes from one seed,
//! printed at the start; `ZSP_SOAK_SEED=N` replays it. The interleaving of
//! the 64 workers still varies from run to run. Figures (requests by kind,
//! bytes moved, duration, rate, latencies) go to stderr: see them with
//! `cargo test --test it soak -- --nocapture`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::TryStreamExt;
use http::Request;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest, Sha256};

use crate::support::{
    Gateway, GeneratedBody, ProxyProcess, credentials_table, open_files_under, pseudo_random_bytes,
    unique_name, xml_values,
};

/// Requests in flight at once.
const CONCURRENCY: usize = 64;

/// Keys the plan draws from: few enough that keys are read, overwritten
/// and deleted again, enough that 64 workers rarely wait for one another.
const KEYS: usize = 192;

/// The whole soak, final checks included, must end within this.
const HARD_DEADLINE: Duration = Duration::from_secs(150);

/// One request may take this long before it counts as an error.
const REQUEST_DEADLINE: Duration = Duration::from_secs(60);

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

type SoakBody = UnsyncBoxBody<Bytes, std::io::Error>;
type SoakClient = Client<HttpConnector, SoakBody>;

/// One step of the plan.
#[derive(Debug, Clone, Copy)]
enum Op {
    /// Upload `size` bytes made from `content`, with `Content-Length` or,
    /// when `chunked`, without one (the proxy then spools the body).
    Put {
        key: usize,
        size: u64,
        content: u64,
        chunked: bool,
    },
    /// Read the key whole, or the byte range `ranged` picks.
    Get {
        key: usize,
        ranged: bool,
    },
    Head {
        key: usize,
    },
    Delete {
        key: usize,
    },
    /// ListObjectsV2 of the bucket, `max_keys` a page.
    List {
        max_keys: usize,
    },
}

/// What the model knows of a stored object: enough to make its bytes
/// again, and their SHA-256 (computed once, when it was written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Object {
    size: u64,
    content: u64,
    sha256: [u8; 32],
}

/// The model of one key. `changes` counts every start and end of a
/// mutation, so that a listing can tell which keys stayed still.
#[derive(Debug, Default)]
struct KeyState {
    stored: Option<Object>,
    changes: u64,
}

/// One key: its lock (one operation at a time on a key) and its state.
#[derive(Default)]
struct Slot {
    turn: tokio::sync::Mutex<()>,
    state: std::sync::Mutex<KeyState>,
}

/// What the run counted.
#[derive(Default)]
struct Tally {
    requests: BTreeMap<&'static str, u64>,
    latencies: Vec<Duration>,
    bytes_up: u64,
    bytes_down: u64,
    errors: Vec<String>,
    lost: u64,
    corrupted: u64,
}

/// Everything the workers share.
struct Soak {
    client: SoakClient,
    base: String,
    slots: Vec<Slot>,
    /// Held shared by each DELETE request, exclusively by each listing.
    deleting: tokio::sync::RwLock<()>,
    tally: std::sync::Mutex<Tally>,
}

/// A small PRNG (splitmix64): the plan must not depend on a crate's
/// algorithm changing.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `low..high`.
    fn below(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low)
    }
}

/// The seed of this run: `ZSP_SOAK_SEED`, or one made from the clock.
fn seed() -> u64 {
    if let Ok(text) = std::env::var("ZSP_SOAK_SEED") {
        return text.parse().expect("ZSP_SOAK_SEED is a number");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    now.as_nanos() as u64 ^ u64::from(std::process::id())
}

/// A body size: a few empty ones, many small, one in ten over the 1 MiB
/// memory limit (streamed in `auto`, or spooled when chunked), two in a
/// hundred of several MiB.
fn size(rng: &mut Rng) -> u64 {
    match rng.below(0, 100) {
        0..8 => 0,
        8..55 => rng.below(1, 16 * KIB),
        55..90 => rng.below(16 * KIB, 256 * KIB),
        90..98 => rng.below(MIB, 2 * MIB),
        _ => rng.below(2 * MIB, 4 * MIB + 1),
    }
}

/// `count` operations drawn from `seed`.
fn plan(seed: u64, count: usize) -> Vec<Op> {
    let mut rng = Rng(seed);
    (0..count)
        .map(|_| {
            let key = rng.below(0, KEYS as u64) as usize;
            match rng.below(0, 100) {
                0..36 => Op::Put {
                    key,
                    size: size(&mut rng),
                    content: rng.next(),
                    chunked: rng.below(0, 4) == 0,
                },
                36..62 => Op::Get {
                    key,
                    ranged: rng.below(0, 4) == 0,
                },
                62..76 => Op::Head { key },
                76..90 => Op::Delete { key },
                _ => Op::List {
                    max_keys: [50, 100, 1000][rng.below(0, 3) as usize],
                },
            }
        })
        .collect()
}

/// The name of key `index`; some need percent-encoding (a space, a
/// non-ASCII letter), some sit under a "directory".
fn key_name(index: usize) -> String {
    match index % 4 {
        0 => format!("obj-{index:03}"),
        1 => format!("dir-{}/obj-{index:03}", index % 7),
        2 => format!("with space/obj {index:03}"),
        _ => format!("caf\u{e9}-{index:03}.bin"),
    }
}

/// A key name as it goes into a URL path.
fn encoded(name: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const PATH: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'.')
        .remove(b'_');
    utf8_percent_encode(name, PATH).to_string()
}

// === impl Object ===

impl Object {
    fn new(size: u64, content: u64) -> Self {
        let sha256 = Sha256::digest(pseudo_random_bytes(size as usize, content)).into();
        Self {
            size,
            content,
            sha256,
        }
    }

    /// The SHA-256 (hex) and length of the whole object, or of the bytes
    /// `first..=last` of it.
    fn expected(&self, range: Option<(u64, u64)>) -> (String, u64) {
        let Some((first, last)) = range else {
            return (hex::encode(self.sha256), self.size);
        };
        let bytes = pseudo_random_bytes(self.size as usize, self.content);
        let part = &bytes[first as usize..=last as usize];
        (hex::encode(Sha256::digest(part)), part.len() as u64)
    }
}

/// An answer, its body hashed as it came in.
struct Answer {
    status: u16,
    headers: http::HeaderMap,
    length: u64,
    sha256: String,
    body: Option<Bytes>,
}

// === impl Soak ===

impl Soak {
    fn url(&self, key: usize) -> String {
        format!("{}/{}", self.base, encoded(&key_name(key)))
    }

    /// Sends one request, counting it; an `Err` is a transport failure.
    /// Small bodies are kept (for XML); large ones only hashed.
    async fn exchange(
        &self,
        kind: &'static str,
        request: Request<SoakBody>,
        uploaded: u64,
    ) -> Result<Answer, String> {
        let started = Instant::now();
        let work = async {
            let response = self.client.request(request).await.map_err(|e| {
                format!(
                    "{kind}: no answer: {}",
                    zenko_signing_proxy::error::chain(&e)
                )
            })?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let mut body = response.into_body();
            let mut hasher = Sha256::new();
            let mut kept = Vec::new();
            let mut length = 0u64;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| format!("{kind}: body broke: {e}"))?;
                if let Ok(data) = frame.into_data() {
                    length += data.len() as u64;
                    hasher.update(&data);
                    if kept.len() < 256 * 1024 {
                        kept.extend_from_slice(&data);
                    }
                }
            }
            Ok(Answer {
                status,
                headers,
                length,
                sha256: hex::encode(hasher.finalize()),
                body: (length as usize == kept.len()).then(|| Bytes::from(kept)),
            })
        };
        let outcome = tokio::time::timeout(REQUEST_DEADLINE, work)
            .await
            .unwrap_or_else(|_| Err(format!("{kind}: no answer within {REQUEST_DEADLINE:?}")));
        let mut tally = self.tally.lock().unwrap();
        *tally.requests.entry(kind).or_default() += 1;
        tally.latencies.push(started.elapsed());
        tally.bytes_up += uploaded;
        if let Ok(answer) = &outcome {
            tally.bytes_down += answer.length;
        }
        outcome
    }

    fn fail(&self, problem: String) {
        self.tally.lock().unwrap().errors.push(problem);
    }

    /// Runs one operation of the plan and checks its answers.
    async fn run(&self, op: Op) {
        let outcome = match op {
            Op::Put {
                key,
                size,
                content,
                chunked,
            } => self.put(key, Object::new(size, content), chunked).await,
            Op::Get { key, ranged } => {
                let _turn = self.slots[key].turn.lock().await;
                let stored = self.slots[key].state.lock().unwrap().stored;
                let range = op_range(key, stored).filter(|_| ranged);
                self.check_get(key, stored, range).await
            }
            Op::Head { key } => self.head(key).await,
            Op::Delete { key } => self.delete(key).await,
            Op::List { max_keys } => self.list(max_keys).await,
        };
        if let Err(problem) = outcome {
            self.fail(format!("{op:?}: {problem}"));
        }
    }

    /// PUT, then GET it back at once (the key stays locked in between).
    async fn put(&self, key: usize, object: Object, chunked: bool) -> Result<(), String> {
        let slot = &self.slots[key];
        let _turn = slot.turn.lock().await;
        slot.state.lock().unwrap().changes += 1;
        let generated = GeneratedBody::new(object.size, object.content);
        let body = if chunked {
            // No size hint: the client sends it chunked, the proxy spools it.
            let frames = generated.into_data_stream().map_ok(Frame::data);
            StreamBody::new(frames).boxed_unsync()
        } else {
            generated.boxed_unsync()
        };
        let request = Request::put(self.url(key)).body(body).unwrap();
        let answer = self.exchange("put", request, object.size).await;
        let ok = matches!(&answer, Ok(answer) if answer.status == 200);
        {
            // A PUT that failed may or may not have replaced the object:
            // the model cannot know, and the error fails the test anyway.
            let mut state = slot.state.lock().unwrap();
            if ok {
                state.stored = Some(object);
            }
            state.changes += 1;
        }
        let answer = answer?;
        if !ok {
            return Err(format!("put: {} {}", answer.status, text(&answer)));
        }
        self.check_get(key, Some(object), None).await
    }

    /// GETs the key (or a range of it) and compares it with `stored`.
    async fn check_get(
        &self,
        key: usize,
        stored: Option<Object>,
        range: Option<(u64, u64)>,
    ) -> Result<(), String> {
        let mut request = Request::get(self.url(key));
        if let Some((first, last)) = range {
            request = request.header("range", format!("bytes={first}-{last}"));
        }
        let request = request.body(empty()).unwrap();
        let answer = self.exchange("get", request, 0).await?;
        let Some(object) = stored else {
            return expect_missing(&answer);
        };
        if answer.status == 404 {
            self.tally.lock().unwrap().lost += 1;
            return Err(format!("lost: 404 for a stored object {object:?}"));
        }
        let status = if range.is_some() { 206 } else { 200 };
        if answer.status != status {
            return Err(format!("get: {} {}", answer.status, text(&answer)));
        }
        let (sha256, length) = object.expected(range);
        if (answer.length, &answer.sha256) != (length, &sha256) {
            self.tally.lock().unwrap().corrupted += 1;
            return Err(format!(
                "corrupted: {} bytes read, {length} expected, same hash: {}",
                answer.length,
                answer.sha256 == sha256
            ));
        }
        Ok(())
    }

    async fn head(&self, key: usize) -> Result<(), String> {
        let slot = &self.slots[key];
        let _turn = slot.turn.lock().await;
        let stored = slot.state.lock().unwrap().stored;
        let request = Request::head(self.url(key)).body(empty()).unwrap();
        let answer = self.exchange("head", request, 0).await?;
        match stored {
            None if answer.status == 404 => Ok(()),
            None => Err(format!("head of a deleted key: {}", answer.status)),
            Some(object) => {
                let length = answer
                    .headers
                    .get("content-length")
                    .and_then(|value| value.to_str().ok());
                if answer.status == 200 && length == Some(&object.size.to_string()) {
                    Ok(())
                } else {
                    Err(format!("head: {} length {length:?}", answer.status))
                }
            }
        }
    }

    /// DELETE, then GET: the key must be gone.
    async fn delete(&self, key: usize) -> Result<(), String> {
        let slot = &self.slots[key];
        let _turn = slot.turn.lock().await;
        slot.state.lock().unwrap().changes += 1;
        let request = Request::delete(self.url(key)).body(empty()).unwrap();
        let answer = {
            let _deleting = self.deleting.read().await;
            self.exchange("delete", request, 0).await
        };
        let ok = matches!(&answer, Ok(answer) if answer.status == 204);
        {
            let mut state = slot.state.lock().unwrap();
            if ok {
                state.stored = None;
            }
            state.changes += 1;
        }
        let answer = answer?;
        if !ok {
            return Err(format!("delete: {} {}", answer.status, text(&answer)));
        }
        self.check_get(key, None, None).await
    }

    /// Lists the bucket page by page; every key left alone meanwhile must
    /// be listed if and only if the model holds it, with its size.
    async fn list(&self, max_keys: usize) -> Result<(), String> {
        let before = self.snapshot();
        let listed = self.list_all(max_keys).await?;
        let after = self.snapshot();
        for (index, (seen_before, stored)) in before.iter().enumerate() {
            if after[index].0 != *seen_before || seen_before % 2 == 1 {
                continue; // changed, or in the middle of a change
            }
            let name = key_name(index);
            let size = listed.get(&name).copied();
            if size != stored.map(|object| object.size) {
                return Err(format!(
                    "list: {name:?} listed with size {size:?}, model {stored:?}"
                ));
            }
        }
        let known: HashSet<String> = (0..KEYS).map(key_name).collect();
        if let Some(stranger) = listed.keys().find(|name| !known.contains(*name)) {
            return Err(format!("list: unknown key {stranger:?}"));
        }
        Ok(())
    }

    /// The `changes` count and stored object of every key.
    fn snapshot(&self) -> Vec<(u64, Option<Object>)> {
        self.slots
            .iter()
            .map(|slot| {
                let state = slot.state.lock().unwrap();
                (state.changes, state.stored)
            })
            .collect()
    }

    /// Every key and size of the bucket, following continuation tokens.
    ///
    /// NB: s3s-fs fails a listing with its own 500 `InternalError` when a
    /// key is deleted while it walks the bucket's directory (it reads each
    /// entry's metadata after listing it), so a listing waits for the
    /// DELETE requests in flight and holds new ones back ([`Soak::deleting`]).
    async fn list_all(&self, max_keys: usize) -> Result<BTreeMap<String, u64>, String> {
        let _no_deletes = self.deleting.write().await;
        let mut listed = BTreeMap::new();
        let mut token: Option<String> = None;
        for _page in 0..=KEYS {
            let mut url = format!("{}?list-type=2&max-keys={max_keys}", self.base);
            if let Some(token) = &token {
                url.push_str("&continuation-token=");
                url.push_str(&encoded(token));
            }
            let request = Request::get(url).body(empty()).unwrap();
            let answer = self.exchange("list", request, 0).await?;
            let xml = text(&answer);
            if answer.status != 200 {
                return Err(format!("list: {} {xml}", answer.status));
            }
            let keys = xml_values(&xml, "Key");
            let sizes = xml_values(&xml, "Size");
            if keys.len() != sizes.len() || keys.len() > max_keys {
                return Err(format!("list: {} keys, {} sizes", keys.len(), sizes.len()));
            }
            for (key, size) in keys.into_iter().zip(sizes) {
                let size = size.parse().map_err(|_| format!("list: size {size:?}"))?;
                if listed.insert(key.clone(), size).is_some() {
                    return Err(format!("list: {key:?} on two pages"));
                }
            }
            if xml_values(&xml, "IsTruncated").first().map(String::as_str) != Some("true") {
                return Ok(listed);
            }
            token = xml_values(&xml, "NextContinuationToken").into_iter().next();
            if token.is_none() {
                return Err("list: truncated without a continuation token".to_owned());
            }
        }
        Err("list: more pages than keys".to_owned())
    }
}

/// The byte range (first, last) a ranged GET of a stored, non-empty
/// object asks for: drawn from the key and the object, so that a replay
/// asks for the same.
fn op_range(key: usize, stored: Option<Object>) -> Option<(u64, u64)> {
    let object = stored.filter(|object| object.size > 0)?;
    let mut rng = Rng(key as u64 ^ object.content);
    let first = rng.below(0, object.size);
    let last = rng.below(first, object.size);
    Some((first, last))
}

fn empty() -> SoakBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

fn text(answer: &Answer) -> String {
    answer
        .body
        .as_ref()
        .map(|body| String::from_utf8_lossy(body).into_owned())
        .unwrap_or_default()
}

/// A key the model holds no object for must answer 404 `NoSuchKey`.
fn expect_missing(answer: &Answer) -> Result<(), String> {
    let code = xml_values(&text(answer), "Code");
    if answer.status == 404 && code.first().map(String::as_str) == Some("NoSuchKey") {
        Ok(())
    } else {
        Err(format!(
            "a deleted or never written key answered {} {code:?}",
            answer.status
        ))
    }
}

// === the run ===

/// The proxy binary with `payload`, in front of a fresh s3s-fs; runs
/// `count` planned operations at [`CONCURRENCY`], then the final checks.
async fn soak(payload: &str, count: usize) {
    let seed = seed();
    eprintln!("soak {payload}: seed {seed} (replay the plan with ZSP_SOAK_SEED={seed})");
    let gateway = Gateway::s3s().await;
    let scratch = tempfile::tempdir().unwrap();
    let spool = scratch.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    let config = scratch.path().join("proxy.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nupstream = \"{}\"\npayload = \"{payload}\"\n\
             spool_dir = \"{}\"\n{}",
            gateway.url,
            spool.display(),
            credentials_table(&gateway.access_key, &gateway.secret_key)
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    // No access lines (4000 of them): the startup line and warnings only.
    let log = ("RUST_LOG", "warn,zenko_signing_proxy::serve=info");
    let args = ["serve", "--config", config.to_str().unwrap()];
    let mut proxy = ProxyProcess::spawn(&args, &[log]).expect("the proxy serves");

    let bucket = unique_name("zsp-soak");
    let soak = Arc::new(Soak {
        client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        base: proxy.url(&format!("/{bucket}")),
        slots: (0..KEYS).map(|_| Slot::default()).collect(),
        deleting: tokio::sync::RwLock::new(()),
        tally: std::sync::Mutex::default(),
    });
    let created = soak
        .exchange(
            "create-bucket",
            Request::put(&soak.base).body(empty()).unwrap(),
            0,
        )
        .await
        .expect("create the bucket");
    assert_eq!(created.status, 200, "create the bucket: {}", text(&created));

    let plan = Arc::new(plan(seed, count));
    let started = Instant::now();
    let run = tokio::time::timeout(HARD_DEADLINE, async {
        let next = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..CONCURRENCY)
            .map(|_| {
                let (soak, plan, next) = (soak.clone(), plan.clone(), next.clone());
                tokio::spawn(async move {
                    while let Some(op) = plan.get(next.fetch_add(1, Ordering::Relaxed)) {
                        soak.run(*op).await;
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.await.expect("a worker panicked");
        }
        let elapsed = started.elapsed();
        final_checks(&soak).await;
        elapsed
    })
    .await;
    let elapsed = match run {
        Ok(elapsed) => elapsed,
        Err(_) => panic!("soak {payload} (seed {seed}) still running after {HARD_DEADLINE:?}"),
    };

    let open_spool_files = open_files_under(proxy.pid(), &spool);
    assert!(proxy.is_running(), "the proxy still runs");
    let log = proxy.stop();
    let tally = std::mem::take(&mut *soak.tally.lock().unwrap());
    report(payload, seed, count, elapsed, &tally);
    assert!(
        tally.errors.is_empty(),
        "soak {payload} (seed {seed}): {} errors ({} lost, {} corrupted), first ones:\n{}\n\
         proxy log:\n{}",
        tally.errors.len(),
        tally.lost,
        tally.corrupted,
        tally.errors[..tally.errors.len().min(20)].join("\n"),
        tail(&log, 40)
    );
    assert_eq!((tally.lost, tally.corrupted), (0, 0));
    assert_eq!(open_spool_files, 0, "spool files still open at the end");
}

/// After the run: every key read back (stored ones by hash, the others
/// 404), and one listing that must match the model exactly.
async fn final_checks(soak: &Soak) {
    let model = soak.snapshot();
    for (key, (_, stored)) in model.iter().enumerate() {
        if let Err(problem) = soak.check_get(key, *stored, None).await {
            soak.fail(format!("final read of {:?}: {problem}", key_name(key)));
        }
    }
    match soak.list_all(1000).await {
        Err(problem) => soak.fail(format!("final {problem}")),
        Ok(listed) => {
            let expected: BTreeMap<String, u64> = model
                .iter()
                .enumerate()
                .filter_map(|(key, (_, stored))| stored.map(|o| (key_name(key), o.size)))
                .collect();
            if listed != expected {
                soak.fail(format!(
                    "final list: {} keys listed, {} in the model",
                    listed.len(),
                    expected.len()
                ));
            }
        }
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn report(payload: &str, seed: u64, count: usize, elapsed: Duration, tally: &Tally) {
    let mut latencies = tally.latencies.clone();
    latencies.sort();
    let at = |share: f64| {
        let index = ((latencies.len() as f64 * share) as usize).min(latencies.len() - 1);
        latencies[index]
    };
    let requests: u64 = tally.requests.values().sum();
    let by_kind: Vec<String> = tally
        .requests
        .iter()
        .map(|(kind, n)| format!("{kind} {n}"))
        .collect();
    eprintln!(
        "soak {payload}: seed {seed}, {count} planned operations, {requests} requests ({}), \
         {:.1} MiB up, {:.1} MiB down, {:.2?}, {:.0} requests/s, latency p50 {:.2?} \
         p99 {:.2?} max {:.2?}, {} errors",
        by_kind.join(", "),
        tally.bytes_up as f64 / MIB as f64,
        tally.bytes_down as f64 / MIB as f64,
        elapsed,
        requests as f64 / elapsed.as_secs_f64(),
        at(0.50),
        at(0.99),
        at(1.0),
        tally.errors.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_requests_at_64_in_flight_lose_and_corrupt_nothing() {
    soak("auto", 2000).await;
}
