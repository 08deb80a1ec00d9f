//! One object-store contract, run against both adapters: [`FsObjectStore`] in a temporary
//! directory (always) and [`S3Store`] on moto (under the harness).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bytes::Bytes;
use loglift_local::FsObjectStore;
use loglift_ports::{ObjectMeta, ObjectStore};
use md5::{Digest, Md5};
use tokio::io::AsyncReadExt;

/// Keys that trip URL encoders and filesystems, in no particular order.
const TRICKY_KEYS: &[&str] = &[
    "tricky/with space/a b.txt",
    "tricky/plus/a+b.log",
    "tricky/pct/a%2Bb.log",
    "tricky/eq/k=v/part=1.json",
    "tricky/emoji/🚀 launch.json",
    "tricky/accent/é.txt",
    "tricky/UPPER/Z.txt",
    "tricky/a//b",
    "tricky/trailing/",
];

const PAGE_KEYS: usize = 1005;

fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// A deterministic, incompressible-looking body of `len` bytes.
fn body_of(len: usize, seed: u64) -> Bytes {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

/// Read a whole object through its stream in small chunks; returns (bytes read, MD5 hex).
async fn read_streamed<S: ObjectStore>(
    store: &S,
    bucket: &str,
    key: &str,
) -> (ObjectMeta, Vec<u8>) {
    let mut object = store
        .get(bucket, key)
        .await
        .unwrap_or_else(|e| panic!("get {key:?}: {e}"));
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = object.body.read(&mut chunk).await.unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&chunk[..n]);
    }
    (object.meta, out)
}

async fn list_all<S: ObjectStore>(store: &S, bucket: &str, prefix: &str) -> (Vec<String>, usize) {
    let mut keys = Vec::new();
    let mut pages = 0;
    let mut next: Option<String> = None;
    loop {
        let page = store.list(bucket, prefix, next.as_deref()).await.unwrap();
        pages += 1;
        assert!(
            page.objects.len() <= 1000,
            "page of {} keys",
            page.objects.len()
        );
        keys.extend(page.objects.iter().map(|o| o.key.clone()));
        match page.next {
            Some(n) => next = Some(n),
            None => return (keys, pages),
        }
        assert!(pages < 100, "listing does not end");
    }
}

