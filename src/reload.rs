//! Credential rotation without a restart: on SIGHUP, and when the file the
//! credentials came from changes (the config file or the shared credentials
//! file, looked at every [`POLL_INTERVAL`]), the credentials are loaded
//! again and the proxy signs new requests with them. Requests in flight
//! finish with the credentials they started with. A reload that fails keeps
//! the current credentials and logs why, never the secret.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::config::{Config, Overrides};
use crate::credentials::{self, CredentialSource, Credentials, ProcessEnvironment};
use crate::proxy::Proxy;

/// How often the credentials file is looked at.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Where credentials are reloaded from.
#[derive(Debug, Clone, Default)]
pub struct ReloadSource {
    /// The config file `serve` was started with.
    pub config_path: Option<PathBuf>,
    /// The command-line overrides it was started with.
    pub overrides: Overrides,
}

/// Reloads credentials into a proxy.
struct Reloader {
    source: ReloadSource,
    proxy: Arc<Proxy>,
    watched: Option<PathBuf>,
    seen: Option<SystemTime>,
    /// When to fetch temporary credentials again.
    refresh_at: Option<SystemTime>,
}

/// Temporary credentials are fetched again this long before they expire
/// (or halfway, when they live shorter).
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Starts reloading for `proxy`, whose credentials came from `from`. The
/// task stops when the returned handle is dropped. Made-up demo credentials
/// are never reloaded: SIGHUP is then only logged.
pub fn spawn(
    source: ReloadSource,
    proxy: Arc<Proxy>,
    from: &CredentialSource,
    expires: Option<SystemTime>,
    hangup: HangupSignal,
) -> AbortOnDrop {
    if *from == CredentialSource::Demo {
        return AbortOnDrop(tokio::spawn(log_hangups(hangup.0)));
    }
    let watched = watched_file(&source, from);
    let seen = watched.as_deref().and_then(modified);
    let reloader = Reloader {
        source,
        proxy,
        watched,
        seen,
        refresh_at: expires.map(refresh_time),
    };
    AbortOnDrop(tokio::spawn(reloader.run(hangup.0)))
}

/// SIGHUP, caught from the moment this is made (before, it would end the
/// process): made before the proxy says it listens.
pub struct HangupSignal(Hangup);

impl HangupSignal {
    /// Starts catching SIGHUP.
    pub fn catch() -> Self {
        Self(hangup_signal())
    }
}

/// Aborts a background task when dropped.
pub struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl AbortOnDrop {
    /// Takes charge of `task`.
    pub fn new(task: tokio::task::JoinHandle<()>) -> Self {
        Self(task)
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

// === impl Reloader ===

impl Reloader {
    async fn run(mut self, mut hangup: Hangup) {
        loop {
            tokio::select! {
                Some(()) = recv(&mut hangup) => self.reload("SIGHUP"),
                () = tokio::time::sleep(POLL_INTERVAL) => {
                    if self.file_changed() {
                        self.reload("the credentials file changed");
                    } else if self.refresh_at.is_some_and(|at| at <= SystemTime::now()) {
                        self.reload("the credentials expire soon");
                    }
                }
            }
        }
    }

    fn file_changed(&mut self) -> bool {
        let Some(path) = &self.watched else {
            return false;
        };
        let now = modified(path);
        let changed = now.is_some() && now != self.seen;
        self.seen = now;
        changed
    }

    fn reload(&mut self, why: &str) {
        match self.load() {
            Ok((credentials, from)) => {
                crate::metrics::METRICS.reload(true);
                self.proxy.rotate(&credentials);
                self.watched = watched_file(&self.source, &from);
                self.seen = self.watched.as_deref().and_then(modified);
                self.refresh_at = credentials.expires().map(refresh_time);
                tracing::info!(
                    access_key_id = credentials.access_key_id(),
                    "credentials reloaded ({why})"
                );
            }
            Err(error) => {
                crate::metrics::METRICS.reload(false);
                tracing::warn!(
                    "credential reload failed ({why}): {error}; going on with the current credentials"
                );
            }
        }
    }

    fn load(&self) -> Result<(Credentials, CredentialSource), String> {
        let config = Config::load(self.source.config_path.as_deref(), &self.source.overrides)
            .map_err(|error| error.to_string())?;
        credentials::load(
            &config.credentials,
            config.profile.as_deref(),
            &ProcessEnvironment,
        )
        .map_err(|error| error.to_string())
    }
}

async fn log_hangups(mut hangup: Hangup) {
    while recv(&mut hangup).await.is_some() {
        tracing::info!("SIGHUP received: the demo's credentials are not reloaded");
    }
}

/// When credentials expiring at `expires` are fetched again.
fn refresh_time(expires: SystemTime) -> SystemTime {
    let left = expires
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    expires - REFRESH_MARGIN.min(left / 2)
}

/// The file whose changes mean new credentials.
fn watched_file(source: &ReloadSource, from: &CredentialSource) -> Option<PathBuf> {
    match from {
        CredentialSource::ConfigFile => source.config_path.clone(),
        CredentialSource::SharedFile { path, .. } => Some(path.clone()),
        CredentialSource::Environment
        | CredentialSource::Demo
        | CredentialSource::Process { .. } => None,
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = Option<()>;

fn hangup_signal() -> Hangup {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        signal(SignalKind::hangup()).ok()
    }
    #[cfg(not(unix))]
    None
}

/// The next SIGHUP; never, where there is none.
async fn recv(hangup: &mut Hangup) -> Option<()> {
    #[cfg(unix)]
    if let Some(signal) = hangup {
        return signal.recv().await;
    }
    let _ = hangup;
    std::future::pending().await
}
