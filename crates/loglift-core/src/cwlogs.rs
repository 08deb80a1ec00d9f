//! CloudWatch Logs subscription payloads: the JSON a log group's subscription filter writes
//! (gzip'd, sometimes zlib'd) into Kinesis or Firehose records. [`parse`] reads it into a
//! [`LogsPayload`]; `CONTROL_MESSAGE`s are recognised so callers can drop them.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::reject::{Reason, Rejection};

/// `messageType` of a subscription payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// `DATA_MESSAGE`: log events.
    DataMessage,
    /// `CONTROL_MESSAGE`: sent when a subscription is created, to check the destination; not data.
    ControlMessage,
}

impl MessageType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::DataMessage => "DATA_MESSAGE",
            MessageType::ControlMessage => "CONTROL_MESSAGE",
        }
    }

    /// The wire name back into the enum.
    pub fn from_wire(name: &str) -> Option<Self> {
        match name {
            "DATA_MESSAGE" => Some(MessageType::DataMessage),
            "CONTROL_MESSAGE" => Some(MessageType::ControlMessage),
            _ => None,
        }
    }
}

/// One subscription payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsPayload {
    pub message_type: MessageType,
    /// The AWS account id (`CloudwatchLogs` in control messages).
    pub owner: String,
    pub log_group: String,
    pub log_stream: String,
    pub subscription_filters: Vec<String>,
    pub log_events: Vec<LogEvent>,
}

/// One log event: its `id` is unique per event, a natural dedupe key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    pub id: String,
    /// Epoch milliseconds.
    pub timestamp: i64,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PayloadWire {
    message_type: String,
    owner: String,
    log_group: String,
    log_stream: String,
    #[serde(default)]
    subscription_filters: Vec<String>,
    log_events: Vec<LogEventWire>,
}

#[derive(Deserialize)]
struct LogEventWire {
    id: String,
    timestamp: i64,
    message: String,
}

impl TryFrom<PayloadWire> for LogsPayload {
    type Error = Rejection;

    fn try_from(wire: PayloadWire) -> Result<Self, Rejection> {
        let message_type = MessageType::from_wire(&wire.message_type).ok_or_else(|| {
            Rejection::new(
                Reason::BadCloudwatchPayload,
                format!(
                    "CloudWatch Logs payload with unknown messageType {:?}",
                    wire.message_type
                ),
            )
        })?;
        Ok(LogsPayload {
            message_type,
            owner: wire.owner,
            log_group: wire.log_group,
            log_stream: wire.log_stream,
            subscription_filters: wire.subscription_filters,
            log_events: wire
                .log_events
                .into_iter()
                .map(|e| LogEvent {
                    id: e.id,
                    timestamp: e.timestamp,
                    message: e.message,
                })
                .collect(),
        })
    }
}

fn malformed(e: &serde_json::Error) -> Rejection {
    Rejection::new(
        Reason::BadCloudwatchPayload,
        format!("not a CloudWatch Logs subscription payload: {e}"),
    )
}

/// Parse a (decompressed) subscription payload.
///
/// Errors: [`Reason::InvalidJson`] when the bytes are not JSON at all, [`Reason::BadCloudwatchPayload`]
/// when they are JSON but not this shape (a missing field, a wrong type, an unknown `messageType`).
pub fn parse(json: &[u8]) -> Result<LogsPayload, Rejection> {
    let wire: PayloadWire = serde_json::from_slice(json).map_err(|e| {
        if e.is_data() {
            malformed(&e)
        } else {
            Rejection::new(
                Reason::InvalidJson,
                format!("CloudWatch Logs payload is not JSON: {e}"),
            )
        }
    })?;
    LogsPayload::try_from(wire)
}

/// Read a payload out of an already parsed JSON object (what the envelope holds after it saw
/// `messageType`), moving its strings rather than parsing again.
pub fn from_map(object: Map<String, Value>) -> Result<LogsPayload, Rejection> {
    let wire: PayloadWire =
        serde_json::from_value(Value::Object(object)).map_err(|e| malformed(&e))?;
    LogsPayload::try_from(wire)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = r#"{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"prod_/srv/idp/shared/log/events.log",
        "logStream":"i-0abc","subscriptionFilters":["to-firehose"],"policyLevel":"ACCOUNT_LEVEL_POLICY",
        "logEvents":[{"id":"3779","timestamp":1591000000000,"message":"{\"name\":\"x\"}\n"},
                     {"id":"3780","timestamp":1591000000001,"message":"plain text"}]}"#;
    const CONTROL: &str = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"",
        "subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1432826855000,
        "message":"CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]}"#;

    #[test]
    fn parses_data_and_control_messages() {
        let data = parse(DATA.as_bytes());
        let Ok(data) = data else { panic!("{data:?}") };
        assert_eq!(data.message_type, MessageType::DataMessage);
        assert_eq!(data.log_group, "prod_/srv/idp/shared/log/events.log");
        assert_eq!(data.subscription_filters, vec!["to-firehose".to_owned()]);
        assert_eq!(data.log_events.len(), 2);
        assert_eq!(
            data.log_events.first().map(|e| e.message.as_str()),
            Some("{\"name\":\"x\"}\n")
        );

        let control = parse(CONTROL.as_bytes()).map(|p| p.message_type);
        assert_eq!(control, Ok(MessageType::ControlMessage));
    }

    #[test]
    fn from_map_matches_parse() {
        let map: Result<Map<String, Value>, _> = serde_json::from_str(DATA);
        let Ok(map) = map else { panic!("{map:?}") };
        assert_eq!(from_map(map), parse(DATA.as_bytes()));
    }

    #[test]
    fn wrong_shapes_are_bad_cloudwatch_payload() {
        let cases = [
            r#"{"messageType":"DATA_MESSAGE"}"#,
            r#"{"messageType":"SOMETHING_ELSE","owner":"1","logGroup":"g","logStream":"s","logEvents":[]}"#,
            r#"{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s","logEvents":[{"id":"1","timestamp":"x","message":"m"}]}"#,
            r#"{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s","logEvents":{}}"#,
            r#"[1,2]"#,
        ];
        for case in cases {
            assert_eq!(
                parse(case.as_bytes()).map_err(|r| r.reason),
                Err(Reason::BadCloudwatchPayload),
                "{case}"
            );
        }
        assert_eq!(
            parse(b"{not json").map_err(|r| r.reason),
            Err(Reason::InvalidJson)
        );
    }
}
