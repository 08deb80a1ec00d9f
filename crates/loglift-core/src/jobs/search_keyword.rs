//! Seed 003: revenue per external search engine domain and search keyword, from hit-level data.
//!
//! Data flow: each hit ([`SearchKeywordRevenue::observe`]) is classified as a purchase (its
//! `event_list` holds the token `1`; revenue = the sum of the 4th `;`-field of each
//! `product_list` product, in exact micro-units) and/or a search touch (a `referrer` on another
//! host than `page_url` whose query carries `q=`, or `p=` on Yahoo). Per visitor (`ip`) only its
//! touches (time, line, domain+keyword id) and purchases (time, line, revenue) are kept; hits
//! that are neither leave no state, so memory grows with visitors, touches and purchases, never
//! with the file size. At [`JobRun::finish`] each visitor's touches are sorted by
//! (`hit_time_gmt`, line) and every purchase is credited to the latest (last touch) or earliest
//! (first touch) touch at or before it, so an unsorted file gives the exact answer.
//!
//! Keywords are form-decoded (`+` is a space), tabs and line breaks become spaces, then they are
//! trimmed and lowercased: `iPod` and `ipod` are one keyword, reported as `ipod`. The engine
//! domain is the referrer host's registrable domain by the Public Suffix List (an IP address, or
//! a host without one, stays as it is).

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::net::IpAddr;

use serde_json::{json, Map, Value};

use super::{text_of, JobContext, JobFile, JobOutput, JobRun};
use crate::spec::Attribution;

/// The job's kind in the spec.
pub const KIND: &str = "search_keyword_revenue";
/// The report's header line.
pub const HEADER: &str = "Search Engine Domain\tSearch Keyword\tRevenue";
/// The report's content type.
pub const CONTENT_TYPE: &str = "text/tab-separated-values";

/// Micro-units per currency unit.
const MICROS: i128 = 1_000_000;

/// A search touch: when, where in the file, and which (domain, keyword).
#[derive(Debug, Clone, Copy)]
struct Touch {
    time: i64,
    line: u64,
    key: usize,
}

/// A purchase: when, where in the file, and its revenue in micro-units.
#[derive(Debug, Clone, Copy)]
struct Purchase {
    time: i64,
    line: u64,
    micros: i128,
}

#[derive(Debug, Default)]
struct Visitor {
    touches: Vec<Touch>,
    purchases: Vec<Purchase>,
}

/// One run of `search_keyword_revenue` over one hit file.
#[derive(Debug)]
pub struct SearchKeywordRevenue {
    attribution: Attribution,
    hits: u64,
    purchases: u64,
    search_touches: u64,
    bad_revenue_values: u64,
    /// Hits without a parsable `hit_time_gmt` or an `ip`: they cannot be placed in time.
    unusable_hits: u64,
    visitors: HashMap<String, Visitor>,
    /// Interned (engine domain, keyword) pairs.
    keys: Vec<(String, String)>,
    key_ids: HashMap<(String, String), usize>,
}

impl SearchKeywordRevenue {
    pub fn new(attribution: Attribution) -> Self {
        SearchKeywordRevenue {
            attribution,
            hits: 0,
            purchases: 0,
            search_touches: 0,
            bad_revenue_values: 0,
            unusable_hits: 0,
            visitors: HashMap::new(),
            keys: Vec::new(),
            key_ids: HashMap::new(),
        }
    }

    fn intern(&mut self, key: (String, String)) -> usize {
        match self.key_ids.entry(key) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                let id = self.keys.len();
                self.keys.push(e.key().clone());
                e.insert(id);
                id
            }
        }
    }
}

