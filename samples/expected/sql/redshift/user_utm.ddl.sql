CREATE SCHEMA IF NOT EXISTS "tracking";

CREATE TABLE IF NOT EXISTS "tracking"."utm" (
    "request_id" VARCHAR(56),
    "source" VARCHAR(255),
    "medium" VARCHAR(255),
    "campaign" VARCHAR(255),
    "content" VARCHAR(255),
    "term" VARCHAR(255),
    "matchtype" VARCHAR(255),
    "network" VARCHAR(255),
    "ad_id" VARCHAR(255),
    "ad_pos" VARCHAR(255),
    "placement" VARCHAR(255),
    "placement_category" VARCHAR(255),
    "testgroup" VARCHAR(255),
    "device" VARCHAR(255),
    "extra" SUPER,
    "event_id" VARCHAR(256) NOT NULL,
    "event_time" TIMESTAMP,
    "source_object" VARCHAR(4096) NOT NULL,
    "spec_version" BIGINT NOT NULL,
    "ingested_at" TIMESTAMP NOT NULL
)
DISTSTYLE AUTO
ENCODE AUTO;
