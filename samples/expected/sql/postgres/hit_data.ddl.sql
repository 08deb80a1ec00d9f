CREATE SCHEMA IF NOT EXISTS "analytics";

CREATE TABLE IF NOT EXISTS "analytics"."hits" (
    "hit_time_gmt" TIMESTAMP,
    "date_time" TEXT,
    "user_agent" TEXT,
    "ip" TEXT,
    "event_list" TEXT,
    "geo_city" TEXT,
    "geo_region" TEXT,
    "geo_country" TEXT,
    "pagename" TEXT,
    "page_url" TEXT,
    "product_list" TEXT,
    "referrer" TEXT,
    "extra" JSONB,
    "event_id" TEXT NOT NULL UNIQUE,
    "event_time" TIMESTAMP,
    "source_object" TEXT NOT NULL,
    "spec_version" BIGINT NOT NULL,
    "ingested_at" TIMESTAMP NOT NULL
);
