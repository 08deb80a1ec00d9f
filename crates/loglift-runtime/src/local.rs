//! Local mode: the same handlers the Lambdas run, wired to local adapters rooted at a data
//! directory: objects under `<dir>/s3/<bucket>/…`, queues (with DLQs) in `<dir>/queues.db`, the
//! warehouse in `<dir>/warehouse.db`. [`Local::invoke`] runs one handler on one event; [`run`]
//! drives inputs through every stage and returns a [`Summary`]. S3 has no notifications locally:
//! after ingest and the landing copies, the run announces each new or changed object under
//! `raw/` and `landing/` on the transform queue as S3 would (form-encoded keys), then
//! [`Local::drain`] empties the queues as the event source mappings would. The CLI
//! (`loglift invoke`, `loglift local run`, local replays) and the tests call this module.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use loglift_core::spec::Spec;
use loglift_core::storage::{Layout, LoadReport, Location};
use loglift_core::wire::{detect, BatchItemFailures, EventShape, FirehoseResponse};
use loglift_local::{FsObjectStore, SqliteQueue, SqliteWarehouse, StaticLookup};
use loglift_ports::{ObjectMeta, ObjectStore, Redrive, SystemClock};
use loglift_stages::esm::{local_queue_arn, poll_once};
use loglift_stages::ingest::{handle_event, IngestDeps};
use loglift_stages::load::{self, LoadDeps};
use loglift_stages::obs::Tally;
use loglift_stages::priority::PriorityCache;
use loglift_stages::redrive::backfill::announce;
use loglift_stages::redrive::Progress;
use loglift_stages::transform::{handle_sqs, TransformDeps};
use serde_json::Value;

/// Local queue names.
pub const TRANSFORM_QUEUE: &str = "transform";
pub const LOADER_QUEUE: &str = "loader";
/// Local visibility timeout: long enough for one run; a failed message waits this long.
const VISIBILITY: std::time::Duration = std::time::Duration::from_secs(300);
const MAX_RECEIVE_COUNT: u32 = 5;

/// The bucket local mode writes its lake into.
pub const LOCAL_BUCKET: &str = "local-lake";
/// The spec local mode uses when none is given: the shipped one.
pub const SHIPPED_SPEC: &str = include_str!("../../../spec/pipelines.yaml");

/// The functions local mode runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// Kinesis event-source or Firehose transformation events.
    Ingest,
    /// SQS events carrying S3 event notifications.
    Transform,
    /// SQS events carrying loader messages (loads into `<data dir>/warehouse.db`).
    DedupeLoader,
}

pub struct Local {
    pub deps: IngestDeps<FsObjectStore, SystemClock>,
    pub transform: TransformDeps<FsObjectStore, SqliteQueue, SystemClock, StaticLookup>,
    pub load: LoadDeps<SqliteWarehouse<FsObjectStore>, FsObjectStore, SystemClock>,
}

impl Local {
    /// Local mode over `data_dir` (created if missing) with `spec`.
    pub fn open(data_dir: &Path, spec: Spec) -> Result<Local, String> {
        let store = FsObjectStore::new(data_dir.join("s3"));
        std::fs::create_dir_all(data_dir)
            .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
        let queues = SqliteQueue::open(data_dir.join("queues.db")).map_err(|e| e.to_string())?;
        for name in [TRANSFORM_QUEUE, LOADER_QUEUE] {
            let dlq = format!("{name}-dlq");
            queues
                .create_queue(&dlq, VISIBILITY, None)
                .and_then(|()| {
                    queues.create_queue(
                        name,
                        VISIBILITY,
                        Some(Redrive {
                            dead_letter_queue: dlq.clone(),
                            max_receive_count: MAX_RECEIVE_COUNT,
                        }),
                    )
                })
                .map_err(|e| e.to_string())?;
        }
        let layout = Layout::single_bucket(LOCAL_BUCKET);
        let warehouse = SqliteWarehouse::open(data_dir.join("warehouse.db"), store.clone())
            .map_err(|e| e.to_string())?;
        Ok(Local {
            load: LoadDeps::new(
                spec.clone(),
                layout.clone(),
                warehouse,
                store.clone(),
                SystemClock,
            ),
            transform: TransformDeps {
                spec: spec.clone(),
                layout: layout.clone(),
                store: store.clone(),
                queue: queues,
                clock: SystemClock,
                loader_queue: LOADER_QUEUE.to_owned(),
                limits: Default::default(),
                priorities: PriorityCache::new(StaticLookup::default()),
            },
            deps: IngestDeps::new(spec, layout, store, SystemClock),
        })
    }

