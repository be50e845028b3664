//! The proxy's metrics, in Prometheus text format on the admin listener's
//! `/metrics` (see [`crate::admin`]), kept with `prometheus-client`.
//!
//! Labels never hold a secret or a path: the route is its configured
//! prefix, the method an HTTP method, the status a class (`2xx`…).

use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The labels of a request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route's prefix, or `default`.
    pub route: String,
    /// The HTTP method.
    pub method: String,
    /// `2xx`, `3xx`, `4xx` or `5xx`.
    pub status: String,
}

/// The labels of a credential reload.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    /// `ok` or `failed`.
    pub outcome: String,
}

/// Every metric of the process.
pub struct Metrics {
    registry: Registry,
    /// Requests answered, by route, method and status class.
    pub requests: Family<RequestLabels, Counter>,
    /// Request body bytes declared by clients.
    pub bytes_in: Counter,
    /// Response body bytes sent to clients.
    pub bytes_out: Counter,
    /// Time from sending a request to the gateway's response headers.
    pub upstream_latency: Histogram,
    /// Requests the proxy could not sign.
    pub signing_failures: Counter,
    /// Credential reloads, by outcome.
    pub credential_reloads: Family<ReloadLabels, Counter>,
    /// Request body bytes written to spool files.
    pub spooled_bytes: Counter,
}

/// The metrics of this process.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

// === impl Metrics ===

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("zenko_signing_proxy");
        let requests = Family::<RequestLabels, Counter>::default();
        let bytes_in = Counter::default();
        let bytes_out = Counter::default();
        let upstream_latency = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        let signing_failures = Counter::default();
        let credential_reloads = Family::<ReloadLabels, Counter>::default();
        let spooled_bytes = Counter::default();
        registry.register("requests", "Requests answered", requests.clone());
        registry.register(
            "request_bytes",
            "Request body bytes declared by clients",
            bytes_in.clone(),
        );
        registry.register(
            "response_bytes",
            "Response body bytes sent to clients",
            bytes_out.clone(),
        );
        registry.register(
            "upstream_response_seconds",
            "Time from sending a request to the gateway's response headers",
            upstream_latency.clone(),
        );
        registry.register(
            "signing_failures",
            "Requests the proxy could not sign",
            signing_failures.clone(),
        );
        registry.register(
            "credential_reloads",
            "Credential reloads",
            credential_reloads.clone(),
        );
        registry.register(
            "spooled_bytes",
            "Request body bytes written to spool files",
            spooled_bytes.clone(),
        );
        Self {
            registry,
            requests,
            bytes_in,
            bytes_out,
            upstream_latency,
            signing_failures,
            credential_reloads,
            spooled_bytes,
        }
    }

    /// Counts one answered request.
    pub fn request(&self, route: &str, method: &str, status: u16, bytes_in: u64, bytes_out: u64) {
        let labels = RequestLabels {
            route: if route.is_empty() {
                "default".to_owned()
            } else {
                route.to_owned()
            },
            method: method.to_owned(),
            status: format!("{}xx", status / 100),
        };
        self.requests.get_or_create(&labels).inc();
        self.bytes_in.inc_by(bytes_in);
        self.bytes_out.inc_by(bytes_out);
    }

    /// Counts one credential reload.
    pub fn reload(&self, ok: bool) {
        let outcome = if ok { "ok" } else { "failed" }.to_owned();
        self.credential_reloads
            .get_or_create(&ReloadLabels { outcome })
            .inc();
    }

    /// The metrics in Prometheus text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String does not fail");
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_route_method_and_status_class() {
        let metrics = Metrics::new();
        metrics.request("", "GET", 200, 0, 10);
        metrics.request("", "GET", 204, 0, 0);
        metrics.request("/_/backbeat/api/", "PUT", 403, 5, 0);
        let text = metrics.encode();
        assert!(
            text.contains(
                "zenko_signing_proxy_requests_total{route=\"default\",method=\"GET\",status=\"2xx\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains("status=\"4xx\"} 1"), "{text}");
        assert!(
            text.contains("zenko_signing_proxy_response_bytes_total 10"),
            "{text}"
        );
        assert!(
            text.contains("zenko_signing_proxy_request_bytes_total 5"),
            "{text}"
        );
    }
}
