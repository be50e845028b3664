//! `check-config`: validates the config, finds the credentials, and prints
//! the effective settings, secrets redacted.

use std::fmt::Write;

use crate::cli::CheckConfigArgs;
use crate::command::{CommandError, Outcome, load_config};
use crate::config::Config;
use crate::credentials::{CredentialSource, Credentials};
use crate::upstream::UpstreamClient;

/// What a secret is printed as.
const REDACTED: &str = "** redacted **";

/// Runs `check-config`.
pub fn run(args: &CheckConfigArgs) -> Result<Outcome, CommandError> {
    let (config, credentials, source) =
        load_config(&args.config.credentials, args.config.overrides())?;
    // The same TLS set-up `serve` does at startup: a bad ca_file fails here.
    let needs_tls = config
        .upstream
        .iter()
        .chain(
            config
                .routes
                .iter()
                .filter_map(|route| route.upstream.as_ref()),
        )
        .any(|upstream| upstream.scheme().as_str() == "https");
    UpstreamClient::new(config.timeouts, &config.tls, needs_tls)?;
    // And the listener's TLS files, as `serve` reads them.
    if let Some(tls) = &config.listener_tls {
        tls.acceptor()?;
    }
    Ok(Outcome::printed(describe(&config, &credentials, &source)))
}

/// The effective config as TOML, with where the credentials come from.
pub fn describe(config: &Config, credentials: &Credentials, source: &CredentialSource) -> String {
    let mut text = String::from("# effective configuration (secrets redacted)\n");
    let upstream = config
        .upstream
        .as_ref()
        .map(|upstream| format!("upstream = \"{upstream}\""))
        .unwrap_or_else(|| {
            "# upstream: none; serve needs --upstream (demo builds start their own gateway)"
                .to_owned()
        });
    let _ = writeln!(text, "listen = \"{}\"", config.listen);
    let _ = writeln!(text, "allow_remote = {}", config.allow_remote);
    let _ = writeln!(
        text,
        "unix_socket_mode = \"{:04o}\"",
        config.unix_socket_mode
    );
    if let Some(admin) = config.admin_listen {
        let _ = writeln!(text, "admin_listen = \"{admin}\"");
    }
    let _ = writeln!(
        text,
        "allowed_hosts = {}",
        toml_list(config.allowed_hosts.clone())
    );
    let _ = writeln!(
        text,
        "allowed_origins = {}",
        toml_list(config.allowed_origins.clone())
    );
    let _ = writeln!(text, "{upstream}");
    let _ = writeln!(text, "signature = \"{}\"", config.signature.as_str());
    let _ = writeln!(text, "region = \"{}\"", config.region);
    let _ = writeln!(text, "payload = \"{}\"", config.payload.as_str());
    let _ = writeln!(text, "unsigned_over_tls = {}", config.unsigned_over_tls);
    let _ = writeln!(text, "addressing = \"{}\"", config.addressing.as_str());
    let plus = match config.plus_in_path {
        crate::uri::PlusInPath::Space => "space",
        crate::uri::PlusInPath::Literal => "literal",
    };
    let _ = writeln!(text, "plus_in_path = \"{plus}\"");
    let _ = writeln!(text, "memory_body_limit = {}", config.body.memory_limit);
    let _ = writeln!(text, "spool_limit = {}", config.body.spool_limit);
    let _ = writeln!(text, "chunk_size = {}", config.body.chunk_size);
    let spool_dir = config
        .body
        .spool_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir);
    let _ = writeln!(text, "spool_dir = \"{}\"", spool_dir.display());
    let duration = |d| humantime::format_duration(d).to_string();
    let _ = writeln!(
        text,
        "connect_timeout = \"{}\"",
        duration(config.timeouts.connect)
    );
    let _ = writeln!(
        text,
        "response_timeout = \"{}\"",
        duration(config.timeouts.response)
    );
    let _ = writeln!(
        text,
        "drain_timeout = \"{}\"",
        duration(config.drain_timeout)
    );
    let _ = writeln!(text, "idle_timeout = \"{}\"", duration(config.idle_timeout));
    if let Some((cert, key)) = &config.tls.client_identity {
        let _ = writeln!(text, "client_cert = \"{}\"", cert.display());
        let _ = writeln!(text, "client_key = \"{}\"", key.display());
    }
    if let Some(ca_file) = &config.tls.ca_file {
        let _ = writeln!(text, "ca_file = \"{}\"", ca_file.display());
    }
    describe_access(config, &mut text);
    describe_routes(config, &mut text);
    describe_credentials(credentials, source, &mut text);
    text
}