    /// Run one event through a function's handler; Firehose output is delivered as Firehose would.
    pub async fn invoke(&self, function: Function, event: Value) -> Result<(Value, Tally), String> {
        match function {
            Function::Ingest => {
                let invocation_id = event
                    .get("invocationId")
                    .and_then(Value::as_str)
                    .unwrap_or("local")
                    .to_owned();
                let shape = detect(&event);
                let (response, tally) = handle_event(&self.deps, event)
                    .await
                    .map_err(|e| e.to_string())?;
                if shape == EventShape::Firehose {
                    let parsed: FirehoseResponse =
                        serde_json::from_value(response.clone()).map_err(|e| e.to_string())?;
                    loglift_stages::firehose::deliver(
                        &self.deps.store,
                        &self.deps.layout,
                        &invocation_id,
                        &parsed,
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                }
                Ok((response, tally))
            }
            Function::DedupeLoader => {
                let bytes = serde_json::to_vec(&event).map_err(|e| e.to_string())?;
                let (failures, loaded) = load::handle_sqs(&self.load, &bytes)
                    .await
                    .map_err(|e| e.to_string())?;
                let response = serde_json::to_value(failures).map_err(|e| e.to_string())?;
                Ok((response, loaded.tally))
            }
            Function::Transform => {
                let bytes = serde_json::to_vec(&event).map_err(|e| e.to_string())?;
                let (failures, tally) = handle_sqs(&self.transform, &bytes)
                    .await
                    .map_err(|e| e.to_string())?;
                let response = serde_json::to_value(failures).map_err(|e| e.to_string())?;
                Ok((response, tally))
            }
        }
    }

    /// Every object under raw/ and landing/ with its etag.
    async fn snapshot(&self) -> Result<BTreeMap<String, ObjectMeta>, String> {
        let layout = &self.transform.layout;
        self.objects_under(&[&layout.raw, &layout.landing]).await
    }

    /// Every object in `areas` with its etag.
    async fn objects_under(
        &self,
        areas: &[&Location],
    ) -> Result<BTreeMap<String, ObjectMeta>, String> {
        let mut out = BTreeMap::new();
        for area in areas {
            let mut next = None;
            loop {
                let page = self
                    .transform
                    .store
                    .list(&area.bucket, &area.prefix, next.as_deref())
                    .await
                    .map_err(|e| e.to_string())?;
                for meta in page.objects {
                    out.insert(meta.key.clone(), meta);
                }
                match page.next {
                    Some(n) => next = Some(n),
                    None => break,
                }
            }
        }
        Ok(out)
    }

    /// Announce new or changed objects on the transform queue, as S3 notifications would.
    async fn announce(&self, before: &BTreeMap<String, ObjectMeta>) -> Result<usize, String> {
        let after = self.snapshot().await?;
        let mut sent = 0;
        for (key, meta) in &after {
            if before.get(key).is_some_and(|old| old.etag == meta.etag) {
                continue;
            }
            announce(&self.transform.queue, TRANSFORM_QUEUE, meta)
                .await
                .map_err(|e| e.to_string())?;
            sent += 1;
        }
        Ok(sent)
    }

    /// Deliver a Firehose response's `Ok` records into raw as Firehose would, and announce the
    /// objects written on the transform queue as their S3 notifications would. Returns the keys.
    pub async fn deliver_firehose(
        &self,
        invocation_id: &str,
        response: &FirehoseResponse,
    ) -> Result<Vec<String>, String> {
        let (store, layout) = (&self.deps.store, &self.deps.layout);
        let keys = loglift_stages::firehose::deliver(store, layout, invocation_id, response)
            .await
            .map_err(|e| e.to_string())?;
        for key in &keys {
            let meta = store
                .head(&layout.raw.bucket, key)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("{key}: delivered but not found"))?;
            announce(&self.transform.queue, TRANSFORM_QUEUE, &meta)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(keys)
    }

    /// Drain the transform queue, then the loader queue, as the event source mappings would.
    pub async fn drain(&self) -> Result<Drained, String> {
        let (tallies, transform_messages, transform_failed) = self
            .drain_queue(TRANSFORM_QUEUE, |event| async move {
                handle_sqs(&self.transform, &event)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await?;
        let (loads, loader_messages, loader_failed) = self
            .drain_queue(LOADER_QUEUE, |event| async move {
                load::handle_sqs(&self.load, &event)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await?;
        let mut drained = Drained {
            transform_messages,
            loader_messages,
            transform_invocations: tallies.len() as u64,
            loader_invocations: loads.len() as u64,
            failed_messages: transform_failed + loader_failed,
            ..Drained::default()
        };
        for t in &tallies {
            drained.transform.merge(t);
        }
        for loaded in loads {
            for (table, r) in loaded.tables {
                *drained.tables.entry(table).or_default() += &r;
            }
        }
        Ok(drained)
    }

    /// Drain a local queue as its event source mapping would: batches of 10 to `handle` until
    /// a receive comes back empty. Returns each batch's output, the count of messages handled and
    /// the count of those that failed.
    async fn drain_queue<T, F, Fut>(
        &self,
        queue: &str,
        handle: F,
    ) -> Result<(Vec<T>, u64, u64), String>
    where
        F: Fn(Vec<u8>) -> Fut,
        Fut: std::future::Future<Output = Result<(BatchItemFailures, T), String>>,
    {
        let arn = local_queue_arn(queue);
        let (mut outputs, mut received, mut failed) = (Vec::new(), 0, 0);
        loop {
            let mut output = None;
            let poll = poll_once(&self.transform.queue, queue, &arn, 10, None, |event| {
                let output = &mut output;
                let handled = handle(event);
                async move {
                    let (failures, t) = handled.await?;
                    *output = Some(t);
                    Ok::<_, String>(failures)
                }
            })
            .await
            .map_err(|e| e.to_string())??;
            if poll.received == 0 {
                return Ok((outputs, received, failed));
            }
            outputs.extend(output);
            received += poll.received as u64;
            failed += poll.failed as u64;
        }
    }
}

/// The spec from a file, or the shipped one.
pub fn load_spec(path: Option<&Path>) -> Result<Spec, String> {
    let text = match path {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        None => SHIPPED_SPEC.to_owned(),
    };
    Spec::parse(&text).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
        format!(
            "the spec is invalid (run `loglift spec check`):\n{}",
            lines.join("\n")
        )
    })
}

pub fn read_event(path: &Path) -> Result<Value, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is not a JSON event: {e}", path.display()))
}

/// The inputs of a local run: files, or the files under directories (recursively, sorted;
/// READMEs and dot-files skipped).
fn expand(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found = Vec::new();
            walk(input, &mut found)?;
            found.sort();
            files.extend(found);
        } else if input.is_file() {
            files.push(input.clone());
        } else {
            return Err(format!("{} does not exist", input.display()));
        }
    }
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with("README") {
            continue;
        }
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

/// The landing key of a file under a `landing/` directory: `landing/<the rest of its path>`.
fn landing_key(path: &Path) -> Option<String> {
    let parts: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let at = parts.iter().rposition(|p| p == "landing")?;
    let rest = parts.get(at + 1..)?;
    (!rest.is_empty()).then(|| format!("landing/{}", rest.join("/")))
}

/// The landing key of an input file: with `--pipeline`, the pipeline's landing prefix and the
/// file's name; else the file's path below a `landing/` directory, if it is under one.
fn landing_target(
    local: &Local,
    pipeline: Option<&str>,
    file: &Path,
) -> Result<Option<String>, String> {
    let Some(name) = pipeline else {
        return Ok(landing_key(file));
    };
    let prefix = local
        .transform
        .spec
        .pipeline(name)
        .ok_or_else(|| format!("the spec declares no pipeline {name:?}"))?
        .matcher
        .s3_prefix
        .as_deref()
        .ok_or_else(|| format!("pipeline {name:?} reads no files (it has no match.s3_prefix)"))?;
    let file_name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| format!("{} names no file", file.display()))?;
    Ok(Some(
        local
            .transform
            .layout
            .landing
            .key(&format!("{prefix}{file_name}")),
    ))
}

