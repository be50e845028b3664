//! Routes: which gateway, signature version, region and payload mode a
//! request gets, chosen by the prefix of its path.
//!
//! The config lists routes in order; the first whose prefix starts the
//! request's (strictly re-encoded) path wins, and the top-level keys form
//! the default route that covers everything else. A route's missing keys
//! take the top-level values. The typical use: S3 data on V4, and
//! `/_/backbeat/api/` on V2 to the same gateway, since Backbeat's own
//! clients sign with V2.
//!
//! A route also carries its access policy ([`crate::policy`]) and its
//! largest body; those inherit the top-level values the same way.

use std::str::FromStr;

use crate::body::PayloadMode;
use crate::policy::{AccessPolicy, INTERNAL_PREFIX};
use crate::upstream::Upstream;

/// The signature a route signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureVersion {
    /// AWS Signature Version 4 (the default).
    #[default]
    V4,
    /// The legacy Signature Version 2 (HMAC-SHA1), for Backbeat and old
    /// deployments. It signs headers only, never the body.
    V2,
}

/// How the gateway is told the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Addressing {
    /// In the path: `http://zenko.local/bucket/key` (the default).
    #[default]
    Path,
    /// In the host name: `http://bucket.zenko.local/key`.
    VirtualHost,
}

/// A route as the config gives it; `None` fields take the default route's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteConfig {
    /// The path prefix, starting with `/`.
    pub prefix: String,
    /// The gateway for this prefix.
    pub upstream: Option<Upstream>,
    /// The signature version.
    pub signature: Option<SignatureVersion>,
    /// The signing region (V4).
    pub region: Option<String>,
    /// The payload mode (V4).
    pub payload: Option<PayloadMode>,
    /// How the gateway is told the bucket.
    pub addressing: Option<Addressing>,
    /// The methods allowed.
    pub methods: Option<Vec<http::Method>>,
    /// Whether only GET and HEAD are allowed.
    pub read_only: Option<bool>,
    /// The buckets allowed.
    pub buckets: Option<Vec<String>>,
    /// The key prefixes allowed.
    pub key_prefixes: Option<Vec<String>>,
    /// The largest request body, in bytes.
    pub max_body_size: Option<u64>,
}

/// A route with every setting decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The route's name in the config: `route[0]`, …, or `default`.
    pub name: String,
    /// The path prefix; empty for the default route.
    pub prefix: String,
    /// The gateway.
    pub upstream: Upstream,
    /// The signature version.
    pub signature: SignatureVersion,
    /// The signing region (V4).
    pub region: String,
    /// The payload mode (V4).
    pub payload: PayloadMode,
    /// How the gateway is told the bucket.
    pub addressing: Addressing,
    /// What the route lets clients do.
    pub policy: AccessPolicy,
    /// The largest request body, in bytes; `None` for no limit but the
    /// spool's.
    pub max_body_size: Option<u64>,
}

// === impl Addressing ===

impl FromStr for Addressing {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "path" => Ok(Self::Path),
            "virtual-host" => Ok(Self::VirtualHost),
            other => Err(format!("'{other}' is not one of: path, virtual-host")),
        }
    }
}

impl Addressing {
    /// The name used in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Path => "path",
            Self::VirtualHost => "virtual-host",
        }
    }
}

// === impl SignatureVersion ===

impl FromStr for SignatureVersion {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "v4" => Ok(Self::V4),
            "v2" => Ok(Self::V2),
            other => Err(format!("'{other}' is not one of: v4, v2")),
        }
    }
}

impl SignatureVersion {
    /// The name used in the config and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V4 => "v4",
            Self::V2 => "v2",
        }
    }
}

// === impl Route ===

impl Route {
    /// `config`, the route at `index`, with its missing settings taken
    /// from `default`.
    pub fn inherit(index: usize, config: &RouteConfig, default: &Route) -> Self {
        let policy = AccessPolicy {
            methods: config
                .methods
                .clone()
                .or_else(|| default.policy.methods.clone()),
            read_only: config.read_only.unwrap_or(default.policy.read_only),
            buckets: config
                .buckets
                .clone()
                .or_else(|| default.policy.buckets.clone()),
            key_prefixes: config
                .key_prefixes
                .clone()
                .or_else(|| default.policy.key_prefixes.clone()),
        };
        Self {
            name: format!("route[{index}]"),
            prefix: config.prefix.clone(),
            upstream: config
                .upstream
                .clone()
                .unwrap_or_else(|| default.upstream.clone()),
            signature: config.signature.unwrap_or(default.signature),
            region: config
                .region
                .clone()
                .unwrap_or_else(|| default.region.clone()),
            payload: config.payload.unwrap_or(default.payload),
            addressing: config.addressing.unwrap_or(default.addressing),
            policy,
            max_body_size: config.max_body_size.or(default.max_body_size),
        }
    }

