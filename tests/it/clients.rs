//! Real clients through the proxy, into every available gateway: `curl`, the
//! AWS CLI with `--no-sign-request`, and boto3 with unsigned config.
//!
//! A client that is not installed is skipped with a line saying so, unless
//! `ZSP_REQUIRE_CLIENTS=1` (CI sets it), where a missing client fails.
//!
//! Clients run as subprocesses with every `AWS_*` and `*_proxy` variable of
//! this process removed, AWS config and credentials files pointed at paths
//! that do not exist, instance metadata lookups off, no retries, and a time
//! limit; they are killed (by PID, through their handle) when they exceed it.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Gateway, TestProxy, pseudo_random_bytes, send, unique_name};

/// Longest time one client command may take.
const CLIENT_DEADLINE: Duration = Duration::from_secs(180);

const MIB: usize = 1024 * 1024;

// === running clients ===

/// A command for `program` in a scrubbed environment (see the module doc).
fn client_command(program: &str, scratch: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program);
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy().to_ascii_lowercase();
        if text.starts_with("aws_") || text.ends_with("_proxy") || text == "curl_home" {
            command.env_remove(&name);
        }
    }
    command
        .env("AWS_CONFIG_FILE", scratch.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            scratch.join("no-aws-credentials"),
        )
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_PAGER", "")
        .env("NO_PROXY", "*")
        .env("no_proxy", "*")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs `command` to its end within [`CLIENT_DEADLINE`].
async fn run(mut command: tokio::process::Command, what: &str) -> Output {
    let child = command
        .spawn()
        .unwrap_or_else(|error| panic!("{what}: {error}"));
    match tokio::time::timeout(CLIENT_DEADLINE, child.wait_with_output()).await {
        Ok(output) => output.unwrap_or_else(|error| panic!("{what}: {error}")),
        // Dropping the future dropped the child, which kills it.
        Err(_) => panic!("{what}: still running after {CLIENT_DEADLINE:?}; killed"),
    }
}

/// Runs `command` and requires exit 0; returns stdout and stderr as text.
async fn run_ok(command: tokio::process::Command, what: &str) -> (String, String) {
    let output = run(command, what).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "{what}: {}\nstdout: {stdout}\nstderr: {}",
        output.status,
        tail(&stderr, 4000)
    );
    (stdout, stderr)
}

/// The last `max` bytes of `text` (debug logs can be long).
fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Whether `program args` runs and exits 0.
async fn works(program: &str, args: &[&str]) -> bool {
    let scratch = tempfile::tempdir().unwrap();
    let mut command = client_command(program, scratch.path());
    command.args(args);
    let Ok(child) = command.spawn() else {
        return false;
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await,
        Ok(Ok(output)) if output.status.success()
    )
}

/// Whether to go on with a test of `client`: yes when it works; otherwise
/// the test is skipped with a line saying so, or fails when
/// `ZSP_REQUIRE_CLIENTS=1`.
pub(crate) async fn client_available(client: &str, program: &str, probe: &[&str]) -> bool {
    if works(program, probe).await {
        return true;
    }
    if std::env::var("ZSP_REQUIRE_CLIENTS").as_deref() == Ok("1") {
        panic!("{client} is required (ZSP_REQUIRE_CLIENTS=1) but `{program} {probe:?}` failed");
    }
    eprintln!("skipped: {client} is not installed (`{program} {probe:?}` failed)");
    false
}

// === curl ===

/// `curl` with no `.curlrc`, no proxy, and errors shown.
fn curl(scratch: &Path) -> tokio::process::Command {
    let mut command = client_command("curl", scratch);
    command.args(["-q", "--noproxy", "*", "-sS", "--max-time", "120"]);
    command
}

/// The request headers in `curl -v` output (`> Name: value`).
fn curl_sent_headers(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter_map(|line| line.strip_prefix("> "))
        .filter(|line| line.contains(": "))
        .collect()
}

