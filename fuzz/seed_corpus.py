#!/usr/bin/env python3
"""Seed fuzz/corpus/<target>/ from the project's samples (Python standard library only).

    python3 fuzz/seed_corpus.py

Every target starts from real inputs: the record data of samples/events/ (base64-decoded), the
protobuf body of the sample KPL aggregate, the decompressed CloudWatch Logs payloads, the S3
event bodies, the landing and job files, the spec, and every crash kept under samples/fuzz/.
The corpus directories are git-ignored: libFuzzer grows them in place.
"""

import base64
import json
import pathlib
import zlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
TARGETS = ["envelope", "firehose_event", "kpl", "cwlogs", "s3event", "tsv", "ndjson",
           "jsonarray", "spec", "transform"]
KPL_MAGIC = bytes([0xF3, 0x89, 0x9A, 0xC2])


def put(target, name, data):
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)


def record_datas():
    for path in sorted((ROOT / "samples" / "events").glob("*.json")):
        event = json.loads(path.read_text())
        records = event.get("records") or [r.get("kinesis", {}) for r in event.get("Records", [])]
        for i, record in enumerate(records):
            try:
                yield f"{path.stem}-{i}", base64.b64decode(record.get("data", ""), validate=True)
            except ValueError:
                continue


def main():
    for path in sorted((ROOT / "samples" / "events").glob("*.json")):
        put("firehose_event", path.name, path.read_bytes())
    for name, data in record_datas():
        put("envelope", name, data)
        if data.startswith(KPL_MAGIC) and len(data) > 20:
            put("kpl", name, data[4:-16])
        if data[:2] == b"\x1f\x8b" or data[:1] == b"\x78":
            try:
                put("cwlogs", name, zlib.decompress(data, 47))
            except zlib.error:
                pass
    for path in sorted((ROOT / "samples" / "s3events").iterdir()):
        if path.suffix in (".json", ".txt"):
            put("s3event", path.name, path.read_bytes())
    files = {
        "tsv": ["samples/jobs/hit_data.tsv"],
        "ndjson": ["samples/jobs/partner_catalog.jsonl", "samples/jobs/partner_catalog.expected.jsonl"],
        "jsonarray": ["samples/jobs/partner_catalog.json"],
        "spec": ["spec/pipelines.yaml"],
    }
    # `transform`: the first byte picks the shape (0 TSV, 1 NDJSON, 2 JSON array, 3 raw; +4 for
    # the default caps instead of the small ones).
    shapes = {"tsv": 0, "ndjson": 1, "jsonarray": 2}
    for target, paths in files.items():
        for rel in paths:
            data = (ROOT / rel).read_bytes()
            put(target, pathlib.Path(rel).name, data)
            if target in shapes:
                put("transform", pathlib.Path(rel).name, bytes([shapes[target]]) + data)
    # Raw objects as ingest writes them: one RawEvent line per JSON object of the user-events
    # samples.
    raw = []
    for name, data in record_datas():
        if not name.startswith("kinesis-user-events"):
            continue
        for line in data.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                raw.append(json.dumps({
                    "pipeline": "user_events", "event_id": str(event.get("request_id")),
                    "arrived_at": "2026-11-21T10:00:00.000Z", "origin": {"stream": "user-events"},
                    "data": event}, separators=(",", ":")))
    put("transform", "raw-user-events.ndjson", b"\x03" + "\n".join(raw).encode() + b"\n")
    for target in TARGETS:
        kept = ROOT / "samples" / "fuzz" / target
        if kept.is_dir():
            for path in sorted(kept.iterdir()):
                put(target, "crash-" + path.name, path.read_bytes())
    for target in TARGETS:
        count = len(list((CORPUS / target).glob("*"))) if (CORPUS / target).is_dir() else 0
        print(f"{target}: {count} seeds")


if __name__ == "__main__":
    main()
