//! The URL canonicaliser on any input: `uri::canonical_path` and
//! `uri::Query`.
//!
//! Input: one byte of flags (bit 0: `+` in the path is literal), then the
//! request target as text, `path?query`. Invalid UTF-8 is replaced, so that
//! seeds stay readable and no input is wasted.
//!
//! Properties: nothing panics; a canonical path starts with `/`, holds only
//! the strict set, and canonicalises to itself under both `+` readings; a
//! parsed query survives `parse(to_wire(q))` unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use zenko_signing_proxy::uri::{PlusInPath, Query, canonical_path};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let plus = if flags & 1 == 0 {
        PlusInPath::Space
    } else {
        PlusInPath::Literal
    };
    let target = String::from_utf8_lossy(rest);
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));

    check_path(path, plus);
    // Most mutations lose the leading slash: try the rooted form as well.
    check_path(&format!("/{path}"), plus);
    check_query(query);
});

fn check_path(raw: &str, plus: PlusInPath) {
    let Ok(canonical) = canonical_path(raw, plus) else {
        return;
    };
    assert!(canonical.starts_with('/'), "{raw:?} -> {canonical:?}");
    assert_strict(&canonical, true);
    // The output has no `+` left, so both readings must agree on it.
    for again in [PlusInPath::Space, PlusInPath::Literal] {
        let twice = canonical_path(&canonical, again).expect("a canonical path is valid");
        assert_eq!(twice, canonical, "{raw:?} is not stable under {again:?}");
    }
}

fn check_query(raw: &str) {
    let Ok(query) = Query::parse(raw) else {
        return;
    };
    let wire = query.to_wire();
    assert_strict(&wire.replace(['&', '='], ""), false);
    let again = Query::parse(&wire).expect("the wire form of a query parses");
    assert_eq!(again, query, "{raw:?} -> {wire:?} does not round trip");
    assert_eq!(again.to_wire(), wire);
}

/// Only unreserved characters and `%XX` with uppercase hex (and `/` in a
/// path).
fn assert_strict(text: &str, slash_allowed: bool) {
    let bytes = text.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'%' {
            let escape = &bytes[index + 1..(index + 3).min(bytes.len())];
            assert!(
                escape.len() == 2
                    && escape
                        .iter()
                        .all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F')),
                "bad escape at {index} in {text:?}"
            );
            index += 3;
            continue;
        }
        let unreserved = byte.is_ascii_alphanumeric() || b"-._~".contains(&byte);
        assert!(
            unreserved || (slash_allowed && byte == b'/'),
            "{:?} left unencoded in {text:?}",
            char::from(byte)
        );
        index += 1;
    }
}
