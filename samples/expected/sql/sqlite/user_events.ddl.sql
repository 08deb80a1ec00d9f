CREATE TABLE IF NOT EXISTS main."tracking__events" (
    "request_id" TEXT,
    "request_timestamp" TEXT,
    "cookie_id" TEXT,
    "topic" TEXT,
    "message" TEXT,
    "environment" TEXT,
    "website_id" TEXT,
    "user_account_id" TEXT,
    "location" TEXT,
    "user_agent" TEXT,
    "referrer" TEXT,
    "extra" TEXT,
    "event_id" TEXT NOT NULL UNIQUE,
    "event_time" TEXT,
    "source_object" TEXT NOT NULL,
    "spec_version" INTEGER NOT NULL,
    "ingested_at" TEXT NOT NULL
) STRICT;
