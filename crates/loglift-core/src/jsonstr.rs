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

/// `inner` (a JSON string's text between its quotes, checked by a parser already) unescaped
/// into `out`, when its escapes are all of one character (`\"`, `\\`, `\/`, `\b`, `\f`, `\n`,
/// `\r`, `\t`): what serde_json reads it to, without a parser's allocations. `false`, with `out`
/// cleared, for a `\u` escape (surrogates, and the errors serde_json gives them, are its).
pub fn unescape_simple(inner: &str, out: &mut String) -> bool {
    out.clear();
    let mut rest = inner;
    while let Some(at) = memchr::memchr(b'\\', rest.as_bytes()) {
        // `\` is ASCII: both ends are char boundaries.
        out.push_str(rest.get(..at).unwrap_or_default());
        let mut chars = rest.get(at + 1..).unwrap_or_default().chars();
        out.push(match chars.next() {
            Some('"') => '"',
            Some('\\') => '\\',
            Some('/') => '/',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            _ => {
                out.clear();
                return false;
            }
        });
        rest = chars.as_str();
    }
    out.push_str(rest);
    true
}

/// Whether a JSON string's text (between its quotes) holds an escape. A byte search (a `char`
/// search compares each candidate as a UTF-8 sequence, a call per backslash).
pub fn has_escape(inner: &str) -> bool {
    memchr::memchr(b'\\', inner.as_bytes()).is_some()
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
    fn simple_escapes_are_read_as_serde_json_reads_them() {
        let mut out = String::from("left over");
        for literal in [
            r#""""#,
            r#""plain""#,
            r#""\"\\\/\b\f\n\r\t""#,
            r#""{\"a\":\"b\\\"c\"}""#,
            r#""é\n€\t😀""#,
            r#""\\\\n""#,
        ] {
            let inner = &literal[1..literal.len() - 1];
            assert!(unescape_simple(inner, &mut out), "{literal}");
            assert_eq!(
                out,
                serde_json::from_str::<String>(literal).unwrap(),
                "{literal}"
            );
        }
        for inner in [r#"\u00e9"#, r#"a\ud800"#, r#"\x"#] {
            assert!(!unescape_simple(inner, &mut out), "{inner}");
            assert!(out.is_empty());
        }
    }

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
