//! The PostgreSQL plan (`COPY … FROM STDIN`, the unique index on `event_id`).

use super::*;

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
