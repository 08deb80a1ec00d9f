//! The pipeline spec: one YAML file declares every pipeline (how its records are matched, their
//! format, schema, identity, event time, destination table, duplicate policy and jobs).
//!
//! [`Spec::parse`] reads the text and checks it whole; every problem comes back as a
//! [`SpecError`] with the line and the field path (`pipelines[2].columns[0].type`), so
//! `loglift spec check` can point at it. Terraform reads the same file with `yamldecode`.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the spec's types, parsing, lookups |
//! | `check.rs` | the checks a parsed spec must pass, each error located in the YAML |

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

/// Columns every curated row carries besides the schema's; a spec column may not use these names.
pub const SYSTEM_COLUMNS: [&str; 6] = [
    "event_id",
    "event_time",
    "source_object",
    "spec_version",
    "ingested_at",
    "extra",
];

/// The longest string column Redshift allows, in bytes.
pub const MAX_VARCHAR_BYTES: u32 = 65_535;
/// The longest curated row, in bytes of its JSON line (without the newline): Redshift's COPY
/// reads a JSON object of at most 4 MB "before any shredding or parsing" (*Using COPY to load
/// data into SUPER columns*), read conservatively as 4,000,000 bytes.
pub const MAX_ROW_BYTES: u32 = 4_000_000;
/// The longest json (SUPER) value accepted, in bytes: no more than the row that carries it
/// (a SUPER object itself may hold 16 MB, but COPY never reads one that large from JSON).
pub const MAX_JSON_BYTES: u32 = MAX_ROW_BYTES;
/// The longest string inside a json (SUPER) value, in bytes, object keys included: "a single
/// string value loaded to SUPER is limited to the maximum VARCHAR length of 65535 bytes"
/// (*Limitations – SUPER*; 16,000,000 only with the `enable_large_strings_opt_in` parameter).
pub const MAX_SUPER_STRING_BYTES: u32 = MAX_VARCHAR_BYTES;
/// The default size of a string column when the spec gives none (Redshift's own default).
pub const DEFAULT_STRING_BYTES: u32 = 256;

/// A whole spec file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Bumped on every change; recorded in every curated row.
    pub version: u32,
    pub pipelines: Vec<Pipeline>,
    /// A deployment's stream names → the spec's (`match.stream`) names, for a deployment that
    /// names its streams apart from the spec (terraform prefixes them with the deployment name).
    /// Not part of the file: set at init ([`Spec::with_deployed_streams`]) from
    /// `LOGLIFT_STREAM_NAMES`; routing reads a record's stream through it.
    #[serde(skip)]
    pub deployed_streams: BTreeMap<String, String>,
}

/// One pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "match")]
    pub matcher: Match,
    pub format: Format,
    /// `schema.table` (or `table`) in the warehouse.
    pub table: String,
    #[serde(with = "serde_yaml_ng::with::singleton_map")]
    pub identity: Identity,
    /// The column holding the event time; `None` for pipelines without one (dimension tables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time: Option<String>,
    #[serde(default)]
    pub duplicates: DuplicatePolicy,
    pub columns: Vec<Column>,
    /// How a text line (a CloudWatch Logs message, a line of a `format: text` file) becomes
    /// columns; see [`crate::textlog`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<crate::textlog::TextSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<Job>,
    /// How transform writes the pipeline's curated parts (`curated: { format: parquet }`, the
    /// default, or `ndjson`).
    #[serde(default)]
    pub curated: Curated,
}

/// `curated: { format: … }`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Curated {
    #[serde(default)]
    pub format: CuratedFormat,
}

/// The curated lake's file format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CuratedFormat {
    /// Parquet, typed columns, zstd pages (`.parquet`; see `crate::columnar`).
    #[default]
    Parquet,
    /// One JSON object per line, gzip (`.ndjson.gz`).
    Ndjson,
}