/// What draining the local queues did.
#[derive(Debug, Default, serde::Serialize)]
pub struct Drained {
    /// Transform messages handled (S3 notifications).
    pub transform_messages: u64,
    /// Loader messages handled.
    pub loader_messages: u64,
    /// Transform invocations (batches of up to 10 messages).
    #[serde(skip)]
    pub transform_invocations: u64,
    /// Loader invocations.
    #[serde(skip)]
    pub loader_invocations: u64,
    /// Messages left failed: they retry, then wait in the DLQs.
    pub failed_messages: u64,
    /// What transform did, per pipeline.
    #[serde(skip)]
    pub transform: Tally,
    /// What the loader did, per table.
    pub tables: BTreeMap<String, LoadReport>,
}

/// What a local run did.
#[derive(Debug, Default, serde::Serialize)]
pub struct Summary {
    pub inputs: usize,
    pub invocations: BTreeMap<String, u64>,
    pub landing_files: usize,
    pub skipped: Vec<String>,
    pub pipelines: BTreeMap<String, PipelineSummary>,
    /// Ingest rejects no pipeline could be named for.
    pub unrouted_rejected: u64,
    /// CloudWatch Logs control messages and empty records (ingest), vanished objects (transform).
    pub dropped: u64,
    pub ingest_rejects_by_reason: BTreeMap<String, u64>,
    pub transform_rejects_by_reason: BTreeMap<String, u64>,
    /// Transform and loader messages left failed (they wait in their queue, then its DLQ).
    pub failed_messages: u64,
    /// What the loader did per table (`<data dir>/warehouse.db`).
    pub tables: BTreeMap<String, LoadReport>,
    /// The report files the pipelines' jobs wrote (or rewrote) in this run.
    pub reports: Vec<String>,
    pub data_dir: String,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct PipelineSummary {
    pub ingest: IngestCounts,
    pub transform: TransformCounts,
}

/// What ingest did with a pipeline's events (Kinesis and Firehose inputs).
#[derive(Debug, Default, serde::Serialize)]
pub struct IngestCounts {
    pub events_in: u64,
    pub events_out: u64,
    pub rejected: u64,
    /// Copies seen twice in one invocation (left to the event id downstream).
    pub duplicates_seen: u64,
}

/// What transform did with a pipeline's raw and landing objects.
#[derive(Debug, Default, serde::Serialize)]
pub struct TransformCounts {
    pub events: u64,
    /// Rows written to curated objects.
    pub curated: u64,
    pub rejected: u64,
}

/// Drive `inputs` through every stage. With `pipeline`, every input file is a landing file of
/// that pipeline, wherever it lies; without, files under a `landing/` directory are landing files
/// and the others ingest events. Landing files are copied into the lake without being held in
/// memory.
pub async fn run<P: Progress + ?Sized>(
    local: &Local,
    inputs: &[PathBuf],
    data_dir: &Path,
    pipeline: Option<&str>,
    progress: &P,
) -> Result<Summary, String> {
    let inputs = if inputs.is_empty() {
        let defaults: Vec<PathBuf> = ["samples/events", "samples/landing"]
            .iter()
            .map(PathBuf::from)
            .filter(|p| p.is_dir())
            .collect();
        if defaults.is_empty() {
            return Err("no inputs given and no samples/events/ here: run from the repository root or name inputs".into());
        }
        defaults
    } else {
        inputs.to_vec()
    };
    let files = expand(&inputs)?;
    let before = local.snapshot().await?;
    let reports_area = &local.transform.layout.reports;
    let reports_before = local.objects_under(&[reports_area]).await?;
    progress.set_total(files.len() as u64);
    let mut summary = Summary {
        inputs: files.len(),
        data_dir: data_dir.display().to_string(),
        ..Summary::default()
    };
    let mut ingest = Tally::default();
    for file in &files {
        progress.message(&file.display().to_string());
        if let Some(key) = landing_target(local, pipeline, file)? {
            let layout = &local.transform.layout;
            local
                .transform
                .store
                .put_file(&layout.landing.bucket, &key, file)
                .await
                .map_err(|e| e.to_string())?;
            summary.landing_files += 1;
            progress.advance(1);
            continue;
        }
        let event = read_event(file)?;
        match detect(&event) {
            EventShape::Firehose | EventShape::Kinesis => {
                let (_, t) = local
                    .invoke(Function::Ingest, event)
                    .await
                    .map_err(|e| format!("{}: {e}", file.display()))?;
                ingest.merge(&t);
                *summary.invocations.entry("ingest".into()).or_default() += 1;
            }
            EventShape::Sqs | EventShape::Unknown => {
                summary.skipped.push(format!(
                    "{}: not an ingest event (use `loglift invoke transform --event`)",
                    file.display()
                ));
            }
        }
        progress.advance(1);
    }
    progress.message("transform and load");
    local.announce(&before).await?;
    let drained = local.drain().await?;
    for (function, n) in [
        ("transform", drained.transform_invocations),
        ("dedupe-loader", drained.loader_invocations),
    ] {
        if n > 0 {
            summary.invocations.insert(function.into(), n);
        }
    }
    summary.failed_messages = drained.failed_messages;
    summary.tables = drained.tables;
    let transform = drained.transform;
    for (name, c) in &ingest.by_pipeline {
        summary.pipelines.entry(name.clone()).or_default().ingest = IngestCounts {
            events_in: c.records_in,
            events_out: c.records_out,
            rejected: c.rejected,
            duplicates_seen: c.duplicates,
        };
    }
    for (name, c) in &transform.by_pipeline {
        summary.pipelines.entry(name.clone()).or_default().transform = TransformCounts {
            events: c.records_in,
            curated: c.records_out,
            rejected: c.rejected,
        };
    }
    let reports_after = local.objects_under(&[reports_area]).await?;
    for (key, meta) in &reports_after {
        // A rewrite with the same content is still a report of this run.
        let unchanged = reports_before
            .get(key)
            .is_some_and(|old| old.etag == meta.etag && old.last_modified == meta.last_modified);
        if unchanged {
            continue;
        }
        let path = local
            .transform
            .store
            .object_path(&meta.bucket, key)
            .map_err(|e| e.to_string())?;
        summary.reports.push(path.display().to_string());
    }
    summary.unrouted_rejected = ingest.unrouted.rejected;
    summary.dropped = ingest.total().dropped + transform.total().dropped;
    summary.ingest_rejects_by_reason = ingest.rejects_by_reason;
    summary.transform_rejects_by_reason = transform.rejects_by_reason;
    Ok(summary)
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let invocations: Vec<String> = self
            .invocations
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        writeln!(
            f,
            "{} input(s) ({} landing file(s)): {} invocation(s); data in {}",
            self.inputs,
            self.landing_files,
            invocations.join(", "),
            self.data_dir
        )?;
        writeln!(f, "{:<18} {:>22}   {:>28}", "", "ingest", "transform")?;
        writeln!(
            f,
            "{:<18} {:>6} {:>6} {:>8}   {:>8} {:>9} {:>9}",
            "pipeline", "in", "out", "rejected", "events", "curated", "rejected"
        )?;
        for (name, p) in &self.pipelines {
            writeln!(
                f,
                "{name:<18} {:>6} {:>6} {:>8}   {:>8} {:>9} {:>9}",
                p.ingest.events_in,
                p.ingest.events_out,
                p.ingest.rejected,
                p.transform.events,
                p.transform.curated,
                p.transform.rejected
            )?;
        }
        writeln!(
            f,
            "{:<18} {:>6} {:>6} {:>8}",
            "(no pipeline)", self.unrouted_rejected, 0, self.unrouted_rejected
        )?;
        let dups: u64 = self
            .pipelines
            .values()
            .map(|p| p.ingest.duplicates_seen)
            .sum();
        writeln!(
            f,
            "duplicate copies seen by ingest (the loader dedupes them): {dups}"
        )?;
        writeln!(
            f,
            "dropped (CloudWatch control messages, empty records, vanished objects): {}",
            self.dropped
        )?;
        for (stage, reasons) in [
            ("ingest", &self.ingest_rejects_by_reason),
            ("transform", &self.transform_rejects_by_reason),
        ] {
            if !reasons.is_empty() {
                let list: Vec<String> = reasons.iter().map(|(r, n)| format!("{r} {n}")).collect();
                writeln!(f, "{stage} rejects by reason: {}", list.join(", "))?;
            }
        }
        if !self.tables.is_empty() {
            writeln!(
                f,
                "{:<32} {:>9} {:>9} {:>11} {:>16}",
                "warehouse table", "inserted", "replaced", "duplicates", "objects skipped"
            )?;
            for (table, r) in &self.tables {
                writeln!(
                    f,
                    "{table:<32} {:>9} {:>9} {:>11} {:>16}",
                    r.inserted, r.replaced, r.duplicates_skipped, r.objects_skipped
                )?;
            }
        }
        if self.failed_messages > 0 {
            writeln!(
                f,
                "{} message(s) failed: they retry, then wait in the transform-dlq / loader-dlq queues",
                self.failed_messages
            )?;
        }
        for path in &self.reports {
            writeln!(f, "report: {path}")?;
        }
        for s in &self.skipped {
            writeln!(f, "skipped {s}")?;
        }
        Ok(())
    }
}
