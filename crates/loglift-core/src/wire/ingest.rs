//! What ingest is invoked with (Kinesis or Firehose, read in one pass), and telling an event's source from its JSON.

use super::*;

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
    pub(super) fn detected(json: &[u8]) -> Result<Option<IngestBatch>, WireError> {
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
