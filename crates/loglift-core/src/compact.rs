//! Compaction's decisions: which curated Parquet parts of one partition merge into which file.
//!
//! A part is *small* when it is under the target size. Small parts are taken in key order and
//! packed greedily: a bin takes parts while their total stays within the target; a bin of two or
//! more parts becomes one file, a bin of one is left alone. So a partition already compacted
//! (one file, or files near the target) plans nothing: running compaction twice does nothing the
//! second time. The merged file's name is a hash of its inputs (key and version), so a run that
//! stopped after writing it and is run again writes the same key.

use sha2::{Digest, Sha256};

/// The default size of a compacted file, in bytes.
pub const DEFAULT_TARGET_BYTES: u64 = 128 * 1024 * 1024;
/// Compacted files are named `compacted-<hash>.parquet`.
pub const COMPACTED_PREFIX: &str = "compacted-";

/// A curated part as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub key: String,
    /// Version id or etag: what the ledger and the merged name record.
    pub version: String,
    pub size: u64,
}

/// The parts that merge into one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merge {
    pub inputs: Vec<Part>,
    /// The merged file's key: in the same partition as the inputs.
    pub output: String,
}

impl Merge {
    pub fn input_bytes(&self) -> u64 {
        self.inputs.iter().map(|p| p.size).sum()
    }
}

/// Plan the merges of one partition's parts (keys under `partition`, the partition's key prefix
/// ending in `/`). Parts that are not `.parquet`, or at or over `target`, are never inputs.
pub fn plan(partition: &str, parts: &[Part], target: u64) -> Vec<Merge> {
    let mut small: Vec<&Part> = parts
        .iter()
        .filter(|p| p.key.ends_with(".parquet") && p.size < target)
        .collect();
    small.sort_by(|a, b| a.key.cmp(&b.key));
    let mut merges = Vec::new();
    let mut bin: Vec<Part> = Vec::new();
    let mut total = 0u64;
    for part in small {
        if !bin.is_empty() && total + part.size > target {
            push_bin(partition, std::mem::take(&mut bin), &mut merges);
            total = 0;
        }
        total += part.size;
        bin.push(part.clone());
    }
    push_bin(partition, bin, &mut merges);
    merges
}

fn push_bin(partition: &str, bin: Vec<Part>, merges: &mut Vec<Merge>) {
    if bin.len() < 2 {
        return;
    }
    let mut hash = Sha256::new();
    for part in &bin {
        hash.update(part.key.as_bytes());
        hash.update([0]);
        hash.update(part.version.as_bytes());
        hash.update([0]);
    }
    let digest = hash.finalize();
    let id = hex::encode(digest.get(..10).unwrap_or_default());
    merges.push(Merge {
        output: format!("{partition}{COMPACTED_PREFIX}{id}.parquet"),
        inputs: bin,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(key: &str, size: u64) -> Part {
        Part {
            key: format!("curated/pipeline=p/dt=2026-11-21/hour=10/{key}"),
            version: format!("v-{key}"),
            size,
        }
    }

    const P: &str = "curated/pipeline=p/dt=2026-11-21/hour=10/";

    #[test]
    fn small_parts_pack_into_files_within_the_target() {
        let parts: Vec<Part> = (0..10)
            .map(|i| part(&format!("s{i}-00000.parquet"), 30))
            .collect();
        let merges = plan(P, &parts, 100);
        let sizes: Vec<usize> = merges.iter().map(|m| m.inputs.len()).collect();
        assert_eq!(sizes, [3, 3, 3], "the tenth part alone is left as it is");
        assert!(merges.iter().all(|m| m.input_bytes() <= 100));
        assert!(merges
            .iter()
            .all(|m| m.output.starts_with(P) && m.output.ends_with(".parquet")));
        let outputs: std::collections::BTreeSet<&str> =
            merges.iter().map(|m| m.output.as_str()).collect();
        assert_eq!(outputs.len(), 3, "distinct names");
        assert_eq!(
            plan(P, &parts, 100),
            merges,
            "the same inputs, the same plan and names"
        );
    }

    #[test]
    fn big_parts_other_files_and_a_compacted_partition_plan_nothing() {
        let parts = [
            part("a-00000.parquet", 100),
            part("b-00000.ndjson.gz", 1),
            part("c-00000.ndjson.gz", 1),
            part("compacted-0a.parquet", 60),
        ];
        assert!(plan(P, &parts, 100).is_empty());
        // A late part next to a compacted file: both merge again.
        let mut late = parts.to_vec();
        late.push(part("d-00000.parquet", 10));
        let merges = plan(P, &late, 100);
        assert_eq!(merges.len(), 1);
        assert_eq!(merges[0].inputs.len(), 2);
    }
}
