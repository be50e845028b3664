//! The binary as a subprocess: exit codes, the one-line errors of `serve`,
//! where it finds credentials, and that a secret never reaches its stderr.
//!
//! Every run has an empty environment (see `support::binary_command`), so
//! the developer's own AWS keys are never read, and no secret is ever put on
//! a command line.

use crate::support::write_file;
use std::path::Path;

use crate::support::{
    Finished, Gateway, ProxyProcess, closed_port, credentials_table, random_hex, run_binary, send,
    unique_name,
};

/// Exit code for usage and configuration errors.
const EXIT_CONFIG: i32 = 64;

/// Writes `text` as `name` in `dir` and returns the path.
/// A config that would start: loopback, an upstream, credentials.
fn valid_config(upstream: &str, access_key: &str, secret: &str) -> String {
    format!("listen = \"127.0.0.1:0\"\nupstream = \"{upstream}\"\n")
        + &credentials_table(access_key, secret)
}

fn closed_upstream() -> String {
    format!("http://127.0.0.1:{}", closed_port())
}

/// Asserts a config/usage failure: exit 64 and exactly one stderr line
/// `zenko-signing-proxy: ...`, which is returned.
fn config_failure(finished: &Finished) -> String {
    assert_eq!(finished.code, Some(EXIT_CONFIG), "{finished:?}");
    let lines: Vec<&str> = finished.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one stderr line: {finished:?}");
    assert!(
        lines[0].starts_with("zenko-signing-proxy: "),
        "{}",
        lines[0]
    );
    lines[0].to_owned()
}

fn serve_with(config: &Path, extra: &[&str], env: &[(&str, &str)]) -> Finished {
    let mut args = vec!["serve", "--config", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    run_binary(&args, env)
}

#[test]
fn unknown_config_key_exits_64_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    // Top-level keys, so before the [credentials] table.
    let text = "listn = \"127.0.0.1:1\"\nupstream_timeout_typo = 3\n".to_owned()
        + &valid_config(&closed_upstream(), "AKIDCLI", &random_hex(20));
    let config = write_file(dir.path(), "proxy.toml", &text);
    let line = config_failure(&serve_with(&config, &[], &[]));
    assert!(line.contains("listn: unknown key"), "{line}");
    assert!(
        line.contains("upstream_timeout_typo: unknown key"),
        "{line}"
    );
}

#[test]
fn unknown_key_in_credentials_table_is_named_with_its_table() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        valid_config(&closed_upstream(), "AKIDCLI", &random_hex(20)) + "secret_key = \"x\"\n";
    let config = write_file(dir.path(), "proxy.toml", &text);
    let line = config_failure(&serve_with(&config, &[], &[]));
    assert!(
        line.contains("credentials.secret_key: unknown key"),
        "{line}"
    );
}

#[test]
fn two_bad_values_are_both_reported_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let text = "payload = \"fastest\"\nconnect_timeout = \"soon\"\n".to_owned()
        + &valid_config(&closed_upstream(), "AKIDCLI", &random_hex(20));
    let config = write_file(dir.path(), "proxy.toml", &text);
    let line = config_failure(&serve_with(&config, &[], &[]));
    assert!(line.contains("payload: 'fastest'"), "{line}");
    assert!(line.contains("connect_timeout: 'soon'"), "{line}");
}

#[test]
fn bad_flag_value_is_reported_like_a_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let text = valid_config(&closed_upstream(), "AKIDCLI", &random_hex(20));
    let config = write_file(dir.path(), "proxy.toml", &text);
    let line = config_failure(&serve_with(&config, &["--payload", "streamy"], &[]));
    assert!(line.contains("payload: 'streamy'"), "{line}");
}

#[test]
fn non_loopback_listen_without_allow_remote_exits_64() {
    let dir = tempfile::tempdir().unwrap();
    let text = valid_config(&closed_upstream(), "AKIDCLI", &random_hex(20));
    let config = write_file(dir.path(), "proxy.toml", &text);
    let line = config_failure(&serve_with(&config, &["--listen", "0.0.0.0:0"], &[]));
    assert!(line.contains("not a loopback address"), "{line}");
    assert!(line.contains("--allow-remote"), "{line}");
}

