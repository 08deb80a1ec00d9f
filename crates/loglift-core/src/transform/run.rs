//! One object's run: each row curated or rejected, curated parts by event hour (rolled over and flushed within the buffer budget), jobs fed.

use super::*;

/// The state of one object's run.
pub(super) struct Run<'a> {
    pub(super) source: &'a SourceObject<'a>,
    pub(super) ctx: &'a Context<'a>,
    pub(super) curator: Curator<'a>,
    pub(super) source_id: String,
    pub(super) source_object: String,
    pub(super) parts: Parts,
    pub(super) rejects: Option<GzLines>,
    pub(super) reject_part: u32,
    pub(super) jobs: Vec<Box<dyn JobRun>>,
    pub(super) outcome: Outcome,
    pub(super) last_line: u64,
    pub(super) line_buf: Vec<u8>,
    /// The pipeline's text reader (landing files of `format: text`).
    pub(super) text: Option<textlog::Reader<'a>>,
    /// The table's columns (the columns of a Parquet part).
    pub(super) columns: Vec<TableColumn>,
}

/// Open curated parts by partition hour (Unix seconds of the hour).
#[derive(Default)]
pub(super) struct Parts {
    open: BTreeMap<i64, OpenPart>,
    next_part: BTreeMap<i64, u32>,
    /// Compressed bytes held by the open parts, kept up to date on push and flush.
    buffered: usize,
}

pub(super) struct OpenPart {
    lines: PartWriter,
    min: Option<DateTime<Utc>>,
    max: Option<DateTime<Utc>>,
}

/// A curated part in the pipeline's format. A Parquet part holds its rows as typed cells
/// ([`CellRow`]) zstd-compressed (level 1) while open and becomes Parquet when it closes, one
/// part at a time: an open Parquet writer holds a page buffer and a dictionary per column, which
/// across 32 open event hours would be far over the buffer budget (measured: 106 MiB peak
/// against 29 MiB for NDJSON on a 200 MB object spread over 24 hours; with 64 KiB pages and
/// batches of 256 rows still 70 MiB), while compressed cells cost what gzip lines cost.
pub(super) enum PartWriter {
    Ndjson(GzLines),
    /// The rows, and the bytes of the NDJSON lines they stand for: parts close at the same
    /// curated size in both formats.
    Parquet(ZstdFrameLines, u64),
}

impl PartWriter {
    fn new(format: CuratedFormat) -> io::Result<PartWriter> {
        Ok(match format {
            CuratedFormat::Ndjson => PartWriter::Ndjson(GzLines::default()),
            CuratedFormat::Parquet => {
                PartWriter::Parquet(ZstdFrameLines::new(crate::ndjson::PART_FRAME_BYTES), 0)
            }
        })
    }

    /// One row as the curator wrote it (an NDJSON line, or cells), standing for an
    /// NDJSON line of `line_len` bytes.
    fn push_row(&mut self, row: &[u8], line_len: usize) -> io::Result<()> {
        match self {
            PartWriter::Ndjson(lines) => lines.push_line(row),
            PartWriter::Parquet(rows, line_bytes) => {
                *line_bytes += line_len as u64;
                rows.push_line(row)
            }
        }
    }

    /// Bytes of the curated lines pushed (what the target part size counts).
    fn raw_bytes(&self) -> u64 {
        match self {
            PartWriter::Ndjson(lines) => lines.raw_bytes(),
            PartWriter::Parquet(_, line_bytes) => *line_bytes,
        }
    }

    /// Bytes the part holds in memory (what the buffer budget counts).
    fn held_bytes(&self) -> usize {
        match self {
            PartWriter::Ndjson(lines) => lines.compressed_len(),
            PartWriter::Parquet(lines, _) => lines.compressed_len(),
        }
    }

    fn rows(&self) -> u64 {
        match self {
            PartWriter::Ndjson(lines) => lines.lines(),
            PartWriter::Parquet(lines, _) => lines.lines(),
        }
    }

    fn content_type(&self) -> &'static str {
        match self {
            PartWriter::Ndjson(_) => NDJSON,
            PartWriter::Parquet(..) => crate::columnar::CONTENT_TYPE,
        }
    }

    fn finish(self, columns: &[TableColumn]) -> io::Result<Vec<u8>> {
        match self {
            PartWriter::Ndjson(lines) => lines.finish(),
            PartWriter::Parquet(rows, line_bytes) => {
                let count = rows.lines();
                let compressed = rows.finish()?;
                let decoder = zstd::stream::read::Decoder::new(&compressed[..])?;
                let mut part = crate::columnar::ParquetPart::new(columns.to_vec())?;
                part.push_cell_rows(
                    io::BufReader::with_capacity(256 * 1024, decoder),
                    count,
                    line_bytes,
                )?;
                part.finish()
            }
        }
    }
}

