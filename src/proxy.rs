//! The request path: from the client's request to the gateway's answer.
//!
//! For each request, in order: check the limits and the guard, read the
//! target (strict path and query), pick the route and check its access
//! policy, prepare the body for its payload mode,
//! rewrite the headers for the gateway, sign, send, and stream the answer
//! back. A failure on the way is answered by the proxy as XML
//! ([`crate::error`]); an answer of the gateway, error or not, passes
//! through with its body.

use std::sync::Arc;

use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::request::Parts;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};

use crate::access_log::{AccessRecord, LoggedBody, RouteTaken};
use crate::body::aws_chunked::ChunkSigner;
use crate::body::idle::IdleTimeout;
use crate::body::{
    self, BodyLimits, ClientBody, PayloadHash, PayloadMode, PreparedBody, ResponseBody,
};
use crate::clock::{Answer, GatewayClock};
use crate::credentials::Credentials;
use crate::error::{ErrorKind, ProxyError};
use crate::guard::Guard;
use crate::limits::{HeadLimits, InFlight};
use crate::policy::copy_source_paths;
use crate::rewrite::{self, Target};
use crate::route::{Addressing, Route, SignatureVersion};
use crate::sign::v2::V2Signer;
use crate::sign::v4::V4Signer;
use crate::upstream::UpstreamClient;
use crate::uri::PlusInPath;

/// What the proxy needs to handle requests.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// Who may ask.
    pub guard: Guard,
    /// Routes in order of precedence; the last, with an empty prefix, is the
    /// default route.
    pub routes: Vec<Route>,
    /// What `+` in a client's path means.
    pub plus_in_path: PlusInPath,
    /// How much of a body the proxy may hold.
    pub body: BodyLimits,
    /// The longest silence allowed inside a request or response body.
    pub idle_timeout: Duration,
    /// The limits on a request's head.
    pub head_limits: HeadLimits,
    /// The most requests in flight at once.
    pub max_requests: usize,
}

/// The signing proxy: one per process, shared by every connection.
pub struct Proxy {
    guard: Guard,
    head_limits: HeadLimits,
    requests: InFlight,
    clock: GatewayClock,
    /// The routes with their signers; swapped whole when credentials
    /// rotate, so a request signs with one set from start to end.
    routes: ArcSwap<Generation>,
    route_settings: Vec<Route>,
    plus_in_path: PlusInPath,
    body_limits: BodyLimits,
    idle_timeout: Duration,
    /// Whether any route limits methods, buckets or keys (copy sources are
    /// then checked against the route that serves them).
    restricted: bool,
    client: UpstreamClient,
    request_ids: RequestIds,
}

/// A route with the signer it uses.
struct RouteSigner {
    route: Route,
    signer: Signer,
}

/// The signer of one route.
enum Signer {
    V4(V4Signer),
    V2(V2Signer),
}

/// Makes short request ids, unique within the process.
struct RequestIds {
    prefix: u32,
    next: AtomicU64,
}

// === impl Proxy ===

impl Proxy {
    /// A proxy signing with `credentials` and sending through `client`.
    pub fn new(
        settings: ProxySettings,
        credentials: &Credentials,
        client: UpstreamClient,
    ) -> Arc<Self> {
        let routes = Generation::new(&settings.routes, credentials);
        let restricted = settings.routes.iter().any(|route| route.policy.restricts());
        Arc::new(Self {
            restricted,
            guard: settings.guard,
            head_limits: settings.head_limits,
            requests: InFlight::new(settings.max_requests),
            clock: GatewayClock::default(),
            routes: ArcSwap::from_pointee(routes),
            route_settings: settings.routes,
            plus_in_path: settings.plus_in_path,
            body_limits: settings.body,
            idle_timeout: settings.idle_timeout,
            client,
            request_ids: RequestIds::new(),
        })
    }

    /// Handles one request; never fails, since failures become XML answers.
    pub async fn handle<B>(&self, request: Request<B>) -> Response<ResponseBody>
    where
        B: ClientBody,
    {
        self.answer(request, None).await
    }

    /// Answers a request of a connection the server refused with `error`,
    /// logged as any other request.
    pub async fn refuse<B>(&self, request: Request<B>, error: ProxyError) -> Response<ResponseBody>
    where
        B: ClientBody,
    {
        self.answer(request, Some(error)).await
    }

