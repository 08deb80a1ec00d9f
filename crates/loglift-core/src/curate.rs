//! Row validation: the one place an event becomes a curated row or a reject.
//!
//! [`Curator::curate`] takes an event (a JSON object, or a TSV row as header → text) and writes
//! the curated NDJSON line: the schema's columns in spec order, coerced (`string`, `int`,
//! `float`, `bool`, `timestamp` as `YYYY-MM-DD HH:MM:SS.ffffff` UTC, `json`), then the system
//! columns (`extra`, `event_id`, `event_time`, `source_object`, `spec_version`, `ingested_at`).
//! Byte limits are the warehouse's, so a row COPY would refuse is rejected here (`too_long`) with
//! the column named, never in the warehouse (where one bad row fails the whole load): a string
//! column's value over its `VARCHAR(n)` bytes, a json column over its `max_bytes`, a string (or
//! object key) inside a json column or `extra` over [`MAX_SUPER_STRING_BYTES`] (SUPER's limit),
//! and the whole line over [`MAX_ROW_BYTES`] (the largest JSON object COPY reads).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::io::Write as _;

use chrono::{DateTime, Datelike, Utc};
use serde_json::{Map, Value};

use crate::identity::lookup;
use crate::reject::{Reason, Rejection};
use crate::spec::{Column, ColumnType, Pipeline, MAX_ROW_BYTES, MAX_SUPER_STRING_BYTES};
use crate::timefmt;

/// Where a row came from and when it is written: the system columns that do not depend on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowContext<'a> {
    /// `s3://bucket/key#version-or-etag` of the raw or landing object.
    pub source_object: &'a str,
    /// When transform writes the row.
    pub ingested_at: DateTime<Utc>,
}

/// A curated row written into a buffer: what partitioning and the loader message need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Curated {
    /// The event-time column's value; `None` for pipelines without event time.
    pub event_time: Option<DateTime<Utc>>,
    /// Bytes of the row's curated NDJSON line, its newline included, whichever form it was
    /// written in (what a part's target size counts).
    pub line_len: usize,
}

/// Where the curator writes a row, value by value in table order: the curated NDJSON line
/// ([`JsonRow`]) or the typed cells an open Parquet part holds
/// ([`crate::columnar::CellRow`]). Each form knows the length of the NDJSON line the row is,
/// so every limit falls at the same place in both.
pub trait RowWriter {
    /// Before the first value.
    fn open(&mut self);
    /// Before a column's value (`"name":` in the line).
    fn key(&mut self, name: &str);
    /// After a value that is not the last.
    fn sep(&mut self);
    /// After the last value; the line's length (without its newline).
    fn close(&mut self) -> usize;
    fn null(&mut self);
    /// A string that may hold characters JSON escapes.
    fn str(&mut self, s: &str);
    /// A string that holds none ([`EventView::json_str`] without escapes, a [`Field::Verbatim`]).
    fn plain_str(&mut self, s: &str);
    fn int(&mut self, n: i64);
    fn float(&mut self, f: f64);
    fn bool(&mut self, b: bool);
    fn time(&mut self, t: DateTime<Utc>);
    /// Start a JSON value (a `json` column, `extra`): its text is written into
    /// [`RowWriter::text`] from the returned offset, then [`RowWriter::end_json`] is called
    /// (or [`RowWriter::drop_json`], to write something else instead).
    fn begin_json(&mut self) -> usize;
    fn text(&mut self) -> &mut Vec<u8>;
    fn end_json(&mut self, start: usize);
    fn drop_json(&mut self, start: usize);
    /// Forget the row (it was rejected): the buffer is as it was before [`RowWriter::open`].
    fn discard(&mut self);
}

/// The curated NDJSON line, appended to a buffer.
pub struct JsonRow<'o> {
    out: &'o mut Vec<u8>,
    start: usize,
}

impl<'o> JsonRow<'o> {
    pub fn new(out: &'o mut Vec<u8>) -> Self {
        let start = out.len();
        JsonRow { out, start }
    }
}

impl RowWriter for JsonRow<'_> {
    fn open(&mut self) {
        self.out.push(b'{');
    }
    fn key(&mut self, name: &str) {
        push_key(self.out, name);
    }
    fn sep(&mut self) {
        self.out.push(b',');
    }
    fn close(&mut self) -> usize {
        self.out.push(b'}');
        self.out.len() - self.start
    }
    fn null(&mut self) {
        self.out.extend_from_slice(b"null");
    }
    fn str(&mut self, s: &str) {
        crate::jsonstr::push(self.out, s);
    }
    fn plain_str(&mut self, s: &str) {
        self.out.reserve(s.len() + 2);
        self.out.push(b'"');
        self.out.extend_from_slice(s.as_bytes());
        self.out.push(b'"');
    }
    fn int(&mut self, n: i64) {
        let _ = write!(self.out, "{n}");
    }
    fn float(&mut self, f: f64) {
        write_json(self.out, &f);
    }
    fn bool(&mut self, b: bool) {
        self.out
            .extend_from_slice(if b { b"true" } else { b"false" });
    }
    fn time(&mut self, t: DateTime<Utc>) {
        push_time(self.out, t);
    }
    fn begin_json(&mut self) -> usize {
        self.out.len()
    }
    fn text(&mut self) -> &mut Vec<u8> {
        self.out
    }
    fn end_json(&mut self, _start: usize) {}
    fn drop_json(&mut self, start: usize) {
        self.out.truncate(start);
    }
    fn discard(&mut self) {
        self.out.truncate(self.start);
    }
}

