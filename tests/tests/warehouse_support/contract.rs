//! The warehouse contract: what every [`Warehouse`] adapter must do, written once and run on
//! each (SQLite, PostgreSQL, Redshift through the Data API test server) by
//! [`warehouse_contract!`] with the adapter's [`Harness`].
//!
//! | case | what it holds the adapter to |
//! |---|---|
//! | `keep_first_counts` | `keep_first`: each event once, exact reports, a redelivery after commit skips every object, the ledger holds each object once |
//! | `replace_counts` | `replace`: the highest version wins, a late older version never overwrites, exact reports |
//! | `ensure_table_schema` | `ensure_table` twice at once and again from a new container is harmless; a new spec column is added at the end, old rows NULL there, new rows filled |
//! | `ledger_pruning` | `prune_ledger` before any table, then by age, with the count it removed |
//! | `missing_object` | a curated object gone from the store fails the load as poison naming it, and nothing is applied |
//! | `ledger_queries` | the per-source-object and per-table ledger reads `audit` and `status` use |
//! | `exactly_once` (property) | any mix of duplicates, redeliveries, crashes before commit and lost acknowledgements: the table equals the model and every report is exact |
//! | `two_loaders` (property) | two warehouses loading the same table at once: every delivered event exactly once (the newest under `replace`) and the reports' inserts add up |
//!
//! Crash points are failures and hangs of the warehouse's own object reads (`FaultyStore`); the
//! Redshift adapter reads no objects (COPY does, inside the Data API), so for it those
//! deliveries are plain ones and its transaction faults are covered in its own suite.
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{Duration as ChronoDuration, Utc};
use loglift_core::spec::{Column, ColumnType, CuratedFormat, DuplicatePolicy, Pipeline};
use loglift_core::storage::LoadReport;
use loglift_ports::{Ledger, ObjectStore, Warehouse};
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::*;

/// One adapter under the contract: a fresh database per test, warehouses on it (each a new
/// container), and the few reads the cases check with.
#[allow(async_fn_in_trait)]
pub trait Harness: Sized {
    /// The store the adapter's objects live in (where its COPY, if any, reads).
    type Inner: ObjectStore + Clone + Send + Sync + 'static;
    type W: Warehouse + Ledger;
    /// Property-test cases: (sequential, two loaders).
    const CASES: (u32, u32);
    /// A harness on a fresh, empty database; `None` when the service is not configured (the
    /// test then passes as skipped, or fails under the test command).
    async fn start() -> Option<Self>;
    /// An empty view of the store, with no fault armed.
    fn store(&self) -> FaultyStore<Self::Inner>;
    /// A new warehouse on this database reading `store`.
    async fn warehouse(&self, store: FaultyStore<Self::Inner>) -> Self::W;
    /// `(event_id, column as text)` of every row of `p`'s table, by `event_id`; NULL is `None`.
    async fn select(&self, p: &Pipeline, column: &str) -> Vec<(String, Option<String>)>;
    /// The names of `p`'s table's columns, in order.
    async fn columns(&self, p: &Pipeline) -> Vec<String>;
    /// How many rows the load ledger holds.
    async fn ledger_rows(&self) -> u64;
    /// Remove the database.
    async fn finish(self);
}

/// Each contract case as a test of the calling file, for harness `$h`.
#[macro_export]
macro_rules! warehouse_contract {
    ($h:ty) => {
        mod contract_suite {
            use super::warehouse_support::contract::{self, Harness};
            type H = $h;

            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let Some(h) = H::start().await else { return };
                        contract::$name(&h).await;
                        h.finish().await;
                    }
                };
            }
            case!(keep_first_counts);
            case!(replace_counts);
            case!(ensure_table_schema);
            case!(ledger_pruning);
            case!(missing_object);
            case!(ledger_queries);

            #[test]
            fn exactly_once() {
                contract::property::<H>(contract::exactly_once_case::<H>, H::CASES.0);
            }

            #[test]
            fn two_loaders() {
                contract::property::<H>(contract::two_loaders_case::<H>, H::CASES.1);
            }
        }
    };
}

