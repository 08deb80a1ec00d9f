//! The formats' own time syntaxes, read into UTC.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};

use crate::spec::TimeFormat;
use crate::timefmt;

/// How a field's time is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// ISO 8601 / RFC 3339 with an offset or `Z` (ALB `time`, RFC 5424 `TIMESTAMP`).
    Rfc3339,
    /// Common Log Format, `10/Oct/2000:13:55:36 -0700` (Apache, nginx, S3 server access).
    Clf,
    /// Seconds since the epoch (VPC flow logs `start` / `end`).
    EpochSeconds,
}

/// Read `text` in `syntax`.
pub fn parse(text: &str, syntax: Syntax) -> Option<DateTime<Utc>> {
    match syntax {
        Syntax::Rfc3339 => DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        Syntax::Clf => DateTime::parse_from_str(text, "%d/%b/%Y:%H:%M:%S %z")
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        Syntax::EpochSeconds => text
            .parse::<i64>()
            .ok()
            .and_then(|s| Utc.timestamp_opt(s, 0).single()),
    }
}

/// Any syntax a regex capture might hold: what `time_format: auto` reads, then CLF.
pub fn parse_any(text: &str) -> Option<DateTime<Utc>> {
    timefmt::parse_str(text, TimeFormat::Auto).or_else(|| parse(text, Syntax::Clf))
}

/// CloudFront's `date` (`2019-12-04`) and `time` (`21:02:31`) columns, UTC.
pub fn date_and_time(date: &str, time: &str) -> Option<DateTime<Utc>> {
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let time = chrono::NaiveTime::parse_from_str(time, "%H:%M:%S").ok()?;
    Some(NaiveDateTime::new(date, time).and_utc())
}

/// An RFC 3164 `TIMESTAMP` (`Oct 11 22:14:15`, `Oct  1 02:03:04`): no year and no zone. Read as
/// UTC in the year that puts it closest before `reference` (at most a day ahead of it, so a
/// December line read in January lands in the previous year).
pub fn bsd(text: &str, reference: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if text.len() != 15 {
        return None;
    }
    let at = |year: i32| {
        NaiveDateTime::parse_from_str(&format!("{year} {text}"), "%Y %b %e %H:%M:%S")
            .ok()
            .map(|t| t.and_utc())
    };
    let year = reference.year();
    let this = at(year).or_else(|| at(year - 1))?;
    if this > reference + chrono::Duration::days(1) {
        at(year - 1)
    } else {
        Some(this)
    }
}

/// The text written for a parsed time: RFC 3339 in UTC, sub-seconds kept as given.
pub fn write(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_syntax_reads_into_utc() {
        let utc = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .ok()
        };
        assert_eq!(
            parse("10/Oct/2000:13:55:36 -0700", Syntax::Clf),
            utc("2000-10-10T20:55:36Z")
        );
        assert_eq!(
            parse("2018-07-02T22:23:00.186641Z", Syntax::Rfc3339).map(write),
            Some("2018-07-02T22:23:00.186641Z".into())
        );
        assert_eq!(
            parse("1418530010", Syntax::EpochSeconds),
            utc("2014-12-14T04:06:50Z")
        );
        assert_eq!(
            date_and_time("2019-12-04", "21:02:31"),
            utc("2019-12-04T21:02:31Z")
        );
        assert_eq!(parse("10/Oct/2000:13:55", Syntax::Clf), None);
        assert_eq!(
            parse_any("10/Oct/2000:13:55:36 +0000"),
            utc("2000-10-10T13:55:36Z")
        );
    }

    #[test]
    fn bsd_times_take_the_year_of_their_reference() {
        let reference = Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).single();
        let reference = reference.unwrap_or_default();
        assert_eq!(
            bsd("Dec 31 23:59:59", reference).map(write),
            Some("2025-12-31T23:59:59Z".into())
        );
        assert_eq!(
            bsd("Jan  1 02:03:04", reference).map(write),
            Some("2026-01-01T02:03:04Z".into())
        );
        assert_eq!(bsd("Jan 1 02:03", reference), None);
    }
}
