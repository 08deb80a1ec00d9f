//! The curated lake, read by a reader loglift did not write: `loglift local run` on the samples,
//! then DuckDB (the `duckdb` Python module the test command installs, as it installs moto) reads
//! every curated part. Parquet pipelines: the columns, in table order, with the types the spec
//! gives them (string and json → VARCHAR, int → BIGINT, float → DOUBLE, bool → BOOLEAN,
//! timestamp → TIMESTAMP WITH TIME ZONE), and every row equal, value for value, to what loglift's
//! own reader (the loaders') reads from the same files, and as many rows as transform reported.
//! The NDJSON pipeline (`user_utm`) is read by DuckDB's JSON reader the same way.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use loglift_core::spec::{ColumnType, CuratedFormat, Spec};
use loglift_core::sql::{json_rows, table_columns, RowDecoder};
use serde_json::Value;

const READ: &str = r#"
import datetime, glob, json, os, sys
import duckdb

con = duckdb.connect()
con.execute("SET TimeZone='UTC'")

def plain(v):
    if isinstance(v, datetime.datetime):
        return v.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    return v

out = {}
for d in sorted(glob.glob(os.path.join(sys.argv[1], "pipeline=*"))):
    name = os.path.basename(d).split("=", 1)[1]
    for kind, pattern, reader in (
        ("parquet", "*.parquet", "read_parquet({}, hive_partitioning = false)"),
        ("ndjson", "*.ndjson.gz", "read_json_objects({}, format = 'newline_delimited', hive_partitioning = false)"),
    ):
        files = sorted(glob.glob(os.path.join(d, "**", pattern), recursive=True))
        if not files:
            continue
        source = reader.format("[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]")
        columns = [[r[0], r[1]] for r in con.execute("DESCRIBE SELECT * FROM " + source).fetchall()]
        cur = con.execute("SELECT * FROM " + source)
        names = [c[0] for c in cur.description]
        if kind == "parquet":
            rows = [dict(zip(names, (plain(v) for v in row))) for row in cur.fetchall()]
        else:
            rows = [json.loads(row[0]) for row in cur.fetchall()]
        out[name] = {"kind": kind, "files": files, "columns": columns, "rows": rows}
print(json.dumps(out))
"#;

fn python() -> Option<String> {
    match std::env::var("LOGLIFT_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if std::env::var("LOGLIFT_TEST_HARNESS").is_ok() => {
            panic!("LOGLIFT_TEST_PYTHON (a python3 with duckdb) is not set: run scripts/test")
        }
        _ => None,
    }
}

fn duckdb_type(kind: ColumnType) -> &'static str {
    match kind {
        ColumnType::String | ColumnType::Json => "VARCHAR",
        ColumnType::Int => "BIGINT",
        ColumnType::Float => "DOUBLE",
        ColumnType::Bool => "BOOLEAN",
        ColumnType::Timestamp => "TIMESTAMP WITH TIME ZONE",
    }
}

/// A row as loglift's reader gives it, with json columns parsed; DuckDB's VARCHAR holding JSON
/// text parsed the same way so the two compare value for value.
fn normalise(row: &Value, json_columns: &[String]) -> Value {
    let mut row = row.as_object().cloned().unwrap_or_default();
    for name in json_columns {
        if let Some(Value::String(text)) = row.get(name) {
            let parsed = serde_json::from_str(text).unwrap_or(Value::String(text.clone()));
            row.insert(name.clone(), parsed);
        }
    }
    Value::Object(row)
}

