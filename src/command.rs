//! The one-shot subcommands: `sign`, `presign`, `request` and
//! `check-config`. Each returns an [`Outcome`] (what to print, the exit
//! code) and leaves the printing to `main`.

use std::time::SystemTime;

use thiserror::Error;

use crate::cli::{CredentialArgs, SigningArgs};
use crate::config::{Config, ConfigError, Overrides};
use crate::credentials::{
    self, CredentialSource, Credentials, CredentialsError, ProcessEnvironment,
};
use crate::error::ProxyError;
use crate::upstream::{TlsError, Upstream};

pub mod check_config;
pub mod presign;
pub mod probe;
pub mod request;
pub mod sign;

/// What a subcommand prints, and how the process exits.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Printed on stdout.
    pub stdout: String,
    /// Printed on stderr.
    pub stderr: String,
    /// The exit code.
    pub exit_code: u8,
}

/// Why a subcommand could not run.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No usable credentials.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// The TLS client cannot be set up.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// An argument is wrong.
    #[error("{0}")]
    Usage(String),
    /// The request cannot be signed or sent.
    #[error(transparent)]
    Request(#[from] ProxyError),
    /// A file cannot be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: String,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
}

// === impl Outcome ===

impl Outcome {
    /// Success, printing `stdout`.
    pub fn printed(stdout: String) -> Self {
        Self {
            stdout,
            ..Self::default()
        }
    }
}

// === impl CommandError ===

impl CommandError {
    /// 64 for what the user can fix in the command or the config, 1 else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_)
            | Self::Credentials(_)
            | Self::Tls(_)
            | Self::Usage(_)
            | Self::Request(_)
            | Self::Read { .. } => 64,
        }
    }
}

/// The config of `args`, with `overrides` applied, and its credentials.
pub fn load_config(
    args: &CredentialArgs,
    overrides: Overrides,
) -> Result<(Config, Credentials, CredentialSource), CommandError> {
    let overrides = Overrides {
        profile: args.profile.clone(),
        ..overrides
    };
    let config = Config::load(args.config.as_deref(), &overrides)?;
    let (credentials, source) = credentials::load(
        &config.credentials,
        config.profile.as_deref(),
        &ProcessEnvironment,
    )?;
    Ok((config, credentials, source))
}

/// The config, credentials and time of `sign` and `presign`, and the
/// gateway and path of their `url`.
pub fn load_signing(
    args: &SigningArgs,
    url: &str,
) -> Result<(Config, Credentials, SystemTime, Upstream, String), CommandError> {
    let overrides = Overrides {
        signature: args.signature.clone(),
        region: args.region.clone(),
        ..Overrides::default()
    };
    let (config, credentials, _) = load_config(&args.credentials, overrides)?;
    let (upstream, path) = split_url(url)?;
    let time = parse_time(args.time.as_deref())?;
    Ok((config, credentials, time, upstream, path))
}

/// Parses `--time`, an RFC 3339 timestamp; now when absent.
pub fn parse_time(text: Option<&str>) -> Result<SystemTime, CommandError> {
    let Some(text) = text else {
        return Ok(SystemTime::now());
    };
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            CommandError::Usage(format!("--time '{text}' is not like 2026-01-31T12:00:00Z"))
        })?;
    Ok(parsed.into())
}

/// Parses a `-H 'Name: value'` argument.
pub fn parse_header(text: &str) -> Result<(http::HeaderName, http::HeaderValue), CommandError> {
    let bad = || CommandError::Usage(format!("-H '{text}' is not like 'Name: value'"));
    let (name, value) = text.split_once(':').ok_or_else(bad)?;
    let name = http::HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad())?;
    let value = http::HeaderValue::from_str(value.trim()).map_err(|_| bad())?;
    Ok((name, value))
}

/// Splits a gateway URL into the gateway and the path and query on it.
pub fn split_url(url: &str) -> Result<(Upstream, String), CommandError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| CommandError::Usage(format!("'{url}' is not a URL")))?;
    let base = match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => format!("{scheme}://{authority}"),
        _ => {
            return Err(CommandError::Usage(format!(
                "'{url}' is not an absolute URL"
            )));
        }
    };
    let upstream = Upstream::parse(&base).map_err(CommandError::Usage)?;
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/".to_owned());
    Ok((upstream, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_is_rfc3339() {
        let time = parse_time(Some("2013-05-24T00:00:00Z")).unwrap();
        let seconds = time
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(seconds, 1_369_353_600);
        assert!(parse_time(Some("yesterday")).is_err());
    }

    #[test]
    fn headers_are_name_colon_value() {
        let (name, value) = parse_header("X-Amz-Meta-A:  b c ").unwrap();
        assert_eq!(name, "x-amz-meta-a");
        assert_eq!(value, "b c");
        assert!(parse_header("no colon").is_err());
    }

    #[test]
    fn urls_split_into_gateway_and_path() {
        let (upstream, path) = split_url("http://127.0.0.1:9000/b/k?acl").unwrap();
        assert_eq!(upstream.authority(), "127.0.0.1:9000");
        assert_eq!(path, "/b/k?acl");
        let (_, path) = split_url("https://zenko.local").unwrap();
        assert_eq!(path, "/");
        assert!(split_url("/relative").is_err());
    }
}
