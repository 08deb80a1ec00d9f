//! Timestamps: reading them per the spec's `time_format`, writing them in the curated form
//! (`YYYY-MM-DD HH:MM:SS.ffffff`, UTC, which Redshift COPY, PostgreSQL and Athena all read).

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde_json::Value;

use crate::spec::TimeFormat;

/// Epoch numbers at or above this are milliseconds (10^11 s is the year 5138).
const MILLIS_THRESHOLD: f64 = 1e11;

/// Read a timestamp value. Strings: RFC 3339 with any offset (converted to UTC), or
/// `YYYY-MM-DD[ T]HH:MM:SS[.f]` without offset (taken as UTC), or digits (epoch). Numbers: epoch.
pub fn parse(value: &Value, format: TimeFormat) -> Option<DateTime<Utc>> {
    match value {
        Value::Number(n) => from_epoch(n.as_f64()?, format),
        Value::String(s) => parse_str(s.trim(), format),
        _ => None,
    }
}

/// Read a timestamp from text (a TSV field, a JSON string).
pub fn parse_str(s: &str, format: TimeFormat) -> Option<DateTime<Utc>> {
    let numeric = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-');
    match format {
        TimeFormat::EpochSeconds | TimeFormat::EpochMillis => from_epoch(s.parse().ok()?, format),
        TimeFormat::Rfc3339 => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        TimeFormat::Auto if numeric && !s.contains('-') => from_epoch(s.parse().ok()?, format),
        TimeFormat::Auto => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%#z")
                    .ok()
                    .map(|t| t.with_timezone(&Utc))
            })
            .or_else(|| {
                ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
                    .iter()
                    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
                    .map(|n| n.and_utc())
            }),
    }
}

fn from_epoch(n: f64, format: TimeFormat) -> Option<DateTime<Utc>> {
    epoch(n, format).ok()
}

/// Epoch time: seconds or milliseconds as `format` says (`Auto`: milliseconds from 10^11 up,
/// seconds below — no real timestamp is ambiguous).
pub fn epoch(n: f64, format: TimeFormat) -> Result<DateTime<Utc>, &'static str> {
    let millis = match format {
        TimeFormat::EpochMillis => n,
        TimeFormat::EpochSeconds => n * 1000.0,
        TimeFormat::Auto | TimeFormat::Rfc3339 if n.abs() >= MILLIS_THRESHOLD => n,
        TimeFormat::Auto | TimeFormat::Rfc3339 => n * 1000.0,
    };
    // ±8·10^15 ms is ±250,000 years: beyond any real timestamp, within exact f64 integers.
    if !millis.is_finite() || millis.abs() > 8.0e15 {
        return Err("out of range");
    }
    DateTime::from_timestamp_millis(millis.round() as i64).ok_or("out of range")
}

/// Text that is epoch time (digits and a dot, read as [`epoch`] reads numbers) or RFC 3339: the
/// stamps AWS payloads and DLQ bodies carry.
pub fn epoch_or_rfc3339(s: &str, format: TimeFormat) -> Result<DateTime<Utc>, &'static str> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        epoch(s.parse().map_err(|_| "not a number")?, format)
    } else {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| "neither epoch time nor RFC 3339")
    }
}

/// The curated form: `2020-06-01 00:00:24.000000`.
pub fn curated(t: DateTime<Utc>) -> String {
    let mut out = Vec::with_capacity(CURATED_LEN);
    push_curated(&mut out, t);
    String::from_utf8(out).unwrap_or_else(|_| curated_by_chrono(t))
}

/// Bytes of the curated form for years 0–9999.
pub const CURATED_LEN: usize = 26;

/// Append the curated form of `t` to `out`, as [`curated`] returns it, without a format string
/// or an allocation: transform writes it for every row (a third of its time went to chrono's
/// `format` before). Years outside 0–9999 and leap seconds take chrono's formatter.
pub fn push_curated(out: &mut Vec<u8>, t: DateTime<Utc>) {
    match fill(*b"0000-00-00 00:00:00.000000", t, 6) {
        Some(buf) => out.extend_from_slice(&buf),
        None => out.extend_from_slice(curated_by_chrono(t).as_bytes()),
    }
}

/// `template` (`YYYY-MM-DD?HH:MM:SS.` and `frac_digits` of fraction, then anything) with `t`'s
/// fields written in; `None` for a year outside 0–9999 or a leap second, which chrono writes.
fn fill<const N: usize>(mut buf: [u8; N], t: DateTime<Utc>, frac_digits: u32) -> Option<[u8; N]> {
    use chrono::{Datelike, Timelike};
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = Some(t.nanosecond()).filter(|n| *n < 1_000_000_000)?;
    let fields = [
        (0, 4, year),
        (5, 2, t.month()),
        (8, 2, t.day()),
        (11, 2, t.hour()),
        (14, 2, t.minute()),
        (17, 2, t.second()),
        (
            20,
            frac_digits,
            nanos / 10u32.pow(9u32.saturating_sub(frac_digits)),
        ),
    ];
    for (at, width, mut n) in fields {
        for slot in buf.iter_mut().skip(at).take(width as usize).rev() {
            // `n % 10` is a digit: the cast cannot truncate.
            *slot = b'0' + (n % 10) as u8;
            n /= 10;
        }
    }
    Some(buf)
}