/// An event as the curator reads it: its values by source path, and its top-level fields in
/// order. A parsed map is one; [`crate::record::RawFields`] (a raw line's `data` read borrowed,
/// values parsed only when a column asks) is the other.
pub trait EventView {
    /// The value at `path`, as [`lookup`] finds it in a map; an error when it does not parse.
    fn value(&self, path: &str) -> Result<Option<Cow<'_, Value>>, Rejection>;

    /// Call `f` with every top-level field, in the event's order, until it fails; a field whose
    /// key `skip` says to skip is not read (nor its value parsed).
    fn try_each_field(
        &self,
        skip: &mut dyn FnMut(&str) -> bool,
        f: &mut dyn FnMut(&str, Field<'_>) -> Result<(), Rejection>,
    ) -> Result<(), Rejection>;

    /// The event as a map, when it is one (pipeline jobs read maps).
    fn as_map(&self) -> Option<&Map<String, Value>> {
        None
    }

    /// The string at the top-level key `key` as the event's JSON text holds it: the text between
    /// its quotes, escapes and all. Without escapes it is the string itself (its JSON form is it
    /// between quotes), and no value needs building to read it.
    fn json_str(&self, _key: &str) -> Option<&str> {
        None
    }
}

/// A top-level field's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Field<'a> {
    Value(Cow<'a, Value>),
    /// A JSON string without escapes, `true`, `false` or `null`, as the event holds it: what
    /// serialising its parsed value writes, byte for byte.
    Verbatim(&'a str),
}

impl EventView for Map<String, Value> {
    fn value(&self, path: &str) -> Result<Option<Cow<'_, Value>>, Rejection> {
        Ok(lookup(self, path).map(Cow::Borrowed))
    }

    fn try_each_field(
        &self,
        skip: &mut dyn FnMut(&str) -> bool,
        f: &mut dyn FnMut(&str, Field<'_>) -> Result<(), Rejection>,
    ) -> Result<(), Rejection> {
        self.iter()
            .filter(|(k, _)| !skip(k))
            .try_for_each(|(k, v)| f(k, Field::Value(Cow::Borrowed(v))))
    }

    fn as_map(&self) -> Option<&Map<String, Value>> {
        Some(self)
    }
}

/// Validates events of one pipeline.
#[derive(Debug)]
pub struct Curator<'p> {
    pipeline: &'p Pipeline,
    spec_version: u32,
    /// Top-level fields the schema names (a column's whole source path): not copied into `extra`.
    /// A list in spec order, not a hash set: a dozen short names compare faster than a key
    /// hashes, and events usually hold them in that order (tried first).
    named: Vec<&'p str>,
    /// Text values that are empty mean "absent" (TSV has no null).
    empty_is_null: bool,
    /// A string value unescaped ([`crate::jsonstr::unescape_simple`]), the buffer reused row
    /// after row.
    unescaped: RefCell<String>,
}

impl<'p> Curator<'p> {
    pub fn new(pipeline: &'p Pipeline, spec_version: u32) -> Self {
        Curator {
            pipeline,
            spec_version,
            named: {
                let mut seen = HashSet::new();
                pipeline
                    .columns
                    .iter()
                    .map(Column::source_path)
                    .filter(|path| seen.insert(*path))
                    .collect()
            },
            empty_is_null: false,
            unescaped: RefCell::default(),
        }
    }

    /// Treat empty strings as absent values (TSV files).
    pub fn empty_is_null(mut self, yes: bool) -> Self {
        self.empty_is_null = yes;
        self
    }

    pub fn pipeline(&self) -> &'p Pipeline {
        self.pipeline
    }

