//! `loglift compact`: merge the small curated Parquet parts of a pipeline's partitions into files
//! of a target size (default 128 MB), without losing or repeating a row.
//!
//! Per hour partition of `[since, until)` (`curated/pipeline=<p>/dt=…/hour=…/`):
//!
//! 1. list the parts; [`loglift_core::compact::plan`] packs the small ones (key order) into
//!    merges of at most the target size; a partition already compacted plans nothing. Merged
//!    files are smaller than their inputs' sum (one footer, shared dictionaries), so the
//!    partition is planned again until nothing merges: a second run finds nothing to do;
//! 2. only parts whose rows the warehouse already holds are merged: each input's
//!    `source_object` must be in the load ledger ([`Ledger::ledger_sources`]), since a loader
//!    message names the parts it loads and a merged part is gone when it arrives (one message
//!    carries all parts of a source object and loads them in one transaction, so "source in the
//!    ledger" means "every part of it loaded"). Parts still waiting are reported and left alone;
//! 3. the inputs are read (loglift's Parquet reader, the table's columns by name: a part written
//!    under an older spec gets nulls for the columns added since) and written as one file, which
//!    is read back and must hold exactly the inputs' row count;
//! 4. a record of the merge (inputs with versions and rows, the output) is written to
//!    `reports/compaction/pipeline=<p>/dt=…/hour=…/<output name>.json`;
//! 5. the inputs are deleted.
//!
//! Order is write new, then delete old: a reader of the lake (Athena, DuckDB) that lists the
//! partition between steps 3 and 5 sees the merged rows twice (never none); a query that lists
//! the old parts and then reads one already deleted fails and is re-run. Nothing here writes a
//! loader message: compaction never triggers a load (transform alone asks the loader), and the
//! warehouse is untouched. A run that stops between 3 and 5 is finished by running it again (the
//! merged file's name is a hash of its inputs, so it is rewritten, not duplicated, and the inputs
//! are then deleted).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use loglift_core::columnar::{self, ParquetPart};
use loglift_core::compact::{self, Merge, Part};
use loglift_core::spec::{CuratedFormat, Pipeline, Spec};
use loglift_core::sql::{read_rows, Cell, RowDecoder};
use loglift_core::storage::Layout;
use loglift_ports::{Ledger, ObjectStore, PortError};
use serde::Serialize;
use tokio::io::AsyncReadExt as _;

use crate::redrive::backfill::{hours_overlapping, list_all, ReplayError};
use crate::redrive::Progress;

/// Merge rounds per partition at most (each at least halves the small files).
const MAX_ROUNDS: usize = 16;

/// What compaction reads and writes.
#[derive(Debug)]
pub struct CompactDeps<'a, S, W> {
    pub spec: &'a Spec,
    pub layout: &'a Layout,
    pub store: &'a S,
    pub warehouse: &'a W,
    pub now: DateTime<Utc>,
}

/// One compaction command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactOptions {
    pub pipeline: String,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Size of a merged file (bytes of the inputs packed into it).
    pub target_bytes: u64,
    /// Plan and report, change nothing.
    pub dry_run: bool,
    /// Parts written less than this long ago are left alone: a loader message may still be
    /// delivered again shortly after its load (SQS delivers at least once), and on Redshift its
    /// COPY would read every part it names before the ledger skips them.
    pub min_age: chrono::TimeDelta,
}

/// What one merge did (or would do, in a dry run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MergeReport {
    pub output: String,
    pub inputs: Vec<String>,
    pub input_bytes: u64,
    /// Rows of the inputs (and of the output); `None` in a dry run.
    pub rows: Option<u64>,
    pub output_bytes: Option<u64>,
}

/// What a compaction run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompactReport {
    pub pipeline: String,
    pub dry_run: bool,
    pub target_bytes: u64,
    pub partitions: u64,
    pub parts_listed: u64,
    pub merges: Vec<MergeReport>,
    /// Parts that would merge but whose rows the ledger does not hold yet.
    pub waiting_for_load: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    #[error(transparent)]
    Range(#[from] ReplayError),
    #[error("pipeline `{0}` writes NDJSON curated parts; compaction merges Parquet parts")]
    NotParquet(String),
    #[error("{what}: {source}")]
    Port {
        what: String,
        #[source]
        source: PortError,
    },
    #[error("{0}")]
    Data(String),
}

fn port(what: impl Into<String>) -> impl FnOnce(PortError) -> CompactError {
    let what = what.into();
    move |source| CompactError::Port { what, source }
}