/// A load report: inserted, replaced, duplicates skipped, objects skipped.
fn report(inserted: u64, replaced: u64, duplicates: u64, objects: u64) -> LoadReport {
    LoadReport {
        inserted,
        replaced,
        duplicates_skipped: duplicates,
        objects_skipped: objects,
    }
}

fn pairs(rows: &[(&str, &str)]) -> Vec<(String, Option<String>)> {
    rows.iter()
        .map(|(a, b)| ((*a).to_owned(), Some((*b).to_owned())))
        .collect()
}

async fn dump<H: Harness>(h: &H, p: &Pipeline) -> Vec<(String, Option<String>)> {
    h.select(p, &marker_column(p)).await
}

/// The scenario's table rows as `(id, marker)`, for the model checks.
async fn markers<H: Harness>(h: &H, p: &Pipeline) -> Result<Vec<(String, String)>, String> {
    dump(h, p)
        .await
        .into_iter()
        .map(|(id, m)| {
            m.map(|m| (id.clone(), m))
                .ok_or(format!("{id}: NULL marker"))
        })
        .collect()
}

/// Write one curated object `{run}/{name}` of source `{run}/raw/{name}` and load it alone.
async fn load_one<W: Warehouse, S: ObjectStore>(
    w: &W,
    store: &S,
    p: &Pipeline,
    run: &str,
    name: &str,
    rows: &[(u32, u32)],
) -> LoadReport {
    let raw = format!("{run}/raw/{name}");
    let o = put_object(
        store,
        p,
        &format!("{run}/{name}"),
        &source_object(&raw),
        rows,
    )
    .await;
    w.load(p, &batch(p, vec![message(p, &raw, vec![o])]))
        .await
        .unwrap()
}

pub async fn keep_first_counts<H: Harness>(h: &H) {
    let run = loglift_tests::unique_name("kf");
    let store = h.store();
    let p = pipeline("user_events");
    let w = h.warehouse(store.clone()).await;
    w.ensure_table(&p).await.unwrap();
    let (raw_a, raw_b) = (format!("{run}/raw/a"), format!("{run}/raw/b"));
    let src = source_object(&raw_a);
    // e1 twice in one object, e2 in both objects, e3 once.
    let a = put_object(
        &store,
        &p,
        &format!("{run}/a-0"),
        &src,
        &[(1, 0), (2, 0), (1, 1)],
    )
    .await;
    let b = put_object(&store, &p, &format!("{run}/a-1"), &src, &[(2, 1), (3, 0)]).await;
    let first = batch(&p, vec![message(&p, &raw_a, vec![a.clone(), b.clone()])]);
    assert_eq!(w.load(&p, &first).await.unwrap(), report(3, 0, 2, 0));
    // A new object with e3 (already there) and e4, next to a redelivered message.
    let c = put_object(
        &store,
        &p,
        &format!("{run}/b-0"),
        &source_object(&raw_b),
        &[(3, 2), (4, 0)],
    )
    .await;
    let second = batch(
        &p,
        vec![
            message(&p, &raw_a, vec![a, b]),
            message(&p, &raw_b, vec![c]),
        ],
    );
    assert_eq!(w.load(&p, &second).await.unwrap(), report(1, 0, 1, 2));
    assert_eq!(
        w.load(&p, &second).await.unwrap(),
        report(0, 0, 0, 3),
        "a redelivery after commit is a no-op"
    );
    assert_eq!(
        dump(h, &p).await,
        pairs(&[("e1", "v0"), ("e2", "v0"), ("e3", "v0"), ("e4", "v0")])
    );
    assert_eq!(
        h.ledger_rows().await,
        3,
        "one ledger row per curated object"
    );
    assert_eq!(
        h.select(&p, "source_object").await[3].1.as_deref(),
        Some(source_object(&raw_b).as_str())
    );
}

