//! `probe`: one GET to the admin listener of a running proxy, for
//! container health checks that run a command.

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

use crate::cli::ProbeArgs;
use crate::command::{CommandError, Outcome};

/// How long the probe waits for an answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Runs `probe`: exit 0 and the body on 200, exit 1 with the answer or the
/// failure on stderr otherwise.
pub async fn run(args: &ProbeArgs) -> Result<Outcome, CommandError> {
    if !args.admin.ip().is_loopback() {
        return Err(CommandError::Usage(format!(
            "--admin {} is not a loopback address",
            args.admin
        )));
    }
    match tokio::time::timeout(PROBE_TIMEOUT, get(args)).await {
        Ok(Ok((200, body))) => Ok(Outcome::printed(body)),
        Ok(Ok((status, body))) => Ok(refused(format!("HTTP {status}: {}", body.trim()))),
        Ok(Err(error)) => Ok(refused(format!("cannot reach {}: {error}", args.admin))),
        Err(_) => Ok(refused(format!("{} did not answer in time", args.admin))),
    }
}

async fn get(args: &ProbeArgs) -> Result<(u16, String), Box<dyn std::error::Error + Send + Sync>> {
    let stream = tokio::net::TcpStream::connect(args.admin).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = http::Request::get(&args.path)
        .header(http::header::HOST, args.admin.to_string())
        .body(Empty::<bytes::Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn refused(message: String) -> Outcome {
    Outcome {
        stdout: String::new(),
        stderr: format!("zenko-signing-proxy: {message}\n"),
        exit_code: 1,
    }
}
