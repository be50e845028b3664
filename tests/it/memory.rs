//! The proxy's memory: the binary, as a subprocess in front of s3s-fs, takes
//! a 64 MiB upload and gives it back, and its peak resident set (`VmHWM` of
//! `/proc/PID/status`) stays far below the size of the body. In `signed`
//! mode the body is spooled to disk while hashed; in `unsigned` mode it
//! streams through. Either way it must never be held whole in memory.
//!
//! The body is generated as it is sent, so the test process holds none of it.

use std::time::{Duration, Instant};

use crate::support::{
    Gateway, GeneratedBody, ProxyProcess, credentials_table, get_sha256, send, send_body,
    unique_name,
};

const MIB: u64 = 1024 * 1024;

/// The body uploaded: 64 MiB.
const BODY: u64 = 64 * MIB;

/// The proxy's peak resident set must stay under this (KiB): well under the
/// body, so a proxy that buffers it whole fails.
const PEAK_LIMIT_KIB: u64 = 40 * 1024;

/// Longest time one transfer may take (debug builds hash slowly).
const TRANSFER_DEADLINE: Duration = Duration::from_secs(300);

/// What one run measured.
struct Figures {
    baseline_kib: u64,
    after_put_kib: u64,
    after_get_kib: u64,
    put: Duration,
    get: Duration,
}

/// The binary with `--payload mode` and the `extra` config lines in front of
/// s3s-fs: PUT 64 MiB, GET it back, compare, and read the proxy's VmHWM.
async fn round_trip_64_mib(mode: &str, extra: &str, seed: u64) -> Figures {
    let gateway = Gateway::s3s().await;
    let scratch = tempfile::tempdir().unwrap();
    let spool = scratch.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    let config = scratch.path().join("proxy.toml");
    std::fs::write(
        &config,
        format!(
            "{extra}\nlisten = \"127.0.0.1:0\"\nupstream = \"{}\"\nspool_dir = \"{}\"\n{}",
            gateway.url,
            spool.display(),
            credentials_table(&gateway.access_key, &gateway.secret_key)
        ),
    )
    .unwrap();
    let mut proxy = ProxyProcess::spawn(
        &[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--payload",
            mode,
        ],
        &[],
    )
    .expect("the proxy serves");
    let baseline_kib = proxy.status_kib("VmHWM");

    let bucket = unique_name("zsp-mem");
    let reply = send("PUT", &proxy.url(&format!("/{bucket}")), &[], "").await;
    assert_eq!(reply.status, 200, "{mode}: create bucket: {}", reply.text());

    let url = proxy.url(&format!("/{bucket}/big.bin"));
    let started = Instant::now();
    let reply = tokio::time::timeout(
        TRANSFER_DEADLINE,
        send_body("PUT", &url, &[], GeneratedBody::new(BODY, seed)),
    )
    .await
    .expect("the PUT ends in time");
    let put = started.elapsed();
    assert_eq!(reply.status, 200, "{mode}: put: {}", reply.text());
    let after_put_kib = proxy.status_kib("VmHWM");
    assert!(
        std::fs::read_dir(&spool).unwrap().next().is_none(),
        "{mode}: the spool directory is left empty"
    );

    let started = Instant::now();
    let (status, length, sha256) = tokio::time::timeout(TRANSFER_DEADLINE, get_sha256(&url))
        .await
        .expect("the GET ends in time");
    let get = started.elapsed();
    assert_eq!(status, 200, "{mode}: get");
    assert_eq!(length, BODY, "{mode}: length read back");
    assert_eq!(
        sha256,
        GeneratedBody::sha256_hex(BODY, seed),
        "{mode}: bytes read back"
    );
    let after_get_kib = proxy.status_kib("VmHWM");
    assert!(proxy.is_running(), "{mode}: the proxy still runs");
    proxy.stop();

    let figures = Figures {
        baseline_kib,
        after_put_kib,
        after_get_kib,
        put,
        get,
    };
    eprintln!("{mode} {extra}: 64 MiB round trip: {figures}");
    figures
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "VmHWM {} KiB at start, {} KiB after the PUT ({:?}), {} KiB after the GET ({:?})",
            self.baseline_kib, self.after_put_kib, self.put, self.after_get_kib, self.get
        )
    }
}

impl Figures {
    /// The highest reading (the kernel's RSS counters are approximate, so a
    /// later VmHWM reading can come out a little lower than an earlier one).
    fn peak_kib(&self) -> u64 {
        self.after_put_kib.max(self.after_get_kib)
    }
}

fn assert_peak_under_limit(mode: &str, figures: &Figures) {
    assert!(
        figures.peak_kib() < PEAK_LIMIT_KIB,
        "{mode}: peak RSS {} KiB for a {} KiB body (limit {PEAK_LIMIT_KIB} KiB): {figures}",
        figures.peak_kib(),
        BODY / 1024
    );
}

#[tokio::test]
async fn signed_64_mib_upload_is_spooled_not_held_in_memory() {
    let figures = round_trip_64_mib("signed", "", 64).await;
    assert_peak_under_limit("signed", &figures);
}

#[tokio::test]
async fn unsigned_64_mib_upload_streams_through_in_bounded_memory() {
    let figures = round_trip_64_mib("unsigned", "", 65).await;
    assert_peak_under_limit("unsigned", &figures);
}

/// The control: with a memory limit above the body, `signed` holds the body
/// in memory, and the same measurement sees it. Without this, a broken
/// measurement would pass the two tests above.
#[tokio::test]
async fn peak_rss_measurement_sees_a_body_held_in_memory() {
    let figures = round_trip_64_mib("signed", "memory_body_limit = \"128MiB\"", 66).await;
    assert!(
        figures.peak_kib() > BODY / 1024,
        "a body held in memory shows in VmHWM: {figures}"
    );
}
