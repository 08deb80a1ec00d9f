//! What a failed invocation tells Lambda: one place maps every stage error that fails a whole
//! invocation to an `errorType` naming the failure kind (`loglift::<Kind>`) and its message.
//!
//! Per-message failures (a transform or load message left for a retry or the DLQ) are partial
//! batch responses, not invocation errors; what reaches here fails the whole invocation:
//!
//! | error | `errorType` |
//! |---|---|
//! | a Lambda event that is not the expected shape ([`WireError`]) | `loglift::MalformedEvent` |
//! | an ingest payload that is neither Kinesis nor Firehose | `loglift::UnknownEvent` |
//! | ingest could not write its reject records | `loglift::ObjectStore` |
//! | a redrive command that is not JSON of a known command | `loglift::Parse` |
//! | a redrive command that names what cannot be redriven | `loglift::InvalidCommand` |
//! | a redrive port failure | `loglift::Transient` (worth invoking again) or `loglift::Rejected` |
//!
//! With the `lambda` feature, [`Failure`] converts into `lambda_runtime::Diagnostic`, so a main's
//! handler returns `Result<_, Failure>` and `?`s the stage errors into it.

use loglift_core::wire::WireError;

use crate::ingest::IngestError;
use crate::redrive::command::CommandError;

/// The kind of failure, as `errorType` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    MalformedEvent,
    UnknownEvent,
    ObjectStore,
    Parse,
    InvalidCommand,
    Transient,
    Rejected,
}

impl Kind {
    /// The name after `loglift::`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::MalformedEvent => "MalformedEvent",
            Kind::UnknownEvent => "UnknownEvent",
            Kind::ObjectStore => "ObjectStore",
            Kind::Parse => "Parse",
            Kind::InvalidCommand => "InvalidCommand",
            Kind::Transient => "Transient",
            Kind::Rejected => "Rejected",
        }
    }
}

/// An invocation's failure: its kind and the error's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: Kind,
    pub message: String,
}

impl Failure {
    pub fn new(kind: Kind, message: impl std::fmt::Display) -> Failure {
        Failure {
            kind,
            message: message.to_string(),
        }
    }

    /// The `errorType` Lambda reports: `loglift::<Kind>`.
    pub fn error_type(&self) -> String {
        format!("loglift::{}", self.kind.name())
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error_type(), self.message)
    }
}

impl From<WireError> for Failure {
    fn from(e: WireError) -> Failure {
        Failure::new(Kind::MalformedEvent, e)
    }
}

/// Re-encoding a Lambda payload (a `serde_json::Value`) for a handler that reads bytes.
impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Failure {
        Failure::new(Kind::MalformedEvent, e)
    }
}

impl From<IngestError> for Failure {
    fn from(e: IngestError) -> Failure {
        let kind = match &e {
            IngestError::Malformed(_) => Kind::MalformedEvent,
            IngestError::UnknownEvent => Kind::UnknownEvent,
            IngestError::WriteRejects { .. } => Kind::ObjectStore,
        };
        Failure::new(kind, e)
    }
}

impl From<CommandError> for Failure {
    fn from(e: CommandError) -> Failure {
        let kind = match &e {
            CommandError::Parse(_) => Kind::Parse,
            CommandError::Invalid(_) => Kind::InvalidCommand,
            CommandError::Port(p) if p.is_retryable() => Kind::Transient,
            CommandError::Port(_) => Kind::Rejected,
        };
        Failure::new(kind, e)
    }
}

#[cfg(feature = "lambda")]
impl From<Failure> for lambda_runtime::Diagnostic {
    fn from(f: Failure) -> lambda_runtime::Diagnostic {
        lambda_runtime::Diagnostic {
            error_type: f.error_type(),
            error_message: f.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use loglift_ports::PortError;

    use super::*;

    #[test]
    fn names_each_failure_kind() {
        let write = IngestError::WriteRejects {
            bucket: "lake".into(),
            key: "errors/x".into(),
            source: PortError::NotFound {
                what: "bucket lake".into(),
                source: None,
            },
        };
        let cases: Vec<(Failure, &str)> = vec![
            (write.into(), "loglift::ObjectStore"),
            (IngestError::UnknownEvent.into(), "loglift::UnknownEvent"),
            (
                WireError::Malformed {
                    event: "SQS",
                    path: "Records".into(),
                    message: "expected a sequence".into(),
                }
                .into(),
                "loglift::MalformedEvent",
            ),
            (CommandError::Parse("x".into()).into(), "loglift::Parse"),
            (
                CommandError::Invalid("x".into()).into(),
                "loglift::InvalidCommand",
            ),
            (
                CommandError::Port(PortError::classified(
                    true,
                    "ReceiveMessage",
                    "q",
                    "timeout",
                ))
                .into(),
                "loglift::Transient",
            ),
            (
                CommandError::Port(PortError::classified(
                    false,
                    "ReceiveMessage",
                    "q",
                    "denied",
                ))
                .into(),
                "loglift::Rejected",
            ),
        ];
        for (failure, want) in cases {
            assert_eq!(failure.error_type(), want, "{failure:?}");
        }
    }

    #[test]
    fn keeps_the_error_message() {
        let failure = Failure::from(IngestError::UnknownEvent);
        assert!(failure.message.contains("neither"), "{failure:?}");
    }
}
