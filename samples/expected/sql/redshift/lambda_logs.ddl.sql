CREATE SCHEMA IF NOT EXISTS "logs";

CREATE TABLE IF NOT EXISTS "logs"."lambda" (
    "logged_at" TIMESTAMP,
    "record_type" VARCHAR(8),
    "request_id" VARCHAR(64),
    "level" VARCHAR(16),
    "duration_ms" DOUBLE PRECISION,
    "billed_duration_ms" BIGINT,
    "memory_size_mb" BIGINT,
    "max_memory_used_mb" BIGINT,
    "init_duration_ms" DOUBLE PRECISION,
    "message" VARCHAR(65535),
    "extra" SUPER,
    "event_id" VARCHAR(256) NOT NULL,
    "event_time" TIMESTAMP,
    "source_object" VARCHAR(4096) NOT NULL,
    "spec_version" BIGINT NOT NULL,
    "ingested_at" TIMESTAMP NOT NULL
)
DISTSTYLE AUTO
SORTKEY ("event_time")
ENCODE AUTO;
