CREATE SCHEMA IF NOT EXISTS "tracking";

CREATE TABLE IF NOT EXISTS "tracking"."events" (
    "request_id" TEXT,
    "request_timestamp" TIMESTAMP,
    "cookie_id" TEXT,
    "topic" TEXT,
    "message" TEXT,
    "environment" TEXT,
    "website_id" TEXT,
    "user_account_id" TEXT,
    "location" TEXT,
    "user_agent" TEXT,
    "referrer" TEXT,
    "extra" JSONB,
    "event_id" TEXT NOT NULL UNIQUE,
    "event_time" TIMESTAMP,
    "source_object" TEXT NOT NULL,
    "spec_version" BIGINT NOT NULL,
    "ingested_at" TIMESTAMP NOT NULL
);
