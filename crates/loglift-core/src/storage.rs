//! The storage contract: where every stage reads and writes, and the messages between stages.
//! One module computes every key; `docs/architecture.md` states the same formats.
//!
//! Areas (each a bucket and a prefix; by default one lake bucket with these prefixes):
//! - `landing/` files dropped by clients (`landing/<spec s3_prefix>…`)
//! - `raw/` ingest and Firehose output, partitioned by **arrival** hour
//! - `curated/` validated rows, partitioned by **event** hour
//! - `errors/` reject records, failure reasons, Firehose error output
//! - `reports/` job outputs
//!
//! Raw may hold duplicates (retries, bisected batches); correctness rests on the event id.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::reject::Stage;
use crate::spec::{CuratedFormat, Spec};

/// A bucket and a key prefix (empty, or ending in `/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub bucket: String,
    pub prefix: String,
}

impl Location {
    pub fn new(bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        let mut prefix = prefix.into();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Location {
            bucket: bucket.into(),
            prefix,
        }
    }

    /// `prefix` + `rest`.
    pub fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    /// The key relative to this location, if it is inside it.
    pub fn relative<'k>(&self, bucket: &str, key: &'k str) -> Option<&'k str> {
        if bucket == self.bucket {
            key.strip_prefix(self.prefix.as_str())
        } else {
            None
        }
    }
}

/// The five areas of the lake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    pub landing: Location,
    pub raw: Location,
    pub curated: Location,
    pub errors: Location,
    pub reports: Location,
}

/// A layout that cannot work (S3 notifications would loop or overlap).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error(
        "areas {0} and {1} overlap (s3://{2}/{3}): notifications on one would fire for the other"
    )]
    Overlap(&'static str, &'static str, String, String),
}

impl Layout {
    /// One bucket, the standard prefixes.
    pub fn single_bucket(bucket: &str) -> Layout {
        Layout {
            landing: Location::new(bucket, "landing/"),
            raw: Location::new(bucket, "raw/"),
            curated: Location::new(bucket, "curated/"),
            errors: Location::new(bucket, "errors/"),
            reports: Location::new(bucket, "reports/"),
        }
    }

