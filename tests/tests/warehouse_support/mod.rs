//! Shared by the warehouse suites: curated objects written the way transform writes them, loader
//! messages, a store that fails or hangs on request (crash points before commit), and a model of
//! what a sequence of loads must leave in the table.
//!
//! The model: an event's rows are `(id, version)`; a version's `ingested_at` is later than the
//! lower versions', its event time is the event's own (stable). `keep_first` keeps the row the
//! table got first; within a batch the first ingested (lowest version), `replace` the highest.
//! Objects already in the ledger are skipped whole.
#![allow(dead_code)]

pub mod contract;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::{Duration as ChronoDuration, TimeZone, Utc};
use loglift_core::columnar::ParquetPart;
use loglift_core::ndjson::GzLines;
use loglift_core::spec::{ColumnType, CuratedFormat, DuplicatePolicy, Identity, Pipeline, Spec};
use loglift_core::storage::{CuratedObject, LoadBatch, LoadReport, LoaderMessage, ObjectVersion};
use loglift_local::MemoryStore;
use loglift_ports::{
    Ledger, ListPage, Object, ObjectMeta, ObjectStore, PortError, PortResult, Warehouse,
};
use proptest::prelude::*;
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub const BUCKET: &str = "lake";

pub fn spec() -> Spec {
    Spec::parse(include_str!("../../../spec/pipelines.yaml")).unwrap()
}

pub fn pipeline(name: &str) -> Pipeline {
    spec().pipeline(name).unwrap().clone()
}

/// `user_events` with the `replace` policy (the shipped spec has no replace pipeline with event
/// time), in table `schema.events`.
pub fn pipeline_in(name: &str, policy: DuplicatePolicy, schema: &str) -> Pipeline {
    let mut p = pipeline(name);
    p.duplicates = policy;
    let table = p
        .table
        .split_once('.')
        .map_or(p.table.clone(), |(_, t)| t.to_owned());
    p.table = format!("{schema}.{table}");
    p
}

/// The identity field (`request_id` for seed 002's pipelines).
fn identity_field(p: &Pipeline) -> &str {
    match &p.identity {
        Identity::Field(f) => f,
        _ => "",
    }
}

/// The column whose value names the row's version: the first string column that is not the
/// identity.
pub fn marker_column(p: &Pipeline) -> String {
    p.columns
        .iter()
        .find(|c| c.kind == ColumnType::String && c.name != identity_field(p))
        .map(|c| c.name.clone())
        .unwrap()
}

pub fn event_time(id: u32) -> String {
    format!("2020-06-01 00:{:02}:{:02}.250000", id / 60 % 60, id % 60)
}

pub fn ingested_at(version: u32) -> String {
    let t = Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap()
        + ChronoDuration::seconds(i64::from(version));
    loglift_core::timefmt::curated(t)
}

/// A curated row of event `id` at `version`.
pub fn row(p: &Pipeline, id: u32, version: u32, source_object: &str) -> Value {
    let event_id = format!("e{id}");
    let mut row = serde_json::Map::new();
    for c in &p.columns {
        let value = if c.name == identity_field(p) {
            json!(event_id)
        } else if Some(&c.name) == p.event_time.as_ref() {
            json!(event_time(id))
        } else {
            match c.kind {
                ColumnType::String => json!(format!("v{version}")),
                ColumnType::Int => json!(version),
                ColumnType::Float => json!(f64::from(version) + 0.5),
                ColumnType::Bool => json!(version.is_multiple_of(2)),
                ColumnType::Timestamp => json!(ingested_at(version)),
                ColumnType::Json => json!({"v": version, "s": "a\tb\\c\"d\n"}),
            }
        };
        row.insert(c.name.clone(), value);
    }
    row.insert("extra".into(), json!({"note": format!("é\\{version}")}));
    row.insert("event_id".into(), json!(event_id));
    row.insert(
        "event_time".into(),
        if p.event_time.is_some() {
            json!(event_time(id))
        } else {
            Value::Null
        },
    );
    row.insert("source_object".into(), json!(source_object));
    row.insert("spec_version".into(), json!(1));
    row.insert("ingested_at".into(), json!(ingested_at(version)));
    Value::Object(row)
}

