//! `loglift smoke` (`loglift_stages::smoke::smoke`, what the command runs) against a deployment
//! on moto, the Redshift Data API test server and PostgreSQL: it passes when every entry
//! delivers, and fails with a sentence naming the event, the entry and the table when one does
//! not.
//!
//! The deployment: three Kinesis streams (`user-events` and the CloudWatch Logs stream `logs`,
//! read by the ingest function's mapping; `user-utm`, read by a Firehose delivery stream created
//! in moto as `KinesisStreamAsSource`), the lake bucket with its notifications to the transform
//! queue (raw/ and each landing prefix, as terraform sets them), the transform and loader queues
//! with their DLQs, and the warehouse behind the Data API. The smoke run talks to it only through
//! the adapters the CLI uses: `AwsStreamWriter` (PutRecords; DescribeDeliveryStream finds that
//! the delivery stream reads `user-utm`, so its events go into that stream), `S3Store`
//! (the landing files), `RedshiftWarehouse` (rows by event id, the ledger for `audit`),
//! `SqsQueue` (the DLQs for `audit`).
//!
//! **Emulated, and why.** Moto stores streams, delivery streams, buckets and queues but never
//! invokes a function, so a background pump plays AWS's part, in-process, with the real
//! handlers:
//! - the Kinesis event source mappings: `GetRecords` on `user-events` and `logs`, each batch one
//!   ingest invocation ([`esm_event`]);
//! - Firehose itself: moto's delivery stream neither reads its source stream nor calls its
//!   processor, so the pump reads `user-utm` with `GetRecords`, invokes ingest with the
//!   transformation event Firehose would send ([`firehose_event`]) and delivers the `Ok` records
//!   into raw as Firehose's dynamic partitioning would (`loglift_stages::firehose::deliver`);
//! - the SQS event source mappings of transform and the loader (`esm::poll_once`: receive,
//!   handle, delete what the partial batch response does not name).
//!
//! S3 → SQS notifications are moto's own. The second case configures the bucket's notifications
//! for raw/ only, as if the landing prefixes' notifications were never delivered, and deploys
//! transform with a stricter spec than the one the smoke run reads: the landing events cannot
//! arrive and transform rejects the `user-events` ones; the run must say so, naming each event,
//! its entry and table (and the reject, where there is one), within its short deadline.
//! DirectPut delivery streams (`PutRecordBatch`) are covered by the adapter test at the end.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_firehose::types::{
    BufferingHints, CompressionFormat, DeliveryStreamType, EncryptionConfiguration,
    ExtendedS3DestinationConfiguration, KinesisStreamSourceConfiguration, NoEncryptionConfig,
};
use bytes::Bytes;
use loglift_aws::{AwsStreamWriter, KinesisReader, RedshiftWarehouse, S3Store, SqsQueue};
use loglift_core::spec::Spec;
use loglift_core::storage::Layout;
use loglift_core::wire::FirehoseResponse;
use loglift_local::StaticLookup;
use loglift_ports::{
    DeliverySource, EventRows, ObjectStore, ShardPosition, StreamReader, StreamWriter, SystemClock,
};
use loglift_stages::esm::poll_once;
use loglift_stages::ingest::{handle_event, IngestDeps};
use loglift_stages::load::{self, LoadDeps};
use loglift_stages::priority::PriorityCache;
use loglift_stages::redrive::NoProgress;
use loglift_stages::smoke::{
    smoke, AuditMode, DeploymentNames, EventStatus, SmokeDeps, SmokeOptions, SmokeReport,
};
use loglift_stages::transform::{self, TransformDeps};
use loglift_tests::data_api::DataApiServer;
use loglift_tests::emulate::{
    data_api_warehouse, esm_event, firehose_event, notify, notify_prefixes,
};
use loglift_tests::{create_queue_with_dlq, unique_name, MotoEnv, PgEnv};

const SPEC: &str = include_str!("../../spec/pipelines.yaml");
const ROLE: &str = "arn:aws:iam::123456789012:role/loglift-firehose";

