//! JSON events read without building their tree. Ingest needs three things of an event: that it is
//! a JSON object transform will be able to read back (syntax, escapes, numbers, nesting within
//! [`MAX_EVENT_DEPTH`]), the few top-level fields routing and identity look at ([`Wanted`]), and
//! its text, which goes into the raw line as sent ([`JsonEvent::text`]). One serde pass over the
//! text does all three: wanted fields are parsed into values, every other value is checked and
//! skipped without allocating.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::record::{deeper_than, MAX_EVENT_DEPTH};
use crate::reject::{Reason, Rejection};
use crate::spec::{Identity, Spec};

/// The top-level keys of events whose values are parsed: for a dotted path `a.b`, both the key
/// `a.b` (field names may hold dots) and `a` ([`crate::identity::lookup`] tries both).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    keys: Vec<String>,
}

impl Wanted {
    /// What routing (topic rules) and identity (field and hash identities) of any pipeline of
    /// `spec` read.
    pub fn of(spec: &Spec) -> Wanted {
        let mut wanted = Wanted::default();
        for pipeline in &spec.pipelines {
            if let Some(topic) = &pipeline.matcher.topic {
                wanted = wanted.with_path(&topic.field);
            }
            match &pipeline.identity {
                Identity::Field(path) => wanted = wanted.with_path(path),
                Identity::Hash(fields) => {
                    for path in fields {
                        wanted = wanted.with_path(path);
                    }
                }
                Identity::LogEventId => {}
            }
        }
        wanted
    }

    /// Also parse the value of the top-level key `key`.
    pub fn with(mut self, key: &str) -> Wanted {
        if !self.contains(key) {
            self.keys.push(key.to_owned());
        }
        self
    }

    fn with_path(self, path: &str) -> Wanted {
        let first = path.split('.').next().unwrap_or(path);
        self.with(path).with(first)
    }

    /// `messageType` is always read: it tells a CloudWatch Logs payload from an event.
    fn contains(&self, key: &str) -> bool {
        key == "messageType" || self.keys.iter().any(|k| k == key)
    }
}

/// One JSON object event, read.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonEvent<'a> {
    /// The event's JSON text as sent, without surrounding whitespace; re-serialised compactly
    /// when the text spans lines (it goes into one NDJSON line).
    pub text: Cow<'a, str>,
    /// The [`Wanted`] top-level fields present in the event (the last value of a repeated key,
    /// as any JSON map reader takes it).
    pub fields: Map<String, Value>,
}

/// Why a text is not an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// Not a JSON object (the parser's message).
    Invalid(String),
    /// Nests deeper than [`MAX_EVENT_DEPTH`].
    TooDeep,
}

impl ReadError {
    /// The reject: [`Reason::InvalidJson`], the parser's message after `context`.
    pub fn rejection(&self, context: impl FnOnce() -> String) -> Rejection {
        match self {
            ReadError::Invalid(e) => Rejection::new(
                Reason::InvalidJson,
                format!("{} is not a JSON object: {e}", context()),
            ),
            ReadError::TooDeep => too_deep(),
        }
    }
}

/// [`Reason::InvalidJson`]: the event nests deeper than [`MAX_EVENT_DEPTH`] levels.
pub fn too_deep() -> Rejection {
    Rejection::new(
        Reason::InvalidJson,
        format!("the event nests deeper than {MAX_EVENT_DEPTH} levels of objects and arrays"),
    )
}

const TOO_DEEP: &str = "loglift: nested too deep";

/// Read `text` as one JSON object event.
pub fn read<'a>(text: &'a str, wanted: &Wanted) -> Result<JsonEvent<'a>, ReadError> {
    let text = text.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
    let mut de = serde_json::Deserializer::from_str(text);
    let fields = EventSeed { wanted }
        .deserialize(&mut de)
        .and_then(|fields| de.end().map(|()| fields))
        .map_err(|e| {
            if e.to_string().starts_with(TOO_DEEP) {
                ReadError::TooDeep
            } else {
                ReadError::Invalid(e.to_string())
            }
        })?;
    let text = if memchr::memchr2(b'\n', b'\r', text.as_bytes()).is_some() {
        // Valid JSON, so it parses; whitespace between tokens is all that goes.
        let object: Map<String, Value> =
            serde_json::from_str(text).map_err(|e| ReadError::Invalid(e.to_string()))?;
        Cow::Owned(Value::Object(object).to_string())
    } else {
        Cow::Borrowed(text)
    };
    Ok(JsonEvent { text, fields })
}

/// The event object: wanted fields kept, the rest checked and skipped.
struct EventSeed<'w> {
    wanted: &'w Wanted,
}

impl<'de> DeserializeSeed<'de> for EventSeed<'_> {
    type Value = Map<String, Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EventSeed<'_> {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // The event is level 1: its values may nest MAX_EVENT_DEPTH - 1 levels.
        let below = MAX_EVENT_DEPTH.saturating_sub(1);
        let mut fields = Map::new();
        while let Some(key) = map.next_key_seed(Key)? {
            if self.wanted.contains(&key) {
                let value: Value = map.next_value()?;
                if deeper_than(&value, below) {
                    return Err(de::Error::custom(TOO_DEEP));
                }
                fields.insert(key.into_owned(), value);
            } else {
                map.next_value_seed(Check { levels: below })?;
            }
        }
        Ok(fields)
    }
}

