//! Limits: how large a request's head may be, and how many connections
//! and requests the proxy serves at once.
//!
//! Header count and size and the URI length are checked before anything
//! else is read, each refused with an XML error of the proxy's own (431,
//! 414). The connection and request counts are semaphores: a connection
//! over `max_connections` is answered 503 and closed, a request over
//! `max_requests` is answered 503 with `Retry-After`, which S3 clients
//! retry. Body sizes are limited per route (see [`crate::body`]).

use std::sync::Arc;

use http::request::Parts;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{ErrorKind, ProxyError};

/// The most headers a request may have.
pub const DEFAULT_MAX_HEADER_COUNT: usize = 100;
/// The most bytes a request's headers may hold, names and values (32 KiB).
pub const DEFAULT_MAX_HEADER_BYTES: usize = 32 * 1024;
/// The longest request target, path and query (16 KiB): S3 keys are at
/// most 1 KiB, and signing libraries fail on URIs near 64 KiB.
pub const DEFAULT_MAX_URI_LENGTH: usize = 16 * 1024;
/// The most client connections open at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// The most requests in flight at once.
pub const DEFAULT_MAX_REQUESTS: usize = 256;

/// The limits on a request's head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// The most headers.
    pub max_header_count: usize,
    /// The most bytes of header names and values.
    pub max_header_bytes: usize,
    /// The longest path and query.
    pub max_uri_length: usize,
}

/// A counter of things in flight, refusing more than its limit.
#[derive(Debug, Clone)]
pub struct InFlight {
    permits: Arc<Semaphore>,
    limit: usize,
}

// === impl HeadLimits ===

impl Default for HeadLimits {
    fn default() -> Self {
        Self {
            max_header_count: DEFAULT_MAX_HEADER_COUNT,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_uri_length: DEFAULT_MAX_URI_LENGTH,
        }
    }
}

impl HeadLimits {
    /// Refuses a request whose head is over a limit.
    pub fn check(&self, parts: &Parts) -> Result<(), ProxyError> {
        let uri_length = parts.uri.path_and_query().map_or(0, |p| p.as_str().len());
        if uri_length > self.max_uri_length {
            return Err(ProxyError::new(
                ErrorKind::UriTooLong,
                format!(
                    "the path and query hold {uri_length} bytes; the proxy takes at most {} \
                     (max_uri_length)",
                    self.max_uri_length
                ),
            ));
        }
        let count = parts.headers.len();
        if count > self.max_header_count {
            return Err(ProxyError::new(
                ErrorKind::HeadersTooLarge,
                format!(
                    "the request has {count} headers; the proxy takes at most {} \
                     (max_header_count)",
                    self.max_header_count
                ),
            ));
        }
        let bytes: usize = parts
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        if bytes > self.max_header_bytes {
            return Err(ProxyError::new(
                ErrorKind::HeadersTooLarge,
                format!(
                    "the request's headers hold {bytes} bytes; the proxy takes at most {} \
                     (max_header_bytes)",
                    self.max_header_bytes
                ),
            ));
        }
        Ok(())
    }

    /// The most headers hyper should parse: more than the limit, so that a
    /// request a little over it gets the proxy's XML answer rather than
    /// hyper's bare 431.
    pub fn parser_header_count(&self) -> usize {
        self.max_header_count.saturating_mul(2).max(128)
    }
}

// === impl InFlight ===

impl InFlight {
    /// A counter allowing `limit` at once.
    pub fn new(limit: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }

    /// A permit, held until dropped; `None` when `limit` are out.
    pub fn try_enter(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.permits).try_acquire_owned().ok()
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(uri: &str, headers: usize, value_length: usize) -> Parts {
        let mut builder = http::Request::builder().uri(uri);
        for index in 0..headers {
            builder = builder.header(format!("x-amz-meta-{index}"), "v".repeat(value_length));
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn refusal(limits: &HeadLimits, parts: &Parts) -> Option<ErrorKind> {
        limits.check(parts).err().map(|error| error.kind())
    }

    #[test]
    fn heads_within_the_limits_pass() {
        let limits = HeadLimits::default();
        assert_eq!(refusal(&limits, &head("/b/k", 100, 300)), None);
        let long_key = format!("/b/{}", "k".repeat(16 * 1024 - 3));
        assert_eq!(refusal(&limits, &head(&long_key, 1, 1)), None);
    }

    #[test]
    fn heads_over_a_limit_are_refused() {
        let limits = HeadLimits::default();
        assert_eq!(
            refusal(&limits, &head("/b/k", 101, 1)),
            Some(ErrorKind::HeadersTooLarge)
        );
        assert_eq!(
            refusal(&limits, &head("/b/k", 20, 2000)),
            Some(ErrorKind::HeadersTooLarge)
        );
        let long_key = format!("/b/{}", "k".repeat(16 * 1024));
        assert_eq!(
            refusal(&limits, &head(&long_key, 1, 1)),
            Some(ErrorKind::UriTooLong)
        );
    }

    #[test]
    fn in_flight_counts_down_and_up_again() {
        let connections = InFlight::new(2);
        let first = connections.try_enter();
        let second = connections.try_enter();
        assert!(first.is_some() && second.is_some());
        assert!(connections.try_enter().is_none());
        drop(first);
        assert!(connections.try_enter().is_some());
        assert_eq!(connections.limit(), 2);
    }
}
