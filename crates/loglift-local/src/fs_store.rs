//! [`FsObjectStore`]: buckets as directories, objects as files.
//!
//! Each port operation runs as one blocking task (`std::fs` calls in a row) rather than a chain
//! of `tokio::fs` calls, each of which would be its own trip to the blocking pool; only `get`'s
//! body is read asynchronously, through a `tokio::fs::File`.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use loglift_ports::{ListPage, Object, ObjectMeta, ObjectStore, PortError, PortResult};
use md5::{Digest, Md5};

use crate::keypath::{decode_segment, key_to_relative};

/// Keys per listing page, as S3 returns at most.
pub const LIST_PAGE_SIZE: usize = 1000;
/// The longest key S3 accepts, in bytes.
const MAX_KEY_BYTES: usize = 1024;
/// The directory under the root holding the etag sidecars (no bucket name starts with a dot).
const META_DIR: &str = ".meta";
/// Bytes copied at a time by [`FsObjectStore::put_reader`].
const COPY_CHUNK: usize = 1024 * 1024;
/// Sidecar format tag.
const SIDECAR_VERSION: &str = "loglift-meta-v1";

/// An [`ObjectStore`] over a directory tree: object `key` of `bucket` is the file
/// `root/<bucket>/<key>`, each key segment made filesystem-safe (see the crate docs).
///
/// Writes are atomic (a temporary file in the target directory, then a rename). The etag is the
/// MD5 of the content, as S3 gives for single-part uploads; it is kept in a sidecar file under
/// `root/.meta/` together with the size and modification time it was computed for, so reads do not
/// hash again. A file put there by hand (or changed by hand) gets its MD5 computed once, lazily.
/// Buckets are created on first write; listing a bucket that does not exist yet gives an empty
/// page. There are no versions (`version_id` is `None`).
///
/// Limits of a filesystem that S3 does not have: a key cannot be both an object and the "folder"
/// of other objects (`a` and `a/b`), and a segment longer than the filesystem's name limit (255
/// bytes on most) is refused. Both are reported as [`PortError::Rejected`].
#[derive(Debug, Clone)]
pub struct FsObjectStore {
    tree: Arc<Tree>,
}

impl FsObjectStore {
    /// A store rooted at `root`; buckets are its subdirectories.
    pub fn new(root: PathBuf) -> Self {
        FsObjectStore {
            tree: Arc::new(Tree { root }),
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.tree.root
    }

    /// The file an object lives in (whether or not it exists).
    pub fn object_path(&self, bucket: &str, key: &str) -> PortResult<PathBuf> {
        self.tree.object_path(bucket, key)
    }

    /// Put an object whose body is read from `reader` (a file of any size): copied into place in
    /// chunks while its MD5 is computed, never held whole. Atomic like [`ObjectStore::put`].
    pub async fn put_reader<R: Read + Send + 'static>(
        &self,
        bucket: &str,
        key: &str,
        reader: R,
    ) -> PortResult<ObjectMeta> {
        let (b, k) = (bucket.to_owned(), key.to_owned());
        self.blocking("PutObject", target(bucket, key), move |tree| {
            tree.put_reader(&b, &k, reader)
        })
        .await
    }

    /// Put the file at `source` as an object, streaming it (see [`FsObjectStore::put_reader`]).
    pub async fn put_file(&self, bucket: &str, key: &str, source: &Path) -> PortResult<ObjectMeta> {
        let file = File::open(source).map_err(|e| PortError::Rejected {
            op: "PutObject",
            target: target(bucket, key),
            message: format!("cannot read {}: {e}", source.display()),
            source: None,
        })?;
        self.put_reader(bucket, key, file).await
    }

