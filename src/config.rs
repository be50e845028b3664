//! The proxy's configuration: the TOML file, the command-line overrides, and
//! the validated [`Config`] the rest of the proxy reads.
//!
//! The file is read as a TOML table, every known key is checked on its own,
//! and every problem is collected, so that one run reports all of them, each
//! naming its key. Unknown keys are problems too. Command-line flags override
//! the file's keys before validation, so a bad flag is reported the same way.
//! `config.example.toml` documents every key with its default. The keys of
//! access control and limits are read in [`access`].

mod access;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

use crate::body::{BodyLimits, PayloadMode};
use crate::client_auth::ClientAuth;
use crate::credentials::StaticCredentials;
use crate::limits::HeadLimits;
use crate::listener::ListenAddr;
use crate::listener::tls::ListenerTls;
use crate::policy::AccessPolicy;
use crate::route::{Addressing, Route, RouteConfig, SignatureVersion};
use crate::upstream::{Timeouts, TlsSettings, Upstream};
use crate::uri::PlusInPath;

/// The default listen address: loopback, a fixed port.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7070";
/// The file mode of a unix listen socket: its owner only.
pub const DEFAULT_UNIX_SOCKET_MODE: u32 = 0o600;
/// The default signing region; Zenko does not check it.
pub const DEFAULT_REGION: &str = "us-east-1";
/// Bodies up to this size are held in memory to be hashed (1 MiB).
pub const DEFAULT_MEMORY_BODY_LIMIT: u64 = 1024 * 1024;
/// The most a body held in memory may be (1 GiB): one per request in flight.
const MAX_MEMORY_BODY_LIMIT: u64 = 1024 * 1024 * 1024;
/// Bodies are spooled to disk up to this size (5 GiB, S3's largest PUT).
pub const DEFAULT_SPOOL_LIMIT: u64 = 5 * 1024 * 1024 * 1024;
/// Data bytes per chunk of a streaming body (64 KiB).
pub const DEFAULT_CHUNK_SIZE: u64 = crate::body::aws_chunked::DEFAULT_CHUNK_SIZE;
/// S3 wants every chunk but the last to hold at least 8 KiB.
const MIN_CHUNK_SIZE: u64 = 8 * 1024;
/// Chunks are held in memory while hashed: keep them small.
const MAX_CHUNK_SIZE: u64 = 16 * 1024 * 1024;

/// Time allowed to open a connection to the gateway.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest silence allowed between two pieces of a body.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Time requests in flight get to finish once shutdown starts.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed from the end of the request to the gateway's response headers.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(300);

/// The keys of the top-level table.
const TOP_LEVEL_KEYS: &[&str] = &[
    "listen",
    "allowed_hosts",
    "allowed_origins",
    "signature",
    "route",
    "allow_remote",
    "unix_socket_mode",
    "admin_listen",
    "upstream",
    "region",
    "payload",
    "unsigned_over_tls",
    "addressing",
    "profile",
    "plus_in_path",
    "memory_body_limit",
    "spool_limit",
    "spool_dir",
    "chunk_size",
    "connect_timeout",
    "response_timeout",
    "drain_timeout",
    "idle_timeout",
    "ca_file",
    "client_cert",
    "client_key",
    "allowed_clients",
    "client_token",
    "client_token_file",
    "tls_cert",
    "tls_key",
    "tls_client_ca",
    "max_header_count",
    "max_header_bytes",
    "max_uri_length",
    "max_connections",
    "max_requests",
    "max_body_size",
    "methods",
    "read_only",
    "buckets",
    "key_prefixes",
    "credentials",
];

/// The keys of a `[[route]]` table.
const ROUTE_KEYS: &[&str] = &[
    "prefix",
    "upstream",
    "signature",
    "region",
    "payload",
    "addressing",
    "methods",
    "read_only",
    "buckets",
    "key_prefixes",
    "max_body_size",
];

/// The keys of the `[credentials]` table.
const CREDENTIAL_KEYS: &[&str] = &[
    "access_key_id",
    "secret_access_key",
    "session_token",
    "credential_process",
];

