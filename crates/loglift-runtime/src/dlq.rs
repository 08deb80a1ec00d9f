//! Dead-letter queues and their sources: a redrive without an explicit target moves a DLQ's
//! messages back to the one queue whose redrive policy names it (`ListDeadLetterSourceQueues`).

use loglift_ports::{DeadLetters, PortError};

/// Why a DLQ has no single source to move back to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairingError {
    #[error("no queue names {dlq} as its dead-letter queue: say where to move with --to")]
    NoSource { dlq: String },
    #[error("several queues dead-letter into {dlq} ({}): choose one with --to", sources.join(", "))]
    SeveralSources { dlq: String, sources: Vec<String> },
}

/// The one source queue of `dlq`, or why there is none to choose.
pub fn only_source(dlq: &str, sources: Vec<String>) -> Result<String, PairingError> {
    match <[String; 1]>::try_from(sources) {
        Ok([one]) => Ok(one),
        Err(none) if none.is_empty() => Err(PairingError::NoSource {
            dlq: dlq.to_owned(),
        }),
        Err(sources) => Err(PairingError::SeveralSources {
            dlq: dlq.to_owned(),
            sources,
        }),
    }
}

/// Each of `dlqs` with its one source queue. A DLQ without exactly one source is left out with a
/// warning (a redrive of it needs an explicit target); an SQS error fails the whole pairing.
pub async fn pair_dlqs<Q: DeadLetters>(
    queue: &Q,
    dlqs: &[String],
) -> Result<Vec<(String, String)>, PortError> {
    let mut pairs = Vec::new();
    for dlq in dlqs {
        match only_source(dlq, queue.sources(dlq).await?) {
            Ok(source) => pairs.push((dlq.clone(), source)),
            Err(e) => {
                tracing::warn!(dlq, error = %e, "Dead-letter queue without exactly one source queue: {{\"source\":\"dlqs\"}} skips it; redrive it with an explicit target")
            }
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn one_source_or_a_reason() {
        assert_eq!(only_source("d", vec!["q".into()]).unwrap(), "q");
        assert_eq!(
            only_source("d", vec![]).unwrap_err().to_string(),
            "no queue names d as its dead-letter queue: say where to move with --to"
        );
        assert_eq!(
            only_source("d", vec!["a".into(), "b".into()])
                .unwrap_err()
                .to_string(),
            "several queues dead-letter into d (a, b): choose one with --to"
        );
    }
}