impl Parts {
    pub(super) fn largest(&self) -> Option<i64> {
        self.open
            .iter()
            .max_by_key(|(_, p)| p.lines.raw_bytes())
            .map(|(hour, _)| *hour)
    }
}

impl<'a> Run<'a> {
    pub(super) fn new(source: &'a SourceObject<'a>, ctx: &'a Context<'a>) -> Self {
        let pipeline = source.pipeline;
        let curator = Curator::new(pipeline, ctx.spec_version)
            .empty_is_null(source.kind == SourceKind::Landing && pipeline.format == Format::Tsv);
        Run {
            source,
            ctx,
            curator,
            source_id: source.id(),
            source_object: format!("s3://{}/{}#{}", source.bucket, source.key, source.version),
            parts: Parts::default(),
            rejects: None,
            reject_part: 0,
            jobs: pipeline
                .jobs
                .iter()
                .map(|job| jobs::start(job, ctx.priority))
                .collect(),
            outcome: Outcome::default(),
            last_line: 0,
            line_buf: Vec::with_capacity(4096),
            columns: crate::sql::table_columns(pipeline),
            text: pipeline
                .text
                .as_ref()
                .and_then(|t| t.parser(pipeline).ok())
                .map(|p| p.reader(source.arrival)),
        }
    }

    /// A line of a `format: text` landing file, read by the pipeline's text format.
    pub(super) fn text_line<S: Sink>(
        &mut self,
        sink: &mut S,
        number: u64,
        bytes: &[u8],
    ) -> Step<S::Error> {
        let position = Position::line(number);
        let line = match std::str::from_utf8(bytes) {
            Ok(line) => line,
            Err(e) => {
                let rejection = Rejection::new(Reason::InvalidUtf8, e.to_string());
                return self.reject(sink, position, &rejection, bytes);
            }
        };
        let parsed = match self.text.as_mut() {
            Some(reader) => reader.line(line),
            None => textlog::Line::Reject(Rejection::new(
                Reason::NoMatch,
                "the pipeline declares no valid text format",
            )),
        };
        match parsed {
            textlog::Line::Row(event) => self.landing_event(sink, position, number, event, bytes),
            textlog::Line::Skip => Ok(()),
            textlog::Line::Reject(rejection) => self.reject(sink, position, &rejection, bytes),
        }
    }

    /// A line of a raw object: a [`RawEvent`] of this pipeline.
    pub(super) fn raw_line<S: Sink>(
        &mut self,
        sink: &mut S,
        number: u64,
        bytes: &[u8],
    ) -> Step<S::Error> {
        let position = Position::line(number);
        if !self.jobs.is_empty() {
            // Jobs read the event as a map.
            return self.raw_line_parsed(sink, number, bytes);
        }
        // The event's fields stay text until a column asks: no map is built.
        let raw = match self.read_raw(bytes, |raw: &RawEventRef<'_>| &raw.pipeline) {
            Ok(raw) => raw,
            Err(rejection) => return self.reject(sink, position, &rejection, bytes),
        };
        if raw.data.has_repeated_keys() {
            return self.raw_line_parsed(sink, number, bytes);
        }
        self.event(sink, position, number, &raw.data, &raw.event_id, bytes)
    }

    /// A raw line read into a [`RawEvent`] (its `data` a map).
    fn raw_line_parsed<S: Sink>(
        &mut self,
        sink: &mut S,
        number: u64,
        bytes: &[u8],
    ) -> Step<S::Error> {
        let position = Position::line(number);
        let raw = match self.read_raw(bytes, |raw: &RawEvent| &raw.pipeline) {
            Ok(raw) => raw,
            Err(rejection) => return self.reject(sink, position, &rejection, bytes),
        };
        self.event(sink, position, number, &raw.data, &raw.event_id, bytes)
    }