impl CuratedFormat {
    /// The curated key's extension.
    pub fn extension(self) -> &'static str {
        match self {
            CuratedFormat::Parquet => "parquet",
            CuratedFormat::Ndjson => "ndjson.gz",
        }
    }

    /// The largest json value (a json column, `extra`) a row may carry in this format: Parquet
    /// parts reach Redshift as a string column staged in `VARCHAR(65535)` and `JSON_PARSE`d
    /// (see docs/architecture.md, *The load*), NDJSON parts as JSON COPY reads it.
    pub fn max_json_bytes(self) -> u32 {
        match self {
            CuratedFormat::Parquet => MAX_VARCHAR_BYTES,
            CuratedFormat::Ndjson => MAX_JSON_BYTES,
        }
    }
}

/// How records find their pipeline. Every criterion given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    /// The Kinesis stream (or Firehose delivery stream) name the record came through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// A field of the event and the values it must have (a glob, such as `dolphin_cms.*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<TopicMatch>,
    /// A glob over CloudWatch Logs group names; `*` matches any run of characters, `/` included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
    /// A key prefix under the landing area for files dropped into S3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_prefix: Option<String>,
}

/// `topic: { field: topic, glob: "dolphin_cms.*" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicMatch {
    pub field: String,
    pub glob: String,
}

/// The shape of the pipeline's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// One JSON object per record.
    Json,
    /// JSON objects, one per line (a file may also hold one JSON array: sniffed).
    Ndjson,
    /// CloudWatch Logs subscription payloads whose messages are JSON objects.
    CloudwatchLogs,
    /// Tab-separated lines with a header line naming the columns (files only).
    Tsv,
    /// One JSON array of objects (a file may also hold JSON lines: sniffed).
    JsonArray,
    /// Plain-text lines (files only), read as the pipeline's `text` says.
    Text,
}

/// How an event's id is computed. The same event gets the same id whichever path it took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Identity {
    /// The value of one field (a dotted path).
    Field(String),
    /// A SHA-256 over the listed fields' values.
    Hash(Vec<String>),
    /// The CloudWatch Logs `logEvents[].id`.
    LogEventId,
}

/// What a load does with an event id the table already holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicatePolicy {
    /// The first loaded row stays; later copies are skipped.
    #[default]
    KeepFirst,
    /// The newest row replaces the loaded one (corrections, backfills after a spec fix).
    Replace,
}

/// One column of the schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ColumnType,
    #[serde(default)]
    pub required: bool,
    /// Longest value in bytes (string and json); Redshift's `VARCHAR(n)` counts bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u32>,
    /// Where the value is in the event (dotted path, or the TSV header name); defaults to `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// How a timestamp column's numbers or strings are read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_format: Option<TimeFormat>,
}

impl Column {
    /// The source path (dotted), defaulting to the column name.
    pub fn source_path(&self) -> &str {
        self.source.as_deref().unwrap_or(&self.name)
    }

    /// The byte limit applied to string and json values.
    pub fn byte_limit(&self) -> Option<u32> {
        match self.kind {
            ColumnType::String => Some(self.max_bytes.unwrap_or(DEFAULT_STRING_BYTES)),
            ColumnType::Json => Some(self.max_bytes.unwrap_or(MAX_VARCHAR_BYTES)),
            _ => None,
        }
    }
}

/// Column types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    String,
    Int,
    Float,
    Bool,
    Timestamp,
    Json,
}

/// How timestamps are read; `auto` takes ISO 8601 / RFC 3339, `YYYY-MM-DD HH:MM:SS[.f]` (UTC),
/// and epoch numbers (milliseconds above 10^11, else seconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeFormat {
    #[default]
    Auto,
    EpochSeconds,
    EpochMillis,
    Rfc3339,
}

/// Jobs a pipeline runs after its rows are curated (implemented by the transform stage).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Job {
    /// Seed 003: revenue per external search engine and keyword.
    SearchKeywordRevenue {
        #[serde(default)]
        attribution: Attribution,
    },
    /// Seed 004: one record per key, from the partner with the best priority.
    ConsolidateByPriority {
        key: String,
        partner_field: String,
        #[serde(with = "serde_yaml_ng::with::singleton_map")]
        priority: PrioritySource,
        #[serde(default = "default_max_file_bytes")]
        max_file_bytes: u64,
    },
}

