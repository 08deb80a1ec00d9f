-- 1. lock
BEGIN IMMEDIATE;

-- 2. skip_loaded_objects (objects_skipped)
SELECT 1 FROM main."loglift_load_ledger" WHERE "object_key" = ?1 AND "object_version" = ?2;

-- 3. create_temp
CREATE TEMP TABLE "loglift_stage" (
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
    "event_id" TEXT,
    "event_time" TEXT,
    "source_object" TEXT,
    "spec_version" INTEGER,
    "ingested_at" TEXT,
    "loglift_ord" INTEGER NOT NULL
);

-- 4. stage (rows_staged)
INSERT INTO temp."loglift_stage" ("request_id", "request_timestamp", "cookie_id", "topic", "message", "environment", "website_id", "user_account_id", "location", "user_agent", "referrer", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at", "loglift_ord") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18);

-- 5. insert (inserted)
INSERT INTO main."tracking__events" ("request_id", "request_timestamp", "cookie_id", "topic", "message", "environment", "website_id", "user_account_id", "location", "user_agent", "referrer", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at")
SELECT "request_id", "request_timestamp", "cookie_id", "topic", "message", "environment", "website_id", "user_account_id", "location", "user_agent", "referrer", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at"
FROM (SELECT "request_id", "request_timestamp", "cookie_id", "topic", "message", "environment", "website_id", "user_account_id", "location", "user_agent", "referrer", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at", ROW_NUMBER() OVER (PARTITION BY "event_id" ORDER BY "ingested_at", "loglift_ord") AS "loglift_rn" FROM temp."loglift_stage")
WHERE "loglift_rn" = 1
ON CONFLICT ("event_id") DO NOTHING;

-- 6. ledger
INSERT INTO main."loglift_load_ledger" ("target_table", "object_key", "object_version", "source_object", "pipeline", "row_count", "loaded_at") VALUES ('tracking.events', ?1, ?2, ?3, 'user_events', ?4, '2026-11-21 10:00:00.000000');

-- 7. cleanup
DROP TABLE temp."loglift_stage";
