//! [`SqliteQueue`]: SQS semantics (visibility timeout, receive count, redrive to a DLQ) in one
//! SQLite file.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use loglift_ports::{
    base_type, AttributeValue, DeadLetters, MessageAttribute, OutgoingMessage, PortError,
    PortResult, Queue, QueueDepth, ReceivedMessage, Redrive,
};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::{json, Map, Value};

/// The largest message SQS accepts (body plus attributes), in bytes.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// The longest visibility timeout SQS accepts.
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);
/// The most message attributes SQS accepts on one message.
pub const MAX_ATTRIBUTES: usize = 10;
/// How often a long poll looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queues (
    name              TEXT PRIMARY KEY,
    visibility_ms     INTEGER NOT NULL,
    dead_letter_queue TEXT,
    max_receive_count INTEGER
);
CREATE TABLE IF NOT EXISTS messages (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    queue          TEXT NOT NULL,
    message_id     TEXT NOT NULL,
    body           TEXT NOT NULL,
    attributes     TEXT NOT NULL,
    sent_at_ms     INTEGER NOT NULL,
    receive_count  INTEGER NOT NULL DEFAULT 0,
    visible_at_ms  INTEGER NOT NULL,
    receipt_handle TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_visibility ON messages (queue, visible_at_ms, seq);
CREATE INDEX IF NOT EXISTS messages_by_handle ON messages (receipt_handle);
";

/// A [`Queue`] in a SQLite database: queues are addressed by name.
///
/// Receiving makes a message invisible for the queue's visibility timeout (or the per-receive
/// override), increments its receive count and gives it a new receipt handle; only the latest
/// handle deletes it or changes its visibility. A message already received `max_receive_count`
/// times moves, with its id, body, attributes, send time and receive count, to the queue's
/// dead-letter queue when it would be received again, as SQS does. Every operation is one short
/// transaction under one connection; several processes may share the file (WAL, busy timeout).
#[derive(Debug)]
pub struct SqliteQueue {
    conn: Mutex<Connection>,
}

struct QueueRow {
    visibility_ms: i64,
    redrive: Option<(String, i64)>,
}

impl SqliteQueue {
    /// Open (creating if needed) the queue database at `path`.
    pub fn open(path: impl AsRef<Path>) -> PortResult<Self> {
        let path = path.as_ref();
        let target = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| PortError::Rejected {
                op: "OpenQueueDb",
                target: target.clone(),
                message: e.to_string(),
                source: None,
            })?;
        }
        let conn = Connection::open(path).map_err(|e| sql_error("OpenQueueDb", &target, e))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| sql_error("OpenQueueDb", &target, e))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| sql_error("OpenQueueDb", &target, e))?;
        Self::init(conn, &target)
    }

    /// A queue database that lives as long as this value (tests, dry runs).
    pub fn in_memory() -> PortResult<Self> {
        let conn =
            Connection::open_in_memory().map_err(|e| sql_error("OpenQueueDb", ":memory:", e))?;
        Self::init(conn, ":memory:")
    }

    fn init(conn: Connection, target: &str) -> PortResult<Self> {
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| sql_error("OpenQueueDb", target, e))?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| sql_error("OpenQueueDb", target, e))?;
        Ok(SqliteQueue {
            conn: Mutex::new(conn),
        })
    }

    /// Create a queue, or update its settings if it exists. The dead-letter queue must exist.
    pub fn create_queue(
        &self,
        name: &str,
        visibility_timeout: Duration,
        redrive: Option<Redrive>,
    ) -> PortResult<()> {
        let reject = |message: String| PortError::Rejected {
            op: "CreateQueue",
            target: name.to_owned(),
            message,
            source: None,
        };
        if name.is_empty() || name.len() > 80 {
            return Err(reject("a queue name has 1 to 80 characters".to_owned()));
        }
        check_visibility("CreateQueue", name, visibility_timeout)?;
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sql_error("CreateQueue", name, e))?;
        if let Some(r) = &redrive {
            if r.max_receive_count == 0 || r.max_receive_count > 1000 {
                return Err(reject(format!(
                    "maxReceiveCount {} is not within 1..=1000",
                    r.max_receive_count
                )));
            }
            if r.dead_letter_queue == name {
                return Err(reject(
                    "a queue cannot be its own dead-letter queue".to_owned(),
                ));
            }
            if load_queue(&tx, &r.dead_letter_queue).is_err() {
                return Err(reject(format!(
                    "dead-letter queue {} does not exist",
                    r.dead_letter_queue
                )));
            }
        }
        tx.execute(
            "INSERT INTO queues (name, visibility_ms, dead_letter_queue, max_receive_count) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO UPDATE SET visibility_ms = excluded.visibility_ms,
                 dead_letter_queue = excluded.dead_letter_queue, max_receive_count = excluded.max_receive_count",
            params![
                name,
                millis(visibility_timeout),
                redrive.as_ref().map(|r| r.dead_letter_queue.as_str()),
                redrive.as_ref().map(|r| r.max_receive_count),
            ],
        )
        .map_err(|e| sql_error("CreateQueue", name, e))?;
        tx.commit().map_err(|e| sql_error("CreateQueue", name, e))
    }

    /// The names of all queues, sorted.
    pub fn list_queues(&self) -> PortResult<Vec<String>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare("SELECT name FROM queues ORDER BY name")
            .map_err(|e| sql_error("ListQueues", "", e))?;
        let names = stmt
            .query_map([], |row| row.get(0))
            .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
            .map_err(|e| sql_error("ListQueues", "", e))?;
        Ok(names)
    }

    /// The dead-letter policy of `queue` (`NotFound` when the queue does not exist).
    pub fn redrive_policy(&self, queue: &str) -> PortResult<Option<Redrive>> {
        let conn = self.lock();
        let q = load_queue(&conn, queue)?;
        Ok(q.redrive.map(|(dlq, max)| Redrive {
            dead_letter_queue: dlq,
            max_receive_count: u32::try_from(max).unwrap_or(u32::MAX),
        }))
    }

    /// The names of the queues whose dead-letter queue is `dlq`, sorted (as SQS's
    /// ListDeadLetterSourceQueues; `NotFound` when `dlq` does not exist).
    pub fn dead_letter_sources(&self, dlq: &str) -> PortResult<Vec<String>> {
        let conn = self.lock();
        load_queue(&conn, dlq)?;
        let mut stmt = conn
            .prepare("SELECT name FROM queues WHERE dead_letter_queue = ?1 ORDER BY name")
            .map_err(|e| sql_error("ListDeadLetterSourceQueues", dlq, e))?;
        let names = stmt
            .query_map(params![dlq], |row| row.get(0))
            .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
            .map_err(|e| sql_error("ListDeadLetterSourceQueues", dlq, e))?;
        Ok(names)
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock rolled its transaction back: the connection is usable.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One receive attempt, without waiting.
    fn receive_now(
        &self,
        queue: &str,
        max: u32,
        visibility: Option<Duration>,
    ) -> PortResult<Vec<ReceivedMessage>> {
        const OP: &str = "ReceiveMessage";
        let err = |e| sql_error(OP, queue, e);
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let q = load_queue(&tx, queue)?;
        let visibility_ms = visibility.map_or(q.visibility_ms, millis);
        let now = now_millis();
        let mut received = Vec::new();
        let mut cursor = 0i64;
        'scan: loop {
            let batch = {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT seq, message_id, body, attributes, sent_at_ms, receive_count FROM messages
                         WHERE queue = ?1 AND visible_at_ms <= ?2 AND seq > ?3 ORDER BY seq LIMIT ?4",
                    )
                    .map_err(err)?;
                let rows = stmt
                    .query_map(params![queue, now, cursor, max], |row| {
                        Ok(Candidate {
                            seq: row.get(0)?,
                            message_id: row.get(1)?,
                            body: row.get(2)?,
                            attributes: row.get(3)?,
                            sent_at_ms: row.get(4)?,
                            receive_count: row.get(5)?,
                        })
                    })
                    .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                    .map_err(err)?;
                rows
            };
            if batch.is_empty() {
                break;
            }
            for c in batch {
                cursor = c.seq;
                if let Some((dlq, max_receives)) = &q.redrive {
                    if c.receive_count >= *max_receives {
                        tx.execute(
                            "UPDATE messages SET queue = ?1, visible_at_ms = ?2, receipt_handle = NULL WHERE seq = ?3",
                            params![dlq, now, c.seq],
                        )
                        .map_err(err)?;
                        tracing::debug!(queue, dead_letter_queue = %dlq, message_id = %c.message_id, "Moved message to its dead-letter queue");
                        continue;
                    }
                }
                let receipt_handle = format!("{}:{}", c.message_id, random_hex(&tx).map_err(err)?);
                tx.execute(
                    "UPDATE messages SET receive_count = receive_count + 1, visible_at_ms = ?1, receipt_handle = ?2
                     WHERE seq = ?3",
                    params![now.saturating_add(visibility_ms), receipt_handle, c.seq],
                )
                .map_err(err)?;
                let attributes =
                    decode_attributes(&c.attributes).map_err(|e| PortError::Rejected {
                        op: OP,
                        target: format!("{queue} message {}", c.message_id),
                        message: format!("stored attributes: {e}"),
                        source: None,
                    })?;
                received.push(ReceivedMessage {
                    message_id: c.message_id,
                    receipt_handle,
                    body: c.body,
                    attributes,
                    receive_count: u32::try_from(c.receive_count.saturating_add(1))
                        .unwrap_or(u32::MAX),
                    sent_at: DateTime::<Utc>::from_timestamp_millis(c.sent_at_ms),
                });
                if received.len() >= max as usize {
                    break 'scan;
                }
            }
        }
        tx.commit().map_err(err)?;
        Ok(received)
    }
}

