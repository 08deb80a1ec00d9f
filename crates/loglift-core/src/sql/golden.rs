//! Golden files of the SQL every pipeline of `spec/pipelines.yaml` produces, per dialect, under
//! `samples/expected/sql/<dialect>/` (`LOGLIFT_BLESS=1` rewrites them; review the diff), and a
//! parse of every Redshift and PostgreSQL statement with sqlparser's dialects as far as it
//! reaches: the statement kinds it cannot parse are listed below and checked by golden file only.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use sqlparser::dialect::{PostgreSqlDialect, RedshiftSqlDialect};
use sqlparser::parser::Parser;

use super::*;
use crate::spec::{Pipeline, Spec};
use crate::storage::{CuratedObject, LoadBatch, LoaderMessage, ObjectVersion};

/// `(dialect, statement kind)` sqlparser 0.55 cannot parse, with why. Everything else must parse.
const UNPARSED: &[(&str, &str, &str)] = &[
    // `LOCK name` / `LOCK TABLE … IN … MODE`: sqlparser has MySQL's `LOCK TABLES` only.
    ("redshift", "lock", "no LOCK TABLE statement"),
    ("postgres", "lock", "no LOCK TABLE statement"),
    // Redshift COPY options (IAM_ROLE, MANIFEST, FORMAT AS JSON 'auto', TIMEFORMAT, …).
    ("redshift", "stage", "Redshift COPY options"),
    // Table attributes DISTSTYLE / SORTKEY / ENCODE AUTO.
    ("redshift", "create_table", "DISTSTYLE / SORTKEY / ENCODE"),
    ("redshift", "ledger", "DISTSTYLE / SORTKEY / ENCODE"),
];

fn spec() -> Spec {
    Spec::parse(include_str!("../../../../spec/pipelines.yaml")).unwrap_or_else(|e| panic!("{e:?}"))
}

fn expected_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/expected/sql")
}

/// A batch of two messages: the first source with two curated objects, the second with one.
fn sample_batch(p: &Pipeline) -> LoadBatch {
    let times = |h: u32| {
        p.event_time.as_ref().map(|_| {
            (
                format!("2020-06-01 {h:02}:00:24.000000"),
                format!("2020-06-01 {h:02}:59:59.500000"),
            )
        })
    };
    let object = |source: &str, part: u32, hour: u32| {
        let (lo, hi) = times(hour).unzip();
        CuratedObject {
            bucket: "lake".into(),
            key: format!(
                "curated/pipeline={}/dt=2020-06-01/hour={hour:02}/{source}-{part:05}.{}",
                p.name,
                p.curated.format.extension()
            ),
            version: format!("etag{source}{part}"),
            bytes: 1000 + u64::from(part),
            rows: 10,
            min_event_time: lo,
            max_event_time: hi,
        }
    };
    let message = |source: &str, objects: Vec<CuratedObject>| LoaderMessage {
        v: 1,
        pipeline: p.name.clone(),
        table: p.table.clone(),
        spec_version: 1,
        source: ObjectVersion {
            bucket: "lake".into(),
            key: format!(
                "raw/pipeline={}/dt=2020-06-01/hour=00/{source}.ndjson.gz",
                p.name
            ),
            version: format!("v-{source}"),
        },
        objects,
        rejected: 0,
    };
    LoadBatch {
        attempt: 0,
        table: p.table.clone(),
        messages: vec![
            message("0a1b", vec![object("0a1b", 0, 0), object("0a1b", 1, 1)]),
            message("2c3d", vec![object("2c3d", 0, 0)]),
        ],
    }
}

fn redshift_source() -> RedshiftSource {
    RedshiftSource {
        manifest_url: "s3://lake/manifests/loader/batch-0001.json".into(),
        iam_role: "arn:aws:iam::123456789012:role/loglift-redshift-copy".into(),
    }
}

fn plan(dialect: Dialect, p: &Pipeline) -> LoadPlan {
    let at = Utc
        .with_ymd_and_hms(2026, 11, 21, 10, 0, 0)
        .single()
        .unwrap_or_default();
    let batch = sample_batch(p);
    match dialect {
        Dialect::Redshift => redshift_load_plan(p, &batch, &redshift_source(), at),
        Dialect::Postgres => postgres_load_plan(p, &batch, at),
        Dialect::Sqlite => sqlite_load_plan(p, &batch, at),
    }
    .unwrap_or_else(|e| panic!("{dialect} {}: {e}", p.name))
}

/// `user_events` under `replace`: the shipped spec has no `replace` pipeline with an event time,
/// the case where a newer version (or a re-sent event) carries another event time.
fn replace_with_event_time(spec: &Spec) -> Pipeline {
    let mut p = spec
        .pipeline("user_events")
        .unwrap_or_else(|| panic!("user_events"))
        .clone();
    p.duplicates = crate::spec::DuplicatePolicy::Replace;
    p
}

