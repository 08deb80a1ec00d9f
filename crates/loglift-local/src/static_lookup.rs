//! Configuration lookups without DynamoDB: local mode's stand-in for the `ConfigLookup` port.
//! Lists are given up front (e.g. read from a file); an unknown item is `None`, as DynamoDB
//! answers for a missing item.

use std::collections::BTreeMap;

use loglift_ports::{ConfigLookup, PortResult};

/// String lists by (table, key value, attribute).
#[derive(Debug, Clone, Default)]
pub struct StaticLookup {
    lists: BTreeMap<(String, String, String), Vec<String>>,
}

impl StaticLookup {
    /// Add the list `attribute` of the item `key_value` in `table`.
    pub fn with(
        mut self,
        table: &str,
        key_value: &str,
        attribute: &str,
        list: Vec<String>,
    ) -> Self {
        self.lists.insert(
            (table.to_owned(), key_value.to_owned(), attribute.to_owned()),
            list,
        );
        self
    }
}

impl ConfigLookup for StaticLookup {
    async fn string_list(
        &self,
        table: &str,
        _key_name: &str,
        key_value: &str,
        attribute: &str,
    ) -> PortResult<Option<Vec<String>>> {
        Ok(self
            .lists
            .get(&(table.to_owned(), key_value.to_owned(), attribute.to_owned()))
            .cloned())
    }
}