    /// Validate `event` and append its curated line (with `\n`) to `out`. On a rejection `out` is
    /// left as it was.
    pub fn curate<E: EventView + ?Sized>(
        &self,
        event: &E,
        event_id: &str,
        ctx: &RowContext<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Curated, Rejection> {
        let curated = self.curate_into(event, event_id, ctx, &mut JsonRow::new(out))?;
        out.push(b'\n');
        Ok(curated)
    }

    /// Validate `event` and write its row to `w`. On a rejection the row is discarded.
    pub fn curate_into<E: EventView + ?Sized, W: RowWriter>(
        &self,
        event: &E,
        event_id: &str,
        ctx: &RowContext<'_>,
        w: &mut W,
    ) -> Result<Curated, Rejection> {
        let result = self.write_row(event, event_id, ctx, w);
        if result.is_err() {
            w.discard();
        }
        result
    }

    fn write_row<E: EventView + ?Sized, W: RowWriter>(
        &self,
        event: &E,
        event_id: &str,
        ctx: &RowContext<'_>,
        w: &mut W,
    ) -> Result<Curated, Rejection> {
        let mut event_time = None;
        w.open();
        for column in &self.pipeline.columns {
            if let Some(time) = self.write_plain(event, column, w)? {
                if self.pipeline.event_time.as_deref() == Some(column.name.as_str()) {
                    event_time = time;
                }
                w.sep();
                continue;
            }
            let value = event
                .value(column.source_path())?
                .filter(|v| !v.is_null())
                .filter(|v| !(self.empty_is_null && v.as_str().is_some_and(str::is_empty)));
            w.key(&column.name);
            match value {
                None if column.required => {
                    return Err(Rejection::new(
                        Reason::MissingRequired,
                        format!(
                            "required column `{}` (from `{}`) is missing or null",
                            column.name,
                            column.source_path()
                        ),
                    ))
                }
                None => w.null(),
                Some(value) => {
                    let time = write_value(column, &value, w)?;
                    if self.pipeline.event_time.as_deref() == Some(column.name.as_str()) {
                        event_time = time;
                    }
                }
            }
            w.sep();
        }
        if let Some(name) = self.pipeline.event_time.as_deref() {
            if event_time.is_none() {
                return Err(Rejection::new(
                    Reason::MissingEventTime,
                    format!("event time column `{name}` has no value"),
                ));
            }
        }
        w.key("extra");
        self.write_extra(event, w)?;
        w.sep();
        if event_id.contains('\0') {
            return Err(Rejection::new(
                Reason::WrongType,
                format!("the event id holds a NUL character: {NUL_WHY}"),
            ));
        }
        w.key("event_id");
        w.str(event_id);
        w.sep();
        w.key("event_time");
        match event_time {
            Some(t) => w.time(t),
            None => w.null(),
        }
        w.sep();
        w.key("source_object");
        w.str(ctx.source_object);
        w.sep();
        w.key("spec_version");
        w.int(i64::from(self.spec_version));
        w.sep();
        w.key("ingested_at");
        w.time(ctx.ingested_at);
        let len = w.close();
        if len > MAX_ROW_BYTES as usize {
            return Err(Rejection::new(
                Reason::TooLong,
                format!(
                    "the curated row is {len} bytes, over {MAX_ROW_BYTES} (the largest JSON object Redshift's COPY reads)"
                ),
            ));
        }
        Ok(Curated {
            event_time,
            line_len: len + 1,
        })
    }

    /// A string or timestamp column whose value the event holds as a JSON string
    /// ([`EventView::json_str`]), written from that text (a string column's unescaped first when
    /// it holds simple escapes): `Ok(None)` when it does not apply (the value is then written
    /// from its parsed form, to the same bytes), `Ok(Some(time))` when written (`time` for a
    /// timestamp column).
    fn write_plain<E: EventView + ?Sized, W: RowWriter>(
        &self,
        event: &E,
        column: &Column,
        w: &mut W,
    ) -> Result<Option<Option<DateTime<Utc>>>, Rejection> {
        if self.empty_is_null || !matches!(column.kind, ColumnType::String | ColumnType::Timestamp)
        {
            return Ok(None);
        }
        let Some(text) = event.json_str(column.source_path()) else {
            return Ok(None);
        };
        if crate::jsonstr::has_escape(text) {
            let unescaped = &mut *self.unescaped.borrow_mut();
            if column.kind != ColumnType::String
                || !crate::jsonstr::unescape_simple(text, unescaped)
            {
                return Ok(None);
            }
            // No `\u` escape: no NUL.
            w.key(&column.name);
            check_len(column, unescaped.len())?;
            w.str(unescaped);
            return Ok(Some(None));
        }
        w.key(&column.name);
        if column.kind == ColumnType::String {
            // No escapes: no NUL, and the bytes are the string's.
            check_len(column, text.len())?;
            w.plain_str(text);
            return Ok(Some(None));
        }
        let t = timefmt::parse_str(text.trim(), column.time_format.unwrap_or_default());
        let t = checked_time(column, t, || format!("\"{text}\""))?;
        w.time(t);
        Ok(Some(Some(t)))
    }

    fn write_extra<E: EventView + ?Sized, W: RowWriter>(
        &self,
        event: &E,
        w: &mut W,
    ) -> Result<(), Rejection> {
        // Written field by field (no copy of the fields into a new map), in the event's order.
        let start = w.begin_json();
        let out = w.text();
        let mut next_named = 0;
        // Columns' fields are skipped unread: their values were read for their columns.
        let mut named = |k: &str| {
            let found = match self.named.get(next_named) {
                Some(n) if *n == k => Some(next_named),
                _ => self
                    .named
                    .iter()
                    .position(|n| n.len() == k.len() && *n == k),
            };
            if let Some(i) = found {
                next_named = i + 1;
            }
            found.is_some()
        };
        event.try_each_field(&mut named, &mut |k, field| {
            let (nul, long) = match &field {
                Field::Value(v) if self.empty_is_null && v.as_str().is_some_and(str::is_empty) => {
                    return Ok(())
                }
                Field::Verbatim("\"\"") if self.empty_is_null => return Ok(()),
                Field::Value(v) => (holds_nul(v), long_super_string(v)),
                // No escapes: no NUL, and the string's bytes are the text's less its quotes.
                Field::Verbatim(text) => (
                    false,
                    text.strip_prefix('"')
                        .and_then(|t| over_super_limit(t.strip_suffix('"').unwrap_or(t))),
                ),
            };
            if k.contains('\0') || nul {
                return Err(Rejection::new(
                    Reason::WrongType,
                    format!("unknown field {k:?} (`extra`) holds a NUL character: {NUL_WHY}"),
                ));
            }
            if let Some(n) = long.or_else(|| over_super_limit(k)) {
                let shown: String = k.chars().take(80).collect();
                return Err(Rejection::new(
                    Reason::TooLong,
                    format!(
                        "unknown field {shown:?} (`extra`) holds a string of {n} bytes, over SUPER's {MAX_SUPER_STRING_BYTES}"
                    ),
                ));
            }
            out.push(if out.len() == start { b'{' } else { b',' });
            push_key(out, k);
            match field {
                Field::Value(v) => write_json(out, v.as_ref()),
                Field::Verbatim(text) => out.extend_from_slice(text.as_bytes()),
            }
            Ok(())
        })?;
        if out.len() == start {
            w.drop_json(start);
            w.null();
            return Ok(());
        }
        out.push(b'}');
        let len = out.len() - start;
        let most = self.pipeline.curated.format.max_json_bytes();
        if len > most as usize {
            return Err(Rejection::new(
                Reason::TooLong,
                format!("unknown fields (`extra`) take {len} bytes, over {most}"),
            ));
        }
        w.end_json(start);
        Ok(())
    }
}

/// Why a NUL character (U+0000) is refused: PostgreSQL text and JSONB and Redshift VARCHAR
/// cannot store it, so one such value would fail the whole object's load.
const NUL_WHY: &str = "no warehouse column can store U+0000";

/// The byte length of `s` when it is over [`MAX_SUPER_STRING_BYTES`].
fn over_super_limit(s: &str) -> Option<usize> {
    (s.len() > MAX_SUPER_STRING_BYTES as usize).then_some(s.len())
}

/// The byte length of the first string or object key inside `value` that SUPER cannot hold.
fn long_super_string(value: &Value) -> Option<usize> {
    match value {
        Value::String(s) => over_super_limit(s),
        Value::Array(items) => items.iter().find_map(long_super_string),
        Value::Object(map) => map
            .iter()
            .find_map(|(k, v)| over_super_limit(k).or_else(|| long_super_string(v))),
        Value::Null | Value::Bool(_) | Value::Number(_) => None,
    }
}

/// Whether a string or key inside `value` holds U+0000.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

fn nul_in(column: &Column) -> Rejection {
    Rejection::new(
        Reason::WrongType,
        format!("column `{}` holds a NUL character: {NUL_WHY}", column.name),
    )
}

/// A timestamp in the curated form, as a JSON string (the form has nothing to escape).
fn push_time(out: &mut Vec<u8>, t: DateTime<Utc>) {
    out.push(b'"');
    timefmt::push_curated(out, t);
    out.push(b'"');
}

fn push_key(out: &mut Vec<u8>, name: &str) {
    crate::jsonstr::push(out, name);
    out.push(b':');
}

fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Serializing a string, number or `Value` into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

fn wrong_type(column: &Column, value: &Value) -> Rejection {
    let shown: String = value.to_string().chars().take(80).collect();
    Rejection::new(
        Reason::WrongType,
        format!(
            "column `{}` wants {}, got {shown}",
            column.name,
            type_name(column.kind)
        ),
    )
}

fn type_name(kind: ColumnType) -> &'static str {
    match kind {
        ColumnType::String => "a string",
        ColumnType::Int => "an integer",
        ColumnType::Float => "a number",
        ColumnType::Bool => "a boolean",
        ColumnType::Timestamp => "a timestamp",
        ColumnType::Json => "JSON",
    }
}