/// The contract every [`ObjectStore`] keeps, as S3 does.
async fn object_store_contract<S: ObjectStore>(store: &S, bucket: &str) {
    // Missing objects.
    assert_eq!(store.head(bucket, "missing/key").await.unwrap(), None);
    let err = store
        .get(bucket, "missing/key")
        .await
        .expect_err("get of a missing key fails");
    assert!(err.is_not_found(), "get of a missing key: {err}");
    assert!(!err.is_retryable());
    assert!(
        std::error::Error::source(&err).is_some(),
        "the store's own error (SDK, file system) is kept as the source: {err:?}"
    );

    // Small round trip; the etag is the MD5 hex of the content.
    let meta = store
        .put(
            bucket,
            "small/hello.txt",
            Bytes::from_static(b"hello"),
            "text/plain",
        )
        .await
        .unwrap();
    assert_eq!(meta.etag, md5_hex(b"hello"));
    assert_eq!(meta.size, 5);
    assert_eq!(
        (meta.bucket.as_str(), meta.key.as_str()),
        (bucket, "small/hello.txt")
    );
    assert_eq!(meta.version_or_etag(), meta.etag);
    let head = store
        .head(bucket, "small/hello.txt")
        .await
        .unwrap()
        .expect("head after put");
    assert_eq!((head.etag.as_str(), head.size), (meta.etag.as_str(), 5));
    assert!(head.last_modified.is_some());
    let (got, data) = read_streamed(store, bucket, "small/hello.txt").await;
    assert_eq!(data, b"hello");
    assert_eq!(got.etag, meta.etag);

    // Overwrite changes content and etag.
    let meta2 = store
        .put(
            bucket,
            "small/hello.txt",
            Bytes::from_static(b"hello, again"),
            "text/plain",
        )
        .await
        .unwrap();
    assert_eq!(meta2.etag, md5_hex(b"hello, again"));
    assert_eq!(
        store
            .head(bucket, "small/hello.txt")
            .await
            .unwrap()
            .unwrap()
            .etag,
        meta2.etag
    );

    // A multi-MB body, read back through the stream.
    let big = body_of(5 * 1024 * 1024 + 123, 42);
    let big_meta = store
        .put(
            bucket,
            "big/blob.bin",
            big.clone(),
            "application/octet-stream",
        )
        .await
        .unwrap();
    assert_eq!(big_meta.etag, md5_hex(&big));
    assert_eq!(big_meta.size, big.len() as u64);
    let (got, data) = read_streamed(store, bucket, "big/blob.bin").await;
    assert_eq!(data.len(), big.len());
    assert!(data == big, "big body differs after the round trip");
    assert_eq!(
        (got.size, got.etag.as_str()),
        (big.len() as u64, big_meta.etag.as_str())
    );

    // Keys with spaces, '+', '%2B', '=', emoji, empty segments, a trailing '/'.
    for (i, key) in TRICKY_KEYS.iter().enumerate() {
        let body = format!("body of {key}");
        let meta = store
            .put(bucket, key, Bytes::from(body.clone()), "text/plain")
            .await
            .unwrap_or_else(|e| panic!("put {key:?}: {e}"));
        assert_eq!(meta.key, *key);
        assert_eq!(meta.etag, md5_hex(body.as_bytes()), "etag of {key:?}");
        let head = store
            .head(bucket, key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("head {key:?} after put"));
        assert_eq!(head.size, body.len() as u64, "size of {key:?} (#{i})");
        let (_, data) = read_streamed(store, bucket, key).await;
        assert_eq!(String::from_utf8(data).unwrap(), body, "body of {key:?}");
    }
    // '+' and '%2B' are different keys.
    assert_ne!(
        store
            .head(bucket, "tricky/plus/a+b.log")
            .await
            .unwrap()
            .unwrap()
            .etag,
        store
            .head(bucket, "tricky/pct/a%2Bb.log")
            .await
            .unwrap()
            .unwrap()
            .etag,
    );
    let mut want: Vec<String> = TRICKY_KEYS.iter().map(|k| k.to_string()).collect();
    want.sort(); // S3 lists in UTF-8 byte order, which is String's order
    let (listed, _) = list_all(store, bucket, "tricky/").await;
    assert_eq!(listed, want, "listing of tricky keys");
    let (listed, _) = list_all(store, bucket, "tricky/e").await;
    assert_eq!(
        listed,
        ["tricky/emoji/🚀 launch.json", "tricky/eq/k=v/part=1.json"]
    );
    let page = store
        .list(bucket, "tricky/with space/", None)
        .await
        .unwrap();
    assert_eq!(page.objects.len(), 1);
    assert_eq!(
        page.objects[0].etag,
        md5_hex(b"body of tricky/with space/a b.txt")
    );

    // Pagination: more than one page of keys, in key order, and a prefix inside it.
    let keys: Vec<String> = (0..PAGE_KEYS).map(|i| format!("page/{i:04}")).collect();
    for chunk in keys.chunks(16) {
        let puts = chunk
            .iter()
            .map(|k| store.put(bucket, k, Bytes::from(k.clone()), "text/plain"))
            .collect();
        for result in loglift_tests::join_all(puts).await {
            result.unwrap();
        }
    }
    let first = store.list(bucket, "page/", None).await.unwrap();
    assert_eq!(first.objects.len(), 1000);
    assert!(
        first.next.is_some(),
        "first page of {PAGE_KEYS} keys has a continuation"
    );
    let (listed, pages) = list_all(store, bucket, "page/").await;
    assert_eq!(pages, 2);
    let want: Vec<String> = (0..PAGE_KEYS).map(|i| format!("page/{i:04}")).collect();
    assert_eq!(listed, want);
    let (listed, _) = list_all(store, bucket, "page/100").await;
    assert_eq!(
        listed,
        [
            "page/1000",
            "page/1001",
            "page/1002",
            "page/1003",
            "page/1004"
        ]
    );
    assert_eq!(
        list_all(store, bucket, "nothing/here/").await.0,
        Vec::<String>::new()
    );

    // Delete is idempotent, and a deleted key is gone from head, get and list.
    store.delete(bucket, "small/hello.txt").await.unwrap();
    store.delete(bucket, "small/hello.txt").await.unwrap();
    store.delete(bucket, "never/existed").await.unwrap();
    assert_eq!(store.head(bucket, "small/hello.txt").await.unwrap(), None);
    assert!(store
        .get(bucket, "small/hello.txt")
        .await
        .err()
        .unwrap()
        .is_not_found());
    assert!(list_all(store, bucket, "small/").await.0.is_empty());
    for key in TRICKY_KEYS {
        store
            .delete(bucket, key)
            .await
            .unwrap_or_else(|e| panic!("delete {key:?}: {e}"));
        assert_eq!(
            store.head(bucket, key).await.unwrap(),
            None,
            "{key:?} after delete"
        );
    }
    assert!(list_all(store, bucket, "tricky/").await.0.is_empty());
}