impl JobRun for SearchKeywordRevenue {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn observe(&mut self, row: &Map<String, Value>, line: u64) {
        self.hits += 1;
        let time = text_of(row.get("hit_time_gmt")).and_then(|t| t.trim().parse::<i64>().ok());
        let ip = text_of(row.get("ip")).map(|ip| ip.trim().to_owned());
        let (Some(time), Some(ip)) = (time, ip.filter(|ip| !ip.is_empty())) else {
            self.unusable_hits += 1;
            return;
        };
        let purchase = text_of(row.get("event_list"))
            .is_some_and(|events| is_purchase(&events))
            .then(|| {
                let products = text_of(row.get("product_list")).unwrap_or_default();
                product_revenue(&products)
            });
        let touch = search_touch(
            text_of(row.get("referrer")).as_deref().unwrap_or(""),
            text_of(row.get("page_url")).as_deref().unwrap_or(""),
        );
        if purchase.is_none() && touch.is_none() {
            return;
        }
        let touch = touch.map(|t| self.intern(t));
        let visitor = self.visitors.entry(ip).or_default();
        if let Some(key) = touch {
            visitor.touches.push(Touch { time, line, key });
            self.search_touches += 1;
        }
        if let Some(revenue) = purchase {
            visitor.purchases.push(Purchase {
                time,
                line,
                micros: revenue.micros,
            });
            self.purchases += 1;
            self.bad_revenue_values += revenue.bad_values;
        }
    }

    fn finish(mut self: Box<Self>, ctx: &JobContext) -> JobOutput {
        let mut totals: Vec<Option<i128>> = vec![None; self.keys.len()];
        let (mut attributed, mut attributed_micros) = (0u64, 0i128);
        let (mut unattributed, mut unattributed_micros) = (0u64, 0i128);
        for visitor in self.visitors.values_mut() {
            visitor.touches.sort_by_key(|t| (t.time, t.line));
            for p in &visitor.purchases {
                let before = visitor
                    .touches
                    .partition_point(|t| (t.time, t.line) <= (p.time, p.line));
                let credited = match self.attribution {
                    _ if before == 0 => None,
                    Attribution::LastTouch => visitor.touches.get(before - 1),
                    Attribution::FirstTouch => visitor.touches.first(),
                };
                match credited.and_then(|t| totals.get_mut(t.key)) {
                    Some(total) => {
                        *total = Some(total.unwrap_or(0).saturating_add(p.micros));
                        attributed += 1;
                        attributed_micros = attributed_micros.saturating_add(p.micros);
                    }
                    None => {
                        unattributed += 1;
                        unattributed_micros = unattributed_micros.saturating_add(p.micros);
                    }
                }
            }
        }
        let mut rows: Vec<(i128, &str, &str)> = self
            .keys
            .iter()
            .zip(&totals)
            .filter_map(|((domain, keyword), total)| {
                total.map(|micros| (round_to_cents(micros), domain.as_str(), keyword.as_str()))
            })
            .collect();
        rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)).then(a.2.cmp(b.2)));
        let mut text = String::with_capacity(64 * (rows.len() + 1));
        text.push_str(HEADER);
        text.push('\n');
        for (cents, domain, keyword) in &rows {
            text.push_str(&format!("{domain}\t{keyword}\t{}\n", format_cents(*cents)));
        }
        let summary = json!({
            "attribution": match self.attribution {
                Attribution::LastTouch => "last_touch",
                Attribution::FirstTouch => "first_touch",
            },
            "hits": self.hits,
            "purchases": self.purchases,
            "attributed_purchases": attributed,
            "attributed_revenue": format_cents(round_to_cents(attributed_micros)),
            "unattributed_purchases": unattributed,
            "unattributed_revenue": format_cents(round_to_cents(unattributed_micros)),
            "visitors": self.visitors.len(),
            "search_touches": self.search_touches,
            "bad_revenue_values": self.bad_revenue_values,
            "unusable_hits": self.unusable_hits,
            "rows": rows.len(),
        });
        JobOutput {
            files: vec![JobFile {
                path: format!(
                    "source={}/{}_SearchKeywordPerformance.tab",
                    ctx.source_id,
                    ctx.run_date.format("%Y-%m-%d")
                ),
                content_type: CONTENT_TYPE,
                bytes: text.into_bytes(),
            }],
            summary,
        }
    }
}