    /// Run `work` on the tree as one blocking task.
    async fn blocking<T, F>(&self, op: &'static str, target: String, work: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Tree) -> PortResult<T> + Send + 'static,
    {
        let tree = Arc::clone(&self.tree);
        tokio::task::spawn_blocking(move || work(&tree))
            .await
            .unwrap_or_else(|e| {
                Err(PortError::Transient {
                    op,
                    target,
                    message: format!("filesystem task failed: {e}"),
                    source: None,
                })
            })
    }
}

impl ObjectStore for FsObjectStore {
    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        _content_type: &str,
    ) -> PortResult<ObjectMeta> {
        let (b, k) = (bucket.to_owned(), key.to_owned());
        self.blocking("PutObject", target(bucket, key), move |tree| {
            tree.put(&b, &k, &body)
        })
        .await
    }

    async fn get(&self, bucket: &str, key: &str) -> PortResult<Object> {
        let (b, k) = (bucket.to_owned(), key.to_owned());
        let (meta, file) = self
            .blocking("GetObject", target(bucket, key), move |tree| {
                tree.open(&b, &k)
            })
            .await?;
        Ok(Object {
            meta,
            body: Box::pin(tokio::fs::File::from_std(file)),
        })
    }

    async fn head(&self, bucket: &str, key: &str) -> PortResult<Option<ObjectMeta>> {
        let (b, k) = (bucket.to_owned(), key.to_owned());
        self.blocking("HeadObject", target(bucket, key), move |tree| {
            tree.head(&b, &k)
        })
        .await
    }

    async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        continuation: Option<&str>,
    ) -> PortResult<ListPage> {
        let (b, p, c) = (
            bucket.to_owned(),
            prefix.to_owned(),
            continuation.map(str::to_owned),
        );
        self.blocking(
            "ListObjectsV2",
            format!("{bucket}/{prefix}*"),
            move |tree| tree.list(&b, &p, c.as_deref()),
        )
        .await
    }

    async fn delete(&self, bucket: &str, key: &str) -> PortResult<()> {
        let (b, k) = (bucket.to_owned(), key.to_owned());
        self.blocking("DeleteObject", target(bucket, key), move |tree| {
            tree.delete(&b, &k)
        })
        .await
    }
}

/// The synchronous store: every method is one blocking task's work.
#[derive(Debug)]
struct Tree {
    root: PathBuf,
}

impl Tree {
    fn object_path(&self, bucket: &str, key: &str) -> PortResult<PathBuf> {
        check_key(bucket, key)?;
        Ok(self.bucket_dir(bucket)?.join(key_to_relative(key)))
    }

    fn bucket_dir(&self, bucket: &str) -> PortResult<PathBuf> {
        let valid = !bucket.is_empty()
            && !bucket.starts_with('.')
            && !bucket.contains(['/', '\\'])
            && !bucket.chars().any(char::is_control);
        if valid {
            Ok(self.root.join(bucket))
        } else {
            Err(PortError::Rejected {
                op: "bucket",
                target: bucket.to_owned(),
                message: "invalid bucket name for a local store".to_owned(),
                source: None,
            })
        }
    }

    fn sidecar_path(&self, bucket: &str, key: &str) -> PathBuf {
        self.root
            .join(META_DIR)
            .join(bucket)
            .join(key_to_relative(key))
    }

    fn put(&self, bucket: &str, key: &str, body: &[u8]) -> PortResult<ObjectMeta> {
        let path = self.object_path(bucket, key)?;
        let etag = hex::encode(Md5::digest(body));
        let stat = write_atomically(&path, body)
            .map_err(|e| io_error_at("PutObject", target(bucket, key), e))?;
        let stamp = Stamp::of(&stat);
        write_sidecar(&self.sidecar_path(bucket, key), &etag, stamp);
        Ok(meta(bucket, key, &stat, etag))
    }