fn default_max_file_bytes() -> u64 {
    500_000
}

/// Which search visit a purchase is credited to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attribution {
    #[default]
    LastTouch,
    FirstTouch,
}

/// Where the partner priority list comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PrioritySource {
    /// Listed in the spec, best first.
    List(Vec<String>),
    /// Read from a DynamoDB item and cached.
    Dynamodb {
        table: String,
        key_name: String,
        key_value: String,
        attribute: String,
        #[serde(default = "default_ttl")]
        ttl_seconds: u64,
    },
}

fn default_ttl() -> u64 {
    300
}

impl Spec {
    /// The spec as deployed: `spec_to_deployed` maps a spec stream name to the deployed stream's
    /// name (`LOGLIFT_STREAM_NAMES`); a record from a deployed stream routes as if it came
    /// through the spec's stream. Reject records and redrive keep the deployed name.
    pub fn with_deployed_streams<'a>(
        mut self,
        spec_to_deployed: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Spec {
        self.deployed_streams = spec_to_deployed
            .into_iter()
            .map(|(spec_name, deployed)| (deployed.clone(), spec_name.clone()))
            .collect();
        self
    }

    /// Parse and check a spec. Every problem found is returned, each with its line and field.
    pub fn parse(text: &str) -> Result<Spec, Vec<SpecError>> {
        let de = serde_yaml_ng::Deserializer::from_str(text);
        let spec: Spec = match serde_path_to_error::deserialize(de) {
            Ok(spec) => spec,
            Err(err) => {
                let path = err.path().to_string();
                let inner = err.into_inner();
                let line = inner.location().map(|l| l.line());
                let path = if path == "." { String::new() } else { path };
                let message = clean_serde_message(&inner.to_string());
                let message = message
                    .strip_prefix(&format!("{path}: "))
                    .map(str::to_owned)
                    .unwrap_or(message);
                return Err(vec![SpecError {
                    line,
                    path,
                    message,
                }]);
            }
        };
        let errors: Vec<SpecError> = check(&spec)
            .into_iter()
            .map(|(path, message)| SpecError {
                line: locate(text, &path),
                path,
                message,
            })
            .collect();
        if errors.is_empty() {
            Ok(spec)
        } else {
            Err(errors)
        }
    }

    pub fn pipeline(&self, name: &str) -> Option<&Pipeline> {
        self.pipelines.iter().find(|p| p.name == name)
    }
}

impl Pipeline {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The event-time column, when the pipeline has one.
    pub fn event_time_column(&self) -> Option<&Column> {
        self.event_time
            .as_deref()
            .and_then(|name| self.column(name))
    }

    /// `(schema, table)`; the schema is `public` when the spec gives none.
    pub fn schema_and_table(&self) -> (&str, &str) {
        match self.table.split_once('.') {
            Some((schema, table)) => (schema, table),
            None => ("public", self.table.as_str()),
        }
    }
}

/// One problem in a spec, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// 1-based line, when it could be found.
    pub line: Option<usize>,
    /// The field path, such as `pipelines[2].columns[0].type`; empty for the whole document.
    pub path: String,
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.path.is_empty()) {
            (Some(line), false) => write!(f, "line {line}: {}: {}", self.path, self.message),
            (Some(line), true) => write!(f, "line {line}: {}", self.message),
            (None, false) => write!(f, "{}: {}", self.path, self.message),
            (None, true) => write!(f, "{}", self.message),
        }
    }
}

/// serde_yaml_ng appends " at line L column C"; the line is reported separately.
fn clean_serde_message(message: &str) -> String {
    match message.find(" at line ") {
        Some(at) => message.get(..at).unwrap_or(message).to_owned(),
        None => message.to_owned(),
    }
}

mod check;

pub use check::*;

#[cfg(test)]
mod tests;