/// Whether an `event_list` holds the purchase event: `1` as a whole comma-separated token
/// (tokens trimmed), so `2,1` is a purchase and `11` or `10,12` are not.
pub fn is_purchase(event_list: &str) -> bool {
    event_list.split(',').any(|token| token.trim() == "1")
}

/// A purchase's revenue and how many revenue fields could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revenue {
    pub micros: i128,
    pub bad_values: u64,
}

/// The revenue of a `product_list`: over its `,`-separated products, the sum of the 4th
/// `;`-separated field (Category;Product Name;Number of Items;Total Revenue;…). An empty or
/// missing field is 0; an unparsable one is 0 and counted in [`Revenue::bad_values`].
pub fn product_revenue(product_list: &str) -> Revenue {
    let mut revenue = Revenue {
        micros: 0,
        bad_values: 0,
    };
    for product in product_list.split(',') {
        let field = product.split(';').nth(3).unwrap_or("").trim();
        if field.is_empty() {
            continue;
        }
        match parse_micros(field) {
            Some(m) => revenue.micros = revenue.micros.saturating_add(m),
            None => revenue.bad_values += 1,
        }
    }
    revenue
}

/// A plain decimal (`12`, `-3.5`, `.25`, `+7.`) in micro-units. Digits past the sixth decimal
/// round half away from zero. `None` for anything else (exponents, separators, symbols).
pub fn parse_micros(text: &str) -> Option<i128> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let mut value: i128 = 0;
    for b in int.bytes() {
        value = value.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    value = value.checked_mul(MICROS)?;
    let mut frac_digits = frac.bytes();
    let mut scale = MICROS / 10;
    for b in frac_digits.by_ref().take(6) {
        value = value.checked_add(i128::from(b - b'0') * scale)?;
        scale /= 10;
    }
    if frac_digits.next().is_some_and(|b| b >= b'5') {
        value = value.checked_add(1)?;
    }
    Some(if negative { -value } else { value })
}

/// Micro-units to cents, half away from zero.
pub fn round_to_cents(micros: i128) -> i128 {
    let unit = MICROS / 100;
    let (q, r) = (micros / unit, micros % unit);
    if r.abs() * 2 >= unit {
        q + micros.signum()
    } else {
        q
    }
}

/// Cents as text with exactly two decimals: `12345` → `123.45`, `-5` → `-0.05`.
pub fn format_cents(cents: i128) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// The search touch a hit carries, as (engine domain, keyword): the referrer's host differs from
/// the page's and its query has a non-empty `q` (or, on Yahoo, `p`, then `q`) keyword.
pub fn search_touch(referrer: &str, page_url: &str) -> Option<(String, String)> {
    let (ref_host, query) = split_url(referrer)?;
    if split_url(page_url).is_some_and(|(page_host, _)| page_host == ref_host) {
        return None;
    }
    let query = query?;
    let domain = engine_domain(&ref_host);
    let yahoo = domain.split('.').next() == Some("yahoo");
    let keyword = |name: &str| {
        form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| k == name)
            .map(|(_, v)| normalize_keyword(&v))
            .find(|v| !v.is_empty())
    };
    let keyword = if yahoo {
        keyword("p").or_else(|| keyword("q"))
    } else {
        keyword("q")
    }?;
    Some((domain, keyword))
}

/// A keyword as reported: tabs and line breaks as spaces, trimmed, lowercased.
fn normalize_keyword(raw: &str) -> String {
    let spaced: String = raw
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    spaced.trim().to_lowercase()
}

/// The registrable domain of a (lowercase) host by the Public Suffix List: `www.google.co.uk` →
/// `google.co.uk`. An IP address, or a host without a registrable domain, is returned as is.
pub fn engine_domain(host: &str) -> String {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_ok() {
        return host.to_owned();
    }
    psl::domain_str(host).unwrap_or(host).to_owned()
}

