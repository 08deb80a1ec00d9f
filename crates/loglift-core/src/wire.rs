//! Lambda event wire types: private serde structs mirroring the AWS JSON exactly (Firehose
//! data-transformation events, Kinesis and SQS event-source events) converted into domain batches, and
//! the responses loglift owns (the Firehose transformation response, the partial-batch
//! `batchItemFailures` response). Also [`detect`] to tell an event's source from its JSON.
//!
//! A record whose `data` is not base64 never fails its batch: its `data` is an `Err`
//! ([`Reason::BadBase64`]) and the handler rejects that record alone. A batch that is not the
//! AWS shape at all is a [`WireError`].

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
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

/// Decode a record's `data`; on failure keep the text for the reject.
fn decode_data(
    what: impl FnOnce() -> String,
    data: Cow<'_, str>,
) -> (Result<Vec<u8>, Rejection>, Option<String>) {
    match base64::engine::general_purpose::STANDARD.decode(data.as_bytes()) {
        Ok(bytes) => (Ok(bytes), None),
        Err(e) => {
            let message = format!(
                "{}: data is not valid base64 ({} characters): {e}",
                what(),
                data.len()
            );
            (
                Err(Rejection::new(Reason::BadBase64, message)),
                Some(data.into_owned()),
            )
        }
    }
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
// Firehose data-transformation event

/// One Firehose data-transformation invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct FirehoseBatch {
    pub invocation_id: String,
    /// The delivery stream's name (the whole ARN when it has no `deliverystream/NAME`).
    pub delivery_stream: String,
    /// The source Kinesis stream's name, when the delivery stream reads one.
    pub source_stream: Option<String>,
    pub records: Vec<FirehoseRecord>,
}

/// One Firehose record.
#[derive(Debug, Clone, PartialEq)]
pub struct FirehoseRecord {
    /// Must come back, unchanged, in the response.
    pub record_id: String,
    pub arrival: DateTime<Utc>,
    /// The decoded bytes, or [`Reason::BadBase64`].
    pub data: Result<Vec<u8>, Rejection>,
    /// The `data` text as received, kept only when it is not valid base64 (for the reject's raw
    /// bytes).
    pub undecodable: Option<String>,
    /// Set when the delivery stream reads a Kinesis stream.
    pub kinesis: Option<KinesisMeta>,
}

/// A Firehose record's `kinesisRecordMetadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KinesisMeta {
    pub shard_id: String,
    pub partition_key: String,
    pub sequence_number: String,
    /// The KPL user record's index (Firehose de-aggregates), absent or `""` otherwise.
    pub subsequence_number: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FirehoseEventWire<'a> {
    invocation_id: String,
    delivery_stream_arn: String,
    // `region` is sent too; loglift does not use it.
    #[serde(default)]
    source_kinesis_stream_arn: Option<String>,
    #[serde(borrow)]
    records: Vec<FirehoseRecordWire<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FirehoseRecordWire<'a> {
    record_id: String,
    approximate_arrival_timestamp: Stamp,
    /// Borrowed from the event's bytes: base64 has nothing to unescape.
    #[serde(borrow)]
    data: Cow<'a, str>,
    #[serde(default)]
    kinesis_record_metadata: Option<KinesisRecordMetadataWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KinesisRecordMetadataWire {
    shard_id: String,
    partition_key: String,
    sequence_number: String,
    #[serde(default)]
    subsequence_number: Option<Subsequence>,
    // `approximateArrivalTimestamp` (number or ISO) repeats the record's; not read.
}

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

impl FirehoseBatch {
    /// Read a Firehose transformation event from its JSON bytes.
    pub fn from_slice(json: &[u8]) -> Result<Self, WireError> {
        parse_slice::<FirehoseEventWire<'_>>(FIREHOSE, json).and_then(Self::from_wire)
    }

    fn from_wire(wire: FirehoseEventWire<'_>) -> Result<Self, WireError> {
        let records = wire
            .records
            .into_iter()
            .map(FirehoseRecord::from_wire)
            .collect::<Result<_, _>>()?;
        Ok(FirehoseBatch {
            invocation_id: wire.invocation_id,
            delivery_stream: name_or_arn(wire.delivery_stream_arn),
            source_stream: wire.source_kinesis_stream_arn.map(name_or_arn),
            records,
        })
    }
}

impl TryFrom<Value> for FirehoseBatch {
    type Error = WireError;

    /// Read a Firehose transformation event from parsed JSON.
    fn try_from(json: Value) -> Result<Self, WireError> {
        // The wire types borrow from bytes; a Value serialises without fail.
        Self::from_slice(&serde_json::to_vec(&json).unwrap_or_default())
    }
}

