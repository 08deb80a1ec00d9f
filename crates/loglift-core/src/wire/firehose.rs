//! The Firehose data-transformation event and the response loglift owns.

use super::*;

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
pub(super) struct FirehoseEventWire<'a> {
    pub(super) invocation_id: String,
    pub(super) delivery_stream_arn: String,
    // `region` is sent too; loglift does not use it.
    #[serde(default)]
    pub(super) source_kinesis_stream_arn: Option<String>,
    #[serde(borrow)]
    pub(super) records: Vec<FirehoseRecordWire<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FirehoseRecordWire<'a> {
    record_id: String,
    approximate_arrival_timestamp: Stamp,
    #[serde(borrow)]
    data: Base64Text<'a>,
    #[serde(default)]
    kinesis_record_metadata: Option<KinesisRecordMetadataWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct KinesisRecordMetadataWire {
    shard_id: String,
    partition_key: String,
    sequence_number: String,
    #[serde(default)]
    subsequence_number: Option<Subsequence>,
    // `approximateArrivalTimestamp` (number or ISO) repeats the record's; not read.
}

impl FirehoseBatch {
    /// Read a Firehose transformation event from its JSON bytes.
    pub fn from_slice(json: &[u8]) -> Result<Self, WireError> {
        parse_slice::<FirehoseEventWire<'_>>(FIREHOSE, json).and_then(Self::from_wire)
    }

    pub(super) fn from_wire(wire: FirehoseEventWire<'_>) -> Result<Self, WireError> {
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
    pub(super) fn from_wire(wire: FirehoseRecordWire<'_>) -> Result<Self, WireError> {
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
    /// Base64 of the transformed bytes: `""` for `Dropped` and `ProcessingFailed` (Firehose
    /// writes a failed record's original bytes to its error output whatever data comes back).
    pub data: Base64Data,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<FirehoseRecordMetadata>,
}

/// Base64 text in a response, kept as its JSON string literal (quotes included): serialising
/// the response copies it. serde_json would scan every byte of a string for characters to
/// escape, which base64 never has — measured, a fifth of a 3 MB Firehose invocation's time
/// went to that scan.
#[derive(Debug, Clone)]
pub struct Base64Data(Box<RawValue>);

impl Base64Data {
    /// The base64 of `bytes`.
    pub fn encode(bytes: &[u8]) -> Self {
        let mut literal = String::with_capacity(base64_len(bytes.len()) + 2);
        literal.push('"');
        base64_simd::STANDARD.encode_append(bytes, &mut literal);
        literal.push('"');
        Base64Data::literal(literal)
    }

    /// `text` (any text: quoted and escaped here).
    pub fn from_text(text: &str) -> Self {
        Base64Data::literal(serde_json::to_string(text).unwrap_or_default())
    }

    /// A JSON string literal (`null` if it is not one, which the constructors never give).
    fn literal(literal: String) -> Self {
        Base64Data(RawValue::from_string(literal).unwrap_or_default())
    }

    /// The base64 text.
    pub fn as_str(&self) -> &str {
        let literal = self.0.get();
        literal
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.as_str().len()
    }

    pub fn is_empty(&self) -> bool {
        self.as_str().is_empty()
    }
}

impl Default for Base64Data {
    fn default() -> Self {
        Base64Data::encode(&[])
    }
}

impl PartialEq for Base64Data {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Base64Data {}

impl Serialize for Base64Data {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Base64Data {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Base64Data::from_text(&String::deserialize(d)?))
    }
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

/// Length of `4 * ceil(n / 3)`: base64 of `n` bytes, padded.
pub fn base64_len(n: usize) -> usize {
    n.div_ceil(3).saturating_mul(4)
}

impl FirehoseResponseRecord {
    /// `Ok` with the transformed bytes.
    pub fn ok(record_id: impl Into<String>, transformed: &[u8]) -> Self {
        FirehoseResponseRecord {
            record_id: record_id.into(),
            result: FirehoseResult::Ok,
            data: Base64Data::encode(transformed),
            metadata: None,
        }
    }

    /// `Dropped`, with empty data.
    pub fn dropped(record_id: impl Into<String>) -> Self {
        FirehoseResponseRecord {
            record_id: record_id.into(),
            result: FirehoseResult::Dropped,
            data: Base64Data::default(),
            metadata: None,
        }
    }

    /// `ProcessingFailed`, with no data: Firehose delivers the record's original bytes to its
    /// error output (`processing-failed/`) whatever data comes back, so sending them would only
    /// take room from the records that are `Ok`.
    pub fn processing_failed(record_id: impl Into<String>) -> Self {
        FirehoseResponseRecord {
            record_id: record_id.into(),
            result: FirehoseResult::ProcessingFailed,
            data: Base64Data::default(),
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
            + crate::jsonstr::len(record_id)
            + r#","result":"#.len()
            + crate::jsonstr::len(result.as_str())
            + r#","data":"#.len()
            + 2
            + base64_len(payload_len)
            + "}".len();
        if let Some(keys) = partition_keys {
            len += Self::partition_keys_len(keys);
        }
        len
    }

    /// The bytes `partition_keys` add to a record ([`Self::serialized_len_for`]).
    pub fn partition_keys_len(keys: &BTreeMap<String, String>) -> usize {
        let entries: usize = keys
            .iter()
            .map(|(k, v)| crate::jsonstr::len(k) + 1 + crate::jsonstr::len(v))
            .sum();
        r#","metadata":{"partitionKeys":{"#.len()
            + entries
            + keys.len().saturating_sub(1)
            + "}}".len()
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
