//! Smithy timestamps to chrono.

use chrono::{DateTime, Utc};

pub(crate) fn to_chrono(t: &aws_sdk_s3::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos())
}
