//! Replay and audit, end to end: rejects replayed after a spec fix (transform and ingest rejects),
//! a backfill of an unchanged range, and the audit balancing after a run and naming the hours
//! made not to balance. The pipeline runs on local adapters (directory object store, SQLite
//! queues with DLQs, SQLite warehouse) driven through the same stage handlers the Lambdas run —
//! ingest, transform and the dedupe-loader, their queues drained as the event source mappings
//! would. The replay and backfill functions also run against moto (S3 + SQS) to pin what they
//! write and announce over HTTP.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use loglift_core::ndjson::GzLines;
use loglift_core::reject::{Position, Reason, RejectRecord, Rejection, Source, Stage};
use loglift_core::s3event::{notification_body, parse_body};
use loglift_core::spec::Spec;
use loglift_core::storage::{source_id, Layout, LoadReport};
use loglift_local::{FsObjectStore, SqliteQueue, SqliteWarehouse};
use loglift_ports::{ObjectMeta, ObjectStore, OutgoingMessage, Queue, StreamRecord};
use loglift_stages::audit::{audit, AuditDeps, AuditOptions, AuditReport};
use loglift_stages::ingest::handle_event;
use loglift_stages::redrive::backfill::{announce, backfill, BackfillOptions, ReplayDeps};
use loglift_stages::redrive::rejects::{replay_rejects, RejectReplayOptions, RejectStage};
use loglift_stages::redrive::NoProgress;
use loglift_tests::emulate::esm_event;
use loglift_tests::{moto, TestQueues};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

const BUCKET: &str = loglift_runtime::local::LOCAL_BUCKET;
const TRANSFORM: &str = "transform";
const LOADER: &str = "loader";

/// `page` is at most 8 bytes: longer pages are `too_long` rejects until the fix. Events on the
/// `views` stream match no pipeline (`unknown_pipeline` at ingest) until the fix adds one.
const SPEC_BEFORE: &str = r#"
version: 1
pipelines:
  - name: clicks
    match: { stream: clicks }
    format: json
    table: web.clicks
    identity: { field: id }
    event_time: ts
    duplicates: keep_first
    columns:
      - { name: id, type: string, required: true, max_bytes: 36 }
      - { name: ts, type: timestamp, required: true }
      - { name: page, type: string, max_bytes: 8 }
  - name: prefs
    match: { stream: prefs }
    format: json
    table: web.prefs
    identity: { field: id }
    duplicates: replace
    columns:
      - { name: id, type: string, required: true, max_bytes: 36 }
      - { name: theme, type: string, max_bytes: 16 }
"#;

/// The fix: pages up to 64 bytes, and a pipeline for the `views` stream.
fn spec_after() -> String {
    SPEC_BEFORE.replace("max_bytes: 8 }", "max_bytes: 64 }")
        + r#"
  - name: views
    match: { stream: views }
    format: json
    table: web.views
    identity: { field: id }
    event_time: ts
    duplicates: keep_first
    columns:
      - { name: id, type: string, required: true, max_bytes: 36 }
      - { name: ts, type: timestamp, required: true }
"#
}

fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, hour, minute, 0).unwrap()
}

/// A Kinesis event-source event of `events` on `stream`, each record arriving at its time.
fn kinesis_event(stream: &str, first_seq: u64, events: &[(DateTime<Utc>, Value)]) -> Value {
    let records: Vec<StreamRecord> = events
        .iter()
        .enumerate()
        .map(|(i, (arrival, event))| StreamRecord {
            sequence_number: format!("{:056}", first_seq + i as u64),
            partition_key: "k".to_owned(),
            data: event.to_string().into(),
            approximate_arrival: *arrival,
        })
        .collect();
    esm_event(
        &format!("arn:aws:kinesis:us-east-1:123456789012:stream/{stream}"),
        "shardId-000000000000",
        &records,
    )
}

fn click(id: u32, page: &str, arrival: DateTime<Utc>) -> (DateTime<Utc>, Value) {
    let ts = arrival.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    (
        arrival,
        json!({"id": format!("c{id}"), "ts": ts, "page": page}),
    )
}

