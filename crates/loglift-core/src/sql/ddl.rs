//! Tables from the spec: the pipeline's columns, then the curated system columns, typed per
//! dialect. Redshift: `VARCHAR(n)` sized in bytes, `SUPER` for json, `DISTSTYLE AUTO`, `SORTKEY`
//! on `event_time` when the pipeline has event time, `ENCODE AUTO`. PostgreSQL: `TEXT`, `JSONB`,
//! `event_id` unique. SQLite: `STRICT` tables of `TEXT`, `INTEGER`, `REAL`, `event_id` unique.
//! Changes are additive only: [`add_column_statements`] adds what the spec has and the table
//! lacks, never drops. The load ledger records each loaded curated object (key + version).

use chrono::{DateTime, Utc};

use super::{ident, literal, Dialect, SqlError, TableName};
use crate::spec::{ColumnType, Pipeline, Spec, MAX_JSON_BYTES, MAX_VARCHAR_BYTES};
use crate::timefmt;

/// The ledger table: `loglift.loglift_load_ledger`, or `loglift_load_ledger` on SQLite.
pub const LEDGER_TABLE: &str = "loglift.loglift_load_ledger";

/// Columns the loader adds to its temporary tables; a table may not use these names.
pub const LOADER_COLUMNS: [&str; 3] = ["loglift_ord", "loglift_rn", "loglift_matched"];

/// Longest `event_id`, in bytes (docs/architecture.md).
pub const EVENT_ID_BYTES: u32 = 256;
/// Longest `source_object` (`s3://` + bucket + `/` + key + `#` + version), in bytes.
pub const SOURCE_OBJECT_BYTES: u32 = 4096;

/// One column of a warehouse table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableColumn {
    pub name: String,
    pub kind: ColumnType,
    /// Longest value in bytes (string and json).
    pub byte_limit: Option<u32>,
    pub not_null: bool,
}

impl TableColumn {
    fn system(name: &str, kind: ColumnType, byte_limit: Option<u32>, not_null: bool) -> Self {
        TableColumn {
            name: name.to_owned(),
            kind,
            byte_limit,
            not_null,
        }
    }

    /// The column's type in `dialect`.
    pub fn sql_type(&self, dialect: Dialect) -> String {
        match (dialect, self.kind) {
            (Dialect::Redshift, ColumnType::String) => format!(
                "VARCHAR({})",
                self.byte_limit
                    .unwrap_or(crate::spec::DEFAULT_STRING_BYTES)
                    .clamp(1, MAX_VARCHAR_BYTES)
            ),
            (Dialect::Redshift | Dialect::Postgres, ColumnType::Int) => "BIGINT".into(),
            (Dialect::Redshift | Dialect::Postgres, ColumnType::Float) => "DOUBLE PRECISION".into(),
            (Dialect::Redshift | Dialect::Postgres, ColumnType::Bool) => "BOOLEAN".into(),
            (Dialect::Redshift | Dialect::Postgres, ColumnType::Timestamp) => "TIMESTAMP".into(),
            (Dialect::Redshift, ColumnType::Json) => "SUPER".into(),
            (Dialect::Postgres, ColumnType::String) => "TEXT".into(),
            (Dialect::Postgres, ColumnType::Json) => "JSONB".into(),
            (Dialect::Sqlite, ColumnType::Int | ColumnType::Bool) => "INTEGER".into(),
            (Dialect::Sqlite, ColumnType::Float) => "REAL".into(),
            (Dialect::Sqlite, ColumnType::String | ColumnType::Timestamp | ColumnType::Json) => {
                "TEXT".into()
            }
        }
    }
}

/// The table's columns in order: the spec's, then `extra`, `event_id`, `event_time`,
/// `source_object`, `spec_version`, `ingested_at` (the curated row's system columns).
pub fn table_columns(pipeline: &Pipeline) -> Vec<TableColumn> {
    let mut columns: Vec<TableColumn> = pipeline
        .columns
        .iter()
        .map(|c| TableColumn {
            name: c.name.clone(),
            kind: c.kind,
            byte_limit: c.byte_limit(),
            not_null: false,
        })
        .collect();
    columns.extend([
        TableColumn::system("extra", ColumnType::Json, Some(MAX_JSON_BYTES), false),
        TableColumn::system("event_id", ColumnType::String, Some(EVENT_ID_BYTES), true),
        TableColumn::system("event_time", ColumnType::Timestamp, None, false),
        TableColumn::system(
            "source_object",
            ColumnType::String,
            Some(SOURCE_OBJECT_BYTES),
            true,
        ),
        TableColumn::system("spec_version", ColumnType::Int, None, true),
        TableColumn::system("ingested_at", ColumnType::Timestamp, None, true),
    ]);
    columns
}

