//! The gateway: its address, and the pooled HTTP client that reaches it.
//!
//! The client is `hyper-util`'s pooled client over `rustls` (HTTP/1.1, with
//! keep-alive). A gateway that refuses the connection or fails TLS is a 502,
//! one that sends no response headers within the response timeout is a 504.
//! There is no deadline on the whole exchange: a long transfer is never cut.

use std::path::{Path, PathBuf};
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::{HeaderValue, Request, Response, Uri};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use thiserror::Error;

use http_body_util::BodyExt;

use crate::body::UpstreamBody;
use crate::body::detach::Detachable;
use crate::body::end_signal::EndSignal;
use crate::body::idle::SendWatch;
use crate::error::{ErrorKind, ProxyError};

/// Bytes read from the gateway at a time: large reads, few system calls.
const READ_BUFFER: usize = 256 * 1024;

/// The gateway's base URL, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    scheme: Scheme,
    authority: Authority,
    host_header: HeaderValue,
}

/// Timeouts towards the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Time allowed to open the TCP connection.
    pub connect: Duration,
    /// Time allowed from sending the request to the response headers.
    pub response: Duration,
    /// The longest the gateway may take no byte of a request body.
    pub idle: Duration,
}

/// How the proxy trusts the gateway's TLS certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// A PEM file of CA certificates trusted besides the system's roots.
    pub ca_file: Option<PathBuf>,
    /// A PEM certificate chain and its private key, for gateways that ask
    /// for a client certificate.
    pub client_identity: Option<(PathBuf, PathBuf)>,
}

/// Why the TLS client cannot be set up.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A CA, certificate or key file cannot be read or holds nothing valid.
    #[error("cannot use {}: {reason}", .path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The gateway is reached over https and no CA is trusted at all.
    #[error("no trusted CA certificates: the system has none and no ca_file is set")]
    NoRoots,
    /// rustls refused the configuration.
    #[error("cannot configure TLS")]
    Rustls(#[source] rustls::Error),
}

/// The pooled client used for every request to the gateway.
#[derive(Clone)]
pub struct UpstreamClient {
    client: Client<HttpsConnector<HttpConnector>, UpstreamBody>,
    response_timeout: Duration,
    send_idle: Duration,
}

// === impl Upstream ===

impl Upstream {
    /// Parses a base URL such as `http://zenko.local` or `https://s3.example:8443`.
    ///
    /// The URL names a scheme and an authority only: no path (the proxy sends
    /// the client's path as it is), no query and no user information.
    pub fn parse(url: &str) -> Result<Self, String> {
        if let Some((_, after)) = url.split_once("://")
            && after
                .split('/')
                .next()
                .is_some_and(|authority| authority.contains('@'))
        {
            // The URL is not echoed: its user information may hold a secret.
            return Err("the URL must not hold user information (credentials go elsewhere)".into());
        }
        let uri: Uri = url
            .parse()
            .map_err(|_| format!("'{url}' is not a URL like http://zenko.local"))?;
        let scheme = uri
            .scheme()
            .filter(|s| matches!(s.as_str(), "http" | "https"))
            .ok_or_else(|| format!("'{url}' must start with http:// or https://"))?
            .clone();
        let authority = uri
            .authority()
            .filter(|a| !a.host().is_empty())
            .ok_or_else(|| format!("'{url}' has no host"))?
            .clone();
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(format!("'{url}' must not have a path or query"));
        }
        let host_header = host_header(&scheme, &authority)?;
        Ok(Self {
            scheme,
            authority,
            host_header,
        })
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// The authority as given (`host:port`).
    pub fn authority(&self) -> &str {
        self.authority.as_str()
    }

    /// The `Host` header sent and signed: the authority without a default port.
    pub fn host_header(&self) -> &HeaderValue {
        &self.host_header
    }

    /// `host:port` to open a TCP connection to (the default port filled in).
    pub fn socket_authority(&self) -> String {
        let port = self
            .authority
            .port_u16()
            .unwrap_or(if self.scheme == Scheme::HTTPS {
                443
            } else {
                80
            });
        format!("{}:{port}", self.authority.host())
    }

    /// The full URI of `path_and_query` on this gateway.
    pub fn uri_for(&self, path_and_query: &str) -> Result<Uri, ProxyError> {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|_| ProxyError::new(ErrorKind::InvalidRequest, "the request URI is invalid"))
    }
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority)
    }
}

fn host_header(scheme: &Scheme, authority: &Authority) -> Result<HeaderValue, String> {
    let default_port = if *scheme == Scheme::HTTPS { 443 } else { 80 };
    let host = match authority.port_u16() {
        Some(port) if port == default_port => authority.host(),
        _ => authority.as_str(),
    };
    HeaderValue::from_str(host).map_err(|_| format!("'{authority}' is not a valid host"))
}

// === impl UpstreamClient ===

