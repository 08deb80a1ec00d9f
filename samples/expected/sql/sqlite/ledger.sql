CREATE TABLE IF NOT EXISTS main."loglift_load_ledger" (
    "target_table" TEXT NOT NULL,
    "object_key" TEXT NOT NULL,
    "object_version" TEXT NOT NULL,
    "source_object" TEXT NOT NULL,
    "pipeline" TEXT NOT NULL,
    "row_count" INTEGER NOT NULL,
    "loaded_at" TEXT NOT NULL,
    UNIQUE ("object_key", "object_version")
) STRICT;

CREATE INDEX IF NOT EXISTS main."loglift_load_ledger_loaded_at" ON "loglift_load_ledger" ("loaded_at");