fn header_line<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[tokio::test]
async fn curl_upload_with_expect_continue_download_range_and_head() {
    if !client_available("curl", "curl", &["--version"]).await {
        return;
    }
    for gateway in Gateway::all().await {
        let name = gateway.name.clone();
        let proxy = TestProxy::start(&gateway, "").await;
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        let bucket = unique_name("zsp-curl");

        let mut command = curl(dir);
        command.args(["-X", "PUT", "-o", "/dev/null", "-w", "%{http_code}"]);
        command.arg(proxy.url(&format!("/{bucket}")));
        let (status, _) = run_ok(command, "curl create bucket").await;
        assert_eq!(status, "200", "{name}: create bucket");

        // ~3 MiB from a file: curl announces it with Expect: 100-continue
        // and must get 100 Continue, not wait out its 1 s fallback.
        let data = pseudo_random_bytes(3 * MIB + 123, 31);
        let upload = dir.join("upload.bin");
        std::fs::write(&upload, &data).unwrap();
        let url = proxy.url(&format!("/{bucket}/from-curl.bin"));
        let mut command = curl(dir);
        command.arg("-v").arg("-T").arg(&upload);
        command
            .args(["-o", "/dev/null", "-w", "%{http_code}"])
            .arg(&url);
        let started = Instant::now();
        let (status, stderr) = run_ok(command, "curl -T file").await;
        eprintln!(
            "curl -T ({} bytes) took {:?}; sent headers: {:?}",
            data.len(),
            started.elapsed(),
            curl_sent_headers(&stderr)
        );
        assert_eq!(status, "200", "{name}: upload: {stderr}");
        assert!(
            curl_sent_headers(&stderr).contains(&"Expect: 100-continue"),
            "{name}: {stderr}"
        );
        assert!(
            stderr.contains("< HTTP/1.1 100 Continue"),
            "{name}: the proxy answers 100 Continue: {stderr}"
        );

        let download = dir.join("download.bin");
        let mut command = curl(dir);
        command.args(["--fail", "-o"]).arg(&download).arg(&url);
        run_ok(command, "curl -o").await;
        let downloaded = std::fs::read(&download).unwrap();
        assert_eq!(downloaded.len(), data.len(), "{name}");
        assert!(downloaded == data, "{name}: downloaded bytes differ");

        let part = dir.join("part.bin");
        let mut command = curl(dir);
        command.args(["--fail", "-r", "1000-1999", "-w", "%{http_code}", "-o"]);
        command.arg(&part).arg(&url);
        let (status, _) = run_ok(command, "curl -r").await;
        assert_eq!(status, "206", "{name}: range");
        assert_eq!(std::fs::read(&part).unwrap(), &data[1000..2000], "{name}");

        let mut command = curl(dir);
        command.arg("-I").arg(&url);
        let (head, _) = run_ok(command, "curl -I").await;
        assert!(
            head.starts_with("HTTP/1.1 200"),
            "{name}: HEAD status: {head}"
        );
        let length = data.len().to_string();
        assert_eq!(
            header_line(&head, "content-length"),
            Some(length.as_str()),
            "{name}: {head}"
        );
        assert!(header_line(&head, "etag").is_some(), "{name}: {head}");

        // From stdin: no length known, so curl sends it chunked.
        let streamed = pseudo_random_bytes(MIB + MIB / 2, 32);
        let stdin_file = dir.join("stdin.bin");
        std::fs::write(&stdin_file, &streamed).unwrap();
        let piped_url = proxy.url(&format!("/{bucket}/from-stdin.bin"));
        let mut command = curl(dir);
        command.stdin(std::fs::File::open(&stdin_file).unwrap());
        command.args(["-v", "-T", "-", "-o", "/dev/null", "-w", "%{http_code}"]);
        command.arg(&piped_url);
        let (status, stderr) = run_ok(command, "curl -T -").await;
        assert_eq!(status, "200", "{name}: chunked upload: {stderr}");
        assert!(
            curl_sent_headers(&stderr).contains(&"Transfer-Encoding: chunked"),
            "{name}: {stderr}"
        );
        let reply = send("GET", &piped_url, &[], "").await;
        assert!(
            reply.body == streamed,
            "{name}: chunked upload stored whole"
        );

        for key in ["from-curl.bin", "from-stdin.bin"] {
            let mut command = curl(dir);
            command.args(["-X", "DELETE", "-o", "/dev/null", "-w", "%{http_code}"]);
            command.arg(proxy.url(&format!("/{bucket}/{key}")));
            let (status, _) = run_ok(command, "curl DELETE").await;
            assert_eq!(status, "204", "{name}: delete {key}");
        }
        let mut command = curl(dir);
        command
            .args(["-I", "-o", "/dev/null", "-w", "%{http_code}"])
            .arg(&url);
        let (status, _) = run_ok(command, "curl -I after delete").await;
        assert_eq!(status, "404", "{name}: deleted");

        let mut command = curl(dir);
        command.args(["-X", "DELETE", "-o", "/dev/null", "-w", "%{http_code}"]);
        command.arg(proxy.url(&format!("/{bucket}")));
        let (status, _) = run_ok(command, "curl DELETE bucket").await;
        assert_eq!(status, "204", "{name}: delete bucket");
    }
}

