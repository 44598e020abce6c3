//! Staff accounts, roles, sessions, invitations and the audit log.

use crate::{both, helpers::*};

both! {
    async fn signing_in_rotates_the_csrf_token(backend) {
        let app = TestApp::spawn(backend).await;
        app.create_staff("rota@example.com", "admin").await;
        let client = crate::helpers::client();
        let page = client.get(app.url("/admin/login")).send().await.unwrap().text().await.unwrap();
        let before = crate::helpers::extract_csrf(&page);
        let r = client
            .post(app.url("/admin/login"))
            .form(&[("csrf", before.as_str()), ("email", "rota@example.com"), ("password", crate::helpers::STAFF_PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let set: Vec<_> = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
        assert!(set.iter().any(|c| c.starts_with("oc_csrf=") && !c.contains(&before)), "{set:?}");
        // The token from before sign-in is worth nothing now.
        let r = client.post(app.url("/admin/logout")).form(&[("csrf", before.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), 403);
        let page = client.get(app.url("/admin")).send().await.unwrap().text().await.unwrap();
        let after = crate::helpers::extract_csrf(&page);
        assert_ne!(after, before);
        let r = client.post(app.url("/admin/logout")).form(&[("csrf", after.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), 303);
    }

    async fn staff_sign_in_with_the_right_password_only(backend) {
        let app = TestApp::spawn(backend).await;
        app.create_staff("ann@officecomms.test", "agent").await;
        let r = app.post_form("/admin/login", &[("email", "ann@officecomms.test"), ("password", "not the password")]).await;
        assert_eq!(r.status(), 401);
        let body = r.text().await.unwrap();
        assert!(body.contains("do not match"));
        assert!(body.contains("value=\"ann@officecomms.test\""), "the form keeps the email typed");
        assert_eq!(app.get("/admin").await.headers()["location"], "/admin/login");

        let r = app.post_form("/admin/login", &[("email", "ANN@officecomms.test"), ("password", STAFF_PASSWORD)]).await;
        assert_eq!(r.status(), 303);
        let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(cookie.starts_with("oc_session=") && cookie.contains("HttpOnly"));
        let (status, body) = app.get_text("/admin").await;
        assert_eq!(status, 200);
        assert!(body.contains("Signed in as Ann (agent)"), "a name, never the address's local part");

        let r = app.post_form("/admin/logout", &[]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(app.get("/admin").await.status(), 303, "signed out");
    }

    async fn roles_limit_what_staff_can_open(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("editor").await;
        for path in ["/admin/users", "/admin/audit", "/admin/settings"] {
            let r = app.get(path).await;
            assert_eq!(r.status(), 403, "{path}");
            assert!(r.text().await.unwrap().contains("You do not have access"));
        }
        assert_eq!(app.get("/admin").await.status(), 200);
        let admin = TestApp::spawn_with(Backend::Sqlite, |_| {}).await;
        admin.login_as("admin").await;
        assert_eq!(admin.get("/admin/users").await.status(), 200);
    }

    async fn invited_colleague_sets_a_password_and_everything_is_audited(backend) {
        let app = TestApp::spawn(backend).await;
        let admin_email = app.login_as("admin").await;
        let r = app.post_form("/admin/users", &[("email", "bob@officecomms.test"), ("display_name", "Bob"), ("role", "agent")]).await;
        assert_eq!(r.status(), 200);
        let body = r.text().await.unwrap();
        assert!(body.contains("Invitation sent"));
        app.drain_outbox().await;
        let mails = app.mails();
        assert_eq!(mails.len(), 1);
        let mail = &mails[0];
        assert_eq!(mail.to, "bob@officecomms.test");
        assert!(mail.subject.contains("invited you"));
        assert!(mail.text.contains("1200 Harbor Street") && mail.html.contains("1200 Harbor Street"), "postal address in every mail");
        let link = mail.link(&format!("{}/admin/invite/", app.base));
        let path = link.trim_start_matches(&app.base).to_string();

        let invitee = client();
        let page = invitee.get(app.url(&path)).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("bob@officecomms.test"));
        let csrf = extract_csrf(&page);
        let r = invitee.post(app.url(&path)).form(&[("csrf", csrf.as_str()), ("password", "short")]).send().await.unwrap();
        assert_eq!(r.status(), 422);
        let r = invitee.post(app.url(&path)).form(&[("csrf", csrf.as_str()), ("password", "a long enough password")]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        // The link works once.
        assert_eq!(invitee.get(app.url(&path)).send().await.unwrap().status(), 404);
        let r = invitee.post(app.url("/admin/login"))
            .form(&[("csrf", csrf.as_str()), ("email", "bob@officecomms.test"), ("password", "a long enough password")])
            .send().await.unwrap();
        assert_eq!(r.status(), 303);

        let (_, audit) = app.get_text("/admin/audit?q=bob").await;
        assert!(audit.contains("accept-invite"));
        let (_, audit) = app.get_text("/admin/audit").await;
        assert!(audit.contains(&admin_email) && audit.contains("invite"));
    }

    async fn duplicate_or_invalid_invites_are_refused_with_field_messages(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("admin").await;
        app.create_staff("carol@officecomms.test", "editor").await;
        let r = app.post_form("/admin/users", &[("email", "Carol@officecomms.test"), ("display_name", "Carol"), ("role", "agent")]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("already an account"));
        let r = app.post_form("/admin/users", &[("email", "not-an-email"), ("display_name", ""), ("role", "king")]).await;
        assert_eq!(r.status(), 422);
        let body = r.text().await.unwrap();
        assert!(body.contains("valid email address") && body.contains("enter a name") && body.contains("Choose a role"));
        assert!(body.contains("value=\"not-an-email\""));
        assert_eq!(officecomms::platform::mail::depth(&app.state.db).await.unwrap(), 0, "no mail for a refused invite");
    }

    async fn disabling_an_account_ends_its_sessions(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("admin").await;
        let other = client();
        app.create_staff("dan@officecomms.test", "agent").await;
        let page = other.get(app.url("/admin/login")).send().await.unwrap().text().await.unwrap();
        let csrf = extract_csrf(&page);
        other.post(app.url("/admin/login")).form(&[("csrf", csrf.as_str()), ("email", "dan@officecomms.test"), ("password", STAFF_PASSWORD)]).send().await.unwrap();
        assert_eq!(other.get(app.url("/admin")).send().await.unwrap().status(), 200);
        let users = app.get_text("/admin/users?q=dan").await.1;
        let start = users.find("action=\"/admin/users/").unwrap() + "action=\"/admin/users/".len();
        let id: String = users[start..].chars().take_while(|c| c.is_ascii_digit()).collect();
        let r = app.post_form(&format!("/admin/users/{id}"), &[("role", "agent"), ("disabled", "1")]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(other.get(app.url("/admin")).send().await.unwrap().status(), 303, "session ended");
        // Signing in gave a new CSRF token: read it from the form again.
        let page = other.get(app.url("/admin/login")).send().await.unwrap().text().await.unwrap();
        let csrf = extract_csrf(&page);
        let r = other.post(app.url("/admin/login")).form(&[("csrf", csrf.as_str()), ("email", "dan@officecomms.test"), ("password", STAFF_PASSWORD)]).send().await.unwrap();
        assert_eq!(r.status(), 401, "disabled accounts cannot sign in");
    }

    async fn the_last_admin_cannot_be_demoted(backend) {
        let app = TestApp::spawn(backend).await;
        let email = app.login_as("admin").await;
        let users = app.get_text(&format!("/admin/users?q={email}")).await.1;
        let start = users.find("action=\"/admin/users/").unwrap() + "action=\"/admin/users/".len();
        let id: String = users[start..].chars().take_while(|c| c.is_ascii_digit()).collect();
        let r = app.post_form(&format!("/admin/users/{id}"), &[("role", "agent")]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("last active admin"));
        assert_eq!(app.get("/admin/users").await.status(), 200, "still an admin");
    }

    async fn settings_change_the_footer_and_the_policy(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("admin").await;
        let fields = [
            ("company_name", "Acme Support"),
            ("tagline", "We fix things"),
            ("postal_address", "9 Elm Road, Springfield"),
            ("contact_email", "help@acme.test"),
            ("contact_phone", "+1 555 0100"),
        ];
        let r = app.post_form("/admin/settings", &fields).await;
        assert_eq!(r.status(), 200);
        let (_, home) = app.get_text("/").await;
        assert!(home.contains("9 Elm Road, Springfield") && home.contains("Acme Support"));
        let (_, policy) = app.get_text("/privacy").await;
        assert!(policy.contains("help@acme.test"));
        let mut bad = fields;
        bad[3] = ("contact_email", "nope");
        let r = app.post_form("/admin/settings", &bad).await;
        assert_eq!(r.status(), 422);
        assert!(app.get_text("/").await.1.contains("help@acme.test"), "refused change saved nothing");
        assert!(app.get_text("/admin/audit?q=settings").await.1.contains("postal_address"));
    }
}

both! {
    async fn sessions_live_in_the_database_so_instances_share_them(backend) {
        let Backend::Postgres(_) = backend else { return };
        let a = TestApp::spawn(backend).await;
        a.login_as("agent").await;
        let b = a.sibling().await;
        // Same cookie jar, other instance.
        let r = a.client.get(b.url("/admin")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }

    async fn changing_the_password_needs_the_current_one_and_ends_the_other_sessions(backend) {
        let app = TestApp::spawn(backend).await;
        let email = app.login_as("agent").await;
        // The same member in another browser.
        let other = client();
        let page = other.get(app.url("/admin/login")).send().await.unwrap().text().await.unwrap();
        let r = other.post(app.url("/admin/login")).form(&[("csrf", extract_csrf(&page).as_str()), ("email", email.as_str()), ("password", STAFF_PASSWORD)]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(other.get(app.url("/admin")).send().await.unwrap().status(), 200);
        let (_, page) = app.get_text("/admin/account").await;
        assert!(page.contains("action=\"/admin/account/password\"") && page.contains("autocomplete=\"current-password\""), "{page}");
        let stored = || async {
            sqlx::query_scalar::<_, String>("SELECT password_hash FROM staff_users WHERE email = $1")
                .bind(&email).fetch_one(&app.state.db.pool).await.unwrap()
        };
        let before = stored().await;
        let new = "a brand new passphrase here";

        // Wrong current password: 422, said on its field, nothing changed.
        let r = app.post_form("/admin/account/password", &[("current_password", "not my password at all"), ("new_password", new), ("repeat_password", new)]).await;
        assert_eq!(r.status(), 422);
        let body = r.text().await.unwrap();
        assert!(body.contains("That is not your current password"), "{body}");
        assert!(body.contains("id=\"current_password\" name=\"current_password\" type=\"password\" autocomplete=\"current-password\" required aria-invalid=\"true\""), "the field is marked");
        assert!(!body.contains(new), "a typed password never comes back in the page");
        // Too short, or not the same twice: 422 with the reason.
        let r = app.post_form("/admin/account/password", &[("current_password", STAFF_PASSWORD), ("new_password", "short"), ("repeat_password", "short")]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("Use at least 12 characters."));
        let r = app.post_form("/admin/account/password", &[("current_password", STAFF_PASSWORD), ("new_password", new), ("repeat_password", "a brand new passphrase hare")]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("The two new passwords differ"));
        let r = app.post_form("/admin/account/password", &[("current_password", STAFF_PASSWORD), ("new_password", STAFF_PASSWORD), ("repeat_password", STAFF_PASSWORD)]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("That is your current password"));
        assert_eq!(stored().await, before, "nothing changed");
        assert_eq!(other.get(app.url("/admin")).send().await.unwrap().status(), 200, "nobody signed out");

        // Right: changed, this session stays, the other one ends.
        let r = app.post_form("/admin/account/password", &[("current_password", STAFF_PASSWORD), ("new_password", new), ("repeat_password", new)]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/admin/account?saved=password#password");
        assert_ne!(stored().await, before);
        let (status, page) = app.get_text("/admin/account?saved=password").await;
        assert_eq!(status, 200, "this session stays");
        assert!(page.contains("Password changed."), "{page}");
        assert_eq!(other.get(app.url("/admin")).send().await.unwrap().headers()["location"], "/admin/login", "the other session ended");

        // The old password no longer signs in; the new one does.
        let fresh = client();
        let page = fresh.get(app.url("/admin/login")).send().await.unwrap().text().await.unwrap();
        let r = fresh.post(app.url("/admin/login")).form(&[("csrf", extract_csrf(&page).as_str()), ("email", email.as_str()), ("password", STAFF_PASSWORD)]).send().await.unwrap();
        assert_eq!(r.status(), 401, "the old password");
        let r = fresh.post(app.url("/admin/login")).form(&[("csrf", extract_csrf(&page).as_str()), ("email", email.as_str()), ("password", new)]).send().await.unwrap();
        assert_eq!(r.status(), 303, "the new password");

        let audited: Vec<(String, String)> = sqlx::query_as("SELECT action, detail FROM audit_log WHERE action LIKE 'password%' ORDER BY id")
            .fetch_all(&app.state.db.pool).await.unwrap();
        assert_eq!(audited, [
            ("password-refused".to_string(), "own password not changed: a wrong current password".to_string()),
            ("password".to_string(), "own password changed; 1 other session signed out".to_string()),
        ]);
    }

    async fn wrong_current_passwords_are_limited_as_sign_ins_are(backend) {
        let app = TestApp::spawn_with(backend, |c| c.login_per_minute = 3).await;
        // The sign-in is the first attempt of this account's three.
        app.login_as("editor").await;
        for _ in 0..2 {
            let r = app.post_form("/admin/account/password", &[("current_password", "wrong guess number"), ("new_password", "a brand new passphrase"), ("repeat_password", "a brand new passphrase")]).await;
            assert_eq!(r.status(), 422);
        }
        let r = app.post_form("/admin/account/password", &[("current_password", STAFF_PASSWORD), ("new_password", "a brand new passphrase"), ("repeat_password", "a brand new passphrase")]).await;
        assert_eq!(r.status(), 429, "even the right one waits");
        let changed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'password'")
            .fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(changed, 0);
    }
}
