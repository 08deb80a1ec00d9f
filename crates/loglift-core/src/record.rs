//! The records stages hand each other: [`RawEvent`] (one NDJSON line in raw objects and in
//! Firehose `Ok` data) and the system columns of a curated row.

use std::borrow::Cow;
use std::io::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::curate::{EventView, Field};
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
pub(crate) fn deeper_than(value: &Value, levels: usize) -> bool {
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

/// A [`RawEvent`] line read borrowed, as transform reads it: the same fields, the same checks
/// (a field missing or of the wrong type fails as it fails there), but `data` is its fields'
/// JSON texts, parsed only when a column asks ([`RawFields`]).
#[derive(Debug, Deserialize)]
pub struct RawEventRef<'a> {
    #[serde(borrow)]
    pub pipeline: Cow<'a, str>,
    #[serde(borrow)]
    pub event_id: Cow<'a, str>,
    #[serde(borrow)]
    pub arrived_at: Cow<'a, str>,
    pub origin: Origin<Cow<'a, str>>,
    #[serde(borrow)]
    pub data: RawFields<'a>,
}

/// An event object's top-level fields as their JSON texts, in order.
#[derive(Debug, Default)]
pub struct RawFields<'a> {
    fields: Vec<(Cow<'a, str>, &'a RawValue)>,
    /// The field after the last one found: columns are asked for in spec order, which is
    /// usually the producer's order too, so it is tried first.
    next: std::cell::Cell<usize>,
}

impl<'a> RawFields<'a> {
    /// Whether a key appears twice (a map keeps its first place and its last value: read such an
    /// event as a [`RawEvent`]).
    pub fn has_repeated_keys(&self) -> bool {
        if self.fields.len() > 32 {
            // Wide events: a set, not every pair.
            let mut seen = std::collections::HashSet::with_capacity(self.fields.len());
            return !self.fields.iter().all(|(key, _)| seen.insert(key.as_ref()));
        }
        self.fields.iter().enumerate().any(|(i, (key, _))| {
            self.fields
                .iter()
                .take(i)
                .any(|(other, _)| other.len() == key.len() && other == key)
        })
    }

    /// The value of `key` (its last, when a key repeats and the hint does not find it first:
    /// read events with repeated keys as a [`RawEvent`], as transform does).
    fn get(&self, key: &str) -> Option<&'a RawValue> {
        let hint = self.next.get();
        let found = match self.fields.get(hint) {
            Some((k, _)) if k == key => Some(hint),
            _ => self
                .fields
                .iter()
                .rposition(|(k, _)| k.len() == key.len() && k == key),
        }?;
        self.next.set(found + 1);
        self.fields.get(found).map(|(_, v)| *v)
    }
}

/// A field's text parsed. Its syntax was checked when the line was read, but a number out of
/// `f64`'s range passes that check and fails here, as the whole line would fail to parse.
fn parse(raw: &RawValue) -> Result<Value, Rejection> {
    let text = raw.get();
    match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) if !crate::jsonstr::has_escape(inner) => Ok(Value::String(inner.to_owned())),
        _ => serde_json::from_str(text)
            .map_err(|e| Rejection::new(Reason::InvalidJson, format!("raw event: {e}"))),
    }
}

impl EventView for RawFields<'_> {
    fn value(&self, path: &str) -> Result<Option<Cow<'_, Value>>, Rejection> {
        if let Some(raw) = self.get(path) {
            return parse(raw).map(|v| Some(Cow::Owned(v)));
        }
        let mut parts = path.split('.');
        let Some(top) = parts.next().and_then(|first| self.get(first)) else {
            return Ok(None);
        };
        let top = parse(top)?;
        let mut current = Some(&top);
        for part in parts {
            current = current.and_then(Value::as_object).and_then(|o| o.get(part));
        }
        Ok(current.map(|v| Cow::Owned(v.clone())))
    }

    fn json_str(&self, key: &str) -> Option<&str> {
        self.get(key)?.get().strip_prefix('"')?.strip_suffix('"')
    }

    fn try_each_field(
        &self,
        skip: &mut dyn FnMut(&str) -> bool,
        f: &mut dyn FnMut(&str, Field<'_>) -> Result<(), Rejection>,
    ) -> Result<(), Rejection> {
        for (key, raw) in self.fields.iter().filter(|(key, _)| !skip(key)) {
            let text = raw.get();
            let verbatim = match text.as_bytes().first() {
                Some(b'"') => !crate::jsonstr::has_escape(text),
                _ => matches!(text, "true" | "false" | "null"),
            };
            let field = if verbatim {
                Field::Verbatim(text)
            } else {
                Field::Value(Cow::Owned(parse(raw)?))
            };
            f(key, field)?;
        }
        Ok(())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawFields<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = RawFields<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(key) = map.next_key_seed(crate::event_json::Key)? {
                    fields.push((key, map.next_value::<&'de RawValue>()?));
                }
                Ok(RawFields {
                    fields,
                    next: std::cell::Cell::new(0),
                })
            }
        }
        d.deserialize_map(Fields)
    }
}

/// Where a raw event came from. Only the fields that apply are written. `S` is `String` when
/// read; ingest writes it with `&str`s borrowed from the record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin<S = String> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<S>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<S>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<S>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subsequence: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_stream: Option<S>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<S>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group: Option<S>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_stream: Option<S>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_event_id: Option<S>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_timestamp_ms: Option<i64>,
    /// Index of the event inside its record (CloudWatch logEvent, KPL user record, NDJSON line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
}

