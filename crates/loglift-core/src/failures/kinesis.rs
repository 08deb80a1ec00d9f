//! Kinesis on-failure records: SQS/SNS metadata of a batch a mapping gave up on, or its S3 payload.

use super::*;

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
pub(super) struct OnFailureWire {
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
pub(super) struct RequestContextWire {
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
pub(super) struct ResponseContextWire {
    #[serde(default)]
    status_code: Value,
    #[serde(default)]
    executed_version: Value,
    #[serde(default)]
    function_error: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct KinesisBatchInfoWire {
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
pub(super) fn unwrap_sns(value: Value) -> Result<Value, FailureError> {
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