pub async fn replace_counts<H: Harness>(h: &H) {
    let run = loglift_tests::unique_name("rp");
    let store = h.store();
    let p = pipeline("user_utm");
    assert_eq!(p.duplicates, DuplicatePolicy::Replace);
    let w = h.warehouse(store.clone()).await;
    w.ensure_table(&p).await.unwrap();
    assert_eq!(
        load_one(&w, &store, &p, &run, "a", &[(1, 1), (1, 0), (2, 0)]).await,
        report(2, 0, 1, 0)
    );
    // A correction of e1 (v3, and an older v2 the batch drops) and e2 again (v0 = v0 replaces).
    assert_eq!(
        load_one(&w, &store, &p, &run, "b", &[(1, 3), (2, 0), (1, 2)]).await,
        report(0, 2, 1, 0)
    );
    // A late, older version of e1 (v1) never overwrites v3.
    assert_eq!(
        load_one(&w, &store, &p, &run, "c", &[(1, 1)]).await,
        report(0, 0, 1, 0)
    );
    assert_eq!(dump(h, &p).await, pairs(&[("e1", "v3"), ("e2", "v0")]));
}

pub async fn ensure_table_schema<H: Harness>(h: &H) {
    let run = loglift_tests::unique_name("et");
    let store = h.store();
    let mut p = pipeline("user_utm");
    let (w, w2) = (
        h.warehouse(store.clone()).await,
        h.warehouse(store.clone()).await,
    );
    let (a, b) = tokio::join!(w.ensure_table(&p), w2.ensure_table(&p));
    a.unwrap();
    b.unwrap();
    w.ensure_table(&p).await.unwrap();
    let before = h.columns(&p).await;
    assert_eq!(before.len(), p.columns.len() + 6, "{before:?}");
    load_one(&w, &store, &p, &run, "a", &[(1, 0)]).await;
    p.columns.push(Column {
        name: "gclid".into(),
        kind: ColumnType::String,
        required: false,
        max_bytes: Some(100),
        source: None,
        time_format: None,
    });
    // A new container with the new spec, and the old one told again.
    let w3 = h.warehouse(store.clone()).await;
    w3.ensure_table(&p).await.unwrap();
    w.ensure_table(&p).await.unwrap();
    let after = h.columns(&p).await;
    assert_eq!(after.len(), before.len() + 1, "{after:?}");
    assert_eq!(after.last().map(String::as_str), Some("gclid"));
    load_one(&w3, &store, &p, &run, "b", &[(2, 5)]).await;
    assert_eq!(
        h.select(&p, "gclid").await,
        [
            ("e1".to_owned(), None),
            ("e2".to_owned(), Some("v5".to_owned()))
        ],
        "old rows are NULL in the new column"
    );
}

pub async fn ledger_pruning<H: Harness>(h: &H) {
    let run = loglift_tests::unique_name("lp");
    let store = h.store();
    let p = pipeline("user_events");
    let w = h.warehouse(store.clone()).await;
    assert_eq!(
        w.prune_ledger(Utc::now()).await.unwrap(),
        0,
        "no ledger yet"
    );
    w.ensure_table(&p).await.unwrap();
    for k in 0..3 {
        load_one(&w, &store, &p, &run, &k.to_string(), &[(k, 0)]).await;
    }
    let hour_ago = Utc::now() - ChronoDuration::hours(1);
    assert_eq!(w.prune_ledger(hour_ago).await.unwrap(), 0);
    assert_eq!(h.ledger_rows().await, 3);
    let soon = Utc::now() + ChronoDuration::seconds(1);
    assert_eq!(w.prune_ledger(soon).await.unwrap(), 3);
    assert_eq!(h.ledger_rows().await, 0);
}