// === AWS CLI ===

fn aws(scratch: &Path, proxy: &TestProxy) -> tokio::process::Command {
    let mut command = client_command("aws", scratch);
    command
        .args(["--no-sign-request", "--endpoint-url"])
        .arg(proxy.url(""))
        .args(["--cli-read-timeout", "60", "--cli-connect-timeout", "10"]);
    command
}

/// One request botocore logged with `--debug` ("Sending http request:").
#[derive(Debug)]
struct LoggedRequest {
    method: String,
    url: String,
    headers: String,
}

fn botocore_requests(debug: &str) -> Vec<LoggedRequest> {
    debug
        .lines()
        .filter_map(|line| {
            line.split_once("Sending http request: <AWSPreparedRequest ")
                .map(|(_, rest)| rest)
        })
        .filter_map(|rest| {
            let method = rest.split_once("method=")?.1.split_once(',')?.0;
            let url = rest.split_once("url=")?.1.split_once(", headers=")?.0;
            let headers = rest.split_once("headers=")?.1;
            Some(LoggedRequest {
                method: method.to_owned(),
                url: url.to_owned(),
                headers: headers.trim_end_matches('>').to_owned(),
            })
        })
        .collect()
}

#[tokio::test]
async fn aws_cli_unsigned_mb_multipart_cp_ls_rm() {
    if !client_available("the AWS CLI", "aws", &["--version"]).await {
        return;
    }
    for gateway in Gateway::all().await {
        let name = gateway.name.clone();
        let proxy = TestProxy::start(&gateway, "").await;
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        let bucket = unique_name("zsp-aws");
        let s3_bucket = format!("s3://{bucket}");
        let s3_object = format!("s3://{bucket}/dir/big.bin");

        let mut command = aws(dir, &proxy);
        command.args(["s3", "mb", &s3_bucket]);
        let (stdout, _) = run_ok(command, "aws s3 mb").await;
        assert_eq!(stdout.trim(), format!("make_bucket: {bucket}"), "{name}");

        // 100 MiB: over the CLI's 8 MiB multipart threshold, in 13 parts,
        // each streamed (aws-chunked, signed per chunk) by the proxy.
        let data = pseudo_random_bytes(100 * MIB, 41);
        let upload = dir.join("big.bin");
        std::fs::write(&upload, &data).unwrap();
        let mut command = aws(dir, &proxy);
        command
            .args(["--debug", "s3", "cp"])
            .arg(&upload)
            .arg(&s3_object);
        let started = Instant::now();
        let (stdout, debug) = run_ok(command, "aws s3 cp up").await;
        let upload_time = started.elapsed();
        assert!(stdout.contains("upload:"), "{name}: {stdout}");
        let requests = botocore_requests(&debug);
        let parts: Vec<&LoggedRequest> = requests
            .iter()
            .filter(|r| r.method == "PUT" && r.url.contains("partNumber="))
            .collect();
        eprintln!(
            "aws s3 cp up of 100 MiB via {name} took {upload_time:?}: {} requests, {} parts",
            requests.len(),
            parts.len()
        );
        for request in &requests {
            eprintln!(
                "  aws sent {} {} {}",
                request.method, request.url, request.headers
            );
        }
        assert_eq!(
            parts.len(),
            13,
            "{name}: 12 parts of 8 MiB and one of 4: {requests:?}"
        );
        assert!(
            requests
                .iter()
                .any(|r| r.method == "POST" && r.url.contains("?uploads")),
            "{name}: a multipart upload was created: {requests:?}"
        );

        let download = dir.join("down.bin");
        let mut command = aws(dir, &proxy);
        command
            .args(["--debug", "s3", "cp", &s3_object])
            .arg(&download);
        let (stdout, debug) = run_ok(command, "aws s3 cp down").await;
        assert!(stdout.contains("download:"), "{name}: {stdout}");
        let requests = botocore_requests(&debug);
        for request in &requests {
            eprintln!(
                "  aws sent {} {} {}",
                request.method, request.url, request.headers
            );
        }
        // Over its multipart threshold the CLI downloads in 8 MiB ranges.
        let ranged = requests
            .iter()
            .filter(|r| r.method == "GET" && r.headers.contains("'Range': b'bytes="))
            .count();
        assert_eq!(ranged, 13, "{name}: ranged GETs: {requests:?}");
        let downloaded = std::fs::read(&download).unwrap();
        assert_eq!(downloaded.len(), data.len(), "{name}");
        assert!(downloaded == data, "{name}: downloaded bytes differ");

        let mut command = aws(dir, &proxy);
        command.args(["s3", "ls", "--recursive", &s3_bucket]);
        let (listing, _) = run_ok(command, "aws s3 ls").await;
        let line = listing
            .lines()
            .find(|line| line.ends_with(" dir/big.bin"))
            .unwrap_or_else(|| panic!("{name}: not listed: {listing}"));
        assert!(line.contains(" 104857600 "), "{name}: size: {line}");

        let mut command = aws(dir, &proxy);
        command.args(["s3", "rm", &s3_object]);
        let (stdout, _) = run_ok(command, "aws s3 rm").await;
        assert_eq!(stdout.trim(), format!("delete: {s3_object}"), "{name}");

        let mut command = aws(dir, &proxy);
        command.args(["s3", "ls", "--recursive", &s3_bucket]);
        let output = run(command, "aws s3 ls after rm").await;
        let listing = String::from_utf8_lossy(&output.stdout);
        assert!(
            !listing.contains("big.bin"),
            "{name}: still listed: {listing}"
        );

        let mut command = aws(dir, &proxy);
        command.args(["s3", "rb", &s3_bucket]);
        let (stdout, _) = run_ok(command, "aws s3 rb").await;
        assert_eq!(stdout.trim(), format!("remove_bucket: {bucket}"), "{name}");
    }
}

