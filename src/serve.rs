//! `serve`: from a validated [`Config`] to a running proxy.
//!
//! Loads the credentials (failing closed when there are none), starts the
//! embedded demo upstream when no gateway is configured and the binary was
//! built with it, binds the listener, and serves until shutdown.

use std::future::Future;
use std::sync::Arc;

use thiserror::Error;

use crate::config::Config;
use crate::credentials::{self, CredentialSource, Credentials, CredentialsError, Environment};
use crate::guard::Guard;
use crate::limits::InFlight;
use crate::listener::tls::ListenerTls;
use crate::listener::{ListenAddr, Listener};
use crate::proxy::{Proxy, ProxySettings};
use crate::reload::{self, HangupSignal, ReloadSource};
use crate::server::{self, ServerSettings};
use crate::upstream::{TlsError, Upstream, UpstreamClient};

/// Why the proxy cannot start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServeError {
    /// No usable credentials.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// No gateway configured, and no embedded upstream in this build.
    #[error(
        "no upstream given: pass --upstream URL or set upstream in the config \
         (builds with --features embedded-upstream start a local demo gateway instead)"
    )]
    NoUpstream,
    /// The listen address cannot be bound.
    #[error("cannot listen on {address}")]
    Bind {
        /// The address.
        address: ListenAddr,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The TLS client cannot be set up (no roots, a bad `ca_file`).
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The listener's TLS cannot be set up from its files.
    #[error("tls_cert, tls_key, tls_client_ca: cannot serve TLS")]
    ListenerTls(#[source] TlsError),
    /// The embedded demo upstream cannot start.
    #[error("cannot start the embedded demo upstream")]
    Demo(#[source] std::io::Error),
}

/// A proxy that is bound and ready to serve.
pub struct Service {
    listener: Listener,
    admin: Option<(tokio::net::TcpListener, Vec<Upstream>)>,
    credential_source: CredentialSource,
    credential_expiry: Option<std::time::SystemTime>,
    reload: ReloadSource,
    hangup: HangupSignal,
    server: ServerSettings,
    client_needs: crate::demo::ClientNeeds,
    proxy: Arc<Proxy>,
    local_addr: ListenAddr,
    upstream: Upstream,
    demo: Option<crate::demo::DemoUpstream>,
}

// === impl ServeError ===

impl ServeError {
    /// Whether the operator's configuration is at fault (exit code 64).
    pub fn is_config_error(&self) -> bool {
        matches!(
            self,
            Self::Credentials(_) | Self::NoUpstream | Self::Tls(_) | Self::ListenerTls(_)
        )
    }
}

// === impl Service ===

impl Service {
    /// Loads credentials, picks the upstream and binds the listener.
    pub async fn bind(config: Config, env: &dyn Environment) -> Result<Self, ServeError> {
        let (credentials, source, demo) = credentials_and_demo(&config, env).await?;
        let upstream = match (&config.upstream, &demo) {
            (Some(upstream), _) => upstream.clone(),
            (None, Some(demo)) => demo.upstream().clone(),
            (None, None) => return Err(ServeError::NoUpstream),
        };

        let bind_failed = |source| ServeError::Bind {
            address: config.listen.clone(),
            source,
        };
        let listener = Listener::bind(&config.listen, config.unix_socket_mode)
            .await
            .map_err(bind_failed)?;
        let local_addr = listener.local_addr().map_err(bind_failed)?;
        let tcp_addr = match &local_addr {
            ListenAddr::Tcp(address) => Some(*address),
            ListenAddr::Unix(_) => None,
        };

        let routes = config.routes_for(&upstream);
        let admin = match config.admin_listen {
            Some(address) => {
                let listener =
                    crate::admin::bind(address)
                        .await
                        .map_err(|source| ServeError::Bind {
                            address: ListenAddr::Tcp(address),
                            source,
                        })?;
                let address = listener.local_addr().unwrap_or(address);
                tracing::info!(admin = %address, "admin endpoints on http://{address}");
                let upstreams = routes.iter().map(|route| route.upstream.clone()).collect();
                Some((listener, upstreams))
            }
            None => None,
        };
        let needs_tls = routes
            .iter()
            .any(|r| r.upstream.scheme().as_str() == "https");
        let client = UpstreamClient::new(config.timeouts, &config.tls, needs_tls)?;
        let settings = ProxySettings {
            guard: Guard {
                listen: tcp_addr,
                allowed_hosts: config.allowed_hosts.clone(),
                allowed_origins: config.allowed_origins.clone(),
                client_auth: config.client_auth.clone(),
            },
            routes,
            plus_in_path: config.plus_in_path,
            body: config.body.clone(),
            idle_timeout: config.idle_timeout,
            head_limits: config.head_limits,
            max_requests: config.max_requests,
        };
        let server = ServerSettings {
            head_limits: config.head_limits,
            client_auth: config.client_auth.clone(),
            tls: config
                .listener_tls
                .as_ref()
                .map(ListenerTls::acceptor)
                .transpose()
                .map_err(ServeError::ListenerTls)?,
            connections: InFlight::new(config.max_connections),
            drain_timeout: config.drain_timeout,
            idle_timeout: config.idle_timeout,
        };
        warn_if_token_in_clear(&config, &local_addr);
        warn_if_local_clients_refused(&config, &local_addr);
        for route in settings
            .routes
            .iter()
            .filter(|route| !route.prefix.is_empty())
        {
            tracing::info!(
                prefix = %route.prefix,
                upstream = %route.upstream,
                signature = route.signature.as_str(),
                payload = route.payload.as_str(),
                "route"
            );
        }
        let proxy = Proxy::new(settings, &credentials, client);
        let hangup = HangupSignal::catch();
        log_startup(&config, &local_addr, &upstream, &credentials, &source);
        Ok(Self {
            listener,
            admin,
            credential_source: source,
            credential_expiry: credentials.expires(),
            reload: ReloadSource::default(),
            hangup,
            client_needs: crate::demo::ClientNeeds {
                tls: config.listener_tls.is_some(),
                token: config.client_auth.token.is_some(),
            },
            server,
            proxy,
            local_addr,
            upstream,
            demo,
        })
    }

    /// Where the proxy listens (with the port the OS picked).
    pub fn listen_addr(&self) -> &ListenAddr {
        &self.local_addr
    }

    /// The TCP address the proxy listens on; `None` on a unix socket.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        match &self.local_addr {
            ListenAddr::Tcp(address) => Some(*address),
            ListenAddr::Unix(_) => None,
        }
    }

    /// The gateway requests go to.
    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// What clients must bring beyond a plain request (TLS, the token).
    pub fn client_needs(&self) -> crate::demo::ClientNeeds {
        self.client_needs
    }

    /// The embedded demo upstream, when one was started.
    pub fn demo(&self) -> Option<&crate::demo::DemoUpstream> {
        self.demo.as_ref()
    }

    /// Reloads credentials from `source` (the config file and flags `serve`
    /// started with) on SIGHUP and when their file changes.
    pub fn reload_from(mut self, source: ReloadSource) -> Self {
        self.reload = source;
        self
    }

    /// Serves until `shutdown` completes, then drains.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let _admin = self.admin.map(|(listener, upstreams)| {
            reload::AbortOnDrop::new(tokio::spawn(crate::admin::serve(listener, upstreams)))
        });
        let _reloader = reload::spawn(
            self.reload.clone(),
            Arc::clone(&self.proxy),
            &self.credential_source,
            self.credential_expiry,
            self.hangup,
        );
        server::run(self.listener, self.proxy, self.server, shutdown).await;
        drop(self.demo);
        tracing::info!("stopped");
    }
}

