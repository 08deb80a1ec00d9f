//! One logging and metrics voice for every function and the CLI: tracing (JSON when
//! `AWS_LAMBDA_LOG_FORMAT=JSON`, as Lambda's advanced logging sets it), one INFO summary line per
//! invocation, and the Embedded Metric Format lines of [`loglift_core::metrics`] on stdout.

use std::collections::BTreeMap;
use std::io::Write;

use loglift_core::metrics::{emf, metrics_level, Counters};

/// Who a function's metric lines speak for: the `Function` dimension and the level the lines
/// carry. Built once at init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsId {
    /// The `Function` dimension: the deployed function's name (`AWS_LAMBDA_FUNCTION_NAME`, which
    /// carries the deployment name, so two deployments in one account never share a series), or
    /// the role (`ingest`, …) outside Lambda.
    pub function: String,
    /// [`metrics_level`] of `AWS_LAMBDA_LOG_LEVEL` (set by Lambda's advanced logging controls).
    pub level: &'static str,
}

impl MetricsId {
    pub fn from_env(role: &str) -> MetricsId {
        MetricsId::from_lookup(role, |name| std::env::var(name).ok())
    }

    pub fn from_lookup(role: &str, lookup: impl Fn(&str) -> Option<String>) -> MetricsId {
        MetricsId {
            function: lookup("AWS_LAMBDA_FUNCTION_NAME")
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| role.to_owned()),
            level: metrics_level(lookup("AWS_LAMBDA_LOG_LEVEL").as_deref()),
        }
    }
}

/// Install the global subscriber: JSON or text by `AWS_LAMBDA_LOG_FORMAT`, level from `RUST_LOG`
/// (or `AWS_LAMBDA_LOG_LEVEL`), default INFO. Logs go to stderr locally and in Lambda alike
/// (Lambda captures both); stdout stays free for responses and metrics.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| {
            std::env::var("AWS_LAMBDA_LOG_LEVEL")
                .ok()
                .map(|l| l.to_lowercase())
        })
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests, the CLI calling twice) keeps the first subscriber.
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .without_time()
            .try_init()
    } else {
        builder.with_target(false).try_init()
    };
}

/// Per-pipeline counters of one invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub by_pipeline: BTreeMap<String, Counters>,
    /// What could not be attributed to a pipeline (unknown, undecodable).
    pub unrouted: Counters,
    /// Rejects by reason code.
    pub rejects_by_reason: BTreeMap<String, u64>,
}

impl Tally {
    pub fn pipeline(&mut self, name: &str) -> &mut Counters {
        // Ingest counts every event: the name is looked up before a key is allocated for it.
        if !self.by_pipeline.contains_key(name) {
            self.by_pipeline
                .insert(name.to_owned(), Counters::default());
        }
        let Tally {
            by_pipeline,
            unrouted,
            ..
        } = self;
        // Never `unrouted`: the name was inserted above.
        by_pipeline.get_mut(name).unwrap_or(unrouted)
    }

    /// Add another invocation's tally (local runs sum their invocations).
    pub fn merge(&mut self, other: &Tally) {
        for (p, c) in &other.by_pipeline {
            self.pipeline(p).add(c);
        }
        self.unrouted.add(&other.unrouted);
        for (reason, n) in &other.rejects_by_reason {
            *self.rejects_by_reason.entry(reason.clone()).or_default() += n;
        }
    }

    pub fn total(&self) -> Counters {
        let mut total = self.unrouted;
        for c in self.by_pipeline.values() {
            total.add(c);
        }
        total
    }

    /// The EMF documents: one per pipeline and one for the function as a whole.
    pub fn emf_lines(&self, id: &MetricsId, timestamp_ms: i64) -> Vec<String> {
        let doc = |pipeline: Option<&str>, counters: &Counters| {
            emf(&id.function, pipeline, counters, timestamp_ms, id.level).to_string()
        };
        let mut lines: Vec<String> = self
            .by_pipeline
            .iter()
            .map(|(p, c)| doc(Some(p), c))
            .collect();
        lines.push(doc(None, &self.total()));
        lines
    }

    /// Log the summary line and print the metrics (stdout, where CloudWatch reads EMF).
    pub fn report(&self, id: &MetricsId, timestamp_ms: i64) {
        self.log_summary(&id.function);
        let mut out = std::io::stdout().lock();
        for line in self.emf_lines(id, timestamp_ms) {
            let _ = writeln!(out, "{line}");
        }
    }

    /// The one INFO summary line of an invocation.
    pub fn log_summary(&self, function: &str) {
        let t = self.total();
        tracing::info!(
            function,
            records_in = t.records_in,
            records_out = t.records_out,
            rejected = t.rejected,
            dropped = t.dropped,
            duplicates = t.duplicates,
            bytes_in = t.bytes_in,
            bytes_out = t.bytes_out,
            "Invocation summary"
        );
    }
}

/// A function's init result: on error, log it (Display, not Debug, so the message is readable in
/// the function's log) and exit non-zero, which Lambda reports as an init failure.
pub fn init_or_exit<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    match result {
        Ok(value) => value,
        Err(error) => {
            tracing::error!(%error, "Init failed");
            eprintln!("loglift init failed: {error}");
            std::process::exit(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_totals_and_emits_one_line_per_pipeline_plus_total() {
        let mut t = Tally::default();
        t.pipeline("a").records_in += 2;
        t.pipeline("b").records_in += 3;
        t.unrouted.rejected += 1;
        assert_eq!(t.total().records_in, 5);
        let lines = t.emf_lines(&MetricsId::from_lookup("ingest", |_| None), 0);
        assert_eq!(lines.len(), 3);
        assert!(lines[2].contains("\"Rejected\":1"), "{}", lines[2]);
        assert!(lines[2].contains("\"Function\":\"ingest\""), "{}", lines[2]);
    }

    #[test]
    fn metrics_speak_for_the_deployed_function_at_a_level_the_filter_keeps() {
        let env = |name: &str| match name {
            "AWS_LAMBDA_FUNCTION_NAME" => Some("prod-loglift-ingest".to_owned()),
            "AWS_LAMBDA_LOG_LEVEL" => Some("WARN".to_owned()),
            _ => None,
        };
        let id = MetricsId::from_lookup("ingest", env);
        assert_eq!(
            (id.function.as_str(), id.level),
            ("prod-loglift-ingest", "WARN")
        );
        let mut t = Tally::default();
        t.pipeline("a").records_in += 1;
        for line in t.emf_lines(&id, 0) {
            let doc: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            assert_eq!(doc["level"], "WARN", "{line}");
            assert_eq!(doc["Function"], "prod-loglift-ingest", "{line}");
        }
    }
}
