use super::*;

fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The translation, whitespace runs squeezed (dropped clauses leave their spaces).
fn sql(text: &str) -> String {
    match translate(text, &[]).unwrap() {
        Translated::Sql { text, .. } => squeeze(&text),
        Translated::Copy(spec) => panic!("not plain SQL: {spec:?}"),
    }
}

#[test]
fn maps_redshift_ddl() {
    let cases = [
        (
            "CREATE TABLE IF NOT EXISTS tracking.events (event_id VARCHAR(256) NOT NULL ENCODE zstd, extra SUPER, t TIMESTAMP ENCODE az64) DISTSTYLE AUTO COMPOUND SORTKEY(t, event_id) ENCODE AUTO",
            "CREATE TABLE IF NOT EXISTS tracking.events (event_id VARCHAR(256) CONSTRAINT \"rs_varchar_256_event_id\" CHECK (octet_length(event_id) <= 256) NOT NULL , extra JSONB, t TIMESTAMP )",
        ),
        (
            "CREATE TABLE u (k VARCHAR(MAX) DISTKEY, v int SORTKEY) DISTSTYLE KEY INTERLEAVED SORTKEY (k) BACKUP NO",
            "CREATE TABLE u (k VARCHAR(65535) CONSTRAINT \"rs_varchar_65535_k\" CHECK (octet_length(k) <= 65535) , v int )",
        ),
        // Constraints Redshift does not enforce are dropped; casts keep VARCHAR(n) unchecked.
        (
            "CREATE TABLE \"l\" (\"k\" VARCHAR(8) NOT NULL PRIMARY KEY, \"v\" BIGINT UNIQUE, \"p\" BIGINT REFERENCES parent (id), CONSTRAINT l_kv UNIQUE (\"k\", \"v\"), FOREIGN KEY (\"p\") REFERENCES parent (id))",
            "CREATE TABLE \"l\" (\"k\" VARCHAR(8) CONSTRAINT \"rs_varchar_8_k\" CHECK (octet_length(\"k\") <= 8) NOT NULL , \"v\" BIGINT , \"p\" BIGINT )",
        ),
        (
            "ALTER TABLE \"s\".\"t\" ADD COLUMN \"note\" VARCHAR(30)",
            "ALTER TABLE \"s\".\"t\" ADD COLUMN \"note\" VARCHAR(30) CONSTRAINT \"rs_varchar_30_note\" CHECK (octet_length(\"note\") <= 30)",
        ),
        (
            "SELECT CAST(MAX(x) AS VARCHAR(32)) FROM t",
            "SELECT CAST(MAX(x) AS VARCHAR(32)) FROM t",
        ),
        ("SELECT GETDATE(), SYSDATE", "SELECT now(), now()"),
        // Quoted text and identifiers are left alone; encode() the function is kept.
        (
            "SELECT 'SUPER DISTSTYLE AUTO', \"super\", encode(x, 'hex') FROM t -- SUPER",
            "SELECT 'SUPER DISTSTYLE AUTO', \"super\", encode(x, 'hex') FROM t -- SUPER",
        ),
        (
            "INSERT INTO t SELECT x::int FROM s",
            "INSERT INTO t SELECT x::int FROM s",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(sql(input), want, "{input}");
    }
}

/// The check of `sql` as the server runs it (translation, then Redshift's rules).
fn checked(sql: &str, in_batch: bool) -> Result<Checked, String> {
    let translated = translate(sql, &[])?;
    let text = match &translated {
        Translated::Sql { text, .. } => Some(text.as_str()),
        Translated::Copy(_) => None,
    };
    check_statement(sql, text, in_batch)
}

#[test]
fn refuses_what_redshift_refuses_with_its_error() {
    let copy = "COPY t FROM 's3://b/m' MANIFEST FORMAT AS JSON 'auto' GZIP";
    let cases: Vec<(String, &str)> = vec![
        ("INSERT INTO t (a) SELECT a FROM s ON CONFLICT (a) DO NOTHING".into(), "syntax error at or near \"ON\""),
        ("INSERT INTO t (a) VALUES (1) ON CONFLICT DO NOTHING".into(), "syntax error at or near \"ON\""),
        ("INSERT INTO t (a) VALUES (1) RETURNING a".into(), "\"RETURNING\""),
        ("UPDATE t SET a = 1 RETURNING a".into(), "\"RETURNING\""),
        ("DELETE FROM t WHERE a = 1 RETURNING a".into(), "\"RETURNING\""),
        ("SELECT DISTINCT ON (a) a, b FROM t ORDER BY a".into(), "syntax error at or near \"ON\""),
        ("INSERT INTO t SELECT * FROM (SELECT DISTINCT ON (a) a FROM s) x".into(), "syntax error at or near \"ON\""),
        ("CREATE UNIQUE INDEX i ON t (a)".into(), "\"INDEX\""),
        ("CREATE INDEX i ON t (a)".into(), "\"INDEX\""),
        // MERGE as Redshift has it, and not otherwise.
        ("MERGE INTO t AS x USING s ON x.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)".into(), "syntax error at or near \"x\""),
        ("MERGE INTO t USING (SELECT * FROM s) AS s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)".into(), "can't be a view or a subquery"),
        ("MERGE INTO t USING s ON t.id = s.id AND t.at BETWEEN '2020-01-01' AND '2020-01-02' WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)".into(), "equality predicates"),
        ("MERGE INTO t USING s ON t.id = s.id AND t.at > s.at WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)".into(), "equality predicates"),
        ("MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)".into(), "single WHEN clause is not enabled"),
        ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED AND s.v > 1 THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)".into(), "syntax error at or near \"WHEN\""),
        // Statements that cannot run inside a transaction block, in a batch.
        ("VACUUM DELETE ONLY t".into(), "VACUUM cannot run inside a transaction block"),
        ("CREATE DATABASE d".into(), "CREATE DATABASE cannot run inside a transaction block"),
        ("DROP DATABASE d".into(), "DROP DATABASE cannot run inside a transaction block"),
        ("CREATE EXTERNAL TABLE s.t (a int) STORED AS PARQUET LOCATION 's3://b/p/'".into(), "CREATE EXTERNAL TABLE cannot run"),
        ("ALTER TABLE \"s\".\"t\" APPEND FROM u".into(), "ALTER TABLE APPEND cannot run"),
        ("ALTER TABLE \"s\".\"t\" ALTER COLUMN \"note\" TYPE VARCHAR(300)".into(), "ALTER TABLE ALTER COLUMN cannot run inside a transaction block"),
        // LOCK takes names only.
        ("LOCK TABLE t IN SHARE ROW EXCLUSIVE MODE".into(), "syntax error at or near \"IN\""),
        ("LOCK t NOWAIT".into(), "\"NOWAIT\""),
        // COPY options and their combinations.
        (format!("{copy} IAM_ROLE default GZIP"), "conflicting or redundant options"),
        (format!("{copy} IAM_ROLE default CREDENTIALS 'aws_iam_role=arn:aws:iam::1:role/r'"), "conflicting or redundant options"),
        (format!("{copy} IAM_ROLE default ACCESS_KEY_ID 'AKIA' SECRET_ACCESS_KEY 's'"), "conflicting or redundant options"),
        (copy.to_owned(), "COPY needs an IAM_ROLE"),
        (format!("{copy} ACCESS_KEY_ID 'AKIA'"), "go together"),
        (format!("{copy} IAM_ROLE default MAXERROR 10"), "MAXERROR above 0"),
        (format!("{copy} IAM_ROLE default BZIP2"), "BZIP2"),
        // What sqlparser's Redshift dialect cannot read is not run.
        ("SELEKT 1".into(), "syntax error"),
        ("SELECT 1; SELECT 2".into(), "2 statements in one SQL text"),
    ];
    for (sql, needle) in &cases {
        let err = checked(sql, true).expect_err(sql);
        assert!(err.starts_with("ERROR: "), "{sql}: {err}");
        assert!(err.contains(needle), "{sql}: {err}");
    }
    // What Redshift accepts passes.
    for sql in [
        "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)",
        "MERGE INTO \"a\".\"t\" USING \"s\" AS s ON \"a\".\"t\".\"id\" = s.\"id\" AND (\"a\".\"t\".\"k\" = s.\"k\") WHEN MATCHED THEN DELETE WHEN NOT MATCHED THEN INSERT (id) VALUES (s.id)",
        "LOCK \"loglift\".\"loglift_load_ledger\"",
        "LOCK TABLE a, b",
        "ALTER TABLE t ADD COLUMN c VARCHAR(10)",
        "SELECT DISTINCT a, b FROM t",
        "INSERT INTO t (a) VALUES ('ON CONFLICT')",
    ] {
        let ok = checked(sql, true);
        assert!(ok.is_ok(), "{sql}: {ok:?}");
    }
    // Outside a batch, the transaction-block kinds are not refused as Redshift refuses them.
    let alone = checked("VACUUM t", false).unwrap_err();
    assert!(alone.contains("not covered"), "{alone}");
    // A MERGE carries the source-uniqueness check to run.
    let merge = checked("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)", true).unwrap();
    assert_eq!(
        merge.merge_duplicates.as_deref(),
        Some("SELECT count(*) FROM (SELECT 1 FROM t JOIN s ON t.id = s.id GROUP BY t.ctid HAVING count(*) > 1) AS loglift_duplicate_matches")
    );
}

