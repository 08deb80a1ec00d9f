//! KPL aggregation: the Kinesis Producer Library packs many user records into one Kinesis record
//! as magic `F3 89 9A C2`, a protobuf `AggregatedRecord`, and an MD5 of the protobuf bytes.
//! Kinesis-triggered Lambdas receive them still aggregated; [`deaggregate`] opens them and
//! [`aggregate`] builds them (tests, samples, the sample generator).

use std::collections::HashMap;

use md5::{Digest, Md5};
use prost::Message;

use crate::reject::{Reason, Rejection};

/// The four bytes every KPL aggregate starts with.
pub const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];
const DIGEST_LEN: usize = 16;

/// One record as the producer put it, out of an aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub partition_key: String,
    pub explicit_hash_key: Option<String>,
    pub data: Vec<u8>,
}

// The KPL's protobuf schema (aws/amazon-kinesis-producer, aggregation-format.md), proto2.
#[derive(Clone, PartialEq, Message)]
struct AggregatedRecord {
    #[prost(string, repeated, tag = "1")]
    partition_key_table: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    explicit_hash_key_table: Vec<String>,
    #[prost(message, repeated, tag = "3")]
    records: Vec<Record>,
}

#[derive(Clone, PartialEq, Message)]
struct Record {
    #[prost(uint64, required, tag = "1")]
    partition_key_index: u64,
    #[prost(uint64, optional, tag = "2")]
    explicit_hash_key_index: Option<u64>,
    #[prost(bytes = "vec", required, tag = "3")]
    data: Vec<u8>,
    #[prost(message, repeated, tag = "4")]
    tags: Vec<Tag>,
}

#[derive(Clone, PartialEq, Message)]
struct Tag {
    #[prost(string, required, tag = "1")]
    key: String,
    #[prost(string, optional, tag = "2")]
    value: Option<String>,
}

/// Whether `data` starts with the KPL magic bytes.
pub fn is_aggregate(data: &[u8]) -> bool {
    data.starts_with(&MAGIC)
}

/// Open a KPL aggregate into its user records, in order.
///
/// Errors: [`Reason::KplChecksum`] when the MD5 trailer does not match, [`Reason::BadKplAggregate`]
/// when the bytes are too short, lack the magic, the protobuf does not decode, or a record points
/// outside the partition-key or explicit-hash-key table.
pub fn deaggregate(data: &[u8]) -> Result<Vec<UserRecord>, Rejection> {
    let bad = |what: String| Rejection::new(Reason::BadKplAggregate, what);
    let body = data
        .strip_prefix(&MAGIC)
        .ok_or_else(|| bad(format!("{} bytes without the KPL magic bytes", data.len())))?;
    let split = body.len().checked_sub(DIGEST_LEN).ok_or_else(|| {
        bad(format!(
            "KPL aggregate of {} bytes is shorter than magic + 16-byte MD5",
            data.len()
        ))
    })?;
    let (proto, digest) = body.split_at(split);
    let computed = Md5::digest(proto);
    if computed.as_slice() != digest {
        return Err(Rejection::new(
            Reason::KplChecksum,
            format!(
                "KPL aggregate of {} bytes: MD5 trailer {} does not match the protobuf's {}",
                data.len(),
                hex::encode(digest),
                hex::encode(computed)
            ),
        ));
    }
    let aggregated = AggregatedRecord::decode(proto).map_err(|e| {
        bad(format!(
            "KPL aggregate of {} bytes: protobuf does not decode: {e}",
            data.len()
        ))
    })?;
    let AggregatedRecord {
        partition_key_table,
        explicit_hash_key_table,
        records,
    } = aggregated;
    records
        .into_iter()
        .enumerate()
        .map(|(i, record)| {
            let partition_key = table_entry(&partition_key_table, record.partition_key_index)
                .ok_or_else(|| {
                    bad(format!(
                        "KPL user record {i}: partition key index {} outside a table of {}",
                        record.partition_key_index,
                        partition_key_table.len()
                    ))
                })?
                .to_owned();
            let explicit_hash_key = match record.explicit_hash_key_index {
                None => None,
                Some(index) => Some(
                    table_entry(&explicit_hash_key_table, index)
                        .ok_or_else(|| {
                            bad(format!(
                                "KPL user record {i}: explicit hash key index {index} outside a table of {}",
                                explicit_hash_key_table.len()
                            ))
                        })?
                        .to_owned(),
                ),
            };
            Ok(UserRecord { partition_key, explicit_hash_key, data: record.data })
        })
        .collect()
}

fn table_entry(table: &[String], index: u64) -> Option<&str> {
    usize::try_from(index)
        .ok()
        .and_then(|i| table.get(i))
        .map(String::as_str)
}

/// Build a KPL aggregate of `records` (partition and explicit hash keys deduplicated into the
/// tables, as the KPL does).
pub fn aggregate(records: &[UserRecord]) -> Vec<u8> {
    let mut partition_keys = Table::default();
    let mut hash_keys = Table::default();
    let records = records
        .iter()
        .map(|r| Record {
            partition_key_index: partition_keys.index(&r.partition_key),
            explicit_hash_key_index: r.explicit_hash_key.as_deref().map(|k| hash_keys.index(k)),
            data: r.data.clone(),
            tags: Vec::new(),
        })
        .collect();
    let aggregated = AggregatedRecord {
        partition_key_table: partition_keys.entries,
        explicit_hash_key_table: hash_keys.entries,
        records,
    };
    let proto = aggregated.encode_to_vec();
    let mut out = Vec::with_capacity(MAGIC.len() + proto.len() + DIGEST_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&proto);
    out.extend_from_slice(&Md5::digest(&proto));
    out
}

