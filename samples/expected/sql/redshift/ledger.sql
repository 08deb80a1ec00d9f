CREATE SCHEMA IF NOT EXISTS "loglift";

CREATE TABLE IF NOT EXISTS "loglift"."loglift_load_ledger" (
    "target_table" VARCHAR(255) NOT NULL,
    "object_key" VARCHAR(1024) NOT NULL,
    "object_version" VARCHAR(1024) NOT NULL,
    "source_object" VARCHAR(4096) NOT NULL,
    "pipeline" VARCHAR(255) NOT NULL,
    "row_count" BIGINT NOT NULL,
    "loaded_at" TIMESTAMP NOT NULL,
    UNIQUE ("object_key", "object_version")
)
DISTSTYLE AUTO
SORTKEY ("loaded_at")
ENCODE AUTO;
