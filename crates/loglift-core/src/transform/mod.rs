//! One source object through transform, synchronously and in constant memory.
//!
//! [`transform_object`] reads a decompressed byte stream (`compress::open_stream`) in the
//! source's format — raw NDJSON of [`RawEvent`]s written by ingest, or a landing file: NDJSON,
//! a JSON array (streamed element by element), TSV with a header — validates every event with
//! [`Curator`], and hands finished objects to a [`Sink`]: curated parts (Parquet, or gzip NDJSON:
//! the pipeline's `curated.format`) partitioned
//! by event hour (rolled over at a target size; the largest part is flushed early when the
//! buffered total passes a budget), reject records (rolled over too), and the pipeline's job
//! outputs. Names come from the storage contract and the source object's id, so running the same
//! object again writes the same keys. What the stage needs afterwards — the loader message and
//! the counts — is in the returned [`Outcome`].
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | limits, the source object, the outcome, [`transform_object`] choosing the reader |
//! | `read.rs` | the readers: NDJSON lines, JSON arrays, TSV with a header, text lines |
//! | `run.rs` | one object's run: curate or reject each row, curated parts by event hour, jobs |

use std::collections::BTreeMap;
use std::io::{self, BufRead};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use crate::columnar::CellRow;
use crate::curate::{Curator, EventView, RowContext};
use crate::identity;
use crate::jobs::{self, JobContext, JobRun};
use crate::jsonarray::{self, ArrayReader, Element};
use crate::ndjson::{GzLines, Line, LineReader, ZstdFrameLines};
use crate::record::{RawEvent, RawEventRef};
use crate::reject::{Position, Reason, RejectRecord, Rejection, Source, Stage};
use crate::spec::{CuratedFormat, Format, Pipeline};
use crate::sql::TableColumn;
use crate::storage::{source_id, CuratedObject, Layout, LoaderMessage, ObjectVersion};
use crate::textlog;
use crate::timefmt;

/// Sizes that bound memory and shape the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Uncompressed bytes after which a curated part is closed (COPY likes evenly sized files of
    /// a few to a few hundred MB compressed).
    pub target_part_bytes: u64,
    /// Compressed bytes held in open parts before the largest is flushed early.
    pub buffer_budget: usize,
    /// Open partitions (event hours) before the largest is flushed early.
    pub max_open_parts: usize,
    /// Uncompressed bytes after which a reject file is closed.
    pub reject_part_bytes: u64,
    /// The longest line (or JSON array element) read; longer ones are `too_large` rejects.
    pub max_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            target_part_bytes: 64 * 1024 * 1024,
            buffer_budget: 48 * 1024 * 1024,
            max_open_parts: 32,
            reject_part_bytes: 32 * 1024 * 1024,
            max_line: crate::ndjson::DEFAULT_MAX_LINE,
        }
    }
}

/// Which area the object came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// Written by ingest: NDJSON of [`RawEvent`]s with their ids.
    Raw,
    /// Dropped by a client: the pipeline's file format; ids are computed here.
    Landing,
}

/// The object being transformed.
#[derive(Debug, Clone)]
pub struct SourceObject<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    /// Version id, else etag: names the outputs and goes into `source_object`.
    pub version: &'a str,
    pub kind: SourceKind,
    pub pipeline: &'a Pipeline,
    /// The raw object's arrival hour, or the landing object's last-modified time: the partition
    /// of pipelines without event time, the `dt/hour` of reject files, the jobs' source date.
    pub arrival: DateTime<Utc>,
    /// When the object arrived in the store (its Last-Modified, else the notification's event
    /// time, else when transform read it): its rows' `ingested_at`, which orders a `replace`
    /// pipeline's versions when it has no event time, so a file transformed late (a retry, a
    /// redrive) never overwrites the rows of a file that arrived after it.
    pub ingested_at: DateTime<Utc>,
}

impl SourceObject<'_> {
    pub fn id(&self) -> String {
        source_id(self.bucket, self.key, self.version)
    }
}

