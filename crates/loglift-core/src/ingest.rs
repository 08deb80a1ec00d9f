//! The pure half of ingest: one record's bytes → routed, identified raw-event lines and rejects.
//! The handlers in `loglift-stages` group the lines into objects (Kinesis path) or Firehose
//! responses, and write the rejects.

use chrono::{DateTime, Utc};

use crate::envelope::{unwrap_record, Event, Limits, Unwrapped};
use crate::identity::event_id;
use crate::record::{Origin as RawOrigin, RawEvent};
use crate::reject::{Reason, Rejection};
use crate::route::{Origin, Router};
use crate::timefmt;

/// What ingest knows of a record besides its bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordContext {
    /// The Kinesis stream the record came through, when there was one.
    pub stream: Option<String>,
    /// The Firehose delivery stream, on the Firehose path.
    pub delivery_stream: Option<String>,
    pub shard: Option<String>,
    pub sequence: Option<String>,
    pub subsequence: Option<u64>,
    pub record_id: Option<String>,
    pub arrival: DateTime<Utc>,
}

impl RecordContext {
    /// The stream name `match.stream` is compared with: the Kinesis stream, else the delivery stream.
    fn stream_name(&self) -> &str {
        self.stream
            .as_deref()
            .or(self.delivery_stream.as_deref())
            .unwrap_or_default()
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

/// Unwrap, route and identify one record.
pub fn process_record(
    router: &Router<'_>,
    data: &[u8],
    ctx: &RecordContext,
    limits: &Limits,
) -> RecordOutcome {
    let whole = |rejection: Rejection| {
        RecordOutcome::Rejected(EventRejection {
            position: None,
            pipeline: None,
            rejection,
            raw: data.to_vec(),
        })
    };
    let (events, event_rejects) = match unwrap_record(data, limits) {
        Err(rejection) => return whole(rejection),
        Ok(Unwrapped::Control { .. }) => return RecordOutcome::Dropped,
        Ok(Unwrapped::Events {
            events, rejects, ..
        }) => (events, rejects),
    };
    if events.is_empty() && event_rejects.is_empty() {
        return RecordOutcome::Dropped;
    }
    let mut rejects: Vec<EventRejection> = event_rejects
        .into_iter()
        .map(|r| EventRejection {
            position: Some(r.position),
            pipeline: None,
            rejection: r.rejection,
            raw: r.raw,
        })
        .collect();
    let mut routed = Vec::with_capacity(events.len());
    let arrived_at = timefmt::rfc3339(ctx.arrival);
    for event in events {
        match route_event(router, event, ctx, &arrived_at) {
            Ok(r) => routed.push(r),
            Err(r) => rejects.push(r),
        }
    }
    RecordOutcome::Events {
        events: routed,
        rejects,
    }
}

fn route_event(
    router: &Router<'_>,
    event: Event,
    ctx: &RecordContext,
    arrived_at: &str,
) -> Result<RoutedEvent, EventRejection> {
    let reject = |event: &Event, pipeline: Option<&str>, rejection: Rejection| EventRejection {
        position: Some(event.position),
        pipeline: pipeline.map(str::to_owned),
        rejection,
        raw: serde_json::to_vec(&event.object).unwrap_or_default(),
    };
    let origin = match &event.log {
        Some(log) => Origin::Logs {
            log_group: &log.log_group,
            stream: ctx.stream.as_deref(),
        },
        None => Origin::Stream {
            stream: ctx.stream_name(),
        },
    };
    let Some(pipeline) = router.route(origin, Some(&event.object)) else {
        let what = match &event.log {
            Some(log) => format!("log group `{}`", log.log_group),
            None => format!("stream `{}`", ctx.stream_name()),
        };
        return Err(reject(
            &event,
            None,
            Rejection::new(
                Reason::UnknownPipeline,
                format!("no pipeline matches {what}"),
            ),
        ));
    };
    let id = match event_id(
        &pipeline.identity,
        &event.object,
        event.log.as_ref().map(|l| l.id.as_str()),
    ) {
        Ok(id) => id,
        Err(rejection) => return Err(reject(&event, Some(&pipeline.name), rejection)),
    };
    let log = event.log;
    let raw = RawEvent {
        pipeline: pipeline.name.clone(),
        event_id: id.clone(),
        arrived_at: arrived_at.to_owned(),
        origin: RawOrigin {
            stream: ctx.stream.clone(),
            shard: ctx.shard.clone(),
            sequence: ctx.sequence.clone(),
            subsequence: ctx.subsequence,
            delivery_stream: ctx.delivery_stream.clone(),
            record_id: ctx.record_id.clone(),
            log_group: log.as_ref().map(|l| l.log_group.clone()),
            log_stream: log.as_ref().map(|l| l.log_stream.clone()),
            log_event_id: log.as_ref().map(|l| l.id.clone()),
            log_timestamp_ms: log.as_ref().map(|l| l.timestamp_ms),
            index: Some(event.position),
        },
        data: event.object,
    };
    let mut line = serde_json::to_vec(&raw).unwrap_or_default();
    line.push(b'\n');
    Ok(RoutedEvent {
        pipeline: pipeline.name.clone(),
        event_id: id,
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Spec;
    use chrono::TimeZone;

    fn spec() -> Spec {
        Spec::parse(include_str!("../../../spec/pipelines.yaml"))
            .unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn ctx(stream: &str) -> RecordContext {
        RecordContext {
            stream: Some(stream.into()),
            shard: Some("shardId-000000000000".into()),
            sequence: Some("49590338271490256608559692538361571095921575989136588898".into()),
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
