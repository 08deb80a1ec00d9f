//! Plain-text log lines into columns: a pipeline's `text:` declares how (a built-in format, a
//! regular expression with named captures, and what to do with a line that does not match).
//!
//! What is where:
//! - this file: the spec field ([`TextSpec`]), its checks for `loglift spec check` ([`check`]),
//!   the compiled [`Parser`] (one per pipeline, compiled when the spec is parsed and cached in
//!   the spec) and the per-file [`Reader`] that turns one line into a row or a `no_match` reject;
//! - [`formats`]: the built-in formats (Lambda platform lines, ALB, CloudFront, S3 server access,
//!   VPC flow logs, Apache/nginx combined, RFC 5424 and RFC 3164 syslog);
//! - [`tokenize`]: space-separated fields with `"…"` quoting and `[…]` brackets;
//! - [`time`]: the formats' own time syntaxes, read into UTC.
//!
//! The rows are JSON objects like any other event's: the pipeline's columns pick their fields,
//! and the curator checks types and sizes. Ingest uses it for CloudWatch Logs messages, transform
//! for landing files, with the same rejects.

pub mod formats;
pub mod time;
pub mod tokenize;

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::reject::{Reason, Rejection};
use crate::spec::{ColumnType, Format, Pipeline};

use formats::{Kind, Parsed, State};

/// The field a CloudWatch Logs event's own timestamp is given under (RFC 3339, UTC), so a column
/// can take it as the event time.
pub const LOG_TIMESTAMP: &str = "log_timestamp";

/// `text: { format: alb }`, `text: { format: regex, pattern: "…", unmatched: message }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextSpec {
    pub format: TextFormat,
    /// The regular expression of `format: regex` (Rust `regex` syntax, named captures
    /// `(?P<column>…)`); unanchored unless it says `^…$`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(default)]
    pub unmatched: Unmatched,
    #[serde(skip)]
    compiled: Compiled,
}

/// The built-in line formats, and `regex`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextFormat {
    LambdaPlatform,
    Alb,
    Cloudfront,
    S3Access,
    VpcFlow,
    Combined,
    #[serde(rename = "syslog_5424")]
    Syslog5424,
    #[serde(rename = "syslog_3164")]
    Syslog3164,
    Regex,
}

impl TextFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            TextFormat::LambdaPlatform => "lambda_platform",
            TextFormat::Alb => "alb",
            TextFormat::Cloudfront => "cloudfront",
            TextFormat::S3Access => "s3_access",
            TextFormat::VpcFlow => "vpc_flow",
            TextFormat::Combined => "combined",
            TextFormat::Syslog5424 => "syslog_5424",
            TextFormat::Syslog3164 => "syslog_3164",
            TextFormat::Regex => "regex",
        }
    }

    /// The fields a built-in writes; `None` when a header line may name them (CloudFront's
    /// `#Fields`, a VPC flow log header) or they are the pattern's captures.
    pub fn fields(self) -> Option<Vec<String>> {
        let owned = |v: Vec<&str>| Some(v.into_iter().map(str::to_owned).collect());
        match self {
            TextFormat::LambdaPlatform => owned(formats::LAMBDA_FIELDS.to_vec()),
            TextFormat::Alb => owned(formats::alb_fields()),
            TextFormat::S3Access => owned(formats::s3_access_fields()),
            TextFormat::Combined => owned(formats::combined_fields()),
            TextFormat::Syslog5424 => owned(formats::SYSLOG_5424_FIELDS.to_vec()),
            TextFormat::Syslog3164 => owned(formats::SYSLOG_3164_FIELDS.to_vec()),
            TextFormat::Cloudfront | TextFormat::VpcFlow | TextFormat::Regex => None,
        }
    }
}

/// What becomes of a line the format does not match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unmatched {
    /// A `no_match` reject with the line and its position.
    #[default]
    Reject,
    /// A row whose only field is `message`, the whole line.
    Message,
}

/// The compiled parser, cached in the spec (a clone shares it). Not part of the spec's equality.
#[derive(Debug, Clone, Default)]
struct Compiled(OnceLock<Result<Arc<Parser>, String>>);