fn script(statements: &[String]) -> String {
    statements
        .iter()
        .map(|s| format!("{s};\n"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every generated file: relative path → content.
fn generated() -> Vec<(String, String)> {
    let spec = spec();
    let mut files = Vec::new();
    for d in Dialect::ALL {
        files.push((format!("{d}/ledger.sql"), script(&ledger_statements(d))));
        files.push((
            format!("{d}/warehouse.ddl.sql"),
            ddl_script(d, &spec).unwrap_or_else(|e| panic!("{e}")),
        ));
        for p in &spec.pipelines {
            let ddl = create_table_statements(d, p).unwrap_or_else(|e| panic!("{e}"));
            files.push((format!("{d}/{}.ddl.sql", p.name), script(&ddl)));
            files.push((format!("{d}/{}.load.sql", p.name), plan(d, p).to_script()));
        }
        files.push((
            format!("{d}/user_events_replace.load.sql"),
            plan(d, &replace_with_event_time(&spec)).to_script(),
        ));
    }
    let spec = self::spec();
    let p = spec
        .pipeline("user_events")
        .unwrap_or_else(|| panic!("user_events"));
    let objects: Vec<CuratedObject> = sample_batch(p)
        .messages
        .into_iter()
        .flat_map(|m| m.objects)
        .collect();
    files.push((
        "redshift/user_events.manifest.json".into(),
        redshift_manifest(&objects) + "\n",
    ));
    files
}

#[test]
fn sql_matches_the_golden_files() {
    let dir = expected_dir();
    let bless = std::env::var("LOGLIFT_BLESS").is_ok();
    let mut mismatches = Vec::new();
    for (name, content) in generated() {
        let path = dir.join(&name);
        if bless {
            std::fs::create_dir_all(path.parent().unwrap_or(&dir))
                .unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(&path, &content).unwrap_or_else(|e| panic!("{e}"));
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(expected) if expected == content => {}
            Ok(_) => mismatches.push(format!("{name} differs")),
            Err(e) => mismatches.push(format!("{name}: {e}")),
        }
    }
    assert!(
        mismatches.is_empty(),
        "{}\n(LOGLIFT_BLESS=1 rewrites the expected files; review the diff)",
        mismatches.join("\n")
    );
}

/// Every Redshift and PostgreSQL statement with a kind: the plan role, or the DDL it is.
fn statements_to_parse() -> Vec<(Dialect, String, String)> {
    let spec = spec();
    let at = Utc
        .with_ymd_and_hms(2026, 11, 21, 10, 0, 0)
        .single()
        .unwrap_or_default();
    let mut out = Vec::new();
    for d in [Dialect::Redshift, Dialect::Postgres] {
        for s in ledger_statements(d) {
            let kind = if s.starts_with("CREATE TABLE") {
                "ledger"
            } else {
                "ddl_other"
            };
            out.push((d, kind.to_owned(), s));
        }
        out.push((
            d,
            "prune_ledger".into(),
            prune_ledger_sql(d, at).unwrap_or_else(|e| panic!("{e}")),
        ));
        for p in &spec.pipelines {
            for s in create_table_statements(d, p).unwrap_or_else(|e| panic!("{e}")) {
                let kind = if s.starts_with("CREATE TABLE") {
                    "create_table"
                } else {
                    "ddl_other"
                };
                out.push((d, kind.to_owned(), s));
            }
            for s in add_column_statements(d, p, &["event_id".to_owned()])
                .unwrap_or_else(|e| panic!("{e}"))
            {
                out.push((d, "add_column".into(), s));
            }
            out.push((
                d,
                "existing_columns".into(),
                existing_columns_query(d, p).unwrap_or_else(|e| panic!("{e}")),
            ));
            for s in plan(d, p).statements {
                out.push((d, s.role.as_str().to_owned(), s.sql));
            }
        }
        for s in plan(d, &replace_with_event_time(&spec)).statements {
            out.push((d, s.role.as_str().to_owned(), s.sql));
        }
    }
    out
}

#[test]
fn sqlparser_parses_every_statement_it_can() {
    let mut failed: BTreeSet<(String, String)> = BTreeSet::new();
    let mut parsed = 0;
    for (d, kind, sql) in statements_to_parse() {
        // sqlparser reads `COPY … FROM STDIN` with its data: give it an empty data section.
        let sql = if sql.ends_with("FROM STDIN") {
            format!("{sql};\n\\.\n")
        } else {
            sql
        };
        let result = match d {
            Dialect::Redshift => Parser::parse_sql(&RedshiftSqlDialect {}, &sql),
            _ => Parser::parse_sql(&PostgreSqlDialect {}, &sql),
        };
        match result {
            Ok(statements) => {
                assert_eq!(
                    statements.len(),
                    1,
                    "{d} {kind}: one statement expected in {sql}"
                );
                parsed += 1;
            }
            Err(e) => {
                let known = UNPARSED
                    .iter()
                    .any(|(dialect, k, _)| *dialect == d.as_str() && *k == kind);
                assert!(known, "{d} {kind} does not parse: {e}\n{sql}");
                failed.insert((d.as_str().to_owned(), kind));
            }
        }
    }
    let listed: BTreeSet<(String, String)> = UNPARSED
        .iter()
        .map(|(d, k, _)| ((*d).to_owned(), (*k).to_owned()))
        .collect();
    assert_eq!(failed, listed, "UNPARSED lists exactly what fails");
    assert!(parsed > 80, "only {parsed} statements parsed");
}
