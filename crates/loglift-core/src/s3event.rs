//! S3 event notifications in an SQS message body, in every shape that reaches a queue: the
//! plain notification (`{"Records":[{"eventName":"ObjectCreated:Put","s3":{…}}]}`), the same
//! wrapped by SNS (`{"Type":"Notification","Message":"<the JSON as a string>"}`), EventBridge's
//! `Object Created` event, and the `s3:TestEvent` sent when a notification is configured.
//!
//! Private serde structs mirror each shape; [`parse_body`] turns them into [`ObjectCreated`]
//! (keys decoded), [`IgnoredEvent`] (deletions, restores, …: acknowledged, not processed) and the
//! test-event flag. A body that is not JSON or not any of these shapes is an [`S3EventError`]: a
//! poison message that no retry will fix.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::storage::decode_event_key;

/// An object was created (put, post, copy, multipart upload completed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectCreated {
    pub bucket: String,
    /// The object key, decoded.
    pub key: String,
    pub size: Option<u64>,
    /// Without quotes.
    pub etag: Option<String>,
    /// Set when the bucket is versioned.
    pub version_id: Option<String>,
    /// Orders the events of one key (a longer or greater hex string is later).
    pub sequencer: Option<String>,
    /// `ObjectCreated:Put`, …; EventBridge: `Object Created` and its reason (`Object
    /// Created:PutObject`).
    pub event_name: String,
    pub event_time: Option<DateTime<Utc>>,
}

/// An event that is not an object creation: acknowledged and dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredEvent {
    /// `ObjectRemoved:Delete`, `Object Deleted`, `sns:SubscriptionConfirmation`, …
    pub event_name: String,
    pub bucket: Option<String>,
    /// Decoded like [`ObjectCreated::key`].
    pub key: Option<String>,
}

/// What one message body says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notification {
    pub created: Vec<ObjectCreated>,
    pub ignored: Vec<IgnoredEvent>,
    /// The body is an `s3:TestEvent` (possibly inside SNS): delete it, never dead-letter it.
    pub test_event: bool,
}

impl Notification {
    /// Nothing to process and nothing ignored: an empty `Records` list or a test event.
    pub fn is_empty(&self) -> bool {
        self.created.is_empty() && self.ignored.is_empty()
    }
}

/// A message body that is no S3 event notification: a poison message (retrying will not help).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum S3EventError {
    #[error("message body is not JSON: {message}")]
    NotJson { message: String },
    /// One of the known shapes with a missing field or a wrong type.
    #[error("malformed {shape} at `{path}`: {message}")]
    Malformed {
        shape: &'static str,
        path: String,
        message: String,
    },
    #[error("message body is not an S3 event notification ({found})")]
    UnknownShape { found: String },
}

impl S3EventError {
    /// A stable code for failure reasons and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            S3EventError::NotJson { .. } => "not_json",
            S3EventError::Malformed { .. } => "malformed_notification",
            S3EventError::UnknownShape { .. } => "unknown_notification",
        }
    }
}

const PLAIN: &str = "S3 notification";
const SNS_PLAIN: &str = "S3 notification inside SNS";
const EVENTBRIDGE: &str = "EventBridge S3 event";
const SNS_EVENTBRIDGE: &str = "EventBridge S3 event inside SNS";
const SNS: &str = "SNS notification";

/// Read one SQS message body.
pub fn parse_body(body: &str) -> Result<Notification, S3EventError> {
    let json: Value = serde_json::from_str(body).map_err(|e| S3EventError::NotJson {
        message: e.to_string(),
    })?;
    parse_value(json, false)
}

