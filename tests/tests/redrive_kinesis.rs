//! Kinesis on-failure records replayed (`loglift_stages::redrive::kinesis`): records put into a
//! moto stream, the mapping's on-failure messages for ranges of them on a moto SQS queue, the
//! ranges re-read through the `StreamReader` port and re-ingested into moto S3 under the raw keys
//! a normal run writes; the S3 destination's kept payload replayed and archived. moto never trims
//! a stream, so "past retention" is tested through the port with a test double that answers as a
//! trimmed stream would (over the local SQLite queue and the in-memory store, real adapters of the
//! other ports).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use bytes::Bytes;
use chrono::DateTime;
use loglift_core::spec::Spec;
use loglift_core::storage::Layout;
use loglift_local::{MemoryStore, SqliteQueue};
use loglift_ports::{
    ObjectStore, OutgoingMessage, PortError, PortResult, Queue, ShardPosition, ShardRead,
    StreamReader, StreamRecord, SystemClock,
};
use loglift_stages::ingest::IngestDeps;
use loglift_stages::redrive::kinesis::{
    redrive_kinesis_objects, redrive_kinesis_queue, KinesisOptions,
};
use loglift_stages::redrive::{NoProgress, RedriveReport};
use loglift_tests::{unique_name, TestQueues};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

const S3_SAMPLE: &str = include_str!("../../samples/failures/kinesis-on-failure-s3.json");

/// The shipped spec with `user_events` routed from `stream`.
fn spec_for(stream: &str) -> Spec {
    let text = include_str!("../../spec/pipelines.yaml")
        .replace("stream: user-events", &format!("stream: {stream}"));
    Spec::parse(&text).unwrap()
}

fn event(id: &str) -> String {
    json!({"request_id": id, "request_timestamp": "2020-06-01 00:00:24.000000", "cookie_id": "c", "topic": "t"}).to_string()
}

/// The mapping's on-failure record for `[start, end]` of a shard, as it reaches SQS.
fn on_failure(stream_arn: &str, shard: &str, start: &str, end: &str, batch_size: u64) -> Value {
    json!({
        "requestContext": {"requestId": "2f0d4a9e-0000-4000-8000-000000000001",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:loglift-ingest",
            "condition": "RetryAttemptsExhausted", "approximateInvokeCount": 3},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": "2026-11-21T10:00:00.000Z",
        "KinesisBatchInfo": {"shardId": shard, "startSequenceNumber": start, "endSequenceNumber": end,
            "approximateArrivalOfFirstRecord": "2026-11-21T09:59:00.000Z",
            "approximateArrivalOfLastRecord": "2026-11-21T09:59:01.000Z",
            "batchSize": batch_size, "streamArn": stream_arn}
    })
}

/// Every key in the bucket.
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

async fn raw_lines<S: ObjectStore>(store: &S, bucket: &str, key: &str) -> Vec<Value> {
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

fn ids(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l["event_id"].as_str().unwrap().to_owned())
        .collect()
}

fn dry() -> KinesisOptions {
    KinesisOptions {
        dry_run: true,
        max: None,
    }
}

