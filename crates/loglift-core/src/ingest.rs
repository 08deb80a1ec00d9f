//! The pure half of ingest: one record's bytes → routed, identified raw-event lines and rejects.
//! The handlers in `loglift-stages` group the lines into objects (Kinesis path) or Firehose
//! responses, and write the rejects.

use std::ops::ControlFlow;

use chrono::{DateTime, Utc};
use serde_json::Map;

use crate::envelope::{read_record, EventBody, EventRef, Item, Limits, Read};
use crate::identity::event_id;
use crate::record::{write_raw_line, Origin as RawOrigin};
use crate::reject::{Reason, Rejection};
use crate::route::{Origin, Router};
use crate::spec::Pipeline;
use crate::textlog;
use crate::timefmt;

/// What ingest knows of a record besides its bytes, borrowed from the batch it came in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordContext<'a> {
    /// The Kinesis stream the record came through, when there was one.
    pub stream: Option<&'a str>,
    /// The Firehose delivery stream, on the Firehose path.
    pub delivery_stream: Option<&'a str>,
    pub shard: Option<&'a str>,
    pub sequence: Option<&'a str>,
    pub subsequence: Option<u64>,
    pub record_id: Option<&'a str>,
    pub arrival: DateTime<Utc>,
}

impl RecordContext<'_> {
    /// The stream name `match.stream` is compared with: the Kinesis stream, else the delivery stream.
    fn stream_name(&self) -> &str {
        self.stream.or(self.delivery_stream).unwrap_or_default()
    }
}

/// One event ready for raw storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedEvent {
    pub pipeline: String,
    pub event_id: String,
    /// The serialised [`RawEvent`], ending in `\n`.
    pub line: Vec<u8>,
}

/// One event (or the whole record, `position: None`) that ingest could not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRejection {
    pub position: Option<u32>,
    pub pipeline: Option<String>,
    pub rejection: Rejection,
    pub raw: Vec<u8>,
}

/// What became of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    /// A CloudWatch Logs CONTROL_MESSAGE (or a record with no events): dropped, not an error.
    Dropped,
    /// Events routed and identified, and the events that could not be (possibly none of either).
    Events {
        events: Vec<RoutedEvent>,
        rejects: Vec<EventRejection>,
    },
    /// The whole record could not be decoded.
    Rejected(EventRejection),
}

/// One routed, identified event, lent to [`route_record`]'s sink: `line` is a buffer the next
/// event reuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routed<'p, 'e> {
    pub pipeline: &'p str,
    pub event_id: &'e str,
    /// The serialised [`crate::record::RawEvent`], ending in `\n`.
    pub line: &'e [u8],
}

/// What became of one record whose events went to [`route_record`]'s sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routing {
    /// As [`RecordOutcome::Dropped`].
    Dropped,
    /// Its events and event rejects went to the sink (possibly none of either).
    Events,
    /// As [`RecordOutcome::Rejected`].
    Rejected(EventRejection),
}

/// Unwrap, route and identify one record. Each event is routed and written as it is read
/// ([`read_record`]): a JSON event's line carries its text as sent, never re-serialised.
pub fn process_record(
    router: &Router<'_>,
    data: &[u8],
    ctx: &RecordContext,
    limits: &Limits,
) -> RecordOutcome {
    let (mut events, mut rejects) = (Vec::new(), Vec::new());
    let routing = route_record(router, data, ctx, limits, &mut Vec::new(), &mut |item| {
        match item {
            Ok(e) => events.push(RoutedEvent {
                pipeline: e.pipeline.to_owned(),
                event_id: e.event_id.to_owned(),
                line: e.line.to_vec(),
            }),
            Err(reject) => rejects.push(reject),
        }
        ControlFlow::Continue(())
    });
    match routing {
        Routing::Dropped => RecordOutcome::Dropped,
        Routing::Events => RecordOutcome::Events { events, rejects },
        Routing::Rejected(r) => RecordOutcome::Rejected(r),
    }
}