async fn credentials_and_demo(
    config: &Config,
    env: &dyn Environment,
) -> Result<
    (
        Credentials,
        CredentialSource,
        Option<crate::demo::DemoUpstream>,
    ),
    ServeError,
> {
    let loaded = credentials::load(&config.credentials, config.profile.as_deref(), env);
    if config.upstream.is_some() || !crate::demo::AVAILABLE {
        let (credentials, source) = loaded?;
        return Ok((credentials, source, None));
    }
    let (credentials, source) = match loaded {
        Ok(found) => found,
        Err(CredentialsError::NotFound { .. }) => {
            (crate::demo::demo_credentials(), CredentialSource::Demo)
        }
        Err(error) => return Err(error.into()),
    };
    let demo = crate::demo::DemoUpstream::start(&credentials)
        .await
        .map_err(ServeError::Demo)?;
    Ok((credentials, source, Some(demo)))
}

/// How clients reach the listener: `https://` when it speaks TLS.
fn listen_url(local_addr: &ListenAddr, tls: bool) -> String {
    let url = local_addr.url();
    match url.strip_prefix("http://") {
        Some(rest) if tls => format!("https://{rest}"),
        _ => url,
    }
}

/// A loopback listener whose `allowed_clients` leaves out loopback refuses
/// every client it can have.
fn warn_if_local_clients_refused(config: &Config, local_addr: &ListenAddr) {
    if let ListenAddr::Tcp(address) = local_addr
        && address.ip().is_loopback()
        && !config.client_auth.admits(address.ip())
    {
        tracing::warn!(
            listen = %local_addr,
            "allowed_clients leaves out loopback, the only clients this listener can have: \
             every request will be refused"
        );
    }
}

/// A token sent over plain HTTP beyond loopback can be read on the way.
fn warn_if_token_in_clear(config: &Config, local_addr: &ListenAddr) {
    if config.client_auth.token.is_some() && config.listener_tls.is_none() && !local_addr.is_local()
    {
        tracing::warn!(
            listen = %local_addr,
            "clients send the proxy's token in clear over plain HTTP; set tls_cert and tls_key"
        );
    }
}

fn log_startup(
    config: &Config,
    local_addr: &ListenAddr,
    upstream: &Upstream,
    credentials: &Credentials,
    source: &CredentialSource,
) {
    let source = match source {
        CredentialSource::ConfigFile => "the config file".to_owned(),
        CredentialSource::Environment => "the environment".to_owned(),
        CredentialSource::SharedFile { path, profile } => {
            format!("profile '{profile}' of {}", path.display())
        }
        CredentialSource::Demo => "the demo (generated)".to_owned(),
        CredentialSource::Process { program } => format!("credential_process {program}"),
    };
    tracing::info!(
        listen = %local_addr,
        %upstream,
        region = %config.region,
        payload = config.payload.as_str(),
        access_key_id = credentials.access_key_id(),
        credentials = %source,
        "zenko-signing-proxy listening on {}",
        listen_url(local_addr, config.listener_tls.is_some())
    );
}
