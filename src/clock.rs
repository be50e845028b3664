//! The gateway's clock, as the proxy learns it.
//!
//! Gateways refuse signatures more than 15 minutes away from their own
//! clock (`RequestTimeTooSkewed`). When one does, its `Date` header tells
//! the proxy how far apart the clocks are; the proxy logs the offset once,
//! signs every later request with the corrected time, and sends the refused
//! request again when its body can be replayed.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

/// Error bodies larger than this are not read to look for a skew error.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The offset of the gateway's clock from this machine's, in milliseconds.
#[derive(Debug, Default)]
pub struct GatewayClock {
    offset_ms: AtomicI64,
}

/// A gateway answer, read when it was a small 403.
pub enum Answer {
    /// Any answer that is not a skew refusal, untouched.
    Passed(Response<Incoming>),
    /// An answer that was read whole; `skewed` when it was
    /// `RequestTimeTooSkewed` and taught the clock a new offset.
    Read {
        /// The answer, its body read (as much as came).
        response: Response<Bytes>,
        /// Whether the clock was corrected.
        skewed: bool,
        /// Whether the body came whole; a cut one is never passed on as
        /// a complete shorter answer.
        complete: bool,
    },
}

// === impl GatewayClock ===

impl GatewayClock {
    /// The time by the gateway's clock, as far as the proxy knows it.
    pub fn now(&self) -> SystemTime {
        let offset = self.offset_ms.load(Ordering::Relaxed);
        let now = SystemTime::now();
        let shift = Duration::from_millis(offset.unsigned_abs());
        if offset >= 0 {
            now + shift
        } else {
            now - shift
        }
    }

    /// Looks at a gateway's answer: a 403 `RequestTimeTooSkewed` with a
    /// `Date` teaches the clock the gateway's time.
    pub async fn learn(&self, response: Response<Incoming>) -> Answer {
        let small = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<usize>().ok())
            .is_some_and(|length| length <= MAX_ERROR_BODY);
        if response.status() != StatusCode::FORBIDDEN || !small {
            return Answer::Passed(response);
        }
        let (parts, mut body) = response.into_parts();
        let mut bytes = bytes::BytesMut::new();
        let mut complete = true;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => bytes.extend_from_slice(frame.data_ref().map_or(&[][..], |d| &d[..])),
                Err(_) => {
                    complete = false;
                    break;
                }
            }
        }
        let bytes = bytes.freeze();
        let skewed = complete
            && String::from_utf8_lossy(&bytes).contains("<Code>RequestTimeTooSkewed</Code>")
            && self.correct(parts.headers.get(http::header::DATE));
        Answer::Read {
            response: Response::from_parts(parts, bytes),
            skewed,
            complete,
        }
    }

    /// Sets the offset from the gateway's `Date`; false when there is none.
    fn correct(&self, date: Option<&http::HeaderValue>) -> bool {
        let Some(gateway_now) = date
            .and_then(|value| value.to_str().ok())
            .and_then(|value| httpdate::parse_http_date(value).ok())
        else {
            return false;
        };
        let offset_ms = match gateway_now.duration_since(SystemTime::now()) {
            Ok(ahead) => ahead.as_millis() as i64,
            Err(behind) => -(behind.duration().as_millis() as i64),
        };
        let before = self.offset_ms.swap(offset_ms, Ordering::Relaxed);
        if (before - offset_ms).abs() > 1000 {
            tracing::warn!(
                offset_seconds = offset_ms / 1000,
                "the gateway's clock is {}s from this machine's; signing with the gateway's time",
                offset_ms / 1000
            );
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_follows_the_gateways_date() {
        let clock = GatewayClock::default();
        let ahead = SystemTime::now() + Duration::from_secs(1800);
        let date = http::HeaderValue::from_str(&httpdate::fmt_http_date(ahead)).unwrap();
        assert!(clock.correct(Some(&date)));
        let corrected = clock.now().duration_since(SystemTime::now()).unwrap();
        assert!(
            (1790..=1810).contains(&corrected.as_secs()),
            "{corrected:?}"
        );
        assert!(!clock.correct(None));
    }
}
