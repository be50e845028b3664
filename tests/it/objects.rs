//! Object operations through the proxy, into every available gateway.

use bytes::Bytes;

use crate::support::{
    Gateway, Reply, TestProxy, pseudo_random_bytes, send, send_chunked, sha256_hex, unique_name,
    xml_values,
};

async fn create_bucket(proxy: &TestProxy, gateway: &Gateway) -> String {
    let bucket = unique_name("zsp");
    let reply = send("PUT", &proxy.url(&format!("/{bucket}")), &[], "").await;
    assert_eq!(
        reply.status,
        200,
        "{}: create bucket: {}",
        gateway.name,
        reply.text()
    );
    bucket
}

fn ok(reply: &Reply, gateway: &Gateway, what: &str) {
    assert!(
        (200..300).contains(&reply.status),
        "{}: {what}: {} {}",
        gateway.name,
        reply.status,
        reply.text()
    );
}

#[tokio::test]
async fn put_get_head_range_list_delete_round_trip() {
    for gateway in Gateway::all_with_every_signature().await {
        let proxy = TestProxy::start(&gateway, "").await;
        let bucket = create_bucket(&proxy, &gateway).await;
        let url = proxy.url(&format!("/{bucket}/plain.txt"));

        let reply = send(
            "PUT",
            &url,
            &[("content-type", "text/plain")],
            "hello, world",
        )
        .await;
        ok(&reply, &gateway, "put");

        let reply = send("GET", &url, &[], "").await;
        assert_eq!(reply.body, "hello, world", "{}", gateway.name);
        assert_eq!(
            reply.header("content-type"),
            Some("text/plain"),
            "{}",
            gateway.name
        );

        let reply = send("HEAD", &url, &[], "").await;
        assert_eq!(reply.status, 200, "{}", gateway.name);
        assert_eq!(
            reply.header("content-length"),
            Some("12"),
            "{}",
            gateway.name
        );
        assert!(reply.body.is_empty());

        let reply = send("GET", &url, &[("range", "bytes=7-11")], "").await;
        assert_eq!(reply.status, 206, "{}", gateway.name);
        assert_eq!(reply.body, "world", "{}", gateway.name);

        let reply = send(
            "GET",
            &proxy.url(&format!("/{bucket}?list-type=2")),
            &[],
            "",
        )
        .await;
        assert_eq!(
            xml_values(&reply.text(), "Key"),
            ["plain.txt"],
            "{}",
            gateway.name
        );

        let reply = send("DELETE", &url, &[], "").await;
        assert_eq!(reply.status, 204, "{}", gateway.name);
        let reply = send("GET", &url, &[], "").await;
        assert_eq!(reply.status, 404, "{}", gateway.name);
        assert_eq!(
            reply.error_code().as_deref(),
            Some("NoSuchKey"),
            "{}",
            gateway.name
        );
    }
}

#[tokio::test]
async fn keys_with_awkward_characters_are_stored_under_the_decoded_name() {
    // (path the client sends, key the gateway must store)
    let cases = [
        ("with%20space", "with space"),
        ("plus+is+space", "plus is space"),
        ("real%2Bplus", "real+plus"),
        ("percent%25sign", "percent%sign"),
        ("colon:at@quote'", "colon:at@quote'"),
        ("%C3%A9t%C3%A9-%E2%9C%93", "\u{e9}t\u{e9}-\u{2713}"),
        ("dir/sub/leaf", "dir/sub/leaf"),
        ("paren(1)!*", "paren(1)!*"),
    ];
    for gateway in Gateway::all_with_every_signature().await {
        let proxy = TestProxy::start(&gateway, "").await;
        let bucket = create_bucket(&proxy, &gateway).await;
        for (index, (path, _)) in cases.iter().enumerate() {
            let url = proxy.url(&format!("/{bucket}/{path}"));
            let body = format!("object {index}");
            ok(&send("PUT", &url, &[], body.clone()).await, &gateway, path);
            let reply = send("GET", &url, &[], "").await;
            assert_eq!(reply.text(), body, "{}: {path}", gateway.name);
        }
        let reply = send(
            "GET",
            &proxy.url(&format!("/{bucket}?list-type=2")),
            &[],
            "",
        )
        .await;
        let mut listed = xml_values(&reply.text(), "Key");
        listed.sort();
        let mut expected: Vec<String> = cases
            .iter()
            .map(|(_, key)| key.replace('\'', "&apos;"))
            .collect();
        expected.sort();
        let listed: Vec<String> = listed
            .iter()
            .map(|k| k.replace("&#39;", "&apos;"))
            .collect();
        assert_eq!(listed, expected, "{}", gateway.name);
    }
}