/// Run one compaction.
pub async fn compact<S: ObjectStore, W: Ledger>(
    deps: &CompactDeps<'_, S, W>,
    options: &CompactOptions,
    progress: &dyn Progress,
) -> Result<CompactReport, CompactError> {
    let pipeline = deps
        .spec
        .pipeline(&options.pipeline)
        .ok_or_else(|| ReplayError::UnknownPipeline(options.pipeline.clone()))?;
    if pipeline.curated.format != CuratedFormat::Parquet {
        return Err(CompactError::NotParquet(pipeline.name.clone()));
    }
    let decoder = RowDecoder::new(pipeline).map_err(|e| CompactError::Data(e.to_string()))?;
    let hours = hours_overlapping(options.since, options.until)?;
    let bucket = &deps.layout.curated.bucket;
    let mut report = CompactReport {
        pipeline: pipeline.name.clone(),
        dry_run: options.dry_run,
        target_bytes: options.target_bytes,
        partitions: 0,
        parts_listed: 0,
        merges: Vec::new(),
        waiting_for_load: Vec::new(),
    };
    progress.set_total(hours.len() as u64);
    for hour in hours {
        let partition = deps
            .layout
            .curated
            .key(&deps.layout.curated_partition(&pipeline.name, hour));
        progress.message(&partition);
        report.partitions += 1;
        let mut written = BTreeSet::new();
        // Merged files come out smaller than their inputs (one footer, shared dictionaries), so
        // they may merge again: rounds until the plan is empty, so the next run finds nothing.
        for round in 0..MAX_ROUNDS {
            let listed = list_all(deps.store, bucket, &partition).await?;
            if round == 0 {
                report.parts_listed += listed.len() as u64;
            }
            let settled = deps.now - options.min_age;
            let parts: Vec<Part> = listed
                .iter()
                .filter(|m| {
                    // This run's own merged files are settled: their rows were loaded.
                    written.contains(&m.key) || m.last_modified.is_none_or(|t| t <= settled)
                })
                .map(|m| Part {
                    key: m.key.clone(),
                    version: m.version_or_etag().to_owned(),
                    size: m.size,
                })
                .collect();
            let mut merged = 0;
            for merge in compact::plan(&partition, &parts, options.target_bytes) {
                let merge =
                    loaded_only(deps, pipeline, &decoder, merge, &partition, &mut report).await?;
                let Some(merge) = merge else { continue };
                merged += 1;
                if options.dry_run {
                    report.merges.push(MergeReport {
                        output: merge.output.clone(),
                        inputs: merge.inputs.iter().map(|p| p.key.clone()).collect(),
                        input_bytes: merge.input_bytes(),
                        rows: None,
                        output_bytes: None,
                    });
                    continue;
                }
                report
                    .merges
                    .push(run_merge(deps, pipeline, &decoder, &merge, hour).await?);
                written.insert(merge.output.clone());
            }
            // A dry run cannot know the merged sizes: it plans the first round only.
            if merged == 0 || options.dry_run {
                break;
            }
        }
        report.waiting_for_load.sort();
        report.waiting_for_load.dedup();
        progress.advance(1);
    }
    Ok(report)
}

async fn read_object<S: ObjectStore>(
    store: &S,
    bucket: &str,
    key: &str,
) -> Result<Vec<u8>, CompactError> {
    let mut object = store
        .get(bucket, key)
        .await
        .map_err(port(format!("reading s3://{bucket}/{key}")))?;
    let mut bytes = Vec::new();
    (&mut object.body)
        .take(columnar::MAX_READ_BYTES)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| CompactError::Data(format!("reading s3://{bucket}/{key}: {e}")))?;
    Ok(bytes)
}

/// The distinct `source_object`s of a part.
fn sources_of(
    bytes: &[u8],
    decoder: &RowDecoder,
    key: &str,
) -> Result<BTreeSet<String>, CompactError> {
    let at = decoder
        .columns()
        .iter()
        .position(|c| c.name == "source_object")
        .ok_or_else(|| CompactError::Data("the table has no source_object column".into()))?;
    let mut sources = BTreeSet::new();
    read_rows(bytes, decoder, |_, cells| {
        if let Some(Cell::Str(s)) = cells.get(at) {
            if !sources.contains(s.as_ref()) {
                sources.insert(s.to_string());
            }
        }
        Ok::<(), std::convert::Infallible>(())
    })
    .map_err(|e| CompactError::Data(format!("{key}: {e}")))?;
    Ok(sources)
}

/// The merge without the inputs the ledger does not hold yet (recorded in the report), or `None`
/// when fewer than two inputs are left.
async fn loaded_only<S: ObjectStore, W: Ledger>(
    deps: &CompactDeps<'_, S, W>,
    pipeline: &Pipeline,
    decoder: &RowDecoder,
    merge: Merge,
    partition: &str,
    report: &mut CompactReport,
) -> Result<Option<Merge>, CompactError> {
    let bucket = &deps.layout.curated.bucket;
    let mut loaded: BTreeMap<String, bool> = BTreeMap::new();
    let mut kept = Vec::new();
    for part in merge.inputs {
        let bytes = read_object(deps.store, bucket, &part.key).await?;
        let mut all_loaded = true;
        for source in sources_of(&bytes, decoder, &part.key)? {
            if !loaded.contains_key(&source) {
                let to = format!("{source}~");
                let held = deps
                    .warehouse
                    .ledger_sources(&pipeline.name, &source, &to)
                    .await
                    .map_err(port("reading the load ledger"))?;
                let yes = held
                    .iter()
                    .any(|h| h.source_object == source && h.objects > 0);
                loaded.insert(source.clone(), yes);
            }
            all_loaded &= loaded.get(&source).copied().unwrap_or(false);
        }
        if all_loaded {
            kept.push(part);
        } else {
            report.waiting_for_load.push(part.key);
        }
    }
    if kept.len() < 2 {
        return Ok(None);
    }
    // The kept inputs, re-planned so the name names exactly them.
    Ok(compact::plan(partition, &kept, u64::MAX).into_iter().next())
}