#[derive(Default)]
struct Table {
    entries: Vec<String>,
    positions: HashMap<String, u64>,
}

impl Table {
    fn index(&mut self, key: &str) -> u64 {
        if let Some(&i) = self.positions.get(key) {
            return i;
        }
        let i = self.entries.len() as u64;
        self.entries.push(key.to_owned());
        self.positions.insert(key.to_owned(), i);
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<UserRecord> {
        vec![
            UserRecord {
                partition_key: "pk-a".into(),
                explicit_hash_key: None,
                data: br#"{"n":1}"#.to_vec(),
            },
            UserRecord {
                partition_key: "pk-b".into(),
                explicit_hash_key: Some("170141183460469231731687303715884105728".into()),
                data: br#"{"n":2}"#.to_vec(),
            },
            UserRecord {
                partition_key: "pk-a".into(),
                explicit_hash_key: None,
                data: Vec::new(),
            },
        ]
    }

    /// Re-sign an aggregate whose protobuf bytes were edited.
    fn resign(proto: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(proto);
        out.extend_from_slice(&Md5::digest(proto));
        out
    }

    #[test]
    fn round_trips() {
        let records = sample();
        let packed = aggregate(&records);
        assert!(is_aggregate(&packed));
        assert_eq!(deaggregate(&packed), Ok(records));
        assert_eq!(deaggregate(&aggregate(&[])), Ok(Vec::new()));
    }

    #[test]
    fn deduplicates_partition_keys() {
        let packed = aggregate(&sample());
        let proto = packed.get(4..packed.len() - 16).unwrap_or_default();
        let decoded = AggregatedRecord::decode(proto).map_err(|e| e.to_string());
        let Ok(decoded) = decoded else {
            panic!("{decoded:?}")
        };
        assert_eq!(
            decoded.partition_key_table,
            vec!["pk-a".to_owned(), "pk-b".to_owned()]
        );
        assert_eq!(decoded.explicit_hash_key_table.len(), 1);
    }

    #[test]
    fn bad_md5_is_kpl_checksum() {
        let mut packed = aggregate(&sample());
        if let Some(last) = packed.last_mut() {
            *last ^= 1;
        }
        assert_eq!(
            deaggregate(&packed).map_err(|r| r.reason),
            Err(Reason::KplChecksum)
        );
        // Data edited in flight, trailer untouched.
        let mut packed = aggregate(&sample());
        if let Some(b) = packed.get_mut(10) {
            *b ^= 1;
        }
        assert_eq!(
            deaggregate(&packed).map_err(|r| r.reason),
            Err(Reason::KplChecksum)
        );
    }

    #[test]
    fn truncated_is_rejected() {
        let packed = aggregate(&sample());
        for cut in [0, 3, 4, 10, 19, packed.len() - 1] {
            let short = packed.get(..cut).unwrap_or_default();
            let got = deaggregate(short).map_err(|r| r.reason);
            assert!(
                matches!(got, Err(Reason::BadKplAggregate | Reason::KplChecksum)),
                "cut at {cut}: {got:?}"
            );
        }
        assert_eq!(
            deaggregate(&MAGIC).map_err(|r| r.reason),
            Err(Reason::BadKplAggregate)
        );
        // A protobuf cut short but correctly signed: the checksum passes, the decode does not.
        let packed = aggregate(&sample());
        let proto = packed.get(4..packed.len() - 16).unwrap_or_default();
        let short = proto.get(..proto.len() - 3).unwrap_or_default();
        assert_eq!(
            deaggregate(&resign(short)).map_err(|r| r.reason),
            Err(Reason::BadKplAggregate)
        );
    }

    #[test]
    fn out_of_range_index_is_rejected() {
        let bad_pk = AggregatedRecord {
            partition_key_table: vec!["only".into()],
            explicit_hash_key_table: Vec::new(),
            records: vec![Record {
                partition_key_index: 1,
                explicit_hash_key_index: None,
                data: b"{}".to_vec(),
                tags: Vec::new(),
            }],
        };
        let got = deaggregate(&resign(&bad_pk.encode_to_vec()));
        assert_eq!(
            got.as_ref().map_err(|r| r.reason),
            Err(Reason::BadKplAggregate)
        );
        assert!(got
            .err()
            .is_some_and(|r| r.message.contains("partition key index 1")));

        let bad_ehk = AggregatedRecord {
            partition_key_table: vec!["only".into()],
            explicit_hash_key_table: Vec::new(),
            records: vec![Record {
                partition_key_index: 0,
                explicit_hash_key_index: Some(0),
                data: b"{}".to_vec(),
                tags: Vec::new(),
            }],
        };
        let got = deaggregate(&resign(&bad_ehk.encode_to_vec()));
        assert_eq!(got.map_err(|r| r.reason), Err(Reason::BadKplAggregate));
    }

    #[test]
    fn tags_are_accepted_and_ignored() {
        let tagged = AggregatedRecord {
            partition_key_table: vec!["k".into()],
            explicit_hash_key_table: Vec::new(),
            records: vec![Record {
                partition_key_index: 0,
                explicit_hash_key_index: None,
                data: b"{}".to_vec(),
                tags: vec![Tag {
                    key: "t".into(),
                    value: Some("v".into()),
                }],
            }],
        };
        let got = deaggregate(&resign(&tagged.encode_to_vec()));
        assert_eq!(
            got,
            Ok(vec![UserRecord {
                partition_key: "k".into(),
                explicit_hash_key: None,
                data: b"{}".to_vec()
            }])
        );
    }
}
