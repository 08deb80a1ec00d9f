//! [`MemoryStore`]: an [`ObjectStore`] held in memory, for benchmarks and tests that must not
//! measure or depend on a disk.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use chrono::Utc;
use loglift_ports::{ListPage, Object, ObjectMeta, ObjectStore, PortError, PortResult};
use md5::{Digest, Md5};

use crate::fs_store::{check_key, LIST_PAGE_SIZE};

/// The longest key S3 accepts, in bytes.

#[derive(Debug, Clone)]
struct Stored {
    body: Bytes,
    meta: ObjectMeta,
}

/// Buckets and objects in a `Mutex<BTreeMap>`, keyed by (bucket, key) so listings come in key
/// order. Behaves as [`crate::FsObjectStore`] does where it matters to handlers: the etag is the
/// MD5 of the content, there are no versions, a missing object is `NotFound` on `get` and `None`
/// on `head`, deleting a missing object succeeds, listings come in pages (1000 keys by default)
/// whose `next` is the last key returned. Bodies are `Bytes`, shared, never copied on `get`.
/// Clones share the same objects.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    objects: Arc<Mutex<BTreeMap<(String, String), Stored>>>,
    page_size: usize,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        MemoryStore {
            objects: Arc::default(),
            page_size: LIST_PAGE_SIZE,
        }
    }

    /// A store whose listings return at most `page_size` keys per page (at least 1).
    pub fn with_page_size(page_size: usize) -> Self {
        MemoryStore {
            page_size: page_size.max(1),
            ..MemoryStore::new()
        }
    }

    /// How many objects, and how many bytes they hold, over all buckets.
    pub fn usage(&self) -> (usize, u64) {
        let objects = self.lock();
        let bytes = objects.values().map(|o| o.body.len() as u64).sum();
        (objects.len(), bytes)
    }

    /// Forget every object.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The map; a panic in another holder cannot leave it half-written (every change is one
    /// insert or remove), so a poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, BTreeMap<(String, String), Stored>> {
        self.objects.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ObjectStore for MemoryStore {
    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        _content_type: &str,
    ) -> PortResult<ObjectMeta> {
        check_key(bucket, key)?;
        let meta = ObjectMeta {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            size: body.len() as u64,
            etag: hex::encode(Md5::digest(&body)),
            version_id: None,
            last_modified: Some(Utc::now()),
        };
        self.lock().insert(
            (bucket.to_owned(), key.to_owned()),
            Stored {
                body,
                meta: meta.clone(),
            },
        );
        Ok(meta)
    }

    async fn get(&self, bucket: &str, key: &str) -> PortResult<Object> {
        check_key(bucket, key)?;
        let stored = self
            .lock()
            .get(&(bucket.to_owned(), key.to_owned()))
            .cloned()
            .ok_or_else(|| PortError::NotFound {
                what: format!("object {bucket}/{key}"),
                source: None,
            })?;
        Ok(Object {
            meta: stored.meta,
            body: Box::pin(std::io::Cursor::new(stored.body)),
        })
    }

    async fn head(&self, bucket: &str, key: &str) -> PortResult<Option<ObjectMeta>> {
        check_key(bucket, key)?;
        Ok(self
            .lock()
            .get(&(bucket.to_owned(), key.to_owned()))
            .map(|o| o.meta.clone()))
    }

    async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        continuation: Option<&str>,
    ) -> PortResult<ListPage> {
        use std::ops::Bound;
        // Keys with the prefix are contiguous in key order, starting at the prefix itself.
        let start = match continuation {
            Some(after) if after >= prefix => {
                Bound::Excluded((bucket.to_owned(), after.to_owned()))
            }
            _ => Bound::Included((bucket.to_owned(), prefix.to_owned())),
        };
        let objects = self.lock();
        let mut page: Vec<ObjectMeta> = objects
            .range((start, Bound::Unbounded))
            .take_while(|((b, k), _)| b == bucket && k.starts_with(prefix))
            .take(self.page_size + 1)
            .map(|(_, o)| o.meta.clone())
            .collect();
        let next = if page.len() > self.page_size {
            page.truncate(self.page_size);
            page.last().map(|o| o.key.clone())
        } else {
            None
        };
        Ok(ListPage {
            objects: page,
            next,
        })
    }

    async fn delete(&self, bucket: &str, key: &str) -> PortResult<()> {
        check_key(bucket, key)?;
        self.lock().remove(&(bucket.to_owned(), key.to_owned()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    async fn keys(store: &MemoryStore, bucket: &str, prefix: &str) -> (Vec<String>, usize) {
        let mut keys = Vec::new();
        let mut pages = 0;
        let mut next: Option<String> = None;
        loop {
            let page = store.list(bucket, prefix, next.as_deref()).await.unwrap();
            pages += 1;
            assert!(page.objects.len() <= 2);
            keys.extend(page.objects.into_iter().map(|o| o.key));
            match page.next {
                Some(n) => next = Some(n),
                None => return (keys, pages),
            }
        }
    }

    #[tokio::test]
    async fn put_get_head_list_delete() {
        let store = MemoryStore::with_page_size(2);
        let meta = store
            .put(
                "lake",
                "raw/a.json",
                Bytes::from_static(b"hello"),
                "text/plain",
            )
            .await
            .unwrap();
        // MD5 of "hello", as S3 and the filesystem store give it.
        assert_eq!(meta.etag, "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(meta.size, 5);
        assert_eq!(meta.version_or_etag(), meta.etag);

        let mut object = store.get("lake", "raw/a.json").await.unwrap();
        let mut body = Vec::new();
        object.body.read_to_end(&mut body).await.unwrap();
        assert_eq!(body, b"hello");
        assert_eq!(object.meta, meta);
        assert_eq!(store.head("lake", "raw/a.json").await.unwrap(), Some(meta));

        for key in [
            "raw/b",
            "raw/c",
            "raw/d",
            "raw/e",
            "rawx",
            "ra",
            "landing/x",
        ] {
            store.put("lake", key, Bytes::new(), "").await.unwrap();
        }
        store.put("other", "raw/z", Bytes::new(), "").await.unwrap();
        store.put("lak", "raw/y", Bytes::new(), "").await.unwrap();
        let (listed, pages) = keys(&store, "lake", "raw/").await;
        assert_eq!(listed, ["raw/a.json", "raw/b", "raw/c", "raw/d", "raw/e"]);
        assert_eq!(pages, 3);
        let (all, _) = keys(&store, "lake", "").await;
        assert_eq!(all.len(), 8);
        assert_eq!(keys(&store, "nobody", "").await.0, Vec::<String>::new());

        store.delete("lake", "raw/a.json").await.unwrap();
        store.delete("lake", "raw/a.json").await.unwrap();
        assert!(store
            .get("lake", "raw/a.json")
            .await
            .unwrap_err()
            .is_not_found());
        assert_eq!(store.head("lake", "raw/a.json").await.unwrap(), None);
        assert_eq!(keys(&store, "lake", "raw/").await.0.len(), 4);

        let err = store.put("lake", "", Bytes::new(), "").await.unwrap_err();
        assert!(!err.is_retryable());
        assert_eq!(store.usage(), (9, 0));
        store.clear();
        assert_eq!(store.usage(), (0, 0));
    }

    #[tokio::test]
    async fn overwrite_changes_the_etag_and_clones_share_objects() {
        let store = MemoryStore::new();
        let clone = store.clone();
        let a = store
            .put("b", "k", Bytes::from_static(b"1"), "")
            .await
            .unwrap();
        let b = clone
            .put("b", "k", Bytes::from_static(b"2"), "")
            .await
            .unwrap();
        assert_ne!(a.etag, b.etag);
        assert_eq!(store.head("b", "k").await.unwrap(), Some(b));
        assert_eq!(store.usage(), (1, 1));
    }
}