/// Append one raw-event line to `out`: exactly what serialising a [`RawEvent`] with these fields
/// writes (and `\n`), with `data` spliced in as the event's JSON text — compact, one line, an
/// object — instead of being parsed and written again. Written field by field: serde_json's
/// writer escapes byte by byte, which was a sixteenth of ingest's time (ARNs, sequence numbers).
pub fn write_raw_line(
    out: &mut Vec<u8>,
    pipeline: &str,
    event_id: &str,
    arrived_at: &str,
    origin: &Origin<&str>,
    data: &str,
) {
    out.extend_from_slice(b"{\"pipeline\":");
    crate::jsonstr::push(out, pipeline);
    out.extend_from_slice(b",\"event_id\":");
    crate::jsonstr::push(out, event_id);
    out.extend_from_slice(b",\"arrived_at\":");
    crate::jsonstr::push(out, arrived_at);
    out.extend_from_slice(b",\"origin\":{");
    // Every field, so that one added to `Origin` cannot be left out here.
    let Origin {
        stream,
        shard,
        sequence,
        subsequence,
        delivery_stream,
        record_id,
        log_group,
        log_stream,
        log_event_id,
        log_timestamp_ms,
        index,
    } = origin;
    let mut fields = OriginFields { out, first: true };
    fields.text("stream", *stream);
    fields.text("shard", *shard);
    fields.text("sequence", *sequence);
    fields.number("subsequence", *subsequence);
    fields.text("delivery_stream", *delivery_stream);
    fields.text("record_id", *record_id);
    fields.text("log_group", *log_group);
    fields.text("log_stream", *log_stream);
    fields.text("log_event_id", *log_event_id);
    fields.number("log_timestamp_ms", *log_timestamp_ms);
    fields.number("index", *index);
    out.extend_from_slice(b"},\"data\":");
    out.extend_from_slice(data.as_bytes());
    out.extend_from_slice(b"}\n");
}

/// An [`Origin`]'s fields written one by one, those that are `None` left out.
struct OriginFields<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl OriginFields<'_> {
    fn key(&mut self, name: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn text(&mut self, name: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.key(name);
            crate::jsonstr::push(self.out, value);
        }
    }

    fn number(&mut self, name: &str, value: Option<impl std::fmt::Display>) {
        if let Some(value) = value {
            self.key(name);
            let _ = write!(self.out, "{value}");
        }
    }
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
    fn a_written_raw_line_is_the_serialised_raw_event() {
        let data = r#"{"id":"e1","n":[1,2.5,{"x":null}],"s":"caf\u00e9 \"q\""}"#;
        let some = Origin {
            stream: Some("logs"),
            shard: Some("shardId-000000000001"),
            sequence: Some("4959"),
            subsequence: Some(3),
            log_group: Some("/aws/lambda/f \"quoted\""),
            log_event_id: Some("3595"),
            log_timestamp_ms: Some(1_700_000_000_000),
            index: Some(7),
            ..Origin::default()
        };
        let every = Origin {
            stream: Some("arn:aws:kinesis:us-east-1:123456789012:stream/s"),
            shard: Some("shardId-000000000000"),
            sequence: Some("49590338271490256608559692538361571095921575989136588898"),
            subsequence: Some(u64::MAX),
            delivery_stream: Some("ds\\x"),
            record_id: Some("49546986683135544286507457936321625675700192471156785154"),
            log_group: Some("g\u{1f}"),
            log_stream: Some("st é"),
            log_event_id: Some("0"),
            log_timestamp_ms: Some(-1),
            index: Some(u32::MAX),
        };
        for (id, origin) in [("e\u{1}1", some), ("e2", every), ("", Origin::default())] {
            let mut line = b"kept".to_vec();
            write_raw_line(
                &mut line,
                "app_logs",
                id,
                "2026-11-21T10:00:00.000Z",
                &origin,
                data,
            );
            let owned = |s: Option<&str>| s.map(str::to_owned);
            let event = RawEvent {
                pipeline: "app_logs".into(),
                event_id: id.into(),
                arrived_at: "2026-11-21T10:00:00.000Z".into(),
                origin: Origin {
                    stream: owned(origin.stream),
                    shard: owned(origin.shard),
                    sequence: owned(origin.sequence),
                    subsequence: origin.subsequence,
                    delivery_stream: owned(origin.delivery_stream),
                    record_id: owned(origin.record_id),
                    log_group: owned(origin.log_group),
                    log_stream: owned(origin.log_stream),
                    log_event_id: owned(origin.log_event_id),
                    log_timestamp_ms: origin.log_timestamp_ms,
                    index: origin.index,
                },
                data: serde_json::from_str(data).unwrap_or_default(),
            };
            let mut want = b"kept".to_vec();
            serde_json::to_writer(&mut want, &event).unwrap();
            want.push(b'\n');
            assert_eq!(
                String::from_utf8_lossy(&line),
                String::from_utf8_lossy(&want).replace("café", "caf\\u00e9"),
                "the same line, data as sent"
            );
            let back: RawEvent = serde_json::from_slice(line.get(4..).unwrap_or_default())
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(back, event);
        }
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
