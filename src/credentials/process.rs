//! `credential_process`: a command that prints credentials in the AWS JSON
//! format, for vaults and token brokers:
//!
//! ```json
//! {"Version": 1, "AccessKeyId": "…", "SecretAccessKey": "…",
//!  "SessionToken": "…", "Expiration": "2026-12-04T18:00:00Z"}
//! ```
//!
//! The command line is split on whitespace (no shell, no quoting) and run
//! with no input; it must finish within [`PROCESS_TIMEOUT`]. What it prints
//! on stderr is discarded unread, since it may hold a secret; a failure is
//! reported by its exit status only. Credentials with an `Expiration` are
//! fetched again before they expire (see [`crate::reload`]).

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use wait_timeout::ChildExt;

use crate::credentials::{Credentials, CredentialsError};

/// How long the command may take.
pub const PROCESS_TIMEOUT: Duration = Duration::from_secs(30);

/// The command's answer.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProcessOutput {
    version: u32,
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    expiration: Option<String>,
}

/// Runs `command` and reads the credentials it prints.
pub fn run(command: &str) -> Result<Credentials, CredentialsError> {
    let failed = |reason: String| CredentialsError::Process {
        program: program_name(command),
        reason,
    };
    let mut words = command.split_whitespace();
    let program = words
        .next()
        .ok_or_else(|| failed("the command is empty".into()))?;
    let mut child = Command::new(program)
        .args(words)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| failed(format!("cannot start it: {error}")))?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout.read_to_end(&mut text);
        text
    });
    let status = match child.wait_timeout(PROCESS_TIMEOUT) {
        Ok(Some(status)) => status,
        Ok(None) | Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(failed(format!(
                "it did not finish within {PROCESS_TIMEOUT:?}"
            )));
        }
    };
    let output = reader.join().unwrap_or_default();
    if !status.success() {
        return Err(failed(format!("it exited with {status}")));
    }
    parse(&output).map_err(failed)
}

/// Reads the JSON answer; errors never quote it.
fn parse(output: &[u8]) -> Result<Credentials, String> {
    let answer: ProcessOutput = serde_json::from_slice(output).map_err(|error| {
        format!(
            "its output is not the AWS credential JSON (line {}, column {})",
            error.line(),
            error.column()
        )
    })?;
    if answer.version != 1 {
        return Err(format!("its output has Version {}, not 1", answer.version));
    }
    let expires = answer
        .expiration
        .map(|text| {
            time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
                .map(SystemTime::from)
                .map_err(|_| "its Expiration is not an RFC 3339 time".to_owned())
        })
        .transpose()?;
    if answer.access_key_id.is_empty() || answer.secret_access_key.is_empty() {
        return Err("its output lacks AccessKeyId or SecretAccessKey".into());
    }
    let session_token = answer.session_token.filter(|token| !token.is_empty());
    Ok(Credentials::new(
        answer.access_key_id,
        answer.secret_access_key,
        session_token,
    )
    .expiring(expires))
}

/// The program's file name, for messages: never its arguments.
pub fn program_name(command: &str) -> String {
    let program = command.split_whitespace().next().unwrap_or("");
    std::path::Path::new(program)
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| program.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_parsed_with_their_expiry() {
        let output = br#"{"Version":1,"AccessKeyId":"AKID","SecretAccessKey":"sk",
            "SessionToken":"tok","Expiration":"2030-01-02T03:04:05Z"}"#;
        let credentials = parse(output).unwrap();
        assert_eq!(credentials.access_key_id(), "AKID");
        assert_eq!(credentials.session_token(), Some("tok"));
        let expires = credentials.expires().unwrap();
        let seconds = expires
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(seconds, 1_893_553_445);
    }

    #[test]
    fn bad_answers_are_refused_without_quoting_them() {
        for output in [
            &br#"{"Version":2,"AccessKeyId":"A","SecretAccessKey":"s"}"#[..],
            br#"{"Version":1,"AccessKeyId":"A","SecretAccessKey":""}"#,
            br#"not json with secret-value-42"#,
            br#"{"Version":1,"AccessKeyId":"A","SecretAccessKey":"s","Expiration":"soon"}"#,
        ] {
            let error = parse(output).unwrap_err();
            assert!(!error.contains("secret-value-42"), "{error}");
        }
    }

    #[test]
    fn a_real_command_is_run() {
        let json = r#"{"Version":1,"AccessKeyId":"FROMPROCESS","SecretAccessKey":"sk"}"#;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("answer.json");
        std::fs::write(&file, json).unwrap();
        let credentials = run(&format!("cat {}", file.display())).unwrap();
        assert_eq!(credentials.access_key_id(), "FROMPROCESS");
        assert!(credentials.expires().is_none());
        let error = run("false").unwrap_err();
        assert!(error.to_string().contains("exited with"), "{error}");
    }

    #[test]
    fn messages_name_the_program_only() {
        assert_eq!(
            program_name("/usr/local/bin/vault-creds --token s3cr3t"),
            "vault-creds"
        );
    }
}
