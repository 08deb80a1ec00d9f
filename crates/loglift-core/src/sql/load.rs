//! The dedupe load as a plan: the statements of ONE transaction, each with a [`Role`] and, where
//! its affected-row count feeds the [`LoadReport`], a [`Measure`]. An adapter runs them in order,
//! collects one count per statement and calls [`LoadPlan::report`].
//!
//! The steps: lock the target (Redshift: the ledger, then the target); stage the batch's rows in
//! a temporary table with their position in the batch (`loglift_ord`); leave out the objects the
//! ledger holds (key + version), checked after the lock; keep one row per `event_id`
//! (`keep_first`: the first ingested — earliest `ingested_at`, then batch position, which on
//! Redshift is the source's, COPY keeping no line order; `replace`: the latest by `event_time`,
//! then `ingested_at`, then position); apply by the duplicate policy; record the objects in the
//! ledger. `replace` never lets an older row (by `event_time`, then `ingested_at`) overwrite a
//! newer one, so redeliveries in any order converge on the latest. Rows are matched to the
//! target by `event_id` alone, never by event time: a newer version or a re-sent event whose
//! event time changed still finds the row it supersedes, so the table keeps one row per
//! `event_id` without any uniqueness enforced by the warehouse (Redshift enforces none).
//!
//! Per dialect:
//! - Redshift (Data API `BatchExecuteStatement`, no parameters): one `COPY … MANIFEST FORMAT AS
//!   JSON 'auto' GZIP` of every object. COPY fills only columns present in the JSON, so the rows
//!   are tied to their loader message by the row's own `source_object` (= the message's
//!   `s3://bucket/key#version`); the ledger skip is per source: a source's rows are dropped when
//!   all its objects are in the ledger. Counts come only from UPDATE and DELETE/INSERT statements
//!   (the Data API's `ResultRows` of COPY has been reported as 0, and MERGE's is undocumented):
//!   the staged rows are the rows `TagRows` tags (every row of a source still to load), the
//!   replaced rows those `Replace` updates, the inserted rows those `Insert` inserts. `replace` is
//!   `DropStale` (staged rows older than the target's), an `UPDATE … FROM` of the target,
//!   `DropExisting` (the ids the target now holds), then the insert — no `MERGE`. The plan is 15
//!   (`keep_first`) or 17 (`replace`) statements whatever the batch size; the objects are listed
//!   once as literals, so the batch is bounded by the 100 KB statement limit (about 200 objects
//!   with typical keys): the builder errors beyond it and the caller splits.
//! - PostgreSQL: the ledger is read first (after the lock) and only unloaded objects are streamed
//!   into `COPY … FROM STDIN`. `keep_first`: one `INSERT … SELECT … ORDER BY ingested_at,
//!   loglift_ord ON CONFLICT ("event_id") DO NOTHING` (the first copy ingested wins, then the
//!   first in batch order; later copies and ids the table holds conflict). `replace`: `DISTINCT ON ("event_id")` into `loglift_dedup`, an
//!   `UPDATE … FROM` of the rows that are not newer, then the insert. Both use the unique index
//!   on `event_id` (no table scan, so no window).
//! - SQLite: the same with `BEGIN IMMEDIATE` as the lock and prepared inserts.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;

use super::ddl::{checked_columns, column_definitions, ledger_ref, timestamp_literal};
use super::{literal, Dialect, SqlError, TableColumn, TableName};
use crate::spec::{DuplicatePolicy, Pipeline};
use crate::storage::{CuratedObject, LoadBatch, LoadReport};
use crate::timefmt;

/// Most statements in one `BatchExecuteStatement`.
pub const MAX_BATCH_STATEMENTS: usize = 40;
/// Redshift SQL texts must be shorter than this many bytes ("100 KB", read conservatively).
pub const MAX_SQL_BYTES: usize = 100_000;

const STAGE: &str = "\"loglift_stage\"";
const DEDUP: &str = "\"loglift_dedup\"";
const OBJECTS: &str = "\"loglift_objects\"";

/// What a statement does. Parameters (PostgreSQL `$n`, SQLite `?n`) are listed where a role has
/// them; Redshift statements have none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Lock for the transaction: `LOCK` of the ledger then of the target (Redshift, two
    /// statements, always in that order), `LOCK TABLE … IN SHARE ROW EXCLUSIVE MODE` of the target
    /// (PostgreSQL), `BEGIN IMMEDIATE` (SQLite: the adapter commits).
    Lock,
    /// Create a temporary table.
    CreateTemp,
    /// Redshift: list the batch's objects (and their source) in `loglift_objects`.
    RegisterObjects,
    /// Fill staging. Redshift: `COPY` from the manifest; PostgreSQL: `COPY … FROM STDIN`, the rows
    /// of every object not in the ledger, in plan order, `loglift_ord` counting rows from 0;
    /// SQLite: one `INSERT` per such row, the columns then `loglift_ord` bound as `?1…?n`.
    Stage,
    /// Redshift: give each staged row of a source still to load (not skipped) its source's
    /// position, matched by `source_object` (count = rows staged).
    TagRows,
    /// The objects the ledger holds. Redshift: deletes them from `loglift_objects` (count =
    /// objects). PostgreSQL: a query, `$1` keys and `$2` versions (`text[]`), returning the held
    /// `(object_key, object_version)` pairs (count = rows returned). SQLite: a query run once per
    /// object, `?1` key `?2` version, returning a row when held (count = objects held).
    SkipLoadedObjects,
    /// Redshift: delete the staged rows left untagged (sources whose objects are all in the
    /// ledger).
    DropLoadedRows,
    /// Keep one row per `event_id` (into `loglift_dedup`).
    Dedupe,
    /// Redshift: drop the staged ids the target holds (`replace`: after updating them).
    DropExisting,
    /// `replace` on Redshift: drop staged rows older than the target's row.
    DropStale,
    /// `replace`: update the target's rows that are not newer (count = replaced).
    Replace,
    /// Insert the new rows.
    Insert,
    /// Record the objects in the ledger. Redshift: from `loglift_objects`. PostgreSQL: `$1` keys,
    /// `$2` versions, `$3` source objects (`text[]`), `$4` row counts (`bigint[]`) of the objects
    /// not skipped. SQLite: once per object not skipped, `?1` key, `?2` version, `?3` source
    /// object, `?4` row count.
    Ledger,
    /// Drop the temporary tables.
    Cleanup,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Lock => "lock",
            Role::CreateTemp => "create_temp",
            Role::RegisterObjects => "register_objects",
            Role::Stage => "stage",
            Role::TagRows => "tag_rows",
            Role::SkipLoadedObjects => "skip_loaded_objects",
            Role::DropLoadedRows => "drop_loaded_rows",
            Role::Dedupe => "dedupe",
            Role::DropExisting => "drop_existing",
            Role::DropStale => "drop_stale",
            Role::Replace => "replace",
            Role::Insert => "insert",
            Role::Ledger => "ledger",
            Role::Cleanup => "cleanup",
        }
    }
}