#[tokio::test]
async fn double_slash_in_a_key_is_kept() {
    for gateway in Gateway::all_with_every_signature().await {
        if gateway.is_s3s() {
            // s3s-fs maps keys to files, and a file path cannot hold `//`.
            continue;
        }
        let proxy = TestProxy::start(&gateway, "").await;
        let bucket = create_bucket(&proxy, &gateway).await;
        let url = proxy.url(&format!("/{bucket}/a//b"));
        ok(
            &send("PUT", &url, &[], "double").await,
            &gateway,
            "put a//b",
        );
        let reply = send(
            "GET",
            &proxy.url(&format!("/{bucket}?list-type=2")),
            &[],
            "",
        )
        .await;
        assert_eq!(
            xml_values(&reply.text(), "Key"),
            ["a//b"],
            "{}",
            gateway.name
        );
    }
}

#[tokio::test]
async fn list_with_prefix_delimiter_and_unsorted_query() {
    for gateway in Gateway::all_with_every_signature().await {
        let proxy = TestProxy::start(&gateway, "").await;
        let bucket = create_bucket(&proxy, &gateway).await;
        for key in [
            "photos/2024/a.jpg",
            "photos/2025/b.jpg",
            "photos/top.jpg",
            "docs/x.txt",
        ] {
            let url = proxy.url(&format!("/{bucket}/{key}"));
            ok(&send("PUT", &url, &[], "x").await, &gateway, key);
        }
        let query = "?prefix=photos%2F&list-type=2&delimiter=/&max-keys=100";
        let reply = send("GET", &proxy.url(&format!("/{bucket}{query}")), &[], "").await;
        ok(&reply, &gateway, "list");
        let text = reply.text();
        assert_eq!(
            xml_values(&text, "Key"),
            ["photos/top.jpg"],
            "{}",
            gateway.name
        );
        assert_eq!(
            xml_values(&text, "Prefix")[1..],
            ["photos/2024/", "photos/2025/"],
            "{}: {text}",
            gateway.name
        );
    }
}

#[tokio::test]
async fn client_md5_metadata_and_acl_headers_are_signed_and_applied() {
    for gateway in Gateway::all_with_every_signature().await {
        let proxy = TestProxy::start(&gateway, "").await;
        let bucket = create_bucket(&proxy, &gateway).await;
        let url = proxy.url(&format!("/{bucket}/meta"));
        // MD5 of "metadata body", base64.
        let md5 = "FkOy8qfyy52YrRoZ0NAWUg==";
        let headers = [
            ("content-md5", md5),
            ("x-amz-meta-colour", "blue"),
            ("x-amz-acl", "private"),
        ];
        ok(
            &send("PUT", &url, &headers, "metadata body").await,
            &gateway,
            "put",
        );
        let reply = send("HEAD", &url, &[], "").await;
        assert_eq!(
            reply.header("x-amz-meta-colour"),
            Some("blue"),
            "{}",
            gateway.name
        );

        let wrong = [("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==")];
        let reply = send("PUT", &url, &wrong, "metadata body").await;
        assert_eq!(reply.status, 400, "{}: {}", gateway.name, reply.text());
        assert_eq!(
            reply.error_code().as_deref(),
            Some("BadDigest"),
            "{}",
            gateway.name
        );
    }
}

#[tokio::test]
async fn bogus_incoming_authorization_is_replaced() {
    for gateway in Gateway::all_with_every_signature().await {
        let proxy = TestProxy::start(&gateway, "").await;
        let bucket = create_bucket(&proxy, &gateway).await;
        let url = proxy.url(&format!("/{bucket}/k?X-Amz-Signature=0000"));
        let headers = [
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=NOPE/20200101/us-east-1/s3/aws4_request, \
                 SignedHeaders=host, Signature=0000",
            ),
            ("x-amz-date", "20200101T000000Z"),
            ("x-amz-content-sha256", "0000"),
        ];
        ok(
            &send("PUT", &url, &headers, "replaced").await,
            &gateway,
            "put",
        );
        let reply = send("GET", &proxy.url(&format!("/{bucket}/k")), &headers, "").await;
        assert_eq!(reply.body, "replaced", "{}", gateway.name);
    }
}

