//! Who may connect when the proxy listens beyond loopback.
//!
//! On loopback or a unix socket the machine's own users are the clients.
//! A listener on any other address needs `allow_remote`, a list of client
//! networks (`allowed_clients`, CIDR), and proof that the client is one of
//! the operator's: a shared token sent as `X-Proxy-Token` (compared in
//! constant time, never forwarded), or a TLS client certificate issued by
//! `tls_client_ca`. Once `allowed_clients` is set, it is the whole list:
//! loopback peers are admitted only when a listed network holds them. A
//! peer outside the networks is answered 403 on every request of its
//! connection and never reaches the gateway.

use std::fmt;
use std::net::IpAddr;

use http::HeaderMap;
use ipnet::IpNet;
use subtle::ConstantTimeEq;

use crate::error::{ErrorKind, ProxyError};

/// The header a client proves itself with when a token is configured.
pub const TOKEN_HEADER: &str = "x-proxy-token";

/// The shortest token accepted: 16 characters.
pub const MIN_TOKEN_LENGTH: usize = 16;

/// The rules a connection and its requests are admitted by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientAuth {
    /// Networks whose peers may connect; empty for loopback only.
    pub allowed_clients: Vec<IpNet>,
    /// The token every request must carry, if one is configured.
    pub token: Option<Token>,
}

/// A shared secret; its `Debug` form never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

// === impl ClientAuth ===

impl ClientAuth {
    /// Whether a peer at `address` may connect: inside one of
    /// `allowed_clients`, or loopback when none is given.
    pub fn admits(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        if self.allowed_clients.is_empty() {
            return address.is_loopback();
        }
        self.allowed_clients.iter().any(|n| n.contains(&address))
    }

    /// The refusal a peer outside the allowlist gets.
    pub fn refusal(address: IpAddr) -> ProxyError {
        ProxyError::new(
            ErrorKind::ClientNotAllowed,
            format!(
                "client address {} is not in allowed_clients",
                address.to_canonical()
            ),
        )
    }

    /// Checks the request's token when one is configured.
    pub fn check_token(&self, headers: &HeaderMap) -> Result<(), ProxyError> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        let mut presented = headers.get_all(TOKEN_HEADER).iter();
        match (presented.next(), presented.next()) {
            (Some(value), None) if token.matches(value.as_bytes()) => Ok(()),
            (None, _) => Err(ProxyError::new(
                ErrorKind::TokenRequired,
                format!("this proxy needs its token in the {TOKEN_HEADER} header"),
            )),
            _ => Err(ProxyError::new(
                ErrorKind::TokenInvalid,
                format!("the {TOKEN_HEADER} header does not hold this proxy's token"),
            )),
        }
    }
}

// === impl Token ===

impl Token {
    /// A token from configured text, surrounding whitespace removed (a
    /// token file usually ends with a newline).
    pub fn new(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.chars().count() < MIN_TOKEN_LENGTH {
            return Err(format!(
                "is shorter than {MIN_TOKEN_LENGTH} characters (use a long random one, \
                 such as the output of `openssl rand -hex 32`)"
            ));
        }
        if http::HeaderValue::from_str(text).is_err() {
            return Err("holds characters that cannot be sent in a header".to_owned());
        }
        Ok(Self(text.to_owned()))
    }

    /// Compares in time that does not depend on where the bytes differ.
    fn matches(&self, presented: &[u8]) -> bool {
        bool::from(self.0.as_bytes().ct_eq(presented))
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(** redacted **)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> ClientAuth {
        ClientAuth {
            allowed_clients: vec![
                "198.51.100.0/24".parse().unwrap(),
                "2001:db8::/32".parse().unwrap(),
            ],
            token: Some(Token::new("0123456789abcdef0123\n").unwrap()),
        }
    }

    fn headers(tokens: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for token in tokens {
            headers.append(TOKEN_HEADER, token.parse().unwrap());
        }
        headers
    }

    #[test]
    fn only_peers_inside_the_networks_are_admitted() {
        let auth = auth();
        for peer in ["198.51.100.7", "2001:db8::1", "::ffff:198.51.100.9"] {
            assert!(auth.admits(peer.parse().unwrap()), "{peer}");
        }
        for peer in [
            "203.0.113.1",
            "203.0.113.200",
            "2001:db9::1",
            "127.0.0.1",
            "::1",
        ] {
            assert!(!auth.admits(peer.parse().unwrap()), "{peer}");
        }
    }

    #[test]
    fn without_networks_only_loopback_is_admitted() {
        let auth = ClientAuth::default();
        assert!(auth.admits("127.0.0.1".parse().unwrap()));
        assert!(auth.admits("::1".parse().unwrap()));
        assert!(auth.admits("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!auth.admits("198.51.100.7".parse().unwrap()));
    }

    #[test]
    fn the_token_must_be_present_once_and_equal() {
        let auth = auth();
        let refused = |tokens: &[&str]| auth.check_token(&headers(tokens)).err().map(|e| e.kind());
        assert_eq!(refused(&["0123456789abcdef0123"]), None);
        assert_eq!(refused(&[]), Some(ErrorKind::TokenRequired));
        assert_eq!(
            refused(&["0123456789abcdef012"]),
            Some(ErrorKind::TokenInvalid)
        );
        assert_eq!(
            refused(&["0123456789abcdef0124"]),
            Some(ErrorKind::TokenInvalid)
        );
        let twice = ["0123456789abcdef0123", "0123456789abcdef0123"];
        assert_eq!(refused(&twice), Some(ErrorKind::TokenInvalid));
    }

    #[test]
    fn without_a_token_every_request_passes() {
        assert!(ClientAuth::default().check_token(&headers(&[])).is_ok());
    }

    #[test]
    fn short_tokens_are_refused_and_tokens_are_never_shown() {
        assert!(Token::new("short").is_err());
        let token = Token::new("a-long-enough-shared-token").unwrap();
        assert!(!format!("{token:?}").contains("shared"));
    }
}