/// A shard a pump reads, and where it is.
struct Source {
    name: String,
    arn: String,
    shard: String,
    position: Mutex<ShardPosition>,
}

/// A deployment on moto, and the pump that plays AWS's part.
struct World {
    layout: Layout,
    spec: Spec,
    names: DeploymentNames,
    dlqs: Vec<String>,
    /// (URL, DLQ URL, ARN).
    transform_queue: (String, String, String),
    loader_queue: (String, String, String),
    lambda_sources: Vec<Source>,
    firehose_source: Source,
    delivery_arn: String,
    _server: DataApiServer,
    store: S3Store,
    queues: SqsQueue,
    reader: KinesisReader,
    writer: AwsStreamWriter,
    ingest: IngestDeps<S3Store, SystemClock>,
    transform: TransformDeps<S3Store, SqsQueue, SystemClock, StaticLookup>,
    load: LoadDeps<RedshiftWarehouse<S3Store>, S3Store, SystemClock>,
    invocations: Mutex<u64>,
}

/// An S3 destination as moto needs it to describe the delivery stream back (the SDK requires the
/// buffering hints, compression and encryption in the description).
fn s3_destination(bucket: &str, prefix: &str) -> ExtendedS3DestinationConfiguration {
    ExtendedS3DestinationConfiguration::builder()
        .role_arn(ROLE)
        .bucket_arn(format!("arn:aws:s3:::{bucket}"))
        .prefix(prefix)
        .compression_format(CompressionFormat::Uncompressed)
        .buffering_hints(
            BufferingHints::builder()
                .size_in_mbs(64)
                .interval_in_seconds(60)
                .build(),
        )
        .encryption_configuration(
            EncryptionConfiguration::builder()
                .no_encryption_config(NoEncryptionConfig::NoEncryption)
                .build(),
        )
        .build()
        .unwrap()
}

fn firehose_client(moto: &MotoEnv) -> aws_sdk_firehose::Client {
    loglift_aws::firehose_client(&moto.sdk_config())
}

async fn source(moto: &MotoEnv, logical: &str) -> Source {
    let (name, arn) = moto.new_stream(&format!("smoke-{logical}")).await.unwrap();
    let shard = moto.kinesis_reader().shards(&name).await.unwrap().remove(0);
    Source {
        name,
        arn,
        shard,
        position: Mutex::new(ShardPosition::TrimHorizon),
    }
}

