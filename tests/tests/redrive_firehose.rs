//! Firehose error output replayed (`loglift_stages::redrive::firehose`) against moto S3: error
//! objects of several error-output types (plain and gzip, Direct PUT and Kinesis-source delivery
//! streams, CloudWatch Logs payloads, undecodable lines) re-ingested into raw as Firehose would
//! deliver them, rejected records written as ingest writes them, replayed objects archived and
//! not replayed twice; a dry run changes nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;
use loglift_core::spec::Spec;
use loglift_core::storage::Layout;
use loglift_ports::{ObjectStore, SystemClock};
use loglift_stages::ingest::IngestDeps;
use loglift_stages::redrive::firehose::{redrive_firehose_errors, FirehoseOptions};
use loglift_stages::redrive::NoProgress;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

const PROCESSING_FAILED: &str =
    include_str!("../../samples/failures/firehose-processing-failed.ndjson");
const OTHER_TYPES: &str = include_str!("../../samples/failures/firehose-other-error-types.ndjson");
const UUID: &str = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";

async fn keys<S: ObjectStore>(store: &S, bucket: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut next = None;
    loop {
        let page = store.list(bucket, "", next.as_deref()).await.unwrap();
        out.extend(page.objects.into_iter().map(|o| o.key));
        match page.next {
            Some(n) => next = Some(n),
            None => return out,
        }
    }
}

async fn read_bytes<S: ObjectStore>(store: &S, bucket: &str, key: &str) -> Vec<u8> {
    let mut object = store.get(bucket, key).await.unwrap();
    let mut body = Vec::new();
    object.body.read_to_end(&mut body).await.unwrap();
    body
}

