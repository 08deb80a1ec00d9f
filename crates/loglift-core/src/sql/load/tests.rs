use super::*;
use crate::spec::Spec;
use crate::storage::{LoaderMessage, ObjectVersion};
use chrono::TimeZone;

fn spec() -> Spec {
    Spec::parse(include_str!("../../../../../spec/pipelines.yaml")).unwrap()
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
        // Parquet adds the copy table and the JSON_PARSE insert into staging.
        let parquet = match p.curated.format {
            crate::spec::CuratedFormat::Parquet => 2,
            crate::spec::CuratedFormat::Ndjson => 0,
        };
        let expected = parquet
            + match p.duplicates {
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