#[tokio::test]
async fn fs_object_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsObjectStore::new(dir.path().to_path_buf());
    object_store_contract(&store, "raw-bucket").await;
}

#[tokio::test]
async fn s3_store_keeps_the_contract_on_moto() {
    let Some(moto) = loglift_tests::moto() else {
        return;
    };
    let bucket = moto.new_bucket("contract").await.unwrap();
    object_store_contract(&moto.s3_store(), &bucket).await;
}

#[tokio::test]
async fn s3_store_missing_bucket_is_not_found() {
    let Some(moto) = loglift_tests::moto() else {
        return;
    };
    let store = moto.s3_store();
    let bucket = loglift_tests::unique_name("never-created");
    let err = store.list(&bucket, "", None).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(
        err.to_string().contains(&bucket),
        "error names the bucket: {err}"
    );
    let source = std::error::Error::source(&err).map(|s| format!("{s:?}"));
    assert!(
        source
            .as_deref()
            .is_some_and(|s| s.contains("NoSuchBucket")),
        "the SDK's error is the source: {source:?}"
    );
    assert_eq!(store.head(&bucket, "k").await.unwrap(), None);
}

// ---- Filesystem-specific behaviour ----

#[tokio::test]
async fn fs_store_maps_keys_to_readable_reversible_paths() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsObjectStore::new(dir.path().to_path_buf());
    let cases = [
        ("a b/c+d=e 🚀.json", "b/a b/c+d=e 🚀.json"),
        ("pct/a%2Bb", "b/pct/a%252Bb"),
        ("a//b", "b/a/%/b"),
        ("dir/", "b/dir/%"),
        ("dots/./x/../y", "b/dots/%2E/x/%2E%2E/y"),
        ("tab\there", "b/tab%09here"),
    ];
    for (key, rel) in cases {
        let path = store.object_path("b", key).unwrap();
        assert_eq!(path, dir.path().join(rel), "path of {key:?}");
        store
            .put("b", key, Bytes::from(key.to_owned()), "text/plain")
            .await
            .unwrap();
        assert!(path.is_file(), "{key:?} stored at {rel:?}");
    }
    let mut want: Vec<&str> = cases.iter().map(|(k, _)| *k).collect();
    want.sort();
    let page = store.list("b", "", None).await.unwrap();
    let listed: Vec<&str> = page.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(listed, want);
}

