use super::*;

const SPEC: &str = include_str!("../../../../spec/pipelines.yaml");

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_000_000, 0).unwrap()
}

fn lookup(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |k| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    }
}

#[test]
fn names_come_from_the_cli_environment_or_the_spec() {
    let spec = Spec::parse(SPEC).unwrap();
    let plain = DeploymentNames::from_lookup(&spec, lookup(&[])).unwrap();
    assert_eq!(
        plain.streams.keys().collect::<Vec<_>>(),
        ["logs", "user-events", "user-utm"]
    );
    assert_eq!(plain.streams["logs"], "logs");
    let deployed = DeploymentNames::from_lookup(
        &spec,
        lookup(&[
            (
                "LOGLIFT_STREAM_NAMES",
                "user-events=prod-user-events, user-utm=prod-user-utm,logs=prod-logs",
            ),
            (
                "LOGLIFT_FIREHOSE_SOURCE_STREAMS",
                "prod-user-utm=prod-user-utm",
            ),
        ]),
    )
    .unwrap();
    assert_eq!(deployed.streams["user-utm"], "prod-user-utm");
    assert_eq!(deployed.delivery_streams, ["prod-user-utm"]);
    assert_eq!(deployed.spec_name("prod-logs"), "logs");
    let renamed = DeploymentNames::from_lookup(
        &spec,
        lookup(&[(
            "LOGLIFT_STREAM_NAMES",
            "user-events=p-user-events,user-utm=p-user-utm,cwl=p-cwl",
        )]),
    )
    .unwrap();
    assert_eq!(renamed.log_stream, "cwl");
    let bad = DeploymentNames::from_lookup(&spec, lookup(&[("LOGLIFT_STREAM_NAMES", "x")]));
    assert!(bad
        .unwrap_err()
        .to_string()
        .contains("LOGLIFT_STREAM_NAMES"));
}

#[test]
fn every_entry_of_the_shipped_spec_gets_events_that_route_to_its_pipeline() {
    let spec = Spec::parse(SPEC).unwrap();
    let layout = Layout::single_bucket("lake");
    let mut entries = vec![
        Entry::Kinesis {
            stream: "prod-user-events".into(),
            routing: "user-events".into(),
        },
        Entry::FirehoseViaKinesis {
            delivery_stream: "prod-user-utm".into(),
            stream: "prod-user-utm".into(),
            routing: "user-utm".into(),
        },
        Entry::Kinesis {
            stream: "prod-logs".into(),
            routing: "logs".into(),
        },
    ];
    for p in &spec.pipelines {
        if let Some(prefix) = &p.matcher.s3_prefix {
            entries.push(Entry::Landing {
                bucket: "lake".into(),
                prefix: layout.landing.key(prefix),
                pipeline: p.name.clone(),
            });
        }
    }
    let plan = plan(&spec, &entries, "logs", "ab12cd34", now(), 2, &[]);
    assert!(plan.notes.is_empty(), "{:?}", plan.notes);
    let sent: BTreeSet<&str> = plan.sends.iter().map(|s| s.pipeline.as_str()).collect();
    let all: BTreeSet<&str> = spec.pipelines.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(sent, all);
    assert_eq!(plan.sends.len(), spec.pipelines.len());
    let at = |pipeline: &str| plan.sends.iter().find(|s| s.pipeline == pipeline).unwrap();
    assert_eq!(at("user_events").entry, 0);
    assert_eq!(at("user_utm").entry, 1);
    assert_eq!(at("app_logs").entry, 2);
    let ids: BTreeSet<&str> = plan
        .sends
        .iter()
        .flat_map(|s| s.events.iter().map(|e| e.event_id.as_str()))
        .collect();
    assert_eq!(ids.len(), 2 * spec.pipelines.len());
    // CloudWatch Logs: one gzip payload for both events.
    assert!(matches!(&at("app_logs").payload, Payload::Records(r) if r.len() == 1));
    assert!(matches!(
        &at("hit_data").payload,
        Payload::Object { key, .. } if key == "landing/hit_data/loglift-smoke-ab12cd34.tsv"
    ));
    let only = super::plan(
        &spec,
        &entries,
        "logs",
        "ab12cd34",
        now(),
        1,
        &["hit_data".to_owned()],
    );
    assert_eq!(only.sends.len(), 1);
    // An entry no pipeline takes is named.
    let stray = super::plan(
        &spec,
        &[Entry::Kinesis {
            stream: "other".into(),
            routing: "other".into(),
        }],
        "logs",
        "ab12cd34",
        now(),
        1,
        &[],
    );
    assert!(stray.sends.is_empty());
    assert!(
        stray
            .notes
            .iter()
            .any(|n| n.contains("nothing sent through Kinesis stream other")),
        "{:?}",
        stray.notes
    );
}
