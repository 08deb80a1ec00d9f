//! Seed 004: consolidate a partner catalog to one record per key, from the best-ranked partner.
//!
//! Data flow: each record ([`ConsolidateByPriority::observe`]) is grouped by its `key` field; per
//! key the record of the partner ranked best in the priority list is kept (a partner listed twice
//! keeps its first rank; an unlisted partner never wins; a partner seen twice for one key keeps
//! its first record). At [`JobRun::finish`] the winners are written as JSON lines, keys in
//! first-seen order, into `year=YYYY/month=MM/day=DD/<source_id>-<part:05>.jsonl` files of at
//! most `max_file_bytes` (never splitting a line), so a redelivered object overwrites its files.
//! Keys without a listed partner are counted and shown in the summary, not emitted.
//!
//! Partner names match the list exactly, case included: seed 004 keeps the list verbatim (a
//! DynamoDB List of strings) and describes no normalisation. Unlisted names are shown in the
//! summary (`unlisted_partners`) so a near-miss such as `Expedia` is easy to spot.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};

use chrono::Datelike;
use serde_json::{json, Map, Value};

use super::{JobContext, JobFile, JobOutput, JobRun};
use crate::identity::lookup;

/// The job's kind in the spec.
pub const KIND: &str = "consolidate_by_priority";
/// The content type of the output files.
pub const CONTENT_TYPE: &str = "application/x-ndjson";
/// How many keys without a listed partner the summary names.
pub const MAX_EXAMPLE_KEYS: usize = 100;
/// How many distinct unlisted partner names the summary names.
pub const MAX_UNLISTED_PARTNERS: usize = 20;

/// One key's state: the partners seen for it and the best-ranked record so far.
#[derive(Debug)]
struct Group {
    key: String,
    partners: Vec<usize>,
    best: Option<(usize, Map<String, Value>)>,
}

/// One run of `consolidate_by_priority` over one source object.
#[derive(Debug)]
pub struct ConsolidateByPriority {
    key_field: String,
    partner_field: String,
    max_file_bytes: u64,
    /// Partner name → rank (0 is best); a name listed twice keeps its first rank.
    ranks: HashMap<String, usize>,
    records: u64,
    bad_records: u64,
    duplicate_partner_records: u64,
    /// Groups in first-seen key order, and their index by key.
    groups: Vec<Group>,
    group_index: HashMap<String, usize>,
    partner_ids: HashMap<String, usize>,
    unlisted: BTreeSet<String>,
}

impl ConsolidateByPriority {
    pub fn new(
        key_field: String,
        partner_field: String,
        priority: &[String],
        max_file_bytes: u64,
    ) -> Self {
        let mut ranks = HashMap::new();
        for (rank, partner) in priority.iter().enumerate() {
            ranks.entry(partner.clone()).or_insert(rank);
        }
        ConsolidateByPriority {
            key_field,
            partner_field,
            max_file_bytes,
            ranks,
            records: 0,
            bad_records: 0,
            duplicate_partner_records: 0,
            groups: Vec::new(),
            group_index: HashMap::new(),
            partner_ids: HashMap::new(),
            unlisted: BTreeSet::new(),
        }
    }
}

impl JobRun for ConsolidateByPriority {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn observe(&mut self, row: &Map<String, Value>, _line: u64) {
        self.records += 1;
        let (Some(Value::String(key)), Some(Value::String(partner))) = (
            lookup(row, &self.key_field),
            lookup(row, &self.partner_field),
        ) else {
            self.bad_records += 1;
            return;
        };
        let next_partner = self.partner_ids.len();
        let partner_id = *self
            .partner_ids
            .entry(partner.clone())
            .or_insert(next_partner);
        let index = match self.group_index.entry(key.clone()) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                self.groups.push(Group {
                    key: key.clone(),
                    partners: Vec::new(),
                    best: None,
                });
                *e.insert(self.groups.len() - 1)
            }
        };
        let Some(group) = self.groups.get_mut(index) else {
            return;
        };
        if group.partners.contains(&partner_id) {
            self.duplicate_partner_records += 1;
            return;
        }
        group.partners.push(partner_id);
        match self.ranks.get(partner) {
            Some(&rank) => {
                if group.best.as_ref().is_none_or(|(best, _)| rank < *best) {
                    group.best = Some((rank, row.clone()));
                }
            }
            None => {
                if self.unlisted.len() < MAX_UNLISTED_PARTNERS {
                    self.unlisted.insert(partner.clone());
                }
            }
        }
    }

    fn finish(self: Box<Self>, ctx: &JobContext) -> JobOutput {
        let date = ctx.source_date;
        let dir = format!(
            "year={:04}/month={:02}/day={:02}",
            date.year(),
            date.month(),
            date.day()
        );
        let mut files = FileSplitter::new(dir, &ctx.source_id, self.max_file_bytes);
        let (mut emitted, mut without_partner) = (0u64, 0u64);
        let mut example_keys = Vec::new();
        let mut unserializable = 0u64;
        for group in self.groups {
            match group.best {
                Some((_, record)) => match serde_json::to_vec(&Value::Object(record)) {
                    Ok(mut line) => {
                        line.push(b'\n');
                        files.push(line);
                        emitted += 1;
                    }
                    Err(_) => unserializable += 1,
                },
                None => {
                    without_partner += 1;
                    if example_keys.len() < MAX_EXAMPLE_KEYS {
                        example_keys.push(group.key);
                    }
                }
            }
        }
        let keys = self.group_index.len();
        let (files, oversize_lines) = files.finish();
        let summary = json!({
            "records": self.records,
            "keys": keys,
            "emitted": emitted,
            "files": files.len(),
            "keys_without_listed_partner": without_partner,
            "example_keys_without_listed_partner": example_keys,
            "duplicate_partner_records": self.duplicate_partner_records,
            "oversize_lines": oversize_lines,
            "bad_records": self.bad_records + unserializable,
            "unlisted_partners": self.unlisted,
        });
        JobOutput { files, summary }
    }
}