impl PartialEq for Compiled {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Compiled {}

/// A pipeline's compiled text parsing.
#[derive(Debug)]
pub struct Parser {
    format: TextFormat,
    unmatched: Unmatched,
    regex: Option<Regex>,
}

#[derive(Debug)]
struct Regex {
    re: regex::Regex,
    /// Per capture group (index order): its name and how its text is typed.
    captures: Vec<Option<(String, Capture)>>,
}

#[derive(Debug, Clone, Copy)]
enum Capture {
    Str,
    Num,
    Time,
}

impl TextSpec {
    /// The compiled parser (compiled on first use, then shared); the error names the problem.
    pub fn parser(&self, pipeline: &Pipeline) -> Result<&Parser, &str> {
        self.compiled
            .0
            .get_or_init(|| Parser::compile(self, pipeline).map(Arc::new))
            .as_ref()
            .map(|p| p.as_ref())
            .map_err(String::as_str)
    }
}

impl Parser {
    fn compile(spec: &TextSpec, pipeline: &Pipeline) -> Result<Parser, String> {
        let regex = match (spec.format, spec.pattern.as_deref()) {
            (TextFormat::Regex, Some(pattern)) => {
                let re = regex::Regex::new(pattern).map_err(|e| e.to_string())?;
                let captures = re
                    .capture_names()
                    .map(|name| {
                        name.map(|name| {
                            let kind = pipeline
                                .columns
                                .iter()
                                .find(|c| c.source_path() == name)
                                .map_or(Capture::Str, |c| match c.kind {
                                    ColumnType::Int | ColumnType::Float => Capture::Num,
                                    ColumnType::Timestamp => Capture::Time,
                                    _ => Capture::Str,
                                });
                            (name.to_owned(), kind)
                        })
                    })
                    .collect();
                Some(Regex { re, captures })
            }
            (TextFormat::Regex, None) => return Err("format regex needs a pattern".into()),
            _ => None,
        };
        Ok(Parser {
            format: spec.format,
            unmatched: spec.unmatched,
            regex,
        })
    }

    /// A reader for one file or one batch of log events. `reference` dates RFC 3164 times (the
    /// log event's timestamp, or the file's arrival).
    pub fn reader(&self, reference: DateTime<Utc>) -> Reader<'_> {
        Reader {
            parser: self,
            state: State {
                fields: None,
                reference,
            },
        }
    }
}

/// What one line became.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    Row(Map<String, Value>),
    /// A header or comment line: not an event.
    Skip,
    /// A `no_match` reject (the caller adds the line and its position).
    Reject(Rejection),
}

/// Reads the lines of one file (header lines change how later lines are read).
#[derive(Debug)]
pub struct Reader<'p> {
    parser: &'p Parser,
    state: State,
}

impl Reader<'_> {
    /// Set the reference time (per CloudWatch Logs event).
    pub fn set_reference(&mut self, reference: DateTime<Utc>) {
        self.state.reference = reference;
    }

    /// One line (without its newline) into a row, a skipped header, or a reject. Never panics.
    pub fn line(&mut self, line: &str) -> Line {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let parsed = match self.parser.format {
            TextFormat::LambdaPlatform => formats::lambda_platform(line),
            TextFormat::Alb => formats::alb(line),
            TextFormat::Cloudfront => formats::cloudfront(&mut self.state, line),
            TextFormat::S3Access => formats::s3_access(line),
            TextFormat::VpcFlow => formats::vpc_flow(&mut self.state, line),
            TextFormat::Combined => formats::combined(line),
            TextFormat::Syslog5424 => formats::syslog_5424(line),
            TextFormat::Syslog3164 => formats::syslog_3164(&self.state, line),
            TextFormat::Regex => self.regex(line),
        };
        match parsed {
            Parsed::Row(map) => Line::Row(map),
            Parsed::Skip => Line::Skip,
            Parsed::NoMatch(_) if self.parser.unmatched == Unmatched::Message => {
                let mut map = Map::new();
                map.insert("message".into(), Value::String(line.to_owned()));
                Line::Row(map)
            }
            Parsed::NoMatch(why) => Line::Reject(Rejection::new(
                Reason::NoMatch,
                format!(
                    "line does not match text format {}: {why}",
                    self.parser.format.as_str()
                ),
            )),
        }
    }

    fn regex(&self, line: &str) -> Parsed {
        let Some(regex) = &self.parser.regex else {
            return Parsed::NoMatch("no pattern".into());
        };
        let Some(caps) = regex.re.captures(line) else {
            return Parsed::NoMatch("the pattern does not match".into());
        };
        let mut map = Map::new();
        for (group, capture) in regex.captures.iter().enumerate() {
            let (Some((name, kind)), Some(m)) = (capture, caps.get(group)) else {
                continue;
            };
            let text = m.as_str();
            if text.is_empty() {
                continue;
            }
            match kind {
                Capture::Str => formats::put(&mut map, name, text, Kind::Str),
                Capture::Num => formats::put(&mut map, name, text, Kind::Num),
                Capture::Time => {
                    let value = time::parse_any(text).map_or_else(|| text.to_owned(), time::write);
                    map.insert(name.clone(), Value::String(value));
                }
            }
        }
        Parsed::Row(map)
    }
}

