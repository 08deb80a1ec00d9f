CREATE SCHEMA IF NOT EXISTS "tracking";

CREATE TABLE IF NOT EXISTS "tracking"."utm" (
    "request_id" TEXT,
    "source" TEXT,
    "medium" TEXT,
    "campaign" TEXT,
    "content" TEXT,
    "term" TEXT,
    "matchtype" TEXT,
    "network" TEXT,
    "ad_id" TEXT,
    "ad_pos" TEXT,
    "placement" TEXT,
    "placement_category" TEXT,
    "testgroup" TEXT,
    "device" TEXT,
    "extra" JSONB,
    "event_id" TEXT NOT NULL UNIQUE,
    "event_time" TIMESTAMP,
    "source_object" TEXT NOT NULL,
    "spec_version" BIGINT NOT NULL,
    "ingested_at" TIMESTAMP NOT NULL
);