/// A key, borrowed when it has no escapes.
pub(crate) struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

/// Any value, checked as a reader of it would (strings' escapes decoded, numbers in range) and
/// dropped; objects and arrays at most `levels` deep.
struct Check {
    levels: usize,
}

impl<'de> DeserializeSeed<'de> for Check {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Check {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some(levels) = self.levels.checked_sub(1) else {
            return Err(de::Error::custom(TOO_DEEP));
        };
        while seq.next_element_seed(Check { levels })?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some(levels) = self.levels.checked_sub(1) else {
            return Err(de::Error::custom(TOO_DEEP));
        };
        while map.next_key_seed(Check { levels: 0 })?.is_some() {
            map.next_value_seed(Check { levels })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted() -> Wanted {
        Wanted::default().with("id").with("a.b").with("a")
    }

    #[test]
    fn wanted_fields_are_parsed_and_the_text_is_kept() {
        let text = r#" {"id":"e1","x":[1,{"y":null}],"a":{"b":2},"n":1.5e3,"s":"\u00e9"} "#;
        let event = read(text, &wanted()).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(event.text, text.trim());
        assert!(matches!(event.text, Cow::Borrowed(_)));
        let keys: Vec<&str> = event.fields.keys().map(String::as_str).collect();
        assert_eq!(keys, ["id", "a"]);
        assert_eq!(event.fields["a"], serde_json::json!({"b": 2}));
    }

    #[test]
    fn a_repeated_key_reads_as_its_last_value() {
        let event = read(r#"{"id":"first","id":"last"}"#, &wanted());
        let event = event.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(event.fields["id"], "last");
        let all: Map<String, Value> =
            serde_json::from_str(&event.text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(all["id"], "last", "what transform will read");
    }

    #[test]
    fn text_spanning_lines_is_compacted() {
        let event = read("{\n  \"id\": \"e1\",\r\n  \"v\": [1, 2]\n}\n", &wanted());
        let event = event.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(event.text, r#"{"id":"e1","v":[1,2]}"#);
    }

    #[test]
    fn what_a_reader_would_refuse_is_refused() {
        let bad = [
            "[1]",
            "5",
            "\"s\"",
            "{\"a\":1} x",
            "{\"a\":\"\\ud800\"}",
            "{\"\\ud800\":1}",
            "{\"a\":1e400}",
            "{\"a\":\"\u{1}\"}",
            "{\"a\":tru}",
            "",
        ];
        for text in bad {
            let got = read(text, &Wanted::default());
            assert!(
                matches!(got, Err(ReadError::Invalid(_))),
                "{text:?}: {got:?}"
            );
            // The tree reader agrees.
            assert!(
                serde_json::from_str::<Map<String, Value>>(text).is_err(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn depth_is_capped_in_skipped_and_in_wanted_values() {
        let nested = |levels: usize, key: &str| {
            format!(
                "{{\"{key}\":{}1{}}}",
                "[".repeat(levels - 1),
                "]".repeat(levels - 1)
            )
        };
        for key in ["skipped", "id"] {
            let deepest = nested(MAX_EVENT_DEPTH, key);
            assert!(read(&deepest, &wanted()).is_ok(), "{key}");
            let over = nested(MAX_EVENT_DEPTH + 1, key);
            assert_eq!(read(&over, &wanted()), Err(ReadError::TooDeep), "{key}");
        }
    }

    proptest::proptest! {
        /// One pass agrees with the tree reader transform uses: the same texts are events, the
        /// wanted fields are the tree's, and the kept text reads back as the same object.
        #[test]
        fn agrees_with_the_tree_reader(text in r#"[{}\[\]":,0-9a-c\\u. \n-]{0,60}"#) {
            check_against_tree(&text);
        }

        #[test]
        fn agrees_on_objects_built_from_parts(
            keys in proptest::collection::vec("(id|a|a\\.b|x|\\\\u0061)", 0..5),
            values in proptest::collection::vec(r#"(1|-2\.5e3|"s"|"\\u00e9"|null|true|\[1,\{"b":2\}\]|\{"b":\[\]\}|1e999|"\\ud800")"#, 0..5),
        ) {
            let entries: Vec<String> = keys
                .iter()
                .zip(&values)
                .map(|(k, v)| format!("\"{k}\":{v}"))
                .collect();
            check_against_tree(&format!("{{{}}}", entries.join(",")));
        }
    }

    fn check_against_tree(text: &str) {
        let tree = serde_json::from_str::<Map<String, Value>>(text);
        match (read(text, &wanted()), tree) {
            (Ok(event), Ok(tree)) => {
                for key in ["id", "a", "a.b"] {
                    assert_eq!(event.fields.get(key), tree.get(key), "{text:?} {key}");
                }
                let back: Map<String, Value> =
                    serde_json::from_str(&event.text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
                assert_eq!(back, tree, "{text:?}");
            }
            (Err(_), Err(_)) => {}
            (Err(ReadError::TooDeep), Ok(_)) => {}
            (got, tree) => panic!("{text:?}: one pass {got:?}, tree {tree:?}"),
        }
    }
}
