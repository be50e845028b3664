//! TLS on the client side of the proxy, for listeners beyond loopback:
//! the proxy's certificate (`tls_cert`, `tls_key`) and, with
//! `tls_client_ca`, client certificates required and verified against it.
//! A client without a valid certificate fails the handshake and never
//! sends a request.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use tokio_rustls::TlsAcceptor;

use crate::upstream::{TlsError, pem_certificates, pem_private_key};

/// The listener's TLS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerTls {
    /// The proxy's certificate chain, PEM.
    pub cert: PathBuf,
    /// The proxy's private key, PEM.
    pub key: PathBuf,
    /// The CA that issues client certificates; when set, every client
    /// must present one.
    pub client_ca: Option<PathBuf>,
}

// === impl ListenerTls ===

impl ListenerTls {
    /// The acceptor for these settings; fails on unreadable or bad files.
    pub fn acceptor(&self) -> Result<TlsAcceptor, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Rustls)?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let mut roots = rustls::RootCertStore::empty();
                let failed = |reason: String| TlsError::File {
                    path: path.clone(),
                    reason,
                };
                for certificate in pem_certificates(path)? {
                    roots
                        .add(certificate)
                        .map_err(|error| failed(error.to_string()))?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .map_err(|error| failed(error.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let chain = pem_certificates(&self.cert)?;
        let key = pem_private_key(&self.key)?;
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(TlsError::Rustls)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}