// === boto3 ===

/// put/get/list/delete and a multipart `upload_fileobj`, unsigned. Prints
/// one `SENT {json}` line per request (from botocore's before-send event)
/// and one `RESULT {json}` line.
const BOTO3_SCRIPT: &str = r#"
import json, sys
import boto3, botocore
from botocore.config import Config
from boto3.s3.transfer import TransferConfig

endpoint, bucket, big_path, down_path = sys.argv[1:5]
sent = []

def record(request, **kwargs):
    headers = {}
    for key, value in request.headers.items():
        headers[key] = value.decode() if isinstance(value, bytes) else str(value)
    sent.append({"method": request.method, "url": request.url, "headers": headers})

s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    region_name="us-east-1",
    config=Config(
        signature_version=botocore.UNSIGNED,
        connect_timeout=10,
        read_timeout=60,
        retries={"max_attempts": 1, "mode": "standard"},
        s3={"addressing_style": "path"},
    ),
)
s3.meta.events.register("before-send.s3", record)
result = {}
s3.create_bucket(Bucket=bucket)
s3.put_object(Bucket=bucket, Key="small.txt", Body=b"hello from boto3", ContentType="text/plain")
got = s3.get_object(Bucket=bucket, Key="small.txt")
result["small_body"] = got["Body"].read().decode()
result["small_content_type"] = got["ContentType"]
with open(big_path, "rb") as source:
    s3.upload_fileobj(
        source, bucket, "dir/big.bin",
        Config=TransferConfig(multipart_threshold=8 * 1024 * 1024,
                              multipart_chunksize=5 * 1024 * 1024,
                              max_concurrency=2),
    )
result["listed"] = sorted(
    [o["Key"], o["Size"]] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])
)
with open(down_path, "wb") as target:
    body = s3.get_object(Bucket=bucket, Key="dir/big.bin")["Body"]
    for piece in body.iter_chunks(1024 * 1024):
        target.write(piece)
s3.delete_object(Bucket=bucket, Key="small.txt")
s3.delete_object(Bucket=bucket, Key="dir/big.bin")
result["listed_after"] = [
    o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])
]
s3.delete_bucket(Bucket=bucket)
for request in sent:
    print("SENT " + json.dumps(request))
print("RESULT " + json.dumps(result))
"#;

