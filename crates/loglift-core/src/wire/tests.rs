use super::*;

const FIREHOSE_EVENT: &str = r#"{
    "invocationId": "inv-1",
    "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/user-events-to-s3",
    "sourceKinesisStreamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/user-events",
    "region": "us-east-1",
    "records": [
        {"recordId": "r-1", "approximateArrivalTimestamp": 1590969624000, "data": "eyJhIjoxfQ==",
         "kinesisRecordMetadata": {"shardId": "shardId-000000000000", "partitionKey": "pk",
           "approximateArrivalTimestamp": 1590969624000, "sequenceNumber": "4954", "subsequenceNumber": 3}},
        {"recordId": "r-2", "approximateArrivalTimestamp": "2020-06-01T00:00:24.511Z", "data": "not base64!",
         "kinesisRecordMetadata": {"shardId": "shardId-000000000001", "partitionKey": "pk",
           "approximateArrivalTimestamp": "2020-06-01T00:00:24.511Z", "sequenceNumber": "4955", "subsequenceNumber": ""}},
        {"recordId": "r-3", "approximateArrivalTimestamp": 1590969624000.4, "data": ""}
    ]
}"#;

const KINESIS_EVENT: &str = r#"{"Records": [{
    "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "pk-1",
      "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
      "data": "eyJhIjoxfQ==", "approximateArrivalTimestamp": 1545084650.987},
    "eventSource": "aws:kinesis", "eventVersion": "1.0",
    "eventID": "shardId-000000000006:49590338271490256608559692538361571095921575989136588898",
    "eventName": "aws:kinesis:record", "invokeIdentityArn": "arn:aws:iam::123456789012:role/r",
    "awsRegion": "us-east-2", "eventSourceARN": "arn:aws:kinesis:us-east-2:123456789012:stream/user-events"}]}"#;

fn time(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

#[test]
fn reads_firehose_events_from_bytes_and_values() {
    let batch = FirehoseBatch::from_slice(FIREHOSE_EVENT.as_bytes());
    let Ok(batch) = batch else {
        panic!("{batch:?}")
    };
    let value: Value = serde_json::from_str(FIREHOSE_EVENT).unwrap_or_default();
    assert_eq!(FirehoseBatch::try_from(value).as_ref(), Ok(&batch));

    assert_eq!(batch.invocation_id, "inv-1");
    assert_eq!(batch.delivery_stream, "user-events-to-s3");
    assert_eq!(batch.source_stream.as_deref(), Some("user-events"));
    let [r1, r2, r3] = batch.records.as_slice() else {
        panic!("{batch:?}")
    };
    assert_eq!(r1.arrival, time("2020-06-01T00:00:24Z"));
    assert_eq!(r1.data, Ok(br#"{"a":1}"#.to_vec()));
    assert_eq!(r1.undecodable, None);
    assert_eq!(
        r1.kinesis,
        Some(KinesisMeta {
            shard_id: "shardId-000000000000".into(),
            partition_key: "pk".into(),
            sequence_number: "4954".into(),
            subsequence_number: Some(3),
        })
    );
    assert_eq!(r2.arrival, time("2020-06-01T00:00:24.511Z"));
    assert_eq!(
        r2.data.as_ref().map_err(|r| r.reason),
        Err(Reason::BadBase64)
    );
    assert!(r2
        .data
        .as_ref()
        .err()
        .is_some_and(|r| r.message.contains("r-2")));
    assert_eq!(r2.undecodable.as_deref(), Some("not base64!"));
    assert_eq!(r2.kinesis.as_ref().and_then(|k| k.subsequence_number), None);
    assert_eq!(r3.arrival, time("2020-06-01T00:00:24Z"));
    assert_eq!(r3.data, Ok(Vec::new()));
    assert_eq!(r3.kinesis, None);
}

#[test]
fn malformed_firehose_events_say_where() {
    let missing =
        r#"{"invocationId":"i","deliveryStreamArn":"a","records":[{"recordId":"r","data":""}]}"#;
    let got = FirehoseBatch::from_slice(missing.as_bytes());
    let Err(WireError::Malformed { path, message, .. }) = got else {
        panic!("{got:?}")
    };
    assert_eq!(path, "records[0]");
    assert!(message.contains("approximateArrivalTimestamp"), "{message}");

    let bad_time = r#"{"invocationId":"i","deliveryStreamArn":"a","records":[{"recordId":"r","data":"","approximateArrivalTimestamp":"yesterday"}]}"#;
    let got = FirehoseBatch::from_slice(bad_time.as_bytes());
    assert!(
        matches!(got, Err(WireError::BadTimestamp { ref record, .. }) if record == "r"),
        "{got:?}"
    );

    let bad_sub = r#"{"invocationId":"i","deliveryStreamArn":"a","records":[{"recordId":"r","data":"","approximateArrivalTimestamp":1,
        "kinesisRecordMetadata":{"shardId":"s","partitionKey":"p","sequenceNumber":"1","subsequenceNumber":"x"}}]}"#;
    assert!(matches!(
        FirehoseBatch::from_slice(bad_sub.as_bytes()),
        Err(WireError::BadSubsequence { .. })
    ));
    assert!(matches!(
        FirehoseBatch::from_slice(b"{} trailing"),
        Err(WireError::Malformed { .. })
    ));
    assert!(matches!(
        FirehoseBatch::from_slice(b"[]"),
        Err(WireError::Malformed { .. })
    ));
}

