//! The config keys of who may use the proxy, and how much: the remote
//! listener's client networks, token and TLS; the limits; and the access
//! policy, top-level and per route.

use std::path::PathBuf;

use http::Method;

use super::{Problems, parse_size};
use crate::client_auth::{ClientAuth, Token};
use crate::limits::{self, HeadLimits};
use crate::listener::ListenAddr;
use crate::listener::tls::ListenerTls;
use crate::policy::INTERNAL_PREFIX;

/// The methods a route may allow: those the guard lets through.
const ROUTE_METHODS: [Method; 5] = [
    Method::GET,
    Method::HEAD,
    Method::PUT,
    Method::POST,
    Method::DELETE,
];

/// The policy keys of a table, each `None` when not given.
#[derive(Debug, Default)]
pub(super) struct PolicyKeys {
    pub methods: Option<Vec<Method>>,
    pub read_only: Option<bool>,
    pub buckets: Option<Vec<String>>,
    pub key_prefixes: Option<Vec<String>>,
    pub max_body_size: Option<u64>,
}

/// Reads `allowed_clients`, `client_token` and `client_token_file`.
pub(super) fn client_auth(table: &mut toml::Table, problems: &mut Problems) -> ClientAuth {
    let allowed_clients = problems
        .take::<Vec<String>>(table, "allowed_clients")
        .unwrap_or_default()
        .iter()
        .filter_map(|text| problems.check("allowed_clients", parse_network(text)))
        .collect();
    let inline = problems.take::<String>(table, "client_token");
    let file = problems.take::<PathBuf>(table, "client_token_file");
    let text = match (inline, file) {
        (Some(_), Some(_)) => {
            problems
                .push("client_token: give client_token or client_token_file, not both".to_owned());
            None
        }
        (Some(text), None) => Some(("client_token", text)),
        (None, Some(path)) => match std::fs::read_to_string(&path) {
            Ok(text) => Some(("client_token_file", text)),
            Err(error) => {
                problems.push(format!(
                    "client_token_file: cannot read {}: {error}",
                    path.display()
                ));
                None
            }
        },
        (None, None) => None,
    };
    // NB: problems name the key, never the token.
    let token = text.and_then(|(key, text)| problems.check(key, Token::new(&text)));
    ClientAuth {
        allowed_clients,
        token,
    }
}

/// Reads `tls_cert`, `tls_key` and `tls_client_ca`.
pub(super) fn listener_tls(
    table: &mut toml::Table,
    problems: &mut Problems,
) -> Option<ListenerTls> {
    let cert = problems.take::<PathBuf>(table, "tls_cert");
    let key = problems.take::<PathBuf>(table, "tls_key");
    let client_ca = problems.take::<PathBuf>(table, "tls_client_ca");
    match (cert, key) {
        (Some(cert), Some(key)) => Some(ListenerTls {
            cert,
            key,
            client_ca,
        }),
        (None, None) if client_ca.is_none() => None,
        (None, None) => {
            problems.push("tls_client_ca: needs tls_cert and tls_key".to_owned());
            None
        }
        _ => {
            problems.push("tls_cert: tls_cert and tls_key go together".to_owned());
            None
        }
    }
}

/// A listener beyond loopback needs `allow_remote`, client networks, and
/// a token or client certificates.
pub(super) fn check_remote(
    listen: &ListenAddr,
    allow_remote: bool,
    auth: &ClientAuth,
    tls: Option<&ListenerTls>,
    problems: &mut Problems,
) {
    if tls.is_some() && matches!(listen, ListenAddr::Unix(_)) {
        problems.push("tls_cert: a unix socket listener does not speak TLS".to_owned());
    }
    if listen.is_local() {
        return;
    }
    if !allow_remote {
        problems.push(format!(
            "listen: {listen} is not a loopback address; anyone who reaches it could use \
             the proxy's credentials (set allow_remote or pass --allow-remote, with allowed_clients \
             and a client_token or tls_client_ca, to accept that)"
        ));
        return;
    }
    if auth.allowed_clients.is_empty() {
        problems.push(format!(
            "allowed_clients: {listen} is not a loopback address; list the client networks \
             that may connect (CIDR, like \"198.51.100.0/24\")"
        ));
    }
    let client_certificates = tls.is_some_and(|tls| tls.client_ca.is_some());
    if auth.token.is_none() && !client_certificates {
        problems.push(format!(
            "client_token: {listen} is not a loopback address; clients must prove themselves \
             with a client_token (or client_token_file) or with TLS client certificates \
             (tls_cert, tls_key, tls_client_ca)"
        ));
    }
}