/// What a statement's affected-row count means for the [`LoadReport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Objects of the batch the ledger already holds.
    ObjectsSkipped,
    /// Rows staged (of objects not in the ledger).
    RowsStaged,
    /// Target rows replaced.
    Replaced,
    /// Rows inserted.
    Inserted,
}

impl Measure {
    pub fn as_str(self) -> &'static str {
        match self {
            Measure::ObjectsSkipped => "objects_skipped",
            Measure::RowsStaged => "rows_staged",
            Measure::Replaced => "replaced",
            Measure::Inserted => "inserted",
        }
    }
}

/// One statement of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub role: Role,
    pub sql: String,
    pub measure: Option<Measure>,
}

/// One curated object of a batch, in plan order (duplicates of a key + version removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedObject {
    /// Position among the batch's objects.
    pub ord: u32,
    /// Position of its source among the batch's sources (first appearance).
    pub source_ord: u32,
    pub bucket: String,
    pub key: String,
    pub version: String,
    pub bytes: u64,
    pub rows: u64,
    /// `s3://bucket/key#version` of the source object: what its rows carry in `source_object`.
    pub source_object: String,
    pub min_event_time: Option<String>,
    pub max_event_time: Option<String>,
}

/// The batch's curated objects in order (message by message), each key + version once.
pub fn plan_objects(batch: &LoadBatch) -> Vec<PlannedObject> {
    let mut seen = BTreeSet::new();
    let mut sources: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for message in &batch.messages {
        let s = &message.source;
        let source_object = format!("s3://{}/{}#{}", s.bucket, s.key, s.version);
        let source_ord = match sources.iter().position(|x| *x == source_object) {
            Some(i) => i,
            None => {
                sources.push(source_object.clone());
                sources.len() - 1
            }
        };
        for o in &message.objects {
            if !seen.insert((o.bucket.as_str(), o.key.as_str(), o.version.as_str())) {
                continue;
            }
            out.push(PlannedObject {
                ord: u32::try_from(out.len()).unwrap_or(u32::MAX),
                source_ord: u32::try_from(source_ord).unwrap_or(u32::MAX),
                bucket: o.bucket.clone(),
                key: o.key.clone(),
                version: o.version.clone(),
                bytes: o.bytes,
                rows: o.rows,
                source_object: source_object.clone(),
                min_event_time: o.min_event_time.clone(),
                max_event_time: o.max_event_time.clone(),
            });
        }
    }
    out
}

/// A load, as statements to run in order in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadPlan {
    pub dialect: Dialect,
    pub pipeline: String,
    /// The spec's table name (`schema.table`).
    pub table: String,
    pub policy: DuplicatePolicy,
    /// The staged columns in order (`loglift_ord` follows them in staging).
    pub columns: Vec<TableColumn>,
    pub objects: Vec<PlannedObject>,
    /// The batch's event-time window (`YYYY-MM-DD HH:MM:SS.ffffff`, inclusive), when the pipeline
    /// has event time and every object states its bounds. Informational: no plan restricts its
    /// matching to it (an event's stored row may lie outside it when its event time changed).
    pub window: Option<(String, String)>,
    pub statements: Vec<Statement>,
}

impl LoadPlan {
    /// The first statement with `role`.
    pub fn statement(&self, role: Role) -> Option<&Statement> {
        self.statements.iter().find(|s| s.role == role)
    }

    /// The report from one affected-row count per statement, in plan order (counts of
    /// statements without a measure are ignored).
    pub fn report(&self, counts: &[u64]) -> Result<LoadReport, SqlError> {
        if counts.len() != self.statements.len() {
            return Err(SqlError::Counts {
                expected: self.statements.len(),
                given: counts.len(),
            });
        }
        let sum = |measure: Measure| -> u64 {
            self.statements
                .iter()
                .zip(counts)
                .filter(|(s, _)| s.measure == Some(measure))
                .map(|(_, n)| *n)
                .sum()
        };
        let objects_skipped = sum(Measure::ObjectsSkipped);
        let staged = sum(Measure::RowsStaged);
        let replaced = sum(Measure::Replaced);
        let inserted = sum(Measure::Inserted);
        Ok(LoadReport {
            inserted,
            replaced,
            duplicates_skipped: staged.saturating_sub(inserted + replaced),
            objects_skipped,
        })
    }

    /// The plan as a script: each statement after a `-- n. role (measure)` comment, ended by `;`.
    pub fn to_script(&self) -> String {
        let mut out = String::new();
        for (i, s) in self.statements.iter().enumerate() {
            out.push_str(&format!("-- {}. {}", i + 1, s.role.as_str()));
            if let Some(m) = s.measure {
                out.push_str(&format!(" ({})", m.as_str()));
            }
            out.push('\n');
            out.push_str(&s.sql);
            out.push_str(";\n\n");
        }
        out.trim_end().to_owned() + "\n"
    }
}