struct Candidate {
    seq: i64,
    message_id: String,
    body: String,
    attributes: String,
    sent_at_ms: i64,
    receive_count: i64,
}

impl DeadLetters for SqliteQueue {
    /// The name itself, once it names a queue; a name that does not is `NotFound` with the
    /// queues there are.
    async fn address(&self, name: &str) -> PortResult<String> {
        let conn = self.lock();
        match load_queue(&conn, name) {
            Ok(_) => Ok(name.to_owned()),
            Err(e) if e.is_not_found() => {
                let names: Vec<String> = conn
                    .prepare("SELECT name FROM queues ORDER BY name")
                    .and_then(|mut stmt| {
                        stmt.query_map([], |row| row.get(0))?
                            .collect::<Result<_, _>>()
                    })
                    .map_err(|e| sql_error("ListQueues", name, e))?;
                Err(PortError::NotFound {
                    what: format!("queue {name} (queues here: {})", names.join(", ")),
                    source: None,
                })
            }
            Err(e) => Err(e),
        }
    }
    async fn sources(&self, dlq: &str) -> PortResult<Vec<String>> {
        self.dead_letter_sources(dlq)
    }
}

impl Queue for SqliteQueue {
    async fn send(&self, queue: &str, message: &OutgoingMessage) -> PortResult<String> {
        const OP: &str = "SendMessage";
        let size = message.body.len()
            + message
                .attributes
                .iter()
                .map(|(k, v)| k.len() + v.data_type.len() + value_len(v))
                .sum::<usize>();
        if size > MAX_MESSAGE_BYTES {
            return Err(PortError::Rejected {
                op: OP,
                target: queue.to_owned(),
                message: format!("message of {size} bytes exceeds {MAX_MESSAGE_BYTES}"),
                source: None,
            });
        }
        if let Some(problem) = attribute_problem(&message.attributes) {
            return Err(PortError::Rejected {
                op: OP,
                target: queue.to_owned(),
                message: problem,
                source: None,
            });
        }
        let attributes = encode_attributes(&message.attributes);
        let err = |e| sql_error(OP, queue, e);
        let conn = self.lock();
        load_queue(&conn, queue)?;
        let hex = random_hex(&conn).map_err(err)?;
        let message_id = uuid_like(&hex);
        let now = now_millis();
        conn.execute(
            "INSERT INTO messages (queue, message_id, body, attributes, sent_at_ms, visible_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            params![queue, message_id, message.body, attributes, now],
        )
        .map_err(err)?;
        Ok(message_id)
    }

