//! Event identity: the id the whole pipeline dedupes on. Deterministic: the same event gets the
//! same id whichever path it took (Kinesis, Firehose, a file, a replay).

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::reject::{Reason, Rejection};
use crate::spec::Identity;

/// The longest event id, in bytes (the warehouse column is `VARCHAR(256)`).
pub const MAX_EVENT_ID_BYTES: usize = 256;

/// Look a dotted path up in an event: an exact key first (field names may hold dots), then the
/// path segment by segment through nested objects.
pub fn lookup<'a>(event: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = event.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut current = event.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

/// A scalar's text as identity sees it: strings as they are, numbers and booleans in their JSON
/// form, so `"42"` and `42` give the same id. `None` for null, objects and arrays.
fn scalar_text(value: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match value {
        Value::String(s) => Some(std::borrow::Cow::Borrowed(s.as_str())),
        Value::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(std::borrow::Cow::Borrowed(if *b {
            "true"
        } else {
            "false"
        })),
        Value::Null | Value::Object(_) | Value::Array(_) => None,
    }
}

/// Compute an event's id. `log_event_id` is the CloudWatch Logs event id when the event came in a
/// CloudWatch Logs payload.
pub fn event_id(
    identity: &Identity,
    event: &Map<String, Value>,
    log_event_id: Option<&str>,
) -> Result<String, Rejection> {
    let id = match identity {
        Identity::Field(path) => {
            let value = lookup(event, path)
                .and_then(scalar_text)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    Rejection::new(
                        Reason::MissingIdentity,
                        format!("identity field `{path}` is missing, empty or not a scalar"),
                    )
                })?;
            value.into_owned()
        }
        Identity::Hash(fields) => {
            let mut hasher = Sha256::new();
            let mut present = 0usize;
            for field in fields {
                match lookup(event, field) {
                    Some(Value::Null) | None => hasher.update([0u8]),
                    Some(value) => {
                        present += 1;
                        match scalar_text(value) {
                            Some(text) => hasher.update(text.as_bytes()),
                            // serde_json maps are ordered by key: the text is canonical.
                            None => hasher.update(value.to_string().as_bytes()),
                        }
                    }
                }
                hasher.update([0x1f]);
            }
            if present == 0 {
                return Err(Rejection::new(
                    Reason::MissingIdentity,
                    format!("none of the identity fields {fields:?} is present"),
                ));
            }
            let digest = hasher.finalize();
            hex::encode(digest.get(..16).unwrap_or(&digest))
        }
        Identity::LogEventId => log_event_id
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| {
                Rejection::new(
                    Reason::MissingIdentity,
                    "the event has no CloudWatch Logs event id",
                )
            })?,
    };
    if id.len() > MAX_EVENT_ID_BYTES {
        return Err(Rejection::new(
            Reason::IdentityTooLong,
            format!(
                "event id is {} bytes, at most {MAX_EVENT_ID_BYTES} allowed",
                id.len()
            ),
        ));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn field_identity_is_the_value() {
        let e = obj(json!({"request_id": "fc417c2b", "n": 42, "deep": {"id": "x"}}));
        assert_eq!(
            event_id(&Identity::Field("request_id".into()), &e, None)
                .ok()
                .as_deref(),
            Some("fc417c2b")
        );
        assert_eq!(
            event_id(&Identity::Field("n".into()), &e, None)
                .ok()
                .as_deref(),
            Some("42")
        );
        assert_eq!(
            event_id(&Identity::Field("deep.id".into()), &e, None)
                .ok()
                .as_deref(),
            Some("x")
        );
        for missing in ["nope", "deep"] {
            let err = event_id(&Identity::Field(missing.into()), &e, None)
                .err()
                .map(|r| r.reason);
            assert_eq!(err, Some(Reason::MissingIdentity), "{missing}");
        }
        let long = obj(json!({"id": "x".repeat(300)}));
        assert_eq!(
            event_id(&Identity::Field("id".into()), &long, None)
                .err()
                .map(|r| r.reason),
            Some(Reason::IdentityTooLong)
        );
    }

    #[test]
    fn hash_identity_is_stable_and_type_blind_for_scalars() {
        let id = Identity::Hash(vec!["a".into(), "b".into()]);
        let one = event_id(&id, &obj(json!({"a": "1", "b": "x", "other": 1})), None).ok();
        let two = event_id(&id, &obj(json!({"b": "x", "a": 1})), None).ok();
        assert_eq!(one, two);
        assert_eq!(one.as_deref().map(str::len), Some(32));
        // Pinned (= sha256("1\x1fx\x1f")[..16], checked with Python): changing it changes every id.
        assert_eq!(one.as_deref(), Some("7740cd2e938316b56a469f421fae9d5d"));
        let swapped = event_id(&id, &obj(json!({"a": "x", "b": "1"})), None).ok();
        assert_ne!(one, swapped, "field order matters");
        let missing_one = event_id(&id, &obj(json!({"a": "1"})), None).ok();
        assert_ne!(one, missing_one);
        assert_eq!(
            event_id(&id, &obj(json!({})), None).err().map(|r| r.reason),
            Some(Reason::MissingIdentity)
        );
    }

    #[test]
    fn log_event_id_identity() {
        let e = obj(json!({}));
        assert_eq!(
            event_id(&Identity::LogEventId, &e, Some("3595"))
                .ok()
                .as_deref(),
            Some("3595")
        );
        assert!(event_id(&Identity::LogEventId, &e, None).is_err());
    }
}
