#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Bounded property-based fuzzing of the core decoders, part of the test command: arbitrary bytes
//! and structure-aware mutations of valid inputs (KPL aggregates with flipped bytes, truncated or
//! corrupt gzip CloudWatch Logs payloads, S3 events with odd keys, TSV with stray tabs, quotes and
//! CRs, NDJSON with huge numbers, deep nesting and invalid UTF-8, a mutated spec) through every
//! decoder, checked by the invariants in `fuzz/src/checks.rs` (shared with the cargo-fuzz
//! targets). Plus the caps: decompression stops exactly at the cap, a KPL aggregate's user records
//! share one budget, and a gzip of 100 MB of zeros is a `too_large` reject in bounded memory
//! (measured in a child process). Every input under `samples/fuzz/<target>/` is replayed.
//!
//! Deterministic: a fixed seed and small case counts (the whole file runs in well under 20 s in a
//! debug build). A longer run, another seed:
//!
//! ```sh
//! PROPTEST_CASES=100000 cargo test --release -p loglift-core --test fuzz_smoke
//! PROPTEST_RNG_SEED=12345 cargo test -p loglift-core --test fuzz_smoke
//! ```

#[path = "../../../fuzz/src/checks.rs"]
mod checks;

use std::collections::BTreeMap;
use std::path::Path;

use checks::Shape;
use loglift_core::compress::{self, Caps};
use loglift_core::envelope::{Limits, Unwrapped};
use loglift_core::kpl::{self, UserRecord};
use loglift_core::reject::Reason;
use loglift_core::transform;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// `cases` unless `PROPTEST_CASES` says otherwise; a fixed seed unless `PROPTEST_RNG_SEED` does;
/// no regression files written into the source tree (failures become `samples/fuzz/` inputs).
fn config(cases: u32) -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(0x0106_11f7);
    }
    config.failure_persistence = None;
    config
}

// ---------------------------------------------------------------------------------------------
// JSON text, valid and not quite

/// Numbers as text: ordinary, beyond i64/u64/f64, with huge exponents, odd forms.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        "-?[1-9][0-9]{19,300}",
        "-?[1-9]\\.[0-9]{1,20}[eE][+-]?[0-9]{3,7}",
        Just("-0".to_owned()),
        Just("1E-400".to_owned()),
        Just("1e400".to_owned()),
        Just("01".to_owned()),
        Just("NaN".to_owned()),
    ]
}

/// String literals: any Unicode (escaped by serde_json), or raw escapes including lone
/// surrogates and control characters.
fn string_lit() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
        1 => "\"([a-z \t/\"]|\\\\[nrt\"\\\\/bf]|\\\\u[0-9a-fA-F]{4}|\\\\ud[89ab][0-9a-f]{2}|é|\u{1F600})*\"",
        1 => Just("\"messageType\"".to_owned()),
        1 => Just("\"nul\\u0000\"".to_owned()),
    ]
}

fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        number(),
        string_lit(),
    ];
    leaf.prop_recursive(5, 40, 5, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(","))),
            vec((string_lit(), inner), 0..5).prop_map(|v| {
                let fields: Vec<String> = v.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

/// An event with a field nested `depth` levels (serde_json stops at 128), with the fields every
/// pipeline's identity needs, so it is routed and identified.
fn deep() -> impl Strategy<Value = String> {
    (118usize..132, any::<bool>()).prop_map(|(depth, arrays)| {
        let nested = if arrays {
            format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
        } else {
            format!("{}\"x\"{}", "{\"a\":".repeat(depth), "}".repeat(depth))
        };
        format!(r#"{{"request_id":"deep","partner_name":"p","accommodation_id":"a","x":{nested}}}"#)
    })
}

fn timestamp() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("2020-06-01T00:00:24Z".to_owned()),
        Just("2020-06-01 00:59:59.5".to_owned()),
        Just("1591000000".to_owned()),
        Just("9999-12-31T23:59:59Z".to_owned()),
        Just("0000-01-01T00:00:00Z".to_owned()),
        "[0-9:TZ .+-]{0,30}",
    ]
}

/// A `user_events` event, valid or close to it, with extra fields of any JSON.
fn user_event() -> impl Strategy<Value = String> {
    (
        "[a-z0-9-]{1,40}",
        timestamp(),
        prop_oneof![Just("\"c\"".to_owned()), json_text()],
        vec((string_lit(), json_text()), 0..3),
        any::<bool>(),
    )
        .prop_map(|(id, ts, cookie, extra, with_topic)| {
            let mut fields = vec![
                format!("\"request_id\":{}", serde_json::to_string(&id).unwrap()),
                format!(
                    "\"request_timestamp\":{}",
                    serde_json::to_string(&ts).unwrap()
                ),
                format!("\"cookie_id\":{cookie}"),
            ];
            if with_topic {
                fields.push("\"topic\":\"t\"".to_owned());
            }
            fields.extend(extra.into_iter().map(|(k, v)| format!("{k}:{v}")));
            format!("{{{}}}", fields.join(","))
        })
}

/// A JSON object's text (an event), any shape.
fn object_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => user_event(),
        2 => vec((string_lit(), json_text()), 0..5).prop_map(|v| {
            let fields: Vec<String> = v.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
            format!("{{{}}}", fields.join(","))
        }),
        1 => deep(),
    ]
}

/// NDJSON text: objects and other lines, with blank lines, CRLF, stray whitespace.
fn ndjson_text() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        6 => object_text(),
        1 => json_text(),
        1 => Just(String::new()),
        1 => Just("   \t".to_owned()),
        1 => "[^\n]{0,40}",
    ];
    (vec((line, any::<bool>()), 0..8), any::<bool>()).prop_map(|(lines, final_newline)| {
        let mut text = String::new();
        for (i, (line, crlf)) in lines.iter().enumerate() {
            if i > 0 {
                text.push_str(if *crlf { "\r\n" } else { "\n" });
            }
            text.push_str(line);
        }
        if final_newline {
            text.push('\n');
        }
        text
    })
}

/// A JSON array of elements, with odd whitespace between them.
fn array_text() -> impl Strategy<Value = String> {
    let ws = prop_oneof![
        Just(""),
        Just(" "),
        Just("\n"),
        Just("\r\n\t "),
        Just("\u{feff}"),
    ];
    let element = prop_oneof![4 => object_text(), 1 => json_text()];
    (vec((element, ws.clone()), 0..6), ws).prop_map(|(elements, tail)| {
        let parts: Vec<String> = elements
            .into_iter()
            .map(|(e, ws)| format!("{ws}{e}{ws}"))
            .collect();
        format!("[{}]{tail}", parts.join(","))
    })
}

// ---------------------------------------------------------------------------------------------
// Compression and mutations

#[derive(Debug, Clone, Copy)]
enum Packing {
    Plain,
    Gzip,
    Zlib,
    Zstd,
    /// Two gzip members back to back (Firehose and CloudWatch Logs concatenate them).
    GzipTwice,
}

fn packing() -> impl Strategy<Value = Packing> {
    prop_oneof![
        3 => Just(Packing::Plain),
        2 => Just(Packing::Gzip),
        1 => Just(Packing::Zlib),
        1 => Just(Packing::Zstd),
        1 => Just(Packing::GzipTwice),
    ]
}

