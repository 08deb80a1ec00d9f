CREATE SCHEMA IF NOT EXISTS "logs";

CREATE TABLE IF NOT EXISTS "logs"."lambda" (
    "logged_at" TIMESTAMP,
    "record_type" TEXT,
    "request_id" TEXT,
    "level" TEXT,
    "duration_ms" DOUBLE PRECISION,
    "billed_duration_ms" BIGINT,
    "memory_size_mb" BIGINT,
    "max_memory_used_mb" BIGINT,
    "init_duration_ms" DOUBLE PRECISION,
    "message" TEXT,
    "extra" JSONB,
    "event_id" TEXT NOT NULL UNIQUE,
    "event_time" TIMESTAMP,
    "source_object" TEXT NOT NULL,
    "spec_version" BIGINT NOT NULL,
    "ingested_at" TIMESTAMP NOT NULL
);
