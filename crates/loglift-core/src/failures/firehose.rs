//! Firehose error output: the records of `processing-failed/` and the other error-output objects, line by line, and the delivery stream an object name carries.

use super::*;

// ---------------------------------------------------------------------------------------------
// Firehose error output

/// One document of Firehose's S3 error output: a record Firehose could not deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirehoseErrorRecord {
    pub attempts_made: Option<u64>,
    /// When the record reached Firehose: the arrival time ingest partitions raw by.
    pub arrival: Option<DateTime<Utc>>,
    /// `errorCode` (`Lambda.FunctionError`, `Lambda.ProcessingFailed`…), or `ErrorCode`.
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub attempt_ending: Option<DateTime<Utc>>,
    /// The record's bytes as it reached Firehose (decoded from `rawData`).
    pub raw_data: Vec<u8>,
    pub lambda_arn: Option<String>,
    /// Kinesis-source streams (format-conversion failures).
    pub sequence_number: Option<String>,
    pub subsequence_number: Option<u64>,
    /// Dynamic-partitioning keys, when the document carries them (`partitionKeys`).
    pub partition_keys: BTreeMap<String, String>,
}

#[derive(Deserialize)]
pub(super) struct FirehoseErrorWire {
    #[serde(rename = "attemptsMade", default)]
    attempts_made: Value,
    #[serde(rename = "arrivalTimestamp", default)]
    arrival_timestamp: Value,
    #[serde(rename = "errorCode", alias = "ErrorCode", default)]
    error_code: Value,
    #[serde(rename = "errorMessage", alias = "ErrorMessage", default)]
    error_message: Value,
    #[serde(rename = "attemptEndingTimestamp", default)]
    attempt_ending_timestamp: Value,
    #[serde(rename = "rawData")]
    raw_data: String,
    #[serde(rename = "lambdaArn", alias = "lambdaARN", default)]
    lambda_arn: Value,
    #[serde(rename = "sequenceNumber", default)]
    sequence_number: Value,
    #[serde(rename = "subSequenceNumber", alias = "subsequenceNumber", default)]
    subsequence_number: Value,
    #[serde(rename = "partitionKeys", default)]
    partition_keys: Value,
    // `dataCatalogTable` (format conversion) and other types' fields are not read.
}

impl FirehoseErrorRecord {
    fn from_wire(wire: FirehoseErrorWire) -> Result<Self, FailureError> {
        const W: &str = ERROR_OUTPUT;
        let raw_data = base64::engine::general_purpose::STANDARD
            .decode(wire.raw_data.trim())
            .map_err(|e| {
                malformed(
                    W,
                    "rawData",
                    format!("not valid base64 ({} characters): {e}", wire.raw_data.len()),
                )
            })?;
        let partition_keys = match &wire.partition_keys {
            Value::Object(keys) => keys
                .iter()
                .filter_map(|(k, v)| text_of(v).map(|v| (k.clone(), v)))
                .collect(),
            _ => BTreeMap::new(),
        };
        Ok(FirehoseErrorRecord {
            attempts_made: field(W, "attemptsMade", &wire.attempts_made, count_of)?,
            arrival: field(W, "arrivalTimestamp", &wire.arrival_timestamp, time_of)?,
            error_code: text_of(&wire.error_code),
            error_message: text_of(&wire.error_message),
            attempt_ending: field(
                W,
                "attemptEndingTimestamp",
                &wire.attempt_ending_timestamp,
                time_of,
            )?,
            raw_data,
            lambda_arn: text_of(&wire.lambda_arn),
            sequence_number: text_of(&wire.sequence_number).filter(|s| !s.is_empty()),
            subsequence_number: field(
                W,
                "subSequenceNumber",
                &wire.subsequence_number,
                |v| match v {
                    Value::String(s) if s.is_empty() => Ok(None),
                    v => count_of(v),
                },
            )?,
            partition_keys,
        })
    }

    /// Read one error-output document from its JSON bytes.
    pub fn from_slice(json: &[u8]) -> Result<Self, FailureError> {
        let value: Value =
            serde_json::from_slice(json).map_err(|e| malformed(ERROR_OUTPUT, ".", e))?;
        Self::try_from(value)
    }
}

impl TryFrom<Value> for FirehoseErrorRecord {
    type Error = FailureError;

    fn try_from(json: Value) -> Result<Self, FailureError> {
        if !json.is_object() {
            return Err(malformed(
                ERROR_OUTPUT,
                ".",
                format!("expected a JSON object, found {json}"),
            ));
        }
        from_value::<FirehoseErrorWire>(ERROR_OUTPUT, "", json).and_then(Self::from_wire)
    }
}