/// Every statement loglift sends to Redshift (DDL, ledger, loads of every shipped pipeline
/// under both policies, the prune and the ledger queries) passes the checks in a batch.
#[test]
fn the_loaders_statements_pass() {
    use loglift_core::sql::{self, Dialect, RedshiftSource};
    use loglift_core::storage::{CuratedObject, LoadBatch, LoaderMessage, ObjectVersion};
    let d = Dialect::Redshift;
    let spec =
        loglift_core::spec::Spec::parse(include_str!("../../../spec/pipelines.yaml")).unwrap();
    let at = chrono::Utc::now();
    let mut all: Vec<String> = sql::ledger_statements(d);
    all.push(sql::lock_ledger_sql(d));
    all.push(sql::prune_ledger_sql(d, at).unwrap());
    all.push(sql::ledger_sources_sql(d, "p", "s3://a/", "s3://a0").unwrap());
    all.push(sql::ledger_tables_sql(d, at).unwrap());
    let mut pipelines = spec.pipelines.clone();
    for p in &spec.pipelines {
        let mut other = p.clone();
        other.duplicates = match p.duplicates {
            loglift_core::spec::DuplicatePolicy::KeepFirst => {
                loglift_core::spec::DuplicatePolicy::Replace
            }
            loglift_core::spec::DuplicatePolicy::Replace => {
                loglift_core::spec::DuplicatePolicy::KeepFirst
            }
        };
        pipelines.push(other);
    }
    for p in &pipelines {
        all.extend(sql::create_table_statements(d, p).unwrap());
        all.extend(sql::add_column_statements(d, p, &["event_id".to_owned()]).unwrap());
        all.push(sql::existing_columns_query(d, p).unwrap());
        let batch = LoadBatch {
            attempt: 1,
            table: p.table.clone(),
            messages: vec![LoaderMessage {
                v: 1,
                pipeline: p.name.clone(),
                table: p.table.clone(),
                spec_version: 1,
                source: ObjectVersion {
                    bucket: "lake".into(),
                    key: "raw/a".into(),
                    version: "v1".into(),
                },
                objects: vec![CuratedObject {
                    bucket: "lake".into(),
                    key: "curated/a.ndjson.gz".into(),
                    version: "e1".into(),
                    bytes: 10,
                    rows: 1,
                    min_event_time: p
                        .event_time
                        .as_ref()
                        .map(|_| "2020-06-01 00:00:00.000000".into()),
                    max_event_time: p
                        .event_time
                        .as_ref()
                        .map(|_| "2020-06-01 00:00:01.000000".into()),
                }],
                rejected: 0,
            }],
        };
        let source = RedshiftSource {
            manifest_url: "s3://lake/manifests/m.json".into(),
            iam_role: "arn:aws:iam::123456789012:role/copy".into(),
        };
        let plan = sql::redshift_load_plan(p, &batch, &source, at).unwrap();
        all.extend(plan.statements.into_iter().map(|s| s.sql));
    }
    assert!(all.len() > 100, "{}", all.len());
    for sql in &all {
        let ok = checked(sql, true);
        assert!(ok.is_ok(), "{sql}: {ok:?}");
    }
}

