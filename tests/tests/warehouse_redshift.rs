//! The Redshift warehouse end to end: curated objects in moto S3, the COPY manifest written
//! there, the load plan run by the real Data API client against the PostgreSQL-backed Data API
//! test server (`loglift_tests::data_api`: COPY from the manifest reads moto S3). Happy path with
//! duplicates, a redelivery that the ledger turns into a no-op, and a serialization conflict
//! (FAILED) that applies nothing and succeeds on the next attempt with a new ClientToken; a
//! property test that, with no unique index anywhere (as on Redshift), redeliveries, re-sent
//! events with changed event times and newer versions leave exactly one row per `event_id` (the
//! newest under `replace`) with exact reports; transform rejecting (`too_long`) the rows COPY
//! would refuse while the rest of the file loads; more than 40 new columns; the prune's lock.
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
use loglift_ports::{Ledger, Warehouse};
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

/// A Redshift warehouse on `server`, polling fast, writing manifests under `prefix`.
fn fast_warehouse<S: loglift_ports::ObjectStore>(
    server: &DataApiServer,
    store: S,
    prefix: &str,
) -> RedshiftWarehouse<S> {
    let config = DataApiConfig {
        poll_initial: Duration::from_millis(5),
        poll_max: Duration::from_millis(20),
        ..DataApiConfig::new(
            Target::Serverless {
                workgroup: "loglift".into(),
            },
            "dev",
        )
    };
    RedshiftWarehouse::new(
        DataApi::new(server.client(), config),
        store,
        Location::new(BUCKET, format!("manifests/{prefix}/")),
        "arn:aws:iam::123456789012:role/loglift-copy",
        Duration::from_secs(60),
    )
}

// ---------------------------------------------------------------------------------------------
// The warehouse contract (`warehouse_support::contract`) through the Data API test server, on a
// database of its own; curated objects and manifests in moto S3, where COPY reads them.

struct Redshift {
    db: PgDatabase,
    server: DataApiServer,
    store: FaultyStore<loglift_aws::S3Store>,
    manifests: String,
}

impl Redshift {
    async fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        self.server.pg_rows(sql).await.unwrap()
    }
}

impl warehouse_support::contract::Harness for Redshift {
    type Inner = loglift_aws::S3Store;
    type W = RedshiftWarehouse<FaultyStore<loglift_aws::S3Store>>;
    const CASES: (u32, u32) = (6, 4);

    async fn start() -> Option<Self> {
        let (env, pg) = (moto()?, postgres()?);
        let s3 = env.s3_client();
        // Every suite writes into bucket `lake`; another test may have made it already.
        let _ = s3.create_bucket().bucket(BUCKET).send().await;
        let db = PgDatabase::create(&pg).await;
        let server = DataApiServer::start(&db.url, "loglift_tests", s3)
            .await
            .unwrap();
        Some(Redshift {
            db,
            server,
            store: FaultyStore::new(env.s3_store()),
            manifests: unique_name("contract"),
        })
    }

    fn store(&self) -> FaultyStore<loglift_aws::S3Store> {
        self.store.sharing()
    }

    async fn warehouse(&self, store: FaultyStore<loglift_aws::S3Store>) -> Self::W {
        fast_warehouse(&self.server, store, &self.manifests)
    }

    async fn select(
        &self,
        p: &loglift_core::spec::Pipeline,
        column: &str,
    ) -> Vec<(String, Option<String>)> {
        let (schema, table) = p.table.split_once('.').unwrap();
        let sql = format!(
            "SELECT event_id, \"{column}\"::text FROM \"{schema}\".\"{table}\" ORDER BY event_id"
        );
        let rows = self.rows(&sql).await;
        rows.into_iter()
            .map(|mut r| (r[0].take().unwrap(), r[1].take()))
            .collect()
    }

    async fn columns(&self, p: &loglift_core::spec::Pipeline) -> Vec<String> {
        let (schema, table) = p.table.split_once('.').unwrap();
        let sql = format!("SELECT column_name::text FROM information_schema.columns WHERE table_schema = '{schema}' AND table_name = '{table}' ORDER BY ordinal_position");
        let rows = self.rows(&sql).await;
        rows.into_iter().map(|mut r| r[0].take().unwrap()).collect()
    }

