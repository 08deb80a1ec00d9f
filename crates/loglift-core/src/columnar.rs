//! Curated Parquet parts: the columnar lake.
//!
//! A curated part in Parquet holds exactly the table's columns ([`crate::sql::table_columns`]), in
//! table order and typed as the warehouse types them: `string` → UTF-8 string, `int` → INT64,
//! `float` → DOUBLE, `bool` → BOOLEAN, `timestamp` → INT64 `TIMESTAMP(MICROS, isAdjustedToUTC)`,
//! `json` and `extra` → a UTF-8 string holding the value's JSON text (Redshift stages it as
//! VARCHAR and `JSON_PARSE`s it; DuckDB, Athena and pyarrow read it as text). Columns that are
//! `NOT NULL` in the warehouse are `REQUIRED`. Column order matters: Redshift's columnar COPY maps
//! by position.
//!
//! Transform's open parts hold rows as [`CellRow`]s: typed cells the curator writes through the
//! same calls as the NDJSON line (one validation path for both formats: the limits, the rejects
//! and the values are the same), poured into a [`ParquetPart`] when the part closes
//! ([`ParquetPart::push_cell_rows`]). Compaction pushes the [`Cell`]s it reads from other parts
//! ([`ParquetPart::push_cells`]), and curated NDJSON lines can be pushed too
//! ([`parquet_from_lines`]). Either way rows are buffered in Arrow builders of at most
//! [`BATCH_ROWS`] rows and pages compressed as they fill, so a part's memory is its compressed
//! pages plus one batch. [`read_parquet_rows`] reads a
//! part back into [`Cell`]s by column name (a column the file lacks is null, as a missing JSON key
//! is), for the loaders that stage rows themselves and for compaction.
//!
//! Row groups: one per part up to [`ROW_GROUP_BYTES`] of encoded data (a transform part closes
//! long before; a compacted file of 128 MB gets one or two): Athena and Spectrum split work by
//! row group and like them large, and one row group per file keeps footers small.

use std::io::{self, BufRead, Read};
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Float64Builder, Int64Builder, TimestampMicrosecondBuilder,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float32Array, Float64Array, Int32Array, Int64Array,
    LargeStringArray, RecordBatch, StringArray, StringViewArray, TimestampMicrosecondArray,
    TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::spec::ColumnType;
use crate::sql::{Cell, RowDecoder, RowError, TableColumn};
use crate::timefmt;

/// The four bytes a Parquet file starts (and ends) with.
pub const MAGIC: &[u8; 4] = b"PAR1";
/// Rows held in Arrow builders before they go to the writer's pages.
pub const BATCH_ROWS: usize = 1024;
/// Encoded bytes after which a row group is closed.
pub const ROW_GROUP_BYTES: usize = 128 * 1024 * 1024;
/// The largest Parquet object read back whole (a reader needs the footer, so the object is held
/// in memory): transform's parts are a few MB, compacted files about 128 MB.
pub const MAX_READ_BYTES: u64 = 1024 * 1024 * 1024;
/// The content type curated Parquet parts are stored with.
pub const CONTENT_TYPE: &str = "application/vnd.apache.parquet";
/// zstd level of the column chunks (see README, *The columnar lake*, for the measurement).
pub const ZSTD_LEVEL: i32 = 1;
/// A column chunk's dictionary grows to this many bytes before its pages fall back to plain
/// values (parquet's default is 1 MiB). Measured on the transform bench's 200 MB object: at
/// 1 MiB 6.6 MB of curated Parquet, at 128 KiB 4.8 MB, at 32 KiB 3.5 MB, at 8 KiB 3.2 MB, and
/// 32 KiB ran fastest (ids, URLs and messages are unique per row: interning them is work zstd
/// does better). A column of a few hundred distinct values keeps its dictionary.
pub const DICTIONARY_PAGE_BYTES: usize = 32 * 1024;

/// The Arrow schema of a table's Parquet parts.
pub fn schema(columns: &[TableColumn]) -> SchemaRef {
    let fields: Vec<Field> = columns
        .iter()
        .map(|c| Field::new(&c.name, data_type(c.kind), !c.not_null))
        .collect();
    Arc::new(Schema::new(fields))
}

