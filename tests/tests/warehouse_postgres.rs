//! The PostgreSQL warehouse on the harness's PostgreSQL, each test in a database of its own:
//! loads per duplicate policy with exact reports and exact types, schema management, ledger
//! pruning, poison and transient failures, and a property test of exactly-once under
//! duplicates, redeliveries, crashes before commit, lost acknowledgements and two concurrent
//! loaders on one table.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod warehouse_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{Duration as ChronoDuration, Utc};
use loglift_core::spec::{Column, ColumnType, DuplicatePolicy, Pipeline};
use loglift_core::storage::LoadReport;
use loglift_local::MemoryStore;
use loglift_ports::{ObjectStore, Warehouse};
use loglift_postgres::PgWarehouse;
use loglift_tests::{postgres, unique_name, PgEnv};
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tokio_postgres::{Client, NoTls};
use warehouse_support::*;

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// A new, empty database; its URL and name.
async fn fresh_database(pg: &PgEnv) -> (String, String) {
    let name = unique_name("wh").replace('-', "_");
    connect(&pg.url)
        .await
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    let (base, query) = match pg.url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (pg.url.as_str(), String::new()),
    };
    let (server, _) = base.rsplit_once('/').unwrap();
    (format!("{server}/{name}{query}"), name)
}

async fn drop_database(pg: &PgEnv, name: &str) {
    let _ = connect(&pg.url)
        .await
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await;
}

