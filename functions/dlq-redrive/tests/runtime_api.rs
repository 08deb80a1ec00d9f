//! The real `dlq-redrive` binary under the Lambda Runtime API, against moto: it pairs the
//! configured dead-letter queue with its source queue at init, answers a dry run without moving
//! anything, moves every message back on `{"source":"dlqs"}`, and answers a bad command with a
//! typed error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use loglift_ports::{MessageAttribute, OutgoingMessage, Queue};
use loglift_tests::runtime_api::{Posted, RuntimeApi};
use loglift_tests::{create_queue_with_dlq, moto, unique_name};
use serde_json::{json, Value};

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

async fn invoke(api: &std::sync::Arc<RuntimeApi>, id: &str, n: usize, event: Value) -> Posted {
    api.push_event(id, &event.to_string());
    let api = api.clone();
    let posted = tokio::task::spawn_blocking(move || api.wait_posted(n, Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(posted.len(), n, "{posted:?}");
    posted.into_iter().last().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrives_dead_letter_queues_through_the_runtime_api() {
    let Some(env) = moto() else { return };
    let bucket = env.new_bucket("redrive-fn").await.unwrap();
    let queues = env.sqs_queue();
    let (transform, dlq) = create_queue_with_dlq(
        &queues,
        &unique_name("transform"),
        Duration::from_secs(30),
        5,
    )
    .await
    .unwrap();
    for i in 0..3 {
        let mut m = OutgoingMessage::new(format!("{{\"n\":{i}}}"));
        m.attributes
            .insert("origin".into(), MessageAttribute::string("test"));
        queues.send(&dlq, &m).await.unwrap();
    }

    let api = std::sync::Arc::new(RuntimeApi::start().expect("runtime api"));
    let spec = format!("{REPO}/spec/pipelines.yaml");
    let _function = api
        .start_function(
            env!("CARGO_BIN_EXE_dlq-redrive"),
            "loglift-dlq-redrive",
            &[
                ("AWS_ENDPOINT_URL", &env.url),
                ("LOGLIFT_SPEC", &spec),
                ("LOGLIFT_LAKE_BUCKET", &bucket),
                ("LOGLIFT_TRANSFORM_QUEUE", &transform),
                ("LOGLIFT_DLQS", &dlq),
            ],
        )
        .expect("start the dlq-redrive binary");

    let Posted::Response { body, .. } =
        invoke(&api, "r1", 1, json!({"source": "dlqs", "dry_run": true})).await
    else {
        panic!("dry run failed")
    };
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (report["moved"].as_u64(), report["dry_run"].as_bool()),
        (Some(3), Some(true)),
        "{report}"
    );
    assert_eq!(
        queues.depth(&transform).await.unwrap().visible,
        0,
        "a dry run moves nothing"
    );
    assert_eq!(queues.depth(&dlq).await.unwrap().visible, 3);

    let Posted::Response { body, .. } = invoke(&api, "r2", 2, json!({"source": "dlqs"})).await
    else {
        panic!("redrive failed")
    };
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (report["moved"].as_u64(), report["failed"].as_u64()),
        (Some(3), Some(0)),
        "{report}"
    );
    assert_eq!(queues.depth(&dlq).await.unwrap().visible, 0);
    let moved = queues
        .receive(&transform, 10, Duration::from_secs(1), None)
        .await
        .unwrap();
    let mut bodies: Vec<_> = moved.iter().map(|m| m.body.clone()).collect();
    bodies.sort();
    assert_eq!(bodies, ["{\"n\":0}", "{\"n\":1}", "{\"n\":2}"]);
    assert!(moved
        .iter()
        .all(|m| m.attributes.get("origin") == Some(&MessageAttribute::string("test"))));

    let Posted::Error { body, .. } = invoke(&api, "r3", 3, json!({"source": "tape"})).await else {
        panic!("a bad command must fail")
    };
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["errorType"], "loglift::Parse", "{error}");
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap()
            .contains("unknown variant"),
        "{error}"
    );
}
