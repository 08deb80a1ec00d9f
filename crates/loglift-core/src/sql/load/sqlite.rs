//! The SQLite plan (`BEGIN IMMEDIATE`, prepared inserts).

use super::*;

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