/// The validated configuration of `serve`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the proxy listens.
    pub listen: ListenAddr,
    /// The file mode of a unix listen socket.
    pub unix_socket_mode: u32,
    /// Where the admin endpoints listen (loopback); off when `None`.
    pub admin_listen: Option<SocketAddr>,
    /// Whether a non-loopback listen address is allowed.
    pub allow_remote: bool,
    /// Host names accepted besides loopback ones (lowercase, no port).
    pub allowed_hosts: Vec<String>,
    /// `Origin` values accepted; none by default.
    pub allowed_origins: Vec<String>,
    /// The client networks and token of a listener beyond loopback.
    pub client_auth: ClientAuth,
    /// TLS on the listener, with client certificates when configured.
    pub listener_tls: Option<ListenerTls>,
    /// The limits on a request's head.
    pub head_limits: HeadLimits,
    /// The most client connections at once.
    pub max_connections: usize,
    /// The most requests in flight at once.
    pub max_requests: usize,
    /// What the default route allows; other routes inherit it.
    pub policy: AccessPolicy,
    /// The largest request body of the default route; others inherit it.
    pub max_body_size: Option<u64>,
    /// The gateway; `None` means the embedded demo upstream.
    pub upstream: Option<Upstream>,
    /// The signature version of the default route.
    pub signature: SignatureVersion,
    /// The signing region.
    pub region: String,
    /// How request bodies are signed.
    pub payload: PayloadMode,
    /// Whether `auto` means `unsigned` for a gateway reached over https.
    pub unsigned_over_tls: bool,
    /// How the default route's gateway is told the bucket.
    pub addressing: Addressing,
    /// Routes by path prefix, in order, before the default route.
    pub routes: Vec<RouteConfig>,
    /// The profile of the shared credentials file, if one was named.
    pub profile: Option<String>,
    /// What a `+` in the client's path means.
    pub plus_in_path: PlusInPath,
    /// How much of a body the proxy may hold, in memory and on disk.
    pub body: BodyLimits,
    /// Timeouts towards the gateway.
    pub timeouts: Timeouts,
    /// How the gateway's certificate is trusted.
    pub tls: TlsSettings,
    /// How long requests in flight may take to finish after SIGTERM/SIGINT.
    pub drain_timeout: Duration,
    /// The longest silence inside a request or response body.
    pub idle_timeout: Duration,
    /// Credentials given in the config file.
    pub credentials: StaticCredentials,
}

/// Values given on the command line; each overrides the file's key.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `listen`.
    pub listen: Option<String>,
    /// `allow_remote`, only ever switched on by a flag.
    pub allow_remote: bool,
    /// `upstream`.
    pub upstream: Option<String>,
    /// `signature`.
    pub signature: Option<String>,
    /// `region`.
    pub region: Option<String>,
    /// `payload`.
    pub payload: Option<String>,
    /// `profile`.
    pub profile: Option<String>,
    /// `plus_in_path`.
    pub plus_in_path: Option<String>,
}

/// Why the configuration cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config file {}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// One or more keys are missing, unknown or wrong; all are listed.
    #[error("invalid configuration: {}", .problems.join("; "))]
    Invalid {
        /// One entry per problem, each naming its key.
        problems: Vec<String>,
    },
}

/// Collects the problems found while validating.
#[derive(Default)]
struct Problems(Vec<String>);

// === impl Config ===

impl Config {
    /// Reads the file at `path` (if any) and applies `overrides`.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let text = match path {
            Some(path) => std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?,
            None => String::new(),
        };
        let config = Self::from_toml(&text, overrides)?;
        if let Some(path) = path
            && config.credentials.secret_access_key.is_some()
        {
            warn_if_readable_by_others(path);
        }
        Ok(config)
    }

    /// Parses TOML text and applies `overrides`.
    pub fn from_toml(text: &str, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut table: toml::Table =
            text.parse()
                .map_err(|error: toml::de::Error| ConfigError::Invalid {
                    problems: vec![toml_problem(text, &error)],
                })?;
        apply_overrides(&mut table, overrides);
        validate(table)
    }

    /// The routes in order, ending with the default route; `upstream` is
    /// the default route's gateway (the config's, or the demo's).
    pub fn routes_for(&self, upstream: &Upstream) -> Vec<Route> {
        let default = Route {
            name: "default".to_owned(),
            prefix: String::new(),
            upstream: upstream.clone(),
            signature: self.signature,
            region: self.region.clone(),
            payload: self.payload,
            addressing: self.addressing,
            policy: self.policy.clone(),
            max_body_size: self.max_body_size,
        };
        let mut routes: Vec<Route> = self
            .routes
            .iter()
            .enumerate()
            .map(|(index, config)| Route::inherit(index, config, &default))
            .collect();
        routes.push(default);
        if self.unsigned_over_tls {
            for route in &mut routes {
                let over_tls = route.upstream.scheme().as_str() == "https";
                if over_tls && route.payload == PayloadMode::Auto {
                    route.payload = PayloadMode::Unsigned;
                }
            }
        }
        routes
    }
}

/// Warns when a config file that holds a secret can be read by other users.
fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = std::fs::metadata(path)
            && metadata.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                "the config file holds a secret and other users can read it (chmod 600 it)"
            );
        }
    }
}

