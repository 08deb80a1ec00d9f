//! The one place SDK errors become [`PortError`]s.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use loglift_ports::PortError;

/// Error codes meaning the addressed thing does not exist.
const NOT_FOUND_CODES: &[&str] = &[
    "NoSuchKey",
    "NoSuchBucket",
    "NoSuchVersion",
    "NotFound",
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
    "ResourceNotFoundException",
    "ResourceNotFound",
];

/// Error codes worth retrying: throttling and server-side trouble.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "AWS.SimpleQueueService.RequestThrottled",
    "SlowDown",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "LimitExceededException",
    "KMSThrottlingException",
    "BandwidthLimitExceeded",
    "PriorRequestNotComplete",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
];

/// What to do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Disposition {
    NotFound,
    Transient,
    Rejected,
}

/// Classify a service error by its code and HTTP status.
pub(crate) fn classify(code: Option<&str>, status: Option<u16>) -> Disposition {
    if code.is_some_and(|c| NOT_FOUND_CODES.contains(&c)) || status == Some(404) {
        Disposition::NotFound
    } else if code.is_some_and(|c| TRANSIENT_CODES.contains(&c))
        || status.is_some_and(|s| s == 429 || s >= 500)
    {
        Disposition::Transient
    } else {
        Disposition::Rejected
    }
}

/// Map an SDK error of operation `op` on `target` (bucket/key, queue URL, stream/shard).
///
/// Service errors go by code and status ([`classify`]); a request that could not be built is
/// rejected; timeouts, dispatch (connection, IO) failures and unreadable responses are transient.
pub(crate) fn port_error<E>(
    op: &'static str,
    target: impl Into<String>,
    err: SdkError<E, HttpResponse>,
) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let target = target.into();
    let disposition = match &err {
        SdkError::ConstructionFailure(_) => Disposition::Rejected,
        SdkError::ServiceError(service) => {
            classify(err.code(), Some(service.raw().status().as_u16()))
        }
        // TimeoutError, DispatchFailure, ResponseError and any future kind of plumbing failure.
        _ => Disposition::Transient,
    };
    let message = match (&err, err.code()) {
        (SdkError::ServiceError(service), Some(code)) => format!(
            "{code}: {} (HTTP {})",
            err.message().unwrap_or("no message"),
            service.raw().status().as_u16()
        ),
        _ => DisplayErrorContext(&err).to_string(),
    };
    let error = match disposition {
        Disposition::NotFound => PortError::NotFound {
            what: format!("{op} {target}: {message}"),
            source: None,
        },
        Disposition::Transient => PortError::Transient {
            op,
            target,
            message,
            source: None,
        },
        Disposition::Rejected => PortError::Rejected {
            op,
            target,
            message,
            source: None,
        },
    };
    error.with_source(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_codes_and_statuses() {
        let cases = [
            (Some("NoSuchKey"), Some(404), Disposition::NotFound),
            (None, Some(404), Disposition::NotFound),
            (
                Some("AWS.SimpleQueueService.NonExistentQueue"),
                Some(400),
                Disposition::NotFound,
            ),
            (Some("QueueDoesNotExist"), Some(400), Disposition::NotFound),
            (
                Some("ResourceNotFoundException"),
                Some(400),
                Disposition::NotFound,
            ),
            (Some("SlowDown"), Some(503), Disposition::Transient),
            (
                Some("ProvisionedThroughputExceededException"),
                Some(400),
                Disposition::Transient,
            ),
            (
                Some("ThrottlingException"),
                Some(400),
                Disposition::Transient,
            ),
            (None, Some(500), Disposition::Transient),
            (None, Some(429), Disposition::Transient),
            (Some("AccessDenied"), Some(403), Disposition::Rejected),
            (
                Some("InvalidParameterValue"),
                Some(400),
                Disposition::Rejected,
            ),
            (None, None, Disposition::Rejected),
        ];
        for (code, status, want) in cases {
            assert_eq!(
                classify(code, status),
                want,
                "code {code:?} status {status:?}"
            );
        }
    }
}
