//! Curated rows into typed cells, for the adapters that stage rows themselves (PostgreSQL `COPY
//! FROM STDIN`, SQLite inserts). A curated object is gzip NDJSON: each line one JSON object with
//! the table's columns by name ([`super::table_columns`]); unknown keys are ignored (as Redshift's
//! `JSON 'auto'` does) and missing ones are null.
//!
//! [`read_rows`] streams an object body: [`crate::compress::open_stream`] (gzip by its magic
//! bytes, or plain), [`crate::ndjson::LineReader`] (each line capped), [`RowDecoder::decode`]
//! (one JSON pass, strings borrowed from the line), then the caller's sink. [`write_copy_row`]
//! writes cells in PostgreSQL's COPY text format. A row a table would refuse (wrong JSON type, a
//! string over its byte limit, a malformed timestamp, a NUL) is a [`RowError`], never a panic.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, BufRead, Write as _};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use super::ddl::checked_columns;
use super::{SqlError, TableColumn};
use crate::ndjson::{Line, LineReader, DEFAULT_MAX_LINE};
use crate::spec::{ColumnType, Pipeline};

/// One value of a row, typed by its column.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Null,
    /// `string` and `timestamp` (`YYYY-MM-DD HH:MM:SS.ffffff`) values.
    Str(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A `json` value as JSON text (never JSON `null`: that is [`Cell::Null`]).
    Json(Cow<'a, str>),
}

/// Why a line is not a row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RowError {}

/// Decodes curated lines into the cells of a table's columns, in column order.
#[derive(Debug, Clone)]
pub struct RowDecoder {
    columns: Vec<TableColumn>,
}

impl RowDecoder {
    /// For the pipeline's table (columns checked as the DDL checks them).
    pub fn new(pipeline: &Pipeline) -> Result<RowDecoder, SqlError> {
        Ok(RowDecoder {
            columns: checked_columns(pipeline)?,
        })
    }

    /// For these columns (a plan's [`super::LoadPlan::columns`]).
    pub fn from_columns(columns: Vec<TableColumn>) -> RowDecoder {
        RowDecoder { columns }
    }

    pub fn columns(&self) -> &[TableColumn] {
        &self.columns
    }

    /// The cells of one line, in column order.
    pub fn decode<'a>(&self, line: &'a [u8]) -> Result<Vec<Cell<'a>>, RowError> {
        // The line's UTF-8 checked once (see `ndjson::from_line`).
        let cells = match std::str::from_utf8(line) {
            Ok(text) => self.read(&mut serde_json::Deserializer::from_str(text)),
            Err(_) => self.read(&mut serde_json::Deserializer::from_slice(line)),
        }
        .map_err(|e| RowError {
            message: e.to_string(),
        })?;
        self.check(&cells)?;
        Ok(cells)
    }

    fn read<'a, R: serde_json::de::Read<'a>>(
        &self,
        de: &mut serde_json::Deserializer<R>,
    ) -> serde_json::Result<Vec<Cell<'a>>> {
        let cells = RowSeed {
            columns: &self.columns,
        }
        .deserialize(&mut *de)?;
        de.end()?;
        Ok(cells)
    }

    /// Check a row's cells against the columns (null in a NOT NULL column, byte limits, NUL,
    /// timestamp text), whichever format they were read from.
    pub fn check(&self, cells: &[Cell<'_>]) -> Result<(), RowError> {
        for (column, cell) in self.columns.iter().zip(cells) {
            check_cell(column, cell)?;
        }
        Ok(())
    }
}