    async fn answer<B>(
        &self,
        request: Request<B>,
        refusal: Option<ProxyError>,
    ) -> Response<ResponseBody>
    where
        B: ClientBody,
    {
        let started = Instant::now();
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let bytes_in = request.body().size_hint().exact().unwrap_or(0);
        let request_id = self.request_ids.next();

        let permit = self.requests.try_enter();
        let outcome = match (refusal, &permit) {
            (Some(error), _) => Err(error),
            (None, None) => Err(ProxyError::new(
                ErrorKind::TooManyRequests,
                format!(
                    "the proxy already has {} requests in flight (max_requests)",
                    self.requests.limit()
                ),
            )),
            (None, Some(_)) => self.forward(request).await,
        };
        let response = match outcome {
            Ok(response) => response,
            Err(error) => {
                if error.kind() == ErrorKind::SigningFailed {
                    crate::metrics::METRICS.signing_failures.inc();
                }
                log_refusal(&error, &method, &path);
                let route = error.route().map(|prefix| RouteTaken(prefix.to_owned()));
                let mut response = error.into_response(&request_id);
                if let Some(route) = route {
                    response.extensions_mut().insert(route);
                }
                response
            }
        };
        let record = AccessRecord {
            method,
            path,
            route: response
                .extensions()
                .get::<RouteTaken>()
                .map(|route| route.0.clone())
                .unwrap_or_default(),
            status: response.status().as_u16(),
            error: response
                .headers()
                .get("x-proxy-error")
                .and_then(|code| code.to_str().ok())
                .map(str::to_owned),
            bytes_in,
            request_id,
            started,
        };
        response.map(|body| {
            let body = body::Holding::new(body, permit);
            LoggedBody::new(body, record).boxed_unsync()
        })
    }

    async fn forward<B: ClientBody>(
        &self,
        request: Request<B>,
    ) -> Result<Response<ResponseBody>, ProxyError> {
        let (mut client_parts, client_body) = request.into_parts();
        self.head_limits.check(&client_parts)?;
        self.guard.check(&client_parts)?;
        let target = Target::from_client(&client_parts, self.plus_in_path)?;
        let framing = body::client_framing(&mut client_parts.headers)?;
        let client_body = body::unframe(client_body, framing);
        let client_body = if client_body.is_end_stream() {
            client_body
        } else {
            IdleTimeout::new(client_body, self.idle_timeout).boxed_unsync()
        };
        let route = self.route_for(&target.path)?;
        let prefix = route.route.prefix.clone();
        self.forward_on(route, client_parts, client_body, target)
            .await
            .map_err(|error| error.on_route(prefix))
    }

    /// The rest of [`Proxy::forward`], once the route is known.
    async fn forward_on(
        &self,
        route: RouteRef,
        client_parts: Parts,
        client_body: body::UpstreamBody,
        target: Target,
    ) -> Result<Response<ResponseBody>, ProxyError> {
        let settings = &route.route;
        let method = &client_parts.method;
        self.check_access(settings, method, &target, &client_parts.headers)?;

        let streamable = target.is_object_upload(method);
        let mode = route.body_mode();
        if let (Some(limit), Some(length)) =
            (settings.max_body_size, client_body.size_hint().exact())
            && length > limit
        {
            let rule = format!("{}.max_body_size", settings.name);
            return Err(body::too_large(limit).with_rule(rule));
        }
        let limits = self.body_limits.capped(settings.max_body_size);
        let prepared = body::prepare(client_body, mode, streamable, &limits)
            .await
            .map_err(|error| {
                // A body of unknown length stopped by the route's limit.
                let by_route = settings
                    .max_body_size
                    .is_some_and(|limit| limit <= self.body_limits.spool_limit);
                match error.kind() {
                    ErrorKind::BodyTooLarge if by_route => {
                        error.with_rule(format!("{}.max_body_size", settings.name))
                    }
                    _ => error,
                }
            })?;
        let upstream = &route.route.upstream;
        let addressing = route.route.addressing;
        let mut parts =
            rewrite::upstream_parts(client_parts, &target, upstream, addressing, prepared.length)?;
        if let PayloadHash::Streaming { decoded_length, .. } = prepared.hash {
            rewrite::mark_aws_chunked(&mut parts.headers, decoded_length);
        }
        // A body small enough to send twice can be retried after a clock
        // correction; keep the unsigned request for that.
        let retry = prepared.again().map(|body| (unsigned_copy(&parts), body));
        let chunks = route.sign(&mut parts, &target, &prepared, self.clock.now())?;

        let body = prepared.into_upstream_body(chunks);
        let response = self.client.send(Request::from_parts(parts, body)).await?;
        let mut response = match self.clock.learn(response).await {
            Answer::Passed(response) => into_client_response(response, self.idle_timeout)?,
            Answer::Read { skewed: true, .. } if let Some((mut parts, body)) = retry => {
                route.sign(&mut parts, &target, &body, self.clock.now())?;
                let body = body.into_upstream_body(None);
                let response = self.client.send(Request::from_parts(parts, body)).await?;
                into_client_response(response, self.idle_timeout)?
            }
            Answer::Read {
                complete: false, ..
            } => {
                return Err(ProxyError::new(
                    ErrorKind::UpstreamBroken,
                    "the gateway's answer broke off before its body was complete",
                ));
            }
            Answer::Read { response, .. } => read_client_response(response),
        };
        let route = RouteTaken(route.route.prefix.clone());
        response.extensions_mut().insert(route);
        Ok(response)
    }

