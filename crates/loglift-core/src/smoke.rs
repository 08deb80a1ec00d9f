//! The pure half of `loglift smoke`: tagged events in the shape each pipeline's entry takes, and
//! the SQL that counts and removes them by `event_id` (the I/O is `loglift_stages::smoke`).
//!
//! An event is built from its pipeline's spec, so any spec gets events its transform accepts:
//! every required column gets a value of its type within its byte limit; the identity field
//! holds the event's tag `smoke-<run>-<entry>-<n>` (a hash identity gets the tag in every hashed
//! field, so the hash is new); the event-time column is now, written as its `time_format` reads;
//! a `topic` field gets a value its glob matches; `loglift_smoke: <run>` marks the event (it lands
//! in the row's `extra`). TSV pipelines get every value as text, as a TSV line carries it. The id
//! is computed by [`crate::identity::event_id`] over exactly the fields sent, as ingest and
//! transform compute it.
//!
//! Shapes: [`stream_records`] (a Kinesis or Firehose record per event; CloudWatch Logs pipelines
//! get one gzip `DATA_MESSAGE` holding every event, from a log group their glob matches) and
//! [`landing_file`] (one file in the pipeline's format).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use crate::identity::{event_id, MAX_EVENT_ID_BYTES};
use crate::spec::{Column, ColumnType, Format, Identity, Pipeline, TimeFormat};
use crate::sql::{table_ref, Dialect, SqlError};
use crate::textlog::{Line as TextLine, TextFormat, TextSpec, Unmatched, LOG_TIMESTAMP};

/// The field that marks a smoke event (and the TSV column that carries it).
pub const TAG_FIELD: &str = "loglift_smoke";

/// Why a pipeline cannot be smoke-tested.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pipeline `{pipeline}`: {message}")]
pub struct SmokeError {
    pub pipeline: String,
    pub message: String,
}

/// One tagged event.
#[derive(Debug, Clone, PartialEq)]
pub struct SmokeEvent {
    /// `smoke-<run>-<entry>-<n>`: unique per run and event.
    pub tag: String,
    /// The `event_id` the pipeline gives it.
    pub event_id: String,
    /// The event as the pipeline reads it (all strings for TSV pipelines; the parsed row for
    /// text pipelines).
    pub fields: Map<String, Value>,
    /// For `text` pipelines: the line sent, which the pipeline's text format reads as `fields`.
    pub line: Option<String>,
}

/// The tag of event `n` of entry `entry` in run `run`.
pub fn tag(run: &str, entry: usize, n: usize) -> String {
    format!("smoke-{run}-{entry}-{n}")
}

