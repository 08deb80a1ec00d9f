//! What the events look like: seed 002's `user_events` and `user_utm` payloads, login.gov
//! `events.log` lines in CloudWatch Logs subscription payloads (seed 000), hit-level TSV rows
//! (seed 003) and partner catalog lines (seed 004), and the broken variants of each.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::rng::Rng;

pub(crate) const ACCOUNT: &str = "123456789012";
pub(crate) const REGION: &str = "us-east-1";
/// 2020-06-01T00:00:00Z, the seeds' day.
pub(crate) const BASE_MS: i64 = 1_590_969_600_000;

pub(crate) const IDP_LOG_GROUP: &str = "prod_/srv/idp/shared/log/events.log";
/// A log group no pipeline matches.
pub(crate) const OTHER_LOG_GROUP: &str = "/ecs/idp-worker";

pub(crate) fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Pools of ids shared by many events, so visitors and accounts repeat as they do in life.
#[derive(Debug)]
pub(crate) struct World {
    cookies: Vec<String>,
    accounts: Vec<String>,
    websites: Vec<String>,
    workspaces: Vec<String>,
    idp_users: Vec<String>,
    idp_visitors: Vec<String>,
    log_streams: Vec<String>,
}

fn pool(rng: &mut Rng, n: usize) -> Vec<String> {
    (0..n).map(|_| rng.uuid()).collect()
}

impl World {
    pub(crate) fn new(rng: &mut Rng) -> Self {
        World {
            cookies: pool(rng, 400),
            accounts: pool(rng, 150),
            websites: pool(rng, 60),
            workspaces: pool(rng, 40),
            idp_users: pool(rng, 200),
            idp_visitors: pool(rng, 300),
            log_streams: (0..6)
                .map(|i| {
                    let env = if i % 3 == 2 { "int" } else { "prod" };
                    format!("idp-i-0{}.{env}.login.gov", rng.hex(16))
                })
                .collect(),
        }
    }

    fn one<'a>(&self, rng: &mut Rng, items: &'a [String]) -> &'a str {
        items
            .get(rng.index(items.len()))
            .map(String::as_str)
            .unwrap_or_default()
    }

    pub(crate) fn log_stream(&self, rng: &mut Rng) -> String {
        self.one(rng, &self.log_streams).to_owned()
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

// --- seed 002 ----------------------------------------------------------------------------------

const TOPICS: [&str; 8] = [
    "dolphin_cms.wizard.step.color_palette.set",
    "dolphin_cms.wizard.step.industry.set",
    "dolphin_cms.wizard.step.font.set",
    "dolphin_cms.editor.page.published",
    "dolphin_cms.editor.section.added",
    "dolphin_cms.editor.image.uploaded",
    "dolphin_cms.checkout.plan.selected",
    "dolphin_cms.account.signed_in",
];
const LOCATIONS: [&str; 5] = [
    "https://cms.data.com/wizard/color-palette/",
    "https://cms.data.com/wizard/industry/",
    "https://cms.data.com/editor/",
    "https://cms.data.com/checkout/plans/",
    "https://cms.data.com/account/login/",
];
const USER_AGENTS: [&str; 5] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:76.0) Gecko/20100101 Firefox/76.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/83.0.4103.61 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 13_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 10; SM-G973F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/83.0.4103.83 Mobile Safari/537.36",
];
const REFERRERS: [&str; 5] = [
    "https://register.data.com/es/product",
    "https://www.google.com/",
    "https://data.com/pricing",
    "https://cms.data.com/editor/",
    "",
];
const LANGUAGES: [&str; 5] = ["es", "en", "fr", "de", "it"];

/// One `user_events` event (seed 002), happening at `at_ms`.
pub(crate) fn user_event(rng: &mut Rng, world: &World, at_ms: i64) -> Map<String, Value> {
    let topic = rng.pick(&TOPICS, "dolphin_cms.editor.page.published");
    let message = json!({
        "isAffiliate": rng.chance(0.1),
        "language": rng.pick(&LANGUAGES, "en"),
        "isRecommendedPalette": rng.chance(0.6),
        "color": format!("#{}", rng.hex(6)),
        "paletteIndex": rng.between(0, 7).to_string(),
        "workspaceId": world.one(rng, &world.workspaces),
    });
    let website = if rng.chance(0.4) {
        Value::Null
    } else {
        Value::from(world.one(rng, &world.websites))
    };
    let account = if rng.chance(0.2) {
        Value::Null
    } else {
        Value::from(world.one(rng, &world.accounts))
    };
    object(json!({
        "request_id": rng.uuid(),
        "request_timestamp": loglift_core::timefmt::curated(time(at_ms)),
        "cookie_id": world.one(rng, &world.cookies),
        "topic": topic,
        "message": message.to_string(),
        "environment": "dolphin_cms",
        "website_id": website,
        "user_account_id": account,
        "location": rng.pick(&LOCATIONS, ""),
        "user_agent": rng.pick(&USER_AGENTS, ""),
        "referrer": rng.pick(&REFERRERS, ""),
    }))
}

