//! SQL text for the warehouses, per [`Dialect`]: the tables from the spec ([`ddl`]), the dedupe
//! load as a plan of statements with a role each ([`load`]), and the curated-row decoder the
//! PostgreSQL and SQLite adapters stage rows with ([`rows`]).
//!
//! Identifiers come from the spec and are checked again ([`ident`]) before any text is emitted;
//! they are always quoted. Row data never enters SQL text: Redshift reads it with `COPY`,
//! PostgreSQL with `COPY FROM STDIN`, SQLite through bound parameters. The only literals are our
//! own S3 URLs and keys, the IAM role ARN, timestamps we format and validated identifiers, each
//! checked by [`literal`] (no control characters, no backslash, quotes doubled).
//!
//! Schemas: Redshift and PostgreSQL keep `schema.table`; SQLite has none, so `schema.table` is
//! the table `schema__table` ([`table_ref`]) and the ledger is `loglift_load_ledger`.

pub mod ddl;
pub mod load;
pub mod rows;

use std::fmt;

use crate::spec::is_identifier;

pub use ddl::{
    add_column_statements, create_table_statements, ddl_script, existing_columns_query,
    ledger_sources_sql, ledger_statements, ledger_tables_sql, lock_ledger_sql, prune_ledger_sql,
    table_columns, TableColumn, LEDGER_TABLE, LOADER_COLUMNS,
};
pub use load::{
    plan_objects, postgres_load_plan, redshift_load_plan, redshift_manifest, sqlite_load_plan,
    LoadPlan, Measure, PlannedObject, RedshiftSource, Role, Statement, MAX_BATCH_STATEMENTS,
    MAX_SQL_BYTES,
};
pub use rows::{
    json_rows, read_rows, row_json, write_copy_row, Cell, ReadRowsError, RowDecoder, RowError,
};

/// The SQL dialects loglift writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Redshift,
    Postgres,
    Sqlite,
}

impl Dialect {
    pub const ALL: [Dialect; 3] = [Dialect::Redshift, Dialect::Postgres, Dialect::Sqlite];

    /// `redshift`, `postgres` or `sqlite`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Redshift => "redshift",
            Dialect::Postgres => "postgres",
            Dialect::Sqlite => "sqlite",
        }
    }

    /// The dialect named `name` (`postgresql` is accepted for `postgres`).
    pub fn parse(name: &str) -> Option<Dialect> {
        match name {
            "redshift" => Some(Dialect::Redshift),
            "postgres" | "postgresql" => Some(Dialect::Postgres),
            "sqlite" => Some(Dialect::Sqlite),
            _ => None,
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why SQL could not be written, or a plan's counts could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    #[error("`{0}` is not an identifier loglift writes into SQL (lowercase letters, digits and `_`, starting with a letter or `_`)")]
    Identifier(String),
    #[error("table `{0}` must be `schema.table` or `table` of identifiers")]
    Table(String),
    #[error("column `{column}` of table `{table}` uses a name the loader keeps for itself")]
    ReservedColumn { table: String, column: String },
    #[error("column `{column}` of table `{table}` is declared twice")]
    DuplicateColumn { table: String, column: String },
    #[error("{what} `{value}` cannot be written as a SQL literal: {why}")]
    Literal {
        what: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("the batch is for table `{batch}`, pipeline `{pipeline}` loads `{table}`")]
    WrongTable {
        batch: String,
        pipeline: String,
        table: String,
    },
    #[error("message {index} of the batch is for pipeline `{found}`, not `{pipeline}`")]
    WrongPipeline {
        index: usize,
        found: String,
        pipeline: String,
    },
    #[error("the batch has no curated objects")]
    EmptyBatch,
    #[error("statement {index} ({role:?}) is {bytes} bytes of SQL; the Data API takes under {MAX_SQL_BYTES}: split the batch")]
    StatementTooLarge {
        index: usize,
        role: Role,
        bytes: usize,
    },
    #[error(
        "the plan has {0} statements; BatchExecuteStatement takes at most {MAX_BATCH_STATEMENTS}"
    )]
    TooManyStatements(usize),
    #[error("the plan has {expected} statements but {given} counts were given")]
    Counts { expected: usize, given: usize },
}

/// `name` double-quoted, after checking it is an identifier ([`is_identifier`]).
pub fn ident(name: &str) -> Result<String, SqlError> {
    if is_identifier(name) {
        Ok(format!("\"{name}\""))
    } else {
        Err(SqlError::Identifier(name.to_owned()))
    }
}

/// A table name from the spec, split and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    /// `None` when the spec gives a bare `table` (PostgreSQL and Redshift then use `public`).
    pub schema: Option<String>,
    pub table: String,
}

