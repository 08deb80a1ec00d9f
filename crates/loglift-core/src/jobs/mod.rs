//! Jobs a pipeline runs over one source object's validated rows, writing reports.
//!
//! Data flow: the transform stage calls [`start`] with the pipeline's [`Job`](crate::spec::Job)
//! (and the resolved partner priority list), feeds every row that passed validation to
//! [`JobRun::observe`] in file order, then calls [`JobRun::finish`], which returns the files to
//! write under `reports/pipeline=<p>/job=<kind>/` and a JSON summary. Jobs are pure and never
//! panic on odd values: they count them in the summary.
//!
//! - [`search_keyword`]: seed 003, revenue per external search engine domain and keyword.
//! - [`consolidate`]: seed 004, one record per key from the best-ranked partner.

pub mod consolidate;
pub mod search_keyword;

use chrono::NaiveDate;
use serde_json::{Map, Value};

use crate::spec::Job;

/// What a job knows of the source object it runs over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobContext {
    pub pipeline: String,
    /// [`crate::storage::source_id`] of the source object.
    pub source_id: String,
    /// The source object's date, UTC.
    pub source_date: NaiveDate,
    /// The day the job runs, UTC.
    pub run_date: NaiveDate,
}

/// One report file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFile {
    /// Relative to `reports/pipeline=<p>/job=<kind>/`.
    pub path: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// What a finished job produced.
#[derive(Debug, Clone, PartialEq)]
pub struct JobOutput {
    pub files: Vec<JobFile>,
    pub summary: Value,
}

/// One job run over one source object.
pub trait JobRun: Send {
    /// `search_keyword_revenue` or `consolidate_by_priority` (the spec's `kind`).
    fn kind(&self) -> &'static str;
    /// One validated row as the source record (TSV: header → string; JSON: the object as
    /// received); `line` is 1-based (file line, or array index + 1). Rows come in file order.
    fn observe(&mut self, row: &Map<String, Value>, line: u64);
    /// The report files and the summary.
    fn finish(self: Box<Self>, ctx: &JobContext) -> JobOutput;
}

/// Start a run of `job`. `priority` is the resolved partner list, best first (from the spec or
/// DynamoDB); only `consolidate_by_priority` uses it.
pub fn start(job: &Job, priority: &[String]) -> Box<dyn JobRun> {
    match job {
        Job::SearchKeywordRevenue { attribution } => {
            Box::new(search_keyword::SearchKeywordRevenue::new(*attribution))
        }
        Job::ConsolidateByPriority {
            key,
            partner_field,
            max_file_bytes,
            ..
        } => Box::new(consolidate::ConsolidateByPriority::new(
            key.clone(),
            partner_field.clone(),
            priority,
            *max_file_bytes,
        )),
    }
}

/// A row value as text: strings as they are, numbers in their JSON form; `None` otherwise.
pub(crate) fn text_of(value: Option<&Value>) -> Option<std::borrow::Cow<'_, str>> {
    match value? {
        Value::String(s) => Some(std::borrow::Cow::Borrowed(s.as_str())),
        Value::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Attribution;

    #[test]
    fn start_picks_the_job_by_kind() {
        let skr = start(
            &Job::SearchKeywordRevenue {
                attribution: Attribution::FirstTouch,
            },
            &[],
        );
        assert_eq!(skr.kind(), "search_keyword_revenue");
        let cbp = start(
            &Job::ConsolidateByPriority {
                key: "id".into(),
                partner_field: "partner".into(),
                priority: crate::spec::PrioritySource::List(vec!["a".into()]),
                max_file_bytes: 1024,
            },
            &["a".to_owned()],
        );
        assert_eq!(cbp.kind(), "consolidate_by_priority");
    }
}
