//! What AWS does between loglift's pieces and moto does not: the events a Kinesis event source
//! mapping and a Firehose processor invocation hand the ingest function, the lake bucket's
//! notifications to the transform queue as terraform configures them, and the loader's Redshift
//! warehouse reached through the Data API test server.
//!
//! Used by the end-to-end and smoke suites, which read moto streams with `GetRecords` and call
//! the handlers in-process (moto's mappings and delivery streams never invoke anything).

use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
    QueueConfiguration, S3KeyFilter,
};
use base64::Engine as _;
use loglift_core::spec::Spec;
use loglift_core::storage::Layout;
use loglift_ports::StreamRecord;
use std::time::Duration;

use loglift_aws::redshift::{DataApiConfig, Target};
use loglift_aws::{DataApi, RedshiftWarehouse};
use loglift_core::storage::Location;
use loglift_ports::ObjectStore;
use serde_json::{json, Value};

use crate::data_api::DataApiServer;
use crate::MotoEnv;

/// The event the Kinesis event source mapping sends for these records.
pub fn esm_event(stream_arn: &str, shard: &str, records: &[StreamRecord]) -> Value {
    let records: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r.partition_key,
                    "sequenceNumber": r.sequence_number,
                    "data": base64::engine::general_purpose::STANDARD.encode(&r.data),
                    "approximateArrivalTimestamp": r.approximate_arrival.timestamp_millis() as f64 / 1000.0,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("{shard}:{}", r.sequence_number),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/loglift-ingest",
                "awsRegion": "us-east-1",
                "eventSourceARN": stream_arn,
            })
        })
        .collect();
    json!({ "Records": records })
}

/// The transformation event a delivery stream reading a Kinesis stream sends its processor for
/// these records of one shard (`invocation_id` names the invocation).
pub fn firehose_event(
    invocation_id: &str,
    delivery_stream_arn: &str,
    source_stream_arn: &str,
    shard: &str,
    records: &[StreamRecord],
) -> Value {
    let records: Vec<Value> = records
        .iter()
        .map(|r| {
            let arrival = r.approximate_arrival.timestamp_millis();
            json!({
                "recordId": format!("{shard}-{}", r.sequence_number),
                "approximateArrivalTimestamp": arrival,
                "data": base64::engine::general_purpose::STANDARD.encode(&r.data),
                "kinesisRecordMetadata": {
                    "shardId": shard,
                    "partitionKey": r.partition_key,
                    "sequenceNumber": r.sequence_number,
                    "subsequenceNumber": 0,
                    "approximateArrivalTimestamp": arrival,
                },
            })
        })
        .collect();
    json!({
        "invocationId": invocation_id,
        "deliveryStreamArn": delivery_stream_arn,
        "sourceKinesisStreamArn": source_stream_arn,
        "region": "us-east-1",
        "records": records,
    })
}

/// Notifications of raw/ and the landing pipelines' prefixes to the transform queue, one
/// configuration per bucket (as terraform builds it from `Layout::notification_filters`).
pub async fn notify(moto: &MotoEnv, layout: &Layout, spec: &Spec, queue_arn: &str) {
    let prefixes: Vec<String> = layout
        .notification_filters(spec)
        .into_iter()
        .map(|f| f.prefix)
        .collect();
    notify_prefixes(moto, &layout.raw.bucket, &prefixes, queue_arn).await;
}

/// `s3:ObjectCreated:*` notifications of `bucket`'s keys under each prefix to the queue.
#[allow(clippy::expect_used)] // test support: a failed setup fails the calling test
pub async fn notify_prefixes(moto: &MotoEnv, bucket: &str, prefixes: &[String], queue_arn: &str) {
    let configs: Vec<QueueConfiguration> = prefixes
        .iter()
        .map(|prefix| {
            let rule = FilterRule::builder()
                .name(FilterRuleName::Prefix)
                .value(prefix)
                .build();
            QueueConfiguration::builder()
                .queue_arn(queue_arn)
                .events(Event::from("s3:ObjectCreated:*"))
                .filter(
                    NotificationConfigurationFilter::builder()
                        .key(S3KeyFilter::builder().filter_rules(rule).build())
                        .build(),
                )
                .build()
                .expect("a queue configuration")
        })
        .collect();
    moto.s3_client()
        .put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .set_queue_configurations(Some(configs))
                .build(),
        )
        .send()
        .await
        .expect("PutBucketNotificationConfiguration");
}

/// The dedupe-loader's Redshift warehouse over the Data API test server: workgroup `loglift`,
/// database `dev`, polling from 20 ms up to 200 ms, statements cancelled at the deadline, COPY
/// manifests under `manifests/` in `bucket`, each load given `budget`.
pub fn data_api_warehouse<S: ObjectStore>(
    server: &DataApiServer,
    store: S,
    bucket: &str,
    budget: Duration,
) -> RedshiftWarehouse<S> {
    let api = DataApi::new(
        server.client(),
        DataApiConfig {
            poll_initial: Duration::from_millis(20),
            poll_max: Duration::from_millis(200),
            cancel_on_deadline: true,
            ..DataApiConfig::new(
                Target::Serverless {
                    workgroup: "loglift".into(),
                },
                "dev",
            )
        },
    );
    RedshiftWarehouse::new(
        api,
        store,
        Location::new(bucket, "manifests/"),
        "arn:aws:iam::123456789012:role/loglift-copy",
        budget,
    )
}