    /// Refuses what the route's policy forbids: the request itself, and
    /// the source of a copy, which must be readable through the route that
    /// serves its path.
    fn check_access(
        &self,
        route: &Route,
        method: &http::Method,
        target: &Target,
        headers: &http::HeaderMap,
    ) -> Result<(), ProxyError> {
        if route.escaped_by(&self.route_settings, &target.path) {
            return Err(ProxyError::new(
                ErrorKind::AccessDenied,
                "the path's '.' and '..' segments lead out of the route that serves it",
            )
            .with_rule(format!("{}.prefix", route.name)));
        }
        let internal = route.is_internal();
        route
            .policy
            .check(&route.name, internal, method, target, headers)?;
        if !self.restricted {
            return Ok(());
        }
        for path in copy_source_paths(headers, self.plus_in_path)? {
            let source = Target {
                path,
                query: crate::uri::Query::default(),
            };
            let serving = self.route_for(&source.path)?;
            let serving = &serving.route;
            let read = &http::Method::GET;
            let no_headers = http::HeaderMap::new();
            self.check_access(serving, read, &source, &no_headers)
                .map_err(|error| {
                    let message = format!("copy source: {}", error.message());
                    let rule = error.rule().unwrap_or_default().to_owned();
                    ProxyError::new(error.kind(), message).with_rule(rule)
                })?;
        }
        Ok(())
    }

    /// Signs requests that start from now on with `credentials`; requests
    /// in flight finish with the ones they started with.
    pub fn rotate(&self, credentials: &Credentials) {
        self.routes
            .store(Arc::new(Generation::new(&self.route_settings, credentials)));
    }

    /// The route serving `path`, with the signers of the moment; refused
    /// when those credentials have expired (never sent unsigned).
    fn route_for(&self, path: &str) -> Result<RouteRef, ProxyError> {
        let generation = self.routes.load_full();
        if generation
            .expires
            .is_some_and(|expires| expires <= SystemTime::now())
        {
            return Err(ProxyError::new(
                ErrorKind::CredentialsExpired,
                "the proxy's credentials have expired and could not be renewed",
            ));
        }
        let index = generation
            .signers
            .iter()
            .position(|candidate| candidate.route.matches(path))
            .expect("the default route matches every path");
        Ok(RouteRef { generation, index })
    }
}

/// The signers of every route for one set of credentials.
struct Generation {
    signers: Vec<RouteSigner>,
    expires: Option<SystemTime>,
}

/// One route of one generation of signers.
struct RouteRef {
    generation: Arc<Generation>,
    index: usize,
}

impl Generation {
    fn new(routes: &[Route], credentials: &Credentials) -> Self {
        let signers = routes
            .iter()
            .cloned()
            .map(|route| RouteSigner::new(route, credentials))
            .collect();
        Self {
            signers,
            expires: credentials.expires(),
        }
    }
}

impl std::ops::Deref for RouteRef {
    type Target = RouteSigner;