#[test]
fn no_credentials_anywhere_exits_64_with_one_line() {
    let upstream = closed_upstream();
    let finished = run_binary(
        &["serve", "--listen", "127.0.0.1:0", "--upstream", &upstream],
        &[(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/zsp-credentials",
        )],
    );
    let line = config_failure(&finished);
    assert!(line.contains("no credentials"), "{line}");
    assert!(line.contains("/nonexistent/zsp-credentials"), "{line}");
}

#[test]
fn unknown_flag_exits_64() {
    let finished = run_binary(&["serve", "--secret-access-key", "not-a-secret"], &[]);
    assert_eq!(finished.code, Some(EXIT_CONFIG), "{finished:?}");
    assert!(
        finished.stderr.contains("--secret-access-key"),
        "{finished:?}"
    );
}

#[test]
fn help_exits_0_and_serve_help_offers_no_secret_flag() {
    let finished = run_binary(&["--help"], &[]);
    assert_eq!(finished.code, Some(0), "{finished:?}");
    assert!(finished.stdout.contains("serve"), "{}", finished.stdout);

    let finished = run_binary(&["serve", "--help"], &[]);
    assert_eq!(finished.code, Some(0), "{finished:?}");
    for flag in [
        "--config",
        "--listen",
        "--upstream",
        "--payload",
        "--profile",
    ] {
        assert!(
            finished.stdout.contains(flag),
            "{flag}: {}",
            finished.stdout
        );
    }
    let lowered = finished.stdout.to_lowercase();
    assert!(!lowered.contains("--secret"), "{}", finished.stdout);
    assert!(!lowered.contains("--access-key"), "{}", finished.stdout);
}

#[test]
fn secret_from_the_config_is_not_in_stderr_of_a_failed_run() {
    let dir = tempfile::tempdir().unwrap();
    let secret = random_hex(20);
    // Several problems at once, in and next to the [credentials] table.
    let text = "payload = \"fastest\"\n".to_owned()
        + &valid_config(&closed_upstream(), "AKIDCLI", &secret)
        + "session_tokn = \"also-secret-ish\"\n";
    let config = write_file(dir.path(), "proxy.toml", &text);
    let finished = serve_with(&config, &[], &[("RUST_LOG", "trace")]);
    let line = config_failure(&finished);
    assert!(line.contains("credentials.session_tokn"), "{line}");
    assert!(!finished.stderr.contains(&secret), "{}", finished.stderr);
    assert!(!finished.stdout.contains(&secret), "{}", finished.stdout);
}

/// A secret written into the upstream URL is refused (user information is
/// not allowed there), and the refusal must not print it.
#[test]
fn secret_in_upstream_user_information_is_not_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let secret = random_hex(20);
    let upstream = format!("http://AKIDCLI:{secret}@127.0.0.1:{}", closed_port());
    let text = valid_config(&upstream, "AKIDCLI", &random_hex(20));
    let config = write_file(dir.path(), "proxy.toml", &text);
    let finished = serve_with(&config, &[], &[]);
    let line = config_failure(&finished);
    assert!(line.contains("upstream:"), "{line}");
    assert!(!finished.stderr.contains(&secret), "{}", finished.stderr);
}

/// A secret written without quotes, as a number, is a type error; the
/// error must name the key without echoing the value.
#[test]
fn wrongly_typed_secret_is_not_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "86753091234567";
    let text = format!("upstream = \"{}\"\n", closed_upstream())
        + "[credentials]\naccess_key_id = \"AKIDCLI\"\n"
        + &format!("secret_access_key = {secret}\n");
    let config = write_file(dir.path(), "proxy.toml", &text);
    let finished = serve_with(&config, &["--listen", "127.0.0.1:0"], &[]);
    let line = config_failure(&finished);
    assert!(line.contains("credentials.secret_access_key"), "{line}");
    assert!(!finished.stderr.contains(secret), "{}", finished.stderr);
}

