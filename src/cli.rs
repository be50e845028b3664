//! The command line: subcommands and flags (clap derive; the doc comments
//! are the `--help` text).
//!
//! No flag takes a secret: credentials come from the config file, the
//! environment or the AWS shared credentials file.

// The doc comments are the --help text, where example URLs stay plain.
#![allow(rustdoc::bare_urls)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Overrides;

/// A local signing reverse proxy for S3-compatible gateways (Scality Zenko /
/// CloudServer, Backbeat): clients send plain unsigned HTTP to it on
/// loopback, it adds an AWS Signature (V4, or the legacy V2) and forwards to
/// the gateway.
#[derive(Debug, Parser)]
#[command(name = "zenko-signing-proxy", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the proxy.
    Serve(ServeArgs),
    /// Print the headers the proxy would send for one request, one
    /// `Name: value` per line (usable as curl -H arguments).
    Sign(SignArgs),
    /// Print a presigned URL (V4: query signature up to 7 days; V2:
    /// Signature and Expires).
    Presign(PresignArgs),
    /// Send one signed request to the gateway and print the answer body
    /// (pretty JSON for JSON answers, e.g. Backbeat metrics); exit 0 on 2xx.
    Request(RequestArgs),
    /// Validate the config and print it as the proxy sees it, secrets redacted.
    CheckConfig(CheckConfigArgs),
    /// Ask the admin listener of a running proxy: exit 0 when it answers
    /// 200 (for exec probes of Kubernetes, whose HTTP probes cannot reach
    /// the pod's loopback).
    Probe(ProbeArgs),
}

/// Flags of `probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The admin listener's address (loopback).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9901")]
    pub admin: std::net::SocketAddr,

    /// The endpoint: /readyz, /healthz or /metrics.
    #[arg(default_value = "/readyz")]
    pub path: String,
}

/// Flags of `serve`; each overrides the config file's key of the same name.
#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Where the config comes from, and how to sign.
    #[command(flatten)]
    pub config: ConfigArgs,

    /// Address to listen on [default: 127.0.0.1:7070]; port 0 picks a free
    /// port; unix:/path serves on a unix domain socket (mode 0600).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,

    /// Accept a listen address that is not loopback. The config must also
    /// name allowed_clients and a client_token or tls_client_ca: whoever
    /// reaches the proxy signs with its credentials.
    #[arg(long)]
    pub allow_remote: bool,

    /// Log format on stderr: text or json (one object per line).
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub log_format: LogFormat,

    /// Log level of the proxy (error, warn, info, debug, trace); libraries
    /// log warnings. Overrides RUST_LOG [default: info].
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// For people: one line of text per event.
    #[default]
    Text,
    /// For log collectors: one JSON object per line.
    Json,
}

/// The config file and the credentials profile.
#[derive(Debug, Args, Default)]
pub struct CredentialArgs {
    /// TOML config file (see config.example.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Profile of the AWS shared credentials file to sign with.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
}

/// The config file and the flags that override its keys.
#[derive(Debug, Args, Default)]
pub struct ConfigArgs {
    /// Config file and profile.
    #[command(flatten)]
    pub credentials: CredentialArgs,

    /// The gateway's base URL, e.g. http://zenko.local (http or https).
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,

    /// Signature of the default route: v4 or v2 [default: the config's, else v4].
    #[arg(long, value_name = "VERSION")]
    pub signature: Option<String>,

    /// Region in the signature's scope [default: the config's, else us-east-1].
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// How bodies are signed: auto, signed, streaming or unsigned [default: auto].
    #[arg(long, value_name = "MODE")]
    pub payload: Option<String>,

    /// What '+' in a client's path means: space or literal [default: space].
    #[arg(long, value_name = "MEANING")]
    pub plus_in_path: Option<String>,
}

/// What `sign` and `presign` sign with: credentials, version, region, time.
#[derive(Debug, Args)]
pub struct SigningArgs {
    /// Config file and profile (for the credentials).
    #[command(flatten)]
    pub credentials: CredentialArgs,

    /// Signature version: v4 or v2 [default: the config's, else v4].
    #[arg(long, value_name = "VERSION")]
    pub signature: Option<String>,

    /// Region in the V4 scope [default: the config's, else us-east-1].
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// Time of the signature, RFC 3339 (e.g. 2026-01-31T12:00:00Z) [default: now].
    #[arg(long, value_name = "RFC3339")]
    pub time: Option<String>,
}

/// Flags of `sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// Credentials, version, region and time.
    #[command(flatten)]
    pub signing: SigningArgs,

    /// A header of the request, signed when it is one the proxy signs.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,

    /// SHA-256 of the body, in hex (V4) [default: the hash of an empty body].
    #[arg(long, value_name = "HEX", group = "payload_source")]
    pub payload_hash: Option<String>,

    /// Sign the body as UNSIGNED-PAYLOAD (V4).
    #[arg(long, group = "payload_source")]
    pub unsigned_payload: bool,

    /// Hash this file as the body (V4).
    #[arg(long, value_name = "FILE", group = "payload_source")]
    pub body_file: Option<PathBuf>,

    /// Also print, on stderr, the canonical request and string to sign.
    #[arg(short, long)]
    pub verbose: bool,

    /// HTTP method, e.g. GET.
    pub method: String,

    /// The gateway URL, e.g. http://zenko.local/bucket/key.
    pub url: String,
}

/// Flags of `presign`.
#[derive(Debug, Args)]
pub struct PresignArgs {
    /// Credentials, version, region and the time the validity starts.
    #[command(flatten)]
    pub signing: SigningArgs,

    /// How long the URL stays valid, e.g. 15m, 12h, 7d (V4: at most 7 days).
    #[arg(long, value_name = "DURATION")]
    pub expires: String,

    /// HTTP method, e.g. GET.
    pub method: String,

    /// The gateway URL, e.g. http://zenko.local/bucket/key.
    pub url: String,
}

/// Flags of `request`.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// Config, gateway and signing flags.
    #[command(flatten)]
    pub config: ConfigArgs,

    /// Use the configured route with this prefix, whatever the path.
    #[arg(long, value_name = "PREFIX")]
    pub route: Option<String>,

    /// The body: text, or @FILE to send a file.
    #[arg(long, value_name = "DATA")]
    pub data: Option<String>,

    /// A header of the request.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,

    /// HTTP method, e.g. GET.
    pub method: String,

    /// Path and query on the gateway, e.g. /_/backbeat/api/metrics/crr/all.
    pub path: String,
}

/// Flags of `check-config`.
#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// Config, gateway and signing flags.
    #[command(flatten)]
    pub config: ConfigArgs,
}

// === impl ServeArgs ===

impl ServeArgs {
    /// The flags that override config keys.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen.clone(),
            allow_remote: self.allow_remote,
            ..self.config.overrides()
        }
    }
}

// === impl ConfigArgs ===

impl ConfigArgs {
    /// The flags that override config keys.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            upstream: self.upstream.clone(),
            signature: self.signature.clone(),
            region: self.region.clone(),
            payload: self.payload.clone(),
            profile: self.credentials.profile.clone(),
            plus_in_path: self.plus_in_path.clone(),
            ..Overrides::default()
        }
    }
}