impl World {
    /// The deployment; `broken` leaves the landing prefixes out of the bucket's notifications
    /// and deploys transform with a spec whose `user_events.request_id` holds 8 bytes (the
    /// smoke run builds its events from the spec it is given, as a user's CLI reads theirs).
    async fn setup(moto: &MotoEnv, pg: &PgEnv, broken: bool) -> World {
        let bucket = moto.new_bucket("smoke").await.unwrap();
        let layout = Layout::single_bucket(&bucket);
        let user_events = source(moto, "user-events").await;
        let logs = source(moto, "logs").await;
        let user_utm = source(moto, "user-utm").await;
        let delivery = unique_name("smoke-user-utm");
        firehose_client(moto)
            .create_delivery_stream()
            .delivery_stream_name(&delivery)
            .delivery_stream_type(DeliveryStreamType::KinesisStreamAsSource)
            .kinesis_stream_source_configuration(
                KinesisStreamSourceConfiguration::builder()
                    .kinesis_stream_arn(&user_utm.arn)
                    .role_arn(ROLE)
                    .build()
                    .unwrap(),
            )
            .extended_s3_destination_configuration(s3_destination(
                &bucket,
                &layout.firehose_prefix(),
            ))
            .send()
            .await
            .unwrap();
        let delivery_arn =
            format!("arn:aws:firehose:us-east-1:123456789012:deliverystream/{delivery}");

        let server = DataApiServer::start_in_new_schema(pg, moto.s3_client())
            .await
            .unwrap();
        // The shipped spec, on this deployment's streams and in the server's schema.
        let stream_of = BTreeMap::from([
            ("user-events", user_events.name.clone()),
            ("user-utm", user_utm.name.clone()),
        ]);
        let mut spec = Spec::parse(SPEC).unwrap();
        for p in &mut spec.pipelines {
            p.table = format!("{}.{}", server.schema(), p.table.replace('.', "_"));
            if let Some(stream) = p.matcher.stream.as_mut() {
                *stream = stream_of[stream.as_str()].clone();
            }
        }
        let names = DeploymentNames {
            streams: [&user_events, &logs, &user_utm]
                .iter()
                .map(|s| (s.name.clone(), s.name.clone()))
                .collect(),
            delivery_streams: vec![delivery.clone()],
            log_stream: logs.name.clone(),
        };

        let queues = moto.sqs_queue();
        let base = unique_name("smoke");
        let visibility = Duration::from_secs(2);
        let transform_queue =
            create_queue_with_dlq(&queues, &format!("{base}-transform"), visibility, 4)
                .await
                .unwrap();
        let loader_queue = create_queue_with_dlq(&queues, &format!("{base}-loader"), visibility, 4)
            .await
            .unwrap();
        let transform_arn = queues.queue_arn(&transform_queue.0).await.unwrap();
        let loader_arn = queues.queue_arn(&loader_queue.0).await.unwrap();
        if !broken {
            notify(moto, &layout, &spec, &transform_arn).await;
        } else {
            notify_prefixes(
                moto,
                &bucket,
                std::slice::from_ref(&layout.raw.prefix),
                &transform_arn,
            )
            .await;
        }

        let store = moto.s3_store();
        let warehouse =
            data_api_warehouse(&server, store.clone(), &bucket, Duration::from_secs(20));
        World {
            dlqs: vec![transform_queue.1.clone(), loader_queue.1.clone()],
            ingest: IngestDeps::new(spec.clone(), layout.clone(), store.clone(), SystemClock),
            transform: TransformDeps {
                spec: if broken {
                    let mut strict = spec.clone();
                    for p in &mut strict.pipelines {
                        for c in &mut p.columns {
                            if p.name == "user_events" && c.name == "request_id" {
                                c.max_bytes = Some(8);
                            }
                        }
                    }
                    strict
                } else {
                    spec.clone()
                },
                layout: layout.clone(),
                store: store.clone(),
                queue: queues.clone(),
                clock: SystemClock,
                loader_queue: loader_queue.0.clone(),
                limits: Default::default(),
                priorities: PriorityCache::new(StaticLookup::default()),
            },
            load: LoadDeps::new(
                spec.clone(),
                layout.clone(),
                warehouse,
                store.clone(),
                SystemClock,
            ),
            writer: AwsStreamWriter::new(moto.kinesis_client(), firehose_client(moto)),
            reader: moto.kinesis_reader(),
            lambda_sources: vec![user_events, logs],
            firehose_source: user_utm,
            delivery_arn,
            _server: server,
            transform_queue: (transform_queue.0, transform_queue.1, transform_arn),
            loader_queue: (loader_queue.0, loader_queue.1, loader_arn),
            layout,
            spec,
            names,
            store,
            queues,
            invocations: Mutex::new(0),
        }
    }

    /// New records of a shard, from where the last read ended.
    async fn read(&self, source: &Source) -> Vec<loglift_ports::StreamRecord> {
        let position = source.position.lock().unwrap().clone();
        let read = self
            .reader
            .read(&source.name, &source.shard, &position, 100)
            .await
            .unwrap();
        if let Some(last) = read.records.last() {
            *source.position.lock().unwrap() =
                ShardPosition::AfterSequence(last.sequence_number.clone());
        }
        read.records
    }

