//! The credentials the proxy signs with, and where it finds them.
//!
//! Sources, in order: the config file's `[credentials]` table, then the
//! environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`), then the AWS shared credentials file
//! (`AWS_SHARED_CREDENTIALS_FILE`, default `~/.aws/credentials`) with the
//! profile from `AWS_PROFILE` or `default`. A profile named explicitly
//! (`--profile` or `profile` in the config) is an explicit choice: the
//! environment is then skipped and the profile must exist.
//!
//! A secret is never a command-line argument, and no type here prints it:
//! `Debug` shows the access key id and a redaction marker.

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

pub mod process;

/// An access key, its secret, an optional session token and, for
/// temporary credentials, when they expire.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    expires: Option<std::time::SystemTime>,
}

/// Where credentials were found, for the startup log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// The `[credentials]` table of the config file.
    ConfigFile,
    /// The `AWS_*` environment variables.
    Environment,
    /// A profile of the shared credentials file.
    SharedFile {
        /// The file read.
        path: PathBuf,
        /// The profile used.
        profile: String,
    },
    /// Credentials made up for the embedded demo upstream.
    Demo,
    /// A `credential_process` command (its program name only).
    Process {
        /// The program's file name.
        program: String,
    },
}

/// Why no credentials could be loaded.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// No source had credentials.
    #[error(
        "no credentials found: set [credentials] in the config, AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY, or a profile in {}",
        .shared_file.display()
    )]
    NotFound {
        /// The shared credentials file that was looked at.
        shared_file: PathBuf,
    },
    /// A source had an access key without a secret, or the reverse.
    #[error(
        "incomplete credentials in {source_name}: both the access key id and the secret are needed"
    )]
    Incomplete {
        /// Which source was incomplete.
        source_name: String,
    },
    /// The named profile is not in the shared credentials file.
    #[error("profile '{profile}' not found in {}", .path.display())]
    ProfileNotFound {
        /// The file read.
        path: PathBuf,
        /// The profile asked for.
        profile: String,
    },
    /// The `credential_process` command failed.
    #[error("credential_process {program} failed: {reason}")]
    Process {
        /// The program's file name (never its arguments).
        program: String,
        /// What went wrong.
        reason: String,
    },
    /// The shared credentials file exists but cannot be read or parsed.
    #[error("cannot read the credentials file {}", .path.display())]
    SharedFile {
        /// The file read.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: ini::Error,
    },
}

/// The credentials given in the config file, before they are checked.
#[derive(Default, Clone, PartialEq, Eq)]
pub struct StaticCredentials {
    /// The access key id.
    pub access_key_id: Option<String>,
    /// The secret access key.
    pub secret_access_key: Option<String>,
    /// The session token, for temporary credentials.
    pub session_token: Option<String>,
    /// A command printing credentials as AWS JSON, used instead of the keys.
    pub credential_process: Option<String>,
}

/// Reads the process environment; a trait so that tests can give their own.
pub trait Environment {
    /// The value of `name`, if set and not empty.
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnvironment;

// === impl Credentials ===

impl Credentials {
    /// Credentials from their parts.
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token,
            expires: None,
        }
    }

    /// The same credentials, valid until `expires`.
    pub fn expiring(mut self, expires: Option<std::time::SystemTime>) -> Self {
        self.expires = expires;
        self
    }

    /// When the credentials stop being valid, if they ever do.
    pub fn expires(&self) -> Option<std::time::SystemTime> {
        self.expires
    }

    /// The access key id (not secret; it appears in every signature).
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The secret access key. Never log or print it.
    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    /// The session token, if any. Never log or print it.
    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "** redacted **"),
            )
            .finish()
    }
}

// === impl StaticCredentials ===

impl StaticCredentials {
    fn is_empty(&self) -> bool {
        self.access_key_id.is_none()
            && self.secret_access_key.is_none()
            && self.session_token.is_none()
            && self.credential_process.is_none()
    }
}

impl fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |value: &Option<String>| value.as_ref().map(|_| "** redacted **");
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redact(&self.secret_access_key))
            .field("session_token", &redact(&self.session_token))
            .field(
                "credential_process",
                &self
                    .credential_process
                    .as_deref()
                    .map(process::program_name),
            )
            .finish()
    }
}

// === impl ProcessEnvironment ===

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|value| !value.is_empty())
    }
}

