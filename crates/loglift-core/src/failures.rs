//! Failure records that point back at data, read from their wire form into domain values: the
//! Kinesis event-source mapping's **on-failure record** and Firehose's **S3 error output**. The
//! redrive stages (`loglift_stages::redrive::{kinesis, firehose}`) use them to send the data
//! through ingest again.
//!
//! - [`OnFailureRecord`]: what the mapping sends its on-failure destination when it discards a
//!   batch. On SQS and SNS it is metadata only (`requestContext`, `responseContext`, `version`,
//!   `timestamp`, `KinesisBatchInfo{shardId, startSequenceNumber, endSequenceNumber,
//!   approximateArrivalOfFirstRecord, approximateArrivalOfLastRecord, batchSize, streamArn}`): the
//!   records have to be re-read from the shard by sequence range. Through SNS without raw delivery
//!   the SQS body is `{"Type":"Notification","Message":"<the record as a JSON string>"}`; both
//!   forms are read. On an S3 destination the object carries the same metadata plus the whole
//!   invocation in `payload` (the Kinesis event, `{"Records":[…]}`). AWS's page shows it as
//!   `"payload": "<Whole Event>"` without saying whether it is an object or a JSON string, and
//!   posts show both: both are accepted (an absent or `null` payload means metadata only).
//! - [`FirehoseErrorRecord`]: one JSON document of Firehose's error output. `processing-failed/`
//!   lines are `{attemptsMade, arrivalTimestamp, errorCode, errorMessage, attemptEndingTimestamp,
//!   rawData, lambdaArn}`; format-conversion failures spell `ErrorCode` / `ErrorMessage` and add
//!   `sequenceNumber`, `subSequenceNumber`, `dataCatalogTable`; dynamic-partitioning failures add
//!   their own fields. Reading is lenient: only `rawData` (base64) is required, both spellings of
//!   the error fields are read, numbers may come as strings, unknown fields are ignored, and
//!   several documents on one line (`{…}{…}`) are split. [`read_error_output`] reads a whole
//!   error object (plain or gzip/zlib/zstd by magic bytes), line by line.
//!
//! Wire structs are private and mirror the AWS JSON; they convert into the domain types with
//! `TryFrom`. Malformed input is a [`FailureError`] naming where (JSON path, line, column), never
//! a panic. Where the error output and its archive live: [`firehose_error_root`],
//! [`firehose_archive_key`]; the archive of S3 on-failure objects: [`kinesis_archive_key`].

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::io::BufRead;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::spec::TimeFormat;
use crate::timefmt;
use crate::wire::{name_from_arn, KinesisBatch, WireError};

/// A failure record that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FailureError {
    /// Not JSON, a missing field, a field of the wrong type: `path` names it (`.` for the document).
    #[error("malformed {what} at `{path}`: {message}")]
    Malformed {
        what: &'static str,
        path: String,
        message: String,
    },
    /// JSON, but not a Kinesis on-failure record (a DynamoDB stream record, an SQS message…).
    #[error("not a Kinesis on-failure record: {0}")]
    NotKinesis(String),
    /// The kept invocation payload is not a Kinesis event.
    #[error("the on-failure record's payload is not a Kinesis event: {0}")]
    Payload(WireError),
}

const ON_FAILURE: &str = "Kinesis on-failure record";
const ERROR_OUTPUT: &str = "Firehose error output record";

fn malformed(what: &'static str, path: impl Into<String>, message: impl ToString) -> FailureError {
    FailureError::Malformed {
        what,
        path: path.into(),
        message: message.to_string(),
    }
}

fn from_value<W: for<'de> Deserialize<'de>>(
    what: &'static str,
    prefix: &str,
    json: Value,
) -> Result<W, FailureError> {
    serde_path_to_error::deserialize(json).map_err(|e| {
        let inner = e.path().to_string();
        let path = match (prefix, inner.as_str()) {
            ("", p) => p.to_owned(),
            (pre, ".") => pre.to_owned(),
            (pre, p) => format!("{pre}.{p}"),
        };
        malformed(what, path, e.inner())
    })
}

