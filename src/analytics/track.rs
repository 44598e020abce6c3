//! Counting in the request path: a middleware layer that reads the privacy
//! context, hashes the visitor with the day's salt and, when the page was
//! served, hands a [`Hit`] to the aggregator. Goals reached while handling
//! the request find the same visitor through a task-local.

use super::aggregate::{Day, Hit, day_of};
use crate::{
    AppState,
    platform::{http::client_ip, paths::redact_tokens},
    privacy::Privacy,
};
use aho_corasick::AhoCorasick;
use axum::{
    extract::Request,
    http::{HeaderMap, Method, StatusCode, header},
    response::Response,
};
use sha2::{Digest, Sha256};
use siphasher::sip128::{Hasher128, SipHasher13};
use std::{
    hash::Hasher,
    net::IpAddr,
    sync::{LazyLock, atomic::Ordering},
};

/// The request being handled, as analytics sees it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Visit {
    pub day: Day,
    /// `None`: this visitor is not counted (DNT, GPC, under 13, refused, robot).
    pub visitor: Option<u128>,
}

tokio::task_local! {
    pub(super) static VISIT: Visit;
}

/// Paths whose views are never counted: the back office, and links
/// holding secrets. (Goals reached there still are.)
fn counted_path(path: &str) -> bool {
    const SKIP: &[&str] = &[
        "/admin",
        "/my-data/",
        "/unsubscribe/",
        "/newsletter/confirm/",
        "/consent/",
        "/metrics",
        "/healthz",
    ];
    path.len() <= 300 && !SKIP.iter().any(|p| path.starts_with(p))
}

/// Files and the JSON API (programs, not visitors): not even looked at.
fn is_file(path: &str) -> bool {
    path.starts_with("/static/") || path.starts_with("/media/") || path.starts_with("/api/")
}

/// What a user agent string tells about a visitor, coarsely.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserAgent {
    /// Crawlers, monitors and scripts; no user agent at all is not a
    /// browser either.
    pub bot: bool,
    pub device: &'static str,
    pub browser: &'static str,
}

#[derive(Clone, Copy)]
enum Trait {
    Bot,
    Ipad,
    Tablet,
    Android,
    Mobi,
    Iphone,
    Edge,
    Opera,
    Firefox,
    Samsung,
    Chrome,
    Safari,
}

/// Substrings of user agents (matched in any case) and what each shows.
const MARKERS: &[(&str, Trait)] = &[
    ("bot", Trait::Bot),
    ("crawl", Trait::Bot),
    ("spider", Trait::Bot),
    ("slurp", Trait::Bot),
    ("curl/", Trait::Bot),
    ("wget", Trait::Bot),
    ("python", Trait::Bot),
    ("go-http", Trait::Bot),
    ("java/", Trait::Bot),
    ("libwww", Trait::Bot),
    ("httpclient", Trait::Bot),
    ("okhttp", Trait::Bot),
    ("headless", Trait::Bot),
    ("lighthouse", Trait::Bot),
    ("facebookexternalhit", Trait::Bot),
    ("preview", Trait::Bot),
    ("monitor", Trait::Bot),
    ("axios", Trait::Bot),
    ("node-fetch", Trait::Bot),
    ("reqwest", Trait::Bot),
    ("ipad", Trait::Ipad),
    ("tablet", Trait::Tablet),
    ("android", Trait::Android),
    ("mobi", Trait::Mobi),
    ("iphone", Trait::Iphone),
    ("edg/", Trait::Edge),
    ("edga/", Trait::Edge),
    ("edgios/", Trait::Edge),
    ("opr/", Trait::Opera),
    ("opera", Trait::Opera),
    ("firefox/", Trait::Firefox),
    ("fxios/", Trait::Firefox),
    ("samsungbrowser/", Trait::Samsung),
    ("chrome/", Trait::Chrome),
    ("crios/", Trait::Chrome),
    ("chromium/", Trait::Chrome),
    ("safari/", Trait::Safari),
];