/// Reads the head limits and the connection and request counts.
pub(super) fn limits(
    table: &mut toml::Table,
    problems: &mut Problems,
) -> (HeadLimits, usize, usize) {
    // Byte limits take units ("32KiB"); counts are plain integers.
    let mut limit = |key: &str, default: usize, range: std::ops::RangeInclusive<usize>| {
        let bytes = key.ends_with("_bytes") || key.ends_with("_length");
        let value = problems
            .take::<toml::Value>(table, key)
            .and_then(|value| {
                let parsed = match value {
                    toml::Value::Integer(count) if count >= 0 => Ok(count as u64),
                    other if bytes => parse_size(&other),
                    other => Err(format!("{other} is not a whole number")),
                };
                problems.check(key, parsed)
            })
            .map_or(default, |value| value as usize);
        if !range.contains(&value) {
            problems.push(format!(
                "{key}: {value} is not between {} and {}",
                range.start(),
                range.end()
            ));
        }
        value
    };
    let head = HeadLimits {
        max_header_count: limit(
            "max_header_count",
            limits::DEFAULT_MAX_HEADER_COUNT,
            16..=1000,
        ),
        max_header_bytes: limit(
            "max_header_bytes",
            limits::DEFAULT_MAX_HEADER_BYTES,
            1024..=256 * 1024,
        ),
        max_uri_length: limit(
            "max_uri_length",
            limits::DEFAULT_MAX_URI_LENGTH,
            1024..=limits::DEFAULT_MAX_URI_LENGTH,
        ),
    };
    let connections = limit(
        "max_connections",
        limits::DEFAULT_MAX_CONNECTIONS,
        1..=1_000_000,
    );
    let requests = limit("max_requests", limits::DEFAULT_MAX_REQUESTS, 1..=1_000_000);
    (head, connections, requests)
}

/// Reads the policy keys of a table; `label` prefixes their names in
/// problems (`route[0].`, or empty at the top level).
pub(super) fn policy_keys(
    table: &mut toml::Table,
    problems: &mut Problems,
    label: &str,
) -> PolicyKeys {
    let key = |name: &str| format!("{label}{name}");
    let methods = problems
        .take::<Vec<String>>(table, "methods")
        .and_then(|names| problems.check(&key("methods"), parse_methods(&names)));
    let read_only = problems.take::<bool>(table, "read_only");
    let buckets = problems.take::<Vec<String>>(table, "buckets");
    if let Some(buckets) = &buckets
        && let Some(bad) = buckets.iter().find(|b| b.is_empty() || b.contains('/'))
    {
        problems.push(format!("{}: '{bad}' is not a bucket name", key("buckets")));
    }
    let key_prefixes = problems.take::<Vec<String>>(table, "key_prefixes");
    let max_body_size = problems
        .take::<toml::Value>(table, "max_body_size")
        .and_then(|value| problems.check(&key("max_body_size"), parse_size(&value)));
    PolicyKeys {
        methods,
        read_only,
        buckets,
        key_prefixes,
        max_body_size,
    }
}

/// Buckets and keys mean nothing on a route to Zenko's internal APIs.
pub(super) fn check_internal_route(
    prefix: &str,
    keys: &PolicyKeys,
    label: &str,
    problems: &mut Problems,
) {
    if !prefix.starts_with(INTERNAL_PREFIX) {
        return;
    }
    if keys.buckets.is_some() || keys.key_prefixes.is_some() {
        problems.push(format!(
            "{label}buckets: a route to {prefix} serves Zenko's internal APIs, which have no \
             buckets or keys; limit it with methods or read_only"
        ));
    }
}

fn parse_network(text: &str) -> Result<ipnet::IpNet, String> {
    if let Ok(network) = text.parse::<ipnet::IpNet>() {
        return Ok(network.trunc());
    }
    text.parse::<std::net::IpAddr>()
        .map(ipnet::IpNet::from)
        .map_err(|_| format!("'{text}' is not a network like \"198.51.100.0/24\" or an address"))
}

fn parse_methods(names: &[String]) -> Result<Vec<Method>, String> {
    names
        .iter()
        .map(|name| {
            ROUTE_METHODS
                .iter()
                .find(|method| method.as_str().eq_ignore_ascii_case(name))
                .cloned()
                .ok_or_else(|| format!("'{name}' is not one of: GET, HEAD, PUT, POST, DELETE"))
        })
        .collect()
}