async fn dump(client: &Client, p: &Pipeline) -> Vec<(String, String)> {
    let (schema, table) = p.table.split_once('.').unwrap();
    client
        .query(
            &format!(
                "SELECT event_id, \"{}\" FROM \"{schema}\".\"{table}\" ORDER BY event_id",
                marker_column(p)
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

fn pairs(rows: &[(&str, &str)]) -> Vec<(String, String)> {
    rows.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test]
async fn keep_first_loads_each_event_once_with_exact_counts_and_types() {
    let Some(pg) = postgres() else { return };
    let (url, db) = fresh_database(&pg).await;
    let store = MemoryStore::new();
    let p = pipeline("user_events");
    let w = PgWarehouse::connect(&url, store.clone()).await.unwrap();
    w.ensure_table(&p).await.unwrap();
    let src = source_object("raw/a");
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
        w.load(&p, &second).await.unwrap(),
        LoadReport {
            objects_skipped: 3,
            ..LoadReport::default()
        },
        "a redelivery after commit is a no-op"
    );
    let client = connect(&url).await;
    assert_eq!(
        dump(&client, &p).await,
        pairs(&[("e1", "v0"), ("e2", "v0"), ("e3", "v0"), ("e4", "v0")])
    );
    // Exact types: timestamps to the microsecond, JSONB, integers.
    let row = client
        .query_one(
            "SELECT to_char(request_timestamp, 'YYYY-MM-DD HH24:MI:SS.US'), extra::text, spec_version, to_char(ingested_at, 'YYYY-MM-DD HH24:MI:SS.US'), source_object FROM tracking.events WHERE event_id = 'e4'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), event_time(4));
    assert_eq!(row.get::<_, String>(1), r#"{"note": "é\\0"}"#);
    assert_eq!(row.get::<_, i64>(2), 1);
    assert_eq!(row.get::<_, String>(3), ingested_at(0));
    assert_eq!(row.get::<_, String>(4), "s3://lake/raw/b#v1");
    let ledger: i64 = client
        .query_one("SELECT count(*) FROM loglift.loglift_load_ledger", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(ledger, 3);
    drop((w, client));
    drop_database(&pg, &db).await;
}

#[tokio::test]
async fn replace_keeps_the_latest_version_and_never_an_older_one() {
    let Some(pg) = postgres() else { return };
    let (url, db) = fresh_database(&pg).await;
    let store = MemoryStore::new();
    let p = pipeline("partner_catalog");
    assert_eq!(p.duplicates, DuplicatePolicy::Replace);
    let p = Pipeline {
        identity: loglift_core::spec::Identity::Field("partner_name".into()),
        ..p
    };
    let w = PgWarehouse::connect(&url, store.clone()).await.unwrap();
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
    let client = connect(&url).await;
    assert_eq!(
        dump(&client, &p).await,
        pairs(&[("e1", "v3"), ("e2", "v0")])
    );
    let json: String = client
        .query_one(
            "SELECT accommodation_data::text FROM catalog.partner_accommodations WHERE event_id = 'e1'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(json, r#"{"s": "a\tb\\c\"d\n", "v": 3}"#);
    drop((w, client));
    drop_database(&pg, &db).await;
}

#[tokio::test]
async fn ensure_table_is_idempotent_and_adds_new_columns() {
    let Some(pg) = postgres() else { return };
    let (url, db) = fresh_database(&pg).await;
    let store = MemoryStore::new();
    let mut p = pipeline("user_utm");
    let w = PgWarehouse::connect(&url, store.clone()).await.unwrap();
    let w2 = PgWarehouse::connect(&url, store.clone()).await.unwrap();
    let (a, b) = tokio::join!(w.ensure_table(&p), w2.ensure_table(&p));
    a.unwrap();
    b.unwrap();
    w.ensure_table(&p).await.unwrap();
    let client = connect(&url).await;
    let columns = || async {
        client
            .query(
                "SELECT column_name::text FROM information_schema.columns WHERE table_schema = 'tracking' AND table_name = 'utm' ORDER BY ordinal_position",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
    };
    let before = columns().await;
    assert_eq!(before.len(), p.columns.len() + 6);
    let o = put_object(&store, &p, "curated/a", &source_object("raw/a"), &[(1, 0)]).await;
    w.load(&p, &batch(&p, vec![message(&p, "raw/a", vec![o])]))
        .await
        .unwrap();
    p.columns.push(Column {
        name: "gclid".into(),
        kind: ColumnType::Json,
        required: false,
        max_bytes: None,
        source: None,
        time_format: None,
    });
    w.ensure_table(&p).await.unwrap();
    w2.ensure_table(&p).await.unwrap();
    let after = columns().await;
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(after.last().map(String::as_str), Some("gclid"));
    let o = put_object(&store, &p, "curated/b", &source_object("raw/b"), &[(2, 5)]).await;
    w.load(&p, &batch(&p, vec![message(&p, "raw/b", vec![o])]))
        .await
        .unwrap();
    let rows: Vec<(String, Option<String>)> = client
        .query(
            "SELECT event_id, gclid::text FROM tracking.utm ORDER BY event_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        rows,
        [
            ("e1".to_owned(), None),
            (
                "e2".to_owned(),
                Some(r#"{"s": "a\tb\\c\"d\n", "v": 5}"#.to_owned())
            )
        ]
    );
    drop((w, w2, client));
    drop_database(&pg, &db).await;
}

#[tokio::test]
async fn the_ledger_answers_per_source_object_and_per_table() {
    let Some(pg) = postgres() else { return };
    let (url, _db) = fresh_database(&pg).await;
    let store = MemoryStore::new();
    let w = PgWarehouse::connect(&url, store.clone()).await.unwrap();
    assert_eq!(
        w.ledger_tables(Utc::now()).await.unwrap(),
        vec![],
        "no ledger yet"
    );
    check_ledger_queries(&w, &store, &pipeline("user_events"), "raw/ledger").await;
}

#[tokio::test]
async fn the_ledger_is_pruned_by_age() {
    let Some(pg) = postgres() else { return };
    let (url, db) = fresh_database(&pg).await;
    let store = MemoryStore::new();
    let p = pipeline("user_events");
    let w = PgWarehouse::connect(&url, store.clone()).await.unwrap();
    assert_eq!(
        w.prune_ledger(Utc::now()).await.unwrap(),
        0,
        "no ledger yet"
    );
    w.ensure_table(&p).await.unwrap();
    for k in 0..3 {
        let o = put_object(
            &store,
            &p,
            &format!("curated/{k}"),
            &source_object("raw/a"),
            &[(k, 0)],
        )
        .await;
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
    drop(w);
    drop_database(&pg, &db).await;
}

#[tokio::test]
async fn poison_is_rejected_with_its_reason_and_lock_waits_are_transient() {
    let Some(pg) = postgres() else { return };
    let (url, db) = fresh_database(&pg).await;
    let store = MemoryStore::new();
    let p = pipeline("user_events");
    let w = PgWarehouse::connect(&url, store.clone())
        .await
        .unwrap()
        .with_lock_timeout(Duration::from_millis(200));
    w.ensure_table(&p).await.unwrap();
    let good = put_object(
        &store,
        &p,
        "curated/good",
        &source_object("raw/a"),
        &[(1, 0)],
    )
    .await;

    // A curated object deleted from the store.
    let mut gone = good.clone();
    gone.key = "curated/deleted".into();
    let err = w
        .load(
            &p,
            &batch(&p, vec![message(&p, "raw/a", vec![good.clone(), gone])]),
        )
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(
        err.to_string().contains("s3://lake/curated/deleted"),
        "{err}"
    );

    // A line the decoder refuses, and a value PostgreSQL refuses (NUL in JSONB).
    let mut bad_type = row(&p, 2, 0, "s3://lake/raw/b#v1");
    bad_type["spec_version"] = serde_json::json!("one");
    let mut bad_json = row(&p, 3, 0, "s3://lake/raw/b#v1");
    bad_json["extra"] = serde_json::json!({"k": "a\u{0}b"});
    for (name, bad, want) in [
        ("bad-type", bad_type, "line 2"),
        ("bad-json", bad_json, "22P05"),
    ] {
        let mut lines = loglift_core::ndjson::GzLines::default();
        lines.push(&row(&p, 9, 0, "s3://lake/raw/b#v1")).unwrap();
        lines.push(&bad).unwrap();
        let key = format!("curated/{name}");
        let meta = store
            .put(
                BUCKET,
                &key,
                lines.finish().unwrap().into(),
                "application/x-ndjson",
            )
            .await
            .unwrap();
        let mut o = good.clone();
        o.key = key.clone();
        o.version = meta.etag;
        let err = w
            .load(&p, &batch(&p, vec![message(&p, "raw/b", vec![o])]))
            .await
            .unwrap_err();
        assert!(!err.is_retryable(), "{name}: {err}");
        assert!(err.to_string().contains(want), "{name}: {err}");
    }

    // Another session holds the table: the lock wait times out, a retry will do.
    let mut holder = connect(&url).await;
    let tx = holder.transaction().await.unwrap();
    tx.batch_execute("LOCK TABLE tracking.events IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let err = w
        .load(
            &p,
            &batch(&p, vec![message(&p, "raw/a", vec![good.clone()])]),
        )
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains("55P03"), "{err}");
    tx.rollback().await.unwrap();

    // Nothing of the failed loads is left; the good object loads now.
    assert_eq!(
        w.load(&p, &batch(&p, vec![message(&p, "raw/a", vec![good])]))
            .await
            .unwrap(),
        LoadReport {
            inserted: 1,
            ..LoadReport::default()
        }
    );
    let client = connect(&url).await;
    assert_eq!(dump(&client, &p).await, pairs(&[("e1", "v0")]));
    drop((w, client, holder));
    drop_database(&pg, &db).await;
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
    let Some(pg) = postgres() else { return };
    let rt = runtime();
    let (url, db) = rt.block_on(fresh_database(&pg));
    let store = FaultyStore::default();
    let w = rt
        .block_on(PgWarehouse::connect(&url, store.clone()))
        .unwrap();
    let client = rt.block_on(connect(&url));
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let cases = AtomicUsize::new(0);
    let result = runner.run(&scenarios(), |scenario| {
        let case = cases.fetch_add(1, Ordering::Relaxed);
        for policy in [DuplicatePolicy::KeepFirst, DuplicatePolicy::Replace] {
            let schema = format!("s{case}_{}", policy == DuplicatePolicy::Replace);
            let p = pipeline_in("user_events", policy, &schema);
            let checked = rt.block_on(async {
                w.ensure_table(&p).await.unwrap();
                let model = run_sequential(&w, &store, &p, &schema, &scenario).await?;
                check_model(&model, &dump(&client, &p).await)
            });
            checked.map_err(|e| TestCaseError::fail(format!("{policy:?}: {e}")))?;
        }
        Ok(())
    });
    drop((w, client));
    rt.block_on(drop_database(&pg, &db));
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn two_loaders_on_one_table() {
    let Some(pg) = postgres() else { return };
    let rt = runtime();
    let (url, db) = rt.block_on(fresh_database(&pg));
    let s0 = FaultyStore::default();
    let s1 = s0.sharing();
    let w0 = rt.block_on(PgWarehouse::connect(&url, s0.clone())).unwrap();
    let w1 = rt.block_on(PgWarehouse::connect(&url, s1.clone())).unwrap();
    let client = rt.block_on(connect(&url));
    let mut runner = TestRunner::new(Config {
        cases: 16,
        failure_persistence: None,
        ..Config::default()
    });
    let cases = AtomicUsize::new(0);
    let result = runner.run(&scenarios(), |scenario| {
        let case = cases.fetch_add(1, Ordering::Relaxed);
        for policy in [DuplicatePolicy::KeepFirst, DuplicatePolicy::Replace] {
            let schema = format!("c{case}_{}", policy == DuplicatePolicy::Replace);
            let p = pipeline_in("user_utm", policy, &schema);
            let checked = rt.block_on(async {
                w0.ensure_table(&p).await.unwrap();
                let inserted =
                    run_concurrent([(&w0, &s0), (&w1, &s1)], &p, &schema, &scenario).await?;
                check_concurrent(&p, &scenario, &dump(&client, &p).await, inserted)
            });
            checked.map_err(|e| TestCaseError::fail(format!("{policy:?}: {e}")))?;
        }
        Ok(())
    });
    drop((w0, w1, client));
    rt.block_on(drop_database(&pg, &db));
    if let Err(e) = result {
        panic!("{e}");
    }
}
