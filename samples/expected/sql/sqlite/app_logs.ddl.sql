CREATE TABLE IF NOT EXISTS main."logs__events" (
    "id" TEXT,
    "name" TEXT,
    "time" TEXT,
    "visitor_id" TEXT,
    "visit_id" TEXT,
    "user_id" TEXT,
    "properties" TEXT,
    "extra" TEXT,
    "event_id" TEXT NOT NULL UNIQUE,
    "event_time" TEXT,
    "source_object" TEXT NOT NULL,
    "spec_version" INTEGER NOT NULL,
    "ingested_at" TEXT NOT NULL
) STRICT;
