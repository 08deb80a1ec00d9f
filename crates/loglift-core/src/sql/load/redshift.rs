//! The Redshift plan (Data API `BatchExecuteStatement`, COPY from a manifest).

use super::*;
use crate::spec::{ColumnType, CuratedFormat, MAX_VARCHAR_BYTES};

/// Parquet parts are copied here first: exactly the part's columns, json as text.
const COPIED: &str = "\"loglift_copied\"";

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
                crate::sql::ddl::SOURCE_OBJECT_BYTES
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
    match pipeline.curated.format {
        CuratedFormat::Ndjson => s.push(st(
            Role::Stage,
            format!("COPY {STAGE} FROM {manifest} IAM_ROLE {role} MANIFEST FORMAT AS JSON 'auto' GZIP TIMEFORMAT 'auto' COMPUPDATE OFF STATUPDATE OFF"),
        )),
        CuratedFormat::Parquet => {
            // Columnar COPY maps the file's columns to the table's by position and takes no
            // column list, so it fills a table of exactly the part's columns; json columns arrive
            // as JSON text (VARCHAR(65535)) and become SUPER through JSON_PARSE on the way into
            // staging (*COPY from columnar data formats*; *JSON_PARSE function*).
            let copy_defs = c
                .columns
                .iter()
                .map(|col| match col.kind {
                    ColumnType::Json => format!("\"{}\" VARCHAR({MAX_VARCHAR_BYTES})", col.name),
                    _ => format!("\"{}\" {}", col.name, col.sql_type(d)),
                })
                .collect::<Vec<_>>()
                .join(",\n    ");
            s.push(st(
                Role::CreateTemp,
                format!("CREATE TEMP TABLE {COPIED} (\n    {copy_defs}\n)"),
            ));
            s.push(st(
                Role::Stage,
                format!("COPY {COPIED} FROM {manifest} IAM_ROLE {role} MANIFEST FORMAT AS PARQUET STATUPDATE OFF"),
            ));
            let parsed = c
                .columns
                .iter()
                .map(|col| match col.kind {
                    ColumnType::Json => format!("JSON_PARSE(\"{}\")", col.name),
                    _ => format!("\"{}\"", col.name),
                })
                .collect::<Vec<_>>()
                .join(", ");
            s.push(st(
                Role::Stage,
                format!("INSERT INTO {STAGE} ({cols})\nSELECT {parsed} FROM {COPIED}"),
            ));
        }
    }
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
    let copied = match pipeline.curated.format {
        CuratedFormat::Parquet => format!(", {COPIED}"),
        CuratedFormat::Ndjson => String::new(),
    };
    s.push(st(
        Role::Cleanup,
        format!("DROP TABLE {STAGE}, {OBJECTS}, {DEDUP}{copied}"),
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