    async fn ledger_rows(&self) -> u64 {
        let sql = "SELECT count(*) FROM loglift.loglift_load_ledger";
        match self.server.pg_scalar(sql).await {
            Ok(n) => n.unwrap().parse().unwrap(),
            Err(_) => 0, // no ledger table yet: nothing loaded
        }
    }

    async fn finish(self) {
        drop(self.server);
        self.db.drop_now().await;
    }
}

crate::warehouse_contract!(super::Redshift);

// ---------------------------------------------------------------------------------------------
// Exactly one row per event_id without any unique index (the test server creates none, as
// Redshift enforces none), whatever redeliveries, new versions and event-time changes come.

/// One curated row: event `id` at `version` (its `ingested_at`), event time shifted by `shift`
/// hours (a re-sent event or a newer version may carry another event time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ev {
    id: u32,
    version: u32,
    shift: u32,
}

impl Ev {
    fn event_time(self) -> String {
        format!("2020-06-01 {:02}:00:{:02}.250000", self.shift, self.id % 60)
    }

    fn marker(self) -> String {
        format!("v{}t{}", self.version, self.shift)
    }

    /// `replace`'s order: the later event time, then the later ingestion.
    fn recency(self) -> (u32, u32) {
        (self.shift, self.version)
    }
}

#[derive(Debug, Clone)]
struct Case {
    /// Sources, each a list of objects, each a list of rows.
    sources: Vec<Vec<Vec<Ev>>>,
    /// Deliveries: the sources of a batch, and whether its acknowledgement is lost (so the same
    /// batch comes again).
    deliveries: Vec<(Vec<usize>, bool)>,
}

fn cases() -> impl proptest::strategy::Strategy<Value = Case> {
    use proptest::prelude::*;
    // Few ids, so sources share them: every case redelivers, re-sends and supersedes events.
    let ev = (0u32..3, 0u32..4, 0u32..3).prop_map(|(id, version, shift)| Ev { id, version, shift });
    let objects = prop::collection::vec(prop::collection::vec(ev, 1..4), 1..3);
    prop::collection::vec(objects, 2..5).prop_flat_map(|sources| {
        let n = sources.len();
        let delivery = (
            prop::collection::vec(0..n, 1..3),
            prop::bool::weighted(0.25),
        );
        (Just(sources), prop::collection::vec(delivery, 2..6)).prop_map(|(sources, deliveries)| {
            Case {
                sources,
                deliveries,
            }
        })
    })
}

/// The curated row of `ev` for `p` (`user_events` under either policy), as transform writes it.
fn ev_row(
    p: &loglift_core::spec::Pipeline,
    ev: Ev,
    id: u32,
    source_object: &str,
) -> serde_json::Value {
    let mut row = warehouse_support::row(p, id, ev.version, source_object);
    let time = serde_json::json!(ev.event_time());
    row["request_timestamp"] = time.clone();
    row["event_time"] = time;
    row[marker_column(p)] = serde_json::json!(ev.marker());
    row
}

