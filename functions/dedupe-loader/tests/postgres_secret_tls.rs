//! The real `dedupe-loader` binary configured as terraform configures it for RDS: credentials in a
//! Secrets Manager secret (moto, `LOGLIFT_POSTGRES_SECRET_ARN`), `sslmode=verify-full` and a CA
//! file (`LOGLIFT_POSTGRES_CA_FILE`), against the harness's PostgreSQL (TLS with a throwaway CA;
//! the secret's role may log in only with its password over TLS). It loads a loader message;
//! given an unrelated CA, its init fails naming the refused certificate.
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
use loglift_tests::{moto, postgres_tls, unique_name, PgTlsEnv, PG_PASSWORD_GROUP};
use serde_json::{json, Value};

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_with_secrets_manager_credentials_over_verified_tls() {
    let (Some(env), Some(PgTlsEnv { pg, ca, other_ca })) = (moto(), postgres_tls()) else {
        return;
    };
    let (admin, conn) = tokio_postgres::connect(&pg.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let role = unique_name("loader").replace('-', "_");
    let password = unique_name("pw");
    let db = unique_name("loader_tls").replace('-', "_");
    // One statement per call: CREATE DATABASE may not run in a transaction block.
    for statement in [
        format!("CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}' IN ROLE {PG_PASSWORD_GROUP}"),
        format!("CREATE DATABASE \"{db}\" OWNER \"{role}\""),
    ] {
        admin.batch_execute(&statement).await.unwrap();
    }
    let (host, port) = pg
        .url
        .split_once('@')
        .and_then(|(_, rest)| rest.split_once('/'))
        .and_then(|(at, _)| at.rsplit_once(':'))
        .map(|(h, p)| (h.to_owned(), p.parse::<u16>().unwrap()))
        .unwrap();
    let secret_arn = env
        .secrets_client()
        .create_secret()
        .name(unique_name("rds-loader"))
        .secret_string(
            json!({"engine": "postgres", "host": host, "port": port, "username": role,
                   "password": password, "dbname": db})
            .to_string(),
        )
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();

    let bucket = env.new_bucket("loader-tls").await.unwrap();
    let store = env.s3_store();
    let source =
        format!("s3://{bucket}/raw/pipeline=user_utm/dt=2026-11-21/hour=10/k.ndjson.gz#v1");
    let mut lines = GzLines::default();
    lines
        .push(&json!({"request_id": "r1", "source": "google", "medium": "cpc", "campaign": null,
            "content": null, "term": null, "matchtype": null, "network": null, "ad_id": null,
            "ad_pos": null, "placement": null, "placement_category": null, "testgroup": null,
            "device": null, "extra": null, "event_id": "r1", "event_time": null,
            "source_object": source, "spec_version": 1, "ingested_at": "2026-11-21 10:00:00.000000"}))
        .unwrap();
    let key = "curated/pipeline=user_utm/dt=2026-11-21/hour=10/tls-00000.ndjson.gz";
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
        "objects": [{"bucket": bucket, "key": key, "version": meta.etag, "bytes": body.len(), "rows": 1}],
        "rejected": 0})
    .to_string();
    let event = json!({"Records": [{"messageId": "m1", "receiptHandle": "rh-m1", "body": message,
        "attributes": {"ApproximateReceiveCount": "1"}, "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:loglift-loader"}]})
    .to_string();

    let spec = format!("{REPO}/spec/pipelines.yaml");
    let ca = ca.display().to_string();
    let other_ca = other_ca.display().to_string();
    let start = |api: &RuntimeApi, ca_file: &str| {
        let vars = [
            ("AWS_ENDPOINT_URL", env.url.as_str()),
            ("LOGLIFT_SPEC", spec.as_str()),
            ("LOGLIFT_LAKE_BUCKET", bucket.as_str()),
            ("LOGLIFT_WAREHOUSE", "postgres"),
            ("LOGLIFT_POSTGRES_SECRET_ARN", secret_arn.as_str()),
            // The secret says where and who; the URL only how.
            ("LOGLIFT_POSTGRES_URL", "postgres:///?sslmode=verify-full"),
            ("LOGLIFT_POSTGRES_CA_FILE", ca_file),
        ];
        api.start_function(
            env!("CARGO_BIN_EXE_dedupe-loader"),
            "loglift-dedupe-loader",
            &vars,
        )
        .expect("start the dedupe-loader binary")
    };

    // The right CA: the message loads.
    let api = RuntimeApi::start().expect("runtime api");
    let _loader = start(&api, &ca);
    api.push_event("req-1", &event);
    let posted = tokio::task::spawn_blocking(move || api.wait_posted(1, Duration::from_secs(60)))
        .await
        .unwrap();
    match posted.first() {
        Some(Posted::Response { body, .. }) => assert_eq!(
            serde_json::from_str::<Value>(body).unwrap(),
            json!({"batchItemFailures": []})
        ),
        other => panic!("{other:?}"),
    }
    let url = format!("{}/{db}", pg.url.rsplit_once('/').unwrap().0);
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let rows = client
        .query("SELECT request_id, medium FROM tracking.utm", &[])
        .await
        .unwrap();
    let got: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(got, [("r1".into(), "cpc".into())]);
    drop(client);

    // An unrelated CA: init fails, and says why.
    let api = RuntimeApi::start().expect("runtime api");
    let mut refused = start(&api, &other_ca);
    let (ok, stderr) =
        tokio::task::spawn_blocking(move || refused.wait_exit(Duration::from_secs(60)))
            .await
            .unwrap();
    assert!(!ok, "init should fail: {stderr}");
    assert!(stderr.contains("loglift init failed"), "{stderr}");
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");
    assert!(!stderr.contains(&password), "{stderr}");

    for statement in [
        format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"),
        format!("DROP ROLE IF EXISTS \"{role}\""),
    ] {
        let _ = admin.batch_execute(&statement).await;
    }
}