    /// One round of every mapping and of Firehose; whether anything happened.
    async fn pump_once(&self) -> bool {
        let mut busy = false;
        for source in &self.lambda_sources {
            let records = self.read(source).await;
            if records.is_empty() {
                continue;
            }
            busy = true;
            let event = esm_event(&source.arn, &source.shard, &records);
            let (response, _) = handle_event(&self.ingest, event).await.unwrap();
            assert_eq!(response["batchItemFailures"], serde_json::json!([]));
        }
        let source = &self.firehose_source;
        let records = self.read(source).await;
        if !records.is_empty() {
            busy = true;
            let invocation = {
                let mut n = self.invocations.lock().unwrap();
                *n += 1;
                format!("smoke-invocation-{n}")
            };
            let event = firehose_event(
                &invocation,
                &self.delivery_arn,
                &source.arn,
                &source.shard,
                &records,
            );
            let (response, _) = handle_event(&self.ingest, event).await.unwrap();
            let response: FirehoseResponse = serde_json::from_value(response).unwrap();
            loglift_stages::firehose::deliver(&self.store, &self.layout, &invocation, &response)
                .await
                .unwrap();
        }
        let polled = poll_once(
            &self.queues,
            &self.transform_queue.0,
            &self.transform_queue.2,
            10,
            None,
            |event| async move {
                transform::handle_sqs(&self.transform, &event)
                    .await
                    .map(|(failures, _)| failures)
            },
        )
        .await
        .unwrap()
        .unwrap();
        busy |= polled.received > 0;
        let polled = poll_once(
            &self.queues,
            &self.loader_queue.0,
            &self.loader_queue.2,
            10,
            None,
            |event| async move {
                load::handle_sqs(&self.load, &event)
                    .await
                    .map(|(failures, _)| failures)
            },
        )
        .await
        .unwrap()
        .unwrap();
        busy | (polled.received > 0)
    }

