//! [`FsObjectStore`]: buckets as directories, objects as files.

use std::io::{self, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use loglift_ports::{ListPage, Object, ObjectMeta, ObjectStore, PortError, PortResult};
use md5::{Digest, Md5};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::keypath::{decode_segment, key_to_relative};

/// Keys per listing page, as S3 returns at most.
pub const LIST_PAGE_SIZE: usize = 1000;
/// The longest key S3 accepts, in bytes.
const MAX_KEY_BYTES: usize = 1024;
/// The directory under the root holding the etag sidecars (no bucket name starts with a dot).
const META_DIR: &str = ".meta";
/// Sidecar format tag.
const SIDECAR_VERSION: &str = "loglift-meta-v1";

/// An [`ObjectStore`] over a directory tree: object `key` of `bucket` is the file
/// `root/<bucket>/<key>`, each key segment made filesystem-safe (see the crate docs).
///
/// Writes are atomic (a temporary file in the target directory, then a rename). The etag is the
/// MD5 of the content, as S3 gives for single-part uploads; it is kept in a sidecar file under
/// `root/.meta/` together with the size and modification time it was computed for, so reads do not
/// hash again. A file put there by hand (or changed by hand) gets its MD5 computed once, lazily.
///
/// Limits of a filesystem that S3 does not have: a key cannot be both an object and the "folder"
/// of other objects (`a` and `a/b`), and a segment longer than the filesystem's name limit (255
/// bytes on most) is refused. Both are reported as [`PortError::Rejected`].
#[derive(Debug, Clone)]
pub struct FsObjectStore {
    root: PathBuf,
}

impl FsObjectStore {
    /// A store rooted at `root`; buckets are its subdirectories, created on first write.
    pub fn new(root: PathBuf) -> Self {
        FsObjectStore { root }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file an object lives in (whether or not it exists).
    pub fn object_path(&self, bucket: &str, key: &str) -> PortResult<PathBuf> {
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
            })
        }
    }

    fn sidecar_path(&self, bucket: &str, key: &str) -> PathBuf {
        self.root
            .join(META_DIR)
            .join(bucket)
            .join(key_to_relative(key))
    }

    /// The metadata of the file at `path` with stat `fs_meta`, its etag from the sidecar when the
    /// sidecar matches, else hashed from `file` (or the path) and recorded.
    async fn describe(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
        fs_meta: &std::fs::Metadata,
        file: Option<&mut tokio::fs::File>,
    ) -> PortResult<ObjectMeta> {
        let size = fs_meta.len();
        let modified = fs_meta.modified().ok();
        let stamp = Stamp {
            size,
            mtime_nanos: modified.map(nanos_since_epoch),
        };
        let sidecar = self.sidecar_path(bucket, key);
        let etag = match read_sidecar(&sidecar).await {
            Some((etag, recorded)) if recorded == stamp => etag,
            _ => {
                let etag = match file {
                    Some(file) => {
                        let etag = md5_of(file).await;
                        file.seek(SeekFrom::Start(0)).await.and(etag)
                    }
                    None => match tokio::fs::File::open(path).await {
                        Ok(mut file) => md5_of(&mut file).await,
                        Err(e) => Err(e),
                    },
                }
                .map_err(|e| io_error("GetObject", bucket, key, e))?;
                write_sidecar(&sidecar, &etag, stamp).await;
                etag
            }
        };
        Ok(ObjectMeta {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            size,
            etag,
            version_id: None,
            last_modified: modified.map(DateTime::<Utc>::from),
        })
    }

    /// Walk the bucket for object keys under `prefix` that sort after `after`.
    async fn keys_under(
        &self,
        bucket_dir: &Path,
        prefix: &str,
        after: Option<&str>,
    ) -> io::Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut stack = vec![(bucket_dir.to_path_buf(), String::new())];
        while let Some((dir, dir_key)) = stack.pop() {
            let mut entries = match tokio::fs::read_dir(&dir).await {
                Ok(entries) => entries,
                // Removed while we walk (a concurrent delete pruning it): nothing to list there.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            while let Some(entry) = entries.next_entry().await? {
                let Some(segment) = entry.file_name().to_str().and_then(decode_segment) else {
                    continue; // temporary files and names no key maps to
                };
                let key = format!("{dir_key}{segment}");
                let is_dir = match entry.file_type().await {
                    Ok(t) if t.is_symlink() => tokio::fs::metadata(entry.path())
                        .await
                        .map(|m| m.is_dir())
                        .unwrap_or(false),
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
        keys.sort_unstable();
        Ok(keys)
    }

    /// Remove now-empty directories from `path`'s parent up to (not including) `stop`.
    async fn prune_empty_dirs(path: &Path, stop: &Path) {
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == stop || !d.starts_with(stop) || tokio::fs::remove_dir(d).await.is_err() {
                break;
            }
            dir = d.parent();
        }
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
        let path = self.object_path(bucket, key)?;
        let err = |e| io_error_at("PutObject", format!("{bucket}/{key}"), e);
        let etag = hex::encode(Md5::digest(&body));
        let fs_meta = write_atomically(&path, &body).await.map_err(err)?;
        let modified = fs_meta.modified().ok();
        let stamp = Stamp {
            size: fs_meta.len(),
            mtime_nanos: modified.map(nanos_since_epoch),
        };
        write_sidecar(&self.sidecar_path(bucket, key), &etag, stamp).await;
        Ok(ObjectMeta {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            size: fs_meta.len(),
            etag,
            version_id: None,
            last_modified: modified.map(DateTime::<Utc>::from),
        })
    }

    async fn get(&self, bucket: &str, key: &str) -> PortResult<Object> {
        let path = self.object_path(bucket, key)?;
        let err = |e| io_error("GetObject", bucket, key, e);
        let mut file = tokio::fs::File::open(&path).await.map_err(err)?;
        let fs_meta = file.metadata().await.map_err(err)?;
        if !fs_meta.is_file() {
            return Err(not_found(bucket, key));
        }
        let meta = self
            .describe(bucket, key, &path, &fs_meta, Some(&mut file))
            .await?;
        Ok(Object {
            meta,
            body: Box::pin(file),
        })
    }

    async fn head(&self, bucket: &str, key: &str) -> PortResult<Option<ObjectMeta>> {
        let path = self.object_path(bucket, key)?;
        let fs_meta = match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => m,
            Ok(_) => return Ok(None),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(io_error("HeadObject", bucket, key, e)),
        };
        match self.describe(bucket, key, &path, &fs_meta, None).await {
            Ok(meta) => Ok(Some(meta)),
            Err(e) if e.is_not_found() => Ok(None), // deleted between stat and hash
            Err(e) => Err(e),
        }
    }

    async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        continuation: Option<&str>,
    ) -> PortResult<ListPage> {
        let bucket_dir = self.bucket_dir(bucket)?;
        let target = format!("{bucket}/{prefix}*");
        let keys = match self.keys_under(&bucket_dir, prefix, continuation).await {
            Ok(keys) => keys,
            Err(e) => return Err(io_error_at("ListObjectsV2", target, e)),
        };
        let more = keys.len() > LIST_PAGE_SIZE;
        let mut objects = Vec::with_capacity(keys.len().min(LIST_PAGE_SIZE));
        for key in keys.into_iter().take(LIST_PAGE_SIZE) {
            let path = bucket_dir.join(key_to_relative(&key));
            let fs_meta = match tokio::fs::metadata(&path).await {
                Ok(m) if m.is_file() => m,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error("ListObjectsV2", bucket, &key, e)),
            };
            match self.describe(bucket, &key, &path, &fs_meta, None).await {
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

    async fn delete(&self, bucket: &str, key: &str) -> PortResult<()> {
        let path = self.object_path(bucket, key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound
                        | io::ErrorKind::NotADirectory
                        | io::ErrorKind::IsADirectory
                ) => {}
            Err(e) => return Err(io_error("DeleteObject", bucket, key, e)),
        }
        let sidecar = self.sidecar_path(bucket, key);
        if tokio::fs::remove_file(&sidecar).await.is_ok() {
            Self::prune_empty_dirs(&sidecar, &self.root.join(META_DIR).join(bucket)).await;
        }
        Self::prune_empty_dirs(&path, &self.bucket_dir(bucket)?).await;
        Ok(())
    }
}

