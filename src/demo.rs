//! The embedded demo upstream: a local S3 server that verifies signatures
//! (s3s-fs, storing objects in a temporary directory), started in process on
//! a loopback port when `serve` has no gateway.
//!
//! It exists so that the proxy can be tried on a fresh machine with nothing
//! else installed. It is compiled only with the `embedded-upstream` cargo
//! feature, so that the production binary carries no S3 server; without the
//! feature, [`AVAILABLE`] is false and `serve` asks for `--upstream`.

use std::hash::{BuildHasher, Hasher};
use std::path::Path;

use crate::credentials::Credentials;
use crate::listener::ListenAddr;
use crate::upstream::Upstream;

/// Whether this build carries the demo upstream.
pub const AVAILABLE: bool = cfg!(feature = "embedded-upstream");

/// The bucket the try-it commands use.
pub const DEMO_BUCKET: &str = "demo";

/// A running demo upstream; dropping it stops the server and removes its data.
pub struct DemoUpstream {
    upstream: Upstream,
    #[cfg(feature = "embedded-upstream")]
    data: tempfile::TempDir,
    #[cfg(feature = "embedded-upstream")]
    task: tokio::task::JoinHandle<()>,
}

// === impl DemoUpstream ===

impl DemoUpstream {
    /// Starts s3s-fs on `127.0.0.1:0`, accepting only `credentials`.
    #[cfg(feature = "embedded-upstream")]
    pub async fn start(credentials: &Credentials) -> std::io::Result<Self> {
        use hyper_util::rt::{TokioExecutor, TokioIo};
        use hyper_util::server::conn::auto;

        let data = tempfile::Builder::new()
            .prefix("zenko-signing-proxy-demo-")
            .tempdir()?;
        let filesystem = s3s_fs::FileSystem::new(data.path())
            .map_err(|error| std::io::Error::other(format!("{error:?}")))?;
        let mut builder = s3s::service::S3ServiceBuilder::new(filesystem);
        builder.set_auth(s3s::auth::SimpleAuth::from_single(
            credentials.access_key_id(),
            credentials.secret_access_key(),
        ));
        let service = builder.build();

        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let upstream =
            Upstream::parse(&format!("http://{address}")).map_err(std::io::Error::other)?;
        let task = tokio::spawn(async move {
            let http = auto::Builder::new(TokioExecutor::new());
            while let Ok((stream, _)) = listener.accept().await {
                let connection = http
                    .serve_connection(TokioIo::new(stream), service.clone())
                    .into_owned();
                tokio::spawn(connection);
            }
        });
        tracing::info!(%upstream, data = %data.path().display(), "embedded demo upstream (s3s-fs) started");
        Ok(Self {
            upstream,
            data,
            task,
        })
    }

    /// Without the `embedded-upstream` feature there is nothing to start.
    #[cfg(not(feature = "embedded-upstream"))]
    pub async fn start(_credentials: &Credentials) -> std::io::Result<Self> {
        Err(std::io::Error::other(
            "this build has no embedded upstream (cargo feature embedded-upstream)",
        ))
    }

    /// The demo server's address.
    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// Where the demo server keeps its objects.
    #[cfg(feature = "embedded-upstream")]
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// Where the demo server keeps its objects.
    #[cfg(not(feature = "embedded-upstream"))]
    pub fn data_dir(&self) -> &Path {
        Path::new("")
    }
}

#[cfg(feature = "embedded-upstream")]
impl Drop for DemoUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Fresh credentials for the demo, known only to this process.
pub fn demo_credentials() -> Credentials {
    let random = || std::hash::RandomState::new().build_hasher().finish();
    let access_key_id = format!("DEMO{:016X}", random());
    let secret = format!("{:016x}{:016x}{:08x}", random(), random(), random() as u32);
    Credentials::new(access_key_id, secret, None)
}

/// What the listener asks of clients beyond a plain request.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientNeeds {
    /// The listener speaks TLS.
    pub tls: bool,
    /// Every request needs the proxy's token.
    pub token: bool,
}

/// The commands to try, printed when the demo starts.
pub fn try_it(proxy: &ListenAddr, data_dir: &Path, needs: ClientNeeds) -> String {
    let scheme = if needs.tls { "https" } else { "http" };
    let base = match proxy {
        ListenAddr::Tcp(address) => format!("{scheme}://{address}"),
        ListenAddr::Unix(path) => format!("--unix-socket {} http://localhost", path.display()),
    };
    let mut notes = String::new();
    if needs.tls {
        notes.push_str(
            "The listener speaks TLS: add --cacert with the CA of tls_cert (and --cert and \
             --key with tls_client_ca).\n",
        );
    }
    if needs.token {
        notes.push_str(
            "The listener wants its token: add -H @FILE, FILE holding the line \
             'X-Proxy-Token: <client_token>'.\n",
        );
    }
    format!(
        "\nThe proxy is serving in front of an embedded demo S3 server (s3s-fs, data in {dir}).\n\
         It checks every signature; the proxy signs for you. Try, in another terminal:\n\n  \
         curl -X PUT {base}/{DEMO_BUCKET}\n  \
         echo 'hello, signed world' | curl -T - {base}/{DEMO_BUCKET}/hello.txt\n  \
         curl {base}/{DEMO_BUCKET}/hello.txt\n  \
         curl '{base}/{DEMO_BUCKET}?list-type=2'\n  \
         curl -X DELETE {base}/{DEMO_BUCKET}/hello.txt\n\n\
         {notes}Stop with Ctrl-C.\n",
        dir = data_dir.display(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_credentials_differ_each_time() {
        let first = demo_credentials();
        let second = demo_credentials();
        assert_ne!(first.secret_access_key(), second.secret_access_key());
        assert!(first.secret_access_key().len() >= 40);
    }

    #[test]
    fn try_it_names_the_proxy_address() {
        let tcp = ListenAddr::parse("127.0.0.1:7070").unwrap();
        let plain = ClientNeeds::default();
        let text = try_it(&tcp, Path::new("/tmp/x"), plain);
        assert!(text.contains("curl http://127.0.0.1:7070/demo/hello.txt"));
        assert!(!text.contains("X-Proxy-Token"));
        let both = ClientNeeds {
            tls: true,
            token: true,
        };
        let text = try_it(&tcp, Path::new("/tmp/x"), both);
        assert!(text.contains("curl https://127.0.0.1:7070/demo/hello.txt"));
        assert!(text.contains("X-Proxy-Token") && text.contains("--cacert"));
        let unix = ListenAddr::parse("unix:/tmp/p.sock").unwrap();
        let text = try_it(&unix, Path::new("/tmp/x"), plain);
        assert!(text.contains("curl --unix-socket /tmp/p.sock http://localhost/demo/hello.txt"));
    }
}
