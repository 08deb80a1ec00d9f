use super::*;

fn time(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
}

const SQS_RECORD: &str = include_str!("../../../../samples/failures/kinesis-on-failure-sqs.json");
const SNS_RECORD: &str = include_str!("../../../../samples/failures/kinesis-on-failure-sns.json");
const S3_RECORD: &str = include_str!("../../../../samples/failures/kinesis-on-failure-s3.json");
const S3_RECORD_STRING: &str =
    include_str!("../../../../samples/failures/kinesis-on-failure-s3-payload-string.json");
const PROCESSING_FAILED: &str =
    include_str!("../../../../samples/failures/firehose-processing-failed.ndjson");
const OTHER_TYPES: &str =
    include_str!("../../../../samples/failures/firehose-other-error-types.ndjson");

#[test]
fn reads_the_sqs_on_failure_record() {
    let r = OnFailureRecord::from_slice(SQS_RECORD.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        r.request_id.as_deref(),
        Some("c9b8fa9f-5a7f-xmpl-af9c-0c604cde93a5")
    );
    assert_eq!(r.condition.as_deref(), Some("RetryAttemptsExhausted"));
    assert_eq!(r.approximate_invoke_count, Some(1));
    assert_eq!(r.status_code, Some(200));
    assert_eq!(r.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(r.executed_version.as_deref(), Some("$LATEST"));
    assert_eq!(r.version.as_deref(), Some("1.0"));
    assert_eq!(r.timestamp, Some(time("2019-11-14T00:38:06.021Z")));
    assert!(r.payload.is_none(), "SQS records carry metadata only");
    let b = &r.batch;
    assert_eq!(b.shard_id, "shardId-000000000001");
    assert_eq!(
        b.start_sequence_number,
        "49601189658422359378836298521827638475320189012309704722"
    );
    assert_eq!(
        b.end_sequence_number,
        "49601189658422359378836298522902373528957594348623495186"
    );
    assert_eq!(b.first_arrival, Some(time("2019-11-14T00:38:04.835Z")));
    assert_eq!(b.last_arrival, Some(time("2019-11-14T00:38:05.580Z")));
    assert_eq!(b.batch_size, Some(500));
    assert_eq!(b.stream, "mystream");
    assert_eq!(
        b.stream_arn,
        "arn:aws:kinesis:us-east-2:123456789012:stream/mystream"
    );
    assert!(b.contains(&b.start_sequence_number) && b.contains(&b.end_sequence_number));
    assert!(!b.contains("49601189658422359378836298521827638475320189012309704721"));
    assert!(!b.contains("49601189658422359378836298522902373528957594348623495187"));
}

#[test]
fn reads_the_sns_wrapped_record_as_the_plain_one() {
    let plain =
        OnFailureRecord::from_slice(SQS_RECORD.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let wrapped =
        OnFailureRecord::from_slice(SNS_RECORD.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plain, wrapped);
}

#[test]
fn reads_the_s3_record_with_its_payload_as_object_or_string() {
    for (name, text) in [("object", S3_RECORD), ("string", S3_RECORD_STRING)] {
        let r =
            OnFailureRecord::from_slice(text.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let payload = r.payload.unwrap_or_else(|| panic!("{name}: no payload"));
        assert_eq!(payload.records.len(), 2, "{name}");
        let first = payload.records.first().unwrap_or_else(|| panic!("{name}"));
        assert_eq!(first.stream, "user-events", "{name}");
        assert_eq!(first.shard_id, "shardId-000000000000", "{name}");
        assert_eq!(
            first.sequence_number, r.batch.start_sequence_number,
            "{name}"
        );
        assert_eq!(
            first.data.as_deref().ok(),
            Some(br#"{"request_id":"s3-1","request_timestamp":"2020-06-01 00:00:24.000000","cookie_id":"c","topic":"t"}"#.as_slice()),
            "{name}"
        );
        assert_eq!(r.batch.batch_size, Some(2), "{name}");
    }
}

#[test]
fn malformed_records_are_errors_with_their_place() {
    let cases: Vec<(String, &str)> = vec![
        ("not json".into(), "malformed Kinesis on-failure record at `.`"),
        ("[1,2]".into(), "expected a JSON object"),
        (r#"{"DDBStreamBatchInfo":{}}"#.into(), "DynamoDB stream record"),
        (r#"{"requestContext":{}}"#.into(), "no KinesisBatchInfo"),
        (
            SQS_RECORD.replace(r#""shardId": "shardId-000000000001","#, ""),
            "at `KinesisBatchInfo`: missing field `shardId`",
        ),
        (
            SQS_RECORD.replace(r#""batchSize": 500"#, r#""batchSize": "many""#),
            "at `KinesisBatchInfo.batchSize`",
        ),
        (
            SQS_RECORD.replace("2019-11-14T00:38:04.835Z", "yesterday"),
            "at `KinesisBatchInfo.approximateArrivalOfFirstRecord`",
        ),
        (
            SQS_RECORD.replace(
                r#""startSequenceNumber": "49601189658422359378836298521827638475320189012309704722""#,
                r#""startSequenceNumber": "59601189658422359378836298521827638475320189012309704722""#,
            ),
            "is after endSequenceNumber",
        ),
        (
            SQS_RECORD.replace(r#""streamArn": "arn:aws:kinesis:us-east-2:123456789012:stream/mystream""#, r#""streamArn": 7"#),
            "at `KinesisBatchInfo.streamArn`: invalid type",
        ),
        (
            r#"{"Type":"Notification","Message":"{not json"}"#.into(),
            "at `Message`: not JSON",
        ),
        (
            S3_RECORD_STRING.replace(r#""payload": "{"#, r#""payload": "{,"#),
            "at `payload`: not a JSON event",
        ),
        (
            S3_RECORD.replace(r#""eventID""#, r#""eventId""#),
            "payload is not a Kinesis event: malformed Kinesis event at `Records[0]`: missing field `eventID`",
        ),
        (
            S3_RECORD.replace(r#""payload": {"#, r#""payload": [{"#).replace("\n  }\n}", "\n  }]\n}"),
            "at `payload`: expected the Kinesis event",
        ),
    ];
    for (input, want) in cases {
        match OnFailureRecord::from_slice(input.as_bytes()) {
            Ok(r) => panic!("{input}: read as {r:?}, want an error containing {want:?}"),
            Err(e) => assert!(e.to_string().contains(want), "{input}: {e} (want {want:?})"),
        }
    }
}

#[test]
fn reads_processing_failed_lines() {
    let out = read_error_output(PROCESSING_FAILED.as_bytes());
    assert!(out.bad.is_empty(), "{:?}", out.bad);
    assert_eq!(out.records.len(), 2);
    let (at, first) = out.records.first().unwrap_or_else(|| panic!("no record"));
    assert_eq!(
        *at,
        LinePosition {
            line: 1,
            document: 1
        }
    );
    assert_eq!(first.attempts_made, Some(4));
    assert_eq!(
        first.arrival,
        DateTime::from_timestamp_millis(1_590_969_624_000)
    );
    assert_eq!(
        first.attempt_ending,
        DateTime::from_timestamp_millis(1_590_969_660_000)
    );
    assert_eq!(first.error_code.as_deref(), Some("Lambda.ProcessingFailed"));
    assert!(first
        .error_message
        .as_deref()
        .is_some_and(|m| m.contains("ProcessingFailed")));
    assert_eq!(
        first.lambda_arn.as_deref(),
        Some("arn:aws:lambda:us-east-1:123456789012:function:loglift-ingest:$LATEST")
    );
    assert_eq!(
        first.raw_data,
        br#"{"request_id":"fh-1","request_timestamp":"2020-06-01 00:00:24.000000","cookie_id":"c","topic":"t"}"#
    );
}

#[test]
fn reads_the_other_error_types_leniently_and_names_bad_lines() {
    let out = read_error_output(OTHER_TYPES.as_bytes());
    let codes: Vec<Option<&str>> = out
        .records
        .iter()
        .map(|(_, r)| r.error_code.as_deref())
        .collect();
    assert_eq!(
        codes,
        [
            Some("DynamicPartitioning.MetadataExtractionFailed"),
            Some("DataFormatConversion.InvalidSchema"),
            Some("S3.AccessDenied"),
            Some("Lambda.FunctionError"),
        ]
    );
    let positions: Vec<String> = out.records.iter().map(|(at, _)| at.to_string()).collect();
    assert_eq!(
        positions,
        ["line 1", "line 2", "line 4", "line 4 document 2"]
    );
    let dp = &out.records.first().unwrap_or_else(|| panic!("none")).1;
    assert_eq!(
        dp.partition_keys.get("pipeline").map(String::as_str),
        Some("user_events")
    );
    let conversion = &out.records.get(1).unwrap_or_else(|| panic!("none")).1;
    assert_eq!(
        conversion.error_message.as_deref(),
        Some("The schema is invalid.")
    );
    assert_eq!(
        conversion.sequence_number.as_deref(),
        Some("49546986683135544286507457936321625675700192471156785154")
    );
    assert_eq!(conversion.subsequence_number, Some(0));
    assert_eq!(
        conversion.attempts_made,
        Some(1),
        "a count written as a string"
    );
    let bad: Vec<String> = out
        .bad
        .iter()
        .map(|(at, why)| format!("{at}: {why}"))
        .collect();
    assert_eq!(bad.len(), 3, "{bad:?}");
    assert!(
        bad.first().is_some_and(
            |b| b.starts_with("line 3: ") && b.contains("`rawData`: not valid base64")
        ),
        "{bad:?}"
    );
    assert!(
        bad.get(1)
            .is_some_and(|b| b.starts_with("line 6: ") && b.contains("missing field `rawData`")),
        "{bad:?}"
    );
    assert!(
        bad.get(2)
            .is_some_and(|b| b.starts_with("line 7: ") && b.contains("malformed")),
        "{bad:?}"
    );
}

#[test]
fn gzip_error_objects_and_corrupt_ones() {
    let gz = crate::compress::gzip(PROCESSING_FAILED.as_bytes());
    let out = read_error_output(&gz);
    assert_eq!((out.records.len(), out.bad.len()), (2, 0));
    let cut = gz.get(..gz.len() - 12).unwrap_or_default();
    let out = read_error_output(cut);
    assert_eq!(out.bad.len(), 1, "{out:?}");
    assert!(
        out.bad
            .first()
            .is_some_and(|(_, why)| why.contains("corrupt or truncated")),
        "{out:?}"
    );
}

#[test]
fn sequence_numbers_compare_as_numbers() {
    assert_eq!(cmp_sequence("9", "10"), Ordering::Less);
    assert_eq!(cmp_sequence("010", "10"), Ordering::Equal);
    assert_eq!(
        cmp_sequence(
            "49601189658422359378836298522902373528957594348623495186",
            "49601189658422359378836298521827638475320189012309704722"
        ),
        Ordering::Greater
    );
    assert_eq!(cmp_sequence("x", "10"), Ordering::Greater);
}

#[test]
fn delivery_stream_from_firehose_object_names() {
    let cases = [
        (
            "user-events-to-s3-1-2026-11-21-10-00-00-0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
            Some("user-events-to-s3"),
        ),
        (
            "logs-3-2026-11-21-10-00-00-0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0.gz",
            Some("logs"),
        ),
        ("firehose-redrive-abc.ndjson.gz", None),
        (
            "-1-2026-11-21-10-00-00-0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
            None,
        ),
        (
            "x-1-2026-11-21-10-00-00-0b1c2d3e-4f50-6172-8394-zzzzzzzzzzzz",
            None,
        ),
    ];
    for (name, want) in cases {
        assert_eq!(delivery_stream_of_object(name), want, "{name}");
    }
}
