//! The books of `loglift audit`, without any I/O: per source object, events in = loaded +
//! rejected + dropped + waiting in a DLQ ([`account`]), figures summed per hour and range
//! ([`summarize`], [`AuditReport`]), and events counted as transform reads them
//! ([`count_events`]). The listing, reading and ledger queries are `loglift_stages::audit`'s.
//!
//! What is loaded, rejected or dropped beyond the events in (a backfill or a redelivered
//! message loads the same curated rows again; the loader dedupes them) is **surplus**, not an
//! imbalance; what nothing explains is **unexplained** — in flight (a queue, a running function)
//! or lost. An hour balances when nothing is unexplained.

use std::collections::BTreeMap;
use std::io::{self, BufRead};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::compress;
use crate::jsonarray::{self, ArrayReader, Element};
use crate::ndjson::{Line, LineReader, DEFAULT_MAX_LINE};
use crate::spec::Format;

/// What is known of one source object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SourceCounts {
    /// Events read from the object as transform reads them, blank lines included.
    pub events_in: u64,
    /// Blank lines (transform skips them).
    pub blank: u64,
    /// Rows the ledger recorded as loaded from it (reloads included).
    pub loaded: u64,
    /// Lines of its transform reject files.
    pub rejected: u64,
    /// Rows of its loader messages waiting in the loader DLQ.
    pub loader_dlq_rows: u64,
    /// Its S3 event waits in the transform DLQ: nothing of it went further.
    pub in_transform_dlq: bool,
}

/// The accounting of one source, an hour or a range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Figures {
    pub sources: u64,
    pub events_in: u64,
    pub loaded: u64,
    pub rejected: u64,
    pub dropped: u64,
    pub in_dlq: u64,
    /// Counted beyond the events in (reloads after a backfill or redelivery; the loader deduped
    /// them): not an imbalance.
    pub surplus: u64,
    /// Events nothing explains: in flight or lost.
    pub unexplained: u64,
}

impl Figures {
    fn add(&mut self, other: &Figures) {
        self.sources += other.sources;
        self.events_in += other.events_in;
        self.loaded += other.loaded;
        self.rejected += other.rejected;
        self.dropped += other.dropped;
        self.in_dlq += other.in_dlq;
        self.surplus += other.surplus;
        self.unexplained += other.unexplained;
    }

    /// `in = loaded + rejected + dropped + in DLQ`.
    pub fn balanced(&self) -> bool {
        self.unexplained == 0
    }
}

/// Explain one source's events: dropped, then rejected, then loaded, then waiting in a DLQ, each
/// up to what is left; the rest is unexplained and the excess is surplus.
pub fn account(c: &SourceCounts) -> Figures {
    let mut left = c.events_in;
    let mut take = |n: u64| {
        let t = n.min(left);
        left -= t;
        t
    };
    let dropped = take(c.blank);
    let rejected = take(c.rejected);
    let loaded = take(c.loaded);
    let dlq_claim = if c.in_transform_dlq {
        u64::MAX
    } else {
        c.loader_dlq_rows
    };
    let in_dlq = take(dlq_claim);
    let surplus = (c.blank - dropped) + (c.rejected - rejected) + (c.loaded - loaded);
    Figures {
        sources: 1,
        events_in: c.events_in,
        loaded,
        rejected,
        dropped,
        in_dlq,
        surplus,
        unexplained: left,
    }
}

/// One source that does not balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unexplained {
    /// `s3://bucket/key`.
    pub source: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// One hour of the audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HourAudit {
    pub hour: DateTime<Utc>,
    #[serde(flatten)]
    pub figures: Figures,
    pub balanced: bool,
    /// Its sources with unexplained events ("in flight or lost").
    pub unexplained_sources: Vec<Unexplained>,
}

/// The audit of a pipeline and a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    pub pipeline: String,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Every hour balances.
    pub balanced: bool,
    pub totals: Figures,
    /// The hours that have source objects, in order.
    pub hours: Vec<HourAudit>,
    /// Ledger entries of the range whose source object is no longer listed (deleted, or another
    /// version): loaded rows nothing above counts.
    pub ledger_without_source: Vec<String>,
    pub notes: Vec<String>,
}