/// A TOML syntax error with its line, but never the text of the line,
/// which may hold a secret.
fn toml_problem(text: &str, error: &toml::de::Error) -> String {
    let line = error
        .span()
        .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
    let hint = if error.message().contains("expected a sequence") {
        " (a route is written [[route]], with double brackets)"
    } else {
        ""
    };
    match line {
        Some(line) => format!("not valid TOML at line {line}: {}{hint}", error.message()),
        None => format!("not valid TOML: {}{hint}", error.message()),
    }
}

fn apply_overrides(table: &mut toml::Table, overrides: &Overrides) {
    let mut set = |key: &str, value: &Option<String>| {
        if let Some(value) = value {
            table.insert(key.to_owned(), toml::Value::String(value.clone()));
        }
    };
    set("listen", &overrides.listen);
    set("upstream", &overrides.upstream);
    set("signature", &overrides.signature);
    set("region", &overrides.region);
    set("payload", &overrides.payload);
    set("profile", &overrides.profile);
    set("plus_in_path", &overrides.plus_in_path);
    if overrides.allow_remote {
        table.insert("allow_remote".to_owned(), toml::Value::Boolean(true));
    }
}

fn validate(mut table: toml::Table) -> Result<Config, ConfigError> {
    let mut problems = Problems::default();
    problems.unknown_keys(&table, TOP_LEVEL_KEYS, "");

    let listen = problems
        .take::<String>(&mut table, "listen")
        .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    let listen = problems.check("listen", ListenAddr::parse(&listen));
    let allow_remote = problems
        .take::<bool>(&mut table, "allow_remote")
        .unwrap_or(false);
    let client_auth = access::client_auth(&mut table, &mut problems);
    let listener_tls = access::listener_tls(&mut table, &mut problems);
    if let Some(listen) = &listen {
        access::check_remote(
            listen,
            allow_remote,
            &client_auth,
            listener_tls.as_ref(),
            &mut problems,
        );
    }
    let (head_limits, max_connections, max_requests) = access::limits(&mut table, &mut problems);
    let policy_keys = access::policy_keys(&mut table, &mut problems, "");
    let policy = AccessPolicy {
        methods: policy_keys.methods,
        read_only: policy_keys.read_only.unwrap_or(false),
        buckets: policy_keys.buckets,
        key_prefixes: policy_keys.key_prefixes,
    };

    let admin_listen = problems
        .take::<String>(&mut table, "admin_listen")
        .and_then(|text| problems.check("admin_listen", parse_admin(&text)));
    let unix_socket_mode = problems
        .take::<String>(&mut table, "unix_socket_mode")
        .and_then(|text| problems.check("unix_socket_mode", parse_mode(&text)))
        .unwrap_or(DEFAULT_UNIX_SOCKET_MODE);
    let allowed_hosts: Vec<String> = problems
        .take::<Vec<String>>(&mut table, "allowed_hosts")
        .unwrap_or_default()
        .into_iter()
        .map(|host| host.to_ascii_lowercase())
        .collect();
    let allowed_origins = problems
        .take::<Vec<String>>(&mut table, "allowed_origins")
        .unwrap_or_default();
    let upstream = problems
        .take::<String>(&mut table, "upstream")
        .and_then(|url| problems.check("upstream", Upstream::parse(&url)));
    let region = problems
        .take::<String>(&mut table, "region")
        .unwrap_or_else(|| DEFAULT_REGION.to_owned());
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        problems.push(format!("region: '{region}' is not a region name"));
    }
    let payload = problems
        .take::<String>(&mut table, "payload")
        .and_then(|mode| problems.check("payload", mode.parse::<PayloadMode>()))
        .unwrap_or_default();
    let signature = problems
        .take::<String>(&mut table, "signature")
        .and_then(|text| problems.check("signature", text.parse::<SignatureVersion>()))
        .unwrap_or_default();
    let unsigned_over_tls = problems
        .take::<bool>(&mut table, "unsigned_over_tls")
        .unwrap_or(false);
    let addressing = problems
        .take::<String>(&mut table, "addressing")
        .and_then(|text| problems.check("addressing", text.parse::<Addressing>()))
        .unwrap_or_default();
    let routes = routes(&mut table, &mut problems);
    let profile = problems.take::<String>(&mut table, "profile");
    let plus_in_path = problems
        .take::<String>(&mut table, "plus_in_path")
        .and_then(|text| problems.check("plus_in_path", parse_plus_in_path(&text)))
        .unwrap_or_default();

    let body = body_limits(&mut table, &mut problems);
    let timeouts = timeouts(&mut table, &mut problems);
    let drain_timeout = problems
        .take::<String>(&mut table, "drain_timeout")
        .and_then(|text| problems.check("drain_timeout", parse_duration(&text)))
        .unwrap_or(DEFAULT_DRAIN_TIMEOUT);
    let idle_timeout = timeouts.idle;
    let ca_file = problems.take::<PathBuf>(&mut table, "ca_file");
    let client_cert = problems.take::<PathBuf>(&mut table, "client_cert");
    let client_key = problems.take::<PathBuf>(&mut table, "client_key");
    let client_identity = match (client_cert, client_key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => {
            problems.push("client_cert: client_cert and client_key go together".to_owned());
            None
        }
    };
    let tls = TlsSettings {
        ca_file,
        client_identity,
    };
    let credentials = credentials(&mut table, &mut problems);

    if !problems.0.is_empty() {
        return Err(ConfigError::Invalid {
            problems: problems.0,
        });
    }
    Ok(Config {
        listen: listen.expect("a listen problem was reported"),
        unix_socket_mode,
        admin_listen,
        allow_remote,
        allowed_hosts,
        allowed_origins,
        client_auth,
        listener_tls,
        head_limits,
        max_connections,
        max_requests,
        policy,
        max_body_size: policy_keys.max_body_size,
        upstream,
        signature,
        region,
        payload,
        unsigned_over_tls,
        addressing,
        routes,
        profile,
        plus_in_path,
        body,
        timeouts,
        tls,
        drain_timeout,
        idle_timeout,
        credentials,
    })
}

