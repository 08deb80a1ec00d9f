//! The records stages hand each other: [`RawEvent`] (one NDJSON line in raw objects and in
//! Firehose `Ok` data) and the system columns of a curated row.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::reject::{Reason, Rejection};

/// The deepest an event may nest (the event object is level 1). serde_json reads at most 127
/// levels, and the lines written from an event nest one level deeper than it (a raw line's
/// `data`, a curated row's `extra`), so a deeper event would be written but never read back.
pub const MAX_EVENT_DEPTH: usize = 126;

/// [`Reason::InvalidJson`] when `event` nests deeper than [`MAX_EVENT_DEPTH`] levels.
pub fn check_event_depth(event: &Map<String, Value>) -> Result<(), Rejection> {
    let too_deep = event
        .values()
        .any(|v| deeper_than(v, MAX_EVENT_DEPTH.saturating_sub(1)));
    if too_deep {
        return Err(Rejection::new(
            Reason::InvalidJson,
            format!("the event nests deeper than {MAX_EVENT_DEPTH} levels of objects and arrays"),
        ));
    }
    Ok(())
}

/// Whether `value` nests more than `levels` levels of objects and arrays.
fn deeper_than(value: &Value, levels: usize) -> bool {
    let below = levels.saturating_sub(1);
    match value {
        Value::Array(items) => levels == 0 || items.iter().any(|v| deeper_than(v, below)),
        Value::Object(map) => levels == 0 || map.values().any(|v| deeper_than(v, below)),
        _ => false,
    }
}

/// One event as ingest writes it to raw: identity and pipeline added, the event itself untouched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawEvent {
    pub pipeline: String,
    pub event_id: String,
    /// When the record reached Kinesis or Firehose (RFC 3339, UTC, milliseconds).
    pub arrived_at: String,
    pub origin: Origin,
    /// The event, as it was sent.
    pub data: Map<String, Value>,
}

/// Where a raw event came from. Only the fields that apply are written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subsequence: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_stream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_stream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_timestamp_ms: Option<i64>,
    /// Index of the event inside its record (CloudWatch logEvent, KPL user record, NDJSON line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
}

/// The system columns every curated row carries after the schema's columns, in this order.
/// `extra` holds the event's fields the schema does not name (JSON object, or null).
pub const CURATED_SYSTEM_COLUMNS: [&str; 6] = [
    "extra",
    "event_id",
    "event_time",
    "source_object",
    "spec_version",
    "ingested_at",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_deeper_than_a_raw_line_can_hold_are_rejected() {
        let event = |levels: usize| -> Map<String, Value> {
            let text = format!(
                "{}1{}",
                "{\"a\":".repeat(levels - 1),
                "}".repeat(levels - 1)
            );
            let text = format!("{{\"a\":{text}}}");
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{levels}: {e}"))
        };
        assert_eq!(check_event_depth(&event(MAX_EVENT_DEPTH)), Ok(()));
        let deepest = RawEvent {
            pipeline: "p".into(),
            event_id: "e".into(),
            arrived_at: "t".into(),
            origin: Origin::default(),
            data: event(MAX_EVENT_DEPTH),
        };
        let line = serde_json::to_string(&deepest).unwrap_or_default();
        assert!(serde_json::from_str::<RawEvent>(&line).is_ok(), "read back");
        let rejected = check_event_depth(&event(MAX_EVENT_DEPTH + 1)).map_err(|r| r.reason);
        assert_eq!(rejected, Err(Reason::InvalidJson));
    }

    #[test]
    fn raw_event_line_shape() {
        let line = r#"{"pipeline":"app_logs","event_id":"e1","arrived_at":"2026-11-21T10:00:00.000Z","origin":{"stream":"logs","log_group":"/srv/idp/shared/log/events.log","log_event_id":"3595","index":2},"data":{"id":"e1","name":"x"}}"#;
        let e: RawEvent = serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(e.origin.index, Some(2));
        assert_eq!(
            serde_json::to_string(&e).ok().as_deref(),
            Some(line),
            "round trip is byte-exact"
        );
    }
}
