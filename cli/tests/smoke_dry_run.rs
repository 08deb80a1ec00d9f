//! `loglift smoke --dry-run` as a user runs it after `terraform apply`, with the CLI environment
//! terraform outputs: it names every entry and the events it would send there, sends nothing
//! (no delivery stream is listed, so no AWS request is made), and refuses a malformed `--stream`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::{Command, Output};

use serde_json::Value;

fn smoke(extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loglift"))
        .arg("smoke")
        .arg("--dry-run")
        .args(extra)
        .env_remove("LOGLIFT_SPEC")
        .env_remove("LOGLIFT_FIREHOSE_SOURCE_STREAMS")
        .env_remove("LOGLIFT_LOG_STREAM")
        .env("LOGLIFT_LAKE_BUCKET", "prod-lake")
        .env(
            "LOGLIFT_STREAM_NAMES",
            "user-events=prod-user-events,user-utm=prod-user-utm,logs=prod-logs",
        )
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ACCESS_KEY_ID", "none")
        .env("AWS_SECRET_ACCESS_KEY", "none")
        .env("RUST_LOG", "error")
        .output()
        .expect("run loglift")
}

#[test]
fn a_dry_run_names_every_entry_and_sends_nothing() {
    let out = smoke(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for entry in [
        "Kinesis stream prod-user-events",
        "Kinesis stream prod-user-utm",
        "Kinesis stream prod-logs",
        "landing prefix s3://prod-lake/landing/hit_data/",
        "landing prefix s3://prod-lake/landing/partner_catalog/",
    ] {
        assert!(stdout.contains(entry), "{entry} missing:\n{stdout}");
    }
    assert!(stdout.contains("dry run: nothing was sent"), "{stdout}");

    let out = smoke(&["--json", "--pipeline", "user_events", "--events", "3"]);
    assert!(out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["dry_run"], true);
    let events = report["events"].as_array().unwrap();
    assert_eq!(events.len(), 3, "{report}");
    for e in events {
        assert_eq!(e["status"], "planned");
        assert_eq!(e["entry"], "Kinesis stream prod-user-events");
        assert!(e["event_id"].as_str().unwrap().starts_with("smoke-"), "{e}");
    }
}

#[test]
fn a_malformed_stream_override_is_refused() {
    let out = smoke(&["--stream", "user-events"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--stream user-events: write SPEC_NAME=DEPLOYED_NAME"),
        "{stderr}"
    );
}
