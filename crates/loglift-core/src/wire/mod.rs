//! Lambda event wire types: private serde structs mirroring the AWS JSON exactly (Firehose
//! data-transformation events, Kinesis and SQS event-source events) converted into domain batches, and
//! the responses loglift owns (the Firehose transformation response, the partial-batch
//! `batchItemFailures` response). Also [`detect`] to tell an event's source from its JSON.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`WireError`], the parse helpers, ARN names, the timestamps events carry |
//! | `firehose.rs` | [`FirehoseBatch`] and the transformation response ([`FirehoseResponse`]) |
//! | `kinesis.rs` | [`KinesisBatch`] |
//! | `sqs.rs` | [`SqsBatch`] and the partial-batch response ([`BatchItemFailures`]) |
//! | `ingest.rs` | [`IngestBatch`] (Kinesis or Firehose in one pass) and [`detect`] |
//!
//! A record whose `data` is not base64 never fails its batch: its `data` is an `Err`
//! ([`Reason::BadBase64`]) and the handler rejects that record alone. A batch that is not the
//! AWS shape at all is a [`WireError`].

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::reject::{Reason, Rejection};
use crate::spec::TimeFormat;
use crate::timefmt;

/// Lambda's cap on a synchronous invocation's response (and request): 6 MB.
pub const LAMBDA_PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;

/// A Lambda event that is not the shape its source sends: fail the invocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Not JSON, a missing field, a wrong type.
    #[error("malformed {event} event at `{path}`: {message}")]
    Malformed {
        event: &'static str,
        path: String,
        message: String,
    },
    /// An arrival timestamp that is neither epoch milliseconds / seconds nor ISO 8601.
    #[error("{event} record {record}: bad approximateArrivalTimestamp {value}: {why}")]
    BadTimestamp {
        event: &'static str,
        record: String,
        value: String,
        why: &'static str,
    },
    /// A `subsequenceNumber` that is neither a number nor `""`.
    #[error("{event} record {record}: bad subsequenceNumber {value:?}")]
    BadSubsequence {
        event: &'static str,
        record: String,
        value: String,
    },
}

impl WireError {
    /// The `errorType` to report to the Lambda runtime.
    pub fn error_type(&self) -> &'static str {
        "MalformedEvent"
    }
}

const FIREHOSE: &str = "Firehose";
const KINESIS: &str = "Kinesis";
const SQS: &str = "SQS";

fn parse_slice<'de, W: Deserialize<'de>>(
    event: &'static str,
    json: &'de [u8],
) -> Result<W, WireError> {
    // The common case without path tracking; a malformed event is read again to say where.
    if let Ok(wire) = serde_json::from_slice(json) {
        return Ok(wire);
    }
    let mut de = serde_json::Deserializer::from_slice(json);
    let wire = serde_path_to_error::deserialize(&mut de).map_err(|e| malformed(event, &e))?;
    de.end().map_err(|e| WireError::Malformed {
        event,
        path: ".".into(),
        message: e.to_string(),
    })?;
    Ok(wire)
}

fn parse_value<W: for<'de> Deserialize<'de>>(
    event: &'static str,
    json: Value,
) -> Result<W, WireError> {
    serde_path_to_error::deserialize(json).map_err(|e| malformed(event, &e))
}

fn malformed(event: &'static str, e: &serde_path_to_error::Error<serde_json::Error>) -> WireError {
    WireError::Malformed {
        event,
        path: e.path().to_string(),
        message: e.inner().to_string(),
    }
}

/// A record's `data`: the JSON string's bytes, borrowed from the event unless the string has
/// escapes, and not checked as UTF-8 (the base64 decoder checks every character).
pub(super) struct Base64Text<'a>(Cow<'a, [u8]>);

impl<'de: 'a, 'a> Deserialize<'de> for Base64Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text;
        impl<'de> serde::de::Visitor<'de> for Text {
            type Value = Cow<'de, [u8]>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a base64 string")
            }
            fn visit_borrowed_bytes<E>(self, v: &'de [u8]) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(v))
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v.to_vec()))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(v.as_bytes()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v.as_bytes().to_vec()))
            }
        }
        // serde_json hands a string's raw bytes to `deserialize_bytes` (an array is refused).
        d.deserialize_bytes(Text).map(Base64Text)
    }
}