/// [`process_record`] without owning what it makes: each event is lent to `sink` as it is
/// written into `line` (cleared first, reused), and each event reject given to it, in order.
/// The handlers' path: an event costs no allocation beyond its id. A record rejected whole
/// ([`Routing::Rejected`]) has given the sink nothing: [`read_record`] fails, if at all, before
/// its first item. A sink that answers [`ControlFlow::Break`] is given nothing more of the record
/// (the Firehose handler stops reading a record whose answer can no longer fit its response).
pub fn route_record<'p>(
    router: &Router<'p>,
    data: &[u8],
    ctx: &RecordContext,
    limits: &Limits,
    line: &mut Vec<u8>,
    sink: &mut dyn FnMut(Result<Routed<'p, '_>, EventRejection>) -> ControlFlow<()>,
) -> Routing {
    // Log groups whose pipeline reads text: their messages are parsed after routing.
    let text_group = |log_group: &str| {
        router
            .route(
                Origin::Logs {
                    log_group,
                    stream: ctx.stream,
                },
                None,
            )
            .is_some_and(|p| p.text.is_some())
    };
    let arrived_at = timefmt::Rfc3339Millis::of(ctx.arrival);
    let mut items = 0usize;
    let read = read_record(data, limits, &text_group, router.wanted(), &mut |item| {
        items += 1;
        match item {
            Item::Event(event) => {
                match route_event(router, event, ctx, arrived_at.as_str(), line) {
                    Ok(Some((pipeline, id))) => sink(Ok(Routed {
                        pipeline,
                        event_id: &id,
                        line,
                    })),
                    Ok(None) => ControlFlow::Continue(()),
                    Err(reject) => sink(Err(reject)),
                }
            }
            Item::Reject(r) => sink(Err(EventRejection {
                position: Some(r.position),
                pipeline: None,
                rejection: r.rejection,
                raw: r.raw,
            })),
        }
    });
    match read {
        Err(rejection) => Routing::Rejected(EventRejection {
            position: None,
            pipeline: None,
            rejection,
            raw: data.to_vec(),
        }),
        Ok(Read::Control { .. }) => Routing::Dropped,
        Ok(Read::Events { .. }) if items == 0 => Routing::Dropped,
        Ok(Read::Events { .. }) => Routing::Events,
    }
}

/// Route, parse (text log events) and identify one event, writing its raw line into `line`:
/// its pipeline's name and its id, `None` for a text header line.
fn route_event<'p>(
    router: &Router<'p>,
    event: EventRef<'_>,
    ctx: &RecordContext,
    arrived_at: &str,
    line: &mut Vec<u8>,
) -> Result<Option<(&'p str, String)>, EventRejection> {
    let reject = |pipeline: Option<&str>, rejection: Rejection| EventRejection {
        position: Some(event.position),
        pipeline: pipeline.map(str::to_owned),
        rejection,
        raw: match &event.body {
            EventBody::Json(json) => json.text.as_bytes().to_vec(),
            EventBody::Text(text) => text.as_bytes().to_vec(),
        },
    };
    let origin = match &event.log {
        Some(log) => Origin::Logs {
            log_group: log.log_group,
            stream: ctx.stream,
        },
        None => Origin::Stream {
            stream: ctx.stream_name(),
        },
    };
    let no_fields = Map::new();
    let fields = match &event.body {
        EventBody::Json(json) => &json.fields,
        EventBody::Text(_) => &no_fields,
    };
    let Some(pipeline) = router.route(origin, Some(fields)) else {
        let what = match &event.log {
            Some(log) => format!("log group `{}`", log.log_group),
            None => format!("stream `{}`", ctx.stream_name()),
        };
        return Err(reject(
            None,
            Rejection::new(
                Reason::UnknownPipeline,
                format!("no pipeline matches {what}"),
            ),
        ));
    };
    let parsed;
    let (fields, data) = match &event.body {
        EventBody::Json(json) => (&json.fields, json.text.clone()),
        EventBody::Text(text) => {
            match parse_text(pipeline, text, event.log.map(|l| l.timestamp_ms)) {
                Ok(Some(object)) => parsed = object,
                Ok(None) => return Ok(None),
                Err(rejection) => return Err(reject(Some(&pipeline.name), rejection)),
            }
            let text = serde_json::to_string(&parsed).unwrap_or_default();
            (&parsed, std::borrow::Cow::Owned(text))
        }
    };
    let log = event.log;
    let id = match event_id(&pipeline.identity, fields, log.map(|l| l.id)) {
        Ok(id) => id,
        Err(rejection) => return Err(reject(Some(&pipeline.name), rejection)),
    };
    let origin = RawOrigin {
        stream: ctx.stream,
        shard: ctx.shard,
        sequence: ctx.sequence,
        subsequence: ctx.subsequence,
        delivery_stream: ctx.delivery_stream,
        record_id: ctx.record_id,
        log_group: log.map(|l| l.log_group),
        log_stream: log.map(|l| l.log_stream),
        log_event_id: log.map(|l| l.id),
        log_timestamp_ms: log.map(|l| l.timestamp_ms),
        index: Some(event.position),
    };
    line.clear();
    write_raw_line(line, &pipeline.name, &id, arrived_at, &origin, &data);
    Ok(Some((&pipeline.name, id)))
}