fn describe_access(config: &Config, text: &mut String) {
    let networks = config
        .client_auth
        .allowed_clients
        .iter()
        .map(ToString::to_string)
        .collect();
    let _ = writeln!(text, "allowed_clients = {}", toml_list(networks));
    if config.client_auth.token.is_some() {
        let _ = writeln!(text, "client_token = \"{REDACTED}\"");
    }
    if let Some(tls) = &config.listener_tls {
        let _ = writeln!(text, "tls_cert = \"{}\"", tls.cert.display());
        let _ = writeln!(text, "tls_key = \"{}\"", tls.key.display());
        if let Some(ca) = &tls.client_ca {
            let _ = writeln!(text, "tls_client_ca = \"{}\"", ca.display());
        }
    }
    let limits = &config.head_limits;
    let _ = writeln!(text, "max_header_count = {}", limits.max_header_count);
    let _ = writeln!(text, "max_header_bytes = {}", limits.max_header_bytes);
    let _ = writeln!(text, "max_uri_length = {}", limits.max_uri_length);
    let _ = writeln!(text, "max_connections = {}", config.max_connections);
    let _ = writeln!(text, "max_requests = {}", config.max_requests);
    describe_policy(
        &PolicyView {
            methods: config.policy.methods.as_deref(),
            read_only: Some(config.policy.read_only),
            buckets: config.policy.buckets.as_deref(),
            key_prefixes: config.policy.key_prefixes.as_deref(),
            max_body_size: config.max_body_size,
        },
        text,
    );
}

/// The access keys of one table, as given (`None`: not set).
struct PolicyView<'a> {
    methods: Option<&'a [http::Method]>,
    read_only: Option<bool>,
    buckets: Option<&'a [String]>,
    key_prefixes: Option<&'a [String]>,
    max_body_size: Option<u64>,
}

/// `["a", "b"]`.
fn toml_list(items: Vec<String>) -> String {
    let items: Vec<String> = items.iter().map(|item| format!("\"{item}\"")).collect();
    format!("[{}]", items.join(", "))
}

fn describe_policy(policy: &PolicyView<'_>, text: &mut String) {
    let list = toml_list;
    if let Some(methods) = policy.methods {
        let names = methods.iter().map(ToString::to_string).collect();
        let _ = writeln!(text, "methods = {}", list(names));
    }
    if let Some(read_only) = policy.read_only {
        let _ = writeln!(text, "read_only = {read_only}");
    }
    if let Some(buckets) = policy.buckets {
        let _ = writeln!(text, "buckets = {}", list(buckets.to_vec()));
    }
    if let Some(prefixes) = policy.key_prefixes {
        let _ = writeln!(text, "key_prefixes = {}", list(prefixes.to_vec()));
    }
    if let Some(size) = policy.max_body_size {
        let _ = writeln!(text, "max_body_size = {size}");
    }
}

fn describe_routes(config: &Config, text: &mut String) {
    for route in &config.routes {
        let _ = writeln!(text, "\n[[route]]\nprefix = \"{}\"", route.prefix);
        if let Some(upstream) = &route.upstream {
            let _ = writeln!(text, "upstream = \"{upstream}\"");
        }
        if let Some(signature) = route.signature {
            let _ = writeln!(text, "signature = \"{}\"", signature.as_str());
        }
        if let Some(region) = &route.region {
            let _ = writeln!(text, "region = \"{region}\"");
        }
        if let Some(addressing) = route.addressing {
            let _ = writeln!(text, "addressing = \"{}\"", addressing.as_str());
        }
        if let Some(payload) = route.payload {
            let _ = writeln!(text, "payload = \"{}\"", payload.as_str());
        }
        describe_policy(
            &PolicyView {
                methods: route.methods.as_deref(),
                read_only: route.read_only,
                buckets: route.buckets.as_deref(),
                key_prefixes: route.key_prefixes.as_deref(),
                max_body_size: route.max_body_size,
            },
            text,
        );
    }
}

fn describe_credentials(credentials: &Credentials, source: &CredentialSource, text: &mut String) {
    let source = match source {
        CredentialSource::ConfigFile => "config file".to_owned(),
        CredentialSource::Environment => "environment".to_owned(),
        CredentialSource::SharedFile { path, profile } => {
            format!("profile {profile} of {}", path.display())
        }
        CredentialSource::Demo => "demo".to_owned(),
        CredentialSource::Process { program } => format!("credential_process {program}"),
    };
    let _ = writeln!(text, "\n[credentials]  # from: {source}");
    let _ = writeln!(text, "access_key_id = \"{}\"", credentials.access_key_id());
    let _ = writeln!(text, "secret_access_key = \"{REDACTED}\"");
    if credentials.session_token().is_some() {
        let _ = writeln!(text, "session_token = \"{REDACTED}\"");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;

    #[test]
    fn description_redacts_secrets_and_parses_back() {
        let config = Config::from_toml(
            "upstream = \"http://127.0.0.1:9000\"\n[[route]]\nprefix = \"/_/\"\nsignature = \"v2\"\n",
            &Overrides::default(),
        )
        .unwrap();
        let credentials = Credentials::new("AKID", "very-secret-value", Some("token-value".into()));
        let text = describe(&config, &credentials, &CredentialSource::ConfigFile);
        assert!(text.contains("access_key_id = \"AKID\""));
        assert!(!text.contains("very-secret-value"));
        assert!(!text.contains("token-value"));

        // Without its credentials table, the description is a valid config
        // that means the same.
        let settings = text.split("\n[credentials]").next().unwrap();
        let again = Config::from_toml(settings, &Overrides::default()).unwrap();
        assert_eq!(again.routes, config.routes);
        assert_eq!(again.upstream, config.upstream);
        assert_eq!(again.body.spool_limit, config.body.spool_limit);
        assert_eq!(again.timeouts, config.timeouts);
    }
}