/// Write one curated object (gzip NDJSON) of `rows` (`(id, version)`); its message entry.
pub async fn put_object<S: ObjectStore>(
    store: &S,
    p: &Pipeline,
    key: &str,
    source_object: &str,
    rows: &[(u32, u32)],
) -> CuratedObject {
    let values: Vec<Value> = rows
        .iter()
        .map(|(id, version)| row(p, *id, *version, source_object))
        .collect();
    let (body, content_type) = curated_body(p, &values);
    let meta = store
        .put(BUCKET, key, Bytes::from(body), content_type)
        .await
        .unwrap();
    let times: Vec<String> = rows.iter().map(|(id, _)| event_time(*id)).collect();
    let bound = |t: Option<&String>| p.event_time.as_ref().and(t.cloned());
    CuratedObject {
        bucket: BUCKET.into(),
        key: key.into(),
        version: meta.version_id.clone().unwrap_or(meta.etag.clone()),
        bytes: meta.size,
        rows: rows.len() as u64,
        min_event_time: bound(times.iter().min()),
        max_event_time: bound(times.iter().max()),
    }
}

/// A curated object's body holding `rows`, in the pipeline's curated format (as transform writes
/// it), and its content type.
pub fn curated_body(p: &Pipeline, rows: &[Value]) -> (Vec<u8>, &'static str) {
    match p.curated.format {
        CuratedFormat::Ndjson => {
            let mut lines = GzLines::default();
            for row in rows {
                lines.push(row).unwrap();
            }
            (lines.finish().unwrap(), "application/x-ndjson")
        }
        CuratedFormat::Parquet => {
            let mut part = ParquetPart::new(loglift_core::sql::table_columns(p)).unwrap();
            for row in rows {
                part.push_line(&serde_json::to_vec(row).unwrap()).unwrap();
            }
            (part.finish().unwrap(), loglift_core::columnar::CONTENT_TYPE)
        }
    }
}

pub fn source_object(source_key: &str) -> String {
    format!("s3://{BUCKET}/{source_key}#v1")
}

pub fn message(p: &Pipeline, source_key: &str, objects: Vec<CuratedObject>) -> LoaderMessage {
    LoaderMessage {
        v: 1,
        pipeline: p.name.clone(),
        table: p.table.clone(),
        spec_version: 1,
        source: ObjectVersion {
            bucket: BUCKET.into(),
            key: source_key.into(),
            version: "v1".into(),
        },
        objects,
        rejected: 0,
    }
}

pub fn batch(p: &Pipeline, messages: Vec<LoaderMessage>) -> LoadBatch {
    LoadBatch {
        attempt: 0,
        table: p.table.clone(),
        messages,
    }
}

enum Fault {
    Fail,
    Hang(oneshot::Sender<()>),
}

/// A [`MemoryStore`] whose n-th `get` from now fails (transient) or never answers: a crash
/// before commit. Clones share the objects and the fault.
#[derive(Clone, Default)]
pub struct FaultyStore<S = MemoryStore> {
    pub inner: S,
    fault: Arc<Mutex<Option<(u32, Fault)>>>,
}

impl<S> FaultyStore<S> {
    pub fn new(inner: S) -> FaultyStore<S> {
        FaultyStore {
            inner,
            fault: Arc::default(),
        }
    }

    /// A store over the same objects with its own fault (another loader's).
    pub fn sharing(&self) -> FaultyStore<S>
    where
        S: Clone,
    {
        FaultyStore {
            inner: self.inner.clone(),
            fault: Arc::default(),
        }
    }

    pub fn fail_at(&self, n: u32) {
        *self.fault.lock().unwrap() = Some((n, Fault::Fail));
    }

    /// The receiver fires when the load is stuck in the hanging `get`.
    pub fn hang_at(&self, n: u32) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        *self.fault.lock().unwrap() = Some((n, Fault::Hang(tx)));
        rx
    }

    pub fn disarm(&self) {
        *self.fault.lock().unwrap() = None;
    }

    fn trip(&self) -> Option<Fault> {
        let mut fault = self.fault.lock().unwrap();
        match fault.as_mut() {
            Some((n, _)) if *n > 1 => {
                *n -= 1;
                None
            }
            Some(_) => fault.take().map(|(_, f)| f),
            None => None,
        }
    }
}

