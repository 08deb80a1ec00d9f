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
        TimeFormat::Auto => naive_utc(s).or_else(|| by_chrono(s)),
    }
}

/// An `Auto` timestamp string by chrono: RFC 3339, then `YYYY-MM-DD HH:MM:SS[.f]` with an offset,
/// then without one (UTC), with a space or a `T`.
fn by_chrono(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .or_else(|| DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%#z").ok())
        .map(|t| t.with_timezone(&Utc))
        .or_else(|| {
            ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
                .map(|n| n.and_utc())
        })
}

/// `YYYY-MM-DD HH:MM:SS`, with `T` or a space between date and time, an optional fraction of 1
/// to 9 digits and, after a `T`, an optional `Z`: read by hand, as UTC. Nearly every producer
/// writes one of these shapes, and chrono's format-string parser, tried after RFC 3339 failed,
/// was 6.6 % of transform on such stamps. `None` for any other text (and for a leap second),
/// which chrono reads as before: what this reads, chrono reads to the same instant.
fn naive_utc(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<u32> {
        b.get(from..from + len)?.iter().try_fold(0u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let separator = *b.get(10)?;
    let punctuation = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if !matches!(separator, b' ' | b'T') || punctuation.iter().any(|&(i, c)| b.get(i) != Some(&c)) {
        return None;
    }
    let rest = b.get(19..)?;
    let rest = match rest {
        [head @ .., b'Z'] if separator == b'T' => head,
        _ => rest,
    };
    let nanos = match rest {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            num(20, digits.len())? * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let date =
        chrono::NaiveDate::from_ymd_opt(i32::try_from(num(0, 4)?).ok()?, num(5, 2)?, num(8, 2)?)?;
    // chrono refuses second 60 here (its parser makes a leap second of it): chrono reads those.
    Some(
        date.and_hms_nano_opt(num(11, 2)?, num(14, 2)?, num(17, 2)?, nanos)?
            .and_utc(),
    )
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
    let s = s.trim();
    match naive_utc(s) {
        Some(t) if s.as_bytes().get(10) == Some(&b' ') => Some(t),
        _ => chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
            .ok()
            .map(|t| t.and_utc()),
    }
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
    fn stamps_read_by_hand_are_read_as_chrono_reads_them() {
        for s in [
            "1970-01-01 00:00:00.000001",
            "2020-06-01 00:00:24.123456",
            "2020-06-01 00:00:24",
            "2020-06-01T00:00:24",
            "2020-06-01T00:00:24Z",
            "2020-06-01T00:00:24.1Z",
            "2020-06-01T23:59:59.999999999",
            "2020-02-29 12:00:00.5",
            "0000-01-01 00:00:00",
            "9999-12-31 23:59:59.999999",
        ] {
            assert!(naive_utc(s).is_some(), "{s}");
            assert_eq!(naive_utc(s), by_chrono(s), "{s}");
            assert_eq!(parse_str(s, TimeFormat::Auto), by_chrono(s), "{s}");
        }
        // Left to chrono: no such day or time, a leap second, an offset, a space before `Z`,
        // ten fraction digits, unpadded fields, other case.
        for s in [
            "2021-02-29 00:00:00",
            "2020-06-01 24:00:00",
            "2020-06-01 00:00:60",
            "2020-06-01T00:00:24+01:00",
            "2020-06-01 00:00:24Z",
            "2020-06-01T00:00:24z",
            "2020-06-01 00:00:24.",
            "2020-06-01 00:00:24.1234567891",
            "2020-6-01 00:00:24",
            "2020-06-01t00:00:24",
            "+2020-06-01 00:00:24",
        ] {
            assert_eq!(naive_utc(s), None, "{s}");
        }
        let s = "2020-06-01T00:00:24+01:00";
        assert_eq!(parse_str(s, TimeFormat::Auto), by_chrono(s));
        assert!(by_chrono(s).is_some());
    }

    /// Stamps changed at random, a character at a time: whatever is read by hand, chrono reads
    /// to the same instant.
    #[test]
    fn whatever_is_read_by_hand_chrono_reads_the_same() {
        let seeds = [
            "2020-06-01 00:00:24.123456",
            "1999-12-31T23:59:59Z",
            "2024-02-29 09:05:07",
        ];
        let alphabet: Vec<char> = "0123456789-:. TZz+".chars().collect();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |below: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % below as u64) as usize
        };
        let mut by_hand = 0;
        for _ in 0..50_000 {
            let mut chars: Vec<char> = seeds[next(seeds.len())].chars().collect();
            let at = next(chars.len());
            match next(3) {
                0 => {
                    chars.remove(at);
                }
                1 => chars.insert(at, alphabet[next(alphabet.len())]),
                _ => chars[at] = alphabet[next(alphabet.len())],
            }
            let s: String = chars.into_iter().collect();
            if let Some(t) = naive_utc(&s) {
                assert_eq!(Some(t), by_chrono(&s), "{s}");
                by_hand += 1;
            }
        }
        assert!(by_hand > 5_000, "{by_hand}");
    }

    #[test]
    fn curated_stamps_are_read_back_exactly() {
        let micros = |s: &str| parse_sql(s).map(|t| t.timestamp_micros());
        assert_eq!(micros("1970-01-01 00:00:00.000001"), Some(1));
        assert_eq!(
            micros("2020-06-01 00:00:24.123456"),
            Some(1_590_969_624_123_456)
        );
        assert_eq!(micros("2020-02-30 00:00:24.123456"), None, "no such day");
        assert_eq!(
            micros("2020-06-01T00:00:24.123456"),
            None,
            "not SQL's shape"
        );
        assert_eq!(micros(" 2020-06-01 00:00:24 "), Some(1_590_969_624_000_000));
    }

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