/// The body S3 sends to a queue for one created object (`ObjectCreated:Put`, plain notification
/// format), with the key form-URL-encoded as S3 encodes it (a space becomes `+`, `+` becomes
/// `%2B`, `=` becomes `%3D`, UTF-8 percent bytes). Local mode uses it in place of S3's own
/// notifications, and backfill and replay use it to announce objects to the transform queue:
/// [`parse_body`] reads it back to the same bucket, key, size, etag and version.
pub fn notification_body(
    bucket: &str,
    key: &str,
    size: u64,
    etag: &str,
    version_id: Option<&str>,
    event_time: Option<DateTime<Utc>>,
) -> String {
    // Each segment encoded; `/` stays as S3 leaves it.
    let encoded = key
        .split('/')
        .map(|segment| form_urlencoded::byte_serialize(segment.as_bytes()).collect::<String>())
        .collect::<Vec<_>>()
        .join("/");
    let mut object = serde_json::json!({"key": encoded, "size": size, "eTag": etag});
    if let (Some(version), Some(fields)) = (version_id, object.as_object_mut()) {
        fields.insert("versionId".into(), Value::String(version.to_owned()));
    }
    serde_json::json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventTime": event_time
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
            "object": object,
        },
    }]})
    .to_string()
}

fn parse_value(json: Value, in_sns: bool) -> Result<Notification, S3EventError> {
    let Value::Object(object) = json else {
        return Err(S3EventError::UnknownShape {
            found: format!("a JSON {}, not an object", kind_of(&json)),
        });
    };
    if object.contains_key("Records") {
        let shape = if in_sns { SNS_PLAIN } else { PLAIN };
        return deserialize::<PlainWire>(shape, object).map(PlainWire::into_notification);
    }
    if object.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Notification {
            test_event: true,
            ..Notification::default()
        });
    }
    if object.contains_key("detail-type")
        && object.get("source").and_then(Value::as_str) == Some("aws.s3")
    {
        let shape = if in_sns { SNS_EVENTBRIDGE } else { EVENTBRIDGE };
        return deserialize::<EventBridgeWire>(shape, object)?.into_notification(shape);
    }
    if object.contains_key("Type")
        && (object.contains_key("Message") || object.contains_key("TopicArn"))
    {
        if in_sns {
            return Err(S3EventError::UnknownShape {
                found: "an SNS notification inside an SNS notification".into(),
            });
        }
        let sns = deserialize::<SnsWire>(SNS, object)?;
        return sns.into_notification();
    }
    Err(S3EventError::UnknownShape {
        found: describe_keys(&object),
    })
}

