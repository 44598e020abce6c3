//! Every page, public and back office, in a real Chromium at 1,280 and
//! 390 px: axe-core (vendored from npm, `tests/vendor/axe-core`) finds no
//! serious or critical violation, and nothing scrolls sideways on a phone.
//! The pages are found by following links from `/` and `/admin`, so a new
//! page is audited without being listed here.
//!
//! With `OFFICECOMMS_SCREENSHOTS=DIR` it also saves the screenshots named in
//! [`SCREENSHOTS`] into DIR (`docs/screenshots` is made this way:
//! `OFFICECOMMS_SCREENSHOTS=$PWD/docs/screenshots cargo test --test it audit::`).

use crate::{
    browser::{Browser, click, type_into, wait_for_text},
    helpers::*,
    support::query,
};
use fantoccini::{Client, Locator};
use officecomms::{chat::conversations, platform::now_ms, support::intake};
use std::collections::{BTreeMap, BTreeSet};

const AXE: &str = include_str!("../vendor/axe-core/axe.min.js");

/// Pages a screenshot is kept of: (file stem, path or path prefix to match
/// the first crawled page against).
const SCREENSHOTS: &[(&str, &str)] = &[
    ("home", "/"),
    ("article", "/articles/"),
    ("contact", "/contact"),
    ("chat", "/chat"),
    ("my-data", "/my-data/"),
    ("account-sign-in", "/account"),
    ("dashboard", "/admin"),
    ("inbox", "/admin/tickets"),
    ("ticket", "/admin/tickets/"),
    ("chat-console", "/admin/chat/"),
    ("analytics", "/admin/analytics"),
    ("webhook", "/admin/webhooks/"),
    ("two-factor-setup", "/admin/account/two-factor"),
];

/// The paths a crawl must not follow: they act (sign out), download or are
/// not pages.
fn skipped(path: &str) -> bool {
    [
        "/admin/logout",
        "/static/",
        "/media/",
        "/feed.xml",
        "/sitemap.xml",
        "/robots.txt",
        "/metrics",
        "/healthz",
        "/consent/tag.js",
    ]
    .iter()
    .any(|p| path.starts_with(p))
        || [".csv", ".json", ".xml", ".txt", ".eml"]
            .iter()
            .any(|ext| path.ends_with(ext))
}

/// Pages of one kind (same first two path segments, e.g. every article)
/// are audited twice at most: they share a template.
fn kind(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let depth = if segments.first() == Some(&"admin") {
        3
    } else {
        2
    };
    let mut key: Vec<&str> = segments.iter().take(depth).copied().collect();
    if segments.len() > depth {
        key.push("…");
    }
    // An id or slug in the last kept place is one of many.
    if key.len() == depth && segments.len() == depth {
        key[depth - 1] = "*";
    }
    format!("/{}", key.join("/"))
}

/// The same-origin links on the current page, as paths with their query.
pub(crate) async fn links(c: &Client) -> Vec<String> {
    let v = c
        .execute(
            "return [...document.querySelectorAll('a[href]')]
                .map(a => new URL(a.href, location.href))
                .filter(u => u.origin === location.origin)
                .map(u => u.pathname + u.search)",
            vec![],
        )
        .await
        .unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect()
}

/// Serious and critical axe violations on the current page, one line each.
pub(crate) async fn axe_violations(c: &Client) -> Vec<String> {
    c.execute(&format!("{AXE}\n;return true"), vec![])
        .await
        .expect("axe loads");
    let result = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {resultTypes: ['violations']})
               .then(r => done(r.violations
                 .filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => v.id + ' (' + v.impact + '): ' + v.help + ' — ' +
                      v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))))
               .catch(e => done(['axe failed: ' + e]));",
            vec![],
        )
        .await
        .expect("axe runs");
    result
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect()
}

