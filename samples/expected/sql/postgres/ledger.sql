CREATE SCHEMA IF NOT EXISTS "loglift";

CREATE TABLE IF NOT EXISTS "loglift"."loglift_load_ledger" (
    "target_table" TEXT NOT NULL,
    "object_key" TEXT NOT NULL,
    "object_version" TEXT NOT NULL,
    "source_object" TEXT NOT NULL,
    "pipeline" TEXT NOT NULL,
    "row_count" BIGINT NOT NULL,
    "loaded_at" TIMESTAMP NOT NULL,
    UNIQUE ("object_key", "object_version")
);

CREATE INDEX IF NOT EXISTS "loglift_load_ledger_loaded_at" ON "loglift"."loglift_load_ledger" ("loaded_at");
