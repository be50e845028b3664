//! `presign`: a URL that carries its own signature, for `curl` or a browser
//! without credentials.

use std::time::{Duration, SystemTime};

use percent_encoding::utf8_percent_encode;

use crate::cli::PresignArgs;
use crate::command::{CommandError, Outcome, load_signing};
use crate::rewrite::{self, Target};
use crate::route::{Addressing, SignatureVersion};
use crate::sign::v2::V2Signer;
use crate::sign::v4::V4Signer;
use crate::uri::STRICT;

/// Runs `presign`.
pub fn run(args: &PresignArgs) -> Result<Outcome, CommandError> {
    let (config, credentials, time, upstream, path) = load_signing(&args.signing, &args.url)?;
    let expires = humantime::parse_duration(&args.expires).map_err(|_| {
        CommandError::Usage(format!(
            "--expires '{}' is not a duration like 15m or 7d",
            args.expires
        ))
    })?;

    let client = crate::command::sign::client_parts(&args.method, &path, &[])?;
    let target = Target::from_client(&client, config.plus_in_path)?;
    let mut parts = rewrite::upstream_parts(client, &target, &upstream, Addressing::Path, 0)?;
    parts.headers.remove(http::header::CONTENT_LENGTH);

    let params = match config.signature {
        SignatureVersion::V4 => {
            V4Signer::new(&credentials, config.region.clone()).presign(&parts, expires, time)?
        }
        SignatureVersion::V2 => {
            let expires_at = expiry_seconds(time, expires)?;
            V2Signer::new(&credentials).presign(&parts, &target.query, expires_at)?
        }
    };
    Ok(Outcome::printed(format!(
        "{}\n",
        presigned_url(&parts.uri, &params)
    )))
}

fn expiry_seconds(time: SystemTime, expires: Duration) -> Result<u64, CommandError> {
    let start = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| CommandError::Usage("--time is before 1970".to_owned()))?;
    Ok((start + expires).as_secs())
}

/// `uri` with the signing parameters appended to its query, each strictly
/// encoded as the signature expects.
fn presigned_url(uri: &http::Uri, params: &[(String, String)]) -> String {
    let mut url = uri.to_string();
    let mut separator = if uri.query().is_some() { '&' } else { '?' };
    for (name, value) in params {
        url.push(separator);
        url.extend(utf8_percent_encode(name, STRICT));
        url.push('=');
        url.extend(utf8_percent_encode(value, STRICT));
        separator = '&';
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_appended_and_encoded() {
        let uri: http::Uri = "http://127.0.0.1:9000/b/k?versionId=1".parse().unwrap();
        let params = [("Signature".to_owned(), "a+b/c=".to_owned())];
        assert_eq!(
            presigned_url(&uri, &params),
            "http://127.0.0.1:9000/b/k?versionId=1&Signature=a%2Bb%2Fc%3D"
        );
    }

    #[test]
    fn expiry_is_start_plus_duration() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        assert_eq!(
            expiry_seconds(start, Duration::from_secs(60)).unwrap(),
            1060
        );
    }
}
