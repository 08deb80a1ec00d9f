//! The partner priority list of `consolidate_by_priority`: from the spec, or from a DynamoDB item
//! read through [`ConfigLookup`] and cached for `ttl_seconds`.
//!
//! Data flow: the transform stage calls [`PriorityCache::resolve`] before starting the job; a
//! spec list comes back as is; a DynamoDB source is served from the cache while fresh, else
//! fetched (one item, consistent read) and cached. Failures are not cached, so the next object
//! retries the lookup.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use loglift_core::spec::PrioritySource;
use loglift_ports::{ConfigLookup, PortError, PortResult};

/// (table, key_name, key_value, attribute).
type ItemKey = (String, String, String, String);
/// Per item: when the list was fetched, and the list.
type Entries = HashMap<ItemKey, (DateTime<Utc>, Vec<String>)>;

/// Resolves priority sources, caching DynamoDB lists per item and attribute.
#[derive(Debug)]
pub struct PriorityCache<L: ConfigLookup> {
    lookup: L,
    cache: Mutex<Entries>,
}

impl<L: ConfigLookup> PriorityCache<L> {
    pub fn new(lookup: L) -> Self {
        PriorityCache {
            lookup,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The priority list, best first. A DynamoDB list fetched less than `ttl_seconds` before
    /// `now` is served from the cache. A missing item is `NotFound`; an empty list is `Rejected`
    /// (no partner could win).
    pub async fn resolve(
        &self,
        source: &PrioritySource,
        now: DateTime<Utc>,
    ) -> PortResult<Vec<String>> {
        let (table, key_name, key_value, attribute, ttl_seconds) = match source {
            PrioritySource::List(list) => return Ok(list.clone()),
            PrioritySource::Dynamodb {
                table,
                key_name,
                key_value,
                attribute,
                ttl_seconds,
            } => (table, key_name, key_value, attribute, *ttl_seconds),
        };
        let item: ItemKey = (
            table.clone(),
            key_name.clone(),
            key_value.clone(),
            attribute.clone(),
        );
        let ttl = i64::try_from(ttl_seconds)
            .ok()
            .and_then(Duration::try_seconds)
            .unwrap_or(Duration::MAX);
        if let Some((fetched, list)) = self.lock().get(&item) {
            let age = now.signed_duration_since(*fetched);
            if age >= Duration::zero() && age < ttl {
                return Ok(list.clone());
            }
        }
        let target = format!("DynamoDB table {table} item {key_name}={key_value}");
        let list = self
            .lookup
            .string_list(table, key_name, key_value, attribute)
            .await?
            .ok_or_else(|| PortError::NotFound {
                what: format!("priority list: {target}"),
                source: None,
            })?;
        if list.is_empty() {
            return Err(PortError::Rejected {
                op: "priority list",
                target,
                message: format!("attribute `{attribute}` is empty: no partner could win"),
                source: None,
            });
        }
        self.lock().insert(item, (now, list.clone()));
        Ok(list)
    }

    /// The cache map; a panic elsewhere while holding it cannot leave it half-written, so a
    /// poisoned lock is taken as is.
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Stands in for DynamoDB so the tests can count the lookups the cache lets through.
    #[derive(Debug, Default)]
    struct CountingLookup {
        calls: AtomicUsize,
        items: HashMap<(String, String), Vec<String>>,
        fail: bool,
    }

    impl ConfigLookup for CountingLookup {
        async fn string_list(
            &self,
            table: &str,
            _key_name: &str,
            key_value: &str,
            _attribute: &str,
        ) -> PortResult<Option<Vec<String>>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.fail {
                return Err(PortError::Transient {
                    op: "GetItem",
                    target: table.to_owned(),
                    message: "throttled".into(),
                    source: None,
                });
            }
            Ok(self
                .items
                .get(&(table.to_owned(), key_value.to_owned()))
                .cloned())
        }
    }

    fn lookup_with(items: &[(&str, &str, &[&str])]) -> CountingLookup {
        CountingLookup {
            items: items
                .iter()
                .map(|(t, k, l)| {
                    (
                        (t.to_string(), k.to_string()),
                        l.iter().map(|s| s.to_string()).collect(),
                    )
                })
                .collect(),
            ..Default::default()
        }
    }

    fn dynamodb(table: &str, key_value: &str, ttl_seconds: u64) -> PrioritySource {
        PrioritySource::Dynamodb {
            table: table.into(),
            key_name: "ContentType".into(),
            key_value: key_value.into(),
            attribute: "partners".into(),
            ttl_seconds,
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn a_spec_list_is_returned_as_is() {
        let cache = PriorityCache::new(lookup_with(&[]));
        let list = vec!["b".to_owned(), "a".to_owned()];
        let got = block_on(cache.resolve(&PrioritySource::List(list.clone()), at(0))).unwrap();
        assert_eq!(got, list);
        assert_eq!(cache.lookup.calls.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn dynamodb_lists_are_cached_for_the_ttl() {
        let cache = PriorityCache::new(lookup_with(&[
            ("t", "hotels", &["expedia", "booking"]),
            ("t", "flights", &["kayak"]),
        ]));
        let source = dynamodb("t", "hotels", 60);
        let calls = || cache.lookup.calls.load(Ordering::SeqCst);
        let steps = [
            (0, 1, "first lookup fetches"),
            (30, 1, "within the TTL: cached"),
            (59, 1, "last second of the TTL: cached"),
            (60, 2, "TTL over: fetched again"),
            (100, 2, "cached from the second fetch"),
            (119, 2, "still within the second TTL"),
            (-10, 3, "a clock earlier than the fetch refetches"),
        ];
        for (second, want_calls, what) in steps {
            let got = block_on(cache.resolve(&source, at(second))).unwrap();
            assert_eq!(got, ["expedia", "booking"], "{what}");
            assert_eq!(calls(), want_calls, "t={second}: {what}");
        }
        // Another item has its own entry.
        let other = block_on(cache.resolve(&dynamodb("t", "flights", 60), at(0))).unwrap();
        assert_eq!(other, ["kayak"]);
        assert_eq!(calls(), 4);
    }

    #[test]
    fn a_zero_ttl_never_caches() {
        let cache = PriorityCache::new(lookup_with(&[("t", "hotels", &["a"])]));
        for _ in 0..3 {
            block_on(cache.resolve(&dynamodb("t", "hotels", 0), at(0))).unwrap();
        }
        assert_eq!(cache.lookup.calls.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_missing_item_is_not_found_and_names_the_table_and_key() {
        let cache = PriorityCache::new(lookup_with(&[]));
        let err =
            block_on(cache.resolve(&dynamodb("partners-table", "hotels", 60), at(0))).unwrap_err();
        assert!(err.is_not_found(), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("partners-table") && text.contains("ContentType=hotels"),
            "{text}"
        );
    }

    #[test]
    fn an_empty_list_is_rejected() {
        let cache = PriorityCache::new(lookup_with(&[("t", "hotels", &[])]));
        let err = block_on(cache.resolve(&dynamodb("t", "hotels", 60), at(0))).unwrap_err();
        assert!(matches!(err, PortError::Rejected { .. }), "{err:?}");
        assert!(!err.is_retryable());
    }

    #[test]
    fn failures_are_not_cached() {
        let cache = PriorityCache::new(CountingLookup {
            fail: true,
            ..Default::default()
        });
        for _ in 0..2 {
            let err = block_on(cache.resolve(&dynamodb("t", "hotels", 60), at(0))).unwrap_err();
            assert!(err.is_retryable(), "{err:?}");
        }
        assert_eq!(cache.lookup.calls.load(Ordering::SeqCst), 2);
    }
}
