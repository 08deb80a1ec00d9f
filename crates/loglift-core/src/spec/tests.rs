use super::*;

const SHIPPED: &str = include_str!("../../../../spec/pipelines.yaml");

#[test]
fn shipped_spec_is_valid_and_covers_the_seeds() {
    let spec = Spec::parse(SHIPPED).unwrap_or_else(|e| panic!("{e:?}"));
    let names: Vec<&str> = spec.pipelines.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "user_events",
            "user_utm",
            "app_logs",
            "hit_data",
            "partner_catalog",
            "lambda_logs",
            "alb_access"
        ]
    );
    let utm = spec.pipeline("user_utm").unwrap();
    assert!(utm.event_time.is_none(), "utm has no event time");
    assert_eq!(utm.schema_and_table(), ("tracking", "utm"));
    assert_eq!(
        utm.column("request_id").and_then(|c| c.byte_limit()),
        Some(56)
    );
    let events = spec.pipeline("user_events").unwrap();
    assert_eq!(
        events.event_time_column().map(|c| c.kind),
        Some(ColumnType::Timestamp)
    );
    assert_eq!(
        events.columns.len(),
        11,
        "seed 002 tracking.events has 11 columns"
    );
    assert_eq!(
        spec.pipeline("app_logs").map(|p| p.format),
        Some(Format::CloudwatchLogs)
    );
}

fn errors_of(text: &str) -> Vec<SpecError> {
    match Spec::parse(text) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e,
    }
}

#[test]
fn a_wrong_type_is_reported_with_line_and_field() {
    let broken = SHIPPED.replacen(
        "type: timestamp, required: true }",
        "type: datetime, required: true }",
        1,
    );
    let errors = errors_of(&broken);
    let line = broken
        .lines()
        .position(|l| l.contains("type: datetime"))
        .map(|n| n + 1);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = &errors[0];
    assert_eq!(e.line, line, "{e}");
    assert_eq!(e.path, "pipelines[0].columns[1].type", "{e}");
    assert!(e.message.contains("unknown variant `datetime`"), "{e}");
}

#[test]
fn semantic_errors_name_line_and_field() {
    let broken = SHIPPED.replacen(
        "event_time: request_timestamp",
        "event_time: request_time",
        1,
    );
    let errors = errors_of(&broken);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = &errors[0];
    assert_eq!(e.path, "pipelines[0].event_time");
    assert_eq!(
        e.line,
        broken
            .lines()
            .position(|l| l.contains("event_time: request_time"))
            .map(|n| n + 1),
        "{e}"
    );
    assert!(
        e.to_string().starts_with(&format!(
            "line {}: pipelines[0].event_time:",
            e.line.unwrap_or(0)
        )),
        "{e}"
    );
}

#[test]
fn column_errors_point_at_the_column_line() {
    let broken = SHIPPED.replacen(
        "{ name: medium, type: string, required: true, max_bytes: 255 }",
        "{ name: medium, type: string, required: true, max_bytes: 70000 }",
        1,
    );
    let errors = errors_of(&broken);
    let e = &errors[0];
    assert_eq!(e.path, "pipelines[1].columns[2].max_bytes", "{errors:?}");
    assert_eq!(
        e.line,
        broken
            .lines()
            .position(|l| l.contains("max_bytes: 70000"))
            .map(|n| n + 1),
        "{e}"
    );
}

#[test]
fn table_driven_rejections() {
    let cases: &[(&str, &str, &str)] = &[
        ("name: user_utm", "name: user_events", "declared twice"),
        (
            "table: tracking.utm",
            "table: tracking.utm; drop",
            "must be `schema.table`",
        ),
        (
            "{ name: source, type: string",
            "{ name: event_id, type: string",
            "system column",
        ),
        (
            "match: { s3_prefix: partner_catalog/ }",
            "match: { s3_prefix: hit_data/x/ }",
            "overlaps",
        ),
        (
            "match: { stream: user-utm }",
            "match: {}",
            "at least one of",
        ),
        ("identity: { field: id }", "identity: log_event_id", ""),
        (
            "identity: { field: request_id }\n    event_time",
            "identity: log_event_id\n    event_time",
            "log_event_id needs format cloudwatch_logs",
        ),
        ("format: tsv", "format: json", "must be tsv"),
        (
            "priority: { list: [expedia, booking, hotels, agoda] }",
            "priority: { list: [] }",
            "empty",
        ),
        ("version: 1", "version: 0", "must be 1 or more"),
        (
            "version: 1",
            "version: 1\nowner: me",
            "unknown field `owner`",
        ),
    ];
    for (from, to, expect) in cases {
        assert!(SHIPPED.contains(from), "fixture text not found: {from}");
        let broken = SHIPPED.replacen(from, to, 1);
        match Spec::parse(&broken) {
            Ok(_) if expect.is_empty() => {}
            Ok(_) => panic!("{from} -> {to}: expected an error containing {expect:?}"),
            Err(errors) => {
                let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
                assert!(
                    all.iter().any(|e| e.contains(expect)),
                    "{from} -> {to}: {all:?}"
                );
                assert!(
                    errors.iter().all(|e| e.line.is_some()),
                    "{from} -> {to}: every error has a line: {all:?}"
                );
            }
        }
    }
}

#[test]
fn identifiers() {
    assert!(is_identifier("tracking"));
    assert!(is_identifier("_x1"));
    assert!(!is_identifier("Tracking"));
    assert!(!is_identifier("1x"));
    assert!(!is_identifier("a-b"));
    assert!(!is_identifier(""));
    assert!(!is_identifier("drop table"));
}
