-- 1. lock
BEGIN IMMEDIATE;

-- 2. skip_loaded_objects (objects_skipped)
SELECT 1 FROM main."loglift_load_ledger" WHERE "object_key" = ?1 AND "object_version" = ?2;

-- 3. create_temp
CREATE TEMP TABLE "loglift_stage" (
    "id" TEXT,
    "name" TEXT,
    "time" TEXT,
    "visitor_id" TEXT,
    "visit_id" TEXT,
    "user_id" TEXT,
    "properties" TEXT,
    "extra" TEXT,
    "event_id" TEXT,
    "event_time" TEXT,
    "source_object" TEXT,
    "spec_version" INTEGER,
    "ingested_at" TEXT,
    "loglift_ord" INTEGER NOT NULL
);

-- 4. stage (rows_staged)
INSERT INTO temp."loglift_stage" ("id", "name", "time", "visitor_id", "visit_id", "user_id", "properties", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at", "loglift_ord") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14);

-- 5. insert (inserted)
INSERT INTO main."logs__events" ("id", "name", "time", "visitor_id", "visit_id", "user_id", "properties", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at")
SELECT "id", "name", "time", "visitor_id", "visit_id", "user_id", "properties", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at"
FROM (SELECT "id", "name", "time", "visitor_id", "visit_id", "user_id", "properties", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at", ROW_NUMBER() OVER (PARTITION BY "event_id" ORDER BY "ingested_at", "loglift_ord") AS "loglift_rn" FROM temp."loglift_stage")
WHERE "loglift_rn" = 1
ON CONFLICT ("event_id") DO NOTHING;

-- 6. ledger
INSERT INTO main."loglift_load_ledger" ("target_table", "object_key", "object_version", "source_object", "pipeline", "row_count", "loaded_at") VALUES ('logs.events', ?1, ?2, ?3, 'app_logs', ?4, '2026-11-21 10:00:00.000000');

-- 7. cleanup
DROP TABLE temp."loglift_stage";