impl AuditReport {
    /// The hours that do not balance.
    pub fn unbalanced(&self) -> impl Iterator<Item = &HourAudit> {
        self.hours.iter().filter(|h| !h.balanced)
    }
}

/// One source with its hour and counts: the input of [`summarize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEntry {
    pub hour: DateTime<Utc>,
    /// `s3://bucket/key`.
    pub source: String,
    pub counts: SourceCounts,
}

/// Account every source and sum per hour.
pub fn summarize(
    pipeline: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    sources: &[SourceEntry],
) -> AuditReport {
    let mut hours: BTreeMap<DateTime<Utc>, HourAudit> = BTreeMap::new();
    let mut totals = Figures::default();
    for entry in sources {
        let figures = account(&entry.counts);
        totals.add(&figures);
        let hour = hours.entry(entry.hour).or_insert_with(|| HourAudit {
            hour: entry.hour,
            figures: Figures::default(),
            balanced: true,
            unexplained_sources: Vec::new(),
        });
        hour.figures.add(&figures);
        if !figures.balanced() {
            hour.balanced = false;
            hour.unexplained_sources.push(Unexplained {
                source: entry.source.clone(),
                figures,
            });
        }
    }
    let hours: Vec<HourAudit> = hours.into_values().collect();
    AuditReport {
        pipeline: pipeline.to_owned(),
        since,
        until,
        balanced: hours.iter().all(|h| h.balanced),
        totals,
        hours,
        ledger_without_source: Vec::new(),
        notes: Vec::new(),
    }
}

impl std::fmt::Display for AuditReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "audit of {} from {} to {}",
            self.pipeline,
            self.since.to_rfc3339(),
            self.until.to_rfc3339()
        )?;
        writeln!(
            f,
            "{:<16} {:>7} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8} {:>11}  ",
            "hour",
            "sources",
            "in",
            "loaded",
            "rejected",
            "dropped",
            "in DLQ",
            "surplus",
            "unexplained"
        )?;
        let row = |f: &mut std::fmt::Formatter<'_>, label: &str, x: &Figures, mark: &str| {
            writeln!(
                f,
                "{label:<16} {:>7} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8} {:>11}  {mark}",
                x.sources,
                x.events_in,
                x.loaded,
                x.rejected,
                x.dropped,
                x.in_dlq,
                x.surplus,
                x.unexplained
            )
        };
        for h in &self.hours {
            let mark = if h.balanced { "ok" } else { "DOES NOT BALANCE" };
            row(
                f,
                &h.hour.format("%Y-%m-%dT%H").to_string(),
                &h.figures,
                mark,
            )?;
        }
        let mark = if self.balanced { "ok" } else { "" };
        row(f, "total", &self.totals, mark)?;
        for h in self.unbalanced() {
            writeln!(
                f,
                "{}: {} event(s) unexplained (in flight or lost):",
                h.hour.format("%Y-%m-%dT%H"),
                h.figures.unexplained
            )?;
            for s in &h.unexplained_sources {
                writeln!(
                    f,
                    "  {}: in {}, loaded {}, rejected {}, dropped {}, in DLQ {}, unexplained {}",
                    s.source,
                    s.figures.events_in,
                    s.figures.loaded,
                    s.figures.rejected,
                    s.figures.dropped,
                    s.figures.in_dlq,
                    s.figures.unexplained
                )?;
            }
        }
        for s in &self.ledger_without_source {
            writeln!(f, "loaded from a source no longer listed: {s}")?;
        }
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Counting events as transform reads them (pure over a reader).

/// How an object's bytes are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountKind {
    /// A raw object: NDJSON of raw events.
    Raw,
    /// A landing file in the pipeline's format.
    Landing(Format),
}

/// Events and blank lines of one object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventCount {
    /// Events as transform counts them, plus the blank lines it skips.
    pub events: u64,
    pub blank: u64,
}

