//! The staff shell: sidebar counts, global search, time zones and staff
//! names (the browser's view is in `browser_shell.rs`).

use crate::{both, helpers::*};
use officecomms::{
    chat::conversations,
    platform::forms::EmailAddress,
    staff,
    support::{intake::NewTicket, tickets},
};

/// A ticket made as the contact form makes it, at the platform clock's
/// "now"; its id and reference.
pub async fn seed_ticket(
    app: &TestApp,
    name: &str,
    email: &str,
    title: &str,
    details: &str,
) -> (i64, String) {
    let new = NewTicket {
        name: name.into(),
        email: email.parse::<EmailAddress>().unwrap(),
        phone: None,
        phone_e164: None,
        product: "Windows".into(),
        product_other: None,
        title: title.into(),
        details: details.into(),
        attachments: vec![],
    };
    let nonce = officecomms::platform::random_token(12);
    match tickets::create(&app.state, &new, &nonce, b"test-ip")
        .await
        .unwrap()
    {
        tickets::Created::New { id, reference } => (id, reference.to_string()),
        tickets::Created::Existing { .. } => panic!("a fresh nonce made an existing ticket"),
    }
}

/// Signs `app`'s own client in as a new member with this name; their address.
pub async fn sign_in_named(app: &TestApp, name: &str, role: &str) -> String {
    let email = format!(
        "{}-{}@officecomms.test",
        role,
        officecomms::platform::random_token(4).to_lowercase()
    );
    staff::add_user_cli(
        &app.state,
        &email,
        Some(name),
        staff::Role::parse(role).unwrap(),
        STAFF_PASSWORD,
    )
    .await
    .unwrap();
    let r = app
        .post_form(
            "/admin/login",
            &[("email", &email), ("password", STAFF_PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), 303);
    email
}

pub async fn staff_id(app: &TestApp, email: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM staff_users WHERE email = $1")
        .bind(email)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

pub async fn exec(app: &TestApp, sql: &'static str, id: i64) {
    sqlx::query(sql)
        .bind(id)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
}

pub async fn exec_sql(app: &TestApp, sql: &'static str) {
    sqlx::query(sql).execute(&app.state.db.pool).await.unwrap();
}

/// An order request placed through the cart and checkout, as a visitor would.
pub async fn place_order(app: &TestApp, name: &str, email: &str) {
    let visitor = client();
    let csrf = extract_csrf(
        &visitor
            .get(app.url("/cart"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    let services = officecomms::shop::db::active_services(&app.state.db)
        .await
        .unwrap();
    let r = visitor
        .post(app.url("/cart"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("action", "add"),
            ("service", &services[0].id.to_string()),
            ("quantity", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let form = visitor
        .get(app.url("/checkout"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = "name=\"idempotency_key\" value=\"";
    let start = form.find(marker).expect("checkout form") + marker.len();
    let key = &form[start..start + form[start..].find('"').unwrap()];
    let r = visitor
        .post(app.url("/checkout"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", name),
            ("email", email),
            ("phone", ""),
            ("company", "Acme Dental"),
            ("notes", ""),
            ("birth_year", "1980"),
            ("idempotency_key", key),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
}

/// The figure the sidebar shows beside the link to `href`.
pub fn sidebar_count(page: &str, href: &str) -> Option<i64> {
    let link = page.find(&format!("<a href=\"{href}\""))?;
    let end = link + page[link..].find("</a>")?;
    let anchor = &page[link..end];
    let at = anchor.find("data-count=\"")? + "data-count=\"".len();
    anchor[at..at + anchor[at..].find('"')?].parse().ok()
}

/// Seeds 2 open tickets of the admin's, 4 unassigned ones (and others that
/// must not count), 3 waiting chats and 1 new order; the admin's address.
pub async fn seed_counts(app: &TestApp) -> String {
    let me = sign_in_named(app, "Dana Whitfield", "admin").await;
    let my_id = staff_id(app, &me).await;
    let colleague = app.new_staff("agent").await;
    let their_id = staff_id(app, &colleague).await;
    let mut ids = vec![];
    for i in 0..9 {
        let (id, _) = seed_ticket(
            app,
            "Pat Lee",
            &format!("pat{i}@example.com"),
            "Printer offline",
            "It stopped.",
        )
        .await;
        ids.push(id);
    }
    for id in &ids[0..2] {
        sqlx::query("UPDATE tickets SET assignee_id = $1 WHERE id = $2")
            .bind(my_id)
            .bind(*id)
            .execute(&app.state.db.pool)
            .await
            .unwrap();
    }
    // Mine but solved, a colleague's, and an unassigned closed one: none counts as mine or unassigned.
    sqlx::query("UPDATE tickets SET assignee_id = $1, status = 'solved' WHERE id = $2")
        .bind(my_id)
        .bind(ids[2])
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE tickets SET assignee_id = $1 WHERE id = $2")
        .bind(their_id)
        .bind(ids[3])
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    exec(
        app,
        "UPDATE tickets SET status = 'closed' WHERE id = $1",
        ids[4],
    )
    .await;
    // ids[5..9]: four open and unassigned, one of them pending.
    exec(
        app,
        "UPDATE tickets SET status = 'pending' WHERE id = $1",
        ids[5],
    )
    .await;
    for name in ["Ann", "Ben", "Cy", "Di"] {
        conversations::start(&app.state, name, None, None, None)
            .await
            .unwrap();
    }
    // One chat taken by an agent: no longer waiting.
    exec_sql(app, "UPDATE chat_conversations SET status = 'active' WHERE id = (SELECT MIN(id) FROM chat_conversations)").await;
    place_order(app, "Robin Buyer", "robin@example.com").await;
    place_order(app, "Sam Buyer", "sam@example.com").await;
    exec_sql(
        app,
        "UPDATE orders SET status = 'contacted' WHERE id = (SELECT MIN(id) FROM orders)",
    )
    .await;
    me
}

both! {
    async fn the_sidebar_counts_my_tickets_unassigned_ones_waiting_chats_and_new_orders(backend) {
        let app = TestApp::spawn(backend).await;
        seed_counts(&app).await;
        let (status, page) = app.get_text("/admin").await;
        assert_eq!(status, 200);
        assert_eq!(sidebar_count(&page, "/admin/tickets?assignee=me"), Some(2), "my open tickets");
        assert_eq!(sidebar_count(&page, "/admin/tickets?assignee=none"), Some(4), "unassigned");
        assert_eq!(sidebar_count(&page, "/admin/chat"), Some(3), "waiting chats");
        assert_eq!(sidebar_count(&page, "/admin/orders"), Some(1), "new orders");
        assert!(page.contains("open tickets assigned to you"), "the figure says what it counts");
        // The shell, not the public site's header and footer.
        assert!(page.contains("class=\"sidebar\"") && page.contains("action=\"/admin/search\""));
        assert!(!page.contains("footer-newsletter") && !page.contains("site-footer") && !page.contains("chat-launcher"));
        assert!(page.contains("Dana Whitfield") && page.contains("href=\"/admin/account\""));

        // An agent sees the support counts, never the shop's.
        let agent = app.staff_client("agent").await.client;
        let page = agent.get(app.url("/admin/tickets")).send().await.unwrap().text().await.unwrap();
        assert_eq!(sidebar_count(&page, "/admin/tickets?assignee=me"), Some(0));
        assert_eq!(sidebar_count(&page, "/admin/tickets?assignee=none"), Some(4));
        assert!(!page.contains("href=\"/admin/orders\""));
        let all = page.find("<a href=\"/admin/tickets\" aria-current=\"page\"");
        assert!(all.is_some(), "the current page is marked in the sidebar");

        // Visitors get the public site, no sidebar and no counts.
        let visitor = client();
        let home = visitor.get(app.url("/")).send().await.unwrap().text().await.unwrap();
        assert!(!home.contains("data-count") && home.contains("footer-newsletter"));
        let login = visitor.get(app.url("/admin/login")).send().await.unwrap().text().await.unwrap();
        assert!(!login.contains("class=\"sidebar\"") && !login.contains("footer-newsletter"), "sign-in: a bare staff page");
        assert!(login.contains("href=\"/privacy\""));
    }

    async fn global_search_finds_tickets_by_reference_requester_and_words_for_the_roles_that_may_see_them(backend) {
        let app = TestApp::spawn(backend).await;
        let (id, reference) = seed_ticket(&app, "Quentin Marsh", "q.marsh@example.com", "Scanner jams on duplex pages", "The Brother scanner eats every second sheet.").await;
        seed_ticket(&app, "Olga Ferreira", "olga@example.com", "Outlook keeps asking for a password", "Since Monday.").await;
        place_order(&app, "Quentin Marsh", "q.marsh@example.com").await;
        let agent = app.staff_client("agent").await.client;
        let search = |c: &reqwest::Client, q: &str| {
            let url = format!("{}?q={}", app.url("/admin/search"), url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>());
            let c = c.clone();
            async move {
                let r = c.get(url).send().await.unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            }
        };
        let link = format!("href=\"/admin/tickets/{id}\"");
        for q in [reference.as_str(), &reference.to_lowercase(), "q.marsh@example.com", "quentin", "duplex", "brother scanner", "EATS second"] {
            let (status, page) = search(&agent, q).await;
            assert_eq!(status, 200, "{q}");
            assert!(page.contains(&link), "{q} finds the ticket");
            assert!(!page.contains("Outlook keeps asking"), "{q} finds only that ticket");
        }
        let (_, page) = search(&agent, "olga duplex").await;
        assert!(page.contains("Nothing found for"), "every word must match");
        let (_, page) = search(&agent, "zebra").await;
        assert!(page.contains("Nothing found for “zebra”"));
        // An agent's search has no shop or newsletter section, even where they would match.
        let (_, page) = search(&agent, "marsh").await;
        assert!(page.contains(&link) && !page.contains("href=\"/admin/orders/"), "{page}");
        assert!(!page.contains("Newsletter subscribers") && !page.contains("Articles and posts"));

        // An editor sees articles, never tickets.
        let editor = app.staff_client("editor").await.client;
        let (_, page) = search(&editor, "outlook").await;
        assert!(page.contains("Articles and posts") && page.contains("href=\"/admin/articles/"));
        assert!(!page.contains("href=\"/admin/tickets/"), "editors see no tickets");

        // An admin sees every section, orders too.
        let admin = app.staff_client("admin").await.client;
        let (_, page) = search(&admin, "marsh").await;
        assert!(page.contains(&link) && page.contains("href=\"/admin/orders/"), "{page}");

        // Signed out: no search.
        let r = client().get(app.url("/admin/search?q=marsh")).send().await.unwrap();
        assert_ne!(r.status(), 200);
        // The search is audited without its text.
        let detail: String = sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'search' ORDER BY id DESC LIMIT 1")
            .fetch_one(&app.state.db.pool).await.unwrap();
        assert!(detail.contains("Tickets: 1") && !detail.contains("marsh"), "{detail}");
    }

    async fn hostile_searches_get_a_clear_message_never_a_500(backend) {
        let app = TestApp::spawn(backend).await;
        seed_ticket(&app, "Ann", "ann@example.com", "100% broken_printer", "x").await;
        let agent = app.staff_client("agent").await.client;
        let get = |query: String| {
            let c = agent.clone();
            let url = format!("{}?{query}", app.url("/admin/search"));
            async move {
                let r = c.get(url).send().await.unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            }
        };
        let (status, page) = get(format!("q={}", "a".repeat(5_000))).await;
        assert_eq!(status, 400);
        assert!(page.contains("too long"), "{page}");
        let (status, page) = get("q=abc%00def".into()).await;
        assert_eq!(status, 400);
        assert!(page.contains("characters we cannot search for"));
        let (status, _) = get("q=%FF%FE".into()).await;
        assert_eq!(status, 400);
        let (status, page) = get("q=%3Cscript%3Ealert(1)%3C%2Fscript%3E".into()).await;
        assert_eq!(status, 200);
        assert!(!page.contains("<script>alert(1)") && page.contains("Nothing found"));
        let (status, page) = get("q=%25%27%20OR%201%3D1%20--".into()).await;
        assert_eq!(status, 200);
        assert!(page.contains("Nothing found"), "no wildcard, no injection");
        let (status, page) = get("q=100%25".into()).await;
        assert_eq!(status, 200);
        assert!(page.contains("100% broken_printer"), "a literal % is searched as itself");
        let (status, _) = get("q=OC-9999-000001".into()).await;
        assert_eq!(status, 200);
        let (status, _) = get("q=a&q=b&x=%ZZ".into()).await;
        assert_eq!(status, 200);
    }

    async fn time_zones_are_checked_and_times_follow_the_viewer(backend) {
        let app = TestApp::spawn(backend).await;
        sign_in_named(&app, "Dana Whitfield", "admin").await;
        // 15 July 2026, 16:15 UTC: 09:15 in California (PDT), 18:15 in Berlin (CEST).
        app.state.clock.set(1_784_132_100_000);
        let (id, _) = seed_ticket(&app, "Ann", "ann@example.com", "Summer ticket", "x").await;
        app.state.clock.set(officecomms::platform::now_ms());
        let ticket = format!("/admin/tickets/{id}");
        let (_, page) = app.get_text(&ticket).await;
        assert!(page.contains("15 Jul 2026, 09:15 PDT"), "the company's zone until one is chosen");

        let r = app.post_form("/admin/account", &[("display_name", "Dana Whitfield"), ("time_zone", "Mars/Olympus_Mons")]).await;
        assert_eq!(r.status(), 422);
        let body = r.text().await.unwrap();
        assert!(body.contains("not a time zone we know") && body.contains("Mars/Olympus_Mons"), "the form comes back with what was typed");
        let r = app.post_form("/admin/account", &[("display_name", "Dana Whitfield"), ("time_zone", "-0800")]).await;
        assert_eq!(r.status(), 422);
        let r = app.post_form("/admin/account", &[("display_name", "Dana Whitfield"), ("time_zone", &"A/".repeat(300))]).await;
        assert_eq!(r.status(), 422);
        let stored: String = sqlx::query_scalar("SELECT time_zone FROM staff_users WHERE display_name = 'Dana Whitfield'")
            .fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(stored, "", "nothing half-saved");

        let r = app.post_form("/admin/account", &[("display_name", "Dana Whitfield"), ("time_zone", " Europe/Berlin ")]).await;
        assert_eq!(r.status(), 303);
        let (_, page) = app.get_text(&ticket).await;
        assert!(page.contains("15 Jul 2026, 18:15 CEST"), "the member's own zone");
        let (_, page) = app.get_text("/admin/account?saved=1").await;
        assert!(page.contains("value=\"Europe/Berlin\"") && page.contains("Saved."));

        // The company's zone: validated too, and used for visitors.
        let site = app.state.site();
        let form = |zone: &'static str| -> Vec<(&'static str, String)> {
            officecomms::platform::settings::FIELDS
                .iter()
                .map(|(k, _)| (*k, if *k == "time_zone" { zone.to_string() } else { site.get(k).to_string() }))
                .collect()
        };
        let app_ref = &app;
        let post_settings = |fields: Vec<(&'static str, String)>| async move {
            let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app_ref.post_form("/admin/settings", &refs).await
        };
        let r = post_settings(form("Pacific/Atlantis")).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("not a time zone we know"));
        assert_eq!(app.state.site().time_zone.name(), "America/Los_Angeles");
        let r = post_settings(form("America/New_York")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(app.state.site().time_zone.name(), "America/New_York");
        // Back to following the company: empty is allowed.
        let r = app.post_form("/admin/account", &[("display_name", "Dana Whitfield"), ("time_zone", "")]).await;
        assert_eq!(r.status(), 303);
        let (_, page) = app.get_text(&ticket).await;
        assert!(page.contains("15 Jul 2026, 12:15 EDT"), "the company's new zone");
    }

    async fn staff_names_are_real_names_chosen_by_their_owners(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("admin").await;
        let r = app.post_form("/admin/users", &[("email", "dana.whitfield@officecomms.test"), ("display_name", "D."), ("role", "agent")]).await;
        assert_eq!(r.status(), 200);
        let r = app.post_form("/admin/users", &[("email", "x@officecomms.test"), ("display_name", "x@officecomms.test"), ("role", "agent")]).await;
        assert_eq!(r.status(), 422, "an address is not a name");
        app.drain_outbox().await;
        let mail = app.mails().into_iter().find(|m| m.to == "dana.whitfield@officecomms.test").unwrap();
        let path = mail.link(&format!("{}/admin/invite/", app.base)).trim_start_matches(&app.base).to_string();
        let invitee = client();
        let page = invitee.get(app.url(&path)).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("value=\"D.\""), "the name the admin typed, to correct");
        let csrf = extract_csrf(&page);
        let r = invitee.post(app.url(&path)).form(&[("csrf", csrf.as_str()), ("display_name", " "), ("password", "a long enough password")]).send().await.unwrap();
        assert_eq!(r.status(), 422);
        let r = invitee.post(app.url(&path)).form(&[("csrf", csrf.as_str()), ("display_name", "Dana Whitfield"), ("password", "a long enough password")]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let (_, users) = app.get_text("/admin/users").await;
        assert!(users.contains("Dana Whitfield"));

        // The command line: --name, or a name made from the address.
        staff::add_user_cli(&app.state, "lee.chan@officecomms.test", None, staff::Role::Agent, STAFF_PASSWORD).await.unwrap();
        staff::add_user_cli(&app.state, "kim@officecomms.test", Some("Kim Novak"), staff::Role::Agent, STAFF_PASSWORD).await.unwrap();
        assert!(staff::add_user_cli(&app.state, "z@officecomms.test", Some("z@officecomms.test"), staff::Role::Agent, STAFF_PASSWORD).await.is_err());
        let names: Vec<String> = sqlx::query_scalar("SELECT display_name FROM staff_users WHERE email IN ('lee.chan@officecomms.test', 'kim@officecomms.test') ORDER BY email")
            .fetch_all(&app.state.db.pool).await.unwrap();
        assert_eq!(names, ["Kim Novak", "Lee Chan"]);

        // Each member edits their own.
        let r = app.post_form("/admin/account", &[("display_name", ""), ("time_zone", "")]).await;
        assert_eq!(r.status(), 422);
        let r = app.post_form("/admin/account", &[("display_name", "Robin Admin"), ("time_zone", "")]).await;
        assert_eq!(r.status(), 303);
        let (_, page) = app.get_text("/admin").await;
        assert!(page.contains("<span class=\"me-name\">Robin Admin</span>"));
    }

    async fn a_reply_mail_names_the_staff_member_who_wrote_it(backend) {
        let Some(smtp) = SmtpServer::start() else { return };
        let app = TestApp::spawn_with(backend, |c| c.smtp_url = Some(smtp.url())).await;
        let (id, reference) = seed_ticket(&app, "Bob Stone", "bob@example.com", "VPN drops", "Every hour.").await;
        sign_in_named(&app, "Dana Whitfield", "agent").await;
        let r = app.post_form(&format!("/admin/tickets/{id}/reply"), &[("body", "Please update the VPN client."), ("status", "pending")]).await;
        assert_eq!(r.status(), 303);
        app.drain_outbox().await;
        let messages = smtp.wait_for(2).await;
        let reply = messages.iter().map(|m| Mail::parse(m)).find(|m| m.subject.starts_with("Re:")).expect("the reply arrived");
        assert_eq!(reply.to, "bob@example.com");
        assert!(reply.subject.contains(&reference));
        assert!(reply.text.contains("Dana Whitfield from officecomms answered"), "{}", reply.text);
        assert!(reply.html.contains("Dana Whitfield from officecomms answered"));
        assert!(!reply.text.contains("agent-"), "never the address's local part");
        // The visitor's conversation page says the same.
        let link = reply.link(&format!("{}/support/tickets/", app.base));
        let (status, page) = app.get_text(link.trim_start_matches(&app.base)).await;
        assert_eq!(status, 200);
        assert!(page.contains("Dana Whitfield from officecomms answered"), "{page}");
    }
}

#[test]
fn names_made_from_addresses_read_as_names() {
    assert_eq!(
        staff::name_from_email("dana.whitfield@officecomms.com"),
        "Dana Whitfield"
    );
    assert_eq!(staff::name_from_email("j_o-neil42@x.test"), "J O Neil42");
    assert_eq!(staff::name_from_email("1234@x.test"), "Staff member");
    assert_eq!(staff::name_from_email("ÉLODIE@x.test"), "Élodie");
}