fn check_cell(column: &TableColumn, cell: &Cell<'_>) -> Result<(), RowError> {
    let fail = |message: String| Err(RowError { message });
    match cell {
        Cell::Null if column.not_null => {
            fail(format!("column `{}` is missing or null", column.name))
        }
        Cell::Str(s) => {
            if let Some(limit) = column.byte_limit {
                if s.len() > limit as usize {
                    return fail(format!(
                        "column `{}` is {} bytes, more than its {limit}",
                        column.name,
                        s.len()
                    ));
                }
            }
            if s.contains('\0') {
                return fail(format!("column `{}` holds a NUL character", column.name));
            }
            if column.kind == ColumnType::Timestamp && !is_curated_timestamp(s) {
                return fail(format!(
                    "column `{}`: `{}` is not a YYYY-MM-DD HH:MM:SS.ffffff timestamp",
                    column.name,
                    s.chars().take(64).collect::<String>()
                ));
            }
            Ok(())
        }
        Cell::Json(text) => match column.byte_limit {
            Some(limit) if text.len() > limit as usize => fail(format!(
                "column `{}` is {} bytes of JSON, more than its {limit}",
                column.name,
                text.len()
            )),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

/// `YYYY-MM-DD HH:MM:SS` with an optional `.` and 1 to 6 digits.
fn is_curated_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r)
            .is_some_and(|d| !d.is_empty() && d.iter().all(u8::is_ascii_digit))
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let head = digits(0..4)
        && at(4, b'-')
        && digits(5..7)
        && at(7, b'-')
        && digits(8..10)
        && at(10, b' ')
        && digits(11..13)
        && at(13, b':')
        && digits(14..16)
        && at(16, b':')
        && digits(17..19);
    head && match b.len() {
        19 => true,
        21..=26 => at(19, b'.') && digits(20..b.len()),
        _ => false,
    }
}

struct RowSeed<'c> {
    columns: &'c [TableColumn],
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = Vec<Cell<'de>>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = Vec<Cell<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object (one curated row)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut cells = vec![Cell::Null; self.columns.len()];
        // Lines transform writes hold the columns in table order: each key is tried against the
        // column after the last one first.
        let mut next = 0;
        while let Some(index) = map.next_key_seed(KeySeed {
            columns: self.columns,
            next,
        })? {
            next = index.map_or(next, |i| i + 1);
            match (index, index.and_then(|i| self.columns.get(i))) {
                (Some(i), Some(column)) => {
                    let cell = map.next_value_seed(CellSeed { column })?;
                    if let Some(slot) = cells.get_mut(i) {
                        *slot = cell;
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(cells)
    }
}

/// A key, as the index of its column (`None` for keys the table does not have).
struct KeySeed<'c> {
    columns: &'c [TableColumn],
    /// The column tried first.
    next: usize,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a column name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if self.columns.get(self.next).is_some_and(|c| c.name == v) {
            return Ok(Some(self.next));
        }
        Ok(self.columns.iter().position(|c| c.name == v))
    }
}

struct CellSeed<'c> {
    column: &'c TableColumn,
}

impl<'de> DeserializeSeed<'de> for CellSeed<'_> {
    type Value = Cell<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        if self.column.kind == ColumnType::Json {
            // The value's text as it is in the line (validated by the parser, not rebuilt).
            let value = <&serde_json::value::RawValue>::deserialize(d)?;
            return Ok(match value.get() {
                "null" => Cell::Null,
                text => Cell::Json(Cow::Borrowed(text)),
            });
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CellSeed<'_> {
    type Value = Cell<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.column.kind {
            ColumnType::String => "a string",
            ColumnType::Timestamp => "a timestamp string",
            ColumnType::Int => "an integer",
            ColumnType::Float => "a number",
            ColumnType::Bool => "a boolean",
            ColumnType::Json => "a JSON value",
        };
        write!(f, "{what} or null for column `{}`", self.column.name)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Cell::Null)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        match self.column.kind {
            ColumnType::String | ColumnType::Timestamp => Ok(Cell::Str(Cow::Borrowed(v))),
            _ => Err(E::invalid_type(de::Unexpected::Str(v), &self)),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        match self.column.kind {
            ColumnType::String | ColumnType::Timestamp => Ok(Cell::Str(Cow::Owned(v.to_owned()))),
            _ => Err(E::invalid_type(de::Unexpected::Str(v), &self)),
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        match self.column.kind {
            ColumnType::Int => Ok(Cell::Int(v)),
            ColumnType::Float => Ok(Cell::Float(v as f64)),
            _ => Err(E::invalid_type(de::Unexpected::Signed(v), &self)),
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        match self.column.kind {
            ColumnType::Int => i64::try_from(v)
                .map(Cell::Int)
                .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self)),
            ColumnType::Float => Ok(Cell::Float(v as f64)),
            _ => Err(E::invalid_type(de::Unexpected::Unsigned(v), &self)),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        match self.column.kind {
            ColumnType::Float => Ok(Cell::Float(v)),
            _ => Err(E::invalid_type(de::Unexpected::Float(v), &self)),
        }
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        match self.column.kind {
            ColumnType::Bool => Ok(Cell::Bool(v)),
            _ => Err(E::invalid_type(de::Unexpected::Bool(v), &self)),
        }
    }
}