impl FirehoseRecord {
    fn from_wire(wire: FirehoseRecordWire<'_>) -> Result<Self, WireError> {
        let FirehoseRecordWire {
            record_id,
            approximate_arrival_timestamp: stamp,
            data,
            kinesis_record_metadata,
        } = wire;
        let arrival = stamp
            .to_datetime(Unit::Millis)
            .map_err(|why| WireError::BadTimestamp {
                event: FIREHOSE,
                record: record_id.clone(),
                value: stamp.describe(),
                why,
            })?;
        let kinesis = match kinesis_record_metadata {
            None => None,
            Some(meta) => Some(KinesisMeta {
                subsequence_number: match meta.subsequence_number {
                    None => None,
                    Some(sub) => sub.into_option(&record_id)?,
                },
                shard_id: meta.shard_id,
                partition_key: meta.partition_key,
                sequence_number: meta.sequence_number,
            }),
        };
        let (data, undecodable) = decode_data(|| format!("Firehose record {record_id}"), data);
        Ok(FirehoseRecord {
            record_id,
            arrival,
            data,
            undecodable,
            kinesis,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Firehose response

/// A record's transformation result, serialised exactly as Firehose expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FirehoseResult {
    /// Transformed: `data` goes on to the destination.
    Ok,
    /// Deliberately dropped (a duplicate, a control message): not an error.
    Dropped,
    /// Failed: Firehose writes the record under the error prefix (`processing-failed/`).
    ProcessingFailed,
}

impl FirehoseResult {
    pub fn as_str(self) -> &'static str {
        match self {
            FirehoseResult::Ok => "Ok",
            FirehoseResult::Dropped => "Dropped",
            FirehoseResult::ProcessingFailed => "ProcessingFailed",
        }
    }
}

/// One record of the response. Every input `recordId` must come back exactly once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseResponseRecord {
    pub record_id: String,
    pub result: FirehoseResult,
    /// Base64 of the transformed bytes: `""` for `Dropped`, the original bytes for
    /// `ProcessingFailed`.
    pub data: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<FirehoseRecordMetadata>,
}

/// Dynamic-partitioning keys (`!{partitionKeyFromLambda:key}` in the S3 prefix).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirehoseRecordMetadata {
    #[serde(rename = "partitionKeys")]
    pub partition_keys: BTreeMap<String, String>,
}

/// The whole response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirehoseResponse {
    pub records: Vec<FirehoseResponseRecord>,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Length of `4 * ceil(n / 3)`: base64 of `n` bytes, padded.
pub fn base64_len(n: usize) -> usize {
    n.div_ceil(3).saturating_mul(4)
}

/// Length of `s` as a JSON string literal written by serde_json (quotes and escapes included).
fn json_string_len(s: &str) -> usize {
    2 + s
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum::<usize>()
}

impl FirehoseResponseRecord {
    /// `Ok` with the transformed bytes.
    pub fn ok(record_id: impl Into<String>, transformed: &[u8]) -> Self {
        FirehoseResponseRecord {
            record_id: record_id.into(),
            result: FirehoseResult::Ok,
            data: b64(transformed),
            metadata: None,
        }
    }

    /// `Dropped`, with empty data.
    pub fn dropped(record_id: impl Into<String>) -> Self {
        FirehoseResponseRecord {
            record_id: record_id.into(),
            result: FirehoseResult::Dropped,
            data: String::new(),
            metadata: None,
        }
    }

    /// `ProcessingFailed`, sending the original bytes back.
    pub fn processing_failed(record_id: impl Into<String>, original: &[u8]) -> Self {
        FirehoseResponseRecord {
            record_id: record_id.into(),
            result: FirehoseResult::ProcessingFailed,
            data: b64(original),
            metadata: None,
        }
    }

    /// Add dynamic-partitioning keys.
    pub fn with_partition_keys(self, partition_keys: BTreeMap<String, String>) -> Self {
        FirehoseResponseRecord {
            metadata: Some(FirehoseRecordMetadata { partition_keys }),
            ..self
        }
    }

    /// Exactly how many bytes this record takes in the serialised response. `data` holds base64
    /// (as every constructor writes it), which JSON never escapes: its length is its bytes, not
    /// scanned again.
    pub fn serialized_len(&self) -> usize {
        let keys = self.metadata.as_ref().map(|m| &m.partition_keys);
        // The length with empty data counts the data's two quotes.
        Self::serialized_len_for(&self.record_id, self.result, 0, keys) + self.data.len()
    }

    /// How many bytes a record will take before building it: `payload_len` is the length of the
    /// bytes before base64.
    pub fn serialized_len_for(
        record_id: &str,
        result: FirehoseResult,
        payload_len: usize,
        partition_keys: Option<&BTreeMap<String, String>>,
    ) -> usize {
        // {"recordId":…,"result":…,"data":…[,"metadata":{"partitionKeys":{…}}]}
        let mut len = r#"{"recordId":"#.len()
            + json_string_len(record_id)
            + r#","result":"#.len()
            + json_string_len(result.as_str())
            + r#","data":"#.len()
            + 2
            + base64_len(payload_len)
            + "}".len();
        if let Some(keys) = partition_keys {
            let entries: usize = keys
                .iter()
                .map(|(k, v)| json_string_len(k) + 1 + json_string_len(v))
                .sum();
            len += r#","metadata":{"partitionKeys":{"#.len()
                + entries
                + keys.len().saturating_sub(1)
                + "}}".len();
        }
        len
    }
}

impl FirehoseResponse {
    /// `{"records":[]}`: the bytes of a response before its records and their commas.
    pub const EMPTY_LEN: usize = r#"{"records":[]}"#.len();

    /// Exactly how many bytes the serialised response takes.
    pub fn serialized_len(&self) -> usize {
        Self::EMPTY_LEN
            + self
                .records
                .iter()
                .map(FirehoseResponseRecord::serialized_len)
                .sum::<usize>()
            + self.records.len().saturating_sub(1)
    }
}

// ---------------------------------------------------------------------------------------------
// Kinesis event-source event

/// One Kinesis event-source invocation (records of one shard).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KinesisBatch {
    pub records: Vec<KinesisRecord>,
}

/// One Kinesis record.
#[derive(Debug, Clone, PartialEq)]
pub struct KinesisRecord {
    /// The stream's name (the whole ARN when it has no `stream/NAME`).
    pub stream: String,
    /// From `eventID` (`shardId-000000000000:4954…`), before the colon.
    pub shard_id: String,
    /// The `itemIdentifier` of a batch item failure.
    pub sequence_number: String,
    pub partition_key: String,
    pub arrival: DateTime<Utc>,
    /// The decoded bytes, or [`Reason::BadBase64`].
    pub data: Result<Vec<u8>, Rejection>,
    /// The `data` text as received, kept only when it is not valid base64.
    pub undecodable: Option<String>,
}

