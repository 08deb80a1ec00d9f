//! SQS dead-letter queues and the way back: a poison message reaches the DLQ through the real
//! transform handler and the redrive policy; `inspect` shows it next to its failure reason;
//! `move_messages` (the manual move, generic over the `Queue` port) runs against moto SQS and
//! against local mode's SQLite queues; an interrupted move is resumed. SQS's native move task
//! (StartMessageMoveTask, ListMessageMoveTasks, CancelMessageMoveTask) is not implemented by
//! moto: those calls are tested through the AWS SDK's own mocking support (`aws-smithy-mocks`,
//! which answers modeled outputs and errors in place of the service), stated as such below.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use loglift_aws::{MoveTaskStatus, SqsQueue};
use loglift_core::spec::Spec;
use loglift_core::storage::Layout;
use loglift_local::{FsObjectStore, SqliteQueue, StaticLookup};
use loglift_ports::{
    AttributeValue, MessageAttribute, OutgoingMessage, PortResult, Queue, QueueDepth,
    ReceivedMessage, SystemClock,
};
use loglift_stages::esm::{local_queue_arn, poll_once};
use loglift_stages::priority::PriorityCache;
use loglift_stages::redrive::sqs::{self, BodySummary, Filter, MoveOptions};
use loglift_stages::redrive::{NoProgress, Progress};
use loglift_stages::transform::{handle_sqs, TransformDeps};
use loglift_tests::{create_queue_with_dlq, moto, unique_name, MotoEnv, TestQueues};

const SPEC: &str = include_str!("../../spec/pipelines.yaml");
const POISON: &str = r#"{"not": "an s3 event"}"#;

/// A loader message body for `pipeline`, numbered.
fn loader_body(pipeline: &str, n: usize) -> String {
    serde_json::json!({
        "v": 1, "pipeline": pipeline, "table": format!("tracking.{pipeline}"), "spec_version": 1,
        "source": {"bucket": "lake", "key": format!("raw/pipeline={pipeline}/{n}.ndjson.gz"), "version": "e"},
        "objects": [], "rejected": 0,
    })
    .to_string()
}

/// A message with an attribute of each SQS data type: String (one with spaces and non-ASCII
/// text), Number, Binary (bytes that are no UTF-8), and custom `Number.float` / `String.custom`
/// / `Binary.gz` types.
fn message(body: String, n: usize) -> OutgoingMessage {
    OutgoingMessage {
        body,
        attributes: BTreeMap::from([
            (
                "loglift-n".to_owned(),
                MessageAttribute::string(n.to_string()),
            ),
            (
                "trace.id".to_owned(),
                MessageAttribute::string(format!("Root=1-{n}; ünïcode ✓")),
            ),
            (
                "count".to_owned(),
                MessageAttribute::number(format!("-{n}.5")),
            ),
            (
                "blob".to_owned(),
                MessageAttribute::binary(vec![0u8, 0xff, 0xfe, n as u8, b'\n']),
            ),
            (
                "ratio".to_owned(),
                MessageAttribute::text("Number.float", "3.25e2"),
            ),
            (
                "tag".to_owned(),
                MessageAttribute::text("String.custom", format!("t{n}")),
            ),
            (
                "packed".to_owned(),
                MessageAttribute {
                    data_type: "Binary.gz".to_owned(),
                    value: AttributeValue::Binary(vec![0x1f, 0x8b, 0x08].into()),
                },
            ),
        ]),
    }
}

/// Receive everything visible (deleting it), as (body, attributes) pairs.
async fn drain_all<Q: Queue>(q: &Q, url: &str) -> Vec<ReceivedMessage> {
    let mut out = Vec::new();
    let mut empty = 0;
    while empty < 2 {
        let batch = q
            .receive(url, 10, Duration::from_millis(500), None)
            .await
            .unwrap();
        if batch.is_empty() {
            empty += 1;
        }
        for m in batch {
            q.delete(url, &m.receipt_handle).await.unwrap();
            out.push(m);
        }
    }
    out
}