impl UpstreamClient {
    /// Builds the pooled client. TLS trusts the system's root certificates
    /// and those of `tls.ca_file`; with `needs_tls`, having none is an error.
    pub fn new(timeouts: Timeouts, tls: &TlsSettings, needs_tls: bool) -> Result<Self, TlsError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(timeouts.connect));

        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(tls, needs_tls)?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .http1_read_buf_exact_size(READ_BUFFER)
            .build(https);
        Ok(Self {
            client,
            response_timeout: timeouts.response,
            send_idle: timeouts.idle,
        })
    }

    /// Sends `request` and waits for the response headers, at most the
    /// response timeout after the request body has been sent.
    pub async fn send(
        &self,
        request: Request<UpstreamBody>,
    ) -> Result<Response<Incoming>, ProxyError> {
        let started = std::time::Instant::now();
        let (parts, body) = request.into_parts();
        let (body, sent) = EndSignal::new(body);
        let (body, progress) = SendWatch::watch(body);
        // Given up (this future dropped, or a timeout), the body is taken
        // back from the connection, which may hold it long after.
        let (body, detach) = Detachable::new(body.boxed_unsync());
        let pending = self
            .client
            .request(Request::from_parts(parts, body.boxed_unsync()));

        // While the body goes out, the gateway must keep taking it; the
        // wait for headers starts once the whole body has gone out.
        let deadline = async {
            tokio::select! {
                _ = sent => {}
                () = progress.reader_stalled(self.send_idle) => {
                    return ProxyError::new(
                        ErrorKind::UpstreamTimeout,
                        format!(
                            "the gateway took no byte of the request body for {}",
                            humantime::format_duration(self.send_idle)
                        ),
                    );
                }
            }
            tokio::time::sleep(self.response_timeout).await;
            ProxyError::new(
                ErrorKind::UpstreamTimeout,
                format!(
                    "the gateway sent no response within {} of the end of the request",
                    humantime::format_duration(self.response_timeout)
                ),
            )
        };
        tokio::select! {
            outcome = pending => {
                if outcome.is_ok() {
                    detach.disarm();
                }
                let seconds = started.elapsed().as_secs_f64();
                crate::metrics::METRICS.upstream_latency.observe(seconds);
                outcome.map_err(|error| classify(&error))
            }
            error = deadline => Err(error),
        }
    }
}

fn tls_config(tls: &TlsSettings, needs_tls: bool) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    let system = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(system.certs);
    tracing::debug!(added, "system root certificates loaded");
    if let Some(path) = &tls.ca_file {
        add_ca_file(&mut roots, path)?;
    }
    if needs_tls && roots.is_empty() {
        return Err(TlsError::NoRoots);
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Rustls)?
        .with_root_certificates(roots);
    match &tls.client_identity {
        None => Ok(builder.with_no_client_auth()),
        Some((cert, key)) => {
            let (chain, key) = client_identity(cert, key)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(TlsError::Rustls)
        }
    }
}

/// The client certificate chain and key, from PEM files.
fn client_identity(
    cert: &Path,
    key: &Path,
) -> Result<
    (
        Vec<rustls::pki_types::CertificateDer<'static>>,
        rustls::pki_types::PrivateKeyDer<'static>,
    ),
    TlsError,
> {
    Ok((pem_certificates(cert)?, pem_private_key(key)?))
}

fn add_ca_file(roots: &mut rustls::RootCertStore, path: &Path) -> Result<(), TlsError> {
    for certificate in pem_certificates(path)? {
        roots.add(certificate).map_err(|error| TlsError::File {
            path: path.to_owned(),
            reason: error.to_string(),
        })?;
    }
    Ok(())
}

/// The certificates of a PEM file; a file with none is an error.
pub(crate) fn pem_certificates(
    path: &Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, TlsError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let failed = |reason: String| TlsError::File {
        path: path.to_owned(),
        reason,
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|error| failed(error.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| failed(error.to_string()))?;
    if certificates.is_empty() {
        return Err(failed("no PEM certificate in it".to_owned()));
    }
    Ok(certificates)
}

/// The private key of a PEM file.
pub(crate) fn pem_private_key(
    path: &Path,
) -> Result<rustls::pki_types::PrivateKeyDer<'static>, TlsError> {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;

    // NB: the key's own error is not shown: it could quote key material.
    PrivateKeyDer::from_pem_file(path).map_err(|_| TlsError::File {
        path: path.to_owned(),
        reason: "no readable PEM private key in it".to_owned(),
    })
}

/// Maps a client failure to the proxy's error; the cause goes to the log,
/// the client sees a short message.
fn classify(error: &hyper_util::client::legacy::Error) -> ProxyError {
    let cause = crate::error::chain(error);
    tracing::debug!(%cause, "request to the gateway failed");
    if error.is_connect() {
        let kind = if cause.contains("timed out") || cause.contains("timeout") {
            ErrorKind::UpstreamTimeout
        } else {
            ErrorKind::UpstreamUnreachable
        };
        return ProxyError::new(kind, format!("cannot connect to the gateway: {cause}"));
    }
    if let Some(body_error) = body_error_cause(error) {
        return crate::body::client_body_error(body_error);
    }
    ProxyError::new(
        ErrorKind::UpstreamBroken,
        format!("the gateway's answer was broken: {cause}"),
    )
}

/// The failure of the body the proxy was sending (the client's body broke),
/// when that, rather than the gateway, ended the request.
fn body_error_cause<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a (dyn std::error::Error + 'static)> {
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(hyper_error) = cause.downcast_ref::<hyper::Error>()
            && hyper_error.is_user()
        {
            return Some(cause);
        }
        source = cause.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ports_are_left_out_of_the_host_header() {
        let http = Upstream::parse("http://zenko.local:80").unwrap();
        assert_eq!(http.host_header(), "zenko.local");
        let https = Upstream::parse("https://zenko.local:443/").unwrap();
        assert_eq!(https.host_header(), "zenko.local");
        let other = Upstream::parse("http://127.0.0.1:8000").unwrap();
        assert_eq!(other.host_header(), "127.0.0.1:8000");
        let v6 = Upstream::parse("http://[::1]:9000").unwrap();
        assert_eq!(v6.host_header(), "[::1]:9000");
    }

    #[test]
    fn uri_for_joins_the_path() {
        let upstream = Upstream::parse("http://127.0.0.1:8000").unwrap();
        let uri = upstream.uri_for("/b/k%20x?acl").unwrap();
        assert_eq!(uri.to_string(), "http://127.0.0.1:8000/b/k%20x?acl");
    }
}