/// The columns, checked: identifiers, no duplicates, no loader column names.
pub(crate) fn checked_columns(pipeline: &Pipeline) -> Result<Vec<TableColumn>, SqlError> {
    let columns = table_columns(pipeline);
    for (i, c) in columns.iter().enumerate() {
        ident(&c.name)?;
        if LOADER_COLUMNS.contains(&c.name.as_str()) {
            return Err(SqlError::ReservedColumn {
                table: pipeline.table.clone(),
                column: c.name.clone(),
            });
        }
        if columns.iter().take(i).any(|o| o.name == c.name) {
            return Err(SqlError::DuplicateColumn {
                table: pipeline.table.clone(),
                column: c.name.clone(),
            });
        }
    }
    Ok(columns)
}

/// `"name" TYPE [NOT NULL]` lines for a column list.
pub(crate) fn column_definitions(
    dialect: Dialect,
    columns: &[TableColumn],
    with_constraints: bool,
) -> Vec<String> {
    columns
        .iter()
        .map(|c| {
            let mut line = format!("\"{}\" {}", c.name, c.sql_type(dialect));
            if with_constraints && c.not_null {
                line.push_str(" NOT NULL");
            }
            if with_constraints && c.name == "event_id" && dialect != Dialect::Redshift {
                line.push_str(" UNIQUE");
            }
            line
        })
        .collect()
}

/// `CREATE SCHEMA IF NOT EXISTS` (not on SQLite, nor for `public`) and `CREATE TABLE IF NOT
/// EXISTS` for the pipeline's table.
pub fn create_table_statements(
    dialect: Dialect,
    pipeline: &Pipeline,
) -> Result<Vec<String>, SqlError> {
    let table = TableName::parse(&pipeline.table)?;
    let columns = checked_columns(pipeline)?;
    let mut statements = Vec::new();
    if let Some(schema) = schema_statement(dialect, &table) {
        statements.push(schema);
    }
    let body = column_definitions(dialect, &columns, true).join(",\n    ");
    let mut create = format!(
        "CREATE TABLE IF NOT EXISTS {} (\n    {body}\n)",
        table.sql(dialect)
    );
    match dialect {
        Dialect::Redshift => {
            create.push_str("\nDISTSTYLE AUTO");
            if pipeline.event_time.is_some() {
                create.push_str("\nSORTKEY (\"event_time\")");
            }
            create.push_str("\nENCODE AUTO");
        }
        Dialect::Postgres => {}
        Dialect::Sqlite => create.push_str(" STRICT"),
    }
    statements.push(create);
    Ok(statements)
}

fn schema_statement(dialect: Dialect, table: &TableName) -> Option<String> {
    match (dialect, table.schema.as_deref()) {
        (Dialect::Sqlite, _) | (_, None | Some("public")) => None,
        (_, Some(schema)) => Some(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"")),
    }
}

/// The ledger as the dialect writes it.
pub(crate) fn ledger_ref(dialect: Dialect) -> String {
    match dialect {
        Dialect::Redshift | Dialect::Postgres => "\"loglift\".\"loglift_load_ledger\"".into(),
        Dialect::Sqlite => "main.\"loglift_load_ledger\"".into(),
    }
}

