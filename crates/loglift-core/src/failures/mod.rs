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
//! a panic. Where the error output and its archive live: `Layout::firehose_error_root`,
//! `Layout::firehose_archive_key`; the archive of S3 on-failure objects:
//! `Layout::kinesis_archive_key` (all keys are `crate::storage`'s).
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`FailureError`], lenient scalars, [`cmp_sequence`] |
//! | `kinesis.rs` | [`OnFailureRecord`] (SQS, SNS-wrapped or S3 destination) |
//! | `firehose.rs` | [`FirehoseErrorRecord`], [`read_error_output`], [`delivery_stream_of_object`] |

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

mod firehose;
mod kinesis;

pub use firehose::*;
pub use kinesis::*;

#[cfg(test)]
mod tests;
