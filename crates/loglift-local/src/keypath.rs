//! Reversible mapping between S3 object keys and relative filesystem paths.
//!
//! A key is split on `/`; each segment becomes one path component. A segment keeps its UTF-8 text
//! (spaces, `+`, `=`, emoji) except that `%` and control characters are percent-encoded, and the
//! segments the filesystem cannot hold as names are spelled specially: `.` is `%2E`, `..` is
//! `%2E%2E`, and the empty segment (from `a//b` or a trailing `/`) is a lone `%`. Since the encoder
//! always writes `%` as `%25`, a lone `%` and any name that does not decode (temporary files, for
//! instance) never come from a key, so [`decode_segment`] rejects them and listings skip them.

use std::fmt::Write as _;
use std::path::PathBuf;

/// The name of an empty key segment.
const EMPTY_SEGMENT: &str = "%";

/// Encode one `/`-free key segment as a file name.
pub(crate) fn encode_segment(segment: &str) -> String {
    match segment {
        "" => return EMPTY_SEGMENT.to_owned(),
        "." => return "%2E".to_owned(),
        ".." => return "%2E%2E".to_owned(),
        _ => {}
    }
    let mut out = String::with_capacity(segment.len());
    for c in segment.chars() {
        if c == '%' || c.is_control() {
            let mut buf = [0u8; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                // Writing to a String cannot fail.
                let _ = write!(out, "%{byte:02X}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Decode a file name written by [`encode_segment`]; `None` for names no key produces.
pub(crate) fn decode_segment(name: &str) -> Option<String> {
    if name == EMPTY_SEGMENT {
        return Some(String::new());
    }
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).and_then(|h| (*h as char).to_digit(16))?;
            let lo = bytes.get(i + 2).and_then(|l| (*l as char).to_digit(16))?;
            out.push(u8::try_from(hi * 16 + lo).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    let decoded = String::from_utf8(out).ok()?;
    // Only canonical encodings are keys: this keeps the mapping one-to-one.
    (encode_segment(&decoded) == name).then_some(decoded)
}

/// The relative path of a key: one component per segment.
pub(crate) fn key_to_relative(key: &str) -> PathBuf {
    key.split('/').map(encode_segment).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_round_trip() {
        for seg in [
            "",
            ".",
            "..",
            "...",
            "a b",
            "a+b",
            "a%2Bb",
            "k=v",
            "🚀 emoji",
            "tab\there",
            "%",
            "%25",
            "x\u{7f}",
            ".hidden",
        ] {
            let enc = encode_segment(seg);
            assert!(!enc.contains('/'), "{seg:?} -> {enc:?}");
            assert!(
                enc != "." && enc != ".." && !enc.is_empty(),
                "{seg:?} -> {enc:?}"
            );
            assert_eq!(
                decode_segment(&enc).as_deref(),
                Some(seg),
                "{seg:?} -> {enc:?}"
            );
        }
    }

    #[test]
    fn readable_names_stay_readable() {
        assert_eq!(encode_segment("a b+c=d 🚀"), "a b+c=d 🚀");
        assert_eq!(encode_segment("a%2Bb"), "a%252Bb");
    }

    #[test]
    fn foreign_names_do_not_decode() {
        for name in ["%tmp.123", "%2", "%zz", "%2e", "%41"] {
            assert_eq!(decode_segment(name), None, "{name:?}");
        }
    }

    #[test]
    fn keys_map_to_components() {
        let p = key_to_relative("a//b/");
        let parts: Vec<_> = p
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        assert_eq!(parts, ["a", "%", "b", "%"]);
    }
}