#[tokio::test]
async fn chunked_client_body_of_5_mib_is_stored_whole() {
    for gateway in Gateway::all_with_every_signature().await {
        let proxy = TestProxy::start(&gateway, "").await;
        let bucket = create_bucket(&proxy, &gateway).await;
        let data = pseudo_random_bytes(5 << 20, 7);
        let chunks: Vec<Bytes> = data.chunks(100_003).map(Bytes::copy_from_slice).collect();
        let url = proxy.url(&format!("/{bucket}/chunked.bin"));
        ok(
            &send_chunked("PUT", &url, &[], chunks).await,
            &gateway,
            "chunked put",
        );
        let reply = send("GET", &url, &[], "").await;
        assert_eq!(reply.body.len(), data.len(), "{}", gateway.name);
        assert_eq!(
            sha256_hex(&reply.body),
            sha256_hex(&data),
            "{}",
            gateway.name
        );
    }
}

#[tokio::test]
async fn every_payload_mode_stores_the_same_bytes() {
    for gateway in Gateway::all().await {
        for mode in ["auto", "signed", "unsigned", "streaming"] {
            let extra = format!(
                "payload = \"{mode}\"\nmemory_body_limit = \"64KiB\"\nchunk_size = \"8KiB\""
            );
            let proxy = TestProxy::start(&gateway, &extra).await;
            let bucket = create_bucket(&proxy, &gateway).await;
            for (size, name) in [(0, "empty"), (1000, "small"), (300_000, "spooled")] {
                let data = pseudo_random_bytes(size, size as u64);
                let url = proxy.url(&format!("/{bucket}/{name}"));
                ok(&send("PUT", &url, &[], data.clone()).await, &gateway, name);
                let reply = send("GET", &url, &[], "").await;
                assert_eq!(reply.body.len(), size, "{} {mode} {name}", gateway.name);
                assert_eq!(
                    sha256_hex(&reply.body),
                    sha256_hex(&data),
                    "{} {mode}",
                    gateway.name
                );
            }
        }
    }
}

