//! The real `dedupe-loader` binary under the Lambda Runtime API, loading into the harness's
//! PostgreSQL (`LOGLIFT_WAREHOUSE=postgres`) from curated objects in moto S3: a loader message
//! loads once, its redelivery is a no-op, a poison message is named in the partial response.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use bytes::Bytes;
use loglift_core::ndjson::GzLines;
use loglift_ports::ObjectStore;
use loglift_tests::runtime_api::{Posted, RuntimeApi};
use loglift_tests::{moto, postgres, unique_name};
use serde_json::{json, Value};

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn sqs_event(records: &[(&str, String)]) -> String {
    let records: Vec<Value> = records
        .iter()
        .map(|(id, body)| {
            json!({"messageId": id, "receiptHandle": format!("rh-{id}"), "body": body,
                   "attributes": {"ApproximateReceiveCount": "1"}, "eventSource": "aws:sqs",
                   "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:loglift-loader"})
        })
        .collect();
    json!({ "Records": records }).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_loader_messages_into_postgres_through_the_runtime_api() {
    let (Some(env), Some(pg)) = (moto(), postgres()) else {
        return;
    };
    let bucket = env.new_bucket("loader-fn").await.unwrap();
    let store = env.s3_store();
    // The database of this test, so its tables and ledger are its own.
    let db = unique_name("loader").replace('-', "_");
    let (admin, conn) = tokio_postgres::connect(&pg.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    admin
        .batch_execute(&format!("CREATE DATABASE \"{db}\""))
        .await
        .unwrap();
    let url = format!("{}/{db}", pg.url.rsplit_once('/').unwrap().0);

    let source =
        format!("s3://{bucket}/raw/pipeline=user_utm/dt=2026-11-21/hour=10/k.ndjson.gz#v1");
    let mut lines = GzLines::default();
    for (id, medium) in [("r1", "cpc"), ("r2", "email"), ("r1", "cpc")] {
        lines
            .push(&json!({"request_id": id, "source": "google", "medium": medium, "campaign": null,
                "content": null, "term": null, "matchtype": null, "network": null, "ad_id": null,
                "ad_pos": null, "placement": null, "placement_category": null, "testgroup": null,
                "device": null, "extra": null, "event_id": id, "event_time": null,
                "source_object": source, "spec_version": 1, "ingested_at": "2026-11-21 10:00:00.000000"}))
            .unwrap();
    }
    let key = "curated/pipeline=user_utm/dt=2026-11-21/hour=10/abc-00000.ndjson.gz";
    let body = lines.finish().unwrap();
    let meta = store
        .put(
            &bucket,
            key,
            Bytes::from(body.clone()),
            "application/x-ndjson",
        )
        .await
        .unwrap();
    let message = json!({"v": 1, "pipeline": "user_utm", "table": "tracking.utm", "spec_version": 1,
        "source": {"bucket": bucket, "key": "raw/pipeline=user_utm/dt=2026-11-21/hour=10/k.ndjson.gz", "version": "v1"},
        "objects": [{"bucket": bucket, "key": key, "version": meta.etag, "bytes": body.len(), "rows": 3}],
        "rejected": 0})
    .to_string();

    let api = RuntimeApi::start().expect("runtime api");
    let spec = format!("{REPO}/spec/pipelines.yaml");
    let _loader = api
        .start_function(
            env!("CARGO_BIN_EXE_dedupe-loader"),
            "loglift-dedupe-loader",
            &[
                ("AWS_ENDPOINT_URL", &env.url),
                ("LOGLIFT_SPEC", &spec),
                ("LOGLIFT_LAKE_BUCKET", &bucket),
                ("LOGLIFT_WAREHOUSE", "postgres"),
                ("LOGLIFT_POSTGRES_URL", &url),
            ],
        )
        .expect("start the dedupe-loader binary");
    api.push_event(
        "req-1",
        &sqs_event(&[("m1", message.clone()), ("m2", "{\"v\":1}".into())]),
    );
    api.push_event("req-2", &sqs_event(&[("m3", message)]));
    let posted = tokio::task::spawn_blocking(move || api.wait_posted(2, Duration::from_secs(60)))
        .await
        .unwrap();
    let bodies: Vec<Value> = posted
        .iter()
        .map(|p| match p {
            Posted::Response { body, .. } => serde_json::from_str(body).unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        bodies[0],
        json!({"batchItemFailures": [{"itemIdentifier": "m2"}]})
    );
    assert_eq!(bodies[1], json!({"batchItemFailures": []}));

    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let rows = client
        .query(
            "SELECT request_id, medium FROM tracking.utm ORDER BY request_id",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        got,
        [("r1".into(), "cpc".into()), ("r2".into(), "email".into())]
    );
    assert!(store
        .head(&bucket, "errors/failures/queue=loglift-loader/m2.json")
        .await
        .unwrap()
        .is_some());
}

#[test]
fn names_the_failure_kind_of_a_failed_invocation() {
    // A batch that is not the SQS event shape fails the whole invocation as a malformed event,
    // not as a Rust type name. The Redshift target needs no connection at init.
    let api = RuntimeApi::start().expect("runtime api");
    let spec = format!("{REPO}/spec/pipelines.yaml");
    let _loader = api
        .start_function(
            env!("CARGO_BIN_EXE_dedupe-loader"),
            "loglift-dedupe-loader",
            &[
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
                ("LOGLIFT_SPEC", &spec),
                ("LOGLIFT_LAKE_BUCKET", "lake"),
                ("LOGLIFT_REDSHIFT_WORKGROUP", "wg"),
                (
                    "LOGLIFT_COPY_ROLE_ARN",
                    "arn:aws:iam::123456789012:role/copy",
                ),
            ],
        )
        .expect("start the dedupe-loader binary");
    api.push_event("req-1", r#"{"Records":[{"messageId":7}]}"#);
    let posted = api.wait_posted(1, Duration::from_secs(60));
    let [Posted::Error { request_id, body }] = posted.as_slice() else {
        panic!("{posted:?}")
    };
    assert_eq!(request_id, "req-1");
    let error: Value = serde_json::from_str(body).unwrap();
    assert_eq!(error["errorType"], "loglift::MalformedEvent", "{error}");
}