    async fn receive(
        &self,
        queue: &str,
        max: u32,
        wait: Duration,
        visibility: Option<Duration>,
    ) -> PortResult<Vec<ReceivedMessage>> {
        if !(1..=10).contains(&max) {
            return Err(PortError::Rejected {
                op: "ReceiveMessage",
                target: queue.to_owned(),
                message: format!("max {max} is not within 1..=10"),
                source: None,
            });
        }
        if let Some(v) = visibility {
            check_visibility("ReceiveMessage", queue, v)?;
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let received = self.receive_now(queue, max, visibility)?;
            let now = tokio::time::Instant::now();
            if !received.is_empty() || now >= deadline {
                return Ok(received);
            }
            tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
        }
    }

    async fn delete(&self, queue: &str, receipt_handle: &str) -> PortResult<()> {
        let conn = self.lock();
        load_queue(&conn, queue)?;
        let deleted = conn
            .execute(
                "DELETE FROM messages WHERE queue = ?1 AND receipt_handle = ?2",
                params![queue, receipt_handle],
            )
            .map_err(|e| sql_error("DeleteMessage", queue, e))?;
        if deleted == 0 && !receipt_handle.contains(':') {
            return Err(PortError::Rejected {
                op: "DeleteMessage",
                target: queue.to_owned(),
                message: format!(
                    "ReceiptHandleIsInvalid: {receipt_handle:?} is not a receipt handle"
                ),
                source: None,
            });
        }
        // A stale handle (already deleted, or received again since) succeeds without effect, as
        // in SQS.
        Ok(())
    }