#[tokio::test]
async fn secret_from_the_config_is_not_in_stderr_of_a_serving_run() {
    let gateway = Gateway::s3s().await;
    let dir = tempfile::tempdir().unwrap();
    let text = valid_config(&gateway.url, &gateway.access_key, &gateway.secret_key);
    let config = write_file(dir.path(), "proxy.toml", &text);
    let proxy = ProxyProcess::spawn(
        &["serve", "--config", config.to_str().unwrap()],
        // The most verbose logging there is, dependencies included.
        &[("RUST_LOG", "trace")],
    )
    .expect("the proxy serves");

    let bucket = unique_name("zsp-cli");
    let reply = send("PUT", &proxy.url(&format!("/{bucket}")), &[], "").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = send("PUT", &proxy.url(&format!("/{bucket}/k")), &[], "body").await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    let stderr = proxy.stop();
    assert!(
        stderr.contains("listening on http://127.0.0.1:"),
        "{stderr}"
    );
    // The log is about this run: it names the access key, which is public...
    assert!(stderr.contains(&gateway.access_key), "{stderr}");
    // ... and never the secret.
    assert!(!stderr.contains(&gateway.secret_key), "{stderr}");
}

#[tokio::test]
async fn credentials_from_the_environment_sign_requests() {
    let gateway = Gateway::s3s().await;
    let upstream = gateway.url.clone();
    let proxy = ProxyProcess::spawn(
        &["serve", "--listen", "127.0.0.1:0", "--upstream", &upstream],
        &[
            ("AWS_ACCESS_KEY_ID", &gateway.access_key),
            ("AWS_SECRET_ACCESS_KEY", &gateway.secret_key),
        ],
    )
    .expect("the proxy serves");
    let bucket = unique_name("zsp-env");
    let reply = send("PUT", &proxy.url(&format!("/{bucket}")), &[], "").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let stderr = proxy.stop();
    assert!(stderr.contains("the environment"), "{stderr}");
    assert!(!stderr.contains(&gateway.secret_key), "{stderr}");
}

#[tokio::test]
async fn named_profile_of_the_shared_credentials_file_signs_requests() {
    let gateway = Gateway::s3s().await;
    let dir = tempfile::tempdir().unwrap();
    let credentials = write_file(
        dir.path(),
        "credentials",
        &format!(
            "[default]\naws_access_key_id = AKIDWRONG\naws_secret_access_key = wrong\n\n\
             [zenko]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            gateway.access_key, gateway.secret_key
        ),
    );
    let upstream = gateway.url.clone();
    let proxy = ProxyProcess::spawn(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &upstream,
            "--profile",
            "zenko",
        ],
        &[("AWS_SHARED_CREDENTIALS_FILE", credentials.to_str().unwrap())],
    )
    .expect("the proxy serves");
    let bucket = unique_name("zsp-profile");
    let reply = send("PUT", &proxy.url(&format!("/{bucket}")), &[], "").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let stderr = proxy.stop();
    assert!(stderr.contains("profile 'zenko'"), "{stderr}");
    assert!(!stderr.contains(&gateway.secret_key), "{stderr}");
}

#[test]
fn missing_named_profile_exits_64() {
    let dir = tempfile::tempdir().unwrap();
    let credentials = write_file(
        dir.path(),
        "credentials",
        "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s\n",
    );
    let upstream = closed_upstream();
    let finished = run_binary(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &upstream,
            "--profile",
            "absent",
        ],
        &[("AWS_SHARED_CREDENTIALS_FILE", credentials.to_str().unwrap())],
    );
    let line = config_failure(&finished);
    assert!(line.contains("profile 'absent' not found"), "{line}");
}

#[tokio::test]
async fn sighup_does_not_stop_the_proxy() {
    let gateway = Gateway::s3s().await;
    let upstream = gateway.url.clone();
    let proxy = ProxyProcess::spawn(
        &["serve", "--listen", "127.0.0.1:0", "--upstream", &upstream],
        &[
            ("AWS_ACCESS_KEY_ID", &gateway.access_key),
            ("AWS_SECRET_ACCESS_KEY", &gateway.secret_key),
        ],
    )
    .expect("the proxy serves");
    proxy.signal("HUP");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let bucket = unique_name("zsp-hup");
    let reply = send("PUT", &proxy.url(&format!("/{bucket}")), &[], "").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let stderr = proxy.stop();
    assert!(stderr.contains("credentials reloaded (SIGHUP)"), "{stderr}");
}