/// The checks of a pipeline's `text` (and of `format: text`), as `(path, message)`.
pub fn check(p: &Pipeline, at: &dyn Fn(&str) -> String, err: &mut dyn FnMut(String, String)) {
    let Some(text) = &p.text else {
        if p.format == Format::Text {
            err(
                at("text"),
                "format text needs `text: { format: … }` saying how a line becomes columns".into(),
            );
        }
        return;
    };
    match p.format {
        Format::Text if p.matcher.s3_prefix.is_none() => err(
            at("format"),
            "format text is read from files: the pipeline needs match.s3_prefix (CloudWatch Logs \
             pipelines keep format cloudwatch_logs and add `text`)"
                .into(),
        ),
        Format::Text | Format::CloudwatchLogs => {}
        other => err(
            at("text"),
            format!(
                "text parsing applies to format text or cloudwatch_logs, not {}",
                serde_json::to_value(other)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
        ),
    }
    let is_column_source = |name: &str| p.columns.iter().any(|c| c.source_path() == name);
    match (text.format, text.pattern.as_deref()) {
        (TextFormat::Regex, None) => err(
            at("text.pattern"),
            "format regex needs a pattern with named captures".into(),
        ),
        (TextFormat::Regex, Some(pattern)) => match regex::Regex::new(pattern) {
            Err(e) => err(
                at("text.pattern"),
                format!(
                    "not a valid regular expression for pipeline `{}`: {e}",
                    p.name
                ),
            ),
            Ok(re) => {
                let names: Vec<&str> = re.capture_names().flatten().collect();
                if names.is_empty() {
                    err(
                        at("text.pattern"),
                        "the pattern has no named capture `(?P<column>…)`: no column could be \
                         filled"
                            .into(),
                    );
                }
                for name in names {
                    if !is_column_source(name) {
                        err(
                            at("text.pattern"),
                            format!(
                                "capture `{name}` is not a column of pipeline `{}` (no column has \
                                 name or source `{name}`)",
                                p.name
                            ),
                        );
                    }
                }
            }
        },
        (_, Some(_)) => err(
            at("text.pattern"),
            format!(
                "pattern is for format regex; {} is built in",
                text.format.as_str()
            ),
        ),
        (format, None) => {
            if let Some(fields) = format.fields() {
                for (k, c) in p.columns.iter().enumerate() {
                    let source = c.source_path();
                    let known = fields.iter().any(|f| f == source)
                        || (p.format == Format::CloudwatchLogs && source == LOG_TIMESTAMP);
                    if !known {
                        err(
                            at(&format!("columns[{k}].source")),
                            format!(
                                "text format {} has no field `{source}`; its fields are {}",
                                format.as_str(),
                                fields.join(", ")
                            ),
                        );
                    }
                }
            }
        }
    }
    if text.unmatched == Unmatched::Message && !is_column_source("message") {
        err(
            at("text.unmatched"),
            "unmatched: message keeps the line in field `message`: add a column with name or \
             source `message`"
                .into(),
        );
    }
    // Compile now: the spec carries the parser from here on.
    if let Err(e) = text.parser(p) {
        if text.format == TextFormat::Regex && text.pattern.is_some() {
            // Already reported above with its path.
            return;
        }
        err(at("text"), e.to_owned());
    }
}

#[cfg(test)]
mod tests;
