//! Every sample event under `samples/events/` is read with `wire` and each record unwrapped with
//! `envelope::unwrap_record_with` (the log groups of the shipped spec's text pipelines read as
//! text, as ingest does); the table below is the expected outcome per record (it is also what
//! `samples/README.md` says). A file in the folder that is not in the table fails the listing test.

use std::collections::BTreeSet;

use loglift_core::envelope::{unwrap_record, unwrap_record_with, Limits, Unwrapped};
use loglift_core::reject::{Reason, Rejection};
use loglift_core::route::{Origin, Router};
use loglift_core::spec::Spec;
use loglift_core::wire::{self, EventShape, FirehoseBatch, KinesisBatch};

/// What one record of a sample must unwrap to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// This many events, no rejects.
    Events(usize),
    /// Events from a CloudWatch Logs payload of this log group.
    Logs(usize, &'static str),
    /// Text events (unparsed messages) from a log group a text pipeline reads.
    Text(usize, &'static str),
    /// A CONTROL_MESSAGE, dropped.
    Control,
    /// Events beside rejected events (in position order).
    Partly(usize, &'static [Reason]),
    /// The whole record is rejected by `unwrap_record`.
    Rejected(Reason),
    /// The record's `data` never decoded (base64), so it is never unwrapped.
    BadData(Reason),
}

use Outcome::*;

struct Sample {
    name: &'static str,
    bytes: &'static [u8],
    shape: EventShape,
    /// Kinesis: the stream of every record; Firehose: the source stream, if any.
    stream: Option<&'static str>,
    records: &'static [Outcome],
}

macro_rules! sample {
    ($name:literal, $shape:expr, $stream:expr, $records:expr) => {
        Sample {
            name: $name,
            bytes: include_bytes!(concat!("../../../samples/events/", $name)),
            shape: $shape,
            stream: $stream,
            records: $records,
        }
    };
}

const IDP_PROD: &str = "prod_/srv/idp/shared/log/events.log";
const IDP: &str = "/srv/idp/shared/log/events.log";

fn samples() -> Vec<Sample> {
    vec![
        sample!(
            "firehose-user-events.json",
            EventShape::Firehose,
            Some("user-events"),
            &[Events(1), Events(1), Events(1), Events(1)]
        ),
        sample!(
            "firehose-console-sample.json",
            EventShape::Firehose,
            None,
            &[Events(1), Events(1)]
        ),
        sample!(
            "firehose-cloudwatch-logs.json",
            EventShape::Firehose,
            None,
            &[Control, Logs(3, IDP_PROD), Logs(2, IDP)]
        ),
        sample!(
            "firehose-empty.json",
            EventShape::Firehose,
            Some("user-events"),
            &[]
        ),
        sample!(
            "kinesis-user-events.json",
            EventShape::Kinesis,
            Some("user-events"),
            &[Events(1), Events(2), Events(1), Events(1), Events(1)]
        ),
        sample!(
            "kinesis-user-utm.json",
            EventShape::Kinesis,
            Some("user-utm"),
            &[Events(1), Events(1), Events(1)]
        ),
        sample!(
            "kinesis-kpl-aggregate.json",
            EventShape::Kinesis,
            Some("user-events"),
            &[Events(3), Rejected(Reason::KplChecksum)]
        ),
        sample!(
            "kinesis-bad-records.json",
            EventShape::Kinesis,
            Some("user-events"),
            &[
                BadData(Reason::BadBase64),
                Rejected(Reason::BadCompression),
                Rejected(Reason::TooLarge),
                Events(1),
                Rejected(Reason::InvalidUtf8),
                Partly(0, &[Reason::InvalidJson]),
                Rejected(Reason::Empty),
            ]
        ),
        sample!(
            "kinesis-unknown-stream.json",
            EventShape::Kinesis,
            Some("nobody-routes-this"),
            &[Events(1), Events(1)]
        ),
        sample!("kinesis-empty.json", EventShape::Kinesis, None, &[]),
        sample!(
            "kinesis-lambda-logs.json",
            EventShape::Kinesis,
            Some("logs"),
            &[
                Text(5, "/aws/lambda/checkout-api"),
                Text(6, "/aws/lambda/resize-image")
            ]
        ),
    ]
}

/// An [`Outcome`] as observed (owned).
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Events(usize),
    Logs(usize, String),
    Text(usize, String),
    Control,
    Partly(usize, Vec<Reason>),
    Rejected(Reason),
    BadData(Reason),
}

impl From<&Outcome> for Got {
    fn from(outcome: &Outcome) -> Self {
        match *outcome {
            Events(n) => Got::Events(n),
            Logs(n, group) => Got::Logs(n, group.to_owned()),
            Text(n, group) => Got::Text(n, group.to_owned()),
            Control => Got::Control,
            Partly(n, reasons) => Got::Partly(n, reasons.to_vec()),
            Rejected(reason) => Got::Rejected(reason),
            BadData(reason) => Got::BadData(reason),
        }
    }
}

/// The outcome of one record, in the table's terms.
fn outcome(router: &Router<'_>, data: &Result<Vec<u8>, Rejection>) -> Got {
    let data = match data {
        Ok(data) => data,
        Err(rejection) => return Got::BadData(rejection.reason),
    };
    let text_group = |log_group: &str| {
        router
            .route(
                Origin::Logs {
                    log_group,
                    stream: None,
                },
                None,
            )
            .is_some_and(|p| p.text.is_some())
    };
    match unwrap_record_with(data, &Limits::default(), &text_group) {
        Err(rejection) => Got::Rejected(rejection.reason),
        Ok(Unwrapped::Control { .. }) => Got::Control,
        Ok(Unwrapped::Events {
            log_group,
            events,
            rejects,
        }) => {
            if !rejects.is_empty() {
                return Got::Partly(
                    events.len(),
                    rejects.iter().map(|r| r.rejection.reason).collect(),
                );
            }
            match log_group {
                Some(group) => {
                    assert!(events
                        .iter()
                        .all(|e| e.log.as_ref().is_some_and(|l| l.log_group == group)));
                    if events.iter().all(|e| e.text.is_some()) {
                        Got::Text(events.len(), group)
                    } else {
                        Got::Logs(events.len(), group)
                    }
                }
                None => Got::Events(events.len()),
            }
        }
    }
}

#[test]
fn every_sample_unwraps_as_its_table_says() {
    let spec = Spec::parse(include_str!("../../../spec/pipelines.yaml"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let router = Router::new(&spec);
    for sample in samples() {
        let name = sample.name;
        let json: serde_json::Value =
            serde_json::from_slice(sample.bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(wire::detect(&json), sample.shape, "{name}: detected shape");
        let got: Vec<Got> = match sample.shape {
            EventShape::Firehose => {
                let batch = FirehoseBatch::from_slice(sample.bytes)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(
                    batch.source_stream.as_deref(),
                    sample.stream,
                    "{name}: source stream"
                );
                assert!(
                    !batch.delivery_stream.is_empty() && !batch.delivery_stream.contains(':'),
                    "{name}"
                );
                assert_eq!(
                    FirehoseBatch::try_from(json).as_ref(),
                    Ok(&batch),
                    "{name}: from bytes == from value"
                );
                batch
                    .records
                    .iter()
                    .map(|r| outcome(&router, &r.data))
                    .collect()
            }
            EventShape::Kinesis => {
                let batch = KinesisBatch::from_slice(sample.bytes)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                for record in &batch.records {
                    assert_eq!(
                        Some(record.stream.as_str()),
                        sample.stream,
                        "{name}: stream"
                    );
                    assert!(
                        record.shard_id.starts_with("shardId-"),
                        "{name}: {}",
                        record.shard_id
                    );
                }
                assert_eq!(
                    KinesisBatch::try_from(json).as_ref(),
                    Ok(&batch),
                    "{name}: from bytes == from value"
                );
                batch
                    .records
                    .iter()
                    .map(|r| outcome(&router, &r.data))
                    .collect()
            }
            other => panic!("{name}: no sample of shape {other:?}"),
        };
        let want: Vec<Got> = sample.records.iter().map(Got::from).collect();
        assert_eq!(got, want, "{name}: per-record outcomes");
    }
}

#[test]
fn every_file_in_samples_events_is_in_the_table() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/events");
    let on_disk: BTreeSet<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    let in_table: BTreeSet<String> = samples().iter().map(|s| s.name.to_owned()).collect();
    assert_eq!(
        on_disk, in_table,
        "samples/events/ and the table in tests/samples.rs differ"
    );
}

#[test]
fn firehose_user_events_carry_a_duplicate() {
    let batch = FirehoseBatch::from_slice(include_bytes!(
        "../../../samples/events/firehose-user-events.json"
    ));
    let Ok(batch) = batch else {
        panic!("{batch:?}")
    };
    let request_ids: Vec<String> = batch
        .records
        .iter()
        .map(|r| {
            let data = r.data.as_deref().unwrap_or_default();
            let Ok(Unwrapped::Events { events, .. }) = unwrap_record(data, &Limits::default())
            else {
                panic!()
            };
            let id = events
                .first()
                .and_then(|e| e.object.get("request_id"))
                .and_then(|v| v.as_str());
            id.unwrap_or_default().to_owned()
        })
        .collect();
    let unique: BTreeSet<&String> = request_ids.iter().collect();
    assert_eq!((request_ids.len(), unique.len()), (4, 3), "{request_ids:?}");
    assert_eq!(request_ids.first(), request_ids.last());
    assert!(batch.records.iter().all(|r| r
        .kinesis
        .as_ref()
        .is_some_and(|k| k.subsequence_number == Some(0))));
}

#[test]
fn console_sample_reads_iso_times_and_empty_subsequence() {
    let batch = FirehoseBatch::from_slice(include_bytes!(
        "../../../samples/events/firehose-console-sample.json"
    ));
    let Ok(batch) = batch else {
        panic!("{batch:?}")
    };
    let first = batch.records.first().map(|r| {
        (
            r.arrival.to_rfc3339(),
            r.kinesis.as_ref().map(|k| k.subsequence_number),
        )
    });
    assert_eq!(
        first,
        Some(("2020-06-01T00:00:25.511+00:00".to_owned(), Some(None)))
    );
    assert_eq!(
        batch.records.get(1).map(|r| r.kinesis.is_none()),
        Some(true)
    );
}

#[test]
fn kpl_sample_keeps_user_partition_keys() {
    let batch = KinesisBatch::from_slice(include_bytes!(
        "../../../samples/events/kinesis-kpl-aggregate.json"
    ));
    let Ok(batch) = batch else {
        panic!("{batch:?}")
    };
    let data = batch
        .records
        .first()
        .and_then(|r| r.data.as_deref().ok())
        .unwrap_or_default();
    let Ok(Unwrapped::Events { events, .. }) = unwrap_record(data, &Limits::default()) else {
        panic!()
    };
    let keys: Vec<Option<&str>> = events.iter().map(|e| e.partition_key.as_deref()).collect();
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(Option::is_some));
    assert_eq!(keys.first(), keys.get(2));
    assert_ne!(keys.first(), keys.get(1));
}