#[tokio::test]
async fn json_logs_carry_one_access_line_per_request_and_no_secret() {
    let gateway = Gateway::s3s().await;
    let dir = tempfile::tempdir().unwrap();
    let text = valid_config(&gateway.url, &gateway.access_key, &gateway.secret_key);
    let config = write_file(dir.path(), "proxy.toml", &text);
    let proxy = ProxyProcess::spawn(
        &[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--log-format",
            "json",
            "--log-level",
            "trace",
        ],
        &[],
    )
    .expect("the proxy serves");
    let bucket = unique_name("zsp-json");
    let url = proxy.url(&format!("/{bucket}?X-Amz-Signature=presigned-secret-value"));
    let reply = send(
        "PUT",
        &url,
        &[("authorization", "AWS client-authorization-value")],
        "",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = send("GET", &proxy.url("/b?a=1&a=2"), &[], "").await;
    assert_eq!(reply.status, 400);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let stderr = proxy.stop();

    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let access: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|line| line["fields"]["message"] == "access")
        .collect();
    assert_eq!(access.len(), 2, "{stderr}");
    assert_eq!(access[0]["fields"]["method"], "PUT");
    assert_eq!(access[0]["fields"]["path"], format!("/{bucket}"));
    assert_eq!(access[0]["fields"]["status"], 200);
    assert_eq!(access[0]["fields"]["answered_by"], "gateway");
    assert_eq!(access[1]["fields"]["status"], 400);
    assert_eq!(access[1]["fields"]["error"], "ProxyDuplicateQueryKey");
    assert_eq!(access[1]["fields"]["answered_by"], "proxy");
    for secret in [
        gateway.secret_key.as_str(),
        "presigned-secret-value",
        "client-authorization-value",
        "Signature=",
    ] {
        assert!(!stderr.contains(secret), "{secret} leaked: {stderr}");
    }
}

