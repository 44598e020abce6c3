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
    let (status, page) = app.get_text("/admin/account/two-factor").await;
    assert_eq!(status, 200);
    assert!(page.contains("<svg role=\"img\""), "a QR code drawn as SVG");
    assert!(page.contains("otpauth://totp/"), "the setup link as text");
    let secret = secret_on(&page);
    assert_eq!(secret.len(), 32, "160 bits in base32: {secret}");
    let r = app
        .post_form(
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
        let (_, account) = app.get_text("/admin/account").await;
        assert!(account.contains("Set up two-step sign-in"), "off");
        let audit = admin.client.get(app.url("/admin/audit")).send().await.unwrap().text().await.unwrap();
        assert!(audit.contains("two-factor-off"));
        assert!(audit.contains("two-step sign-in required of all staff"));

        // Required, and now without it: enrolment again at the next sign-in.
        sign_out(&app).await;
        assert_eq!(password_step(&app, &email).await, "/admin/login/enrol");
    }
}
