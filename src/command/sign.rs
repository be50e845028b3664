//! `sign`: the headers the proxy would send for one request.
//!
//! The request goes through the same steps as in the proxy (strict path and
//! query, header rewrite, signing), and every header of the result is
//! printed as `Name: value`, except `Content-Length`, which the client that
//! sends the body sets itself. `--verbose` adds, on stderr, the canonical
//! request (V4) or string to sign, never the secret or a derived key.

use std::io::Read;
use std::path::Path;

use http::request::Parts;
use sha2::{Digest, Sha256};

use crate::body::{EMPTY_SHA256, PayloadHash};
use crate::cli::SignArgs;
use crate::command::{CommandError, Outcome, load_signing, parse_header};
use crate::rewrite::{self, Target};
use crate::route::{Addressing, SignatureVersion};
use crate::sign::v2::{self, V2Signer};
use crate::sign::v4::{self, V4Signer};

/// Runs `sign`.
pub fn run(args: &SignArgs) -> Result<Outcome, CommandError> {
    let (config, credentials, time, upstream, path) = load_signing(&args.signing, &args.url)?;

    let client = client_parts(&args.method, &path, &args.headers)?;
    let target = Target::from_client(&client, config.plus_in_path)?;
    let (payload, length) = payload(args)?;
    let mut parts = rewrite::upstream_parts(client, &target, &upstream, Addressing::Path, length)?;
    parts.headers.remove(http::header::CONTENT_LENGTH);

    let explanation = match config.signature {
        SignatureVersion::V4 => {
            let signer = V4Signer::new(&credentials, config.region.clone());
            signer.sign(&mut parts, &payload, time)?;
            v4::explain(&parts).map(|e| {
                format!(
                    "--- canonical request ---\n{}\n--- string to sign ---\n{}\n",
                    e.canonical_request, e.string_to_sign
                )
            })
        }
        SignatureVersion::V2 => {
            V2Signer::new(&credentials).sign(&mut parts, &target.query, None, time)?;
            let resource = v2::canonical_resource(parts.uri.path(), &target.query, None);
            v2::string_to_sign(parts.method.as_str(), &parts.headers, &resource)
                .map(|text| format!("--- string to sign ---\n{text}\n"))
                .map_err(|error| error.message().to_owned())
        }
    };

    let mut outcome = Outcome::printed(header_lines(&parts));
    if args.verbose {
        outcome.stderr = explanation.map_err(CommandError::Usage)?;
    }
    Ok(outcome)
}

/// The client's request line and headers, as `sign` was given them.
pub fn client_parts(method: &str, path: &str, headers: &[String]) -> Result<Parts, CommandError> {
    let method = http::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| CommandError::Usage(format!("'{method}' is not an HTTP method")))?;
    let mut builder = http::Request::builder().method(method).uri(path);
    for header in headers {
        let (name, value) = parse_header(header)?;
        builder = builder.header(name, value);
    }
    let request = builder
        .body(())
        .map_err(|error| CommandError::Usage(format!("invalid request: {error}")))?;
    Ok(request.into_parts().0)
}

/// The payload hash to sign and the body length, from the flags.
fn payload(args: &SignArgs) -> Result<(String, u64), CommandError> {
    if args.unsigned_payload {
        return Ok((PayloadHash::Unsigned.header_value(), 0));
    }
    if let Some(hash) = &args.payload_hash {
        let valid = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
        if !valid {
            return Err(CommandError::Usage(format!(
                "--payload-hash '{hash}' is not 64 hex digits"
            )));
        }
        return Ok((hash.to_ascii_lowercase(), 0));
    }
    if let Some(file) = &args.body_file {
        return hash_file(file);
    }
    Ok((EMPTY_SHA256.to_owned(), 0))
}

fn hash_file(path: &Path) -> Result<(String, u64), CommandError> {
    let failed = |source| CommandError::Read {
        path: path.display().to_string(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(failed)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut length = 0u64;
    loop {
        let read = file.read(&mut buffer).map_err(failed)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        length += read as u64;
    }
    Ok((hex::encode(hasher.finalize()), length))
}

/// Every header as `Name: value`, `Host` first.
fn header_lines(parts: &Parts) -> String {
    let mut lines = String::new();
    let mut names: Vec<&http::HeaderName> = parts.headers.keys().collect();
    names.sort_by_key(|name| (*name != http::header::HOST, name.as_str()));
    for name in names {
        for value in parts.headers.get_all(name) {
            lines.push_str(&format!(
                "{}: {}\n",
                display_name(name.as_str()),
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
    }
    lines
}

/// `x-amz-date` as `X-Amz-Date`, the way people write header names.
fn display_name(name: &str) -> String {
    name.split('-')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_capitalised_per_word() {
        assert_eq!(display_name("x-amz-content-sha256"), "X-Amz-Content-Sha256");
        assert_eq!(display_name("host"), "Host");
    }

    #[test]
    fn host_comes_first() {
        let parts = http::Request::get("/")
            .header("authorization", "a")
            .header("host", "h")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert_eq!(header_lines(&parts), "Host: h\nAuthorization: a\n");
    }
}