#[tokio::test]
async fn fs_store_puts_a_file_by_streaming_it() {
    // Several copy chunks and a tail: the object holds the file's bytes with the same etag a
    // put of the whole body gives, and replaces what was there.
    let dir = tempfile::tempdir().unwrap();
    let store = FsObjectStore::new(dir.path().join("s3"));
    let body = body_of(2 * 1024 * 1024 + 17, 7);
    let source = dir.path().join("big.tsv");
    std::fs::write(&source, &body).unwrap();
    store
        .put(
            "b",
            "landing/hit_data/big.tsv",
            Bytes::from_static(b"old"),
            "",
        )
        .await
        .unwrap();
    let meta = store
        .put_file("b", "landing/hit_data/big.tsv", &source)
        .await
        .unwrap();
    assert_eq!(meta.etag, md5_hex(&body));
    assert_eq!(meta.size, body.len() as u64);
    let (read, data) = read_streamed(&store, "b", "landing/hit_data/big.tsv").await;
    assert_eq!(read.etag, meta.etag, "the sidecar holds the streamed etag");
    assert!(data == body, "the object holds the file's bytes");
    let missing = store
        .put_file("b", "landing/x", &dir.path().join("absent"))
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("cannot read"), "{missing}");
}

#[tokio::test]
async fn fs_store_hashes_files_put_by_hand_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsObjectStore::new(dir.path().to_path_buf());
    std::fs::create_dir_all(dir.path().join("b/incoming")).unwrap();
    std::fs::write(dir.path().join("b/incoming/x.log"), b"by hand").unwrap();
    let sidecar = dir.path().join(".meta/b/incoming/x.log");
    assert!(!sidecar.exists());
    let meta = store.head("b", "incoming/x.log").await.unwrap().unwrap();
    assert_eq!(meta.etag, md5_hex(b"by hand"));
    assert!(sidecar.is_file(), "the computed etag is recorded");
    // Changed by hand: the stale sidecar is noticed and the etag recomputed.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(dir.path().join("b/incoming/x.log"), b"changed by hand").unwrap();
    let (meta, data) = read_streamed(&store, "b", "incoming/x.log").await;
    assert_eq!(data, b"changed by hand");
    assert_eq!(meta.etag, md5_hex(b"changed by hand"));
    let listed = store.list("b", "incoming/", None).await.unwrap();
    assert_eq!(listed.objects[0].etag, md5_hex(b"changed by hand"));
    // The bucket listing never shows the metadata tree or temporary files.
    std::fs::write(dir.path().join("b/incoming/%tmp.123.0.1"), b"partial").unwrap();
    let keys: Vec<String> = store
        .list("b", "", None)
        .await
        .unwrap()
        .objects
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(keys, ["incoming/x.log"]);
}

#[tokio::test]
async fn fs_store_refuses_what_a_filesystem_cannot_hold() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsObjectStore::new(dir.path().to_path_buf());
    store
        .put("b", "a/b", Bytes::from_static(b"1"), "text/plain")
        .await
        .unwrap();
    let err = store
        .put("b", "a", Bytes::from_static(b"2"), "text/plain")
        .await
        .unwrap_err();
    assert!(
        !err.is_retryable() && !err.is_not_found(),
        "object over a folder: {err}"
    );
    store
        .put("b", "c", Bytes::from_static(b"3"), "text/plain")
        .await
        .unwrap();
    let err = store
        .put("b", "c/d", Bytes::from_static(b"4"), "text/plain")
        .await
        .unwrap_err();
    assert!(
        !err.is_retryable() && !err.is_not_found(),
        "folder over an object: {err}"
    );
    assert!(
        err.to_string().contains("c/d"),
        "error names the key: {err}"
    );
    assert_eq!(store.head("b", "a").await.unwrap(), None);
    assert_eq!(store.head("b", "c/d").await.unwrap(), None);
    // Once "a/b" is deleted its folder is pruned, and "a" can be an object.
    store.delete("b", "a/b").await.unwrap();
    store
        .put("b", "a", Bytes::from_static(b"2"), "text/plain")
        .await
        .unwrap();
    for bad in ["", ".hidden", "x/y", ".."] {
        assert!(
            store
                .put(bad, "k", Bytes::new(), "text/plain")
                .await
                .is_err(),
            "bucket {bad:?}"
        );
    }
    assert!(
        store
            .put("b", "", Bytes::new(), "text/plain")
            .await
            .is_err(),
        "empty key"
    );
}
