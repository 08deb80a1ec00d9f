//! Lanes: one per output stream (a Kinesis stream, a Firehose delivery stream, a landing
//! prefix). A lane packs records into invocations (or files) under its limits, and places
//! duplicate copies where the generator asked: a few records later (usually the same batch), in
//! the next batch, or in another lane.

use base64::Engine as _;
use serde_json::json;

use crate::payload::{ACCOUNT, REGION};
use crate::rng::Rng;

/// What one event copy or record is, for the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Content {
    /// A valid event (or row); `key` tells copies of the same event apart from others.
    Valid { pipeline: &'static str, key: String },
    /// An event ingest accepts and transform must reject, with the reason it should give.
    TransformReject {
        pipeline: &'static str,
        reason: &'static str,
    },
    /// Something ingest rejects, with the pipeline it can still name (if any) and the reason.
    IngestReject {
        pipeline: Option<&'static str>,
        reason: &'static str,
    },
    /// A CloudWatch Logs CONTROL_MESSAGE (dropped by ingest).
    Control,
}

/// A record's bytes as they go on the wire.
#[derive(Debug, Clone)]
pub(crate) enum Payload {
    /// Bytes, base64-encoded into the event's `data`.
    Bytes(Vec<u8>),
    /// Text put into `data` as it is: not valid base64.
    NotBase64(String),
    /// One line of a landing file (without its newline).
    Line(String),
}

impl Payload {
    fn len(&self) -> usize {
        match self {
            Payload::Bytes(b) => b.len(),
            Payload::NotBase64(s) | Payload::Line(s) => s.len(),
        }
    }
}

/// One record (or landing line) waiting for a place.
#[derive(Debug, Clone)]
pub(crate) struct Rec {
    pub payload: Payload,
    pub contents: Vec<Content>,
    /// When it reaches the stream (epoch ms); the lane's clock never goes back.
    pub at_ms: i64,
    /// Bytes its answer may take in a Firehose response (an over-estimate).
    pub response: usize,
}

impl Rec {
    pub(crate) fn new(payload: Payload, contents: Vec<Content>, at_ms: i64) -> Self {
        let response = crate::wire_estimate::failed(payload.len());
        Rec {
            payload,
            contents,
            at_ms,
            response,
        }
    }

    pub(crate) fn with_response(mut self, response: usize) -> Self {
        self.response = response;
        self
    }
}

/// How a lane writes its records.
#[derive(Debug, Clone)]
pub(crate) enum Encoding {
    /// A Kinesis event-source event of stream `stream`, batches spread over `shards` shards.
    Kinesis { stream: &'static str, shards: usize },
    /// A Firehose transformation event; Kinesis-source when `source_stream` is set.
    Firehose {
        delivery: &'static str,
        source_stream: Option<&'static str>,
    },
    /// A TSV file with a header line.
    Tsv { header: String },
    /// A JSON-lines file.
    Jsonl,
}

/// What a lane's batches may hold.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub bytes: usize,
    pub records: usize,
    pub response: usize,
}

/// A finished invocation or file.
#[derive(Debug, Clone)]
pub(crate) struct Batch {
    pub name: String,
    pub body: Vec<u8>,
    pub records: usize,
    pub contents: Vec<Content>,
}

#[derive(Debug, Default)]
struct Current {
    shard: String,
    header: String,
    records: Vec<String>,
    bytes: usize,
    response: usize,
    contents: Vec<Content>,
}

/// One output stream and its batches.
#[derive(Debug)]
pub(crate) struct Lane {
    pub name: &'static str,
    encoding: Encoding,
    limits: Limits,
    /// Distinguishes this lane's sequence numbers from other lanes'.
    id: u8,
    rng: Rng,
    pub finished: Vec<Batch>,
    cur: Current,
    /// Copies due after `pushed` reaches the first number.
    soon: Vec<(u64, Rec)>,
    /// Copies held for the next batch.
    carry: Vec<Rec>,
    pushed: u64,
    seq: u64,
    clock_ms: i64,
}