fn body_limits(table: &mut toml::Table, problems: &mut Problems) -> BodyLimits {
    let mut size = |key: &str, default: u64| {
        problems
            .take::<toml::Value>(table, key)
            .and_then(|value| problems.check(key, parse_size(&value)))
            .unwrap_or(default)
    };
    let memory_limit = size("memory_body_limit", DEFAULT_MEMORY_BODY_LIMIT);
    let spool_limit = size("spool_limit", DEFAULT_SPOOL_LIMIT);
    let chunk_size = size("chunk_size", DEFAULT_CHUNK_SIZE);
    if memory_limit > MAX_MEMORY_BODY_LIMIT {
        problems.push(format!(
            "memory_body_limit: {memory_limit} is more than {MAX_MEMORY_BODY_LIMIT} bytes; \
             larger bodies are spooled or streamed"
        ));
    }

    if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
        problems.push(format!(
            "chunk_size: {chunk_size} is not between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE} bytes"
        ));
    }
    let spool_dir = problems.take::<PathBuf>(table, "spool_dir");
    if let Some(dir) = &spool_dir
        && !dir.is_dir()
    {
        problems.push(format!("spool_dir: {} is not a directory", dir.display()));
    }
    BodyLimits {
        memory_limit,
        spool_limit,
        spool_dir,
        chunk_size,
    }
}

fn timeouts(table: &mut toml::Table, problems: &mut Problems) -> Timeouts {
    let mut duration = |key: &str, default: Duration| {
        problems
            .take::<String>(table, key)
            .and_then(|text| problems.check(key, parse_duration(&text)))
            .unwrap_or(default)
    };
    Timeouts {
        connect: duration("connect_timeout", DEFAULT_CONNECT_TIMEOUT),
        response: duration("response_timeout", DEFAULT_RESPONSE_TIMEOUT),
        idle: duration("idle_timeout", DEFAULT_IDLE_TIMEOUT),
    }
}

fn routes(table: &mut toml::Table, problems: &mut Problems) -> Vec<RouteConfig> {
    let Some(tables) = problems.take::<Vec<toml::Table>>(table, "route") else {
        return Vec::new();
    };
    tables
        .into_iter()
        .enumerate()
        .filter_map(|(index, table)| route(index, table, problems))
        .collect()
}

fn route(index: usize, mut table: toml::Table, problems: &mut Problems) -> Option<RouteConfig> {
    let name = format!("route[{index}]");
    problems.unknown_keys(&table, ROUTE_KEYS, &format!("{name}."));
    let key = |field: &str| format!("{name}.{field}");
    let prefix = problems.take::<String>(&mut table, "prefix");
    let upstream = problems
        .take::<String>(&mut table, "upstream")
        .and_then(|url| problems.check(&key("upstream"), Upstream::parse(&url)));
    let signature = problems
        .take::<String>(&mut table, "signature")
        .and_then(|text| problems.check(&key("signature"), text.parse::<SignatureVersion>()));
    let region = problems.take::<String>(&mut table, "region");
    let payload = problems
        .take::<String>(&mut table, "payload")
        .and_then(|text| problems.check(&key("payload"), text.parse::<PayloadMode>()));
    let addressing = problems
        .take::<String>(&mut table, "addressing")
        .and_then(|text| problems.check(&key("addressing"), text.parse::<Addressing>()));
    let label = format!("{name}.");
    let policy = access::policy_keys(&mut table, problems, &label);
    match prefix {
        Some(prefix) if prefix.starts_with('/') => {
            access::check_internal_route(&prefix, &policy, &label, problems);
            Some(RouteConfig {
                prefix,
                upstream,
                signature,
                region,
                payload,
                addressing,
                methods: policy.methods,
                read_only: policy.read_only,
                buckets: policy.buckets,
                key_prefixes: policy.key_prefixes,
                max_body_size: policy.max_body_size,
            })
        }
        Some(prefix) => {
            problems.push(format!("{}: '{prefix}' must start with '/'", key("prefix")));
            None
        }
        None => {
            problems.push(format!("{}: missing", key("prefix")));
            None
        }
    }
}