fn pack(bytes: &[u8], packing: Packing) -> Vec<u8> {
    match packing {
        Packing::Plain => bytes.to_vec(),
        Packing::Gzip => compress::gzip(bytes),
        Packing::Zlib => compress::zlib(bytes),
        Packing::Zstd => compress::zstd(bytes),
        Packing::GzipTwice => {
            let (a, b) = bytes.split_at(bytes.len() / 2);
            let mut out = compress::gzip(a);
            out.extend(compress::gzip(b));
            out
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    /// Keep this fraction (per mille) of the bytes.
    Truncate(u16),
    /// XOR the byte at this position (per mille) with a non-zero mask.
    Flip(u16, u8),
    /// Insert bytes (invalid UTF-8, tabs, quotes, CRs, NULs, …) at this position (per mille).
    Insert(u16, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let inserted = prop_oneof![
        Just(vec![0xff]),
        Just(vec![0xc3]),
        Just(vec![0xed, 0xa0, 0x80]),
        Just(vec![0xef, 0xbb, 0xbf]),
        Just(vec![b'\t']),
        Just(vec![b'"']),
        Just(vec![b'\r']),
        Just(vec![b'\n']),
        Just(vec![0]),
        Just(b"]}".to_vec()),
        vec(any::<u8>(), 1..8),
    ];
    prop_oneof![
        (0u16..1000).prop_map(Mutation::Truncate),
        (0u16..1000, 1u8..=255).prop_map(|(at, mask)| Mutation::Flip(at, mask)),
        (0u16..=1000, inserted).prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
    ]
}

fn at(len: usize, per_mille: u16) -> usize {
    len * usize::from(per_mille) / 1000
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        match m {
            Mutation::Truncate(keep) => bytes.truncate(at(bytes.len(), *keep)),
            Mutation::Flip(pos, mask) => {
                if !bytes.is_empty() {
                    let i = at(bytes.len() - 1, *pos);
                    bytes[i] ^= mask;
                }
            }
            Mutation::Insert(pos, inserted) => {
                let i = at(bytes.len(), *pos);
                bytes.splice(i..i, inserted.iter().copied());
            }
        }
    }
    bytes
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop_oneof![2 => Just(Vec::new()), 3 => vec(mutation(), 1..4)]
}

// ---------------------------------------------------------------------------------------------
// KPL, CloudWatch Logs, Firehose events, S3 bodies, TSV, spec

fn user_record() -> impl Strategy<Value = UserRecord> {
    (
        prop_oneof![Just("pk-a".to_owned()), Just("pk-b".to_owned()), ".{0,12}"],
        proptest::option::of("[0-9]{1,39}"),
        object_text(),
        packing(),
    )
        .prop_map(
            |(partition_key, explicit_hash_key, text, packing)| UserRecord {
                partition_key,
                explicit_hash_key,
                data: pack(text.as_bytes(), packing),
            },
        )
}

fn log_event() -> impl Strategy<Value = String> {
    let message = prop_oneof![
        4 => object_text(),
        1 => Just(String::new()),
        1 => Just("  \n".to_owned()),
        1 => ".{0,40}",
    ];
    ("[0-9]{1,56}", any::<i64>(), message).prop_map(|(id, ts, message)| {
        serde_json::json!({"id": id, "timestamp": ts, "message": message}).to_string()
    })
}

/// A CloudWatch Logs subscription payload (DATA or CONTROL), as the JSON text.
fn logs_payload() -> impl Strategy<Value = String> {
    let group = prop_oneof![
        Just("prod_/srv/idp/shared/log/events.log".to_owned()),
        Just("/srv/idp/shared/log/events.log".to_owned()),
        Just(String::new()),
        ".{0,30}",
    ];
    let kind = prop_oneof![
        4 => Just("DATA_MESSAGE"),
        1 => Just("CONTROL_MESSAGE"),
        1 => Just("SOMETHING_ELSE"),
    ];
    (kind, group, vec(log_event(), 0..5)).prop_map(|(kind, group, events)| {
        format!(
            r#"{{"messageType":"{kind}","owner":"123456789012","logGroup":{},"logStream":"i-0abc","subscriptionFilters":["f"],"logEvents":[{}]}}"#,
            serde_json::to_string(&group).unwrap(),
            events.join(",")
        )
    })
}

/// Base64 `data` of a Firehose or Kinesis record: encoded payloads, or text that is not base64.
fn record_data() -> impl Strategy<Value = String> {
    use base64::Engine as _;
    let payload = prop_oneof![
        3 => (ndjson_text(), packing(), mutations())
            .prop_map(|(t, p, m)| mutate(pack(t.as_bytes(), p), &m)),
        1 => (logs_payload(), mutations())
            .prop_map(|(t, m)| mutate(compress::gzip(t.as_bytes()), &m)),
        1 => vec(user_record(), 1..4).prop_map(|r| kpl::aggregate(&r)),
    ];
    prop_oneof![
        6 => payload.prop_map(|p| base64::engine::general_purpose::STANDARD.encode(p)),
        1 => "[A-Za-z0-9+/=!-]{0,24}",
    ]
}

/// A Firehose data-transformation event, with odd timestamps and metadata.
fn firehose_event() -> impl Strategy<Value = String> {
    let stamp = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        Just("1e300".to_owned()),
        Just("\"2026-11-21T10:11:12.123Z\"".to_owned()),
        Just("\"yesterday\"".to_owned()),
        Just("null".to_owned()),
    ];
    let subsequence = prop_oneof![
        Just("\"\"".to_owned()),
        Just("3".to_owned()),
        Just("\"7\"".to_owned()),
        Just("\"x\"".to_owned()),
        Just("-1".to_owned()),
    ];
    let metadata = proptest::option::of(subsequence).prop_map(|sub| match sub {
        None => String::new(),
        Some(sub) => format!(
            r#","kinesisRecordMetadata":{{"shardId":"shardId-000000000000","partitionKey":"pk","approximateArrivalTimestamp":1,"sequenceNumber":"49","subsequenceNumber":{sub}}}"#
        ),
    });
    let record = ("[a-zA-Z0-9]{1,8}", stamp, record_data(), metadata).prop_map(
        |(id, stamp, data, metadata)| {
            format!(
                r#"{{"recordId":"{id}","approximateArrivalTimestamp":{stamp},"data":"{data}"{metadata}}}"#
            )
        },
    );
    let source = prop_oneof![
        Just(
            r#","sourceKinesisStreamArn":"arn:aws:kinesis:us-east-1:123456789012:stream/user-events""#
        ),
        Just(""),
        Just(r#","sourceKinesisStreamArn":"not-an-arn""#),
    ];
    (vec(record, 0..4), source).prop_map(|(records, source)| {
        format!(
            r#"{{"invocationId":"inv","deliveryStreamArn":"arn:aws:firehose:us-east-1:123456789012:deliverystream/user-events","region":"us-east-1"{source},"records":[{}]}}"#,
            records.join(",")
        )
    })
}

/// Object keys as users name them: spaces, plus signs, percent signs (valid or not), `=`, `&`,
/// `?`, `#`, emoji, control characters, empty segments.
fn odd_key() -> impl Strategy<Value = String> {
    prop_oneof![
        "([a-z0-9/ +%=&?#~._-]|%[0-9A-Fa-f]{2}|%[g-z]|é|\u{1F600}|\u{0}|\t)*",
        any::<String>(),
    ]
}

/// A TSV landing file for `hit_data`, with stray tabs, quotes and CRs in its fields.
fn tsv_text() -> impl Strategy<Value = String> {
    const COLUMNS: [&str; 12] = [
        "hit_time_gmt",
        "date_time",
        "user_agent",
        "ip",
        "event_list",
        "geo_city",
        "geo_region",
        "geo_country",
        "pagename",
        "page_url",
        "product_list",
        "referrer",
    ];
    let header = prop_oneof![
        4 => Just(COLUMNS.join("\t")),
        1 => proptest::sample::subsequence(COLUMNS.to_vec(), 1..COLUMNS.len())
            .prop_map(|c| c.join("\t")),
        1 => Just(format!("\u{feff}{}", COLUMNS.join("\t"))),
        1 => Just("a\ta\t".to_owned()),
        1 => "[a-z\t ]{0,20}",
    ];
    let field = prop_oneof![
        3 => "[a-zA-Z0-9 ./:;,=-]{0,12}",
        1 => "[0-9]{1,10}",
        1 => Just("\"quoted\ttab\"".to_owned()),
        1 => Just("\"".to_owned()),
        1 => Just("a\rb".to_owned()),
        1 => Just("nul\u{0}".to_owned()),
        1 => Just("Electronics;Ipod - Touch - 32GB;1;290;,".to_owned()),
        1 => Just("http://www.google.com/search?hl=en&q=Ipod".to_owned()),
    ];
    let row = vec(field, 10..14).prop_map(|f| f.join("\t"));
    (header, vec((row, any::<bool>()), 0..6)).prop_map(|(header, rows)| {
        let mut text = header;
        for (row, crlf) in rows {
            text.push_str(if crlf { "\r\n" } else { "\n" });
            text.push_str(&row);
        }
        text
    })
}

#[derive(Debug, Clone)]
enum SpecEdit {
    Delete(u16),
    Duplicate(u16),
    Swap(u16, u16),
    /// Replace the value after the first `: ` of a line.
    Value(u16, &'static str),
    Indent(u16, bool),
    Insert(u16, &'static str),
}

fn spec_edit() -> impl Strategy<Value = SpecEdit> {
    let value = prop_oneof![
        Just("-1"),
        Just("~"),
        Just("true"),
        Just("[ "),
        Just("{ }"),
        Just("&a x"),
        Just("*a"),
        Just("\"\\u0000\""),
        Just("99999999999999999999"),
        Just("json_array"),
        Just("tsv"),
        Just("x.y.z"),
        Just("\"[\""),
        Just("{ hash: [] }"),
    ];
    let snippet = prop_oneof![
        Just("  - &p { name: a }"),
        Just("a: &x [*x]"),
        Just("    - { name: request_id, type: string, required: true, max_bytes: 36 }"),
        Just("pipelines: []"),
        Just("\t"),
        Just("? [a, b]\n: c"),
        Just("x: !!binary aGk="),
        Just("      - { name: x, type: timestamp, time_format: epoch_millis }"),
    ];
    let line = 0u16..1000;
    prop_oneof![
        line.clone().prop_map(SpecEdit::Delete),
        line.clone().prop_map(SpecEdit::Duplicate),
        (line.clone(), line.clone()).prop_map(|(a, b)| SpecEdit::Swap(a, b)),
        (line.clone(), value).prop_map(|(l, v)| SpecEdit::Value(l, v)),
        (line.clone(), any::<bool>()).prop_map(|(l, d)| SpecEdit::Indent(l, d)),
        (line, snippet).prop_map(|(l, s)| SpecEdit::Insert(l, s)),
    ]
}

fn edit_spec(text: &str, edits: &[SpecEdit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for edit in edits {
        let n = lines.len().max(1);
        let pick = |l: &u16| at(n - 1, *l);
        match edit {
            SpecEdit::Delete(l) if !lines.is_empty() => {
                lines.remove(pick(l));
            }
            SpecEdit::Duplicate(l) if !lines.is_empty() => {
                let i = pick(l);
                lines.insert(i, lines[i].clone());
            }
            SpecEdit::Swap(a, b) if !lines.is_empty() => lines.swap(pick(a), pick(b)),
            SpecEdit::Value(l, v) if !lines.is_empty() => {
                let i = pick(l);
                if let Some((key, _)) = lines[i].split_once(": ") {
                    lines[i] = format!("{key}: {v}");
                }
            }
            SpecEdit::Indent(l, deeper) if !lines.is_empty() => {
                let i = pick(l);
                lines[i] = if *deeper {
                    format!("  {}", lines[i])
                } else {
                    lines[i].trim_start().to_owned()
                };
            }
            SpecEdit::Insert(l, s) => {
                let i = at(lines.len(), *l);
                lines.insert(i, (*s).to_owned());
            }
            _ => {}
        }
    }
    lines.join("\n")
}

// ---------------------------------------------------------------------------------------------
// The properties

proptest! {
    #![proptest_config(config(192))]

    /// Every target's check on arbitrary bytes.
    #[test]
    fn arbitrary_bytes_through_every_decoder(
        target in proptest::sample::select(checks::TARGETS.to_vec()),
        data in vec(any::<u8>(), 0..300),
    ) {
        prop_assert!(checks::check(target, &data));
    }

    /// Record data (Firehose record data, Kinesis record data): JSON objects, NDJSON, arrays,
    /// deep nesting, huge numbers, compressed or not, then truncated, flipped, or with invalid
    /// UTF-8 inserted; through the envelope and through ingest into transform.
    #[test]
    fn record_data_mutations(
        text in prop_oneof![3 => ndjson_text(), 1 => array_text(), 1 => deep()],
        packing in packing(),
        mutations in mutations(),
    ) {
        let data = mutate(pack(text.as_bytes(), packing), &mutations);
        prop_assert!(checks::check("envelope", &data));
    }

    /// A valid KPL aggregate round-trips; any flipped byte after the magic is a checksum reject;
    /// a truncated one is rejected; a mutated protobuf with a correct MD5 is decoded or rejected
    /// as `bad_kpl_aggregate`, never a panic.
    #[test]
    fn kpl_aggregates_flipped_truncated_and_reframed(
        records in vec(user_record(), 1..5),
        flip in (0u16..1000, 1u8..=255),
        keep in 0u16..1000,
        proto_mutations in vec(mutation(), 1..4),
    ) {
        let aggregate = kpl::aggregate(&records);
        prop_assert_eq!(kpl::deaggregate(&aggregate), Ok(records.clone()));
        let events = checks::unwrap_checked(&aggregate, &Limits::default());
        match events {
            Ok(Unwrapped::Events { events, rejects, .. }) => {
                prop_assert!(events.len() + rejects.len() >= records.len());
                for e in &events {
                    prop_assert!(e.partition_key.is_some());
                }
            }
            Ok(Unwrapped::Control { .. }) => {}
            Err(r) => prop_assert!(false, "a valid aggregate rejected whole: {}", r),
        }
        checks::check_kinesis_data(&aggregate);

        let mut flipped = aggregate.clone();
        let i = 4 + at(flipped.len() - 5, flip.0);
        flipped[i] ^= flip.1;
        prop_assert_eq!(
            kpl::deaggregate(&flipped).map_err(|r| r.reason),
            Err(Reason::KplChecksum)
        );
        checks::check_envelope(&flipped);

        let truncated = &aggregate[..at(aggregate.len(), keep)];
        if let Ok(users) = kpl::deaggregate(truncated) {
            prop_assert!(false, "a truncated aggregate decoded: {:?}", users);
        }
        checks::check_envelope(truncated);

        let proto = aggregate[4..aggregate.len() - 16].to_vec();
        checks::check_kpl(&mutate(proto, &proto_mutations));
    }

    /// The user records of one aggregate share one decompression budget (here the 64 KiB ratio
    /// floor: gzip'd spaces are tiny): what is accepted fits it, the rest is `too_large`.
    #[test]
    fn kpl_user_records_share_one_budget(
        count in 2usize..6,
        size in 16_000usize..60_000,
        ratio in 1usize..4,
    ) {
        let object = format!("{{\"request_id\":\"x\",\"pad\":\"{}\"}}", " ".repeat(size - 30));
        let records: Vec<UserRecord> = (0..count)
            .map(|i| UserRecord {
                partition_key: format!("pk{i}"),
                explicit_hash_key: None,
                data: compress::gzip(object.as_bytes()),
            })
            .collect();
        let aggregate = kpl::aggregate(&records);
        let limits = Limits { record: Caps { max_bytes: 1 << 20, max_ratio: ratio } };
        let budget = limits.record.limit_for(aggregate.len());
        prop_assert_eq!(budget, Caps::RATIO_FLOOR);
        match checks::unwrap_checked(&aggregate, &limits) {
            Ok(Unwrapped::Events { events, rejects, .. }) => {
                prop_assert_eq!(events.len() + rejects.len(), count);
                prop_assert!(events.len() * object.len() <= budget);
                for r in &rejects {
                    prop_assert_eq!(r.rejection.reason, Reason::TooLarge);
                }
                // Nothing was refused while budget remained for it.
                prop_assert_eq!(events.len(), count.min(budget / object.len()));
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }

    /// CloudWatch Logs payloads: valid ones give one event or reject per log event (gzip and
    /// zlib); truncated gzip is `bad_compression`; corrupted ones never panic.
    #[test]
    fn cloudwatch_payloads_truncated_and_corrupted(
        payload in logs_payload(),
        keep in 0u16..1000,
        corruption in vec(mutation(), 1..4),
    ) {
        checks::check_cwlogs(payload.as_bytes());
        let packed = compress::gzip(payload.as_bytes());
        checks::check_kinesis_data(&packed);
        let cut = at(packed.len(), keep).max(2);
        let truncated = checks::unwrap_checked(&packed[..cut], &Limits::default());
        prop_assert_eq!(truncated.map(|_| ()).map_err(|r| r.reason), Err(Reason::BadCompression));
        let corrupt = mutate(packed, &corruption);
        checks::check_envelope(&corrupt);
        checks::check_kinesis_data(&corrupt);
    }

    /// Firehose transformation events with odd timestamps, metadata, and data of every kind.
    #[test]
    fn firehose_events(event in firehose_event(), mutations in prop_oneof![
        4 => Just(Vec::new()),
        1 => vec(mutation(), 1..3),
    ]) {
        checks::check_firehose_event(&mutate(event.into_bytes(), &mutations));
    }

    /// S3 event bodies: our own body round-trips any key; bodies with raw odd keys, in every
    /// shape, parse or are poison with a code.
    #[test]
    fn s3_events_with_odd_keys(
        key in odd_key(),
        bucket in "[a-z0-9.-]{3,20}",
        shape in 0u8..4,
        mutations in mutations(),
    ) {
        checks::check_s3_key_roundtrip(&bucket, &key);
        let key_json = serde_json::to_string(&key).unwrap();
        let plain = format!(
            r#"{{"Records":[{{"eventVersion":"2.1","eventName":"ObjectCreated:Put","eventTime":"2026-11-21T10:11:12.000Z","s3":{{"bucket":{{"name":"{bucket}"}},"object":{{"key":{key_json},"size":1,"eTag":"\"e\"","sequencer":"0A"}}}}}}]}}"#
        );
        let body = match shape {
            0 => plain,
            1 => serde_json::json!({"Type": "Notification", "Message": plain}).to_string(),
            2 => format!(
                r#"{{"version":"0","detail-type":"Object Created","source":"aws.s3","time":"2026-11-21T10:11:12Z","detail":{{"bucket":{{"name":"{bucket}"}},"object":{{"key":{key_json},"size":1,"etag":"e"}},"reason":"PutObject"}}}}"#
            ),
            _ => r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"lake"}"#.to_owned(),
        };
        let body = mutate(body.into_bytes(), &mutations);
        checks::check_s3event(&body);
    }

    /// TSV landing files with stray tabs, quotes and CRs, compressed or not, mutated.
    #[test]
    fn tsv_files(text in tsv_text(), packing in packing(), mutations in mutations()) {
        let data = mutate(pack(text.as_bytes(), packing), &mutations);
        checks::check_tsv(&data);
    }

    /// NDJSON objects with huge numbers, deep nesting, CRLF and invalid UTF-8: the line reader
    /// against its model, landing and raw transform, the envelope.
    #[test]
    fn ndjson_files(text in ndjson_text(), mutations in mutations(), packing in packing()) {
        let data = mutate(text.into_bytes(), &mutations);
        checks::check_ndjson(&data);
        checks::check_transform(&pack(&data, packing), Shape::Ndjson, transform::Limits::default());
    }

    /// JSON arrays: the element reader against serde_json, then transform.
    #[test]
    fn json_arrays(text in array_text(), mutations in mutations()) {
        checks::check_jsonarray(&mutate(text.into_bytes(), &mutations));
    }

    /// The project's spec with lines deleted, duplicated, swapped, re-indented, values replaced.
    #[test]
    fn spec_mutations(edits in vec(spec_edit(), 1..4)) {
        let text = edit_spec(checks::SPEC, &edits);
        checks::check_spec(text.as_bytes());
    }
}

proptest! {
    #![proptest_config(config(128))]

    /// Decompression stops exactly at the cap: `too_large` iff the content is over
    /// `min(max_bytes, max(len * ratio, 64 KiB))`.
    #[test]
    fn decompression_is_cut_exactly_at_the_cap(
        n in 0usize..300_000,
        byte in any::<u8>(),
        which in 0u8..3,
        max_bytes in 1000usize..200_000,
        max_ratio in 1usize..2000,
    ) {
        let content = vec![byte; n];
        let packed = match which {
            0 => compress::gzip(&content),
            1 => compress::zlib(&content),
            _ => compress::zstd(&content),
        };
        let caps = Caps { max_bytes, max_ratio };
        let limit = caps.limit_for(packed.len());
        match compress::decompress(&packed, &caps) {
            Ok(bytes) => {
                prop_assert!(n <= limit, "{} bytes came out, cap {}", n, limit);
                prop_assert_eq!(bytes.len(), n);
            }
            Err(r) => {
                prop_assert_eq!(r.reason, Reason::TooLarge, "{}", r);
                prop_assert!(n > limit);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A decompression bomb, in a child process so its peak memory is its own

const BOMB_CHILD: &str = "LOGLIFT_FUZZ_BOMB_CHILD";
const BOMB_BYTES: usize = 100 * 1024 * 1024;

/// `VmHWM` or `VmRSS` of this process, in KiB.
fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A gzip (one member) of `BOMB_BYTES` zeros, written from a 1 MiB buffer.
fn zero_bomb() -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![0u8; 1024 * 1024];
    for _ in 0..BOMB_BYTES / chunk.len() {
        encoder.write_all(&chunk).unwrap();
    }
    encoder.finish().unwrap()
}

#[test]
fn a_gzip_of_100_mb_of_zeros_is_too_large_in_bounded_memory() {
    if std::env::var_os(BOMB_CHILD).is_some() {
        return bomb_child();
    }
    if !Path::new("/proc/self/status").exists() {
        eprintln!("skipped: no /proc to measure peak memory");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "a_gzip_of_100_mb_of_zeros_is_too_large_in_bounded_memory",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(BOMB_CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    let report = stderr
        .lines()
        .find(|l| l.starts_with("bomb:"))
        .unwrap_or_else(|| panic!("no report from the child:\n{stdout}\n{stderr}"));
    eprintln!("{report}");
}

fn bomb_child() {
    let bomb = zero_bomb();
    // Start the peak from here: the bomb itself is ~100 KB.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let base = proc_status_kib("VmRSS:");

    // One record (Kinesis or Firehose data): the default caps (16 MiB).
    let record = loglift_core::envelope::unwrap_record(&bomb, &Limits::default());
    let reason = record.as_ref().map(|_| ()).map_err(|r| r.reason);
    assert_eq!(reason, Err(Reason::TooLarge), "{record:?}");
    let record_peak = proc_status_kib("VmHWM:");

    // One object (a landing file) streamed through transform: one 100 MB line over the 4 MiB
    // line cap.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let outcome = checks::check_transform(&bomb, Shape::Ndjson, transform::Limits::default());
    assert_eq!(
        outcome.rejects_by_reason,
        BTreeMap::from([("too_large", 1)]),
        "{outcome:?}"
    );
    assert_eq!(outcome.bytes_in, BOMB_BYTES as u64 + 1);
    let object_peak = proc_status_kib("VmHWM:");

    let cap_kib = (Caps::default().max_bytes / 1024) as u64;
    eprintln!(
        "bomb: gzip of {} MiB zeros = {} bytes; base RSS {base} KiB; peak RSS decoding it as a \
         record {record_peak} KiB (cap {cap_kib} KiB), as an object {object_peak} KiB",
        BOMB_BYTES >> 20,
        bomb.len()
    );
    // Within the cap plus the process's own memory, far below the 100 MiB of content.
    assert!(
        record_peak < base + cap_kib + 8 * 1024,
        "record peak {record_peak} KiB"
    );
    assert!(
        object_peak < base + 16 * 1024,
        "object peak {object_peak} KiB"
    );
}

// ---------------------------------------------------------------------------------------------
// Every crash the fuzzers found, replayed

#[test]
fn fuzz_samples_replay() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/fuzz");
    let mut replayed = 0;
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let target = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            checks::TARGETS.contains(&target.as_str()),
            "samples/fuzz/{target}: no such fuzz target"
        );
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).unwrap();
            eprintln!("replaying {}", file.display());
            assert!(checks::check(&target, &data));
            replayed += 1;
        }
    }
    eprintln!("{replayed} fuzz samples replayed");
}
