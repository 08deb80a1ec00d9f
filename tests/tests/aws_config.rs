//! `loglift_aws::sdk_config` reads the SDK's own environment: with `AWS_ENDPOINT_URL` pointing at
//! moto, clients built by `loglift-aws` reach it (S3 path-style). Alone in its binary because it
//! sets process environment variables.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use loglift_aws::{s3_client, sdk_config, sqs_client, S3Store, SqsQueue};
use loglift_ports::{ObjectStore, OutgoingMessage, Queue};

#[tokio::test]
async fn sdk_config_follows_aws_endpoint_url() {
    let Some(moto) = loglift_tests::moto() else {
        return;
    };
    // Only this test runs in this process; the variables are the SDK's own.
    std::env::set_var("AWS_ENDPOINT_URL", &moto.url);
    std::env::set_var("AWS_ACCESS_KEY_ID", "test");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    std::env::set_var("AWS_REGION", loglift_tests::REGION);
    std::env::remove_var("AWS_PROFILE");
    let config = sdk_config().await;
    assert_eq!(config.endpoint_url(), Some(moto.url.as_str()));

    let s3 = s3_client(&config);
    let bucket = loglift_tests::unique_name("env-config");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let store = S3Store::new(s3);
    store
        .put(&bucket, "k", Bytes::from_static(b"v"), "text/plain")
        .await
        .unwrap();
    assert!(store.head(&bucket, "k").await.unwrap().is_some());

    let queues = SqsQueue::new(sqs_client(&config));
    let url = queues
        .create_queue(
            &loglift_tests::unique_name("env-config"),
            std::time::Duration::from_secs(30),
            None,
        )
        .await
        .unwrap();
    assert!(url.starts_with(&moto.url), "queue URL {url} is on moto");
    queues.send(&url, &OutgoingMessage::new("x")).await.unwrap();
}