fn credentials(table: &mut toml::Table, problems: &mut Problems) -> StaticCredentials {
    let Some(mut section) = problems.take::<toml::Table>(table, "credentials") else {
        return StaticCredentials::default();
    };
    problems.unknown_keys(&section, CREDENTIAL_KEYS, "credentials.");
    let mut secret = |key: &str| problems.take_secret(&mut section, key);
    StaticCredentials {
        access_key_id: secret("access_key_id"),
        secret_access_key: secret("secret_access_key"),
        session_token: secret("session_token"),
        credential_process: secret("credential_process"),
    }
}

/// The admin address: loopback only, whatever `allow_remote` says.
fn parse_admin(text: &str) -> Result<SocketAddr, String> {
    let address: SocketAddr = text
        .parse()
        .map_err(|_| format!("'{text}' is not an address like 127.0.0.1:9901"))?;
    if !address.ip().is_loopback() {
        return Err(format!(
            "{address} is not a loopback address (the admin listener is local only)"
        ));
    }
    Ok(address)
}

/// An octal file mode such as `0600`; no bits for others.
fn parse_mode(text: &str) -> Result<u32, String> {
    let mode = u32::from_str_radix(text.trim_start_matches("0o"), 8)
        .ok()
        .filter(|mode| *mode <= 0o777)
        .ok_or_else(|| format!("'{text}' is not a file mode like \"0600\""))?;
    if mode & 0o007 != 0 {
        return Err(format!(
            "'{text}' lets any user of the machine use the proxy's credentials"
        ));
    }
    Ok(mode)
}

fn parse_plus_in_path(text: &str) -> Result<PlusInPath, String> {
    match text {
        "space" => Ok(PlusInPath::Space),
        "literal" => Ok(PlusInPath::Literal),
        other => Err(format!("'{other}' is not one of: space, literal")),
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|_| format!("'{text}' is not a duration like 10s or 500ms"))?;
    if duration.is_zero() {
        return Err("must be longer than zero".to_owned());
    }
    Ok(duration)
}

/// A size in bytes: an integer, or a string with a unit (`64KiB`, `1 MiB`,
/// `5GiB`, `2MB`).
fn parse_size(value: &toml::Value) -> Result<u64, String> {
    match value {
        toml::Value::Integer(bytes) if *bytes >= 0 => Ok(*bytes as u64),
        toml::Value::String(text) => parse_size_text(text),
        other => Err(format!("{other} is not a size like 1048576 or \"1MiB\"")),
    }
}

fn parse_size_text(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let multiplier: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => {
            return Err(format!(
                "'{text}' is not a size like \"64KiB\", \"1MiB\" or \"5GiB\""
            ));
        }
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("'{text}' is not a size like \"64KiB\", \"1MiB\" or \"5GiB\""))
}

// === impl Problems ===

impl Problems {
    fn push(&mut self, problem: String) {
        self.0.push(problem);
    }

    /// Removes `key` from `table` and reads it as a `T`; a wrong type is a
    /// problem that names the key.
    fn take<T: for<'de> Deserialize<'de>>(
        &mut self,
        table: &mut toml::Table,
        key: &str,
    ) -> Option<T> {
        let value = table.remove(key)?;
        match T::deserialize(value) {
            Ok(value) => Some(value),
            Err(error) => {
                self.push(format!("{key}: {}", error.message()));
                None
            }
        }
    }

    /// Removes `key` from the `[credentials]` table: a non-empty string
    /// that can go in a header. A problem never quotes the value.
    fn take_secret(&mut self, table: &mut toml::Table, key: &str) -> Option<String> {
        let value = table.remove(key)?;
        let problem = match value {
            toml::Value::String(text) if text.is_empty() => "is empty",
            toml::Value::String(text) if http::HeaderValue::from_str(&text).is_ok() => {
                return Some(text);
            }
            toml::Value::String(_) => "holds characters that cannot be sent in a header",
            _ => "must be a string (in quotes)",
        };
        self.push(format!("credentials.{key}: {problem}"));
        None
    }