/// Decode a record's `data`; on failure keep the text for the reject.
fn decode_data(
    what: impl FnOnce() -> String,
    Base64Text(data): Base64Text<'_>,
) -> (Result<Vec<u8>, Rejection>, Option<String>) {
    // SIMD, with the same rules as `base64`'s STANDARD (padding required, canonical last
    // symbol, no whitespace; tested). Text it refuses goes to `base64`, which decodes it if the
    // two ever disagree and otherwise says what is wrong with it.
    if let Ok(bytes) = base64_simd::STANDARD.decode_to_vec(&data) {
        return (Ok(bytes), None);
    }
    let why = match base64::engine::general_purpose::STANDARD.decode(&data) {
        Ok(bytes) => return (Ok(bytes), None),
        Err(e) => e.to_string(),
    };
    let message = format!(
        "{}: data is not valid base64 ({} characters): {why}",
        what(),
        data.len()
    );
    (
        Err(Rejection::new(Reason::BadBase64, message)),
        Some(String::from_utf8_lossy(&data).into_owned()),
    )
}

/// The name in a Kinesis stream or Firehose delivery stream ARN:
/// `arn:aws:kinesis:us-east-1:123:stream/user-events` → `user-events` (also with a trailing
/// `/consumer/...`), `arn:aws:firehose:…:deliverystream/NAME` → `NAME`.
pub fn name_from_arn(arn: &str) -> Option<&str> {
    let resource = arn.strip_prefix("arn:")?.splitn(5, ':').nth(4)?;
    let (_, rest) = resource.split_once('/')?;
    let name = rest.split('/').next()?;
    (!name.is_empty()).then_some(name)
}

/// The queue name in an SQS ARN (`arn:aws:sqs:us-east-1:123:queue-name` → `queue-name`), or
/// whatever [`name_from_arn`] finds after a `/` in other ARNs.
pub fn queue_name_from_arn(arn: &str) -> Option<&str> {
    let resource = arn.strip_prefix("arn:")?.splitn(5, ':').nth(4)?;
    if resource.contains('/') {
        return name_from_arn(arn);
    }
    (!resource.is_empty() && !resource.contains(':')).then_some(resource)
}

fn name_or_arn(arn: String) -> String {
    match name_from_arn(&arn) {
        Some(name) => name.to_owned(),
        None => arn,
    }
}

// ---------------------------------------------------------------------------------------------
// Timestamps as the events carry them

/// Epoch milliseconds (real events) or an ISO-8601 string (the console's sample).
#[derive(Deserialize)]
#[serde(untagged)]
enum Stamp {
    Number(serde_json::Number),
    Text(String),
}

/// A number, or `""` (the console's sample).
#[derive(Deserialize)]
#[serde(untagged)]
enum Subsequence {
    Number(u64),
    Text(String),
}

impl Stamp {
    fn describe(&self) -> String {
        match self {
            Stamp::Number(n) => n.to_string(),
            Stamp::Text(s) => format!("{s:?}"),
        }
    }

    fn to_datetime(&self, unit: Unit) -> Result<DateTime<Utc>, &'static str> {
        let format = match unit {
            Unit::Millis => TimeFormat::EpochMillis,
            Unit::Seconds => TimeFormat::EpochSeconds,
        };
        match self {
            Stamp::Number(n) => {
                timefmt::epoch(n.as_f64().ok_or("not a representable number")?, format)
            }
            Stamp::Text(s) => timefmt::epoch_or_rfc3339(s, format),
        }
    }
}

/// What a numeric arrival timestamp counts.
#[derive(Clone, Copy)]
enum Unit {
    /// Firehose: epoch milliseconds.
    Millis,
    /// Kinesis event source: epoch seconds with a fraction.
    Seconds,
}

impl Subsequence {
    fn into_option(self, record: &str) -> Result<Option<u64>, WireError> {
        match self {
            Subsequence::Number(n) => Ok(Some(n)),
            Subsequence::Text(s) if s.is_empty() => Ok(None),
            Subsequence::Text(s) => s.parse().map(Some).map_err(|_| WireError::BadSubsequence {
                event: FIREHOSE,
                record: record.to_owned(),
                value: s,
            }),
        }
    }
}

mod firehose;
mod ingest;
mod kinesis;
mod sqs;

pub use firehose::*;
pub use ingest::*;
pub use kinesis::*;
pub use sqs::*;

#[cfg(test)]
mod tests;