impl<S: ObjectStore> ObjectStore for FaultyStore<S> {
    async fn put(&self, bucket: &str, key: &str, body: Bytes, ct: &str) -> PortResult<ObjectMeta> {
        self.inner.put(bucket, key, body, ct).await
    }
    async fn get(&self, bucket: &str, key: &str) -> PortResult<Object> {
        match self.trip() {
            Some(Fault::Fail) => Err(PortError::Transient {
                op: "GetObject",
                target: format!("{bucket}/{key}"),
                message: "injected failure".into(),
                source: None,
            }),
            Some(Fault::Hang(tx)) => {
                let _ = tx.send(());
                std::future::pending().await
            }
            None => self.inner.get(bucket, key).await,
        }
    }
    async fn head(&self, bucket: &str, key: &str) -> PortResult<Option<ObjectMeta>> {
        self.inner.head(bucket, key).await
    }
    async fn list(&self, bucket: &str, prefix: &str, c: Option<&str>) -> PortResult<ListPage> {
        self.inner.list(bucket, prefix, c).await
    }
    async fn delete(&self, bucket: &str, key: &str) -> PortResult<()> {
        self.inner.delete(bucket, key).await
    }
}

/// What can happen to a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crash {
    None,
    /// The n-th object read fails: the load errors, nothing is committed, the batch comes back.
    FailGet(u32),
    /// The n-th object read never returns and the load is dropped (a Lambda timeout).
    HangGet(u32),
    /// The load commits but the acknowledgement is lost: the same batch comes again.
    LostAck,
}

/// Sources (each: objects, each: rows `(id, version)`) and deliveries (batches of source
/// indexes, a crash, the loader that takes it).
#[derive(Debug, Clone)]
pub struct Scenario {
    pub sources: Vec<Vec<Vec<(u32, u32)>>>,
    pub deliveries: Vec<(Vec<usize>, Crash, usize)>,
}

pub fn scenarios() -> impl Strategy<Value = Scenario> {
    let rows = prop::collection::vec((0u32..10, 0u32..4), 1..6);
    let objects = prop::collection::vec(rows, 1..3);
    prop::collection::vec(objects, 1..6).prop_flat_map(|sources| {
        let n = sources.len();
        let crash = prop_oneof![
            4 => Just(Crash::None),
            1 => (1u32..3).prop_map(Crash::FailGet),
            1 => (1u32..3).prop_map(Crash::HangGet),
            1 => Just(Crash::LostAck),
        ];
        let delivery = (prop::collection::vec(0..n, 1..4), crash, 0usize..2);
        (Just(sources), prop::collection::vec(delivery, 1..7)).prop_map(|(sources, deliveries)| {
            Scenario {
                sources,
                deliveries,
            }
        })
    })
}

/// The scenario's messages, one per source, objects written to `store` under `prefix`.
pub async fn write_sources<S: ObjectStore>(
    store: &S,
    p: &Pipeline,
    prefix: &str,
    scenario: &Scenario,
) -> Vec<LoaderMessage> {
    let mut messages = Vec::new();
    for (i, objects) in scenario.sources.iter().enumerate() {
        let source_key = format!("raw/{prefix}/s{i}.ndjson.gz");
        let mut curated = Vec::new();
        for (j, rows) in objects.iter().enumerate() {
            let key = format!("curated/{prefix}/s{i}-{j:05}.ndjson.gz");
            curated.push(put_object(store, p, &key, &source_object(&source_key), rows).await);
        }
        messages.push(message(p, &source_key, curated));
    }
    messages
}

/// The table as the model expects it.
#[derive(Debug, Default, Clone)]
pub struct Model {
    pub policy: DuplicatePolicy,
    /// event id → version held.
    pub table: BTreeMap<String, u32>,
    pub ledger: BTreeSet<(String, String)>,
}

impl Model {
    pub fn new(policy: DuplicatePolicy) -> Model {
        Model {
            policy,
            ..Model::default()
        }
    }

