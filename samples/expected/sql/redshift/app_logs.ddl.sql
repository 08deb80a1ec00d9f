CREATE SCHEMA IF NOT EXISTS "logs";

CREATE TABLE IF NOT EXISTS "logs"."events" (
    "id" VARCHAR(64),
    "name" VARCHAR(255),
    "time" TIMESTAMP,
    "visitor_id" VARCHAR(64),
    "visit_id" VARCHAR(64),
    "user_id" VARCHAR(64),
    "properties" SUPER,
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