/// The value of `"key": ` in a one-line JSON text, as raw JSON text up to
/// the next top-level comma or brace (enough for the flat values here).
fn json_field<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let start = json.find(&format!("\"{key}\": "))? + key.len() + 4;
    let rest = &json[start..];
    let mut depth = 0i32;
    let mut in_string = false;
    let mut escaped = false;
    for (index, c) in rest.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '[' | '{' if !in_string => depth += 1,
            ']' | '}' if !in_string && depth > 0 => depth -= 1,
            ',' | '}' if !in_string && depth == 0 => return Some(&rest[..index]),
            _ => {}
        }
    }
    Some(rest)
}

#[tokio::test]
async fn boto3_unsigned_put_get_list_delete_and_multipart_upload_fileobj() {
    if !client_available("boto3", "python3", &["-c", "import boto3"]).await {
        return;
    }
    for gateway in Gateway::all().await {
        let name = gateway.name.clone();
        let proxy = TestProxy::start(&gateway, "").await;
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        let script = dir.join("boto3_client.py");
        std::fs::write(&script, BOTO3_SCRIPT).unwrap();
        let data = pseudo_random_bytes(9 * MIB + 5, 51);
        let upload = dir.join("big.bin");
        std::fs::write(&upload, &data).unwrap();
        let download = dir.join("down.bin");
        let bucket = unique_name("zsp-boto3");

        let mut command = client_command("python3", dir);
        command
            .arg(&script)
            .arg(proxy.url(""))
            .arg(&bucket)
            .arg(&upload)
            .arg(&download);
        let started = Instant::now();
        let (stdout, _) = run_ok(command, "boto3 script").await;
        eprintln!("boto3 script via {name} took {:?}", started.elapsed());
        let result = stdout
            .lines()
            .find_map(|line| line.strip_prefix("RESULT "))
            .unwrap_or_else(|| panic!("{name}: no RESULT line: {stdout}"));
        let sent: Vec<&str> = stdout
            .lines()
            .filter_map(|line| line.strip_prefix("SENT "))
            .collect();
        for request in &sent {
            eprintln!("  boto3 sent {request}");
        }

        assert_eq!(
            json_field(result, "small_body"),
            Some("\"hello from boto3\""),
            "{name}: {result}"
        );
        assert_eq!(
            json_field(result, "small_content_type"),
            Some("\"text/plain\""),
            "{name}: {result}"
        );
        assert_eq!(
            json_field(result, "listed"),
            Some(format!("[[\"dir/big.bin\", {}], [\"small.txt\", 16]]", data.len()).as_str()),
            "{name}: {result}"
        );
        assert_eq!(
            json_field(result, "listed_after"),
            Some("[]"),
            "{name}: {result}"
        );
        let parts = sent
            .iter()
            .filter(|r| r.contains("\"method\": \"PUT\"") && r.contains("partNumber="))
            .count();
        assert_eq!(parts, 2, "{name}: 5+4 MiB parts: {sent:?}");
        let downloaded = std::fs::read(&download).unwrap();
        assert_eq!(downloaded.len(), data.len(), "{name}");
        assert!(downloaded == data, "{name}: downloaded bytes differ");
    }
}

// === what the SDKs add ===

/// botocore (AWS CLI v1, boto3) adds `x-amz-checksum-crc32` to every upload
/// over plain HTTP (a header, not an aws-chunked trailer). The proxy passes
/// it on, signed, and the gateway checks it: a wrong one is the gateway's
/// BadDigest, so the client uploads above really had their checksum checked.
/// (s3s-fs only: it is known to verify CRC32 on PutObject.)
#[tokio::test]
async fn sdk_checksum_header_reaches_the_gateway_and_is_checked() {
    let gateway = Gateway::s3s().await;
    let proxy = TestProxy::start(&gateway, "").await;
    let bucket = unique_name("zsp-crc");
    let reply = send("PUT", &proxy.url(&format!("/{bucket}")), &[], "").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let url = proxy.url(&format!("/{bucket}/checked.txt"));
    // CRC32 of "hello from boto3", as boto3 sent it.
    let right = [
        ("x-amz-checksum-crc32", "UTuzEA=="),
        ("x-amz-sdk-checksum-algorithm", "CRC32"),
    ];
    let reply = send("PUT", &url, &right, "hello from boto3").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let wrong = [
        ("x-amz-checksum-crc32", "AAAAAA=="),
        ("x-amz-sdk-checksum-algorithm", "CRC32"),
    ];
    let reply = send("PUT", &url, &wrong, "hello from boto3").await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(reply.error_code().as_deref(), Some("BadDigest"));
    assert!(
        reply.header("x-proxy-error").is_none(),
        "the gateway's answer"
    );
}