/// Loads credentials from the first source that has them.
///
/// `profile` is the profile named on the command line or in the config.
pub fn load(
    from_config: &StaticCredentials,
    profile: Option<&str>,
    env: &dyn Environment,
) -> Result<(Credentials, CredentialSource), CredentialsError> {
    if let Some(command) = &from_config.credential_process {
        let program = process::program_name(command);
        return Ok((
            process::run(command)?,
            CredentialSource::Process { program },
        ));
    }
    if !from_config.is_empty() {
        let credentials = complete(
            from_config.access_key_id.clone(),
            from_config.secret_access_key.clone(),
            from_config.session_token.clone(),
            "the config file",
        )?;
        return Ok((credentials, CredentialSource::ConfigFile));
    }

    if profile.is_none()
        && let Some(credentials) = from_environment(env)?
    {
        return Ok((credentials, CredentialSource::Environment));
    }

    let path = shared_credentials_path(env);
    let explicit = profile.is_some();
    let profile = profile
        .map(str::to_owned)
        .or_else(|| env.var("AWS_PROFILE"))
        .unwrap_or_else(|| "default".to_owned());
    match from_shared_file(&path, &profile)? {
        Some(Found::Process(command)) => {
            let program = process::program_name(&command);
            Ok((
                process::run(&command)?,
                CredentialSource::Process { program },
            ))
        }
        Some(Found::Keys(credentials)) => {
            Ok((credentials, CredentialSource::SharedFile { path, profile }))
        }
        None if explicit => Err(CredentialsError::ProfileNotFound { path, profile }),
        None => Err(CredentialsError::NotFound { shared_file: path }),
    }
}

fn from_environment(env: &dyn Environment) -> Result<Option<Credentials>, CredentialsError> {
    let access_key_id = env.var("AWS_ACCESS_KEY_ID");
    let secret_access_key = env.var("AWS_SECRET_ACCESS_KEY");
    if access_key_id.is_none() && secret_access_key.is_none() {
        return Ok(None);
    }
    let session_token = env.var("AWS_SESSION_TOKEN");
    complete(
        access_key_id,
        secret_access_key,
        session_token,
        "the environment",
    )
    .map(Some)
}

fn shared_credentials_path(env: &dyn Environment) -> PathBuf {
    if let Some(path) = env.var("AWS_SHARED_CREDENTIALS_FILE") {
        return PathBuf::from(path);
    }
    let home = env.var("HOME").unwrap_or_default();
    Path::new(&home).join(".aws").join("credentials")
}

/// What a profile of the shared credentials file holds.
enum Found {
    /// Keys.
    Keys(Credentials),
    /// A `credential_process` command.
    Process(String),
}