async fn run_merge<S: ObjectStore, W: Ledger>(
    deps: &CompactDeps<'_, S, W>,
    pipeline: &Pipeline,
    decoder: &RowDecoder,
    merge: &Merge,
    hour: DateTime<Utc>,
) -> Result<MergeReport, CompactError> {
    let bucket = &deps.layout.curated.bucket;
    let mut out = ParquetPart::new(decoder.columns().to_vec())
        .map_err(|e| CompactError::Data(e.to_string()))?;
    let mut inputs = Vec::new();
    let mut rows = 0u64;
    for part in &merge.inputs {
        let bytes = read_object(deps.store, bucket, &part.key).await?;
        let n = read_rows(&bytes[..], decoder, |_, cells| out.push_cells(&cells))
            .map_err(|e| CompactError::Data(format!("{}: {e}", part.key)))?;
        rows += n;
        inputs.push(serde_json::json!({
            "key": part.key, "version": part.version, "bytes": part.size, "rows": n,
        }));
    }
    let body = out
        .finish()
        .map_err(|e| CompactError::Data(e.to_string()))?;
    let output_bytes = body.len() as u64;
    // Read back what will replace the inputs before anything is deleted.
    let check = read_rows(&body[..], decoder, |_, _| {
        Ok::<(), std::convert::Infallible>(())
    })
    .map_err(|e| CompactError::Data(format!("{}: reading back: {e}", merge.output)))?;
    if check != rows {
        return Err(CompactError::Data(format!(
            "{}: read back {check} rows of {rows}",
            merge.output
        )));
    }
    let written = deps
        .store
        .put(bucket, &merge.output, body.into(), columnar::CONTENT_TYPE)
        .await
        .map_err(port(format!("writing s3://{bucket}/{}", merge.output)))?;
    let name = merge.output.rsplit('/').next().unwrap_or(&merge.output);
    let record_key = deps.layout.reports.key(&format!(
        "compaction/{}{name}.json",
        deps.layout.curated_partition(&pipeline.name, hour)
    ));
    let record = serde_json::json!({
        "pipeline": pipeline.name,
        "compacted_at": loglift_core::timefmt::rfc3339(deps.now),
        "output": {"bucket": bucket, "key": merge.output, "version": written.version_or_etag(), "bytes": output_bytes, "rows": rows},
        "inputs": inputs,
    });
    let record = serde_json::to_vec_pretty(&record).unwrap_or_default();
    deps.store
        .put(
            &deps.layout.reports.bucket,
            &record_key,
            record.into(),
            "application/json",
        )
        .await
        .map_err(port(format!("writing the compaction record {record_key}")))?;
    for part in &merge.inputs {
        match deps.store.delete(bucket, &part.key).await {
            Ok(()) | Err(PortError::NotFound { .. }) => {}
            Err(e) => return Err(port(format!("deleting s3://{bucket}/{}", part.key))(e)),
        }
    }
    Ok(MergeReport {
        output: merge.output.clone(),
        inputs: merge.inputs.iter().map(|p| p.key.clone()).collect(),
        input_bytes: merge.input_bytes(),
        rows: Some(rows),
        output_bytes: Some(output_bytes),
    })
}

impl std::fmt::Display for CompactReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = if self.dry_run {
            "would merge"
        } else {
            "merged"
        };
        writeln!(
            f,
            "compact {}: {} partitions, {} objects listed, target {} bytes{}",
            self.pipeline,
            self.partitions,
            self.parts_listed,
            self.target_bytes,
            if self.dry_run {
                " (dry run: nothing changed)"
            } else {
                ""
            }
        )?;
        for m in &self.merges {
            write!(
                f,
                "  {verb} {} parts ({} bytes) into {}",
                m.inputs.len(),
                m.input_bytes,
                m.output
            )?;
            match (m.rows, m.output_bytes) {
                (Some(rows), Some(bytes)) => writeln!(f, ": {rows} rows, {bytes} bytes")?,
                _ => writeln!(f)?,
            }
        }
        if self.merges.is_empty() {
            writeln!(f, "  nothing to merge")?;
        }
        if !self.waiting_for_load.is_empty() {
            writeln!(
                f,
                "  {} parts left alone until the loader has loaded them:",
                self.waiting_for_load.len()
            )?;
            for key in &self.waiting_for_load {
                writeln!(f, "    {key}")?;
            }
        }
        Ok(())
    }
}
