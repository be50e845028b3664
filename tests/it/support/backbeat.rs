//! A stand-in for the gateway's Backbeat route: it checks each request's
//! signature (V2 or V4) with the project's own signing code and the one
//! secret it knows, then answers Backbeat-style metrics JSON. Anonymous or
//! badly signed requests get 403, as CloudServer answers them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use zenko_signing_proxy::credentials::Credentials;
use zenko_signing_proxy::sign::v2::{self, V2Signer};
use zenko_signing_proxy::sign::v4;
use zenko_signing_proxy::uri::Query;

/// The metrics answer of `GET /_/backbeat/api/metrics/crr/all`.
pub const METRICS: &str = r#"{"backlog":{"description":"Number of incomplete replication operations (count) and number of incomplete bytes transferred (size)","results":{"count":0,"size":0}},"completions":{"description":"Number of completed replication operations (count) and number of bytes transferred (size) in the last 86400 seconds","results":{"count":3,"size":1024}},"failures":{"description":"Number of failed replication operations","results":{"count":0,"size":0}},"throughput":{"description":"Current throughput","results":{"count":"0.00","size":"0.00"}},"pending":{"description":"Number of pending replication operations","results":{"count":0,"size":0}}}"#;

/// The running stand-in.
pub struct Backbeat {
    pub url: String,
    pub access_key: String,
    pub secret_key: String,
    /// The signature version of every request that passed, in order (and
    /// the refusals for a skewed time).
    pub accepted: Arc<Mutex<Vec<&'static str>>>,
    /// The secrets it accepts signatures of (at first, `secret_key` only).
    pub secrets: Arc<Mutex<Vec<String>>>,
    /// How far its clock is from the machine's, in seconds.
    pub skew: Arc<Mutex<i64>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Backbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Backbeat {
    /// Starts it on `127.0.0.1:0` with fresh credentials.
    pub async fn start() -> Self {
        Self::start_with(format!("BB{}", super::random_hex(8)), super::random_hex(20)).await
    }

    /// Starts it on `127.0.0.1:0`, knowing `secret_key` only.
    pub async fn start_with(access_key: String, secret_key: String) -> Self {
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let secrets = Arc::new(Mutex::new(vec![secret_key.clone()]));
        let skew = Arc::new(Mutex::new(0i64));
        let clock = Arc::clone(&skew);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let known = Arc::clone(&secrets);
        let log = Arc::clone(&accepted);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let known = Arc::clone(&known);
                let log = Arc::clone(&log);
                let clock = Arc::clone(&clock);
                let service = hyper::service::service_fn(move |request| {
                    let skew = *clock.lock().unwrap();
                    let answer = answer(&request, &known, &log, skew);
                    async move { Ok::<_, std::convert::Infallible>(answer) }
                });
                let http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                tokio::spawn(async move {
                    let _ = http.serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Self {
            url,
            access_key,
            secret_key,
            accepted,
            secrets,
            skew,
            task,
        }
    }
}

fn answer(
    request: &Request<Incoming>,
    secrets: &Mutex<Vec<String>>,
    accepted: &Mutex<Vec<&'static str>>,
    skew: i64,
) -> Response<Full<Bytes>> {
    let own_now = SystemTime::now() + Duration::from_secs(skew.max(0) as u64)
        - Duration::from_secs((-skew).max(0) as u64);
    if let Some(sent) = request_time(request)
        && (sent
            .duration_since(own_now)
            .or_else(|e| Ok::<_, ()>(e.duration()))
            .unwrap()
            > Duration::from_secs(15 * 60))
    {
        let mut refused = reply(
            StatusCode::FORBIDDEN,
            "application/xml",
            "<Error><Code>RequestTimeTooSkewed</Code><Message>too far</Message></Error>",
        );
        let date = http::HeaderValue::from_str(&httpdate::fmt_http_date(own_now)).unwrap();
        refused.headers_mut().insert(http::header::DATE, date);
        accepted.lock().unwrap().push("refused: time too skewed");
        return refused;
    }
    let known = secrets.lock().unwrap().clone();
    let Some(version) = known.iter().find_map(|secret| verify(request, secret)) else {
        return reply(
            StatusCode::FORBIDDEN,
            "application/xml",
            "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
        );
    };
    accepted.lock().unwrap().push(version);
    match request.uri().path() {
        "/_/backbeat/api/metrics/crr/all" => reply(StatusCode::OK, "application/json", METRICS),
        _ => reply(
            StatusCode::NOT_FOUND,
            "application/json",
            r#"{"code":"RouteNotFound","message":"no such route"}"#,
        ),
    }
}

fn reply(status: StatusCode, content_type: &str, body: &'static str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

/// The signature version when the request is signed with `secret`.
fn verify(request: &Request<Incoming>, secret: &str) -> Option<&'static str> {
    let authorization = request.headers().get("authorization")?.to_str().ok()?;
    if let Some(rest) = authorization.strip_prefix("AWS ") {
        let (access_key, signature) = rest.split_once(':')?;
        let signer = V2Signer::new(&Credentials::new(access_key, secret, None));
        let query = Query::parse(request.uri().query().unwrap_or("")).ok()?;
        let resource = v2::canonical_resource(request.uri().path(), &query, None);
        let text =
            v2::string_to_sign(request.method().as_str(), request.headers(), &resource).ok()?;
        return (signer.signature(&text) == signature).then_some("v2");
    }
    let (mut parts, ()) = Request::new(()).into_parts();
    parts.method = request.method().clone();
    parts.uri = request.uri().clone();
    parts.headers = request.headers().clone();
    let explanation = v4::explain(&parts).ok()?;
    let mut lines = explanation.string_to_sign.lines();
    let date = &lines.nth(1)?[..8];
    let region = lines.next()?.split('/').nth(1)?;
    let day: u64 = date_to_epoch_day(date)?;
    let midnight = SystemTime::UNIX_EPOCH + Duration::from_secs(day * 86_400);
    let key = aws_sigv4::sign::v4::generate_signing_key(secret, midnight, region, "s3");
    let expected =
        aws_sigv4::sign::v4::calculate_signature(key, explanation.string_to_sign.as_bytes());
    (expected == explanation.signature).then_some("v4")
}

/// When the request says it was signed: `x-amz-date` (V4) or `Date` (V2).
fn request_time(request: &Request<Incoming>) -> Option<SystemTime> {
    if let Some(amz) = request
        .headers()
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
    {
        let format =
            time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
        let parsed = time::PrimitiveDateTime::parse(amz, &format).ok()?;
        return Some(parsed.assume_utc().into());
    }
    let date = request.headers().get("date")?.to_str().ok()?;
    httpdate::parse_http_date(date).ok()
}

/// Days since 1970-01-01 of a `YYYYMMDD` date.
fn date_to_epoch_day(date: &str) -> Option<u64> {
    let format = time::macros::format_description!("[year][month][day]");
    let date = time::Date::parse(date, &format).ok()?;
    let seconds = date.midnight().assume_utc().unix_timestamp();
    u64::try_from(seconds / 86_400).ok()
}