const FOOTER: &str = "]}";

impl Lane {
    pub(crate) fn new(
        name: &'static str,
        id: u8,
        encoding: Encoding,
        limits: Limits,
        rng: Rng,
    ) -> Self {
        let mut lane = Lane {
            name,
            encoding,
            limits,
            id,
            rng,
            finished: Vec::new(),
            cur: Current::default(),
            soon: Vec::new(),
            carry: Vec::new(),
            pushed: 0,
            seq: 0,
            clock_ms: 0,
        };
        lane.start();
        lane
    }

    fn is_json(&self) -> bool {
        matches!(
            self.encoding,
            Encoding::Kinesis { .. } | Encoding::Firehose { .. }
        )
    }

    /// Begin the next batch: its shard and header.
    fn start(&mut self) {
        let index = self.finished.len();
        let (shard, header) = match &self.encoding {
            Encoding::Kinesis { shards, .. } => (
                format!("shardId-{:012}", index % (*shards).max(1)),
                r#"{"Records":["#.to_owned(),
            ),
            Encoding::Firehose {
                delivery,
                source_stream,
            } => {
                let mut header = format!(
                    r#"{{"invocationId":"{}","deliveryStreamArn":"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{delivery}","region":"{REGION}","#,
                    self.rng.uuid()
                );
                if let Some(stream) = source_stream {
                    header.push_str(&format!(
                        r#""sourceKinesisStreamArn":"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{stream}","#
                    ));
                }
                header.push_str(r#""records":["#);
                (format!("shardId-{:012}", index % 2), header)
            }
            Encoding::Tsv { header } => (String::new(), format!("{header}\n")),
            Encoding::Jsonl => (String::new(), String::new()),
        };
        let footer = if self.is_json() { FOOTER.len() } else { 0 };
        self.cur = Current {
            bytes: header.len() + footer,
            shard,
            header,
            ..Current::default()
        };
    }

    /// A 56-digit sequence number, unique across lanes.
    fn sequence(&self, n: u64) -> String {
        format!("49607050521458412286813347312{:02}{:025}", self.id, n)
    }

    fn encode(&mut self, rec: &Rec, seq: &str, arrival_ms: i64) -> String {
        let data = match &rec.payload {
            Payload::Bytes(b) => base64::engine::general_purpose::STANDARD.encode(b),
            Payload::NotBase64(s) => s.clone(),
            Payload::Line(line) => return format!("{line}\n"),
        };
        let shard = self.cur.shard.clone();
        let partition_key = self.rng.uuid();
        let value = match &self.encoding {
            Encoding::Kinesis { stream, .. } => json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": partition_key,
                    "sequenceNumber": seq,
                    "data": data,
                    "approximateArrivalTimestamp": arrival_ms as f64 / 1000.0,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("{shard}:{seq}"),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": format!("arn:aws:iam::{ACCOUNT}:role/loglift-ingest"),
                "awsRegion": REGION,
                "eventSourceARN": format!("arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{stream}"),
            }),
            Encoding::Firehose {
                source_stream: Some(_),
                ..
            } => json!({
                "recordId": seq,
                "approximateArrivalTimestamp": arrival_ms,
                "data": data,
                "kinesisRecordMetadata": {
                    "shardId": shard,
                    "partitionKey": partition_key,
                    "approximateArrivalTimestamp": arrival_ms,
                    "sequenceNumber": seq,
                    "subsequenceNumber": 0,
                },
            }),
            Encoding::Firehose { .. } => json!({
                "recordId": seq,
                "approximateArrivalTimestamp": arrival_ms,
                "data": data,
            }),
            Encoding::Tsv { .. } | Encoding::Jsonl => return data,
        };
        value.to_string()
    }

    /// Append `rec` to the current batch if it fits (or the batch is empty); else give it back.
    fn try_append(&mut self, rec: Rec) -> Result<(), Rec> {
        let seq = self.sequence(self.seq + 1);
        let arrival = self.clock_ms.max(rec.at_ms);
        let text = self.encode(&rec, &seq, arrival);
        let separator = usize::from(self.is_json() && !self.cur.records.is_empty());
        let fits = self.cur.bytes.saturating_add(separator + text.len()) <= self.limits.bytes
            && self.cur.records.len() < self.limits.records
            && self.cur.response.saturating_add(rec.response) <= self.limits.response;
        if !fits && !self.cur.records.is_empty() {
            return Err(rec);
        }
        self.seq += 1;
        self.clock_ms = arrival;
        self.cur.bytes += separator + text.len();
        self.cur.response = self.cur.response.saturating_add(rec.response);
        self.cur.records.push(text);
        self.cur.contents.extend(rec.contents);
        Ok(())
    }

    /// Place a record, closing batches as they fill.
    fn place(&mut self, rec: Rec) {
        let mut rec = rec;
        loop {
            match self.try_append(rec) {
                Ok(()) => return,
                Err(back) => {
                    rec = back;
                    self.close();
                }
            }
        }
    }

    /// Close the current batch: copies meant for it go in while they fit, then it is finished
    /// and the copies held for the next batch open the next one.
    fn close(&mut self) {
        let mut pending = std::mem::take(&mut self.soon);
        pending.sort_by_key(|(due, _)| *due);
        for (due, rec) in pending {
            if let Err(rec) = self.try_append(rec) {
                self.soon.push((due, rec));
            }
        }
        self.finish_current();
        for rec in std::mem::take(&mut self.carry) {
            self.place(rec);
        }
    }

    fn finish_current(&mut self) {
        let cur = std::mem::take(&mut self.cur);
        let index = self.finished.len();
        let (name, body) = match &self.encoding {
            Encoding::Kinesis { stream, .. } => (
                format!("{stream}-{index:05}-{}.json", cur.shard),
                format!("{}{}{FOOTER}", cur.header, cur.records.join(",")),
            ),
            Encoding::Firehose { delivery, .. } => (
                format!("{delivery}-{index:05}.json"),
                format!("{}{}{FOOTER}", cur.header, cur.records.join(",")),
            ),
            Encoding::Tsv { .. } => (
                format!("part-{index:05}.tsv"),
                format!("{}{}", cur.header, cur.records.concat()),
            ),
            Encoding::Jsonl => (format!("part-{index:05}.jsonl"), cur.records.concat()),
        };
        self.finished.push(Batch {
            name,
            body: body.into_bytes(),
            records: cur.records.len(),
            contents: cur.contents,
        });
        self.start();
    }

    /// Release the copies that are due.
    fn release(&mut self) {
        let pushed = self.pushed;
        if !self.soon.iter().any(|(due, _)| *due <= pushed) {
            return;
        }
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.soon)
            .into_iter()
            .partition(|(due, _)| *due <= pushed);
        self.soon = later;
        for (_, rec) in due {
            self.place(rec);
        }
    }

    /// Add a record in order.
    pub(crate) fn push(&mut self, rec: Rec) {
        self.pushed += 1;
        self.release();
        self.place(rec);
    }

    /// Add a copy a few records from now (usually in the same batch).
    pub(crate) fn push_soon(&mut self, rec: Rec) {
        let delay = self.rng.between(0, 8);
        self.soon.push((self.pushed + delay, rec));
    }

    /// Add a copy to the next batch.
    pub(crate) fn push_next_batch(&mut self, rec: Rec) {
        self.carry.push(rec);
    }

    /// Place everything still waiting and finish the last batches.
    pub(crate) fn finish(&mut self) {
        let mut pending = std::mem::take(&mut self.soon);
        pending.sort_by_key(|(due, _)| *due);
        for (_, rec) in pending {
            self.place(rec);
        }
        if !self.cur.records.is_empty() {
            self.finish_current();
        }
        for rec in std::mem::take(&mut self.carry) {
            self.place(rec);
        }
        if !self.cur.records.is_empty() {
            self.finish_current();
        }
    }
}
