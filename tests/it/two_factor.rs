//! Two-step sign-in for staff: enrolment from the text secret, the second
//! step with a code computed here, replay and wrong codes refused, recovery
//! codes once each, the admins' requirement, switching it off.

use crate::{both, helpers::*};
use totp_rs::{Builder, Secret};

/// The base32 secret the enrolment page shows as text.
fn secret_on(page: &str) -> String {
    let marker = "id=\"totp-secret\" class=\"secret\">";
    let start = page.find(marker).expect("the page shows the secret") + marker.len();
    let end = start + page[start..].find('<').unwrap();
    page[start..end].replace(' ', "")
}

/// The code an authenticator app shows `offset` seconds from now.
fn code(secret: &str, offset: i64) -> String {
    let bytes = Secret::try_from_base32(secret).expect("base32 secret");
    let totp = Builder::new()
        .with_secret(bytes.as_bytes().to_vec())
        .build()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    totp.generate((now + offset) as u64).to_string()
}

fn recovery_codes(page: &str) -> Vec<String> {
    page.split("<li><code>")
        .skip(1)
        .map(|s| s[..s.find('<').unwrap()].to_string())
        .collect()
}

/// Sets up two-step sign-in for the member `app.client` is signed in as:
/// `(secret, recovery codes)`.
async fn enrol(app: &TestApp) -> (String, Vec<String>) {
    let r = app.post_form("/admin/account/two-factor", &[]).await;
    assert_eq!(r.status(), 303);
    enrol_with(app, &app.client).await
}

/// Posts a form as the member `client` is signed in as.
async fn post_with(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let page = client.get(app.url("/admin/login")).send().await.unwrap();
    let csrf = extract_csrf(&page.text().await.unwrap());
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    client.post(app.url(path)).form(&all).send().await.unwrap()
}