// ---------------------------------------------------------------------------------------------
// Lenient scalars

/// A time as JSON: an ISO-8601 / RFC 3339 string, or epoch time as a number or a string of
/// digits (milliseconds from 10^11 up, seconds below: no real timestamp is ambiguous).
fn time_of(value: &Value) -> Result<Option<DateTime<Utc>>, String> {
    let time = match value {
        Value::Null => return Ok(None),
        Value::Number(n) => n
            .as_f64()
            .ok_or("not a representable number")
            .and_then(|x| timefmt::epoch(x, TimeFormat::Auto)),
        Value::String(s) => timefmt::epoch_or_rfc3339(s, TimeFormat::Auto),
        other => return Err(format!("expected a time, found {other}")),
    };
    time.map(Some).map_err(|e| format!("{value}: {e}"))
}

/// A count as a number or a string of digits.
fn count_of(value: &Value) -> Result<Option<u64>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("{n} is not a count")),
        Value::String(s) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{s:?} is not a count")),
        other => Err(format!("expected a count, found {other}")),
    }
}

/// A string, or a number or boolean written as text (lenient for free-form fields).
fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn field<T>(
    what: &'static str,
    path: &str,
    value: &Value,
    read: impl Fn(&Value) -> Result<Option<T>, String>,
) -> Result<Option<T>, FailureError> {
    read(value).map_err(|message| malformed(what, path, message))
}

/// Compare two Kinesis sequence numbers (decimal strings of up to 128 bits) as numbers. Strings
/// that are not all digits compare as text after the numbers.
pub fn cmp_sequence(a: &str, b: &str) -> Ordering {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    match (digits(a), digits(b)) {
        (true, true) => {
            let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
            a.len().cmp(&b.len()).then_with(|| a.cmp(b))
        }
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.cmp(b),
    }
}

// ---------------------------------------------------------------------------------------------
// Kinesis on-failure record

/// A Kinesis event-source mapping's record of a discarded batch.
#[derive(Debug, Clone, PartialEq)]
pub struct OnFailureRecord {
    /// `requestContext.requestId` of the last failed invocation.
    pub request_id: Option<String>,
    pub function_arn: Option<String>,
    /// `requestContext.condition`: `RetryAttemptsExhausted`, `RecordAgeExceeded`,
    /// `MaximumPayloadSizeExceeded`, …
    pub condition: Option<String>,
    pub approximate_invoke_count: Option<u64>,
    /// `responseContext.statusCode` of the last invocation.
    pub status_code: Option<u64>,
    pub executed_version: Option<String>,
    /// `responseContext.functionError`: `Handled`, `Unhandled`, …
    pub function_error: Option<String>,
    pub version: Option<String>,
    /// When the mapping gave up on the batch.
    pub timestamp: Option<DateTime<Utc>>,
    pub batch: KinesisBatchInfo,
    /// The whole invocation (S3 destinations only): replay it instead of re-reading the shard.
    pub payload: Option<KinesisBatch>,
}

/// The discarded batch: a sequence range of one shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KinesisBatchInfo {
    pub shard_id: String,
    /// The first record of the batch.
    pub start_sequence_number: String,
    /// The last record of the batch (inclusive).
    pub end_sequence_number: String,
    pub first_arrival: Option<DateTime<Utc>>,
    pub last_arrival: Option<DateTime<Utc>>,
    /// Records in the batch.
    pub batch_size: Option<u64>,
    pub stream_arn: String,
    /// The stream's name from `streamArn` (the whole ARN when it has no `stream/NAME`).
    pub stream: String,
}

