//! `loglift spec check` as a user runs it: the real binary on the shipped spec and a broken one.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;

fn loglift(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_loglift"))
        .args(args)
        .output()
        .expect("run loglift");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/pipelines.yaml");

#[test]
fn accepts_the_shipped_spec() {
    let (code, stdout, stderr) = loglift(&["spec", "check", SHIPPED]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("ok, version 1, 7 pipeline(s): user_events, user_utm, app_logs, hit_data, partner_catalog, lambda_logs, alb_access"), "{stdout}");
}

#[test]
fn rejects_a_broken_spec_with_line_and_field() {
    let text = std::fs::read_to_string(SHIPPED).expect("shipped spec");
    let broken = text.replacen(
        "{ name: topic, type: string, required: true, max_bytes: 1024 }",
        "{ name: topic, type: text, required: true, max_bytes: 1024 }",
        1,
    );
    assert_ne!(broken, text);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("broken.yaml");
    std::fs::write(&path, &broken).expect("write");
    let line = broken
        .lines()
        .position(|l| l.contains("type: text"))
        .map(|n| n + 1)
        .expect("line");
    let (code, _, stderr) = loglift(&["spec", "check", path.to_str().expect("utf-8 path")]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "line {line}: pipelines[0].columns[3].type: unknown variant `text`"
        )),
        "{stderr}"
    );
}

#[test]
fn explains_a_bad_regex_and_a_capture_that_is_not_a_column() {
    let text = std::fs::read_to_string(SHIPPED).expect("shipped spec");
    let broken = text.replacen(
        "text: { format: alb }",
        r#"text: { format: regex, pattern: '^(?P<time>\S+) (?P<elb>[a-z+) (?P<referrer>.*)$' }"#,
        1,
    );
    assert_ne!(broken, text);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("broken.yaml");
    std::fs::write(&path, &broken).expect("write");
    let line = broken
        .lines()
        .position(|l| l.contains("format: regex"))
        .map(|n| n + 1)
        .expect("line");
    let (code, _, stderr) = loglift(&["spec", "check", path.to_str().expect("utf-8 path")]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "line {line}: pipelines[6].text.pattern: not a valid regular expression for pipeline `alb_access`: regex parse error"
        )) && stderr.contains("unclosed character class"),
        "{stderr}"
    );
    let unknown = broken.replacen("[a-z+)", "[a-z]+)", 1);
    std::fs::write(&path, &unknown).expect("write");
    let (code, _, stderr) = loglift(&["spec", "check", path.to_str().expect("utf-8 path")]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "line {line}: pipelines[6].text.pattern: capture `referrer` is not a column of pipeline `alb_access`"
        )),
        "{stderr}"
    );
}

#[test]
fn layout_prints_non_overlapping_notification_filters() {
    let (code, stdout, stderr) = loglift(&["spec", "layout", SHIPPED, "--bucket", "lake"]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let prefixes: Vec<&str> = v["notification_filters"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|f| f["prefix"].as_str())
        .collect();
    assert_eq!(
        prefixes,
        [
            "raw/",
            "landing/hit_data/",
            "landing/partner_catalog/",
            "landing/alb/"
        ]
    );
}

#[test]
fn help_is_there() {
    let (code, stdout, _) = loglift(&["spec", "check", "--help"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("line and field"), "{stdout}");
}
