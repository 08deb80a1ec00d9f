//! COPY … FORMAT AS PARQUET: each object read with arrow-rs's reader (not loglift's), its columns
//! matched to the table's by position with Redshift's rules, then rows in COPY text format.
//!
//! Redshift (*COPY from columnar data formats*): columns map by position and "the number of
//! columns in the target table and the number of columns in the data file must match"; a manifest
//! entry of a columnar file needs `meta.content_length` (*Using a manifest to specify data files*:
//! required for ORC and Parquet). Types are matched as Spectrum matches them: a string column
//! into VARCHAR/CHAR, INT32/INT64 into integer columns, FLOAT/DOUBLE into DOUBLE PRECISION,
//! BOOLEAN into BOOLEAN, a timestamp into TIMESTAMP. Anything else is refused, as is a file that
//! is not Parquet; a SUPER column is never a COPY target here (loglift stages JSON text in
//! VARCHAR and `JSON_PARSE`s it).

use arrow_array::{
    Array, BooleanArray, Float32Array, Float64Array, Int32Array, Int64Array, LargeStringArray,
    StringArray, TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray,
    TimestampSecondArray,
};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tokio_postgres::types::{Kind, Type};

/// The base type of a domain (the translation may wrap types), else the type.
fn base(t: &Type) -> &Type {
    match t.kind() {
        Kind::Domain(inner) => base(inner),
        _ => t,
    }
}

fn compatible(file: &DataType, table: &Type) -> bool {
    let table = base(table);
    match file {
        DataType::Utf8 | DataType::LargeUtf8 => {
            [Type::VARCHAR, Type::BPCHAR, Type::TEXT].contains(table)
        }
        DataType::Int32 => [Type::INT2, Type::INT4, Type::INT8].contains(table),
        DataType::Int64 => *table == Type::INT8,
        DataType::Float32 | DataType::Float64 => [Type::FLOAT4, Type::FLOAT8].contains(table),
        DataType::Boolean => *table == Type::BOOL,
        DataType::Timestamp(_, _) => [Type::TIMESTAMP, Type::TIMESTAMPTZ].contains(table),
        _ => false,
    }
}

/// Append the rows of one Parquet object to `out` (COPY text format) for a table of `columns`
/// typed `types`; `Err` is the load error's detail.
pub(super) fn copy_rows(
    bucket: &str,
    key: &str,
    bytes: Vec<u8>,
    content_length: Option<u64>,
    columns: &[String],
    types: &[Type],
    out: &mut String,
) -> Result<(), String> {
    let at = format!("s3://{bucket}/{key}");
    match content_length {
        None => {
            return Err(format!(
                "{at}: a manifest entry of a columnar file needs meta.content_length (Data API test server check)"
            ))
        }
        Some(n) if n != bytes.len() as u64 => {
            return Err(format!(
                "{at}: meta.content_length {n} is not the object's {} bytes (Data API test server check)",
                bytes.len()
            ))
        }
        Some(_) => {}
    }
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .map_err(|e| format!("{at}: Spectrum Scan Error: not a readable Parquet file: {e}"))?;
    let fields: Vec<(String, DataType)> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    if fields.len() != columns.len() {
        return Err(format!(
            "{at}: Spectrum Scan Error: the file has {} columns, the table {} (columnar COPY maps by position)",
            fields.len(),
            columns.len()
        ));
    }
    for (i, ((name, file_type), table_type)) in fields.iter().zip(types).enumerate() {
        if !compatible(file_type, table_type) {
            return Err(format!(
                "{at}: Spectrum Scan Error: incompatible Parquet schema for column {} (position {}): file column `{name}` is {file_type}, the table's is {table_type}",
                columns.get(i).map_or("?", String::as_str),
                i + 1
            ));
        }
    }
    let reader = builder
        .build()
        .map_err(|e| format!("{at}: Spectrum Scan Error: {e}"))?;
    for batch in reader {
        let batch = batch.map_err(|e| format!("{at}: Spectrum Scan Error: {e}"))?;
        for row in 0..batch.num_rows() {
            for (i, array) in batch.columns().iter().enumerate() {
                if i > 0 {
                    out.push('\t');
                }
                let text = cell_text(array.as_ref(), row)
                    .map_err(|e| format!("{at}: row {}: {e}", row + 1))?;
                match text {
                    None => out.push_str("\\N"),
                    Some(t) => super::push_copy_text(out, &t),
                }
            }
            out.push('\n');
        }
    }
    Ok(())
}

fn cell_text(array: &dyn Array, row: usize) -> Result<Option<String>, String> {
    if array.is_null(row) {
        return Ok(None);
    }
    let any = array.as_any();
    let micros = |m: i64| {
        chrono::DateTime::from_timestamp_micros(m)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S%.6f").to_string())
            .ok_or_else(|| format!("timestamp {m} µs out of range"))
    };
    let text = if let Some(a) = any.downcast_ref::<StringArray>() {
        a.value(row).to_owned()
    } else if let Some(a) = any.downcast_ref::<LargeStringArray>() {
        a.value(row).to_owned()
    } else if let Some(a) = any.downcast_ref::<Int64Array>() {
        a.value(row).to_string()
    } else if let Some(a) = any.downcast_ref::<Int32Array>() {
        a.value(row).to_string()
    } else if let Some(a) = any.downcast_ref::<Float64Array>() {
        a.value(row).to_string()
    } else if let Some(a) = any.downcast_ref::<Float32Array>() {
        a.value(row).to_string()
    } else if let Some(a) = any.downcast_ref::<BooleanArray>() {
        (if a.value(row) { "t" } else { "f" }).to_owned()
    } else if let Some(a) = any.downcast_ref::<TimestampMicrosecondArray>() {
        micros(a.value(row))?
    } else if let Some(a) = any.downcast_ref::<TimestampMillisecondArray>() {
        micros(a.value(row).saturating_mul(1000))?
    } else if let Some(a) = any.downcast_ref::<TimestampSecondArray>() {
        micros(a.value(row).saturating_mul(1_000_000))?
    } else if let Some(a) = any.downcast_ref::<TimestampNanosecondArray>() {
        micros(a.value(row).div_euclid(1000))?
    } else {
        return Err(format!("a {} column is not covered", array.data_type()));
    };
    Ok(Some(text))
}