/// Where Redshift's COPY reads: the manifest the caller wrote (see [`redshift_manifest`]) and the
/// IAM role Redshift assumes to read it and the objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedshiftSource {
    /// `s3://bucket/key` of the manifest.
    pub manifest_url: String,
    /// `arn:aws:iam::123456789012:role/name`.
    pub iam_role: String,
}

/// The COPY manifest of `objects` (each bucket + key once, in order):
/// `{"entries":[{"url":"s3://b/k","mandatory":true,"meta":{"content_length":N}}]}`.
pub fn redshift_manifest(objects: &[CuratedObject]) -> String {
    #[derive(Serialize)]
    struct Manifest {
        entries: Vec<Entry>,
    }
    #[derive(Serialize)]
    struct Entry {
        url: String,
        mandatory: bool,
        meta: Meta,
    }
    #[derive(Serialize)]
    struct Meta {
        content_length: u64,
    }
    let mut seen = BTreeSet::new();
    let entries = objects
        .iter()
        .filter(|o| seen.insert((o.bucket.as_str(), o.key.as_str())))
        .map(|o| Entry {
            url: format!("s3://{}/{}", o.bucket, o.key),
            mandatory: true,
            meta: Meta {
                content_length: o.bytes,
            },
        })
        .collect();
    serde_json::to_string(&Manifest { entries }).unwrap_or_default()
}

/// What every dialect's builder shares.
struct Common {
    target: String,
    table_lit: String,
    pipeline_lit: String,
    loaded_at: String,
    columns: Vec<TableColumn>,
    objects: Vec<PlannedObject>,
    window: Option<(String, String)>,
    has_event_time: bool,
}

impl Common {
    fn new(
        dialect: Dialect,
        pipeline: &Pipeline,
        batch: &LoadBatch,
        loaded_at: DateTime<Utc>,
    ) -> Result<Common, SqlError> {
        if batch.table != pipeline.table {
            return Err(SqlError::WrongTable {
                batch: batch.table.clone(),
                pipeline: pipeline.name.clone(),
                table: pipeline.table.clone(),
            });
        }
        for (index, m) in batch.messages.iter().enumerate() {
            if m.pipeline != pipeline.name {
                return Err(SqlError::WrongPipeline {
                    index,
                    found: m.pipeline.clone(),
                    pipeline: pipeline.name.clone(),
                });
            }
            if m.table != pipeline.table {
                return Err(SqlError::WrongTable {
                    batch: m.table.clone(),
                    pipeline: pipeline.name.clone(),
                    table: pipeline.table.clone(),
                });
            }
        }
        let table = TableName::parse(&pipeline.table)?;
        let columns = checked_columns(pipeline)?;
        super::ident(&pipeline.name)?;
        let objects = plan_objects(batch);
        if objects.is_empty() {
            return Err(SqlError::EmptyBatch);
        }
        let has_event_time = pipeline.event_time.is_some();
        let window = if has_event_time {
            event_window(&objects)?
        } else {
            None
        };
        Ok(Common {
            target: table.sql(dialect),
            table_lit: literal("table", &pipeline.table)?,
            pipeline_lit: literal("pipeline", &pipeline.name)?,
            loaded_at: timestamp_literal(dialect, &timefmt::curated(loaded_at))?,
            columns,
            objects,
            window,
            has_event_time,
        })
    }

