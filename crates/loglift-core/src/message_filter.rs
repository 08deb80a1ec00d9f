//! What the redrive and `dlq inspect` commands know about a message body, without any I/O: the
//! `--match` [`Filter`] and the [`BodySummary`] they print.
//!
//! # The `match` syntax
//!
//! ```text
//! [PATH] [OP VALUE]
//! PATH  := ('$' | NAME) ('.' NAME | '[' INDEX ']' | '["' any text '"]')*     a bare NAME is $.NAME
//! NAME  := letters, digits, '_' or '-', not starting with a digit or '-'
//! OP    := '==' | '!=' | '~' (regex search) | '!~' (regex does not match)
//! VALUE := a JSON string literal ("…", with escapes), or the rest of the text, trimmed
//! ```
//!
//! - `pipeline == user_events`, `$.table != tracking.events`: the body's value at the path,
//!   compared as text (a string as it is, a number or boolean as JSON writes it, `42`, `true`).
//! - `$.Records[0].s3.object.key ~ ^raw/pipeline%3Dapp_logs/`: a regex search (the `regex` crate
//!   syntax; unanchored unless you write `^`/`$`). S3 notification bodies carry their keys
//!   form-encoded (`=` is `%3D`, a space is `+`): match the encoded form.
//! - `~ TestEvent`, `!~ "^\\{"`: without a path, the test applies to the whole body.
//! - `$.error` alone: the path exists and is not null.
//!
//! A missing (or null) value never equals or matches, so `!=` and `!~` hold for it; a body
//! that is not JSON matches no path test at all (only whole-body tests).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::storage::LoaderMessage;

/// Characters of a body shown when it is neither an S3 event nor a loader message.
pub const PREVIEW_CHARS: usize = 80;

/// A `--match` expression that cannot be parsed: where (0-based character offset into the
/// expression) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("match expression {expression:?}: at character {position}: {message}")]
pub struct FilterError {
    pub expression: String,
    pub position: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone)]
enum Test {
    Exists,
    Equals(String),
    NotEquals(String),
    Matches(regex::Regex),
    NotMatches(regex::Regex),
}

/// A parsed `match` expression (syntax in [the module docs](self)). Deserializes from, and
/// serializes to, its text.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Filter {
    text: String,
    /// `None`: the test applies to the whole body.
    path: Option<Vec<Step>>,
    test: Test,
}

impl Filter {
    /// Parse an expression.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        Parser::new(text).parse()
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether a message body matches.
    pub fn matches(&self, body: &str) -> bool {
        let Some(path) = &self.path else {
            return self.test.holds(Some(body));
        };
        let Ok(json) = serde_json::from_str::<Value>(body) else {
            return false;
        };
        let value = path
            .iter()
            .try_fold(&json, |v, step| match step {
                Step::Key(k) => v.get(k.as_str()),
                Step::Index(i) => v.get(*i),
            })
            .filter(|v| !v.is_null());
        let text = value.map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        self.test.holds(text.as_deref())
    }
}

impl Test {
    fn holds(&self, value: Option<&str>) -> bool {
        match (self, value) {
            (Test::Exists, v) => v.is_some(),
            (Test::Equals(want), Some(v)) => v == want,
            (Test::NotEquals(want), Some(v)) => v != want,
            (Test::Matches(re), Some(v)) => re.is_match(v),
            (Test::NotMatches(re), Some(v)) => !re.is_match(v),
            (Test::Equals(_) | Test::Matches(_), None) => false,
            (Test::NotEquals(_) | Test::NotMatches(_), None) => true,
        }
    }
}

impl FromStr for Filter {
    type Err = FilterError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Filter::parse(s)
    }
}

impl TryFrom<String> for Filter {
    type Error = FilterError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Filter::parse(&s)
    }
}

impl From<Filter> for String {
    fn from(f: Filter) -> String {
        f.text
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A small recursive-descent parser over the expression's characters.
struct Parser<'a> {
    text: &'a str,
    chars: Vec<char>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser {
            text,
            chars: text.chars().collect(),
            pos: 0,
        }
    }