    fn put_reader(&self, bucket: &str, key: &str, mut reader: impl Read) -> PortResult<ObjectMeta> {
        let path = self.object_path(bucket, key)?;
        let mut hasher = Md5::new();
        let stat = write_atomically_with(&path, |file| {
            let mut buf = vec![0u8; COPY_CHUNK];
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
                    return Ok(());
                };
                hasher.update(chunk);
                file.write_all(chunk)?;
            }
        })
        .map_err(|e| io_error_at("PutObject", target(bucket, key), e))?;
        let etag = hex::encode(hasher.finalize());
        write_sidecar(&self.sidecar_path(bucket, key), &etag, Stamp::of(&stat));
        Ok(meta(bucket, key, &stat, etag))
    }

    fn open(&self, bucket: &str, key: &str) -> PortResult<(ObjectMeta, File)> {
        let path = self.object_path(bucket, key)?;
        let err = |e| read_error("GetObject", bucket, key, e);
        let mut file = File::open(&path).map_err(err)?;
        let stat = file.metadata().map_err(err)?;
        if !stat.is_file() {
            return Err(not_found(bucket, key));
        }
        let meta = self.describe(bucket, key, &path, &stat, Some(&mut file))?;
        Ok((meta, file))
    }

    fn head(&self, bucket: &str, key: &str) -> PortResult<Option<ObjectMeta>> {
        let path = self.object_path(bucket, key)?;
        let stat = match fs::metadata(&path) {
            Ok(m) if m.is_file() => m,
            Ok(_) => return Ok(None),
            Err(e) if is_absent(&e) => return Ok(None),
            Err(e) => return Err(io_error_at("HeadObject", target(bucket, key), e)),
        };
        match self.describe(bucket, key, &path, &stat, None) {
            Ok(meta) => Ok(Some(meta)),
            Err(e) if e.is_not_found() => Ok(None), // deleted between stat and hash
            Err(e) => Err(e),
        }
    }

    fn list(&self, bucket: &str, prefix: &str, after: Option<&str>) -> PortResult<ListPage> {
        let bucket_dir = self.bucket_dir(bucket)?;
        let mut keys = keys_under(&bucket_dir, prefix, after)
            .map_err(|e| io_error_at("ListObjectsV2", format!("{bucket}/{prefix}*"), e))?;
        keys.sort_unstable();
        let more = keys.len() > LIST_PAGE_SIZE;
        let mut objects = Vec::with_capacity(keys.len().min(LIST_PAGE_SIZE));
        for key in keys.into_iter().take(LIST_PAGE_SIZE) {
            let path = bucket_dir.join(key_to_relative(&key));
            let stat = match fs::metadata(&path) {
                Ok(m) if m.is_file() => m,
                Ok(_) => continue,
                Err(e) if is_absent(&e) => continue,
                Err(e) => return Err(io_error_at("ListObjectsV2", target(bucket, &key), e)),
            };
            match self.describe(bucket, &key, &path, &stat, None) {
                Ok(meta) => objects.push(meta),
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e),
            }
        }
        let next = if more {
            objects.last().map(|o| o.key.clone())
        } else {
            None
        };
        Ok(ListPage { objects, next })
    }

    fn delete(&self, bucket: &str, key: &str) -> PortResult<()> {
        let path = self.object_path(bucket, key)?;
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if is_absent(&e) || e.kind() == io::ErrorKind::IsADirectory => {}
            Err(e) => return Err(io_error_at("DeleteObject", target(bucket, key), e)),
        }
        let sidecar = self.sidecar_path(bucket, key);
        if fs::remove_file(&sidecar).is_ok() {
            prune_empty_dirs(&sidecar, &self.root.join(META_DIR).join(bucket));
        }
        prune_empty_dirs(&path, &self.bucket_dir(bucket)?);
        Ok(())
    }

    /// The metadata of the file at `path` with stat `stat`: the etag from the sidecar when it
    /// matches the file's size and mtime, else hashed from `file` (or the path) and recorded.
    fn describe(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
        stat: &fs::Metadata,
        file: Option<&mut File>,
    ) -> PortResult<ObjectMeta> {
        let stamp = Stamp::of(stat);
        let sidecar = self.sidecar_path(bucket, key);
        let etag = match read_sidecar(&sidecar) {
            Some((etag, recorded)) if recorded == stamp => etag,
            _ => {
                let etag = match file {
                    Some(file) => {
                        let etag = md5_of(file);
                        file.seek(SeekFrom::Start(0)).and(etag)
                    }
                    None => File::open(path).and_then(|mut f| md5_of(&mut f)),
                }
                .map_err(|e| read_error("GetObject", bucket, key, e))?;
                write_sidecar(&sidecar, &etag, stamp);
                etag
            }
        };
        Ok(meta(bucket, key, stat, etag))
    }
}