    /// Turns a validation result into a value, recording its problem.
    fn check<T>(&mut self, key: &str, result: Result<T, impl std::fmt::Display>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.push(format!("{key}: {error}"));
                None
            }
        }
    }

    fn unknown_keys(&mut self, table: &toml::Table, known: &[&str], prefix: &str) {
        for key in table.keys() {
            if !known.contains(&key.as_str()) {
                self.push(format!("{prefix}{key}: unknown key"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, &Overrides::default())
    }

    fn problems(text: &str) -> Vec<String> {
        match parse(text) {
            Err(ConfigError::Invalid { problems }) => problems,
            other => panic!("expected invalid config, got {other:?}"),
        }
    }

    #[test]
    fn empty_file_gives_the_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert!(!config.allow_remote);
        assert!(config.upstream.is_none());
        assert_eq!(config.region, "us-east-1");
        assert_eq!(config.payload, PayloadMode::Auto);
        assert_eq!(config.plus_in_path, PlusInPath::Space);
        assert_eq!(config.body.memory_limit, 1024 * 1024);
        assert_eq!(config.body.spool_limit, 5 << 30);
        assert_eq!(config.timeouts.connect, Duration::from_secs(10));
        assert_eq!(config.timeouts.response, Duration::from_secs(300));
    }

    #[test]
    fn full_file_is_read() {
        let config = parse(
            r#"
            listen = "127.0.0.1:0"
            upstream = "http://127.0.0.1:9000"
            region = "eu-west-1"
            payload = "unsigned"
            plus_in_path = "literal"
            memory_body_limit = "64KiB"
            spool_limit = 1000
            connect_timeout = "2s"
            response_timeout = "500ms"
            allowed_hosts = ["Proxy.Internal"]
            allowed_origins = ["http://console.internal"]
            [credentials]
            access_key_id = "AKID"
            secret_access_key = "secret"
            "#,
        )
        .unwrap();
        assert_eq!(config.listen, ListenAddr::parse("127.0.0.1:0").unwrap());
        assert_eq!(config.upstream.unwrap().authority(), "127.0.0.1:9000");
        assert_eq!(config.payload, PayloadMode::Unsigned);
        assert_eq!(config.plus_in_path, PlusInPath::Literal);
        assert_eq!(config.body.memory_limit, 64 * 1024);
        assert_eq!(config.body.spool_limit, 1000);
        assert_eq!(config.timeouts.response, Duration::from_millis(500));
        assert_eq!(config.credentials.access_key_id.as_deref(), Some("AKID"));
        assert_eq!(config.allowed_hosts, ["proxy.internal"]);
        assert_eq!(config.allowed_origins, ["http://console.internal"]);
    }

    #[test]
    fn unknown_keys_are_named() {
        let found = problems("listn = \"127.0.0.1:1\"\n[credentials]\nsecret = \"x\"\n");
        assert!(
            found.contains(&"listn: unknown key".to_owned()),
            "{found:?}"
        );
        assert!(
            found.contains(&"credentials.secret: unknown key".to_owned()),
            "{found:?}"
        );
    }

    #[test]
    fn all_problems_are_reported_at_once() {
        let found = problems(
            "listen = \"nowhere\"\npayload = \"fast\"\nregion = 3\nconnect_timeout = \"soon\"\n",
        );
        assert_eq!(found.len(), 4, "{found:?}");
        for key in ["listen:", "payload:", "region:", "connect_timeout:"] {
            assert!(
                found.iter().any(|p| p.starts_with(key)),
                "{key} in {found:?}"
            );
        }
    }

    #[test]
    fn remote_listen_needs_allow_remote() {
        let found = problems("listen = \"0.0.0.0:7070\"");
        assert!(found[0].contains("not a loopback address"), "{found:?}");
        let found = problems("listen = \"0.0.0.0:7070\"\nallow_remote = true");
        assert!(
            found.iter().any(|p| p.starts_with("allowed_clients:")),
            "{found:?}"
        );
        assert!(
            found.iter().any(|p| p.starts_with("client_token:")),
            "{found:?}"
        );
        let config = parse(
            "listen = \"0.0.0.0:7070\"\nallow_remote = true\n\
             allowed_clients = [\"198.51.100.0/25\", \"203.0.113.10\"]\n\
             client_token = \"0123456789abcdef-token\"",
        )
        .unwrap();
        assert!(config.allow_remote);
        assert!(config.client_auth.admits("198.51.100.100".parse().unwrap()));
        assert!(config.client_auth.admits("203.0.113.10".parse().unwrap()));
        assert!(!config.client_auth.admits("203.0.113.11".parse().unwrap()));
    }

    #[test]
    fn token_problems_never_quote_the_token() {
        let found = problems("client_token = \"tiny-secret\"");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("client_token: is shorter"),
            "{found:?}"
        );
        assert!(!found[0].contains("tiny-secret"));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "a-long-enough-shared-token\n").unwrap();
        let config = parse(&format!("client_token_file = \"{}\"", file.display())).unwrap();
        assert!(config.client_auth.token.is_some());
        let found = problems(&format!(
            "client_token_file = \"{}\"\nclient_token = \"a-long-enough-shared-token\"",
            file.display()
        ));
        assert!(found[0].contains("not both"), "{found:?}");
    }

    #[test]
    fn policy_keys_are_read_and_inherited_by_routes() {
        let config = parse(
            "read_only = true\nbuckets = [\"logs\"]\nmax_body_size = \"1MiB\"\n\
             [[route]]\nprefix = \"/_/backbeat/api/\"\nsignature = \"v2\"\n\
             [[route]]\nprefix = \"/upload/\"\nmethods = [\"put\", \"POST\"]\n\
             read_only = false\nbuckets = [\"upload\"]\nkey_prefixes = [\"in/\"]",
        )
        .unwrap();
        let routes = config.routes_for(&Upstream::parse("http://127.0.0.1:9000").unwrap());
        let [backbeat, upload, default] = &routes[..] else {
            panic!("{routes:?}");
        };
        assert!(backbeat.policy.read_only && backbeat.is_internal());
        assert_eq!(
            upload.policy.methods,
            Some(vec![http::Method::PUT, http::Method::POST])
        );
        assert!(!upload.policy.read_only);
        assert_eq!(upload.policy.key_prefixes, Some(vec!["in/".to_owned()]));
        assert_eq!(upload.max_body_size, Some(1024 * 1024));
        assert_eq!(default.policy.buckets, Some(vec!["logs".to_owned()]));
        assert_eq!(default.name, "default");
    }

    #[test]
    fn policy_and_limit_problems_name_their_key() {
        let found = problems(
            "methods = [\"TRACE\"]\nmax_header_count = 5\nmax_uri_length = \"1MiB\"\n\
             max_connections = \"1KiB\"\n\
             tls_client_ca = \"/ca.pem\"\n\
             [[route]]\nprefix = \"/_/backbeat/\"\nbuckets = [\"b\"]\n\
             [[route]]\nprefix = \"/x/\"\nmax_body_size = \"lots\"",
        );
        for start in [
            "methods:",
            "max_header_count:",
            "max_uri_length:",
            "max_connections:",
            "tls_client_ca:",
            "route[0].buckets:",
            "route[1].max_body_size:",
        ] {
            assert!(
                found.iter().any(|p| p.starts_with(start)),
                "{start} in {found:?}"
            );
        }
    }

    #[test]
    fn overrides_replace_file_keys() {
        let overrides = Overrides {
            listen: Some("[::1]:0".into()),
            payload: Some("signed".into()),
            ..Overrides::default()
        };
        let config = Config::from_toml("payload = \"unsigned\"", &overrides).unwrap();
        assert_eq!(config.payload, PayloadMode::Signed);
        assert_eq!(config.listen, ListenAddr::parse("[::1]:0").unwrap());
    }

    #[test]
    fn bad_upstreams_are_refused() {
        for url in [
            "ftp://host",
            "http://",
            "http://host/base",
            "http://u:p@host",
            "host",
        ] {
            let found = problems(&format!("upstream = \"{url}\""));
            assert!(found[0].starts_with("upstream:"), "{url}: {found:?}");
        }
    }

    #[test]
    fn sizes_accept_units() {
        assert_eq!(parse_size_text("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size_text("5 GiB"), Ok(5 << 30));
        assert_eq!(parse_size_text("2MB"), Ok(2_000_000));
        assert!(parse_size_text("lots").is_err());
        assert!(parse_size_text("99999999999999999999GiB").is_err());
    }

    #[test]
    fn example_file_states_the_defaults_and_every_key() {
        let example = include_str!("../config.example.toml");
        let from_example = parse(example).unwrap();
        let defaults = parse("").unwrap();
        assert_eq!(from_example.listen, defaults.listen);
        assert_eq!(from_example.allow_remote, defaults.allow_remote);
        assert_eq!(from_example.region, defaults.region);
        assert_eq!(from_example.payload, defaults.payload);
        assert_eq!(from_example.plus_in_path, defaults.plus_in_path);
        assert_eq!(from_example.body, defaults.body);
        assert_eq!(from_example.timeouts, defaults.timeouts);
        assert_eq!(from_example.head_limits, defaults.head_limits);
        assert_eq!(from_example.max_connections, defaults.max_connections);
        assert_eq!(from_example.max_requests, defaults.max_requests);
        assert_eq!(from_example.policy, defaults.policy);
        assert_eq!(from_example.client_auth, defaults.client_auth);
        for key in TOP_LEVEL_KEYS.iter().chain(CREDENTIAL_KEYS.iter()) {
            let documented = example.lines().any(|line| {
                line.trim_start_matches(['#', ' '])
                    .starts_with(&format!("{key} ="))
            }) || example.contains(&format!("[{key}]"));
            assert!(documented, "{key} is not in config.example.toml");
        }
    }

    #[test]
    fn routes_are_read_in_order() {
        let config = parse(
            r#"
            upstream = "http://127.0.0.1:9000"
            [[route]]
            prefix = "/_/backbeat/api/"
            signature = "v2"
            [[route]]
            prefix = "/other/"
            upstream = "http://127.0.0.1:9001"
            payload = "unsigned"
            "#,
        )
        .unwrap();
        assert_eq!(config.routes.len(), 2);
        assert_eq!(config.routes[0].signature, Some(SignatureVersion::V2));
        assert_eq!(config.routes[1].payload, Some(PayloadMode::Unsigned));
        assert_eq!(
            config.routes[1].upstream.as_ref().unwrap().authority(),
            "127.0.0.1:9001"
        );
    }

    #[test]
    fn route_problems_name_the_route() {
        let found =
            problems("[[route]]\nprefix = \"nope\"\n[[route]]\nsignature = \"v9\"\ncolour = 1\n");
        for expected in [
            "route[0].prefix:",
            "route[1].signature:",
            "route[1].colour:",
            "route[1].prefix:",
        ] {
            assert!(
                found.iter().any(|p| p.starts_with(expected)),
                "{expected} in {found:?}"
            );
        }
    }

    #[test]
    fn credential_problems_never_quote_the_value() {
        let found = problems(
            "[credentials]\naccess_key_id = \"\"\nsecret_access_key = 86753091234567\n\
             session_token = \"a\\nb\"\n",
        );
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found.iter().all(|p| p.starts_with("credentials.")),
            "{found:?}"
        );
        assert!(
            found.iter().all(|p| !p.contains("86753091234567")),
            "{found:?}"
        );
    }

    #[test]
    fn memory_limit_has_a_ceiling() {
        let found = problems("memory_body_limit = \"500GiB\"\n");
        assert!(found[0].starts_with("memory_body_limit:"), "{found:?}");
    }

    #[test]
    fn auto_becomes_unsigned_over_tls_when_asked() {
        let text = "upstream = \"https://127.0.0.1:9443\"\nunsigned_over_tls = true\n\
                    [[route]]\nprefix = \"/plain/\"\nupstream = \"http://127.0.0.1:9000\"\n";
        let config = parse(text).unwrap();
        let routes = config.routes_for(config.upstream.as_ref().unwrap());
        assert_eq!(
            routes[0].payload,
            PayloadMode::Auto,
            "plain http keeps auto"
        );
        assert_eq!(
            routes[1].payload,
            PayloadMode::Unsigned,
            "https goes unsigned"
        );
        let config = parse("upstream = \"https://127.0.0.1:9443\"").unwrap();
        let routes = config.routes_for(config.upstream.as_ref().unwrap());
        assert_eq!(routes[0].payload, PayloadMode::Auto, "off by default");
    }

    #[test]
    fn toml_errors_name_the_line_but_not_its_text() {
        let found = problems("region = \"x\"\n\nsecret = wJalrXUtnF\n");
        assert!(
            found[0].starts_with("not valid TOML at line 3:"),
            "{found:?}"
        );
        assert!(!found[0].contains("wJalrXUtnF"), "{found:?}");
    }

    #[test]
    fn unix_sockets_are_local_and_private() {
        let config = parse("listen = \"unix:/tmp/zsp.sock\"").unwrap();
        assert_eq!(config.listen, ListenAddr::Unix("/tmp/zsp.sock".into()));
        assert_eq!(config.unix_socket_mode, 0o600);
        let config = parse("listen = \"unix:/tmp/zsp.sock\"\nunix_socket_mode = \"0660\"").unwrap();
        assert_eq!(config.unix_socket_mode, 0o660);
        let found = problems("unix_socket_mode = \"0666\"");
        assert!(found[0].starts_with("unix_socket_mode:"), "{found:?}");
    }

    #[test]
    fn admin_listener_is_off_by_default_and_loopback_only() {
        assert!(parse("").unwrap().admin_listen.is_none());
        let config = parse("admin_listen = \"127.0.0.1:9901\"").unwrap();
        assert_eq!(config.admin_listen, Some("127.0.0.1:9901".parse().unwrap()));
        let found = problems("admin_listen = \"0.0.0.0:9901\"\nallow_remote = true");
        assert!(found[0].starts_with("admin_listen:"), "{found:?}");
    }

    #[test]
    fn zero_timeout_is_refused() {
        let found = problems("response_timeout = \"0s\"");
        assert!(found[0].starts_with("response_timeout:"), "{found:?}");
    }
}
