//! Space-separated fields as ALB, S3 server access and Apache/nginx access logs write them: a field
//! is a bare run of non-space bytes, a `"…"` quoted string (a backslash escapes `"` and `\`; other
//! backslash sequences such as nginx's `\x22` are kept as written), or a `[…]` bracketed run (the
//! Apache/S3 time). Runs of spaces separate fields. `-` is not special here: the formats decide.

use std::borrow::Cow;

/// Why a line cannot be split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// A `"` or `[` opened at this byte offset was never closed (a truncated line).
    Unterminated { at: usize, what: char },
    /// A closing `"` or `]` at this byte offset is followed by something other than a space.
    Glued { at: usize },
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenError::Unterminated { at, what } => {
                write!(f, "the {what} opened at byte {at} is never closed")
            }
            TokenError::Glued { at } => {
                write!(
                    f,
                    "a quoted field ends at byte {at} without a space after it"
                )
            }
        }
    }
}

/// Split one line into its fields, unescaping quoted ones (borrowed unless they held escapes).
pub fn split(line: &str) -> Result<Vec<Cow<'_, str>>, TokenError> {
    let bytes = line.as_bytes();
    let mut fields = Vec::with_capacity(32);
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b' ') => i += 1,
            Some(b'"') => {
                let (field, end) = quoted(line, i)?;
                fields.push(field);
                i = after_close(bytes, end)?;
            }
            Some(b'[') => {
                let close = memchr(bytes, b']', i + 1)
                    .ok_or(TokenError::Unterminated { at: i, what: '[' })?;
                fields.push(Cow::Borrowed(line.get(i + 1..close).unwrap_or_default()));
                i = after_close(bytes, close)?;
            }
            Some(_) => {
                let end = memchr(bytes, b' ', i).unwrap_or(bytes.len());
                fields.push(Cow::Borrowed(line.get(i..end).unwrap_or_default()));
                i = end;
            }
            None => break,
        }
    }
    Ok(fields)
}

/// The position after a closing `"` / `]` at `close`, which must end the line or precede a space.
fn after_close(bytes: &[u8], close: usize) -> Result<usize, TokenError> {
    match bytes.get(close + 1) {
        None | Some(b' ') => Ok(close + 1),
        Some(_) => Err(TokenError::Glued { at: close }),
    }
}

fn memchr(bytes: &[u8], needle: u8, from: usize) -> Option<usize> {
    bytes
        .get(from..)?
        .iter()
        .position(|b| *b == needle)
        .map(|p| p + from)
}

/// The quoted field opening at `open`: its unescaped text and the offset of its closing quote.
fn quoted(line: &str, open: usize) -> Result<(Cow<'_, str>, usize), TokenError> {
    let bytes = line.as_bytes();
    let start = open + 1;
    let mut i = start;
    let mut owned: Option<String> = None;
    let mut copied_to = start;
    loop {
        match bytes.get(i) {
            None => {
                return Err(TokenError::Unterminated {
                    at: open,
                    what: '"',
                })
            }
            Some(b'"') => {
                let field = match owned {
                    None => Cow::Borrowed(line.get(start..i).unwrap_or_default()),
                    Some(mut s) => {
                        s.push_str(line.get(copied_to..i).unwrap_or_default());
                        Cow::Owned(s)
                    }
                };
                return Ok((field, i));
            }
            Some(b'\\') if matches!(bytes.get(i + 1), Some(b'"' | b'\\')) => {
                let s = owned.get_or_insert_with(String::new);
                s.push_str(line.get(copied_to..i).unwrap_or_default());
                copied_to = i + 1;
                i += 2;
            }
            Some(_) => i += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> Vec<String> {
        split(line)
            .unwrap_or_else(|e| panic!("{line}: {e}"))
            .into_iter()
            .map(Cow::into_owned)
            .collect()
    }

    #[test]
    fn bare_quoted_and_bracketed_fields() {
        assert_eq!(
            fields(r#"a  "b c" [10/Oct/2000:13:55:36 -0700] - """#),
            ["a", "b c", "10/Oct/2000:13:55:36 -0700", "-", ""]
        );
    }

    #[test]
    fn escaped_quotes_and_backslashes_are_unescaped_others_kept() {
        assert_eq!(
            fields(r#""say \"hi\" \\ \x22" x"#),
            [r#"say "hi" \ \x22"#, "x"]
        );
    }

    #[test]
    fn truncated_and_glued_fields_are_errors() {
        assert_eq!(
            split(r#"a "GET / HTTP/1.1"#),
            Err(TokenError::Unterminated { at: 2, what: '"' })
        );
        assert_eq!(
            split("a [10/Oct/2000:13:55"),
            Err(TokenError::Unterminated { at: 2, what: '[' })
        );
        assert_eq!(split(r#""a"b"#), Err(TokenError::Glued { at: 2 }));
        assert!(split(r#""ends with \""#).is_err());
    }
}