/// A URL's host (lowercased, without user info, port or trailing dot) and its query, if any.
/// Accepts `scheme://host/…`, `//host/…` and a bare `host/…`. `None` when there is no host.
fn split_url(url: &str) -> Option<(String, Option<&str>)> {
    let url = url.trim();
    let is_scheme = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    };
    let rest = match url.split_once("://") {
        Some((scheme, rest)) if is_scheme(scheme) => rest,
        _ => url.strip_prefix("//").unwrap_or(url),
    };
    let rest = rest.split('#').next().unwrap_or("");
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = if host_port.starts_with('[') {
        // IPv6 literal: keep the brackets, drop a port after them.
        match host_port.find(']') {
            Some(end) => host_port.get(..=end).unwrap_or(host_port),
            None => host_port,
        }
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() {
        None
    } else {
        Some((host, query))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn ctx() -> JobContext {
        JobContext {
            pipeline: "hit_data".into(),
            source_id: "00112233445566778899".into(),
            source_date: NaiveDate::from_ymd_opt(2009, 9, 27).unwrap(),
            run_date: NaiveDate::from_ymd_opt(2026, 3, 4).unwrap(),
        }
    }

    fn hit(
        time: &str,
        ip: &str,
        events: &str,
        page: &str,
        products: &str,
        referrer: &str,
    ) -> Map<String, Value> {
        [
            ("hit_time_gmt", time),
            ("ip", ip),
            ("event_list", events),
            ("page_url", page),
            ("product_list", products),
            ("referrer", referrer),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
        .collect()
    }

    /// Rows of a TSV text (header line first) with their 1-based line numbers.
    fn tsv_rows(text: &str) -> Vec<(Map<String, Value>, u64)> {
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
        lines
            .enumerate()
            .map(|(i, line)| {
                let fields: Vec<&str> = line.split('\t').collect();
                assert_eq!(fields.len(), header.len(), "line {}: {line:?}", i + 2);
                let row = header
                    .iter()
                    .zip(fields)
                    .map(|(h, v)| ((*h).to_owned(), Value::String(v.to_owned())))
                    .collect();
                (row, i as u64 + 2)
            })
            .collect()
    }

    fn run(attribution: Attribution, rows: &[(Map<String, Value>, u64)]) -> JobOutput {
        let mut job: Box<dyn JobRun> = Box::new(SearchKeywordRevenue::new(attribution));
        for (row, line) in rows {
            job.observe(row, *line);
        }
        job.finish(&ctx())
    }

    fn report(out: &JobOutput) -> String {
        assert_eq!(out.files.len(), 1);
        String::from_utf8(out.files[0].bytes.clone()).unwrap()
    }

    const PAGE: &str = "http://www.esshopzilla.com/cart/";

    #[test]
    fn purchase_is_the_whole_token_1() {
        let cases = [
            ("1", true),
            ("2,1", true),
            (" 1 ", true),
            ("12, 1 ,2", true),
            ("1,", true),
            ("11", false),
            ("10,12", false),
            ("", false),
            ("2", false),
            ("01", false),
            ("1.0", false),
        ];
        for (events, want) in cases {
            assert_eq!(is_purchase(events), want, "event_list {events:?}");
        }
    }

    #[test]
    fn revenue_sums_the_fourth_field_exactly() {
        let cases = [
            ("Electronics;Ipod;1;190;", 190_000_000, 0),
            ("Electronics;Ipod;1;190", 190_000_000, 0),
            ("A;B;1;49.99;,A;C;1;;,A;D;2;20.01;", 70_000_000, 0),
            ("A;B;1", 0, 0),
            ("", 0, 0),
            ("A;B;1; 12.5 ;x;y", 12_500_000, 0),
            ("A;B;1;abc;,A;C;1;9.99;", 9_990_000, 1),
            ("A;B;1;1e3;", 0, 1),
            ("A;B;1;1,5;", 1_000_000, 0), // the comma separates products: `5;` has no 4th field
            ("A;B;1;0.1;,A;B;1;0.2;", 300_000, 0),
            ("A;B;1;-5.25;", -5_250_000, 0),
        ];
        for (products, micros, bad) in cases {
            assert_eq!(
                product_revenue(products),
                Revenue {
                    micros,
                    bad_values: bad
                },
                "product_list {products:?}"
            );
        }
    }

    #[test]
    fn decimals_parse_to_micro_units() {
        let cases = [
            ("0", Some(0)),
            ("12", Some(12_000_000)),
            ("230.005", Some(230_005_000)),
            (".25", Some(250_000)),
            ("7.", Some(7_000_000)),
            ("+1.5", Some(1_500_000)),
            ("-0.000001", Some(-1)),
            ("0.0000005", Some(1)),
            ("0.0000004", Some(0)),
            ("1.", Some(1_000_000)),
            (".", None),
            ("", None),
            ("-", None),
            ("1.2.3", None),
            ("$5", None),
            ("1 000", None),
            ("NaN", None),
            ("99999999999999999999999999999999999999999", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_micros(text), want, "decimal {text:?}");
        }
    }

    #[test]
    fn cents_round_half_away_from_zero() {
        let cases = [
            (230_005_000, "230.01"),
            (230_004_999, "230.00"),
            (-230_005_000, "-230.01"),
            (-4_999, "0.00"),
            (-5_000, "-0.01"),
            (0, "0.00"),
            (1_035_445_000, "1035.45"),
            (5_000_000, "5.00"),
        ];
        for (micros, want) in cases {
            assert_eq!(
                format_cents(round_to_cents(micros)),
                want,
                "{micros} micro-units"
            );
        }
    }

    #[test]
    fn engine_domains_follow_the_public_suffix_list() {
        let cases = [
            ("www.google.com", "google.com"),
            ("search.yahoo.com", "yahoo.com"),
            ("www.google.co.uk", "google.co.uk"),
            ("www.bing.com", "bing.com"),
            ("google.com", "google.com"),
            ("a.b.search.yahoo.co.jp", "yahoo.co.jp"),
            ("192.168.1.10", "192.168.1.10"),
            ("[::1]", "[::1]"),
            ("localhost", "localhost"),
            ("co.uk", "co.uk"),
        ];
        for (host, want) in cases {
            assert_eq!(engine_domain(host), want, "host {host:?}");
        }
    }

    #[test]
    fn search_touches_need_an_external_referrer_with_a_keyword() {
        let some = |d: &str, k: &str| Some((d.to_owned(), k.to_owned()));
        let cases = [
            (
                "http://www.google.com/search?hl=en&q=Ipod&aq=f",
                PAGE,
                some("google.com", "ipod"),
            ),
            (
                "http://www.bing.com/search?q=iPod+Nano&go=",
                PAGE,
                some("bing.com", "ipod nano"),
            ),
            (
                "https://www.google.co.uk/search?q=Zune%20HD",
                PAGE,
                some("google.co.uk", "zune hd"),
            ),
            (
                "http://search.yahoo.com/search?p=cd+player",
                PAGE,
                some("yahoo.com", "cd player"),
            ),
            (
                "http://search.yahoo.com/search?q=cd",
                PAGE,
                some("yahoo.com", "cd"),
            ),
            (
                "http://search.yahoo.com/search?q=cd&p=dvd",
                PAGE,
                some("yahoo.com", "dvd"),
            ),
            ("http://www.bing.com/search?p=ipod", PAGE, None),
            ("http://www.google.com/search?q=", PAGE, None),
            ("http://www.google.com/search?q=%20+%20", PAGE, None),
            (
                "http://www.google.com/search?q=&q=second",
                PAGE,
                some("google.com", "second"),
            ),
            (
                "http://www.google.com/search?q=a%2Bb",
                PAGE,
                some("google.com", "a+b"),
            ),
            (
                "http://www.google.com/search?q=tab%09here",
                PAGE,
                some("google.com", "tab here"),
            ),
            (
                "http://WWW.Google.COM:80/search?q=X",
                PAGE,
                some("google.com", "x"),
            ),
            ("http://www.google.com/search#q=fragment", PAGE, None),
            ("http://www.google.com/", PAGE, None),
            ("http://www.esshopzilla.com/search/?q=ipod", PAGE, None),
            ("http://WWW.ESSHOPZILLA.COM/search/?q=ipod", PAGE, None),
            (
                "http://esshopzilla.com/search/?q=ipod",
                PAGE,
                some("esshopzilla.com", "ipod"),
            ),
            (
                "http://192.168.1.10:8080/s?q=Widgets",
                PAGE,
                some("192.168.1.10", "widgets"),
            ),
            (
                "http://www.google.com/search?q=ipod",
                "",
                some("google.com", "ipod"),
            ),
            ("", PAGE, None),
            ("not a url", PAGE, None),
        ];
        for (referrer, page, want) in cases {
            assert_eq!(
                search_touch(referrer, page),
                want,
                "referrer {referrer:?} page {page:?}"
            );
        }
    }

    #[test]
    fn attribution_picks_the_touch_at_or_before_the_purchase() {
        let g = "http://www.google.com/search?q=first";
        let b = "http://www.bing.com/search?q=second";
        let y = "http://search.yahoo.com/search?p=later";
        // In file order: purchase at t=200, a later touch at t=300, two earlier touches out of order.
        let rows = vec![
            (hit("200", "v", "1", PAGE, "A;B;1;10;", ""), 2),
            (hit("300", "v", "", PAGE, "", y), 3),
            (hit("150", "v", "", PAGE, "", b), 4),
            (hit("100", "v", "", PAGE, "", g), 5),
        ];
        let last = report(&run(Attribution::LastTouch, &rows));
        assert_eq!(last, format!("{HEADER}\nbing.com\tsecond\t10.00\n"));
        let first = report(&run(Attribution::FirstTouch, &rows));
        assert_eq!(first, format!("{HEADER}\ngoogle.com\tfirst\t10.00\n"));
    }

    #[test]
    fn equal_times_are_ordered_by_line() {
        let g = "http://www.google.com/search?q=before";
        let b = "http://www.bing.com/search?q=after";
        let rows = vec![
            (hit("100", "v", "", PAGE, "", g), 2),
            (hit("100", "v", "1", PAGE, "A;B;1;5;", ""), 3),
            (hit("100", "v", "", PAGE, "", b), 4),
        ];
        let out = run(Attribution::LastTouch, &rows);
        assert_eq!(
            report(&out),
            format!("{HEADER}\ngoogle.com\tbefore\t5.00\n")
        );
        // The purchase hit's own referrer counts: it is at the purchase.
        let rows = vec![
            (hit("100", "v", "", PAGE, "", g), 2),
            (hit("100", "v", "1", PAGE, "A;B;1;5;", b), 3),
        ];
        let out = run(Attribution::LastTouch, &rows);
        assert_eq!(report(&out), format!("{HEADER}\nbing.com\tafter\t5.00\n"));
    }

    #[test]
    fn visitors_do_not_share_touches() {
        let rows = vec![
            (
                hit("100", "a", "", PAGE, "", "http://www.google.com/search?q=x"),
                2,
            ),
            (hit("200", "b", "1", PAGE, "A;B;1;7;", ""), 3),
        ];
        let out = run(Attribution::LastTouch, &rows);
        assert_eq!(report(&out), format!("{HEADER}\n"));
        assert_eq!(out.summary["unattributed_purchases"], 1);
        assert_eq!(out.summary["unattributed_revenue"], "7.00");
        assert_eq!(out.summary["visitors"], 2);
    }

    #[test]
    fn odd_rows_are_counted_not_fatal() {
        let mut no_time = hit("", "v", "1", PAGE, "A;B;1;1;", "");
        no_time.remove("hit_time_gmt");
        let mut numeric_time = hit("0", "v", "1", PAGE, "A;B;1;2;", "");
        numeric_time.insert("hit_time_gmt".into(), json!(100));
        let mut odd_types = hit("100", "v", "", PAGE, "", "");
        odd_types.insert("event_list".into(), json!(["1"]));
        odd_types.insert("referrer".into(), json!({"q": 1}));
        let rows = vec![
            (no_time, 2),
            (hit("abc", "v", "1", PAGE, "A;B;1;1;", ""), 3),
            (hit("100", " ", "1", PAGE, "A;B;1;1;", ""), 4),
            (numeric_time, 5),
            (odd_types, 6),
        ];
        let out = run(Attribution::LastTouch, &rows);
        assert_eq!(out.summary["hits"], 5);
        assert_eq!(out.summary["unusable_hits"], 3);
        assert_eq!(out.summary["purchases"], 1);
        assert_eq!(out.summary["unattributed_revenue"], "2.00");
    }

    #[test]
    fn report_rows_sort_by_revenue_then_domain_then_keyword() {
        let mut rows = Vec::new();
        let touches = [
            ("a", "http://www.google.com/s?q=zeta", "A;B;1;5;"),
            ("b", "http://www.bing.com/s?q=zeta", "A;B;1;5.004;"),
            ("c", "http://www.bing.com/s?q=alpha", "A;B;1;5;"),
            ("d", "http://www.bing.com/s?q=big", "A;B;1;9;"),
        ];
        for (i, (ip, referrer, products)) in touches.iter().enumerate() {
            let line = 2 * i as u64 + 2;
            rows.push((hit("100", ip, "", PAGE, "", referrer), line));
            rows.push((hit("101", ip, "1", PAGE, products, ""), line + 1));
        }
        let out = run(Attribution::LastTouch, &rows);
        assert_eq!(
            report(&out),
            format!(
                "{HEADER}\nbing.com\tbig\t9.00\nbing.com\talpha\t5.00\nbing.com\tzeta\t5.00\ngoogle.com\tzeta\t5.00\n"
            )
        );
        assert_eq!(out.files[0].content_type, "text/tab-separated-values");
        assert_eq!(
            out.files[0].path,
            "source=00112233445566778899/2026-03-04_SearchKeywordPerformance.tab"
        );
    }

    const SAMPLE: &str = include_str!("../../../../samples/jobs/hit_data.tsv");

    #[test]
    fn sample_last_touch() {
        let out = run(Attribution::LastTouch, &tsv_rows(SAMPLE));
        assert_eq!(
            report(&out),
            include_str!("../../../../samples/jobs/hit_data.last_touch.expected.tab")
        );
        assert_sample_summary(&out.summary, "last_touch", 9);
    }

    #[test]
    fn sample_first_touch() {
        let out = run(Attribution::FirstTouch, &tsv_rows(SAMPLE));
        assert_eq!(
            report(&out),
            include_str!("../../../../samples/jobs/hit_data.first_touch.expected.tab")
        );
        assert_sample_summary(&out.summary, "first_touch", 8);
    }

    /// Counted by hand from `samples/jobs/hit_data.tsv` (line by line in `samples/jobs/README.md`).
    fn assert_sample_summary(summary: &Value, attribution: &str, rows: u64) {
        assert_eq!(
            summary,
            &json!({
                "attribution": attribution,
                "hits": 30,
                "purchases": 11,
                "attributed_purchases": 9,
                "attributed_revenue": "1035.45",
                "unattributed_purchases": 2,
                "unattributed_revenue": "299.99",
                "visitors": 11,
                "search_touches": 12,
                "bad_revenue_values": 1,
                "unusable_hits": 0,
                "rows": rows,
            })
        );
    }

    #[test]
    fn sample_through_start_with_the_shipped_spec() {
        let spec =
            crate::spec::Spec::parse(include_str!("../../../../spec/pipelines.yaml")).unwrap();
        let pipeline = spec
            .pipelines
            .iter()
            .find(|p| p.name == "hit_data")
            .unwrap();
        let mut job = super::super::start(&pipeline.jobs[0], &[]);
        assert_eq!(job.kind(), KIND);
        for (row, line) in tsv_rows(SAMPLE) {
            job.observe(&row, line);
        }
        let out = job.finish(&ctx());
        assert_eq!(
            report(&out),
            include_str!("../../../../samples/jobs/hit_data.last_touch.expected.tab")
        );
    }
}