/// A row's cells as a JSON object by column name, as the curated NDJSON line holds it (json
/// cells parsed; a json cell that is not JSON is kept as a string): how `loglift lake` prints a
/// row of either format, and how tests compare them.
pub fn row_json(
    columns: &[TableColumn],
    cells: Vec<Cell<'_>>,
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    columns
        .iter()
        .zip(cells)
        .map(|(column, cell)| {
            let value = match cell {
                Cell::Null => Value::Null,
                Cell::Str(s) => Value::String(s.into_owned()),
                Cell::Int(i) => Value::from(i),
                Cell::Float(f) => Value::from(f),
                Cell::Bool(b) => Value::Bool(b),
                Cell::Json(text) => {
                    serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.into_owned()))
                }
            };
            (column.name.clone(), value)
        })
        .collect()
}

/// Every row of a curated object (either format) as a JSON object (see [`row_json`]).
pub fn json_rows<R: BufRead + Send>(
    body: R,
    decoder: &RowDecoder,
) -> Result<Vec<serde_json::Value>, ReadRowsError<std::convert::Infallible>> {
    let mut rows = Vec::new();
    read_rows(body, decoder, |_, cells| {
        rows.push(serde_json::Value::Object(row_json(
            decoder.columns(),
            cells,
        )));
        Ok(())
    })?;
    Ok(rows)
}

/// Append one row in PostgreSQL's COPY text format: the cells, then `ord` when given,
/// tab-separated, `\N` for null, backslash, tab, newline and carriage return escaped, ended by a
/// newline.
pub fn write_copy_row(cells: &[Cell<'_>], ord: Option<i64>, out: &mut Vec<u8>) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        match cell {
            Cell::Null => out.extend_from_slice(b"\\N"),
            Cell::Str(s) => copy_escape(s, out),
            Cell::Json(s) => copy_escape(s, out),
            Cell::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Cell::Float(f) => {
                let _ = write!(out, "{f}");
            }
            Cell::Bool(b) => out.push(if *b { b't' } else { b'f' }),
        }
    }
    if let Some(ord) = ord {
        if !cells.is_empty() {
            out.push(b'\t');
        }
        let _ = write!(out, "{ord}");
    }
    out.push(b'\n');
}

fn copy_escape(s: &str, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    if !bytes
        .iter()
        .any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r'))
    {
        out.extend_from_slice(bytes);
        return;
    }
    for &b in bytes {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            other => out.push(other),
        }
    }
}

/// Why reading an object's rows stopped.
#[derive(Debug)]
pub enum ReadRowsError<E> {
    /// Reading or decompressing failed (`InvalidData`: corrupt; other kinds: the source's own).
    Read(io::Error),
    /// Line `line` (1-based) is not a row of the table, or is over the line cap.
    Line { line: u64, error: RowError },
    /// The sink refused a row.
    Sink(E),
}

impl<E: fmt::Display> fmt::Display for ReadRowsError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadRowsError::Read(e) => write!(f, "reading failed: {e}"),
            ReadRowsError::Line { line, error } => write!(f, "line {line}: {error}"),
            ReadRowsError::Sink(e) => write!(f, "{e}"),
        }
    }
}