    /// Whether this route serves `path`.
    pub fn matches(&self, path: &str) -> bool {
        path.starts_with(&self.prefix)
    }

    /// Whether `path` leaves this route once its `.` and `..` segments are
    /// resolved: the first of `routes` serving the resolved path is
    /// another one. A gateway that resolves them (s3s-fs does) would act
    /// under that other route's rules.
    pub fn escaped_by(&self, routes: &[Route], path: &str) -> bool {
        let resolved = crate::policy::resolve_dot_segments(path);
        resolved != path
            && routes
                .iter()
                .find(|candidate| candidate.matches(&resolved))
                .is_some_and(|serving| serving.name != self.name)
    }

    /// Whether this route was configured for Zenko's internal APIs (`/_/`),
    /// which no other route signs for.
    pub fn is_internal(&self) -> bool {
        self.prefix.starts_with(INTERNAL_PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_route() -> Route {
        Route {
            name: "default".into(),
            prefix: String::new(),
            upstream: Upstream::parse("http://127.0.0.1:9000").unwrap(),
            signature: SignatureVersion::V4,
            region: "us-east-1".into(),
            payload: PayloadMode::Auto,
            addressing: Addressing::Path,
            policy: AccessPolicy {
                read_only: true,
                ..AccessPolicy::default()
            },
            max_body_size: Some(1024),
        }
    }

    #[test]
    fn missing_settings_come_from_the_default_route() {
        let config = RouteConfig {
            prefix: "/_/backbeat/api/".into(),
            upstream: None,
            signature: Some(SignatureVersion::V2),
            region: None,
            payload: None,
            addressing: None,
            methods: None,
            read_only: None,
            buckets: Some(vec!["logs".into()]),
            key_prefixes: None,
            max_body_size: None,
        };
        let route = Route::inherit(1, &config, &default_route());
        assert_eq!(route.name, "route[1]");
        assert!(route.is_internal());
        assert!(route.policy.read_only);
        assert_eq!(route.policy.buckets, Some(vec!["logs".to_owned()]));
        assert_eq!(route.max_body_size, Some(1024));
        assert_eq!(route.signature, SignatureVersion::V2);
        assert_eq!(route.upstream.authority(), "127.0.0.1:9000");
        assert_eq!(route.region, "us-east-1");
        assert!(route.matches("/_/backbeat/api/metrics/crr/all"));
        assert!(!route.matches("/bucket/_/backbeat/api/"));
    }

    #[test]
    fn dot_segments_that_lead_to_another_route_are_seen() {
        let scratch = RouteConfig {
            prefix: "/scratch/".into(),
            upstream: None,
            signature: None,
            region: None,
            payload: None,
            addressing: None,
            methods: None,
            read_only: Some(false),
            buckets: None,
            key_prefixes: None,
            max_body_size: None,
        };
        let routes = vec![
            Route::inherit(0, &scratch, &default_route()),
            default_route(),
        ];
        let open = &routes[0];
        assert!(open.escaped_by(&routes, "/scratch/../prod/db.dump"));
        assert!(open.escaped_by(&routes, "/scratch/a/../../prod/x"));
        assert!(!open.escaped_by(&routes, "/scratch/a/../b"));
        assert!(!open.escaped_by(&routes, "/scratch/a/./b"));
        assert!(!open.escaped_by(&routes, "/scratch/plain"));
        assert!(!routes[1].escaped_by(&routes, "/prod/a/../b"));
        assert!(routes[1].escaped_by(&routes, "/prod/../scratch/x"));
    }

    #[test]
    fn default_route_matches_everything() {
        assert!(default_route().matches("/anything"));
    }

    #[test]
    fn signature_versions_parse_by_name() {
        assert_eq!("v2".parse(), Ok(SignatureVersion::V2));
        assert_eq!("v4".parse(), Ok(SignatureVersion::V4));
        assert!("v3".parse::<SignatureVersion>().is_err());
    }
}
