//! [`S3Store`]: the [`ObjectStore`] port over Amazon S3.

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use loglift_ports::{ListPage, Object, ObjectMeta, ObjectStore, PortResult};

use crate::error::port_error;
use crate::time::to_chrono;

/// Objects in S3 buckets. The etag is returned without its quotes; the version id when the
/// bucket is versioned. Bodies are streamed, never buffered whole.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
}

impl S3Store {
    /// A store over a client built once (see [`crate::s3_client`]).
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        S3Store { client }
    }

    /// The underlying client.
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }
}

fn unquote(etag: Option<&str>) -> String {
    etag.unwrap_or_default().trim_matches('"').to_owned()
}

fn size(n: Option<i64>) -> u64 {
    n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0)
}

impl ObjectStore for S3Store {
    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> PortResult<ObjectMeta> {
        let len = body.len() as u64;
        let out = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| port_error("PutObject", format!("s3://{bucket}/{key}"), e))?;
        Ok(ObjectMeta {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            size: len,
            etag: unquote(out.e_tag()),
            version_id: out.version_id().map(str::to_owned),
            last_modified: None,
        })
    }

    async fn get(&self, bucket: &str, key: &str) -> PortResult<Object> {
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| port_error("GetObject", format!("s3://{bucket}/{key}"), e))?;
        let meta = ObjectMeta {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            size: size(out.content_length()),
            etag: unquote(out.e_tag()),
            version_id: out.version_id().map(str::to_owned),
            last_modified: out.last_modified().and_then(to_chrono),
        };
        Ok(Object {
            meta,
            body: Box::pin(out.body.into_async_read()),
        })
    }

    async fn head(&self, bucket: &str, key: &str) -> PortResult<Option<ObjectMeta>> {
        let out = match self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let err = port_error("HeadObject", format!("s3://{bucket}/{key}"), e);
                return if err.is_not_found() {
                    Ok(None)
                } else {
                    Err(err)
                };
            }
        };
        Ok(Some(ObjectMeta {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            size: size(out.content_length()),
            etag: unquote(out.e_tag()),
            version_id: out.version_id().map(str::to_owned),
            last_modified: out.last_modified().and_then(to_chrono),
        }))
    }

    async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        continuation: Option<&str>,
    ) -> PortResult<ListPage> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(continuation.map(str::to_owned))
            .send()
            .await
            .map_err(|e| port_error("ListObjectsV2", format!("s3://{bucket}/{prefix}*"), e))?;
        let objects = out
            .contents()
            .iter()
            .filter_map(|o| {
                Some(ObjectMeta {
                    bucket: bucket.to_owned(),
                    key: o.key()?.to_owned(),
                    size: size(o.size()),
                    etag: unquote(o.e_tag()),
                    version_id: None,
                    last_modified: o.last_modified().and_then(to_chrono),
                })
            })
            .collect();
        let next = if out.is_truncated().unwrap_or(false) {
            out.next_continuation_token().map(str::to_owned)
        } else {
            None
        };
        Ok(ListPage { objects, next })
    }

    async fn delete(&self, bucket: &str, key: &str) -> PortResult<()> {
        self.client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| port_error("DeleteObject", format!("s3://{bucket}/{key}"), e))?;
        Ok(())
    }
}