    /// Commit `batch` (rows looked up in `scenario` by object key); the report it must give.
    pub fn commit(
        &mut self,
        batch: &LoadBatch,
        rows_of: &BTreeMap<String, Vec<(u32, u32)>>,
    ) -> LoadReport {
        let mut report = LoadReport::default();
        let mut seen = BTreeSet::new();
        let mut staged: Vec<(u32, u32)> = Vec::new();
        let mut new_objects = Vec::new();
        for o in batch.messages.iter().flat_map(|m| &m.objects) {
            let id = (o.key.clone(), o.version.clone());
            if !seen.insert(id.clone()) {
                continue;
            }
            if self.ledger.contains(&id) {
                report.objects_skipped += 1;
                continue;
            }
            staged.extend(&rows_of[&o.key]);
            new_objects.push(id);
        }
        // The batch's row per event: first (keep_first) or highest version (replace).
        let mut winners: BTreeMap<String, u32> = BTreeMap::new();
        for (id, version) in &staged {
            let e = format!("e{id}");
            match self.policy {
                DuplicatePolicy::KeepFirst => {
                    let w = winners.entry(e).or_insert(*version);
                    *w = (*w).min(*version);
                }
                DuplicatePolicy::Replace => {
                    let w = winners.entry(e).or_insert(*version);
                    *w = (*w).max(*version);
                }
            }
        }
        for (e, version) in winners {
            match self.table.get(&e).copied() {
                None => {
                    self.table.insert(e, version);
                    report.inserted += 1;
                }
                Some(held) if self.policy == DuplicatePolicy::Replace && version >= held => {
                    self.table.insert(e, version);
                    report.replaced += 1;
                }
                Some(_) => {}
            }
        }
        report.duplicates_skipped = staged.len() as u64 - report.inserted - report.replaced;
        self.ledger.extend(new_objects);
        report
    }
}

/// The rows of each object key of the scenario.
pub fn rows_by_key(prefix: &str, scenario: &Scenario) -> BTreeMap<String, Vec<(u32, u32)>> {
    let mut out = BTreeMap::new();
    for (i, objects) in scenario.sources.iter().enumerate() {
        for (j, rows) in objects.iter().enumerate() {
            out.insert(
                format!("curated/{prefix}/s{i}-{j:05}.ndjson.gz"),
                rows.clone(),
            );
        }
    }
    out
}

/// The batch of a delivery.
pub fn delivery_batch(p: &Pipeline, messages: &[LoaderMessage], sources: &[usize]) -> LoadBatch {
    batch(p, sources.iter().map(|i| messages[*i].clone()).collect())
}

/// Load with a crash injected; `None` when the load was dropped mid-way.
pub async fn load_with<W: Warehouse, S>(
    w: &W,
    store: &FaultyStore<S>,
    p: &Pipeline,
    batch: &LoadBatch,
    crash: Crash,
) -> Option<PortResult<LoadReport>> {
    let outcome = match crash {
        Crash::FailGet(n) => {
            store.fail_at(n);
            Some(w.load(p, batch).await)
        }
        Crash::HangGet(n) => {
            let hung = store.hang_at(n);
            tokio::select! {
                r = w.load(p, batch) => Some(r),
                _ = hung => None,
            }
        }
        Crash::None | Crash::LostAck => Some(w.load(p, batch).await),
    };
    store.disarm();
    outcome
}

/// Run the deliveries one after the other on one warehouse, checking each committed load's
/// report against the model; failed or dropped loads come back after the others (SQS retry).
pub async fn run_sequential<W: Warehouse, S: ObjectStore + Clone>(
    w: &W,
    store: &FaultyStore<S>,
    p: &Pipeline,
    prefix: &str,
    scenario: &Scenario,
) -> Result<Model, String> {
    let messages = write_sources(store, p, prefix, scenario).await;
    let rows_of = rows_by_key(prefix, scenario);
    let mut model = Model::new(p.duplicates);
    let mut queue: Vec<(Vec<usize>, Crash)> = scenario
        .deliveries
        .iter()
        .map(|(b, c, _)| (b.clone(), *c))
        .collect();
    let mut i = 0;
    while i < queue.len() {
        let (sources, crash) = queue[i].clone();
        i += 1;
        let batch = delivery_batch(p, &messages, &sources);
        match load_with(w, store, p, &batch, crash).await {
            Some(Ok(report)) => {
                let want = model.commit(&batch, &rows_of);
                if report != want {
                    return Err(format!(
                        "delivery {sources:?} ({crash:?}): report {report:?}, model {want:?}"
                    ));
                }
                if crash == Crash::LostAck {
                    queue.push((sources, Crash::None));
                }
            }
            Some(Err(e)) if e.is_retryable() => queue.push((sources, Crash::None)),
            Some(Err(e)) => return Err(format!("delivery {sources:?}: {e}")),
            None => queue.push((sources, Crash::None)),
        }
        if queue.len() > 100 {
            return Err("deliveries keep failing".into());
        }
    }
    Ok(model)
}

