CREATE SCHEMA IF NOT EXISTS "tracking";

CREATE TABLE IF NOT EXISTS "tracking"."events" (
    "request_id" VARCHAR(36),
    "request_timestamp" TIMESTAMP,
    "cookie_id" VARCHAR(36),
    "topic" VARCHAR(1024),
    "message" VARCHAR(3128),
    "environment" VARCHAR(30),
    "website_id" VARCHAR(36),
    "user_account_id" VARCHAR(36),
    "location" VARCHAR(5000),
    "user_agent" VARCHAR(1024),
    "referrer" VARCHAR(500),
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