    async fn change_visibility(
        &self,
        queue: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> PortResult<()> {
        check_visibility("ChangeMessageVisibility", queue, timeout)?;
        let conn = self.lock();
        load_queue(&conn, queue)?;
        let changed = conn
            .execute(
                "UPDATE messages SET visible_at_ms = ?1 WHERE queue = ?2 AND receipt_handle = ?3",
                params![
                    now_millis().saturating_add(millis(timeout)),
                    queue,
                    receipt_handle
                ],
            )
            .map_err(|e| sql_error("ChangeMessageVisibility", queue, e))?;
        if changed == 0 {
            return Err(PortError::Rejected {
                op: "ChangeMessageVisibility",
                target: queue.to_owned(),
                message: "receipt handle is not current: the message was deleted or received again"
                    .to_owned(),
                source: None,
            });
        }
        Ok(())
    }

    async fn depth(&self, queue: &str) -> PortResult<QueueDepth> {
        let conn = self.lock();
        load_queue(&conn, queue)?;
        let (visible, in_flight): (i64, i64) = conn
            .query_row(
                "SELECT COALESCE(SUM(visible_at_ms <= ?2), 0), COALESCE(SUM(visible_at_ms > ?2), 0)
                 FROM messages WHERE queue = ?1",
                params![queue, now_millis()],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(|e| sql_error("GetQueueAttributes", queue, e))?;
        Ok(QueueDepth {
            visible: u64::try_from(visible).unwrap_or(0),
            in_flight: u64::try_from(in_flight).unwrap_or(0),
        })
    }
}

fn load_queue(conn: &Connection, queue: &str) -> PortResult<QueueRow> {
    conn.query_row(
        "SELECT visibility_ms, dead_letter_queue, max_receive_count FROM queues WHERE name = ?1",
        params![queue],
        |row| {
            let dlq: Option<String> = row.get(1)?;
            let max: Option<i64> = row.get(2)?;
            Ok(QueueRow {
                visibility_ms: row.get(0)?,
                redrive: dlq.zip(max),
            })
        },
    )
    .optional()
    .map_err(|e| sql_error("GetQueue", queue, e))?
    .ok_or_else(|| PortError::NotFound {
        what: format!("queue {queue}"),
        source: None,
    })
}

fn value_len(a: &MessageAttribute) -> usize {
    match &a.value {
        AttributeValue::Text(text) => text.len(),
        AttributeValue::Binary(bytes) => bytes.len(),
    }
}

/// The stored form of attributes: a JSON object of name → `{"DataType", "StringValue"}` or
/// `{"DataType", "BinaryValue": <hex>}`, as SQS names the fields.
fn encode_attributes(attributes: &BTreeMap<String, MessageAttribute>) -> String {
    let map: Map<String, Value> = attributes
        .iter()
        .map(|(name, a)| {
            let value = match &a.value {
                AttributeValue::Text(text) => {
                    json!({"DataType": a.data_type, "StringValue": text})
                }
                AttributeValue::Binary(bytes) => {
                    json!({"DataType": a.data_type, "BinaryValue": hex::encode(bytes)})
                }
            };
            (name.clone(), value)
        })
        .collect();
    Value::Object(map).to_string()
}

/// Read stored attributes; a plain string value (what earlier versions stored) is a `String`.
fn decode_attributes(stored: &str) -> Result<BTreeMap<String, MessageAttribute>, String> {
    let map: Map<String, Value> = serde_json::from_str(stored).map_err(|e| e.to_string())?;
    map.into_iter()
        .map(|(name, value)| {
            let attribute = match &value {
                Value::String(text) => MessageAttribute::string(text.clone()),
                Value::Object(fields) => {
                    let data_type = fields
                        .get("DataType")
                        .and_then(Value::as_str)
                        .ok_or_else(|| format!("attribute {name} has no DataType"))?;
                    match (
                        fields.get("StringValue").and_then(Value::as_str),
                        fields.get("BinaryValue").and_then(Value::as_str),
                    ) {
                        (Some(text), _) => MessageAttribute::text(data_type, text),
                        (None, Some(hex_bytes)) => MessageAttribute {
                            data_type: data_type.to_owned(),
                            value: AttributeValue::Binary(
                                hex::decode(hex_bytes)
                                    .map_err(|e| format!("attribute {name}: {e}"))?
                                    .into(),
                            ),
                        },
                        (None, None) => return Err(format!("attribute {name} has no value")),
                    }
                }
                _ => {
                    return Err(format!(
                        "attribute {name} is neither a string nor an object"
                    ))
                }
            };
            Ok((name, attribute))
        })
        .collect()
}

/// SQS's rules for message attributes: at most 10; names of `A-Z a-z 0-9 _ - .`, at most 256
/// characters, no leading or trailing `.`, no `..`, no `AWS.`/`Amazon.` prefix; values not empty;
/// a data type of `String`, `Number` or `Binary` with an optional `.custom` suffix, bytes for
/// `Binary` and text for the others, a number for `Number`.
fn attribute_problem(attributes: &BTreeMap<String, MessageAttribute>) -> Option<String> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Some(format!(
            "{} message attributes, at most {MAX_ATTRIBUTES} allowed",
            attributes.len()
        ));
    }
    attributes.iter().find_map(|(name, value)| {
        let lower = name.to_ascii_lowercase();
        let valid_name = !name.is_empty()
            && name.len() <= 256
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            && !name.starts_with('.')
            && !name.ends_with('.')
            && !name.contains("..")
            && !lower.starts_with("aws.")
            && !lower.starts_with("amazon.");
        if !valid_name {
            Some(format!(
                "InvalidParameterValue: message attribute name {name:?} is invalid (A-Z, a-z, 0-9, '_', '-', '.')"
            ))
        } else if value_len(value) == 0 {
            Some(format!("InvalidParameterValue: message attribute {name:?} has an empty value"))
        } else {
            data_type_problem(name, value)
        }
    })
}