struct Channel {
    source: &'static str,
    medium: &'static str,
    network: Option<&'static str>,
    paid: bool,
}

const CHANNELS: [Channel; 6] = [
    Channel {
        source: "adwords",
        medium: "cpc",
        network: Some("g"),
        paid: true,
    },
    Channel {
        source: "bing",
        medium: "cpc",
        network: Some("o"),
        paid: true,
    },
    Channel {
        source: "facebook",
        medium: "social",
        network: Some("fb"),
        paid: true,
    },
    Channel {
        source: "instagram",
        medium: "social",
        network: Some("ig"),
        paid: true,
    },
    Channel {
        source: "newsletter",
        medium: "email",
        network: None,
        paid: false,
    },
    Channel {
        source: "partner-blog",
        medium: "referral",
        network: None,
        paid: false,
    },
];
const CAMPAIGNS: [&str; 5] = [
    "Campaign Brand FR",
    "Summer Launch ES",
    "Generic Website Builder DE",
    "Retargeting EN",
    "Black Friday IT",
];
const TERMS: [&str; 5] = [
    "data",
    "homepage erstellen",
    "crear pagina web",
    "website builder",
    "creer site",
];

/// One `user_utm` payload (seed 002): attribution of a request.
pub(crate) fn utm(rng: &mut Rng) -> Map<String, Value> {
    let index = rng.index(CHANNELS.len());
    let channel = CHANNELS.get(index).unwrap_or(&CHANNELS[0]);
    let search = channel.medium == "cpc";
    let social = channel.medium == "social";
    let term = if search {
        Value::from(rng.pick(&TERMS, "data"))
    } else {
        Value::Null
    };
    let matchtype = if search {
        Value::from(rng.pick(&["e", "p", "b"], "e"))
    } else {
        Value::Null
    };
    let ad_id = if channel.paid {
        Value::from(rng.digits(if social { 17 } else { 11 }))
    } else {
        Value::Null
    };
    let ad_pos = if search {
        Value::from(format!("1t{}", rng.between(1, 4)))
    } else {
        Value::Null
    };
    let placement = if social {
        Value::from(rng.pick(&["feed", "stories", "right_column"], "feed"))
    } else {
        Value::Null
    };
    let placement_category = if social {
        Value::from(rng.pick(&["mobile_feed", "desktop_feed"], "mobile_feed"))
    } else {
        Value::Null
    };
    let content = if rng.chance(0.3) {
        Value::from(format!("banner_{}", rng.hex(2)))
    } else {
        Value::Null
    };
    let testgroup = if rng.chance(0.5) {
        Value::from(rng.pick(&["a", "b"], "a"))
    } else {
        Value::Null
    };
    object(json!({
        "request_id": rng.uuid(),
        "source": channel.source,
        "medium": channel.medium,
        "campaign": rng.pick(&CAMPAIGNS, "Campaign Brand FR"),
        "content": content,
        "term": term,
        "matchtype": matchtype,
        "network": channel.network,
        "ad_id": ad_id,
        "ad_pos": ad_pos,
        "placement": placement,
        "placement_category": placement_category,
        "testgroup": testgroup,
        "device": rng.pick(&["c", "m", "t"], "c"),
    }))
}

// --- seed 000: login.gov events.log ----------------------------------------------------------------

const IDP_EVENTS: [&str; 8] = [
    "Sign in page visited",
    "Email and Password Authentication",
    "Multi-Factor Authentication",
    "Logout Initiated",
    "Account Reset",
    "OpenID Connect: authorization request",
    "SAML Auth",
    "Email Sent",
];