    /// AWS's part, until the smoke run ends.
    async fn pump(&self) {
        loop {
            if !self.pump_once().await {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// `loglift smoke` with the CLI's adapters, while the pump runs.
    async fn smoke(&self, options: &SmokeOptions) -> SmokeReport {
        let deps = SmokeDeps {
            spec: &self.spec,
            layout: &self.layout,
            names: &self.names,
            store: &self.store,
            queue: &self.queues,
            warehouse: &self.load.warehouse,
            writer: &self.writer,
            clock: &SystemClock,
            dlqs: &self.dlqs,
        };
        tokio::select! {
            report = smoke(&deps, options, &NoProgress) => report.unwrap(),
            () = self.pump() => unreachable!("the pump runs until the smoke run ends"),
        }
    }
}

fn services() -> Option<(MotoEnv, PgEnv)> {
    Some((loglift_tests::moto()?, loglift_tests::postgres()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_passes_when_every_entry_delivers_and_cleans_up() {
    let Some((moto, pg)) = services() else {
        return;
    };
    let world = World::setup(&moto, &pg, false).await;
    let started = Instant::now();
    let options = SmokeOptions {
        timeout: Duration::from_secs(25),
        poll_interval: Duration::from_millis(200),
        cleanup: true,
        ..SmokeOptions::default()
    };
    let report = world.smoke(&options).await;
    let text = report.to_string();
    eprintln!("{text}");
    assert!(report.passed, "{text}");
    assert!(report.failures.is_empty(), "{text}");
    // Every entry: the Lambda-read streams (`user-events`, and `logs` for each CloudWatch Logs
    // pipeline), the Firehose delivery stream (through its source stream), each landing prefix;
    // each pipeline of the spec reached once, two events each, each loaded once.
    let entries: Vec<String> = report.sends.iter().map(|s| s.entry.to_string()).collect();
    assert_eq!(
        report.sends.len(),
        world.spec.pipelines.len(),
        "{entries:?}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e.starts_with("Firehose delivery stream")
                && e.contains(&world.firehose_source.name)),
        "{entries:?}"
    );
    assert_eq!(report.events.len(), 2 * report.sends.len());
    for e in &report.events {
        assert_eq!((e.status, e.rows), (EventStatus::Loaded, 1), "{e:?}");
    }
    // The audit of each pipeline over the run's hours balances.
    assert_eq!(report.audit_mode, AuditMode::Check);
    assert_eq!(report.audits.len(), report.sends.len());
    for a in &report.audits {
        assert!(a.balanced, "{}", a);
        assert!(a.totals.loaded >= 2, "{}", a);
    }
    // --cleanup: the rows and the landing files are gone.
    let cleanup = report.cleanup.as_ref().unwrap();
    let landing = world
        .spec
        .pipelines
        .iter()
        .filter(|p| p.matcher.s3_prefix.is_some())
        .count();
    assert_eq!(
        cleanup.rows_deleted.values().sum::<u64>(),
        report.events.len() as u64,
        "{cleanup:?}"
    );
    assert_eq!(cleanup.objects_deleted.len(), landing, "{cleanup:?}");
    for object in &cleanup.objects_deleted {
        let (bucket, key) = object
            .strip_prefix("s3://")
            .unwrap()
            .split_once('/')
            .unwrap();
        assert_eq!(
            world.store.head(bucket, key).await.unwrap(),
            None,
            "{object}"
        );
    }
    let mut by_table: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for e in &report.events {
        by_table
            .entry(&e.table)
            .or_default()
            .push(e.event_id.clone());
    }
    for (table, ids) in by_table {
        let left = world
            .load
            .warehouse
            .count_events(table, &ids)
            .await
            .unwrap();
        assert!(left.is_empty(), "{table}: {left:?}");
    }
    eprintln!(
        "smoke run passed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_fails_naming_the_events_whose_entry_does_not_deliver() {
    let Some((moto, pg)) = services() else {
        return;
    };
    let world = World::setup(&moto, &pg, true).await;
    let started = Instant::now();
    let options = SmokeOptions {
        timeout: Duration::from_secs(8),
        poll_interval: Duration::from_millis(200),
        ..SmokeOptions::default()
    };
    let report = world.smoke(&options).await;
    let took = started.elapsed();
    let text = report.to_string();
    eprintln!("{text}");
    assert!(!report.passed, "{text}");
    assert!(took < Duration::from_secs(20), "{took:?}");
    let bucket = &world.layout.landing.bucket;
    let landing: Vec<&str> = world
        .spec
        .pipelines
        .iter()
        .filter(|p| p.matcher.s3_prefix.is_some())
        .map(|p| p.name.as_str())
        .collect();
    for e in &report.events {
        if landing.contains(&e.pipeline.as_str()) {
            assert_eq!((e.status, e.rows), (EventStatus::Missing, 0), "{e:?}");
            let s3_prefix = world
                .spec
                .pipeline(&e.pipeline)
                .unwrap()
                .matcher
                .s3_prefix
                .as_deref()
                .unwrap();
            let want = format!(
                "event {} sent through landing prefix s3://{bucket}/landing/{s3_prefix} did not reach {} within 8 s; look at: `loglift status`; `loglift dlq inspect",
                e.event_id, e.table
            );
            assert!(
                report.failures.iter().any(|f| f.starts_with(&want)),
                "no failure starts with {want:?}:\n{text}"
            );
        } else if e.pipeline == "user_events" {
            // Transform refuses them: the failure says so, with the reject file.
            assert_eq!((e.status, e.rows), (EventStatus::Missing, 0), "{e:?}");
            let want = format!(
                "event {} sent through Kinesis stream {} did not reach {} within 8 s: transform rejected it (too_long: ",
                e.event_id, world.lambda_sources[0].name, e.table
            );
            assert!(
                report.failures.iter().any(|f| f.starts_with(&want)),
                "no failure starts with {want:?}:\n{text}"
            );
        } else {
            // The other entries deliver.
            assert_eq!((e.status, e.rows), (EventStatus::Loaded, 1), "{e:?}");
        }
    }
    assert_eq!(
        report
            .events
            .iter()
            .filter(|e| e.status == EventStatus::Missing)
            .count(),
        2 * landing.len() + 2
    );
    // The audit names the landing pipelines: their files hold events nothing explains.
    // (user_events balances: its events are accounted for as rejected.)
    for a in &report.audits {
        assert_eq!(a.balanced, !landing.contains(&a.pipeline.as_str()), "{a}");
    }
    assert!(
        text.contains("FAILED: event ") && !text.contains("PASSED"),
        "{text}"
    );
}

/// The stream writer on moto: DescribeDeliveryStream tells a Kinesis-source delivery stream
/// (and its stream) from a DirectPut one, and PutRecordBatch delivers (moto writes what a
/// DirectPut delivery stream receives straight to its S3 destination, concatenated).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_writer_describes_and_puts() {
    let Some(moto) = loglift_tests::moto() else {
        return;
    };
    let bucket = moto.new_bucket("smoke-direct").await.unwrap();
    let firehose = firehose_client(&moto);
    let direct = unique_name("smoke-direct");
    firehose
        .create_delivery_stream()
        .delivery_stream_name(&direct)
        .delivery_stream_type(DeliveryStreamType::DirectPut)
        .extended_s3_destination_configuration(s3_destination(&bucket, "direct/"))
        .send()
        .await
        .unwrap();
    let (stream, arn) = moto.new_stream("smoke-source").await.unwrap();
    let fed = unique_name("smoke-fed");
    firehose
        .create_delivery_stream()
        .delivery_stream_name(&fed)
        .delivery_stream_type(DeliveryStreamType::KinesisStreamAsSource)
        .kinesis_stream_source_configuration(
            KinesisStreamSourceConfiguration::builder()
                .kinesis_stream_arn(&arn)
                .role_arn(ROLE)
                .build()
                .unwrap(),
        )
        .extended_s3_destination_configuration(s3_destination(&bucket, ""))
        .send()
        .await
        .unwrap();
    let writer = AwsStreamWriter::new(moto.kinesis_client(), firehose);
    assert_eq!(
        writer.delivery_source(&direct).await.unwrap(),
        DeliverySource::DirectPut
    );
    assert_eq!(
        writer.delivery_source(&fed).await.unwrap(),
        DeliverySource::KinesisStream {
            name: stream.clone(),
            arn
        }
    );
    let missing = writer.delivery_source("no-such-delivery-stream").await;
    assert!(missing.unwrap_err().is_not_found());

    let records = vec![
        Bytes::from_static(b"{\"a\":1}\n"),
        Bytes::from_static(b"{\"b\":2}\n"),
    ];
    writer.put_record_batch(&direct, &records).await.unwrap();
    let store = moto.s3_store();
    let page = store.list(&bucket, "direct/", None).await.unwrap();
    assert_eq!(page.objects.len(), 1, "{page:?}");
    let mut body = Vec::new();
    let object = store.get(&bucket, &page.objects[0].key).await.unwrap();
    tokio::io::AsyncReadExt::read_to_end(&mut { object.body }, &mut body)
        .await
        .unwrap();
    assert_eq!(body, b"{\"a\":1}\n{\"b\":2}\n");

    let put = writer
        .put_records(
            &stream,
            &[loglift_ports::OutgoingRecord {
                partition_key: "k".into(),
                data: Bytes::from_static(b"{}"),
            }],
        )
        .await;
    put.unwrap();
    let read = moto
        .kinesis_reader()
        .read(
            &stream,
            "shardId-000000000000",
            &ShardPosition::TrimHorizon,
            10,
        )
        .await
        .unwrap();
    assert_eq!(read.records.len(), 1);
    assert!(writer
        .put_records(
            "no-such-stream",
            &[loglift_ports::OutgoingRecord {
                partition_key: "k".into(),
                data: Bytes::from_static(b"{}"),
            }],
        )
        .await
        .unwrap_err()
        .is_not_found());
}
