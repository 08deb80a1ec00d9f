//! The Redshift warehouse end to end: curated objects in moto S3, the COPY manifest written
//! there, the load plan run by the real Data API client against the PostgreSQL-backed Data API
//! test server (`loglift_tests::data_api`: COPY from the manifest reads moto S3). Happy path with
//! duplicates, a redelivery that the ledger turns into a no-op, and a serialization conflict
//! (FAILED) that applies nothing and succeeds on the next attempt with a new ClientToken.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod warehouse_support;

use std::time::Duration;

use loglift_aws::redshift::Target;
use loglift_aws::{DataApi, DataApiConfig, RedshiftWarehouse};
use loglift_core::spec::DuplicatePolicy;
use loglift_core::storage::{LoadReport, Location};
use loglift_ports::Warehouse;
use loglift_tests::data_api::{DataApiServer, Fault};
use loglift_tests::{moto, postgres, unique_name};
use warehouse_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_through_the_data_api_exactly_once() {
    let (Some(env), Some(pg)) = (moto(), postgres()) else {
        return;
    };
    let s3 = env.s3_client();
    // The support suite writes into bucket `lake`; other tests may have made it already.
    let _ = s3.create_bucket().bucket(BUCKET).send().await;
    let server = DataApiServer::start_in_new_schema(&pg, s3).await.unwrap();
    let schema = server.schema().to_owned();
    let p = pipeline_in("user_events", DuplicatePolicy::KeepFirst, &schema);
    let store = env.s3_store();
    let prefix = unique_name("rs");
    let a = put_object(
        &store,
        &p,
        &format!("{prefix}/a.ndjson.gz"),
        &source_object(&format!("{prefix}/src-a")),
        &[(1, 1), (2, 1), (3, 1), (3, 1)],
    )
    .await;
    let b = put_object(
        &store,
        &p,
        &format!("{prefix}/b.ndjson.gz"),
        &source_object(&format!("{prefix}/src-b")),
        &[(3, 2), (4, 2), (5, 2)],
    )
    .await;
    let api = DataApi::new(
        server.client(),
        DataApiConfig::new(
            Target::Serverless {
                workgroup: "loglift".into(),
            },
            "dev",
        ),
    );
    let warehouse = RedshiftWarehouse::new(
        api,
        store.clone(),
        Location::new(BUCKET, format!("manifests/{prefix}/")),
        "arn:aws:iam::123456789012:role/loglift-copy",
        Duration::from_secs(60),
    );
    warehouse.ensure_table(&p).await.unwrap();
    warehouse.ensure_table(&p).await.unwrap();
    let mut first = batch(
        &p,
        vec![
            message(&p, &format!("{prefix}/src-a"), vec![a.clone()]),
            message(&p, &format!("{prefix}/src-b"), vec![b.clone()]),
        ],
    );
    first.attempt = 1;
    let report = warehouse.load(&p, &first).await.unwrap();
    assert_eq!(
        report,
        LoadReport {
            inserted: 5,
            replaced: 0,
            duplicates_skipped: 2,
            objects_skipped: 0
        }
    );
    assert_eq!(count(&server, &schema).await, "5");
    let manifests = env
        .s3_client()
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix(format!("manifests/{prefix}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(manifests.contents().len(), 1);

    // The same batch again (a redelivery after the commit): the ledger skips both objects.
    let mut again = first.clone();
    again.attempt = 2;
    let report = warehouse.load(&p, &again).await.unwrap();
    assert_eq!(report.inserted, 0);
    assert_eq!(report.objects_skipped, 2);
    assert_eq!(count(&server, &schema).await, "5");

    // A serialization conflict: FAILED, retryable, nothing applied; the next attempt loads.
    let c = put_object(
        &store,
        &p,
        &format!("{prefix}/c.ndjson.gz"),
        &source_object(&format!("{prefix}/src-c")),
        &[(6, 1), (7, 1)],
    )
    .await;
    let mut third = batch(&p, vec![message(&p, &format!("{prefix}/src-c"), vec![c])]);
    third.attempt = 1;
    server.inject(Fault::Fail(
        "ERROR: 1023 Serializable isolation violation on table events".into(),
    ));
    let err = warehouse.load(&p, &third).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(count(&server, &schema).await, "5");
    third.attempt = 2;
    assert_eq!(warehouse.load(&p, &third).await.unwrap().inserted, 2);
    assert_eq!(count(&server, &schema).await, "7");

    // A COPY error is poison, with the reason.
    server.inject(Fault::Fail("ERROR: Load into table 'loglift_stage' failed. Check 'sys_load_error_detail' system table for details.".into()));
    third.attempt = 3;
    let err = warehouse.load(&p, &third).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("Load into table"), "{err}");

    // The ledger queries of audit and status, on a table of their own.
    let mut q = p.clone();
    q.table = format!("{schema}.ledger_check");
    check_ledger_queries(&warehouse, &store, &q, &format!("{prefix}-ledger")).await;
}

async fn count(server: &DataApiServer, schema: &str) -> String {
    let sql = format!("SELECT count(*) FROM \"{schema}\".\"events\"");
    server.pg_scalar(&sql).await.unwrap().unwrap()
}