/// Build the event tagged `tag` for `pipeline`, with its event time `now`.
pub fn event(
    pipeline: &Pipeline,
    tag: &str,
    run: &str,
    now: DateTime<Utc>,
) -> Result<SmokeEvent, SmokeError> {
    let fail = |message: String| SmokeError {
        pipeline: pipeline.name.clone(),
        message,
    };
    if let Some(spec) = &pipeline.text {
        return text_event(pipeline, spec, tag, run, now).map_err(fail);
    }
    let text = pipeline.format == Format::Tsv;
    let identity_path = match &pipeline.identity {
        Identity::Field(path) => Some(path.as_str()),
        _ => None,
    };
    let hashed: &[String] = match &pipeline.identity {
        Identity::Hash(fields) => fields,
        _ => &[],
    };
    let topic = pipeline.matcher.topic.as_ref();
    let mut fields = Map::new();
    for column in &pipeline.columns {
        let path = column.source_path();
        let is_id = identity_path == Some(path);
        let is_time = pipeline.event_time.as_deref() == Some(column.name.as_str());
        let is_hashed = hashed.iter().any(|h| h == path);
        let is_topic = topic.is_some_and(|t| t.field == path);
        if !(column.required || is_id || is_time || is_hashed || is_topic) {
            continue;
        }
        let value = match topic {
            Some(t) if is_topic => Value::String(glob_example(&t.glob)),
            _ if is_time => time_value(column.time_format.unwrap_or_default(), now),
            _ if is_id => id_value(column, tag).map_err(fail)?,
            _ => plain_value(column, tag, run, now),
        };
        insert(&mut fields, path, value, text);
    }
    // Identity, hashed and topic fields the schema does not name.
    if let Some(path) = identity_path {
        if !present(&fields, path, text) {
            insert(&mut fields, path, Value::String(tag.to_owned()), text);
        }
    }
    for path in hashed {
        if !present(&fields, path, text) {
            insert(&mut fields, path, Value::String(tag.to_owned()), text);
        }
    }
    if let Some(t) = topic {
        if !present(&fields, &t.field, text) {
            insert(
                &mut fields,
                &t.field,
                Value::String(glob_example(&t.glob)),
                text,
            );
        }
    }
    if !fields.contains_key(TAG_FIELD) {
        fields.insert(TAG_FIELD.to_owned(), Value::String(run.to_owned()));
    }
    if text {
        for value in fields.values_mut() {
            *value = Value::String(as_text(value));
        }
    }
    hash_carries_tag(&pipeline.identity, &fields, tag, text).map_err(fail)?;
    let log_event_id = matches!(pipeline.identity, Identity::LogEventId).then_some(tag);
    let id = event_id(&pipeline.identity, &fields, log_event_id)
        .map_err(|r| fail(format!("no event id for a smoke event: {}", r.message)))?;
    if id.len() > MAX_EVENT_ID_BYTES {
        return Err(fail(format!(
            "the smoke event's id is {} bytes, over {MAX_EVENT_ID_BYTES}",
            id.len()
        )));
    }
    Ok(SmokeEvent {
        tag: tag.to_owned(),
        event_id: id,
        fields,
        line: None,
    })
}

/// An event of a pipeline that reads text lines: a line its format reads into a row holding
/// every required column (an ALB access log line, or a JSON line where unmatched lines are kept
/// as `message`), checked with the pipeline's own parser.
fn text_event(
    pipeline: &Pipeline,
    spec: &TextSpec,
    tag: &str,
    run: &str,
    now: DateTime<Utc>,
) -> Result<SmokeEvent, String> {
    let line = match (spec.format, spec.unmatched) {
        (TextFormat::Alb, _) => alb_line(tag, run, now),
        (_, Unmatched::Message) => json!({ TAG_FIELD: run, "smoke": tag }).to_string(),
        (format, Unmatched::Reject) => {
            return Err(format!(
                "the smoke test cannot write a line of text format {}",
                format.as_str()
            ))
        }
    };
    let parser = spec.parser(pipeline).map_err(str::to_owned)?;
    let mut fields = match parser.reader(now).line(&line) {
        TextLine::Row(row) => row,
        TextLine::Skip => return Err(format!("its text format skips the line {line}")),
        TextLine::Reject(r) => {
            return Err(format!("its text format refuses {line}: {}", r.message))
        }
    };
    if pipeline.format == Format::CloudwatchLogs {
        // Ingest adds the log event's timestamp (the smoke events' is `now`).
        fields
            .entry(LOG_TIMESTAMP)
            .or_insert_with(|| crate::textlog::time::write(now).into());
    }
    if let Some(column) = pipeline
        .columns
        .iter()
        .find(|c| c.required && crate::identity::lookup(&fields, c.source_path()).is_none())
    {
        return Err(format!(
            "a line the smoke test can write in text format {} leaves the required column `{}` empty",
            spec.format.as_str(),
            column.name
        ));
    }
    hash_carries_tag(&pipeline.identity, &fields, tag, false)?;
    let log_event_id = matches!(pipeline.identity, Identity::LogEventId).then_some(tag);
    let id = event_id(&pipeline.identity, &fields, log_event_id)
        .map_err(|r| format!("no event id for a smoke event: {}", r.message))?;
    Ok(SmokeEvent {
        tag: tag.to_owned(),
        event_id: id,
        fields,
        line: Some(line),
    })
}

