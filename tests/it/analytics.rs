//! First-party analytics: exact counts for known traffic, who is never
//! counted, goals, restarts and midnight, the dashboard and the CSV.

use crate::{
    both,
    consent::{FIREFOX, post},
    helpers::*,
};
use officecomms::{platform::now_ms, privacy::Privacy, support::intake};

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
const EDGE: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0";
const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
const DAY: i64 = 86_400_000;
/// 2026-03-14 00:00 UTC.
const PI_DAY: i64 = 1_773_446_400_000;

fn browser_with(ua: &str, headers: &[(&'static str, &str)]) -> reqwest::Client {
    let mut h = reqwest::header::HeaderMap::new();
    for (k, v) in headers {
        h.insert(*k, v.parse().unwrap());
    }
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(ua)
        .default_headers(h)
        .build()
        .unwrap()
}

async fn view(c: &reqwest::Client, app: &TestApp, path: &str) -> u16 {
    c.get(app.url(path)).send().await.unwrap().status().as_u16()
}

async fn view_from(c: &reqwest::Client, app: &TestApp, path: &str, referer: &str) {
    let r = c
        .get(app.url(path))
        .header("referer", referer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// The CSV for a range, as (date, path, views, visitors, entries) rows.
async fn csv(app: &TestApp, from: &str, to: &str) -> Vec<(String, String, i64, i64, i64)> {
    let r = app
        .get(&format!("/admin/analytics.csv?from={from}&to={to}"))
        .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let body = r.text().await.unwrap();
    let mut lines = body.lines();
    assert_eq!(lines.next(), Some("date,path,views,visitors,entries"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].into(),
                f[1].into(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
                f[4].parse().unwrap(),
            )
        })
        .collect()
}

async fn counts(app: &TestApp, dimension: &'static str) -> Vec<(String, String, i64, i64)> {
    officecomms::analytics::flush_now(&app.state).await.unwrap();
    let sql = "SELECT day, key, views, visitors FROM analytics_counts WHERE dimension = $1 ORDER BY day, key";
    sqlx::query_as(sql)
        .bind(dimension)
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap()
}

fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

/// Analytics counts the company's days; these tests put the company in UTC,
/// so their clocks' midnights are its midnights.
async fn spawn_in_utc(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    let mut tx = app.state.db.begin().await.unwrap();
    officecomms::platform::settings::put(&mut tx, "time_zone", "UTC")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    app.state.reload_site().await.unwrap();
    app
}

both! {
    async fn known_traffic_is_counted_exactly(backend) {
        let app = spawn_in_utc(backend).await;
        app.login_as("admin").await;
        let ann = browser_with(FIREFOX, &[]);
        assert_eq!(view(&ann, &app, "/").await, 200);
        view(&ann, &app, "/articles").await;
        view_from(&ann, &app, "/articles/windows-update-stuck", "https://www.news.example/item?id=7").await;
        view(&ann, &app, "/").await;
        let bo = browser_with(IPHONE, &[]);
        view(&bo, &app, "/?utm_campaign=autumn-sale").await;
        view_from(&bo, &app, "/services", &format!("{}/", app.base)).await;
        // Never counted: robots, error pages, the back office, files, refusals and signals.
        let bot = browser_with(GOOGLEBOT, &[]);
        view(&bot, &app, "/").await;
        assert_eq!(view(&ann, &app, "/no-such-page").await, 404);
        view(&ann, &app, "/admin/login").await;
        view(&ann, &app, "/static/app.css").await;
        for headers in [[("dnt", "1")], [("sec-gpc", "1")]] {
            let c = browser_with(EDGE, &headers);
            assert_eq!(view(&c, &app, "/").await, 200);
        }
        let refuser = browser_with(EDGE, &[]);
        post(&refuser, &app, "/cookies", &[("choice", "reject")]).await;
        view(&refuser, &app, "/").await;
        let child = browser_with(EDGE, &[]);
        let t = intake::new_token(&app.state.keyring, now_ms() - 10_000);
        let r = post(&child, &app, "/contact", &[("token", &t), ("name", "Kid"), ("email", "kid@example.com"), ("product", "Windows"), ("subject", "Help"), ("details", "My game is slow please help"), ("birth_year", "2019"), ("website", "")]).await;
        assert_eq!(r.status(), 403);
        view(&child, &app, "/").await;

        // Before any flush, the CSV already holds it all.
        let rows = csv(&app, &today(), &today()).await;
        let row = |p: &str| rows.iter().find(|r| r.1 == p).map(|r| (r.2, r.3, r.4)).unwrap_or_else(|| panic!("no row for {p}: {rows:?}"));
        assert_eq!(row("/"), (3, 2, 2), "views, visitors, entries of /");
        assert_eq!(row("/articles"), (1, 1, 0));
        assert_eq!(row("/articles/windows-update-stuck"), (1, 1, 0));
        assert_eq!(row("/services"), (1, 1, 0));
        assert_eq!(rows.len(), 4, "{rows:?}");

        let total = counts(&app, "total").await;
        assert_eq!((total[0].2, total[0].3), (6, 2), "{total:?}");
        let keyed = |rows: Vec<(String, String, i64, i64)>| rows.into_iter().map(|r| (r.1, r.2, r.3)).collect::<Vec<_>>();
        assert_eq!(keyed(counts(&app, "referrer").await), vec![("news.example".to_string(), 1, 1)]);
        assert_eq!(keyed(counts(&app, "campaign").await), vec![("autumn-sale".to_string(), 1, 1)]);
        assert_eq!(keyed(counts(&app, "device").await), vec![("desktop".to_string(), 4, 1), ("mobile".to_string(), 2, 1)]);
        assert_eq!(keyed(counts(&app, "browser").await), vec![("Firefox".to_string(), 4, 1), ("Safari".to_string(), 2, 1)]);
        let salts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM analytics_salts").fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(salts, 1, "one salt, today's");

        let (status, page) = app.get_text("/admin/analytics").await;
        assert_eq!(status, 200);
        assert!(page.contains("<p class=\"figure\" id=\"total-views\">6</p>"), "{page}");
        assert!(page.contains("<p class=\"figure\" id=\"total-visitors\">2</p>"));
        assert!(page.contains("<td>/</td><td>3</td><td>2</td><td>2</td>"));
        assert!(page.contains("<td>news.example</td><td>1</td><td>1</td>"));
        assert!(page.contains("<polyline points=\""), "an inline SVG chart");
        assert!(!page.contains("<script>"));
    }

    async fn goals_are_counted_for_counted_visitors_only(backend) {
        let app = spawn_in_utc(backend).await;
        let send = |c: reqwest::Client, email: &'static str| {
            let app = &app;
            async move {
                let t = intake::new_token(&app.state.keyring, now_ms() - 10_000);
                let r = post(&c, app, "/contact", &[("token", &t), ("name", "Ann Example"), ("email", email), ("phone", ""), ("product", "Windows"), ("product_other", ""), ("subject", "Printer offline"), ("details", "The office printer shows offline since this morning."), ("birth_year", "1980"), ("website", "")]).await;
                assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
            }
        };
        send(browser_with(FIREFOX, &[]), "ann@example.com").await;
        send(browser_with(IPHONE, &[]), "bo@example.com").await;
        send(browser_with(EDGE, &[("dnt", "1")]), "dee@example.com").await;
        send(browser_with(GOOGLEBOT, &[]), "bot@example.com").await;
        // Outside any request (a job), a goal still counts, for nobody in particular.
        officecomms::analytics::goal(&app.state, "chat_started");
        // From a task a request spawned (a WebSocket), that request's privacy decides.
        let dnt = Privacy {
            do_not_track: true,
            ..Privacy::default()
        };
        officecomms::analytics::goal_for(&app.state, &dnt, "chat_started");
        officecomms::analytics::goal_for(&app.state, &Privacy::default(), "newsletter_confirmed");
        let goals = counts(&app, "goal").await;
        let keyed: Vec<_> = goals.iter().map(|r| (r.1.as_str(), r.2, r.3)).collect();
        assert_eq!(keyed, vec![("chat_started", 1, 0), ("newsletter_confirmed", 1, 0), ("query_sent", 2, 2)]);
        app.login_as("admin").await;
        let (_, page) = app.get_text("/admin/analytics").await;
        assert!(page.contains("<td>Query sent</td><td>2</td><td>2</td><td>0</td><td>new</td>"), "{page}");
    }

    async fn counts_stay_exact_across_midnight_and_a_graceful_restart(backend) {
        let app = spawn_in_utc(backend).await;
        let clock = &app.state.clock;
        clock.set(PI_DAY + DAY - 2_000); // 23:59:58
        let ann = browser_with(FIREFOX, &[]);
        let bo = browser_with(IPHONE, &[]);
        view(&ann, &app, "/").await;
        view(&ann, &app, "/").await;
        view(&bo, &app, "/").await;
        app.state.clock.advance(4_000); // 00:00:02 the next day
        view(&ann, &app, "/").await;
        // Stopped before the flusher's turn: the shutdown writes what is pending.
        let app = app.restart().await;
        let pending: i64 = sqlx::query_scalar("SELECT CAST(COALESCE(SUM(views), 0) AS BIGINT) FROM analytics_counts WHERE dimension = 'total'")
            .fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(pending, 4, "the graceful shutdown flushed every view");
        app.state.clock.set(PI_DAY + DAY + 60_000);
        let ann = browser_with(FIREFOX, &[]);
        let cy = browser_with(EDGE, &[]);
        view(&ann, &app, "/").await;
        view(&cy, &app, "/").await;
        app.login_as("admin").await;
        let rows = csv(&app, "2026-03-14", "2026-03-15").await;
        assert_eq!(rows, vec![
            ("2026-03-14".into(), "/".into(), 3, 2, 2),
            ("2026-03-15".into(), "/".into(), 3, 2, 2),
        ], "Ann is one visitor on each day, across the restart too");
        let salts: Vec<String> = sqlx::query_scalar("SELECT day FROM analytics_salts").fetch_all(&app.state.db.pool).await.unwrap();
        assert_eq!(salts, vec!["2026-03-15".to_string()], "the 14th's salt is gone");

        let (status, page) = app.get_text("/admin/analytics?from=2026-03-15&to=2026-03-15").await;
        assert_eq!(status, 200);
        assert!(page.contains("<p class=\"figure\" id=\"total-views\">3</p>"));
        assert!(page.contains("±0% against 3 from 2026-03-14 to 2026-03-14"), "{page}");
        for bad in ["from=2026-03-16&to=2026-03-15", "from=yesterday", "from=2024-01-01&to=2026-01-01"] {
            let (status, page) = app.get_text(&format!("/admin/analytics?{bad}")).await;
            assert_eq!(status, 400, "{bad}");
            assert!(page.contains("Please give the dates as YYYY-MM-DD"));
        }
    }

    async fn the_owner_can_switch_counting_off(backend) {
        let app = spawn_in_utc(backend).await;
        app.login_as("admin").await;
        let r = app.post_form("/admin/analytics/settings", &[]).await;
        assert_eq!(r.status(), 303);
        let (_, page) = app.get_text("/admin/analytics").await;
        assert!(page.contains("Counting is off"));
        view(&browser_with(FIREFOX, &[]), &app, "/").await;
        assert!(counts(&app, "total").await.is_empty());
        let app = app.restart().await;
        assert!(!app.state.analytics.enabled(), "the switch is kept");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_database_count_a_visitor_once() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let a = spawn_in_utc(backend).await;
    let b = a.sibling().await;
    let ann = browser_with(FIREFOX, &[]);
    view(&ann, &a, "/").await;
    view(&ann, &b, "/").await;
    view(&ann, &b, "/blog").await;
    officecomms::analytics::flush_now(&a.state).await.unwrap();
    let total = counts(&b, "total").await;
    assert_eq!(
        (total[0].2, total[0].3),
        (3, 1),
        "one visitor, whichever instance served her"
    );
    let paths = counts(&a, "path").await;
    let home = paths.iter().find(|r| r.1 == "/").unwrap();
    assert_eq!((home.2, home.3), (2, 1));
}

both! {
    async fn token_links_are_counted_without_their_tokens(backend) {
        let app = spawn_in_utc(backend).await;
        let ann = browser_with(FIREFOX, &[]);
        let t = intake::new_token(&app.state.keyring, now_ms() - 10_000);
        let r = post(&ann, &app, "/contact", &[("token", &t), ("name", "Ann"), ("email", "ann@example.com"), ("product", "Windows"), ("subject", "Help"), ("details", "My printer does not print at all"), ("birth_year", "1980"), ("website", "")]).await;
        assert_eq!(r.status(), 303);
        let received = r.headers()["location"].to_str().unwrap().to_string();
        assert_eq!(view(&ann, &app, &received).await, 200);
        app.drain_outbox().await;
        let conversation = app.mails()[0].link(&format!("{}/support/tickets/", app.base)).trim_start_matches(&app.base).to_string();
        assert_eq!(view(&ann, &app, &conversation).await, 200);
        let preferences = format!("/newsletter/preferences/{}", officecomms::newsletter::link_token(&app.state.keyring, 1, 0, now_ms()));
        view(&ann, &app, &preferences).await;
        let secrets: Vec<String> = [&received, &conversation, &preferences].iter().map(|p| p.rsplit('/').next().unwrap().to_string()).collect();

        app.login_as("admin").await;
        let rows = csv(&app, &today(), &today()).await;
        let paths: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
        assert!(paths.contains(&"/support/tickets/{token}") && paths.contains(&"/contact/received/{token}"), "{paths:?}");
        let body = app.get_text(&format!("/admin/analytics.csv?from={}&to={}", today(), today())).await.1;
        let stored: Vec<(String, String)> = sqlx::query_as("SELECT dimension, key FROM analytics_counts")
            .fetch_all(&app.state.db.pool).await.unwrap();
        assert!(stored.iter().any(|(_, k)| k == "/support/tickets/{token}"), "{stored:?}");
        for secret in &secrets {
            let sig = secret.rsplit('.').next().unwrap();
            assert!(!body.contains(sig), "the CSV holds a token: {body}");
            assert!(!stored.iter().any(|(_, k)| k.contains(sig)), "analytics_counts holds a token: {stored:?}");
        }
    }
}
