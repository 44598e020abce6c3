//! Walks every route declared in the source, so a new route cannot be
//! forgotten: every /admin route refuses anonymous visitors and the wrong
//! role, and every state-changing route refuses a missing CSRF token.

use crate::helpers::*;

/// Which role each back-office area needs (DESIGN.md). A new area must be
/// added here, or this test fails.
const AREAS: &[(&str, &str)] = &[
    ("/admin/users", "admin"),
    ("/admin/settings", "admin"),
    ("/admin/audit", "admin"),
    ("/admin/subscribers", "admin"),
    ("/admin/campaigns", "admin"),
    ("/admin/analytics", "admin"),
    ("/admin/analytics.csv", "admin"),
    ("/admin/privacy", "admin"),
    ("/admin/services", "admin"),
    ("/admin/orders", "admin"),
    ("/admin/integrity", "admin"),
    ("/admin/automations", "admin"),
    ("/admin/webhooks", "admin"),
    ("/admin/consent", "admin"),
    ("/admin/articles", "editor"),
    ("/admin/surveys", "editor"),
    ("/admin/uploads", "editor"),
    ("/admin/tickets", "agent"),
    ("/admin/canned", "agent"),
    ("/admin/chat", "agent"),
];

/// Staff pages open to anyone signed in, and the public ones under /admin.
const ANY_STAFF: &[&str] = &[
    "/admin",
    "/admin/dashboard.json",
    "/admin/logout",
    "/admin/account",
    "/admin/account/notifications",
    "/admin/account/password",
    "/admin/notifications",
    "/admin/notifications/read-all",
    "/admin/notifications/{id}",
    "/admin/account/tokens",
    "/admin/account/tokens/{id}/revoke",
    "/admin/account/two-factor",
    "/admin/account/two-factor/confirm",
    "/admin/account/two-factor/cancel",
    "/admin/account/two-factor/disable",
    "/admin/search",
];
/// The second sign-in step runs on a signed cookie from the password step,
/// before any session (`two_factor::required_two_factor_sends_a_member_to_enrolment_and_off_needs_a_code`).
const PUBLIC_ADMIN: &[&str] = &[
    "/admin/login",
    "/admin/login/code",
    "/admin/login/enrol",
    "/admin/invite/{token}",
];
/// State-changing routes authenticated by a token in the URL (RFC 8058),
/// and the JSON API, which reads a bearer token and never a cookie
/// (`api::tokens_carry_scopes_and_expiry_and_die_with_their_owner`).
const CSRF_EXEMPT: &[&str] = &["/unsubscribe/", "/api/"];

struct Route {
    path: String,
    methods: Vec<&'static str>,
}

/// Every `.route("path", method(handler)…)` in src/.
fn declared_routes() -> Vec<Route> {
    let mut files = vec![];
    let mut dirs = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src"
    ))];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(std::fs::read_to_string(path).unwrap());
            }
        }
    }
    let mut routes = vec![];
    for source in files {
        let mut rest = source.as_str();
        while let Some(at) = rest.find(".route(") {
            rest = &rest[at + ".route(".len()..];
            // The call's text, up to its matching parenthesis.
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(i, _)| i)
                .unwrap();
            let call = &rest[..end];
            let Some(path) = call.split('"').nth(1) else {
                continue;
            };
            if !path.starts_with('/') {
                continue;
            }
            let methods = ["get", "post", "put", "patch", "delete"]
                .into_iter()
                .filter(|m| call.contains(&format!("{m}(")) || call.contains(&format!(".{m}(")))
                .collect();
            routes.push(Route {
                path: path.to_string(),
                methods,
            });
        }
    }
    assert!(
        routes.len() > 15,
        "route scan found too little: {}",
        routes.len()
    );
    routes
}

fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| match seg {
            s if s.starts_with('{') && s.contains("id") => "1".to_string(),
            s if s.starts_with('{') => "x".to_string(),
            s => s.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn required_role(path: &str) -> Option<&'static str> {
    if ANY_STAFF.contains(&path) {
        return Some("any");
    }
    AREAS
        .iter()
        .find(|(prefix, _)| path == *prefix || path.starts_with(&format!("{prefix}/")))
        .map(|(_, r)| *r)
}

fn outsiders(role: &str) -> &'static [&'static str] {
    match role {
        "admin" => &["agent", "editor"],
        "editor" => &["agent"],
        "agent" => &["editor"],
        _ => &[],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_route_refuses_anonymous_visitors_and_the_wrong_role() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let routes = declared_routes();
    let mut staff = std::collections::HashMap::new();
    for role in ["admin", "agent", "editor"] {
        let email = format!("{role}-walker@officecomms.test");
        app.create_staff(&email, role).await;
        let c = client();
        let page = c
            .get(app.url("/admin/login"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = extract_csrf(&page);
        let r = c
            .post(app.url("/admin/login"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", email.as_str()),
                ("password", STAFF_PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        staff.insert(role, (c, csrf));
    }
    let anonymous = client();
    let anon_csrf = extract_csrf(
        &anonymous
            .get(app.url("/admin/login"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    let mut checked = 0;
    for route in routes
        .iter()
        .filter(|r| r.path.starts_with("/admin") && !PUBLIC_ADMIN.contains(&r.path.as_str()))
    {
        let role = required_role(&route.path).unwrap_or_else(|| {
            panic!(
                "{} is in no back-office area: add it to AREAS in tests/it/routes.rs",
                route.path
            )
        });
        let url = app.url(&concrete(&route.path));
        for method in &route.methods {
            let request = |c: &reqwest::Client, csrf: &str| match *method {
                "get" => c.get(&url),
                m => c
                    .request(m.to_uppercase().parse().unwrap(), &url)
                    .form(&[("csrf", csrf)]),
            };
            let r = request(&anonymous, &anon_csrf).send().await.unwrap();
            assert_eq!(
                r.status(),
                303,
                "{method} {} lets an anonymous visitor in",
                route.path
            );
            assert_eq!(r.headers()["location"], "/admin/login");
            for outsider in outsiders(role) {
                let (c, csrf) = &staff[outsider];
                let r = request(c, csrf).send().await.unwrap();
                assert_eq!(
                    r.status(),
                    403,
                    "{method} {} lets an {outsider} in",
                    route.path
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} admin routes checked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_state_changing_route_refuses_a_missing_or_wrong_csrf_token() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let email = app.login_as("admin").await;
    let _ = email;
    let mut checked = 0;
    for route in declared_routes() {
        if CSRF_EXEMPT.iter().any(|p| route.path.starts_with(p)) {
            continue;
        }
        for method in route.methods.iter().filter(|m| **m != "get") {
            let url = app.url(&concrete(&route.path));
            let m: reqwest::Method = method.to_uppercase().parse().unwrap();
            let r = app
                .client
                .request(m.clone(), &url)
                .form(&[("x", "1")])
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.status(),
                403,
                "{method} {} accepted without a CSRF token",
                route.path
            );
            let r = app
                .client
                .request(m, &url)
                .form(&[("csrf", "forged-token-value-that-is-long-enough-x")])
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.status(),
                403,
                "{method} {} accepted a forged CSRF token",
                route.path
            );
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} state-changing routes checked");
}