/// The load ledger: one row per loaded curated object, unique on (object key, object version).
pub fn ledger_statements(dialect: Dialect) -> Vec<String> {
    let (text, key, ts, int) = match dialect {
        Dialect::Redshift => ("VARCHAR(255)", "VARCHAR(1024)", "TIMESTAMP", "BIGINT"),
        Dialect::Postgres => ("TEXT", "TEXT", "TIMESTAMP", "BIGINT"),
        Dialect::Sqlite => ("TEXT", "TEXT", "TEXT", "INTEGER"),
    };
    let source = match dialect {
        Dialect::Redshift => format!("VARCHAR({SOURCE_OBJECT_BYTES})"),
        Dialect::Postgres | Dialect::Sqlite => "TEXT".into(),
    };
    let mut create = format!(
        "CREATE TABLE IF NOT EXISTS {} (\n    \
         \"target_table\" {text} NOT NULL,\n    \
         \"object_key\" {key} NOT NULL,\n    \
         \"object_version\" {key} NOT NULL,\n    \
         \"source_object\" {source} NOT NULL,\n    \
         \"pipeline\" {text} NOT NULL,\n    \
         \"row_count\" {int} NOT NULL,\n    \
         \"loaded_at\" {ts} NOT NULL,\n    \
         UNIQUE (\"object_key\", \"object_version\")\n)",
        ledger_ref(dialect)
    );
    match dialect {
        Dialect::Redshift => {
            create.push_str("\nDISTSTYLE AUTO\nSORTKEY (\"loaded_at\")\nENCODE AUTO");
            vec!["CREATE SCHEMA IF NOT EXISTS \"loglift\"".into(), create]
        }
        Dialect::Postgres => vec![
            "CREATE SCHEMA IF NOT EXISTS \"loglift\"".into(),
            create,
            "CREATE INDEX IF NOT EXISTS \"loglift_load_ledger_loaded_at\" ON \"loglift\".\"loglift_load_ledger\" (\"loaded_at\")".into(),
        ],
        Dialect::Sqlite => {
            create.push_str(" STRICT");
            vec![
                create,
                "CREATE INDEX IF NOT EXISTS main.\"loglift_load_ledger_loaded_at\" ON \"loglift_load_ledger\" (\"loaded_at\")".into(),
            ]
        }
    }
}

/// A query returning the table's existing column names (one text column), for
/// [`add_column_statements`]. No rows when the table does not exist.
pub fn existing_columns_query(dialect: Dialect, pipeline: &Pipeline) -> Result<String, SqlError> {
    let table = TableName::parse(&pipeline.table)?;
    Ok(match dialect {
        Dialect::Redshift => format!(
            "SELECT \"column_name\" FROM svv_columns WHERE \"table_schema\" = {} AND \"table_name\" = {} ORDER BY \"ordinal_position\"",
            literal("schema", table.schema_or_public())?,
            literal("table", &table.table)?
        ),
        Dialect::Postgres => format!(
            "SELECT \"column_name\"::text FROM information_schema.columns WHERE \"table_schema\" = {} AND \"table_name\" = {} ORDER BY \"ordinal_position\"",
            literal("schema", table.schema_or_public())?,
            literal("table", &table.table)?
        ),
        Dialect::Sqlite => format!(
            "SELECT \"name\" FROM pragma_table_info({}) ORDER BY \"cid\"",
            literal("table", &table.sqlite_name())?
        ),
    })
}

/// `ALTER TABLE … ADD COLUMN` for each column of the spec (or system column) not in `existing`
/// (compared case-insensitively), one statement per column (Redshift adds one at a time). Added
/// columns are nullable, whatever the spec says: rows already loaded have no value.
pub fn add_column_statements(
    dialect: Dialect,
    pipeline: &Pipeline,
    existing: &[String],
) -> Result<Vec<String>, SqlError> {
    let table = TableName::parse(&pipeline.table)?;
    let columns = checked_columns(pipeline)?;
    Ok(columns
        .iter()
        .filter(|c| !existing.iter().any(|e| e.eq_ignore_ascii_case(&c.name)))
        .map(|c| {
            format!(
                "ALTER TABLE {} ADD COLUMN \"{}\" {}",
                table.sql(dialect),
                c.name,
                c.sql_type(dialect)
            )
        })
        .collect())
}

/// `LOCK` of the ledger (Redshift and PostgreSQL), for statements that write it outside a load:
/// run it first in the same transaction, as the load plans do, so the two queue instead of
/// forming a serialization cycle.
pub fn lock_ledger_sql(dialect: Dialect) -> String {
    format!("LOCK {}", ledger_ref(dialect))
}

/// `DELETE` of the ledger rows loaded before `before`.
pub fn prune_ledger_sql(dialect: Dialect, before: DateTime<Utc>) -> Result<String, SqlError> {
    Ok(format!(
        "DELETE FROM {} WHERE \"loaded_at\" < {}",
        ledger_ref(dialect),
        timestamp_literal(dialect, &timefmt::curated(before))?
    ))
}

