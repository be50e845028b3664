//! An https gateway: s3s-fs behind TLS with a certificate from a private CA.

use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::support::{Gateway, TestProxy, credentials_table, send};

/// A private CA and a TLS listener for `127.0.0.1` in front of `gateway`.
struct TlsFront {
    url: String,
    ca_file: tempfile::NamedTempFile,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn tls_front(gateway: &Gateway) -> TlsFront {
    tls_front_with(gateway, false).await.0
}

/// The TLS front; with `client_auth`, it asks for a client certificate of
/// its CA, and the files of one such certificate and key come back too.
async fn tls_front_with(
    gateway: &Gateway,
    client_auth: bool,
) -> (
    TlsFront,
    Option<(tempfile::NamedTempFile, tempfile::NamedTempFile)>,
) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();

    let ca_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca_file.path(), ca.pem()).unwrap();

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let chain = vec![CertificateDer::from(server_cert.der().to_vec())];
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap();
    let (builder, client_files) = if client_auth {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(ca.der().to_vec())).unwrap();
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        let client_key = KeyPair::generate().unwrap();
        let client_cert = CertificateParams::new(vec!["proxy-client".to_owned()])
            .unwrap()
            .signed_by(&client_key, &ca)
            .unwrap();
        let cert_file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(cert_file.path(), client_cert.pem()).unwrap();
        let key_file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(key_file.path(), client_key.serialize_pem()).unwrap();
        (
            builder.with_client_cert_verifier(verifier),
            Some((cert_file, key_file)),
        )
    } else {
        (builder.with_no_client_auth(), None)
    };
    let config = builder.with_single_cert(chain, key).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let plain = gateway.url.clone();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let plain = plain.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |request| {
                    forward_plain(plain.clone(), request)
                });
                let http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = http.serve_connection(TokioIo::new(tls), service).await;
            });
        }
    });
    (TlsFront { url, ca_file, task }, client_files)
}

/// Hands a request that arrived over TLS to the plain gateway unchanged
/// (the signature covers `host`, which stays as the proxy sent it).
async fn forward_plain(
    plain: String,
    request: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<hyper::body::Incoming>, hyper_util::client::legacy::Error> {
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .set_host(false)
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let (mut parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    parts.uri = format!("{plain}{path}").parse().unwrap();
    client.request(http::Request::from_parts(parts, body)).await
}

#[tokio::test]
async fn https_gateway_with_a_private_ca_in_ca_file() {
    let gateway = Gateway::s3s().await;
    let front = tls_front(&gateway).await;
    let config = format!(
        "listen = \"127.0.0.1:0\"\nupstream = \"{}\"\nca_file = \"{}\"\n{}",
        front.url,
        front.ca_file.path().display(),
        credentials_table(&gateway.access_key, &gateway.secret_key)
    );
    let proxy = TestProxy::from_toml(&config).await;
    let reply = send("PUT", &proxy.url("/over-tls"), &[], "").await;
    // The TLS front keeps the proxy's Host (https://127.0.0.1:TLSPORT) while
    // s3s-fs listens elsewhere, and s3s-fs checks only the signature, so a
    // 200 here proves the TLS handshake and the signature both held.
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = send("PUT", &proxy.url("/over-tls/k"), &[], "secret data").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = send("GET", &proxy.url("/over-tls/k"), &[], "").await;
    assert_eq!(reply.body, "secret data");
}

#[tokio::test]
async fn https_gateway_with_an_untrusted_certificate_gives_502() {
    let gateway = Gateway::s3s().await;
    let front = tls_front(&gateway).await;
    let config = format!(
        "listen = \"127.0.0.1:0\"\nupstream = \"{}\"\n{}",
        front.url,
        credentials_table(&gateway.access_key, &gateway.secret_key)
    );
    let proxy = TestProxy::from_toml(&config).await;
    let reply = send("GET", &proxy.url("/over-tls"), &[], "").await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert_eq!(
        reply.error_code().as_deref(),
        Some("ProxyUpstreamUnreachable")
    );
    assert!(reply.text().contains("certificate"), "{}", reply.text());
}

#[tokio::test]
async fn https_gateway_that_asks_for_a_client_certificate() {
    let gateway = Gateway::s3s().await;
    let (front, client_files) = tls_front_with(&gateway, true).await;
    let (cert, key) = client_files.unwrap();
    let base = format!(
        "listen = \"127.0.0.1:0\"\nupstream = \"{}\"\nca_file = \"{}\"\n",
        front.url,
        front.ca_file.path().display()
    );
    let credentials = credentials_table(&gateway.access_key, &gateway.secret_key);

    let with_cert = format!(
        "{base}client_cert = \"{}\"\nclient_key = \"{}\"\n{credentials}",
        cert.path().display(),
        key.path().display()
    );
    let proxy = TestProxy::from_toml(&with_cert).await;
    let reply = send("PUT", &proxy.url("/mutual-tls"), &[], "").await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    let without = TestProxy::from_toml(&format!("{base}{credentials}")).await;
    let reply = send("GET", &without.url("/mutual-tls"), &[], "").await;
    assert_eq!(reply.status, 502, "{}", reply.text());
}