/// Confirms the setup on `/admin/account/two-factor` for the member
/// `client` is signed in as: `(secret, recovery codes)`.
async fn enrol_with(app: &TestApp, client: &reqwest::Client) -> (String, Vec<String>) {
    let r = client
        .get(app.url("/admin/account/two-factor"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("<svg role=\"img\""), "a QR code drawn as SVG");
    assert!(page.contains("otpauth://totp/"), "the setup link as text");
    let secret = secret_on(&page);
    assert_eq!(secret.len(), 32, "160 bits in base32: {secret}");
    let r = post_with(
        app,
        client,
        "/admin/account/two-factor/confirm",
        &[("code", &code(&secret, 0))],
    )
    .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    let codes = recovery_codes(&page);
    assert_eq!(codes.len(), 10, "{page}");
    (secret, codes)
}

async fn sign_out(app: &TestApp) {
    assert_eq!(app.post_form("/admin/logout", &[]).await.status(), 303);
}

async fn password_step(app: &TestApp, email: &str) -> String {
    let r = app
        .post_form(
            "/admin/login",
            &[("email", email), ("password", STAFF_PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), 303);
    r.headers()["location"].to_str().unwrap().to_string()
}

both! {
    async fn a_member_enrols_from_the_text_secret_and_each_code_counts_once(backend) {
        let app = TestApp::spawn(backend).await;
        let email = app.login_as("agent").await;
        // A wrong first code does not switch it on.
        app.post_form("/admin/account/two-factor", &[]).await;
        let (_, page) = app.get_text("/admin/account/two-factor").await;
        let secret = secret_on(&page);
        let r = app.post_form("/admin/account/two-factor/confirm", &[("code", &code(&secret, -600))]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("That code is not right"));
        let (_, account) = app.get_text("/admin/account").await;
        assert!(account.contains("Set up two-step sign-in"), "still off");

        let first = code(&secret, 0);
        let r = app.post_form("/admin/account/two-factor/confirm", &[("code", &first)]).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(recovery_codes(&r.text().await.unwrap()).len(), 10);
        let (_, account) = app.get_text("/admin/account").await;
        assert!(account.contains("On since"), "{account}");
        assert!(account.contains("10 of 10 recovery codes left"));
        sign_out(&app).await;

        // The password alone opens nothing.
        assert_eq!(password_step(&app, &email).await, "/admin/login/code");
        assert_eq!(app.get("/admin").await.headers()["location"], "/admin/login");
        let (status, page) = app.get_text("/admin/login/code").await;
        assert_eq!(status, 200);
        assert!(page.contains("Six-digit code"));

        // The code used at enrolment, again in its window: refused.
        let r = app.post_form("/admin/login/code", &[("code", &first)]).await;
        assert_eq!(r.status(), 401);
        assert!(r.text().await.unwrap().contains("used already"));
        // A wrong code: refused.
        let r = app.post_form("/admin/login/code", &[("code", &code(&secret, -900))]).await;
        assert_eq!(r.status(), 401);
        assert_eq!(app.get("/admin").await.status(), 303, "still signed out");

        // The app's next code signs in.
        let r = app.post_form("/admin/login/code", &[("code", &code(&secret, 30))]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/admin");
        assert_eq!(app.get("/admin").await.status(), 200);

        let admin = app.staff_client("admin").await;
        let audit = admin.client.get(app.url("/admin/audit")).send().await.unwrap().text().await.unwrap();
        assert!(audit.contains("two-factor-on"), "enrolment audited");
        assert!(audit.contains("two-factor-refused"), "refused codes audited");
        assert!(audit.contains("with an authenticator code"), "the sign-in says how");
        assert!(audit.contains("two-factor-start"), "the setup's start audited");

        // Without the cookie of a correct password, the second step is closed.
        let stranger = client();
        let r = stranger.get(app.url("/admin/login/code")).send().await.unwrap();
        assert_eq!(r.headers()["location"], "/admin/login");
    }

    async fn a_recovery_code_signs_in_once(backend) {
        let app = TestApp::spawn(backend).await;
        let email = app.login_as("editor").await;
        let (_, codes) = enrol(&app).await;
        sign_out(&app).await;

        password_step(&app, &email).await;
        let r = app.post_form("/admin/login/code", &[("code", &codes[3].to_uppercase())]).await;
        assert_eq!(r.status(), 303, "a recovery code, typed in capitals");
        let (_, account) = app.get_text("/admin/account").await;
        assert!(account.contains("9 of 10 recovery codes left"), "{account}");
        sign_out(&app).await;

        password_step(&app, &email).await;
        let r = app.post_form("/admin/login/code", &[("code", &codes[3])]).await;
        assert_eq!(r.status(), 401, "used up");
        let r = app.post_form("/admin/login/code", &[("code", "abcde-fghjk")]).await;
        assert_eq!(r.status(), 401, "made up");
        assert_eq!(app.get("/admin").await.status(), 303);
    }

    async fn required_two_factor_sends_a_member_to_enrolment_and_off_needs_a_code(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.staff_client("admin").await;
        let page = admin.client.get(app.url("/admin/settings")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Require two-step sign-in of all staff"));
        let csrf = extract_csrf(&page);
        let r = admin.client.post(app.url("/admin/settings/two-factor"))
            .form(&[("csrf", csrf.as_str()), ("required", "on")]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        // The admin, signed in without it, sets it up before anything else.
        let r = admin.client.get(app.url("/admin/settings")).send().await.unwrap();
        assert_eq!(r.headers()["location"], "/admin/account/two-factor");
        enrol_with(&app, &admin.client).await;
        let page = admin.client.get(app.url("/admin/settings")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("value=\"on\" checked"), "the switch stays on");

        let email = app.new_staff("agent").await;
        assert_eq!(password_step(&app, &email).await, "/admin/login/enrol");
        assert_eq!(app.get("/admin").await.headers()["location"], "/admin/login", "no session before enrolment");
        let (status, page) = app.get_text("/admin/login/enrol").await;
        assert_eq!(status, 200);
        assert!(page.contains("Your admins require"));
        let secret = secret_on(&page);
        let r = app.post_form("/admin/login/enrol", &[("code", "123")]).await;
        assert_eq!(r.status(), 422);
        let r = app.post_form("/admin/login/enrol", &[("code", &code(&secret, 0))]).await;
        assert_eq!(r.status(), 200);
        assert_eq!(recovery_codes(&r.text().await.unwrap()).len(), 10);
        assert_eq!(app.get("/admin").await.status(), 200, "signed in after enrolment");

        // Switching off needs a current code.
        let r = app.post_form("/admin/account/two-factor/disable", &[("code", &code(&secret, -900))]).await;
        assert_eq!(r.status(), 422);
        let (_, account) = app.get_text("/admin/account").await;
        assert!(account.contains("On since"));
        let r = app.post_form("/admin/account/two-factor/disable", &[("code", &code(&secret, 30))]).await;
        assert_eq!(r.status(), 303);
        // Off, and still required: the next page is its setup again.
        assert_eq!(app.get("/admin/account").await.headers()["location"], "/admin/account/two-factor");
        let (_, setup) = app.get_text("/admin/account/two-factor").await;
        assert!(setup.contains("Your admins require"), "{setup}");
        assert_ne!(secret_on(&setup), secret, "a new secret");
        let audit = admin.client.get(app.url("/admin/audit")).send().await.unwrap().text().await.unwrap();
        assert!(audit.contains("two-factor-off"));
        assert!(audit.contains("two-step sign-in required of all staff"));

        // Required, and now without it: enrolment again at the next sign-in.
        sign_out(&app).await;
        assert_eq!(password_step(&app, &email).await, "/admin/login/enrol");
    }

    async fn a_recovery_code_sign_in_is_audited_in_plain_words(backend) {
        let app = TestApp::spawn(backend).await;
        let email = app.login_as("agent").await;
        let (_, codes) = enrol(&app).await;
        sign_out(&app).await;
        password_step(&app, &email).await;
        assert_eq!(app.post_form("/admin/login/code", &[("code", &codes[0])]).await.status(), 303);
        let details: Vec<String> = sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'login' ORDER BY id")
            .fetch_all(&app.state.db.pool).await.unwrap();
        assert_eq!(details.last().map(String::as_str), Some("with a recovery code"), "{details:?}");
    }

    async fn the_sixth_code_in_a_minute_is_refused_unread(backend) {
        let app = TestApp::spawn(backend).await;
        let email = app.login_as("agent").await;
        let (secret, _) = enrol(&app).await;
        // The first code of the setup counted: a minute's five start afresh 12 s on.
        let enrolled = std::time::Instant::now();
        sign_out(&app).await;
        password_step(&app, &email).await;
        tokio::time::sleep(std::time::Duration::from_millis(12_200).saturating_sub(enrolled.elapsed())).await;
        for n in 1..=5 {
            let r = app.post_form("/admin/login/code", &[("code", &code(&secret, -900))]).await;
            assert_eq!(r.status(), 401, "wrong code {n}: refused as wrong");
        }
        let r = app.post_form("/admin/login/code", &[("code", &code(&secret, -900))]).await;
        assert_eq!(r.status(), 429, "the sixth in a minute");
        // The limit holds the account, not the guess: the right code waits too.
        let r = app.post_form("/admin/login/code", &[("code", &code(&secret, 30))]).await;
        assert_eq!(r.status(), 429, "the right code is not even looked at");
        assert_eq!(app.get("/admin").await.headers()["location"], "/admin/login", "no session");
        let refused: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'two-factor-refused'")
            .fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(refused, 5, "codes over the limit are not checked, so not audited as wrong");
        // Five a minute: one more try every 12 s.
        tokio::time::sleep(std::time::Duration::from_millis(12_500)).await;
        let r = app.post_form("/admin/login/code", &[("code", &code(&secret, 30))]).await;
        assert_eq!(r.status(), 303, "after the wait, the right code signs in");
        assert_eq!(app.get("/admin").await.status(), 200);
    }

    async fn members_signed_in_before_two_factor_was_required_set_it_up_on_their_next_page(backend) {
        let app = TestApp::spawn(backend).await;
        let agent = app.staff_client("agent").await;
        let other = app.staff_client("agent").await;
        assert_eq!(agent.client.get(app.url("/admin/tickets")).send().await.unwrap().status(), 200);
        // One with it already is not bothered.
        let editor_email = app.login_as("editor").await;
        enrol(&app).await;
        let admin = app.staff_client("admin").await;
        assert_eq!(post_with(&app, &admin.client, "/admin/settings/two-factor", &[("required", "on")]).await.status(), 303);

        let r = agent.client.get(app.url("/admin/tickets")).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/admin/account/two-factor", "sent to set it up");
        let r = post_with(&app, &agent.client, "/admin/tickets/1/note", &[("body", "x")]).await;
        assert_eq!(r.headers()["location"], "/admin/account/two-factor", "forms too");
        let page = agent.client.get(app.url("/admin/account/two-factor")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Your admins require"), "{page}");
        assert!(!page.contains("/admin/account/two-factor/cancel"), "no way around it");
        assert_eq!(app.get("/admin").await.status(), 200, "{editor_email} has it already");
        let (secret, codes) = enrol_with(&app, &agent.client).await;
        assert_eq!(codes.len(), 10);
        assert!(!secret.is_empty());
        assert_eq!(agent.client.get(app.url("/admin/tickets")).send().await.unwrap().status(), 200, "in, once set up");
        // Signing out still works while owed.
        assert_eq!(post_with(&app, &other.client, "/admin/logout", &[]).await.status(), 303);
        assert_eq!(other.client.get(app.url("/admin")).send().await.unwrap().headers()["location"], "/admin/login");
    }

    async fn starting_and_cancelling_a_setup_are_audited(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("agent").await;
        assert_eq!(app.post_form("/admin/account/two-factor", &[]).await.status(), 303);
        // Showing the page again keeps the same secret: one start.
        let (_, first) = app.get_text("/admin/account/two-factor").await;
        let (_, again) = app.get_text("/admin/account/two-factor").await;
        assert_eq!(secret_on(&first), secret_on(&again));
        assert!(first.contains("/admin/account/two-factor/cancel"), "not required: it can be cancelled");
        assert_eq!(app.post_form("/admin/account/two-factor/cancel", &[]).await.status(), 303);
        // Cancelling again does nothing more.
        assert_eq!(app.post_form("/admin/account/two-factor/cancel", &[]).await.status(), 303);
        let actions: Vec<(String, String)> = sqlx::query_as("SELECT action, detail FROM audit_log WHERE action LIKE 'two-factor%' ORDER BY id")
            .fetch_all(&app.state.db.pool).await.unwrap();
        assert_eq!(actions, [
            ("two-factor-start".to_string(), "setting up two-step sign-in: a new secret made".to_string()),
            ("two-factor-cancel".to_string(), "setting up two-step sign-in abandoned before the first code".to_string()),
        ]);
        let (_, account) = app.get_text("/admin/account").await;
        assert!(account.contains("Set up two-step sign-in"), "off");
    }
}