/// What a sidecar's etag was computed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    size: u64,
    mtime_nanos: Option<u128>,
}

fn nanos_since_epoch(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

async fn read_sidecar(path: &Path) -> Option<(String, Stamp)> {
    let text = tokio::fs::read_to_string(path).await.ok()?;
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
async fn write_sidecar(path: &Path, etag: &str, stamp: Stamp) {
    let mtime = stamp
        .mtime_nanos
        .map_or_else(|| "-".to_owned(), |n| n.to_string());
    let text = format!("{SIDECAR_VERSION} {etag} {} {mtime}\n", stamp.size);
    if let Err(e) = write_atomically(path, text.as_bytes()).await {
        tracing::debug!(path = %path.display(), error = %e, "Could not write etag sidecar");
    }
}

/// Write `body` to a temporary file beside `path`, then rename it over `path`. Returns the stat of
/// the written file.
async fn write_atomically(path: &Path, body: &[u8]) -> io::Result<std::fs::Metadata> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no parent"))?;
    // `%tmp.` never decodes as a key segment, so listings skip it.
    let tmp = dir.join(format!(
        "%tmp.{}.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos_since_epoch(SystemTime::now()) % 1_000_000_000
    ));
    // A concurrent delete may prune the directory we just created: try again a few times.
    let mut attempt = 0;
    loop {
        attempt += 1;
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| conflict(e, dir))?;
        match tokio::fs::write(&tmp, body).await {
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound && attempt < 3 => continue,
            Err(e) => return Err(e),
        }
    }
    let stat = tokio::fs::metadata(&tmp).await;
    let renamed = match stat {
        Ok(stat) => tokio::fs::rename(&tmp, path).await.map(|()| stat),
        Err(e) => Err(e),
    };
    if renamed.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
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

async fn md5_of(file: &mut tokio::fs::File) -> io::Result<String> {
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).await?;
        match buf.get(..n) {
            Some(chunk) if n > 0 => hasher.update(chunk),
            _ => break,
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

fn not_found(bucket: &str, key: &str) -> PortError {
    PortError::NotFound {
        what: format!("object {bucket}/{key}"),
    }
}

fn io_error(op: &'static str, bucket: &str, key: &str, e: io::Error) -> PortError {
    if matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    ) {
        return not_found(bucket, key);
    }
    io_error_at(op, format!("{bucket}/{key}"), e)
}

fn io_error_at(op: &'static str, target: String, e: io::Error) -> PortError {
    use io::ErrorKind as K;
    match e.kind() {
        K::NotFound => PortError::NotFound { what: target },
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
        },
        _ => PortError::Transient {
            op,
            target,
            message: e.to_string(),
        },
    }
}

fn check_key(bucket: &str, key: &str) -> PortResult<()> {
    let message = if key.is_empty() {
        "empty key"
    } else if key.len() > MAX_KEY_BYTES {
        "key longer than 1024 bytes"
    } else {
        return Ok(());
    };
    Err(PortError::Rejected {
        op: "key",
        target: format!("{bucket}/{key}"),
        message: message.to_owned(),
    })
}
