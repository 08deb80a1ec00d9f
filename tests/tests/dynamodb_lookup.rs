//! [`DynamoLookup`](loglift_aws::DynamoLookup) against moto: the priority list item of seed 004
//! read back in order (List or comma-separated String), a missing item, a String Set, a missing
//! table, and the [`PriorityCache`] over it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use chrono::Utc;
use loglift_core::spec::PrioritySource;
use loglift_ports::{ConfigLookup, PortError};
use loglift_stages::priority::PriorityCache;
use loglift_tests::{moto, unique_name, MotoEnv};

const KEY: &str = "ContentType";

/// A fresh table keyed by the string `ContentType`; returns its name.
async fn new_table(env: &MotoEnv) -> String {
    let table = unique_name("priority");
    env.dynamodb_client()
        .create_table()
        .table_name(&table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(KEY)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(KEY)
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "CreateTable {table}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(e)
            )
        });
    table
}

async fn put(env: &MotoEnv, table: &str, key: &str, attribute: &str, value: AttributeValue) {
    env.dynamodb_client()
        .put_item()
        .table_name(table)
        .item(KEY, AttributeValue::S(key.to_owned()))
        .item(attribute, value)
        .item("note", AttributeValue::S("not projected".into()))
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PutItem {table}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(e)
            )
        });
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn lists_come_back_in_order() {
    let Some(env) = moto() else { return };
    let table = new_table(&env).await;
    // Not alphabetical, so an implementation that sorted (or used a set) would fail.
    let partners = ["expedia", "booking", "hotels", "agoda"];
    put(
        &env,
        &table,
        "hotels",
        "partners",
        AttributeValue::L(
            partners
                .iter()
                .map(|p| AttributeValue::S((*p).to_owned()))
                .collect(),
        ),
    )
    .await;
    put(
        &env,
        &table,
        "flights",
        "partners",
        AttributeValue::S("kayak, skyscanner ,,momondo".into()),
    )
    .await;
    let lookup = env.dynamo_lookup();

    let got = lookup
        .string_list(&table, KEY, "hotels", "partners")
        .await
        .unwrap();
    assert_eq!(got, Some(strings(&partners)));

    let got = lookup
        .string_list(&table, KEY, "flights", "partners")
        .await
        .unwrap();
    assert_eq!(got, Some(strings(&["kayak", "skyscanner", "momondo"])));

    let got = lookup
        .string_list(&table, KEY, "cars", "partners")
        .await
        .unwrap();
    assert_eq!(got, None, "a missing item is None");
}

#[tokio::test]
async fn sets_missing_attributes_and_missing_tables_are_errors() {
    let Some(env) = moto() else { return };
    let table = new_table(&env).await;
    put(
        &env,
        &table,
        "hotels",
        "partners",
        AttributeValue::Ss(strings(&["expedia", "booking"])),
    )
    .await;
    let lookup = env.dynamo_lookup();

    let err = lookup
        .string_list(&table, KEY, "hotels", "partners")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PortError::Rejected { message, .. } if message.contains("no order")),
        "{err:?}"
    );

    let err = lookup
        .string_list(&table, KEY, "hotels", "other")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PortError::Rejected { message, .. } if message.contains("`other`")),
        "{err:?}"
    );

    let missing = unique_name("no-such-table");
    let err = lookup
        .string_list(&missing, KEY, "hotels", "partners")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(err.to_string().contains(&missing), "{err}");
}

#[tokio::test]
async fn priority_cache_resolves_through_dynamodb() {
    let Some(env) = moto() else { return };
    let table = new_table(&env).await;
    put(
        &env,
        &table,
        "hotels",
        "partners",
        AttributeValue::L(vec![
            AttributeValue::S("booking".into()),
            AttributeValue::S("expedia".into()),
        ]),
    )
    .await;
    let cache = PriorityCache::new(env.dynamo_lookup());
    let source = |key_value: &str| PrioritySource::Dynamodb {
        table: table.clone(),
        key_name: KEY.into(),
        key_value: key_value.into(),
        attribute: "partners".into(),
        ttl_seconds: 300,
    };
    let now = Utc::now();
    assert_eq!(
        cache.resolve(&source("hotels"), now).await.unwrap(),
        strings(&["booking", "expedia"])
    );
    // Within the TTL the cached list is served even after the item changes.
    put(
        &env,
        &table,
        "hotels",
        "partners",
        AttributeValue::L(vec![AttributeValue::S("agoda".into())]),
    )
    .await;
    assert_eq!(
        cache
            .resolve(&source("hotels"), now + chrono::Duration::seconds(10))
            .await
            .unwrap(),
        strings(&["booking", "expedia"])
    );
    assert_eq!(
        cache
            .resolve(&source("hotels"), now + chrono::Duration::seconds(300))
            .await
            .unwrap(),
        strings(&["agoda"])
    );
    let err = cache.resolve(&source("cars"), now).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(err.to_string().contains(&table), "{err}");
}
