//! Logging set-up: `tracing` to stderr, as text or JSON lines, at the level
//! `--log-level` or `RUST_LOG` asks for. What is logged never holds a
//! secret: credentials print redacted, and no header is ever logged (see
//! [`crate::access_log`]).

use std::io::IsTerminal;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Logs to stderr, in colour only on a terminal. `serve` takes its format
/// and level from its flags; one-shot commands log only errors by default:
/// their answer is their output.
///
/// Lines are written by a background thread (never dropped: a full queue
/// waits), so that a request never waits for stderr; the returned guard
/// flushes them when dropped at exit.
pub fn init(serving: Option<(LogFormat, Option<&str>)>) -> Result<WorkerGuard, String> {
    let filter = match serving {
        Some((_, Some(level))) => EnvFilter::try_new(format!("warn,zenko_signing_proxy={level}"))
            .map_err(|_| {
            format!("--log-level '{level}' is not one of error, warn, info, debug, trace")
        })?,
        Some((_, None)) => EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new("warn,zenko_signing_proxy=info")),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("error")),
    };
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match serving {
        Some((LogFormat::Json, _)) => builder.json().init(),
        _ => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
    Ok(guard)
}