#[derive(Deserialize)]
struct KinesisEventWire<'a> {
    #[serde(rename = "Records", default, borrow)]
    records: Vec<KinesisEventRecordWire<'a>>,
}

#[derive(Deserialize)]
struct KinesisEventRecordWire<'a> {
    #[serde(rename = "eventSourceARN")]
    event_source_arn: String,
    #[serde(rename = "eventID")]
    event_id: String,
    /// `aws:kinesis`; read only to tell events apart ([`IngestBatch::from_slice`]).
    #[serde(rename = "eventSource", default)]
    event_source: Option<String>,
    // `awsRegion`, `eventName`, … are sent too; not read.
    #[serde(borrow)]
    kinesis: KinesisDataWire<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KinesisDataWire<'a> {
    partition_key: String,
    sequence_number: String,
    /// Borrowed from the event's bytes: base64 has nothing to unescape.
    #[serde(borrow)]
    data: Cow<'a, str>,
    /// Epoch seconds, with a fraction.
    approximate_arrival_timestamp: Stamp,
    // `kinesisSchemaVersion` ("1.0") is sent too; not read.
}

impl KinesisBatch {
    /// Read a Kinesis event-source event from its JSON bytes. `{"Records":[]}` is an empty batch.
    pub fn from_slice(json: &[u8]) -> Result<Self, WireError> {
        parse_slice::<KinesisEventWire<'_>>(KINESIS, json).and_then(Self::from_wire)
    }

    fn from_wire(wire: KinesisEventWire<'_>) -> Result<Self, WireError> {
        let records = wire
            .records
            .into_iter()
            .map(KinesisRecord::from_wire)
            .collect::<Result<_, _>>()?;
        Ok(KinesisBatch { records })
    }
}

impl TryFrom<Value> for KinesisBatch {
    type Error = WireError;

    /// Read a Kinesis event-source event from parsed JSON.
    fn try_from(json: Value) -> Result<Self, WireError> {
        // The wire types borrow from bytes; a Value serialises without fail.
        Self::from_slice(&serde_json::to_vec(&json).unwrap_or_default())
    }
}