/// The scenario's inputs: clicks in hours 10 and 11 (three pages too long for the first spec,
/// one click without a time), prefs in hour 10, views (no pipeline before the fix) in hour 11.
fn inputs() -> Vec<Value> {
    let mut hour10: Vec<(DateTime<Utc>, Value)> = (0..8)
        .map(|i| {
            click(
                i,
                if i % 3 == 0 { "/a-long-page" } else { "/home" },
                at(10, i),
            )
        })
        .collect();
    hour10.push((at(10, 30), json!({"id": "c-no-time", "page": "/x"})));
    let hour11: Vec<(DateTime<Utc>, Value)> =
        (8..12).map(|i| click(i, "/cart", at(11, i))).collect();
    let prefs: Vec<(DateTime<Utc>, Value)> = (0..3)
        .map(|i| (at(10, i), json!({"id": format!("p{i}"), "theme": "dark"})))
        .collect();
    let views: Vec<(DateTime<Utc>, Value)> = (0..2)
        .map(|i| {
            (
                at(11, 40 + i),
                json!({"id": format!("v{i}"), "ts": "2026-11-21T11:40:00Z"}),
            )
        })
        .collect();
    vec![
        kinesis_event("clicks", 100, &hour10),
        kinesis_event("clicks", 200, &hour11),
        kinesis_event("prefs", 300, &prefs),
        kinesis_event("views", 400, &views),
    ]
}

/// Local mode (`loglift_runtime::local`, what `loglift local run` and local replays use) under
/// one directory, opened for one spec.
struct Local {
    inner: loglift_runtime::local::Local,
    spec: Spec,
    layout: Layout,
    store: FsObjectStore,
}

impl Local {
    fn open(dir: &Path, spec: &str) -> Local {
        let spec = Spec::parse(spec).unwrap();
        let inner = loglift_runtime::local::Local::open(dir, spec.clone()).unwrap();
        Local {
            layout: inner.transform.layout.clone(),
            store: inner.transform.store.clone(),
            inner,
            spec,
        }
    }

    fn queue(&self) -> &SqliteQueue {
        &self.inner.transform.queue
    }

    fn replay_deps(&self) -> ReplayDeps<'_, FsObjectStore, SqliteQueue> {
        ReplayDeps {
            spec: &self.spec,
            layout: &self.layout,
            store: &self.store,
            queue: self.queue(),
            transform_queue: TRANSFORM,
        }
    }

    async fn ingest(&self, events: &[Value]) {
        for event in events {
            let (response, _) = handle_event(&self.inner.deps, event.clone()).await.unwrap();
            assert_eq!(response, json!({"batchItemFailures": []}), "{event}");
        }
    }

    /// Announce every raw object on the transform queue, as S3 notifications would.
    async fn announce_raw(&self) -> usize {
        let objects = list(&self.store, &self.layout.raw.prefix).await;
        for meta in &objects {
            self.announce(meta).await;
        }
        objects.len()
    }

    /// Announce one object on the transform queue, as its S3 notification would.
    async fn announce(&self, meta: &ObjectMeta) {
        announce(self.queue(), TRANSFORM, meta).await.unwrap();
    }

    /// Drain the transform queue, then the loader queue; returns what the loader did (summed)
    /// and the number of messages left failed.
    async fn drain(&self) -> (LoadReport, usize) {
        let drained = self.inner.drain().await.unwrap();
        let mut total = LoadReport::default();
        for r in drained.tables.values() {
            total += r;
        }
        (total, drained.failed_messages as usize)
    }

    async fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        self.inner.load.warehouse.query(sql).await.unwrap().1
    }

    async fn count(&self, table: &str) -> (u64, u64) {
        let rows = self
            .rows(&format!(
                "SELECT count(*), count(DISTINCT event_id) FROM {table}"
            ))
            .await;
        (rows[0][0].parse().unwrap(), rows[0][1].parse().unwrap())
    }

    async fn audit(
        &self,
        pipeline: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> AuditReport {
        let dlqs = [format!("{TRANSFORM}-dlq"), format!("{LOADER}-dlq")];
        let deps = AuditDeps {
            spec: &self.spec,
            layout: &self.layout,
            store: &self.store,
            queue: self.queue(),
            warehouse: &self.inner.load.warehouse,
            dlqs: &dlqs,
        };
        audit(
            &deps,
            &AuditOptions::new(pipeline, since, until),
            &NoProgress,
        )
        .await
        .unwrap()
    }
}

async fn list<S: ObjectStore>(store: &S, prefix: &str) -> Vec<ObjectMeta> {
    let mut out = Vec::new();
    let mut next = None;
    loop {
        let page = store.list(BUCKET, prefix, next.as_deref()).await.unwrap();
        out.extend(page.objects);
        match page.next {
            Some(n) => next = Some(n),
            None => return out,
        }
    }
}