/// A 64-bit digest of a user agent string (unkeyed, the same on every
/// instance): taken once per request, it places the string in
/// [`UserAgent::of`]'s memory and stands for it in the visitor's pseudonym.
pub fn ua_digest(ua: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::default().hash_one(ua)
}

impl UserAgent {
    /// What `ua` (of digest `digest`, see [`ua_digest`]) says, remembered
    /// per thread for the user agents seen lately: a site's visitors send
    /// a few hundred distinct strings, each many times, and a look-up costs
    /// a tenth of [`UserAgent::classify`].
    pub fn of(ua: &str, digest: u64) -> UserAgent {
        use std::cell::RefCell;
        const SLOTS: usize = 256;
        const LONGEST: usize = 512;
        type Slot = Option<(Box<str>, UserAgent)>;
        thread_local! {
            static RECENT: RefCell<Vec<Slot>> = RefCell::new(vec![None; SLOTS]);
        }
        if ua.len() > LONGEST {
            return UserAgent::classify(ua);
        }
        let slot = digest as usize % SLOTS;
        RECENT.with_borrow_mut(|recent| match &recent[slot] {
            Some((seen, agent)) if **seen == *ua => *agent,
            _ => {
                let agent = UserAgent::classify(ua);
                recent[slot] = Some((ua.into(), agent));
                agent
            }
        })
    }

    /// One pass over the string for every marker at once, then the rules
    /// in order of precedence.
    pub fn classify(ua: &str) -> UserAgent {
        static AUTOMATON: LazyLock<AhoCorasick> = LazyLock::new(|| {
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(MARKERS.iter().map(|(marker, _)| marker))
                .expect("fixed markers")
        });
        let mut seen = 0u32;
        for found in AUTOMATON.find_overlapping_iter(ua) {
            seen |= 1 << MARKERS[found.pattern().as_usize()].1 as u32;
        }
        let has = |t: Trait| seen & (1 << t as u32) != 0;
        let device =
            if has(Trait::Ipad) || has(Trait::Tablet) || (has(Trait::Android) && !has(Trait::Mobi))
            {
                "tablet"
            } else if has(Trait::Mobi) || has(Trait::Iphone) {
                "mobile"
            } else {
                "desktop"
            };
        let browser = [
            (Trait::Edge, "Edge"),
            (Trait::Opera, "Opera"),
            (Trait::Firefox, "Firefox"),
            (Trait::Samsung, "Samsung Internet"),
            (Trait::Chrome, "Chrome"),
            (Trait::Safari, "Safari"),
        ]
        .into_iter()
        .find(|(t, _)| has(*t))
        .map_or("Other", |(_, name)| name);
        UserAgent {
            bot: ua.trim().is_empty() || has(Trait::Bot),
            device,
            browser,
        }
    }
}

/// The referring site's host, if it is another site.
pub fn referrer(headers: &HeaderMap, own_host: Option<&str>) -> Option<String> {
    let url = url::Url::parse(headers.get(header::REFERER)?.to_str().ok()?).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?.to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    let own = own_host.map(|h| h.to_ascii_lowercase());
    let own = own.as_deref().map(|h| h.strip_prefix("www.").unwrap_or(h));
    (Some(host) != own && host.len() <= 100).then(|| host.to_string())
}

/// `utm_campaign` from the query, tidied.
pub fn campaign(query: Option<&str>) -> Option<String> {
    let (_, v) =
        url::form_urlencoded::parse(query?.as_bytes()).find(|(k, _)| k == "utm_campaign")?;
    let v: String = v
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect();
    (!v.is_empty()).then_some(v)
}

/// SipHash-1-3 with a 128-bit output, keyed with the day's salt (as
/// Plausible counts visitors). A keyed pseudorandom function: once the salt
/// is deleted, nobody can recompute a pseudonym from an address and a user
/// agent. It costs a fraction of an HMAC-SHA256 on every page view.
#[derive(Clone, Copy)]
pub struct VisitorHasher(SipHasher13);