fn data_type(kind: ColumnType) -> DataType {
    match kind {
        ColumnType::String | ColumnType::Json => DataType::Utf8,
        ColumnType::Int => DataType::Int64,
        ColumnType::Float => DataType::Float64,
        ColumnType::Bool => DataType::Boolean,
        ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
    }
}

/// The writer settings every curated part uses.
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(ZSTD_LEVEL).unwrap_or_default(),
        ))
        .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
        .set_dictionary_page_size_limit(DICTIONARY_PAGE_BYTES)
        .set_created_by(format!("loglift {}", env!("CARGO_PKG_VERSION")))
        .build()
}

const CELL_NULL: u8 = 0;
const CELL_STR: u8 = 1;
const CELL_INT: u8 = 2;
const CELL_FLOAT: u8 = 3;
const CELL_FALSE: u8 = 4;
const CELL_TRUE: u8 = 5;
const CELL_TIME: u8 = 6;

/// A curated row as the typed cells an open Parquet part holds until it closes
/// ([`ParquetPart::push_cell_rows`]), appended to a buffer: per column in table order a tag
/// byte, then nothing (null, `false`, `true`), 8 bytes little-endian (an `int`, a `float`'s bits,
/// a timestamp's microseconds since the epoch, UTC) or a 4-byte length and UTF-8 bytes (a
/// string; a `json` value's text). No JSON is written or read back: the row goes from the
/// event's fields to Arrow builders as values. It counts the bytes the row's curated NDJSON line
/// would take, so the curator's limits fall where they fall for NDJSON
/// ([`crate::curate::RowWriter`]).
pub struct CellRow<'o> {
    out: &'o mut Vec<u8>,
    start: usize,
    /// Bytes of the NDJSON line so far.
    line_len: usize,
}

impl<'o> CellRow<'o> {
    pub fn new(out: &'o mut Vec<u8>) -> Self {
        let start = out.len();
        CellRow {
            out,
            start,
            line_len: 0,
        }
    }

    fn word(&mut self, tag: u8, bytes: [u8; 8]) {
        self.out.push(tag);
        self.out.extend_from_slice(&bytes);
    }

    fn put_str(&mut self, s: &str) {
        self.out.push(CELL_STR);
        // A curated string is far under 4 GiB (the line cap).
        self.out
            .extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_le_bytes());
        self.out.extend_from_slice(s.as_bytes());
    }
}

impl crate::curate::RowWriter for CellRow<'_> {
    fn open(&mut self) {
        self.line_len += 1;
    }
    fn key(&mut self, name: &str) {
        self.line_len += crate::jsonstr::len(name) + 1;
    }
    fn sep(&mut self) {
        self.line_len += 1;
    }
    fn close(&mut self) -> usize {
        self.line_len += 1;
        self.line_len
    }
    fn null(&mut self) {
        self.out.push(CELL_NULL);
        self.line_len += 4;
    }
    fn str(&mut self, s: &str) {
        self.put_str(s);
        self.line_len += crate::jsonstr::len(s);
    }
    fn plain_str(&mut self, s: &str) {
        self.put_str(s);
        self.line_len += s.len() + 2;
    }
    fn int(&mut self, n: i64) {
        self.word(CELL_INT, n.to_le_bytes());
        let digits = n
            .unsigned_abs()
            .checked_ilog10()
            .map_or(1, |d| d as usize + 1);
        self.line_len += digits + usize::from(n < 0);
    }
    fn float(&mut self, f: f64) {
        self.word(CELL_FLOAT, f.to_le_bytes());
        // The text serde_json writes (floats are rare in event logs: the allocation is too).
        self.line_len += serde_json::to_string(&f).map_or(0, |text| text.len());
    }
    fn bool(&mut self, b: bool) {
        self.out.push(if b { CELL_TRUE } else { CELL_FALSE });
        self.line_len += if b { 4 } else { 5 };
    }
    fn time(&mut self, t: chrono::DateTime<chrono::Utc>) {
        self.word(CELL_TIME, t.timestamp_micros().to_le_bytes());
        // `"YYYY-MM-DD HH:MM:SS.ffffff"` (years 1–9999: the curator refuses others).
        self.line_len += timefmt::CURATED_LEN + 2;
    }
    fn begin_json(&mut self) -> usize {
        self.out.push(CELL_STR);
        self.out.extend_from_slice(&[0; 4]);
        self.out.len()
    }
    fn text(&mut self) -> &mut Vec<u8> {
        self.out
    }
    fn end_json(&mut self, start: usize) {
        let len = self.out.len().saturating_sub(start);
        let bytes = u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes();
        if let Some(slot) = self.out.get_mut(start.saturating_sub(4)..start) {
            slot.copy_from_slice(&bytes);
        }
        self.line_len += len;
    }
    fn drop_json(&mut self, start: usize) {
        self.out.truncate(start.saturating_sub(5));
    }
    fn discard(&mut self) {
        self.out.truncate(self.start);
    }
}