impl KinesisBatchInfo {
    /// Whether `sequence` is inside `[start, end]`.
    pub fn contains(&self, sequence: &str) -> bool {
        cmp_sequence(sequence, &self.start_sequence_number) != Ordering::Less
            && cmp_sequence(sequence, &self.end_sequence_number) != Ordering::Greater
    }

    /// `stream/shard start..end`, for reports and logs.
    pub fn describe(&self) -> String {
        format!(
            "{}/{} {}..{}",
            self.stream, self.shard_id, self.start_sequence_number, self.end_sequence_number
        )
    }
}

#[derive(Deserialize)]
struct OnFailureWire {
    #[serde(rename = "requestContext", default)]
    request_context: Option<RequestContextWire>,
    #[serde(rename = "responseContext", default)]
    response_context: Option<ResponseContextWire>,
    #[serde(default)]
    version: Value,
    #[serde(default)]
    timestamp: Value,
    #[serde(rename = "KinesisBatchInfo")]
    kinesis_batch_info: KinesisBatchInfoWire,
    /// S3 destinations only: the Kinesis event, as an object or a JSON string.
    #[serde(default)]
    payload: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestContextWire {
    #[serde(default)]
    request_id: Value,
    #[serde(default)]
    function_arn: Value,
    #[serde(default)]
    condition: Value,
    #[serde(default)]
    approximate_invoke_count: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResponseContextWire {
    #[serde(default)]
    status_code: Value,
    #[serde(default)]
    executed_version: Value,
    #[serde(default)]
    function_error: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KinesisBatchInfoWire {
    shard_id: String,
    start_sequence_number: String,
    end_sequence_number: String,
    #[serde(default)]
    approximate_arrival_of_first_record: Value,
    #[serde(default)]
    approximate_arrival_of_last_record: Value,
    #[serde(default)]
    batch_size: Value,
    stream_arn: String,
}

impl OnFailureRecord {
    /// Read an on-failure record (plain or SNS-wrapped) from JSON bytes: an SQS body or an S3
    /// object.
    pub fn from_slice(json: &[u8]) -> Result<Self, FailureError> {
        let value: Value =
            serde_json::from_slice(json).map_err(|e| malformed(ON_FAILURE, ".", e))?;
        Self::try_from(value)
    }

    fn from_wire(wire: OnFailureWire) -> Result<Self, FailureError> {
        const W: &str = ON_FAILURE;
        let info = wire.kinesis_batch_info;
        for (name, value) in [
            ("shardId", &info.shard_id),
            ("startSequenceNumber", &info.start_sequence_number),
            ("endSequenceNumber", &info.end_sequence_number),
            ("streamArn", &info.stream_arn),
        ] {
            if value.trim().is_empty() {
                return Err(malformed(W, format!("KinesisBatchInfo.{name}"), "is empty"));
            }
        }
        if cmp_sequence(&info.start_sequence_number, &info.end_sequence_number) == Ordering::Greater
        {
            return Err(malformed(
                W,
                "KinesisBatchInfo",
                format!(
                    "startSequenceNumber {} is after endSequenceNumber {}",
                    info.start_sequence_number, info.end_sequence_number
                ),
            ));
        }
        let batch = KinesisBatchInfo {
            first_arrival: field(
                W,
                "KinesisBatchInfo.approximateArrivalOfFirstRecord",
                &info.approximate_arrival_of_first_record,
                time_of,
            )?,
            last_arrival: field(
                W,
                "KinesisBatchInfo.approximateArrivalOfLastRecord",
                &info.approximate_arrival_of_last_record,
                time_of,
            )?,
            batch_size: field(W, "KinesisBatchInfo.batchSize", &info.batch_size, count_of)?,
            stream: name_from_arn(&info.stream_arn)
                .unwrap_or(&info.stream_arn)
                .to_owned(),
            stream_arn: info.stream_arn,
            shard_id: info.shard_id,
            start_sequence_number: info.start_sequence_number,
            end_sequence_number: info.end_sequence_number,
        };
        let payload = match wire.payload {
            Value::Null => None,
            Value::String(text) if text.trim().is_empty() => None,
            Value::String(text) => {
                let event: Value = serde_json::from_str(&text)
                    .map_err(|e| malformed(W, "payload", format!("not a JSON event: {e}")))?;
                Some(KinesisBatch::try_from(event).map_err(FailureError::Payload)?)
            }
            event @ Value::Object(_) => {
                Some(KinesisBatch::try_from(event).map_err(FailureError::Payload)?)
            }
            other => {
                return Err(malformed(
                    W,
                    "payload",
                    format!("expected the Kinesis event, found {other}"),
                ))
            }
        };
        let (request_id, function_arn, condition, approximate_invoke_count) =
            match wire.request_context {
                Some(r) => (
                    text_of(&r.request_id),
                    text_of(&r.function_arn),
                    text_of(&r.condition),
                    field(
                        W,
                        "requestContext.approximateInvokeCount",
                        &r.approximate_invoke_count,
                        count_of,
                    )?,
                ),
                None => (None, None, None, None),
            };
        let (status_code, executed_version, function_error) = match wire.response_context {
            Some(r) => (
                field(W, "responseContext.statusCode", &r.status_code, count_of)?,
                text_of(&r.executed_version),
                text_of(&r.function_error),
            ),
            None => (None, None, None),
        };
        Ok(OnFailureRecord {
            request_id,
            function_arn,
            condition,
            approximate_invoke_count,
            status_code,
            executed_version,
            function_error,
            version: text_of(&wire.version),
            timestamp: field(W, "timestamp", &wire.timestamp, time_of)?,
            batch,
            payload,
        })
    }
}

/// The record inside an SNS notification (`{"Type":"Notification","Message":"…"}`), or the value
/// itself.
fn unwrap_sns(value: Value) -> Result<Value, FailureError> {
    let is_sns = value.get("Type").and_then(Value::as_str) == Some("Notification")
        && value.get("KinesisBatchInfo").is_none();
    if !is_sns {
        return Ok(value);
    }
    match value.get("Message") {
        Some(Value::String(message)) => serde_json::from_str(message)
            .map_err(|e| malformed(ON_FAILURE, "Message", format!("not JSON: {e}"))),
        Some(other) => Err(malformed(
            ON_FAILURE,
            "Message",
            format!("expected the record as a JSON string, found {other}"),
        )),
        None => Err(malformed(ON_FAILURE, "Message", "missing field `Message`")),
    }
}

impl TryFrom<Value> for OnFailureRecord {
    type Error = FailureError;

    /// Read an on-failure record, plain or SNS-wrapped, from parsed JSON.
    fn try_from(json: Value) -> Result<Self, FailureError> {
        let json = unwrap_sns(json)?;
        let Some(object) = json.as_object() else {
            return Err(malformed(
                ON_FAILURE,
                ".",
                format!("expected a JSON object, found {json}"),
            ));
        };
        if !object.contains_key("KinesisBatchInfo") {
            let found = if object.contains_key("DDBStreamBatchInfo") {
                "a DynamoDB stream record (DDBStreamBatchInfo)".to_owned()
            } else {
                let keys: Vec<&str> = object.keys().map(String::as_str).take(8).collect();
                format!("no KinesisBatchInfo (keys: {keys:?})")
            };
            return Err(FailureError::NotKinesis(found));
        }
        from_value::<OnFailureWire>(ON_FAILURE, "", json).and_then(Self::from_wire)
    }
}

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
struct FirehoseErrorWire {
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

fn read_lines(reader: Box<dyn BufRead + Send + '_>, out: &mut ErrorOutput) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn time(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
    }

    const SQS_RECORD: &str = include_str!("../../../samples/failures/kinesis-on-failure-sqs.json");
    const SNS_RECORD: &str = include_str!("../../../samples/failures/kinesis-on-failure-sns.json");
    const S3_RECORD: &str = include_str!("../../../samples/failures/kinesis-on-failure-s3.json");
    const S3_RECORD_STRING: &str =
        include_str!("../../../samples/failures/kinesis-on-failure-s3-payload-string.json");
    const PROCESSING_FAILED: &str =
        include_str!("../../../samples/failures/firehose-processing-failed.ndjson");
    const OTHER_TYPES: &str =
        include_str!("../../../samples/failures/firehose-other-error-types.ndjson");

    #[test]
    fn reads_the_sqs_on_failure_record() {
        let r =
            OnFailureRecord::from_slice(SQS_RECORD.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            r.request_id.as_deref(),
            Some("c9b8fa9f-5a7f-xmpl-af9c-0c604cde93a5")
        );
        assert_eq!(r.condition.as_deref(), Some("RetryAttemptsExhausted"));
        assert_eq!(r.approximate_invoke_count, Some(1));
        assert_eq!(r.status_code, Some(200));
        assert_eq!(r.function_error.as_deref(), Some("Unhandled"));
        assert_eq!(r.executed_version.as_deref(), Some("$LATEST"));
        assert_eq!(r.version.as_deref(), Some("1.0"));
        assert_eq!(r.timestamp, Some(time("2019-11-14T00:38:06.021Z")));
        assert!(r.payload.is_none(), "SQS records carry metadata only");
        let b = &r.batch;
        assert_eq!(b.shard_id, "shardId-000000000001");
        assert_eq!(
            b.start_sequence_number,
            "49601189658422359378836298521827638475320189012309704722"
        );
        assert_eq!(
            b.end_sequence_number,
            "49601189658422359378836298522902373528957594348623495186"
        );
        assert_eq!(b.first_arrival, Some(time("2019-11-14T00:38:04.835Z")));
        assert_eq!(b.last_arrival, Some(time("2019-11-14T00:38:05.580Z")));
        assert_eq!(b.batch_size, Some(500));
        assert_eq!(b.stream, "mystream");
        assert_eq!(
            b.stream_arn,
            "arn:aws:kinesis:us-east-2:123456789012:stream/mystream"
        );
        assert!(b.contains(&b.start_sequence_number) && b.contains(&b.end_sequence_number));
        assert!(!b.contains("49601189658422359378836298521827638475320189012309704721"));
        assert!(!b.contains("49601189658422359378836298522902373528957594348623495187"));
    }

    #[test]
    fn reads_the_sns_wrapped_record_as_the_plain_one() {
        let plain =
            OnFailureRecord::from_slice(SQS_RECORD.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let wrapped =
            OnFailureRecord::from_slice(SNS_RECORD.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plain, wrapped);
    }

    #[test]
    fn reads_the_s3_record_with_its_payload_as_object_or_string() {
        for (name, text) in [("object", S3_RECORD), ("string", S3_RECORD_STRING)] {
            let r = OnFailureRecord::from_slice(text.as_bytes())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let payload = r.payload.unwrap_or_else(|| panic!("{name}: no payload"));
            assert_eq!(payload.records.len(), 2, "{name}");
            let first = payload.records.first().unwrap_or_else(|| panic!("{name}"));
            assert_eq!(first.stream, "user-events", "{name}");
            assert_eq!(first.shard_id, "shardId-000000000000", "{name}");
            assert_eq!(
                first.sequence_number, r.batch.start_sequence_number,
                "{name}"
            );
            assert_eq!(
                first.data.as_deref().ok(),
                Some(br#"{"request_id":"s3-1","request_timestamp":"2020-06-01 00:00:24.000000","cookie_id":"c","topic":"t"}"#.as_slice()),
                "{name}"
            );
            assert_eq!(r.batch.batch_size, Some(2), "{name}");
        }
    }

    #[test]
    fn malformed_records_are_errors_with_their_place() {
        let cases: Vec<(String, &str)> = vec![
            ("not json".into(), "malformed Kinesis on-failure record at `.`"),
            ("[1,2]".into(), "expected a JSON object"),
            (r#"{"DDBStreamBatchInfo":{}}"#.into(), "DynamoDB stream record"),
            (r#"{"requestContext":{}}"#.into(), "no KinesisBatchInfo"),
            (
                SQS_RECORD.replace(r#""shardId": "shardId-000000000001","#, ""),
                "at `KinesisBatchInfo`: missing field `shardId`",
            ),
            (
                SQS_RECORD.replace(r#""batchSize": 500"#, r#""batchSize": "many""#),
                "at `KinesisBatchInfo.batchSize`",
            ),
            (
                SQS_RECORD.replace("2019-11-14T00:38:04.835Z", "yesterday"),
                "at `KinesisBatchInfo.approximateArrivalOfFirstRecord`",
            ),
            (
                SQS_RECORD.replace(
                    r#""startSequenceNumber": "49601189658422359378836298521827638475320189012309704722""#,
                    r#""startSequenceNumber": "59601189658422359378836298521827638475320189012309704722""#,
                ),
                "is after endSequenceNumber",
            ),
            (
                SQS_RECORD.replace(r#""streamArn": "arn:aws:kinesis:us-east-2:123456789012:stream/mystream""#, r#""streamArn": 7"#),
                "at `KinesisBatchInfo.streamArn`: invalid type",
            ),
            (
                r#"{"Type":"Notification","Message":"{not json"}"#.into(),
                "at `Message`: not JSON",
            ),
            (
                S3_RECORD_STRING.replace(r#""payload": "{"#, r#""payload": "{,"#),
                "at `payload`: not a JSON event",
            ),
            (
                S3_RECORD.replace(r#""eventID""#, r#""eventId""#),
                "payload is not a Kinesis event: malformed Kinesis event at `Records[0]`: missing field `eventID`",
            ),
            (
                S3_RECORD.replace(r#""payload": {"#, r#""payload": [{"#).replace("\n  }\n}", "\n  }]\n}"),
                "at `payload`: expected the Kinesis event",
            ),
        ];
        for (input, want) in cases {
            match OnFailureRecord::from_slice(input.as_bytes()) {
                Ok(r) => panic!("{input}: read as {r:?}, want an error containing {want:?}"),
                Err(e) => assert!(e.to_string().contains(want), "{input}: {e} (want {want:?})"),
            }
        }
    }

    #[test]
    fn reads_processing_failed_lines() {
        let out = read_error_output(PROCESSING_FAILED.as_bytes());
        assert!(out.bad.is_empty(), "{:?}", out.bad);
        assert_eq!(out.records.len(), 2);
        let (at, first) = out.records.first().unwrap_or_else(|| panic!("no record"));
        assert_eq!(
            *at,
            LinePosition {
                line: 1,
                document: 1
            }
        );
        assert_eq!(first.attempts_made, Some(4));
        assert_eq!(
            first.arrival,
            DateTime::from_timestamp_millis(1_590_969_624_000)
        );
        assert_eq!(
            first.attempt_ending,
            DateTime::from_timestamp_millis(1_590_969_660_000)
        );
        assert_eq!(first.error_code.as_deref(), Some("Lambda.ProcessingFailed"));
        assert!(first
            .error_message
            .as_deref()
            .is_some_and(|m| m.contains("ProcessingFailed")));
        assert_eq!(
            first.lambda_arn.as_deref(),
            Some("arn:aws:lambda:us-east-1:123456789012:function:loglift-ingest:$LATEST")
        );
        assert_eq!(
            first.raw_data,
            br#"{"request_id":"fh-1","request_timestamp":"2020-06-01 00:00:24.000000","cookie_id":"c","topic":"t"}"#
        );
    }

    #[test]
    fn reads_the_other_error_types_leniently_and_names_bad_lines() {
        let out = read_error_output(OTHER_TYPES.as_bytes());
        let codes: Vec<Option<&str>> = out
            .records
            .iter()
            .map(|(_, r)| r.error_code.as_deref())
            .collect();
        assert_eq!(
            codes,
            [
                Some("DynamicPartitioning.MetadataExtractionFailed"),
                Some("DataFormatConversion.InvalidSchema"),
                Some("S3.AccessDenied"),
                Some("Lambda.FunctionError"),
            ]
        );
        let positions: Vec<String> = out.records.iter().map(|(at, _)| at.to_string()).collect();
        assert_eq!(
            positions,
            ["line 1", "line 2", "line 4", "line 4 document 2"]
        );
        let dp = &out.records.first().unwrap_or_else(|| panic!("none")).1;
        assert_eq!(
            dp.partition_keys.get("pipeline").map(String::as_str),
            Some("user_events")
        );
        let conversion = &out.records.get(1).unwrap_or_else(|| panic!("none")).1;
        assert_eq!(
            conversion.error_message.as_deref(),
            Some("The schema is invalid.")
        );
        assert_eq!(
            conversion.sequence_number.as_deref(),
            Some("49546986683135544286507457936321625675700192471156785154")
        );
        assert_eq!(conversion.subsequence_number, Some(0));
        assert_eq!(
            conversion.attempts_made,
            Some(1),
            "a count written as a string"
        );
        let bad: Vec<String> = out
            .bad
            .iter()
            .map(|(at, why)| format!("{at}: {why}"))
            .collect();
        assert_eq!(bad.len(), 3, "{bad:?}");
        assert!(
            bad.first().is_some_and(
                |b| b.starts_with("line 3: ") && b.contains("`rawData`: not valid base64")
            ),
            "{bad:?}"
        );
        assert!(bad.get(1).is_some_and(|b| b.starts_with("line 6: ") && b.contains("missing field `rawData`")), "{bad:?}");
        assert!(
            bad.get(2)
                .is_some_and(|b| b.starts_with("line 7: ") && b.contains("malformed")),
            "{bad:?}"
        );
    }

    #[test]
    fn gzip_error_objects_and_corrupt_ones() {
        let gz = crate::compress::gzip(PROCESSING_FAILED.as_bytes());
        let out = read_error_output(&gz);
        assert_eq!((out.records.len(), out.bad.len()), (2, 0));
        let cut = gz.get(..gz.len() - 12).unwrap_or_default();
        let out = read_error_output(cut);
        assert_eq!(out.bad.len(), 1, "{out:?}");
        assert!(
            out.bad
                .first()
                .is_some_and(|(_, why)| why.contains("corrupt or truncated")),
            "{out:?}"
        );
    }

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        assert_eq!(cmp_sequence("9", "10"), Ordering::Less);
        assert_eq!(cmp_sequence("010", "10"), Ordering::Equal);
        assert_eq!(
            cmp_sequence(
                "49601189658422359378836298522902373528957594348623495186",
                "49601189658422359378836298521827638475320189012309704722"
            ),
            Ordering::Greater
        );
        assert_eq!(cmp_sequence("x", "10"), Ordering::Greater);
    }

    #[test]
    fn delivery_stream_from_firehose_object_names() {
        let cases = [
            (
                "user-events-to-s3-1-2026-11-21-10-00-00-0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
                Some("user-events-to-s3"),
            ),
            (
                "logs-3-2026-11-21-10-00-00-0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0.gz",
                Some("logs"),
            ),
            ("firehose-redrive-abc.ndjson.gz", None),
            (
                "-1-2026-11-21-10-00-00-0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
                None,
            ),
            (
                "x-1-2026-11-21-10-00-00-0b1c2d3e-4f50-6172-8394-zzzzzzzzzzzz",
                None,
            ),
        ];
        for (name, want) in cases {
            assert_eq!(delivery_stream_of_object(name), want, "{name}");
        }
    }
}