fn idp_properties(rng: &mut Rng, name: &str) -> Value {
    match name {
        "Sign in page visited" => {
            json!({"flash": null, "stored_location": rng.pick(&[None, Some("/openid_connect/authorize")], None)})
        }
        "Email and Password Authentication" => {
            json!({"success": rng.chance(0.9), "user_locked_out": rng.chance(0.02), "remember_device": rng.chance(0.3)})
        }
        "Multi-Factor Authentication" => {
            json!({"success": rng.chance(0.95), "multi_factor_auth_method": rng.pick(&["totp", "sms", "webauthn", "piv_cac"], "totp"), "area_code": null})
        }
        "Logout Initiated" => json!({"sp_initiated": rng.chance(0.5), "oidc": rng.chance(0.5)}),
        "Email Sent" => {
            json!({"action": rng.pick(&["sign_in", "reset_password", "account_created"], "sign_in")})
        }
        _ => json!({"success": rng.chance(0.9), "errors": {}}),
    }
}

/// One login.gov `events.log` line (seed 000): what a CloudWatch Logs event's `message` holds.
pub(crate) fn idp_event(rng: &mut Rng, world: &World, at_ms: i64) -> Map<String, Value> {
    let name = rng.pick(&IDP_EVENTS, "Sign in page visited");
    let browser = rng.pick(
        &[("Chrome", "83.0"), ("Firefox", "76.0"), ("Safari", "13.1")],
        ("Chrome", "83.0"),
    );
    let visitor = world.one(rng, &world.idp_visitors).to_owned();
    object(json!({
        "name": name,
        "properties": {
            "event_properties": idp_properties(rng, name),
            "new_event": rng.chance(0.3),
            "path": rng.pick(&["/", "/login/two_factor/authenticator", "/account", "/openid_connect/authorize"], "/"),
            "session_duration": (rng.float(0.0, 1800.0) * 1000.0).round() / 1000.0,
            "user_id": world.one(rng, &world.idp_users),
            "locale": rng.pick(&["en", "es", "fr"], "en"),
            "user_ip": format!("10.{}.{}.{}", rng.between(0, 255), rng.between(0, 255), rng.between(1, 254)),
            "hostname": "idp.int.identitysandbox.gov",
            "pid": rng.between(4000, 4999),
            "service_provider": "urn:gov:gsa:openidconnect:sp:sinatra",
            "trace_id": null,
            "git_sha": "5a8e2f1",
            "git_branch": "main",
            "user_agent": rng.pick(&USER_AGENTS, ""),
            "browser_name": browser.0,
            "browser_version": browser.1,
            "os_name": rng.pick(&["Linux", "Windows", "Mac OS X", "iOS"], "Linux"),
        },
        "time": loglift_core::timefmt::rfc3339(time(at_ms)),
        "id": rng.uuid(),
        "visitor_id": visitor,
        "visit_id": rng.uuid(),
        "log_filename": "events.log",
    }))
}

/// A plain-text line as a Rails logger would write it: not JSON.
pub(crate) fn idp_text_line(rng: &mut Rng, at_ms: i64) -> String {
    format!(
        "I, [{} #{}]  INFO -- : Completed 200 OK in {}ms (Views: {}ms | ActiveRecord: {}ms)",
        loglift_core::timefmt::rfc3339(time(at_ms)),
        rng.between(4000, 4999),
        rng.between(5, 900),
        rng.between(1, 300),
        rng.between(1, 100)
    )
}

/// One CloudWatch Logs log event.
#[derive(Debug, Clone)]
pub(crate) struct LogEvent {
    pub id: String,
    pub timestamp: i64,
    pub message: String,
}

impl LogEvent {
    pub(crate) fn new(rng: &mut Rng, timestamp: i64, message: String) -> Self {
        LogEvent {
            id: rng.digits(56),
            timestamp,
            message,
        }
    }

    fn to_json(&self) -> Value {
        json!({"id": self.id, "timestamp": self.timestamp, "message": self.message})
    }
}

/// A CloudWatch Logs subscription DATA_MESSAGE payload (JSON, not yet compressed).
pub(crate) fn cw_data(log_group: &str, log_stream: &str, events: &[LogEvent]) -> Vec<u8> {
    let payload = json!({
        "messageType": "DATA_MESSAGE",
        "owner": ACCOUNT,
        "logGroup": log_group,
        "logStream": log_stream,
        "subscriptionFilters": ["idp-events-to-firehose"],
        "logEvents": events.iter().map(LogEvent::to_json).collect::<Vec<_>>(),
    });
    payload.to_string().into_bytes()
}