    /// A raw line read as `T`, or its reject: not a raw event, or an event of another pipeline
    /// than the object's (`pipeline` reads the name it carries).
    fn read_raw<'b, T: serde::Deserialize<'b>>(
        &self,
        bytes: &'b [u8],
        pipeline: impl FnOnce(&T) -> &str,
    ) -> Result<T, Rejection> {
        let raw: T = crate::ndjson::from_line(bytes)
            .map_err(|e| Rejection::new(Reason::InvalidJson, format!("raw event: {e}")))?;
        let name = pipeline(&raw);
        if name != self.source.pipeline.name {
            return Err(Rejection::new(
                Reason::MixedPipelines,
                format!(
                    "a `{name}` event in an object of pipeline `{}`",
                    self.source.pipeline.name
                ),
            ));
        }
        Ok(raw)
    }

    /// A line of an NDJSON landing file.
    pub(super) fn json_line<S: Sink>(
        &mut self,
        sink: &mut S,
        number: u64,
        bytes: &[u8],
    ) -> Step<S::Error> {
        let position = Position::line(number);
        match parse_object(bytes) {
            Ok(event) => self.landing_event(sink, position, number, event, bytes),
            Err(rejection) => self.reject(sink, position, &rejection, bytes),
        }
    }

    /// An event of a landing file: its id is computed here, as ingest would.
    pub(super) fn landing_event<S: Sink>(
        &mut self,
        sink: &mut S,
        position: Position,
        line: u64,
        event: Map<String, Value>,
        bytes: &[u8],
    ) -> Step<S::Error> {
        if let Err(rejection) = crate::record::check_event_depth(&event) {
            return self.reject(sink, position, &rejection, bytes);
        }
        match identity::event_id(&self.source.pipeline.identity, &event, None) {
            Ok(id) => self.event(sink, position, line, &event, &id, bytes),
            Err(rejection) => self.reject(sink, position, &rejection, bytes),
        }
    }

    pub(super) fn event<S: Sink, E: EventView + ?Sized>(
        &mut self,
        sink: &mut S,
        position: Position,
        line: u64,
        event: &E,
        event_id: &str,
        bytes: &[u8],
    ) -> Step<S::Error> {
        let ctx = RowContext {
            source_object: &self.source_object,
            ingested_at: self.source.ingested_at,
        };
        self.line_buf.clear();
        let curated = match self.source.pipeline.curated.format {
            CuratedFormat::Ndjson => self
                .curator
                .curate(event, event_id, &ctx, &mut self.line_buf),
            CuratedFormat::Parquet => self.curator.curate_into(
                event,
                event_id,
                &ctx,
                &mut CellRow::new(&mut self.line_buf),
            ),
        };
        match curated {
            Ok(curated) => {
                self.outcome.events += 1;
                self.outcome.valid += 1;
                if let Some(map) = event.as_map() {
                    for job in &mut self.jobs {
                        job.observe(map, line);
                    }
                }
                self.push_row(sink, curated.event_time, curated.line_len)
            }
            Err(rejection) => self.reject(sink, position, &rejection, bytes),
        }
    }

    pub(super) fn push_row<S: Sink>(
        &mut self,
        sink: &mut S,
        time: Option<DateTime<Utc>>,
        line_len: usize,
    ) -> Step<S::Error> {
        let partition = time.unwrap_or(self.source.arrival);
        let hour = partition.timestamp().div_euclid(3600) * 3600;
        if !self.parts.open.contains_key(&hour)
            && self.parts.open.len() >= self.ctx.limits.max_open_parts
        {
            if let Some(largest) = self.parts.largest() {
                self.flush_part(sink, largest)?;
            }
        }
        let part = match self.parts.open.entry(hour) {
            std::collections::btree_map::Entry::Occupied(open) => open.into_mut(),
            std::collections::btree_map::Entry::Vacant(slot) => slot.insert(OpenPart {
                lines: PartWriter::new(self.source.pipeline.curated.format).map_err(Stop::Read)?,
                min: None,
                max: None,
            }),
        };
        let before = part.lines.held_bytes();
        part.lines
            .push_row(&self.line_buf, line_len)
            .map_err(Stop::Read)?;
        self.parts.buffered =
            (self.parts.buffered + part.lines.held_bytes()).saturating_sub(before);
        if let Some(t) = time {
            part.min = Some(part.min.map_or(t, |m| m.min(t)));
            part.max = Some(part.max.map_or(t, |m| m.max(t)));
        }
        let full = part.lines.raw_bytes() >= self.ctx.limits.target_part_bytes;
        if full {
            self.flush_part(sink, hour)?;
        } else if self.parts.buffered > self.ctx.limits.buffer_budget {
            if let Some(largest) = self.parts.largest() {
                self.flush_part(sink, largest)?;
            }
        }
        Ok(())
    }