fn data_type_problem(name: &str, a: &MessageAttribute) -> Option<String> {
    let base = base_type(&a.data_type);
    let custom_ok = a.data_type.len() <= 256
        && !a.data_type.ends_with('.')
        && a.data_type.chars().all(|c| c.is_ascii_graphic());
    let fits = match (base, &a.value) {
        ("String", AttributeValue::Text(_)) | ("Binary", AttributeValue::Binary(_)) => true,
        ("Number", AttributeValue::Text(n)) => n.trim().parse::<f64>().is_ok(),
        _ => false,
    };
    (!custom_ok || !fits).then(|| {
        format!(
            "InvalidParameterValue: message attribute {name:?} of type {:?} does not fit its value (String, Number or Binary, an optional .custom suffix)",
            a.data_type
        )
    })
}

fn check_visibility(op: &'static str, queue: &str, v: Duration) -> PortResult<()> {
    if v > MAX_VISIBILITY {
        return Err(PortError::Rejected {
            op,
            target: queue.to_owned(),
            message: format!("visibility timeout {}s exceeds 12 hours", v.as_secs()),
            source: None,
        });
    }
    Ok(())
}

/// 128 random bits as 32 lowercase hex digits, from SQLite's generator.
fn random_hex(conn: &Connection) -> rusqlite::Result<String> {
    conn.query_row("SELECT lower(hex(randomblob(16)))", [], |row| row.get(0))
}