#[test]
fn binds_named_parameters_as_literals() {
    let params = [
        ("id".to_owned(), "42".to_owned()),
        ("name".to_owned(), "O'Brien :id".to_owned()),
    ];
    let Translated::Sql { text, first_word } = translate(
        "SELECT * FROM t WHERE id = :id::int AND name = :name AND note = ':id' AND x = :missing",
        &params,
    )
    .unwrap() else {
        panic!("copy")
    };
    assert_eq!(
        text,
        "SELECT * FROM t WHERE id = '42'::int AND name = 'O''Brien :id' AND note = ':id' AND x = :missing"
    );
    assert_eq!(first_word, "SELECT");
}

#[test]
fn parses_copy_from_a_manifest() {
    let Translated::Copy(spec) = translate(
        "COPY \"stage\" (event_id, \"Extra\") FROM 's3://lake/loads/m.manifest' IAM_ROLE 'arn:aws:iam::1:role/r' MANIFEST FORMAT AS JSON 'auto ignorecase' GZIP TIMEFORMAT 'auto' COMPUPDATE OFF STATUPDATE OFF;",
        &[],
    )
    .unwrap() else {
        panic!("not a copy")
    };
    assert_eq!(
        spec,
        CopySpec {
            table: "\"stage\"".into(),
            columns: Some(vec!["event_id".into(), "Extra".into()]),
            source: "s3://lake/loads/m.manifest".into(),
            manifest: true,
            gzip: true,
            ignore_case: true,
            parquet: false,
        }
    );
    // Columnar COPY: the options it takes, no column list, nothing else.
    let Translated::Copy(spec) = translate(
        "COPY \"stage\" FROM 's3://lake/m' IAM_ROLE 'arn:aws:iam::1:role/r' MANIFEST FORMAT AS PARQUET STATUPDATE OFF",
        &[],
    )
    .unwrap() else {
        panic!("not a copy")
    };
    assert!(spec.parquet && spec.manifest);
    for (sql, refusal) in [
        (
            "COPY t FROM 's3://b/m' IAM_ROLE default MANIFEST FORMAT AS PARQUET GZIP",
            "GZIP is not supported with FORMAT AS PARQUET",
        ),
        (
            "COPY t FROM 's3://b/m' IAM_ROLE default MANIFEST FORMAT AS PARQUET TIMEFORMAT 'auto'",
            "TIMEFORMAT is not supported",
        ),
        (
            "COPY t FROM 's3://b/m' IAM_ROLE default MANIFEST FORMAT AS PARQUET COMPUPDATE OFF",
            "COMPUPDATE is not supported",
        ),
        (
            "COPY t (a, b) FROM 's3://b/m' IAM_ROLE default MANIFEST FORMAT AS PARQUET",
            "column list",
        ),
        (
            "COPY t FROM 's3://b/m' MANIFEST FORMAT AS PARQUET",
            "COPY needs an IAM_ROLE",
        ),
    ] {
        let err = translate(sql, &[]).unwrap_err();
        assert!(err.contains(refusal), "{sql}: {err}");
    }
    let err = translate("COPY t FROM 's3://b/k' IAM_ROLE default FORMAT AS CSV", &[]).unwrap_err();
    assert!(err.contains("CSV"), "{err}");
    let err = translate("COPY t FROM 's3://b/k' JSON 's3://b/paths'", &[]).unwrap_err();
    assert!(err.contains("JSONPaths"), "{err}");
    assert!(translate("COPY t FROM 's3://b/k' JSON 'auto' MAXERROR 10", &[]).is_err());
}

#[test]
fn copy_text_fields_are_escaped() {
    let mut out = String::new();
    for v in [
        Some(json!("a\tb\\c\nd")),
        None,
        Some(Value::Null),
        Some(json!(12)),
        Some(json!({"k": [1, true]})),
    ] {
        push_copy_field(&mut out, v.as_ref());
        out.push('|');
    }
    assert_eq!(out, "a\\tb\\\\c\\nd|\\N|\\N|12|{\"k\":[1,true]}|");
}

#[test]
fn ids_have_the_data_api_shape() {
    let id = new_uuid();
    let parts: Vec<usize> = id.split('-').map(str::len).collect();
    assert_eq!(parts, [8, 4, 4, 4, 12], "{id}");
    assert!(id
        .chars()
        .all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_lowercase()));
    assert_eq!(split_id(&format!("{id}:3")), (id.as_str(), 3));
    assert_eq!(split_id(&id), (id.as_str(), 0));
}