/// curl speaking HTTP/2 without TLS (prior knowledge) to the proxy: the
/// proxy answers in h2 and still talks HTTP/1.1 to the gateway.
#[tokio::test]
async fn curl_http2_prior_knowledge_round_trip() {
    if !client_available("curl", "curl", &["--version"]).await {
        return;
    }
    for gateway in Gateway::all().await {
        let name = gateway.name.clone();
        let proxy = TestProxy::start(&gateway, "").await;
        let bucket = unique_name("zsp-h2");
        let scratch = tempfile::tempdir().unwrap();
        let file = scratch.path().join("h2.bin");
        let data = pseudo_random_bytes(2 * MIB + 7, 61);
        std::fs::write(&file, &data).unwrap();

        let mut command = curl(scratch.path());
        command.args(["--http2-prior-knowledge", "-sS", "-f", "-X", "PUT"]);
        command.arg(proxy.url(&format!("/{bucket}")));
        run_ok(command, "curl h2 mb").await;

        let mut command = curl(scratch.path());
        command
            .args(["--http2-prior-knowledge", "-sS", "-f", "-T"])
            .arg(&file);
        command.arg(proxy.url(&format!("/{bucket}/h2.bin")));
        run_ok(command, "curl h2 upload").await;

        let mut command = curl(scratch.path());
        command.args([
            "--http2-prior-knowledge",
            "-sS",
            "-f",
            "-w",
            "%{http_version}",
            "-o",
        ]);
        command.arg(scratch.path().join("back.bin"));
        command.arg(proxy.url(&format!("/{bucket}/h2.bin")));
        let (version, _) = run_ok(command, "curl h2 download").await;
        assert_eq!(version.trim(), "2", "{name}: answered over HTTP/2");
        let back = std::fs::read(scratch.path().join("back.bin")).unwrap();
        assert!(back == data, "{name}: bytes differ after an h2 round trip");
    }
}

/// curl through the proxy's unix socket (`listen = "unix:/path"`, mode 0600).
#[tokio::test]
async fn curl_through_a_unix_socket() {
    use std::os::unix::fs::PermissionsExt;

    if !client_available("curl", "curl", &["--version"]).await {
        return;
    }
    let gateway = Gateway::s3s().await;
    let scratch = tempfile::tempdir().unwrap();
    let socket = scratch.path().join("proxy.sock");
    let config = format!(
        "listen = \"unix:{}\"\nupstream = \"{}\"\n{}",
        socket.display(),
        gateway.url,
        crate::support::credentials_table(&gateway.access_key, &gateway.secret_key)
    );
    let config =
        zenko_signing_proxy::config::Config::from_toml(&config, &Default::default()).unwrap();
    let service = zenko_signing_proxy::serve::Service::bind(config, &crate::support::NoEnvironment)
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(service.run(async {
        let _ = stopped.await;
    }));
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let bucket = unique_name("zsp-unix");
    let socket_arg = socket.to_str().unwrap();
    let mut command = curl(scratch.path());
    command.args(["--unix-socket", socket_arg, "-f", "-X", "PUT"]);
    command.arg(format!("http://localhost/{bucket}"));
    run_ok(command, "curl unix mb").await;
    let mut command = curl(scratch.path());
    command.args(["--unix-socket", socket_arg, "-f", "-T", "-"]);
    command.arg(format!("http://localhost/{bucket}/hello"));
    command.stdin(Stdio::piped());
    let mut child = command.spawn().unwrap();
    use tokio::io::AsyncWriteExt;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"over a unix socket").await.unwrap();
    drop(stdin);
    assert!(child.wait().await.unwrap().success());
    let mut command = curl(scratch.path());
    command.args(["--unix-socket", socket_arg, "-f"]);
    command.arg(format!("http://localhost/{bucket}/hello"));
    let (body, _) = run_ok(command, "curl unix get").await;
    assert_eq!(body, "over a unix socket");

    stop.send(()).unwrap();
    running.await.unwrap();
    assert!(!socket.exists(), "the socket file is removed at shutdown");
}
