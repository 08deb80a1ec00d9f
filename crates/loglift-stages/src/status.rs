//! `loglift status`: queue and DLQ depths, oldest message age, last load per table.
