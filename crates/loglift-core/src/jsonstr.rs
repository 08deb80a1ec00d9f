//! JSON string literals exactly as serde_json writes them, without its byte-by-byte escape loop
//! for the strings that hold nothing to escape (nearly all of them: ids, ARNs, timestamps,
//! most field values). One loop without an early exit, which the compiler vectorises, says
//! whether a string needs escaping; only then does serde_json write it.

/// Whether serde_json escapes any byte of `s`: `"`, `\` or a control character below U+0020
/// (it writes U+007F and non-ASCII as they are).
pub fn needs_escape(s: &str) -> bool {
    s.bytes().fold(false, |escape, b| {
        escape | (b < 0x20) | (b == b'"') | (b == b'\\')
    })
}

/// Append `s` as a JSON string literal, quotes included.
pub fn push(out: &mut Vec<u8>, s: &str) {
    if needs_escape(s) {
        // Serialising a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

/// Bytes of `s` as a JSON string literal, quotes included: `\"`, `\\`, `\b`, `\f`, `\n`, `\r`,
/// `\t` take two bytes, other control characters six (`\u001f`).
pub fn len(s: &str) -> usize {
    if !needs_escape(s) {
        return s.len() + 2;
    }
    2 + s
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | 0x08 | 0x0c | b'\n' | b'\r' | b'\t' => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_lengths_are_serde_jsons() {
        let mut all: String = (0u8..0x80).map(char::from).collect();
        all.push_str("é€😀");
        for s in [
            "",
            "plain",
            "arn:aws:kinesis:us-east-1:123456789012:stream/user-events",
            "quote\"d",
            "back\\slash",
            "tab\tnew\nline\r",
            "\u{1}\u{1f}\u{7f}",
            "héllo wörld",
            all.as_str(),
        ] {
            let want = serde_json::to_string(s).unwrap();
            let mut got = b"x".to_vec();
            push(&mut got, s);
            assert_eq!(got.get(1..), Some(want.as_bytes()), "{s:?}");
            assert_eq!(len(s), want.len(), "{s:?}");
            assert_eq!(needs_escape(s), want.len() != s.len() + 2, "{s:?}");
        }
    }
}