/// The ledger per source object of `pipeline` for source objects in `[from, to)` (byte order:
/// PostgreSQL compares with `COLLATE "C"`). Columns: `source_object`, `objects` (bigint),
/// `row_count` (bigint).
pub fn ledger_sources_sql(
    dialect: Dialect,
    pipeline: &str,
    from: &str,
    to: &str,
) -> Result<String, SqlError> {
    let collate = match dialect {
        Dialect::Postgres => " COLLATE \"C\"",
        Dialect::Redshift | Dialect::Sqlite => "",
    };
    Ok(format!(
        "SELECT \"source_object\", COUNT(*) AS \"objects\", CAST(SUM(\"row_count\") AS BIGINT) AS \"row_count\" \
         FROM {} WHERE \"pipeline\" = {} AND \"source_object\"{collate} >= {} AND \"source_object\"{collate} < {} \
         GROUP BY \"source_object\" ORDER BY \"source_object\"",
        ledger_ref(dialect),
        literal("pipeline", pipeline)?,
        literal("source object", from)?,
        literal("source object", to)?,
    ))
}

/// Per target table: the last load (as `YYYY-MM-DD HH:MM:SS[.f]` text) and the objects and rows
/// loaded since `since`. Columns: `target_table`, `last_loaded_at`, `objects_since`, `rows_since`.
pub fn ledger_tables_sql(dialect: Dialect, since: DateTime<Utc>) -> Result<String, SqlError> {
    let since = timestamp_literal(dialect, &timefmt::curated(since))?;
    Ok(format!(
        "SELECT \"target_table\", CAST(MAX(\"loaded_at\") AS VARCHAR(32)) AS \"last_loaded_at\", \
         CAST(SUM(CASE WHEN \"loaded_at\" >= {since} THEN 1 ELSE 0 END) AS BIGINT) AS \"objects_since\", \
         CAST(SUM(CASE WHEN \"loaded_at\" >= {since} THEN \"row_count\" ELSE 0 END) AS BIGINT) AS \"rows_since\" \
         FROM {} GROUP BY \"target_table\" ORDER BY \"target_table\"",
        ledger_ref(dialect),
    ))
}

/// A `YYYY-MM-DD HH:MM:SS.ffffff` timestamp literal, typed where the dialect types them.
pub(crate) fn timestamp_literal(dialect: Dialect, value: &str) -> Result<String, SqlError> {
    let parsed = chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S%.f");
    if parsed.is_err() || value.len() > 32 {
        return Err(SqlError::Literal {
            what: "timestamp",
            value: value.chars().take(64).collect(),
            why: "it is not `YYYY-MM-DD HH:MM:SS.ffffff`",
        });
    }
    let quoted = literal("timestamp", value)?;
    Ok(match dialect {
        Dialect::Redshift | Dialect::Postgres => format!("{quoted}::timestamp"),
        Dialect::Sqlite => quoted,
    })
}

