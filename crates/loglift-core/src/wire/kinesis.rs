//! The Kinesis event-source event.

use super::*;

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
pub(super) struct KinesisEventWire<'a> {
    #[serde(rename = "Records", default, borrow)]
    pub(super) records: Vec<KinesisEventRecordWire<'a>>,
}

#[derive(Deserialize)]
pub(super) struct KinesisEventRecordWire<'a> {
    // Borrowed where unescaped (always, in events AWS sends): read once per record.
    #[serde(rename = "eventSourceARN", borrow)]
    event_source_arn: Cow<'a, str>,
    #[serde(rename = "eventID", borrow)]
    event_id: Cow<'a, str>,
    /// `aws:kinesis`; read only to tell events apart ([`IngestBatch::from_slice`]).
    #[serde(rename = "eventSource", default, borrow)]
    pub(super) event_source: Option<Cow<'a, str>>,
    // `awsRegion`, `eventName`, … are sent too; not read.
    #[serde(borrow)]
    kinesis: KinesisDataWire<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct KinesisDataWire<'a> {
    partition_key: String,
    sequence_number: String,
    #[serde(borrow)]
    data: Base64Text<'a>,
    /// Epoch seconds, with a fraction.
    approximate_arrival_timestamp: Stamp,
    // `kinesisSchemaVersion` ("1.0") is sent too; not read.
}

impl KinesisBatch {
    /// Read a Kinesis event-source event from its JSON bytes. `{"Records":[]}` is an empty batch.
    pub fn from_slice(json: &[u8]) -> Result<Self, WireError> {
        parse_slice::<KinesisEventWire<'_>>(KINESIS, json).and_then(Self::from_wire)
    }

    pub(super) fn from_wire(wire: KinesisEventWire<'_>) -> Result<Self, WireError> {
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
    pub(super) fn from_wire(wire: KinesisEventRecordWire<'_>) -> Result<Self, WireError> {
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
        let shard_id = event_id
            .split_once(':')
            .map_or(&*event_id, |(shard, _)| shard)
            .to_owned();
        let (data, undecodable) = decode_data(|| format!("Kinesis record {sequence_number}"), data);
        Ok(KinesisRecord {
            stream: name_from_arn(&event_source_arn)
                .unwrap_or(&event_source_arn)
                .to_owned(),
            shard_id,
            sequence_number,
            partition_key,
            arrival,
            data,
            undecodable,
        })
    }
}
