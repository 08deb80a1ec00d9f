//! The pipeline spec: one YAML file declares every pipeline (how its records are matched, their
//! format, schema, identity, event time, destination table, duplicate policy and jobs).
//!
//! [`Spec::parse`] reads the text and checks it whole; every problem comes back as a
//! [`SpecError`] with the line and the field path (`pipelines[2].columns[0].type`), so
//! `loglift spec check` can point at it. Terraform reads the same file with `yamldecode`.

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

/// `[a-z_][a-z0-9_]*`, at most 127 bytes: safe to splice into SQL and S3 keys unquoted.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && s.len() <= 127
}

fn is_stream_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn is_dotted_path(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(|part| !part.is_empty())
}

/// The checks serde cannot make. Returns `(path, message)` pairs.
fn check(spec: &Spec) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let mut err = |path: String, message: String| errors.push((path, message));
    if spec.version == 0 {
        err("version".into(), "must be 1 or more".into());
    }
    if spec.pipelines.is_empty() {
        err("pipelines".into(), "at least one pipeline is needed".into());
    }
    let mut names = BTreeSet::new();
    let mut prefixes: Vec<(usize, &str)> = Vec::new();
    let mut tables: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, p) in spec.pipelines.iter().enumerate() {
        let at = |field: &str| format!("pipelines[{i}].{field}");
        if !is_identifier(&p.name) || p.name.len() > 63 {
            err(at("name"), format!("`{}` must be lowercase letters, digits and `_`, starting with a letter or `_`, at most 63 bytes", p.name));
        }
        if !names.insert(p.name.as_str()) {
            err(
                at("name"),
                format!("pipeline `{}` is declared twice", p.name),
            );
        }
        let table_parts: Vec<&str> = p.table.split('.').collect();
        if table_parts.len() > 2 || !table_parts.iter().all(|part| is_identifier(part)) {
            err(
                at("table"),
                format!(
                    "`{}` must be `schema.table` or `table` of lowercase identifiers",
                    p.table
                ),
            );
        }
        if let Some(other) = tables.insert(p.table.as_str(), i) {
            err(
                at("table"),
                format!(
                    "table `{}` is already the destination of pipelines[{other}]",
                    p.table
                ),
            );
        }
        check_match(p, &at, &mut err);
        if let Some(prefix) = p.matcher.s3_prefix.as_deref() {
            for (j, other) in &prefixes {
                if prefix.starts_with(other) || other.starts_with(prefix) {
                    err(at("match.s3_prefix"), format!("`{prefix}` overlaps pipelines[{j}]'s `{other}`: S3 notification filters must not overlap"));
                }
            }
            prefixes.push((i, prefix));
        }
        check_columns(p, &at, &mut err);
        check_identity(p, &at, &mut err);
        crate::textlog::check(p, &at, &mut err);
        if let Some(et) = p.event_time.as_deref() {
            match p.column(et) {
                None => err(
                    at("event_time"),
                    format!("`{et}` is not a column of this pipeline"),
                ),
                Some(c) if c.kind != ColumnType::Timestamp => err(
                    at("event_time"),
                    format!("column `{et}` must have type timestamp"),
                ),
                Some(_) => {}
            }
        }
        for (j, job) in p.jobs.iter().enumerate() {
            let at_job = |field: &str| at(&format!("jobs[{j}].{field}"));
            match job {
                Job::SearchKeywordRevenue { .. } => {
                    if p.format != Format::Tsv {
                        err(at_job("kind"), "search_keyword_revenue reads hit-level TSV: the pipeline's format must be tsv".into());
                    }
                    for needed in [
                        "hit_time_gmt",
                        "ip",
                        "event_list",
                        "page_url",
                        "product_list",
                        "referrer",
                    ] {
                        if p.columns.iter().all(|c| c.source_path() != needed) {
                            err(
                                at_job("kind"),
                                format!(
                                    "search_keyword_revenue needs a column with source `{needed}`"
                                ),
                            );
                        }
                    }
                }
                Job::ConsolidateByPriority {
                    key,
                    partner_field,
                    priority,
                    max_file_bytes,
                } => {
                    for (field, value) in [("key", key), ("partner_field", partner_field)] {
                        if !is_dotted_path(value) {
                            err(at_job(field), "must be a field name or dotted path".into());
                        }
                    }
                    if *max_file_bytes < 1024 {
                        err(at_job("max_file_bytes"), "must be at least 1024".into());
                    }
                    match priority {
                        PrioritySource::List(list) if list.is_empty() => err(
                            at_job("priority"),
                            "the priority list is empty: no partner could win".into(),
                        ),
                        PrioritySource::Dynamodb {
                            table,
                            attribute,
                            key_name,
                            ..
                        } if table.is_empty() || attribute.is_empty() || key_name.is_empty() => {
                            err(
                                at_job("priority"),
                                "dynamodb needs table, key_name, key_value and attribute".into(),
                            )
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    errors
}

fn check_match(p: &Pipeline, at: &dyn Fn(&str) -> String, err: &mut dyn FnMut(String, String)) {
    let m = &p.matcher;
    if m.stream.is_none() && m.topic.is_none() && m.log_group.is_none() && m.s3_prefix.is_none() {
        err(
            at("match"),
            "give at least one of stream, topic, log_group, s3_prefix".into(),
        );
    }
    if let Some(stream) = m.stream.as_deref() {
        if !is_stream_name(stream) {
            err(
                at("match.stream"),
                format!("`{stream}` is not a Kinesis stream name ([A-Za-z0-9_.-], 1-128)"),
            );
        }
    }
    if let Some(topic) = &m.topic {
        if !is_dotted_path(&topic.field) {
            err(
                at("match.topic.field"),
                "must be a field name or dotted path".into(),
            );
        }
        if let Err(e) = glob::Pattern::new(&topic.glob) {
            err(at("match.topic.glob"), format!("not a valid glob: {e}"));
        }
    }
    if let Some(group) = m.log_group.as_deref() {
        if let Err(e) = glob::Pattern::new(group) {
            err(at("match.log_group"), format!("not a valid glob: {e}"));
        }
        if p.format != Format::CloudwatchLogs {
            err(
                at("format"),
                "a pipeline matched by log_group must have format cloudwatch_logs".into(),
            );
        }
    }
    if let Some(prefix) = m.s3_prefix.as_deref() {
        let ok = prefix.ends_with('/')
            && !prefix.starts_with('/')
            && prefix
                .split('/')
                .filter(|s| !s.is_empty())
                .all(|s| s != ".." && s != ".")
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '='));
        if !ok {
            err(
                at("match.s3_prefix"),
                format!(
                    "`{prefix}` must be a relative key prefix ending in `/` ([A-Za-z0-9_.=/-])"
                ),
            );
        }
        if m.stream.is_some() || m.log_group.is_some() {
            err(
                at("match"),
                "s3_prefix matches files; it cannot be combined with stream or log_group".into(),
            );
        }
    } else if p.format == Format::Tsv {
        err(
            at("format"),
            "tsv is read from files only: the pipeline needs match.s3_prefix".into(),
        );
    }
    if p.format == Format::CloudwatchLogs && m.log_group.is_none() {
        err(
            at("match.log_group"),
            "format cloudwatch_logs needs a log_group glob".into(),
        );
    }
}

fn check_columns(p: &Pipeline, at: &dyn Fn(&str) -> String, err: &mut dyn FnMut(String, String)) {
    if p.columns.is_empty() {
        err(at("columns"), "at least one column is needed".into());
    }
    let mut seen = BTreeSet::new();
    for (k, c) in p.columns.iter().enumerate() {
        let at_col = |field: &str| at(&format!("columns[{k}].{field}"));
        if !is_identifier(&c.name) {
            err(
                at_col("name"),
                format!(
                    "`{}` must be a lowercase identifier ([a-z_][a-z0-9_]*, at most 127 bytes)",
                    c.name
                ),
            );
        }
        if SYSTEM_COLUMNS.contains(&c.name.as_str()) {
            err(
                at_col("name"),
                format!(
                    "`{}` is a system column of every curated row; rename it and set source: {}",
                    c.name, c.name
                ),
            );
        }
        if !seen.insert(c.name.as_str()) {
            err(
                at_col("name"),
                format!("column `{}` is declared twice", c.name),
            );
        }
        if let Some(source) = c.source.as_deref() {
            if !is_dotted_path(source) {
                err(
                    at_col("source"),
                    "must be a field name or dotted path".into(),
                );
            }
        }
        match (c.kind, c.max_bytes) {
            (ColumnType::String, Some(n)) if n == 0 || n > MAX_VARCHAR_BYTES => err(
                at_col("max_bytes"),
                format!("must be 1 to {MAX_VARCHAR_BYTES} for a string column"),
            ),
            (ColumnType::Json, Some(n)) if n == 0 || n > MAX_JSON_BYTES => err(
                at_col("max_bytes"),
                format!("must be 1 to {MAX_JSON_BYTES} for a json column"),
            ),
            (
                ColumnType::Int | ColumnType::Float | ColumnType::Bool | ColumnType::Timestamp,
                Some(_),
            ) => err(
                at_col("max_bytes"),
                "only string and json columns take max_bytes".into(),
            ),
            _ => {}
        }
        if c.time_format.is_some() && c.kind != ColumnType::Timestamp {
            err(
                at_col("time_format"),
                "only timestamp columns take time_format".into(),
            );
        }
    }
}

fn check_identity(p: &Pipeline, at: &dyn Fn(&str) -> String, err: &mut dyn FnMut(String, String)) {
    match &p.identity {
        Identity::Field(path) if !is_dotted_path(path) => err(
            at("identity.field"),
            "must be a field name or dotted path".into(),
        ),
        Identity::Hash(fields) if fields.is_empty() => {
            err(at("identity.hash"), "list at least one field".into())
        }
        Identity::Hash(fields) if fields.iter().any(|f| !is_dotted_path(f)) => err(
            at("identity.hash"),
            "every entry must be a field name or dotted path".into(),
        ),
        Identity::LogEventId if p.format != Format::CloudwatchLogs => err(
            at("identity"),
            "log_event_id needs format cloudwatch_logs".into(),
        ),
        _ => {}
    }
}

/// Find the line of a field path (`pipelines[2].columns[0].type`) in block-style YAML, falling back
/// to the nearest enclosing item found. Best effort: the path is always reported as well.
fn locate(text: &str, path: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let is_content = |l: &str| {
        let t = l.trim_start();
        !t.is_empty() && !t.starts_with('#')
    };
    // Current search window [start, end) of lines and the line found so far.
    let (mut start, mut end, mut found) = (0usize, lines.len(), None);
    for segment in path.split('.') {
        let (key, index) = match segment.split_once('[') {
            Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (segment, None),
        };
        // The key's line: the first line in the window whose text starts with `key:` (possibly
        // after `- ` or inside a flow mapping `{ key: ... }`).
        let key_line = (start..end).find(|&n| {
            lines.get(n).is_some_and(|l| {
                let t = l.trim_start().trim_start_matches("- ").trim_start();
                t.starts_with(&format!("{key}:"))
                    || l.contains(&format!("{{ {key}:"))
                    || l.contains(&format!(", {key}:"))
            })
        });
        let Some(kl) = key_line else {
            return found.map(|n: usize| n + 1);
        };
        found = Some(kl);
        let key_indent = lines.get(kl).map(|l| indent(l)).unwrap_or(0);
        // The key's block ends at the next content line indented no deeper than the key.
        let block_end = (kl + 1..end)
            .find(|&n| {
                lines.get(n).is_some_and(|l| {
                    is_content(l) && indent(l) <= key_indent && !l.trim_start().starts_with("- ")
                })
            })
            .unwrap_or(end);
        let block_end = block_end.max(kl + 1);
        match index {
            None => {
                start = kl;
                end = block_end;
            }
            Some(i) => {
                // Items: lines starting with `- ` at the shallowest indent within the block.
                let items: Vec<usize> = (kl + 1..block_end)
                    .filter(|&n| {
                        lines
                            .get(n)
                            .is_some_and(|l| l.trim_start().starts_with("- "))
                    })
                    .collect();
                let item_indent = items
                    .iter()
                    .filter_map(|&n| lines.get(n).map(|l| indent(l)))
                    .min();
                let items: Vec<usize> = items
                    .into_iter()
                    .filter(|&n| lines.get(n).map(|l| indent(l)) == item_indent)
                    .collect();
                let Some(&item) = items.get(i) else {
                    return found.map(|n| n + 1);
                };
                found = Some(item);
                start = item;
                end = items.get(i + 1).copied().unwrap_or(block_end);
            }
        }
    }
    found.map(|n| n + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../../spec/pipelines.yaml");

    #[test]
    fn shipped_spec_is_valid_and_covers_the_seeds() {
        let spec = Spec::parse(SHIPPED).unwrap_or_else(|e| panic!("{e:?}"));
        let names: Vec<&str> = spec.pipelines.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "user_events",
                "user_utm",
                "app_logs",
                "hit_data",
                "partner_catalog",
                "lambda_logs",
                "alb_access"
            ]
        );
        let utm = spec.pipeline("user_utm").unwrap();
        assert!(utm.event_time.is_none(), "utm has no event time");
        assert_eq!(utm.schema_and_table(), ("tracking", "utm"));
        assert_eq!(
            utm.column("request_id").and_then(|c| c.byte_limit()),
            Some(56)
        );
        let events = spec.pipeline("user_events").unwrap();
        assert_eq!(
            events.event_time_column().map(|c| c.kind),
            Some(ColumnType::Timestamp)
        );
        assert_eq!(
            events.columns.len(),
            11,
            "seed 002 tracking.events has 11 columns"
        );
        assert_eq!(
            spec.pipeline("app_logs").map(|p| p.format),
            Some(Format::CloudwatchLogs)
        );
    }

    fn errors_of(text: &str) -> Vec<SpecError> {
        match Spec::parse(text) {
            Ok(_) => panic!("expected errors for:\n{text}"),
            Err(e) => e,
        }
    }

    #[test]
    fn a_wrong_type_is_reported_with_line_and_field() {
        let broken = SHIPPED.replacen(
            "type: timestamp, required: true }",
            "type: datetime, required: true }",
            1,
        );
        let errors = errors_of(&broken);
        let line = broken
            .lines()
            .position(|l| l.contains("type: datetime"))
            .map(|n| n + 1);
        assert_eq!(errors.len(), 1, "{errors:?}");
        let e = &errors[0];
        assert_eq!(e.line, line, "{e}");
        assert_eq!(e.path, "pipelines[0].columns[1].type", "{e}");
        assert!(e.message.contains("unknown variant `datetime`"), "{e}");
    }

    #[test]
    fn semantic_errors_name_line_and_field() {
        let broken = SHIPPED.replacen(
            "event_time: request_timestamp",
            "event_time: request_time",
            1,
        );
        let errors = errors_of(&broken);
        assert_eq!(errors.len(), 1, "{errors:?}");
        let e = &errors[0];
        assert_eq!(e.path, "pipelines[0].event_time");
        assert_eq!(
            e.line,
            broken
                .lines()
                .position(|l| l.contains("event_time: request_time"))
                .map(|n| n + 1),
            "{e}"
        );
        assert!(
            e.to_string().starts_with(&format!(
                "line {}: pipelines[0].event_time:",
                e.line.unwrap_or(0)
            )),
            "{e}"
        );
    }

    #[test]
    fn column_errors_point_at_the_column_line() {
        let broken = SHIPPED.replacen(
            "{ name: medium, type: string, required: true, max_bytes: 255 }",
            "{ name: medium, type: string, required: true, max_bytes: 70000 }",
            1,
        );
        let errors = errors_of(&broken);
        let e = &errors[0];
        assert_eq!(e.path, "pipelines[1].columns[2].max_bytes", "{errors:?}");
        assert_eq!(
            e.line,
            broken
                .lines()
                .position(|l| l.contains("max_bytes: 70000"))
                .map(|n| n + 1),
            "{e}"
        );
    }

    #[test]
    fn table_driven_rejections() {
        let cases: &[(&str, &str, &str)] = &[
            ("name: user_utm", "name: user_events", "declared twice"),
            (
                "table: tracking.utm",
                "table: tracking.utm; drop",
                "must be `schema.table`",
            ),
            (
                "{ name: source, type: string",
                "{ name: event_id, type: string",
                "system column",
            ),
            (
                "match: { s3_prefix: partner_catalog/ }",
                "match: { s3_prefix: hit_data/x/ }",
                "overlaps",
            ),
            (
                "match: { stream: user-utm }",
                "match: {}",
                "at least one of",
            ),
            ("identity: { field: id }", "identity: log_event_id", ""),
            (
                "identity: { field: request_id }\n    event_time",
                "identity: log_event_id\n    event_time",
                "log_event_id needs format cloudwatch_logs",
            ),
            ("format: tsv", "format: json", "must be tsv"),
            (
                "priority: { list: [expedia, booking, hotels, agoda] }",
                "priority: { list: [] }",
                "empty",
            ),
            ("version: 1", "version: 0", "must be 1 or more"),
            (
                "version: 1",
                "version: 1\nowner: me",
                "unknown field `owner`",
            ),
        ];
        for (from, to, expect) in cases {
            assert!(SHIPPED.contains(from), "fixture text not found: {from}");
            let broken = SHIPPED.replacen(from, to, 1);
            match Spec::parse(&broken) {
                Ok(_) if expect.is_empty() => {}
                Ok(_) => panic!("{from} -> {to}: expected an error containing {expect:?}"),
                Err(errors) => {
                    let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    assert!(
                        all.iter().any(|e| e.contains(expect)),
                        "{from} -> {to}: {all:?}"
                    );
                    assert!(
                        errors.iter().all(|e| e.line.is_some()),
                        "{from} -> {to}: every error has a line: {all:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("tracking"));
        assert!(is_identifier("_x1"));
        assert!(!is_identifier("Tracking"));
        assert!(!is_identifier("1x"));
        assert!(!is_identifier("a-b"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("drop table"));
    }
}
