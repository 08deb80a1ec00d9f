CREATE SCHEMA IF NOT EXISTS "catalog";

CREATE TABLE IF NOT EXISTS "catalog"."partner_accommodations" (
    "partner_name" VARCHAR(255),
    "accommodation_id" VARCHAR(255),
    "accommodation_data" SUPER,
    "extra" SUPER,
    "event_id" VARCHAR(256) NOT NULL,
    "event_time" TIMESTAMP,
    "source_object" VARCHAR(4096) NOT NULL,
    "spec_version" BIGINT NOT NULL,
    "ingested_at" TIMESTAMP NOT NULL
)
DISTSTYLE AUTO
ENCODE AUTO;