/// Counts what a run reports to its progress bar.
#[derive(Default)]
struct Counter {
    total: AtomicU64,
    advanced: AtomicU64,
}

impl Progress for Counter {
    fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::SeqCst);
    }
    fn advance(&self, n: u64) {
        self.advanced.fetch_add(n, Ordering::SeqCst);
    }
}

/// A source queue with a DLQ on moto, and `n` loader messages (with attributes) sent straight
/// to the DLQ, alternating pipelines `a` and `b`. Returns (queues, source, dlq).
async fn moto_dlq_with(env: &MotoEnv, prefix: &str, n: usize) -> (SqsQueue, String, String) {
    let queues = env.sqs_queue();
    let (source, dlq) =
        create_queue_with_dlq(&queues, &unique_name(prefix), Duration::from_secs(30), 5)
            .await
            .unwrap();
    for i in 0..n {
        let pipeline = if i % 2 == 0 { "a" } else { "b" };
        queues
            .send(&dlq, &message(loader_body(pipeline, i), i))
            .await
            .unwrap();
    }
    (queues, source, dlq)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_reaches_the_dlq_and_inspect_shows_its_reason() {
    let Some(env) = moto() else { return };
    let bucket = env.new_bucket("redrive-q").await.unwrap();
    let queues = env.sqs_queue();
    let name = unique_name("q-transform");
    let (transform_queue, dlq) = create_queue_with_dlq(&queues, &name, Duration::from_secs(1), 2)
        .await
        .unwrap();
    let loader_queue = queues
        .create(&format!("{name}-loader"), Duration::from_secs(30), None)
        .await
        .unwrap();
    let arn = queues.queue_arn(&transform_queue).await.unwrap();
    let layout = Layout::single_bucket(&bucket);
    let deps = TransformDeps {
        spec: Spec::parse(SPEC).unwrap(),
        layout: layout.clone(),
        store: env.s3_store(),
        queue: queues.clone(),
        clock: SystemClock,
        loader_queue,
        limits: Default::default(),
        priorities: PriorityCache::new(env.dynamo_lookup()),
    };
    let id = queues
        .send(&transform_queue, &OutgoingMessage::new(POISON))
        .await
        .unwrap();

    // The transform handler fails it on every receive; after maxReceiveCount (2) receives the
    // redrive policy moves it to the DLQ on the next one.
    let mut failed = 0;
    for _ in 0..40 {
        let poll = poll_once(&queues, &transform_queue, &arn, 10, None, |event| {
            let deps = &deps;
            async move { handle_sqs(deps, &event).await.map(|(f, _)| f) }
        })
        .await
        .unwrap()
        .unwrap();
        failed += poll.failed;
        if queues.depth(&dlq).await.unwrap().visible > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(failed, 2, "failed receives before the move");
    assert_eq!(
        queues.depth(&dlq).await.unwrap(),
        QueueDepth {
            visible: 1,
            in_flight: 0
        }
    );

    // The sources of the DLQ (ListDeadLetterSourceQueues) and the policy (RedrivePolicy).
    assert_eq!(
        queues.dead_letter_sources(&dlq).await.unwrap(),
        [transform_queue.as_str()]
    );
    let policy = queues
        .redrive_policy(&transform_queue)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (policy.dead_letter_queue.as_str(), policy.max_receive_count),
        (dlq.as_str(), 2)
    );
    assert_eq!(queues.redrive_policy(&dlq).await.unwrap(), None);
    assert_eq!(
        queues.queue_url(&format!("{name}-dlq")).await.unwrap(),
        dlq,
        "a name is looked up"
    );
    assert_eq!(queues.queue_url(&dlq).await.unwrap(), dlq, "a URL is kept");

    // Inspect: the message, unconsumed, next to the reason transform recorded under the source
    // queue's name (the message id survived the move).
    let names = [
        loglift_aws::queue_name(&dlq).to_owned(),
        loglift_aws::queue_name(&transform_queue).to_owned(),
    ];
    let found = sqs::inspect(&queues, &dlq, &deps.store, &layout, &names, 10, Utc::now())
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let m = &found[0];
    assert_eq!(m.message_id, id);
    assert!(
        matches!(&m.summary, BodySummary::Other { preview, .. } if preview == POISON),
        "{:?}",
        m.summary
    );
    assert!(
        m.age_seconds.is_some_and(|a| (0..120).contains(&a)),
        "{m:?}"
    );
    let failure = m.failure.as_ref().expect("a recorded reason");
    assert_eq!(failure.stage, "transform");
    assert_eq!(failure.queue, names[1]);
    assert_eq!(failure.receive_count, 2);
    assert!(
        failure.reason.contains("not an S3 event notification"),
        "{failure:?}"
    );
    assert_eq!(
        queues.depth(&dlq).await.unwrap().visible,
        1,
        "inspect leaves the message visible"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_leaves_both_queues_unchanged_and_lists_what_would_move() {
    let Some(env) = moto() else { return };
    let (queues, source, dlq) = moto_dlq_with(&env, "q-dry", 12).await;
    let opts = MoveOptions {
        dry_run: true,
        ..MoveOptions::default()
    };
    let report = sqs::move_messages(&queues, &dlq, &source, &opts, &NoProgress)
        .await
        .unwrap();
    assert!(report.dry_run);
    assert_eq!((report.moved, report.skipped, report.failed), (12, 0, 0));
    assert_eq!(report.details.len(), 12, "{:?}", report.details);
    assert!(
        report.details.iter().all(|d| d.starts_with("would move ")
            && (d.contains("loader a → tracking.a") || d.contains("loader b → tracking.b"))),
        "{:?}",
        report.details
    );
    // Everything visible again at once (not after the 120 s hold), nothing sent.
    assert_eq!(
        queues.depth(&dlq).await.unwrap(),
        QueueDepth {
            visible: 12,
            in_flight: 0
        }
    );
    assert_eq!(queues.depth(&source).await.unwrap(), QueueDepth::default());
    let left = drain_all(&queues, &dlq).await;
    assert_eq!(left.len(), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_redrive_moves_only_matches() {
    let Some(env) = moto() else { return };
    let (queues, source, dlq) = moto_dlq_with(&env, "q-filter", 10).await;
    let opts = MoveOptions {
        filter: Some(Filter::parse("pipeline == a").unwrap()),
        ..MoveOptions::default()
    };
    let counter = Counter::default();
    let report = sqs::move_messages(&queues, &dlq, &source, &opts, &counter)
        .await
        .unwrap();
    assert_eq!((report.moved, report.skipped, report.failed), (5, 5, 0));
    assert_eq!(counter.total.load(Ordering::SeqCst), 10);
    assert_eq!(
        counter.advanced.load(Ordering::SeqCst),
        10,
        "each message counted once"
    );
    // The non-matching ones are visible again right away.
    assert_eq!(
        queues.depth(&dlq).await.unwrap(),
        QueueDepth {
            visible: 5,
            in_flight: 0
        }
    );
    let moved = drain_all(&queues, &source).await;
    assert_eq!(moved.len(), 5);
    assert!(moved.iter().all(|m| m.body.contains(r#""pipeline":"a""#)));
    let left = drain_all(&queues, &dlq).await;
    assert!(left.iter().all(|m| m.body.contains(r#""pipeline":"b""#)));

    // A regex on an S3 notification's (form-encoded) key.
    let s3 = |key: &str| {
        format!(
            r#"{{"Records":[{{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{{"bucket":{{"name":"lake"}},"object":{{"key":"{key}"}}}}}}]}}"#
        )
    };
    for key in [
        "raw/pipeline%3Dapp_logs/dt%3D2026-01-01/hour%3D00/x.gz",
        "raw/pipeline%3Duser_events/dt%3D2026-01-01/hour%3D00/y.gz",
    ] {
        queues
            .send(&dlq, &OutgoingMessage::new(s3(key)))
            .await
            .unwrap();
    }
    let opts = MoveOptions {
        filter: Some(
            Filter::parse("$.Records[0].s3.object.key ~ ^raw/pipeline%3Dapp_logs/").unwrap(),
        ),
        ..MoveOptions::default()
    };
    let report = sqs::move_messages(&queues, &dlq, &source, &opts, &NoProgress)
        .await
        .unwrap();
    assert_eq!((report.moved, report.skipped), (1, 1));
    let moved = drain_all(&queues, &source).await;
    assert_eq!(moved.len(), 1);
    assert!(moved[0].body.contains("app_logs"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_keeps_each_attribute_type_and_value() {
    // A message moved from a DLQ arrives with each attribute's data type and value as sent:
    // Number stays Number (not String), Binary keeps its bytes, custom types keep their suffix.
    let Some(env) = moto() else { return };
    let (queues, source, dlq) = moto_dlq_with(&env, "q-types", 1).await;
    let report = sqs::move_messages(&queues, &dlq, &source, &MoveOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!((report.moved, report.failed), (1, 0));
    let arrived = drain_all(&queues, &source).await;
    let [m] = arrived.as_slice() else {
        panic!("{arrived:?}")
    };
    let types: Vec<(&str, &str)> = m
        .attributes
        .iter()
        .map(|(name, a)| (name.as_str(), a.data_type.as_str()))
        .collect();
    assert_eq!(
        types,
        [
            ("blob", "Binary"),
            ("count", "Number"),
            ("loglift-n", "String"),
            ("packed", "Binary.gz"),
            ("ratio", "Number.float"),
            ("tag", "String.custom"),
            ("trace.id", "String"),
        ]
    );
    assert_eq!(
        m.attributes["blob"].value,
        AttributeValue::Binary(vec![0u8, 0xff, 0xfe, 0, b'\n'].into())
    );
    assert_eq!(m.attributes["count"].as_str(), Some("-0.5"));
    assert_eq!(m.attributes, message(loader_body("a", 0), 0).attributes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_redrive_empties_the_dlq_and_each_message_arrives_once_intact() {
    let Some(env) = moto() else { return };
    let n = 25;
    let (queues, source, dlq) = moto_dlq_with(&env, "q-full", n).await;
    let sent: HashMap<String, BTreeMap<String, MessageAttribute>> = (0..n)
        .map(|i| {
            let m = message(loader_body(if i % 2 == 0 { "a" } else { "b" }, i), i);
            (m.body, m.attributes)
        })
        .collect();
    let opts = MoveOptions {
        rate_per_second: Some(20.0),
        ..MoveOptions::default()
    };
    let counter = Counter::default();
    let report = sqs::move_messages(&queues, &dlq, &source, &opts, &counter)
        .await
        .unwrap();
    assert_eq!((report.moved, report.skipped, report.failed), (25, 0, 0));
    assert!(report.details.is_empty(), "{:?}", report.details);
    assert_eq!(counter.total.load(Ordering::SeqCst), 25);
    assert_eq!(counter.advanced.load(Ordering::SeqCst), 25);
    assert_eq!(queues.depth(&dlq).await.unwrap(), QueueDepth::default());
    let arrived = drain_all(&queues, &source).await;
    assert_eq!(arrived.len(), n, "each message arrives once");
    // 25 sends at 20/s: the first at once, the others 50 ms apart, so the target's send times
    // span at least 1.2 s (unpaced, moto takes them in a few hundred ms).
    let sent_at: Vec<_> = arrived.iter().map(|m| m.sent_at.unwrap()).collect();
    let span = *sent_at.iter().max().unwrap() - *sent_at.iter().min().unwrap();
    assert!(
        span >= chrono::Duration::milliseconds(24 * 50 - 20),
        "rate limit not applied: sends spanned {span}"
    );
    let mut bodies = HashMap::new();
    for m in &arrived {
        *bodies.entry(m.body.clone()).or_insert(0) += 1;
        assert_eq!(
            Some(&m.attributes),
            sent.get(&m.body),
            "attributes intact for {}",
            m.body
        );
    }
    assert_eq!(bodies.len(), n);
    assert!(bodies.values().all(|&c| c == 1));
}

/// The `Queue` port with a kill switch: after `kill_after` sends, the next delete never returns
/// (the process "dies" between a send and its delete). A test double for the interruption only;
/// every call that does happen goes to the real queue.
struct KillAfterSend<'a, Q> {
    inner: &'a Q,
    kill_after: usize,
    sends: AtomicUsize,
}

impl<Q: Queue> Queue for KillAfterSend<'_, Q> {
    async fn send(&self, queue: &str, message: &OutgoingMessage) -> PortResult<String> {
        let id = self.inner.send(queue, message).await?;
        self.sends.fetch_add(1, Ordering::SeqCst);
        Ok(id)
    }
    async fn receive(
        &self,
        queue: &str,
        max: u32,
        wait: Duration,
        visibility: Option<Duration>,
    ) -> PortResult<Vec<ReceivedMessage>> {
        self.inner.receive(queue, max, wait, visibility).await
    }
    async fn delete(&self, queue: &str, receipt_handle: &str) -> PortResult<()> {
        if self.sends.load(Ordering::SeqCst) >= self.kill_after {
            std::future::pending::<()>().await;
        }
        self.inner.delete(queue, receipt_handle).await
    }
    async fn change_visibility(
        &self,
        queue: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> PortResult<()> {
        self.inner
            .change_visibility(queue, receipt_handle, timeout)
            .await
    }
    async fn depth(&self, queue: &str) -> PortResult<loglift_ports::QueueDepth> {
        self.inner.depth(queue).await
    }
}

/// Kill a move between the `kill_after`-th send and its delete, then resume it once the hold
/// ran out: every message ends in `source` (one of them twice), the DLQ is empty.
async fn interrupted_then_resumed<Q: Queue>(queues: &Q, source: &str, dlq: &str, n: usize) {
    let hold = 2;
    let opts = MoveOptions {
        visibility_timeout_seconds: Some(hold),
        ..MoveOptions::default()
    };
    let killer = KillAfterSend {
        inner: queues,
        kill_after: 4,
        sends: AtomicUsize::new(0),
    };
    let run = sqs::move_messages(&killer, dlq, source, &opts, &NoProgress);
    assert!(
        tokio::time::timeout(Duration::from_secs(3), run)
            .await
            .is_err(),
        "the run is killed after its 4th send"
    );
    assert_eq!(killer.sends.load(Ordering::SeqCst), 4);
    // 3 moved and deleted, the 4th sent but not deleted: hidden in the DLQ until its hold ends
    // (with what else the killed run held).
    assert_eq!(queues.depth(source).await.unwrap().visible, 4);
    tokio::time::sleep(Duration::from_secs(hold + 1)).await;
    let report = sqs::move_messages(queues, dlq, source, &opts, &NoProgress)
        .await
        .unwrap();
    assert_eq!(
        report.moved,
        (n - 3) as u64,
        "the resumed run moves the rest, the interrupted one included"
    );
    assert_eq!(queues.depth(dlq).await.unwrap(), QueueDepth::default());
    let arrived = drain_all(queues, source).await;
    assert_eq!(arrived.len(), n + 1, "one message moved once more");
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for m in &arrived {
        *counts.entry(m.body.as_str()).or_default() += 1;
    }
    assert_eq!(counts.len(), n, "every message arrived");
    assert_eq!(counts.values().filter(|&&c| c == 2).count(), 1);
    assert!(counts.values().all(|&c| c <= 2), "at most once more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_redrive_resumed_moves_each_message_at_most_once_more() {
    let Some(env) = moto() else { return };
    let (queues, source, dlq) = moto_dlq_with(&env, "q-kill", 8).await;
    interrupted_then_resumed(&queues, &source, &dlq, 8).await;
}

/// Local mode: the transform handler fails a poison message on the SQLite queue until the
/// redrive policy moves it to the DLQ; inspect reads its reason from the directory store; the
/// same `move_messages` moves DLQ messages back, honouring `older_than` and `max`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_mode_moves_sqlite_dlq_messages_with_the_same_function() {
    let dir = tempfile::tempdir().unwrap();
    let queues = SqliteQueue::open(dir.path().join("queues.db")).unwrap();
    let (source, dlq) = create_queue_with_dlq(&queues, "transform", Duration::from_secs(30), 2)
        .await
        .unwrap();
    let loader = queues
        .create("loader", Duration::from_secs(30), None)
        .await
        .unwrap();
    let store = FsObjectStore::new(dir.path().join("s3"));
    let layout = Layout::single_bucket("local-lake");
    let deps = TransformDeps {
        spec: Spec::parse(SPEC).unwrap(),
        layout: layout.clone(),
        store: store.clone(),
        queue: queues,
        clock: SystemClock,
        loader_queue: loader,
        limits: Default::default(),
        priorities: PriorityCache::new(StaticLookup::default()),
    };
    let queues = &deps.queue;
    let poison_id = queues
        .send(&source, &OutgoingMessage::new(POISON))
        .await
        .unwrap();
    for _ in 0..3 {
        let poll = poll_once(
            queues,
            &source,
            &local_queue_arn(&source),
            10,
            Some(Duration::ZERO),
            |event| {
                let deps = &deps;
                async move { handle_sqs(deps, &event).await.map(|(f, _)| f) }
            },
        )
        .await
        .unwrap()
        .unwrap();
        assert!(poll.received <= 1);
    }
    assert_eq!(queues.depth(&dlq).await.unwrap().visible, 1);
    assert_eq!(queues.dead_letter_sources(&dlq).unwrap(), [source.as_str()]);
    let found = sqs::inspect(
        queues,
        &dlq,
        &store,
        &layout,
        &[dlq.clone(), source.clone()],
        10,
        Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].message_id, poison_id);
    let failure = found[0].failure.as_ref().expect("reason");
    assert!(
        failure.reason.contains("not an S3 event notification"),
        "{failure:?}"
    );
    // Drop the poison (it would only fail again) and fill the DLQ with loader messages.
    let poison = queues.receive(&dlq, 1, Duration::ZERO, None).await.unwrap();
    queues
        .delete(&dlq, &poison[0].receipt_handle)
        .await
        .unwrap();
    for i in 0..6 {
        queues
            .send(&dlq, &message(loader_body("a", i), i))
            .await
            .unwrap();
    }

    // Nothing is an hour old: all skipped, all visible again.
    let opts = MoveOptions {
        older_than_seconds: Some(3600),
        ..MoveOptions::default()
    };
    let report = sqs::move_messages(queues, &dlq, &source, &opts, &NoProgress)
        .await
        .unwrap();
    assert_eq!((report.moved, report.skipped), (0, 6));
    assert_eq!(queues.depth(&dlq).await.unwrap().visible, 6);

    // Older than 1 s, at most 4.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let opts = MoveOptions {
        older_than_seconds: Some(1),
        max: Some(4),
        ..MoveOptions::default()
    };
    let report = sqs::move_messages(queues, &dlq, &source, &opts, &NoProgress)
        .await
        .unwrap();
    assert_eq!(report.moved, 4);
    assert_eq!(
        queues.depth(&dlq).await.unwrap(),
        QueueDepth {
            visible: 2,
            in_flight: 0
        }
    );
    let arrived = drain_all(queues, &source).await;
    assert_eq!(arrived.len(), 4);
    for m in &arrived {
        let n: usize = m.attributes["loglift-n"].as_str().unwrap().parse().unwrap();
        assert_eq!(m.body, loader_body("a", n));
        assert_eq!(m.attributes, message(loader_body("a", n), n).attributes);
    }

    // The same queue as source and target is refused; the interrupted-run proof holds here too.
    assert!(
        sqs::move_messages(queues, &dlq, &dlq, &MoveOptions::default(), &NoProgress)
            .await
            .is_err()
    );
    drain_all(queues, &dlq).await;
    for i in 0..5 {
        queues
            .send(&dlq, &message(loader_body("b", i), i))
            .await
            .unwrap();
    }
    interrupted_then_resumed(queues, &source, &dlq, 5).await;
}

// ---------------------------------------------------------------------------------------------
// The native move task, through the AWS SDK's mocks (moto has no StartMessageMoveTask).
// ---------------------------------------------------------------------------------------------

mod native {
    use super::*;
    use aws_sdk_sqs::config::retry::RetryConfig;
    use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_sqs::error::ErrorMetadata;
    use aws_sdk_sqs::operation::cancel_message_move_task::CancelMessageMoveTaskOutput;
    use aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesOutput;
    use aws_sdk_sqs::operation::list_message_move_tasks::ListMessageMoveTasksOutput;
    use aws_sdk_sqs::operation::start_message_move_task::{
        StartMessageMoveTaskError, StartMessageMoveTaskOutput,
    };
    use aws_sdk_sqs::types::error::{RequestThrottled, UnsupportedOperation};
    use aws_sdk_sqs::types::{ListMessageMoveTasksResultEntry, QueueAttributeName};
    use aws_sdk_sqs::Client;
    use aws_smithy_mocks::{mock, MockResponseInterceptor, Rule, RuleMode};

    const DLQ: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/app-dlq";
    const DLQ_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:app-dlq";
    const SRC: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/app";
    const SRC_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:app";

    /// An SQS client whose calls are answered by `rules` (aws-smithy-mocks), never sent.
    fn mocked(rules: &[&Rule]) -> SqsQueue {
        let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for rule in rules {
            interceptor = interceptor.with_rule(rule);
        }
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "mock"))
            .http_client(aws_smithy_mocks::create_mock_http_client())
            .retry_config(RetryConfig::disabled())
            .interceptor(interceptor)
            .build();
        SqsQueue::new(Client::from_conf(config))
    }

    /// GetQueueAttributes(QueueArn) for one queue URL.
    fn arn_of(url: &'static str, arn: &'static str) -> Rule {
        mock!(Client::get_queue_attributes)
            .match_requests(move |r| {
                r.queue_url() == Some(url) && r.attribute_names() == [QueueAttributeName::QueueArn]
            })
            .then_output(move || {
                GetQueueAttributesOutput::builder()
                    .attributes(QueueAttributeName::QueueArn, arn)
                    .build()
            })
    }

    #[tokio::test]
    async fn start_list_and_cancel_go_through_the_sdk() {
        let dlq_arn = arn_of(DLQ, DLQ_ARN);
        let src_arn = arn_of(SRC, SRC_ARN);
        let start = mock!(Client::start_message_move_task)
            .match_requests(|r| {
                r.source_arn() == Some(DLQ_ARN)
                    && r.destination_arn() == Some(SRC_ARN)
                    && r.max_number_of_messages_per_second() == Some(50)
            })
            .then_output(|| {
                StartMessageMoveTaskOutput::builder()
                    .task_handle("handle-1")
                    .build()
            });
        let start_to_sources = mock!(Client::start_message_move_task)
            .match_requests(|r| {
                r.source_arn() == Some(DLQ_ARN)
                    && r.destination_arn().is_none()
                    && r.max_number_of_messages_per_second().is_none()
            })
            .then_output(|| {
                StartMessageMoveTaskOutput::builder()
                    .task_handle("handle-2")
                    .build()
            });
        let list = mock!(Client::list_message_move_tasks)
            .match_requests(|r| r.source_arn() == Some(DLQ_ARN) && r.max_results() == Some(10))
            .then_output(|| {
                ListMessageMoveTasksOutput::builder()
                    .results(
                        ListMessageMoveTasksResultEntry::builder()
                            .task_handle("handle-1")
                            .status("RUNNING")
                            .source_arn(DLQ_ARN)
                            .destination_arn(SRC_ARN)
                            .max_number_of_messages_per_second(50)
                            .approximate_number_of_messages_moved(120)
                            .approximate_number_of_messages_to_move(500)
                            .started_timestamp(1_767_225_600_000)
                            .build(),
                    )
                    .results(
                        ListMessageMoveTasksResultEntry::builder()
                            .status("FAILED")
                            .source_arn(DLQ_ARN)
                            .approximate_number_of_messages_moved(3)
                            .failure_reason("AWS.SimpleQueueService.UnsupportedOperation")
                            .started_timestamp(1_767_222_000_000)
                            .build(),
                    )
                    .build()
            });
        let cancel = mock!(Client::cancel_message_move_task)
            .match_requests(|r| r.task_handle() == Some("handle-1"))
            .then_output(|| {
                CancelMessageMoveTaskOutput::builder()
                    .approximate_number_of_messages_moved(121)
                    .build()
            });
        let sqs = mocked(&[
            &dlq_arn,
            &src_arn,
            &start,
            &start_to_sources,
            &list,
            &cancel,
        ]);

        assert_eq!(
            sqs.start_move_task(DLQ, Some(SRC), Some(50)).await.unwrap(),
            "handle-1"
        );
        assert_eq!(
            sqs.start_move_task(DLQ, None, None).await.unwrap(),
            "handle-2"
        );
        let tasks = sqs.list_move_tasks(DLQ).await.unwrap();
        assert_eq!(tasks.len(), 2);
        let running = &tasks[0];
        assert_eq!(running.handle.as_deref(), Some("handle-1"));
        assert_eq!(running.status, MoveTaskStatus::Running);
        assert_eq!(running.source_arn, DLQ_ARN);
        assert_eq!(running.destination_arn.as_deref(), Some(SRC_ARN));
        assert_eq!(
            (running.max_per_second, running.moved, running.to_move),
            (Some(50), 120, Some(500))
        );
        assert_eq!(
            running
                .started_at
                .map(loglift_core::timefmt::rfc3339)
                .as_deref(),
            Some("2026-01-01T00:00:00.000Z")
        );
        let failed = &tasks[1];
        assert_eq!(
            (
                failed.handle.as_deref(),
                &failed.status,
                failed.destination_arn.as_deref()
            ),
            (None, &MoveTaskStatus::Failed, None)
        );
        assert_eq!(
            failed.failure_reason.as_deref(),
            Some("AWS.SimpleQueueService.UnsupportedOperation")
        );
        assert_eq!(sqs.cancel_move_task("handle-1").await.unwrap(), 121);
        assert_eq!((start.num_calls(), start_to_sources.num_calls()), (1, 1));
        assert_eq!((list.num_calls(), cancel.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn refusals_and_throttling_keep_their_disposition() {
        let dlq_arn = arn_of(DLQ, DLQ_ARN);
        let unsupported = mock!(Client::start_message_move_task)
            .match_requests(|r| r.max_number_of_messages_per_second() == Some(1))
            .then_error(|| {
                StartMessageMoveTaskError::UnsupportedOperation(
                    UnsupportedOperation::builder()
                        .message("Source queue must be configured as a Dead Letter Queue.")
                        .meta(
                            ErrorMetadata::builder()
                                .code("AWS.SimpleQueueService.UnsupportedOperation")
                                .message("Source queue must be configured as a Dead Letter Queue.")
                                .build(),
                        )
                        .build(),
                )
            });
        let throttled = mock!(Client::start_message_move_task)
            .match_requests(|r| r.max_number_of_messages_per_second() == Some(2))
            .then_error(|| {
                StartMessageMoveTaskError::RequestThrottled(
                    RequestThrottled::builder()
                        .meta(ErrorMetadata::builder().code("RequestThrottled").build())
                        .build(),
                )
            });
        let sqs = mocked(&[&dlq_arn, &unsupported, &throttled]);

        let err = sqs.start_move_task(DLQ, None, Some(1)).await.unwrap_err();
        assert!(!err.is_retryable() && !err.is_not_found(), "{err}");
        assert!(err.to_string().contains("StartMessageMoveTask"), "{err}");
        let err = sqs.start_move_task(DLQ, None, Some(2)).await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
        // A rate SQS would refuse is refused before any call.
        for rate in [0, 501] {
            let err = sqs
                .start_move_task(DLQ, None, Some(rate))
                .await
                .unwrap_err();
            assert!(err.to_string().contains("1..=500"), "{err}");
        }
        assert_eq!(dlq_arn.num_calls(), 2, "no ARN lookups for refused rates");
    }
}
