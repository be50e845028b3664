//! The command line: subcommands and flags (clap derive; the doc comments
//! are the `--help` text).
//!
//! No flag takes a secret: credentials come from the config file, the
//! environment or the AWS shared credentials file.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Overrides;

/// A local signing reverse proxy for S3-compatible gateways (Scality Zenko /
/// CloudServer, Backbeat): clients send plain unsigned HTTP to it on
/// loopback, it adds an AWS Signature V4 and forwards to the gateway.
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
}

/// Flags of `serve`; each overrides the config file's key of the same name.
#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Where the config comes from, and how to sign.
    #[command(flatten)]
    pub config: ConfigArgs,

    /// Address to listen on [default: 127.0.0.1:7070]; port 0 picks a free port.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,

    /// Accept a listen address that is not loopback. Anyone who can reach it
    /// can then use the proxy's credentials.
    #[arg(long)]
    pub allow_remote: bool,
}

/// The config file and the flags that override its signing keys; shared by
/// every subcommand.
#[derive(Debug, Args, Default)]
pub struct ConfigArgs {
    /// TOML config file (see config.example.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The gateway's base URL, e.g. http://zenko.local (http or https).
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,

    /// Signature of the default route: v4 or v2 [default: v4].
    #[arg(long, value_name = "VERSION")]
    pub signature: Option<String>,

    /// Region in the signature's scope [default: us-east-1].
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// How bodies are signed: auto, unsigned or signed [default: auto].
    #[arg(long, value_name = "MODE")]
    pub payload: Option<String>,

    /// Profile of the AWS shared credentials file to sign with.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// What '+' in a client's path means: space or literal [default: space].
    #[arg(long, value_name = "MEANING")]
    pub plus_in_path: Option<String>,
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
            profile: self.profile.clone(),
            plus_in_path: self.plus_in_path.clone(),
            ..Overrides::default()
        }
    }
}