/// Reads `profile` from the shared credentials file; `None` when the file or
/// the profile does not exist.
fn from_shared_file(path: &Path, profile: &str) -> Result<Option<Found>, CredentialsError> {
    if !path.exists() {
        return Ok(None);
    }
    let file = ini::Ini::load_from_file(path).map_err(|source| CredentialsError::SharedFile {
        path: path.to_owned(),
        source,
    })?;
    let Some(section) = file.section(Some(profile)) else {
        return Ok(None);
    };
    let value = |key: &str| {
        section
            .get(key)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    if let Some(command) = value("credential_process") {
        return Ok(Some(Found::Process(command)));
    }
    complete(
        value("aws_access_key_id"),
        value("aws_secret_access_key"),
        value("aws_session_token"),
        &format!("profile '{profile}' of {}", path.display()),
    )
    .map(|credentials| Some(Found::Keys(credentials)))
}

fn complete(
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    source_name: &str,
) -> Result<Credentials, CredentialsError> {
    match (access_key_id, secret_access_key) {
        (Some(id), Some(secret)) => Ok(Credentials::new(id, secret, session_token)),
        _ => Err(CredentialsError::Incomplete {
            source_name: source_name.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::Write;

    use super::*;

    #[derive(Default)]
    struct FakeEnvironment(HashMap<String, String>);

    impl FakeEnvironment {
        fn with(mut self, name: &str, value: &str) -> Self {
            self.0.insert(name.to_owned(), value.to_owned());
            self
        }
    }

    impl Environment for FakeEnvironment {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned()
        }
    }

    fn shared_file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file
    }

    const SHARED: &str = "[default]\naws_access_key_id = FILEKEY\n\
        aws_secret_access_key = filesecret\n\n[other]\naws_access_key_id=OTHERKEY\n\
        aws_secret_access_key=othersecret\naws_session_token=othertoken\n";

    #[test]
    fn config_file_comes_first() {
        let from_config = StaticCredentials {
            access_key_id: Some("CFGKEY".into()),
            secret_access_key: Some("cfgsecret".into()),
            session_token: None,
            credential_process: None,
        };
        let env = FakeEnvironment::default()
            .with("AWS_ACCESS_KEY_ID", "ENVKEY")
            .with("AWS_SECRET_ACCESS_KEY", "envsecret");
        let (credentials, source) = load(&from_config, None, &env).unwrap();
        assert_eq!(credentials.access_key_id(), "CFGKEY");
        assert_eq!(source, CredentialSource::ConfigFile);
    }

    #[test]
    fn environment_comes_before_the_shared_file() {
        let file = shared_file(SHARED);
        let env = FakeEnvironment::default()
            .with("AWS_ACCESS_KEY_ID", "ENVKEY")
            .with("AWS_SECRET_ACCESS_KEY", "envsecret")
            .with("AWS_SESSION_TOKEN", "envtoken")
            .with("AWS_SHARED_CREDENTIALS_FILE", file.path().to_str().unwrap());
        let (credentials, source) = load(&StaticCredentials::default(), None, &env).unwrap();
        assert_eq!(credentials.access_key_id(), "ENVKEY");
        assert_eq!(credentials.session_token(), Some("envtoken"));
        assert_eq!(source, CredentialSource::Environment);
    }

    #[test]
    fn shared_file_default_and_aws_profile() {
        let file = shared_file(SHARED);
        let path = file.path().to_str().unwrap();
        let env = FakeEnvironment::default().with("AWS_SHARED_CREDENTIALS_FILE", path);
        let (credentials, _) = load(&StaticCredentials::default(), None, &env).unwrap();
        assert_eq!(credentials.access_key_id(), "FILEKEY");

        let env = env.with("AWS_PROFILE", "other");
        let (credentials, source) = load(&StaticCredentials::default(), None, &env).unwrap();
        assert_eq!(credentials.access_key_id(), "OTHERKEY");
        assert_eq!(credentials.session_token(), Some("othertoken"));
        assert!(
            matches!(source, CredentialSource::SharedFile { profile, .. } if profile == "other")
        );
    }

    #[test]
    fn explicit_profile_skips_the_environment() {
        let file = shared_file(SHARED);
        let env = FakeEnvironment::default()
            .with("AWS_ACCESS_KEY_ID", "ENVKEY")
            .with("AWS_SECRET_ACCESS_KEY", "envsecret")
            .with("AWS_SHARED_CREDENTIALS_FILE", file.path().to_str().unwrap());
        let (credentials, _) = load(&StaticCredentials::default(), Some("other"), &env).unwrap();
        assert_eq!(credentials.access_key_id(), "OTHERKEY");
    }

    #[test]
    fn missing_explicit_profile_is_an_error() {
        let file = shared_file(SHARED);
        let env = FakeEnvironment::default()
            .with("AWS_SHARED_CREDENTIALS_FILE", file.path().to_str().unwrap());
        let error = load(&StaticCredentials::default(), Some("nope"), &env).unwrap_err();
        assert!(matches!(error, CredentialsError::ProfileNotFound { .. }));
        assert!(error.to_string().contains("'nope'"));
    }

    #[test]
    fn nothing_found_fails_closed() {
        let env = FakeEnvironment::default().with(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/zsp-credentials",
        );
        let error = load(&StaticCredentials::default(), None, &env).unwrap_err();
        assert!(matches!(error, CredentialsError::NotFound { .. }));
        assert!(error.to_string().starts_with("no credentials found"));
    }

    #[test]
    fn access_key_without_secret_is_incomplete() {
        let env = FakeEnvironment::default().with("AWS_ACCESS_KEY_ID", "ENVKEY");
        let error = load(&StaticCredentials::default(), None, &env).unwrap_err();
        assert!(matches!(error, CredentialsError::Incomplete { .. }));
    }

    #[test]
    fn debug_output_never_shows_the_secret_or_token() {
        let credentials = Credentials::new("AKID", "s3cr3tvalue", Some("t0kenvalue".into()));
        let printed = format!("{credentials:?}");
        assert!(printed.contains("AKID"));
        assert!(!printed.contains("s3cr3tvalue"));
        assert!(!printed.contains("t0kenvalue"));

        let from_config = StaticCredentials {
            access_key_id: Some("AKID".into()),
            secret_access_key: Some("s3cr3tvalue".into()),
            session_token: Some("t0kenvalue".into()),
            credential_process: None,
        };
        let printed = format!("{from_config:?}");
        assert!(!printed.contains("s3cr3tvalue"));
        assert!(!printed.contains("t0kenvalue"));
    }
}