/// Packs whole lines into files of at most `max_bytes`; a longer line gets a file of its own.
struct FileSplitter {
    dir: String,
    source_id: String,
    max_bytes: u64,
    current: Vec<u8>,
    files: Vec<JobFile>,
    oversize_lines: u64,
}

impl FileSplitter {
    fn new(dir: String, source_id: &str, max_bytes: u64) -> Self {
        FileSplitter {
            dir,
            source_id: source_id.to_owned(),
            max_bytes,
            current: Vec::new(),
            files: Vec::new(),
            oversize_lines: 0,
        }
    }

    fn push(&mut self, line: Vec<u8>) {
        let fits = |len: usize| u64::try_from(len).is_ok_and(|len| len <= self.max_bytes);
        if !fits(line.len()) {
            self.flush();
            self.oversize_lines += 1;
            self.current = line;
            self.flush();
            return;
        }
        if !fits(self.current.len() + line.len()) {
            self.flush();
        }
        self.current.extend_from_slice(&line);
    }

    fn flush(&mut self) {
        if self.current.is_empty() {
            return;
        }
        let path = format!(
            "{}/{}-{:05}.jsonl",
            self.dir,
            self.source_id,
            self.files.len()
        );
        self.files.push(JobFile {
            path,
            content_type: CONTENT_TYPE,
            bytes: std::mem::take(&mut self.current),
        });
    }