/// Run each loader's deliveries on its own warehouse, both at once; returns the total inserted.
pub async fn run_concurrent<W: Warehouse, S: ObjectStore + Clone>(
    loaders: [(&W, &FaultyStore<S>); 2],
    p: &Pipeline,
    prefix: &str,
    scenario: &Scenario,
) -> Result<u64, String> {
    let messages = write_sources(loaders[0].1, p, prefix, scenario).await;
    let run = |k: usize| {
        let (w, store) = loaders[k];
        let mut queue: Vec<(Vec<usize>, Crash)> = scenario
            .deliveries
            .iter()
            .filter(|(_, _, loader)| *loader == k)
            .map(|(b, c, _)| (b.clone(), *c))
            .collect();
        let messages = &messages;
        async move {
            let mut inserted = 0;
            let mut i = 0;
            while i < queue.len() {
                let (sources, crash) = queue[i].clone();
                i += 1;
                let batch = delivery_batch(p, messages, &sources);
                match load_with(w, store, p, &batch, crash).await {
                    Some(Ok(report)) => {
                        inserted += report.inserted;
                        if crash == Crash::LostAck {
                            queue.push((sources, Crash::None));
                        }
                    }
                    Some(Err(e)) if e.is_retryable() => queue.push((sources, Crash::None)),
                    Some(Err(e)) => return Err(format!("loader {k} {sources:?}: {e}")),
                    None => queue.push((sources, Crash::None)),
                }
                if queue.len() > 100 {
                    return Err(format!("loader {k}: deliveries keep failing"));
                }
            }
            Ok(inserted)
        }
    };
    let (a, b) = tokio::join!(run(0), run(1));
    Ok(a? + b?)
}

/// Every event of the delivered sources exactly once; with `replace` its highest version;
/// with `keep_first` one of its versions (concurrent loads commit in either order).
pub fn check_concurrent(
    p: &Pipeline,
    scenario: &Scenario,
    rows: &[(String, String)],
    inserted: u64,
) -> Result<(), String> {
    let mut versions: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    let delivered: BTreeSet<usize> = scenario
        .deliveries
        .iter()
        .flat_map(|(b, _, _)| b.iter().copied())
        .collect();
    for i in delivered {
        for (id, v) in scenario.sources[i].iter().flatten() {
            versions.entry(format!("e{id}")).or_default().insert(*v);
        }
    }
    let mut held: BTreeMap<String, u32> = BTreeMap::new();
    for (id, marker) in rows {
        let v: u32 = marker
            .trim_start_matches('v')
            .parse()
            .map_err(|_| format!("marker {marker}"))?;
        if held.insert(id.clone(), v).is_some() {
            return Err(format!("{id} is in the table twice"));
        }
    }
    let ids: BTreeSet<&String> = held.keys().collect();
    let want: BTreeSet<&String> = versions.keys().collect();
    if ids != want {
        return Err(format!("table ids {ids:?}, delivered {want:?}"));
    }
    if inserted != want.len() as u64 {
        return Err(format!(
            "reports say {inserted} inserted, {} events",
            want.len()
        ));
    }
    for (id, v) in &held {
        let all = &versions[id];
        let ok = match p.duplicates {
            DuplicatePolicy::Replace => all.iter().max() == Some(v),
            DuplicatePolicy::KeepFirst => all.contains(v),
        };
        if !ok {
            return Err(format!(
                "{id} holds v{v}, versions {all:?} ({:?})",
                p.duplicates
            ));
        }
    }
    Ok(())
}

/// The table's rows against the sequential model.
pub fn check_model(model: &Model, rows: &[(String, String)]) -> Result<(), String> {
    let mut held: BTreeMap<String, u32> = BTreeMap::new();
    for (id, marker) in rows {
        let v: u32 = marker
            .trim_start_matches('v')
            .parse()
            .map_err(|_| format!("marker {marker}"))?;
        if held.insert(id.clone(), v).is_some() {
            return Err(format!("{id} is in the table twice"));
        }
    }
    if held != model.table {
        return Err(format!("table {held:?}, model {:?}", model.table));
    }
    Ok(())
}