fn meta(bucket: &str, key: &str, stat: &fs::Metadata, etag: String) -> ObjectMeta {
    ObjectMeta {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        size: stat.len(),
        etag,
        version_id: None,
        last_modified: stat.modified().ok().map(DateTime::<Utc>::from),
    }
}

/// The object keys under `bucket_dir` that start with `prefix` and sort after `after`, unsorted.
fn keys_under(bucket_dir: &Path, prefix: &str, after: Option<&str>) -> io::Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut stack = vec![(bucket_dir.to_path_buf(), String::new())];
    while let Some((dir, dir_key)) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            // No bucket yet, or a directory a concurrent delete pruned: nothing to list there.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let Some(segment) = entry.file_name().to_str().and_then(decode_segment) else {
                continue; // temporary files and names no key maps to
            };
            let key = format!("{dir_key}{segment}");
            let is_dir = match entry.file_type() {
                Ok(t) if t.is_symlink() => fs::metadata(entry.path()).is_ok_and(|m| m.is_dir()),
                Ok(t) => t.is_dir(),
                Err(_) => continue,
            };
            if is_dir {
                let child = format!("{key}/");
                if child.starts_with(prefix) || prefix.starts_with(&child) {
                    stack.push((entry.path(), child));
                }
            } else if key.starts_with(prefix) && after.is_none_or(|a| key.as_str() > a) {
                keys.push(key);
            }
        }
    }
    Ok(keys)
}

/// Remove now-empty directories from `path`'s parent up to (not including) `stop`.
fn prune_empty_dirs(path: &Path, stop: &Path) {
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == stop || !d.starts_with(stop) || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

/// What a sidecar's etag was computed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    size: u64,
    mtime_nanos: Option<u128>,
}

impl Stamp {
    fn of(stat: &fs::Metadata) -> Self {
        Stamp {
            size: stat.len(),
            mtime_nanos: stat.modified().ok().map(nanos_since_epoch),
        }
    }
}