    fn error(&self, position: usize, message: impl Into<String>) -> FilterError {
        FilterError {
            expression: self.text.to_owned(),
            position,
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn rest(&self) -> String {
        self.chars
            .get(self.pos..)
            .unwrap_or_default()
            .iter()
            .collect()
    }

    fn parse(mut self) -> Result<Filter, FilterError> {
        self.skip_ws();
        if self.peek().is_none() {
            return Err(self.error(0, "empty expression"));
        }
        let path = match self.peek() {
            Some('$') => {
                self.pos += 1;
                Some(self.steps(Vec::new())?)
            }
            Some(c) if is_name_start(c) => {
                let first = self.name();
                Some(self.steps(vec![Step::Key(first)])?)
            }
            _ => None,
        };
        self.skip_ws();
        let op_at = self.pos;
        let op = match (self.peek(), self.peek_at(1)) {
            (None, _) => {
                return match path {
                    Some(path) => Ok(Filter {
                        text: self.text.to_owned(),
                        path: Some(path),
                        test: Test::Exists,
                    }),
                    None => Err(self.error(op_at, "expected a path")),
                }
            }
            (Some('='), Some('=')) => "==",
            (Some('!'), Some('=')) => "!=",
            (Some('!'), Some('~')) => "!~",
            (Some('~'), _) => "~",
            (Some(c), _) => {
                let what = if path.is_some() {
                    "expected ==, !=, ~ or !~ after the path"
                } else {
                    "expected a path ($.a.b, $.a[0], a bare name) or ~ / !~ / == / != for the whole body"
                };
                return Err(self.error(op_at, format!("{what}, found {c:?}")));
            }
        };
        self.pos += op.chars().count();
        self.skip_ws();
        let value_at = self.pos;
        let value = self.value(op)?;
        let regex = |v: &str| {
            regex::Regex::new(v).map_err(|e| self.error(value_at, format!("invalid regex: {e}")))
        };
        let test = match op {
            "==" => Test::Equals(value),
            "!=" => Test::NotEquals(value),
            "~" => Test::Matches(regex(&value)?),
            _ => Test::NotMatches(regex(&value)?),
        };
        Ok(Filter {
            text: self.text.to_owned(),
            path,
            test,
        })
    }

    /// `.name`, `[index]`, `["key"]` steps after the path's start.
    fn steps(&mut self, mut steps: Vec<Step>) -> Result<Vec<Step>, FilterError> {
        loop {
            match self.peek() {
                Some('.') => {
                    self.pos += 1;
                    let at = self.pos;
                    if !self.peek().is_some_and(is_name_start) {
                        return Err(self.error(
                            at,
                            "expected a field name after '.' (use [\"…\"] for other names)",
                        ));
                    }
                    steps.push(Step::Key(self.name()));
                }
                Some('[') => {
                    let open = self.pos;
                    self.pos += 1;
                    if self.peek() == Some('"') {
                        let key = self.json_string()?;
                        steps.push(Step::Key(key));
                    } else {
                        let start = self.pos;
                        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                            self.pos += 1;
                        }
                        let digits: String = self
                            .chars
                            .get(start..self.pos)
                            .unwrap_or_default()
                            .iter()
                            .collect();
                        let index = digits.parse::<usize>().map_err(|_| {
                            self.error(start, "expected an array index or a \"quoted\" key")
                        })?;
                        steps.push(Step::Index(index));
                    }
                    if self.peek() != Some(']') {
                        return Err(
                            self.error(self.pos, format!("expected ']' closing the '[' at {open}"))
                        );
                    }
                    self.pos += 1;
                }
                _ => return Ok(steps),
            }
        }
    }

    fn name(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(is_name_char) {
            self.pos += 1;
        }
        self.chars
            .get(start..self.pos)
            .unwrap_or_default()
            .iter()
            .collect()
    }

    /// A JSON string literal starting at the current `"`.
    fn json_string(&mut self) -> Result<String, FilterError> {
        let start = self.pos;
        let rest = self.rest();
        let mut stream = serde_json::Deserializer::from_str(&rest).into_iter::<String>();
        match stream.next() {
            Some(Ok(s)) => {
                let used = rest.get(..stream.byte_offset()).unwrap_or_default();
                self.pos += used.chars().count();
                Ok(s)
            }
            Some(Err(e)) => Err(self.error(start, format!("bad string literal: {e}"))),
            None => Err(self.error(start, "expected a string literal")),
        }
    }

    fn value(&mut self, op: &str) -> Result<String, FilterError> {
        let at = self.pos;
        if self.peek() == Some('"') {
            let value = self.json_string()?;
            self.skip_ws();
            if self.peek().is_some() {
                return Err(self.error(self.pos, "unexpected text after the quoted value"));
            }
            return Ok(value);
        }
        let value = self.rest().trim_end().to_owned();
        if value.is_empty() {
            return Err(self.error(at, format!("expected a value after {op} (\"\" for empty)")));
        }
        self.pos = self.chars.len();
        Ok(value)
    }
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

// ---------------------------------------------------------------------------------------------
// Body summaries
// ---------------------------------------------------------------------------------------------

/// What a message body is, in a few words: the S3 objects of a notification, the table and
/// source of a loader message, or the start of anything else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BodySummary {
    /// An S3 event notification (plain, SNS-wrapped or EventBridge).
    S3Event {
        /// `s3://bucket/key` (decoded) of each created object.
        objects: Vec<String>,
        /// Events that are not creations (deletions, …).
        ignored: usize,
        test_event: bool,
    },
    /// A loader message (transform → dedupe-loader).
    Loader {
        pipeline: String,
        table: String,
        /// `s3://bucket/key#version` of the raw or landing object.
        source: String,
        objects: usize,
    },
    /// Anything else: the first characters.
    Other { preview: String, bytes: usize },
}

impl BodySummary {
    /// Summarise a message body.
    pub fn of(body: &str) -> BodySummary {
        if let Ok(m) = serde_json::from_str::<LoaderMessage>(body) {
            return BodySummary::Loader {
                pipeline: m.pipeline,
                table: m.table,
                source: format!(
                    "s3://{}/{}#{}",
                    m.source.bucket, m.source.key, m.source.version
                ),
                objects: m.objects.len(),
            };
        }
        if let Ok(n) = crate::s3event::parse_body(body) {
            return BodySummary::S3Event {
                objects: n
                    .created
                    .iter()
                    .map(|o| format!("s3://{}/{}", o.bucket, o.key))
                    .collect(),
                ignored: n.ignored.len(),
                test_event: n.test_event,
            };
        }
        let mut preview: String = body
            .chars()
            .take(PREVIEW_CHARS)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if body.chars().nth(PREVIEW_CHARS).is_some() {
            preview.push('…');
        }
        BodySummary::Other {
            preview,
            bytes: body.len(),
        }
    }
}

impl fmt::Display for BodySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodySummary::S3Event {
                objects,
                ignored,
                test_event,
            } => {
                if *test_event {
                    return f.write_str("s3:TestEvent");
                }
                match objects.as_slice() {
                    [] => f.write_str("S3 event without created objects")?,
                    [one] => write!(f, "S3 event {one}")?,
                    [first, rest @ ..] => write!(f, "S3 event {first} (+{} more)", rest.len())?,
                }
                if *ignored > 0 {
                    write!(f, ", {ignored} ignored")?;
                }
                Ok(())
            }
            BodySummary::Loader {
                pipeline,
                table,
                source,
                objects,
            } => write!(
                f,
                "loader {pipeline} → {table}, {objects} object(s) from {source}"
            ),
            BodySummary::Other { preview, bytes } => write!(f, "{bytes} bytes: {preview}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S3_BODY: &str = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"lake"},"object":{"key":"raw/pipeline%3Dapp_logs/dt%3D2026-01-01/a+b.gz","size":3}}}]}"#;
    const LOADER_BODY: &str = r#"{"v":1,"pipeline":"user_events","table":"tracking.events","spec_version":3,"source":{"bucket":"lake","key":"raw/x.gz","version":"e1"},"objects":[],"rejected":0,"n":42,"ok":true,"nothing":null}"#;

    fn matches(expr: &str, body: &str) -> bool {
        Filter::parse(expr)
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
            .matches(body)
    }

    #[test]
    fn filters_match_as_documented() {
        for (expr, body, want) in [
            ("pipeline == user_events", LOADER_BODY, true),
            ("pipeline==user_events", LOADER_BODY, true),
            ("$.pipeline == user_event", LOADER_BODY, false),
            ("$.pipeline != user_event", LOADER_BODY, true),
            ("$.table == tracking.events", LOADER_BODY, true),
            ("$.source.key == raw/x.gz", LOADER_BODY, true),
            (r#"$["source"]["version"] == "e1""#, LOADER_BODY, true),
            ("$.n == 42", LOADER_BODY, true),
            ("$.n == \"42\"", LOADER_BODY, true),
            ("$.ok == true", LOADER_BODY, true),
            ("$.n ~ ^4", LOADER_BODY, true),
            ("$.nothing", LOADER_BODY, false),
            ("$.nothing != x", LOADER_BODY, true),
            ("$.missing == x", LOADER_BODY, false),
            ("$.missing != x", LOADER_BODY, true),
            ("$.missing !~ x", LOADER_BODY, true),
            ("$.missing ~ .*", LOADER_BODY, false),
            ("$.n", LOADER_BODY, true),
            ("pipeline", LOADER_BODY, true),
            (
                "$.Records[0].s3.object.key ~ ^raw/pipeline%3Dapp_logs/",
                S3_BODY,
                true,
            ),
            (
                "$.Records[0].s3.object.key ~ ^raw/pipeline%3Duser_events/",
                S3_BODY,
                false,
            ),
            ("$.Records[1].s3.object.key ~ .", S3_BODY, false),
            ("$.Records[0].s3.bucket.name == lake", S3_BODY, true),
            ("$.Records.s3", S3_BODY, false),
            ("~ ObjectCreated", S3_BODY, true),
            ("!~ ObjectCreated", S3_BODY, false),
            (r#"~ "^\\{\"v\":1""#, LOADER_BODY, true),
            ("== not json at all", "not json at all", true),
            ("!= not json at all", "not json", true),
            ("pipeline != x", "not json", false),
            ("pipeline !~ x", "not json", false),
            ("  $.pipeline   ==   user_events  ", LOADER_BODY, true),
            ("$.x == \"\"", r#"{"x":""}"#, true),
            ("$.a-b == 1", r#"{"a-b":1}"#, true),
            (r#"$["a b"] == "two words""#, r#"{"a b":"two words"}"#, true),
            ("$[1] == b", r#"["a","b"]"#, true),
            ("$.emoji == ✓ ok", r#"{"emoji":"✓ ok"}"#, true),
        ] {
            assert_eq!(matches(expr, body), want, "{expr:?} on {body}");
        }
    }

    #[test]
    fn bad_filters_say_where_and_why() {
        for (expr, position, fragment) in [
            ("", 0, "empty"),
            ("   ", 0, "empty"),
            ("$.", 2, "field name"),
            ("$.a[", 4, "array index"),
            ("$.a[1", 5, "expected ']'"),
            ("$.a[x]", 4, "array index"),
            ("$.a =", 4, "expected =="),
            ("$.a == ", 7, "expected a value"),
            ("$.a ~ (", 6, "invalid regex"),
            ("~ [", 2, "invalid regex"),
            ("$.a == \"x\" y", 11, "after the quoted value"),
            ("$.a == \"x", 7, "bad string literal"),
            ("= x", 0, "expected a path"),
            ("1abc == x", 0, "expected a path"),
            (r#"$["a" == x"#, 5, "expected ']'"),
        ] {
            let err = Filter::parse(expr).expect_err(expr);
            assert_eq!(err.position, position, "{expr:?}: {err}");
            assert!(err.to_string().contains(fragment), "{expr:?}: {err}");
        }
    }

    #[test]
    fn bodies_are_summarised() {
        assert_eq!(
            BodySummary::of(S3_BODY).to_string(),
            "S3 event s3://lake/raw/pipeline=app_logs/dt=2026-01-01/a b.gz"
        );
        assert_eq!(
            BodySummary::of(LOADER_BODY).to_string(),
            "loader user_events → tracking.events, 0 object(s) from s3://lake/raw/x.gz#e1"
        );
        assert_eq!(
            BodySummary::of(r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#).to_string(),
            "s3:TestEvent"
        );
        let long = format!("line one\n{}", "x".repeat(200));
        let BodySummary::Other { preview, bytes } = BodySummary::of(&long) else {
            panic!("not Other");
        };
        assert_eq!(bytes, long.len());
        assert_eq!(preview.chars().count(), PREVIEW_CHARS + 1);
        assert!(
            preview.starts_with("line one x") && preview.ends_with('…'),
            "{preview}"
        );
        assert_eq!(
            BodySummary::of("ünï").to_string(),
            "5 bytes: ünï",
            "short bodies are whole, multi-byte characters intact"
        );
    }
}