enum Builder {
    /// UTF-8 strings, gathered as bytes and checked as UTF-8 once per batch (a call per short
    /// string cost 2 % of transform) when the batch becomes a string array.
    Str(BinaryBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Time(TimestampMicrosecondBuilder),
}

impl Builder {
    fn new(kind: ColumnType) -> Builder {
        match kind {
            ColumnType::String | ColumnType::Json => Builder::Str(BinaryBuilder::new()),
            ColumnType::Int => Builder::Int(Int64Builder::new()),
            ColumnType::Float => Builder::Float(Float64Builder::new()),
            ColumnType::Bool => Builder::Bool(BooleanBuilder::new()),
            ColumnType::Timestamp => {
                Builder::Time(TimestampMicrosecondBuilder::new().with_timezone("UTC"))
            }
        }
    }

    /// Append one cell; a cell of another type than the column's is an error.
    fn append(&mut self, column: &TableColumn, cell: &Cell<'_>) -> Result<(), RowError> {
        match (self, cell) {
            (Builder::Str(b), Cell::Null) => b.append_null(),
            (Builder::Int(b), Cell::Null) => b.append_null(),
            (Builder::Float(b), Cell::Null) => b.append_null(),
            (Builder::Bool(b), Cell::Null) => b.append_null(),
            (Builder::Time(b), Cell::Null) => b.append_null(),
            (Builder::Str(b), Cell::Str(s) | Cell::Json(s)) => b.append_value(s.as_bytes()),
            (Builder::Int(b), Cell::Int(i)) => b.append_value(*i),
            (Builder::Float(b), Cell::Float(f)) => b.append_value(*f),
            (Builder::Float(b), Cell::Int(i)) => b.append_value(*i as f64),
            (Builder::Bool(b), Cell::Bool(v)) => b.append_value(*v),
            (Builder::Time(b), Cell::Str(s)) => match timefmt::parse_sql(s) {
                Some(t) => b.append_value(t.timestamp_micros()),
                None => {
                    return Err(RowError {
                        message: format!("column `{}`: `{s}` is not a timestamp", column.name),
                    })
                }
            },
            (_, other) => {
                return Err(RowError {
                    message: format!("column `{}` cannot hold {other:?}", column.name),
                })
            }
        }
        Ok(())
    }