/// The ledger queries `loglift audit` and `loglift status` use, after a load of two source
/// objects under `prefix` (one with two curated objects): per source object and per table.
pub async fn check_ledger_queries<W: Warehouse + Ledger, S: ObjectStore>(
    w: &W,
    store: &S,
    p: &Pipeline,
    prefix: &str,
) {
    let from = format!("s3://{BUCKET}/{prefix}/");
    let to = format!("s3://{BUCKET}/{prefix}0");
    assert_eq!(
        w.ledger_sources(&p.name, &from, &to).await.unwrap(),
        vec![],
        "nothing loaded yet"
    );
    w.ensure_table(p).await.unwrap();
    let (src_a, src_b) = (format!("{prefix}/src-a"), format!("{prefix}/src-b"));
    let a0 = put_object(
        store,
        p,
        &format!("{prefix}/a0"),
        &source_object(&src_a),
        &[(1, 0), (2, 0), (2, 1)],
    )
    .await;
    let a1 = put_object(
        store,
        p,
        &format!("{prefix}/a1"),
        &source_object(&src_a),
        &[(3, 0), (4, 0)],
    )
    .await;
    let b0 = put_object(
        store,
        p,
        &format!("{prefix}/b0"),
        &source_object(&src_b),
        &[(4, 1), (5, 0)],
    )
    .await;
    let before = Utc::now() - ChronoDuration::minutes(5);
    w.load(
        p,
        &batch(
            p,
            vec![
                message(p, &src_a, vec![a0, a1]),
                message(p, &src_b, vec![b0]),
            ],
        ),
    )
    .await
    .unwrap();
    let sources = w.ledger_sources(&p.name, &from, &to).await.unwrap();
    assert_eq!(
        sources,
        vec![
            loglift_ports::LedgerSource {
                source_object: source_object(&src_a),
                objects: 2,
                rows: 5
            },
            loglift_ports::LedgerSource {
                source_object: source_object(&src_b),
                objects: 1,
                rows: 2
            },
        ],
        "rows are the curated objects' rows, duplicates included"
    );
    let only_a = w
        .ledger_sources(&p.name, &source_object(&src_a), &source_object(&src_b))
        .await
        .unwrap();
    assert_eq!(only_a.len(), 1, "{only_a:?}");
    assert_eq!(
        w.ledger_sources("another_pipeline", &from, &to)
            .await
            .unwrap(),
        vec![]
    );
    let tables = w.ledger_tables(before).await.unwrap();
    let mine = tables
        .iter()
        .find(|t| t.table == p.table)
        .unwrap_or_else(|| panic!("{tables:?}"));
    assert_eq!((mine.objects_since, mine.rows_since), (3, 7), "{mine:?}");
    let last = mine.last_loaded_at.unwrap();
    assert!(
        last > before && last < Utc::now() + ChronoDuration::minutes(5),
        "{last}"
    );
    let later = w
        .ledger_tables(Utc::now() + ChronoDuration::hours(1))
        .await
        .unwrap();
    let mine = later.iter().find(|t| t.table == p.table).unwrap();
    assert_eq!((mine.objects_since, mine.rows_since), (0, 0));
    assert_eq!(mine.last_loaded_at, Some(last));
}

/// A database of its own on the harness's PostgreSQL, dropped by [`PgDatabase::drop_now`].
pub struct PgDatabase {
    pub url: String,
    pub name: String,
    admin_url: String,
}

impl PgDatabase {
    pub async fn create(pg: &loglift_tests::PgEnv) -> PgDatabase {
        let name = loglift_tests::unique_name("wh").replace('-', "_");
        pg_connect(&pg.url)
            .await
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        let (base, query) = match pg.url.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (pg.url.as_str(), String::new()),
        };
        let (server, _) = base.rsplit_once('/').unwrap();
        PgDatabase {
            url: format!("{server}/{name}{query}"),
            name,
            admin_url: pg.url.clone(),
        }
    }

    pub async fn drop_now(self) {
        let _ = pg_connect(&self.admin_url)
            .await
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .await;
    }
}

/// A plain connection (the harness's PostgreSQL accepts one without TLS from loopback).
pub async fn pg_connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}