/// A hash identity's id is unique to the run only if a hashed field holds the whole tag: with
/// every hashed field truncated or typed (a number, a boolean), two runs would send the same id,
/// and the cleanup, which deletes by id, could remove a real row of that id.
fn hash_carries_tag(
    identity: &Identity,
    fields: &Map<String, Value>,
    tag: &str,
    flat: bool,
) -> Result<(), String> {
    let Identity::Hash(paths) = identity else {
        return Ok(());
    };
    let carries = paths.iter().any(|path| {
        let value = if flat {
            fields.get(path.as_str())
        } else {
            crate::identity::lookup(fields, path)
        };
        value.is_some_and(|v| as_text(v).contains(tag))
    });
    if carries {
        Ok(())
    } else {
        Err(format!(
            "no hashed field of its identity ({}) can hold the whole smoke tag `{tag}`, so its \
             smoke ids would not be unique to this run (and the cleanup deletes by id)",
            paths.join(", ")
        ))
    }
}

/// An ALB access log line (the 29 fields every line has) whose request and trace id carry the
/// tag.
fn alb_line(tag: &str, run: &str, now: DateTime<Utc>) -> String {
    let time = now.format("%Y-%m-%dT%H:%M:%S%.6fZ");
    format!(
        "https {time} app/loglift-smoke/{run} 192.0.2.1:40000 192.0.2.2:80 0.001 0.002 0.000 200 200 100 200 \
         \"GET https://loglift-smoke.invalid:443/{tag} HTTP/1.1\" \"loglift-smoke\" \
         ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 \
         arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/loglift-smoke/0 \
         \"Root=1-00000000-{tag}\" \"loglift-smoke.invalid\" \"-\" 0 {time} \"forward\" \"-\" \"-\" \
         \"192.0.2.2:80\" \"200\" \"-\" \"-\""
    )
}

/// The identity column's value: the tag, which must fit whole.
fn id_value(column: &Column, tag: &str) -> Result<Value, String> {
    match column.kind {
        ColumnType::Int => {
            // A number unique to the tag: the first 6 bytes of its SHA-256.
            use sha2::Digest as _;
            let digest = sha2::Sha256::digest(tag.as_bytes());
            let n = digest
                .iter()
                .take(6)
                .fold(0u64, |n, b| (n << 8) | u64::from(*b));
            Ok(json!(n))
        }
        _ => match column.byte_limit() {
            Some(limit) if (limit as usize) < tag.len() => Err(format!(
                "identity column `{}` holds at most {limit} bytes; the smoke id `{tag}` needs {}",
                column.name,
                tag.len()
            )),
            _ => Ok(Value::String(tag.to_owned())),
        },
    }
}

/// A value of the column's type within its byte limit.
fn plain_value(column: &Column, tag: &str, run: &str, now: DateTime<Utc>) -> Value {
    match column.kind {
        ColumnType::String => {
            let limit = column.byte_limit().map_or(tag.len(), |l| l as usize);
            // The tag is ASCII: any byte length is a character boundary.
            Value::String(tag.chars().take(limit.max(1)).collect())
        }
        ColumnType::Int => json!(1),
        ColumnType::Float => json!(1.5),
        ColumnType::Bool => json!(true),
        ColumnType::Timestamp => time_value(column.time_format.unwrap_or_default(), now),
        ColumnType::Json => {
            let marked = json!({ TAG_FIELD: run });
            match column.byte_limit() {
                Some(limit) if (limit as usize) < marked.to_string().len() => json!({}),
                _ => marked,
            }
        }
    }
}

/// `now` as a column of this time format reads it.
fn time_value(format: TimeFormat, now: DateTime<Utc>) -> Value {
    match format {
        TimeFormat::EpochSeconds => json!(now.timestamp()),
        TimeFormat::EpochMillis => json!(now.timestamp_millis()),
        TimeFormat::Auto | TimeFormat::Rfc3339 => {
            Value::String(now.to_rfc3339_opts(SecondsFormat::Millis, true))
        }
    }
}

/// A value as a TSV field carries it.
fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Whether `path` has a value (TSV fields are flat: the path is the header name).
fn present(fields: &Map<String, Value>, path: &str, flat: bool) -> bool {
    if flat {
        fields.contains_key(path)
    } else {
        crate::identity::lookup(fields, path).is_some()
    }
}