#[tokio::test]
async fn multipart_upload_with_awkward_upload_id() {
    for gateway in Gateway::all_with_every_signature().await {
        let proxy = TestProxy::start(&gateway, "").await;
        let bucket = create_bucket(&proxy, &gateway).await;
        let key_url = proxy.url(&format!("/{bucket}/multi+part"));

        let reply = send("POST", &format!("{key_url}?uploads"), &[], "").await;
        ok(&reply, &gateway, "create multipart upload");
        let upload_id = xml_values(&reply.text(), "UploadId").remove(0);
        if gateway.is_s3s() {
            assert!(upload_id.ends_with("+a/b=="), "{upload_id}");
        }
        let encoded_id: String = url_encode(&upload_id);

        let part_one = pseudo_random_bytes(5 << 20, 1);
        let part_two = pseudo_random_bytes(1234, 2);
        let mut etags = Vec::new();
        for (number, part) in [(1, &part_one), (2, &part_two)] {
            let url = format!("{key_url}?partNumber={number}&uploadId={encoded_id}");
            let reply = send("PUT", &url, &[], part.clone()).await;
            ok(&reply, &gateway, "upload part");
            etags.push(reply.header("etag").unwrap().to_owned());
        }

        let complete = format!(
            "<CompleteMultipartUpload>\
             <Part><PartNumber>1</PartNumber><ETag>{}</ETag></Part>\
             <Part><PartNumber>2</PartNumber><ETag>{}</ETag></Part>\
             </CompleteMultipartUpload>",
            etags[0], etags[1]
        );
        let reply = send(
            "POST",
            &format!("{key_url}?uploadId={encoded_id}"),
            &[],
            complete,
        )
        .await;
        ok(&reply, &gateway, "complete multipart upload");

        let reply = send("GET", &key_url, &[], "").await;
        let mut expected = part_one.clone();
        expected.extend_from_slice(&part_two);
        assert_eq!(
            sha256_hex(&reply.body),
            sha256_hex(&expected),
            "{}",
            gateway.name
        );
        let reply = send(
            "GET",
            &proxy.url(&format!("/{bucket}?list-type=2")),
            &[],
            "",
        )
        .await;
        assert_eq!(
            xml_values(&reply.text(), "Key"),
            ["multi part"],
            "{}",
            gateway.name
        );
    }
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn multi_object_delete_with_content_md5() {
    for gateway in Gateway::all_with_every_signature().await {
        let proxy = TestProxy::start(&gateway, "").await;
        let bucket = create_bucket(&proxy, &gateway).await;
        for key in ["one", "two", "keep"] {
            let url = proxy.url(&format!("/{bucket}/{key}"));
            ok(&send("PUT", &url, &[], key).await, &gateway, key);
        }
        let body = "<Delete><Quiet>true</Quiet><Object><Key>one</Key></Object>\
                    <Object><Key>two</Key></Object></Delete>";
        let md5 = crate::support::md5_base64(body.as_bytes());
        let url = proxy.url(&format!("/{bucket}?delete"));
        let reply = send("POST", &url, &[("content-md5", md5.as_str())], body).await;
        ok(&reply, &gateway, "delete objects");
        let reply = send(
            "GET",
            &proxy.url(&format!("/{bucket}?list-type=2")),
            &[],
            "",
        )
        .await;
        assert_eq!(
            xml_values(&reply.text(), "Key"),
            ["keep"],
            "{}",
            gateway.name
        );
    }
}

#[tokio::test]
async fn subresources_acl_versioning_and_location_are_signed() {
    for gateway in Gateway::all_with_every_signature().await {
        let proxy = TestProxy::start(&gateway, "").await;
        let bucket = create_bucket(&proxy, &gateway).await;
        let reply = send("GET", &proxy.url(&format!("/{bucket}?location")), &[], "").await;
        ok(&reply, &gateway, "location");
        for subresource in ["acl", "versioning"] {
            let reply = send(
                "GET",
                &proxy.url(&format!("/{bucket}?{subresource}")),
                &[],
                "",
            )
            .await;
            if gateway.is_s3s() {
                // s3s-fs checks the signature, then has no such operation.
                assert_eq!(
                    reply.status,
                    501,
                    "{} {subresource}: {}",
                    gateway.name,
                    reply.text()
                );
                assert_eq!(reply.error_code().as_deref(), Some("NotImplemented"));
            } else {
                ok(&reply, &gateway, subresource);
            }
        }
        if !gateway.is_s3s() {
            let body =
                "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>";
            let url = proxy.url(&format!("/{bucket}?versioning"));
            ok(
                &send("PUT", &url, &[], body).await,
                &gateway,
                "enable versioning",
            );
            let reply = send("GET", &url, &[], "").await;
            assert!(
                reply.text().contains("<Status>Enabled</Status>"),
                "{}",
                reply.text()
            );
        }
    }
}

#[tokio::test]
async fn virtual_host_style_clients_reach_their_bucket() {
    for gateway in Gateway::all_with_every_signature().await {
        let proxy = TestProxy::start(&gateway, "").await;
        let bucket = create_bucket(&proxy, &gateway).await;
        let host = format!("{bucket}.localhost:{}", proxy.addr.port());
        let headers = [("host", host.as_str())];
        ok(
            &send("PUT", &proxy.url("/vhost.txt"), &headers, "by host").await,
            &gateway,
            "put",
        );
        let reply = send("GET", &proxy.url(&format!("/{bucket}/vhost.txt")), &[], "").await;
        assert_eq!(reply.body, "by host", "{}", gateway.name);
        let reply = send("GET", &proxy.url("/?list-type=2"), &headers, "").await;
        assert_eq!(
            xml_values(&reply.text(), "Key"),
            ["vhost.txt"],
            "{}",
            gateway.name
        );
    }
}

#[tokio::test]
async fn virtual_host_addressing_towards_the_gateway() {
    for signature in ["v4", "v2"] {
        let gateway = Gateway::s3s_virtual_host().await;
        let extra = format!("addressing = \"virtual-host\"\nsignature = \"{signature}\"");
        let proxy = TestProxy::from_toml(&format!(
            "{extra}\nlisten = \"127.0.0.1:0\"\nupstream = \"{}\"\n{}",
            gateway.url,
            crate::support::credentials_table(&gateway.access_key, &gateway.secret_key)
        ))
        .await;
        let bucket = unique_name("zsp-vh");
        let reply = send("PUT", &proxy.url(&format!("/{bucket}")), &[], "").await;
        assert_eq!(reply.status, 200, "{signature}: {}", reply.text());
        let reply = send(
            "PUT",
            &proxy.url(&format!("/{bucket}/dir/key")),
            &[],
            "by virtual host",
        )
        .await;
        assert_eq!(reply.status, 200, "{signature}: {}", reply.text());
        let reply = send("GET", &proxy.url(&format!("/{bucket}/dir/key")), &[], "").await;
        assert_eq!(reply.body, "by virtual host", "{signature}");
        let reply = send(
            "GET",
            &proxy.url(&format!("/{bucket}?list-type=2&prefix=dir%2F")),
            &[],
            "",
        )
        .await;
        assert_eq!(
            xml_values(&reply.text(), "Key"),
            ["dir/key"],
            "{signature}: {}",
            reply.text()
        );
    }
}
