//! [`DynamoLookup`]: the [`ConfigLookup`] port over DynamoDB items (seed 004 keeps its partner
//! priority list in one).

use aws_sdk_dynamodb::types::AttributeValue;
use loglift_ports::{ConfigLookup, PortError, PortResult};

use crate::error::port_error;

/// Reads configuration lists from DynamoDB items with a strongly consistent `GetItem` on a
/// string partition key. The attribute may be a List of Strings (order kept) or one String of
/// comma-separated names (trimmed, empty names dropped). A String Set has no order and is
/// rejected, as is any other type.
#[derive(Debug, Clone)]
pub struct DynamoLookup {
    client: aws_sdk_dynamodb::Client,
}

impl DynamoLookup {
    /// A lookup over a client built once (see [`crate::dynamodb_client`]).
    pub fn new(client: aws_sdk_dynamodb::Client) -> Self {
        DynamoLookup { client }
    }

    /// The underlying client.
    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }
}

impl ConfigLookup for DynamoLookup {
    async fn string_list(
        &self,
        table: &str,
        key_name: &str,
        key_value: &str,
        attribute: &str,
    ) -> PortResult<Option<Vec<String>>> {
        let target = format!("{table} {key_name}={key_value} .{attribute}");
        let out = self
            .client
            .get_item()
            .table_name(table)
            .key(key_name, AttributeValue::S(key_value.to_owned()))
            .consistent_read(true)
            .projection_expression("#a")
            .expression_attribute_names("#a", attribute)
            .send()
            .await
            .map_err(|e| port_error("GetItem", target.as_str(), e))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let rejected = |message: String| PortError::Rejected {
            op: "GetItem",
            target: target.clone(),
            message,
            source: None,
        };
        match item.get(attribute) {
            None => Err(rejected(format!("the item has no attribute `{attribute}`"))),
            Some(value) => string_list(value).map(Some).map_err(rejected),
        }
    }
}

/// A List of Strings in order, or a comma-separated String; anything else is refused.
fn string_list(value: &AttributeValue) -> Result<Vec<String>, String> {
    match value {
        AttributeValue::L(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                AttributeValue::S(s) => Ok(s.clone()),
                other => Err(format!(
                    "element {i} of the list is {}, not a string (S)",
                    type_name(other)
                )),
            })
            .collect(),
        AttributeValue::S(s) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()),
        AttributeValue::Ss(_) => Err(
            "the attribute is a string set (SS), which has no order: store the list as a List (L) \
             of strings or a comma-separated string (S)"
                .to_owned(),
        ),
        other => Err(format!(
            "the attribute is {}: expected a List (L) of strings or a comma-separated string (S)",
            type_name(other)
        )),
    }
}

/// DynamoDB's name of an attribute value's type.
fn type_name(value: &AttributeValue) -> &'static str {
    match value {
        AttributeValue::B(_) => "B",
        AttributeValue::Bool(_) => "BOOL",
        AttributeValue::Bs(_) => "BS",
        AttributeValue::L(_) => "L",
        AttributeValue::M(_) => "M",
        AttributeValue::N(_) => "N",
        AttributeValue::Ns(_) => "NS",
        AttributeValue::Null(_) => "NULL",
        AttributeValue::S(_) => "S",
        AttributeValue::Ss(_) => "SS",
        _ => "an unknown type",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.to_owned())
    }

    #[test]
    fn lists_and_comma_separated_strings_keep_their_order() {
        let cases = [
            (
                AttributeValue::L(vec![s("b"), s("a"), s("c")]),
                vec!["b", "a", "c"],
            ),
            (AttributeValue::L(vec![]), vec![]),
            (
                s("expedia, booking ,hotels,,agoda"),
                vec!["expedia", "booking", "hotels", "agoda"],
            ),
            (s(""), vec![]),
        ];
        for (value, want) in cases {
            assert_eq!(
                string_list(&value),
                Ok(want.iter().map(|s| (*s).to_owned()).collect()),
                "{value:?}"
            );
        }
    }

    #[test]
    fn sets_and_other_types_are_refused() {
        let cases = [
            (AttributeValue::Ss(vec!["a".into()]), "no order"),
            (AttributeValue::N("1".into()), "the attribute is N"),
            (
                AttributeValue::L(vec![s("a"), AttributeValue::N("2".into())]),
                "element 1 of the list is N",
            ),
            (AttributeValue::M(Default::default()), "the attribute is M"),
        ];
        for (value, want) in cases {
            let err = string_list(&value).unwrap_err();
            assert!(err.contains(want), "{value:?}: {err}");
        }
    }
}