impl VisitorHasher {
    pub fn new(salt: &[u8]) -> VisitorHasher {
        // The whole salt, whatever its length, squeezed into the 128-bit key.
        let digest = Sha256::digest(salt);
        let key: [u8; 16] = digest[..16].try_into().expect("16 bytes");
        VisitorHasher(SipHasher13::new_with_key(&key))
    }

    /// The day's pseudonym of a visitor: a keyed hash of the IP address
    /// (IPv4 as its IPv6-mapped form, so one host is one visitor) and the
    /// user agent's [`ua_digest`]: 24 bytes, not a hundred, on every view.
    pub fn visitor(&self, ip: IpAddr, ua_digest: u64) -> u128 {
        let ip = match ip {
            IpAddr::V4(a) => a.to_ipv6_mapped(),
            IpAddr::V6(a) => a,
        };
        let mut hasher = self.0;
        hasher.write(&ip.octets());
        hasher.write_u64(ua_digest);
        hasher.finish128().as_u128()
    }
}

/// [`VisitorHasher::visitor`] in one call.
pub fn visitor_hash(salt: &[u8], ip: IpAddr, ua: &str) -> u128 {
    VisitorHasher::new(salt).visitor(ip, ua_digest(ua))
}

/// The middleware. It never fails a request: a missing salt only means
/// this view is not counted.
pub async fn count<F>(
    state: &AppState,
    request: Request,
    handle: impl FnOnce(Request) -> F,
) -> Response
where
    F: Future<Output = Response>,
{
    let analytics = &state.analytics;
    let path = request.uri().path();
    if !analytics.enabled() || is_file(path) {
        return handle(request).await;
    }
    let privacy = request
        .extensions()
        .get::<Privacy>()
        .cloned()
        .unwrap_or_else(|| Privacy::from_headers(request.headers()));
    let ua = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let digest = ua_digest(ua);
    let agent = UserAgent::of(ua, digest);
    let now = state.clock.now();
    let day = day_of(now, state.site().time_zone);
    let mut visitor = None;
    if privacy.counted() && !agent.bot {
        match analytics.hasher(&state.db, day).await {
            Ok(hasher) => {
                let ip = client_ip(
                    request.headers(),
                    request.extensions(),
                    &state.config.trust_proxy,
                );
                visitor = Some(hasher.visitor(ip, digest));
            }
            Err(e) => tracing::warn!(error = ?e, "analytics salt unavailable; view not counted"),
        }
    }
    let page_view = visitor.is_some() && request.method() == Method::GET && counted_path(path);
    let details = page_view.then(|| {
        (
            redact_tokens(path).into_owned(),
            referrer(request.headers(), state.config.base_url.host_str()),
            campaign(request.uri().query()),
            agent.device,
            agent.browser,
        )
    });
    analytics.in_flight.fetch_add(1, Ordering::SeqCst);
    let response = VISIT.scope(Visit { day, visitor }, handle(request)).await;
    if let (Some(visitor), Some((path, referrer, campaign, device, browser))) = (visitor, details)
        && served_page(&response)
    {
        analytics.aggregator.record(&Hit {
            day,
            visitor,
            path: &path,
            referrer: referrer.as_deref(),
            campaign: campaign.as_deref(),
            device,
            browser,
        });
    }
    analytics.in_flight.fetch_sub(1, Ordering::SeqCst);
    response
}

