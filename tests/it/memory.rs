//! Memory kept on purpose stays within its budget: the content cache, the
//! analytics counter, and `/metrics` says what each holds.

use crate::{both, consent::FIREFOX, helpers::*};

/// The value of `officecomms_<metric>{cache="<cache>"}` in `/metrics`.
fn figure(metrics: &str, metric: &str, cache: &str) -> i64 {
    let prefix = format!("officecomms_{metric}{{cache=\"{cache}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("{prefix} in {metrics}"))
        .trim()
        .parse()
        .unwrap()
}

/// Every published article's path on the demo site.
async fn article_paths(app: &TestApp) -> Vec<String> {
    let (_, sitemap) = app.get_text("/sitemap.xml").await;
    sitemap
        .split("<loc>")
        .filter_map(|s| s.split("</loc>").next())
        .filter_map(|url| url.find("/articles/").map(|i| url[i..].to_string()))
        .collect()
}

both! {
    async fn the_content_cache_stays_within_its_budget_and_says_so(backend) {
        // 96 KiB in all: 48 KiB for pages, a handful of article pages.
        let app = TestApp::spawn_with(backend, |c| c.cache_bytes = 96 * 1024).await;
        let (_, metrics) = app.get_text("/metrics").await;
        assert_eq!(figure(&metrics, "cache_budget_bytes", "content_pages"), 48 * 1024);
        assert_eq!(figure(&metrics, "cache_budget_bytes", "content_search_terms"), 16 * 1024);
        assert_eq!(figure(&metrics, "cache_bytes", "content_pages"), 0);

        let paths = article_paths(&app).await;
        assert!(paths.len() >= 8, "demo articles: {paths:?}");
        // Every article twice (the second from the cache when it is still
        // there), and searches nobody asked before, each cached on its own.
        for round in 0..2 {
            for path in &paths {
                let (status, page) = app.get_text(path).await;
                assert_eq!(status, 200, "{path} in round {round}");
                assert!(page.contains("<article"), "{path} is an article page");
            }
            for n in 0..30 {
                let (status, _) = app.get_text(&format!("/search?q=windows+{n}")).await;
                assert_eq!(status, 200);
            }
        }
        let (_, metrics) = app.get_text("/metrics").await;
        let bytes = figure(&metrics, "cache_bytes", "content_pages");
        let entries = figure(&metrics, "cache_entries", "content_pages");
        assert!(bytes > 0 && entries > 0, "{bytes} bytes in {entries} entries");
        assert!(bytes <= 48 * 1024, "{bytes} bytes held against a budget of 48 KiB");
        assert!(
            figure(&metrics, "cache_evictions_total", "content_pages") > 0,
            "filled past its budget, it evicted: {metrics}"
        );
        assert!(figure(&metrics, "cache_bytes", "content_search_terms") <= 16 * 1024);
        assert!(figure(&metrics, "cache_bytes", "content_search_live") <= 32 * 1024);
        // Evicted pages come back whole.
        for path in &paths {
            let (status, page) = app.get_text(path).await;
            assert_eq!(status, 200);
            assert!(page.contains("</html>"));
        }

        // An edit empties it, and says so.
        app.state.content.cache.invalidate();
        let (_, metrics) = app.get_text("/metrics").await;
        assert_eq!(figure(&metrics, "cache_entries", "content_pages"), 0);
    }

    async fn a_page_larger_than_the_whole_budget_is_served_and_not_kept(backend) {
        let app = TestApp::spawn_with(backend, |c| c.cache_bytes = 2048).await;
        let paths = article_paths(&app).await;
        let (status, first) = app.get_text(&paths[0]).await;
        assert_eq!(status, 200);
        let (_, again) = app.get_text(&paths[0]).await;
        assert_eq!(extract_csrf(&first).len(), extract_csrf(&again).len());
        assert!(again.contains("<article"));
        let (_, metrics) = app.get_text("/metrics").await;
        assert_eq!(figure(&metrics, "cache_entries", "content_pages"), 0, "{metrics}");
        assert_eq!(figure(&metrics, "cache_bytes", "content_pages"), 0);
    }

    async fn the_analytics_counter_forgets_its_visitor_sets_over_budget_and_counts_stay_exact(backend) {
        // A budget smaller than 300 visitors' sets.
        let app = TestApp::spawn_with(backend, |c| c.analytics_buffer_bytes = 4096).await;
        let browser = |n: usize| {
            reqwest::Client::builder()
                .user_agent(format!("{FIREFOX} visitor/{n}"))
                .build()
                .unwrap()
        };
        for n in 0..300 {
            let r = browser(n).get(app.url("/articles")).send().await.unwrap();
            assert_eq!(r.status(), 200);
        }
        officecomms::analytics::flush_now(&app.state).await.unwrap();
        let (_, metrics) = app.get_text("/metrics").await;
        let held = figure(&metrics, "cache_bytes", "analytics");
        assert!(held <= 4096, "{held} bytes held after the flush against 4,096");
        assert!(figure(&metrics, "cache_evictions_total", "analytics") > 0);
        // The same 300 again, and 10 new: still 310 visitors, 610 views.
        for n in 0..310 {
            browser(n).get(app.url("/articles")).send().await.unwrap();
        }
        officecomms::analytics::flush_now(&app.state).await.unwrap();
        let (views, visitors): (i64, i64) = sqlx::query_as(
            "SELECT views, visitors FROM analytics_counts WHERE dimension = 'path' AND key = '/articles'",
        )
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
        assert_eq!((views, visitors), (610, 310));
    }
}
