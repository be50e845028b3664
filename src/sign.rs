//! Request signing: which headers are signed, and the signers.
//!
//! Zenko refuses a request in which any `x-amz-*` or `x-scal-*` header is
//! left unsigned, so every such header is signed, with `host`, `content-md5`
//! and `content-type`. Headers that proxies or the transport may change
//! (`user-agent`, `content-length`, hop-by-hop headers, `expect`,
//! `x-forwarded-*`) are never signed.

use http::HeaderName;
use http::header::{CONTENT_TYPE, HOST};

pub mod v2;
pub mod v4;

/// Whether a header of the outgoing request is covered by the signature.
pub fn is_signed_header(name: &HeaderName) -> bool {
    let name = name.as_str();
    name == HOST.as_str()
        || name == "content-md5"
        || name == CONTENT_TYPE.as_str()
        || name.starts_with("x-amz-")
        || name.starts_with("x-scal-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zenko_headers_are_signed_and_transport_headers_are_not() {
        for signed in [
            "host",
            "content-md5",
            "content-type",
            "x-amz-meta-a",
            "x-scal-x",
        ] {
            assert!(
                is_signed_header(&HeaderName::from_static(signed)),
                "{signed}"
            );
        }
        for unsigned in [
            "user-agent",
            "content-length",
            "expect",
            "transfer-encoding",
            "x-forwarded-for",
            "range",
        ] {
            assert!(
                !is_signed_header(&HeaderName::from_static(unsigned)),
                "{unsigned}"
            );
        }
    }
}