/// Count the events of an object (compressed or not) as transform reads them. A compressed
/// stream that breaks off counts what was read plus one (transform's `bad_compression` reject);
/// other read errors are returned.
pub fn count_events<R: BufRead + Send>(reader: R, kind: CountKind) -> io::Result<EventCount> {
    let (_, mut decoded) = compress::open_stream(reader)?;
    let mut count = EventCount::default();
    let result = match kind {
        CountKind::Raw => count_lines(decoded, &mut count, |b| {
            b.iter().all(u8::is_ascii_whitespace)
        }),
        CountKind::Landing(Format::Tsv) => count_tsv(decoded, &mut count),
        CountKind::Landing(Format::JsonArray) => count_array(decoded, &mut count),
        CountKind::Landing(_) => match jsonarray::first_byte_is_array(&mut decoded) {
            Ok(true) => count_array(decoded, &mut count),
            Ok(false) => count_lines(decoded, &mut count, |b| {
                b.iter().all(u8::is_ascii_whitespace)
            }),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => Ok(count),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            count.events += 1;
            Ok(count)
        }
        Err(e) => Err(e),
    }
}

fn count_lines<R: BufRead>(
    reader: R,
    count: &mut EventCount,
    blank: impl Fn(&[u8]) -> bool,
) -> io::Result<()> {
    let mut lines = LineReader::new(reader, DEFAULT_MAX_LINE);
    while let Some(line) = lines.next_line()? {
        count.events += 1;
        if let Line::Text { bytes, .. } = line {
            if blank(bytes) {
                count.blank += 1;
            }
        }
    }
    Ok(())
}

fn count_tsv<R: BufRead>(reader: R, count: &mut EventCount) -> io::Result<()> {
    let mut lines = LineReader::new(reader, DEFAULT_MAX_LINE);
    let mut header_read = false;
    while let Some(line) = lines.next_line()? {
        match line {
            Line::Text { bytes, .. } if !header_read => {
                header_read = true;
                if !tsv_header_ok(bytes) {
                    // Transform rejects the header once and reads no further.
                    count.events += 1;
                    return Ok(());
                }
            }
            Line::Text { bytes, .. } => {
                count.events += 1;
                if bytes.is_empty() {
                    count.blank += 1;
                }
            }
            Line::TooLong { .. } => count.events += 1,
        }
    }
    Ok(())
}

/// Transform's rule for a TSV header: UTF-8, names unique and non-empty.
fn tsv_header_ok(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let mut seen = std::collections::HashSet::new();
    text.trim_start_matches('\u{feff}')
        .split('\t')
        .map(str::trim)
        .all(|name| !name.is_empty() && seen.insert(name))
}

