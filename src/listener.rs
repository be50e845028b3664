//! Where the proxy listens: a TCP address (loopback by default) or a unix
//! domain socket (`unix:/path`, created with mode 0600 so that only its
//! owner can ask the proxy to sign). TCP listeners beyond loopback may
//! speak TLS ([`tls`]).

pub mod tls;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// A listen address as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// A TCP socket address; port 0 picks a free port.
    Tcp(SocketAddr),
    /// A unix domain socket at this path.
    Unix(PathBuf),
}

/// A bound listener.
pub enum Listener {
    /// Accepting TCP connections.
    Tcp(TcpListener),
    /// Accepting unix socket connections; the socket file is removed when
    /// the listener is dropped.
    Unix(UnixListener, SocketFile),
}

/// An accepted connection.
pub enum Connection {
    /// Over TCP, from this peer.
    Tcp(TcpStream, SocketAddr),
    /// Over a unix socket.
    Unix(UnixStream),
}

/// The socket file of a unix listener, removed on drop.
pub struct SocketFile(PathBuf);

// === impl ListenAddr ===

impl ListenAddr {
    /// Parses `127.0.0.1:7070`, `[::1]:0` or `unix:/run/proxy.sock`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(path) = text.strip_prefix("unix:") {
            if path.is_empty() {
                return Err("'unix:' needs a path, like unix:/run/zenko-signing-proxy.sock".into());
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        text.parse().map(Self::Tcp).map_err(|_| {
            format!("'{text}' is not an address like 127.0.0.1:7070, [::1]:7070 or unix:/path")
        })
    }

    /// Whether only this machine can reach it: loopback TCP or a unix socket.
    pub fn is_local(&self) -> bool {
        match self {
            Self::Tcp(address) => address.ip().is_loopback(),
            Self::Unix(_) => true,
        }
    }
}

impl ListenAddr {
    /// How a client reaches it: `http://127.0.0.1:7070` or `unix:/path`.
    pub fn url(&self) -> String {
        match self {
            Self::Tcp(address) => format!("http://{address}"),
            Self::Unix(path) => format!("unix:{}", path.display()),
        }
    }
}

/// The config form: `127.0.0.1:7070` or `unix:/path`.
impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(address) => write!(f, "{address}"),
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

// === impl Listener ===

impl Listener {
    /// Binds `address`. A unix socket gets `mode`; a stale socket file left
    /// by an earlier run is replaced, any other file is an error.
    pub async fn bind(address: &ListenAddr, mode: u32) -> std::io::Result<Self> {
        match address {
            ListenAddr::Tcp(address) => TcpListener::bind(address).await.map(Self::Tcp),
            ListenAddr::Unix(path) => bind_unix(path, mode),
        }
    }

    /// The address actually bound (with the port the OS picked).
    pub fn local_addr(&self) -> std::io::Result<ListenAddr> {
        match self {
            Self::Tcp(listener) => listener.local_addr().map(ListenAddr::Tcp),
            Self::Unix(_, file) => Ok(ListenAddr::Unix(file.0.clone())),
        }
    }

    /// The next connection.
    pub async fn accept(&self) -> std::io::Result<Connection> {
        match self {
            Self::Tcp(listener) => {
                let (stream, peer) = listener.accept().await?;
                let _ = stream.set_nodelay(true);
                Ok(Connection::Tcp(stream, peer))
            }
            Self::Unix(listener, _) => listener.accept().await.map(|(s, _)| Connection::Unix(s)),
        }
    }
}

fn bind_unix(path: &Path, mode: u32) -> std::io::Result<Listener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};

    if let Ok(metadata) = std::fs::symlink_metadata(path) {
        if !metadata.file_type().is_socket() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(Listener::Unix(listener, SocketFile(path.to_owned())))
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn addresses_parse() {
        assert_eq!(
            ListenAddr::parse("127.0.0.1:0").unwrap(),
            ListenAddr::Tcp("127.0.0.1:0".parse().unwrap())
        );
        assert_eq!(
            ListenAddr::parse("unix:/run/p.sock").unwrap(),
            ListenAddr::Unix("/run/p.sock".into())
        );
        assert!(ListenAddr::parse("unix:").is_err());
        assert!(ListenAddr::parse("localhost:7070").is_err());
    }

    #[test]
    fn only_loopback_and_unix_sockets_are_local() {
        assert!(ListenAddr::parse("[::1]:7070").unwrap().is_local());
        assert!(ListenAddr::parse("unix:/tmp/x.sock").unwrap().is_local());
        assert!(!ListenAddr::parse("0.0.0.0:7070").unwrap().is_local());
    }

    #[tokio::test]
    async fn unix_socket_is_private_and_removed_after_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("proxy.sock");
        let address = ListenAddr::Unix(path.clone());
        let listener = Listener::bind(&address, 0o600).await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        drop(listener);
        assert!(!path.exists());

        // A stale socket is replaced; a regular file is left alone.
        let stale = Listener::bind(&address, 0o600).await.unwrap();
        std::mem::forget(stale);
        assert!(Listener::bind(&address, 0o600).await.is_ok());
        let file = dir.path().join("not-a-socket");
        std::fs::write(&file, "keep me").unwrap();
        assert!(
            Listener::bind(&ListenAddr::Unix(file.clone()), 0o600)
                .await
                .is_err()
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    }
}