    fn finish(mut self) -> (Vec<JobFile>, u64) {
        self.flush();
        (self.files, self.oversize_lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn ctx() -> JobContext {
        JobContext {
            pipeline: "partner_catalog".into(),
            source_id: "aabbccddeeff00112233".into(),
            source_date: NaiveDate::from_ymd_opt(2021, 1, 5).unwrap(),
            run_date: NaiveDate::from_ymd_opt(2026, 3, 4).unwrap(),
        }
    }

    fn list(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    fn record(partner: &str, id: &str, name: &str) -> Map<String, Value> {
        json!({"partner_name": partner, "accommodation_id": id, "accommodation_data": {"name": name}})
            .as_object()
            .unwrap()
            .clone()
    }

    fn run(priority: &[String], max: u64, records: &[Map<String, Value>]) -> JobOutput {
        let mut job: Box<dyn JobRun> = Box::new(ConsolidateByPriority::new(
            "accommodation_id".into(),
            "partner_name".into(),
            priority,
            max,
        ));
        for (i, r) in records.iter().enumerate() {
            job.observe(r, i as u64 + 1);
        }
        job.finish(&ctx())
    }

    /// The `accommodation_data.name` of every emitted record, in output order.
    fn names(out: &JobOutput) -> Vec<String> {
        out.files
            .iter()
            .flat_map(|f| {
                std::str::from_utf8(&f.bytes)
                    .unwrap()
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .map(|l| {
                let v: Value = serde_json::from_str(&l).unwrap();
                v["accommodation_data"]["name"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    #[test]
    fn the_best_ranked_partner_wins_each_key() {
        /// (what, priority list, records in order, winners' names in output order).
        type Case = (
            &'static str,
            Vec<String>,
            Vec<Map<String, Value>>,
            Vec<&'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                "better partner later",
                list(&["a", "b"]),
                vec![record("b", "k", "from b"), record("a", "k", "from a")],
                vec!["from a"],
            ),
            (
                "better partner first",
                list(&["a", "b"]),
                vec![record("a", "k", "from a"), record("b", "k", "from b")],
                vec!["from a"],
            ),
            (
                "unlisted partner never wins",
                list(&["a", "b"]),
                vec![record("z", "k", "from z"), record("b", "k", "from b")],
                vec!["from b"],
            ),
            (
                "listed twice keeps the first rank",
                list(&["b", "a", "b"]),
                vec![record("a", "k", "from a"), record("b", "k", "from b")],
                vec!["from b"],
            ),
            (
                "same partner twice keeps the first",
                list(&["a"]),
                vec![record("a", "k", "first"), record("a", "k", "second")],
                vec!["first"],
            ),
            (
                "names match exactly",
                list(&["expedia"]),
                vec![
                    record("Expedia", "k", "upper"),
                    record("expedia ", "j", "space"),
                ],
                vec![],
            ),
            (
                "keys in first-seen order",
                list(&["a", "b"]),
                vec![
                    record("b", "k2", "k2 b"),
                    record("b", "k1", "k1 b"),
                    record("a", "k1", "k1 a"),
                ],
                vec!["k2 b", "k1 a"],
            ),
        ];
        for (what, priority, records, want) in cases {
            assert_eq!(names(&run(&priority, 500_000, &records)), want, "{what}");
        }
    }

    #[test]
    fn key_and_partner_may_be_dotted_paths() {
        let mut job =
            ConsolidateByPriority::new("acc.id".into(), "p.name".into(), &list(&["a", "b"]), 1024);
        let rows = [
            json!({"acc": {"id": "k"}, "p": {"name": "b"}, "v": 1}),
            json!({"acc": {"id": "k"}, "p": {"name": "a"}, "v": 2}),
            json!({"acc": {"id": 5}, "p": {"name": "a"}, "v": 3}),
        ];
        for (i, row) in rows.iter().enumerate() {
            job.observe(row.as_object().unwrap(), i as u64 + 1);
        }
        let out = Box::new(job).finish(&ctx());
        assert_eq!(out.files.len(), 1);
        assert_eq!(
            std::str::from_utf8(&out.files[0].bytes).unwrap(),
            "{\"acc\":{\"id\":\"k\"},\"p\":{\"name\":\"a\"},\"v\":2}\n"
        );
        assert_eq!(out.summary["bad_records"], 1);
    }

    #[test]
    fn files_split_at_line_boundaries_within_the_limit() {
        let records: Vec<_> = (0..40)
            .map(|i| record("a", &format!("key-{i:02}"), &"x".repeat(i % 7 * 9)))
            .collect();
        let full = run(&list(&["a"]), 500_000, &records);
        assert_eq!(full.files.len(), 1);
        let whole = full.files[0].bytes.clone();
        for max in [140u64, 150, 200, 333, 1000] {
            let out = run(&list(&["a"]), max, &records);
            assert!(out.files.len() > 1, "max {max}: expected a split");
            let mut joined = Vec::new();
            for (part, f) in out.files.iter().enumerate() {
                assert!(
                    f.bytes.len() as u64 <= max,
                    "max {max}: {} is {} bytes",
                    f.path,
                    f.bytes.len()
                );
                assert!(
                    f.bytes.ends_with(b"\n"),
                    "max {max}: {} ends mid-line",
                    f.path
                );
                assert_eq!(
                    f.path,
                    format!("year=2021/month=01/day=05/aabbccddeeff00112233-{part:05}.jsonl")
                );
                assert_eq!(f.content_type, "application/x-ndjson");
                for line in std::str::from_utf8(&f.bytes).unwrap().lines() {
                    serde_json::from_str::<Value>(line).unwrap();
                }
                // A file is only closed when the next line would not fit.
                if let Some(next) = out.files.get(part + 1) {
                    let next_line = next.bytes.split_inclusive(|b| *b == b'\n').next().unwrap();
                    assert!(
                        (f.bytes.len() + next_line.len()) as u64 > max,
                        "max {max}: {} closed early",
                        f.path
                    );
                }
                joined.extend_from_slice(&f.bytes);
            }
            assert_eq!(
                joined, whole,
                "max {max}: the files together are the whole output"
            );
            assert_eq!(out.summary["files"], out.files.len());
            assert_eq!(out.summary["oversize_lines"], 0);
        }
    }

    #[test]
    fn a_line_over_the_limit_gets_its_own_file() {
        let records = vec![
            record("a", "k1", "small"),
            record("a", "k2", &"y".repeat(300)),
            record("a", "k3", "small"),
            record("a", "k4", "small"),
        ];
        let out = run(&list(&["a"]), 200, &records);
        let sizes: Vec<usize> = out.files.iter().map(|f| f.bytes.len()).collect();
        assert_eq!(out.files.len(), 3, "sizes {sizes:?}");
        assert!(sizes[1] > 200);
        assert_eq!(
            std::str::from_utf8(&out.files[1].bytes)
                .unwrap()
                .lines()
                .count(),
            1
        );
        assert_eq!(names(&out)[1].len(), 300);
        assert_eq!(out.summary["oversize_lines"], 1);
        assert_eq!(out.summary["emitted"], 4);
    }

    #[test]
    fn keys_without_a_listed_partner_are_reported_not_emitted() {
        let records: Vec<_> = (0..150)
            .map(|i| record(&format!("p{}", i % 30), &format!("k{i:03}"), "n"))
            .chain([record("a", "listed", "n")])
            .collect();
        let out = run(&list(&["a"]), 500_000, &records);
        assert_eq!(out.summary["keys"], 151);
        assert_eq!(out.summary["emitted"], 1);
        assert_eq!(out.summary["keys_without_listed_partner"], 150);
        let examples = out.summary["example_keys_without_listed_partner"]
            .as_array()
            .unwrap();
        assert_eq!(examples.len(), MAX_EXAMPLE_KEYS);
        assert_eq!(examples[0], "k000");
        assert_eq!(examples[99], "k099");
        assert_eq!(
            out.summary["unlisted_partners"].as_array().unwrap().len(),
            MAX_UNLISTED_PARTNERS
        );
    }

    #[test]
    fn nothing_to_emit_writes_no_file() {
        let out = run(&list(&["a"]), 500_000, &[record("z", "k", "n")]);
        assert!(out.files.is_empty());
        assert_eq!(out.summary["files"], 0);
    }

    const SAMPLE_JSONL: &str = include_str!("../../../../samples/jobs/partner_catalog.jsonl");
    const SAMPLE_JSON: &str = include_str!("../../../../samples/jobs/partner_catalog.json");
    const EXPECTED: &str = include_str!("../../../../samples/jobs/partner_catalog.expected.jsonl");

    /// The shipped spec's job (priority `[expedia, booking, hotels, agoda]`) over `records`.
    fn run_shipped(records: Vec<Map<String, Value>>) -> JobOutput {
        let spec =
            crate::spec::Spec::parse(include_str!("../../../../spec/pipelines.yaml")).unwrap();
        let pipeline = spec
            .pipelines
            .iter()
            .find(|p| p.name == "partner_catalog")
            .unwrap();
        let job_spec = &pipeline.jobs[0];
        let crate::spec::Job::ConsolidateByPriority {
            priority: crate::spec::PrioritySource::List(priority),
            ..
        } = job_spec
        else {
            panic!("the shipped partner_catalog job lists its priority: {job_spec:?}");
        };
        let mut job = super::super::start(job_spec, priority);
        assert_eq!(job.kind(), KIND);
        for (i, r) in records.iter().enumerate() {
            job.observe(r, i as u64 + 1);
        }
        job.finish(&ctx())
    }

    fn expected_summary() -> Value {
        // Counted by hand from the sample (line by line in samples/jobs/README.md).
        json!({
            "records": 16,
            "keys": 5,
            "emitted": 4,
            "files": 1,
            "keys_without_listed_partner": 1,
            "example_keys_without_listed_partner": ["D4"],
            "duplicate_partner_records": 2,
            "oversize_lines": 0,
            "bad_records": 3,
            "unlisted_partners": ["Expedia", "trivago"],
        })
    }

    #[test]
    fn sample_jsonl() {
        let records = SAMPLE_JSONL
            .lines()
            .map(|l| serde_json::from_str::<Map<String, Value>>(l).unwrap())
            .collect();
        let out = run_shipped(records);
        assert_eq!(out.files.len(), 1);
        assert_eq!(
            out.files[0].path,
            "year=2021/month=01/day=05/aabbccddeeff00112233-00000.jsonl"
        );
        assert_eq!(std::str::from_utf8(&out.files[0].bytes).unwrap(), EXPECTED);
        assert_eq!(out.summary, expected_summary());
    }

    #[test]
    fn sample_json_array_gives_the_same_output() {
        let records: Vec<Map<String, Value>> = serde_json::from_str(SAMPLE_JSON).unwrap();
        assert_eq!(records.len(), SAMPLE_JSONL.lines().count());
        let out = run_shipped(records);
        assert_eq!(out.files.len(), 1);
        assert_eq!(std::str::from_utf8(&out.files[0].bytes).unwrap(), EXPECTED);
        assert_eq!(out.summary, expected_summary());
    }
}