impl KinesisRecord {
    fn from_wire(wire: KinesisEventRecordWire<'_>) -> Result<Self, WireError> {
        let KinesisEventRecordWire {
            event_source_arn,
            event_id,
            kinesis,
            ..
        } = wire;
        let KinesisDataWire {
            partition_key,
            sequence_number,
            data,
            approximate_arrival_timestamp: stamp,
        } = kinesis;
        let arrival = stamp
            .to_datetime(Unit::Seconds)
            .map_err(|why| WireError::BadTimestamp {
                event: KINESIS,
                record: sequence_number.clone(),
                value: stamp.describe(),
                why,
            })?;
        let shard_id = match event_id.split_once(':') {
            Some((shard, _)) => shard.to_owned(),
            None => event_id,
        };
        let (data, undecodable) = decode_data(|| format!("Kinesis record {sequence_number}"), data);
        Ok(KinesisRecord {
            stream: name_or_arn(event_source_arn),
            shard_id,
            sequence_number,
            partition_key,
            arrival,
            data,
            undecodable,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// SQS event-source event

/// One SQS event-source invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SqsBatch {
    pub messages: Vec<SqsMessage>,
}

/// One SQS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsMessage {
    /// The `itemIdentifier` of a batch item failure.
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    /// `attributes.ApproximateReceiveCount`: 1 on the first delivery (and when absent).
    pub receive_count: u32,
    /// `attributes.SentTimestamp` (epoch milliseconds).
    pub sent_at: Option<DateTime<Utc>>,
    /// The queue's name, from `eventSourceARN`.
    pub queue: Option<String>,
}

#[derive(Deserialize)]
struct SqsEventWire {
    #[serde(rename = "Records", default)]
    records: Vec<SqsRecordWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SqsRecordWire {
    message_id: String,
    receipt_handle: String,
    body: String,
    #[serde(default)]
    attributes: SqsAttributesWire,
    #[serde(rename = "eventSourceARN", default)]
    event_source_arn: Option<String>,
    // `messageAttributes`, `md5OfBody`, `eventSource`, `awsRegion` are sent too; not read.
}

/// System attributes: every value is a string (`"ApproximateReceiveCount": "1"`).
#[derive(Deserialize, Default)]
struct SqsAttributesWire {
    #[serde(rename = "ApproximateReceiveCount", default)]
    approximate_receive_count: Option<Count>,
    #[serde(rename = "SentTimestamp", default)]
    sent_timestamp: Option<Stamp>,
    // `SenderId`, `ApproximateFirstReceiveTimestamp`, `DeadLetterQueueSourceArn`, FIFO's
    // `MessageGroupId`, … are sent too; not read.
}

/// A count sent as a string (as SQS does) or a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum Count {
    Number(u32),
    Text(String),
}

impl SqsBatch {
    /// Read an SQS event-source event from its JSON bytes. `{"Records":[]}` is an empty batch.
    pub fn from_slice(json: &[u8]) -> Result<Self, WireError> {
        parse_slice::<SqsEventWire>(SQS, json).and_then(Self::from_wire)
    }

    fn from_wire(wire: SqsEventWire) -> Result<Self, WireError> {
        let messages = wire
            .records
            .into_iter()
            .enumerate()
            .map(|(i, record)| SqsMessage::from_wire(i, record))
            .collect::<Result<_, _>>()?;
        Ok(SqsBatch { messages })
    }
}

impl TryFrom<Value> for SqsBatch {
    type Error = WireError;

    /// Read an SQS event-source event from parsed JSON (moving its strings).
    fn try_from(json: Value) -> Result<Self, WireError> {
        parse_value::<SqsEventWire>(SQS, json).and_then(Self::from_wire)
    }
}

impl SqsMessage {
    fn from_wire(i: usize, wire: SqsRecordWire) -> Result<Self, WireError> {
        let SqsRecordWire {
            message_id,
            receipt_handle,
            body,
            attributes,
            event_source_arn,
        } = wire;
        let receive_count = match attributes.approximate_receive_count {
            None => 1,
            Some(Count::Number(n)) => n,
            Some(Count::Text(text)) => text.trim().parse().map_err(|_| WireError::Malformed {
                event: SQS,
                path: format!("Records[{i}].attributes.ApproximateReceiveCount"),
                message: format!("not a count: {text:?}"),
            })?,
        };
        let sent_at = match attributes.sent_timestamp {
            None => None,
            Some(stamp) => {
                Some(
                    stamp
                        .to_datetime(Unit::Millis)
                        .map_err(|why| WireError::Malformed {
                            event: SQS,
                            path: format!("Records[{i}].attributes.SentTimestamp"),
                            message: format!("{}: {why}", stamp.describe()),
                        })?,
                )
            }
        };
        let queue = event_source_arn
            .as_deref()
            .and_then(queue_name_from_arn)
            .map(str::to_owned);
        Ok(SqsMessage {
            message_id,
            receipt_handle,
            body,
            receive_count,
            sent_at,
            queue,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Partial batch response

/// `{"batchItemFailures":[{"itemIdentifier":"…"}]}`: the Kinesis / SQS partial batch response.
/// For Kinesis the identifier is the sequence number (Lambda retries from the lowest one); for
/// SQS the message id. An empty or unknown identifier fails the whole batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchItemFailures {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<BatchItemFailure>,
}

/// One failed item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

impl BatchItemFailures {
    /// Every item succeeded.
    pub fn none() -> Self {
        BatchItemFailures::default()
    }

    /// These items failed (in the order given).
    pub fn from_ids<I, S>(ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        BatchItemFailures {
            batch_item_failures: ids
                .into_iter()
                .map(|id| BatchItemFailure {
                    item_identifier: id.into(),
                })
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.batch_item_failures.is_empty()
    }
}

// ---------------------------------------------------------------------------------------------
// Either batch ingest takes, in one pass

/// A batch ingest takes: what [`detect_slice`] then `from_slice` would read, in one pass over
/// the bytes for a well-formed event (an event that does not read is looked at again, to say
/// what it is and where it is wrong).
#[derive(Debug, Clone, PartialEq)]
pub enum IngestBatch {
    Firehose(FirehoseBatch),
    Kinesis(KinesisBatch),
}

#[derive(Deserialize)]
struct IngestEventWire<'a> {
    #[serde(rename = "Records", default, borrow)]
    kinesis: Option<Vec<KinesisEventRecordWire<'a>>>,
    #[serde(default, borrow)]
    records: Option<Vec<FirehoseRecordWire<'a>>>,
    #[serde(rename = "invocationId", default)]
    invocation_id: Option<String>,
    #[serde(rename = "deliveryStreamArn", default)]
    delivery_stream_arn: Option<String>,
    #[serde(rename = "sourceKinesisStreamArn", default)]
    source_kinesis_stream_arn: Option<String>,
}

impl IngestBatch {
    /// Read a Firehose or Kinesis event; `Ok(None)` when the bytes are neither (an SQS event,
    /// anything else), with the same answer as [`detect_slice`].
    pub fn from_slice(json: &[u8]) -> Result<Option<IngestBatch>, WireError> {
        let Ok(wire) = serde_json::from_slice::<IngestEventWire<'_>>(json) else {
            return Self::detected(json);
        };
        let firehose_ids = wire.invocation_id.is_some() || wire.delivery_stream_arn.is_some();
        match (wire.records, wire.kinesis) {
            (Some(records), _) if firehose_ids => {
                let (Some(invocation_id), Some(delivery_stream_arn)) =
                    (wire.invocation_id, wire.delivery_stream_arn)
                else {
                    return Self::detected(json);
                };
                FirehoseBatch::from_wire(FirehoseEventWire {
                    invocation_id,
                    delivery_stream_arn,
                    source_kinesis_stream_arn: wire.source_kinesis_stream_arn,
                    records,
                })
                .map(|b| Some(IngestBatch::Firehose(b)))
            }
            (_, Some(records)) => {
                let sqs = records
                    .first()
                    .is_some_and(|r| r.event_source.as_deref() == Some("aws:sqs"));
                if sqs {
                    return Ok(None);
                }
                KinesisBatch::from_wire(KinesisEventWire { records })
                    .map(|b| Some(IngestBatch::Kinesis(b)))
            }
            _ => Ok(None),
        }
    }

    /// The slow path: what the event is, then its reader's error.
    fn detected(json: &[u8]) -> Result<Option<IngestBatch>, WireError> {
        match detect_slice(json) {
            EventShape::Firehose => {
                FirehoseBatch::from_slice(json).map(|b| Some(IngestBatch::Firehose(b)))
            }
            EventShape::Kinesis => {
                KinesisBatch::from_slice(json).map(|b| Some(IngestBatch::Kinesis(b)))
            }
            EventShape::Sqs | EventShape::Unknown => Ok(None),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Event detection

/// Which source sent a Lambda event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventShape {
    /// A Firehose data-transformation event.
    Firehose,
    /// A Kinesis event-source event.
    Kinesis,
    /// An SQS event-source event.
    Sqs,
    Unknown,
}

/// Tell an event's source from its JSON.
///
/// Firehose: `records` with `deliveryStreamArn` or `invocationId`. Kinesis: `Records` whose
/// first record has `eventSource: "aws:kinesis"` or a `kinesis` key. SQS: `Records` whose first
/// record has `eventSource: "aws:sqs"`. An empty `{"Records":[]}` says nothing about its source;
/// it is reported as Kinesis, and reading it gives an empty batch (an SQS handler would do the
/// same with it).
pub fn detect(json: &Value) -> EventShape {
    let Some(event) = json.as_object() else {
        return EventShape::Unknown;
    };
    if event.contains_key("records")
        && (event.contains_key("deliveryStreamArn") || event.contains_key("invocationId"))
    {
        return EventShape::Firehose;
    }
    let Some(Value::Array(records)) = event.get("Records") else {
        return EventShape::Unknown;
    };
    let Some(first) = records.first() else {
        return EventShape::Kinesis;
    };
    match first.get("eventSource").and_then(Value::as_str) {
        Some("aws:kinesis") => EventShape::Kinesis,
        Some("aws:sqs") => EventShape::Sqs,
        _ if first.get("kinesis").is_some() => EventShape::Kinesis,
        _ => EventShape::Unknown,
    }
}

/// [`detect`] on an event's JSON bytes, without building a `Value`: one pass that skips every
/// value except the keys that tell the sources apart. Bytes that are not a JSON object are
/// [`EventShape::Unknown`].
pub fn detect_slice(json: &[u8]) -> EventShape {
    use serde::de::IgnoredAny;
    #[derive(Deserialize)]
    struct Probe<'a> {
        #[serde(default)]
        records: Option<IgnoredAny>,
        #[serde(rename = "deliveryStreamArn", default)]
        delivery_stream_arn: Option<IgnoredAny>,
        #[serde(rename = "invocationId", default)]
        invocation_id: Option<IgnoredAny>,
        #[serde(rename = "Records", default, borrow)]
        event_source: Option<FirstRecord<'a>>,
    }
    /// The first record's `eventSource` and whether it has `kinesis`; the rest skipped.
    struct FirstRecord<'a>(Option<(Option<std::borrow::Cow<'a, str>>, bool)>);
    #[derive(Deserialize)]
    struct Record<'a> {
        #[serde(rename = "eventSource", default, borrow)]
        event_source: Option<std::borrow::Cow<'a, str>>,
        #[serde(default)]
        kinesis: Option<IgnoredAny>,
    }
    impl<'de: 'a, 'a> Deserialize<'de> for FirstRecord<'a> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visit<'a>(std::marker::PhantomData<&'a ()>);
            impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
                type Value = FirstRecord<'a>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an array of records")
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<Self::Value, A::Error> {
                    let first = seq
                        .next_element::<Record<'a>>()?
                        .map(|r| (r.event_source, r.kinesis.is_some()));
                    while seq.next_element::<IgnoredAny>()?.is_some() {}
                    Ok(FirstRecord(first))
                }
            }
            d.deserialize_seq(Visit(std::marker::PhantomData))
        }
    }
    let Ok(probe) = serde_json::from_slice::<Probe<'_>>(json) else {
        return EventShape::Unknown;
    };
    if probe.records.is_some()
        && (probe.delivery_stream_arn.is_some() || probe.invocation_id.is_some())
    {
        return EventShape::Firehose;
    }
    match probe.event_source {
        None => EventShape::Unknown,
        Some(FirstRecord(None)) => EventShape::Kinesis,
        Some(FirstRecord(Some((source, kinesis)))) => match source.as_deref() {
            Some("aws:kinesis") => EventShape::Kinesis,
            Some("aws:sqs") => EventShape::Sqs,
            _ if kinesis => EventShape::Kinesis,
            _ => EventShape::Unknown,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIREHOSE_EVENT: &str = r#"{
        "invocationId": "inv-1",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/user-events-to-s3",
        "sourceKinesisStreamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/user-events",
        "region": "us-east-1",
        "records": [
            {"recordId": "r-1", "approximateArrivalTimestamp": 1590969624000, "data": "eyJhIjoxfQ==",
             "kinesisRecordMetadata": {"shardId": "shardId-000000000000", "partitionKey": "pk",
               "approximateArrivalTimestamp": 1590969624000, "sequenceNumber": "4954", "subsequenceNumber": 3}},
            {"recordId": "r-2", "approximateArrivalTimestamp": "2020-06-01T00:00:24.511Z", "data": "not base64!",
             "kinesisRecordMetadata": {"shardId": "shardId-000000000001", "partitionKey": "pk",
               "approximateArrivalTimestamp": "2020-06-01T00:00:24.511Z", "sequenceNumber": "4955", "subsequenceNumber": ""}},
            {"recordId": "r-3", "approximateArrivalTimestamp": 1590969624000.4, "data": ""}
        ]
    }"#;

    const KINESIS_EVENT: &str = r#"{"Records": [{
        "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "pk-1",
          "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
          "data": "eyJhIjoxfQ==", "approximateArrivalTimestamp": 1545084650.987},
        "eventSource": "aws:kinesis", "eventVersion": "1.0",
        "eventID": "shardId-000000000006:49590338271490256608559692538361571095921575989136588898",
        "eventName": "aws:kinesis:record", "invokeIdentityArn": "arn:aws:iam::123456789012:role/r",
        "awsRegion": "us-east-2", "eventSourceARN": "arn:aws:kinesis:us-east-2:123456789012:stream/user-events"}]}"#;

    fn time(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn reads_firehose_events_from_bytes_and_values() {
        let batch = FirehoseBatch::from_slice(FIREHOSE_EVENT.as_bytes());
        let Ok(batch) = batch else {
            panic!("{batch:?}")
        };
        let value: Value = serde_json::from_str(FIREHOSE_EVENT).unwrap_or_default();
        assert_eq!(FirehoseBatch::try_from(value).as_ref(), Ok(&batch));

        assert_eq!(batch.invocation_id, "inv-1");
        assert_eq!(batch.delivery_stream, "user-events-to-s3");
        assert_eq!(batch.source_stream.as_deref(), Some("user-events"));
        let [r1, r2, r3] = batch.records.as_slice() else {
            panic!("{batch:?}")
        };
        assert_eq!(r1.arrival, time("2020-06-01T00:00:24Z"));
        assert_eq!(r1.data, Ok(br#"{"a":1}"#.to_vec()));
        assert_eq!(r1.undecodable, None);
        assert_eq!(
            r1.kinesis,
            Some(KinesisMeta {
                shard_id: "shardId-000000000000".into(),
                partition_key: "pk".into(),
                sequence_number: "4954".into(),
                subsequence_number: Some(3),
            })
        );
        assert_eq!(r2.arrival, time("2020-06-01T00:00:24.511Z"));
        assert_eq!(
            r2.data.as_ref().map_err(|r| r.reason),
            Err(Reason::BadBase64)
        );
        assert!(r2
            .data
            .as_ref()
            .err()
            .is_some_and(|r| r.message.contains("r-2")));
        assert_eq!(r2.undecodable.as_deref(), Some("not base64!"));
        assert_eq!(r2.kinesis.as_ref().and_then(|k| k.subsequence_number), None);
        assert_eq!(r3.arrival, time("2020-06-01T00:00:24Z"));
        assert_eq!(r3.data, Ok(Vec::new()));
        assert_eq!(r3.kinesis, None);
    }

    #[test]
    fn malformed_firehose_events_say_where() {
        let missing = r#"{"invocationId":"i","deliveryStreamArn":"a","records":[{"recordId":"r","data":""}]}"#;
        let got = FirehoseBatch::from_slice(missing.as_bytes());
        let Err(WireError::Malformed { path, message, .. }) = got else {
            panic!("{got:?}")
        };
        assert_eq!(path, "records[0]");
        assert!(message.contains("approximateArrivalTimestamp"), "{message}");

        let bad_time = r#"{"invocationId":"i","deliveryStreamArn":"a","records":[{"recordId":"r","data":"","approximateArrivalTimestamp":"yesterday"}]}"#;
        let got = FirehoseBatch::from_slice(bad_time.as_bytes());
        assert!(
            matches!(got, Err(WireError::BadTimestamp { ref record, .. }) if record == "r"),
            "{got:?}"
        );

        let bad_sub = r#"{"invocationId":"i","deliveryStreamArn":"a","records":[{"recordId":"r","data":"","approximateArrivalTimestamp":1,
            "kinesisRecordMetadata":{"shardId":"s","partitionKey":"p","sequenceNumber":"1","subsequenceNumber":"x"}}]}"#;
        assert!(matches!(
            FirehoseBatch::from_slice(bad_sub.as_bytes()),
            Err(WireError::BadSubsequence { .. })
        ));
        assert!(matches!(
            FirehoseBatch::from_slice(b"{} trailing"),
            Err(WireError::Malformed { .. })
        ));
        assert!(matches!(
            FirehoseBatch::from_slice(b"[]"),
            Err(WireError::Malformed { .. })
        ));
    }

    #[test]
    fn reads_kinesis_events() {
        let batch = KinesisBatch::from_slice(KINESIS_EVENT.as_bytes());
        let Ok(batch) = batch else {
            panic!("{batch:?}")
        };
        let [record] = batch.records.as_slice() else {
            panic!("{batch:?}")
        };
        assert_eq!(record.stream, "user-events");
        assert_eq!(record.shard_id, "shardId-000000000006");
        assert_eq!(
            record.sequence_number,
            "49590338271490256608559692538361571095921575989136588898"
        );
        assert_eq!(record.partition_key, "pk-1");
        assert_eq!(record.arrival, time("2018-12-17T22:10:50.987Z"));
        assert_eq!(record.data, Ok(br#"{"a":1}"#.to_vec()));

        assert_eq!(
            KinesisBatch::from_slice(br#"{"Records":[]}"#),
            Ok(KinesisBatch::default())
        );
        let value: Value = serde_json::from_str(KINESIS_EVENT).unwrap_or_default();
        assert_eq!(KinesisBatch::try_from(value), Ok(batch));
    }

    #[test]
    fn names_from_arns() {
        let cases = [
            (
                "arn:aws:kinesis:us-east-1:123:stream/user-events",
                Some("user-events"),
            ),
            (
                "arn:aws:kinesis:us-east-1:123:stream/user-events/consumer/c:1591000000",
                Some("user-events"),
            ),
            (
                "arn:aws:firehose:us-east-1:123:deliverystream/to-s3",
                Some("to-s3"),
            ),
            ("arn:aws-cn:kinesis:cn-north-1:123:stream/s", Some("s")),
            ("arn:aws:kinesis:us-east-1:123:stream/", None),
            ("aws:lambda:events", None),
            ("arn:aws:kinesis:EXAMPLE", None),
            ("", None),
        ];
        for (arn, want) in cases {
            assert_eq!(name_from_arn(arn), want, "{arn}");
        }
    }

    #[test]
    fn queue_names_from_arns() {
        let cases = [
            (
                "arn:aws:sqs:us-east-1:123456789012:loglift-transform",
                Some("loglift-transform"),
            ),
            ("arn:aws:sqs:us-east-1:123:orders.fifo", Some("orders.fifo")),
            ("arn:aws-us-gov:sqs:us-gov-west-1:123:q", Some("q")),
            (
                "arn:aws:kinesis:us-east-1:123:stream/user-events",
                Some("user-events"),
            ),
            ("arn:aws:sqs:us-east-1:123:", None),
            ("arn:aws:sqs:us-east-1", None),
            ("loglift-transform", None),
            ("", None),
        ];
        for (arn, want) in cases {
            assert_eq!(queue_name_from_arn(arn), want, "{arn}");
        }
    }

    #[test]
    fn reads_sqs_events() {
        let json = include_str!("../../../samples/s3events/sqs-event.json");
        let batch = SqsBatch::from_slice(json.as_bytes());
        let Ok(batch) = batch else {
            panic!("{batch:?}")
        };
        let value: Value = serde_json::from_str(json).unwrap_or_default();
        assert_eq!(SqsBatch::try_from(value).as_ref(), Ok(&batch));
        let [first, second] = batch.messages.as_slice() else {
            panic!("{batch:?}")
        };
        assert_eq!(first.message_id, "2e1424d4-f796-459a-8184-9c92662be6da");
        assert_eq!(
            first.receipt_handle,
            "AQEBzWwaftRI0KuVm4tP+/7q1rGgNqicHq/loglift/receipt/1"
        );
        assert!(
            first
                .body
                .starts_with(r#"{"Records":[{"eventVersion":"2.1""#),
            "{}",
            first.body
        );
        assert_eq!(first.receive_count, 1);
        assert_eq!(first.sent_at, Some(time("2026-11-21T10:00:01.300Z")));
        assert_eq!(first.queue.as_deref(), Some("loglift-transform"));
        assert_eq!(second.message_id, "059f36b4-87a3-44ab-83d2-661975830a7d");
        assert_eq!(second.receive_count, 4);
        assert_eq!(second.sent_at, Some(time("2026-11-21T09:00:00Z")));
        assert!(second.body.contains("s3:TestEvent"), "{}", second.body);
        assert_eq!(
            EventShape::Sqs,
            detect(&serde_json::from_str(json).unwrap_or_default())
        );
    }

    #[test]
    fn sqs_attributes_may_be_missing_but_not_wrong() {
        let minimal = r#"{"Records":[{"messageId":"m","receiptHandle":"r","body":""}]}"#;
        assert_eq!(
            SqsBatch::from_slice(minimal.as_bytes()),
            Ok(SqsBatch {
                messages: vec![SqsMessage {
                    message_id: "m".into(),
                    receipt_handle: "r".into(),
                    body: String::new(),
                    receive_count: 1,
                    sent_at: None,
                    queue: None,
                }]
            })
        );
        let numbers = r#"{"Records":[{"messageId":"m","receiptHandle":"r","body":"b",
            "attributes":{"ApproximateReceiveCount":7,"SentTimestamp":1795251600000},
            "eventSourceARN":"arn:aws:sqs:us-east-1:1:q"}]}"#;
        let batch = SqsBatch::from_slice(numbers.as_bytes());
        let message = batch.as_ref().ok().and_then(|b| b.messages.first());
        assert_eq!(message.map(|m| m.receive_count), Some(7), "{batch:?}");
        assert_eq!(
            message.and_then(|m| m.sent_at),
            Some(time("2026-11-21T09:00:00Z"))
        );
        assert_eq!(message.and_then(|m| m.queue.as_deref()), Some("q"));
        assert_eq!(
            SqsBatch::from_slice(br#"{"Records":[]}"#),
            Ok(SqsBatch::default())
        );

        let cases = [
            (
                r#"{"Records":[{"messageId":"m","receiptHandle":"r","body":"","attributes":{"ApproximateReceiveCount":"many"}}]}"#,
                "Records[0].attributes.ApproximateReceiveCount",
            ),
            (
                r#"{"Records":[{"messageId":"m","receiptHandle":"r","body":"","attributes":{"SentTimestamp":"soon"}}]}"#,
                "Records[0].attributes.SentTimestamp",
            ),
            (r#"{"Records":[{"messageId":"m","body":""}]}"#, "Records[0]"),
            (
                r#"{"Records":[{"messageId":"m","receiptHandle":"r","body":{}}]}"#,
                "Records[0].body",
            ),
        ];
        for (json, want) in cases {
            let got = SqsBatch::from_slice(json.as_bytes());
            assert!(
                matches!(&got, Err(WireError::Malformed { event: "SQS", path, .. }) if path == want),
                "{json}: {got:?}"
            );
        }
    }

    #[test]
    fn firehose_results_serialize_exactly() {
        for (result, text) in [
            (FirehoseResult::Ok, "\"Ok\""),
            (FirehoseResult::Dropped, "\"Dropped\""),
            (FirehoseResult::ProcessingFailed, "\"ProcessingFailed\""),
        ] {
            assert_eq!(serde_json::to_string(&result).ok().as_deref(), Some(text));
            assert_eq!(format!("\"{}\"", result.as_str()), text);
        }
        let keys = BTreeMap::from([("pipeline".to_owned(), "user_events".to_owned())]);
        let response = FirehoseResponse {
            records: vec![
                FirehoseResponseRecord::ok("r-1", b"{\"a\":1}\n").with_partition_keys(keys),
                FirehoseResponseRecord::dropped("r-2"),
                FirehoseResponseRecord::processing_failed("r-3", b"x"),
            ],
        };
        let json = serde_json::to_string(&response).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"records":[{"recordId":"r-1","result":"Ok","data":"eyJhIjoxfQo=","metadata":{"partitionKeys":{"pipeline":"user_events"}}},{"recordId":"r-2","result":"Dropped","data":""},{"recordId":"r-3","result":"ProcessingFailed","data":"eA=="}]}"#
        );
    }

    #[test]
    fn serialized_lengths_are_exact() {
        let odd_id = "49546986683135544286507457936321625675700192471156785154\"\\\n\u{1}é";
        let many = BTreeMap::from([
            ("a".to_owned(), "1".to_owned()),
            ("b\"".to_owned(), "ü\t".to_owned()),
            ("year".to_owned(), "2020".to_owned()),
        ]);
        let one = BTreeMap::from([("k".to_owned(), String::new())]);
        for payload_len in [0, 1, 2, 3, 4, 100, 1001] {
            let payload = vec![7u8; payload_len];
            let records = vec![
                FirehoseResponseRecord::ok("r", &payload),
                FirehoseResponseRecord::ok(odd_id, &payload).with_partition_keys(many.clone()),
                FirehoseResponseRecord::ok("r", &payload).with_partition_keys(one.clone()),
                FirehoseResponseRecord::ok("r", &payload).with_partition_keys(BTreeMap::new()),
                FirehoseResponseRecord::dropped(odd_id),
                FirehoseResponseRecord::processing_failed("r", &payload),
            ];
            for record in &records {
                let actual = serde_json::to_vec(record)
                    .map(|v| v.len())
                    .unwrap_or_default();
                assert_eq!(record.serialized_len(), actual, "{record:?}");
                let keys = record.metadata.as_ref().map(|m| &m.partition_keys);
                let len = if record.result == FirehoseResult::Dropped {
                    0
                } else {
                    payload_len
                };
                assert_eq!(
                    FirehoseResponseRecord::serialized_len_for(
                        &record.record_id,
                        record.result,
                        len,
                        keys
                    ),
                    actual,
                    "{record:?}"
                );
            }
            for n in 0..=records.len() {
                let response = FirehoseResponse {
                    records: records.get(..n).unwrap_or_default().to_vec(),
                };
                let actual = serde_json::to_vec(&response)
                    .map(|v| v.len())
                    .unwrap_or_default();
                assert_eq!(response.serialized_len(), actual);
            }
        }
    }

    #[test]
    fn batch_item_failures_serialize_exactly() {
        let none = serde_json::to_string(&BatchItemFailures::none()).unwrap_or_default();
        assert_eq!(none, r#"{"batchItemFailures":[]}"#);
        let some = serde_json::to_string(&BatchItemFailures::from_ids(["4954", "4955"]))
            .unwrap_or_default();
        assert_eq!(
            some,
            r#"{"batchItemFailures":[{"itemIdentifier":"4954"},{"itemIdentifier":"4955"}]}"#
        );
        assert!(BatchItemFailures::none().is_empty());
    }

    #[test]
    fn detects_event_shapes() {
        let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or_default();
        let cases = [
            (FIREHOSE_EVENT, EventShape::Firehose),
            (r#"{"invocationId":"i","records":[]}"#, EventShape::Firehose),
            (KINESIS_EVENT, EventShape::Kinesis),
            (r#"{"Records":[{"kinesis":{}}]}"#, EventShape::Kinesis),
            (r#"{"Records":[]}"#, EventShape::Kinesis),
            (
                r#"{"Records":[{"eventSource":"aws:sqs","body":"{}"}]}"#,
                EventShape::Sqs,
            ),
            (
                r#"{"Records":[{"eventSource":"aws:s3"}]}"#,
                EventShape::Unknown,
            ),
            (
                r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#,
                EventShape::Unknown,
            ),
            (r#"{"records":[]}"#, EventShape::Unknown),
            (r#"[]"#, EventShape::Unknown),
            (r#"{"Records":"x"}"#, EventShape::Unknown),
            (r#"{"Records":[5]}"#, EventShape::Unknown),
            ("not json", EventShape::Unknown),
        ];
        for (json, want) in cases {
            assert_eq!(detect(&parse(json)), want, "{json}");
            assert_eq!(detect_slice(json.as_bytes()), want, "bytes: {json}");
            // One pass reads what detection and then the event's reader read.
            assert_eq!(
                IngestBatch::from_slice(json.as_bytes()),
                IngestBatch::detected(json.as_bytes()),
                "one pass: {json}"
            );
        }
        for json in [FIREHOSE_EVENT, KINESIS_EVENT] {
            let fast = IngestBatch::from_slice(json.as_bytes());
            assert!(matches!(fast, Ok(Some(_))), "{fast:?}");
            assert_eq!(fast, IngestBatch::detected(json.as_bytes()));
        }
        // A Kinesis-shaped record sent by SQS is SQS's, as detect says.
        let sqs = r#"{"Records":[{"eventSource":"aws:sqs","eventSourceARN":"arn:aws:kinesis:us-east-1:1:stream/s","eventID":"shardId-0:1","kinesis":{"partitionKey":"p","sequenceNumber":"1","data":"","approximateArrivalTimestamp":1.5}}]}"#;
        assert_eq!(detect_slice(sqs.as_bytes()), EventShape::Sqs);
        assert_eq!(IngestBatch::from_slice(sqs.as_bytes()), Ok(None));
        // A malformed Firehose event still says where.
        let bad = r#"{"invocationId":"i","deliveryStreamArn":"a","records":[{"recordId":5}]}"#;
        assert!(
            matches!(
                IngestBatch::from_slice(bad.as_bytes()),
                Err(WireError::Malformed { ref path, .. }) if path.starts_with("records[0]")
            ),
            "{:?}",
            IngestBatch::from_slice(bad.as_bytes())
        );
    }
}
