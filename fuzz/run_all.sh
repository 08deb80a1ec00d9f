#!/usr/bin/env bash
# Run every cargo-fuzz target for SECONDS (default 90) one after the other, and print one line per
# target: runs, execs/s, edge coverage, features, corpus size, and whether it crashed.
#
#   fuzz/run_all.sh [SECONDS] [TARGET...]
#
# Needs a nightly toolchain (`rustup toolchain install nightly`) and cargo-fuzz
# (`cargo install cargo-fuzz`). Builds into fuzz/target (never the workspace's target/), seeds
# fuzz/corpus/ from the samples, keeps logs in fuzz/target/logs/ and crashes in fuzz/artifacts/.
# Caps: libFuzzer fails a run on any single allocation over 256 MB (-malloc_limit_mb) or RSS over
# 2 GB; the decoders' own caps are 16 MiB per record.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-90}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(envelope firehose_event kpl cwlogs s3event tsv ndjson jsonarray spec transform)
fi
export CARGO_TARGET_DIR="$PWD/fuzz/target"
toolchain="${FUZZ_TOOLCHAIN:-+nightly}"
python3 fuzz/seed_corpus.py >/dev/null
cargo $toolchain fuzz build >/dev/null
mkdir -p fuzz/target/logs
printf '%-15s %10s %8s %6s %6s %12s %s\n' target runs exec/s cov ft corpus result
for t in "${targets[@]}"; do
    log="fuzz/target/logs/$t.log"
    status=ok
    cargo $toolchain fuzz run "$t" -- -max_total_time="$seconds" -rss_limit_mb=2048 \
        -malloc_limit_mb=256 -timeout=10 -print_final_stats=1 >"$log" 2>&1 || status="CRASH (see $log)"
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    runs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo '?')
    eps=$(grep -oE '^stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo '?')
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
    corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$last")
    printf '%-15s %10s %8s %6s %6s %12s %s\n' "$t" "$runs" "$eps" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$status"
done
