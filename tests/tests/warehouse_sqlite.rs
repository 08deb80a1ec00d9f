//! The SQLite warehouse (local mode's default): loads per duplicate policy with exact reports,
//! schema management, ledger pruning, a missing object, and a property test of exactly-once
//! under duplicates, redeliveries, crashes before commit, lost acknowledgements and two loaders
//! on one database file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod warehouse_support;

use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{Duration as ChronoDuration, Utc};
use loglift_core::spec::{Column, ColumnType, DuplicatePolicy, Pipeline};
use loglift_core::storage::LoadReport;
use loglift_local::{FsObjectStore, MemoryStore, SqliteWarehouse};
use loglift_ports::{ObjectStore, Warehouse};
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use warehouse_support::*;

async fn dump<S: ObjectStore>(w: &SqliteWarehouse<S>, p: &Pipeline) -> Vec<(String, String)> {
    let table = p.table.replace('.', "__");
    let (_, rows) = w
        .query(&format!(
            "SELECT event_id, \"{}\" FROM \"{table}\" ORDER BY event_id",
            marker_column(p)
        ))
        .await
        .unwrap();
    rows.into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect()
}

#[tokio::test]
async fn keep_first_loads_each_event_once_with_exact_counts() {
    let store = MemoryStore::new();
    let p = pipeline("user_events");
    let w = SqliteWarehouse::in_memory(store.clone()).unwrap();
    w.ensure_table(&p).await.unwrap();
    let src = source_object("raw/a");
    // e1 twice in one object, e2 in both objects, e3 once.
    let a = put_object(&store, &p, "curated/a-0", &src, &[(1, 0), (2, 0), (1, 1)]).await;
    let b = put_object(&store, &p, "curated/a-1", &src, &[(2, 1), (3, 0)]).await;
    let first = batch(&p, vec![message(&p, "raw/a", vec![a.clone(), b.clone()])]);
    assert_eq!(
        w.load(&p, &first).await.unwrap(),
        LoadReport {
            inserted: 3,
            replaced: 0,
            duplicates_skipped: 2,
            objects_skipped: 0
        }
    );
    // A new object with e3 (already there) and e4, next to a redelivered one.
    let c = put_object(
        &store,
        &p,
        "curated/b-0",
        &source_object("raw/b"),
        &[(3, 2), (4, 0)],
    )
    .await;
    let second = batch(
        &p,
        vec![
            message(&p, "raw/a", vec![a, b]),
            message(&p, "raw/b", vec![c]),
        ],
    );
    assert_eq!(
        w.load(&p, &second).await.unwrap(),
        LoadReport {
            inserted: 1,
            replaced: 0,
            duplicates_skipped: 1,
            objects_skipped: 2
        }
    );
    assert_eq!(
        dump(&w, &p).await,
        [("e1", "v0"), ("e2", "v0"), ("e3", "v0"), ("e4", "v0")]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    // Types survive: JSON extra, timestamps, integers, escapes.
    let (_, rows) = w
        .query("SELECT request_timestamp, event_time, extra, spec_version, source_object FROM tracking__events WHERE event_id = 'e4'")
        .await
        .unwrap();
    assert_eq!(
        rows,
        [[
            event_time(4),
            event_time(4),
            r#"{"note":"é\\0"}"#.to_owned(),
            "1".to_owned(),
            "s3://lake/raw/b#v1".to_owned()
        ]]
    );
}

#[tokio::test]
async fn replace_keeps_the_latest_version_and_never_an_older_one() {
    let store = MemoryStore::new();
    let p = pipeline("user_utm");
    assert_eq!(p.duplicates, DuplicatePolicy::Replace);
    let w = SqliteWarehouse::in_memory(store.clone()).unwrap();
    w.ensure_table(&p).await.unwrap();
    let a = put_object(
        &store,
        &p,
        "curated/a",
        &source_object("raw/a"),
        &[(1, 1), (1, 0), (2, 0)],
    )
    .await;
    assert_eq!(
        w.load(&p, &batch(&p, vec![message(&p, "raw/a", vec![a])]))
            .await
            .unwrap(),
        LoadReport {
            inserted: 2,
            replaced: 0,
            duplicates_skipped: 1,
            objects_skipped: 0
        }
    );
    // A correction of e1 (v3) and a stale copy of e2 (older than nothing: v0 again is equal,
    // so it replaces) and an older e1 (v2 < v3: the batch keeps v3).
    let b = put_object(
        &store,
        &p,
        "curated/b",
        &source_object("raw/b"),
        &[(1, 3), (2, 0), (1, 2)],
    )
    .await;
    assert_eq!(
        w.load(&p, &batch(&p, vec![message(&p, "raw/b", vec![b])]))
            .await
            .unwrap(),
        LoadReport {
            inserted: 0,
            replaced: 2,
            duplicates_skipped: 1,
            objects_skipped: 0
        }
    );
    // A late, older version of e1 (v1) never overwrites v3.
    let c = put_object(&store, &p, "curated/c", &source_object("raw/c"), &[(1, 1)]).await;
    assert_eq!(
        w.load(&p, &batch(&p, vec![message(&p, "raw/c", vec![c])]))
            .await
            .unwrap(),
        LoadReport {
            inserted: 0,
            replaced: 0,
            duplicates_skipped: 1,
            objects_skipped: 0
        }
    );
    assert_eq!(
        dump(&w, &p).await,
        [("e1", "v3"), ("e2", "v0")].map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
}

async fn columns(w: &SqliteWarehouse<FsObjectStore>) -> Vec<String> {
    w.query("SELECT name FROM pragma_table_info('tracking__utm') ORDER BY cid")
        .await
        .unwrap()
        .1
        .into_iter()
        .map(|r| r[0].clone())
        .collect()
}

#[tokio::test]
async fn ensure_table_is_idempotent_and_adds_new_columns() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsObjectStore::new(dir.path().join("lake"));
    let path = dir.path().join(".loglift/warehouse.db");
    let w = SqliteWarehouse::open(&path, store.clone()).unwrap();
    let mut p = pipeline("user_utm");
    w.ensure_table(&p).await.unwrap();
    w.ensure_table(&p).await.unwrap();
    let before = columns(&w).await;
    assert_eq!(before.len(), p.columns.len() + 6);
    let a = put_object(&store, &p, "curated/a", &source_object("raw/a"), &[(1, 0)]).await;
    w.load(&p, &batch(&p, vec![message(&p, "raw/a", vec![a])]))
        .await
        .unwrap();
    p.columns.push(Column {
        name: "gclid".into(),
        kind: ColumnType::String,
        required: false,
        max_bytes: Some(100),
        source: None,
        time_format: None,
    });
    // Reopened, as a new container would.
    drop(w);
    let w = SqliteWarehouse::open(&path, store.clone()).unwrap();
    w.ensure_table(&p).await.unwrap();
    w.ensure_table(&p).await.unwrap();
    let after = columns(&w).await;
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(after.last().map(String::as_str), Some("gclid"));
    let (_, rows) = w
        .query("SELECT event_id, gclid FROM tracking__utm")
        .await
        .unwrap();
    assert_eq!(
        rows,
        [["e1", "NULL"]],
        "old rows keep their values, the new column is null"
    );
    let b = put_object(&store, &p, "curated/b", &source_object("raw/b"), &[(2, 0)]).await;
    w.load(&p, &batch(&p, vec![message(&p, "raw/b", vec![b])]))
        .await
        .unwrap();
    let (_, rows) = w
        .query("SELECT gclid FROM tracking__utm WHERE event_id = 'e2'")
        .await
        .unwrap();
    assert_eq!(rows, [["v0"]]);
}

#[tokio::test]
async fn the_ledger_is_pruned_by_age() {
    let store = MemoryStore::new();
    let p = pipeline("user_events");
    let w = SqliteWarehouse::in_memory(store.clone()).unwrap();
    assert_eq!(
        w.prune_ledger(Utc::now()).await.unwrap(),
        0,
        "no ledger yet"
    );
    w.ensure_table(&p).await.unwrap();
    for k in 0..3 {
        let key = format!("curated/{k}");
        let o = put_object(&store, &p, &key, &source_object("raw/a"), &[(k, 0)]).await;
        w.load(&p, &batch(&p, vec![message(&p, "raw/a", vec![o])]))
            .await
            .unwrap();
    }
    assert_eq!(
        w.prune_ledger(Utc::now() - ChronoDuration::hours(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        w.prune_ledger(Utc::now() + ChronoDuration::seconds(1))
            .await
            .unwrap(),
        3
    );
    let (_, rows) = w
        .query("SELECT count(*) FROM loglift_load_ledger")
        .await
        .unwrap();
    assert_eq!(rows, [["0"]]);
}

#[tokio::test]
async fn a_missing_object_is_rejected_with_its_key() {
    let store = MemoryStore::new();
    let p = pipeline("user_events");
    let w = SqliteWarehouse::in_memory(store.clone()).unwrap();
    w.ensure_table(&p).await.unwrap();
    let a = put_object(&store, &p, "curated/a", &source_object("raw/a"), &[(1, 0)]).await;
    let mut gone = a.clone();
    gone.key = "curated/deleted".into();
    let err = w
        .load(&p, &batch(&p, vec![message(&p, "raw/a", vec![a, gone])]))
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(
        err.to_string().contains("s3://lake/curated/deleted"),
        "{err}"
    );
    assert!(dump(&w, &p).await.is_empty());
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn exactly_once_under_duplicates_redeliveries_and_crashes() {
    let rt = runtime();
    let mut runner = TestRunner::new(Config {
        cases: 40,
        failure_persistence: None,
        ..Config::default()
    });
    let cases = AtomicUsize::new(0);
    let result = runner.run(&scenarios(), |scenario| {
        let case = cases.fetch_add(1, Ordering::Relaxed);
        for policy in [DuplicatePolicy::KeepFirst, DuplicatePolicy::Replace] {
            let p = pipeline_in("user_events", policy, "tracking");
            let store = FaultyStore::default();
            let checked = rt.block_on(async {
                let w = SqliteWarehouse::in_memory(store.clone()).unwrap();
                w.ensure_table(&p).await.unwrap();
                let model = run_sequential(&w, &store, &p, &format!("c{case}"), &scenario).await?;
                check_model(&model, &dump(&w, &p).await)
            });
            checked.map_err(|e| TestCaseError::fail(format!("{policy:?}: {e}")))?;
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn two_loaders_on_one_database_file() {
    let rt = runtime();
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let cases = AtomicUsize::new(0);
    let result = runner.run(&scenarios(), |scenario| {
        let case = cases.fetch_add(1, Ordering::Relaxed);
        for policy in [DuplicatePolicy::KeepFirst, DuplicatePolicy::Replace] {
            let p = pipeline_in("user_utm", policy, "tracking");
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("warehouse.db");
            let s0 = FaultyStore::default();
            let s1 = s0.sharing();
            let checked = rt.block_on(async {
                let w0 = SqliteWarehouse::open(&path, s0.clone()).unwrap();
                let w1 = SqliteWarehouse::open(&path, s1.clone()).unwrap();
                w0.ensure_table(&p).await.unwrap();
                w1.ensure_table(&p).await.unwrap();
                let inserted =
                    run_concurrent([(&w0, &s0), (&w1, &s1)], &p, &format!("c{case}"), &scenario)
                        .await?;
                check_concurrent(&p, &scenario, &dump(&w0, &p).await, inserted)
            });
            checked.map_err(|e| TestCaseError::fail(format!("{policy:?}: {e}")))?;
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[tokio::test]
async fn the_ledger_answers_per_source_object_and_per_table() {
    let store = MemoryStore::new();
    let w = SqliteWarehouse::in_memory(store.clone()).unwrap();
    assert_eq!(
        w.ledger_tables(Utc::now()).await.unwrap(),
        vec![],
        "no ledger yet"
    );
    check_ledger_queries(&w, &store, &pipeline("user_events"), "raw/ledger").await;
}
