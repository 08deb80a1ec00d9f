CREATE TABLE IF NOT EXISTS main."logs__lambda" (
    "logged_at" TEXT,
    "record_type" TEXT,
    "request_id" TEXT,
    "level" TEXT,
    "duration_ms" REAL,
    "billed_duration_ms" INTEGER,
    "memory_size_mb" INTEGER,
    "max_memory_used_mb" INTEGER,
    "init_duration_ms" REAL,
    "message" TEXT,
    "extra" TEXT,
    "event_id" TEXT NOT NULL UNIQUE,
    "event_time" TEXT,
    "source_object" TEXT NOT NULL,
    "spec_version" INTEGER NOT NULL,
    "ingested_at" TEXT NOT NULL
) STRICT;