/// How far the page scrolls sideways (0 when it fits) and what sticks out.
pub(crate) async fn overflow(c: &Client) -> (i64, String) {
    let v = c
        .execute(
            "const d = document.documentElement;
             const wide = [...document.querySelectorAll('body *')]
               .filter(e => e.getBoundingClientRect().right > d.clientWidth + 1)
               .slice(0, 3)
               .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
                    (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ').join('.') : ''));
             return [d.scrollWidth - d.clientWidth, wide.join(', ')]",
            vec![],
        )
        .await
        .unwrap();
    (
        v[0].as_i64().unwrap_or_default(),
        v[1].as_str().unwrap_or_default().to_string(),
    )
}

pub(crate) async fn set_width(c: &Client, width: u32) {
    c.set_window_size(width, 900).await.unwrap();
    // The window's frame takes some of it: widen until the page is `width`.
    let inner = c
        .execute("return window.innerWidth", vec![])
        .await
        .unwrap()
        .as_u64()
        .unwrap() as u32;
    if inner != width {
        c.set_window_size(width + (width - inner.min(width)), 900)
            .await
            .unwrap();
    }
}

/// Whether `path` is one record under `prefix` (`/articles/` + a slug; in
/// the back office, `/admin/tickets/` + a number).
fn one_of(prefix: &str, path: &str) -> bool {
    let Some(rest) = path.strip_prefix(prefix) else {
        return false;
    };
    prefix.len() > 1
        && prefix.ends_with('/')
        && !rest.is_empty()
        && !rest.contains('/')
        && (!prefix.starts_with("/admin") || rest.bytes().all(|b| b.is_ascii_digit()))
}

/// What the audit found, by page, and which page each screenshot shows.
#[derive(Default)]
pub(crate) struct Audit {
    pub(crate) problems: BTreeMap<String, Vec<String>>,
    pub(crate) shots: BTreeMap<String, String>,
    /// Every path audited, crawled or visited.
    pub(crate) visited: BTreeSet<String>,
}

impl Audit {
    /// Audits the page at `path` at each of `widths`, keeping a screenshot
    /// if [`SCREENSHOTS`] wants one of it; its same-origin links.
    pub(crate) async fn page(
        &mut self,
        c: &Client,
        app: &TestApp,
        path: &str,
        widths: &[u32],
    ) -> Vec<String> {
        self.visited.insert(path.to_string());
        let mut found = Vec::new();
        for &width in widths {
            set_width(c, width).await;
            c.goto(&app.url(path)).await.unwrap();
            found.extend(self.here(c, path, width).await);
        }
        if !found.is_empty() {
            self.problems.insert(path.to_string(), found);
        }
        let mut next = links(c).await;
        next.retain(|p| !p.contains('#'));
        next
    }

    /// Audits what the browser shows now at `width` (set already), as the
    /// page at `path` (a form's answer is reached by no link); the problems.
    pub(crate) async fn here(&mut self, c: &Client, path: &str, width: u32) -> Vec<String> {
        let mut found = Vec::new();
        let title = c.execute("return document.title", vec![]).await.unwrap();
        if title
            .as_str()
            .is_none_or(|t| t.starts_with("Something went wrong") || t.starts_with("Not found"))
        {
            found.push(format!("{width} px: the error page ({title})"));
            return found;
        }
        for v in axe_violations(c).await {
            found.push(format!("{width} px: {v}"));
        }
        if width == 390 {
            let (extra, what) = overflow(c).await;
            if extra > 0 {
                found.push(format!("390 px: scrolls {extra} px sideways ({what})"));
            }
        }
        let bare = path.split('?').next().unwrap_or(path);
        let wanted = SCREENSHOTS.iter().find(|(stem, prefix)| {
            !self.shots.contains_key(&format!("{stem}-{width}"))
                && (path == *prefix || one_of(prefix, bare))
        });
        if let Some((stem, _)) = wanted {
            let png = c.screenshot().await.unwrap();
            self.shots
                .insert(format!("{stem}-{width}"), path.to_string());
            if let Ok(dir) = std::env::var("OFFICECOMMS_SCREENSHOTS") {
                std::fs::write(format!("{dir}/{stem}-{width}.png"), png).unwrap();
            }
        }
        found
    }

    /// Audits each of `paths` not audited yet (pages the crawl's limits
    /// may leave out, or that no link reaches).
    pub(crate) async fn visit(
        &mut self,
        c: &Client,
        app: &TestApp,
        paths: &[String],
        widths: &[u32],
    ) {
        for path in paths {
            if !self.visited.contains(path) {
                self.page(c, app, path, widths).await;
            }
        }
    }

    /// Follows links from `starts`, auditing each page at every width.
    pub(crate) async fn crawl(
        &mut self,
        c: &Client,
        app: &TestApp,
        starts: &[&str],
        widths: &[u32],
    ) {
        let staff_side = starts[0].starts_with("/admin");
        let mut queue: Vec<String> = starts.iter().rev().map(|s| s.to_string()).collect();
        let mut seen = BTreeSet::new();
        let mut per_kind: BTreeMap<String, usize> = BTreeMap::new();
        let mut audited = 0;
        while let Some(path) = queue.pop() {
            if skipped(&path) || path.starts_with("/admin") != staff_side || audited > 80 {
                continue;
            }
            if !seen.insert(path.clone()) {
                continue;
            }
            let count = per_kind.entry(kind(&path)).or_default();
            *count += 1;
            // Four: /admin/tickets/ holds settings, canned replies and
            // quarantined mail beside the ticket pages.
            if *count > 4 {
                continue;
            }
            audited += 1;
            let mut next = self.page(c, app, &path, widths).await;
            next.reverse();
            queue.extend(next);
        }
    }
}

/// What [`seed_work`] made that has a page of its own.
pub(crate) struct Seeded {
    pub(crate) campaign: i64,
    pub(crate) order: i64,
    pub(crate) incident: i64,
}

/// Two tickets, a waiting chat, a webhook, a subscriber, a campaign, an
/// order, a privacy request and a breach, so every back-office list has
/// rows and every kind of record a page. Leaves the test's client signed
/// in as an admin.
pub(crate) async fn seed_work(app: &TestApp) -> Seeded {
    // A webhook endpoint on this machine where nothing listens: its page
    // shows a delivery log with failures and retries.
    let secret = officecomms::platform::webhooks::new_secret();
    sqlx::query(
        "INSERT INTO webhook_endpoints (name, url, secret, events, include_personal, allow_private, \
         enabled, created_at) VALUES ('Acme CRM', 'http://127.0.0.1:9/hooks/officecomms', $1, \
         'ticket.created,chat.started,chat.message', 1, 1, 1, $2)",
    )
    .bind(officecomms::platform::webhooks::seal_secret(&app.state.keyring, &secret))
    .bind(now_ms())
    .execute(&app.state.db.pool)
    .await
    .unwrap();
    let token = intake::new_token(&app.state.keyring, now_ms() - 60_000);
    let r = app
        .post_form("/contact", &query(&token, "dana.whitfield@example.com"))
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let email = "sam.okafor@example.com".parse().unwrap();
    let chat = conversations::start(
        &app.state,
        "Sam Okafor",
        Some(&email),
        Some("/services"),
        None,
    )
    .await
    .unwrap();
    conversations::post(
        &app.state,
        &chat,
        "visitor",
        None,
        "Hello, our printer in the front office stopped scanning to email. Can someone help today?",
        None,
    )
    .await
    .unwrap();
    // A second ticket from Dana, so the inbox has two to merge.
    let token = intake::new_token(&app.state.keyring, now_ms() - 60_000);
    let mut second = query(&token, "dana.whitfield@example.com");
    second.retain(|(k, _)| *k != "subject");
    second.push(("subject", "Scanner sends blank pages"));
    let r = app.post_form("/contact", &second).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());

    // An order request, through the cart as a visitor does.
    let services = officecomms::shop::db::active_services(&app.state.db)
        .await
        .unwrap();
    let service = services[0].id.to_string();
    let r = app
        .post_form(
            "/cart",
            &[("action", "add"), ("service", &service), ("quantity", "1")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, form) = app.get_text("/checkout").await;
    let marker = "name=\"idempotency_key\" value=\"";
    let key = form
        .split(marker)
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let r = app
        .post_form(
            "/checkout",
            &[
                ("name", "Robin Buyer"),
                ("email", "robin.buyer@example.com"),
                ("phone", "+1 510 555 0199"),
                ("company", "Acme Dental"),
                ("notes", "Please call after 2pm"),
                ("birth_year", "1980"),
                ("idempotency_key", key),
            ],
        )
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let order: i64 = sqlx::query_scalar("SELECT MAX(id) FROM orders")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();

    // A subscriber, a campaign to them, a privacy request and a breach.
    let rows = vec![officecomms::newsletter::subscribers::ImportRow {
        line: 2,
        email: "kim.subscriber@example.com".into(),
        name: "Kim Subscriber".into(),
        topics: "tips".into(),
    }];
    officecomms::newsletter::subscribers::import_rows(&app.state, &rows, "a sign-up sheet")
        .await
        .unwrap();
    app.login_as("admin").await;
    let r = app
        .post_form(
            "/admin/campaigns",
            &[
                ("subject", "December printer tips"),
                ("from_name", "officecomms news"),
                ("reply_to", "news@officecomms.com"),
                ("topic", "tips"),
                ("ad_label", "Advertisement"),
                ("body", "## What is new\n\nToner tips **inside**."),
            ],
        )
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let campaign = last_id(&r);
    let r = app
        .post_form(
            "/admin/privacy/requests",
            &[("email", "dana.whitfield@example.com")],
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    let now_there = chrono::Utc::now().with_timezone(&app.state.site().time_zone);
    let r = app
        .post_form(
            "/admin/privacy/incidents",
            &[
                ("title", "Lost laptop"),
                ("description", "A laptop with ticket exports was stolen."),
                (
                    "discovered_at",
                    &now_there.format("%Y-%m-%dT%H:%M").to_string(),
                ),
                ("category_contact", "1"),
                ("scope", "everyone"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    Seeded {
        campaign,
        order,
        incident: last_id(&r),
    }
}

/// The id at the end of a redirect's location.
fn last_id(r: &reqwest::Response) -> i64 {
    let location = r.headers()["location"].to_str().unwrap();
    location
        .split('?')
        .next()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// The bulk merge's choice (the answer to a POST): two tickets ticked in
/// the inbox, "merge…" chosen.
async fn merge_choice(c: &Client, app: &TestApp, audit: &mut Audit, widths: &[u32]) {
    let mut found = vec![];
    for &width in widths {
        set_width(c, width).await;
        c.goto(&app.url("/admin/tickets?status=all")).await.unwrap();
        c.execute(
            "document.querySelectorAll('input[name=ids]').forEach(b => b.checked = true);
             document.getElementById('bulk-action').value = 'merge';
             document.getElementById('bulk-form').submit(); return 1",
            vec![],
        )
        .await
        .unwrap();
        wait_for_text(c, "Which ticket do the others go into?").await;
        found.extend(audit.here(c, "/admin/tickets/bulk", width).await);
    }
    audit.visited.insert("/admin/tickets/bulk".into());
    if !found.is_empty() {
        audit
            .problems
            .insert("/admin/tickets/bulk (merge)".into(), found);
    }
}

#[tokio::test]
async fn every_page_passes_axe_and_fits_a_phone() {
    let Some(browser) = Browser::start(true).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let seeded = seed_work(&app).await;
    app.create_staff("eve@officecomms.test", "admin").await;
    let c = &browser.client;
    let mut audit = Audit::default();
    let public = [1280, 390];
    // The cookie banner, audited once; then answered, as a visitor does, so
    // the screenshots show the pages.
    for width in public {
        set_width(c, width).await;
        c.goto(&app.url("/")).await.unwrap();
        wait_for_text(c, "Reject all").await;
        let found = axe_violations(c).await;
        assert!(
            found.is_empty(),
            "the cookie banner at {width} px: {found:?}"
        );
    }
    click(c, Locator::Css(".consent-banner button[value=reject]")).await;
    audit
        .crawl(
            c,
            &app,
            &["/", "/chat", "/cookies", "/my-data", "/search?q=outlook"],
            &public,
        )
        .await;

    // A person's own pages, reached through the link mailed to them.
    c.goto(&app.url("/my-data")).await.unwrap();
    type_into(c, Locator::Id("email"), "dana.whitfield@example.com").await;
    click(c, Locator::Css("main form button[type=submit]")).await;
    wait_for_text(c, "Check your email").await;
    app.drain_outbox().await;
    let link = app
        .mails()
        .last()
        .unwrap()
        .link(&format!("{}/my-data/", app.base));
    let my_data = link.trim_start_matches(&app.base).to_string();
    audit.page(c, &app, &my_data, &public).await;

    browser.sign_in(&app, "eve@officecomms.test").await;
    audit.crawl(c, &app, &["/admin"], &[1440, 390]).await;
    // Reached by a button, not a link (setting up two-step sign-in, the
    // confirmation of a send, a search), or one of many of a kind the
    // crawl's limits may skip.
    let staff = [1440, 390];
    let records = [
        format!("/admin/campaigns/{}", seeded.campaign),
        format!("/admin/campaigns/{}/send", seeded.campaign),
        format!("/admin/orders/{}", seeded.order),
        format!("/admin/privacy/incidents/{}", seeded.incident),
        "/admin/privacy/requests".into(),
        "/admin/subscribers".into(),
        "/admin/search?q=scanner".into(),
        "/admin/account/two-factor".into(),
    ];
    audit.visit(c, &app, &records, &staff).await;
    merge_choice(c, &app, &mut audit, &staff).await;
    // The records are on their pages (not an empty list or another page).
    c.goto(&app.url(&records[1])).await.unwrap();
    wait_for_text(c, "1 subscriber").await;
    c.goto(&app.url(&records[6])).await.unwrap();
    wait_for_text(c, "Scanner sends blank pages").await;
    for (path, text) in [
        ("/admin/subscribers", "kim.subscriber@example.com"),
        ("/admin/privacy/requests", "Opened by staff for them"),
    ] {
        c.goto(&app.url(path)).await.unwrap();
        wait_for_text(c, text).await;
    }
    browser.close().await;

    let report: Vec<String> = audit
        .problems
        .iter()
        .map(|(path, found)| format!("{path}:\n  {}", found.join("\n  ")))
        .collect();
    assert!(report.is_empty(), "{}", report.join("\n"));
    // The crawl reached the pages the screenshots are of (and so the
    // back office through the sign-in).
    for stem in [
        "home",
        "article",
        "contact",
        "chat",
        "my-data",
        "dashboard",
        "inbox",
        "ticket",
        "chat-console",
        "analytics",
    ] {
        assert!(
            audit.shots.contains_key(&format!("{stem}-390")),
            "the crawl never reached the {stem} page: {:?}",
            audit.shots
        );
    }
}
