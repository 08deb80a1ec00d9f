-- 1. lock
BEGIN IMMEDIATE;

-- 2. skip_loaded_objects (objects_skipped)
SELECT 1 FROM main."loglift_load_ledger" WHERE "object_key" = ?1 AND "object_version" = ?2;

-- 3. create_temp
CREATE TEMP TABLE "loglift_stage" (
    "request_id" TEXT,
    "source" TEXT,
    "medium" TEXT,
    "campaign" TEXT,
    "content" TEXT,
    "term" TEXT,
    "matchtype" TEXT,
    "network" TEXT,
    "ad_id" TEXT,
    "ad_pos" TEXT,
    "placement" TEXT,
    "placement_category" TEXT,
    "testgroup" TEXT,
    "device" TEXT,
    "extra" TEXT,
    "event_id" TEXT,
    "event_time" TEXT,
    "source_object" TEXT,
    "spec_version" INTEGER,
    "ingested_at" TEXT,
    "loglift_ord" INTEGER NOT NULL
);

-- 4. stage (rows_staged)
INSERT INTO temp."loglift_stage" ("request_id", "source", "medium", "campaign", "content", "term", "matchtype", "network", "ad_id", "ad_pos", "placement", "placement_category", "testgroup", "device", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at", "loglift_ord") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21);

-- 5. dedupe
CREATE TEMP TABLE "loglift_dedup" AS
SELECT "request_id", "source", "medium", "campaign", "content", "term", "matchtype", "network", "ad_id", "ad_pos", "placement", "placement_category", "testgroup", "device", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at"
FROM (SELECT "request_id", "source", "medium", "campaign", "content", "term", "matchtype", "network", "ad_id", "ad_pos", "placement", "placement_category", "testgroup", "device", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at", ROW_NUMBER() OVER (PARTITION BY "event_id" ORDER BY "ingested_at" DESC, "loglift_ord" DESC NULLS LAST) AS "loglift_rn" FROM temp."loglift_stage")
WHERE "loglift_rn" = 1;

-- 6. replace (replaced)
UPDATE main."tracking__utm" AS t SET "request_id" = d."request_id", "source" = d."source", "medium" = d."medium", "campaign" = d."campaign", "content" = d."content", "term" = d."term", "matchtype" = d."matchtype", "network" = d."network", "ad_id" = d."ad_id", "ad_pos" = d."ad_pos", "placement" = d."placement", "placement_category" = d."placement_category", "testgroup" = d."testgroup", "device" = d."device", "extra" = d."extra", "event_time" = d."event_time", "source_object" = d."source_object", "spec_version" = d."spec_version", "ingested_at" = d."ingested_at"
FROM temp."loglift_dedup" AS d
WHERE t."event_id" = d."event_id" AND d."ingested_at" >= t."ingested_at";

-- 7. insert (inserted)
INSERT INTO main."tracking__utm" ("request_id", "source", "medium", "campaign", "content", "term", "matchtype", "network", "ad_id", "ad_pos", "placement", "placement_category", "testgroup", "device", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at")
SELECT "request_id", "source", "medium", "campaign", "content", "term", "matchtype", "network", "ad_id", "ad_pos", "placement", "placement_category", "testgroup", "device", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at" FROM temp."loglift_dedup" WHERE true
ON CONFLICT ("event_id") DO NOTHING;

-- 8. ledger
INSERT INTO main."loglift_load_ledger" ("target_table", "object_key", "object_version", "source_object", "pipeline", "row_count", "loaded_at") VALUES ('tracking.utm', ?1, ?2, ?3, 'user_utm', ?4, '2026-11-21 10:00:00.000000');

-- 9. cleanup
DROP TABLE temp."loglift_stage";

-- 10. cleanup
DROP TABLE temp."loglift_dedup";
