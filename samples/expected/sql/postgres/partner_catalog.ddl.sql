CREATE SCHEMA IF NOT EXISTS "catalog";

CREATE TABLE IF NOT EXISTS "catalog"."partner_accommodations" (
    "partner_name" TEXT,
    "accommodation_id" TEXT,
    "accommodation_data" JSONB,
    "extra" JSONB,
    "event_id" TEXT NOT NULL UNIQUE,
    "event_time" TIMESTAMP,
    "source_object" TEXT NOT NULL,
    "spec_version" BIGINT NOT NULL,
    "ingested_at" TIMESTAMP NOT NULL
);