/// A CloudWatch Logs CONTROL_MESSAGE payload (JSON, not yet compressed).
pub(crate) fn cw_control(at_ms: i64) -> Vec<u8> {
    json!({
        "messageType": "CONTROL_MESSAGE",
        "owner": "CloudwatchLogs",
        "logGroup": "",
        "logStream": "",
        "subscriptionFilters": [],
        "logEvents": [{
            "id": "",
            "timestamp": at_ms,
            "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose.",
        }],
    })
    .to_string()
    .into_bytes()
}

// --- seed 003: hit-level data ----------------------------------------------------------------------

pub(crate) const HIT_COLUMNS: [&str; 12] = [
    "hit_time_gmt",
    "date_time",
    "user_agent",
    "ip",
    "event_list",
    "geo_city",
    "geo_region",
    "geo_country",
    "pagename",
    "page_url",
    "product_list",
    "referrer",
];

/// Search engines: host and the query parameter holding the keyword.
const SEARCH_ENGINES: [(&str, &str); 3] = [
    ("www.google.com", "q"),
    ("www.bing.com", "q"),
    ("search.yahoo.com", "p"),
];
const KEYWORDS: [&str; 6] = [
    "Ipod",
    "ipod nano",
    "Zune",
    "cd player",
    "Ipod touch",
    "headphones",
];
const OTHER_REFERRERS: [&str; 3] = [
    "",
    "http://www.facebook.com/",
    "http://www.reddit.com/r/gadgets/",
];
/// (category, name, unit price).
const PRODUCTS: [(&str, &str, u64); 5] = [
    ("Electronics", "Ipod - Nano - 8GB", 190),
    ("Electronics", "Ipod - Touch - 32GB", 290),
    ("Electronics", "Zune - 32GB", 250),
    ("Electronics", "Sony - CD Player", 60),
    ("Accessories", "Earbuds - Black", 20),
];
const GEO: [(&str, &str, &str); 6] = [
    ("Salem", "OR", "US"),
    ("Rochester", "NY", "US"),
    ("Duncan", "OK", "US"),
    ("Saint Paul", "MN", "US"),
    ("Austin", "TX", "US"),
    ("Toronto", "ON", "CA"),
];
const SITE: &str = "http://www.esshopzilla.com";

/// One hit row, field by field in [`HIT_COLUMNS`] order.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub fields: [String; 12],
}

impl Hit {
    pub(crate) fn line(&self) -> String {
        self.fields.join("\t")
    }
}

/// A visit: its hits, and the search that brought it (engine domain, keyword) and its revenue.
#[derive(Debug)]
pub(crate) struct Visit {
    pub hits: Vec<Hit>,
    pub search: Option<(String, String)>,
    pub revenue: u64,
}

fn plus_encode(s: &str) -> String {
    s.replace(' ', "+")
}