pub async fn missing_object<H: Harness>(h: &H) {
    let run = loglift_tests::unique_name("mo");
    let store = h.store();
    let p = pipeline("user_events");
    let w = h.warehouse(store.clone()).await;
    w.ensure_table(&p).await.unwrap();
    let raw = format!("{run}/raw/a");
    let a = put_object(
        &store,
        &p,
        &format!("{run}/a"),
        &source_object(&raw),
        &[(1, 0)],
    )
    .await;
    let mut gone = a.clone();
    gone.key = format!("{run}/deleted");
    let err = w
        .load(&p, &batch(&p, vec![message(&p, &raw, vec![a, gone])]))
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    let named = format!("s3://{BUCKET}/{run}/deleted");
    assert!(err.to_string().contains(&named), "{err}");
    assert!(dump(h, &p).await.is_empty());
    assert_eq!(h.ledger_rows().await, 0);
}

pub async fn ledger_queries<H: Harness>(h: &H) {
    let w = h.warehouse(h.store()).await;
    assert_eq!(
        w.ledger_tables(Utc::now()).await.unwrap(),
        vec![],
        "no ledger yet"
    );
    let prefix = loglift_tests::unique_name("lq");
    check_ledger_queries(&w, &h.store(), &pipeline("user_events"), &prefix).await;
}

/// One property case: a scenario loaded into pipeline `p`'s tables, objects under a prefix.
pub type PropertyCase<H> = for<'a> fn(&'a H, &'a Scenario, Pipeline, String) -> CaseFuture<'a>;
pub type CaseFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + 'a>>;

/// Run `case` over generated scenarios, each under both duplicate policies, on one database.
pub fn property<H: Harness>(case: PropertyCase<H>, cases: u32) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let Some(h) = rt.block_on(H::start()) else {
        return;
    };
    let run = loglift_tests::unique_name("p").replace('-', "_");
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let counter = AtomicUsize::new(0);
    let result = runner.run(&scenarios(), |scenario| {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        // The curated format alternates by case: both formats meet every policy.
        let format = if n.is_multiple_of(2) {
            CuratedFormat::Parquet
        } else {
            CuratedFormat::Ndjson
        };
        for policy in [DuplicatePolicy::KeepFirst, DuplicatePolicy::Replace] {
            // A schema per case and policy: every case starts from empty tables.
            let schema = format!("c{n}_{}", policy == DuplicatePolicy::Replace);
            let mut p = pipeline_in("user_events", policy, &schema);
            p.curated.format = format;
            rt.block_on(case(&h, &scenario, p, format!("{run}/{schema}")))
                .map_err(|e| TestCaseError::fail(format!("{policy:?}, {format:?}: {e}")))?;
        }
        Ok(())
    });
    rt.block_on(h.finish());
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// One loader, deliveries in order (failed ones again at the end): the model's table and reports.
pub fn exactly_once_case<'a, H: Harness>(
    h: &'a H,
    scenario: &'a Scenario,
    p: Pipeline,
    prefix: String,
) -> CaseFuture<'a> {
    Box::pin(async move {
        let store = h.store();
        let w = h.warehouse(store.clone()).await;
        w.ensure_table(&p).await.map_err(|e| e.to_string())?;
        let model = run_sequential(&w, &store, &p, &prefix, scenario).await?;
        check_model(&model, &markers(h, &p).await?)
    })
}

/// Two loaders at once on one table.
pub fn two_loaders_case<'a, H: Harness>(
    h: &'a H,
    scenario: &'a Scenario,
    p: Pipeline,
    prefix: String,
) -> CaseFuture<'a> {
    Box::pin(async move {
        let s0 = h.store();
        let s1 = s0.sharing();
        let (w0, w1) = (h.warehouse(s0.clone()).await, h.warehouse(s1.clone()).await);
        let (a, b) = tokio::join!(w0.ensure_table(&p), w1.ensure_table(&p));
        a.and(b).map_err(|e| e.to_string())?;
        let inserted = run_concurrent([(&w0, &s0), (&w1, &s1)], &p, &prefix, scenario).await?;
        check_concurrent(&p, scenario, &markers(h, &p).await?, inserted)
    })
}
