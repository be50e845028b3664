//! The one-shot subcommands, as a user runs them: `request` against the
//! Backbeat route, `presign` URLs fetched with plain curl, `sign` headers
//! sent with curl, and `check-config`.

use crate::support::backbeat::{Backbeat, METRICS};
use crate::support::{Finished, Gateway, TestProxy, credentials_table, run_binary, send};

/// Writes `text` to a config file that lives as long as the result.
fn config_file(text: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

async fn binary(args: Vec<String>) -> Finished {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_binary(&args, &[])
    })
    .await
    .unwrap()
}

fn backbeat_config(backbeat: &Backbeat, secret: &str) -> String {
    format!(
        "upstream = \"{}\"\n[[route]]\nprefix = \"/_/backbeat/api/\"\nsignature = \"v2\"\n{}",
        backbeat.url,
        credentials_table(&backbeat.access_key, secret)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn request_prints_backbeat_metrics_signed_with_v2() {
    let backbeat = Backbeat::start().await;
    let config = config_file(&backbeat_config(&backbeat, &backbeat.secret_key));
    let path = config.path().to_str().unwrap().to_owned();
    let run = binary(vec![
        "request".into(),
        "--config".into(),
        path,
        "GET".into(),
        "/_/backbeat/api/metrics/crr/all".into(),
    ])
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let printed: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let expected: serde_json::Value = serde_json::from_str(METRICS).unwrap();
    assert_eq!(printed, expected);
    assert!(
        run.stdout.contains("\n  \"backlog\": {\n"),
        "pretty: {}",
        run.stdout
    );
    assert_eq!(*backbeat.accepted.lock().unwrap(), ["v2"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn request_with_a_wrong_secret_exits_non_zero_with_the_error() {
    let backbeat = Backbeat::start().await;
    let config = config_file(&backbeat_config(&backbeat, "the-wrong-secret-000000000"));
    let path = config.path().to_str().unwrap().to_owned();
    let args = vec!["request".into(), "--config".into(), path, "GET".into()];
    let run = binary([args, vec!["/_/backbeat/api/metrics/crr/all".into()]].concat()).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(
        run.stderr,
        "zenko-signing-proxy: AccessDenied: Access Denied (HTTP 403)\n"
    );
    assert!(run.stdout.is_empty());
    assert!(!run.stderr.contains("the-wrong-secret"));
}

#[tokio::test]
async fn unsigned_call_to_the_backbeat_route_gets_403() {
    let backbeat = Backbeat::start().await;
    let reply = send(
        "GET",
        &format!("{}/_/backbeat/api/metrics/crr/all", backbeat.url),
        &[],
        "",
    )
    .await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.error_code().as_deref(), Some("AccessDenied"));
}

#[tokio::test]
async fn serve_routes_backbeat_on_v2_and_s3_data_on_v4() {
    let data = Backbeat::start().await;
    let backbeat = Backbeat::start_with(data.access_key.clone(), data.secret_key.clone()).await;
    let config = format!(
        "listen = \"127.0.0.1:0\"\nupstream = \"{}\"\n[[route]]\nprefix = \"/_/backbeat/api/\"\n\
         upstream = \"{}\"\nsignature = \"v2\"\n{}",
        data.url,
        backbeat.url,
        credentials_table(&data.access_key, &data.secret_key)
    );
    let proxy = TestProxy::from_toml(&config).await;

    let reply = send(
        "GET",
        &proxy.url("/_/backbeat/api/metrics/crr/all"),
        &[],
        "",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), METRICS);
    let reply = send("GET", &proxy.url("/bucket/key"), &[], "").await;
    assert_eq!(reply.status, 404, "the data route answers its own 404");

    assert_eq!(*backbeat.accepted.lock().unwrap(), ["v2"]);
    assert_eq!(*data.accepted.lock().unwrap(), ["v4"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn presigned_urls_are_fetched_with_plain_curl() {
    if !crate::clients::client_available("curl", "curl", &["--version"]).await {
        return;
    }
    for gateway in Gateway::all().await {
        let proxy = TestProxy::start(&gateway, "").await;
        let bucket = crate::support::unique_name("zsp-presign");
        assert_eq!(
            send("PUT", &proxy.url(&format!("/{bucket}")), &[], "")
                .await
                .status,
            200
        );
        let key = format!("/{bucket}/shared file+1.txt");
        let wire_key = format!("/{bucket}/shared%20file%2B1.txt");
        assert_eq!(
            send("PUT", &proxy.url(&wire_key), &[], "presigned body")
                .await
                .status,
            200
        );

        let config = config_file(&format!(
            "upstream = \"{}\"\n{}",
            gateway.url,
            credentials_table(&gateway.access_key, &gateway.secret_key)
        ));
        let path = config.path().to_str().unwrap().to_owned();
        for signature in ["v4", "v2"] {
            let url = format!("{}{}", gateway.url, wire_key);
            let run = binary(vec![
                "presign".into(),
                "--config".into(),
                path.clone(),
                "--signature".into(),
                signature.into(),
                "--expires".into(),
                "10m".into(),
                "GET".into(),
                url,
            ])
            .await;
            assert_eq!(run.code, Some(0), "{run:?}");
            let presigned = run.stdout.trim().to_owned();
            assert!(!presigned.contains(&gateway.secret_key));
            let fetched = curl(&["-sS", "-f", &presigned]).await;
            assert_eq!(
                fetched, "presigned body",
                "{} {signature} {key}",
                gateway.name
            );

            let tampered = presigned.replace("shared%20file", "other%20file");
            let refused = curl(&["-s", "-o", "/dev/null", "-w", "%{http_code}", &tampered]).await;
            assert_eq!(refused, "403", "{} {signature}", gateway.name);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_prints_headers_that_curl_can_send() {
    if !crate::clients::client_available("curl", "curl", &["--version"]).await {
        return;
    }
    for gateway in Gateway::all_with_every_signature().await {
        let proxy = TestProxy::start(&gateway, "").await;
        let bucket = crate::support::unique_name("zsp-sign");
        assert_eq!(
            send("PUT", &proxy.url(&format!("/{bucket}")), &[], "")
                .await
                .status,
            200
        );
        let wire_key = format!("/{bucket}/signed-by-cli");
        assert_eq!(
            send("PUT", &proxy.url(&wire_key), &[], "cli body")
                .await
                .status,
            200
        );

        let config = config_file(&credentials_table(&gateway.access_key, &gateway.secret_key));
        let path = config.path().to_str().unwrap().to_owned();
        let url = format!("{}{}", gateway.url, wire_key);
        let run = binary(vec![
            "sign".into(),
            "--config".into(),
            path,
            "--signature".into(),
            gateway.signature.into(),
            "GET".into(),
            url.clone(),
        ])
        .await;
        assert_eq!(run.code, Some(0), "{run:?}");
        let mut args: Vec<String> = vec!["-sS".into(), "-f".into()];
        for line in run.stdout.lines() {
            args.push("-H".into());
            args.push(line.to_owned());
        }
        args.push(url);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(curl(&args).await, "cli body", "{}", gateway.name);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_verbose_explains_without_the_secret() {
    let config = config_file(&credentials_table(
        "AKIAIOSFODNN7EXAMPLE",
        "distinctive-secret-42",
    ));
    let path = config.path().to_str().unwrap().to_owned();
    let run = binary(vec![
        "sign".into(),
        "--config".into(),
        path,
        "--time".into(),
        "2013-05-24T00:00:00Z".into(),
        "--verbose".into(),
        "GET".into(),
        "http://127.0.0.1:9/b/k?acl".into(),
    ])
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout.contains("X-Amz-Date: 20130524T000000Z\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("--- canonical request ---\nGET\n/b/k\nacl=\n"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("20130524/us-east-1/s3/aws4_request"));
    assert!(!run.stdout.contains("distinctive-secret-42"));
    assert!(!run.stderr.contains("distinctive-secret-42"));
}

#[tokio::test(flavor = "multi_thread")]
async fn check_config_prints_the_effective_config_redacted() {
    let config = config_file(&format!(
        "upstream = \"http://127.0.0.1:9\"\n[[route]]\nprefix = \"/_/\"\nsignature = \"v2\"\n{}",
        credentials_table("AKIDCHECK", "distinctive-secret-43")
    ));
    let path = config.path().to_str().unwrap().to_owned();
    let run = binary(vec!["check-config".into(), "--config".into(), path.clone()]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("upstream = \"http://127.0.0.1:9\"\n"));
    assert!(
        run.stdout
            .contains("[[route]]\nprefix = \"/_/\"\nsignature = \"v2\"\n")
    );
    assert!(run.stdout.contains("access_key_id = \"AKIDCHECK\""));
    assert!(!run.stdout.contains("distinctive-secret-43"));

    let broken = config_file("upstream = 7\nsignature = \"v3\"\n");
    let path = broken.path().to_str().unwrap().to_owned();
    let run = binary(vec!["check-config".into(), "--config".into(), path]).await;
    assert_eq!(run.code, Some(64), "{run:?}");
    assert!(
        run.stderr.contains("upstream:") && run.stderr.contains("signature:"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

async fn curl(args: &[&str]) -> String {
    let output = tokio::process::Command::new("curl")
        .args(args)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(30), output)
        .await
        .expect("curl finishes")
        .expect("curl runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}