/// Set `path` (dotted: nested objects) to `value`; `flat` keeps the path as one key.
fn insert(fields: &mut Map<String, Value>, path: &str, value: Value, flat: bool) {
    let mut parts: Vec<&str> = if flat {
        vec![path]
    } else {
        path.split('.').collect()
    };
    let Some(last) = parts.pop() else {
        return;
    };
    let mut current = fields;
    for part in parts {
        let slot = current
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        match slot {
            Value::Object(next) => current = next,
            _ => return,
        }
    }
    current.insert(last.to_owned(), value);
}

/// A string the glob matches: `*` matches nothing, `?` an `x`, a class its first member.
pub fn glob_example(glob: &str) -> String {
    let mut out = String::new();
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => {}
            '?' => out.push('x'),
            '[' => {
                if matches!(chars.peek(), Some('!') | Some('^')) {
                    // A negated class: a character it is unlikely to exclude.
                    chars.next();
                    out.push('x');
                    for c in chars.by_ref() {
                        if c == ']' {
                            break;
                        }
                    }
                    continue;
                }
                let mut first = None;
                let mut started = false;
                for c in chars.by_ref() {
                    if c == ']' && started {
                        break;
                    }
                    started = true;
                    first.get_or_insert(c);
                }
                out.extend(first);
            }
            other => out.push(other),
        }
    }
    out
}

/// The records that carry `events` through a Kinesis stream or a Firehose delivery stream: one
/// JSON object per record, or for a CloudWatch Logs pipeline one gzip `DATA_MESSAGE` from
/// `log_group` holding every event as a log event (its id the event's tag).
pub fn stream_records(
    pipeline: &Pipeline,
    events: &[SmokeEvent],
    log_group: &str,
    log_stream: &str,
    now: DateTime<Utc>,
) -> Vec<Vec<u8>> {
    match pipeline.format {
        Format::CloudwatchLogs => {
            let log_events: Vec<Value> = events
                .iter()
                .map(|e| {
                    json!({
                        "id": e.tag,
                        "timestamp": now.timestamp_millis(),
                        "message": e.line.clone().unwrap_or_else(|| Value::Object(e.fields.clone()).to_string()),
                    })
                })
                .collect();
            let payload = json!({
                "messageType": "DATA_MESSAGE",
                "owner": "000000000000",
                "logGroup": log_group,
                "logStream": log_stream,
                "subscriptionFilters": ["loglift-smoke"],
                "logEvents": log_events,
            });
            vec![crate::compress::gzip(payload.to_string().as_bytes())]
        }
        _ => events.iter().map(json_line).collect(),
    }
}

/// The event as one line: its text line, or its JSON object; with the newline.
fn json_line(e: &SmokeEvent) -> Vec<u8> {
    let mut line = match &e.line {
        Some(text) => text.clone().into_bytes(),
        None => Value::Object(e.fields.clone()).to_string().into_bytes(),
    };
    line.push(b'\n');
    line
}

/// A landing file holding `events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LandingFile {
    /// `tsv`, `json`, `log` or `jsonl`.
    pub extension: &'static str,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// The extension of a landing file of this format.
pub fn landing_extension(format: Format) -> &'static str {
    match format {
        Format::Tsv => "tsv",
        Format::JsonArray => "json",
        Format::Text => "log",
        _ => "jsonl",
    }
}

/// The file a client drops into the pipeline's landing prefix: TSV with a header of the fields
/// sent, a JSON array, text lines, or JSON lines.
pub fn landing_file(pipeline: &Pipeline, events: &[SmokeEvent]) -> LandingFile {
    match pipeline.format {
        Format::Tsv => {
            let mut header: Vec<&str> = Vec::new();
            for e in events {
                for name in e.fields.keys() {
                    if !header.contains(&name.as_str()) {
                        header.push(name);
                    }
                }
            }
            let mut body = header.join("\t");
            body.push('\n');
            for e in events {
                let line: Vec<String> = header
                    .iter()
                    .map(|name| e.fields.get(*name).map(as_text).unwrap_or_default())
                    .collect();
                body.push_str(&line.join("\t"));
                body.push('\n');
            }
            LandingFile {
                extension: landing_extension(Format::Tsv),
                content_type: "text/tab-separated-values",
                body: body.into_bytes(),
            }
        }
        Format::JsonArray => LandingFile {
            extension: landing_extension(Format::JsonArray),
            content_type: "application/json",
            body: Value::Array(
                events
                    .iter()
                    .map(|e| Value::Object(e.fields.clone()))
                    .collect(),
            )
            .to_string()
            .into_bytes(),
        },
        Format::Text => LandingFile {
            extension: landing_extension(Format::Text),
            content_type: "text/plain",
            body: events.iter().flat_map(json_line).collect(),
        },
        _ => LandingFile {
            extension: landing_extension(pipeline.format),
            content_type: "application/x-ndjson",
            body: events.iter().flat_map(json_line).collect(),
        },
    }
}