fn nanos_since_epoch(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn read_sidecar(path: &Path) -> Option<(String, Stamp)> {
    let text = fs::read_to_string(path).ok()?;
    let mut fields = text.split_whitespace();
    if fields.next()? != SIDECAR_VERSION {
        return None;
    }
    let etag = fields.next()?.to_owned();
    let size = fields.next()?.parse().ok()?;
    let mtime_nanos = match fields.next()? {
        "-" => None,
        n => Some(n.parse().ok()?),
    };
    Some((etag, Stamp { size, mtime_nanos }))
}

/// Record an etag. Best effort: without a sidecar the etag is computed again on the next read.
fn write_sidecar(path: &Path, etag: &str, stamp: Stamp) {
    let mtime = stamp
        .mtime_nanos
        .map_or_else(|| "-".to_owned(), |n| n.to_string());
    let text = format!("{SIDECAR_VERSION} {etag} {} {mtime}\n", stamp.size);
    if let Err(e) = write_atomically(path, text.as_bytes()) {
        tracing::debug!(path = %path.display(), error = %e, "Could not write etag sidecar");
    }
}

/// Write `body` to a temporary file beside `path`, then rename it over `path`. Returns the stat of
/// the written file.
fn write_atomically(path: &Path, body: &[u8]) -> io::Result<fs::Metadata> {
    write_atomically_with(path, |file| file.write_all(body))
}

/// [`write_atomically`] with the body written by `fill` into the temporary file.
fn write_atomically_with(
    path: &Path,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<fs::Metadata> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no parent"))?;
    // `%tmp.` never decodes as a key segment, so listings skip it.
    let tmp = dir.join(format!(
        "%tmp.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    // A concurrent delete may prune the directory we just created: try again a few times.
    let mut attempt = 0;
    let mut file = loop {
        attempt += 1;
        fs::create_dir_all(dir).map_err(|e| conflict(e, dir))?;
        match File::create(&tmp) {
            Ok(file) => break file,
            Err(e) if e.kind() == io::ErrorKind::NotFound && attempt < 3 => continue,
            Err(e) => return Err(e),
        }
    };
    if let Err(e) = fill(&mut file) {
        drop(file);
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    drop(file);
    let renamed = fs::metadata(&tmp).and_then(|stat| fs::rename(&tmp, path).map(|()| stat));
    if renamed.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    renamed.map_err(|e| conflict(e, path))
}

/// Explain the errors a filesystem gives where S3 would not fail: an object in the way of a
/// "folder", or a "folder" in the way of an object.
fn conflict(e: io::Error, path: &Path) -> io::Error {
    match e.kind() {
        io::ErrorKind::NotADirectory | io::ErrorKind::AlreadyExists => io::Error::new(
            e.kind(),
            format!(
                "{}: an object exists where a key prefix needs a directory ({e})",
                path.display()
            ),
        ),
        io::ErrorKind::IsADirectory | io::ErrorKind::DirectoryNotEmpty => io::Error::new(
            e.kind(),
            format!(
                "{}: other objects use this key as a prefix ({e})",
                path.display()
            ),
        ),
        _ => e,
    }
}

fn md5_of(file: &mut File) -> io::Result<String> {
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        match buf.get(..n) {
            Some(chunk) if n > 0 => hasher.update(chunk),
            _ => break,
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

fn target(bucket: &str, key: &str) -> String {
    format!("{bucket}/{key}")
}

/// Whether an error means "no such object": the path, or a directory on it, is missing.
fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

fn not_found(bucket: &str, key: &str) -> PortError {
    PortError::NotFound {
        what: format!("object {bucket}/{key}"),
        source: None,
    }
}

/// A read's error: absence is `NotFound`, the rest as [`io_error_at`].
fn read_error(op: &'static str, bucket: &str, key: &str, e: io::Error) -> PortError {
    if is_absent(&e) {
        return not_found(bucket, key).with_source(e);
    }
    io_error_at(op, target(bucket, key), e)
}

fn io_error_at(op: &'static str, target: String, e: io::Error) -> PortError {
    use io::ErrorKind as K;
    let error = match e.kind() {
        K::NotFound => PortError::NotFound {
            what: target,
            source: None,
        },
        K::PermissionDenied
        | K::InvalidInput
        | K::AlreadyExists
        | K::NotADirectory
        | K::IsADirectory
        | K::DirectoryNotEmpty
        | K::ReadOnlyFilesystem => PortError::Rejected {
            op,
            target,
            message: e.to_string(),
            source: None,
        },
        _ => PortError::Transient {
            op,
            target,
            message: e.to_string(),
            source: None,
        },
    };
    error.with_source(e)
}

/// S3's rules for a bucket name and key that both local stores enforce: not empty, a key of at
/// most 1,024 bytes.
pub(crate) fn check_key(bucket: &str, key: &str) -> PortResult<()> {
    let message = if bucket.is_empty() {
        "empty bucket name"
    } else if key.is_empty() {
        "empty key"
    } else if key.len() > MAX_KEY_BYTES {
        "key longer than 1024 bytes"
    } else {
        return Ok(());
    };
    Err(PortError::Rejected {
        op: "key",
        target: target(bucket, key),
        message: message.to_owned(),
        source: None,
    })
}