/// Load `case` (event ids offset by `base`); check each committed report and the table.
async fn run_case(
    server: &DataApiServer,
    w: &RedshiftWarehouse<loglift_aws::S3Store>,
    store: &loglift_aws::S3Store,
    p: &loglift_core::spec::Pipeline,
    base: u32,
    case: &Case,
) -> Result<(), String> {
    use loglift_ports::ObjectStore;
    use std::collections::{BTreeMap, BTreeSet};
    let prefix = unique_name("ex1");
    let mut messages = Vec::new();
    for (i, objects) in case.sources.iter().enumerate() {
        let source_key = format!("raw/{prefix}/s{i}.ndjson.gz");
        let mut curated = Vec::new();
        for (j, rows) in objects.iter().enumerate() {
            let body: Vec<serde_json::Value> = rows
                .iter()
                .map(|ev| ev_row(p, *ev, base + ev.id, &source_object(&source_key)))
                .collect();
            let (body, content_type) = curated_body(p, &body);
            let key = format!("curated/{prefix}/s{i}-{j:05}.ndjson.gz");
            let meta = store
                .put(BUCKET, &key, bytes::Bytes::from(body), content_type)
                .await
                .map_err(|e| e.to_string())?;
            let times: Vec<String> = rows.iter().map(|e| e.event_time()).collect();
            curated.push(loglift_core::storage::CuratedObject {
                bucket: BUCKET.into(),
                key,
                version: meta.version_id.clone().unwrap_or(meta.etag.clone()),
                bytes: meta.size,
                rows: rows.len() as u64,
                min_event_time: times.iter().min().cloned(),
                max_event_time: times.iter().max().cloned(),
            });
        }
        messages.push(message(p, &source_key, curated));
    }
    // The model: sources loaded (the ledger), per id the rows it may hold.
    let mut loaded: BTreeSet<usize> = BTreeSet::new();
    let mut keep_first: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
    let mut newest: BTreeMap<u32, Ev> = BTreeMap::new();
    let mut inserted = 0u64;
    for (attempt, (sources, lost_ack)) in case.deliveries.iter().enumerate() {
        let mut batch = batch(p, sources.iter().map(|i| messages[*i].clone()).collect());
        batch.attempt = u32::try_from(attempt).unwrap_or(0) + 1;
        let mut order: Vec<usize> = Vec::new();
        for s in sources {
            if !order.contains(s) {
                order.push(*s);
            }
        }
        let fresh: Vec<usize> = order
            .iter()
            .copied()
            .filter(|s| !loaded.contains(s))
            .collect();
        let staged: Vec<(usize, Ev)> = fresh
            .iter()
            .flat_map(|s| case.sources[*s].iter().flatten().map(move |e| (*s, *e)))
            .collect();
        let skipped_objects: u64 = order
            .iter()
            .filter(|s| loaded.contains(s))
            .map(|s| case.sources[*s].len() as u64)
            .sum();
        let report = w.load(p, &batch).await.map_err(|e| e.to_string())?;
        // keep_first: the id's first ingested copy (lowest version) among the batch's fresh
        // rows, from the first source holding such a copy (ties within a source: any).
        let mut new_ids = 0;
        for (s, e) in &staged {
            newest
                .entry(e.id)
                .and_modify(|n| {
                    if e.recency() > n.recency() {
                        *n = *e;
                    }
                })
                .or_insert(*e);
            if keep_first.contains_key(&e.id) {
                continue;
            }
            let first = staged.iter().find(|(_, x)| x.id == e.id).map(|(s, _)| *s);
            if first != Some(*s) {
                continue;
            }
            let copies = || staged.iter().filter(|(_, x)| x.id == e.id);
            let low = copies().map(|(_, x)| x.version).min().unwrap_or(0);
            let from = copies().find(|(_, x)| x.version == low).map(|(s, _)| *s);
            keep_first.insert(
                e.id,
                copies()
                    .filter(|(s, x)| Some(*s) == from && x.version == low)
                    .map(|(_, x)| x.marker())
                    .collect(),
            );
            new_ids += 1;
        }
        let applied = report.inserted + report.replaced + report.duplicates_skipped;
        if report.inserted != new_ids
            || applied != staged.len() as u64
            || report.objects_skipped != skipped_objects
            || (p.duplicates == DuplicatePolicy::KeepFirst && report.replaced != 0)
        {
            return Err(format!(
                "delivery {sources:?}: report {report:?}; {new_ids} new ids, {} rows staged, {skipped_objects} objects skipped",
                staged.len()
            ));
        }
        inserted += report.inserted;
        loaded.extend(fresh);
        if *lost_ack {
            batch.attempt += 100;
            let again = w.load(p, &batch).await.map_err(|e| e.to_string())?;
            if again.inserted + again.replaced + again.duplicates_skipped != 0 {
                return Err(format!("redelivery of {sources:?} applied rows: {again:?}"));
            }
        }
    }
    // The table: exactly one row per event id, the one the policy keeps.
    let table = p.table.replace('.', "\".\"");
    let rows = server
        .pg_rows(&format!(
            "SELECT \"event_id\", \"{}\" FROM \"{table}\" WHERE \"event_id\" IN ({})",
            marker_column(p),
            (0..3)
                .map(|i| format!("'e{}'", base + i))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .await?;
    let mut held: BTreeMap<String, String> = BTreeMap::new();
    for row in rows {
        let (Some(id), Some(marker)) = (row[0].clone(), row[1].clone()) else {
            return Err(format!("a row without id or marker: {row:?}"));
        };
        if let Some(other) = held.insert(id.clone(), marker.clone()) {
            return Err(format!("{id} is in the table twice: {other} and {marker}"));
        }
    }
    let want_ids: BTreeSet<String> = newest.keys().map(|id| format!("e{}", base + id)).collect();
    let got_ids: BTreeSet<String> = held.keys().cloned().collect();
    if want_ids != got_ids || inserted != want_ids.len() as u64 {
        return Err(format!(
            "table ids {got_ids:?}, delivered {want_ids:?}, {inserted} inserted"
        ));
    }
    for (id, e) in &newest {
        let got = &held[&format!("e{}", base + id)];
        let ok = match p.duplicates {
            DuplicatePolicy::Replace => *got == e.marker(),
            DuplicatePolicy::KeepFirst => keep_first[id].contains(got),
        };
        if !ok {
            return Err(format!(
                "e{} holds {got}; {:?} wants {}",
                base + id,
                p.duplicates,
                match p.duplicates {
                    DuplicatePolicy::Replace => e.marker(),
                    DuplicatePolicy::KeepFirst => format!("{:?}", keep_first[id]),
                }
            ));
        }
    }
    Ok(())
}

#[test]
fn exactly_one_row_per_event_id_without_a_unique_index() {
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    let (Some(env), Some(pg)) = (moto(), postgres()) else {
        return;
    };
    let started = std::time::Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let s3 = env.s3_client();
    let server = rt.block_on(async {
        let _ = s3.create_bucket().bucket(BUCKET).send().await;
        DataApiServer::start_in_new_schema(&pg, s3).await.unwrap()
    });
    let schema = server.schema().to_owned();
    let store = env.s3_store();
    let keep = pipeline_in("user_events", DuplicatePolicy::KeepFirst, &schema);
    let mut replace = pipeline_in("user_events", DuplicatePolicy::Replace, &schema);
    replace.table = format!("{schema}.events_replace");
    let w = fast_warehouse(&server, store.clone(), &unique_name("ex1"));
    rt.block_on(async {
        w.ensure_table(&keep).await.unwrap();
        w.ensure_table(&replace).await.unwrap();
    });
    // No unique index on either table: nothing but the plan keeps ids unique.
    let indexes = rt
        .block_on(server.pg_scalar(&format!(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = '{schema}'"
        )))
        .unwrap();
    assert_eq!(indexes.as_deref(), Some("0"));
    // First the case the event-time window got wrong: a re-sent event whose event time changed,
    // a newer version with an earlier event time, a newer one with a later, and a redelivery.
    let ev = |id, version, shift| Ev { id, version, shift };
    let fixed = Case {
        sources: vec![
            vec![vec![ev(0, 0, 0), ev(1, 0, 1)]],
            vec![vec![ev(0, 0, 2)]],
            vec![vec![ev(0, 1, 1), ev(1, 2, 2)]],
            vec![vec![ev(0, 3, 2)], vec![ev(1, 1, 0)]],
        ],
        deliveries: vec![
            (vec![0], false),
            (vec![1], true),
            (vec![2], false),
            (vec![3, 0], false),
        ],
    };
    rt.block_on(async {
        let (a, b) = tokio::join!(
            run_case(&server, &w, &store, &keep, 0, &fixed),
            run_case(&server, &w, &store, &replace, 0, &fixed)
        );
        a.unwrap_or_else(|e| panic!("keep_first: {e}"));
        b.unwrap_or_else(|e| panic!("replace: {e}"));
    });
    // Three random cases unless PROPTEST_CASES says otherwise (about 1.5 s each), a fixed seed
    // unless PROPTEST_RNG_SEED gives one.
    let mut config = Config {
        max_shrink_iters: 64,
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 3;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = proptest::test_runner::RngSeed::Fixed(0x0013_5eed);
    }
    let mut runner = TestRunner::new(config);
    let n = std::sync::atomic::AtomicU32::new(1);
    let result = runner.run(&cases(), |case| {
        let base = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed) * 100;
        let (a, b) = rt.block_on(async {
            tokio::join!(
                run_case(&server, &w, &store, &keep, base, &case),
                run_case(&server, &w, &store, &replace, base, &case)
            )
        });
        a.map_err(|e| TestCaseError::fail(format!("keep_first: {e}")))?;
        b.map_err(|e| TestCaseError::fail(format!("replace: {e}")))?;
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!("exactly-once property: {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------------------------
// Rows COPY would refuse are rejected by transform (`too_long`); the rest of the file loads.

/// Transform's objects, kept in memory (the test uploads them to moto afterwards).
#[derive(Default)]
struct MemSink {
    objects: Vec<(String, String, Vec<u8>)>,
}

impl loglift_core::transform::Sink for MemSink {
    type Error = String;
    fn put(&mut self, bucket: &str, key: &str, bytes: Vec<u8>, _: &str) -> Result<String, String> {
        self.objects
            .push((bucket.to_owned(), key.to_owned(), bytes));
        Ok(format!("v{}", self.objects.len()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_copy_would_refuse_are_rejected_and_the_rest_loads() {
    use loglift_core::transform::{self, Context, SourceKind, SourceObject};
    use loglift_ports::ObjectStore;
    let (Some(env), Some(pg)) = (moto(), postgres()) else {
        return;
    };
    let started = std::time::Instant::now();
    let s3 = env.s3_client();
    let _ = s3.create_bucket().bucket(BUCKET).send().await;
    let server = DataApiServer::start_in_new_schema(&pg, s3.clone())
        .await
        .unwrap();
    let schema = server.schema().to_owned();
    // NDJSON parts: what JSON COPY reads into SUPER is the limit under test (a Parquet part's
    // JSON text is capped by its VARCHAR(65535) staging column instead).
    let mut p = pipeline_in("partner_catalog", DuplicatePolicy::Replace, &schema);
    p.curated.format = loglift_core::spec::CuratedFormat::Ndjson;
    let prefix = unique_name("limits");
    let w = fast_warehouse(&server, env.s3_store(), &prefix);
    w.ensure_table(&p).await.unwrap();

    // A landing file: three good rows around three that Redshift's COPY would refuse.
    let good = |id: u32| serde_json::json!({"partner_name": "expedia", "accommodation_id": format!("a{id}"), "accommodation_data": {"stars": id}});
    let piece = "x".repeat(60_000);
    let many: serde_json::Map<String, serde_json::Value> = (0..66)
        .map(|i| (format!("f{i:02}"), serde_json::json!(piece)))
        .collect();
    let mut too_big_row = many.clone();
    too_big_row.insert("partner_name".into(), "booking".into());
    too_big_row.insert("accommodation_id".into(), "big".into());
    too_big_row.insert(
        "accommodation_data".into(),
        serde_json::json!({"text": piece}),
    );
    let lines = [
        good(1),
        // A string of 65,536 bytes in a SUPER column (the column's own limit is 65,535 bytes of
        // JSON, so the string sits in `extra`, unknown fields' SUPER).
        serde_json::json!({"partner_name": "expedia", "accommodation_id": "s", "notes": "é".repeat(32_768)}),
        good(2),
        // 256 bytes (128 characters) in a VARCHAR(255).
        serde_json::json!({"partner_name": "é".repeat(128), "accommodation_id": "v"}),
        // Every value in bounds, the curated row over 4,000,000 bytes.
        serde_json::Value::Object(too_big_row),
        good(3),
    ];
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let layout = loglift_core::storage::Layout::single_bucket(BUCKET);
    let key = format!("landing/partner_catalog/{prefix}.ndjson");
    let source = SourceObject {
        bucket: BUCKET,
        key: &key,
        version: "v1",
        kind: SourceKind::Landing,
        pipeline: &p,
        arrival: chrono::Utc::now(),
        ingested_at: chrono::Utc::now(),
    };
    let priority: Vec<String> = ["expedia", "booking"].map(String::from).to_vec();
    let ctx = Context {
        layout: &layout,
        spec_version: 1,
        limits: transform::Limits::default(),
        now: chrono::Utc::now(),
        priority: &priority,
    };
    let mut sink = MemSink::default();
    let outcome = transform::transform_object(body.as_bytes(), &source, &ctx, &mut sink).unwrap();
    assert_eq!((outcome.valid, outcome.rejected), (3, 3), "{outcome:?}");
    assert_eq!(
        outcome.rejects_by_reason.get("too_long"),
        Some(&3),
        "{:?}",
        outcome.rejects_by_reason
    );
    for (bucket, key, bytes) in &sink.objects {
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .body(bytes.clone().into())
            .send()
            .await
            .unwrap();
    }
    let message = outcome.loader_message(&source, 1).unwrap();
    let report = w.load(&p, &batch(&p, vec![message])).await.unwrap();
    assert_eq!(report.inserted, 3, "{report:?}");
    let rows = server
        .pg_scalar(&format!(
            "SELECT count(*) FROM \"{schema}\".\"partner_accommodations\""
        ))
        .await
        .unwrap();
    assert_eq!(rows.as_deref(), Some("3"));

    // Had transform let such a row through, COPY would have refused the whole batch, every try.
    let curated = &sink
        .objects
        .iter()
        .find(|o| o.1.starts_with("curated/"))
        .unwrap()
        .2;
    let text = loglift_core::compress::decompress_within(curated, 1 << 24).unwrap();
    let first_line = text.split(|b| *b == b'\n').next().unwrap();
    let mut bypass: serde_json::Value = serde_json::from_slice(first_line).unwrap();
    bypass["extra"] = serde_json::json!({"notes": "é".repeat(32_768)});
    let mut gz = loglift_core::ndjson::GzLines::default();
    gz.push(&bypass).unwrap();
    let bypass_key = format!("curated/{prefix}/bypass.ndjson.gz");
    let meta = env
        .s3_store()
        .put(
            BUCKET,
            &bypass_key,
            bytes::Bytes::from(gz.finish().unwrap()),
            "application/x-ndjson",
        )
        .await
        .unwrap();
    let object = loglift_core::storage::CuratedObject {
        bucket: BUCKET.into(),
        key: bypass_key,
        version: meta.etag.clone(),
        bytes: meta.size,
        rows: 1,
        min_event_time: None,
        max_event_time: None,
    };
    let err = w
        .load(
            &p,
            &batch(
                &p,
                vec![message_of(&p, &format!("{prefix}/bypass"), object)],
            ),
        )
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(
        err.to_string()
            .contains("a string of 65536 bytes in a SUPER value"),
        "{err}"
    );
    eprintln!("limits test: {:?}", started.elapsed());
}

fn message_of(
    p: &loglift_core::spec::Pipeline,
    source_key: &str,
    object: loglift_core::storage::CuratedObject,
) -> loglift_core::storage::LoaderMessage {
    message(p, source_key, vec![object])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_40_new_columns_are_added_in_chunks_and_the_prune_locks_the_ledger() {
    use loglift_core::spec::{Column, ColumnType};
    let (Some(env), Some(pg)) = (moto(), postgres()) else {
        return;
    };
    let s3 = env.s3_client();
    let _ = s3.create_bucket().bucket(BUCKET).send().await;
    let server = DataApiServer::start_in_new_schema(&pg, s3).await.unwrap();
    let schema = server.schema().to_owned();
    let mut p = pipeline_in("user_utm", DuplicatePolicy::Replace, &schema);
    let w = fast_warehouse(&server, env.s3_store(), &unique_name("wide"));
    w.ensure_table(&p).await.unwrap();
    let before = p.columns.len();
    p.columns.extend((0..45).map(|i| Column {
        name: format!("added_{i:02}"),
        kind: ColumnType::String,
        required: false,
        max_bytes: Some(16),
        source: None,
        time_format: None,
    }));
    w.ensure_table(&p).await.unwrap();
    let count = server
        .pg_scalar(&format!(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = '{schema}' AND table_name = 'utm' AND column_name LIKE 'added%'"
        ))
        .await
        .unwrap();
    assert_eq!(count.as_deref(), Some("45"), "{before} columns before");
    // The added columns count bytes too.
    let err = server
        .pg_execute(&format!(
            "INSERT INTO \"{schema}\".\"utm\" (event_id, source_object, spec_version, ingested_at, added_00) VALUES ('e', 's', 1, now(), '{}')",
            "é".repeat(9)
        ))
        .await
        .unwrap_err();
    assert!(
        err.contains("value too long for type character varying(16)"),
        "{err}"
    );
    // The prune runs as LOCK ledger + DELETE and reports the DELETE's rows (the ledger is
    // shared by every test on this PostgreSQL: nothing is that old).
    let long_ago = chrono::DateTime::parse_from_rfc3339("2001-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    assert_eq!(w.prune_ledger(long_ago).await.unwrap(), 0);
    let prunes = server.requests("BatchExecuteStatement");
    let last = prunes.last().unwrap();
    assert_eq!(last["Sqls"][0], "LOCK \"loglift\".\"loglift_load_ledger\"");
}