/// A CloudWatch Logs message read by its pipeline's `text` format: the row (with the log event's
/// timestamp as [`textlog::LOG_TIMESTAMP`]), `None` for a header line, or the reject.
fn parse_text(
    pipeline: &Pipeline,
    message: &str,
    timestamp_ms: Option<i64>,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, Rejection> {
    let line = message.strip_suffix('\n').unwrap_or(message);
    let Some(spec) = &pipeline.text else {
        // The pipeline reads JSON after all (a topic rule chose another pipeline).
        return serde_json::from_str(line).map_err(|e| {
            Rejection::new(
                Reason::InvalidJson,
                format!("message is not a JSON object: {e}"),
            )
        });
    };
    let parser = spec.parser(pipeline).map_err(|e| {
        Rejection::new(
            Reason::NoMatch,
            format!("pipeline `{}` text: {e}", pipeline.name),
        )
    })?;
    let time = timestamp_ms.and_then(DateTime::<Utc>::from_timestamp_millis);
    let mut reader = parser.reader(time.unwrap_or_default());
    match reader.line(line) {
        textlog::Line::Row(mut object) => {
            if let Some(t) = time {
                object
                    .entry(textlog::LOG_TIMESTAMP)
                    .or_insert_with(|| textlog::time::write(t).into());
            }
            Ok(Some(object))
        }
        textlog::Line::Skip => Ok(None),
        textlog::Line::Reject(rejection) => Err(rejection),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RawEvent;
    use crate::spec::Spec;
    use chrono::TimeZone;

    fn spec() -> Spec {
        Spec::parse(include_str!("../../../spec/pipelines.yaml"))
            .unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn ctx(stream: &str) -> RecordContext<'_> {
        RecordContext {
            stream: Some(stream),
            shard: Some("shardId-000000000000"),
            sequence: Some("49590338271490256608559692538361571095921575989136588898"),
            arrival: Utc
                .with_ymd_and_hms(2026, 11, 21, 10, 0, 0)
                .single()
                .unwrap_or_default(),
            ..RecordContext::default()
        }
    }

    #[test]
    fn a_json_record_becomes_one_raw_line() {
        let spec = spec();
        let router = Router::new(&spec);
        let out = process_record(
            &router,
            br#"{"request_id":"r1","topic":"t"}"#,
            &ctx("user-events"),
            &Limits::default(),
        );
        let RecordOutcome::Events { events, rejects } = out else {
            panic!("{out:?}")
        };
        assert!(rejects.is_empty());
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_id, "r1");
        let raw: RawEvent =
            serde_json::from_slice(&events[0].line).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(raw.pipeline, "user_events");
        assert_eq!(raw.arrived_at, "2026-11-21T10:00:00.000Z");
        assert_eq!(raw.origin.shard.as_deref(), Some("shardId-000000000000"));
        assert_eq!(raw.data.get("topic").and_then(|v| v.as_str()), Some("t"));
    }

    #[test]
    fn unknown_stream_and_missing_identity_are_event_rejects() {
        let spec = spec();
        let router = Router::new(&spec);
        let out = process_record(
            &router,
            b"{\"a\":1}\n{\"request_id\":\"x\"}\nnot json\n",
            &ctx("user-events"),
            &Limits::default(),
        );
        let RecordOutcome::Events { events, rejects } = out else {
            panic!("{out:?}")
        };
        assert_eq!(events.len(), 1);
        let reasons: Vec<(Option<u32>, Reason)> = rejects
            .iter()
            .map(|r| (r.position, r.rejection.reason))
            .collect();
        assert!(
            reasons.contains(&(Some(0), Reason::MissingIdentity)),
            "{reasons:?}"
        );
        assert!(
            reasons.contains(&(Some(2), Reason::InvalidJson)),
            "{reasons:?}"
        );
        let out = process_record(
            &router,
            br#"{"request_id":"x"}"#,
            &ctx("nobody"),
            &Limits::default(),
        );
        let RecordOutcome::Events { rejects, .. } = out else {
            panic!("{out:?}")
        };
        assert_eq!(rejects[0].rejection.reason, Reason::UnknownPipeline);
        assert_eq!(rejects[0].raw, br#"{"request_id":"x"}"#);
    }

    #[test]
    fn whole_record_failures_and_control_messages() {
        let spec = spec();
        let router = Router::new(&spec);
        let out = process_record(
            &router,
            b"\x1f\x8b\x08\x00garbage",
            &ctx("user-events"),
            &Limits::default(),
        );
        let RecordOutcome::Rejected(r) = out else {
            panic!("{out:?}")
        };
        assert_eq!(r.rejection.reason, Reason::BadCompression);
        let control = crate::compress::gzip(br#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#);
        assert_eq!(
            process_record(&router, &control, &ctx("logs"), &Limits::default()),
            RecordOutcome::Dropped
        );
    }

    #[test]
    fn text_log_groups_are_parsed_after_routing_and_unmatched_lines_are_no_match() {
        let spec = Spec::parse(
            "version: 1\npipelines:\n  - name: fn_logs\n    match: { log_group: \"/aws/lambda/*\" }\n    format: cloudwatch_logs\n    text: { format: lambda_platform }\n    table: logs.fn\n    identity: log_event_id\n    event_time: at\n    columns:\n      - { name: at, type: timestamp, source: log_timestamp }\n      - { name: duration_ms, type: float }\n",
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        let router = Router::new(&spec);
        let events = serde_json::json!({
            "messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "/aws/lambda/f",
            "logStream": "s", "subscriptionFilters": ["f"],
            "logEvents": [
                {"id": "e1", "timestamp": 1_700_000_000_000_i64,
                 "message": "REPORT RequestId: r1\tDuration: 1.50 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\t\n"},
                {"id": "e2", "timestamp": 1_700_000_000_001_i64, "message": "hello from the function\n"},
                {"id": "e3", "timestamp": 1_700_000_000_002_i64, "message": "{\"not\":\"parsed as json\"}"},
            ]
        });
        let payload = crate::compress::gzip(events.to_string().as_bytes());

        let out = process_record(&router, &payload, &ctx("logs"), &Limits::default());
        let RecordOutcome::Events { events, rejects } = out else {
            panic!("{out:?}")
        };
        assert_eq!(events.len(), 1, "{rejects:?}");
        let raw: RawEvent =
            serde_json::from_slice(&events[0].line).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(events[0].event_id, "e1");
        assert_eq!(raw.data.get("duration_ms"), Some(&serde_json::json!(1.5)));
        assert_eq!(
            raw.data.get("log_timestamp"),
            Some(&serde_json::json!("2023-11-14T22:13:20Z"))
        );
        let got: Vec<_> = rejects
            .iter()
            .map(|r| {
                (
                    r.position,
                    r.pipeline.as_deref(),
                    r.rejection.reason,
                    r.raw.as_slice(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    Some(1),
                    Some("fn_logs"),
                    Reason::NoMatch,
                    b"hello from the function\n".as_slice()
                ),
                (
                    Some(2),
                    Some("fn_logs"),
                    Reason::NoMatch,
                    br#"{"not":"parsed as json"}"#.as_slice()
                ),
            ]
        );
    }

    #[test]
    fn cloudwatch_events_route_by_log_group_and_keep_their_id() {
        let spec = spec();
        let router = Router::new(&spec);
        let payload = crate::compress::gzip(br#"{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"prod_/srv/idp/shared/log/events.log","logStream":"i-1","subscriptionFilters":["f"],"logEvents":[{"id":"3595","timestamp":1700000000000,"message":"{\"id\":\"ev-1\",\"name\":\"Email Sent\",\"time\":\"2026-11-21T10:00:00Z\"}"}]}"#);
        let out = process_record(&router, &payload, &ctx("logs"), &Limits::default());
        let RecordOutcome::Events { events, rejects } = out else {
            panic!("{out:?}")
        };
        assert!(rejects.is_empty(), "{rejects:?}");
        assert_eq!(
            (events[0].pipeline.as_str(), events[0].event_id.as_str()),
            ("app_logs", "ev-1")
        );
        let raw: RawEvent =
            serde_json::from_slice(&events[0].line).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(raw.origin.log_event_id.as_deref(), Some("3595"));
    }
}
