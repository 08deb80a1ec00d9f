//! [`KinesisReader`](loglift_aws::KinesisReader) on moto: records put with the SDK are read back
//! by position.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use loglift_ports::{ShardPosition, StreamReader};

#[tokio::test]
async fn kinesis_reader_reads_by_position_on_moto() {
    let Some(moto) = loglift_tests::moto() else {
        return;
    };
    let client = moto.kinesis_client();
    let (stream, _) = moto.new_stream("events").await.unwrap();

    let payloads: Vec<String> = (0..6).map(|i| format!("{{\"n\":{i}}}")).collect();
    let entries = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| {
            PutRecordsRequestEntry::builder()
                .data(Blob::new(p.as_bytes()))
                .partition_key(format!("pk-{i}"))
                .build()
                .unwrap()
        })
        .collect();
    let out = client
        .put_records()
        .stream_name(&stream)
        .set_records(Some(entries))
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_record_count(), Some(0));
    let seqs: Vec<String> = out
        .records()
        .iter()
        .map(|r| r.sequence_number().unwrap().to_owned())
        .collect();
    assert_eq!(seqs.len(), payloads.len());

    let reader = moto.kinesis_reader();
    let shards = reader.shards(&stream).await.unwrap();
    assert_eq!(shards.len(), 1);
    let shard = &shards[0];

    let all = reader
        .read(&stream, shard, &ShardPosition::TrimHorizon, 100)
        .await
        .unwrap();
    let data: Vec<&[u8]> = all.records.iter().map(|r| r.data.as_ref()).collect();
    let want: Vec<&[u8]> = payloads.iter().map(|p| p.as_bytes()).collect();
    assert_eq!(data, want);
    assert_eq!(
        all.records
            .iter()
            .map(|r| r.sequence_number.clone())
            .collect::<Vec<_>>(),
        seqs
    );
    assert_eq!(all.records[3].partition_key, "pk-3");
    assert!(all.records[0].approximate_arrival.timestamp() > 0);

    let at = reader
        .read(
            &stream,
            shard,
            &ShardPosition::AtSequence(seqs[2].clone()),
            100,
        )
        .await
        .unwrap();
    assert_eq!(
        at.records
            .iter()
            .map(|r| r.sequence_number.as_str())
            .collect::<Vec<_>>(),
        &seqs[2..]
    );
    let after = reader
        .read(
            &stream,
            shard,
            &ShardPosition::AfterSequence(seqs[2].clone()),
            100,
        )
        .await
        .unwrap();
    assert_eq!(
        after
            .records
            .iter()
            .map(|r| r.sequence_number.as_str())
            .collect::<Vec<_>>(),
        &seqs[3..]
    );
    let limited = reader
        .read(&stream, shard, &ShardPosition::TrimHorizon, 2)
        .await
        .unwrap();
    assert_eq!(limited.records.len(), 2);
    let last = reader
        .read(
            &stream,
            shard,
            &ShardPosition::AfterSequence(seqs[5].clone()),
            100,
        )
        .await
        .unwrap();
    assert!(last.records.is_empty());

    let err = reader
        .shards(&loglift_tests::unique_name("no-such-stream"))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = reader
        .read(
            &stream,
            "shardId-999999999999",
            &ShardPosition::TrimHorizon,
            1,
        )
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}