/// Stream the rows of one curated object body (Parquet, or gzip or plain NDJSON: told by the
/// first bytes) into `sink`, which gets the 1-based line (Parquet: row) number and the cells.
/// Blank lines are skipped. Returns the rows read.
pub fn read_rows<R, E, F>(
    body: R,
    decoder: &RowDecoder,
    mut sink: F,
) -> Result<u64, ReadRowsError<E>>
where
    R: BufRead + Send,
    F: FnMut(u64, Vec<Cell<'_>>) -> Result<(), E>,
{
    let (_, mut reader) = crate::compress::open_stream(body).map_err(ReadRowsError::Read)?;
    if let Some(data) = crate::columnar::sniff(&mut reader).map_err(ReadRowsError::Read)? {
        use crate::columnar::{read_parquet_rows, ParquetReadError};
        return read_parquet_rows(data, decoder, sink).map_err(|e| match e {
            ParquetReadError::Read(e) => ReadRowsError::Read(e),
            ParquetReadError::Row { row, error } => ReadRowsError::Line { line: row, error },
            ParquetReadError::Sink(e) => ReadRowsError::Sink(e),
        });
    }
    let mut lines = LineReader::new(reader, DEFAULT_MAX_LINE);
    let mut rows = 0;
    while let Some(line) = lines.next_line().map_err(ReadRowsError::Read)? {
        match line {
            Line::Text { number, bytes } => {
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let cells = decoder.decode(bytes).map_err(|error| ReadRowsError::Line {
                    line: number,
                    error,
                })?;
                sink(number, cells).map_err(ReadRowsError::Sink)?;
                rows += 1;
            }
            Line::TooLong { number, len, .. } => {
                return Err(ReadRowsError::Line {
                    line: number,
                    error: RowError {
                        message: format!(
                            "the line is {len} bytes, over the {DEFAULT_MAX_LINE}-byte cap"
                        ),
                    },
                })
            }
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Spec;

    fn decoder(name: &str) -> RowDecoder {
        let spec = Spec::parse(include_str!("../../../../spec/pipelines.yaml")).unwrap();
        RowDecoder::new(spec.pipeline(name).unwrap()).unwrap()
    }

    const ROW: &str = r#"{"id":"e1","name":"login","time":"2020-06-01 00:00:24.000000","visitor_id":null,"properties":{"a":"x","b":[1,2]},"extra":{"k":"v\tw"},"event_id":"e1","event_time":"2020-06-01 00:00:24.000000","source_object":"s3://lake/raw/a#v1","spec_version":1,"ingested_at":"2026-11-21 10:00:00.000000","unknown":[1]}"#;

    #[test]
    fn a_row_decodes_into_typed_cells_in_column_order() {
        let d = decoder("app_logs");
        let cells = d.decode(ROW.as_bytes()).unwrap();
        let names: Vec<&str> = d.columns().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "id",
                "name",
                "time",
                "visitor_id",
                "visit_id",
                "user_id",
                "properties",
                "extra",
                "event_id",
                "event_time",
                "source_object",
                "spec_version",
                "ingested_at"
            ]
        );
        assert_eq!(cells[0], Cell::Str("e1".into()));
        assert!(matches!(cells[0], Cell::Str(Cow::Borrowed(_))));
        assert_eq!(cells[3], Cell::Null);
        assert_eq!(cells[4], Cell::Null, "missing is null");
        assert_eq!(cells[6], Cell::Json(r#"{"a":"x","b":[1,2]}"#.into()));
        assert_eq!(cells[7], Cell::Json(r#"{"k":"v\tw"}"#.into()));
        assert_eq!(cells[11], Cell::Int(1));
        let mut out = Vec::new();
        write_copy_row(&cells, Some(7), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "e1\tlogin\t2020-06-01 00:00:24.000000\t\\N\t\\N\t\\N\t{\"a\":\"x\",\"b\":[1,2]}\t{\"k\":\"v\\\\tw\"}\te1\t2020-06-01 00:00:24.000000\ts3://lake/raw/a#v1\t1\t2026-11-21 10:00:00.000000\t7\n"
        );
    }

    #[test]
    fn copy_text_escapes_what_copy_reads_specially() {
        let cells = [
            Cell::Str("a\\b\tc\nd\re".into()),
            Cell::Float(0.1),
            Cell::Float(-2.5e-8),
            Cell::Bool(true),
            Cell::Bool(false),
            Cell::Int(i64::MIN),
        ];
        let mut out = Vec::new();
        write_copy_row(&cells, None, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a\\\\b\\tc\\nd\\re\t0.1\t-0.000000025\tt\tf\t-9223372036854775808\n"
        );
    }

    #[test]
    fn rows_a_table_would_refuse_are_errors() {
        let d = decoder("app_logs");
        let base: serde_json::Value = serde_json::from_str(ROW).unwrap();
        let with = |k: &str, v: serde_json::Value| {
            let mut row = base.clone();
            row[k] = v;
            row.to_string()
        };
        let cases = [
            (
                with("id", serde_json::json!(5)),
                "expected a string or null for column `id`",
            ),
            (
                with("spec_version", serde_json::json!("1")),
                "expected an integer or null for column `spec_version`",
            ),
            (
                with("spec_version", serde_json::json!(1.5)),
                "expected an integer",
            ),
            (
                with("spec_version", serde_json::json!(u64::MAX)),
                "invalid value",
            ),
            (
                with("event_id", serde_json::Value::Null),
                "column `event_id` is missing or null",
            ),
            (
                with("id", serde_json::json!("x".repeat(65))),
                "column `id` is 65 bytes, more than its 64",
            ),
            (
                with("time", serde_json::json!("2020-06-01T00:00:24Z")),
                "not a YYYY-MM-DD HH:MM:SS.ffffff timestamp",
            ),
            (
                with("name", serde_json::json!("a\u{0}b")),
                "holds a NUL character",
            ),
            ("[1]".into(), "expected a JSON object"),
            (format!("{ROW} x"), "trailing characters"),
            ("{\"id\":".into(), "EOF"),
        ];
        for (line, want) in cases {
            let err = d.decode(line.as_bytes()).unwrap_err();
            assert!(err.message.contains(want), "{line}: {err}");
        }
    }

    #[test]
    fn timestamps_are_checked_by_shape() {
        for ok in [
            "2020-06-01 00:00:24",
            "2020-06-01 00:00:24.1",
            "2020-06-01 00:00:24.123456",
        ] {
            assert!(is_curated_timestamp(ok), "{ok}");
        }
        for bad in [
            "2020-06-01 00:00:24.",
            "2020-06-01 00:00:24.1234567",
            "2020-6-01 00:00:24",
            "2020-06-01T00:00:24",
            "",
        ] {
            assert!(!is_curated_timestamp(bad), "{bad}");
        }
    }

    #[test]
    fn objects_stream_line_by_line_gzip_or_plain() {
        let d = decoder("app_logs");
        let body = format!("{ROW}\n\n{ROW}\n");
        for bytes in [
            crate::compress::gzip(body.as_bytes()),
            body.clone().into_bytes(),
        ] {
            let mut seen = Vec::new();
            let rows = read_rows(&bytes[..], &d, |line, cells| {
                seen.push((line, cells.len()));
                Ok::<(), String>(())
            })
            .unwrap();
            assert_eq!(rows, 2);
            assert_eq!(seen, [(1, 13), (3, 13)]);
        }
        let bad = format!("{ROW}\n{{\"id\":1}}\n");
        let err = read_rows(bad.as_bytes(), &d, |_, _| Ok::<(), String>(())).unwrap_err();
        assert!(matches!(err, ReadRowsError::Line { line: 2, .. }), "{err}");
        let err = read_rows(ROW.as_bytes(), &d, |_, _| Err("full")).unwrap_err();
        assert_eq!(err.to_string(), "full");
        let mut corrupt = crate::compress::gzip(body.as_bytes());
        corrupt.truncate(corrupt.len() / 2);
        let err = read_rows(&corrupt[..], &d, |_, _| Ok::<(), String>(())).unwrap_err();
        assert!(
            matches!(&err, ReadRowsError::Read(e) if e.kind() == io::ErrorKind::InvalidData),
            "{err}"
        );
    }
}