#[test]
fn reads_kinesis_events() {
    let batch = KinesisBatch::from_slice(KINESIS_EVENT.as_bytes());
    let Ok(batch) = batch else {
        panic!("{batch:?}")
    };
    let [record] = batch.records.as_slice() else {
        panic!("{batch:?}")
    };
    assert_eq!(record.stream, "user-events");
    assert_eq!(record.shard_id, "shardId-000000000006");
    assert_eq!(
        record.sequence_number,
        "49590338271490256608559692538361571095921575989136588898"
    );
    assert_eq!(record.partition_key, "pk-1");
    assert_eq!(record.arrival, time("2018-12-17T22:10:50.987Z"));
    assert_eq!(record.data, Ok(br#"{"a":1}"#.to_vec()));

    assert_eq!(
        KinesisBatch::from_slice(br#"{"Records":[]}"#),
        Ok(KinesisBatch::default())
    );
    let value: Value = serde_json::from_str(KINESIS_EVENT).unwrap_or_default();
    assert_eq!(KinesisBatch::try_from(value), Ok(batch));
}

#[test]
fn names_from_arns() {
    let cases = [
        (
            "arn:aws:kinesis:us-east-1:123:stream/user-events",
            Some("user-events"),
        ),
        (
            "arn:aws:kinesis:us-east-1:123:stream/user-events/consumer/c:1591000000",
            Some("user-events"),
        ),
        (
            "arn:aws:firehose:us-east-1:123:deliverystream/to-s3",
            Some("to-s3"),
        ),
        ("arn:aws-cn:kinesis:cn-north-1:123:stream/s", Some("s")),
        ("arn:aws:kinesis:us-east-1:123:stream/", None),
        ("aws:lambda:events", None),
        ("arn:aws:kinesis:EXAMPLE", None),
        ("", None),
    ];
    for (arn, want) in cases {
        assert_eq!(name_from_arn(arn), want, "{arn}");
    }
}

#[test]
fn queue_names_from_arns() {
    let cases = [
        (
            "arn:aws:sqs:us-east-1:123456789012:loglift-transform",
            Some("loglift-transform"),
        ),
        ("arn:aws:sqs:us-east-1:123:orders.fifo", Some("orders.fifo")),
        ("arn:aws-us-gov:sqs:us-gov-west-1:123:q", Some("q")),
        (
            "arn:aws:kinesis:us-east-1:123:stream/user-events",
            Some("user-events"),
        ),
        ("arn:aws:sqs:us-east-1:123:", None),
        ("arn:aws:sqs:us-east-1", None),
        ("loglift-transform", None),
        ("", None),
    ];
    for (arn, want) in cases {
        assert_eq!(queue_name_from_arn(arn), want, "{arn}");
    }
}

#[test]
fn reads_sqs_events() {
    let json = include_str!("../../../../samples/s3events/sqs-event.json");
    let batch = SqsBatch::from_slice(json.as_bytes());
    let Ok(batch) = batch else {
        panic!("{batch:?}")
    };
    let value: Value = serde_json::from_str(json).unwrap_or_default();
    assert_eq!(SqsBatch::try_from(value).as_ref(), Ok(&batch));
    let [first, second] = batch.messages.as_slice() else {
        panic!("{batch:?}")
    };
    assert_eq!(first.message_id, "2e1424d4-f796-459a-8184-9c92662be6da");
    assert_eq!(
        first.receipt_handle,
        "AQEBzWwaftRI0KuVm4tP+/7q1rGgNqicHq/loglift/receipt/1"
    );
    assert!(
        first
            .body
            .starts_with(r#"{"Records":[{"eventVersion":"2.1""#),
        "{}",
        first.body
    );
    assert_eq!(first.receive_count, 1);
    assert_eq!(first.sent_at, Some(time("2026-11-21T10:00:01.300Z")));
    assert_eq!(first.queue.as_deref(), Some("loglift-transform"));
    assert_eq!(second.message_id, "059f36b4-87a3-44ab-83d2-661975830a7d");
    assert_eq!(second.receive_count, 4);
    assert_eq!(second.sent_at, Some(time("2026-11-21T09:00:00Z")));
    assert!(second.body.contains("s3:TestEvent"), "{}", second.body);
    assert_eq!(
        EventShape::Sqs,
        detect(&serde_json::from_str(json).unwrap_or_default())
    );
}

#[test]
fn sqs_attributes_may_be_missing_but_not_wrong() {
    let minimal = r#"{"Records":[{"messageId":"m","receiptHandle":"r","body":""}]}"#;
    assert_eq!(
        SqsBatch::from_slice(minimal.as_bytes()),
        Ok(SqsBatch {
            messages: vec![SqsMessage {
                message_id: "m".into(),
                receipt_handle: "r".into(),
                body: String::new(),
                receive_count: 1,
                sent_at: None,
                queue: None,
            }]
        })
    );
    let numbers = r#"{"Records":[{"messageId":"m","receiptHandle":"r","body":"b",
        "attributes":{"ApproximateReceiveCount":7,"SentTimestamp":1795251600000},
        "eventSourceARN":"arn:aws:sqs:us-east-1:1:q"}]}"#;
    let batch = SqsBatch::from_slice(numbers.as_bytes());
    let message = batch.as_ref().ok().and_then(|b| b.messages.first());
    assert_eq!(message.map(|m| m.receive_count), Some(7), "{batch:?}");
    assert_eq!(
        message.and_then(|m| m.sent_at),
        Some(time("2026-11-21T09:00:00Z"))
    );
    assert_eq!(message.and_then(|m| m.queue.as_deref()), Some("q"));
    assert_eq!(
        SqsBatch::from_slice(br#"{"Records":[]}"#),
        Ok(SqsBatch::default())
    );

    let cases = [
        (
            r#"{"Records":[{"messageId":"m","receiptHandle":"r","body":"","attributes":{"ApproximateReceiveCount":"many"}}]}"#,
            "Records[0].attributes.ApproximateReceiveCount",
        ),
        (
            r#"{"Records":[{"messageId":"m","receiptHandle":"r","body":"","attributes":{"SentTimestamp":"soon"}}]}"#,
            "Records[0].attributes.SentTimestamp",
        ),
        (r#"{"Records":[{"messageId":"m","body":""}]}"#, "Records[0]"),
        (
            r#"{"Records":[{"messageId":"m","receiptHandle":"r","body":{}}]}"#,
            "Records[0].body",
        ),
    ];
    for (json, want) in cases {
        let got = SqsBatch::from_slice(json.as_bytes());
        assert!(
            matches!(&got, Err(WireError::Malformed { event: "SQS", path, .. }) if path == want),
            "{json}: {got:?}"
        );
    }
}

#[test]
fn firehose_results_serialize_exactly() {
    for (result, text) in [
        (FirehoseResult::Ok, "\"Ok\""),
        (FirehoseResult::Dropped, "\"Dropped\""),
        (FirehoseResult::ProcessingFailed, "\"ProcessingFailed\""),
    ] {
        assert_eq!(serde_json::to_string(&result).ok().as_deref(), Some(text));
        assert_eq!(format!("\"{}\"", result.as_str()), text);
    }
    let keys = BTreeMap::from([("pipeline".to_owned(), "user_events".to_owned())]);
    let response = FirehoseResponse {
        records: vec![
            FirehoseResponseRecord::ok("r-1", b"{\"a\":1}\n").with_partition_keys(keys),
            FirehoseResponseRecord::dropped("r-2"),
            FirehoseResponseRecord::processing_failed("r-3"),
        ],
    };
    let json = serde_json::to_string(&response).unwrap_or_default();
    assert_eq!(
        json,
        r#"{"records":[{"recordId":"r-1","result":"Ok","data":"eyJhIjoxfQo=","metadata":{"partitionKeys":{"pipeline":"user_events"}}},{"recordId":"r-2","result":"Dropped","data":""},{"recordId":"r-3","result":"ProcessingFailed","data":""}]}"#
    );
}

#[test]
fn serialized_lengths_are_exact() {
    let odd_id = "49546986683135544286507457936321625675700192471156785154\"\\\n\u{1}é";
    let many = BTreeMap::from([
        ("a".to_owned(), "1".to_owned()),
        ("b\"".to_owned(), "ü\t".to_owned()),
        ("year".to_owned(), "2020".to_owned()),
    ]);
    let one = BTreeMap::from([("k".to_owned(), String::new())]);
    for payload_len in [0, 1, 2, 3, 4, 100, 1001] {
        let payload = vec![7u8; payload_len];
        let records = vec![
            FirehoseResponseRecord::ok("r", &payload),
            FirehoseResponseRecord::ok(odd_id, &payload).with_partition_keys(many.clone()),
            FirehoseResponseRecord::ok("r", &payload).with_partition_keys(one.clone()),
            FirehoseResponseRecord::ok("r", &payload).with_partition_keys(BTreeMap::new()),
            FirehoseResponseRecord::dropped(odd_id),
            FirehoseResponseRecord::processing_failed(odd_id),
        ];
        for record in &records {
            let actual = serde_json::to_vec(record)
                .map(|v| v.len())
                .unwrap_or_default();
            assert_eq!(record.serialized_len(), actual, "{record:?}");
            let keys = record.metadata.as_ref().map(|m| &m.partition_keys);
            let len = if record.result == FirehoseResult::Ok {
                payload_len
            } else {
                0
            };
            assert_eq!(
                FirehoseResponseRecord::serialized_len_for(
                    &record.record_id,
                    record.result,
                    len,
                    keys
                ),
                actual,
                "{record:?}"
            );
        }
        for n in 0..=records.len() {
            let response = FirehoseResponse {
                records: records.get(..n).unwrap_or_default().to_vec(),
            };
            let actual = serde_json::to_vec(&response)
                .map(|v| v.len())
                .unwrap_or_default();
            assert_eq!(response.serialized_len(), actual);
        }
    }
}

#[test]
fn batch_item_failures_serialize_exactly() {
    let none = serde_json::to_string(&BatchItemFailures::none()).unwrap_or_default();
    assert_eq!(none, r#"{"batchItemFailures":[]}"#);
    let some =
        serde_json::to_string(&BatchItemFailures::from_ids(["4954", "4955"])).unwrap_or_default();
    assert_eq!(
        some,
        r#"{"batchItemFailures":[{"itemIdentifier":"4954"},{"itemIdentifier":"4955"}]}"#
    );
    assert!(BatchItemFailures::none().is_empty());
}

#[test]
fn detects_event_shapes() {
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or_default();
    let cases = [
        (FIREHOSE_EVENT, EventShape::Firehose),
        (r#"{"invocationId":"i","records":[]}"#, EventShape::Firehose),
        (KINESIS_EVENT, EventShape::Kinesis),
        (r#"{"Records":[{"kinesis":{}}]}"#, EventShape::Kinesis),
        (r#"{"Records":[]}"#, EventShape::Kinesis),
        (
            r#"{"Records":[{"eventSource":"aws:sqs","body":"{}"}]}"#,
            EventShape::Sqs,
        ),
        (
            r#"{"Records":[{"eventSource":"aws:s3"}]}"#,
            EventShape::Unknown,
        ),
        (
            r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#,
            EventShape::Unknown,
        ),
        (r#"{"records":[]}"#, EventShape::Unknown),
        (r#"[]"#, EventShape::Unknown),
        (r#"{"Records":"x"}"#, EventShape::Unknown),
        (r#"{"Records":[5]}"#, EventShape::Unknown),
        ("not json", EventShape::Unknown),
    ];
    for (json, want) in cases {
        assert_eq!(detect(&parse(json)), want, "{json}");
        assert_eq!(detect_slice(json.as_bytes()), want, "bytes: {json}");
        // One pass reads what detection and then the event's reader read.
        assert_eq!(
            IngestBatch::from_slice(json.as_bytes()),
            IngestBatch::detected(json.as_bytes()),
            "one pass: {json}"
        );
    }
    for json in [FIREHOSE_EVENT, KINESIS_EVENT] {
        let fast = IngestBatch::from_slice(json.as_bytes());
        assert!(matches!(fast, Ok(Some(_))), "{fast:?}");
        assert_eq!(fast, IngestBatch::detected(json.as_bytes()));
    }
    // A Kinesis-shaped record sent by SQS is SQS's, as detect says.
    let sqs = r#"{"Records":[{"eventSource":"aws:sqs","eventSourceARN":"arn:aws:kinesis:us-east-1:1:stream/s","eventID":"shardId-0:1","kinesis":{"partitionKey":"p","sequenceNumber":"1","data":"","approximateArrivalTimestamp":1.5}}]}"#;
    assert_eq!(detect_slice(sqs.as_bytes()), EventShape::Sqs);
    assert_eq!(IngestBatch::from_slice(sqs.as_bytes()), Ok(None));
    // A malformed Firehose event still says where.
    let bad = r#"{"invocationId":"i","deliveryStreamArn":"a","records":[{"recordId":5}]}"#;
    assert!(
        matches!(
            IngestBatch::from_slice(bad.as_bytes()),
            Err(WireError::Malformed { ref path, .. }) if path.starts_with("records[0]")
        ),
        "{:?}",
        IngestBatch::from_slice(bad.as_bytes())
    );
}

#[test]
fn base64_data_serialises_as_the_plain_string_would() {
    use base64::Engine as _;
    for bytes in [&b""[..], b"a", b"ab", b"abc", b"{\"a\":1}\n\xff\x00"] {
        let record = FirehoseResponseRecord::ok("r-1", bytes);
        let text = base64::engine::general_purpose::STANDARD.encode(bytes);
        let plain = serde_json::json!({"recordId": "r-1", "result": "Ok", "data": text});
        let written = serde_json::to_string(&record).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&written).unwrap(), plain);
        assert!(
            written.contains(&format!("\"data\":\"{text}\"")),
            "{written}"
        );
        assert_eq!(record.data.as_str(), text);
        assert_eq!(record.serialized_len(), written.len());
        let back: FirehoseResponseRecord = serde_json::from_str(&written).unwrap();
        assert_eq!(back, record);
    }
    // Text that is not base64 still reads and writes as JSON.
    let odd: Base64Data = serde_json::from_str(r#""q\"uote""#).unwrap();
    assert_eq!(odd.as_str(), r#"q\"uote"#);
    assert_eq!(serde_json::to_string(&odd).unwrap(), r#""q\"uote""#);
    assert_eq!(FirehoseResponseRecord::dropped("r").data.as_str(), "");
}

#[test]
fn the_simd_base64_coder_takes_and_gives_what_base64_does() {
    use base64::Engine as _;
    let standard = base64::engine::general_purpose::STANDARD;
    let mut n: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        n ^= n << 13;
        n ^= n >> 7;
        n ^= n << 17;
        n
    };
    let mut texts = Vec::new();
    for len in (0..300).chain([4096, 65_537]) {
        let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let text = standard.encode(&bytes);
        // Encoding: the same text as `base64` writes.
        assert_eq!(FirehoseResponseRecord::ok("r", &bytes).data.as_str(), text);
        // Decoding: valid text, and the text with one byte changed, cut or grown.
        let mut broken = text.clone().into_bytes();
        if !broken.is_empty() {
            let at = (next() as usize) % broken.len();
            broken[at] = b"=A/+\n -_QR*\x00"[(next() % 12) as usize];
        }
        texts.push(String::from_utf8_lossy(&broken).into_owned());
        texts.push(
            text.get(..text.len().saturating_sub(1))
                .unwrap_or("")
                .to_owned(),
        );
        texts.push(format!("{text}="));
        texts.push(text);
    }
    texts.extend(
        [
            "QQ=",
            "QR==",
            "QQ",
            "Q===",
            "QQ==\n",
            " QQ==",
            "QUJD\nREVG",
            "====",
            "QUJ=D",
        ]
        .map(String::from),
    );
    for text in texts {
        // The SIMD decoder alone agrees (the fallback to `base64` is never what decides).
        assert_eq!(
            base64_simd::STANDARD.decode_to_vec(&text).ok(),
            standard.decode(&text).ok(),
            "{text:?}"
        );
        let (simd, undecodable) =
            decode_data(|| "r".into(), Base64Text(Cow::Borrowed(text.as_bytes())));
        match standard.decode(&text) {
            Ok(bytes) => assert_eq!(simd.ok(), Some(bytes), "{text:?}"),
            Err(e) => {
                let message = simd.err().map(|r| r.message).unwrap_or_default();
                assert!(message.ends_with(&e.to_string()), "{text:?}: {message}");
                assert_eq!(undecodable.as_deref(), Some(text.as_str()));
            }
        }
    }
}

#[test]
fn record_data_is_read_as_the_string_sent() {
    let event = |data: &str| {
        format!(
            r#"{{"Records":[{{"eventSource":"aws:kinesis","eventSourceARN":"arn:aws:kinesis:us-east-1:1:stream/s","eventID":"shardId-000000000000:1","kinesis":{{"partitionKey":"p","sequenceNumber":"1","approximateArrivalTimestamp":1763726400.5,"data":{data}}}}}]}}"#
        )
    };
    // An escaped `/` (JSON allows it) is unescaped before base64 decodes it.
    let batch = KinesisBatch::from_slice(event(r#""P\/8=""#).as_bytes());
    let data = batch.map(|b| b.records.into_iter().map(|r| r.data).collect::<Vec<_>>());
    assert_eq!(data.ok(), Some(vec![Ok(vec![0x3f, 0xff])]));
    // Text that is not base64 is kept for the reject, as sent.
    let batch = KinesisBatch::from_slice(event(r#""n\u00e9t base64""#).as_bytes());
    let undecodable = batch.map(|b| {
        b.records
            .into_iter()
            .map(|r| r.undecodable)
            .collect::<Vec<_>>()
    });
    assert_eq!(
        undecodable.ok(),
        Some(vec![Some("n\u{e9}t base64".to_owned())])
    );
    // Not a string: the event does not read.
    assert!(KinesisBatch::from_slice(event("[63,255]").as_bytes()).is_err());
}