    fn deref(&self) -> &RouteSigner {
        &self.generation.signers[self.index]
    }
}

// === impl RouteSigner ===

impl RouteSigner {
    fn new(route: Route, credentials: &Credentials) -> Self {
        let signer = match route.signature {
            SignatureVersion::V4 => Signer::V4(V4Signer::new(credentials, route.region.clone())),
            SignatureVersion::V2 => Signer::V2(V2Signer::new(credentials)),
        };
        Self { route, signer }
    }

    /// How the body is prepared: V2 signs no payload, so its bodies stream
    /// as `unsigned` ones do.
    fn body_mode(&self) -> PayloadMode {
        match self.signer {
            Signer::V4(_) => self.route.payload,
            Signer::V2(_) => PayloadMode::Unsigned,
        }
    }

    /// Signs the headers; for a streaming body, returns the signer of its
    /// chunks.
    fn sign(
        &self,
        parts: &mut Parts,
        target: &Target,
        body: &PreparedBody,
        now: SystemTime,
    ) -> Result<Option<ChunkSigner>, ProxyError> {
        match &self.signer {
            Signer::V4(signer) => {
                let seed = signer.sign(parts, &body.hash.header_value(), now)?;
                let streaming = matches!(body.hash, PayloadHash::Streaming { .. });
                Ok(streaming.then(|| signer.chunk_signer(seed, now)))
            }
            Signer::V2(signer) => {
                let bucket = match self.route.addressing {
                    Addressing::VirtualHost => {
                        target.virtual_host_split().map(|(bucket, _)| bucket)
                    }
                    Addressing::Path => None,
                };
                signer
                    .sign(parts, &target.query, bucket, now)
                    .map(|()| None)
            }
        }
    }
}

/// A copy of a request line and headers (before signing), to send again.
fn unsigned_copy(parts: &Parts) -> Parts {
    let (mut copy, ()) = Request::new(()).into_parts();
    copy.method = parts.method.clone();
    copy.uri = parts.uri.clone();
    copy.version = parts.version;
    copy.headers = parts.headers.clone();
    copy
}

/// A gateway answer that was read whole, for the client.
fn read_client_response(response: Response<Bytes>) -> Response<ResponseBody> {
    let (mut parts, bytes) = response.into_parts();
    rewrite::client_response_headers(&mut parts.headers);
    let body = http_body_util::Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync();
    Response::from_parts(parts, body)
}

/// The gateway's answer for the client. An informational answer (a `101`
/// switching protocols, say) is never a valid final answer to a signed
/// request.
fn into_client_response(
    response: Response<Incoming>,
    idle_timeout: Duration,
) -> Result<Response<ResponseBody>, ProxyError> {
    if response.status().is_informational() {
        return Err(ProxyError::new(
            ErrorKind::UpstreamBroken,
            format!("the gateway answered {}", response.status()),
        ));
    }
    let (mut parts, body) = response.into_parts();
    rewrite::client_response_headers(&mut parts.headers);
    let body = IdleTimeout::new(body, idle_timeout).boxed_unsync();
    Ok(Response::from_parts(parts, body::forwarded(body)))
}

/// Logs a failure once: a refusal by a configured rule at info, with the
/// rule; the client's other faults at debug; the others at warn.
fn log_refusal(error: &ProxyError, method: &http::Method, path: &str) {
    let status = error.kind().status();
    if let Some(rule) = error.rule() {
        tracing::info!(%method, %path, code = error.kind().code(), rule, "refused: {}", error.message());
    } else if status.is_client_error() {
        tracing::debug!(%method, %path, code = error.kind().code(), "refused: {}", error.message());
    } else {
        tracing::warn!(%method, %path, code = error.kind().code(), "failed: {}", error.message());
    }
}

// === impl RequestIds ===

impl RequestIds {
    fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|elapsed| elapsed.subsec_nanos())
            .unwrap_or_default();
        Self {
            prefix: nanos ^ std::process::id(),
            next: AtomicU64::new(1),
        }
    }

    fn next(&self) -> String {
        let sequence = self.next.fetch_add(1, Ordering::Relaxed);
        format!("zsp-{:08x}-{sequence:x}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_unique() {
        let ids = RequestIds::new();
        assert_ne!(ids.next(), ids.next());
    }
}
