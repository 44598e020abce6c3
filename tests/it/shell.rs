//! The site shell and the HTTP hardening every route gets.

use crate::{both, helpers::*};

both! {
    async fn every_page_links_the_privacy_pages_and_sends_strict_headers(backend) {
        let app = TestApp::spawn(backend).await;
        for path in ["/", "/privacy", "/admin/login", "/no-such-page"] {
            let r = app.get(path).await;
            let h = r.headers().clone();
            let csp = h["content-security-policy"].to_str().unwrap().to_string();
            assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{path}: {csp}");
            assert!(csp.contains("frame-ancestors 'none'"));
            assert_eq!(h["x-content-type-options"], "nosniff");
            assert!(h.contains_key("referrer-policy") && h.contains_key("permissions-policy"));
            assert!(!h.contains_key("strict-transport-security"), "no HSTS over plain http");
            let body = r.text().await.unwrap();
            for link in ["href=\"/privacy\"", "href=\"/cookies\"", "href=\"/my-data\"", "href=\"/contact\""] {
                assert!(body.contains(link), "{path} lacks {link}");
            }
            assert!(body.contains("1200 Harbor Street"), "{path} lacks the postal address");
        }
    }

    async fn unknown_routes_get_a_friendly_html_404(backend) {
        let app = TestApp::spawn(backend).await;
        let r = app.get("/articles/../../etc/passwd").await;
        assert_eq!(r.status(), 404);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let body = r.text().await.unwrap();
        assert!(body.contains("Page not found"));
        assert!(body.contains("<footer"));
    }

    async fn static_assets_have_hashed_names_and_immutable_caching(backend) {
        let app = TestApp::spawn(backend).await;
        let (_, home) = app.get_text("/").await;
        let start = home.find("/static/app.").unwrap();
        let href = &home[start..start + home[start..].find('"').unwrap()];
        assert!(href.ends_with(".css") && href.len() > "/static/app..css".len() + 8, "{href}");
        let r = app.get(href).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["cache-control"], "public, max-age=31536000, immutable");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/css"));
        assert!(r.text().await.unwrap().contains("--accent"));
        assert_eq!(app.get("/static/app.000000000000.css").await.status(), 404);
    }

    async fn state_changing_requests_need_the_csrf_token(backend) {
        let app = TestApp::spawn(backend).await;
        app.create_staff("ann@officecomms.test", "admin").await;
        // No token at all.
        let r = app.client.post(app.url("/admin/login"))
            .form(&[("email", "ann@officecomms.test"), ("password", STAFF_PASSWORD)]).send().await.unwrap();
        assert_eq!(r.status(), 403);
        assert!(r.text().await.unwrap().contains("Form expired"));
        // Another visitor's token.
        let other = TestApp::csrf(&app).await;
        let fresh = client();
        let r = fresh.post(app.url("/admin/login"))
            .form(&[("csrf", other.as_str()), ("email", "ann@officecomms.test"), ("password", STAFF_PASSWORD)])
            .send().await.unwrap();
        assert_eq!(r.status(), 403);
        // The right token gets through.
        let r = app.post_form("/admin/login", &[("email", "ann@officecomms.test"), ("password", STAFF_PASSWORD)]).await;
        assert_eq!(r.status(), 303);
    }

    async fn oversized_bodies_get_413_and_nothing_is_written(backend) {
        let app = TestApp::spawn_with(backend, |c| c.body_limit = 2048).await;
        let csrf = app.csrf().await;
        let big = "x".repeat(4096);
        let r = app.client.post(app.url("/admin/login"))
            .form(&[("csrf", csrf.as_str()), ("email", big.as_str()), ("password", "p")]).send().await.unwrap();
        assert_eq!(r.status(), 413);
        assert!(r.text().await.unwrap().contains("larger than we accept"));
    }

    async fn malformed_forms_get_400_never_500(backend) {
        let app = TestApp::spawn(backend).await;
        let csrf = app.csrf().await;
        // Invalid UTF-8 in a field.
        let body = format!("csrf={csrf}&email=%FF%FE&password=x");
        let r = app.client.post(app.url("/admin/login"))
            .header("content-type", "application/x-www-form-urlencoded").body(body).send().await.unwrap();
        assert_eq!(r.status(), 400);
        assert!(r.text().await.unwrap().contains("could not be read"));
        // Wrong content type with the token in a header.
        let r = app.client.post(app.url("/admin/login")).header("x-csrf-token", &csrf)
            .header("content-type", "application/json").body("{}").send().await.unwrap();
        assert_eq!(r.status(), 415);
    }

    async fn too_many_posts_from_one_address_get_429(backend) {
        let app = TestApp::spawn_with(backend, |c| c.login_per_minute = 3).await;
        let mut statuses = vec![];
        for _ in 0..5 {
            let r = app.post_form("/admin/login", &[("email", "x@example.com"), ("password", "wrong password")]).await;
            statuses.push(r.status().as_u16());
            if r.status() == 429 {
                assert_eq!(r.headers()["retry-after"], "60");
                assert!(r.text().await.unwrap().contains("Too many requests"));
            }
        }
        assert_eq!(statuses, vec![401, 401, 401, 429, 429]);
    }

    async fn https_base_url_turns_on_hsts_and_secure_cookies(backend) {
        let app = TestApp::spawn_with(backend, |c| c.base_url = "https://officecomms.test/".parse().unwrap()).await;
        let r = app.get("/").await;
        assert!(r.headers()["strict-transport-security"].to_str().unwrap().contains("max-age="));
        let cookie = r.headers()["set-cookie"].to_str().unwrap();
        assert!(cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
        assert!(cookie.starts_with("__Host-oc_csrf=") && cookie.contains("Path=/") && !cookie.contains("Domain"), "{cookie}");
    }

    async fn health_and_metrics_report_the_database_and_traffic(backend) {
        let app = TestApp::spawn(backend).await;
        let (status, body) = app.get_text("/healthz").await;
        assert_eq!(status, 200);
        assert!(body.contains("\"database\":\"ok\""));
        app.get("/privacy").await;
        app.get("/nope").await;
        let (_, metrics) = app.get_text("/metrics").await;
        assert!(metrics.contains("officecomms_http_requests_total{method=\"GET\",route=\"/privacy\",status=\"200\"} 1"), "{metrics}");
        assert!(metrics.contains("status=\"404\""));
        assert!(metrics.contains("officecomms_http_request_duration_seconds_bucket"));
        assert!(metrics.contains("officecomms_outbox_depth 0"));
    }

    async fn metrics_are_for_trusted_addresses_or_the_token_holder(backend) {
        let app = TestApp::spawn_with(backend, |c| {
            c.trust_proxy = officecomms::config::TrustedProxies::parse("127.0.0.1").unwrap();
            c.metrics_token = Some("scrape-secret-0123456789".into());
        }).await;
        // Through our proxy, from the internet: refused without the token.
        let from_outside = |token: Option<&str>| {
            let mut r = app.client.get(app.url("/metrics")).header("x-forwarded-for", "203.0.113.9");
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            r.send()
        };
        let refused = from_outside(None).await.unwrap();
        assert_eq!(refused.status(), 403);
        assert!(!refused.text().await.unwrap().contains("officecomms_http_requests_total"));
        assert_eq!(from_outside(Some("wrong")).await.unwrap().status(), 403);
        let r = from_outside(Some("scrape-secret-0123456789")).await.unwrap();
        assert_eq!(r.status(), 200);
        let body = r.text().await.unwrap();
        assert!(body.contains("officecomms_outbox_depth"), "{body}");
        // The refusals themselves are counted.
        assert!(body.contains("status=\"403\""), "{body}");
        // From this machine itself, no token needed.
        let (status, body) = app.get_text("/metrics").await;
        assert_eq!(status, 200);
        assert!(body.contains("officecomms_http_requests_total"));
    }

    async fn do_not_track_and_gpc_are_acknowledged(backend) {
        let app = TestApp::spawn(backend).await;
        let plain = app.get_text("/").await.1;
        assert!(!plain.contains("asked us not to track you"));
        for header in ["dnt", "sec-gpc"] {
            let body = app.client.get(app.url("/")).header(header, "1").send().await.unwrap().text().await.unwrap();
            assert!(body.contains("asked us not to track you"), "{header} not honoured");
        }
    }
}

both! {
    async fn a_restart_keeps_every_account_and_setting(backend) {
        let app = TestApp::spawn(backend).await;
        app.create_staff("fay@officecomms.test", "editor").await;
        let app = app.restart().await;
        let r = app.post_form("/admin/login", &[("email", "fay@officecomms.test"), ("password", STAFF_PASSWORD)]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(app.get("/admin").await.status(), 200);
    }
}
