CREATE SCHEMA IF NOT EXISTS "analytics";

CREATE TABLE IF NOT EXISTS "analytics"."hits" (
    "hit_time_gmt" TIMESTAMP,
    "date_time" VARCHAR(32),
    "user_agent" VARCHAR(1024),
    "ip" VARCHAR(45),
    "event_list" VARCHAR(1024),
    "geo_city" VARCHAR(255),
    "geo_region" VARCHAR(255),
    "geo_country" VARCHAR(64),
    "pagename" VARCHAR(1024),
    "page_url" VARCHAR(4096),
    "product_list" VARCHAR(4096),
    "referrer" VARCHAR(4096),
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
