//! Reject records: one JSON line per record, event, line or row that could not go on, with where
//! it came from, where in it, a stable reason code, a message and the raw bytes (base64, capped).

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// Raw bytes kept in a reject record, at most. Kinesis records (≤ 1 MiB) are always kept whole;
/// a longer line from a file keeps its first MiB and its source position.
pub const RAW_CAP: usize = 1024 * 1024;

/// The stage that rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Ingest,
    Transform,
    Load,
    Redrive,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Ingest => "ingest",
            Stage::Transform => "transform",
            Stage::Load => "load",
            Stage::Redrive => "redrive",
        }
    }
}

/// Stable reason codes. Never rename one: dashboards, `loglift replay --reason` and the audit
/// key on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The record's `data` is not valid base64.
    BadBase64,
    /// A gzip or zlib stream is corrupt or truncated.
    BadCompression,
    /// A compression this build cannot read (kept for compatibility: gzip, zlib and zstd are all
    /// read now).
    UnsupportedCompression,
    /// Decompressed bytes over the absolute cap or the ratio cap, or a line over the line cap.
    TooLarge,
    /// Bytes that are not UTF-8.
    InvalidUtf8,
    /// Not JSON, or JSON that is not an object where an event object is expected.
    InvalidJson,
    /// A KPL aggregate whose protobuf does not decode.
    BadKplAggregate,
    /// A KPL aggregate whose MD5 trailer does not match.
    KplChecksum,
    /// Compressed JSON that is not a CloudWatch Logs subscription payload.
    BadCloudwatchPayload,
    /// A record with no bytes, or an event with an empty body.
    Empty,
    /// No pipeline of the spec matches the record.
    UnknownPipeline,
    /// The pipeline's identity fields are missing from the event.
    MissingIdentity,
    /// The identity value is longer than an event id may be.
    IdentityTooLong,
    /// A required column is missing or null.
    MissingRequired,
    /// A value that cannot be coerced to its column's type.
    WrongType,
    /// A value longer, in bytes, than its column allows.
    TooLong,
    /// A timestamp that does not parse.
    BadTimestamp,
    /// The pipeline declares an event time and the row has none that parses.
    MissingEventTime,
    /// A TSV line whose field count differs from the header's.
    BadTsv,
    /// A Firehose record whose transformed data would push the response over 6 MB.
    ResponseTooLarge,
    /// A Firehose record whose events route to several pipelines (Firehose partitions whole
    /// records); replay it through the Kinesis path, which splits it.
    MixedPipelines,
    /// A text line its pipeline's `text` format does not match.
    NoMatch,
}

impl Reason {
    /// The code as written in reject records.
    pub fn code(self) -> &'static str {
        match self {
            Reason::BadBase64 => "bad_base64",
            Reason::BadCompression => "bad_compression",
            Reason::UnsupportedCompression => "unsupported_compression",
            Reason::TooLarge => "too_large",
            Reason::InvalidUtf8 => "invalid_utf8",
            Reason::InvalidJson => "invalid_json",
            Reason::BadKplAggregate => "bad_kpl_aggregate",
            Reason::KplChecksum => "kpl_checksum",
            Reason::BadCloudwatchPayload => "bad_cloudwatch_payload",
            Reason::Empty => "empty",
            Reason::UnknownPipeline => "unknown_pipeline",
            Reason::MissingIdentity => "missing_identity",
            Reason::IdentityTooLong => "identity_too_long",
            Reason::MissingRequired => "missing_required",
            Reason::WrongType => "wrong_type",
            Reason::TooLong => "too_long",
            Reason::BadTimestamp => "bad_timestamp",
            Reason::MissingEventTime => "missing_event_time",
            Reason::BadTsv => "bad_tsv",
            Reason::ResponseTooLarge => "response_too_large",
            Reason::MixedPipelines => "mixed_pipelines",
            Reason::NoMatch => "no_match",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// Where a rejected thing came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    S3 {
        bucket: String,
        key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
    },
    Kinesis {
        stream: String,
        shard: String,
        sequence: String,
    },
    Firehose {
        delivery_stream: String,
        record_id: String,
    },
    Sqs {
        queue: String,
        message_id: String,
    },
}