fn deserialize<W: for<'de> Deserialize<'de>>(
    shape: &'static str,
    object: Map<String, Value>,
) -> Result<W, S3EventError> {
    serde_path_to_error::deserialize(Value::Object(object)).map_err(|e| S3EventError::Malformed {
        shape,
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

fn kind_of(json: &Value) -> &'static str {
    match json {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn describe_keys(object: &Map<String, Value>) -> String {
    const SHOWN: usize = 8;
    if object.is_empty() {
        return "an empty object".into();
    }
    let mut keys: Vec<String> = object
        .keys()
        .take(SHOWN)
        .map(|k| format!("{k:?}"))
        .collect();
    if object.len() > SHOWN {
        keys.push(format!("… {} more", object.len() - SHOWN));
    }
    format!("top-level keys: {}", keys.join(", "))
}

/// RFC 3339 (what S3 and EventBridge send), or the same without an offset (taken as UTC). An
/// unreadable time is dropped rather than failing the message: nothing depends on it.
fn parse_time(text: Option<&str>) -> Option<DateTime<Utc>> {
    let text = text?;
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

/// Empty strings become `None`; an etag loses its quotes.
fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

fn unquoted(etag: Option<String>) -> Option<String> {
    non_empty(etag.map(|e| e.trim_matches('"').to_owned()))
}

/// `ObjectCreated:*`, also with an `s3:` prefix (as S3-compatible stores send it).
fn is_created(event_name: &str) -> bool {
    event_name
        .strip_prefix("s3:")
        .unwrap_or(event_name)
        .starts_with("ObjectCreated:")
}

// ---------------------------------------------------------------------------------------------
// Plain notification: {"Records":[{"eventName","eventTime","s3":{"bucket","object"}}]}

#[derive(Deserialize)]
struct PlainWire {
    #[serde(rename = "Records")]
    records: Vec<PlainRecordWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlainRecordWire {
    event_name: String,
    #[serde(default)]
    event_time: Option<String>,
    // `eventVersion`, `eventSource`, `awsRegion`, `userIdentity`, … are sent too; not read.
    s3: PlainEntityWire,
}

#[derive(Deserialize)]
struct PlainEntityWire {
    bucket: BucketWire,
    object: PlainObjectWire,
}

#[derive(Deserialize)]
struct BucketWire {
    name: String,
}

#[derive(Deserialize)]
struct PlainObjectWire {
    /// Form-URL-encoded: `+` is a space, `%2B` a plus.
    key: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default, rename = "eTag")]
    etag: Option<String>,
    #[serde(default, rename = "versionId")]
    version_id: Option<String>,
    #[serde(default)]
    sequencer: Option<String>,
}

impl PlainWire {
    fn into_notification(self) -> Notification {
        let mut out = Notification::default();
        for record in self.records {
            let PlainEntityWire { bucket, object } = record.s3;
            let key = decode_event_key(&object.key);
            if is_created(&record.event_name) {
                out.created.push(ObjectCreated {
                    bucket: bucket.name,
                    key,
                    size: object.size,
                    etag: unquoted(object.etag),
                    version_id: non_empty(object.version_id),
                    sequencer: non_empty(object.sequencer),
                    event_time: parse_time(record.event_time.as_deref()),
                    event_name: record.event_name,
                });
            } else {
                out.ignored.push(IgnoredEvent {
                    event_name: record.event_name,
                    bucket: Some(bucket.name),
                    key: Some(key),
                });
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// SNS: {"Type":"Notification","Message":"<JSON text>"}

#[derive(Deserialize)]
struct SnsWire {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "Message", default)]
    message: Option<String>,
}

impl SnsWire {
    fn into_notification(self) -> Result<Notification, S3EventError> {
        if self.kind != "Notification" {
            // `SubscriptionConfirmation` / `UnsubscribeConfirmation`: not about an object.
            return Ok(Notification {
                ignored: vec![IgnoredEvent {
                    event_name: format!("sns:{}", self.kind),
                    bucket: None,
                    key: None,
                }],
                ..Notification::default()
            });
        }
        let Some(message) = self.message else {
            return Err(S3EventError::Malformed {
                shape: SNS,
                path: ".".into(),
                message: "missing field `Message`".into(),
            });
        };
        let inner: Value = serde_json::from_str(&message).map_err(|e| S3EventError::Malformed {
            shape: SNS,
            path: "Message".into(),
            message: format!("not JSON: {e}"),
        })?;
        parse_value(inner, true)
    }
}

// ---------------------------------------------------------------------------------------------
// EventBridge: {"detail-type":"Object Created","source":"aws.s3","time","detail":{…}}
//
// EventBridge object keys are taken as they are, not form-URL-decoded. The S3 user guide says
// the key of the notification format (`Records[].s3.object.key`) is URL-encoded and says no such
// thing of EventBridge's `detail.object.key`; real EventBridge events in public reports carry
// characters that the notification format encodes (`:` where a notification has `%3A`), and
// aws-solutions-library-samples/guidance-for-medialake-on-aws#21 found, testing keys with `+`,
// spaces and `%` against both paths, that only the notification key must be decoded. (Some
// libraries, such as Powertools for Python, decode both; for a key with `+` or `%` that is wrong.)

#[derive(Deserialize)]
struct EventBridgeWire {
    #[serde(rename = "detail-type")]
    detail_type: String,
    #[serde(default)]
    time: Option<String>,
    detail: EventBridgeDetailWire,
}

#[derive(Deserialize)]
struct EventBridgeDetailWire {
    /// Required for `Object Created`; other event types are ignored whatever they carry.
    #[serde(default)]
    bucket: Option<BucketWire>,
    #[serde(default)]
    object: Option<EventBridgeObjectWire>,
    /// `PutObject`, `CopyObject`, `CompleteMultipartUpload`, `DeleteObject`, …
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
struct EventBridgeObjectWire {
    key: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    etag: Option<String>,
    #[serde(default, rename = "version-id")]
    version_id: Option<String>,
    #[serde(default)]
    sequencer: Option<String>,
}

impl EventBridgeWire {
    fn into_notification(self, shape: &'static str) -> Result<Notification, S3EventError> {
        let EventBridgeDetailWire {
            bucket,
            object,
            reason,
        } = self.detail;
        let event_name = match non_empty(reason) {
            Some(reason) => format!("{}:{reason}", self.detail_type),
            None => self.detail_type.clone(),
        };
        let mut out = Notification::default();
        if self.detail_type != "Object Created" {
            out.ignored.push(IgnoredEvent {
                event_name,
                bucket: bucket.map(|b| b.name),
                key: object.map(|o| o.key),
            });
            return Ok(out);
        }
        let missing = |field: &str| S3EventError::Malformed {
            shape,
            path: "detail".into(),
            message: format!("missing field `{field}`"),
        };
        let bucket = bucket.ok_or_else(|| missing("bucket"))?;
        let object = object.ok_or_else(|| missing("object"))?;
        out.created.push(ObjectCreated {
            bucket: bucket.name,
            key: object.key,
            size: object.size,
            etag: unquoted(object.etag),
            version_id: non_empty(object.version_id),
            sequencer: non_empty(object.sequencer),
            event_name,
            event_time: parse_time(self.time.as_deref()),
        });
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> Option<DateTime<Utc>> {
        Some(
            DateTime::parse_from_rfc3339(rfc3339)
                .unwrap()
                .with_timezone(&Utc),
        )
    }

    fn s(text: &str) -> Option<String> {
        Some(text.to_owned())
    }

    fn created(bucket: &str, key: &str, event_name: &str, time: &str) -> ObjectCreated {
        ObjectCreated {
            bucket: bucket.into(),
            key: key.into(),
            size: None,
            etag: None,
            version_id: None,
            sequencer: None,
            event_name: event_name.into(),
            event_time: at(time),
        }
    }

    fn only(created: ObjectCreated) -> Notification {
        Notification {
            created: vec![created],
            ..Notification::default()
        }
    }

    fn ignored(event_name: &str, bucket: Option<&str>, key: Option<&str>) -> IgnoredEvent {
        IgnoredEvent {
            event_name: event_name.into(),
            bucket: bucket.map(str::to_owned),
            key: key.map(str::to_owned),
        }
    }

    const LAKE: &str = "loglift-lake";

    #[test]
    fn samples_decode() {
        let test_event = Notification {
            test_event: true,
            ..Notification::default()
        };
        let cases: Vec<(&str, &str, Notification)> = vec![
            (
                "put.json",
                include_str!("../../../samples/s3events/put.json"),
                only(ObjectCreated {
                    size: Some(2048),
                    etag: s("9b2cf535f27731c974343645a3985328"),
                    version_id: s("3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY"),
                    sequencer: s("0066A1B2C3D4E5F601"),
                    ..created(
                        LAKE,
                        "landing/user_utm/2026/11/21/utm-0001.ndjson.gz",
                        "ObjectCreated:Put",
                        "2026-11-21T10:00:01.234Z",
                    )
                }),
            ),
            (
                "several-records.json",
                include_str!("../../../samples/s3events/several-records.json"),
                Notification {
                    created: vec![
                        ObjectCreated {
                            size: Some(734),
                            etag: s("6805f2cfc46c0f04559748bb039d69ae"),
                            sequencer: s("0066A1B2C3D4E5F602"),
                            ..created(
                                LAKE,
                                "raw/pipeline=user_events/dt=2026-11-21/hour=10/kinesis-shardId-000000000000-49546986683135544286507457936321625675700192471156785154-49546986683135544286507457936321625675700192471156785160.ndjson.gz",
                                "ObjectCreated:Put",
                                "2026-11-21T10:00:02Z",
                            )
                        },
                        ObjectCreated {
                            size: Some(15),
                            etag: s("d41d8cd98f00b204e9800998ecf84271"),
                            sequencer: s("0066A1B2C3D4E5F603"),
                            ..created(
                                LAKE,
                                "landing/user_utm/2026/11/21/utm-0002.ndjson.gz",
                                "ObjectCreated:Post",
                                "2026-11-21T10:00:03.5Z",
                            )
                        },
                    ],
                    ignored: vec![ignored(
                        "ObjectRemoved:DeleteMarkerCreated",
                        Some(LAKE),
                        Some("landing/user_utm/2026/11/21/utm-0000.ndjson.gz"),
                    )],
                    test_event: false,
                },
            ),
            (
                "key-space.json",
                include_str!("../../../samples/s3events/key-space.json"),
                only(ObjectCreated {
                    size: Some(100),
                    etag: s("0f343b0931126a20f133d67c2b018a3b"),
                    sequencer: s("0066A1B2C3D4E5F605"),
                    ..created(
                        LAKE,
                        "landing/user utm/2026-11-21 10:00:00.ndjson.gz",
                        "ObjectCreated:Put",
                        "2026-11-21T10:00:05Z",
                    )
                }),
            ),
            (
                "key-plus.json",
                include_str!("../../../samples/s3events/key-plus.json"),
                only(ObjectCreated {
                    size: Some(101),
                    etag: s("1f343b0931126a20f133d67c2b018a3b"),
                    sequencer: s("0066A1B2C3D4E5F606"),
                    ..created(
                        LAKE,
                        "landing/c++/a+b=c d.ndjson.gz",
                        "ObjectCreated:Put",
                        "2026-11-21T10:00:06Z",
                    )
                }),
            ),
            (
                "key-equals.json",
                include_str!("../../../samples/s3events/key-equals.json"),
                only(ObjectCreated {
                    size: Some(102),
                    etag: s("2f343b0931126a20f133d67c2b018a3b"),
                    sequencer: s("0066A1B2C3D4E5F607"),
                    ..created(
                        LAKE,
                        "raw/pipeline=app_logs/dt=2026-11-21/hour=09/kinesis-shardId-000000000001-4954-4955.ndjson.gz",
                        "ObjectCreated:Put",
                        "2026-11-21T09:59:59.999Z",
                    )
                }),
            ),
            (
                "key-emoji.json",
                include_str!("../../../samples/s3events/key-emoji.json"),
                only(ObjectCreated {
                    size: Some(103),
                    etag: s("3f343b0931126a20f133d67c2b018a3b"),
                    sequencer: s("0066A1B2C3D4E5F608"),
                    ..created(
                        LAKE,
                        "landing/user_utm/📦 café.ndjson.gz",
                        "ObjectCreated:Put",
                        "2026-11-21T10:00:07Z",
                    )
                }),
            ),
            (
                "multipart.json",
                include_str!("../../../samples/s3events/multipart.json"),
                only(ObjectCreated {
                    size: Some(318_767_104),
                    etag: s("a0d4f2b9c8e7d6f5a4b3c2d1e0f9a8b7-38"),
                    version_id: s("Ui3fYs1Vx.P0aZkE4gLQx8hN2dT5rW9m"),
                    sequencer: s("0066A1B2C3D4E5F609"),
                    ..created(
                        LAKE,
                        "landing/user_utm/2026/11/21/backfill.ndjson.gz",
                        "ObjectCreated:CompleteMultipartUpload",
                        "2026-11-21T10:05:00Z",
                    )
                }),
            ),
            (
                "copy.json",
                include_str!("../../../samples/s3events/copy.json"),
                only(ObjectCreated {
                    size: Some(2048),
                    etag: s("9b2cf535f27731c974343645a3985328"),
                    sequencer: s("0066A1B2C3D4E5F60A"),
                    ..created(
                        LAKE,
                        "landing/user_utm/2026/11/21/utm-0001-copy.ndjson.gz",
                        "ObjectCreated:Copy",
                        "2026-11-21T10:06:00Z",
                    )
                }),
            ),
            (
                "removed-delete.json",
                include_str!("../../../samples/s3events/removed-delete.json"),
                Notification {
                    ignored: vec![ignored(
                        "ObjectRemoved:Delete",
                        Some(LAKE),
                        Some("landing/user_utm/2026/11/21/utm-0001.ndjson.gz"),
                    )],
                    ..Notification::default()
                },
            ),
            (
                "test-event.json",
                include_str!("../../../samples/s3events/test-event.json"),
                test_event.clone(),
            ),
            (
                "sns-wrapped.json",
                include_str!("../../../samples/s3events/sns-wrapped.json"),
                only(ObjectCreated {
                    size: Some(5120),
                    etag: s("c4ca4238a0b923820dcc509a6f75849b"),
                    sequencer: s("0066A1B2C3D4E5F60C"),
                    ..created(
                        LAKE,
                        "raw/pipeline=user_events/dt=2026-11-21/hour=10/user-events-to-s3-1-2026-11-21-10-00-00-5f0e9a1e.gz",
                        "ObjectCreated:Put",
                        "2026-11-21T10:00:01.234Z",
                    )
                }),
            ),
            (
                "sns-test-event.json",
                include_str!("../../../samples/s3events/sns-test-event.json"),
                test_event,
            ),
            (
                "sns-subscription-confirmation.json",
                include_str!("../../../samples/s3events/sns-subscription-confirmation.json"),
                Notification {
                    ignored: vec![ignored("sns:SubscriptionConfirmation", None, None)],
                    ..Notification::default()
                },
            ),
            (
                "eventbridge.json",
                include_str!("../../../samples/s3events/eventbridge.json"),
                // EventBridge keys are not form-URL-encoded: `+` stays a plus.
                only(ObjectCreated {
                    size: Some(4096),
                    etag: s("b1946ac92492d2347c6235b4d2611184"),
                    version_id: s("IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"),
                    sequencer: s("0066A1B2C3D4E5F60D"),
                    ..created(
                        LAKE,
                        "raw/pipeline=user_events/dt=2026-11-21/hour=10/user events+1.ndjson.gz",
                        "Object Created:PutObject",
                        "2026-11-21T10:00:08Z",
                    )
                }),
            ),
            (
                "eventbridge-deleted.json",
                include_str!("../../../samples/s3events/eventbridge-deleted.json"),
                Notification {
                    ignored: vec![ignored(
                        "Object Deleted:DeleteObject",
                        Some(LAKE),
                        Some("landing/user_utm/2026/11/21/utm-0001.ndjson.gz"),
                    )],
                    ..Notification::default()
                },
            ),
        ];
        for (name, body, want) in cases {
            assert_eq!(parse_body(body), Ok(want), "sample {name}");
        }
    }

    #[test]
    fn poison_samples_say_what_is_wrong() {
        let cases: Vec<(&str, &str, &str, &[&str])> = vec![
            (
                "poison-not-json.txt",
                include_str!("../../../samples/s3events/poison-not-json.txt"),
                "not_json",
                &["not JSON", "line 1 column 1"],
            ),
            (
                "poison-unknown-json.json",
                include_str!("../../../samples/s3events/poison-unknown-json.json"),
                "unknown_notification",
                &["\"requestContext\"", "\"version\""],
            ),
            (
                "poison-records-without-s3.json",
                include_str!("../../../samples/s3events/poison-records-without-s3.json"),
                "malformed_notification",
                &["S3 notification at `Records[0]`", "missing field `s3`"],
            ),
        ];
        for (name, body, code, fragments) in cases {
            let got = parse_body(body);
            let Err(error) = got else {
                panic!("sample {name}: {got:?}")
            };
            assert_eq!(error.code(), code, "sample {name}: {error}");
            let message = error.to_string();
            for fragment in fragments {
                assert!(message.contains(fragment), "sample {name}: {message}");
            }
        }
    }

    #[test]
    fn odd_bodies() {
        let sns = |message: &str| {
            serde_json::json!({"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": message})
                .to_string()
        };
        let cases: Vec<(&str, String, Result<Notification, &str>)> = vec![
            ("empty Records", r#"{"Records":[]}"#.into(), Ok(Notification::default())),
            ("array", "[]".into(), Err("a JSON array, not an object")),
            ("string", r#""{}""#.into(), Err("a JSON string, not an object")),
            ("empty object", "{}".into(), Err("an empty object")),
            ("empty body", String::new(), Err("not JSON")),
            ("trailing data", r#"{"Records":[]} x"#.into(), Err("not JSON")),
            (
                "Records not a list",
                r#"{"Records":{}}"#.into(),
                Err("malformed S3 notification at `Records`"),
            ),
            (
                "size as text",
                r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k","size":"1"}}}]}"#.into(),
                Err("at `Records[0].s3.object.size`"),
            ),
            (
                "SNS message not JSON",
                sns("hello"),
                Err("malformed SNS notification at `Message`: not JSON"),
            ),
            (
                "SNS without a Message",
                r#"{"Type":"Notification","TopicArn":"arn:aws:sns:us-east-1:1:t"}"#.into(),
                Err("missing field `Message`"),
            ),
            (
                "SNS inside SNS",
                sns(&sns(r#"{"Records":[]}"#)),
                Err("an SNS notification inside an SNS notification"),
            ),
            (
                "SNS wrapping something else",
                sns(r#"{"hello":"world"}"#),
                Err(r#"top-level keys: "hello""#),
            ),
            (
                "SNS wrapping a malformed notification",
                sns(r#"{"Records":[{"eventName":"ObjectCreated:Put"}]}"#),
                Err("malformed S3 notification inside SNS at `Records[0]`"),
            ),
            (
                "EventBridge from another service",
                r#"{"detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":{}}"#.into(),
                Err(r#""detail-type""#),
            ),
            (
                "EventBridge Object Created without its object",
                r#"{"detail-type":"Object Created","source":"aws.s3","detail":{"bucket":{"name":"b"}}}"#.into(),
                Err("malformed EventBridge S3 event at `detail`: missing field `object`"),
            ),
            (
                "EventBridge without reason, time or etag",
                r#"{"detail-type":"Object Created","source":"aws.s3","detail":{"bucket":{"name":"b"},"object":{"key":"a b+c"}}}"#.into(),
                Ok(only(ObjectCreated {
                    event_time: None,
                    ..created("b", "a b+c", "Object Created", "2026-01-01T00:00:00Z")
                })),
            ),
            (
                "EventBridge tags event without an object",
                r#"{"detail-type":"Object Tags Added","source":"aws.s3","detail":{"bucket":{"name":"b"}}}"#.into(),
                Ok(Notification {
                    ignored: vec![ignored("Object Tags Added", Some("b"), None)],
                    ..Notification::default()
                }),
            ),
            (
                "EventBridge inside SNS",
                sns(r#"{"detail-type":"Object Created","source":"aws.s3","time":"2026-11-21T10:00:00Z","detail":{"bucket":{"name":"b"},"object":{"key":"k","etag":"\"e\"","size":0}}}"#),
                Ok(only(ObjectCreated {
                    size: Some(0),
                    etag: s("e"),
                    ..created("b", "k", "Object Created", "2026-11-21T10:00:00Z")
                })),
            ),
            (
                "minimal record, s3: prefix, null versionId, empty etag, odd time",
                r#"{"Records":[{"eventName":"s3:ObjectCreated:Put","eventTime":"2026-11-21T10:00:00.5","s3":{"bucket":{"name":"b"},"object":{"key":"%2F%25+","versionId":null,"eTag":""}}}]}"#.into(),
                Ok(only(created("b", "/% ", "s3:ObjectCreated:Put", "2026-11-21T10:00:00.5Z"))),
            ),
            (
                "unreadable time",
                r#"{"Records":[{"eventName":"ObjectCreated:Put","eventTime":"yesterday","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}"#.into(),
                Ok(only(ObjectCreated {
                    event_time: None,
                    ..created("b", "k", "ObjectCreated:Put", "2026-01-01T00:00:00Z")
                })),
            ),
            (
                "restore and replication events are ignored",
                r#"{"Records":[{"eventName":"ObjectRestore:Completed","s3":{"bucket":{"name":"b"},"object":{"key":"a+b"}}},{"eventName":"Replication:OperationFailedReplication","s3":{"bucket":{"name":"b"},"object":{"key":"c"}}}]}"#.into(),
                Ok(Notification {
                    ignored: vec![
                        ignored("ObjectRestore:Completed", Some("b"), Some("a b")),
                        ignored("Replication:OperationFailedReplication", Some("b"), Some("c")),
                    ],
                    ..Notification::default()
                }),
            ),
        ];
        for (name, body, want) in cases {
            let got = parse_body(&body);
            match want {
                Ok(want) => assert_eq!(got, Ok(want), "{name}: {body}"),
                Err(fragment) => {
                    let message = got
                        .as_ref()
                        .err()
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    assert!(
                        message.contains(fragment),
                        "{name}: {body}\nwanted an error with {fragment:?}, got {got:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn notification_bodies_round_trip_through_parse_body() {
        let cases = [
            ("raw/pipeline=p/dt=2026-11-21/hour=10/a.ndjson.gz", None),
            ("landing/user utm/a b.tsv", Some("v1")),
            ("landing/c++/a+b=c d.ndjson.gz", None),
            (
                "landing/x/caf\u{e9} \u{1f600}%2B.json",
                Some("3HL4kqtJlcpXroDTDmJ"),
            ),
            ("landing/x/100%/&?#.json", None),
        ];
        let time = at("2026-11-21T10:00:01.234Z");
        for (key, version) in cases {
            let body = notification_body("lake", key, 42, "abc", version, time);
            let encoded: Value = serde_json::from_str(&body).unwrap();
            let wire_key = encoded["Records"][0]["s3"]["object"]["key"]
                .as_str()
                .unwrap();
            assert!(
                !wire_key.contains(' ') && !wire_key.contains('='),
                "{key}: {wire_key}"
            );
            assert_eq!(
                parse_body(&body),
                Ok(only(ObjectCreated {
                    size: Some(42),
                    etag: s("abc"),
                    version_id: version.map(str::to_owned),
                    ..created("lake", key, "ObjectCreated:Put", "2026-11-21T10:00:01.234Z")
                })),
                "{key}: {body}"
            );
        }
        // As S3 encodes it (samples/s3events/key-plus.json).
        let body = notification_body("lake", "landing/c++/a+b=c d.ndjson.gz", 1, "e", None, None);
        assert!(
            body.contains(r#""key":"landing/c%2B%2B/a%2Bb%3Dc+d.ndjson.gz""#),
            "{body}"
        );
        let untimed = parse_body(&notification_body("lake", "k", 0, "e", None, None)).unwrap();
        assert_eq!(untimed.created[0].event_time, None);
    }

    #[test]
    fn the_sqs_sample_carries_notification_bodies() {
        let batch = crate::wire::SqsBatch::from_slice(
            include_str!("../../../samples/s3events/sqs-event.json").as_bytes(),
        )
        .unwrap();
        let parsed: Vec<_> = batch.messages.iter().map(|m| parse_body(&m.body)).collect();
        let [Ok(put), Ok(test)] = parsed.as_slice() else {
            panic!("{parsed:?}")
        };
        assert_eq!(
            put.created.first().map(|c| c.key.as_str()),
            Some("landing/user_utm/2026/11/21/utm-0001.ndjson.gz")
        );
        assert!(test.test_event && test.is_empty(), "{test:?}");
    }
}