/// A visit of `n` hits starting at `start_s` (epoch seconds), one second or more apart.
pub(crate) fn visit(rng: &mut Rng, n: usize, start_s: &mut i64) -> Visit {
    let ua = rng.pick(&USER_AGENTS, "");
    let ip = format!(
        "{}.{}.{}.{}",
        rng.between(11, 223),
        rng.between(0, 255),
        rng.between(0, 255),
        rng.between(1, 254)
    );
    let geo = rng.pick(&GEO, ("Salem", "OR", "US"));
    let search = if rng.chance(0.7) {
        let (host, param) = rng.pick(&SEARCH_ENGINES, ("www.google.com", "q"));
        let keyword = rng.pick(&KEYWORDS, "Ipod");
        Some((host, param, keyword))
    } else {
        None
    };
    let purchase = n >= 3 && rng.chance(0.45);
    let basket: Vec<(&str, &str, u64, u64)> = (0..rng.between(1, 2))
        .map(|_| {
            let (cat, name, price) = rng.pick(&PRODUCTS, ("Electronics", "Ipod - Nano - 8GB", 190));
            let qty = rng.between(1, 2);
            (cat, name, qty, price * qty)
        })
        .collect();
    let mut hits = Vec::with_capacity(n);
    let mut previous_url = match search {
        Some((host, param, keyword)) => {
            format!("http://{host}/search?{param}={}", plus_encode(keyword))
        }
        None => rng.pick(&OTHER_REFERRERS, "").to_owned(),
    };
    let mut revenue = 0;
    for i in 0..n {
        *start_s += i64::try_from(rng.between(1, 40)).unwrap_or(1);
        let t = time(start_s.saturating_mul(1000));
        let last = i + 1 == n;
        let (pagename, url, events, products) = if last && purchase {
            revenue = basket.iter().map(|b| b.3).sum();
            let list: Vec<String> = basket
                .iter()
                .map(|(cat, name, qty, total)| format!("{cat};{name};{qty};{total};"))
                .collect();
            (
                "Order Complete".to_owned(),
                "https://www.esshopzilla.com/checkout/?a=complete".to_owned(),
                "1".to_owned(),
                list.join(","),
            )
        } else if i == 0 {
            match search {
                Some((_, _, keyword)) => (
                    "Search Results".to_owned(),
                    format!("{SITE}/search/?k={}", plus_encode(keyword)),
                    String::new(),
                    String::new(),
                ),
                None => (
                    "Home".to_owned(),
                    format!("{SITE}/"),
                    String::new(),
                    String::new(),
                ),
            }
        } else if purchase && i + 2 == n {
            (
                "Shopping Cart".to_owned(),
                format!("{SITE}/cart/"),
                "12".to_owned(),
                String::new(),
            )
        } else {
            let (cat, name, _) = rng.pick(&PRODUCTS, ("Electronics", "Ipod - Nano - 8GB", 190));
            (
                name.to_owned(),
                format!("{SITE}/product/?pid=as{}", rng.digits(5)),
                "2".to_owned(),
                format!("{cat};{name};;;"),
            )
        };
        let fields = [
            start_s.to_string(),
            t.format("%Y-%m-%d %H:%M:%S").to_string(),
            ua.to_owned(),
            ip.clone(),
            events,
            geo.0.to_owned(),
            geo.1.to_owned(),
            geo.2.to_owned(),
            pagename,
            url.clone(),
            products,
            previous_url.clone(),
        ];
        previous_url = url;
        hits.push(Hit { fields });
    }
    Visit {
        hits,
        search: search.map(|(host, _, keyword)| {
            (
                host.strip_prefix("www.").unwrap_or(host).to_owned(),
                keyword.to_owned(),
            )
        }),
        revenue: if purchase { revenue } else { 0 },
    }
}

// --- seed 004: partner catalog ---------------------------------------------------------------------

pub(crate) const PARTNERS: [&str; 4] = ["expedia", "booking", "hotels", "agoda"];
const HOTEL_WORDS: [&str; 8] = [
    "Grand", "Royal", "Sea View", "Central", "Garden", "Old Town", "Harbour", "Plaza",
];
const CITIES: [(&str, &str); 6] = [
    ("Barcelona", "ES"),
    ("Lisbon", "PT"),
    ("Berlin", "DE"),
    ("Paris", "FR"),
    ("Rome", "IT"),
    ("Amsterdam", "NL"),
];

/// An accommodation as several partners describe it: the shared facts.
#[derive(Debug, Clone)]
pub(crate) struct Accommodation {
    pub id: String,
    name: String,
    city: (&'static str, &'static str),
    stars: u64,
}

pub(crate) fn accommodation(rng: &mut Rng, index: u64) -> Accommodation {
    Accommodation {
        id: format!("acc-{index:07}"),
        name: format!(
            "{} {}",
            rng.pick(&HOTEL_WORDS, "Grand"),
            rng.pick(&["Hotel", "Suites", "Inn", "Apartments"], "Hotel")
        ),
        city: rng.pick(&CITIES, ("Barcelona", "ES")),
        stars: rng.between(1, 5),
    }
}

/// One partner's line for an accommodation.
pub(crate) fn partner_line(
    rng: &mut Rng,
    partner: &str,
    acc: &Accommodation,
    at_ms: i64,
) -> Map<String, Value> {
    let amenities: Vec<&str> = ["wifi", "parking", "pool", "breakfast", "gym", "spa"]
        .into_iter()
        .filter(|_| rng.chance(0.5))
        .collect();
    object(json!({
        "partner_name": partner,
        "accommodation_id": acc.id,
        "accommodation_data": {
            "name": acc.name,
            "stars": acc.stars,
            "address": {"city": acc.city.0, "country": acc.city.1, "street": format!("Calle {} {}", rng.pick(&HOTEL_WORDS, "Grand"), rng.between(1, 200))},
            "rooms": rng.between(8, 400),
            "amenities": amenities,
            "price": {"currency": "EUR", "from": (rng.float(35.0, 420.0) * 100.0).round() / 100.0},
            "rating": (rng.float(5.0, 10.0) * 10.0).round() / 10.0,
            "updated_at": loglift_core::timefmt::rfc3339(time(at_ms)),
        },
    }))
}
