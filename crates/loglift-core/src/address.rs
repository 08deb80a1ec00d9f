//! Addresses as people and AWS write them: `s3://bucket/key` URLs, `s3://bucket/key#version`
//! source objects, and SQS queue URLs. One parser each, used by every floor.

/// An `s3://bucket/key` URL (the key may be empty or a prefix); `version` is set only by
/// [`S3Url::parse_versioned`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S3Url<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub version: Option<&'a str>,
}

impl<'a> S3Url<'a> {
    /// `s3://bucket`, `s3://bucket/`, `s3://bucket/prefix/`, `s3://bucket/key`; `None` without
    /// the scheme or the bucket. A `#` belongs to the key.
    pub fn parse(url: &'a str) -> Option<S3Url<'a>> {
        let rest = url.strip_prefix("s3://")?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        (!bucket.is_empty()).then_some(S3Url {
            bucket,
            key,
            version: None,
        })
    }

    /// A row's `source_object`, `s3://bucket/key#version-or-etag`: the version follows the last
    /// `#` (version ids and etags hold none) and is required, as is a key.
    pub fn parse_versioned(source_object: &'a str) -> Option<S3Url<'a>> {
        let (object, version) = source_object.rsplit_once('#')?;
        let url = S3Url::parse(object)?;
        (!url.key.is_empty()).then_some(S3Url {
            version: Some(version),
            ..url
        })
    }
}

/// The queue name at the end of a queue URL (`https://sqs.…/123/name` → `name`); anything else is
/// taken for a name already.
pub fn queue_name(name_or_url: &str) -> &str {
    if name_or_url.starts_with("https://") || name_or_url.starts_with("http://") {
        name_or_url
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(name_or_url)
    } else {
        name_or_url
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn s3_urls() {
        let u = S3Url::parse("s3://b/p/q/").unwrap();
        assert_eq!((u.bucket, u.key, u.version), ("b", "p/q/", None));
        assert_eq!(S3Url::parse("s3://b").unwrap().key, "");
        assert_eq!(S3Url::parse("s3://b/k#1").unwrap().key, "k#1");
        assert_eq!(S3Url::parse("s3:///p"), None);
        assert_eq!(S3Url::parse("https://b/p"), None);
        assert_eq!(S3Url::parse("b/x"), None);
    }

    #[test]
    fn source_objects() {
        let u = S3Url::parse_versioned("s3://b/raw/a#b.gz#v1").unwrap();
        assert_eq!(
            (u.bucket, u.key, u.version),
            ("b", "raw/a#b.gz", Some("v1"))
        );
        assert_eq!(S3Url::parse_versioned("s3://b/k"), None);
        assert_eq!(S3Url::parse_versioned("s3://b#v"), None);
    }

    #[test]
    fn queue_names() {
        assert_eq!(
            queue_name("https://sqs.us-east-1.amazonaws.com/123456789012/loglift-transform"),
            "loglift-transform"
        );
        assert_eq!(queue_name("http://127.0.0.1:5055/123456789012/q/"), "q");
        assert_eq!(queue_name("transform-dlq"), "transform-dlq");
    }
}