/// The name of the `i`-th event id parameter (Redshift Data API: `:e0`, `:e1`, …).
pub fn event_param(i: usize) -> String {
    format!("e{i}")
}

fn placeholders(dialect: Dialect, n: usize) -> String {
    (0..n)
        .map(|i| match dialect {
            Dialect::Redshift => format!(":{}", event_param(i)),
            Dialect::Postgres => format!("${}", i + 1),
            Dialect::Sqlite => format!("?{}", i + 1),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `event_id, n` per event id of `n` ids bound as parameters (the ids never enter the text).
pub fn count_events_sql(dialect: Dialect, table: &str, n: usize) -> Result<String, SqlError> {
    let table = table_ref(dialect, table)?;
    Ok(format!(
        "SELECT event_id, COUNT(*) AS n FROM {table} WHERE event_id IN ({}) GROUP BY event_id",
        placeholders(dialect, n)
    ))
}

/// Delete the rows of `n` event ids bound as parameters.
pub fn delete_events_sql(dialect: Dialect, table: &str, n: usize) -> Result<String, SqlError> {
    let table = table_ref(dialect, table)?;
    Ok(format!(
        "DELETE FROM {table} WHERE event_id IN ({})",
        placeholders(dialect, n)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Spec;

    const SPEC: &str = include_str!("../../../spec/pipelines.yaml");

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000, 0).unwrap()
    }

    #[test]
    fn every_shipped_pipeline_gets_a_tagged_event_whose_id_is_new() {
        let spec = Spec::parse(SPEC).unwrap();
        for p in &spec.pipelines {
            let a = event(p, &tag("ab12cd34", 0, 0), "ab12cd34", now()).unwrap();
            let b = event(p, &tag("ab12cd34", 0, 1), "ab12cd34", now()).unwrap();
            assert_ne!(a.event_id, b.event_id, "{}", p.name);
            if p.text.is_none() {
                assert_eq!(a.fields[TAG_FIELD], json!("ab12cd34"), "{}", p.name);
            }
            for column in p.columns.iter().filter(|c| c.required) {
                assert!(
                    present(&a.fields, column.source_path(), p.format == Format::Tsv),
                    "{}: {} missing from {:?}",
                    p.name,
                    column.name,
                    a.fields
                );
            }
        }
        let user_events = spec.pipeline("user_events").unwrap();
        let e = event(user_events, "smoke-ab12cd34-0-0", "ab12cd34", now()).unwrap();
        assert_eq!(e.event_id, "smoke-ab12cd34-0-0");
        assert_eq!(
            e.fields["request_timestamp"],
            json!("2026-11-18T11:06:40.000Z")
        );
        let hits = spec.pipeline("hit_data").unwrap();
        let e = event(hits, "smoke-ab12cd34-1-0", "ab12cd34", now()).unwrap();
        assert_eq!(e.fields["hit_time_gmt"], json!("1795000000"));
        assert_eq!(e.event_id.len(), 32, "{e:?}");
    }

    #[test]
    fn text_pipelines_get_a_line_their_format_reads() {
        let spec = Spec::parse(SPEC).unwrap();
        for p in spec.pipelines.iter().filter(|p| p.text.is_some()) {
            let e = event(p, &tag("ab12cd34", 4, 0), "ab12cd34", now()).unwrap();
            let line = e.line.as_deref().unwrap();
            assert!(line.contains("ab12cd34"), "{}: {line}", p.name);
            if p.format == Format::Text {
                let file = landing_file(p, std::slice::from_ref(&e));
                assert_eq!(file.body, format!("{line}\n").into_bytes());
            }
        }
    }

    #[test]
    fn an_identity_column_too_short_for_the_tag_is_named() {
        let text = "version: 1\npipelines:\n  - name: tiny\n    match: { stream: s }\n    format: json\n    table: t.tiny\n    identity: { field: id }\n    columns: [{ name: id, type: string, max_bytes: 8 }]\n";
        let spec = Spec::parse(text).unwrap();
        let err = event(&spec.pipelines[0], "smoke-ab12cd34-0-0", "ab12cd34", now()).unwrap_err();
        assert!(err.to_string().contains("holds at most 8 bytes"), "{err}");
    }

    #[test]
    fn a_hash_identity_no_field_of_which_holds_the_tag_is_refused() {
        // Every hashed field typed or too short: two runs would hash to the same id.
        let text = "version: 1\npipelines:\n  - name: h\n    match: { stream: s }\n    format: json\n    table: t.h\n    identity: { hash: [n, code] }\n    columns:\n      - { name: n, type: int, required: true }\n      - { name: code, type: string, max_bytes: 4, required: true }\n";
        let spec = Spec::parse(text).unwrap();
        let err = event(&spec.pipelines[0], "smoke-ab12cd34-0-0", "ab12cd34", now()).unwrap_err();
        assert!(err.to_string().contains("whole smoke tag"), "{err}");
        // One hashed field wide enough is all it takes.
        let wide = text.replace("max_bytes: 4", "max_bytes: 64");
        let spec = Spec::parse(&wide).unwrap();
        let a = event(&spec.pipelines[0], "smoke-ab12cd34-0-0", "ab12cd34", now()).unwrap();
        let b = event(&spec.pipelines[0], "smoke-ff12cd34-0-0", "ff12cd34", now()).unwrap();
        assert_ne!(a.event_id, b.event_id);
    }

    #[test]
    fn globs_get_an_example_they_match() {
        for (glob, want) in [
            (
                "*/srv/idp/shared/log/events.log",
                "/srv/idp/shared/log/events.log",
            ),
            ("dolphin_cms.*", "dolphin_cms."),
            ("a?c", "axc"),
            ("x[bc]d", "xbd"),
            ("x[!q]d", "xxd"),
        ] {
            let example = glob_example(glob);
            assert_eq!(example, want, "{glob}");
            assert!(
                glob::Pattern::new(glob).unwrap().matches(&example),
                "{glob}"
            );
        }
    }

    #[test]
    fn shapes_per_format() {
        let spec = Spec::parse(SPEC).unwrap();
        let hits = spec.pipeline("hit_data").unwrap();
        let events: Vec<_> = (0..2)
            .map(|n| event(hits, &tag("r", 3, n), "r", now()).unwrap())
            .collect();
        let file = landing_file(hits, &events);
        let text = String::from_utf8(file.body).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].split('\t').any(|h| h == TAG_FIELD), "{text}");
        assert_eq!(file.extension, "tsv");
        let logs = spec.pipeline("app_logs").unwrap();
        let events = vec![event(logs, &tag("r", 2, 0), "r", now()).unwrap()];
        let records = stream_records(logs, &events, "/srv/idp/shared/log/events.log", "s", now());
        assert_eq!(records.len(), 1);
        assert_eq!(&records[0][..2], &[0x1f, 0x8b]);
    }

    #[test]
    fn sql_binds_the_ids() {
        assert_eq!(
            count_events_sql(Dialect::Redshift, "tracking.events", 2).unwrap(),
            "SELECT event_id, COUNT(*) AS n FROM \"tracking\".\"events\" WHERE event_id IN (:e0, :e1) GROUP BY event_id"
        );
        assert_eq!(
            delete_events_sql(Dialect::Postgres, "tracking.events", 2).unwrap(),
            "DELETE FROM \"tracking\".\"events\" WHERE event_id IN ($1, $2)"
        );
        assert!(count_events_sql(Dialect::Sqlite, "x.y; drop", 1).is_err());
    }
}
