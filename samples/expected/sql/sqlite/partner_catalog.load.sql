-- 1. lock
BEGIN IMMEDIATE;

-- 2. skip_loaded_objects (objects_skipped)
SELECT 1 FROM main."loglift_load_ledger" WHERE "object_key" = ?1 AND "object_version" = ?2;

-- 3. create_temp
CREATE TEMP TABLE "loglift_stage" (
    "partner_name" TEXT,
    "accommodation_id" TEXT,
    "accommodation_data" TEXT,
    "extra" TEXT,
    "event_id" TEXT,
    "event_time" TEXT,
    "source_object" TEXT,
    "spec_version" INTEGER,
    "ingested_at" TEXT,
    "loglift_ord" INTEGER NOT NULL
);

-- 4. stage (rows_staged)
INSERT INTO temp."loglift_stage" ("partner_name", "accommodation_id", "accommodation_data", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at", "loglift_ord") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10);

-- 5. dedupe
CREATE TEMP TABLE "loglift_dedup" AS
SELECT "partner_name", "accommodation_id", "accommodation_data", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at"
FROM (SELECT "partner_name", "accommodation_id", "accommodation_data", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at", ROW_NUMBER() OVER (PARTITION BY "event_id" ORDER BY "ingested_at" DESC, "loglift_ord" DESC NULLS LAST) AS "loglift_rn" FROM temp."loglift_stage")
WHERE "loglift_rn" = 1;

-- 6. replace (replaced)
UPDATE main."catalog__partner_accommodations" AS t SET "partner_name" = d."partner_name", "accommodation_id" = d."accommodation_id", "accommodation_data" = d."accommodation_data", "extra" = d."extra", "event_time" = d."event_time", "source_object" = d."source_object", "spec_version" = d."spec_version", "ingested_at" = d."ingested_at"
FROM temp."loglift_dedup" AS d
WHERE t."event_id" = d."event_id" AND d."ingested_at" >= t."ingested_at";

-- 7. insert (inserted)
INSERT INTO main."catalog__partner_accommodations" ("partner_name", "accommodation_id", "accommodation_data", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at")
SELECT "partner_name", "accommodation_id", "accommodation_data", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at" FROM temp."loglift_dedup" WHERE true
ON CONFLICT ("event_id") DO NOTHING;

-- 8. ledger
INSERT INTO main."loglift_load_ledger" ("target_table", "object_key", "object_version", "source_object", "pipeline", "row_count", "loaded_at") VALUES ('catalog.partner_accommodations', ?1, ?2, ?3, 'partner_catalog', ?4, '2026-11-21 10:00:00.000000');

-- 9. cleanup
DROP TABLE temp."loglift_stage";

-- 10. cleanup
DROP TABLE temp."loglift_dedup";
