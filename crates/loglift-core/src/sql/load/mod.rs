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
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | roles, measures, [`LoadPlan`] and its report, planned objects, the COPY manifest, what every dialect's builder shares |
//! | `redshift.rs` | [`redshift_load_plan`] |
//! | `postgres.rs` | [`postgres_load_plan`] |
//! | `sqlite.rs` | [`sqlite_load_plan`] |

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

mod postgres;
mod redshift;
mod sqlite;

pub use postgres::*;
pub use redshift::*;
pub use sqlite::*;

#[cfg(test)]
mod tests;
