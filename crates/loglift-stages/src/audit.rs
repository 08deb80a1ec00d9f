//! `loglift audit`: events in = loaded + rejected + dropped + waiting in a DLQ, per hour.