async fn lines<S: ObjectStore>(store: &S, bucket: &str, key: &str) -> Vec<Value> {
    let body = read_bytes(store, bucket, key).await;
    let text = loglift_core::compress::decompress(&body, &Default::default())
        .unwrap()
        .into_owned();
    String::from_utf8(text)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// One `processing-failed` document for these record bytes, arrived at `arrival_ms`.
fn error_line(raw: &[u8], arrival_ms: i64) -> String {
    json!({"attemptsMade": 4, "arrivalTimestamp": arrival_ms, "errorCode": "Lambda.ProcessingFailed",
        "errorMessage": "The data record's result field is ProcessingFailed.",
        "attemptEndingTimestamp": arrival_ms + 60_000,
        "rawData": base64::engine::general_purpose::STANDARD.encode(raw),
        "lambdaArn": "arn:aws:lambda:us-east-1:123456789012:function:loglift-ingest:$LATEST"})
    .to_string()
}

fn cloudwatch(message_type: &str, log_group: &str, events: &[(&str, &str)]) -> Vec<u8> {
    let log_events: Vec<Value> = events
        .iter()
        .map(|(id, message)| json!({"id": id, "timestamp": 1_590_969_624_000_i64, "message": message}))
        .collect();
    loglift_core::compress::gzip(
        json!({"messageType": message_type, "owner": "123456789012", "logGroup": log_group,
               "logStream": "i-0abc", "subscriptionFilters": ["loglift"], "logEvents": log_events})
        .to_string()
        .as_bytes(),
    )
}

#[tokio::test]
async fn error_output_is_replayed_into_raw_archived_and_not_replayed_twice() {
    let Some(moto) = loglift_tests::moto() else {
        return;
    };
    let bucket = moto.new_bucket("fh-redrive").await.unwrap();
    let spec = Spec::parse(include_str!("../../spec/pipelines.yaml")).unwrap();
    let ingest = IngestDeps::new(
        spec,
        Layout::single_bucket(&bucket),
        moto.s3_store(),
        SystemClock,
    );
    let store = &ingest.store;
    let dir = |kind: &str| format!("errors/firehose/{kind}/dt=2020-06-01/hour=00/");

    // A: the sample, Direct PUT stream `user-events` (the shipped spec's `match.stream`).
    let a = format!(
        "{}user-events-1-2020-06-01-00-01-00-{UUID}",
        dir("processing-failed")
    );
    // B: gzip, CloudWatch Logs through `idp-events-to-s3`: a control message, a data message
    // (routed by its log group), and a record ingest rejects again.
    let b = format!(
        "{}idp-events-to-s3-1-2020-06-01-00-02-00-{UUID}.gz",
        dir("processing-failed")
    );
    let b_body = loglift_core::compress::gzip(
        [
            error_line(
                &cloudwatch(
                    "CONTROL_MESSAGE",
                    "",
                    &[(
                        "",
                        "CWL CONTROL MESSAGE: Checking health of destination Firehose.",
                    )],
                ),
                1_590_969_624_000,
            ),
            error_line(
                &cloudwatch(
                    "DATA_MESSAGE",
                    "prod_/srv/idp/shared/log/events.log",
                    &[
                        (
                            "3001",
                            r#"{"id":"ev-1","name":"Sign in","time":"2020-06-01T00:00:20Z"}"#,
                        ),
                        (
                            "3002",
                            r#"{"id":"ev-2","name":"Sign out","time":"2020-06-01T00:00:21Z"}"#,
                        ),
                    ],
                ),
                1_590_969_624_000,
            ),
            error_line(b"this is not json", 1_590_969_624_000),
        ]
        .join("\n")
        .as_bytes(),
    );
    // C: the other error types, with three undecodable lines: replayed, but it stays.
    let c = format!(
        "{}user-events-1-2020-06-01-00-03-00-{UUID}",
        dir("format-conversion-failed")
    );
    // D: a Kinesis-source delivery stream: routed by the stream it reads, named in the options.
    let d = format!(
        "{}user-events-to-s3-2-2020-06-01-00-04-00-{UUID}",
        dir("processing-failed")
    );
    let d_body = error_line(
        br#"{"request_id":"ks-1","request_timestamp":"2020-06-01 00:00:24.000000","cookie_id":"c","topic":"t"}"#,
        1_590_969_624_000,
    );
    for (key, body) in [
        (&a, Bytes::from(PROCESSING_FAILED)),
        (&b, Bytes::from(b_body.clone())),
        (&c, Bytes::from(OTHER_TYPES)),
        (&d, Bytes::from(d_body)),
    ] {
        store
            .put(&bucket, key, body, "application/octet-stream")
            .await
            .unwrap();
    }
    let before = keys(store, &bucket).await;
    let options = FirehoseOptions {
        source_streams: BTreeMap::from([(
            "user-events-to-s3".to_owned(),
            "user-events".to_owned(),
        )]),
        ..FirehoseOptions::default()
    };

    // A dry run lists what would be replayed and changes nothing.
    let dry = FirehoseOptions {
        dry_run: true,
        ..options.clone()
    };
    let report = redrive_firehose_errors(&ingest, &dry, &NoProgress)
        .await
        .unwrap();
    assert_eq!(
        (report.moved, report.failed, report.skipped, report.dry_run),
        (10, 3, 0, true),
        "{report:#?}"
    );
    assert_eq!(report.details.len(), 4, "{report:#?}");
    assert!(
        report
            .details
            .iter()
            .any(|l| l.contains(&a) && l.contains("would replay 2 records")),
        "{report:#?}"
    );
    assert_eq!(
        keys(store, &bucket).await,
        before,
        "a dry run writes nothing"
    );

    let report = redrive_firehose_errors(&ingest, &options, &NoProgress)
        .await
        .unwrap();
    assert_eq!(
        (
            report.moved,
            report.failed,
            report.skipped,
            report.unrecoverable
        ),
        (10, 3, 0, 0),
        "{report:#?}"
    );
    let c_detail = report.details.iter().find(|l| l.contains(&c)).unwrap();
    for want in [
        "3 cannot be decoded, the object stays",
        "line 3: malformed Firehose error output record at `rawData`: not valid base64",
        "line 6: malformed Firehose error output record at `.`: missing field `rawData`",
        "line 7: malformed Firehose error output record at `.`",
        "4 delivered to raw",
    ] {
        assert!(c_detail.contains(want), "{want:?} in {c_detail}");
    }
    let b_detail = report.details.iter().find(|l| l.contains(&b)).unwrap();
    assert!(
        b_detail.contains("1 delivered to raw")
            && b_detail.contains("1 dropped")
            && b_detail.contains("1 rejected again"),
        "{b_detail}"
    );

    let after = keys(store, &bucket).await;
    let archived = |key: &str| key.replacen("errors/firehose/", "errors/firehose-archive/", 1);
    for (key, body) in [(&a, PROCESSING_FAILED.as_bytes().to_vec()), (&b, b_body)] {
        assert!(!after.contains(key), "{key} moved away: {after:#?}");
        assert_eq!(
            read_bytes(store, &bucket, &archived(key)).await,
            body,
            "{key} archived as it was"
        );
    }
    assert!(after.contains(&c), "an object with undecodable lines stays");
    assert!(!after.contains(&archived(&c)));
    assert!(!after.contains(&d) && after.contains(&archived(&d)));

    // Raw objects as Firehose delivers them: by the arrival partition ingest returns, one object
    // per partition and replayed batch.
    let raw: Vec<&String> = after.iter().filter(|k| k.starts_with("raw/")).collect();
    let mut by_partition: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut origins = Vec::new();
    for key in &raw {
        assert!(
            key.contains("/firehose-redrive-") && key.ends_with("-00000.ndjson.gz"),
            "{key}"
        );
        let partition = key.rsplit_once('/').unwrap().0.to_owned();
        for line in lines(store, &bucket, key).await {
            by_partition
                .entry(partition.clone())
                .or_default()
                .push(line["event_id"].as_str().unwrap().to_owned());
            origins.push(line["origin"].clone());
        }
    }
    for ids in by_partition.values_mut() {
        ids.sort();
    }
    assert_eq!(
        by_partition,
        BTreeMap::from([
            (
                "raw/pipeline=app_logs/dt=2020-06-01/hour=00".to_owned(),
                vec!["ev-1".to_owned(), "ev-2".to_owned()]
            ),
            (
                "raw/pipeline=user_events/dt=2020-06-01/hour=00".to_owned(),
                ["dp-1", "fc-1", "fh-1", "fn-err-1", "ks-1", "s3-denied-1"]
                    .map(String::from)
                    .to_vec()
            ),
            (
                "raw/pipeline=user_events/dt=2020-06-01/hour=01".to_owned(),
                vec!["fh-2".to_owned()]
            ),
        ]),
        "{raw:#?}"
    );
    assert!(
        origins
            .iter()
            .any(|o| o["delivery_stream"] == "user-events" && o["record_id"] == "line-2-1"),
        "{origins:#?}"
    );
    assert!(
        origins
            .iter()
            .any(|o| o["delivery_stream"] == "user-events-to-s3" && o["stream"] == "user-events"),
        "{origins:#?}"
    );

    // The record ingest refused again is a reject record, as ingest writes them.
    let rejects: Vec<&String> = after
        .iter()
        .filter(|k| k.starts_with("errors/rejects/stage=ingest/pipeline=_unknown/dt=2020-06-01/hour=00/firehose-redrive-"))
        .collect();
    assert_eq!(rejects.len(), 1, "{after:#?}");
    let reject = lines(store, &bucket, rejects[0]).await;
    assert_eq!(reject.len(), 1);
    assert_eq!(reject[0]["reason"], "invalid_json");
    assert_eq!(reject[0]["source"]["delivery_stream"], "idp-events-to-s3");
    assert_eq!(reject[0]["source"]["record_id"], "line-3-1");

    // A second run replays only the object that stayed, onto the same keys.
    let again = redrive_firehose_errors(&ingest, &options, &NoProgress)
        .await
        .unwrap();
    assert_eq!((again.moved, again.failed), (4, 3), "{again:#?}");
    assert_eq!(again.details.len(), 1, "{again:#?}");
    assert_eq!(
        keys(store, &bucket).await,
        after,
        "nothing new: the same keys rewritten"
    );
}

#[tokio::test]
async fn max_leaves_whole_objects_for_a_later_run() {
    let Some(moto) = loglift_tests::moto() else {
        return;
    };
    let bucket = moto.new_bucket("fh-max").await.unwrap();
    let spec = Spec::parse(include_str!("../../spec/pipelines.yaml")).unwrap();
    let ingest = IngestDeps::new(
        spec,
        Layout::single_bucket(&bucket),
        moto.s3_store(),
        SystemClock,
    );
    for minute in ["01", "02"] {
        let key = format!("errors/firehose/processing-failed/dt=2020-06-01/hour=00/user-events-1-2020-06-01-00-{minute}-00-{UUID}");
        ingest
            .store
            .put(
                &bucket,
                &key,
                Bytes::from(PROCESSING_FAILED),
                "application/octet-stream",
            )
            .await
            .unwrap();
    }
    let options = FirehoseOptions {
        max: Some(3),
        ..FirehoseOptions::default()
    };
    let report = redrive_firehose_errors(&ingest, &options, &NoProgress)
        .await
        .unwrap();
    assert_eq!((report.moved, report.skipped), (2, 1), "{report:#?}");
    assert!(
        report.details[1].contains("would go past --max"),
        "{report:#?}"
    );
    let rest = redrive_firehose_errors(&ingest, &FirehoseOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!((rest.moved, rest.skipped), (2, 0), "{rest:#?}");
    let left: Vec<String> = keys(&ingest.store, &bucket)
        .await
        .into_iter()
        .filter(|k| k.starts_with("errors/firehose/"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