async fn keys_under<S: ObjectStore>(store: &S, prefix: &str) -> Vec<String> {
    list(store, prefix)
        .await
        .into_iter()
        .map(|m| m.key)
        .collect()
}

async fn read_gz_lines<S: ObjectStore>(store: &S, bucket: &str, key: &str) -> Vec<String> {
    let mut object = store.get(bucket, key).await.unwrap();
    let mut body = Vec::new();
    object.body.read_to_end(&mut body).await.unwrap();
    let text = loglift_core::compress::decompress_within(&body, 1 << 24).unwrap();
    String::from_utf8(text.into_owned())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The whole run on the first spec: 13 clicks (3 too long, 1 without a time), 3 prefs, 2 views
/// that no pipeline takes.
async fn first_run(dir: &Path) -> Local {
    let local = Local::open(dir, SPEC_BEFORE);
    local.ingest(&inputs()).await;
    assert_eq!(local.announce_raw().await, 3);
    let (report, failed) = local.drain().await;
    assert_eq!(failed, 0);
    assert_eq!(report.inserted, 9 + 3, "{report:?}");
    assert_eq!(local.count("web__clicks").await, (9, 9));
    local
}

#[tokio::test]
async fn rejects_replayed_after_a_spec_fix_load_once() {
    let dir = tempfile::tempdir().unwrap();
    let before = first_run(dir.path()).await;
    let rejects = keys_under(&before.store, "errors/rejects/stage=transform/").await;
    assert_eq!(rejects.len(), 1, "{rejects:?}");

    // Replaying with the old spec changes nothing: the rows are rejected again.
    let report = replay_rejects(
        &before.replay_deps(),
        &RejectReplayOptions::new("clicks"),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!((report.moved, report.failed), (4, 0), "{report:?}");
    let (loaded, failed) = before.drain().await;
    assert_eq!((loaded.inserted, failed), (0, 0));
    assert_eq!(before.count("web__clicks").await, (9, 9));
    drop(before);

    // The fix. Only too_long rejects: the click without a time stays rejected.
    let after = Local::open(dir.path(), &spec_after());
    let mut options = RejectReplayOptions::new("clicks");
    options.reason = Some(Reason::TooLong);
    options.dry_run = true;
    let dry = replay_rejects(&after.replay_deps(), &options, &NoProgress)
        .await
        .unwrap();
    assert_eq!(
        (dry.moved, dry.skipped, dry.dry_run),
        (3, 1 + 4, true),
        "1 of another reason + the 4 rejects of the first replay object: {dry:?}"
    );
    assert_eq!(after.queue().depth(TRANSFORM).await.unwrap().visible, 0);
    options.dry_run = false;
    for round in 0..2 {
        let report = replay_rejects(&after.replay_deps(), &options, &NoProgress)
            .await
            .unwrap();
        assert_eq!(
            (report.moved, report.failed),
            (3, 0),
            "round {round}: {report:?}"
        );
        let (loaded, failed) = after.drain().await;
        assert_eq!(failed, 0);
        assert_eq!(
            loaded.inserted,
            if round == 0 { 3 } else { 0 },
            "round {round}"
        );
        assert_eq!(after.count("web__clicks").await, (12, 12), "round {round}");
    }
    // One replay object per (reject file, reason filter): the first (unfiltered) replay's and
    // the too_long one, rewritten by the second round rather than added.
    let replays: Vec<String> = keys_under(&after.store, "raw/pipeline=clicks/")
        .await
        .into_iter()
        .filter(|k| k.contains("/replay-"))
        .collect();
    let sid = source_id(BUCKET, &rejects[0], "too_long");
    assert_eq!(replays.len(), 2, "{replays:?}");
    let too_long = format!("raw/pipeline=clicks/dt=2026-11-21/hour=10/replay-{sid}.ndjson.gz");
    assert!(replays.contains(&too_long), "{replays:?}");
    let lines = read_gz_lines(&after.store, BUCKET, &too_long).await;
    assert_eq!(lines.len(), 3);
    assert!(
        lines.iter().all(|l| l.contains("/a-long-page")),
        "{lines:?}"
    );
    let pages = after
        .rows("SELECT page FROM web__clicks WHERE page = '/a-long-page'")
        .await;
    assert_eq!(pages.len(), 3);

    // Ingest rejects after a routing fix: the views events go back through ingest's logic.
    let mut options = RejectReplayOptions::new("_unknown");
    options.stage = RejectStage::Ingest;
    options.reason = Some(Reason::UnknownPipeline);
    for round in 0..2 {
        let report = replay_rejects(&after.replay_deps(), &options, &NoProgress)
            .await
            .unwrap();
        assert_eq!(
            (report.moved, report.failed),
            (2, 0),
            "round {round}: {report:?}"
        );
        after.drain().await;
        assert_eq!(after.count("web__views").await, (2, 2), "round {round}");
    }
    let views = keys_under(&after.store, "raw/pipeline=views/").await;
    assert_eq!(views.len(), 1, "{views:?}");
    assert!(views[0].starts_with("raw/pipeline=views/dt=2026-11-21/hour=11/replay-"));

    // The books still balance: each replayed event is rejected in its original object and
    // loaded from its replay object; the second round's reload is surplus.
    for (pipeline, from, to) in [
        ("clicks", at(10, 0), at(12, 0)),
        ("views", at(11, 0), at(12, 0)),
    ] {
        let audit = after.audit(pipeline, from, to).await;
        assert!(audit.balanced, "{audit}");
    }
    let audit = after.audit("clicks", at(10, 0), at(12, 0)).await;
    assert_eq!(audit.totals.events_in, 13 + 4 + 3, "{audit}");
    assert_eq!(audit.totals.loaded, 9 + 3, "{audit}");
    assert_eq!(
        audit.totals.surplus, 3,
        "the second round's reload: {audit}"
    );
}

#[tokio::test]
async fn a_backfill_of_an_unchanged_range_leaves_the_warehouse_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let local = first_run(dir.path()).await;
    let clicks_sql = "SELECT * FROM web__clicks ORDER BY event_id";
    let prefs_sql =
        "SELECT event_id, theme, source_object, spec_version FROM web__prefs ORDER BY event_id";
    let clicks = local.rows(clicks_sql).await;
    let prefs = local.rows(prefs_sql).await;
    assert_eq!((clicks.len(), prefs.len()), (9, 3));

    // A dry run lists the objects and sends nothing.
    let mut options = BackfillOptions {
        pipeline: "clicks".into(),
        since: at(10, 0),
        until: at(11, 0),
        dry_run: true,
        max: None,
    };
    let dry = backfill(&local.replay_deps(), &options, &NoProgress)
        .await
        .unwrap();
    assert_eq!(dry.moved, 1, "{dry:?}");
    assert!(
        dry.details[0].starts_with(
            "would announce s3://local-lake/raw/pipeline=clicks/dt=2026-11-21/hour=10/"
        ),
        "{dry:?}"
    );
    assert_eq!(local.queue().depth(TRANSFORM).await.unwrap().visible, 0);

    // The hour range is partition by partition: 10:30 .. 11:01 covers hours 10 and 11.
    options.dry_run = false;
    options.since = at(10, 30);
    options.until = at(11, 1);
    options.max = Some(1);
    let limited = backfill(&local.replay_deps(), &options, &NoProgress)
        .await
        .unwrap();
    assert_eq!((limited.moved, limited.skipped), (1, 1), "{limited:?}");
    let (loaded, _) = local.drain().await;
    assert_eq!(loaded.inserted, 0);
    // Transform is deterministic (a row's `ingested_at` is its object's arrival): the parts are
    // byte-identical, so the local store gives them the same etag and the ledger skips them.
    // (S3 gives every put a new version id: there they reload, and the audit counts surplus.)
    assert!(loaded.objects_skipped >= 1, "{loaded:?}");
    options.max = None;
    let full = backfill(&local.replay_deps(), &options, &NoProgress)
        .await
        .unwrap();
    assert_eq!((full.moved, full.failed), (2, 0), "{full:?}");
    let prefs_backfill = BackfillOptions {
        pipeline: "prefs".into(),
        since: at(0, 0),
        until: at(23, 0),
        dry_run: false,
        max: None,
    };
    let report = backfill(&local.replay_deps(), &prefs_backfill, &NoProgress)
        .await
        .unwrap();
    assert_eq!(report.moved, 1);
    let (loaded, failed) = local.drain().await;
    assert_eq!(failed, 0);
    // keep_first: nothing inserted; replace: the same rows merged again.
    assert_eq!(loaded.inserted, 0, "{loaded:?}");
    assert_eq!(
        local.rows(clicks_sql).await,
        clicks,
        "keep_first rows, every column"
    );
    assert_eq!(local.rows(prefs_sql).await, prefs, "replace rows");

    // Nothing was loaded twice: the audit balances without surplus.
    let audit = local.audit("clicks", at(10, 0), at(12, 0)).await;
    assert!(audit.balanced, "{audit}");
    assert_eq!(audit.totals.surplus, 0, "{audit}");
}

#[tokio::test]
async fn the_audit_balances_after_a_run_and_names_the_hours_that_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let local = first_run(dir.path()).await;
    let report = local.audit("clicks", at(9, 0), at(13, 0)).await;
    assert!(report.balanced, "{report}");
    let hours: Vec<DateTime<Utc>> = report.hours.iter().map(|h| h.hour).collect();
    assert_eq!(hours, [at(10, 0), at(11, 0)]);
    let h10 = &report.hours[0].figures;
    assert_eq!(
        (
            h10.sources,
            h10.events_in,
            h10.loaded,
            h10.rejected,
            h10.in_dlq
        ),
        (1, 9, 5, 4, 0),
        "{report}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["hours"][1]["loaded"], 4);
    let prefs = local.audit("prefs", at(9, 0), at(13, 0)).await;
    assert!(prefs.balanced && prefs.totals.loaded == 3, "{prefs}");

    // A raw object nobody processed: hour 12 does not balance and names it.
    let stray = "raw/pipeline=clicks/dt=2026-11-21/hour=12/kinesis-stray.ndjson.gz";
    let mut lines = GzLines::default();
    lines.push_line(b"{\"pipeline\":\"clicks\",\"event_id\":\"s1\",\"arrived_at\":\"2026-11-21T12:00:00.000Z\",\"origin\":{},\"data\":{\"id\":\"s1\",\"ts\":\"2026-11-21T12:00:00Z\"}}\n").unwrap();
    lines.push_line(b"\n").unwrap();
    let meta = local
        .store
        .put(
            BUCKET,
            stray,
            Bytes::from(lines.finish().unwrap()),
            "application/x-ndjson",
        )
        .await
        .unwrap();
    let report = local.audit("clicks", at(9, 0), at(13, 0)).await;
    assert!(!report.balanced, "{report}");
    let bad: Vec<&loglift_stages::audit::HourAudit> = report.unbalanced().collect();
    assert_eq!(bad.len(), 1, "{report}");
    assert_eq!(bad[0].hour, at(12, 0));
    assert_eq!(
        (
            bad[0].figures.events_in,
            bad[0].figures.dropped,
            bad[0].figures.unexplained
        ),
        (2, 1, 1)
    );
    assert_eq!(
        bad[0].unexplained_sources[0].source,
        format!("s3://{BUCKET}/{stray}")
    );
    let text = report.to_string();
    assert!(
        text.contains("DOES NOT BALANCE") && text.contains("in flight or lost"),
        "{text}"
    );

    // Its S3 event waiting in the transform DLQ explains it; the peek leaves it there.
    let body = notification_body(BUCKET, stray, meta.size, &meta.etag, None, None);
    local
        .queue()
        .send("transform-dlq", &OutgoingMessage::new(body))
        .await
        .unwrap();
    let report = local.audit("clicks", at(9, 0), at(13, 0)).await;
    assert!(report.balanced, "{report}");
    assert_eq!(report.hours[2].figures.in_dlq, 1);
    assert_eq!(
        local.queue().depth("transform-dlq").await.unwrap().visible,
        1
    );

    // A ledger row lost for hour 11: that hour does not balance any more.
    local
        .rows("DELETE FROM loglift_load_ledger WHERE source_object LIKE '%/hour=11/%'")
        .await;
    let report = local.audit("clicks", at(9, 0), at(13, 0)).await;
    let bad: Vec<DateTime<Utc>> = report.unbalanced().map(|h| h.hour).collect();
    assert_eq!(bad, [at(11, 0)], "{report}");
    assert_eq!(report.hours[1].figures.unexplained, 4);
}

/// Landing pipelines: a TSV file (replayed under its header line) and a JSON array file.
const LANDING_BEFORE: &str = r#"
version: 1
pipelines:
  - name: hits
    match: { s3_prefix: hits/ }
    format: tsv
    table: web.hits
    identity: { hash: [ip, page] }
    duplicates: keep_first
    columns:
      - { name: ip, type: string, required: true, max_bytes: 45 }
      - { name: page, type: string, max_bytes: 8 }
  - name: catalog
    match: { s3_prefix: catalog/ }
    format: json_array
    table: web.catalog
    identity: { field: id }
    duplicates: replace
    columns:
      - { name: id, type: string, required: true, max_bytes: 36 }
      - { name: name, type: string, max_bytes: 8 }
"#;

#[tokio::test]
async fn landing_rejects_replay_in_the_pipelines_format() {
    let dir = tempfile::tempdir().unwrap();
    let before = Local::open(dir.path(), LANDING_BEFORE);
    let tsv = "ip\tpage\n1.1.1.1\t/home\n2.2.2.2\t/a-long-page\n3.3.3.3\t/x\n4.4.4.4\t/another-long-page\n";
    let array = "[\n  {\"id\": \"a\", \"name\": \"short\"},\n  {\n    \"id\": \"b\",\n    \"name\": \"a rather long name\"\n  }\n]\n";
    let files = [
        (
            "landing/hits/2026/11/21/hits 1.tsv",
            loglift_core::compress::gzip(tsv.as_bytes()),
        ),
        ("landing/catalog/partner.json", array.as_bytes().to_vec()),
    ];
    for (key, body) in files {
        let meta = before
            .store
            .put(BUCKET, key, Bytes::from(body), "application/octet-stream")
            .await
            .unwrap();
        let event = notification_body(BUCKET, key, meta.size, &meta.etag, None, meta.last_modified);
        before
            .queue()
            .send(TRANSFORM, &OutgoingMessage::new(event))
            .await
            .unwrap();
    }
    let (loaded, failed) = before.drain().await;
    assert_eq!((loaded.inserted, failed), (2 + 1, 0), "{loaded:?}");
    drop(before);

    let after = Local::open(
        dir.path(),
        &LANDING_BEFORE.replace("max_bytes: 8 }", "max_bytes: 64 }"),
    );
    for (pipeline, replayed, extension) in [("hits", 2, "tsv"), ("catalog", 1, "json")] {
        let report = replay_rejects(
            &after.replay_deps(),
            &RejectReplayOptions::new(pipeline),
            &NoProgress,
        )
        .await
        .unwrap();
        assert_eq!(
            (report.moved, report.failed, report.unrecoverable),
            (replayed, 0, 0),
            "{report:?}"
        );
        let keys = keys_under(&after.store, &format!("landing/{pipeline}/replay/")).await;
        assert_eq!(keys.len(), 1, "{keys:?}");
        assert!(keys[0].ends_with(&format!(".{extension}.gz")), "{keys:?}");
        let lines = read_gz_lines(&after.store, BUCKET, &keys[0]).await;
        if pipeline == "hits" {
            assert_eq!(
                lines,
                [
                    "ip\tpage",
                    "2.2.2.2\t/a-long-page",
                    "4.4.4.4\t/another-long-page"
                ]
            );
        } else {
            let parsed: Value = serde_json::from_str(&lines.concat()).unwrap();
            assert_eq!(parsed, json!([{"id": "b", "name": "a rather long name"}]));
        }
    }
    let (loaded, failed) = after.drain().await;
    assert_eq!((loaded.inserted, failed), (2 + 1, 0), "{loaded:?}");
    assert_eq!(after.count("web__hits").await, (4, 4));
    assert_eq!(after.count("web__catalog").await, (2, 2));
    let now = Utc::now();
    for pipeline in ["hits", "catalog"] {
        let audit = after
            .audit(
                pipeline,
                now - chrono::TimeDelta::hours(2),
                now + chrono::TimeDelta::hours(1),
            )
            .await;
        assert!(audit.balanced, "{audit}");
        assert_eq!(audit.totals.sources, 2, "the file and its replay: {audit}");
    }
}

/// A reject record of a raw line, as transform writes it.
fn raw_reject(bucket: &str, key: &str, line: u64, reason: Reason, raw: &str) -> RejectRecord {
    RejectRecord::new(
        Stage::Transform,
        Some("clicks"),
        Source::S3 {
            bucket: bucket.into(),
            key: key.into(),
            version: Some("e1".into()),
        },
        Position::line(line),
        &Rejection::new(reason, "test"),
        raw.as_bytes(),
        at(10, 5),
    )
}

#[tokio::test]
async fn backfill_and_rejects_replay_over_s3_and_sqs() {
    let Some(env) = moto() else {
        return;
    };
    let bucket = env.new_bucket("r-replay").await.unwrap();
    let store = env.s3_store();
    let queues = env.sqs_queue();
    let queue = queues
        .create(
            &loglift_tests::unique_name("r-transform"),
            Duration::from_secs(30),
            None,
        )
        .await
        .unwrap();
    let spec = Spec::parse(SPEC_BEFORE).unwrap();
    let layout = Layout::single_bucket(&bucket);
    let deps = ReplayDeps {
        spec: &spec,
        layout: &layout,
        store: &store,
        queue: &queues,
        transform_queue: &queue,
    };
    let keys = [
        "raw/pipeline=clicks/dt=2026-11-21/hour=09/kinesis-a.ndjson.gz",
        "raw/pipeline=clicks/dt=2026-11-21/hour=10/kinesis-b.ndjson.gz",
        "raw/pipeline=clicks/dt=2026-11-21/hour=10/a b+c=d é.ndjson.gz",
        "raw/pipeline=clicks/dt=2026-11-21/hour=11/kinesis-c.ndjson.gz",
        "raw/pipeline=clicks/dt=2026-11-21/hour=12/kinesis-d.ndjson.gz",
        "raw/pipeline=prefs/dt=2026-11-21/hour=10/kinesis-e.ndjson.gz",
    ];
    for key in keys {
        store
            .put(
                &bucket,
                key,
                Bytes::from_static(b"{}\n"),
                "application/x-ndjson",
            )
            .await
            .unwrap();
    }
    let receive_all = || async {
        let mut got = Vec::new();
        loop {
            let batch = queues
                .receive(&queue, 10, Duration::from_millis(200), None)
                .await
                .unwrap();
            if batch.is_empty() {
                return got;
            }
            for m in batch {
                queues.delete(&queue, &m.receipt_handle).await.unwrap();
                got.push(m.body);
            }
        }
    };
    let mut options = BackfillOptions {
        pipeline: "clicks".into(),
        since: at(10, 0),
        until: at(12, 0),
        dry_run: true,
        max: None,
    };
    let dry = backfill(&deps, &options, &NoProgress).await.unwrap();
    assert_eq!(dry.moved, 3, "{dry:?}");
    assert!(receive_all().await.is_empty());
    options.dry_run = false;
    let report = backfill(&deps, &options, &NoProgress).await.unwrap();
    assert_eq!((report.moved, report.failed), (3, 0), "{report:?}");
    let announced: BTreeSet<String> = receive_all()
        .await
        .iter()
        .flat_map(|body| parse_body(body).unwrap().created)
        .map(|o| {
            assert_eq!(o.bucket, bucket);
            assert_eq!(o.size, Some(3));
            assert!(o.etag.is_some());
            o.key
        })
        .collect();
    let want: BTreeSet<String> = keys[1..4].iter().map(|k| (*k).to_owned()).collect();
    assert_eq!(announced, want);

    // The audit over S3 and SQS: nothing is loaded (an empty warehouse); the S3 event of one
    // object waits in the DLQ, the others are named as unexplained.
    let dlq = queues
        .create(
            &loglift_tests::unique_name("r-dlq"),
            Duration::from_secs(30),
            None,
        )
        .await
        .unwrap();
    let meta = store.head(&bucket, keys[1]).await.unwrap().unwrap();
    let body = notification_body(&bucket, keys[1], meta.size, &meta.etag, None, None);
    queues
        .send(&dlq, &OutgoingMessage::new(body))
        .await
        .unwrap();
    let warehouse = SqliteWarehouse::in_memory(store.clone()).unwrap();
    let dlqs = [dlq.clone()];
    let audit_deps = AuditDeps {
        spec: &spec,
        layout: &layout,
        store: &store,
        queue: &queues,
        warehouse: &warehouse,
        dlqs: &dlqs,
    };
    let report = audit(
        &audit_deps,
        &AuditOptions::new("clicks", at(10, 0), at(12, 0)),
        &NoProgress,
    )
    .await
    .unwrap();
    let unexplained: Vec<(DateTime<Utc>, Vec<String>)> = report
        .unbalanced()
        .map(|h| {
            let sources = h
                .unexplained_sources
                .iter()
                .map(|s| s.source.clone())
                .collect();
            (h.hour, sources)
        })
        .collect();
    assert_eq!(
        unexplained,
        [
            (at(10, 0), vec![format!("s3://{bucket}/{}", keys[2])]),
            (at(11, 0), vec![format!("s3://{bucket}/{}", keys[3])]),
        ],
        "{report}"
    );
    assert_eq!(
        (report.totals.events_in, report.totals.in_dlq),
        (3, 1),
        "{report}"
    );

    // Rejects: one reject file of hour 10 with a too_long and a wrong_type line.
    let source = keys[1];
    let reject_key = layout.reject_key(
        Stage::Transform,
        Some("clicks"),
        at(10, 0),
        &format!("{}-00000", source_id(&bucket, source, "e1")),
    );
    let line_a = r#"{"pipeline":"clicks","event_id":"c1","arrived_at":"2026-11-21T10:00:00.000Z","origin":{},"data":{"id":"c1","ts":"2026-11-21T10:00:00Z","page":"/a-long-page"}}"#;
    let line_b = r#"{"pipeline":"clicks","event_id":"c2","arrived_at":"2026-11-21T10:00:00.000Z","origin":{},"data":{"id":"c2","ts":5}}"#;
    let mut lines = GzLines::default();
    lines
        .push(&raw_reject(&bucket, source, 1, Reason::TooLong, line_a))
        .unwrap();
    lines
        .push(&raw_reject(&bucket, source, 2, Reason::WrongType, line_b))
        .unwrap();
    store
        .put(
            &bucket,
            &reject_key,
            Bytes::from(lines.finish().unwrap()),
            "application/x-ndjson",
        )
        .await
        .unwrap();
    let mut options = RejectReplayOptions::new("clicks");
    options.reason = Some(Reason::TooLong);
    options.since = Some(at(10, 0));
    options.until = Some(at(11, 0));
    let want_key = format!(
        "raw/pipeline=clicks/dt=2026-11-21/hour=10/replay-{}.ndjson.gz",
        source_id(&bucket, &reject_key, "too_long")
    );
    for round in 0..2 {
        let report = replay_rejects(&deps, &options, &NoProgress).await.unwrap();
        assert_eq!(
            (report.moved, report.skipped, report.failed),
            (1, 1, 0),
            "round {round}: {report:?}"
        );
        assert_eq!(read_gz_lines(&store, &bucket, &want_key).await, [line_a]);
        let bodies = receive_all().await;
        assert_eq!(bodies.len(), 1);
        let created = parse_body(&bodies[0]).unwrap().created;
        assert_eq!(created[0].key, want_key);
    }
    let replays: Vec<String> = {
        let mut out = Vec::new();
        let page = store
            .list(
                &bucket,
                "raw/pipeline=clicks/dt=2026-11-21/hour=10/replay-",
                None,
            )
            .await
            .unwrap();
        out.extend(page.objects.into_iter().map(|m| m.key));
        out
    };
    assert_eq!(replays, [want_key]);
    // Outside the range: nothing.
    options.since = Some(at(11, 0));
    options.until = Some(at(12, 0));
    let report = replay_rejects(&deps, &options, &NoProgress).await.unwrap();
    assert_eq!(report.moved + report.skipped, 0, "{report:?}");
}

/// `replace` without an event time keeps the version of the file that *arrived* last, whatever
/// order transform meets the files in: a file retried or redriven after a newer one (here: the
/// older file transformed second) must not overwrite the newer file's rows. Rows are ordered by
/// `ingested_at`, the object's arrival in the store (its Last-Modified), not the transform's clock.
#[tokio::test]
async fn a_replace_file_transformed_late_never_overwrites_a_newer_one() {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!(
        "{SPEC_BEFORE}{}",
        r#"
  - name: catalog
    match: { s3_prefix: catalog/ }
    format: json
    table: web.catalog
    identity: { field: id }
    duplicates: replace
    columns:
      - { name: id, type: string, required: true, max_bytes: 36 }
      - { name: price, type: string, max_bytes: 16 }
"#
    );
    let local = Local::open(dir.path(), &spec);
    let older = "landing/catalog/monday.jsonl";
    let newer = "landing/catalog/tuesday.jsonl";
    for (key, price, arrived) in [(older, "10", at(8, 0)), (newer, "12", at(9, 0))] {
        let body = format!("{{\"id\":\"p1\",\"price\":\"{price}\"}}\n");
        local
            .store
            .put(BUCKET, key, Bytes::from(body), "application/x-ndjson")
            .await
            .unwrap();
        let path = local.store.object_path(BUCKET, key).unwrap();
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(arrived.into())
            .unwrap();
    }
    // The newer file first, then the older one (a retry of a failed first attempt, say).
    for key in [newer, older] {
        let meta = local.store.head(BUCKET, key).await.unwrap().unwrap();
        local.announce(&meta).await;
        let (_, failed) = local.drain().await;
        assert_eq!(failed, 0);
    }
    assert_eq!(
        local.rows("SELECT event_id, price FROM web__catalog").await,
        vec![vec!["p1".to_owned(), "12".to_owned()]],
        "the newer file's price stays"
    );
}