/// Where finished objects go (the object store, through the stage).
pub trait Sink {
    type Error;
    /// Store one object; returns the version the store recorded (version id, else etag).
    fn put(
        &mut self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<String, Self::Error>;
}

/// Why an object could not be transformed.
#[derive(Debug, thiserror::Error)]
pub enum TransformError<E> {
    /// Reading the object failed (the stream broke): retry the object.
    #[error("reading the object: {0}")]
    Read(io::Error),
    /// Writing an output failed.
    #[error("writing {key}: {source}")]
    Sink { key: String, source: E },
}

/// What one object produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Events read (valid + rejected; blank lines are not events).
    pub events: u64,
    pub valid: u64,
    pub rejected: u64,
    pub rejects_by_reason: BTreeMap<&'static str, u64>,
    /// Decompressed bytes read.
    pub bytes_in: u64,
    pub curated: Vec<CuratedObject>,
    /// Keys of the reject files written.
    pub reject_files: Vec<String>,
    /// Keys of the job outputs written.
    pub reports: Vec<String>,
    /// Each job's summary, by job kind.
    pub job_summaries: BTreeMap<String, Value>,
}

impl Outcome {
    /// The loader message for this object, `None` when it produced no rows.
    pub fn loader_message(
        &self,
        source: &SourceObject<'_>,
        spec_version: u32,
    ) -> Option<LoaderMessage> {
        if self.curated.is_empty() {
            return None;
        }
        Some(LoaderMessage {
            v: 1,
            pipeline: source.pipeline.name.clone(),
            table: source.pipeline.table.clone(),
            spec_version,
            source: ObjectVersion {
                bucket: source.bucket.to_owned(),
                key: source.key.to_owned(),
                version: source.version.to_owned(),
            },
            objects: self.curated.clone(),
            rejected: self.rejected,
        })
    }
}

/// Everything [`transform_object`] needs besides the bytes.
#[derive(Debug)]
pub struct Context<'a> {
    pub layout: &'a Layout,
    pub spec_version: u32,
    pub limits: Limits,
    pub now: DateTime<Utc>,
    /// The resolved priority list of a `consolidate_by_priority` job (from the spec or DynamoDB).
    pub priority: &'a [String],
}

const NDJSON: &str = "application/x-ndjson";

/// Transform one object read from `reader` (already decompressed).
pub fn transform_object<R: BufRead, S: Sink>(
    reader: R,
    source: &SourceObject<'_>,
    ctx: &Context<'_>,
    sink: &mut S,
) -> Result<Outcome, TransformError<S::Error>> {
    let mut run = Run::new(source, ctx);
    let read = match (source.kind, source.pipeline.format) {
        (SourceKind::Raw, _) => {
            read_lines(reader, ctx.limits.max_line, &mut run, sink, |r, s, n, b| {
                r.raw_line(s, n, b)
            })
        }
        (SourceKind::Landing, Format::Tsv) => read_tsv(reader, &mut run, sink),
        (SourceKind::Landing, Format::JsonArray) => read_array(reader, &mut run, sink),
        (SourceKind::Landing, Format::Text) => {
            read_lines(reader, ctx.limits.max_line, &mut run, sink, |r, s, n, b| {
                r.text_line(s, n, b)
            })
        }
        (SourceKind::Landing, _) => {
            let mut reader = reader;
            match jsonarray::first_byte_is_array(&mut reader) {
                Ok(true) => read_array(reader, &mut run, sink),
                Ok(false) => {
                    read_lines(reader, ctx.limits.max_line, &mut run, sink, |r, s, n, b| {
                        r.json_line(s, n, b)
                    })
                }
                Err(e) => Err(Stop::Read(e)),
            }
        }
    };
    match read {
        Ok(()) => {}
        Err(Stop::Read(e)) if e.kind() == io::ErrorKind::InvalidData => {
            // A corrupt compressed stream will not get better on a retry: what was read is
            // kept, the rest is one reject saying where it broke.
            let line = run.last_line + 1;
            run.reject(
                sink,
                Position::line(line),
                &Rejection::new(
                    Reason::BadCompression,
                    format!("the object cannot be read past line {}: {e}", run.last_line),
                ),
                &[],
            )
            .map_err(TransformError::from)?;
        }
        Err(Stop::Read(e)) => return Err(TransformError::Read(e)),
        Err(Stop::Sink(key, e)) => return Err(TransformError::Sink { key, source: e }),
    }
    run.finish(sink).map_err(TransformError::from)
}

enum Stop<E> {
    Read(io::Error),
    Sink(String, E),
}

impl<E> From<Stop<E>> for TransformError<E> {
    fn from(stop: Stop<E>) -> Self {
        match stop {
            Stop::Read(e) => TransformError::Read(e),
            Stop::Sink(key, source) => TransformError::Sink { key, source },
        }
    }
}

type Step<E> = Result<(), Stop<E>>;

mod read;
mod run;

use read::*;
use run::*;

#[cfg(test)]
mod tests;
