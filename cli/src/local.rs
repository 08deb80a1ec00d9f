//! Local mode: the same handlers the Lambdas run, wired to local adapters rooted at a data
//! directory (`.loglift/` by default): objects under `<dir>/s3/<bucket>/…`, queues in
//! `<dir>/queues.db`. `loglift invoke` runs one handler on one event file; `loglift local run`
//! drives inputs through every stage that exists and prints a summary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use loglift_core::spec::Spec;
use loglift_core::storage::Layout;
use loglift_core::wire::{detect, EventShape, FirehoseResponse};
use loglift_local::FsObjectStore;
use loglift_ports::SystemClock;
use loglift_stages::ingest::{handle_event, IngestDeps};
use loglift_stages::obs::Tally;
use serde_json::Value;

/// The bucket local mode writes its lake into.
pub const LOCAL_BUCKET: &str = "local-lake";
/// The spec local mode uses when none is given: the shipped one.
const SHIPPED_SPEC: &str = include_str!("../../spec/pipelines.yaml");

#[derive(Debug, clap::Args)]
pub struct LocalOpts {
    /// Where local mode keeps its lake, queues and warehouse.
    #[arg(long, default_value = ".loglift", env = "LOGLIFT_DATA_DIR")]
    pub data_dir: PathBuf,
    /// The pipeline spec (default: the shipped spec/pipelines.yaml, built in).
    #[arg(long, env = "LOGLIFT_SPEC")]
    pub spec: Option<PathBuf>,
}

/// The functions `loglift invoke` can run.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Function {
    Ingest,
}

pub struct Local {
    pub deps: IngestDeps<FsObjectStore, SystemClock>,
}

impl Local {
    pub fn open(opts: &LocalOpts) -> Result<Local, String> {
        let text = match &opts.spec {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
            None => SHIPPED_SPEC.to_owned(),
        };
        let spec = Spec::parse(&text).map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
            format!(
                "the spec is invalid (run `loglift spec check`):\n{}",
                lines.join("\n")
            )
        })?;
        let store = FsObjectStore::new(opts.data_dir.join("s3"));
        Ok(Local {
            deps: IngestDeps::new(
                spec,
                Layout::single_bucket(LOCAL_BUCKET),
                store,
                SystemClock,
            ),
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
                    loglift_local::firehose::deliver(
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
        }
    }
}

pub fn read_event(path: &Path) -> Result<Value, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is not a JSON event: {e}", path.display()))
}

/// The inputs of a local run: files, or the `.json` files of directories (sorted).
fn expand(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)
                .map_err(|e| format!("cannot list {}: {e}", input.display()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
                .collect();
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

/// What a local run did.
#[derive(Debug, Default, serde::Serialize)]
pub struct Summary {
    pub inputs: usize,
    pub invocations: BTreeMap<String, u64>,
    pub skipped: Vec<String>,
    pub pipelines: BTreeMap<String, PipelineSummary>,
    pub unrouted_rejected: u64,
    pub dropped: u64,
    pub rejects_by_reason: BTreeMap<String, u64>,
    pub data_dir: String,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct PipelineSummary {
    pub events_in: u64,
    pub events_out: u64,
    pub rejected: u64,
    pub duplicates_seen: u64,
}

pub async fn run(local: &Local, inputs: &[PathBuf], data_dir: &Path) -> Result<Summary, String> {
    let inputs = if inputs.is_empty() {
        let samples = PathBuf::from("samples/events");
        if !samples.is_dir() {
            return Err("no inputs given and no samples/events/ here: run from the repository root or name inputs".into());
        }
        vec![samples]
    } else {
        inputs.to_vec()
    };
    let files = expand(&inputs)?;
    let bar = ProgressBar::new(files.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut summary = Summary {
        inputs: files.len(),
        data_dir: data_dir.display().to_string(),
        ..Summary::default()
    };
    let mut tally = Tally::default();
    for file in &files {
        bar.set_message(file.display().to_string());
        let event = read_event(file)?;
        match detect(&event) {
            EventShape::Firehose | EventShape::Kinesis => {
                let (_, t) = local
                    .invoke(Function::Ingest, event)
                    .await
                    .map_err(|e| format!("{}: {e}", file.display()))?;
                tally.merge(&t);
                *summary.invocations.entry("ingest".into()).or_default() += 1;
            }
            EventShape::Sqs | EventShape::Unknown => {
                summary.skipped.push(format!("{}: not an ingest event (transform and load are not wired into local runs yet)", file.display()));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    for (name, c) in &tally.by_pipeline {
        summary.pipelines.insert(
            name.clone(),
            PipelineSummary {
                events_in: c.records_in,
                events_out: c.records_out,
                rejected: c.rejected,
                duplicates_seen: c.duplicates,
            },
        );
    }
    summary.unrouted_rejected = tally.unrouted.rejected;
    summary.dropped = tally.total().dropped;
    summary.rejects_by_reason = tally.rejects_by_reason;
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
            "{} input(s): {} invocation(s); data in {}",
            self.inputs,
            invocations.join(", "),
            self.data_dir
        )?;
        writeln!(
            f,
            "{:<18} {:>10} {:>10} {:>9} {:>11}",
            "pipeline", "events in", "out", "rejected", "duplicates"
        )?;
        for (name, p) in &self.pipelines {
            writeln!(
                f,
                "{name:<18} {:>10} {:>10} {:>9} {:>11}",
                p.events_in, p.events_out, p.rejected, p.duplicates_seen
            )?;
        }
        writeln!(
            f,
            "{:<18} {:>10} {:>10} {:>9} {:>11}",
            "(no pipeline)", self.unrouted_rejected, 0, self.unrouted_rejected, "-"
        )?;
        writeln!(
            f,
            "dropped records (CloudWatch control messages, empty): {}",
            self.dropped
        )?;
        if !self.rejects_by_reason.is_empty() {
            let reasons: Vec<String> = self
                .rejects_by_reason
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            writeln!(f, "rejects by reason: {}", reasons.join(", "))?;
        }
        for s in &self.skipped {
            writeln!(f, "skipped {s}")?;
        }
        Ok(())
    }
}