    /// `"a", "b", …`, optionally each prefixed by `alias.`.
    fn list(&self, alias: Option<&str>) -> String {
        self.columns
            .iter()
            .map(|c| match alias {
                Some(a) => format!("{a}.\"{}\"", c.name),
                None => format!("\"{}\"", c.name),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `"a" = d."a", …` for every column but `event_id`.
    fn assignments(&self, source: &str) -> String {
        self.columns
            .iter()
            .filter(|c| c.name != "event_id")
            .map(|c| format!("\"{0}\" = {source}.\"{0}\"", c.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Row order inside one `event_id`: the row ranked first is kept.
    fn order(&self, policy: DuplicatePolicy) -> String {
        match policy {
            DuplicatePolicy::KeepFirst => "\"ingested_at\" ASC, \"loglift_ord\" ASC NULLS LAST".into(),
            DuplicatePolicy::Replace if self.has_event_time => "\"event_time\" DESC NULLS LAST, \"ingested_at\" DESC, \"loglift_ord\" DESC NULLS LAST".into(),
            DuplicatePolicy::Replace => "\"ingested_at\" DESC, \"loglift_ord\" DESC NULLS LAST".into(),
        }
    }

    /// True when the staged row `s` is not older than the target row `t`.
    fn not_older(&self, s: &str, t: &str) -> String {
        if self.has_event_time {
            format!("({s}.\"event_time\" > {t}.\"event_time\" OR ({s}.\"event_time\" = {t}.\"event_time\" AND {s}.\"ingested_at\" >= {t}.\"ingested_at\"))")
        } else {
            format!("{s}.\"ingested_at\" >= {t}.\"ingested_at\"")
        }
    }

    fn plan(self, dialect: Dialect, pipeline: &Pipeline, statements: Vec<Statement>) -> LoadPlan {
        LoadPlan {
            dialect,
            pipeline: pipeline.name.clone(),
            table: pipeline.table.clone(),
            policy: pipeline.duplicates,
            columns: self.columns,
            objects: self.objects,
            window: self.window,
            statements,
        }
    }
}

/// The window spanning every object's event-time bounds; `None` if any object lacks them.
fn event_window(objects: &[PlannedObject]) -> Result<Option<(String, String)>, SqlError> {
    let parse = |s: &str| {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").map_err(|_| SqlError::Literal {
            what: "event time bound",
            value: s.chars().take(64).collect(),
            why: "it is not `YYYY-MM-DD HH:MM:SS.ffffff`",
        })
    };
    let mut window: Option<(NaiveDateTime, NaiveDateTime)> = None;
    for o in objects {
        let (Some(lo), Some(hi)) = (o.min_event_time.as_deref(), o.max_event_time.as_deref())
        else {
            return Ok(None);
        };
        let (lo, hi) = (parse(lo)?, parse(hi)?);
        window = Some(match window {
            Some((a, b)) => (a.min(lo), b.max(hi)),
            None => (lo, hi),
        });
    }
    Ok(window.map(|(lo, hi)| {
        (
            timefmt::curated(lo.and_utc()),
            timefmt::curated(hi.and_utc()),
        )
    }))
}

fn st(role: Role, sql: String) -> Statement {
    Statement {
        role,
        sql,
        measure: None,
    }
}

fn measured(role: Role, sql: String, measure: Measure) -> Statement {
    Statement {
        role,
        sql,
        measure: Some(measure),
    }
}

fn check_s3_url(url: &str) -> Result<String, SqlError> {
    let ok = crate::address::S3Url::parse(url).is_some_and(|u| {
        !u.key.is_empty()
            && (3..=63).contains(&u.bucket.len())
            && u.bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    });
    if !ok {
        return Err(SqlError::Literal {
            what: "manifest URL",
            value: url.chars().take(200).collect(),
            why: "it is not s3://bucket/key",
        });
    }
    literal("manifest URL", url)
}

fn check_role_arn(arn: &str) -> Result<String, SqlError> {
    let ok = arn.split_once(":iam::").is_some_and(|(partition, rest)| {
        matches!(partition, "arn:aws" | "arn:aws-cn" | "arn:aws-us-gov")
            && rest.split_once(":role/").is_some_and(|(account, name)| {
                account.len() == 12
                    && account.chars().all(|c| c.is_ascii_digit())
                    && !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c))
            })
    });
    if !ok {
        return Err(SqlError::Literal {
            what: "IAM role ARN",
            value: arn.chars().take(200).collect(),
            why: "it is not arn:aws:iam::<account>:role/<name>",
        });
    }
    literal("IAM role ARN", arn)
}

/// The Redshift plan: run it with `BatchExecuteStatement` after writing [`redshift_manifest`]
/// of the batch's objects to `source.manifest_url`. Errors when a statement would reach
/// [`MAX_SQL_BYTES`] (split the batch) or a literal is unsafe.
pub fn redshift_load_plan(
    pipeline: &Pipeline,
    batch: &LoadBatch,
    source: &RedshiftSource,
    loaded_at: DateTime<Utc>,
) -> Result<LoadPlan, SqlError> {
    let d = Dialect::Redshift;
    let c = Common::new(d, pipeline, batch, loaded_at)?;
    let manifest = check_s3_url(&source.manifest_url)?;
    let role = check_role_arn(&source.iam_role)?;
    let target = &c.target;
    let cols = c.list(None);
    let defs = column_definitions(d, &c.columns, false).join(",\n    ");
    let policy = pipeline.duplicates;
    let ledger = ledger_ref(d);
    let mut s = vec![
        // The ledger, then the target, always in that order and first: every loader and the
        // prune take the ledger first, so they queue instead of forming a serialization cycle.
        st(Role::Lock, format!("LOCK {ledger}")),
        st(Role::Lock, format!("LOCK {target}")),
        st(
            Role::CreateTemp,
            format!("CREATE TEMP TABLE {STAGE} (\n    {defs},\n    \"loglift_ord\" INTEGER\n)"),
        ),
        st(
            Role::CreateTemp,
            format!(
                "CREATE TEMP TABLE {OBJECTS} (\"ord\" INTEGER, \"source_object\" VARCHAR({}), \"object_key\" VARCHAR(1024), \"object_version\" VARCHAR(1024), \"row_count\" BIGINT)",
                super::ddl::SOURCE_OBJECT_BYTES
            ),
        ),
        st(
            Role::CreateTemp,
            format!("CREATE TEMP TABLE {DEDUP} (\n    {defs}\n)"),
        ),
    ];
    let mut rows = Vec::with_capacity(c.objects.len());
    for o in &c.objects {
        rows.push(format!(
            "({}, {}, {}, {}, {})",
            o.source_ord,
            literal("source object", &o.source_object)?,
            literal("object key", &o.key)?,
            literal("object version", &o.version)?,
            o.rows
        ));
    }
    s.push(st(
        Role::RegisterObjects,
        format!(
            "INSERT INTO {OBJECTS} (\"ord\", \"source_object\", \"object_key\", \"object_version\", \"row_count\") VALUES\n    {}",
            rows.join(",\n    ")
        ),
    ));
    // COPY's own ResultRows is not used: the Data API has been seen reporting 0 for it.
    s.push(st(
        Role::Stage,
        format!("COPY {STAGE} FROM {manifest} IAM_ROLE {role} MANIFEST FORMAT AS JSON 'auto' GZIP TIMEFORMAT 'auto' COMPUPDATE OFF STATUPDATE OFF"),
    ));
    s.push(measured(
        Role::SkipLoadedObjects,
        format!("DELETE FROM {OBJECTS} USING {ledger} AS l WHERE {OBJECTS}.\"object_key\" = l.\"object_key\" AND {OBJECTS}.\"object_version\" = l.\"object_version\""),
        Measure::ObjectsSkipped,
    ));
    s.push(measured(
        Role::TagRows,
        format!("UPDATE {STAGE} SET \"loglift_ord\" = o.\"ord\" FROM (SELECT DISTINCT \"ord\", \"source_object\" FROM {OBJECTS}) AS o WHERE {STAGE}.\"source_object\" = o.\"source_object\""),
        Measure::RowsStaged,
    ));
    s.push(st(
        Role::DropLoadedRows,
        format!("DELETE FROM {STAGE} WHERE \"loglift_ord\" IS NULL"),
    ));
    s.push(st(
        Role::Dedupe,
        format!(
            "INSERT INTO {DEDUP} ({cols})\nSELECT {cols}\nFROM (SELECT {cols}, ROW_NUMBER() OVER (PARTITION BY \"event_id\" ORDER BY {}) AS \"loglift_rn\" FROM {STAGE}) AS ranked\nWHERE \"loglift_rn\" = 1",
            c.order(policy)
        ),
    ));
    let drop_existing = st(
        Role::DropExisting,
        format!(
            "DELETE FROM {DEDUP} USING {target} AS t WHERE {DEDUP}.\"event_id\" = t.\"event_id\""
        ),
    );
    if policy == DuplicatePolicy::Replace {
        s.push(st(
            Role::DropStale,
            format!(
                "DELETE FROM {DEDUP} USING {target} AS t WHERE {DEDUP}.\"event_id\" = t.\"event_id\" AND NOT ({})",
                c.not_older(DEDUP, "t")
            ),
        ));
        s.push(measured(
            Role::Replace,
            format!(
                "UPDATE {target} SET {}\nFROM {DEDUP} AS d\nWHERE {target}.\"event_id\" = d.\"event_id\"",
                c.assignments("d")
            ),
            Measure::Replaced,
        ));
    }
    s.push(drop_existing);
    s.push(measured(
        Role::Insert,
        format!("INSERT INTO {target} ({cols})\nSELECT {cols} FROM {DEDUP}"),
        Measure::Inserted,
    ));
    s.push(st(
        Role::Ledger,
        format!(
            "INSERT INTO {ledger} (\"target_table\", \"object_key\", \"object_version\", \"source_object\", \"pipeline\", \"row_count\", \"loaded_at\")\nSELECT {}, \"object_key\", \"object_version\", \"source_object\", {}, \"row_count\", {} FROM {OBJECTS}",
            c.table_lit, c.pipeline_lit, c.loaded_at
        ),
    ));
    s.push(st(
        Role::Cleanup,
        format!("DROP TABLE {STAGE}, {OBJECTS}, {DEDUP}"),
    ));
    if s.len() > MAX_BATCH_STATEMENTS {
        return Err(SqlError::TooManyStatements(s.len()));
    }
    if let Some((index, big)) = s
        .iter()
        .enumerate()
        .find(|(_, x)| x.sql.len() >= MAX_SQL_BYTES)
    {
        return Err(SqlError::StatementTooLarge {
            index,
            role: big.role,
            bytes: big.sql.len(),
        });
    }
    Ok(c.plan(d, pipeline, s))
}

/// The PostgreSQL plan (parameters per [`Role`]); run it inside one transaction.
pub fn postgres_load_plan(
    pipeline: &Pipeline,
    batch: &LoadBatch,
    loaded_at: DateTime<Utc>,
) -> Result<LoadPlan, SqlError> {
    let d = Dialect::Postgres;
    let c = Common::new(d, pipeline, batch, loaded_at)?;
    let target = &c.target;
    let cols = c.list(None);
    let defs = column_definitions(d, &c.columns, false).join(",\n    ");
    let ledger = ledger_ref(d);
    let policy = pipeline.duplicates;
    let mut s = vec![
        st(
            Role::Lock,
            format!("LOCK TABLE {target} IN SHARE ROW EXCLUSIVE MODE"),
        ),
        measured(
            Role::SkipLoadedObjects,
            format!("SELECT l.\"object_key\", l.\"object_version\" FROM {ledger} AS l JOIN unnest($1::text[], $2::text[]) AS o(\"k\", \"v\") ON l.\"object_key\" = o.\"k\" AND l.\"object_version\" = o.\"v\""),
            Measure::ObjectsSkipped,
        ),
        st(
            Role::CreateTemp,
            format!("CREATE TEMP TABLE {STAGE} (\n    {defs},\n    \"loglift_ord\" BIGINT NOT NULL\n) ON COMMIT DROP"),
        ),
        measured(
            Role::Stage,
            format!("COPY {STAGE} ({cols}, \"loglift_ord\") FROM STDIN"),
            Measure::RowsStaged,
        ),
    ];
    let distinct = |order: String| {
        format!(
            "SELECT DISTINCT ON (\"event_id\") {cols} FROM {STAGE} ORDER BY \"event_id\", {order}"
        )
    };
    match policy {
        DuplicatePolicy::KeepFirst => s.push(measured(
            Role::Insert,
            format!(
                "INSERT INTO {target} ({cols})\nSELECT {cols} FROM {STAGE} ORDER BY \"ingested_at\", \"loglift_ord\"\nON CONFLICT (\"event_id\") DO NOTHING"
            ),
            Measure::Inserted,
        )),
        DuplicatePolicy::Replace => {
            s.push(st(
                Role::Dedupe,
                format!(
                    "CREATE TEMP TABLE {DEDUP} ON COMMIT DROP AS\n{}",
                    distinct(c.order(policy))
                ),
            ));
            s.push(measured(
                Role::Replace,
                format!(
                    "UPDATE {target} AS t SET {}\nFROM {DEDUP} AS d\nWHERE t.\"event_id\" = d.\"event_id\" AND {}",
                    c.assignments("d"),
                    c.not_older("d", "t")
                ),
                Measure::Replaced,
            ));
            s.push(measured(
                Role::Insert,
                format!("INSERT INTO {target} ({cols})\nSELECT {cols} FROM {DEDUP}\nON CONFLICT (\"event_id\") DO NOTHING"),
                Measure::Inserted,
            ));
        }
    }
    s.push(st(
        Role::Ledger,
        format!(
            "INSERT INTO {ledger} (\"target_table\", \"object_key\", \"object_version\", \"source_object\", \"pipeline\", \"row_count\", \"loaded_at\")\nSELECT {}, o.\"k\", o.\"v\", o.\"s\", {}, o.\"n\", {} FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS o(\"k\", \"v\", \"s\", \"n\")",
            c.table_lit, c.pipeline_lit, c.loaded_at
        ),
    ));
    Ok(c.plan(d, pipeline, s))
}

/// The SQLite plan (parameters per [`Role`]); the first statement begins the transaction, the
/// adapter commits after the last.
pub fn sqlite_load_plan(
    pipeline: &Pipeline,
    batch: &LoadBatch,
    loaded_at: DateTime<Utc>,
) -> Result<LoadPlan, SqlError> {
    let d = Dialect::Sqlite;
    let c = Common::new(d, pipeline, batch, loaded_at)?;
    let target = &c.target;
    let cols = c.list(None);
    let defs = column_definitions(d, &c.columns, false).join(",\n    ");
    let ledger = ledger_ref(d);
    let policy = pipeline.duplicates;
    let stage = format!("temp.{STAGE}");
    let dedup = format!("temp.{DEDUP}");
    let params = (1..=c.columns.len() + 1)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let ranked = |order: String| {
        format!("SELECT {cols}\nFROM (SELECT {cols}, ROW_NUMBER() OVER (PARTITION BY \"event_id\" ORDER BY {order}) AS \"loglift_rn\" FROM {stage})\nWHERE \"loglift_rn\" = 1")
    };
    let mut s = vec![
        st(Role::Lock, "BEGIN IMMEDIATE".into()),
        measured(
            Role::SkipLoadedObjects,
            format!("SELECT 1 FROM {ledger} WHERE \"object_key\" = ?1 AND \"object_version\" = ?2"),
            Measure::ObjectsSkipped,
        ),
        st(
            Role::CreateTemp,
            format!(
                "CREATE TEMP TABLE {STAGE} (\n    {defs},\n    \"loglift_ord\" INTEGER NOT NULL\n)"
            ),
        ),
        measured(
            Role::Stage,
            format!("INSERT INTO {stage} ({cols}, \"loglift_ord\") VALUES ({params})"),
            Measure::RowsStaged,
        ),
    ];
    match policy {
        DuplicatePolicy::KeepFirst => s.push(measured(
            Role::Insert,
            format!(
                "INSERT INTO {target} ({cols})\n{}\nON CONFLICT (\"event_id\") DO NOTHING",
                ranked("\"ingested_at\", \"loglift_ord\"".into())
            ),
            Measure::Inserted,
        )),
        DuplicatePolicy::Replace => {
            s.push(st(
                Role::Dedupe,
                format!("CREATE TEMP TABLE {DEDUP} AS\n{}", ranked(c.order(policy))),
            ));
            s.push(measured(
                Role::Replace,
                format!(
                    "UPDATE {target} AS t SET {}\nFROM {dedup} AS d\nWHERE t.\"event_id\" = d.\"event_id\" AND {}",
                    c.assignments("d"),
                    c.not_older("d", "t")
                ),
                Measure::Replaced,
            ));
            s.push(measured(
                Role::Insert,
                format!("INSERT INTO {target} ({cols})\nSELECT {cols} FROM {dedup} WHERE true\nON CONFLICT (\"event_id\") DO NOTHING"),
                Measure::Inserted,
            ));
        }
    }
    s.push(st(
        Role::Ledger,
        format!(
            "INSERT INTO {ledger} (\"target_table\", \"object_key\", \"object_version\", \"source_object\", \"pipeline\", \"row_count\", \"loaded_at\") VALUES ({}, ?1, ?2, ?3, {}, ?4, {})",
            c.table_lit, c.pipeline_lit, c.loaded_at
        ),
    ));
    s.push(st(Role::Cleanup, format!("DROP TABLE {stage}")));
    if policy == DuplicatePolicy::Replace {
        s.push(st(Role::Cleanup, format!("DROP TABLE {dedup}")));
    }
    Ok(c.plan(d, pipeline, s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Spec;
    use crate::storage::{LoaderMessage, ObjectVersion};
    use chrono::TimeZone;

    fn spec() -> Spec {
        Spec::parse(include_str!("../../../../spec/pipelines.yaml")).unwrap()
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap()
    }

    fn object(key: &str, lo: Option<&str>, hi: Option<&str>) -> CuratedObject {
        CuratedObject {
            bucket: "lake".into(),
            key: key.into(),
            version: format!("etag-{key}"),
            bytes: 100,
            rows: 3,
            min_event_time: lo.map(str::to_owned),
            max_event_time: hi.map(str::to_owned),
        }
    }

    fn message(p: &Pipeline, source: &str, objects: Vec<CuratedObject>) -> LoaderMessage {
        LoaderMessage {
            v: 1,
            pipeline: p.name.clone(),
            table: p.table.clone(),
            spec_version: 1,
            source: ObjectVersion {
                bucket: "lake".into(),
                key: source.into(),
                version: "v1".into(),
            },
            objects,
            rejected: 0,
        }
    }

    fn source() -> RedshiftSource {
        RedshiftSource {
            manifest_url: "s3://lake/manifests/b1.json".into(),
            iam_role: "arn:aws:iam::123456789012:role/loglift-copy".into(),
        }
    }

    #[test]
    fn objects_are_deduplicated_and_sources_numbered() {
        let spec = spec();
        let p = spec.pipeline("user_events").unwrap();
        let a = object("curated/a", None, None);
        let b = object("curated/b", None, None);
        let batch = LoadBatch {
            attempt: 0,
            table: p.table.clone(),
            messages: vec![
                message(p, "raw/1", vec![a.clone(), b.clone()]),
                message(p, "raw/2", vec![object("curated/c", None, None)]),
                message(p, "raw/1", vec![a, b]),
            ],
        };
        let objects = plan_objects(&batch);
        let view: Vec<(u32, u32, &str, &str)> = objects
            .iter()
            .map(|o| {
                (
                    o.ord,
                    o.source_ord,
                    o.key.as_str(),
                    o.source_object.as_str(),
                )
            })
            .collect();
        assert_eq!(
            view,
            [
                (0, 0, "curated/a", "s3://lake/raw/1#v1"),
                (1, 0, "curated/b", "s3://lake/raw/1#v1"),
                (2, 1, "curated/c", "s3://lake/raw/2#v1"),
            ]
        );
    }

    #[test]
    fn the_window_spans_every_object_or_is_absent() {
        let spec = spec();
        let p = spec.pipeline("user_events").unwrap();
        let batch = |objects| LoadBatch {
            attempt: 0,
            table: p.table.clone(),
            messages: vec![message(p, "raw/1", objects)],
        };
        let plan = postgres_load_plan(
            p,
            &batch(vec![
                object(
                    "a",
                    Some("2020-06-01 00:10:00.000000"),
                    Some("2020-06-01 00:20:00.5"),
                ),
                object(
                    "b",
                    Some("2020-06-01 00:05:00.000000"),
                    Some("2020-06-01 00:15:00.000000"),
                ),
            ]),
            at(),
        )
        .unwrap();
        assert_eq!(
            plan.window,
            Some((
                "2020-06-01 00:05:00.000000".into(),
                "2020-06-01 00:20:00.500000".into()
            ))
        );
        let plan = postgres_load_plan(
            p,
            &batch(vec![
                object("a", Some("2020-06-01 00:10:00.000000"), None),
                object("b", None, None),
            ]),
            at(),
        )
        .unwrap();
        assert_eq!(plan.window, None);
        let bad = postgres_load_plan(
            p,
            &batch(vec![object(
                "a",
                Some("2020-06-01' OR '1"),
                Some("2020-06-01 00:00:00.000000"),
            )]),
            at(),
        );
        assert!(matches!(bad, Err(SqlError::Literal { .. })), "{bad:?}");
        let utm = spec.pipeline("user_utm").unwrap();
        let plan = postgres_load_plan(
            utm,
            &LoadBatch {
                attempt: 0,
                table: utm.table.clone(),
                messages: vec![message(
                    utm,
                    "raw/1",
                    vec![object(
                        "a",
                        Some("2020-06-01 00:10:00.000000"),
                        Some("2020-06-01 00:10:00.000000"),
                    )],
                )],
            },
            at(),
        )
        .unwrap();
        assert_eq!(plan.window, None, "no event time, no window");
    }

    #[test]
    fn redshift_plans_stay_within_the_data_api_limits() {
        let spec = spec();
        for p in &spec.pipelines {
            let many: Vec<CuratedObject> = (0..150)
                .map(|i| {
                    object(
                        &format!("curated/pipeline={}/dt=2020-06-01/hour=00/0123456789abcdef0123-{i:05}.ndjson.gz", p.name),
                        Some("2020-06-01 00:00:00.000000"),
                        Some("2020-06-01 00:59:59.999999"),
                    )
                })
                .collect();
            let batch = LoadBatch {
            attempt: 0,
                table: p.table.clone(),
                messages: vec![message(p, "raw/pipeline=x/dt=2020-06-01/hour=00/kinesis-shardId-000000000000-49540000000000000000000000000000000000000000000000000000-49540000000000000000000000000000000000000000000000000001.ndjson.gz", many)],
            };
            let plan = redshift_load_plan(p, &batch, &source(), at()).unwrap();
            let expected = match p.duplicates {
                DuplicatePolicy::KeepFirst => 15,
                DuplicatePolicy::Replace => 17,
            };
            assert_eq!(plan.statements.len(), expected, "{}", p.name);
            let too_many: Vec<CuratedObject> = (0..1000)
                .map(|i| {
                    object(
                        &format!("curated/{}/{i:05}-{}", p.name, "k".repeat(60)),
                        None,
                        None,
                    )
                })
                .collect();
            let batch = LoadBatch {
                attempt: 0,
                table: p.table.clone(),
                messages: vec![message(p, "raw/1", too_many)],
            };
            let err = redshift_load_plan(p, &batch, &source(), at());
            assert!(
                matches!(
                    err,
                    Err(SqlError::StatementTooLarge {
                        role: Role::RegisterObjects,
                        ..
                    })
                ),
                "{err:?}"
            );
        }
    }

    #[test]
    fn unsafe_redshift_inputs_are_refused() {
        let spec = spec();
        let p = spec.pipeline("user_events").unwrap();
        let batch = LoadBatch {
            attempt: 0,
            table: p.table.clone(),
            messages: vec![message(p, "raw/1", vec![object("curated/a", None, None)])],
        };
        for (url, role) in [
            ("https://lake/m.json", "arn:aws:iam::123456789012:role/r"),
            ("s3://lake/m.json\n--", "arn:aws:iam::123456789012:role/r"),
            ("s3://LAKE/m.json", "arn:aws:iam::123456789012:role/r"),
            ("s3://lake/m.json", "arn:aws:iam::1234:role/r"),
            ("s3://lake/m.json", "arn:aws:iam::123456789012:role/r' x"),
            ("s3://lake/m.json", "arn:aws:iam::123456789012:user/r"),
        ] {
            let source = RedshiftSource {
                manifest_url: url.into(),
                iam_role: role.into(),
            };
            let plan = redshift_load_plan(p, &batch, &source, at());
            assert!(
                matches!(plan, Err(SqlError::Literal { .. })),
                "{url} {role}: {plan:?}"
            );
        }
        let mut quoted = batch.clone();
        quoted.messages[0].objects[0].key = "curated/o'brien".into();
        let plan = redshift_load_plan(p, &quoted, &source(), at()).unwrap();
        let register = plan.statement(Role::RegisterObjects).unwrap();
        assert!(
            register.sql.contains("'curated/o''brien'"),
            "{}",
            register.sql
        );
        let mut slashed = batch.clone();
        slashed.messages[0].objects[0].key = "curated\\x".into();
        assert!(redshift_load_plan(p, &slashed, &source(), at()).is_err());
    }

    #[test]
    fn batches_for_another_table_or_pipeline_are_refused() {
        let spec = spec();
        let p = spec.pipeline("user_events").unwrap();
        let utm = spec.pipeline("user_utm").unwrap();
        let batch = LoadBatch {
            attempt: 0,
            table: p.table.clone(),
            messages: vec![message(utm, "raw/1", vec![object("a", None, None)])],
        };
        assert!(matches!(
            postgres_load_plan(p, &batch, at()),
            Err(SqlError::WrongPipeline { .. })
        ));
        let batch = LoadBatch {
            attempt: 0,
            table: utm.table.clone(),
            messages: vec![],
        };
        assert!(matches!(
            sqlite_load_plan(p, &batch, at()),
            Err(SqlError::WrongTable { .. })
        ));
        let batch = LoadBatch {
            attempt: 0,
            table: p.table.clone(),
            messages: vec![message(p, "raw/1", vec![])],
        };
        assert_eq!(sqlite_load_plan(p, &batch, at()), Err(SqlError::EmptyBatch));
    }

    #[test]
    fn reports_come_from_the_measured_counts() {
        let spec = spec();
        let utm = spec.pipeline("user_utm").unwrap();
        let batch = LoadBatch {
            attempt: 0,
            table: utm.table.clone(),
            messages: vec![message(utm, "raw/1", vec![object("a", None, None)])],
        };
        let plan = redshift_load_plan(utm, &batch, &source(), at()).unwrap();
        // 8 rows tagged (COPY's own count is ignored), 1 object skipped, 3 replaced, 4 inserted:
        // 8 staged - 7 applied = 1 duplicate.
        let counts: Vec<u64> = plan
            .statements
            .iter()
            .map(|s| match s.measure {
                Some(Measure::RowsStaged) => 8,
                Some(Measure::ObjectsSkipped) => 1,
                Some(Measure::Replaced) => 3,
                Some(Measure::Inserted) => 4,
                None => 1000,
            })
            .collect();
        assert_eq!(
            plan.statement(Role::Stage).and_then(|s| s.measure),
            None,
            "COPY's ResultRows is not trusted"
        );
        assert_eq!(
            plan.statement(Role::TagRows).and_then(|s| s.measure),
            Some(Measure::RowsStaged)
        );
        assert_eq!(
            plan.report(&counts).unwrap(),
            LoadReport {
                inserted: 4,
                replaced: 3,
                duplicates_skipped: 1,
                objects_skipped: 1
            }
        );
        assert_eq!(
            plan.report(&counts[1..]),
            Err(SqlError::Counts {
                expected: counts.len(),
                given: counts.len() - 1
            })
        );
        let plan = postgres_load_plan(utm, &batch, at()).unwrap();
        let counts: Vec<u64> = plan
            .statements
            .iter()
            .map(|s| match s.measure {
                Some(Measure::RowsStaged) => 10,
                Some(Measure::Replaced) => 3,
                Some(Measure::Inserted) => 5,
                _ => 0,
            })
            .collect();
        assert_eq!(
            plan.report(&counts).unwrap(),
            LoadReport {
                inserted: 5,
                replaced: 3,
                duplicates_skipped: 2,
                objects_skipped: 0
            }
        );
    }

    #[test]
    fn redshift_plans_lock_ledger_then_target_and_match_by_event_id_alone() {
        let spec = spec();
        let mut pipelines: Vec<Pipeline> = spec.pipelines.clone();
        for p in &spec.pipelines {
            let mut other = p.clone();
            other.duplicates = match p.duplicates {
                DuplicatePolicy::KeepFirst => DuplicatePolicy::Replace,
                DuplicatePolicy::Replace => DuplicatePolicy::KeepFirst,
            };
            pipelines.push(other);
        }
        for p in &pipelines {
            let batch = LoadBatch {
                attempt: 0,
                table: p.table.clone(),
                messages: vec![message(
                    p,
                    "raw/1",
                    vec![object(
                        "curated/a",
                        Some("2020-06-01 00:10:00.000000"),
                        Some("2020-06-01 00:20:00.000000"),
                    )],
                )],
            };
            let plan = redshift_load_plan(p, &batch, &source(), at()).unwrap();
            let target = TableName::parse(&p.table).unwrap().sql(Dialect::Redshift);
            let sqls: Vec<&str> = plan.statements.iter().map(|s| s.sql.as_str()).collect();
            assert_eq!(
                sqls[..2],
                [
                    "LOCK \"loglift\".\"loglift_load_ledger\"".to_owned(),
                    format!("LOCK {target}")
                ],
                "{}",
                p.name
            );
            assert!(
                plan.statements.iter().skip(2).all(|s| s.role != Role::Lock),
                "{}",
                p.name
            );
            for sql in &sqls {
                assert!(
                    !sql.contains("BETWEEN"),
                    "{} matches by window: {sql}",
                    p.name
                );
                assert!(!sql.starts_with("MERGE"), "{}: {sql}", p.name);
                assert!(!sql.contains("ON CONFLICT"), "{}: {sql}", p.name);
            }
            // Every statement that touches the target joins on event_id only.
            for s in &plan.statements {
                if matches!(s.role, Role::DropExisting | Role::DropStale | Role::Replace) {
                    assert!(s.sql.contains("\"event_id\" = "), "{}: {}", p.name, s.sql);
                }
            }
            let measured: Vec<(Role, Measure)> = plan
                .statements
                .iter()
                .filter_map(|s| s.measure.map(|m| (s.role, m)))
                .collect();
            let mut want = vec![
                (Role::SkipLoadedObjects, Measure::ObjectsSkipped),
                (Role::TagRows, Measure::RowsStaged),
            ];
            if p.duplicates == DuplicatePolicy::Replace {
                want.push((Role::Replace, Measure::Replaced));
            }
            want.push((Role::Insert, Measure::Inserted));
            assert_eq!(measured, want, "{}", p.name);
        }
    }

    #[test]
    fn manifest_lists_each_key_once() {
        let mut a = object("curated/a b+c", None, None);
        a.bytes = 42;
        let again = CuratedObject {
            version: "other".into(),
            ..a.clone()
        };
        let m = redshift_manifest(&[a, object("curated/z", None, None), again]);
        assert_eq!(
            m,
            r#"{"entries":[{"url":"s3://lake/curated/a b+c","mandatory":true,"meta":{"content_length":42}},{"url":"s3://lake/curated/z","mandatory":true,"meta":{"content_length":100}}]}"#
        );
    }
}
