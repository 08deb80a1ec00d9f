//! The manifest: what a generation holds, counted from where every record actually landed (not
//! from what the generator meant), so tests can assert exact numbers.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::pack::{Batch, Content};
use crate::GenOptions;

/// Everything a generation holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// `loglift-samplegen <version>`: the same options give the same bytes with the same version.
    pub generator: String,
    pub options: GenOptions,
    /// Every file written, relative to the output directory.
    pub files: Vec<FileEntry>,
    /// Per pipeline (all five, also when empty).
    pub pipelines: BTreeMap<String, PipelineCounts>,
    /// Ingest rejects no pipeline can be named for, by reason (`bad_base64`, `bad_compression`,
    /// `invalid_utf8`, `invalid_json`, `unknown_pipeline`).
    pub unrouted_ingest_rejects: BTreeMap<String, u64>,
    /// CloudWatch Logs CONTROL_MESSAGE records (ingest drops them).
    pub control_messages: u64,
    /// What the ingest handlers must count over every Kinesis and Firehose file, in the shape of
    /// `loglift local run --json`'s summary.
    pub expected_ingest: IngestExpectation,
    /// What the spec's jobs must compute over the landing files' valid rows.
    pub jobs: JobExpectations,
}

/// One written file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the output directory: `kinesis/…`, `firehose/…`, `landing/<pipeline>/…`.
    pub path: String,
    /// `kinesis`, `firehose` or `landing`.
    pub kind: String,
    /// The Kinesis stream, Firehose delivery stream or pipeline.
    pub source: String,
    /// Records (Lambda events) or rows (landing files).
    pub records: u64,
    pub bytes: u64,
}

/// One pipeline's events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineCounts {
    /// Distinct valid events (rows).
    pub unique: u64,
    /// Extra copies of valid events.
    pub duplicates: Duplicates,
    /// Events (rows) that reach raw (or landing) but that transform must reject, by reason.
    pub transform_rejects: BTreeMap<String, u64>,
    /// Events ingest rejects while knowing their pipeline (`missing_identity`), by reason.
    pub ingest_rejects: BTreeMap<String, u64>,
    /// Events (copies included) that pass ingest, by path: `kinesis`, `firehose`, `landing`.
    pub copies_by_path: BTreeMap<String, u64>,
}

/// Where the extra copies of valid events are. For landing files a batch is a file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duplicates {
    /// In the same invocation (file) as an earlier copy: what ingest counts as `duplicates`.
    pub within_batch: u64,
    /// In another invocation (file) of the same path.
    pub across_batches: u64,
    /// In the other path (Kinesis vs Firehose).
    pub across_paths: u64,
    pub total: u64,
}

/// What `loglift local run <out>/kinesis <out>/firehose --json` must print.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestExpectation {
    /// Kinesis and Firehose files: one invocation each.
    pub invocations: u64,
    /// Pipelines with at least one event in.
    pub pipelines: BTreeMap<String, IngestCounts>,
    pub unrouted_rejected: u64,
    pub dropped: u64,
    pub rejects_by_reason: BTreeMap<String, u64>,
}

/// One pipeline's ingest counts: `events_out` = unique + duplicates.total + transform rejects
/// (every copy that decodes and routes reaches raw); `rejected` = its ingest rejects;
/// `events_in` = out + rejected; `duplicates_seen` = duplicates.within_batch (ingest sees
/// repeats of an id inside one invocation only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestCounts {
    pub events_in: u64,
    pub events_out: u64,
    pub rejected: u64,
    pub duplicates_seen: u64,
}

/// Expected job results.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobExpectations {
    /// `hit_data` / `search_keyword_revenue`: revenue of purchases (`event_list` holding `1`) by
    /// the search that brought the visit (last touch; each visit has at most one search
    /// referrer, so last touch is unambiguous). Domain without `www.`; keyword as in the URL,
    /// `+` read as a space. Sorted by revenue, descending, then domain and keyword.
    pub search_keyword_revenue: Vec<KeywordRevenue>,
    /// `partner_catalog` / `consolidate_by_priority`.
    pub consolidate_by_priority: Consolidation,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeywordRevenue {
    pub search_engine_domain: String,
    pub search_keyword: String,
    pub revenue: u64,
}

/// Accommodations with at least one valid partner line, and which partner wins each by the
/// priority list `expedia, booking, hotels, agoda`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consolidation {
    pub accommodations: u64,
    pub winners_by_partner: BTreeMap<String, u64>,
}

/// The path a batch belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PathKind {
    Kinesis,
    Firehose,
    Landing,
}