impl TableName {
    /// Parse `schema.table` or `table`; each part must be an identifier.
    pub fn parse(qualified: &str) -> Result<TableName, SqlError> {
        let bad = || SqlError::Table(qualified.to_owned());
        let (schema, table) = match qualified.split_once('.') {
            Some((schema, table)) => (Some(schema), table),
            None => (None, qualified),
        };
        if !is_identifier(table) || schema.is_some_and(|s| !is_identifier(s)) {
            return Err(bad());
        }
        Ok(TableName {
            schema: schema.map(str::to_owned),
            table: table.to_owned(),
        })
    }

    /// The schema PostgreSQL and Redshift put the table in.
    pub fn schema_or_public(&self) -> &str {
        self.schema.as_deref().unwrap_or("public")
    }

    /// The name as the dialect writes it: `"schema"."table"`, or `main."schema__table"` on SQLite.
    pub fn sql(&self, dialect: Dialect) -> String {
        match dialect {
            Dialect::Redshift | Dialect::Postgres => {
                format!("\"{}\".\"{}\"", self.schema_or_public(), self.table)
            }
            Dialect::Sqlite => format!("main.\"{}\"", self.sqlite_name()),
        }
    }

    /// SQLite's name for the table: `schema__table`, or `table` without a schema.
    pub fn sqlite_name(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{schema}__{}", self.table),
            None => self.table.clone(),
        }
    }
}

/// The spec table `qualified` as `dialect` writes it (see [`TableName::sql`]).
pub fn table_ref(dialect: Dialect, qualified: &str) -> Result<String, SqlError> {
    TableName::parse(qualified).map(|t| t.sql(dialect))
}

/// Longest literal written (an S3 URL with its version is under 2.2 KB).
const MAX_LITERAL_BYTES: usize = 4096;

/// `value` single-quoted with quotes doubled. Refused: control characters (newlines included),
/// backslashes (an escape character in Redshift literals but not in PostgreSQL's), empty values
/// and values over 4 KiB. `what` names the value in the error.
pub fn literal(what: &'static str, value: &str) -> Result<String, SqlError> {
    let refuse = |why| SqlError::Literal {
        what,
        value: value.chars().take(200).collect(),
        why,
    };
    if value.is_empty() {
        return Err(refuse("it is empty"));
    }
    if value.len() > MAX_LITERAL_BYTES {
        return Err(refuse("it is longer than 4096 bytes"));
    }
    if value.chars().any(char::is_control) {
        return Err(refuse("it holds a control character"));
    }
    if value.contains('\\') {
        return Err(refuse("it holds a backslash"));
    }
    Ok(format!("'{}'", value.replace('\'', "''")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_checked_and_quoted() {
        assert_eq!(ident("request_id"), Ok("\"request_id\"".into()));
        for bad in ["", "Name", "a-b", "a\"b", "1a", "a b", "a;drop"] {
            assert_eq!(ident(bad), Err(SqlError::Identifier(bad.into())), "{bad}");
        }
    }

    #[test]
    fn table_names_per_dialect() {
        let t = TableName::parse("tracking.events").unwrap();
        assert_eq!(t.sql(Dialect::Redshift), "\"tracking\".\"events\"");
        assert_eq!(t.sql(Dialect::Postgres), "\"tracking\".\"events\"");
        assert_eq!(t.sql(Dialect::Sqlite), "main.\"tracking__events\"");
        let bare = TableName::parse("events").unwrap();
        assert_eq!(bare.sql(Dialect::Postgres), "\"public\".\"events\"");
        assert_eq!(bare.sql(Dialect::Sqlite), "main.\"events\"");
        for bad in ["a.b.c", "A.b", "a.", ".b", "a.b\"", "x y"] {
            assert_eq!(
                TableName::parse(bad),
                Err(SqlError::Table(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn literals_double_quotes_and_refuse_the_rest() {
        assert_eq!(
            literal("key", "curated/o'brien.gz"),
            Ok("'curated/o''brien.gz'".into())
        );
        assert_eq!(literal("key", "é 😀+=%2B"), Ok("'é 😀+=%2B'".into()));
        for bad in ["", "a\nb", "a\\", "a\0b", "\u{7f}"] {
            assert!(
                matches!(literal("key", bad), Err(SqlError::Literal { .. })),
                "{bad:?}"
            );
        }
        assert!(literal("key", &"k".repeat(4097)).is_err());
    }

    #[test]
    fn dialect_names_round_trip() {
        for d in Dialect::ALL {
            assert_eq!(Dialect::parse(d.as_str()), Some(d));
        }
        assert_eq!(Dialect::parse("postgresql"), Some(Dialect::Postgres));
        assert_eq!(Dialect::parse("mysql"), None);
    }
}

#[cfg(test)]
mod golden;