/// Format 32 hex digits as 8-4-4-4-12.
fn uuid_like(hex: &str) -> String {
    let part = |r: std::ops::Range<usize>| hex.get(r).unwrap_or_default();
    format!(
        "{}-{}-{}-{}-{}",
        part(0..8),
        part(8..12),
        part(12..16),
        part(16..20),
        part(20..32)
    )
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}

/// An SQLite error as a port error: busy, locked, I/O, full disk and out of memory are worth a
/// retry; anything else is refused. Shared by the queue and the warehouse.
pub(crate) fn sql_error(op: &'static str, target: &str, e: rusqlite::Error) -> PortError {
    use rusqlite::ErrorCode as C;
    let transient = matches!(
        e.sqlite_error_code(),
        Some(
            C::DatabaseBusy | C::DatabaseLocked | C::SystemIoFailure | C::DiskFull | C::OutOfMemory
        )
    );
    PortError::classified(transient, op, target, e.to_string()).with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_like_formats_hex() {
        assert_eq!(
            uuid_like("0123456789abcdef0123456789abcdef"),
            "01234567-89ab-cdef-0123-456789abcdef"
        );
    }

    #[tokio::test]
    async fn missing_queue_is_not_found() {
        let q = SqliteQueue::in_memory().unwrap();
        let err = q
            .send("nope", &OutgoingMessage::new("x"))
            .await
            .unwrap_err();
        assert!(err.is_not_found(), "{err}");
        assert!(q.depth("nope").await.unwrap_err().is_not_found());
    }

    #[tokio::test]
    async fn redrive_needs_an_existing_dlq() {
        let q = SqliteQueue::in_memory().unwrap();
        let redrive = Redrive {
            dead_letter_queue: "dlq".into(),
            max_receive_count: 3,
        };
        assert!(q
            .create_queue("main", Duration::from_secs(30), Some(redrive.clone()))
            .is_err());
        q.create_queue("dlq", Duration::from_secs(30), None)
            .unwrap();
        q.create_queue("main", Duration::from_secs(30), Some(redrive.clone()))
            .unwrap();
        q.create_queue("main", Duration::from_secs(30), Some(redrive.clone()))
            .unwrap();
        assert_eq!(q.list_queues().unwrap(), ["dlq", "main"]);
        assert_eq!(q.redrive_policy("main").unwrap(), Some(redrive));
        assert_eq!(q.redrive_policy("dlq").unwrap(), None);
        assert!(q.redrive_policy("nope").unwrap_err().is_not_found());
        assert_eq!(q.dead_letter_sources("dlq").unwrap(), ["main"]);
        assert!(q.dead_letter_sources("main").unwrap().is_empty());
        assert!(q.dead_letter_sources("nope").unwrap_err().is_not_found());
    }

    #[tokio::test]
    async fn visibility_zero_does_not_return_a_message_twice_in_one_receive() {
        let q = SqliteQueue::in_memory().unwrap();
        q.create_queue("q", Duration::from_secs(30), None).unwrap();
        q.send("q", &OutgoingMessage::new("one")).await.unwrap();
        let got = q
            .receive("q", 10, Duration::ZERO, Some(Duration::ZERO))
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        let again = q.receive("q", 10, Duration::ZERO, None).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].receive_count, 2);
        assert_ne!(again[0].receipt_handle, got[0].receipt_handle);
        // The old handle no longer deletes; the new one does.
        q.delete("q", &got[0].receipt_handle).await.unwrap();
        assert_eq!(q.depth("q").await.unwrap().in_flight, 1);
        q.delete("q", &again[0].receipt_handle).await.unwrap();
        assert_eq!(q.depth("q").await.unwrap(), QueueDepth::default());
    }

    #[tokio::test]
    async fn attributes_follow_sqs_rules() {
        let q = SqliteQueue::in_memory().unwrap();
        q.create_queue("q", Duration::from_secs(30), None).unwrap();
        for (name, value, ok) in [
            ("trace.id_2-x", "v", true),
            ("AWS.reserved", "v", false),
            ("amazon.x", "v", false),
            (".leading", "v", false),
            ("trailing.", "v", false),
            ("a..b", "v", false),
            ("sp ace", "v", false),
            ("empty", "", false),
        ] {
            let mut m = OutgoingMessage::new("x");
            m.attributes
                .insert(name.to_owned(), MessageAttribute::string(value));
            assert_eq!(
                q.send("q", &m).await.is_ok(),
                ok,
                "attribute {name:?}={value:?}"
            );
        }
        let mut m = OutgoingMessage::new("x");
        m.attributes = (0..11)
            .map(|i| (format!("a{i}"), MessageAttribute::string("v")))
            .collect();
        assert!(q.send("q", &m).await.is_err(), "11 attributes");
        let big = OutgoingMessage::new("x".repeat(MAX_MESSAGE_BYTES + 1));
        assert!(q.send("q", &big).await.is_err(), "body over 1 MiB");
    }

    #[tokio::test]
    async fn attributes_keep_their_data_type_and_value() {
        let q = SqliteQueue::in_memory().unwrap();
        q.create_queue("q", Duration::from_secs(30), None).unwrap();
        let mut m = OutgoingMessage::new("x");
        m.attributes = BTreeMap::from([
            ("s".to_owned(), MessageAttribute::string("text")),
            ("n".to_owned(), MessageAttribute::number("-1.5e3")),
            ("b".to_owned(), MessageAttribute::binary(vec![0u8, 255, 10])),
            (
                "f".to_owned(),
                MessageAttribute::text("Number.float", "3.25"),
            ),
            ("c".to_owned(), MessageAttribute::text("String.custom", "x")),
            (
                "bc".to_owned(),
                MessageAttribute {
                    data_type: "Binary.gz".to_owned(),
                    value: AttributeValue::Binary(vec![1u8, 2].into()),
                },
            ),
        ]);
        q.send("q", &m).await.unwrap();
        let got = q.receive("q", 1, Duration::ZERO, None).await.unwrap();
        assert_eq!(got[0].attributes, m.attributes);
        for (data_type, value, ok) in [
            ("Number", AttributeValue::Text("twelve".into()), false),
            ("Binary", AttributeValue::Text("text".into()), false),
            ("String", AttributeValue::Binary(vec![1u8].into()), false),
            ("Decimal", AttributeValue::Text("1".into()), false),
            ("Number.int", AttributeValue::Text("12".into()), true),
        ] {
            let mut m = OutgoingMessage::new("x");
            let a = MessageAttribute {
                data_type: data_type.to_owned(),
                value: value.clone(),
            };
            m.attributes.insert("a".to_owned(), a);
            assert_eq!(q.send("q", &m).await.is_ok(), ok, "{data_type} {value:?}");
        }
    }

    #[test]
    fn reads_attributes_stored_as_plain_strings() {
        let got = decode_attributes(r#"{"origin":"test"}"#).unwrap();
        assert_eq!(got["origin"], MessageAttribute::string("test"));
    }

    #[tokio::test]
    async fn long_poll_waits_then_returns_empty() {
        let q = SqliteQueue::in_memory().unwrap();
        q.create_queue("q", Duration::from_secs(30), None).unwrap();
        let start = std::time::Instant::now();
        let got = q
            .receive("q", 1, Duration::from_millis(200), None)
            .await
            .unwrap();
        assert!(got.is_empty());
        assert!(start.elapsed() >= Duration::from_millis(200));
    }
}
