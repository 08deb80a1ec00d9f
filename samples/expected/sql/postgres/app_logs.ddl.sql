CREATE SCHEMA IF NOT EXISTS "logs";

CREATE TABLE IF NOT EXISTS "logs"."events" (
    "id" TEXT,
    "name" TEXT,
    "time" TIMESTAMP,
    "visitor_id" TEXT,
    "visit_id" TEXT,
    "user_id" TEXT,
    "properties" JSONB,
    "extra" JSONB,
    "event_id" TEXT NOT NULL UNIQUE,
    "event_time" TIMESTAMP,
    "source_object" TEXT NOT NULL,
    "spec_version" BIGINT NOT NULL,
    "ingested_at" TIMESTAMP NOT NULL
);