#[tokio::test]
async fn on_failure_messages_are_reread_from_moto_and_reingested_once() {
    let Some(moto) = loglift_tests::moto() else {
        return;
    };
    let (stream, arn) = moto.new_stream("k-redrive").await.unwrap();
    let payloads: Vec<String> = (0..6).map(|i| event(&format!("r{i}"))).collect();
    let entries = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| {
            PutRecordsRequestEntry::builder()
                .data(Blob::new(p.as_bytes()))
                .partition_key(format!("pk-{i}"))
                .build()
                .unwrap()
        })
        .collect();
    let put = moto
        .kinesis_client()
        .put_records()
        .stream_name(&stream)
        .set_records(Some(entries))
        .send()
        .await
        .unwrap();
    assert_eq!(put.failed_record_count(), Some(0));
    let seqs: Vec<String> = put
        .records()
        .iter()
        .map(|r| r.sequence_number().unwrap().to_owned())
        .collect();
    let shard = put.records()[0].shard_id().unwrap().to_owned();

    let bucket = moto.new_bucket("k-lake").await.unwrap();
    let ingest = IngestDeps::new(
        spec_for(&stream),
        Layout::single_bucket(&bucket),
        moto.s3_store(),
        SystemClock,
    );
    let sqs = moto.sqs_queue();
    let url = sqs
        .create(&unique_name("k-on-failure"), Duration::from_secs(30), None)
        .await
        .unwrap();
    // Records 1..=4 as a plain SQS message, record 5 SNS-wrapped, and a body that is no record.
    let plain = on_failure(&arn, &shard, &seqs[1], &seqs[4], 4);
    let wrapped = json!({"Type": "Notification", "MessageId": "m-1",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:on-failure",
        "Message": on_failure(&arn, &shard, &seqs[5], &seqs[5], 1).to_string()});
    for body in [
        plain.to_string(),
        wrapped.to_string(),
        "not a record".into(),
    ] {
        sqs.send(&url, &OutgoingMessage::new(body)).await.unwrap();
    }

    // A dry run reads the ranges and changes nothing.
    let report = redrive_kinesis_queue(
        &ingest,
        &moto.kinesis_reader(),
        &sqs,
        &url,
        &dry(),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(
        (
            report.moved,
            report.failed,
            report.unrecoverable,
            report.dry_run
        ),
        (5, 1, 0, true),
        "{report:#?}"
    );
    assert!(
        report
            .details
            .iter()
            .any(|d| d.contains("would replay 4 records")),
        "{report:#?}"
    );
    assert!(keys(&ingest.store, &bucket).await.is_empty());
    assert_eq!(
        sqs.depth(&url).await.unwrap().visible,
        3,
        "the dry run releases every message"
    );

    let report = redrive_kinesis_queue(
        &ingest,
        &moto.kinesis_reader(),
        &sqs,
        &url,
        &KinesisOptions::default(),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(
        (
            report.moved,
            report.failed,
            report.unrecoverable,
            report.skipped
        ),
        (5, 1, 0, 0),
        "{report:#?}"
    );
    assert!(
        report
            .details
            .iter()
            .any(|d| d.contains("not a Kinesis on-failure record")
                || d.contains("malformed Kinesis on-failure record")),
        "{report:#?}"
    );

    // The raw keys the mapping's own batches would have produced: one object per range.
    let layout = &ingest.layout;
    let all = keys(&ingest.store, &bucket).await;
    assert_eq!(all.len(), 2, "{all:?}");
    let key_for = |first: &str, last: &str| {
        all.iter()
            .find(|k| k.ends_with(&format!("/kinesis-{shard}-{first}-{last}.ndjson.zst")))
            .unwrap_or_else(|| panic!("no raw object for {first}..{last} in {all:?}"))
            .clone()
    };
    let range = key_for(&seqs[1], &seqs[4]);
    assert!(
        range.starts_with(&layout.raw.key("pipeline=user_events/dt=")),
        "{range}"
    );
    let lines = raw_lines(&ingest.store, &bucket, &range).await;
    assert_eq!(ids(&lines), ["r1", "r2", "r3", "r4"]);
    assert_eq!(lines[0]["origin"]["stream"], stream.as_str());
    assert_eq!(lines[0]["origin"]["shard"], shard.as_str());
    assert_eq!(lines[0]["origin"]["sequence"], seqs[1].as_str());
    let single = key_for(&seqs[5], &seqs[5]);
    assert_eq!(
        ids(&raw_lines(&ingest.store, &bucket, &single).await),
        ["r5"]
    );

    // The replayed messages are gone; the poison one stays. A second run replays nothing.
    assert_eq!(sqs.depth(&url).await.unwrap().visible, 1);
    let again = redrive_kinesis_queue(
        &ingest,
        &moto.kinesis_reader(),
        &sqs,
        &url,
        &KinesisOptions::default(),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(
        (again.moved, again.failed, again.unrecoverable),
        (0, 1, 0),
        "{again:#?}"
    );
    assert_eq!(keys(&ingest.store, &bucket).await, all);
}

#[tokio::test]
async fn max_leaves_whole_ranges_for_a_later_run() {
    let Some(moto) = loglift_tests::moto() else {
        return;
    };
    let (stream, arn) = moto.new_stream("k-max").await.unwrap();
    let mut seqs = Vec::new();
    let client = moto.kinesis_client();
    for i in 0..3 {
        let out = client
            .put_record()
            .stream_name(&stream)
            .partition_key("pk")
            .data(Blob::new(event(&format!("m{i}")).into_bytes()))
            .send()
            .await
            .unwrap();
        seqs.push((out.shard_id().to_owned(), out.sequence_number().to_owned()));
    }
    let shard = seqs[0].0.clone();
    let bucket = moto.new_bucket("k-max").await.unwrap();
    let ingest = IngestDeps::new(
        spec_for(&stream),
        Layout::single_bucket(&bucket),
        moto.s3_store(),
        SystemClock,
    );
    let sqs = moto.sqs_queue();
    let url = sqs
        .create(&unique_name("k-max"), Duration::from_secs(30), None)
        .await
        .unwrap();
    sqs.send(
        &url,
        &OutgoingMessage::new(on_failure(&arn, &shard, &seqs[0].1, &seqs[1].1, 2).to_string()),
    )
    .await
    .unwrap();
    sqs.send(
        &url,
        &OutgoingMessage::new(on_failure(&arn, &shard, &seqs[2].1, &seqs[2].1, 1).to_string()),
    )
    .await
    .unwrap();
    let options = KinesisOptions {
        dry_run: false,
        max: Some(2),
    };
    let report = redrive_kinesis_queue(
        &ingest,
        &moto.kinesis_reader(),
        &sqs,
        &url,
        &options,
        &NoProgress,
    )
    .await
    .unwrap();
    // Whichever message comes first, the second would go past 2 records (2 + 1 or 1 + 2).
    assert_eq!(report.skipped, 1, "{report:#?}");
    assert!(report.moved == 2 || report.moved == 1, "{report:#?}");
    assert!(
        report
            .details
            .iter()
            .any(|d| d.contains("would go past --max")),
        "{report:#?}"
    );
    assert_eq!(sqs.depth(&url).await.unwrap().visible, 1);
    let rest = redrive_kinesis_queue(
        &ingest,
        &moto.kinesis_reader(),
        &sqs,
        &url,
        &KinesisOptions::default(),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(report.moved + rest.moved, 3, "{rest:#?}");
    assert_eq!(sqs.depth(&url).await.unwrap().visible, 0);
}

#[tokio::test]
async fn s3_on_failure_payloads_are_replayed_and_archived() {
    let Some(moto) = loglift_tests::moto() else {
        return;
    };
    // The sample's payload comes from stream `user-events`, which the shipped spec routes.
    let lake = moto.new_bucket("k-s3-lake").await.unwrap();
    let destination = moto.new_bucket("k-s3-failures").await.unwrap();
    let ingest = IngestDeps::new(
        spec_for("user-events"),
        Layout::single_bucket(&lake),
        moto.s3_store(),
        SystemClock,
    );
    let store = &ingest.store;
    let object =
        "aws/lambda/0c7b4b35-esm/shardId-000000000000/2020/06/01/2020-06-01T00.05.00-0d7b3c7e";
    let broken =
        "aws/lambda/0c7b4b35-esm/shardId-000000000000/2020/06/01/2020-06-01T00.06.00-broken";
    store
        .put(
            &destination,
            object,
            Bytes::from(S3_SAMPLE),
            "application/json",
        )
        .await
        .unwrap();
    store
        .put(
            &destination,
            broken,
            Bytes::from_static(b"{\"KinesisBatchInfo\": 3}"),
            "application/json",
        )
        .await
        .unwrap();

    let report = redrive_kinesis_objects(
        &ingest,
        &moto.kinesis_reader(),
        &destination,
        "aws/lambda/",
        &dry(),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!((report.moved, report.failed), (2, 1), "{report:#?}");
    assert!(
        keys(store, &lake).await.is_empty(),
        "a dry run writes nothing"
    );
    assert_eq!(keys(store, &destination).await.len(), 2);

    let report = redrive_kinesis_objects(
        &ingest,
        &moto.kinesis_reader(),
        &destination,
        "aws/lambda/",
        &KinesisOptions::default(),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(
        (report.moved, report.failed, report.unrecoverable),
        (2, 1, 0),
        "{report:#?}"
    );
    let broken_detail = report.details.iter().find(|d| d.contains(broken)).unwrap();
    assert!(
        broken_detail.contains("KinesisBatchInfo") && broken_detail.ends_with("left in place"),
        "{broken_detail}"
    );

    let raw = "raw/pipeline=user_events/dt=2020-06-01/hour=00/kinesis-shardId-000000000000-49590338271490256608559692538361571095921575989136588898-49590338271490256608559692538361571095921575989136588899.ndjson.zst";
    let archive = format!("errors/kinesis-archive/{destination}/{object}");
    let mut want = vec![raw.to_owned(), archive.clone()];
    want.sort();
    assert_eq!(keys(store, &lake).await, want);
    let lines = raw_lines(store, &lake, raw).await;
    assert_eq!(ids(&lines), ["s3-1", "s3-2"]);
    assert_eq!(lines[1]["arrived_at"], "2020-06-01T00:00:25.500Z");
    assert_eq!(
        read_bytes(store, &lake, &archive).await,
        S3_SAMPLE.as_bytes()
    );
    assert_eq!(
        keys(store, &destination).await,
        [broken],
        "the replayed object moved to the archive"
    );

    let again = redrive_kinesis_objects(
        &ingest,
        &moto.kinesis_reader(),
        &destination,
        "aws/lambda/",
        &KinesisOptions::default(),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!((again.moved, again.failed), (0, 1), "{again:#?}");
}

/// A shard as Kinesis shows it after retention trimmed its oldest records: only `kept` is left.
/// moto never trims, so this double answers as the real service would; `error` makes every read
/// fail as given; `shards` is what ListShards says (`None`: the stream does not exist).
struct TrimmedStream {
    shard: String,
    kept: Vec<StreamRecord>,
    error: Option<fn() -> PortError>,
    shards: Option<Vec<String>>,
}

fn cmp(a: &str, b: &str) -> std::cmp::Ordering {
    loglift_core::failures::cmp_sequence(a, b)
}

impl StreamReader for TrimmedStream {
    async fn shards(&self, stream: &str) -> PortResult<Vec<String>> {
        self.shards.clone().ok_or(PortError::NotFound {
            what: format!("ListShards {stream}: ResourceNotFoundException"),
            source: None,
        })
    }

    async fn read(
        &self,
        _stream: &str,
        shard: &str,
        from: &ShardPosition,
        max_records: u32,
    ) -> PortResult<ShardRead> {
        if let Some(error) = self.error {
            return Err(error());
        }
        assert_eq!(shard, self.shard);
        let records: Vec<StreamRecord> = self
            .kept
            .iter()
            .filter(|r| match from {
                ShardPosition::AtSequence(s) => cmp(&r.sequence_number, s).is_ge(),
                ShardPosition::AfterSequence(s) => cmp(&r.sequence_number, s).is_gt(),
                ShardPosition::TrimHorizon => true,
            })
            .take(max_records as usize)
            .cloned()
            .collect();
        Ok(ShardRead {
            records,
            millis_behind: 0,
        })
    }
}

fn record(seq: u64, id: &str) -> StreamRecord {
    StreamRecord {
        sequence_number: format!("4959{seq:052}"),
        partition_key: "pk".into(),
        data: Bytes::from(event(id)),
        approximate_arrival: DateTime::from_timestamp_millis(1_590_969_624_000 + seq as i64)
            .unwrap(),
    }
}

#[tokio::test]
async fn records_past_retention_are_counted_unrecoverable_by_range() {
    const ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/user-events";
    const SHARD: &str = "shardId-000000000000";
    let seq = |n: u64| format!("4959{n:052}");
    let stream = |kept: Vec<StreamRecord>| TrimmedStream {
        shard: SHARD.into(),
        kept,
        error: None,
        shards: Some(vec![SHARD.into()]),
    };
    struct Case {
        name: &'static str,
        reader: TrimmedStream,
        range: (u64, u64, u64),
        /// moved, unrecoverable, failed, message deleted, events in raw
        want: (u64, u64, u64, bool, Vec<&'static str>),
        detail: &'static str,
    }
    let cases = vec![
        Case {
            name: "the start was trimmed: the rest is replayed",
            reader: stream(vec![
                record(13, "t13"),
                record(14, "t14"),
                record(15, "t15"),
                record(20, "t20"),
            ]),
            range: (10, 15, 6),
            want: (3, 3, 0, true, vec!["t13", "t14", "t15"]),
            detail: "3 records unrecoverable: the first record still in the stream is",
        },
        Case {
            name: "the whole range was trimmed",
            reader: stream(vec![record(30, "t30")]),
            range: (10, 15, 6),
            want: (0, 6, 0, true, vec![]),
            detail: "nothing left to replay; 6 records unrecoverable",
        },
        Case {
            name: "nothing at or after the start",
            reader: stream(vec![]),
            range: (10, 15, 6),
            want: (0, 6, 0, true, vec![]),
            detail: "no record at or after",
        },
        Case {
            name: "the iterator expired",
            reader: TrimmedStream {
                error: Some(|| PortError::Rejected {
                    op: "GetRecords",
                    target: "user-events shardId-000000000000".into(),
                    message: "ExpiredIteratorException: Iterator expired (HTTP 400)".into(),
                    source: None,
                }),
                ..stream(vec![])
            },
            range: (10, 15, 6),
            want: (0, 6, 0, true, vec![]),
            detail: "the stream refuses the range",
        },
        Case {
            name: "the shard was deleted after retention",
            reader: TrimmedStream {
                error: Some(|| PortError::NotFound {
                    what: "GetShardIterator: ResourceNotFoundException".into(),
                    source: None,
                }),
                shards: Some(vec!["shardId-000000000007".into()]),
                ..stream(vec![])
            },
            range: (10, 15, 6),
            want: (0, 6, 0, true, vec![]),
            detail: "no longer exists",
        },
        Case {
            name: "the stream does not exist: maybe the wrong account, so not proof of loss",
            reader: TrimmedStream {
                error: Some(|| PortError::NotFound {
                    what: "GetShardIterator: ResourceNotFoundException".into(),
                    source: None,
                }),
                shards: None,
                ..stream(vec![])
            },
            range: (10, 15, 6),
            want: (0, 0, 6, false, vec![]),
            detail: "wrong account or region",
        },
        Case {
            name: "a throttled read is retried later",
            reader: TrimmedStream {
                error: Some(|| PortError::Transient {
                    op: "GetRecords",
                    target: "s".into(),
                    message: "ProvisionedThroughputExceededException".into(),
                    source: None,
                }),
                ..stream(vec![])
            },
            range: (10, 15, 6),
            want: (0, 0, 6, false, vec![]),
            detail: "left on the queue",
        },
    ];
    // Each case on its own queue and store, all at once (each run waits out two empty receives).
    let run = |case: Case| async move {
        let store = MemoryStore::new();
        let ingest = IngestDeps::new(
            spec_for("user-events"),
            Layout::single_bucket("lake"),
            store,
            SystemClock,
        );
        let queue = SqliteQueue::in_memory().unwrap();
        queue
            .create_queue("on-failure", Duration::from_secs(30), None)
            .unwrap();
        let (start, end, size) = case.range;
        let body = on_failure(ARN, SHARD, &seq(start), &seq(end), size).to_string();
        queue
            .send("on-failure", &OutgoingMessage::new(body))
            .await
            .unwrap();

        let report: RedriveReport = redrive_kinesis_queue(
            &ingest,
            &case.reader,
            &queue,
            "on-failure",
            &KinesisOptions::default(),
            &NoProgress,
        )
        .await
        .unwrap();
        let (moved, unrecoverable, failed, deleted, events) = &case.want;
        assert_eq!(
            (report.moved, report.unrecoverable, report.failed),
            (*moved, *unrecoverable, *failed),
            "{}: {report:#?}",
            case.name
        );
        let detail = report.details.join("\n");
        assert!(detail.contains(case.detail), "{}: {detail}", case.name);
        if *unrecoverable > 0 {
            assert!(
                detail.contains(&format!("{}..{}", seq(start), seq(end))),
                "{}: the range is named: {detail}",
                case.name
            );
        }
        let left = queue.depth("on-failure").await.unwrap().visible;
        assert_eq!(
            left,
            u64::from(!deleted),
            "{}: message deleted {deleted}",
            case.name
        );

        let mut replayed = Vec::new();
        for key in keys(&ingest.store, "lake").await {
            assert!(
                key.starts_with("raw/pipeline=user_events/"),
                "{}: {key}",
                case.name
            );
            replayed.extend(ids(&raw_lines(&ingest.store, "lake", &key).await));
        }
        assert_eq!(&replayed, events, "{}", case.name);
    };
    loglift_tests::join_all(cases.into_iter().map(run).collect()).await;
}
