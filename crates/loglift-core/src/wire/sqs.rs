//! The SQS event-source event and the partial-batch response (`batchItemFailures`).

use super::*;

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
pub(super) struct SqsEventWire {
    #[serde(rename = "Records", default)]
    records: Vec<SqsRecordWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SqsRecordWire {
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
pub(super) struct SqsAttributesWire {
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

    pub(super) fn from_wire(wire: SqsEventWire) -> Result<Self, WireError> {
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
    pub(super) fn from_wire(i: usize, wire: SqsRecordWire) -> Result<Self, WireError> {
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