fn check_len(column: &Column, len: usize) -> Result<(), Rejection> {
    match column.byte_limit() {
        Some(limit) if len > limit as usize => Err(Rejection::new(
            Reason::TooLong,
            format!("column `{}` is {len} bytes, over its {limit}", column.name),
        )),
        _ => Ok(()),
    }
}

/// A parsed timestamp within years 1–9999, or the `bad_timestamp` reject showing the value's
/// JSON (`shown`).
fn checked_time(
    column: &Column,
    parsed: Option<DateTime<Utc>>,
    shown: impl FnOnce() -> String,
) -> Result<DateTime<Utc>, Rejection> {
    parsed
        .filter(|t| (1..=9999).contains(&t.year()))
        .ok_or_else(|| {
            let shown: String = shown().chars().take(80).collect();
            Rejection::new(
                Reason::BadTimestamp,
                format!("column `{}`: {shown} is not a timestamp", column.name),
            )
        })
}

/// Write one coerced value; returns the parsed time for timestamp columns.
fn write_value<W: RowWriter>(
    column: &Column,
    value: &Value,
    w: &mut W,
) -> Result<Option<DateTime<Utc>>, Rejection> {
    match column.kind {
        ColumnType::String => {
            let text = match value {
                Value::String(s) => std::borrow::Cow::Borrowed(s.as_str()),
                Value::Number(n) => std::borrow::Cow::Owned(n.to_string()),
                Value::Bool(b) => std::borrow::Cow::Owned(b.to_string()),
                _ => return Err(wrong_type(column, value)),
            };
            check_len(column, text.len())?;
            if text.contains('\0') {
                return Err(nul_in(column));
            }
            w.str(&text);
        }
        ColumnType::Int => {
            let n = match value {
                Value::Number(n) => n.as_i64().or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                        .map(|f| f as i64)
                }),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            }
            .ok_or_else(|| wrong_type(column, value))?;
            w.int(n);
        }
        ColumnType::Float => {
            let f = match value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            }
            .filter(|f| f.is_finite())
            .ok_or_else(|| wrong_type(column, value))?;
            w.float(f);
        }
        ColumnType::Bool => {
            let b = match value {
                Value::Bool(b) => Some(*b),
                Value::Number(n) => match n.as_i64() {
                    Some(0) => Some(false),
                    Some(1) => Some(true),
                    _ => None,
                },
                Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                    "true" | "t" | "1" | "yes" => Some(true),
                    "false" | "f" | "0" | "no" => Some(false),
                    _ => None,
                },
                _ => None,
            }
            .ok_or_else(|| wrong_type(column, value))?;
            w.bool(b);
        }
        ColumnType::Timestamp => {
            let t = timefmt::parse(value, column.time_format.unwrap_or_default());
            let t = checked_time(column, t, || value.to_string())?;
            w.time(t);
            return Ok(Some(t));
        }
        ColumnType::Json => {
            if holds_nul(value) {
                return Err(nul_in(column));
            }
            let start = w.begin_json();
            write_json(w.text(), value);
            check_len(column, w.text().len() - start)?;
            if let Some(n) = long_super_string(value) {
                return Err(Rejection::new(
                    Reason::TooLong,
                    format!(
                        "column `{}` holds a string of {n} bytes, over SUPER's {MAX_SUPER_STRING_BYTES}",
                        column.name
                    ),
                ));
            }
            w.end_json(start);
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Spec;
    use serde_json::json;

    const SPEC: &str = r#"
version: 7
pipelines:
  - name: p
    match: { stream: s }
    format: json
    table: t.p
    identity: { field: id }
    event_time: at
    columns:
      - { name: id, type: string, required: true, max_bytes: 8 }
      - { name: at, type: timestamp, required: true }
      - { name: n, type: int }
      - { name: x, type: float }
      - { name: ok, type: bool }
      - { name: props, type: json, max_bytes: 20 }
      - { name: uid, type: string, source: props.user, max_bytes: 4 }
  - name: q
    match: { stream: q }
    format: json
    table: t.q
    identity: { field: id }
    columns:
      - { name: id, type: string, required: true }
"#;

    fn ctx() -> RowContext<'static> {
        RowContext {
            source_object: "s3://b/k#v",
            ingested_at: chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 21, 10, 0, 0).unwrap(),
        }
    }

    fn run(pipeline: &str, event: Value) -> Result<Value, Rejection> {
        let spec = Spec::parse(SPEC).unwrap();
        let curator = Curator::new(spec.pipeline(pipeline).unwrap(), spec.version);
        let mut out = b"prefix".to_vec();
        let result = curator.curate(event.as_object().unwrap(), "id-1", &ctx(), &mut out);
        match result {
            Ok(_) => {
                let line = out.strip_prefix(b"prefix").unwrap();
                assert_eq!(line.last(), Some(&b'\n'));
                Ok(serde_json::from_slice(line).unwrap())
            }
            Err(e) => {
                assert_eq!(out, b"prefix", "a rejected row leaves the buffer as it was");
                Err(e)
            }
        }
    }

    #[test]
    fn coerces_every_type_and_keeps_unknown_fields_in_extra() {
        let row = run(
            "p",
            json!({"id": 42, "at": "2020-06-01T02:00:24+02:00", "n": "17", "x": "1.5", "ok": "yes",
                   "props": {"user": "u1"}, "other": [1], "more": "m"}),
        )
        .unwrap();
        assert_eq!(
            row,
            json!({"id": "42", "at": "2020-06-01 00:00:24.000000", "n": 17, "x": 1.5, "ok": true,
                   "props": {"user": "u1"}, "uid": "u1", "extra": {"other": [1], "more": "m"},
                   "event_id": "id-1", "event_time": "2020-06-01 00:00:24.000000",
                   "source_object": "s3://b/k#v", "spec_version": 7,
                   "ingested_at": "2026-11-21 10:00:00.000000"})
        );
    }

    #[test]
    fn columns_come_out_in_spec_order_then_system_columns() {
        let spec = Spec::parse(SPEC).unwrap();
        let curator = Curator::new(spec.pipeline("p").unwrap(), 1);
        let mut out = Vec::new();
        let event = json!({"at": 1_590_969_624, "id": "a"});
        curator
            .curate(event.as_object().unwrap(), "a", &ctx(), &mut out)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        let order: Vec<usize> = [
            "\"id\"",
            "\"at\"",
            "\"n\"",
            "\"x\"",
            "\"ok\"",
            "\"props\"",
            "\"uid\"",
            "\"extra\"",
            "\"event_id\"",
            "\"event_time\"",
            "\"source_object\"",
            "\"spec_version\"",
            "\"ingested_at\"",
        ]
        .iter()
        .map(|k| text.find(k).unwrap())
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn rejects_name_the_column_and_reason() {
        let cases = [
            (json!({"at": 1}), Reason::MissingRequired, "`id`"),
            (
                json!({"id": null, "at": 1}),
                Reason::MissingRequired,
                "`id`",
            ),
            (
                json!({"id": "123456789", "at": 1}),
                Reason::TooLong,
                "9 bytes, over its 8",
            ),
            (
                json!({"id": "é1234567", "at": 1}),
                Reason::TooLong,
                "9 bytes",
            ),
            (
                json!({"id": {"a": 1}, "at": 1}),
                Reason::WrongType,
                "`id` wants a string",
            ),
            (
                json!({"id": "a", "at": "yesterday"}),
                Reason::BadTimestamp,
                "`at`",
            ),
            (
                json!({"id": "a", "at": "99999-01-01T00:00:00Z"}),
                Reason::BadTimestamp,
                "`at`",
            ),
            (json!({"id": "a"}), Reason::MissingRequired, "`at`"),
            (
                json!({"id": "a", "at": 1, "n": 1.5}),
                Reason::WrongType,
                "`n` wants an integer",
            ),
            (
                json!({"id": "a", "at": 1, "n": "x"}),
                Reason::WrongType,
                "`n`",
            ),
            (
                json!({"id": "a", "at": 1, "x": "NaN"}),
                Reason::WrongType,
                "`x`",
            ),
            (
                json!({"id": "a", "at": 1, "ok": 2}),
                Reason::WrongType,
                "`ok`",
            ),
            (
                json!({"id": "a", "at": 1, "props": {"k": "0123456789abcdef"}}),
                Reason::TooLong,
                "`props`",
            ),
            (
                json!({"id": "a", "at": 1, "props": {"user": "12345"}}),
                Reason::TooLong,
                "`uid`",
            ),
        ];
        for (event, reason, needle) in cases {
            let e = run("p", event.clone()).unwrap_err();
            assert_eq!(e.reason, reason, "{event}: {e}");
            assert!(e.message.contains(needle), "{event}: {e}");
        }
    }

    #[test]
    fn pipelines_without_event_time_write_null() {
        let row = run("q", json!({"id": "a"})).unwrap();
        assert_eq!(row["event_time"], Value::Null);
        assert_eq!(row["extra"], Value::Null);
    }

    #[test]
    fn optional_event_time_column_still_required_for_partitioning() {
        let spec = Spec::parse(&SPEC.replace(
            "{ name: at, type: timestamp, required: true }",
            "{ name: at, type: timestamp }",
        ))
        .unwrap();
        let curator = Curator::new(spec.pipeline("p").unwrap(), 1);
        let e = curator
            .curate(
                json!({"id": "a"}).as_object().unwrap(),
                "a",
                &ctx(),
                &mut Vec::new(),
            )
            .unwrap_err();
        assert_eq!(e.reason, Reason::MissingEventTime);
    }

    #[test]
    fn tsv_empty_fields_are_absent() {
        let spec = Spec::parse(SPEC).unwrap();
        let curator = Curator::new(spec.pipeline("p").unwrap(), 1).empty_is_null(true);
        let event = json!({"id": "a", "at": "1590969624", "n": "", "other": ""});
        let mut out = Vec::new();
        curator
            .curate(event.as_object().unwrap(), "a", &ctx(), &mut out)
            .unwrap();
        let row: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(row["n"], Value::Null);
        assert_eq!(row["extra"], Value::Null);
        let e = curator
            .curate(
                json!({"id": "", "at": "1"}).as_object().unwrap(),
                "a",
                &ctx(),
                &mut out,
            )
            .unwrap_err();
        assert_eq!(e.reason, Reason::MissingRequired);
    }

    /// A list of 60,000-byte strings (each under SUPER's limit), about `total` bytes in all.
    fn strings(total: usize) -> Value {
        let piece = "x".repeat(60_000);
        Value::Array(
            (0..total / 60_000)
                .map(|_| Value::String(piece.clone()))
                .collect(),
        )
    }

    #[test]
    fn rows_copy_would_refuse_are_too_long() {
        let spec = Spec::parse(
            r#"
version: 1
pipelines:
  - name: big
    match: { stream: s }
    format: json
    table: t.big
    identity: { field: id }
    columns:
      - { name: id, type: string, required: true }
      - { name: doc, type: json, max_bytes: 4000000 }
    curated: { format: ndjson }
"#,
        )
        .unwrap();
        let curator = Curator::new(spec.pipeline("big").unwrap(), 1);
        let curate = |event: Value| {
            let mut out = Vec::new();
            let r = curator.curate(event.as_object().unwrap(), "id-1", &ctx(), &mut out);
            (r, out)
        };
        let at_limit = "é".repeat(32_767) + "x"; // 65,535 bytes
        let over = "é".repeat(32_768); // 65,536 bytes, 32,768 characters
        let cases = [
            (
                json!({"id": "a", "doc": {"k": over}}),
                "column `doc` holds a string of 65536 bytes",
            ),
            (
                json!({"id": "a", "doc": [[over]]}),
                "column `doc` holds a string of 65536 bytes",
            ),
            (
                json!({"id": "a", "doc": {over.clone(): 1}}),
                "column `doc` holds a string of 65536 bytes",
            ),
            (
                json!({"id": "a", "more": over}),
                "(`extra`) holds a string of 65536 bytes",
            ),
            (
                json!({"id": "a", "more": {"deep": [over]}}),
                "(`extra`) holds a string of 65536 bytes",
            ),
            (
                json!({"id": "a", over.clone(): 1}),
                "(`extra`) holds a string of 65536 bytes",
            ),
            // Each part under its own limit, the row over 4,000,000 bytes.
            (
                json!({"id": "a", "doc": strings(2_040_000), "more": strings(2_040_000)}),
                "the curated row is",
            ),
        ];
        for (event, needle) in cases {
            let (r, out) = curate(event);
            let e = r.unwrap_err();
            assert_eq!(e.reason, Reason::TooLong, "{needle}: {e}");
            assert!(e.message.contains(needle), "{needle}: {}", e.message);
            assert!(out.is_empty(), "a rejected row writes nothing");
        }
        for event in [
            json!({"id": "a", "doc": {"k": at_limit}, "more": at_limit}),
            json!({"id": "a", "doc": strings(1_980_000), "more": strings(1_980_000)}),
        ] {
            let (r, out) = curate(event);
            assert!(r.is_ok(), "{r:?}");
            assert!(out.len() <= MAX_ROW_BYTES as usize + 1, "{}", out.len());
        }
    }

    #[test]
    fn nul_characters_are_rejected_where_no_warehouse_stores_them() {
        let spec = Spec::parse(SPEC).unwrap();
        let curator = Curator::new(spec.pipeline("p").unwrap(), 1);
        let cases = [
            (
                json!({"id": "a\u{0}", "at": "1590969624"}),
                "a",
                "column `id`",
            ),
            (
                json!({"id": "a", "at": "1590969624", "props": {"k\u{0}": 1}}),
                "a",
                "column `props`",
            ),
            (
                json!({"id": "a", "at": "1590969624", "more": ["\u{0}"]}),
                "a",
                "(`extra`)",
            ),
            (json!({"id": "a", "at": "1590969624"}), "a\u{0}", "event id"),
        ];
        for (event, id, what) in cases {
            let mut out = Vec::new();
            let e = curator
                .curate(event.as_object().unwrap(), id, &ctx(), &mut out)
                .unwrap_err();
            assert_eq!(e.reason, Reason::WrongType, "{what}");
            assert!(e.message.contains(what), "{}", e.message);
            assert!(out.is_empty());
        }
    }

    #[test]
    fn plain_strings_are_written_as_serde_json_writes_them() {
        for s in [
            "",
            "abc",
            "é ü 漢 😀",
            "a\"b",
            "a\\b",
            "tab\tnl\n",
            "\u{1}\u{1f}",
            "\u{7f}",
            "\u{2028}",
        ] {
            let mut out = Vec::new();
            crate::jsonstr::push(&mut out, s);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(s).unwrap(),
                "{s:?}"
            );
        }
    }

    /// A row written as cells ([`crate::columnar::CellRow`]) is rejected exactly when its
    /// NDJSON line is, counts that line's bytes, and becomes the same Parquet part.
    #[test]
    fn cell_rows_count_their_line_and_make_the_parquet_lines_make() {
        let spec = Spec::parse(SPEC).unwrap();
        let pipeline = spec.pipeline("p").unwrap();
        let curator = Curator::new(pipeline, spec.version);
        let events = [
            json!({"id": "a", "at": "2020-06-01T00:00:24Z", "n": 3, "x": 1.5, "ok": true,
                   "props": {"user": "u1"}, "z": "z\"q", "w": [1, {"a": null}]}),
            json!({"id": "b", "at": 1591000000}),
            json!({"id": "c", "at": "2020-06-01 00:00:24", "props": {"user": "toolong"}}),
            json!({"at": "2020-06-01 00:00:24"}),
            json!({"id": "\"\\\n\t\u{1}\u{7f}é", "at": "1970-01-01T00:00:00.000001Z",
                   "n": -9_007_199_254_740_000i64, "x": 1e-7, "ok": "no", "props": {"k\n": "\u{1f}"}}),
            json!({"id": "d", "at": "1969-12-31T23:59:59.5Z", "n": 0, "x": -0.0, "props": [],
                   "extra\u{2}": 1, "big": 12345678901234567890u64, "f": 0.1}),
            json!({"id": "e", "at": "9999-12-31T23:59:59.999999Z", "n": i64::MIN, "x": 2.5e300}),
        ];
        let mut lines = Vec::new();
        let mut cells = Vec::new();
        let mut rows = 0;
        for event in &events {
            let map = event.as_object().unwrap();
            let mut line = Vec::new();
            let by_line = curator.curate(map, "e\u{1b}", &ctx(), &mut line);
            let mut row = b"prefix".to_vec();
            let by_cells = curator.curate_into(
                map,
                "e\u{1b}",
                &ctx(),
                &mut crate::columnar::CellRow::new(&mut row),
            );
            assert_eq!(by_line, by_cells, "{event}");
            match by_line {
                Ok(curated) => {
                    assert_eq!(curated.line_len, line.len(), "{event}");
                    lines.extend_from_slice(&line);
                    cells.extend_from_slice(row.strip_prefix(b"prefix").unwrap());
                    rows += 1;
                }
                Err(_) => assert_eq!(row, b"prefix", "a rejected row leaves the buffer as it was"),
            }
        }
        assert_eq!(rows, 5);
        let columns = crate::sql::table_columns(pipeline);
        let (from_lines, _) =
            crate::columnar::parquet_from_lines(columns.clone(), &lines[..]).unwrap();
        let mut part = crate::columnar::ParquetPart::new(columns.clone()).unwrap();
        part.push_cell_rows(&cells[..], rows, lines.len() as u64)
            .unwrap();
        assert_eq!(part.raw_bytes(), lines.len() as u64);
        assert_eq!(part.finish().unwrap(), from_lines);
        // Strings split across the reader's buffer are read the same.
        let mut part = crate::columnar::ParquetPart::new(columns.clone()).unwrap();
        let small = std::io::BufReader::with_capacity(7, &cells[..]);
        part.push_cell_rows(small, rows, 0).unwrap();
        assert_eq!(part.finish().unwrap(), from_lines);
        // Cells out of step with the columns are an error, never a row.
        let mut part = crate::columnar::ParquetPart::new(columns).unwrap();
        assert!(part.push_cell_rows(&cells[1..], rows, 0).is_err());
        let mut part =
            crate::columnar::ParquetPart::new(crate::sql::table_columns(pipeline)).unwrap();
        assert!(part.push_cell_rows(&cells[..], rows - 1, 0).is_err());
    }

    /// A raw line's `data` read borrowed curates to the same bytes, or the same reject, as
    /// the same event parsed into a map.
    #[test]
    fn borrowed_raw_fields_curate_as_the_parsed_map_does() {
        let spec = Spec::parse(SPEC).unwrap();
        let curator = Curator::new(spec.pipeline("p").unwrap(), spec.version);
        let long = "x".repeat(MAX_SUPER_STRING_BYTES as usize + 1);
        let events = [
            r#"{"id":"a","at":"2020-06-01T00:00:24Z","n":3,"x":1.5,"ok":true,"props":{"user":"u1"},"z":"z","y":null,"w":false}"#.to_owned(),
            r#"{"at":1591000000,"id":"é\u00e9","n":"4","x":"2","ok":"no","e":"", "t" : [1, {"a" : 2.50}],"u":"a\/b","v":1E2}"#.to_owned(),
            r#"{"id":"a","at":"2020-06-01 00:00:24","props":{"user":"toolong"}}"#.to_owned(),
            r#"{"id":"a","at":"2020-06-01 00:00:24","props.user":"uu","props":{"user":"u1"}}"#.to_owned(),
            r#"{"id":"a","at":"2020-06-01 00:00:24","n":1e400}"#.to_owned(),
            r#"{"id":"a","at":"2020-06-01 00:00:24","k":"nul\u0000"}"#.to_owned(),
            r#"{"id":"a","at":"2020-06-01 00:00:24","ok":"maybe"}"#.to_owned(),
            r#"{"id":"a","at":"nope"}"#.to_owned(),
            r#"{"id":"toolongid","at":" 2020-06-01T00:00:24Z "}"#.to_owned(),
            r#"{"id":"a","at":"0000-01-01T00:00:00Z"}"#.to_owned(),
            r#"{"id":"a\u0000","at":"2020-06-01T00:00:24Z"}"#.to_owned(),
            // Escapes in a string column: unescaped before its length is checked.
            r#"{"id":"q\"\\\/\b\f","at":"2020-06-01 00:00:24","z":"a\nb"}"#.to_owned(),
            r#"{"id":"\\\\\\\\\\\\\\\\","at":"2020-06-01 00:00:24"}"#.to_owned(),
            r#"{"id":"toolong\"x","at":"2020-06-01 00:00:24"}"#.to_owned(),
            r#"{"id":"\u00e9\n","at":"2020-06-01\t00:00:24"}"#.to_owned(),
            r#"{"id":"a","at":"2020-06-01\/00:00:24"}"#.to_owned(),
            r#"{"id":"a\ud83d\ude00","at":"2020-06-01 00:00:24"}"#.to_owned(),
            r#"{"at":"2020-06-01 00:00:24"}"#.to_owned(),
            r#"{"id":"a","at":"2020-06-01 00:00:24","deep":{"a":{"b":[1,2,{"c":"d"}]}}}"#.to_owned(),
            format!(r#"{{"id":"a","at":"2020-06-01 00:00:24","long":"{long}"}}"#),
            format!(r#"{{"id":"a","at":"2020-06-01 00:00:24","{long}":1}}"#),
        ];
        for event in &events {
            let line = format!(
                r#"{{"pipeline":"p","event_id":"e","arrived_at":"t","origin":{{}},"data":{event}}}"#
            );
            let mut by_map = Vec::new();
            let mut by_text = Vec::new();
            let raw = serde_json::from_str::<crate::record::RawEventRef<'_>>(&line).unwrap();
            assert!(!raw.data.has_repeated_keys());
            let from_text = curator.curate(&raw.data, "e", &ctx(), &mut by_text);
            match serde_json::from_str::<crate::record::RawEvent>(&line) {
                Ok(parsed) => {
                    let from_map = curator.curate(&parsed.data, "e", &ctx(), &mut by_map);
                    assert_eq!(from_text, from_map, "{event}");
                    assert_eq!(
                        String::from_utf8_lossy(&by_text),
                        String::from_utf8_lossy(&by_map),
                        "{event}"
                    );
                }
                // A number out of range fails the whole line there, the field here.
                Err(_) => {
                    let reject = from_text.unwrap_err();
                    assert_eq!(reject.reason, Reason::InvalidJson, "{event}");
                    assert!(
                        reject.message.contains("out of range"),
                        "{}",
                        reject.message
                    );
                }
            }
        }
        let wide: String = (0..40).map(|i| format!(r#""k{i}":{i},"#)).collect();
        for (data, repeated) in [
            (format!("{{{wide}\"k0\":1}}"), true),
            (format!("{{{wide}\"z\":1}}"), false),
        ] {
            let line = format!(
                r#"{{"pipeline":"p","event_id":"e","arrived_at":"t","origin":{{}},"data":{data}}}"#
            );
            let raw = serde_json::from_str::<crate::record::RawEventRef<'_>>(&line).unwrap();
            assert_eq!(raw.data.has_repeated_keys(), repeated);
        }
        let repeated = r#"{"pipeline":"p","event_id":"e","arrived_at":"t","origin":{},"data":{"id":"a","id":"b"}}"#;
        let raw = serde_json::from_str::<crate::record::RawEventRef<'_>>(repeated).unwrap();
        assert!(raw.data.has_repeated_keys());
    }
}