#[test]
fn bad_log_level_exits_64() {
    let finished = run_binary(&["serve", "--log-level", "loud"], &[]);
    assert_eq!(finished.code, Some(64), "{finished:?}");
    assert!(
        finished.stderr.contains("--log-level 'loud'"),
        "{}",
        finished.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_a_200_mib_upload_lets_it_finish_then_exits_0() {
    use crate::support::{GeneratedBody, get_sha256, send_body};

    let gateway = Gateway::s3s().await;
    let dir = tempfile::tempdir().unwrap();
    let text = valid_config(&gateway.url, &gateway.access_key, &gateway.secret_key);
    let config = write_file(dir.path(), "proxy.toml", &text);
    let proxy = ProxyProcess::spawn(&["serve", "--config", config.to_str().unwrap()], &[])
        .expect("the proxy serves");
    let bucket = unique_name("zsp-drain");
    assert_eq!(
        send("PUT", &proxy.url(&format!("/{bucket}")), &[], "")
            .await
            .status,
        200
    );

    let url = proxy.url(&format!("/{bucket}/big"));
    let size = 200 << 20;
    let upload = tokio::spawn({
        let url = url.clone();
        async move { send_body("PUT", &url, &[], GeneratedBody::new(size, 5)).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !upload.is_finished(),
        "the upload is still in flight when SIGTERM comes"
    );
    proxy.signal("TERM");

    let reply = upload.await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    let (code, stderr) =
        tokio::task::spawn_blocking(move || proxy.wait_exit(std::time::Duration::from_secs(30)))
            .await
            .unwrap();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("shutting down"), "{stderr}");

    // Stored whole: read it back from the gateway through a new proxy.
    let again = crate::support::TestProxy::start(&gateway, "").await;
    let (status, length, sha) = get_sha256(&again.url(&format!("/{bucket}/big"))).await;
    assert_eq!((status, length), (200, size));
    assert_eq!(sha, GeneratedBody::sha256_hex(size, 5));
}

/// Rewrites the shared credentials file with `key`/`secret`, keeping its
/// modification time when `keep_mtime` (so that only a signal can tell).
fn write_credentials(path: &std::path::Path, key: &str, secret: &str, keep_mtime: bool) {
    let before = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let text = format!("[default]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n");
    std::fs::write(path, text).unwrap();
    if keep_mtime && let Some(before) = before {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(before)
            .unwrap();
    }
}

/// The binary serving in front of `upstream`, with the shared credentials
/// file `file` (and nothing else) for its credentials.
fn serve_with_shared_file(upstream: &str, file: &std::path::Path) -> ProxyProcess {
    // The Backbeat stand-in answers under /_/, which needs its own route.
    let routes = "[[route]]\nprefix = \"/_/backbeat/api/\"\n";
    let config = write_file(file.parent().unwrap(), "routes.toml", routes);
    ProxyProcess::spawn(
        &[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            upstream,
        ],
        &[("AWS_SHARED_CREDENTIALS_FILE", file.to_str().unwrap())],
    )
    .expect("the proxy serves")
}

/// Sends GETs and 16 KiB PUTs through the proxy until `until` is set, counting refusals.
async fn keep_asking(
    proxy_url: String,
    until: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (u32, u32) {
    let (mut sent, mut refused) = (0, 0);
    while !until.load(std::sync::atomic::Ordering::Relaxed) {
        let url = format!("{proxy_url}/_/backbeat/api/metrics/crr/all");
        let reply = if sent % 2 == 0 {
            send("GET", &url, &[], "").await
        } else {
            send("PUT", &url, &[], vec![b'u'; 16 * 1024]).await
        };
        sent += 1;
        if reply.status != 200 {
            refused += 1;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    (sent, refused)
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_rotate_by_file_change_and_by_sighup_without_a_failed_request() {
    use crate::support::backbeat::Backbeat;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let backbeat = Backbeat::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials");
    write_credentials(&file, "KEYONE", &backbeat.secret_key, false);
    let proxy = serve_with_shared_file(&backbeat.url, &file);
    let stop = Arc::new(AtomicBool::new(false));
    let asking = tokio::spawn(keep_asking(proxy.url(""), Arc::clone(&stop)));

    // By file change: the gateway accepts both keys during the change, then
    // only the new one.
    let second = random_hex(20);
    backbeat.secrets.lock().unwrap().push(second.clone());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    write_credentials(&file, "KEYTWO", &second, false);
    tokio::time::sleep(zenko_signing_proxy::reload::POLL_INTERVAL * 2).await;
    *backbeat.secrets.lock().unwrap() = vec![second.clone()];

    // By SIGHUP: the file keeps its old modification time.
    let third = random_hex(20);
    backbeat.secrets.lock().unwrap().push(third.clone());
    write_credentials(&file, "KEYTHREE", &third, true);
    proxy.signal("HUP");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    *backbeat.secrets.lock().unwrap() = vec![third];
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    stop.store(true, Ordering::Relaxed);
    let (sent, refused) = asking.await.unwrap();
    let stderr = proxy.stop();
    assert!(sent > 50, "{sent} requests sent");
    assert_eq!(refused, 0, "{refused} of {sent} refused: {stderr}");
    assert!(
        stderr.contains("credentials reloaded (the credentials file changed)"),
        "{stderr}"
    );
    assert!(stderr.contains("credentials reloaded (SIGHUP)"), "{stderr}");
    assert!(stderr.contains("KEYTHREE"), "{stderr}");
    assert!(!stderr.contains(&second), "a secret was logged: {stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_reload_keeps_the_current_credentials() {
    use crate::support::backbeat::Backbeat;

    let backbeat = Backbeat::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials");
    write_credentials(&file, "KEYONE", &backbeat.secret_key, false);
    let proxy = serve_with_shared_file(&backbeat.url, &file);
    std::fs::write(&file, "[default]\naws_access_key_id = HALFWRITTEN\n").unwrap();
    proxy.signal("HUP");
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let reply = send(
        "GET",
        &proxy.url("/_/backbeat/api/metrics/crr/all"),
        &[],
        "",
    )
    .await;
    assert_eq!(
        reply.status,
        200,
        "still signing with the first key: {}",
        reply.text()
    );
    let stderr = proxy.stop();
    assert!(
        stderr.contains("credential reload failed (SIGHUP)"),
        "{stderr}"
    );
    assert!(stderr.contains("incomplete credentials"), "{stderr}");
}

#[tokio::test]
async fn admin_endpoints_answer_health_readiness_and_metrics() {
    let gateway = Gateway::s3s().await;
    let dir = tempfile::tempdir().unwrap();
    let admin_port = closed_port();
    let text = format!(
        "admin_listen = \"127.0.0.1:{admin_port}\"\n{}",
        valid_config(&gateway.url, &gateway.access_key, &gateway.secret_key)
    );
    let config = write_file(dir.path(), "proxy.toml", &text);
    let proxy = ProxyProcess::spawn(&["serve", "--config", config.to_str().unwrap()], &[])
        .expect("the proxy serves");
    let admin = format!("http://127.0.0.1:{admin_port}");

    assert_eq!(
        send("GET", &format!("{admin}/healthz"), &[], "")
            .await
            .status,
        200
    );
    let ready = send("GET", &format!("{admin}/readyz"), &[], "").await;
    assert_eq!(ready.status, 200, "{}", ready.text());

    let bucket = unique_name("zsp-metrics");
    assert_eq!(
        send("PUT", &proxy.url(&format!("/{bucket}")), &[], "")
            .await
            .status,
        200
    );
    let url = proxy.url(&format!("/{bucket}/k"));
    assert_eq!(send("PUT", &url, &[], "twelve bytes").await.status, 200);
    assert_eq!(
        send("GET", &proxy.url("/b?a=1&a=2"), &[], "").await.status,
        400
    );
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    let metrics = send("GET", &format!("{admin}/metrics"), &[], "")
        .await
        .text();
    let line = |name: &str| {
        metrics
            .lines()
            .find(|line| line.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {metrics}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .to_owned()
    };
    let puts =
        "zenko_signing_proxy_requests_total{route=\"default\",method=\"PUT\",status=\"2xx\"}";
    assert_eq!(line(puts), "2", "{metrics}");
    let refused =
        "zenko_signing_proxy_requests_total{route=\"default\",method=\"GET\",status=\"4xx\"}";
    assert_eq!(line(refused), "1", "{metrics}");
    assert_eq!(
        line("zenko_signing_proxy_request_bytes_total"),
        "12",
        "{metrics}"
    );
    assert!(
        metrics.contains("zenko_signing_proxy_upstream_response_seconds_count 2"),
        "{metrics}"
    );
    assert!(!metrics.contains(&gateway.secret_key));
    let admin_arg = format!("127.0.0.1:{admin_port}");
    let probe =
        tokio::task::spawn_blocking(move || run_binary(&["probe", "--admin", &admin_arg], &[]))
            .await
            .unwrap();
    assert_eq!(probe.code, Some(0), "{probe:?}");
    assert_eq!(probe.stdout, "ready\n");
    drop(proxy);

    // A proxy whose gateway is down is alive but not ready.
    let down = format!("http://127.0.0.1:{}", closed_port());
    let admin_port = closed_port();
    let text = format!(
        "admin_listen = \"127.0.0.1:{admin_port}\"\n{}",
        valid_config(&down, "AKID", "secret-value")
    );
    let config = write_file(dir.path(), "down.toml", &text);
    let proxy = ProxyProcess::spawn(&["serve", "--config", config.to_str().unwrap()], &[])
        .expect("the proxy serves");
    let admin = format!("http://127.0.0.1:{admin_port}");
    assert_eq!(
        send("GET", &format!("{admin}/healthz"), &[], "")
            .await
            .status,
        200
    );
    let ready = send("GET", &format!("{admin}/readyz"), &[], "").await;
    assert_eq!(ready.status, 503, "{}", ready.text());
    assert!(ready.text().contains("does not accept connections"));
    let admin_arg = format!("127.0.0.1:{admin_port}");
    let probe =
        tokio::task::spawn_blocking(move || run_binary(&["probe", "--admin", &admin_arg], &[]))
            .await
            .unwrap();
    assert_eq!(probe.code, Some(1), "{probe:?}");
    assert!(probe.stderr.contains("HTTP 503"), "{}", probe.stderr);
    drop(proxy);
}

/// Writes the answer the test's credential_process prints.
fn write_process_answer(path: &std::path::Path, key: &str, secret: &str, expires_in: i64) {
    let expires = time::OffsetDateTime::now_utc() + time::Duration::seconds(expires_in);
    let expires = expires
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let json = format!(
        "{{\"Version\":1,\"AccessKeyId\":\"{key}\",\"SecretAccessKey\":\"{secret}\",\
         \"SessionToken\":\"token-{key}\",\"Expiration\":\"{expires}\"}}"
    );
    std::fs::write(path, json).unwrap();
}

/// A config whose credentials come from a script that prints `answer`.
fn process_config(
    dir: &std::path::Path,
    upstream: &str,
    answer: &std::path::Path,
) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("fetch-credentials.sh");
    std::fs::write(&script, format!("#!/bin/sh\ncat {}\n", answer.display())).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let text = format!(
        "listen = \"127.0.0.1:0\"\nupstream = \"{upstream}\"\n[credentials]\n\
         credential_process = \"{}\"\n[[route]]\nprefix = \"/_/backbeat/api/\"\n",
        script.display()
    );
    write_file(dir, "proxy.toml", &text)
}

#[tokio::test(flavor = "multi_thread")]
async fn credential_process_credentials_are_fetched_again_before_they_expire() {
    use crate::support::backbeat::Backbeat;

    let backbeat = Backbeat::start().await;
    let dir = tempfile::tempdir().unwrap();
    let answer = dir.path().join("answer.json");
    write_process_answer(&answer, "PROCKEYONE", &backbeat.secret_key, 4);
    let config = process_config(dir.path(), &backbeat.url, &answer);
    let proxy = ProxyProcess::spawn(&["serve", "--config", config.to_str().unwrap()], &[])
        .expect("the proxy serves");
    let url = proxy.url("/_/backbeat/api/metrics/crr/all");
    assert_eq!(send("GET", &url, &[], "").await.status, 200);

    let second = random_hex(20);
    write_process_answer(&answer, "PROCKEYTWO", &second, 3600);
    backbeat.secrets.lock().unwrap().push(second.clone());
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    *backbeat.secrets.lock().unwrap() = vec![second.clone()];
    let reply = send("GET", &url, &[], "").await;
    assert_eq!(
        reply.status,
        200,
        "signed with the new credentials: {}",
        reply.text()
    );

    let stderr = proxy.stop();
    assert!(
        stderr.contains("credential_process fetch-credentials.sh"),
        "{stderr}"
    );
    assert!(
        stderr.contains("credentials reloaded (the credentials expire soon)"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&second) && !stderr.contains("token-PROCKEY"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_credentials_get_503_and_are_never_used() {
    use crate::support::backbeat::Backbeat;

    let backbeat = Backbeat::start().await;
    let dir = tempfile::tempdir().unwrap();
    let answer = dir.path().join("answer.json");
    write_process_answer(&answer, "OLDKEY", &backbeat.secret_key, -60);
    let config = process_config(dir.path(), &backbeat.url, &answer);
    let proxy = ProxyProcess::spawn(&["serve", "--config", config.to_str().unwrap()], &[])
        .expect("the proxy serves");
    let reply = send(
        "GET",
        &proxy.url("/_/backbeat/api/metrics/crr/all"),
        &[],
        "",
    )
    .await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert_eq!(
        reply.error_code().as_deref(),
        Some("ProxyCredentialsExpired")
    );
    assert!(
        backbeat.accepted.lock().unwrap().is_empty(),
        "nothing reached the gateway"
    );
    drop(proxy);
}
