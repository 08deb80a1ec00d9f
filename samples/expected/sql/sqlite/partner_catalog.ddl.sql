CREATE TABLE IF NOT EXISTS main."catalog__partner_accommodations" (
    "partner_name" TEXT,
    "accommodation_id" TEXT,
    "accommodation_data" TEXT,
    "extra" TEXT,
    "event_id" TEXT NOT NULL UNIQUE,
    "event_time" TEXT,
    "source_object" TEXT NOT NULL,
    "spec_version" INTEGER NOT NULL,
    "ingested_at" TEXT NOT NULL
) STRICT;
