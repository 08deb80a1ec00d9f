//! CloudWatch Embedded Metric Format lines: one per invocation (and per pipeline), printed to
//! stdout by every function through this one module, so dashboards and alarms see the same names.

use serde_json::{json, Map, Value};

/// The namespace every loglift metric is published under.
pub const NAMESPACE: &str = "loglift";

/// What one invocation did, for one pipeline (or all of them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub records_in: u64,
    pub records_out: u64,
    pub rejected: u64,
    pub dropped: u64,
    pub duplicates: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// now − the oldest event time seen, in milliseconds.
    pub freshness_ms: Option<i64>,
}

impl Counters {
    pub fn add(&mut self, other: &Counters) {
        self.records_in += other.records_in;
        self.records_out += other.records_out;
        self.rejected += other.rejected;
        self.dropped += other.dropped;
        self.duplicates += other.duplicates;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.freshness_ms = match (self.freshness_ms, other.freshness_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

/// The log level an EMF line carries: the function's configured application log level when it is
/// above INFO, else INFO. Lambda's log-level filter gives a JSON line without `level` the level
/// INFO, so under `WARN` it would drop every metric; a metric line stamped with the threshold
/// itself always passes it (a metric is not a diagnostic: its level only decides that it ships).
pub fn metrics_level(configured: Option<&str>) -> &'static str {
    match configured.map(str::to_ascii_uppercase).as_deref() {
        Some("WARN") => "WARN",
        Some("ERROR") => "ERROR",
        Some("FATAL") => "FATAL",
        _ => "INFO",
    }
}

/// One EMF document. `function` and `pipeline` become dimensions; `level` is the log level the
/// line carries for Lambda's log-level filter ([`metrics_level`]).
pub fn emf(
    function: &str,
    pipeline: Option<&str>,
    counters: &Counters,
    timestamp_ms: i64,
    level: &str,
) -> Value {
    let mut metrics = vec![
        ("RecordsIn", "Count", counters.records_in as i64),
        ("RecordsOut", "Count", counters.records_out as i64),
        ("Rejected", "Count", counters.rejected as i64),
        ("Dropped", "Count", counters.dropped as i64),
        ("Duplicates", "Count", counters.duplicates as i64),
        ("BytesIn", "Bytes", counters.bytes_in as i64),
        ("BytesOut", "Bytes", counters.bytes_out as i64),
    ];
    if let Some(f) = counters.freshness_ms {
        metrics.push(("FreshnessMs", "Milliseconds", f));
    }
    let dimensions: Vec<&str> = if pipeline.is_some() {
        vec!["Function", "Pipeline"]
    } else {
        vec!["Function"]
    };
    let mut doc = Map::new();
    doc.insert("level".into(), json!(level));
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions],
                "Metrics": metrics.iter().map(|(name, unit, _)| json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
            }],
        }),
    );
    doc.insert("Function".into(), json!(function));
    if let Some(p) = pipeline {
        doc.insert("Pipeline".into(), json!(p));
    }
    for (name, _, value) in metrics {
        doc.insert(name.into(), json!(value));
    }
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_document_declares_every_value_it_carries() {
        let c = Counters {
            records_in: 5,
            records_out: 3,
            rejected: 1,
            dropped: 1,
            freshness_ms: Some(1200),
            ..Counters::default()
        };
        let doc = emf("ingest", Some("user_events"), &c, 1_700_000_000_000, "INFO");
        assert_eq!(doc["level"], "INFO");
        let declared = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(declared.len(), 8);
        for m in declared {
            let name = m["Name"].as_str().unwrap_or_default();
            assert!(
                doc.get(name).is_some_and(Value::is_number),
                "{name} missing"
            );
        }
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function", "Pipeline"]])
        );
        assert_eq!(doc["RecordsIn"], 5);
        let mut total = Counters::default();
        total.add(&c);
        total.add(&Counters {
            records_in: 1,
            freshness_ms: Some(5),
            ..Counters::default()
        });
        assert_eq!((total.records_in, total.freshness_ms), (6, Some(1200)));
    }

    #[test]
    fn metric_lines_pass_any_configured_log_level() {
        for (configured, level) in [
            (None, "INFO"),
            (Some("trace"), "INFO"),
            (Some("DEBUG"), "INFO"),
            (Some("INFO"), "INFO"),
            (Some("warn"), "WARN"),
            (Some("ERROR"), "ERROR"),
            (Some("FATAL"), "FATAL"),
            (Some("nonsense"), "INFO"),
        ] {
            assert_eq!(metrics_level(configured), level, "{configured:?}");
        }
    }
}