#[test]
fn duckdb_reads_every_curated_part_with_the_spec_types_and_values() {
    let Some(python) = python() else {
        eprintln!("skipped: LOGLIFT_TEST_PYTHON is not set (scripts/test sets it)");
        return;
    };
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_loglift"))
        .args(["local", "run", "--json", "--data-dir"])
        .arg(&data)
        .current_dir(&repo)
        .env("RUST_LOG", "error")
        .env_remove("LOGLIFT_SPEC")
        .env_remove("LOGLIFT_DATA_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let curated = find_dir(&data, "curated").expect("a curated area");

    let read = Command::new(&python)
        .arg("-c")
        .arg(READ)
        .arg(&curated)
        .output()
        .unwrap();
    assert!(
        read.status.success(),
        "duckdb: {}",
        String::from_utf8_lossy(&read.stderr)
    );
    let lake: Value = serde_json::from_slice(&read.stdout).unwrap();
    let spec =
        Spec::parse(&std::fs::read_to_string(repo.join("spec/pipelines.yaml")).unwrap()).unwrap();

    let glue = std::fs::read_to_string(repo.join("infra/terraform/catalog.tf")).unwrap();
    let mut parquet_pipelines = 0;
    for (name, found) in lake.as_object().unwrap() {
        let pipeline = spec.pipeline(name).expect("a spec pipeline");
        let columns = table_columns(pipeline);
        let expected_kind = match pipeline.curated.format {
            CuratedFormat::Parquet => "parquet",
            CuratedFormat::Ndjson => "ndjson",
        };
        assert_eq!(found["kind"], expected_kind, "{name}");
        let json_columns: Vec<String> = columns
            .iter()
            .filter(|c| c.kind == ColumnType::Json)
            .map(|c| c.name.clone())
            .collect();
        if expected_kind == "parquet" {
            parquet_pipelines += 1;
            let described: Vec<(String, String)> = found["columns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| (c[0].as_str().unwrap().into(), c[1].as_str().unwrap().into()))
                .collect();
            let expected: Vec<(String, String)> = columns
                .iter()
                .map(|c| (c.name.clone(), duckdb_type(c.kind).to_owned()))
                .collect();
            assert_eq!(
                described, expected,
                "{name}: DuckDB's view of the Parquet schema"
            );
            // The Glue table terraform declares reads these files: each column's Hive type is
            // the one for the type DuckDB found in the file.
            for (column, (_, found)) in columns.iter().zip(&described) {
                let glue = glue_type(&glue, &spec_type_name(column.kind), &column.name);
                let want = match found.as_str() {
                    "VARCHAR" => "string",
                    "BIGINT" => "bigint",
                    "DOUBLE" => "double",
                    "BOOLEAN" => "boolean",
                    "TIMESTAMP WITH TIME ZONE" => "timestamp",
                    other => panic!("{name}.{}: unexpected {other}", column.name),
                };
                assert_eq!(glue, want, "{name}.{}: Glue type vs the file", column.name);
            }
        }
        // Every row, value for value, as the loaders read it.
        let decoder = RowDecoder::new(pipeline).unwrap();
        let mut ours = Vec::new();
        for file in found["files"].as_array().unwrap() {
            let bytes = std::fs::read(file.as_str().unwrap()).unwrap();
            ours.extend(json_rows(&bytes[..], &decoder).unwrap());
        }
        let theirs: Vec<Value> = found["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| normalise(r, &json_columns))
            .collect();
        let ours: Vec<Value> = ours.iter().map(|r| normalise(r, &json_columns)).collect();
        assert_eq!(theirs.len(), ours.len(), "{name}");
        for (i, (a, b)) in theirs.iter().zip(&ours).enumerate() {
            for column in &columns {
                let (x, y) = (&a[&column.name], &b[&column.name]);
                let same = match (x, y) {
                    (Value::Number(p), Value::Number(q)) => p.as_f64() == q.as_f64(),
                    _ => x == y,
                };
                assert!(
                    same,
                    "{name} row {i} column {}: duckdb {x} vs loglift {y}",
                    column.name
                );
            }
        }
        assert_eq!(
            Some(theirs.len() as u64),
            summary["pipelines"][name]["transform"]["curated"].as_u64(),
            "{name}: rows in the lake vs rows transform curated"
        );
    }
    assert!(parquet_pipelines >= 3, "{lake}");
    assert!(
        lake.get("user_utm").is_some_and(|u| u["kind"] == "ndjson"),
        "the NDJSON pipeline's parts are there too"
    );
}

fn spec_type_name(kind: ColumnType) -> String {
    serde_json::to_value(kind)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

/// The Glue (Hive) type terraform gives a column: a system column's own line in
/// `system_columns`, else `glue_types[<spec type>]` (both in infra/terraform/catalog.tf).
fn glue_type(catalog: &str, spec_type: &str, column: &str) -> String {
    let quoted = |line: &str, key: &str| -> Option<String> {
        let at = line.find(&format!("{key} = \""))? + key.len() + 4;
        line.get(at..)?.split('"').next().map(str::to_owned)
    };
    let system = catalog
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("system_columns = ["))
        .take_while(|l| l.trim() != "]");
    if let Some(line) = system
        .into_iter()
        .find(|l| l.contains(&format!("name = \"{column}\"")) && l.contains("type = "))
    {
        return quoted(line, "type").unwrap();
    }
    let types = catalog
        .lines()
        .find(|l| l.trim_start().starts_with("glue_types = {"))
        .expect("glue_types in catalog.tf");
    quoted(types, spec_type).unwrap_or_else(|| panic!("no glue type for {spec_type}"))
}

fn find_dir(root: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(root).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == name) {
                return Some(path);
            }
            if let Some(found) = find_dir(&path, name) {
                return Some(found);
            }
        }
    }
    None
}