/// [`rfc3339`] of an instant, written on the stack when it can be: ingest stamps every record's
/// raw lines with one.
#[derive(Debug, Clone)]
pub struct Rfc3339Millis(Stamp);

#[derive(Debug, Clone)]
enum Stamp {
    Fast([u8; 24]),
    Chrono(String),
}

impl Rfc3339Millis {
    pub fn of(t: DateTime<Utc>) -> Self {
        Rfc3339Millis(match fill(*b"0000-00-00T00:00:00.000Z", t, 3) {
            Some(buf) => Stamp::Fast(buf),
            None => Stamp::Chrono(t.to_rfc3339_opts(SecondsFormat::Millis, true)),
        })
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            // ASCII digits and punctuation: always UTF-8.
            Stamp::Fast(buf) => std::str::from_utf8(buf).unwrap_or_default(),
            Stamp::Chrono(s) => s,
        }
    }
}

fn curated_by_chrono(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

/// A timestamp as a SQL engine prints one, `YYYY-MM-DD HH:MM:SS[.f]` in UTC (the inverse of
/// [`curated`], lenient about the fraction).
pub fn parse_sql(s: &str) -> Option<DateTime<Utc>> {
    chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

/// RFC 3339 with milliseconds and `Z`: log lines, reject records, raw `arrived_at`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    Rfc3339Millis::of(t).as_str().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_fast_curated_form_is_chrono_s() {
        let mut n: i64 = 0x2545_f491_4f6c_dd1d;
        let mut stamps: Vec<DateTime<Utc>> =
            ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"]
                .iter()
                .filter_map(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc))
                .collect();
        for _ in 0..10_000 {
            // xorshift: instants from year 1 to 9999, any microsecond.
            n ^= n << 13;
            n ^= n >> 7;
            n ^= n << 17;
            let micros = n.rem_euclid(253_402_300_799_999_999) - 62_135_596_800_000_000;
            stamps.extend(DateTime::from_timestamp_micros(micros));
        }
        assert!(stamps.len() > 10_000);
        for t in stamps {
            assert_eq!(curated(t), curated_by_chrono(t), "{t:?}");
            let chrono = t.to_rfc3339_opts(SecondsFormat::Millis, true);
            assert_eq!(rfc3339(t), chrono, "{t:?}");
        }
        // Outside 0–9999 and on a leap second, chrono's formatter writes it.
        let far = DateTime::from_timestamp(300_000_000_000, 0).unwrap_or_default();
        assert_eq!(curated(far), curated_by_chrono(far));
        assert_eq!(
            rfc3339(far),
            far.to_rfc3339_opts(SecondsFormat::Millis, true)
        );
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_micro_opt(23, 59, 59, 1_500_000))
            .map(|n| n.and_utc());
        assert_eq!(
            leap.map(curated).as_deref(),
            Some("2016-12-31 23:59:60.500000")
        );
        assert_eq!(
            leap.map(rfc3339).as_deref(),
            Some("2016-12-31T23:59:60.500Z")
        );
    }

    #[test]
    fn parses_every_documented_form() {
        let want = "2020-06-01 00:00:24.000000";
        let cases = [
            (json!("2020-06-01 00:00:24.000000"), TimeFormat::Auto),
            (json!("2020-06-01T00:00:24Z"), TimeFormat::Auto),
            (json!("2020-06-01T02:00:24+02:00"), TimeFormat::Auto),
            (json!("2020-06-01T00:00:24"), TimeFormat::Auto),
            (json!(1590969624), TimeFormat::Auto),
            (json!(1590969624000_i64), TimeFormat::Auto),
            (json!("1590969624"), TimeFormat::EpochSeconds),
            (json!("1590969624000"), TimeFormat::EpochMillis),
            (json!("2020-06-01T00:00:24.000Z"), TimeFormat::Rfc3339),
        ];
        for (value, format) in cases {
            assert_eq!(
                parse(&value, format).map(curated).as_deref(),
                Some(want),
                "{value} {format:?}"
            );
        }
        for bad in [
            json!("yesterday"),
            json!(""),
            json!(null),
            json!(true),
            json!("2020-13-01 00:00:00"),
            json!(1e300),
        ] {
            assert_eq!(parse(&bad, TimeFormat::Auto), None, "{bad}");
        }
    }
}