/// Where inside the source: any of the three that apply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Index of the record in its batch (0-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<u32>,
    /// Index of the event inside the record (CloudWatch logEvent, KPL user record, NDJSON line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<u32>,
    /// Line number in an object (1-based; the header of a TSV file is line 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
}

impl Position {
    pub fn record(index: usize) -> Self {
        Position {
            record: Some(saturate(index)),
            ..Position::default()
        }
    }
    pub fn event(self, index: usize) -> Self {
        Position {
            event: Some(saturate(index)),
            ..self
        }
    }
    pub fn line(line: u64) -> Self {
        Position {
            line: Some(line),
            ..Position::default()
        }
    }
}

fn saturate(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

/// One reject, as written (one JSON line) under the errors area.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectRecord {
    pub stage: Stage,
    pub pipeline: Option<String>,
    pub source: Source,
    pub position: Position,
    pub reason: Reason,
    pub message: String,
    /// The rejected bytes, base64, at most [`RAW_CAP`] of them before encoding.
    pub raw: String,
    /// Length of the rejected bytes before capping.
    pub raw_bytes: u64,
    pub raw_truncated: bool,
    /// When it was rejected (RFC 3339, UTC).
    pub time: String,
}

/// A reject before it knows its stage, source and time: what decoders and validators return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    pub message: String,
}

impl Rejection {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Rejection {
            reason,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)
    }
}

impl std::error::Error for Rejection {}

impl RejectRecord {
    /// Build a reject record; the raw bytes are capped at [`RAW_CAP`].
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        stage: Stage,
        pipeline: Option<&str>,
        source: Source,
        position: Position,
        rejection: &Rejection,
        raw: &[u8],
        time: DateTime<Utc>,
    ) -> Self {
        let kept = raw.get(..RAW_CAP).unwrap_or(raw);
        RejectRecord {
            stage,
            pipeline: pipeline.map(str::to_owned),
            source,
            position,
            reason: rejection.reason,
            message: rejection.message.clone(),
            raw: base64_simd::STANDARD.encode_to_string(kept),
            raw_bytes: raw.len() as u64,
            raw_truncated: kept.len() < raw.len(),
            time: time.to_rfc3339_opts(SecondsFormat::Millis, true),
        }
    }

    /// The raw bytes back (for replay).
    pub fn raw_bytes(&self) -> Result<Vec<u8>, base64::DecodeError> {
        base64::engine::general_purpose::STANDARD.decode(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reject_record_round_trips_and_caps_raw() {
        let time =
            DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z").map(|t| t.with_timezone(&Utc));
        let Ok(time) = time else {
            panic!("fixed time parses")
        };
        let big = vec![b'x'; RAW_CAP + 10];
        let r = RejectRecord::new(
            Stage::Ingest,
            None,
            Source::Kinesis {
                stream: "s".into(),
                shard: "shardId-0".into(),
                sequence: "1".into(),
            },
            Position::record(3).event(1),
            &Rejection::new(Reason::InvalidJson, "expected value at line 1 column 1"),
            &big,
            time,
        );
        assert!(r.raw_truncated);
        assert_eq!(r.raw_bytes, (RAW_CAP + 10) as u64);
        let line = serde_json::to_string(&r).unwrap_or_default();
        assert!(line.contains(r#""reason":"invalid_json""#), "{line}");
        assert!(
            line.contains(r#""position":{"record":3,"event":1}"#),
            "{line}"
        );
        assert!(line.contains(r#""source":{"kind":"kinesis""#), "{line}");
        let back: RejectRecord =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(back, r);
        assert_eq!(back.raw_bytes().map(|b| b.len()).ok(), Some(RAW_CAP));
    }

    #[test]
    fn reason_codes_match_serde_names() {
        for reason in [
            Reason::BadBase64,
            Reason::UnknownPipeline,
            Reason::ResponseTooLarge,
            Reason::KplChecksum,
        ] {
            let json = serde_json::to_string(&reason).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", reason.code()));
        }
    }
}