    /// Append the next cell of a [`CellRow`] stream; a cell of another type than the column's,
    /// a null in a `NOT NULL` column or a string over the column's bytes is an error (a bug: the
    /// curator wrote it).
    fn append_cell<R: BufRead>(
        &mut self,
        column: &TableColumn,
        cells: &mut R,
        text: &mut Vec<u8>,
    ) -> io::Result<()> {
        let mut tag = [0u8; 1];
        cells.read_exact(&mut tag)?;
        let mismatch = |what: &str| {
            io_error(format!(
                "column `{}` cannot hold {what} (cell rows out of step)",
                column.name
            ))
        };
        let mut word = [0u8; 8];
        match (self, tag[0]) {
            (_, CELL_NULL) if column.not_null => return Err(mismatch("null")),
            (Builder::Str(b), CELL_NULL) => b.append_null(),
            (Builder::Int(b), CELL_NULL) => b.append_null(),
            (Builder::Float(b), CELL_NULL) => b.append_null(),
            (Builder::Bool(b), CELL_NULL) => b.append_null(),
            (Builder::Time(b), CELL_NULL) => b.append_null(),
            (Builder::Str(b), CELL_STR) => {
                let mut len = [0u8; 4];
                cells.read_exact(&mut len)?;
                let len = u32::from_le_bytes(len) as usize;
                if column.byte_limit.is_some_and(|limit| len > limit as usize) {
                    return Err(mismatch(&format!("{len} bytes")));
                }
                // Read in place when the reader's buffer holds the whole string (nearly always).
                match cells.fill_buf()?.get(..len) {
                    Some(bytes) => {
                        b.append_value(bytes);
                        cells.consume(len);
                    }
                    None => {
                        text.resize(len, 0);
                        cells.read_exact(text)?;
                        b.append_value(&text);
                    }
                }
            }
            (Builder::Int(b), CELL_INT) => {
                cells.read_exact(&mut word)?;
                b.append_value(i64::from_le_bytes(word));
            }
            (Builder::Float(b), CELL_FLOAT) => {
                cells.read_exact(&mut word)?;
                b.append_value(f64::from_le_bytes(word));
            }
            (Builder::Float(b), CELL_INT) => {
                cells.read_exact(&mut word)?;
                b.append_value(i64::from_le_bytes(word) as f64);
            }
            (Builder::Bool(b), CELL_FALSE | CELL_TRUE) => b.append_value(tag[0] == CELL_TRUE),
            (Builder::Time(b), CELL_TIME) => {
                cells.read_exact(&mut word)?;
                b.append_value(i64::from_le_bytes(word));
            }
            (_, other) => return Err(mismatch(&format!("a cell tagged {other}"))),
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<ArrayRef> {
        Ok(match self {
            Builder::Str(b) => {
                Arc::new(StringArray::try_from_binary(b.finish()).map_err(io_error)?)
            }
            Builder::Int(b) => Arc::new(b.finish()),
            Builder::Float(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Time(b) => Arc::new(b.finish()),
        })
    }
}

/// One curated Parquet part being written (in memory, as a gzip NDJSON part is).
pub struct ParquetPart {
    decoder: RowDecoder,
    schema: SchemaRef,
    builders: Vec<Builder>,
    buffered: usize,
    writer: ArrowWriter<Vec<u8>>,
    rows: u64,
    raw_bytes: u64,
}

impl std::fmt::Debug for ParquetPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetPart")
            .field("rows", &self.rows)
            .field("raw_bytes", &self.raw_bytes)
            .finish_non_exhaustive()
    }
}

fn io_error(e: impl std::fmt::Display) -> io::Error {
    // Not `InvalidData`: that kind means a corrupt input stream to transform's readers.
    io::Error::other(e.to_string())
}

impl ParquetPart {
    /// A part with the table's `columns`.
    pub fn new(columns: Vec<TableColumn>) -> io::Result<ParquetPart> {
        ParquetPart::with_properties(columns, writer_properties())
    }

    /// A part written with other settings (the benchmark compares codecs with it).
    pub fn with_properties(
        columns: Vec<TableColumn>,
        properties: WriterProperties,
    ) -> io::Result<ParquetPart> {
        let schema = schema(&columns);
        let writer =
            ArrowWriter::try_new(Vec::new(), schema.clone(), Some(properties)).map_err(io_error)?;
        Ok(ParquetPart {
            builders: columns.iter().map(|c| Builder::new(c.kind)).collect(),
            decoder: RowDecoder::from_columns(columns),
            schema,
            buffered: 0,
            writer,
            rows: 0,
            raw_bytes: 0,
        })
    }

    /// Append one curated NDJSON line (its newline optional): decoded by the table's columns.
    /// A line that is not a row of the table is an error (a bug upstream, not bad input: the
    /// curator wrote it).
    pub fn push_line(&mut self, line: &[u8]) -> io::Result<()> {
        let trimmed = line.strip_suffix(b"\n").unwrap_or(line);
        let cells = self.decoder.decode(trimmed).map_err(io_error)?;
        self.push_cells(&cells)?;
        self.raw_bytes += line.len() as u64;
        Ok(())
    }

    /// Append the rows of a stream of [`CellRow`]s (decompressed), as many as `rows`; the
    /// NDJSON lines they stand for measured `line_bytes`.
    pub fn push_cell_rows<R: BufRead>(
        &mut self,
        mut cells: R,
        rows: u64,
        line_bytes: u64,
    ) -> io::Result<()> {
        let mut text = Vec::new();
        for _ in 0..rows {
            for (builder, column) in self.builders.iter_mut().zip(self.decoder.columns()) {
                builder.append_cell(column, &mut cells, &mut text)?;
            }
            self.rows += 1;
            self.buffered += 1;
            if self.buffered >= BATCH_ROWS {
                self.write_batch()?;
            }
        }
        if !cells.fill_buf()?.is_empty() {
            return Err(io_error("cell rows past the rows counted"));
        }
        self.raw_bytes += line_bytes;
        Ok(())
    }