    /// From configuration: `LOGLIFT_LAKE_BUCKET` gives the default bucket; each area may be moved
    /// with `LOGLIFT_<AREA>_BUCKET` and `LOGLIFT_<AREA>_PREFIX` (AREA = LANDING, RAW, CURATED,
    /// ERRORS, REPORTS).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Layout, LayoutError> {
        let lake = lookup("LOGLIFT_LAKE_BUCKET").filter(|b| !b.is_empty());
        let area = |name: &'static str, default_prefix: &str| -> Result<Location, LayoutError> {
            let bucket = lookup(&format!("LOGLIFT_{name}_BUCKET"))
                .filter(|b| !b.is_empty())
                .or_else(|| lake.clone())
                .ok_or(LayoutError::Missing("LOGLIFT_LAKE_BUCKET"))?;
            let prefix = lookup(&format!("LOGLIFT_{name}_PREFIX"))
                .unwrap_or_else(|| default_prefix.to_owned());
            Ok(Location::new(bucket, prefix))
        };
        let layout = Layout {
            landing: area("LANDING", "landing/")?,
            raw: area("RAW", "raw/")?,
            curated: area("CURATED", "curated/")?,
            errors: area("ERRORS", "errors/")?,
            reports: area("REPORTS", "reports/")?,
        };
        layout.check()?;
        Ok(layout)
    }

    fn areas(&self) -> [(&'static str, &Location); 5] {
        [
            ("landing", &self.landing),
            ("raw", &self.raw),
            ("curated", &self.curated),
            ("errors", &self.errors),
            ("reports", &self.reports),
        ]
    }

    /// No two areas in one bucket may overlap: transform listens on landing and raw, and must not
    /// hear its own writes.
    pub fn check(&self) -> Result<(), LayoutError> {
        let areas = self.areas();
        for (i, (a, la)) in areas.iter().enumerate() {
            for (b, lb) in areas.iter().skip(i + 1) {
                if la.bucket == lb.bucket
                    && (la.prefix.starts_with(&lb.prefix) || lb.prefix.starts_with(&la.prefix))
                {
                    return Err(LayoutError::Overlap(
                        a,
                        b,
                        la.bucket.clone(),
                        la.prefix.clone(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The S3 → transform-queue notification filters: the raw area, and each pipeline's landing
    /// prefix. Non-overlapping by construction (spec check refuses overlapping s3_prefixes).
    pub fn notification_filters(&self, spec: &Spec) -> Vec<NotificationFilter> {
        let mut filters = vec![NotificationFilter {
            bucket: self.raw.bucket.clone(),
            prefix: self.raw.prefix.clone(),
            pipeline: None,
        }];
        for p in &spec.pipelines {
            if let Some(prefix) = p.matcher.s3_prefix.as_deref() {
                filters.push(NotificationFilter {
                    bucket: self.landing.bucket.clone(),
                    prefix: self.landing.key(prefix),
                    pipeline: Some(p.name.clone()),
                });
            }
        }
        filters
    }

    /// Raw object written by ingest for one pipeline's events of one Kinesis batch and arrival hour.
    pub fn raw_kinesis_key(
        &self,
        pipeline: &str,
        arrival: DateTime<Utc>,
        shard: &str,
        first_seq: &str,
        last_seq: &str,
    ) -> String {
        self.raw.key(&format!(
            "{}kinesis-{shard}-{first_seq}-{last_seq}.ndjson.zst",
            arrival_partition(pipeline, arrival)
        ))
    }

    /// The prefix Firehose writes under, with dynamic partitioning keys from the ingest Lambda.
    pub fn firehose_prefix(&self) -> String {
        self.raw.key("pipeline=!{partitionKeyFromLambda:pipeline}/dt=!{partitionKeyFromLambda:dt}/hour=!{partitionKeyFromLambda:hour}/")
    }

    /// Firehose's error output prefix (`processing-failed`, dynamic-partitioning overflow, …).
    pub fn firehose_error_prefix(&self) -> String {
        self.errors.key("firehose/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/")
    }

    /// Reject records of one unit of work (a Kinesis batch, a Firehose invocation, a source object).
    /// `time` is the arrival time of what was rejected, so a retry writes the same key.
    pub fn reject_key(
        &self,
        stage: Stage,
        pipeline: Option<&str>,
        time: DateTime<Utc>,
        origin: &str,
    ) -> String {
        self.errors.key(&format!(
            "rejects/stage={}/pipeline={}/dt={}/hour={}/{origin}.ndjson.gz",
            stage.as_str(),
            pipeline.unwrap_or(UNKNOWN_PIPELINE),
            time.format("%Y-%m-%d"),
            time.format("%H"),
        ))
    }

    /// Why a queue message failed, keyed by its message id (a Lambda cannot change the message).
    pub fn failure_key(&self, queue_name: &str, message_id: &str) -> String {
        self.errors
            .key(&format!("failures/queue={queue_name}/{message_id}.json"))
    }

    /// A curated object: `part` numbers the objects one source object produced in one partition;
    /// the extension is the pipeline's curated format's (`.parquet`, `.ndjson.gz`).
    pub fn curated_key(
        &self,
        pipeline: &str,
        partition_time: DateTime<Utc>,
        source_id: &str,
        part: u32,
        format: CuratedFormat,
    ) -> String {
        self.curated.key(&format!(
            "{}{source_id}-{part:05}.{}",
            self.curated_partition(pipeline, partition_time),
            format.extension(),
        ))
    }

    /// The curated partition of `pipeline` at `hour`, relative to the curated area:
    /// `pipeline=<p>/dt=YYYY-MM-DD/hour=HH/`.
    pub fn curated_partition(&self, pipeline: &str, hour: DateTime<Utc>) -> String {
        format!(
            "pipeline={pipeline}/dt={}/hour={}/",
            hour.format("%Y-%m-%d"),
            hour.format("%H"),
        )
    }

    /// Where reject records of `stage` and `pipeline` are: every hour (`hour` `None`) or one.
    pub fn reject_prefix(
        &self,
        stage: Stage,
        pipeline: &str,
        hour: Option<DateTime<Utc>>,
    ) -> String {
        let base = format!("rejects/stage={}/", stage.as_str());
        match hour {
            None => self.errors.key(&format!("{base}pipeline={pipeline}/")),
            Some(hour) => self
                .errors
                .key(&format!("{base}{}", arrival_partition(pipeline, hour))),
        }
    }

    /// The pipeline and hour of a reject file of `stage` at `bucket`/`key` (under
    /// [`Layout::reject_prefix`]); `None` for any other key.
    pub fn reject_partition(
        &self,
        stage: Stage,
        bucket: &str,
        key: &str,
    ) -> Option<(String, DateTime<Utc>)> {
        let base = format!("rejects/stage={}/", stage.as_str());
        self.errors
            .relative(bucket, key)?
            .strip_prefix(base.as_str())
            .and_then(parse_arrival_partition)
    }

    /// A raw object replayed from rejects: `raw/pipeline=<p>/dt=…/hour=…/replay-<hash>.ndjson.gz`.
    pub fn replay_raw_key(&self, pipeline: &str, hour: DateTime<Utc>, hash: &str) -> String {
        self.raw.key(&format!(
            "{}{REPLAY_PREFIX}{hash}.ndjson.gz",
            arrival_partition(pipeline, hour)
        ))
    }

    /// A landing file replayed from rejects, under the pipeline's landing `prefix`:
    /// `<prefix>replay/dt=…/hour=…/replay-<hash>.<extension>.gz`.
    pub fn replay_landing_key(
        &self,
        prefix: &str,
        hour: DateTime<Utc>,
        hash: &str,
        extension: &str,
    ) -> String {
        self.landing.key(&format!(
            "{prefix}replay/dt={}/hour={}/{REPLAY_PREFIX}{hash}.{extension}.gz",
            hour.format("%Y-%m-%d"),
            hour.format("%H")
        ))
    }

    /// Where Firehose's error output lives: `<errors prefix>firehose/` (then
    /// `<error-output-type>/dt=…/hour=…/…`, see [`Layout::firehose_error_prefix`]).
    pub fn firehose_error_root(&self) -> String {
        self.errors.key("firehose/")
    }

    /// Where replayed error objects go: `<errors prefix>firehose-archive/` (the same relative
    /// keys).
    pub fn firehose_archive_root(&self) -> String {
        self.errors.key("firehose-archive/")
    }

    /// The error-output type of an error object's key (`processing-failed`, …), relative to
    /// [`Layout::firehose_error_root`]; `None` outside it.
    pub fn error_output_type<'k>(&self, bucket: &str, key: &'k str) -> Option<&'k str> {
        let root = self.firehose_error_root();
        let relative = (bucket == self.errors.bucket)
            .then(|| key.strip_prefix(root.as_str()))
            .flatten()?;
        relative.split('/').next().filter(|t| !t.is_empty())
    }

    /// The archive key of an error object: the same key under
    /// [`Layout::firehose_archive_root`] instead of [`Layout::firehose_error_root`]; `None` for a
    /// key outside the error output.
    pub fn firehose_archive_key(&self, key: &str) -> Option<String> {
        let relative = key.strip_prefix(self.firehose_error_root().as_str())?;
        (!relative.is_empty()).then(|| format!("{}{relative}", self.firehose_archive_root()))
    }

    /// Where replayed Kinesis on-failure objects (S3 destination) go, in the errors bucket:
    /// `<errors prefix>kinesis-archive/`.
    pub fn kinesis_archive_root(&self) -> String {
        self.errors.key("kinesis-archive/")
    }

    /// The archive key of an on-failure object `s3://bucket/key`:
    /// `<errors prefix>kinesis-archive/<bucket>/<key>` in the errors bucket.
    pub fn kinesis_archive_key(&self, bucket: &str, key: &str) -> String {
        format!("{}{bucket}/{key}", self.kinesis_archive_root())
    }

    /// A job's output file: `path` is the job's own (it names the source object, so a
    /// redelivery overwrites): `source=<source_id>/<date>_SearchKeywordPerformance.tab`,
    /// `year=YYYY/month=MM/day=DD/<source_id>-<part>.jsonl`.
    pub fn report_key(&self, pipeline: &str, job: &str, path: &str) -> String {
        self.reports
            .key(&format!("pipeline={pipeline}/job={job}/{path}"))
    }
}

/// The pipeline partition value of rejects that could not be routed.
pub const UNKNOWN_PIPELINE: &str = "_unknown";

/// `pipeline=<p>/dt=YYYY-MM-DD/hour=HH/` by arrival time: the raw partition.
/// The file-name prefix of objects replayed from rejects (a replay of them is skipped).
pub const REPLAY_PREFIX: &str = "replay-";

pub fn arrival_partition(pipeline: &str, arrival: DateTime<Utc>) -> String {
    let (dt, hour) = dt_and_hour(arrival);
    format!("pipeline={pipeline}/dt={dt}/hour={hour}/")
}

/// An arrival partition's `dt` and `hour` (`2026-11-21`, `10`), cut from the RFC 3339 form
/// (Firehose answers carry them for every record; chrono's format strings cost more than the rest
/// of the answer).
fn dt_and_hour(arrival: DateTime<Utc>) -> (String, String) {
    let stamp = crate::timefmt::Rfc3339Millis::of(arrival);
    let stamp = stamp.as_str();
    match (stamp.len(), stamp.get(..10), stamp.get(11..13)) {
        (24, Some(dt), Some(hour)) => (dt.to_owned(), hour.to_owned()),
        // Years outside 0–9999: chrono's forms.
        _ => (
            arrival.format("%Y-%m-%d").to_string(),
            arrival.format("%H").to_string(),
        ),
    }
}

/// Firehose `metadata.partitionKeys` for a record: the same three values as [`arrival_partition`].
pub fn firehose_partition_keys(pipeline: &str, arrival: DateTime<Utc>) -> BTreeMap<String, String> {
    let (dt, hour) = dt_and_hour(arrival);
    BTreeMap::from([
        ("pipeline".to_owned(), pipeline.to_owned()),
        ("dt".to_owned(), dt),
        ("hour".to_owned(), hour),
    ])
}

/// Parse `pipeline=<p>/dt=YYYY-MM-DD/hour=HH/` partitions out of a raw key (relative to the raw
/// prefix): the pipeline and the arrival hour.
pub fn parse_arrival_partition(relative_key: &str) -> Option<(String, DateTime<Utc>)> {
    let mut parts = relative_key.split('/');
    let pipeline = parts.next()?.strip_prefix("pipeline=")?;
    let dt = parts.next()?.strip_prefix("dt=")?;
    let hour = parts.next()?.strip_prefix("hour=")?;
    let naive =
        chrono::NaiveDateTime::parse_from_str(&format!("{dt} {hour}:00:00"), "%Y-%m-%d %H:%M:%S")
            .ok()?;
    Some((pipeline.to_owned(), naive.and_utc()))
}

/// A short, stable id for one version of a source object; names its curated objects and reject
/// files, so a redelivery overwrites instead of adding.
pub fn source_id(bucket: &str, key: &str, version_or_etag: &str) -> String {
    let mut h = Sha256::new();
    for part in [bucket, key, version_or_etag] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let digest = h.finalize();
    hex::encode(digest.get(..10).unwrap_or(&digest))
}

/// Decode an S3 event notification key: form-URL rules (`+` is a space, `%2B` a plus, UTF-8
/// percent bytes). Invalid UTF-8 after decoding is replaced, never panics.
pub fn decode_event_key(key: &str) -> String {
    form_urlencoded::parse(format!("k={key}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// One object of the source: what the loader message names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectVersion {
    pub bucket: String,
    pub key: String,
    /// The version id when the bucket is versioned, else the etag.
    pub version: String,
}

/// One curated object to load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CuratedObject {
    pub bucket: String,
    pub key: String,
    /// The version id when the bucket is versioned, else the etag: the ledger's key with `key`.
    pub version: String,
    pub bytes: u64,
    pub rows: u64,
    /// Event-time window of its rows (`YYYY-MM-DD HH:MM:SS.ffffff`), absent without event time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_event_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_event_time: Option<String>,
}

/// The message transform sends the loader: one per source object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoaderMessage {
    /// Schema version of this message format.
    pub v: u32,
    pub pipeline: String,
    pub table: String,
    pub spec_version: u32,
    pub source: ObjectVersion,
    pub objects: Vec<CuratedObject>,
    /// Rows of the source rejected by transform (for the audit).
    #[serde(default)]
    pub rejected: u64,
}

/// The loader messages of one batch for one table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadBatch {
    pub table: String,
    pub messages: Vec<LoaderMessage>,
    /// How often this batch was tried: the highest receive count of its messages (it ends the
    /// Redshift Data API `ClientToken`, next to a per-submission nonce).
    pub attempt: u32,
}

/// What one load did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadReport {
    pub inserted: u64,
    pub replaced: u64,
    pub duplicates_skipped: u64,
    pub objects_skipped: u64,
}

impl std::ops::AddAssign<&LoadReport> for LoadReport {
    fn add_assign(&mut self, other: &LoadReport) {
        self.inserted += other.inserted;
        self.replaced += other.replaced;
        self.duplicates_skipped += other.duplicates_skipped;
        self.objects_skipped += other.objects_skipped;
    }
}

/// One S3 → SQS notification filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationFilter {
    pub bucket: String,
    pub prefix: String,
    /// The landing pipeline it serves; `None` for the raw area (all pipelines).
    pub pipeline: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, h, 59, 59)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn key_formats_are_pinned() {
        let l = Layout::single_bucket("lake");
        assert_eq!(
            l.raw_kinesis_key("user_events", t(7), "shardId-000000000001", "4954", "4960"),
            "raw/pipeline=user_events/dt=2026-11-21/hour=07/kinesis-shardId-000000000001-4954-4960.ndjson.zst"
        );
        assert_eq!(
            l.curated_key(
                "user_events",
                t(23),
                "0123456789abcdef0123",
                2,
                CuratedFormat::Ndjson
            ),
            "curated/pipeline=user_events/dt=2026-11-21/hour=23/0123456789abcdef0123-00002.ndjson.gz"
        );
        assert_eq!(
            l.curated_key("p", t(23), "0123", 0, CuratedFormat::Parquet),
            "curated/pipeline=p/dt=2026-11-21/hour=23/0123-00000.parquet"
        );
        assert_eq!(
            l.reject_key(Stage::Ingest, None, t(0), "kinesis-shardId-0-1-2"),
            "errors/rejects/stage=ingest/pipeline=_unknown/dt=2026-11-21/hour=00/kinesis-shardId-0-1-2.ndjson.gz"
        );
        assert_eq!(
            l.failure_key("loglift-transform", "m-1"),
            "errors/failures/queue=loglift-transform/m-1.json"
        );
        assert_eq!(
            l.firehose_prefix(),
            "raw/pipeline=!{partitionKeyFromLambda:pipeline}/dt=!{partitionKeyFromLambda:dt}/hour=!{partitionKeyFromLambda:hour}/"
        );
        let keys = firehose_partition_keys("app_logs", t(5));
        assert_eq!(keys.get("dt").map(String::as_str), Some("2026-11-21"));
        assert_eq!(keys.get("hour").map(String::as_str), Some("05"));
        // The partition is chrono's `%Y-%m-%d` and `%H`, years 0–9999 and beyond.
        for secs in [
            0,
            1_700_000_000,
            253_402_300_799,
            300_000_000_000,
            -62_167_219_200,
        ] {
            let at = DateTime::from_timestamp(secs, 0).unwrap_or_default();
            assert_eq!(
                arrival_partition("p", at),
                format!(
                    "pipeline=p/dt={}/hour={}/",
                    at.format("%Y-%m-%d"),
                    at.format("%H")
                ),
                "{at:?}"
            );
        }
    }

    #[test]
    fn firehose_keys_and_kinesis_keys_share_the_arrival_partition() {
        let l = Layout::single_bucket("lake");
        let keys = firehose_partition_keys("user_events", t(7));
        let firehose = l
            .firehose_prefix()
            .replace("!{partitionKeyFromLambda:pipeline}", &keys["pipeline"])
            .replace("!{partitionKeyFromLambda:dt}", &keys["dt"])
            .replace("!{partitionKeyFromLambda:hour}", &keys["hour"]);
        let kinesis = l.raw_kinesis_key("user_events", t(7), "s", "1", "2");
        assert!(kinesis.starts_with(&firehose), "{kinesis} vs {firehose}");
        let rel = l.raw.relative("lake", &kinesis).unwrap_or_default();
        let (pipeline, hour) = parse_arrival_partition(rel).unwrap_or_else(|| panic!("{rel}"));
        assert_eq!(pipeline, "user_events");
        assert_eq!(
            hour,
            Utc.with_ymd_and_hms(2026, 11, 21, 7, 0, 0)
                .single()
                .unwrap_or_default()
        );
    }

    #[test]
    fn layout_from_lookup_and_overlap() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let l = Layout::from_lookup(env(&[
            ("LOGLIFT_LAKE_BUCKET", "lake"),
            ("LOGLIFT_LANDING_BUCKET", "drop"),
            ("LOGLIFT_LANDING_PREFIX", ""),
        ]));
        let l = l.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(l.landing, Location::new("drop", ""));
        assert_eq!(l.raw, Location::new("lake", "raw/"));
        assert_eq!(
            Layout::from_lookup(env(&[])),
            Err(LayoutError::Missing("LOGLIFT_LAKE_BUCKET"))
        );
        let overlap = Layout::from_lookup(env(&[
            ("LOGLIFT_LAKE_BUCKET", "lake"),
            ("LOGLIFT_CURATED_PREFIX", "raw/curated/"),
        ]));
        assert!(
            matches!(overlap, Err(LayoutError::Overlap("raw", "curated", _, _))),
            "{overlap:?}"
        );
    }

    #[test]
    fn notification_filters_cover_raw_and_each_landing_prefix() {
        let spec = Spec::parse(include_str!("../../../spec/pipelines.yaml"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        let filters = Layout::single_bucket("lake").notification_filters(&spec);
        let prefixes: Vec<&str> = filters.iter().map(|f| f.prefix.as_str()).collect();
        assert_eq!(
            prefixes,
            [
                "raw/",
                "landing/hit_data/",
                "landing/partner_catalog/",
                "landing/alb/"
            ]
        );
        for (i, a) in prefixes.iter().enumerate() {
            for b in prefixes.iter().skip(i + 1) {
                assert!(!a.starts_with(b) && !b.starts_with(a), "{a} overlaps {b}");
            }
        }
    }

    #[test]
    fn event_keys_decode_with_form_rules() {
        let cases = [
            ("landing/hit_data/a+b.tsv", "landing/hit_data/a b.tsv"),
            ("landing/hit_data/a%2Bb.tsv", "landing/hit_data/a+b.tsv"),
            ("dt%3D2026-11-21/x", "dt=2026-11-21/x"),
            ("caf%C3%A9+%F0%9F%98%80.json", "café 😀.json"),
            ("bad%FF", "bad\u{FFFD}"),
            ("100%", "100%"),
        ];
        for (raw, want) in cases {
            assert_eq!(decode_event_key(raw), want, "{raw}");
        }
    }

    #[test]
    fn source_id_is_stable_and_version_sensitive() {
        let a = source_id("lake", "raw/x", "etag1");
        assert_eq!(a.len(), 20);
        assert_eq!(a, source_id("lake", "raw/x", "etag1"));
        assert_ne!(a, source_id("lake", "raw/x", "etag2"));
        assert_ne!(source_id("lake", "ab", "c"), source_id("lake", "a", "bc"));
    }

    #[test]
    fn loader_message_schema() {
        let m = LoaderMessage {
            v: 1,
            pipeline: "user_events".into(),
            table: "tracking.events".into(),
            spec_version: 3,
            source: ObjectVersion {
                bucket: "lake".into(),
                key: "raw/k".into(),
                version: "e1".into(),
            },
            objects: vec![CuratedObject {
                bucket: "lake".into(),
                key: "curated/k".into(),
                version: "e2".into(),
                bytes: 10,
                rows: 2,
                min_event_time: Some("2020-06-01 00:00:24.000000".into()),
                max_event_time: None,
            }],
            rejected: 1,
        };
        let json = serde_json::to_value(&m).unwrap_or_default();
        assert_eq!(
            json["objects"][0]["min_event_time"],
            "2020-06-01 00:00:24.000000"
        );
        assert!(json["objects"][0].get("max_event_time").is_none());
        let back: LoaderMessage = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, m);
    }

    #[test]
    fn error_output_and_archive_keys() {
        let layout = Layout::single_bucket("lake");
        let key =
            "errors/firehose/processing-failed/dt=2026-11-21/hour=10/s-1-2026-11-21-10-00-00-x";
        assert_eq!(
            layout.error_output_type("lake", key),
            Some("processing-failed")
        );
        assert_eq!(layout.error_output_type("other", key), None);
        assert_eq!(layout.error_output_type("lake", "errors/rejects/x"), None);
        assert_eq!(
            layout.firehose_archive_key(key).as_deref(),
            Some("errors/firehose-archive/processing-failed/dt=2026-11-21/hour=10/s-1-2026-11-21-10-00-00-x")
        );
        assert_eq!(
            layout.firehose_archive_key("errors/firehose-archive/x"),
            None
        );
        assert_eq!(
            layout.kinesis_archive_key("failures", "aws/lambda/uuid/shardId-0/2026/11/21/x"),
            "errors/kinesis-archive/failures/aws/lambda/uuid/shardId-0/2026/11/21/x"
        );
    }
}
