//! `request`: one signed request to the gateway, through the same proxy
//! code as `serve` but without a listener, and its answer printed.
//!
//! It replaces the hand-written signing scripts operators keep for
//! Backbeat (`request GET /_/backbeat/api/metrics/crr/all`). A JSON answer
//! is pretty-printed; an answer that is not 2xx exits 1 with the S3 error
//! code and message on stderr.

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};

use crate::body::BoxError;
use crate::cli::RequestArgs;
use crate::command::{CommandError, Outcome, load_config, parse_header};
use crate::config::Config;
use crate::guard::Guard;
use crate::proxy::{Proxy, ProxySettings};
use crate::route::Route;
use crate::upstream::UpstreamClient;

/// Exit code for an answer that is not 2xx.
const EXIT_REFUSED: u8 = 1;

/// Runs `request`.
pub async fn run(args: &RequestArgs) -> Result<Outcome, CommandError> {
    let (config, credentials, _) = load_config(&args.config.credentials, args.config.overrides())?;
    let routes = routes(&config, args.route.as_deref())?;
    let needs_tls = routes
        .iter()
        .any(|r| r.upstream.scheme().as_str() == "https");
    let client = UpstreamClient::new(config.timeouts, &config.tls, needs_tls)?;
    let settings = ProxySettings {
        guard: Guard::default(),
        routes,
        plus_in_path: config.plus_in_path,
        body: config.body.clone(),
        idle_timeout: config.idle_timeout,
        head_limits: config.head_limits,
        max_requests: 1,
    };
    let proxy = Proxy::new(settings, &credentials, client);

    let request = build_request(args).await?;
    let response = proxy.handle(request).await;
    let status = response.status();
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|error| CommandError::Usage(format!("the answer broke: {error}")))?
        .to_bytes();
    Ok(outcome(status, &content_type, &body))
}

/// The routes to use: those of the config, or only the one `--route` names.
fn routes(config: &Config, forced: Option<&str>) -> Result<Vec<Route>, CommandError> {
    let upstream = config.upstream.clone().ok_or_else(|| {
        CommandError::Usage("no upstream given: pass --upstream URL or set it in the config".into())
    })?;
    let routes = config.routes_for(&upstream);
    let Some(prefix) = forced else {
        return Ok(routes);
    };
    let mut chosen = routes
        .into_iter()
        .find(|route| route.prefix == prefix)
        .ok_or_else(|| {
            CommandError::Usage(format!("no route with prefix '{prefix}' in the config"))
        })?;
    chosen.prefix = String::new();
    Ok(vec![chosen])
}

async fn build_request(
    args: &RequestArgs,
) -> Result<http::Request<UnsyncBoxBody<Bytes, BoxError>>, CommandError> {
    let body = match args.data.as_deref() {
        None => Bytes::new(),
        Some(text) => match text.strip_prefix('@') {
            Some(path) => tokio::fs::read(path)
                .await
                .map(Bytes::from)
                .map_err(|source| CommandError::Read {
                    path: path.to_owned(),
                    source,
                })?,
            None => Bytes::from(text.to_owned()),
        },
    };
    let method = http::Method::from_bytes(args.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| CommandError::Usage(format!("'{}' is not an HTTP method", args.method)))?;
    let mut builder = http::Request::builder().method(method).uri(&args.path);
    for header in &args.headers {
        let (name, value) = parse_header(header)?;
        builder = builder.header(name, value);
    }
    let body = Full::new(body)
        .map_err(|never| match never {})
        .boxed_unsync();
    builder
        .body(body)
        .map_err(|_| CommandError::Usage(format!("'{}' is not a path like /bucket/key", args.path)))
}

/// What to print for an answer.
fn outcome(status: http::StatusCode, content_type: &str, body: &[u8]) -> Outcome {
    if status.is_success() {
        return Outcome::printed(printable(content_type, body));
    }
    let text = String::from_utf8_lossy(body);
    let code = xml_element(&text, "Code");
    let reason = || status.canonical_reason().unwrap_or("").to_owned();
    let message = match &code {
        // An S3 error: its message, or the status' reason when it has none.
        Some(_) => xml_element(&text, "Message")
            .filter(|message| !message.is_empty())
            .unwrap_or_else(reason),
        None if text.trim().is_empty() => reason(),
        None => text.trim().to_owned(),
    };
    let code = code.unwrap_or_else(|| status.as_str().to_owned());
    Outcome {
        stdout: String::new(),
        stderr: format!(
            "zenko-signing-proxy: {code}: {message} (HTTP {})\n",
            status.as_u16()
        ),
        exit_code: EXIT_REFUSED,
    }
}

/// The body as text; JSON pretty-printed.
fn printable(content_type: &str, body: &[u8]) -> String {
    if content_type.contains("json")
        && let Ok(value) = serde_json::from_slice::<serde_json::Value>(body)
        && let Ok(pretty) = serde_json::to_string_pretty(&value)
    {
        return pretty + "\n";
    }
    let mut text = String::from_utf8_lossy(body).into_owned();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

fn xml_element(text: &str, tag: &str) -> Option<String> {
    let start = text.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = text[start..].find(&format!("</{tag}>"))? + start;
    Some(xml_unescape(&text[start..end]))
}

/// The five XML entities, back to their characters (`&amp;` last).
fn xml_unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_are_unescaped() {
        let xml = "<Error><Code>ProxyBodyTooLarge</Code>\
                   <Message>the proxy&apos;s limit &lt;1 KiB&gt; &amp;c</Message></Error>";
        let message = xml_element(xml, "Message").unwrap();
        assert_eq!(message, "the proxy's limit <1 KiB> &c");
    }

    #[test]
    fn json_answers_are_pretty_printed() {
        let text = printable(
            "application/json",
            br#"{"backlog":{"results":{"count":0}}}"#,
        );
        assert_eq!(
            text,
            "{\n  \"backlog\": {\n    \"results\": {\n      \"count\": 0\n    }\n  }\n}\n"
        );
    }

    #[test]
    fn other_answers_are_printed_as_they_are() {
        assert_eq!(printable("text/plain", b"{not json"), "{not json\n");
    }

    #[test]
    fn s3_errors_exit_non_zero_with_code_and_message() {
        let body = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
        let outcome = outcome(http::StatusCode::FORBIDDEN, "application/xml", body);
        assert_eq!(outcome.exit_code, 1);
        assert_eq!(
            outcome.stderr,
            "zenko-signing-proxy: AccessDenied: Access Denied (HTTP 403)\n"
        );
        assert!(outcome.stdout.is_empty());
    }

    #[test]
    fn s3_errors_without_a_message_show_the_reason() {
        let body = b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code></Error>";
        let outcome = outcome(http::StatusCode::NOT_FOUND, "application/xml", body);
        assert_eq!(
            outcome.stderr,
            "zenko-signing-proxy: NoSuchKey: Not Found (HTTP 404)\n"
        );
    }

    #[test]
    fn errors_without_xml_show_their_text() {
        let outcome = outcome(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "",
            b"backbeat is down",
        );
        assert_eq!(
            outcome.stderr,
            "zenko-signing-proxy: 503: backbeat is down (HTTP 503)\n"
        );
    }
}