/// Where a document sits in an error object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LinePosition {
    /// 1-based line of the (decompressed) object.
    pub line: u64,
    /// 1-based document on the line (Firehose writes one per line; some writers concatenate).
    pub document: u32,
}

impl std::fmt::Display for LinePosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.document > 1 {
            write!(f, "line {} document {}", self.line, self.document)
        } else {
            write!(f, "line {}", self.line)
        }
    }
}

/// A whole error object, read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorOutput {
    /// The documents read, in order.
    pub records: Vec<(LinePosition, FirehoseErrorRecord)>,
    /// What could not be read, with where and why. A corrupt compressed stream ends the object
    /// with one entry at the line it broke at.
    pub bad: Vec<(LinePosition, String)>,
}

/// Longest line of an error object: a Firehose record is at most 1,000 KiB, 1.33 MiB in base64.
pub const MAX_ERROR_LINE: usize = crate::ndjson::DEFAULT_MAX_LINE;

/// Read a Firehose error-output object (plain, or gzip / zlib / zstd by its magic bytes): every
/// document of every non-blank line.
pub fn read_error_output(bytes: &[u8]) -> ErrorOutput {
    let mut out = ErrorOutput::default();
    let reader = match crate::compress::open_stream(bytes) {
        Ok((_, reader)) => reader,
        Err(e) => {
            let at = LinePosition {
                line: 1,
                document: 1,
            };
            out.bad.push((at, format!("cannot read the object: {e}")));
            return out;
        }
    };
    read_lines(reader, &mut out);
    out
}

pub(super) fn read_lines(reader: Box<dyn BufRead + Send + '_>, out: &mut ErrorOutput) {
    let mut lines = crate::ndjson::LineReader::new(reader, MAX_ERROR_LINE);
    loop {
        let line = match lines.next_line() {
            Ok(Some(line)) => line,
            Ok(None) => return,
            Err(e) => {
                let at = LinePosition {
                    line: lines.lines_read() + 1,
                    document: 1,
                };
                out.bad
                    .push((at, format!("the object is corrupt or truncated here: {e}")));
                return;
            }
        };
        match line {
            crate::ndjson::Line::TooLong { number, len, .. } => out.bad.push((
                LinePosition {
                    line: number,
                    document: 1,
                },
                format!("line of {len} bytes is over the {MAX_ERROR_LINE} byte cap"),
            )),
            crate::ndjson::Line::Text { number, bytes } => {
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let mut documents =
                    serde_json::Deserializer::from_slice(bytes).into_iter::<Value>();
                let mut document: u32 = 0;
                loop {
                    document += 1;
                    let at = LinePosition {
                        line: number,
                        document,
                    };
                    match documents.next() {
                        None => break,
                        Some(Ok(value)) => match FirehoseErrorRecord::try_from(value) {
                            Ok(record) => out.records.push((at, record)),
                            Err(e) => out.bad.push((at, e.to_string())),
                        },
                        Some(Err(e)) => {
                            // The rest of the line cannot be framed: one entry for it.
                            out.bad
                                .push((at, malformed(ERROR_OUTPUT, ".", e).to_string()));
                            break;
                        }
                    }
                }
            }
        }
    }
}

/// The delivery stream that wrote an S3 object, from Firehose's default object name
/// `<DeliveryStreamName>-<DeliveryStreamVersion>-<YYYY-MM-DD-HH-MM-SS>-<random UUID>[.ext]`.
/// `None` for names not of that form.
pub fn delivery_stream_of_object(file_name: &str) -> Option<&str> {
    let stem = file_name.split('.').next().unwrap_or(file_name);
    let parts: Vec<&str> = stem.split('-').collect();
    // The UUID is 5 groups, the time 6, the version 1: 12 from the right, and a name before them.
    let name_parts = parts.len().checked_sub(12).filter(|&n| n > 0)?;
    let (name, tail) = parts.split_at(name_parts);
    let all_digits = |s: &&str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (version_time, uuid) = tail.split_at(7);
    let uuid_ok = uuid
        .iter()
        .zip([8, 4, 4, 4, 12])
        .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()));
    if !version_time.iter().all(all_digits) || !uuid_ok {
        return None;
    }
    let name_len = name
        .iter()
        .map(|p| p.len() + 1)
        .sum::<usize>()
        .saturating_sub(1);
    stem.get(..name_len).filter(|n| !n.is_empty())
}