    /// Append one row of cells in column order.
    pub fn push_cells(&mut self, cells: &[Cell<'_>]) -> io::Result<()> {
        let columns = self.decoder.columns();
        if cells.len() != columns.len() {
            return Err(io_error(format!(
                "a row of {} cells for {} columns",
                cells.len(),
                columns.len()
            )));
        }
        for ((builder, column), cell) in self.builders.iter_mut().zip(columns).zip(cells) {
            builder.append(column, cell).map_err(io_error)?;
        }
        self.rows += 1;
        self.buffered += 1;
        if self.buffered >= BATCH_ROWS {
            self.write_batch()?;
        }
        Ok(())
    }

    fn write_batch(&mut self) -> io::Result<()> {
        if self.buffered == 0 {
            return Ok(());
        }
        let arrays = self
            .builders
            .iter_mut()
            .map(Builder::finish)
            .collect::<io::Result<Vec<ArrayRef>>>()?;
        let batch = RecordBatch::try_new(self.schema.clone(), arrays).map_err(io_error)?;
        self.writer.write(&batch).map_err(io_error)?;
        self.buffered = 0;
        Ok(())
    }

    /// Rows pushed.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Bytes of the NDJSON lines pushed (what a part's target size counts, as for NDJSON parts).
    pub fn raw_bytes(&self) -> u64 {
        self.raw_bytes
    }

    /// The finished file.
    pub fn finish(mut self) -> io::Result<Vec<u8>> {
        self.write_batch()?;
        self.writer.into_inner().map_err(io_error)
    }
}

/// A Parquet part of `columns` from curated NDJSON lines read from `lines` (decompressed);
/// returns the file and its rows.
pub fn parquet_from_lines<R: BufRead>(
    columns: Vec<TableColumn>,
    lines: R,
) -> io::Result<(Vec<u8>, u64)> {
    let mut part = ParquetPart::new(columns)?;
    let mut reader = crate::ndjson::LineReader::new(lines, crate::ndjson::DEFAULT_MAX_LINE);
    while let Some(line) = reader.next_line()? {
        match line {
            crate::ndjson::Line::Text { bytes: [], .. } => {}
            crate::ndjson::Line::Text { bytes, .. } => part.push_line(bytes)?,
            crate::ndjson::Line::TooLong { number, .. } => {
                return Err(io_error(format!(
                    "curated line {number} is over the line cap"
                )))
            }
        }
    }
    let rows = part.rows();
    Ok((part.finish()?, rows))
}

/// Whether `head` (an object's first bytes) starts a Parquet file.
pub fn is_parquet(head: &[u8]) -> bool {
    head.starts_with(MAGIC)
}

/// Read a whole Parquet object (at most [`MAX_READ_BYTES`]) from `body`.
pub fn read_all<R: Read>(body: R) -> io::Result<bytes::Bytes> {
    let mut buf = Vec::new();
    body.take(MAX_READ_BYTES + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_READ_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a Parquet object over {MAX_READ_BYTES} bytes"),
        ));
    }
    Ok(bytes::Bytes::from(buf))
}

/// Why reading a Parquet object's rows stopped.
#[derive(Debug)]
pub enum ParquetReadError<E> {
    /// Not a readable Parquet file (corrupt, truncated, unsupported).
    Read(io::Error),
    /// Row `row` (1-based) does not fit the table.
    Row { row: u64, error: RowError },
    /// The sink refused a row.
    Sink(E),
}

/// Stream the rows of a Parquet object into `sink` (1-based row number, cells in the decoder's
/// column order), one record batch at a time. Columns are found by name; a column the file lacks
/// is null; a column of another type is an error. Returns the rows read.
pub fn read_parquet_rows<E, F>(
    data: bytes::Bytes,
    decoder: &RowDecoder,
    mut sink: F,
) -> Result<u64, ParquetReadError<E>>
where
    F: FnMut(u64, Vec<Cell<'_>>) -> Result<(), E>,
{
    let read = |e: parquet::errors::ParquetError| {
        ParquetReadError::Read(io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(data)
        .map_err(read)?
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(read)?;
    let mut row = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| {
            ParquetReadError::Read(io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
        })?;
        let columns: Vec<Option<&ArrayRef>> = decoder
            .columns()
            .iter()
            .map(|c| batch.column_by_name(&c.name))
            .collect();
        for i in 0..batch.num_rows() {
            row += 1;
            let mut cells = Vec::with_capacity(columns.len());
            for (column, array) in decoder.columns().iter().zip(&columns) {
                let cell = match array {
                    None => Cell::Null,
                    Some(array) => cell_at(column, array, i)
                        .map_err(|error| ParquetReadError::Row { row, error })?,
                };
                cells.push(cell);
            }
            decoder
                .check(&cells)
                .map_err(|error| ParquetReadError::Row { row, error })?;
            sink(row, cells).map_err(ParquetReadError::Sink)?;
        }
    }
    Ok(row)
}

/// The cell of row `i` of `array`, typed by `column`.
fn cell_at<'a>(column: &TableColumn, array: &'a ArrayRef, i: usize) -> Result<Cell<'a>, RowError> {
    if array.is_null(i) {
        return Ok(Cell::Null);
    }
    let wrong = || RowError {
        message: format!(
            "column `{}` is {} in the file, the table wants {:?}",
            column.name,
            array.data_type(),
            column.kind
        ),
    };
    let any = array.as_any();
    let text = |i: usize| -> Option<&'a str> {
        if let Some(a) = any.downcast_ref::<StringArray>() {
            return Some(a.value(i));
        }
        if let Some(a) = any.downcast_ref::<LargeStringArray>() {
            return Some(a.value(i));
        }
        any.downcast_ref::<StringViewArray>().map(|a| a.value(i))
    };
    Ok(match column.kind {
        ColumnType::String => Cell::Str(text(i).ok_or_else(wrong)?.into()),
        ColumnType::Json => Cell::Json(text(i).ok_or_else(wrong)?.into()),
        ColumnType::Int => {
            if let Some(a) = any.downcast_ref::<Int64Array>() {
                Cell::Int(a.value(i))
            } else if let Some(a) = any.downcast_ref::<Int32Array>() {
                Cell::Int(i64::from(a.value(i)))
            } else {
                return Err(wrong());
            }
        }
        ColumnType::Float => {
            if let Some(a) = any.downcast_ref::<Float64Array>() {
                Cell::Float(a.value(i))
            } else if let Some(a) = any.downcast_ref::<Float32Array>() {
                Cell::Float(f64::from(a.value(i)))
            } else {
                return Err(wrong());
            }
        }
        ColumnType::Bool => Cell::Bool(
            any.downcast_ref::<BooleanArray>()
                .ok_or_else(wrong)?
                .value(i),
        ),
        ColumnType::Timestamp => {
            let micros = if let Some(a) = any.downcast_ref::<TimestampMicrosecondArray>() {
                a.value(i)
            } else if let Some(a) = any.downcast_ref::<TimestampMillisecondArray>() {
                a.value(i).saturating_mul(1000)
            } else if let Some(a) = any.downcast_ref::<TimestampSecondArray>() {
                a.value(i).saturating_mul(1_000_000)
            } else if let Some(a) = any.downcast_ref::<TimestampNanosecondArray>() {
                a.value(i).div_euclid(1000)
            } else {
                return Err(wrong());
            };
            let t = chrono::DateTime::from_timestamp_micros(micros).ok_or_else(|| RowError {
                message: format!("column `{}`: {micros} µs is out of range", column.name),
            })?;
            Cell::Str(timefmt::curated(t).into())
        }
    })
}

/// Open a curated object for row reading: `Some(bytes)` when it is Parquet (read whole), `None`
/// (with `body` untouched) when it is not.
pub fn sniff<R: BufRead>(body: &mut R) -> io::Result<Option<bytes::Bytes>> {
    let head = crate::compress::fill_buf_retrying(body)?;
    if is_parquet(head) {
        return read_all(body).map(Some);
    }
    Ok(None)
}

#[cfg(test)]
mod tests;