/// The whole DDL for `loglift warehouse ddl`: the ledger, then each pipeline's schema and table,
/// statements ended by `;`.
pub fn ddl_script(dialect: Dialect, spec: &Spec) -> Result<String, SqlError> {
    let mut out = format!(
        "-- loglift warehouse DDL ({dialect}), spec version {}\n\n-- the load ledger\n",
        spec.version
    );
    for statement in ledger_statements(dialect) {
        out.push_str(&statement);
        out.push_str(";\n\n");
    }
    for pipeline in &spec.pipelines {
        out.push_str(&format!("-- pipeline {}\n", pipeline.name));
        for statement in create_table_statements(dialect, pipeline)? {
            out.push_str(&statement);
            out.push_str(";\n\n");
        }
    }
    Ok(out.trim_end().to_owned() + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Spec;

    fn spec() -> Spec {
        Spec::parse(include_str!("../../../../spec/pipelines.yaml")).unwrap()
    }

    #[test]
    fn seed_002_tables_come_out_of_the_spec() {
        let spec = spec();
        let events = spec.pipeline("user_events").unwrap();
        let ddl = create_table_statements(Dialect::Redshift, events).unwrap();
        assert_eq!(ddl[0], "CREATE SCHEMA IF NOT EXISTS \"tracking\"");
        let create = &ddl[1];
        for want in [
            "CREATE TABLE IF NOT EXISTS \"tracking\".\"events\" (",
            "\"request_id\" VARCHAR(36),",
            "\"request_timestamp\" TIMESTAMP,",
            "\"message\" VARCHAR(3128),",
            "\"location\" VARCHAR(5000),",
            "\"extra\" SUPER,",
            "\"event_id\" VARCHAR(256) NOT NULL,",
            "DISTSTYLE AUTO\nSORTKEY (\"event_time\")\nENCODE AUTO",
        ] {
            assert!(create.contains(want), "{want} missing from {create}");
        }
        let utm = spec.pipeline("user_utm").unwrap();
        let create = create_table_statements(Dialect::Redshift, utm).unwrap();
        assert!(create[1].contains("\"network\" VARCHAR(255)"));
        assert!(!create[1].contains("SORTKEY"), "{}", create[1]);
        let pg = create_table_statements(Dialect::Postgres, utm).unwrap();
        assert!(
            pg[1].contains("\"event_id\" TEXT NOT NULL UNIQUE"),
            "{}",
            pg[1]
        );
        assert!(pg[1].contains("\"extra\" JSONB"), "{}", pg[1]);
        let lite = create_table_statements(Dialect::Sqlite, utm).unwrap();
        assert_eq!(lite.len(), 1);
        assert!(lite[0].starts_with("CREATE TABLE IF NOT EXISTS main.\"tracking__utm\""));
        assert!(lite[0].ends_with(") STRICT"));
    }

    #[test]
    fn bad_identifiers_never_reach_sql() {
        let mut p = spec().pipeline("user_utm").unwrap().clone();
        p.columns[0].name = "x\"; DROP TABLE y; --".into();
        for d in Dialect::ALL {
            assert!(matches!(
                create_table_statements(d, &p),
                Err(SqlError::Identifier(_))
            ));
        }
        let mut p = spec().pipeline("user_utm").unwrap().clone();
        p.table = "tracking.utm; drop".into();
        assert!(matches!(
            create_table_statements(Dialect::Postgres, &p),
            Err(SqlError::Table(_))
        ));
        let mut p = spec().pipeline("user_utm").unwrap().clone();
        p.columns[1].name = "loglift_ord".into();
        assert!(matches!(
            create_table_statements(Dialect::Postgres, &p),
            Err(SqlError::ReservedColumn { .. })
        ));
    }

    #[test]
    fn added_columns_are_the_missing_ones() {
        let spec = spec();
        let p = spec.pipeline("user_utm").unwrap();
        let all: Vec<String> = table_columns(p).iter().map(|c| c.name.clone()).collect();
        assert!(add_column_statements(Dialect::Redshift, p, &all)
            .unwrap()
            .is_empty());
        let upper: Vec<String> = all.iter().map(|c| c.to_uppercase()).collect();
        assert!(add_column_statements(Dialect::Redshift, p, &upper)
            .unwrap()
            .is_empty());
        let without: Vec<String> = all
            .iter()
            .filter(|c| *c != "device" && *c != "extra")
            .cloned()
            .collect();
        assert_eq!(
            add_column_statements(Dialect::Redshift, p, &without).unwrap(),
            [
                "ALTER TABLE \"tracking\".\"utm\" ADD COLUMN \"device\" VARCHAR(255)",
                "ALTER TABLE \"tracking\".\"utm\" ADD COLUMN \"extra\" SUPER",
            ]
        );
        assert_eq!(
            add_column_statements(Dialect::Sqlite, p, &without).unwrap(),
            [
                "ALTER TABLE main.\"tracking__utm\" ADD COLUMN \"device\" TEXT",
                "ALTER TABLE main.\"tracking__utm\" ADD COLUMN \"extra\" TEXT",
            ]
        );
    }

    #[test]
    fn prune_takes_a_formatted_bound() {
        let t = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 21, 10, 0, 0).unwrap();
        assert_eq!(
            prune_ledger_sql(Dialect::Postgres, t).unwrap(),
            "DELETE FROM \"loglift\".\"loglift_load_ledger\" WHERE \"loaded_at\" < '2026-11-21 10:00:00.000000'::timestamp"
        );
        assert!(timestamp_literal(Dialect::Sqlite, "2026-11-21' OR 1=1 --").is_err());
    }
}
