//! zenko-signing-proxy: a local signing reverse proxy for S3-compatible
//! gateways such as Scality Zenko (CloudServer) and its Backbeat API.
//!
//! A client sends a plain, unsigned request on loopback; the proxy rewrites
//! it, signs it with AWS Signature V4 or V2, forwards it to the gateway and
//! streams the answer back. The request path, one module per step:
//!
//! ```text
//! server ─▶ proxy ─▶ limits/guard ─▶ uri/rewrite ─▶ route/policy ─▶ body ─▶ sign ─▶ upstream
//! (client_auth, framing)                                  (spool, aws-chunked)
//! client ◀── access_log ◀── response streamed back ◀─────────────────────────────┘
//! ```
//!
//! Who may ask at all is decided first: [`client_auth`] (client networks,
//! token) and [`framing`] (request smuggling) per connection in [`server`],
//! [`limits`] and [`guard`] per request, and each route's [`policy`].
//!
//! [`config`] and [`credentials`] say what to do and with which keys;
//! [`serve`] puts the pieces together; [`error`] is what the proxy answers
//! when it refuses or fails; [`command`] holds the one-shot subcommands
//! (`sign`, `presign`, `request`, `check-config`).

#![forbid(unsafe_code)]

pub mod access_log;
pub mod admin;
pub mod body;
pub mod cli;
pub mod client_auth;
pub mod clock;
pub mod command;
pub mod config;
pub mod credentials;
pub mod demo;
pub mod error;
pub mod framing;
pub mod guard;
pub mod limits;
pub mod listener;
pub mod logging;
pub mod metrics;
pub mod policy;
pub mod proxy;
pub mod reload;
pub mod rewrite;
pub mod route;
pub mod serve;
pub mod server;
pub mod sign;
pub mod spool;
pub mod upstream;
pub mod uri;