    pub(super) fn flush_part<S: Sink>(&mut self, sink: &mut S, hour: i64) -> Step<S::Error> {
        let Some(part) = self.parts.open.remove(&hour) else {
            return Ok(());
        };
        self.parts.buffered = self.parts.buffered.saturating_sub(part.lines.held_bytes());
        let number = self.parts.next_part.entry(hour).or_insert(0);
        let part_no = *number;
        *number += 1;
        let time = DateTime::from_timestamp(hour, 0).unwrap_or(self.source.arrival);
        let format = self.source.pipeline.curated.format;
        let key = self.ctx.layout.curated_key(
            &self.source.pipeline.name,
            time,
            &self.source_id,
            part_no,
            format,
        );
        let rows = part.lines.rows();
        let content_type = part.lines.content_type();
        let bytes = part.lines.finish(&self.columns).map_err(Stop::Read)?;
        let size = bytes.len() as u64;
        let version = sink
            .put(&self.ctx.layout.curated.bucket, &key, bytes, content_type)
            .map_err(|e| Stop::Sink(key.clone(), e))?;
        self.outcome.curated.push(CuratedObject {
            bucket: self.ctx.layout.curated.bucket.clone(),
            key,
            version,
            bytes: size,
            rows,
            min_event_time: part.min.map(timefmt::curated),
            max_event_time: part.max.map(timefmt::curated),
        });
        Ok(())
    }

    pub(super) fn reject<S: Sink>(
        &mut self,
        sink: &mut S,
        position: Position,
        rejection: &Rejection,
        raw: &[u8],
    ) -> Step<S::Error> {
        self.outcome.events += 1;
        self.outcome.rejected += 1;
        *self
            .outcome
            .rejects_by_reason
            .entry(rejection.reason.code())
            .or_insert(0) += 1;
        let record = RejectRecord::new(
            Stage::Transform,
            Some(&self.source.pipeline.name),
            Source::S3 {
                bucket: self.source.bucket.to_owned(),
                key: self.source.key.to_owned(),
                version: Some(self.source.version.to_owned()),
            },
            position,
            rejection,
            raw,
            self.ctx.now,
        );
        let lines = self.rejects.get_or_insert_with(GzLines::default);
        lines.push(&record).map_err(Stop::Read)?;
        if lines.raw_bytes() >= self.ctx.limits.reject_part_bytes {
            self.flush_rejects(sink)?;
        }
        Ok(())
    }

    pub(super) fn flush_rejects<S: Sink>(&mut self, sink: &mut S) -> Step<S::Error> {
        let Some(lines) = self.rejects.take() else {
            return Ok(());
        };
        let key = self.ctx.layout.reject_key(
            Stage::Transform,
            Some(&self.source.pipeline.name),
            self.source.arrival,
            &format!("{}-{:05}", self.source_id, self.reject_part),
        );
        self.reject_part += 1;
        let bytes = lines.finish().map_err(Stop::Read)?;
        sink.put(&self.ctx.layout.errors.bucket, &key, bytes, NDJSON)
            .map_err(|e| Stop::Sink(key.clone(), e))?;
        self.outcome.reject_files.push(key);
        Ok(())
    }

    pub(super) fn finish<S: Sink>(mut self, sink: &mut S) -> Result<Outcome, Stop<S::Error>> {
        let hours: Vec<i64> = self.parts.open.keys().copied().collect();
        for hour in hours {
            self.flush_part(sink, hour)?;
        }
        self.flush_rejects(sink)?;
        let job_ctx = JobContext {
            pipeline: self.source.pipeline.name.clone(),
            source_id: self.source_id.clone(),
            source_date: self.source.arrival.date_naive(),
            run_date: run_date(self.ctx.now),
        };
        for job in std::mem::take(&mut self.jobs) {
            let kind = job.kind();
            let output = job.finish(&job_ctx);
            for file in output.files {
                let key = self
                    .ctx
                    .layout
                    .report_key(&self.source.pipeline.name, kind, &file.path);
                sink.put(
                    &self.ctx.layout.reports.bucket,
                    &key,
                    file.bytes,
                    file.content_type,
                )
                .map_err(|e| Stop::Sink(key.clone(), e))?;
                self.outcome.reports.push(key);
            }
            self.outcome
                .job_summaries
                .insert(kind.to_owned(), output.summary);
        }
        Ok(self.outcome)
    }
}

pub(super) fn run_date(now: DateTime<Utc>) -> NaiveDate {
    now.date_naive()
}