fn count_array<R: BufRead>(reader: R, count: &mut EventCount) -> io::Result<()> {
    let mut elements = ArrayReader::new(reader, DEFAULT_MAX_LINE);
    while let Some(element) = elements.next_element()? {
        match element {
            Element::Value { .. } | Element::TooLong { .. } | Element::Malformed { .. } => {
                count.events += 1
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn counts(events_in: u64, blank: u64, rejected: u64, loaded: u64) -> SourceCounts {
        SourceCounts {
            events_in,
            blank,
            rejected,
            loaded,
            ..SourceCounts::default()
        }
    }

    #[test]
    fn a_source_balances_when_everything_is_explained() {
        let f = account(&counts(10, 1, 2, 7));
        assert_eq!(
            (
                f.dropped,
                f.rejected,
                f.loaded,
                f.in_dlq,
                f.unexplained,
                f.surplus
            ),
            (1, 2, 7, 0, 0, 0)
        );
        assert!(f.balanced());
    }

    #[test]
    fn missing_rows_are_unexplained_unless_a_dlq_holds_them() {
        let f = account(&counts(10, 0, 2, 5));
        assert_eq!((f.unexplained, f.in_dlq), (3, 0));
        let f = account(&SourceCounts {
            loader_dlq_rows: 3,
            ..counts(10, 0, 2, 5)
        });
        assert_eq!((f.unexplained, f.in_dlq), (0, 3));
        // Loader DLQ rows beyond what is missing are surplus-free: only what is left is claimed.
        let f = account(&SourceCounts {
            loader_dlq_rows: 8,
            ..counts(10, 0, 2, 5)
        });
        assert_eq!((f.unexplained, f.in_dlq, f.surplus), (0, 3, 0));
        // An object whose S3 event waits in the transform DLQ waits whole.
        let f = account(&SourceCounts {
            in_transform_dlq: true,
            ..counts(10, 1, 0, 0)
        });
        assert_eq!((f.dropped, f.in_dlq, f.unexplained), (1, 9, 0));
    }

    #[test]
    fn reloads_are_surplus_not_imbalance() {
        let f = account(&counts(10, 0, 2, 16));
        assert_eq!((f.loaded, f.surplus, f.unexplained), (8, 8, 0));
        assert!(f.balanced());
    }

    #[test]
    fn hours_sum_their_sources_and_name_the_unexplained() {
        let h = |hour| Utc.with_ymd_and_hms(2026, 11, 21, hour, 0, 0).unwrap();
        let entry = |hour, source: &str, c| SourceEntry {
            hour: h(hour),
            source: source.into(),
            counts: c,
        };
        let report = summarize(
            "p",
            h(10),
            h(12),
            &[
                entry(10, "s3://b/a", counts(5, 0, 1, 4)),
                entry(10, "s3://b/b", counts(3, 0, 0, 3)),
                entry(11, "s3://b/c", counts(4, 0, 0, 0)),
                entry(11, "s3://b/d", counts(2, 0, 0, 2)),
            ],
        );
        assert!(!report.balanced);
        assert_eq!(report.hours.len(), 2);
        assert!(report.hours[0].balanced);
        assert_eq!(report.hours[0].figures.events_in, 8);
        assert!(!report.hours[1].balanced);
        assert_eq!(report.hours[1].figures.unexplained, 4);
        assert_eq!(report.hours[1].unexplained_sources.len(), 1);
        assert_eq!(report.hours[1].unexplained_sources[0].source, "s3://b/c");
        assert_eq!(report.totals.events_in, 14);
        let text = report.to_string();
        assert!(text.contains("2026-11-21T11"), "{text}");
        assert!(text.contains("DOES NOT BALANCE"), "{text}");
        assert!(text.contains("s3://b/c: in 4"), "{text}");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["hours"][1]["unexplained"], 4);
        assert_eq!(
            json["hours"][1]["unexplained_sources"][0]["source"],
            "s3://b/c"
        );
    }

    fn count(bytes: &[u8], kind: CountKind) -> EventCount {
        count_events(bytes, kind).unwrap()
    }

    #[test]
    fn events_are_counted_as_transform_reads_them() {
        let ndjson = b"{\"a\":1}\n\n  \n{\"a\":2}\nnot json\n";
        assert_eq!(
            count(ndjson, CountKind::Raw),
            EventCount {
                events: 5,
                blank: 2
            }
        );
        assert_eq!(
            count(&compress::gzip(ndjson), CountKind::Raw),
            EventCount {
                events: 5,
                blank: 2
            }
        );
        let tsv = b"a\tb\n1\t2\n\n3\n";
        assert_eq!(
            count(tsv, CountKind::Landing(Format::Tsv)),
            EventCount {
                events: 3,
                blank: 1
            }
        );
        let bad_header = b"a\ta\n1\t2\n3\t4\n";
        assert_eq!(
            count(bad_header, CountKind::Landing(Format::Tsv)),
            EventCount {
                events: 1,
                blank: 0
            }
        );
        let array = b" [ {\"a\":1}, {\"a\":2},\n 3 ]";
        assert_eq!(
            count(array, CountKind::Landing(Format::Ndjson)),
            EventCount {
                events: 3,
                blank: 0
            }
        );
        assert_eq!(
            count(array, CountKind::Landing(Format::JsonArray)),
            EventCount {
                events: 3,
                blank: 0
            }
        );
        // A gzip stream cut short: what was read, plus one for transform's bad_compression.
        let mut body = Vec::new();
        for i in 0..5000 {
            body.extend_from_slice(format!("{{\"i\":{i}}}\n").as_bytes());
        }
        let gz = compress::gzip(&body);
        let cut = count(gz.get(..gz.len() / 2).unwrap(), CountKind::Raw);
        assert!(cut.events > 1 && cut.events < 5000, "{cut:?}");
    }
}