/// A page was shown: an HTML 200, or a 304 for one the browser holds.
fn served_page(response: &Response) -> bool {
    match response.status() {
        StatusCode::OK => response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/html")),
        StatusCode::NOT_MODIFIED => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0";
    const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
    const EDGE: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0";

    #[test]
    fn browsers_devices_and_robots_are_told_apart() {
        let lower = |ua: &str| ua.to_ascii_lowercase();
        let (firefox, iphone, edge) = (lower(FIREFOX), lower(IPHONE), lower(EDGE));
        let of = |ua: &str| {
            let agent = UserAgent::classify(ua);
            (agent.browser, agent.device)
        };
        assert_eq!(of(&firefox), ("Firefox", "desktop"));
        assert_eq!(of(&iphone), ("Safari", "mobile"));
        assert_eq!(of(&edge).0, "Edge");
        assert_eq!(
            UserAgent::classify(EDGE),
            UserAgent::classify(&edge),
            "any case"
        );
        // Remembered answers are the same answers, for every string, also
        // when two share a slot or one is too long to remember.
        let long = format!("{FIREFOX}{}", " x".repeat(400));
        for ua in [
            FIREFOX, IPHONE, EDGE, "", "curl/8.0", &long, FIREFOX, IPHONE, &long, "curl/8.0",
        ] {
            assert_eq!(
                UserAgent::of(ua, ua_digest(ua)),
                UserAgent::classify(ua),
                "{ua}"
            );
        }
        for i in 0..2000 {
            let ua = if i % 2 == 0 {
                format!("Mozilla/5.0 (iPhone) {i}")
            } else {
                format!("Googlebot/{i}")
            };
            assert_eq!(
                UserAgent::of(&ua, ua_digest(&ua)),
                UserAgent::classify(&ua),
                "{ua}"
            );
        }
        for (ua, want) in [
            (
                "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
                ("Chrome", "tablet"),
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36",
                ("Chrome", "mobile"),
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0 Mobile Safari/537.36",
                ("Samsung Internet", "mobile"),
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 OPR/106.0",
                ("Opera", "desktop"),
            ),
            ("Lynx/2.9.0", ("Other", "desktop")),
        ] {
            let agent = UserAgent::classify(ua);
            assert_eq!((agent.browser, agent.device), want, "{ua}");
            assert!(!agent.bot, "{ua}");
        }
        for ua in [&firefox, &iphone, &edge] {
            assert!(!UserAgent::classify(ua).bot, "{ua}");
        }
        for ua in [
            "",
            "Googlebot/2.1 (+http://www.google.com/bot.html)",
            "curl/8.5.0",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
            "python-requests/2.31",
        ] {
            assert!(UserAgent::classify(ua).bot, "{ua}");
        }
    }

    #[test]
    fn only_other_sites_count_as_referrers() {
        let mut h = HeaderMap::new();
        h.insert(
            header::REFERER,
            "https://www.News.Example/item?id=1".parse().unwrap(),
        );
        assert_eq!(
            referrer(&h, Some("officecomms.com")).as_deref(),
            Some("news.example")
        );
        h.insert(
            header::REFERER,
            "https://officecomms.com/blog".parse().unwrap(),
        );
        assert_eq!(referrer(&h, Some("www.officecomms.com")), None);
        h.insert(header::REFERER, "android-app://x".parse().unwrap());
        assert_eq!(referrer(&h, None), None);
        assert_eq!(
            campaign(Some("a=1&utm_campaign=Spring%20sale")).as_deref(),
            Some("Spring sale")
        );
        assert_eq!(campaign(Some("utm_campaign=")), None);
        assert_eq!(campaign(None), None);
    }

    #[test]
    fn the_visitor_hash_changes_with_the_salt() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let a = visitor_hash(&[1; 32], ip("203.0.113.5"), FIREFOX);
        assert_eq!(a, visitor_hash(&[1; 32], ip("203.0.113.5"), FIREFOX));
        assert_ne!(a, visitor_hash(&[2; 32], ip("203.0.113.5"), FIREFOX));
        assert_ne!(a, visitor_hash(&[1; 32], ip("203.0.113.6"), FIREFOX));
        assert_ne!(a, visitor_hash(&[1; 32], ip("2001:db8::5"), FIREFOX));
        // The same host over IPv4 or as an IPv6-mapped address: one visitor.
        assert_eq!(a, visitor_hash(&[1; 32], ip("::ffff:203.0.113.5"), FIREFOX));
        assert_ne!(a, visitor_hash(&[1; 32], ip("203.0.113.5"), IPHONE));
    }
}