impl PathKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PathKind::Kinesis => "kinesis",
            PathKind::Firehose => "firehose",
            PathKind::Landing => "landing",
        }
    }
}

/// The manifest's counts.
pub(crate) struct Counted {
    pub pipelines: BTreeMap<String, PipelineCounts>,
    pub unrouted: BTreeMap<String, u64>,
    pub control: u64,
    pub expected: IngestExpectation,
}

/// Where the copies of one event are: (lane, batch, path) per copy.
type Places = Vec<(usize, usize, PathKind)>;

/// Count a generation's batches. `lanes` is every lane's kind and finished batches.
pub(crate) fn count(pipelines: &[&str], lanes: &[(PathKind, &[Batch])]) -> Counted {
    let mut out: BTreeMap<String, PipelineCounts> = pipelines
        .iter()
        .map(|p| ((*p).to_owned(), PipelineCounts::default()))
        .collect();
    let mut unrouted: BTreeMap<String, u64> = BTreeMap::new();
    let mut control = 0;
    // (pipeline, key) → the batches (lane, batch, path) holding a copy, one entry per copy.
    let mut copies: BTreeMap<(&str, &str), Places> = BTreeMap::new();
    let mut stream_pipelines = BTreeSet::new();
    let mut invocations = 0;
    for (lane, (path, batches)) in lanes.iter().enumerate() {
        if *path != PathKind::Landing {
            invocations += batches.len() as u64;
        }
        for (index, batch) in batches.iter().enumerate() {
            for content in &batch.contents {
                match content {
                    Content::Valid { pipeline, key } => {
                        copies
                            .entry((pipeline, key.as_str()))
                            .or_default()
                            .push((lane, index, *path));
                        let c = out.entry((*pipeline).to_owned()).or_default();
                        *c.copies_by_path
                            .entry(path.as_str().to_owned())
                            .or_default() += 1;
                        if *path != PathKind::Landing {
                            stream_pipelines.insert(*pipeline);
                        }
                    }
                    Content::TransformReject { pipeline, reason } => {
                        let c = out.entry((*pipeline).to_owned()).or_default();
                        *c.transform_rejects.entry((*reason).to_owned()).or_default() += 1;
                        *c.copies_by_path
                            .entry(path.as_str().to_owned())
                            .or_default() += 1;
                        if *path != PathKind::Landing {
                            stream_pipelines.insert(*pipeline);
                        }
                    }
                    Content::IngestReject {
                        pipeline: Some(pipeline),
                        reason,
                    } => {
                        let c = out.entry((*pipeline).to_owned()).or_default();
                        *c.ingest_rejects.entry((*reason).to_owned()).or_default() += 1;
                        stream_pipelines.insert(*pipeline);
                    }
                    Content::IngestReject {
                        pipeline: None,
                        reason,
                    } => *unrouted.entry((*reason).to_owned()).or_default() += 1,
                    Content::Control => control += 1,
                }
            }
        }
    }
    for ((pipeline, _), places) in &copies {
        let c = out.entry((*pipeline).to_owned()).or_default();
        c.unique += 1;
        let batches: BTreeSet<(usize, usize)> = places.iter().map(|(l, b, _)| (*l, *b)).collect();
        let paths: BTreeSet<PathKind> = places.iter().map(|(_, _, p)| *p).collect();
        let within = places.len() - batches.len();
        let across_paths = paths.len().saturating_sub(1);
        let across_batches = batches.len().saturating_sub(1).saturating_sub(across_paths);
        c.duplicates.within_batch += within as u64;
        c.duplicates.across_paths += across_paths as u64;
        c.duplicates.across_batches += across_batches as u64;
        c.duplicates.total += (places.len() - 1) as u64;
    }

    let mut expected = IngestExpectation {
        invocations,
        dropped: control,
        unrouted_rejected: unrouted.values().sum(),
        rejects_by_reason: unrouted.clone(),
        ..IngestExpectation::default()
    };
    for pipeline in stream_pipelines {
        let Some(c) = out.get(pipeline) else { continue };
        let out_events = c.unique + c.duplicates.total + c.transform_rejects.values().sum::<u64>();
        let rejected: u64 = c.ingest_rejects.values().sum();
        for (reason, n) in &c.ingest_rejects {
            *expected
                .rejects_by_reason
                .entry(reason.clone())
                .or_default() += n;
        }
        expected.pipelines.insert(
            pipeline.to_owned(),
            IngestCounts {
                events_in: out_events + rejected,
                events_out: out_events,
                rejected,
                duplicates_seen: c.duplicates.within_batch,
            },
        );
    }
    Counted {
        pipelines: out,
        unrouted,
        control,
        expected,
    }
}
